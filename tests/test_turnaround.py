"""Antenna turnaround and per-antenna maintenance (docs/links.md, "Antenna turnaround"): MILP,
greedy, rolling-horizon and simulated re-plans keep an antenna idle for the turnaround between
contacts of different nodes and off while it is in maintenance.

References are independent of the planner: gaps and antenna use are measured here from the
operations, slews are computed by hand, and the plan checker (rsmodel.plan.check) computes its
pointings with skyfield from the plan's TLE lines.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.model.antenna_schema import Slew
from rsmodel.model.loader import load_model_text
from rsmodel.optimize import Demand, StationSpec, build_problem, optimise, solve_problem
from rsmodel.optimize.problem import problem_from_scenario
from rsmodel.optimize.rolling import solve_rolling
from rsmodel.optimize.strategy import Rolling
from rsmodel.optimize.turnaround import slew_time_s
from rsmodel.plan import build_plan
from rsmodel.plan.check import check_plan
from rsmodel.plan.check_antennas import Turnarounds, slew_s
from rsmodel.report import render_plan
from rsmodel.simulate import Simulator
from rsmodel.simulate.accounting import executed_plan
from rsmodel.simulate.recovery import RecoveryPlanner
from rsmodel.simulate.residual import Link, PendingData, Residual, Use, dispatch
from rsmodel.simulate.run import simulate

START = pd.Timestamp("2026-05-30T00:00:00Z")
MODEL = """\
name: turnaround
horizon: {start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}
ground_stations:
  - name: svalbard
    lat_deg: 78.23
    lon_deg: 15.41
    bandwidth_bps: 1.0e8
    antennas: ANTENNAS
    EXTRA
nodes:
  - {name: noaa20, tle: {norad: 43013}}
  - {name: metop, tle: {norad: 38771}}
  - {name: npp, tle: {norad: 37849}}
  - {name: metopc, tle: {norad: 43689}}
syncs:
  - {node: noaa20, data_size: 1.0e12}
  - {node: metop, data_size: 1.0e12, priority: high}
  - {node: npp, data_size: 1.0e12}
  - {node: metopc, data_size: 1.0e12, priority: low}
