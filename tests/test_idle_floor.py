"""A battery that the idle bus alone takes below ``min_soc`` is named in the plan's warnings
(docs/compute.md, "Energy model"; bench_joint's fleet day showed such a dip silently).

One node without an orbit (imported view periods: always sunlit, no solar charge here) with a
40 Wh battery, floor 50 % (20 Wh), a 100 W transmitter and one 20-minute pass at 01:00-01:20.
With ``idle_w`` 15 W the idle bus alone reaches the floor at 20 Wh / 15 W = 80 min (01:20) and
ends the 2 h horizon at 40 - 30 = 10 Wh (25 %). Any transmission before then would stay below
that idle-only SOC for the rest of the horizon (no charge to recover), so the plan sends nothing
and its SOC curve is the idle-only one. References are these hand computations and the
independent checker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rsmodel.model.loader import load_model
from rsmodel.pipeline import run
from rsmodel.plan.check import check_plan
from rsmodel.plan.check_recorder import reintegrated_soc

CAPACITY_WH, FLOOR, TX_W = 40.0, 0.5, 100.0
MODEL = """\
name: idle-floor
horizon: {{start: 2026-05-30T00:00:00Z, hours: 2, step_s: 60}}
ground_stations:
  - {{name: gs, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6}}
nodes:
  - name: sat
    battery: {{capacity_wh: {cap:g}, initial_soc: {soc0:g}, min_soc: {floor:g}}}
    power: {{solar_charge_w: 0, idle_w: {idle:g}, compute_w: 0, tx_power_w: {tx:g}}}
view_periods: periods.csv
syncs:
  - {{id: dump, node: sat, data_size: 7.5e7}}
solver: {{method: {method}}}
"""
PERIODS = "node,station,start,end\nsat,gs,2026-05-30T01:00:00Z,2026-05-30T01:20:00Z\n"


def planned(tmp_path: Path, idle_w: float, soc0: float, method: str):
    (tmp_path / "periods.csv").write_text(PERIODS)
    path = tmp_path / f"model-{idle_w:g}-{soc0:g}-{method}.yaml"
    figures = {"cap": CAPACITY_WH, "floor": FLOOR, "tx": TX_W, "idle": idle_w, "soc0": soc0}
    path.write_text(MODEL.format(method=method, **figures))
    scenario = load_model(path)
    return scenario, run(scenario).plan.to_dict()


def battery_warnings(plan: dict) -> list[str]:
    return [w for w in plan["warnings"] if w.startswith("battery:")]


@pytest.mark.parametrize("method", ["milp", "greedy"])
@pytest.mark.parametrize(
    ("idle_w", "soc0", "first", "lowest", "when"),
    [
        (15.0, 1.0, "2026-05-30T01:21:00Z", 0.25, "2026-05-30T02:00:00Z"),
        (0.0, 0.45, "2026-05-30T00:00:00Z", 0.45, "2026-05-30T00:00:00Z"),
        (25.0, 1.0, "2026-05-30T00:49:00Z", -0.25, "2026-05-30T02:00:00Z"),
    ],
)
def test_an_unavoidable_dip_below_the_floor_is_named_and_nothing_deepens_it(
    tmp_path: Path, method: str, idle_w: float, soc0: float, first: str, lowest: float, when: str
) -> None:
    """The warning names the node, the first slot edge below the floor (01:20 is exactly at it,
    01:21 below), the lowest SOC and when; the plan draws nothing (its SOC is the idle-only one),
    and the checker finds nothing."""
    scenario, plan = planned(tmp_path, idle_w, soc0, method)
    (warning,) = battery_warnings(plan)
    assert warning.startswith("battery: sat's idle load alone")
    assert f"below min_soc 0.5 from {first}" in warning
    assert f"lowest {lowest:.3f}" in warning and f"at {when}" in warning
    # 40 Wh / 25 W = 96 min: empty at 01:36, below zero from 01:37
    assert ("battery empty from 2026-05-30T01:37:00Z" in warning) == (lowest < 0)
    assert plan["operations"] == []
    soc_wh, floor_wh = reintegrated_soc(plan, scenario)["sat"]
    idle_only = soc0 * CAPACITY_WH - idle_w * np.arange(121) / 60.0
    np.testing.assert_allclose(soc_wh, idle_only, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(plan["soc"]["sat"]["soc"]) * CAPACITY_WH, idle_only, atol=1e-4
    )
    assert check_plan(plan, scenario=scenario) == []


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_a_battery_the_idle_bus_keeps_above_its_floor_gets_no_warning(
    tmp_path: Path, method: str
) -> None:
    """With 5 W idle (10 Wh over 2 h, ending at 75 %) the floor binds only through transmitting:
    no battery warning, 10 Wh (360 s of the transmitter) sent, and the SOC never below 50 %."""
    scenario, plan = planned(tmp_path, 5.0, 1.0, method)
    assert battery_warnings(plan) == []
    assert plan["operations"]
    assert min(plan["soc"]["sat"]["soc"]) >= FLOOR - 1e-6
    assert check_plan(plan, scenario=scenario) == []
