"""Onboard compute jobs (seed 002): plan a scenario's ``jobs`` and report decisions and events.

``plan_jobs(scenario, geometry)`` builds the problem of :mod:`rsmodel.optimize.compute_problem`
and solves it (whole horizon, or rolling blocks: :mod:`rsmodel.optimize.compute_rolling`,
``solver.strategy``, :func:`rsmodel.optimize.compute_auto.solve_compute_auto`)
and returns ``{"placement_decisions", "events", "jobs", "soc", "solver", "warnings"}``
(docs/compute.md). ``rsmodel plan REQUEST.json`` does the same for a seed request body.
"""

from __future__ import annotations

from typing import Any

from rsmodel.model.compute_schema import job_warnings
from rsmodel.model.scenario import Scenario


def plan_jobs(
    scenario: Scenario,
    geometry: Any,
    *,
    time_limit_s: float | None = None,
    sync_slots: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Plan every job of ``scenario`` on ``geometry``'s grid with HiGHS (the model's solver limits;
    ``solver.strategy`` monolithic / rolling / auto, docs/compute.md); ``sync_slots[node]``:
    slots the sync schedule uses, left out of job-output downlinks."""
    from rsmodel.compute.report import jobs_report

    return jobs_report(solve_jobs(scenario, geometry, time_limit_s, sync_slots=sync_slots))


def solve_jobs(
    scenario: Scenario,
    geometry: Any,
    time_limit_s: float | None = None,
    *,
    sync_slots: dict[str, Any] | None = None,
    stop_at: float | None = None,
) -> Any:
    """The compute problem of ``scenario`` solved alone (the ``ComputeSolution`` that
    :func:`plan_jobs` reports; ``solution.problem`` is the problem), by the deadline
    ``stop_at`` (``time.perf_counter()`` s; default the time limit from now)."""
    from dataclasses import replace

    from rsmodel.optimize.compute_auto import solve_compute_auto
    from rsmodel.optimize.compute_problem import build_compute_problem

    problem = build_compute_problem(scenario, geometry, sync_slots=sync_slots)
    if time_limit_s:
        problem.settings = replace(problem.settings, time_limit_s=float(time_limit_s))
    problem.warnings.extend(w for job in scenario.model.jobs for w in job_warnings(job))
    return solve_compute_auto(problem, stop_at=stop_at)


def add_jobs_to_plan(scenario: Scenario, response: dict[str, Any], plan: Any, grid: Any) -> Any:
    """Put the planned jobs (``response`` of :func:`plan_jobs`) into ``plan`` (``jobs``, ``soc``,
    ``job_events``, warnings; the compute solver's summary as ``plan.solver.jobs``, its notes as
    ``jobs ...`` in ``plan.solver.notes``),
    ground steps timed by the plan's ``job_downlinks``
    (:func:`rsmodel.compute.downlink.time_ground_steps`); return the optimiser ``grid`` with
    ``soc (node, time)`` (fraction at slot starts) added."""
    import numpy as np
    import pandas as pd
    import xarray as xr

    from rsmodel.compute.downlink import time_ground_steps

    time_ground_steps(scenario, response, plan.extra.get("job_downlinks", []))
    plan.extra.update(jobs=response["jobs"], soc=response["soc"], job_events=response["events"])
    plan.warnings.extend(response["warnings"])
    plan.solver["jobs"] = {k: v for k, v in response["solver"].items() if k != "notes"}
    plan.solver["notes"] = [
        *plan.solver.get("notes", []),
        *(f"jobs {note}" for note in response["solver"]["notes"]),
    ]
    names = list(response["soc"])
    if not names:
        return grid
    times = pd.to_datetime(response["soc"][names[0]]["times"][:-1]).tz_convert(None)
    soc = xr.DataArray(
        np.array([response["soc"][n]["soc"][:-1] for n in names]),
        dims=("node", "time"),
        coords={"node": names, "time": times.to_numpy("datetime64[ns]")},
        attrs={
            "units": "1",
            "long_name": "battery state of charge at slot start",
            "min_soc": min(response["soc"][n]["min_soc"] for n in names),
        },
    )
    return soc.to_dataset(name="soc") if grid is None else grid.assign(soc=soc)