"""
TURNAROUND_S = 300.0
MAINTENANCE = (3600.0, 5 * 3600.0)  # s from the start: antenna 2 of svalbard


def model(antennas: int = 1, extra: str = "") -> str:
    return MODEL.replace("ANTENNAS", str(antennas)).replace("EXTRA", extra)


def scenario_of(text: str):
    scenario = load_model_text(text)
    return scenario, compute_geometry(scenario)


def plan_of(scenario, geometry, how: str) -> dict:
    if how == "rolling":
        problem = problem_from_scenario(scenario, geometry)
        problem.settings = replace(
            problem.settings, rolling=Rolling(block_s=3 * 3600, lookahead_s=3600)
        )
        schedule = solve_rolling(problem)
    else:
        schedule = optimise(scenario, geometry, method=how)
    return build_plan(scenario, geometry, schedule.operations, schedule.solver).to_dict()


def seconds(value: str) -> float:
    return (pd.Timestamp(value) - START).total_seconds()


def antenna_gaps(plan: dict) -> list[float]:
    """Per antenna, the idle time between an operation and the next one of another node
    (minus the station's setup), s."""
    setup = {s["name"]: float(s["setup_s"]) for s in plan["stations"]}
    by_antenna = defaultdict(list)
    for o in plan["operations"]:
        by_antenna[(o["station"], o["antenna"])].append(
            (seconds(o["start"]), seconds(o["end"]), o["node"], o["station"])
        )
    gaps = []
    for ops in by_antenna.values():
        ops.sort()
        for a, b in zip(ops, ops[1:], strict=False):
            if a[2] != b[2]:
                gaps.append(b[0] - setup[b[3]] - a[1])
    return gaps


@pytest.fixture(scope="module")
def free():
    return scenario_of(model())


@pytest.fixture(scope="module")
def fixed():
    return scenario_of(model(extra=f"turnaround_s: {TURNAROUND_S}"))


@pytest.mark.parametrize("how", ["milp", "greedy", "rolling"])
def test_fixed_turnaround_is_respected(free, fixed, how) -> None:
    # without a turnaround the antenna switches nodes faster: the case is not vacuous
    assert min(antenna_gaps(plan_of(*free, how))) < TURNAROUND_S
    plan = plan_of(*fixed, how)
    gaps = antenna_gaps(plan)
    assert gaps and min(gaps) >= TURNAROUND_S - 1e-3
    assert check_plan(plan) == []
    assert plan["kpis"]["total_data_mb"] > 0


def test_slew_turnaround_on_real_passes_passes_the_checker() -> None:
    slew = {"az_deg_s": 2.0, "el_deg_s": 1.0, "reacquire_s": 30.0}
    scenario, geo = scenario_of(model(extra=f"slew: {slew}".replace("'", "")))
    free_plan = plan_of(*scenario_of(model()), "milp")
    free_plan["stations"][0]["slew"] = slew  # the same plan judged with a slewing antenna
    assert any(p.startswith("turnaround:") for p in check_plan(free_plan))
    for how in ("milp", "greedy"):
        plan = plan_of(scenario, geo, how)
        assert check_plan(plan) == []
        assert min(antenna_gaps(plan)) >= slew["reacquire_s"]


def test_slew_time_by_hand() -> None:
    slew = Slew(az_deg_s=3.0, el_deg_s=1.0, reacquire_s=10.0)
    # 350 -> 20 deg is 30 deg the shorter way: 10 s; elevation 40 -> 10 deg: 30 s; + 10 s
    assert float(slew_time_s(slew, 350.0, 40.0, 20.0, 10.0)) == pytest.approx(40.0)
    assert slew_s(slew.model_dump(), 350.0, 40.0, 20.0, 10.0) == pytest.approx(40.0)
    # azimuth-limited: 90 deg at 3 deg/s = 30 s > 5 deg at 1 deg/s
    assert float(slew_time_s(slew, 10.0, 30.0, 100.0, 35.0)) == pytest.approx(40.0)


def test_two_passes_a_known_azimuth_apart_get_the_predicted_gap() -> None:
    """Pass A points at azimuth 10 deg, pass B at 100 deg (elevation 30 deg both): at 1 deg/s
    in azimuth and 15 s re-acquisition the antenna needs 90 + 15 = 105 s between them. B
    opens 20 s after A closes, both have more data than they can send."""
    windows = pd.DataFrame(
        {
            "id": ["w00001", "w00002"],
            "node": ["a", "b"],
            "station": ["gs", "gs"],
            "start": [START, START + pd.Timedelta(seconds=620)],
            "end": [START + pd.Timedelta(seconds=600), START + pd.Timedelta(seconds=1800)],
            "bandwidth_bps": [8.0e6, 8.0e6],
        }
    )
    pointing_az = np.array([10.0, 100.0])

    def pointing(node, station, t_s):
        return pointing_az[node], np.full(len(node), 30.0)

    slew = Slew(az_deg_s=1.0, el_deg_s=1.0, reacquire_s=15.0)
    problem = build_problem(
        start=START.to_pydatetime(),
        end=(START + pd.Timedelta(hours=1)).to_pydatetime(),
        step_s=60.0,
        nodes=["a", "b"],
        stations=[StationSpec("gs", 1, 0.0, slew=slew)],
        windows=windows,
        demands=[
            Demand("da", "a", 1e10, 2, START.to_pydatetime()),
            Demand("db", "b", 1e10, 2, START.to_pydatetime()),
        ],
        pointing=pointing,
    )
    for schedule in (solve_problem(problem), solve_problem(problem.with_demands(problem.demands))):
        ops = sorted(schedule.operations, key=lambda o: o.start)
        a_end = max(o.end for o in ops if o.node == "a")
        b_start = min(o.start for o in ops if o.node == "b")
        gap = (b_start - a_end).total_seconds()
        # at least the slew; the slot grid (60 s) rounds the contact edges to slot boundaries
        assert 105.0 - 1e-6 <= gap < 105.0 + 60.0
        sent = sum(o.bytes for o in ops)
        # the antenna sends all the time but the gap: 600 s + 1180 s of windows, less the
        # part of the gap beyond the 20 s between them
        assert sent == pytest.approx(1e6 * (1800 - gap), rel=1e-6)


# --------------------------------------------------------------------------- maintenance
@pytest.fixture(scope="module")
def maintained():
    start, end = MAINTENANCE
    extra = f"maintenance: [{{start: +{start:.0f}s, end: +{end:.0f}s, antenna: 2}}]"
    return scenario_of(model(antennas=2, extra=extra))


def both_antennas_in_maintenance_time(plan: dict) -> tuple[bool, bool]:
    """(antenna 2 is used in the maintenance, two nodes are served at once in it)."""
    a, b = MAINTENANCE
    inside = [o for o in plan["operations"] if seconds(o["start"]) < b and seconds(o["end"]) > a]
    second = any(o["antenna"] == 1 for o in inside)
    spans = sorted(
        (max(seconds(o["start"]), a), min(seconds(o["end"]), b), o["node"]) for o in inside
    )
    together = any(
        x[2] != y[2] and y[0] < x[1] - 1e-3 for i, x in enumerate(spans) for y in spans[i + 1 :]
    )
    return second, together


@pytest.mark.parametrize("how", ["milp", "greedy", "rolling"])
def test_one_antenna_in_maintenance_leaves_the_other(maintained, how) -> None:
    scenario, geo = maintained
    assert len(geo.windows) == len(compute_geometry(load_model_text(model(2))).windows)
    free_plan = plan_of(*scenario_of(model(antennas=2)), how)
    assert any(both_antennas_in_maintenance_time(free_plan))  # not vacuous
    plan = plan_of(scenario, geo, how)
    assert both_antennas_in_maintenance_time(plan) == (False, False)
    a, b = MAINTENANCE
    assert any(seconds(o["start"]) < b and seconds(o["end"]) > a for o in plan["operations"])
    assert check_plan(plan) == []
    moved = [dict(o, antenna=1) for o in plan["operations"]]
    assert any(p.startswith("maintenance:") for p in check_plan({**plan, "operations": moved}))


# --------------------------------------------------------------------------- simulation
def test_simulated_replan_keeps_the_turnaround(fixed) -> None:
    scenario, geo = fixed
    sim = Simulator(scenario, geo.windows, operations=[], planner=lambda r: [])
    residual = sim.residual()
    residual.cause = "station outage"
    planner = RecoveryPlanner(scenario, budget_s=5.0)
    transfers = sorted(planner(residual), key=lambda t: t.start_s)
    assert planner.method == "optimiser" and transfers
    switches = [
        b.start_s - a.end_s
        for a, b in zip(transfers, transfers[1:], strict=False)
        if a.node != b.node and b.start_s >= a.end_s - 1e-6
    ]
    assert switches and min(switches) >= TURNAROUND_S - 1e-3


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        ("turnaround_s: -5", "ground_stations[0].turnaround_s", "greater than or equal to 0"),
        (
            "maintenance: [{start: +1h, end: +2h, antenna: 3}]",
            "ground_stations[0].maintenance[0].antenna",
            "expected 1 .. 2",
        ),
        ("slew: {az_deg_s: 0, el_deg_s: 1}", "ground_stations[0].slew.az_deg_s", "greater than 0"),
        ("slew: {az_deg_s: 2, el_deg_s: 1, reacquire_s: -1}", "reacquire_s", "greater than or"),
        (
            "turnaround_s: 60\n    slew: {az_deg_s: 2, el_deg_s: 1}",
            "ground_stations[0]",
            "not both",
        ),
    ],
)
def test_bad_antenna_fields_are_one_clear_error(extra, field, says, tmp_path: Path, cli) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(model(antennas=2, extra=extra))
    result = cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}:" in lines[0] and field in lines[0], lines
    assert says in lines[0]


