"""Operations follow the link's rate curve inside a slot (issue 15 item 6): with a rate profile
(link budget or rate table, piecewise linear in time), each operation's bytes are the integral
of the rate over its [start, end], not the slot's mean rate times its duration.

References: slot decisions set by hand and integrals computed here with numpy from the profile's
knots (trapezoids), independent of the timeline; the independent plan checker; skyfield passes
through a rate-vs-elevation table end to end. Rates stay <= 4 Mbit/s (0.5 B per microsecond),
so the plan's microsecond instants hold every operation within 1 byte of its integral.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import numpy as np
import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.geometry.link import Profiles
from rsmodel.model.loader import load_model_text
from rsmodel.optimize import StationSpec, build_problem, optimise
from rsmodel.optimize.problem import SolverSettings
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.timeline import timeline
from rsmodel.plan.check import check_plan
from rsmodel.timeutil import parse_time
from tests.test_optimize import T0, demand, windows_table

KNOTS_S = np.arange(0.0, 301.0, 20.0)
# 1 -> 4 Mbit/s and back, a 40 s stretch where the link does not close (rate 0) in slot 3
RATES_BPS = np.array([1, 1.5, 2.5, 4, 4, 3.5, 3, 2, 1, 0, 0, 1, 2, 3, 3.5, 4]) * 1e6
SETUP_S = 30.0


def integral_bytes(a_s: float, b_s: float, knots_s=KNOTS_S, rates_bps=RATES_BPS) -> float:
    """Bytes of the linear profile in [a_s, b_s] (trapezoids on the knots inside)."""
    t = np.r_[a_s, knots_s[(knots_s > a_s) & (knots_s < b_s)], b_s]
    return float(np.trapezoid(np.interp(t, knots_s, rates_bps), t)) / 8.0


def hand_problem(profile: bool, rates_bps: np.ndarray = RATES_BPS):
    """One 300 s window with ``setup_s`` 30 s; demands A, B, C (normal, normal, low)."""
    windows = windows_table([("sat", "gs", 0, 300)], bandwidth_bps=float(rates_bps.max()))
    if profile:
        windows["profile_t_s"] = [KNOTS_S]
        windows["profile_rate_bps"] = [rates_bps]
    return build_problem(
        start=T0,
        end=T0 + timedelta(hours=1),
        step_s=60.0,
        nodes=["sat"],
        stations=[StationSpec("gs", setup_s=SETUP_S)],
        windows=windows,
        demands=[
            demand(s, "sat", 1e4, p)
            for s, p in zip("ABC", ("normal", "normal", "low"), strict=True)
        ],
        settings=SolverSettings(method="greedy"),
    )


def lay_out(p, share: dict[tuple[str, int], float]):
    """Timeline of ``share`` (demand, slot) -> fraction of the slot's usable capacity."""
    state = LinkState.empty(p)
    ids = [d.id for d in p.demands]
    usable = p.cand_bytes - np.where(p.cand_slot == 0, p.cand_setup_bytes, 0.0)  # contact start
    decided = {}
    for q, (c, d) in enumerate(zip(p.pair_cand, p.pair_demand, strict=True)):
        f = share.get((ids[d], int(p.cand_slot[c])), 0.0)
        if f:
            state.open(int(c))
            state.pair_bytes[q] = f * usable[c]
            decided[ids[d]] = decided.get(ids[d], 0.0) + f * usable[c]
    for c in range(len(p.cand_slot)):  # the contact runs through slot 4 (nothing sent there)
        if p.cand_slot[c] <= 4:
            state.open(int(c))
    return timeline(state), decided


# slot 0: A, then B continuing (right-aligned to the slot end); slot 1: B full; slot 2: B goes
# on, then C; slot 3 (the link drops to 0 in it): A; slot 4: nothing
SHARE = {
    ("A", 0): 0.3,
    ("B", 0): 0.5,
    ("B", 1): 1.0,
    ("B", 2): 0.3,
    ("C", 2): 0.5,
    ("A", 3): 0.9,
}


def seconds(t) -> float:
    return (t - T0).total_seconds()


def test_each_operation_carries_the_integral_of_the_rate_over_its_interval() -> None:
    p = hand_problem(profile=True)
    # the optimiser's per-slot capacity after the setup is the integral of the curve
    first = int(np.flatnonzero(p.cand_slot == 0)[0])
    usable = p.cand_bytes[first] - p.cand_setup_bytes[first]
    assert usable == pytest.approx(integral_bytes(SETUP_S, 60.0), abs=1e-6)
    ops, decided = lay_out(p, SHARE)
    spans = sorted((seconds(o.start), seconds(o.end), o.sync_id, o.bytes) for o in ops)
    assert [s[2] for s in spans] == ["A", "B", "C", "A"]
    for a, b, sync, sent in spans:
        assert sent == pytest.approx(integral_bytes(a, b), abs=1.0), (sync, a, b)
    for (_, b0, *_), (a1, *_) in zip(spans, spans[1:], strict=False):
        assert a1 >= b0  # one after another on the link
    assert spans[0][0] == SETUP_S  # data after the setup
    b_span = spans[1]
    assert b_span[0] > 30.0 and b_span[1] > 120.0  # B runs on from slot 0 into slot 2
    assert integral_bytes(120.0, b_span[1]) == pytest.approx(
        0.3 * integral_bytes(120.0, 180.0), abs=1.0
    )
    assert spans[0][1] < b_span[0]  # B right-aligned to slot 0's end: a gap after A
    totals = defaultdict(float)
    for _, _, sync, sent in spans:
        totals[sync] += sent
    assert totals == pytest.approx(decided, abs=1e-6)
    # the slot's mean rate would misplace bytes: A's piece in slot 0 at the mean rate of
    # [30, 60] s would end elsewhere by more than a second of rate
    a_end = spans[0][1]
    mean = integral_bytes(SETUP_S, 60.0) / 30.0
    at_mean = SETUP_S + spans[0][3] / mean
    assert abs(at_mean - a_end) > 1.0


