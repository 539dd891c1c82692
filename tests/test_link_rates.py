"""Link-budget rates end to end: the checker verifies every operation's bytes against the
integral of its window's rate profile, and the simulator moves bytes at that rate."""

from __future__ import annotations

import copy

import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_text
from rsmodel.optimize import optimise
from rsmodel.plan.check import check_plan

LINK_BUDGET = """\
name: link-budget
horizon: {start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}
ground_stations:
  - name: svalbard
    lat_deg: 78.23
    lon_deg: 15.41
    alt_m: 500
    bandwidth_bps: 1.0e8
    setup_s: 30
    bands: [{band: X, gt_dbk: 31.0}]
    link: {budget: {fixed_losses_db: 3.0, availability_pct: 99.0}}
nodes:
  - name: noaa20
    tle: {norad: 43013}
    transmitters: [{band: X, frequency_hz: 8.2e9, eirp_dbw: 7.0, symbol_rate_baud: 5.0e7}]
syncs:
  - {id: a, node: noaa20, data_size: 7.3e8, priority: high}
  - {id: b, node: noaa20, data_size: 1.9e9}
  - {id: c, node: noaa20, data_size: 4.1e8, priority: low}
  - {id: d, node: noaa20, data_size: 1.0e12, priority: low}
"""


@pytest.fixture(scope="module")
def link_budget():
    scenario = load_model_text(LINK_BUDGET)
    return scenario, compute_geometry(scenario)


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_checker_passes_real_plans_and_fails_bytes_off_by_one_percent(link_budget, method):
    scenario, geo = link_budget
    plan = optimise(scenario, geo, method=method).plan_dict()
    varying = {w["id"] for w in plan["windows"] if w["min_rate_bps"] < w["max_rate_bps"]}
    assert varying and all(w.get("profile_t_s") for w in plan["windows"])
    assert check_plan(plan) == []
    ops = [i for i, o in enumerate(plan["operations"]) if o["window_id"] in varying]
    assert ops
    for i in ops:  # +1 % of an operation: still between min and max rate x duration
        bad = copy.deepcopy(plan)
        bad["operations"][i]["bytes"] *= 1.01
        assert any(p.startswith(f"rate: operations[{i}] ") for p in check_plan(bad))
        assert check_plan(bad, executed=True)  # a simulated record may run slower, not faster