# --------------------------------------------------------------------------- report
def test_station_timeline_shows_turnarounds_and_maintenance(fixed, maintained) -> None:
    turn_plan = plan_of(*fixed, "greedy")
    html = render_plan(turn_plan, None)
    station_svg = html[html.index('id="gantt-stations"') :]
    station_svg = station_svg[: station_svg.index("</svg>")]
    switches = len(antenna_gaps(turn_plan))
    assert station_svg.count('class="turn"') == switches > 0
    assert f"turnaround {TURNAROUND_S:.0f} s" in station_svg
    html = render_plan(plan_of(*maintained, "greedy"), None)
    station_svg = html[html.index('id="gantt-stations"') :]
    assert 'class="maint"' in station_svg[: station_svg.index("</svg>")]
    assert "antenna 2 maintenance 01:00–05:00" in station_svg


# 1 antenna with a turnaround and that antenna in maintenance for 2 h, under transfer failures
# and an outage: every re-plan (greedy repairs and optimiser re-plans) must keep the antenna idle
# for the turnaround and off during its maintenance.
SIMULATED = model(
    extra=f"turnaround_s: {TURNAROUND_S}\n"
    f"    maintenance: [{{start: +{MAINTENANCE[0]:.0f}s, end: +{MAINTENANCE[1]:.0f}s, antenna: 1}}]"
) + (
    "faults:\n"
    "  transfer_failure_rate: 0.3\n"
    "  station_outages: [{station: svalbard, start: +30min, end: +50min}]\n"
)


