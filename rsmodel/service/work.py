"""Bounded, fair work: seed 002 plans in a pool of worker processes, scheduler operations on one
thread, each behind a :class:`Gate` that refuses work beyond its capacity (HTTP 429 with
``Retry-After``) instead of queueing without bound.

Solves run in processes because Pyomo redirects the process's output streams while it
solves, which is not safe from two threads at once; the scheduler is one stateful object, so
its operations run one after the other on a single thread.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

from rsmodel.service.errors import BODY_FILE, ApiError, model_error_body

T = TypeVar("T")


class Gate:
    """At most ``capacity`` tasks admitted at once (running + waiting); beyond, HTTP 429 with a
    ``Retry-After`` (s) estimated from recent task durations."""

    def __init__(self, name: str, capacity: int, workers: int) -> None:
        self.name = name
        self.capacity = capacity
        self.workers = workers
        self.admitted = 0
        self._lock = threading.Lock()
        self._durations: deque[float] = deque(maxlen=32)

    def admit(self, force: bool = False) -> None:
        """Count one more task, or raise the 429 (``force``: jobs resumed after a restart)."""
        with self._lock:
            if self.admitted >= self.capacity and not force:
                typical = sum(self._durations) / len(self._durations) if self._durations else 1.0
                retry = max(1, math.ceil(typical * self.admitted / self.workers))
                raise ApiError(
                    429,
                    f"{self.name} busy: {self.admitted} requests admitted (capacity "
                    f"{self.capacity}); retry after {retry} s",
                    headers={"Retry-After": str(retry)},
                )
            self.admitted += 1

    def release(self, duration_s: float) -> None:
        with self._lock:
            self.admitted -= 1
            self._durations.append(duration_s)


class WorkPool:
    """``workers`` solver processes (queue of ``queue`` more) and the scheduler thread."""

    def __init__(self, workers: int, queue: int, time_limit_s: float) -> None:
        self.workers = workers
        self.time_limit_s = time_limit_s
        self.plans = Gate("plan workers", workers + queue, workers)
        self.scheduler = Gate("scheduler", queue, 1)
        self._processes = self._new_processes()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rsmodel-scheduler")

    def _new_processes(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("forkserver")
        return ProcessPoolExecutor(
            self.workers, mp_context=ctx, initializer=warm_up, initargs=(os.getpid(),)
        )

    def warm(self) -> list[Future[None]]:
        """Start every worker process (imports, ephemeris) before the first request."""
        return [self._processes.submit(time.sleep, 0.05) for _ in range(self.workers)]

    def submit_plan(self, text: str) -> Future[dict[str, Any]]:
        """Solve a seed 002 request body in a worker process (admitted by the caller)."""
        try:
            return self._processes.submit(solve_plan_request, text, self.time_limit_s)
        except RuntimeError:  # a worker died (BrokenProcessPool) or the pool is shut down
            self._processes = self._new_processes()
            return self._processes.submit(solve_plan_request, text, self.time_limit_s)

    def submit_scheduler(self, fn: Callable[[], T]) -> Future[T]:
        return self._thread.submit(fn)

    def shutdown(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)
        self._processes.shutdown(wait=True, cancel_futures=True)


def warm_up(server_pid: int) -> None:
    """Worker initializer: import the planner, load the timescale and ephemeris once, and exit
    when the service process is gone (even after ``kill -9``, which leaves no time to stop us)."""
    import warnings

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                os._exit(0)

    threading.Thread(target=watch, name="rsmodel-parent-watch", daemon=True).start()

    warnings.filterwarnings("ignore", module="skyfield_data")
    from rsmodel.compute import plan_jobs  # noqa: F401
    from rsmodel.geometry.frames import load_ephemeris, load_timescale

    load_timescale()
    load_ephemeris()


def solve_plan_request(text: str, time_limit_s: float) -> dict[str, Any]:
    """What ``rsmodel plan REQUEST.json`` prints, for a request body: ``{"status": 200,
    "body": response}`` or ``{"status": 4xx, "body": error}`` (errors travel as data)."""
    from rsmodel.compute import plan_jobs
    from rsmodel.compute.request import parse_request
    from rsmodel.errors import ModelError
    from rsmodel.geometry import compute_geometry

    try:
        _, scenario = parse_request(text, BODY_FILE)
        geometry = compute_geometry(scenario)
        limit = min(float(scenario.model.solver.time_limit_s), time_limit_s)
        response = plan_jobs(scenario, geometry, time_limit_s=limit)
    except ModelError as exc:
        status = 400 if "invalid JSON" in exc.detail else 422
        return {"status": status, "body": model_error_body(exc, status)}
    return {"status": 200, "body": response}
