"""The transmitter is on during a contact's setup (issue 15; docs/recorder.md, "Transmitter on").

One node without an orbit (imported view periods: always sunlit, no solar charge here, no idle
load) sends to one station over one 20-minute pass at 1 Mbit/s; its 40 Wh battery may go down
to 50 %, i.e. 20 Wh = 720 s of its 100 W transmitter. The sync needs 600 s of sending: enough
without a setup, not with a 300 s setup (900 s of transmitter). References are hand
computations from those figures and the independent checker's re-integration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rsmodel.model.loader import load_model
from rsmodel.optimize.recorder import soc_from_operations
from rsmodel.pipeline import run
from rsmodel.plan.check import check_plan
from rsmodel.plan.check_recorder import reintegrated_soc
from rsmodel.simulate.accounting import executed_plan
from rsmodel.simulate.run import simulate
from rsmodel.timeutil import parse_time

RATE_BPS = 1.0e6
TX_W = 100.0
SIZE = 600 * RATE_BPS / 8  # 600 s of sending
CAPACITY_WH, FLOOR = 40.0, 0.5
MODEL = """\
name: setup-power
horizon: {{start: 2026-05-30T00:00:00Z, hours: 2, step_s: 60}}
ground_stations:
  - {{name: gs, lat_deg: 10, lon_deg: 10, bandwidth_bps: {rate:g}, setup_s: {setup:g}}}
nodes:
  - name: sat
    battery: {{capacity_wh: {cap:g}, initial_soc: 1.0, min_soc: {floor:g}}}
    power: {{solar_charge_w: 0, idle_w: 0, compute_w: 0, tx_power_w: {tx:g}}}
view_periods: periods.csv
syncs:
  - {{id: dump, node: sat, data_size: {size:g}}}
solver: {{method: {method}}}
"""
PERIODS = "node,station,start,end\nsat,gs,2026-05-30T01:00:00Z,2026-05-30T01:20:00Z\n"


def planned(tmp_path: Path, setup_s: float, method: str, floor: float = FLOOR):
    (tmp_path / "periods.csv").write_text(PERIODS)
    path = tmp_path / f"model-{setup_s:g}-{method}-{floor:g}.yaml"
    figures = {"rate": RATE_BPS, "cap": CAPACITY_WH, "floor": floor, "tx": TX_W, "size": SIZE}
    path.write_text(MODEL.format(setup=setup_s, method=method, **figures))
    scenario = load_model(path)
    return scenario, run(scenario)


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_a_setup_the_battery_cannot_also_pay_cuts_the_transfer(tmp_path: Path, method) -> None:
    """Without setup the sync goes down whole; with a 300 s setup the transmitter is on 300 s
    longer, so only 720 - 300 = 420 s of data fit above the floor. The plan's SOC (and the
    simulated run's) equals the checker's re-integration within 1e-6 Wh and ends where the hand
    computation says: 40 Wh - 100 W x (setup + sending)."""
    _, free = planned(tmp_path, 0.0, method)
    assert free.plan.to_dict()["syncs"][0]["status"] == "complete"

    scenario, result = planned(tmp_path, 300.0, method)
    plan = result.plan.to_dict()
    (sync,) = plan["syncs"]
    sent_s = sync["delivered_bytes"] / (RATE_BPS / 8)
    assert sync["status"] == "partial"
    assert 0 < sent_s <= 720 - 300 + 1e-6
    t0 = scenario.start
    first = min(parse_time(o["start"]) for o in plan["operations"])
    assert (first - t0).total_seconds() == pytest.approx(3600 + 300)  # the setup, then bytes
    assert check_plan(plan, scenario=scenario) == []

    schedule = result.schedule
    planned_wh = soc_from_operations(schedule.problem, schedule.operations)["sat"]
    checked_wh, floor_wh = reintegrated_soc(plan, scenario)["sat"]
    np.testing.assert_allclose(checked_wh, planned_wh, rtol=0, atol=1e-6)
    assert checked_wh.min() >= floor_wh.min() - 1e-6 == FLOOR * CAPACITY_WH - 1e-6
    assert planned_wh[-1] == pytest.approx(CAPACITY_WH - TX_W * (300 + sent_s) / 3600, abs=1e-6)

    sim = simulate(scenario, planned=result).simulator
    executed = executed_plan(sim, plan)
    assert check_plan(executed, executed=True, scenario=scenario) == []
    ran_wh, _ = reintegrated_soc(executed, scenario)["sat"]
    np.testing.assert_allclose(ran_wh, planned_wh, rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_no_contact_opens_when_its_setup_alone_empties_the_battery(tmp_path: Path, method) -> None:
    """At min_soc 0.875 the battery holds 5 Wh = 180 s of transmitter: every 60 s slot fits
    on its own, but a contact needs its 300 s setup first, so nothing can be sent (the greedy
    checks a slot together with the setup slots it opens); without the setup 180 s are sent."""
    _, free = planned(tmp_path, 0.0, method, floor=0.875)
    (sync,) = free.plan.to_dict()["syncs"]
    assert sync["delivered_bytes"] == pytest.approx(180 * RATE_BPS / 8)

    scenario, result = planned(tmp_path, 300.0, method, floor=0.875)
    plan = result.plan.to_dict()
    assert plan["operations"] == [] and plan["syncs"][0]["status"] == "unmet"
    assert check_plan(plan, scenario=scenario) == []
