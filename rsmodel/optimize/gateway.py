"""The one way rsmodel hands a MILP or LP to HiGHS and reads the result back.

Every solve goes through :class:`HighsModel`: Pyomo models (sync class stages, compute jobs,
the telescope network) with :meth:`HighsModel.from_pyomo`, array models (the bound LPs of
:mod:`rsmodel.optimize.bound`) with :meth:`HighsModel.from_lp`. Options are one
:class:`~rsmodel.optimize.status.SolveOptions` (time limit, gaps, threads, presolve); the
outcome one :class:`~rsmodel.optimize.status.SolveResult`.

**Time limit.** ``time_limit_s`` is wall time from ``t_start`` (the caller's start, before it
built the model): the Pyomo build and the hand-off are deducted and HiGHS gets what is left
(at least ``MIN_RUN_S``). A build that alone outlasts the limit is stopped by
:func:`rsmodel.optimize.deadline.build_deadline` (the caller then falls back). HiGHS does not check its clock everywhere
(a long root LP without presolve); a watchdog on its interrupt callbacks stops it once the wall
clock passes ``t_start + time_limit_s``. On a time-out the best incumbent is kept (a MIP start set with
:meth:`HighsModel.set_start` counts). Pyomo models are compiled to matrices in one vectorised
pass (``LinearStandardFormCompiler``, several times faster than a persistent interface at 10^5
columns, benchmarks/bench_sync.py), or through Pyomo's ``appsi_highs`` (``interface="appsi"``).

**Array rows.** Large homogeneous row families need no Pyomo constraint at all: a block gives
them as CSR arrays over Pyomo variables (:class:`ArrayRows`, :func:`add_rows`) and
:meth:`HighsModel.from_pyomo` appends them to the HiGHS model after the Pyomo part, on either
interface (a variable that only they use becomes a column of its own). Building a Pyomo row
and compiling it cost ~30 us; an array row costs well under 1 us.

HiGHS fixes its thread pool once per process: a different ``threads`` later resets it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import highspy
import numpy as np
import pyomo.core as pyo
from pyomo.common import dependencies as pyomo_dependencies
from pyomo.common.tee import capture_output
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression, SumExpression
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from rsmodel.optimize.deadline import alarm_deferred
from rsmodel.optimize.status import SolveOptions, SolveResult, SolveStatus

# Pyomo finalises SciPy, however SciPy is imported after Pyomo, by importing scipy.stats
# (0.5-1.5 s, never used here; its standard form needs scipy.sparse only): drop that step. It
# only helps before SciPy's first import, so a module importing SciPy imports this one first.
if isinstance(pyomo_dependencies.scipy, pyomo_dependencies.DeferredImportModule):
    pyomo_dependencies.scipy._indicator_flag._callback = None

# Imported here, never inside a build deadline's alarm (an import cut short leaves modules half
# initialised): SciPy (Pyomo's standard form builds scipy.sparse matrices) and what Pyomo
# imports at the first expression with a NumPy number.
import pyomo.core.expr.ndarray  # noqa: E402, F401
import scipy.sparse  # noqa: E402, F401

INTERFACES = ("standard_form", "appsi")
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
class ArrayRows:
    """Rows ``lower[r] <= sum(value[i] * variables[index[i]]) <= upper[r]``, ``i`` in
    ``start[r]:start[r + 1]`` (CSR); ``lower``/``upper`` -inf/inf where a row has no bound."""

    variables: list[Any]  # Pyomo variables the rows refer to (positions in ``index``)
    start: np.ndarray  # (R + 1,)
    index: np.ndarray  # (nnz,)
    value: np.ndarray  # (nnz,)
    lower: np.ndarray  # (R,)
    upper: np.ndarray  # (R,)
    # per variable (lower, upper, integer), read once by :meth:`frozen` for rows handed to many
    # models; None: the hand-off reads each variable that gets a column from these rows
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_triplets(
        cls,
        variables: list[Any],
        row: np.ndarray,
        col: np.ndarray,
        value: np.ndarray,
        lower: np.ndarray | None,
        upper: np.ndarray | None,
    ) -> ArrayRows:
        """Rows from (row, position in ``variables``, coefficient) triplets (repeated pairs
        summed); ``lower`` or ``upper`` None: no bound on that side. The number of rows is that
        of the bounds."""
        n = len(upper if upper is not None else lower)
        a = scipy.sparse.csr_array(
            (
                np.asarray(value, dtype=float),
                (np.asarray(row, dtype=np.int64), np.asarray(col, dtype=np.int64)),
            ),
            shape=(n, len(variables)),
        )
        a.sum_duplicates()
        return cls(
            variables,
            a.indptr,
            a.indices,
            a.data,
            np.full(n, -np.inf) if lower is None else np.asarray(lower, dtype=float),
            np.full(n, np.inf) if upper is None else np.asarray(upper, dtype=float),
        )

    def __len__(self) -> int:
        return len(self.lower)

    def frozen(self) -> ArrayRows:
        """These rows with their variables' bounds and integrality read now (a fixed variable
        at its value), so that handing them to several models (the joint class stages) reads
        no Pyomo variable again; change a bound later in ``bounds``, not on the variable."""
        bounds = _bounds(self.variables)
        return replace(self, bounds=bounds)


def stack_rows(families: Sequence[ArrayRows]) -> ArrayRows:
    """One family of the rows of ``families`` (their variables merged: one position per
    variable, bounds dropped)."""
    variables: list[Any] = []
    position: dict[int, int] = {}
    for rows in families:
        for v in rows.variables:
            if id(v) not in position:
                position[id(v)] = len(variables)
                variables.append(v)
    index, start, nnz = [], [np.zeros(1, dtype=np.int64)], 0
    for rows in families:
        where = np.array([position[id(v)] for v in rows.variables], dtype=np.int64)
        index.append(where[rows.index] if len(rows.index) else np.zeros(0, dtype=np.int64))
        start.append(np.asarray(rows.start[1:], dtype=np.int64) + nnz)
        nnz += len(rows.index)
    cat = np.concatenate
    return ArrayRows(
        variables,
        cat(start),
        cat(index),
        cat([np.zeros(0), *(r.value for r in families)]),
        cat([np.zeros(0), *(r.lower for r in families)]),
        cat([np.zeros(0), *(r.upper for r in families)]),
    )


def add_rows(block: pyo.Block, name: str, rows: ArrayRows) -> None:
    """Give ``block`` (a model or any of its blocks) the row family ``name`` as arrays, passed
    to HiGHS by :meth:`HighsModel.from_pyomo` while the block is active; a family of the same
    name on the block is replaced."""
    if not hasattr(block, "array_rows"):
        block.array_rows = {}
    block.array_rows[name] = rows


def linear_terms(expr: Any, scale: float) -> list[tuple[float, Any]]:
    """``scale`` x a linear Pyomo expression of variables with no constant (a variable, a
    monomial, a ``LinearExpression`` or a sum of them; 0 for none) as (coefficient, variable)
    terms, for :class:`ArrayRows`."""
    if isinstance(expr, (int, float)):
        if expr != 0:
            raise ValueError(f"a constant in a linear expression of variables: {expr}")
        return []
    if isinstance(expr, MonomialTermExpression):
        coef, var = expr.args
        return [(scale * float(coef), var)]
    if isinstance(expr, (LinearExpression, SumExpression)):
        return [t for arg in expr.args for t in linear_terms(arg, scale)]
    if expr.is_variable_type():
        return [(scale, expr)]
    raise TypeError(f"not a linear expression of variables: {type(expr).__name__}")


def array_rows(model: pyo.Block) -> list[ArrayRows]:
    """The array row families (:func:`add_rows`) of ``model``'s active blocks."""
    return [
        rows
        for b in model.block_data_objects(active=True)
        for rows in getattr(b, "array_rows", {}).values()
    ]


