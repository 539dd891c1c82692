"""The one way rsmodel hands a MILP or LP to HiGHS and reads the result back.

Every solve goes through :class:`HighsModel`: Pyomo models (sync class stages, compute jobs,
the telescope network) with :meth:`HighsModel.from_pyomo`, array models (the bound LPs of
:mod:`rsmodel.optimize.bound`) with :meth:`HighsModel.from_lp`. Options are one
:class:`~rsmodel.optimize.status.SolveOptions` (time limit, gaps, threads, presolve); the
outcome one :class:`~rsmodel.optimize.status.SolveResult`.

**Time limit.** ``time_limit_s`` is wall time from ``t_start`` (the caller's start, before it
built the model): the Pyomo build and the hand-off are deducted and HiGHS gets what is left
(at least ``MIN_RUN_S``). A build that alone outlasts the limit is stopped by
:func:`build_deadline` (the caller then falls back). HiGHS does not check its clock everywhere
(a long root LP without presolve); a watchdog on its interrupt callbacks stops it once the wall
clock passes ``t_start + time_limit_s``. On a time-out the best incumbent is kept (a MIP start set with
:meth:`HighsModel.set_start` counts). Pyomo models are compiled to matrices in one vectorised
pass (``LinearStandardFormCompiler``, several times faster than a persistent interface at 10^5
columns, benchmarks/bench_sync.py), or through Pyomo's ``appsi_highs`` (``interface="appsi"``).

HiGHS fixes its thread pool once per process: a different ``threads`` later resets it.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import pyomo.core as pyo
from pyomo.common import dependencies as pyomo_dependencies
from pyomo.common.tee import capture_output
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from rsmodel.optimize.status import SolveOptions, SolveResult, SolveStatus

# Pyomo finalises SciPy, however SciPy is imported after Pyomo, by importing scipy.stats
# (0.5-1.5 s, never used here; its standard form needs scipy.sparse only): drop that step. It
# only helps before SciPy's first import, so `rsmodel.optimize` imports this module first.
if isinstance(pyomo_dependencies.scipy, pyomo_dependencies.DeferredImportModule):
    pyomo_dependencies.scipy._indicator_flag._callback = None

# Imported here, never inside a build_deadline alarm (an import cut short leaves modules half
# initialised): SciPy (Pyomo's standard form builds scipy.sparse matrices) and what Pyomo
# imports at the first expression with a NumPy number.
import pyomo.core.expr.ndarray  # noqa: E402, F401
import scipy.sparse  # noqa: E402, F401

INTERFACES = ("standard_form", "appsi")
DEFER_ALARM_S = 0.02  # a build deadline that falls inside Pyomo's output capture retries this late
MIN_RUN_S = 0.05  # HiGHS always gets this much, so a MIP start can come back as the incumbent
_threads_in_use: list[int] = []
_WITH_SOLUTION = (
    highspy.HighsModelStatus.kOptimal,
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit,
    highspy.HighsModelStatus.kInterrupt,
)
_STOPPED = (
    highspy.HighsModelStatus.kTimeLimit,
    highspy.HighsModelStatus.kIterationLimit,
    highspy.HighsModelStatus.kSolutionLimit,
    highspy.HighsModelStatus.kInterrupt,
)


@dataclass
class Dive:
    """The end of :meth:`HighsModel.dive`: every column's value (the binaries integral), its
    objective, and the objective of the LP relaxation it started from (a bound of the MILP)."""

    relaxation: float
    objective: float
    values: np.ndarray


class HighsModel:
    """A model loaded into HiGHS, with its options and the wall-clock start of its budget."""

    def __init__(
        self,
        highs: highspy.Highs,
        column: dict[int, int],
        options: SolveOptions,
        t_start: float,
    ) -> None:
        self.highs = highs
        self._column = column
        self.options = options
        self.t_start = t_start

    @classmethod
    def from_pyomo(
        cls,
        model: pyo.ConcreteModel,
        options: SolveOptions,
        *,
        t_start: float | None = None,
        interface: str = "standard_form",
    ) -> HighsModel:
        """Load a Pyomo model (one objective, minimised or maximised); ``t_start``: when the
        caller started building it (default: now)."""
        t0 = time.perf_counter() if t_start is None else t_start
        if interface not in INTERFACES:
            raise ValueError(f"interface must be one of {INTERFACES}, got {interface!r}")
        use_threads(options.threads)
        if interface == "appsi":
            from pyomo.contrib.appsi.solvers.highs import Highs

            appsi = Highs()
            appsi.highs_options = {"threads": options.threads, "output_flag": False}
            appsi.set_instance(model)
            column = dict(appsi._pyomo_var_to_solver_var_map)  # id(var) -> column
            highs = appsi._solver_model
        else:
            highs, columns = _pass_standard_form(model)
            column = {id(v): j for j, v in enumerate(columns)}
        return cls(highs, column, options, t0)

    @classmethod
    def from_lp(
        cls, lp: highspy.HighsLp, options: SolveOptions, *, t_start: float | None = None
    ) -> HighsModel:
        """Load an array model (``highspy.HighsLp``)."""
        use_threads(options.threads)
        with capture_output(capture_fd=True):  # the constructor prints a banner
            h = highspy.Highs()
        h.silent()
        h.passModel(lp)
        return cls(h, {}, options, time.perf_counter() if t_start is None else t_start)

    def columns_of(self, variables: list[Any]) -> np.ndarray:
        """HiGHS column index of each Pyomo variable (-1: not in any constraint or objective)."""
        return np.array([self._column.get(id(v), -1) for v in variables], dtype=int)

    def set_start(self, columns: np.ndarray, values: np.ndarray, *, partial: bool = False) -> None:
        """A MIP start: ``values`` for ``columns`` (others 0; ``partial``: others free, HiGHS
        completes them, e.g. the continuous columns by an LP with the given ones fixed)."""
        if partial:
            keep = columns >= 0
            index = columns[keep].astype(np.int32)
            self.highs.setSolution(len(index), index, np.asarray(values, dtype=float)[keep])
            return
        full = np.zeros(self.highs.getNumCol())
        full[columns[columns >= 0]] = values[columns >= 0]
        solution = highspy.HighsSolution()
        solution.col_value = full.tolist()
        solution.value_valid = True
        self.highs.setSolution(solution)

    def run(self) -> SolveResult:
        """Solve within what is left of the budget; build time = now - ``t_start``."""
        o, h = self.options, self.highs
        t_run = time.perf_counter()
        build_s = t_run - self.t_start
        h.setOptionValue("mip_rel_gap", float(o.mip_gap))
        if o.abs_gap is not None:
            h.setOptionValue("mip_abs_gap", float(o.abs_gap))
        if o.presolve is not None:
            h.setOptionValue("presolve", "on" if o.presolve else "off")
        self._run_until(max(self.t_start + o.time_limit_s, t_run + MIN_RUN_S))
        solve_s = time.perf_counter() - t_run
        return self._result(build_s, solve_s)

    def dive(
        self,
        columns: np.ndarray,
        choose: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    ) -> Dive | None:
        """LP diving on the binary ``columns``: solve the LP relaxation, fix the columns
        ``choose(values, fixed)`` names (positions in ``columns`` and their 0/1 values; both
        arrays over ``columns``) and solve again, until it names none (they are integral then).
        None if the budget ends first or an LP is not optimal; the model's integrality and
        bounds are restored either way."""
        h, n = self.highs, len(columns)
        stop_at = self.t_start + self.options.time_limit_s
        cols = columns.astype(np.int32)
        lp = h.getLp()
        lower, upper = np.asarray(lp.col_lower_)[cols], np.asarray(lp.col_upper_)[cols]
        h.changeColsIntegrality(n, cols, np.full(n, highspy.HighsVarType.kContinuous))
        fixed = np.zeros(n, dtype=bool)
        relaxation = None
        try:
            while time.perf_counter() < stop_at:
                self._run_until(stop_at)
                if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                    return None
                values = np.asarray(h.getSolution().col_value)
                objective = float(h.getInfo().objective_function_value)
                relaxation = objective if relaxation is None else relaxation
                positions, to = choose(values[cols], fixed)
                if len(positions) == 0:
                    return Dive(relaxation, objective, values)
                fixed[positions] = True
                to = np.asarray(to, dtype=float)
                h.changeColsBounds(len(positions), cols[positions], to, to)
            return None
        finally:
            h.changeColsIntegrality(n, cols, np.full(n, highspy.HighsVarType.kInteger))
            h.changeColsBounds(n, cols, lower, upper)

    def _run_until(self, stop_at: float) -> None:
        """Run HiGHS (LP or MIP, silent, ``options.threads``) until ``stop_at`` at the latest."""
        h = self.highs
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", self.options.threads)
        h.setOptionValue("time_limit", max(stop_at - time.perf_counter(), MIN_RUN_S))
        watchdog = _watchdog(stop_at)
        events = (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt)
        for event in events:
            event.subscribe(watchdog)
        try:
            h.run()
        finally:
            for event in events:
                event.unsubscribe(watchdog)

    def _result(self, build_s: float, solve_s: float) -> SolveResult:
        h = self.highs
        model_status = h.getModelStatus()
        info = h.getInfo()
        # an LP stopped mid-simplex may hold a primal infeasible iterate: not a solution
        has_solution = (
            bool(h.getSolution().value_valid)
            and model_status in _WITH_SOLUTION
            and info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        )
        is_mip = info.mip_node_count >= 0
        objective = float(info.objective_function_value) if has_solution else None
        bound = float(info.mip_dual_bound) if is_mip else objective
        gap = float(info.mip_gap) if is_mip and has_solution else (0.0 if has_solution else None)
        return SolveResult(
            status=_status(model_status, has_solution),
            has_solution=has_solution,
            objective=objective,
            bound=bound if bound is not None and np.isfinite(bound) else None,
            mip_gap=gap if gap is not None and np.isfinite(gap) else None,
            build_s=build_s,
            solve_s=solve_s,
            columns=int(h.getNumCol()),
            rows=int(h.getNumRow()),
        )

    def values(self, columns: np.ndarray) -> np.ndarray:
        """Solution values of ``columns`` (0 for -1)."""
        values = np.asarray(self.highs.getSolution().col_value)
        if len(values) == 0:
            return np.zeros(len(columns))
        return np.where(columns >= 0, values[np.maximum(columns, 0)], 0.0)

    def row_duals(self) -> np.ndarray:
        """Row duals of the solution (LPs); empty when HiGHS has no valid dual solution."""
        solution = self.highs.getSolution()
        return np.asarray(solution.row_dual if solution.dual_valid else [])


class BuildTimeout(BaseException):
    """The time limit passed while the model was still being built (see :func:`build_deadline`).
    A ``BaseException``, like ``KeyboardInterrupt``: the alarm may fire inside library code that
    catches ``Exception`` (Pyomo's rule inspection turned it into a ``TypeError``)."""


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
        lock = pyomo_dependencies.capture_output_lock  # looked up: Pyomo replaces it
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


def own_output_capture_lock() -> None:
    """Give this process its own Pyomo output-capture lock; call it first in a worker forked
    from a process that imported ``multiprocessing``. Pyomo then uses one multiprocessing lock
    shared by a process and every child it forks, so a worker killed while Pyomo held it (a
    broken pool terminates its workers) would leave it held for the parent and every sibling."""
    pyomo_dependencies.capture_output_lock = threading.Lock()


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


def use_threads(threads: int) -> None:
    """HiGHS keeps one thread pool per process: reset it when ``threads`` changes."""
    if _threads_in_use and _threads_in_use[-1] != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _threads_in_use[:] = [threads]


def _watchdog(stop_at: float) -> Any:
    """An interrupt callback that stops HiGHS once ``time.perf_counter()`` passes ``stop_at``."""

    def check(event: Any) -> None:
        if time.perf_counter() > stop_at:
            event.interrupt()

    return check


def _status(model_status: Any, has_solution: bool) -> SolveStatus:
    s = highspy.HighsModelStatus
    if model_status in (s.kOptimal, s.kModelEmpty):
        return SolveStatus.OPTIMAL
    if model_status in _STOPPED:
        return SolveStatus.TIME_LIMIT if has_solution else SolveStatus.NO_SOLUTION
    if model_status == s.kInfeasible:
        return SolveStatus.INFEASIBLE
    return SolveStatus.ERROR


def _pass_standard_form(model: pyo.ConcreteModel) -> tuple[highspy.Highs, list[Any]]:
    """Compile ``model`` (one objective) to matrices and pass them to a new Highs."""
    sf = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    columns = sf.columns
    n_cols, n_rows = len(columns), len(sf.rows)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    if len(sf.objectives) == 1 and sf.objectives[0].sense == pyo.maximize:
        lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = sf.c.toarray()[0] if sf.c.shape[0] else np.zeros(n_cols)
    lp.offset_ = float(sf.c_offset[0]) if len(sf.c_offset) else 0.0
    lp.col_lower_ = np.array(
        [-highspy.kHighsInf if v.lb is None else v.lb for v in columns], dtype=float
    )
    lp.col_upper_ = np.array(
        [highspy.kHighsInf if v.ub is None else v.ub for v in columns], dtype=float
    )
    sense = np.array([r[1] for r in sf.rows], dtype=int)
    rhs = np.asarray(sf.rhs, dtype=float)
    lp.row_lower_ = np.where(sense == 1, -highspy.kHighsInf, rhs)
    lp.row_upper_ = np.where(sense == -1, highspy.kHighsInf, rhs)
    a = sf.A.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if v.is_integer() else highspy.HighsVarType.kContinuous
        for v in columns
    ]
    with capture_output(capture_fd=True):  # the constructor prints a banner
        h = highspy.Highs()
    h.silent()
    h.passModel(lp)
    return h, columns
