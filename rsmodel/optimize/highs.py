"""Hand a Pyomo model to HiGHS and read the result back.

Two interfaces, same results:

- ``"standard_form"`` (default): Pyomo's ``LinearStandardFormCompiler`` turns the model into
  sparse matrices in one vectorised pass; they go to ``highspy`` with ``passModel``. Several
  times faster than the persistent interface at 10^5 columns (benchmarks/bench_sync.py).
- ``"appsi"``: Pyomo's persistent ``appsi_highs`` interface (``set_instance``).

HiGHS fixes its thread pool once per process; a different ``threads`` later resets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.tee import capture_output
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

INTERFACES = ("standard_form", "appsi")
_threads_in_use: list[int] = []


@dataclass
class HighsResult:
    """Outcome of one HiGHS run."""

    status: str  # optimal | time_limit | infeasible | ...
    has_solution: bool
    objective: float | None
    bound: float | None
    mip_gap: float | None
    columns: int
    rows: int


class HighsModel:
    """A Pyomo model loaded into HiGHS through one of :data:`INTERFACES`."""

    def __init__(
        self, model: pyo.ConcreteModel, *, threads: int = 1, interface: str = "standard_form"
    ) -> None:
        if interface not in INTERFACES:
            raise ValueError(f"interface must be one of {INTERFACES}, got {interface!r}")
        _use_threads(threads)
        self.interface = interface
        if interface == "appsi":
            from pyomo.contrib.appsi.solvers.highs import Highs

            self._appsi = Highs()
            self._appsi.highs_options = {"threads": threads, "output_flag": False}
            self._appsi.set_instance(model)
            self.highs = self._appsi._solver_model
            self._column = self._appsi._pyomo_var_to_solver_var_map
        else:
            self.highs, columns = _pass_standard_form(model)
            self.highs.setOptionValue("threads", threads)
            self._column = {id(v): j for j, v in enumerate(columns)}

    def columns_of(self, variables: list[Any]) -> np.ndarray:
        """HiGHS column index of each Pyomo variable (-1: not in any constraint or objective)."""
        return np.array([self._column.get(id(v), -1) for v in variables], dtype=int)

    def set_start(self, columns: np.ndarray, values: np.ndarray) -> None:
        """A MIP start: ``values`` for ``columns`` (others 0)."""
        full = np.zeros(self.highs.getNumCol())
        full[columns[columns >= 0]] = values[columns >= 0]
        solution = highspy.HighsSolution()
        solution.col_value = full.tolist()
        solution.value_valid = True
        self.highs.setSolution(solution)

    def run(self, *, time_limit_s: float, mip_gap: float) -> HighsResult:
        h = self.highs
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(time_limit_s))
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        has_solution = bool(h.getSolution().value_valid) and status in (
            highspy.HighsModelStatus.kOptimal,
            highspy.HighsModelStatus.kTimeLimit,
            highspy.HighsModelStatus.kIterationLimit,
            highspy.HighsModelStatus.kSolutionLimit,
        )
        is_mip = info.mip_node_count >= 0
        bound = (
            float(info.mip_dual_bound)
            if is_mip
            else (info.objective_function_value if has_solution else None)
        )
        gap = float(info.mip_gap) if is_mip and has_solution else (0.0 if has_solution else None)
        return HighsResult(
            status=_status_name(status),
            has_solution=has_solution,
            objective=float(info.objective_function_value) if has_solution else None,
            bound=bound if bound is not None and np.isfinite(bound) else None,
            mip_gap=gap if gap is not None and np.isfinite(gap) else None,
            columns=int(h.getNumCol()),
            rows=int(h.getNumRow()),
        )

    def values(self, columns: np.ndarray) -> np.ndarray:
        """Solution values of ``columns`` (0 for -1)."""
        values = np.asarray(self.highs.getSolution().col_value)
        return np.where(columns >= 0, values[np.maximum(columns, 0)], 0.0)


def _use_threads(threads: int) -> None:
    if _threads_in_use and _threads_in_use[-1] != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _threads_in_use[:] = [threads]


def _status_name(status: Any) -> str:
    names = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
        highspy.HighsModelStatus.kModelEmpty: "optimal",
    }
    return names.get(status, str(status).split(".")[-1])


def _pass_standard_form(model: pyo.ConcreteModel) -> tuple[highspy.Highs, list[Any]]:
    """Compile ``model`` (one minimising objective) to matrices and pass them to a new Highs."""
    sf = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    columns = sf.columns
    n_cols, n_rows = len(columns), len(sf.rows)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    if any(o.sense != pyo.minimize for o in sf.objectives):
        raise ValueError("rsmodel stage models minimise their objective")
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
