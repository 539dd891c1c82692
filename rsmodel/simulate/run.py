"""Simulate a scenario end to end: plan it (``rsmodel.pipeline.run``), replay the plan through
its faults, write events.jsonl, accounting.json and the event-log report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rsmodel.io import write_json, write_text
from rsmodel.model.scenario import Scenario
from rsmodel.pipeline import RunResult
from rsmodel.pipeline import run as plan_scenario
from rsmodel.plan.events import write_events
from rsmodel.simulate.accounting import accounting
from rsmodel.simulate.engine import Simulator
from rsmodel.simulate.faults import FaultsInput, model_faults, resolve_faults
from rsmodel.simulate.onboard import OnboardRun
from rsmodel.simulate.recovery import RecoveryPlanner
from rsmodel.simulate.residual import PlannedTransfer, dispatch


@dataclass
class SimulationResult:
    """The initial plan (``run``) and the finished simulation."""

    run: RunResult
    simulator: Simulator


def operations_in_seconds(operations: list[Any], scenario: Scenario) -> list[PlannedTransfer]:
    """The optimiser's operations (aware datetimes) as simulator operations (seconds), on
    their planned antennas."""
    start = pd.Timestamp(scenario.start)
    return [
        PlannedTransfer(
            o.sync_id,
            o.node,
            o.station,
            o.window_id,
            (pd.Timestamp(o.start) - start).total_seconds(),
            (pd.Timestamp(o.end) - start).total_seconds(),
            float(o.bytes),
            int(o.antenna),
        )
        for o in operations
    ]


def simulate(
    scenario: Scenario,
    *,
    faults: FaultsInput | None = None,
    seed: int = 0,
    replan: str = "auto",
    budget_s: float = 1.0,
    planned: RunResult | None = None,
) -> SimulationResult:
    """Plan ``scenario`` (unless ``planned`` is given) and play the plan to the horizon end.

    ``faults`` default: the model's own section. ``replan``: ``auto`` = optimiser within
    ``budget_s`` per re-plan, greedy when it would not fit; ``greedy`` = greedy only.
    """
    result = planned if planned is not None else plan_scenario(scenario)
    windows = result.geometry.windows
    fault_plan = resolve_faults(faults or model_faults(scenario), scenario, windows)
    planner = RecoveryPlanner(scenario, budget_s) if replan == "auto" else dispatch
    ops = operations_in_seconds(result.schedule.operations, scenario)
    extra = result.plan.extra
    schedule = result.schedule
    onboard = None
    if schedule.problem.onboard is not None:
        onboard = OnboardRun(schedule.problem, schedule.state.lost)
    sim = Simulator(
        scenario,
        windows,
        ops,
        faults=fault_plan,
        seed=seed,
        planner=planner,
        job_events=extra.get("job_events", []),
        job_nodes={j["name"]: j["node"] for j in extra.get("jobs", [])},
        onboard=onboard,
        tracks=extra.get("tracks", []),
    )
    sim.run()
    return SimulationResult(result, sim)


def write_simulation(result: SimulationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write events.jsonl, accounting.json, plan.json (the initial plan) and report.html (the
    event log) into ``out_dir``."""
    from rsmodel.report import render_events

    out = Path(out_dir)
    events = result.simulator.events
    plan = result.run.plan.to_dict()
    return {
        "plan.json": result.run.plan.save(out / "plan.json"),
        "events.jsonl": write_events(out / "events.jsonl", events),
        "accounting.json": write_json(out / "accounting.json", accounting(result.simulator, plan)),
        "report.html": write_text(out / "report.html", render_events(events, plan)),
    }
