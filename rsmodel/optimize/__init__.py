"""Sync scheduling: Problem -> (staged Pyomo/HiGHS MILP | greedy) -> Schedule.

``optimise(scenario, geometry, method=None) -> Schedule``; see docs/ARCHITECTURE.md
("Optimiser output") and docs/optimisation.md. The names below are loaded on first use
(PEP 562), so ``import rsmodel.optimize.compute_auto`` (a compute request) does not load the
sync modules, Pyomo or SciPy. SciPy comes in through :mod:`rsmodel.optimize.gateway` only,
which keeps Pyomo from importing scipy.stats with it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rsmodel.optimize.auto import optimise, solve_auto
    from rsmodel.optimize.problem import (
        Demand,
        Problem,
        StationSpec,
        build_problem,
        problem_from_scenario,
    )
    from rsmodel.optimize.schedule import DemandOutcome, Operation, Schedule, SolverStats
    from rsmodel.optimize.solve import reoptimise, solve_problem
    from rsmodel.optimize.strategy import SolverSettings

_HOME = {
    "optimise": "auto",
    "solve_auto": "auto",
    "Demand": "problem",
    "Problem": "problem",
    "StationSpec": "problem",
    "build_problem": "problem",
    "problem_from_scenario": "problem",
    "DemandOutcome": "schedule",
    "Operation": "schedule",
    "Schedule": "schedule",
    "SolverStats": "schedule",
    "reoptimise": "solve",
    "solve_problem": "solve",
    "SolverSettings": "strategy",
}
__all__ = [
    "Demand",
    "DemandOutcome",
    "Operation",
    "Problem",
    "Schedule",
    "SolverSettings",
    "SolverStats",
    "StationSpec",
    "build_problem",
    "optimise",
    "problem_from_scenario",
    "reoptimise",
    "solve_auto",
    "solve_problem",
]


def __getattr__(name: str) -> Any:
    """The public name ``name`` from its module (imported on first use)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