@dataclass
class Dive:
    """The end of :meth:`HighsModel.dive`: every column's value (the binaries integral), its
    objective, and the objective and values of the LP relaxation it started from (a bound of
    the MILP)."""

    relaxation: float
    objective: float
    values: np.ndarray
    root: np.ndarray


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
        self.cost_exponent = _cost_exponent(highs)

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
        for rows in array_rows(model):
            _add_array_rows(highs, column, rows)
        return cls(highs, column, options, t0)

    @classmethod
    def from_lp(
        cls, lp: highspy.HighsLp, options: SolveOptions, *, t_start: float | None = None
    ) -> HighsModel:
        """Load an array model (``highspy.HighsLp``)."""
        use_threads(options.threads)
        h = new_highs()
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
        relaxation, root = None, None
        try:
            while time.perf_counter() < stop_at:
                self._run_until(stop_at)
                if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                    return None
                values = np.asarray(h.getSolution().col_value)
                objective = float(h.getInfo().objective_function_value)
                if relaxation is None:
                    relaxation, root = objective, values
                positions, to = choose(values[cols], fixed)
                if len(positions) == 0:
                    return Dive(relaxation, objective, values, root)
                fixed[positions] = True
                to = np.asarray(to, dtype=float)
                h.changeColsBounds(len(positions), cols[positions], to, to)
            return None
        finally:
            h.changeColsIntegrality(n, cols, np.full(n, highspy.HighsVarType.kInteger))
            h.changeColsBounds(n, cols, lower, upper)

    def solve_fixed(
        self, columns: np.ndarray, fixed: np.ndarray, start: np.ndarray
    ) -> tuple[float, np.ndarray] | None:
        """The MIP with ``columns`` fixed to ``fixed`` (a neighbourhood of ``start``, every
        column's value, which must lie in it), from the MIP start ``start``, within the budget:
        its best objective and values, or None without a solution. The bounds are restored."""
        h, n = self.highs, len(columns)
        cols = columns.astype(np.int32)
        lp = h.getLp()
        lower, upper = np.asarray(lp.col_lower_)[cols], np.asarray(lp.col_upper_)[cols]
        h.changeColsBounds(n, cols, fixed, fixed)
        try:
            self.set_start(np.arange(len(start)), start)
            result = self.run()
            if not result.has_solution:
                return None
            return result.objective, np.asarray(h.getSolution().col_value)
        finally:
            h.changeColsBounds(n, cols, lower, upper)

    def _run_until(self, stop_at: float) -> None:
        """Run HiGHS (LP or MIP, silent, ``options.threads``) until ``stop_at`` at the latest."""
        h = self.highs
        h.setOptionValue("output_flag", False)
        h.setOptionValue("threads", self.options.threads)
        h.setOptionValue("user_objective_scale", self.cost_exponent)
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


