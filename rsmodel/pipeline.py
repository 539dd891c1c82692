"""Run a scenario end to end: geometry -> optimisation -> plan -> output files.

``rsmodel run``, the Python API, studies and the simulator all call :func:`run` and
:func:`write_outputs`; nothing re-implements them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from rsmodel.geometry import Geometry, compute_geometry
from rsmodel.io import write_netcdf, write_text
from rsmodel.model.scenario import Scenario
from rsmodel.plan.dataset import plan_dataset
from rsmodel.plan.events import track_events, write_events
from rsmodel.plan.plan import Plan, build_plan
from rsmodel.timeutil import parse_time

if TYPE_CHECKING:
    from rsmodel.compute.joint import PlannedJobs


@dataclass
class RunResult:
    """Everything one run produced; ``schedule`` is the optimiser's own result object."""

    scenario: Scenario
    geometry: Geometry
    plan: Plan
    dataset: xr.Dataset
    schedule: Any = field(default=None, repr=False)


def run(scenario: Scenario, *, geometry: Geometry | None = None) -> RunResult:
    """Plan ``scenario`` (geometry computed unless given) with its ``solver:`` settings."""
    from rsmodel.optimize import optimise

    geometry = geometry if geometry is not None else compute_geometry(scenario)
    # onboard compute (docs/compute.md): decomposed (compute first, its outputs that go to ground
    # join the syncs as demands, its draw a fixed input of the battery) or joint
    # (solver.compute_downlink, a joint plan kept only if the checker accepts it);
    # plan.jobs / soc / job_events / job_downlinks, soc in plan.nc
    planned = None
    if scenario.model.jobs:
        from rsmodel.compute.joint import plan_jobs_and_downlinks

        planned = plan_jobs_and_downlinks(
            scenario, geometry, check=lambda jobs: findings(scenario, geometry, jobs)
        )
        schedule = planned.schedule
    else:
        schedule = optimise(scenario, geometry)
    plan, grid = assemble(scenario, geometry, schedule, planned)
    # telescope network (docs/telescopes.md): plan.telescopes
    if scenario.model.telescopes:
        from rsmodel.telescopes.api import plan_network

        plan.extra["telescopes"] = plan_network(scenario).plan
    return RunResult(scenario, geometry, plan, plan_dataset(plan, grid), schedule)


def assemble(
    scenario: Scenario, geometry: Geometry, schedule: Any, planned: PlannedJobs | None = None
) -> tuple[Plan, xr.Dataset]:
    """The plan of ``schedule`` (the optimiser's; with ``planned``, the jobs and transfers of
    :func:`rsmodel.compute.joint.plan_jobs_and_downlinks`, whose response it re-times: the
    ground steps from the plan's job downlinks) and its per-slot grid."""
    jobs, job_outputs = (None, []) if planned is None else (planned.response, planned.outputs)
    solver = dict(schedule.solver)
    warnings = [*scenario.warnings, *schedule.warnings]
    plan = build_plan(
        scenario, geometry, schedule.operations, solver, warnings=warnings, job_outputs=job_outputs
    )
    if schedule.tracks:  # antenna-time requests (docs/tracks.md)
        plan.extra.update(schedule.tracks)
        plan.extra["track_events"] = track_events(schedule.tracks["tracks"])
    plan.extra.update(schedule.onboard)  # recorders, sources, losses, soc (docs/recorder.md)
    grid = schedule.grid
    if jobs is not None:
        from rsmodel.compute import add_jobs_to_plan

        grid = add_jobs_to_plan(scenario, jobs, plan, grid)
    if "soc" in schedule.onboard:  # one SOC curve per node: with transmitting where modelled
        plan.extra["soc"] = {**plan.extra.get("soc", {}), **schedule.onboard["soc"]}
        grid["soc"] = schedule.grid["soc"].combine_first(grid["soc"])
    plan.warnings += battery_floor_warnings(scenario, plan.extra.get("soc") or {})
    return plan, grid


def findings(scenario: Scenario, geometry: Geometry, planned: PlannedJobs) -> list[str]:
    """The independent checker's findings on the plan ``planned`` makes (``[]``: valid;
    :func:`rsmodel.plan.check.check_plan` with the scenario), assembled on a copy of its
    response."""
    from rsmodel.plan.check import check_plan

    copied = replace(planned, response=copy.deepcopy(planned.response))
    plan, _ = assemble(scenario, geometry, planned.schedule, copied)
    return check_plan(plan.to_dict(), scenario=scenario)


def battery_floor_warnings(scenario: Scenario, curves: dict[str, dict[str, Any]]) -> list[str]:
    """One warning per node whose idle bus alone takes the battery below ``min_soc``
    (:func:`~rsmodel.optimize.energy.idle_floor_warning`), on the grid of its plan SOC curve."""
    from rsmodel.optimize.energy import idle_floor_warning, node_energy

    out = []
    for name, curve in curves.items():
        edges_s = [parse_time(t).timestamp() for t in curve["times"]]
        energy = node_energy(scenario.node(name), np.asarray(curve["sunlit"]), np.diff(edges_s))
        out += [w for w in [idle_floor_warning(energy, curve["times"])] if w]
    return out


def write_outputs(result: RunResult, out_dir: str | Path) -> dict[str, Path]:
    """Write plan.json, plan.nc and report.html into ``out_dir`` (each atomically; the report is
    rendered first, so a rendering error leaves no new files)."""
    from rsmodel.report import render_plan

    out = Path(out_dir)
    extra = result.plan.extra
    events = extra.get("job_events")
    if extra.get("track_events"):  # with the tracks' phases, in time order
        events = sorted([*(events or []), *extra["track_events"]], key=lambda e: e["time"])
    html = render_plan(result.plan.to_dict(), result.dataset, events=events)
    written = {
        "plan.json": result.plan.save(out / "plan.json"),
        "plan.nc": write_netcdf(out / "plan.nc", result.dataset),
        "report.html": write_text(out / "report.html", html),
    }
    if events:
        written["events.jsonl"] = write_events(out / "events.jsonl", events)
    return written
