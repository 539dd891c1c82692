"""Onboard compute jobs (seed 002): plan a scenario's ``jobs`` and report decisions and events.

``plan_jobs(scenario, geometry)`` builds and solves the MILP of :mod:`rsmodel.optimize.compute`
and returns ``{"placement_decisions", "events", "jobs", "soc", "solver", "warnings"}``
(docs/compute.md). ``rsmodel plan REQUEST.json`` does the same for a seed request body.
"""

from __future__ import annotations

from typing import Any

from rsmodel.model.compute_schema import job_warnings
from rsmodel.model.scenario import Scenario


def plan_jobs(
    scenario: Scenario, geometry: Any, *, time_limit_s: float | None = None
) -> dict[str, Any]:
    """Plan every job of ``scenario`` on ``geometry``'s grid with HiGHS (the model's solver limits)."""
    from rsmodel.compute.report import jobs_report
    from rsmodel.optimize.compute import build_compute_problem, solve_compute

    solver = scenario.model.solver
    problem = build_compute_problem(scenario, geometry)
    problem.warnings.extend(w for job in scenario.model.jobs for w in job_warnings(job))
    solution = solve_compute(
        problem,
        time_limit_s=time_limit_s or float(solver.time_limit_s),
        mip_gap=float(solver.mip_gap),
        threads=int(solver.threads),
    )
    return jobs_report(solution)