def own_output_capture_lock() -> None:
    """Give this process its own Pyomo output-capture lock; call it first in a worker forked
    from a process that imported ``multiprocessing``. Pyomo then uses one multiprocessing lock
    shared by a process and every child it forks, so a worker killed while Pyomo held it (a
    broken pool terminates its workers) would leave it held for the parent and every sibling."""
    pyomo_dependencies.capture_output_lock = threading.Lock()


def new_highs() -> highspy.Highs:
    """A new, silent ``Highs`` (the banner its constructor prints is captured); no build
    deadline fires meanwhile (:func:`rsmodel.optimize.deadline.alarm_deferred`: Pyomo's output
    capture cannot be interrupted cleanly)."""
    with alarm_deferred():
        h = _captured_highs()  # the capture object is gone (its __del__ run) on return
    h.silent()
    return h


def _captured_highs() -> highspy.Highs:
    with capture_output(capture_fd=True):  # the constructor prints a banner
        return highspy.Highs()


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


def _cost_exponent(highs: highspy.Highs) -> int:
    """The power of two that brings the median nonzero objective coefficient to about 1.

    HiGHS solves the model scaled by it and reports everything unscaled. The sync stages'
    per-MB latency costs are ~1e-8 to 1e-7, at HiGHS's dual feasibility tolerance (1e-7): unscaled,
    MIP presolve reported an optimum below the LP relaxation while returning the MIP start, and
    branch and bound did not improve a dive in 30 s; scaled, it proves a 11.5 k-binary stage
    optimal in 19 s (docs/optimisation-scale.md)."""
    cost = np.abs(np.asarray(highs.getLp().col_cost_))
    cost = cost[cost > 0]
    return 0 if len(cost) == 0 else -round(float(np.log2(np.median(cost))))


def _status(model_status: Any, has_solution: bool) -> SolveStatus:
    s = highspy.HighsModelStatus
    if model_status in (s.kOptimal, s.kModelEmpty):
        return SolveStatus.OPTIMAL
    if model_status in _STOPPED:
        return SolveStatus.TIME_LIMIT if has_solution else SolveStatus.NO_SOLUTION
    if model_status == s.kInfeasible:
        return SolveStatus.INFEASIBLE
    return SolveStatus.ERROR


def _bounds(variables: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, integer) of Pyomo ``variables`` (a fixed variable at its value)."""
    fixed = [v.value if v.fixed else None for v in variables]
    lower = [f if f is not None else -np.inf if v.lb is None else v.lb
             for v, f in zip(variables, fixed, strict=True)]  # fmt: skip
    upper = [f if f is not None else np.inf if v.ub is None else v.ub
             for v, f in zip(variables, fixed, strict=True)]  # fmt: skip
    integer = [v.is_integer() for v in variables]
    return (np.array(lower, dtype=float), np.array(upper, dtype=float),
            np.array(integer, dtype=bool))  # fmt: skip


def _add_array_rows(highs: highspy.Highs, column: dict[int, int], rows: ArrayRows) -> None:
    """Append ``rows`` to ``highs``; their variables missing from ``column`` (id -> column)
    become new columns (bounds, integrality; a fixed variable fixed at its value)."""
    used = np.zeros(len(rows.variables), dtype=bool)
    used[rows.index] = True
    cols = np.full(len(rows.variables), -1, dtype=np.int64)
    new, new_at = [], []
    for i in np.flatnonzero(used).tolist():
        v = rows.variables[i]
        j = column.get(id(v))
        if j is None:
            j = column[id(v)] = int(highs.getNumCol()) + len(new)
            new.append(v)
            new_at.append(i)
        cols[i] = j
    if new:
        at = np.array(new_at, dtype=np.int64)
        lower, upper, integer = (
            _bounds(new) if rows.bounds is None else tuple(b[at] for b in rows.bounds)
        )
        first = int(highs.getNumCol())
        highs.addVars(len(new), lower, upper)
        integer = np.flatnonzero(integer).astype(np.int32) + first
        if len(integer):
            highs.changeColsIntegrality(
                len(integer), integer, np.full(len(integer), highspy.HighsVarType.kInteger)
            )
    if len(rows):  # two variables of ``rows`` may be one column: one entry per column
        a = scipy.sparse.csr_array(
            (rows.value.copy(), cols[rows.index], rows.start.copy()),  # sorted in place below
            shape=(len(rows), int(highs.getNumCol())),
        )
        a.sum_duplicates()
        highs.addRows(
            len(rows),
            rows.lower,
            rows.upper,
            a.nnz,
            a.indptr[:-1].astype(np.int32),
            a.indices.astype(np.int32),
            a.data,
        )


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
    h = new_highs()
    h.passModel(lp)
    return h, columns