@pytest.mark.parametrize("replan", ["greedy", "auto"])
def test_simulated_run_with_faults_keeps_turnaround_and_maintenance(replan) -> None:
    scenario = load_model_text(SIMULATED)
    result = simulate(scenario, replan=replan, budget_s=5.0, seed=3)
    sim = result.simulator
    assert len(sim.replans) >= 3  # the faults made the simulator re-plan
    executed = executed_plan(sim, result.run.plan.to_dict())
    ops = executed["operations"]
    assert len({o["node"] for o in ops}) >= 3
    assert {o["antenna"] for o in ops} == {0}  # the station's one antenna, recorded
    assert check_plan(executed, executed=True) == []
    assert min(antenna_gaps(executed)) >= TURNAROUND_S - 1e-3


# 2 antennas with a turnaround and a setup, the first antenna in maintenance for 4 h, under
# transfer failures, an outage and lost passes: the simulator records the antenna each transfer
# ran on, and the checker finds turnaround, setup and maintenance kept on each.
SIMULATED_TWO = model(
    antennas=2,
    extra=f"turnaround_s: {TURNAROUND_S}\n    setup_s: 30\n"
    f"    maintenance: [{{start: +{MAINTENANCE[0]:.0f}s, end: +{MAINTENANCE[1]:.0f}s, antenna: 1}}]",
) + (
    "faults:\n"
    "  transfer_failure_rate: 0.3\n"
    "  pass_dropouts: [{probability: 0.2}]\n"
    "  station_outages: [{station: svalbard, start: +6h, end: +390min}]\n"
)


@pytest.mark.parametrize("replan", ["greedy", "auto"])
def test_simulated_antennas_are_recorded_and_checked(replan) -> None:
    scenario = load_model_text(SIMULATED_TWO)
    result = simulate(scenario, replan=replan, budget_s=5.0, seed=5)
    sim = result.simulator
    assert len(sim.replans) >= 3
    executed = executed_plan(sim, result.run.plan.to_dict())
    ops = executed["operations"]
    assert {o["antenna"] for o in ops} == {0, 1}
    a, b = MAINTENANCE
    during = [o for o in ops if seconds(o["start"]) < b and seconds(o["end"]) > a]
    assert during and {o["antenna"] for o in during} == {1}
    assert check_plan(executed, executed=True) == []
    assert min(antenna_gaps(executed)) >= TURNAROUND_S - 1e-3
    # the checker reads the recorded antennas: all on one antenna breaks the rules it checks
    one = [dict(o, antenna=0) for o in ops]
    assert check_plan({**executed, "operations": one}, executed=True)


