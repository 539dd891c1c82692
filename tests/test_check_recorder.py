"""The independent recorder/SOC checker (rsmodel.plan.check_recorder via check_plan): a plan
dict written here by hand passes, and each hand edit that overflows without reporting the loss,
goes below the SOC floor or downlinks bytes before they exist fails with its own message."""

from __future__ import annotations

import copy
from datetime import timedelta

import numpy as np
import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.geometry.production import production
from rsmodel.model.loader import load_model_text
from rsmodel.plan.check import check_plan
from rsmodel.plan.plan import build_plan
from rsmodel.timeutil import iso
from tests.conftest import recorder_passes_model

# NOAA 20 over Svalbard, 6 h: passes w1 ~01:02:46-01:13:08, w2 ~02:43:24-02:54:16,
# w3 ~04:23:50-04:34:40, all sunlit. The recorder holds 6.5 GB: the 1 GB initial fill plus the
# 6 GB burst (+70 .. +80 min at 10 MB/s) fit only if part of the fill goes down in w1 first.
MODEL = recorder_passes_model("rec-check")
RATE_BYTES_S = 1.25e7  # 100 Mbit/s


@pytest.fixture(scope="module")
def setup():
    scenario = load_model_text(MODEL, file="rec-check.yaml")
    geometry = compute_geometry(scenario)
    base = build_plan(scenario, geometry, [], {"method": "milp", "status": "optimal"}).to_dict()
    return scenario, geometry, base


def window(plan: dict, i: int) -> dict:
    return plan["windows"][i]


def op(plan: dict, sync_id: str, w: int, offset_s: float, duration_s: float) -> dict:
    from rsmodel.timeutil import parse_time

    win = window(plan, w)
    start = parse_time(win["start"]) + timedelta(seconds=offset_s)
    return {
        "sync_id": sync_id,
        "node": "eo-01",
        "station": "svalbard",
        "window_id": win["id"],
        "start": iso(start),
        "end": iso(start + timedelta(seconds=duration_s)),
        "bytes": RATE_BYTES_S * duration_s,
        "antenna": 0,
    }


def derive(scenario, geometry, plan: dict, losses: dict[int, float] | None = None) -> dict:
    """Fill the plan's recorder, source and SOC sections from its operations, slot by slot
    (written out plainly here; ``losses``: bytes of the burst dropped per slot)."""
    from rsmodel.timeutil import parse_time

    losses = losses or {}
    prod = production(scenario, geometry)
    k_slots, step = prod.sizes["slot"], 60.0
    edges = np.arange(k_slots + 1) * step
    t0 = scenario.start
    down = {"eo-01/initial": np.zeros(k_slots), "eo-01/burst": np.zeros(k_slots)}
    tx_s = np.zeros(k_slots)
    on = []
    for o in sorted(plan["operations"], key=lambda o: o["start"]):
        a = (parse_time(o["start"]) - t0).total_seconds()
        b = (parse_time(o["end"]) - t0).total_seconds()
        for k in range(k_slots):
            share = max(0.0, min(b, edges[k + 1]) - max(a, edges[k]))
            down[o["sync_id"]][k] += o["bytes"] * share / (b - a)
        if on and a - on[-1][1] <= 30.0:
            on[-1][1] = b
        else:
            on.append([a - 30.0, b])
    for a, b in on:
        for k in range(k_slots):
            tx_s[k] += max(0.0, min(b, edges[k + 1]) - max(a, edges[k]))
    burst = prod.sel(source="eo-01/burst").produced_bytes.values
    lost = np.array([losses.get(k, 0.0) for k in range(k_slots)])
    fill = [1.0e9]
    for k in range(k_slots):
        fill.append(
            fill[-1] + burst[k] - down["eo-01/initial"][k] - down["eo-01/burst"][k] - lost[k]
        )
    sunlit = geometry.grid["sunlit"].sel(node="eo-01").values[:k_slots]
    soc = [10.0]
    for k in range(k_slots):
        net = (20.0 * sunlit[k] - 5.0) * step / 3600.0 - 150.0 * tx_s[k] / 3600.0
        soc.append(min(20.0, soc[-1] + net))
    times = [iso(t0 + timedelta(seconds=float(e))) for e in edges]
    entry = dict(node="eo-01", rank=2, data_type="", on_full="drop_new")
    plan["recorders"] = [
        {"node": "eo-01", "capacity_bytes": 6.5e9, "times": times, "fill_bytes": fill}
    ]
    plan["sources"] = [
        {
            **entry,
            "id": "eo-01/burst",
            "source": "burst",
            "produced_bytes": 6.0e9,
            "delivered_bytes": down["eo-01/burst"].sum(),
            "lost_bytes": lost.sum(),
            "onboard_end_bytes": 6.0e9 - down["eo-01/burst"].sum() - lost.sum(),
        },
        {
            **entry,
            "id": "eo-01/initial",
            "source": "initial",
            "rank": 1,
            "produced_bytes": 1.0e9,
            "delivered_bytes": down["eo-01/initial"].sum(),
            "lost_bytes": 0.0,
            "onboard_end_bytes": 1.0e9 - down["eo-01/initial"].sum(),
        },
    ]
    slots = np.flatnonzero(lost)
    plan["losses"] = (
        [
            {
                "source": "eo-01/burst",
                "node": "eo-01",
                "lost_bytes": lost.sum(),
                "first_time": times[slots[0]],
                "last_time": times[slots[-1] + 1],
                "reason": "recorder full",
            }
        ]
        if len(slots)
        else []
    )
    plan["soc"] = {"eo-01": {"times": times, "soc": [s / 20.0 for s in soc], "min_soc": 0.3}}
    return plan