def test_a_flat_profile_lays_out_the_operations_of_the_constant_rate() -> None:
    flat = np.full(len(KNOTS_S), 4e6)
    share = {k: v for k, v in SHARE.items() if k[1] != 3}
    ops_curve, _ = lay_out(hand_problem(True, flat), share)
    ops_const, _ = lay_out(hand_problem(False, flat), share)
    assert len(ops_curve) == len(ops_const) == 3
    for x, y in zip(ops_curve, ops_const, strict=True):
        assert x.sync_id == y.sync_id and x.bytes == pytest.approx(y.bytes, abs=1e-6)
        assert abs(seconds(x.start) - seconds(y.start)) <= 1e-6
        assert abs(seconds(x.end) - seconds(y.end)) <= 1e-6


RATE_TABLE_MODEL = """\
name: rate-curve
horizon: {start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}
ground_stations:
  - name: svalbard
    lat_deg: 78.23
    lon_deg: 15.41
    alt_m: 500
    bandwidth_bps: 1.0e9
    setup_s: 30
    link: {rate_table: [{elevation_deg: 0, rate_bps: 5.0e5}, {elevation_deg: 20, rate_bps: 2.0e6},
                        {elevation_deg: 45, rate_bps: 4.0e6}]}
nodes:
  - name: noaa20
    tle: {norad: 43013}
syncs:
  - {id: a, node: noaa20, data_size: 6.0e7, priority: high}
  - {id: b, node: noaa20, data_size: 4.0e8}
  - {id: c, node: noaa20, data_size: 3.0e7, priority: low}
  - {id: d, node: noaa20, data_size: 1.0e10, priority: low}
"""


@pytest.fixture(scope="module")
def rate_table():
    scenario = load_model_text(RATE_TABLE_MODEL)
    return scenario, compute_geometry(scenario)


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_plans_on_a_rate_table_link_follow_the_curve(rate_table, method) -> None:
    scenario, geo = rate_table
    plan = optimise(scenario, geo, method=method).plan_dict()
    assert check_plan(plan) == []
    t0 = parse_time(plan["horizon"]["start"])
    windows = {w["id"]: w for w in plan["windows"]}
    assert any(w["min_rate_bps"] < w["max_rate_bps"] for w in windows.values())
    by_link = defaultdict(list)
    for op in plan["operations"]:
        w = windows[op["window_id"]]
        w0 = (parse_time(w["start"]) - t0).total_seconds()
        a = (parse_time(op["start"]) - t0).total_seconds()
        b = (parse_time(op["end"]) - t0).total_seconds()
        knots = w0 + np.asarray(w["profile_t_s"])
        expected = integral_bytes(a, b, knots, np.asarray(w["profile_rate_bps"]))
        assert op["bytes"] == pytest.approx(expected, abs=1.0), op
        by_link[(op["station"], op["antenna"])].append((a, b))
    for spans in by_link.values():
        spans.sort()
        assert all(a1 >= b0 for (_, b0), (a1, _) in zip(spans, spans[1:], strict=False))
    # the incomplete sync fills the passes it uses to what their curve carries
    assert sum(o["bytes"] for o in plan["operations"] if o["sync_id"] == "d") > 0


def test_instant_of_bits_inverts_the_integral_forward_and_backward() -> None:
    profiles = Profiles.of([KNOTS_S, KNOTS_S[:6]], [RATES_BPS, RATES_BPS[:6][::-1]])
    window = np.array([0, 0, 0, 0, 1, 1])
    a_s = np.array([0.0, 30.0, 170.0, 300.0, 10.0, 95.0])
    bits = np.array([4e7, 1e8, 5e6, -3e8, 2e7, -6e7])  # 170 s + 5 Mbit: over the 0-rate stretch
    x = profiles.instant_of_bits(window, a_s, bits)
    for w, a, b, end in zip(window, a_s, bits, x, strict=True):
        knots, rates = (KNOTS_S, RATES_BPS) if w == 0 else (KNOTS_S[:6], RATES_BPS[:6][::-1])
        lo, hi = sorted((a, end))
        assert 8 * integral_bytes(lo, hi, knots, rates) == pytest.approx(abs(b), abs=1e-3)
    assert x[2] > 200.0  # the rate is 0 from 180 s to 200 s: the bits need the link back
    # asked beyond the window: its edge
    assert profiles.instant_of_bits(np.array([1]), np.array([0.0]), np.array([1e12]))[0] == 100.0
