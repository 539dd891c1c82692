"""Contact setup longer than a grid slot (docs/optimisation.md, "Setup"): the antenna is busy for
``setup_s`` before a contact's first byte, over as many slots as it takes, in the MILP, greedy,
rolling horizon and the simulator, and the plan checker agrees.

References: the windows' ``capacity_bytes`` (the geometry's ``rate x (duration - setup_s)``,
no slots involved) and the independent plan checker.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_text
from rsmodel.optimize import optimise
from rsmodel.optimize.problem import problem_from_scenario
from rsmodel.optimize.rolling import solve_rolling
from rsmodel.optimize.strategy import Rolling
from rsmodel.plan import build_plan
from rsmodel.plan.check import check_plan
from rsmodel.simulate.accounting import executed_plan
from rsmodel.simulate.run import simulate

STEP_S = 60.0
SETUP_S = 2.5 * STEP_S
MODEL = f"""\
name: long-setup
horizon: {{start: 2026-05-30T00:00:00Z, hours: 12, step_s: {STEP_S:g}}}
ground_stations:
  - {{name: svalbard, lat_deg: 78.23, lon_deg: 15.41, bandwidth_bps: 1.0e8, setup_s: {SETUP_S:g}
     EXTRA}}
nodes:
NODES
syncs:
SYNCS
"""
ONE = MODEL.replace("EXTRA", "").replace("NODES", "  - {name: noaa20, tle: {norad: 43013}}")
ONE = ONE.replace("SYNCS", "  - {node: noaa20, data_size: 1.0e13}")
SHARED = (
    MODEL.replace("EXTRA", ", turnaround_s: 120")
    .replace(
        "NODES",
        "  - {name: noaa20, tle: {norad: 43013}}\n"
        "  - {name: metop, tle: {norad: 38771}}\n"
        "  - {name: npp, tle: {norad: 37849}}",
    )
    .replace(
        "SYNCS",
        "  - {node: noaa20, data_size: 1.0e12}\n"
        "  - {node: metop, data_size: 1.0e12, priority: high}\n"
        "  - {node: npp, data_size: 1.0e12}",
    )
)


def plan_of(text: str, how: str) -> tuple[dict, pd.DataFrame]:
    scenario = load_model_text(text)
    assert not any("setup_s" in w for w in scenario.warnings)  # no "no contact" warning
    geometry = compute_geometry(scenario)
    if how == "rolling":
        problem = problem_from_scenario(scenario, geometry)
        problem.settings = replace(
            problem.settings, rolling=Rolling(block_s=3 * 3600, lookahead_s=3600)
        )
        schedule = solve_rolling(problem)
    else:
        schedule = optimise(scenario, geometry, method=how)
    plan = build_plan(scenario, geometry, schedule.operations, schedule.solver).to_dict()
    return plan, geometry.windows


@pytest.mark.parametrize("how", ["milp", "greedy", "rolling"])
def test_a_setup_of_two_and_a_half_slots_leaves_each_pass_its_capacity(how) -> None:
    """One node, one antenna, more data than the passes hold: every pass carries its whole
    capacity after the setup, the first byte ``setup_s`` after the pass opens."""
    plan, windows = plan_of(ONE, how)
    assert check_plan(plan) == []
    ops = pd.DataFrame(plan["operations"])
    sent = ops.groupby("window_id")["bytes"].sum()
    capacity = windows.set_index("id")["capacity_bytes"]
    assert len(sent) == len(windows) > 3
    assert sent.to_numpy() == pytest.approx(capacity[sent.index].to_numpy(), rel=1e-6)
    first = pd.to_datetime(ops.groupby("window_id")["start"].min())
    opens = windows.set_index("id")["start"][first.index]
    assert (first - opens).dt.total_seconds().to_numpy() == pytest.approx(SETUP_S, abs=1e-3)


@pytest.mark.parametrize("how", ["milp", "greedy", "rolling"])
def test_long_setups_and_turnaround_on_a_shared_antenna(how) -> None:
    """Three nodes on one antenna with a turnaround: contacts switch nodes, each pays its
    setup over several slots, and the checker finds nothing."""
    plan, _ = plan_of(SHARED, how)
    assert check_plan(plan) == []
    nodes = [o["node"] for o in sorted(plan["operations"], key=lambda o: o["start"])]
    assert sum(a != b for a, b in zip(nodes, nodes[1:], strict=False)) >= 3


def test_simulated_replans_pay_long_setups() -> None:
    """Faults force re-plans at a station whose setup lasts 2.5 slots: the executed transfers
    keep setup and turnaround on the recorded antenna."""
    text = SHARED + (
        "faults:\n  transfer_failure_rate: 0.3\n"
        "  station_outages: [{station: svalbard, start: +2h, end: +150min}]\n"
    )
    result = simulate(load_model_text(text), replan="auto", budget_s=5.0, seed=2)
    assert len(result.simulator.replans) >= 3
    executed = executed_plan(result.simulator, result.run.plan.to_dict())
    assert len(executed["operations"]) > 5
    assert check_plan(executed, executed=True) == []