@pytest.fixture(scope="module")
def valid(setup):
    scenario, geometry, base = setup
    plan = copy.deepcopy(base)
    plan["operations"] = [
        op(plan, "eo-01/initial", 0, 0.0, 80.0),  # 1 GB of the initial fill, before the burst
        op(plan, "eo-01/burst", 1, 0.0, 240.0),  # 3 GB of the burst in w2
        op(plan, "eo-01/burst", 2, 0.0, 240.0),  # 3 GB in w3
    ]
    return derive(scenario, geometry, plan)


def problems(setup, plan: dict) -> list[str]:
    return check_plan(plan, scenario=setup[0])


def test_a_consistent_plan_passes(setup, valid) -> None:
    assert problems(setup, valid) == []
    assert min(valid["soc"]["eo-01"]["soc"]) > 0.3  # the plan really uses the battery
    assert max(valid["recorders"][0]["fill_bytes"]) >= 6.0e9  # and nearly fills the recorder


def test_the_plan_model_is_loaded_when_no_scenario_is_given(tmp_path, setup, valid) -> None:
    model = tmp_path / "rec-check.yaml"
    model.write_text(MODEL)
    plan = {**valid, "model": {**valid["model"], "file": str(model), "text": MODEL}}
    assert check_plan(plan) == []
    broken = {**plan, "model": {**plan["model"], "text": MODEL.replace("6.5e9", "-1")}}
    (line,) = check_plan(broken)
    assert line.startswith("recorders: cannot re-integrate, the plan's model does not load")


def test_overflow_without_reported_loss_fails(setup, valid) -> None:
    scenario, geometry, _ = setup
    plan = copy.deepcopy(valid)
    del plan["operations"][0]  # the initial fill stays onboard: 7 GB > 6.5 GB by +80 min
    found = problems(setup, derive(scenario, geometry, plan))
    assert any("overflows without reporting the loss" in p for p in found), found
    # reporting the 0.5 GB the burst loses in its last slot (and sending 0.5 GB less) passes
    plan["operations"][-1] = op(plan, "eo-01/burst", 2, 0.0, 200.0)
    reported = derive(scenario, geometry, plan, losses={79: 5.0e8})
    assert problems(setup, reported) == []
    # a loss the burst did not have: its delivered + lost exceed what it produced
    resent = copy.deepcopy(reported)
    resent["operations"][-1] = op(resent, "eo-01/burst", 2, 0.0, 240.0)
    found = problems(setup, derive(scenario, geometry, resent, losses={79: 5.0e8}))
    assert any("eo-01/burst delivered + lost + onboard_end" in p for p in found), found
    # a loss reported too late (after the overflow) does not excuse it
    late = copy.deepcopy(reported)
    late["losses"][0]["first_time"] = late["recorders"][0]["times"][200]
    assert any("overflows without reporting" in p for p in problems(setup, late))


def test_soc_below_the_floor_fails(setup, valid) -> None:
    scenario, geometry, _ = setup
    plan = copy.deepcopy(valid)
    # all 6 GB of the burst in w2: 510 s of 150 W (with warm-up) drain 21 Wh, 15 W of sun
    # gives back 2 Wh, from a full 20 Wh battery: below 0.3 x 20 Wh
    plan["operations"][1:] = [op(plan, "eo-01/burst", 1, 0.0, 480.0)]
    found = problems(setup, derive(scenario, geometry, plan))
    assert any("eo-01 re-integrated state of charge" in p and "below its floor" in p for p in found)


def test_downlink_before_production_fails(setup, valid) -> None:
    scenario, geometry, _ = setup
    plan = copy.deepcopy(valid)
    # 3 GB of the burst in w1 right after the initial fill: the burst starts at 01:10 only
    plan["operations"][2] = op(plan, "eo-01/burst", 0, 80.0, 240.0)
    found = problems(setup, derive(scenario, geometry, plan))
    assert any("eo-01/burst" in p and "bytes sent before they exist" in p for p in found), found


def test_curves_that_disagree_with_the_operations_fail(setup, valid) -> None:
    fill = copy.deepcopy(valid)
    fill["recorders"][0]["fill_bytes"][100] -= 2.0e9  # 2 GB vanish for a minute
    assert any("eo-01 fill_bytes" in p for p in problems(setup, fill))
    soc = copy.deepcopy(valid)
    soc["soc"]["eo-01"]["soc"][150] += 0.1
    assert any(p.startswith("soc: eo-01 plan says") for p in problems(setup, soc))
    totals = copy.deepcopy(valid)
    totals["sources"][0]["delivered_bytes"] += 1.0e8
    assert any("eo-01/burst delivered_bytes" in p for p in problems(setup, totals))
    missing = copy.deepcopy(valid)
    del missing["soc"]
    assert "soc: eo-01 draws transmit power but the plan has no soc curve" in problems(
        setup, missing
    )
