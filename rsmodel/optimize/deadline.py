"""Time limits and memory habits of model builds: the plan's deadline, the build deadline and
the paused collector.

:func:`budget_s` gives a solve its share of one deadline per plan (docs/compute.md, "Time
limit"); :func:`build_deadline` stops a model build (Pyomo, option pruning, a greedy start) that
alone outlasts the time limit (never inside an :func:`alarm_deferred` block); :func:`gc_paused`
speeds Pyomo builds up. Both are used before any
model reaches HiGHS, so this module imports neither Pyomo nor HiGHS nor SciPy
(:mod:`rsmodel.optimize.gateway` does): a compute request whose greedy plan is optimal never
loads them.
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFER_ALARM_S = 0.02  # a build deadline that falls inside Pyomo's output capture retries this late
_deferring = [0]  # alarm_deferred blocks the current thread is in
MIN_SOLVE_S = 1.0  # a solve the plan's deadline cuts still gets this long: its greedy plan fits


class BuildTimeout(BaseException):
    """The time limit passed while the model was still being built (see :func:`build_deadline`).
    A ``BaseException``, like ``KeyboardInterrupt``: the alarm may fire inside library code that
    catches ``Exception`` (Pyomo's rule inspection turned it into a ``TypeError``)."""


def budget_s(limit_s: float, stop_at: float) -> float:
    """Seconds a solve of at most ``limit_s`` gets before the plan's deadline ``stop_at``
    (``time.perf_counter()`` s): what is left, never less than ``MIN_SOLVE_S`` (the greedy
    start and fallback still run, so a plan past its deadline is never worse than greedy) nor
    more than ``limit_s`` (a user's limit shorter than that is honoured)."""
    return max(min(limit_s, stop_at - time.perf_counter()), min(MIN_SOLVE_S, limit_s))


def wall_clock(stop_at: float) -> float:
    """The deadline ``stop_at`` (``time.perf_counter()`` s) as ``time.time()`` s: what a worker
    process can read (each process counts ``perf_counter`` from its own origin)."""
    return time.time() + stop_at - time.perf_counter()


def from_wall_clock(until: float) -> float:
    """The deadline ``until`` (``time.time()`` s, :func:`wall_clock`) as ``time.perf_counter()``
    s of this process."""
    return time.perf_counter() + until - time.time()


@contextmanager
def build_deadline(stop_at: float) -> Iterator[None]:
    """Raise :class:`BuildTimeout` inside the block once ``time.perf_counter()`` passes
    ``stop_at`` (a wall-clock alarm; in the main thread only, elsewhere a no-op), so a Pyomo
    build or hand-off that alone exceeds the time limit stops there. The caller falls back
    (greedy, or no solution) and the solve still ends within its limit. ``stop_at`` infinite:
    no alarm.

    The alarm is deferred (by ``DEFER_ALARM_S``) while Pyomo's process-wide output-capture lock
    is held: raised between that lock's acquire and release it would leave the lock held for
    good, so every later solve in the process, and every worker forked from it (studies), would
    wait 200 s for it and fail."""
    left = stop_at - time.perf_counter()
    if threading.current_thread() is not threading.main_thread() or left == float("inf"):
        yield
        return
    if left <= 0:
        raise BuildTimeout

    def alarm(signum: int, frame: Any) -> None:
        if _deferring[0]:  # inside alarm_deferred: retry soon
            signal.setitimer(signal.ITIMER_REAL, DEFER_ALARM_S)
            return
        pyomo = sys.modules.get("pyomo.common.dependencies")  # not loaded: no capture under way
        lock = pyomo.capture_output_lock if pyomo else None  # looked up: Pyomo replaces it
        if lock is not None:
            if not lock.acquire(False):  # inside Pyomo's output capture (see below): retry soon
                signal.setitimer(signal.ITIMER_REAL, DEFER_ALARM_S)
                return
            lock.release()
        raise BuildTimeout

    pyomo_log = logging.getLogger("pyomo")  # Pyomo logs the interrupted rule as an error
    level = pyomo_log.level
    pyomo_log.setLevel(logging.CRITICAL)
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, left)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        pyomo_log.setLevel(level)


@contextmanager
def alarm_deferred() -> Iterator[None]:
    """Hold a :func:`build_deadline` alarm back while the block runs (it fires at the earliest
    ``DEFER_ALARM_S`` after): for code an exception would leave half done where Python cannot
    report it, such as an object's ``__init__`` and ``__del__``. Raised inside Pyomo's
    ``capture_output`` constructor, a :class:`BuildTimeout` left the object without its ``tee``
    attribute (its ``__del__`` printed an ``AttributeError`` traceback); raised inside that
    ``__del__``, it was swallowed and the build ran on past its deadline."""
    _deferring[0] += 1
    try:
        yield
    finally:
        _deferring[0] -= 1


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while Pyomo allocates many small objects (about 2-3x
    faster model builds and hand-offs); cycles are collected as usual once it runs again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
