"""Sync scheduling: Problem -> (staged Pyomo/HiGHS MILP | greedy) -> Schedule.

``optimise(scenario, geometry, method=None) -> Schedule``; see docs/ARCHITECTURE.md
("Optimiser output") and docs/optimisation.md.
"""

# First: the gateway keeps Pyomo from importing scipy.stats, which works only before SciPy's
# first import (any module of this package may import SciPy).
from rsmodel.optimize import gateway  # noqa: F401
from rsmodel.optimize.auto import optimise, solve_auto
from rsmodel.optimize.problem import (
    Demand,
    Problem,
    SolverSettings,
    StationSpec,
    build_problem,
    problem_from_scenario,
)
from rsmodel.optimize.schedule import DemandOutcome, Operation, Schedule, SolverStats
from rsmodel.optimize.solve import reoptimise, solve_problem

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
