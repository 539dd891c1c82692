"""Independent solves in parallel worker processes: one process per call, forked from a
forkserver that has the solver imported, at most ``workers`` at a time.

The compute solve (:mod:`rsmodel.optimize.compute_solve`) runs the MILPs of nodes that share
nothing this way (:func:`run_all`); the sync solve runs the top class's bound LP next to its
stage MILPs (:class:`Background`). A process per call, not a long-lived pool: a call whose process dies
(segfault, out of memory, killed) fails alone, as a :class:`Failed` naming its exit code, and the
others go on; a call still running ``kill_after_s`` after it started is killed and fails the same
way, so the caller never hangs. An exception raised by a call is raised again in the caller, as
if the call had run there. HiGHS keeps one thread pool per process, and Pyomo redirects the
process's output streams while it solves: separate processes share neither.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

T = TypeVar("T")

WARM_MODULES = [  # imported once, in the forkserver: every call forked from it has them
    "rsmodel.optimize.compute_solve",
    "rsmodel.optimize.compute_model",  # Pyomo, with the gateway (HiGHS, SciPy): a node MILP
    "rsmodel.optimize.stage_lp",  # the stage model: the first class's bound LP (bound.py)
]


@dataclass(frozen=True)
class Failed:
    """A call that returned nothing: its process died or outlived ``kill_after_s``."""

    reason: str


def pool_workers(threads: int, calls: int) -> int:
    """Processes for ``calls`` independent solves: at most ``threads`` (the solve's thread
    budget, ``solver.threads``), the machine's cores and the calls; 1 inside a daemonic process
    (a multiprocessing pool worker may not start processes)."""
    if multiprocessing.current_process().daemon:
        return 1
    return max(1, min(threads, os.cpu_count() or 1, calls))


def run_all(
    fn: Callable[[Any], T], items: Sequence[Any], *, workers: int, kill_after_s: float
) -> list[T | Failed]:
    """``[fn(item) for item in items]``, up to ``workers`` calls at a time in worker processes
    (``workers <= 1``: in this process). ``fn`` and the items are pickled (``fn`` a module-level
    function or a ``functools.partial`` of one); results come back in the order of ``items``."""
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    ctx = _context()
    results: list[T | Failed | None] = [None] * len(items)
    queue = list(enumerate(items))
    running: dict[Connection, tuple[int, Any, float]] = {}  # pipe -> (index, process, kill at)
    try:
        while queue or running:
            while queue and len(running) < workers:
                index, item = queue.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                process = ctx.Process(target=_call, args=(send, fn, item), daemon=True)
                process.start()
                send.close()  # the child holds the other end: EOF when it exits
                running[receive] = (index, process, time.monotonic() + kill_after_s)
            next_kill = min(stop for _, _, stop in running.values())
            for pipe in wait(list(running), timeout=max(0.0, next_kill - time.monotonic())):
                index, process, _ = running.pop(pipe)
                results[index] = _receive(pipe, process)
            now = time.monotonic()
            for pipe, (index, process, stop) in list(running.items()):
                if now >= stop:
                    process.kill()
                    process.join()
                    pipe.close()
                    del running[pipe]
                    results[index] = Failed(
                        f"worker process killed: still running {kill_after_s:g} s after it started"
                    )
    finally:
        for pipe, (_, process, _) in running.items():
            process.kill()
            process.join()
            pipe.close()
    return results  # type: ignore[return-value]


class Background:
    """``fn(item)`` running in a worker process while the caller goes on (``fn`` and ``item``
    pickled, as for :func:`run_all`); :meth:`result` collects it. Use it as a context manager:
    a call still running when the block ends is killed."""

    def __init__(self, fn: Callable[[Any], T], item: Any) -> None:
        ctx = _context()
        self.pipe, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_call, args=(send, fn, item), daemon=True)
        self.process.start()
        send.close()
        self.started = time.monotonic()
        self.done: Any = None

    def ready(self) -> bool:
        """Whether the call has returned (or its process died)."""
        return self.done is not None or self.pipe.poll(0.0)

    def result(self, timeout_s: float) -> Any:
        """The call's result, waiting at most ``timeout_s``; a :class:`Failed` when it is still
        running then (the process is killed) or its process died. Its exception is raised here."""
        if self.done is None:
            if self.pipe.poll(max(0.0, timeout_s)):
                self.done = ("value", _receive(self.pipe, self.process))
            else:
                self.cancel()
                ran = time.monotonic() - self.started
                self.done = ("value", Failed(f"still running {ran:.1f} s after it started: killed"))
        return self.done[1]

    def cancel(self) -> None:
        """Kill the call if it is still running."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.pipe.close()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.done is None:
            self.cancel()


def _context() -> Any:
    """The forkserver context, its server preloaded with the solver."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(WARM_MODULES)
    return ctx


def _receive(pipe: Connection, process: Any) -> Any:
    """The call's result, or a :class:`Failed` when the process died first; its exception is
    raised here."""
    try:
        kind, value = pipe.recv()
    except EOFError:
        process.join()
        return Failed(f"worker process died (exit code {process.exitcode})")
    finally:
        pipe.close()
    process.join()
    if kind == "raised":
        raise value
    return value


def _call(pipe: Connection, fn: Callable[[Any], Any], item: Any) -> None:
    """Worker process: run the call, send ``("returned", result)`` or ``("raised", exception)``."""
    try:
        message = ("returned", fn(item))
    except BaseException as exc:  # noqa: BLE001  # the caller re-raises it
        message = ("raised", exc)
    pipe.send(message)
    pipe.close()
