"""Where study tasks run: local worker processes (default) or a Dask distributed cluster.

Both engines expose the same small interface: ``submit``, ``share`` (ship a large object to
the workers once), ``wait_any``, ``is_crash`` and ``close``. A local worker that dies breaks
its whole pool; :class:`LocalEngine` then starts a new pool and the driver re-runs the tasks
that were in flight one at a time (``isolated``) to find the one that crashed. Dask does that
attribution itself (``KilledWorker``).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures as cf
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from rsmodel.errors import ModelError
from rsmodel.optimize.gateway import own_output_capture_lock

CONNECT_TIMEOUT_S = 10
# Imported once before workers start (Pyomo, HiGHS, skyfield): workers begin warm.
WARM_MODULES = ("rsmodel.studies.tasks", "rsmodel.pipeline", "rsmodel.optimize")


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initialiser: leave when the driver is gone (e.g. killed with SIGKILL); solve with
    a Pyomo output-capture lock of its own (:func:`rsmodel.optimize.gateway.own_output_capture_lock`)."""
    own_output_capture_lock()

    def watch() -> None:
        while _alive(parent_pid):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _probe(address: str) -> None:
    """Fail fast (OSError) when nothing listens at a ``tcp://HOST:PORT`` address."""
    scheme, _, rest = address.partition("://")
    if scheme != "tcp" or not rest:
        raise ValueError("expected tcp://HOST:PORT")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("expected tcp://HOST:PORT")
    socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()


class LocalEngine:
    """A pool of local worker processes (``concurrent.futures.ProcessPoolExecutor``).

    ``start_method`` "forkserver" (default) starts workers from a clean server process, safe
    when the caller has threads (Jupyter, Dask clients); "fork" copies the caller, spies
    and monkeypatches included (tests), and must not be used from a threaded process.
    """

    can_isolate = True

    def __init__(self, workers: int, start_method: str = "forkserver") -> None:
        self.workers = workers
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":  # workers fork from a server with these already imported
            self._context.set_forkserver_preload(list(WARM_MODULES))
        else:
            for name in WARM_MODULES:
                importlib.import_module(name)
        self._pool = self._new_pool(workers)
        self._isolated = self._new_pool(1)

    def _new_pool(self, workers: int) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            workers,
            mp_context=self._context,
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )

    @property
    def slots(self) -> int:
        return self.workers

    def submit(self, fn: Callable[..., Any], *args: Any, isolated: bool = False) -> cf.Future:
        pool = self._isolated if isolated else self._pool
        try:
            future = pool.submit(fn, *args)
        except BrokenProcessPool:  # broke before its failed futures were seen: replace it now
            self._replace(pool)
            return self.submit(fn, *args, isolated=isolated)
        future.pool = pool  # type: ignore[attr-defined]
        return future

    def share(self, obj: Any) -> Any:
        return obj

    def wait_any(self, pending: Iterable[Any]) -> set[Any]:
        return cf.wait(list(pending), return_when=cf.FIRST_COMPLETED).done

    def is_crash(self, exc: BaseException) -> bool:
        return isinstance(exc, BrokenProcessPool)

    def recover(self, future: cf.Future) -> None:
        """Replace the pool ``future`` ran in if it is broken (once per breakage)."""
        self._replace(future.pool)  # type: ignore[attr-defined]

    def _replace(self, pool: cf.ProcessPoolExecutor) -> None:
        if pool is self._pool:
            pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool(self.workers)
        elif pool is self._isolated:
            pool.shutdown(wait=False, cancel_futures=True)
            self._isolated = self._new_pool(1)

    def close(self) -> None:
        for pool in (self._pool, self._isolated):
            pool.shutdown(wait=True, cancel_futures=True)


def _kept(obj: Any) -> Any:
    """Identity task: holds a shared object in the task graph (see ``DaskEngine.share``)."""
    return obj


class DaskEngine:
    """An existing Dask distributed cluster (``--cluster``): scheduler address, workers joined."""

    can_isolate = False

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def connect(cls, address: str) -> DaskEngine:
        """Connect to a running scheduler; an unreachable address is a bad-input error (exit 2)."""
        from distributed import Client

        try:
            _probe(address)
            client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ModelError(
                f"cannot reach a Dask scheduler at {address!r} ({exc}); expected the address of a "
                "running `dask scheduler`, e.g. tcp://127.0.0.1:8786",
                file="--cluster",
            ) from None
        return cls(client)

    @property
    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, fn: Callable[..., Any], *args: Any, isolated: bool = False) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def share(self, obj: Any) -> Any:
        """A future of ``obj`` that the scheduler can recompute if its worker dies (scattered
        data would be lost with it and take every dependent task down)."""
        return self.client.submit(_kept, obj, pure=False)

    def wait_any(self, pending: Iterable[Any]) -> set[Any]:
        from distributed import wait
        from distributed.client import FuturesCancelledError

        futures = list(pending)
        try:
            return set(wait(futures, return_when="FIRST_COMPLETED").done)
        except FuturesCancelledError:  # their .result() raises: the driver records the failure
            return {f for f in futures if f.status == "cancelled"}

    def is_crash(self, exc: BaseException) -> bool:
        from distributed import KilledWorker

        return isinstance(exc, KilledWorker)

    def recover(self, future: Any) -> None:
        """Dask retries and attributes worker deaths itself."""

    def close(self) -> None:
        self.client.close()