# A slow antenna (worst-case turnaround 185 s) and faults: the simulator's re-plans turn it by
# the slew between the actual pointings, not the worst case.
SLEWING = model(extra="slew: {az_deg_s: 1.0, el_deg_s: 1.0, reacquire_s: 5}") + (
    "faults:\n  transfer_failure_rate: 0.2\n"
    "  station_outages: [{station: svalbard, start: +10min, end: +20min}]\n"
)


def test_simulated_replans_turn_by_the_actual_slew() -> None:
    scenario = load_model_text(SLEWING)
    worst = slew_s({"az_deg_s": 1.0, "el_deg_s": 1.0, "reacquire_s": 5}, 0.0, 0.0, 180.0, 90.0)
    result = simulate(scenario, replan="greedy", seed=1)
    replanned_from = min(r["time_s"] for r in result.simulator.replans)
    executed = executed_plan(result.simulator, result.run.plan.to_dict())
    assert check_plan(executed, executed=True) == []  # slews by skyfield from the TLE lines
    turns = Turnarounds(executed)
    ops = sorted(
        (seconds(o["start"]), seconds(o["end"]), o["node"]) for o in executed["operations"]
    )
    switches = [  # (idle time, slew the checker says it needs)
        (b0 - a1, turns.need_s("svalbard", n0, n1, a1, b0))
        for (_, a1, n0), (b0, _, n1) in zip(ops, ops[1:], strict=False)
        if n0 != n1 and b0 > replanned_from  # the later transfer placed by a re-plan
    ]
    packed = [(gap, need) for gap, need in switches if gap < worst - 60.0]
    assert packed  # closer than the worst case allows
    assert any(gap - need < 1.5 for gap, need in packed)  # within the 1 s search step


def test_optimiser_replan_turns_the_antenna_after_a_running_transfer(fixed) -> None:
    scenario, geo = fixed
    sim = Simulator(scenario, geo.windows, operations=[], planner=lambda r: [])
    residual = sim.residual()
    links = sorted(residual.links, key=lambda k: k.start_s)
    # A transfer of one node runs for a minute where another node's window starts.
    x, y = next(
        (x, y)
        for x in links
        for y in links
        if y.node != x.node
        and x.start_s <= y.start_s < x.end_s - 60.0
        and y.end_s > y.start_s + 60.0 + TURNAROUND_S + 120.0
    )
    held = (y.start_s, y.start_s + 60.0)
    residual.node_busy = {x.node: [Use(*held, x.station, x.window_id, 0)]}
    residual.station_busy = {x.station: [(*held, x.node, 0)]}
    residual.cause = "station outage"
    planner = RecoveryPlanner(scenario, budget_s=5.0)
    transfers = planner(residual)
    assert planner.method == "optimiser"
    others = [t for t in transfers if t.station == x.station and t.node != x.node]
    assert any(t.node == y.node and t.start_s < y.end_s for t in others)  # y's window is used
    for t in others:
        assert (
            t.end_s <= held[0] - TURNAROUND_S + 1e-3 or t.start_s >= held[1] + TURNAROUND_S - 1e-3
        )


def test_replan_books_one_antenna_per_transfer_around_staggered_maintenance() -> None:
    """Two antennas in maintenance one after the other: at every instant one antenna is free,
    yet no antenna is free for the whole pass. The re-plan sends on antenna 1 while antenna 0
    is maintained, then moves to antenna 0 after the setup of that new contact (10 s), and
    names the antenna of each transfer (by hand: 50 s + 40 s at 1 MB/s)."""
    residual = Residual(
        now_s=0.0,
        demands=[PendingData("s1", "sat", 0, 1.0e9, 0.0)],
        links=[Link("w1", "sat", "st", 0.0, 100.0, 1.0e6)],
        antennas={"st": 2},
        station_busy={"st": [(0.0, 50.0, "", 0), (50.0, 100.0, "", 1)]},
        setup_s={"st": 10.0},
    )
    ops = dispatch(residual)
    assert [(o.antenna, o.start_s, o.end_s, o.bytes) for o in ops] == [
        (1, 0.0, 50.0, 50.0e6),
        (0, 60.0, 100.0, 40.0e6),
    ]
