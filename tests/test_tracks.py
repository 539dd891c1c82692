"""Antenna-time requests (`tracks:`, docs/tracks.md): schema, bad input, optimisation, checker.

Models use nodes without orbits and imported view periods, so every visibility interval is
known exactly and no geometry is computed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model
from rsmodel.model.track_schema import resolve_tracks
from rsmodel.optimize.problem import problem_from_scenario
from rsmodel.optimize.rolling import solve_rolling
from rsmodel.optimize.strategy import Rolling
from rsmodel.pipeline import run
from rsmodel.plan import build_plan
from rsmodel.plan.check import check_plan
from rsmodel.report import render_plan
from rsmodel.report.antenna_view import station_extras
from rsmodel.timeutil import iso, parse_time

HEADER = """\
name: tracks
horizon: {start: 2026-05-30T00:00:00Z, hours: 6, step_s: 60}
ground_stations:
  - {name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6}
  - {name: beta, lat_deg: 11, lon_deg: 10, bandwidth_bps: 1.0e6}
nodes:
  - {name: sat-a}
  - {name: sat-b}
view_periods: periods.csv
"""

PERIODS = """\
node,station,start,end
sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z
sat-a,beta,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z
sat-b,alpha,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z
sat-a,alpha,2026-05-30T03:00:00Z,2026-05-30T03:20:00Z
"""


def write_model(tmp_path: Path, body: str, periods: str = PERIODS) -> Path:
    (tmp_path / "periods.csv").write_text(periods)
    path = tmp_path / "model.yaml"
    path.write_text(HEADER + body)
    return path


def test_repetition_expands_into_instances(tmp_path: Path) -> None:
    """`repeat: {every: day, count: 2}` over a 6 h horizon: two instances, each with the period
    (clipped to the horizon) as its window; an array alternative keeps its stations together."""
    path = write_model(
        tmp_path,
        "tracks:\n  - {id: t1, node: sat-a, duration_s: 600, alternatives: "
        "[alpha, {array: [alpha, beta]}], repeat: {every: day, count: 2}, release: +1h}\n",
    )
    requests = resolve_tracks(load_model(path))
    assert [r.id for r in requests] == ["t1/1", "t1/2"]
    assert all(r.release.hour == 1 and r.due.hour == 6 for r in requests)
    assert requests[0].alternatives == (("alpha",), ("alpha", "beta"))
    assert requests[0].mission == "sat-a" and requests[0].min_duration_s == 600


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "{id: t, node: sat-a, duration_s: 600, min_duration_s: 900, alternatives: [alpha]}",
            "tracks[0].min_duration_s: 900 s is longer than duration_s 600 s",
        ),
        (
            "{id: t, node: sat-a, duration_s: 600, alternatives: [{array: [alpha, gamma]}]}",
            "tracks[0].alternatives[0].array[1]: unknown station 'gamma'",
        ),
        (
            "{id: t, node: sat-a, duration_s: 3600, alternatives: [alpha], "
            "split: {above_s: 1200, min_segment_s: 4000}}",
            "tracks[0].split.min_segment_s: 4000 s is longer than the request",
        ),
        (
            "{id: t, node: sat-c, duration_s: 600, alternatives: [alpha]}",
            "tracks[0].node: unknown node 'sat-c'",
        ),
        (
            "{id: t, node: sat-a, duration_s: 600, alternatives: [alpha], repeat: {every: orbit}}",
            "tracks[0].repeat.every: node 'sat-a' has no orbit",
        ),
    ],
)
def test_bad_track_input_is_one_line_exit_2(tmp_path: Path, entry: str, expected: str) -> None:
    path = write_model(tmp_path, f"tracks:\n  - {entry}\n")
    run = subprocess.run(
        [sys.executable, "-m", "rsmodel", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert f"{path}:11: {expected}" in run.stderr, run.stderr


# --------------------------------------------------------------------------- planning
def plan_of(tmp_path: Path, body: str, periods: str, method: str = "milp") -> dict:
    """plan.json of the model (pipeline, real HiGHS) after the independent checker passed it."""
    scenario = load_model(write_model(tmp_path, body + f"solver: {{method: {method}}}\n", periods))
    plan = run(scenario).plan.to_dict()
    assert check_plan(plan) == []
    return plan


def seconds(text: str) -> float:
    return (parse_time(text) - parse_time("2026-05-30T00:00:00Z")).total_seconds()


def busy_spans(plan: dict, station: str) -> list[tuple[float, float, str]]:
    """(from, to, what) each antenna of ``station`` is busy: tracks from setup to teardown,
    sync operations from start to end, with the antenna index in ``what``."""
    spans = []
    for t in plan["tracks"]:
        for st, ant in zip(t["stations"], t["antennas"], strict=True):
            if st == station:
                spans.append((seconds(t["setup_start"]), seconds(t["teardown_end"]), f"{ant}"))
    for op in plan["operations"]:
        if op["station"] == station:
            spans.append((seconds(op["start"]), seconds(op["end"]), f"{op['antenna']}"))
    return spans


def no_overlap_per_antenna(spans: list[tuple[float, float, str]]) -> bool:
    for ant in {s[2] for s in spans}:
        mine = sorted(s for s in spans if s[2] == ant)
        if any(b[0] < a[1] - 1e-6 for a, b in zip(mine, mine[1:], strict=False)):
            return False
    return True


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_setup_teardown_and_arrays_respected(tmp_path: Path, method: str) -> None:
    """An arrayed track holds one antenna of both stations from setup to teardown; a track
    on one of them fits around it, setups and teardowns included."""
    periods = (
        "node,station,start,end\n"
        "sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T01:40:00Z\n"
        "sat-a,beta,2026-05-30T01:05:00Z,2026-05-30T01:40:00Z\n"
        "sat-b,beta,2026-05-30T01:00:00Z,2026-05-30T01:40:00Z\n"
    )
    body = (
        "tracks:\n"
        "  - {id: arr, node: sat-a, duration_s: 900, alternatives: [{array: [alpha, beta]}],"
        " setup_s: 300, teardown_s: 120, priority: high}\n"
        "  - {id: solo, node: sat-b, duration_s: 600, alternatives: [beta], setup_s: 180,"
        " teardown_s: 60}\n"
    )
    plan = plan_of(tmp_path, body, periods, method)
    by_id = {t["id"]: t for t in plan["tracks"]}
    arr, solo = by_id["arr"], by_id["solo"]
    assert arr["stations"] == ["alpha", "beta"] and len(arr["antennas"]) == 2
    # the array's transmit time lies where both stations see the node (from 01:05)
    assert seconds(arr["start"]) >= seconds("2026-05-30T01:05:00Z")
    assert seconds(arr["start"]) - seconds(arr["setup_start"]) == 300
    assert seconds(arr["teardown_end"]) - seconds(arr["end"]) == 120
    assert arr["duration_s"] == 900 and solo["duration_s"] == 600
    assert no_overlap_per_antenna(busy_spans(plan, "beta"))
    assert all(r["status"] == "complete" for r in plan["track_requests"])


def test_minimum_segments_respected(tmp_path: Path) -> None:
    """A 40-min request split in segments of >= 10 min: three view periods of 15 min give
    15 + 15 + 10; the 8-min period is never used; each segment inside one view period."""
    periods = (
        "node,station,start,end\n"
        + "".join(
            f"sat-a,alpha,2026-05-30T0{h}:00:00Z,2026-05-30T0{h}:{m}:00Z\n"
            for h, m in ((1, 15), (2, 15), (3, "08"), (4, 15))
        )
        + "sat-b,beta,2026-05-30T05:00:00Z,2026-05-30T05:10:00Z\n"
    )
    body = (
        "tracks:\n  - {id: long, node: sat-a, duration_s: 2400, min_duration_s: 1200,"
        " alternatives: [alpha], split: {above_s: 1800, min_segment_s: 600}}\n"
    )
    plan = plan_of(tmp_path, body, periods)
    segments = sorted(plan["tracks"], key=lambda t: t["start"])
    assert len(segments) == 3
    assert all(t["duration_s"] >= 600 for t in segments)
    assert sum(t["duration_s"] for t in segments) == 2400
    assert not any(t["start"].startswith("2026-05-30T03") for t in segments)
    for t in segments:  # inside one view period: same hour, ends by :15
        assert t["start"][:13] == t["end"][:13] and t["end"][14:16] <= "15"
    assert plan["track_requests"][0]["status"] == "complete"


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_split_request_completes_when_its_view_periods_allow(tmp_path: Path, method: str) -> None:
    """2000 s in segments >= 600 s over three 13-min (780 s) view periods: no sum of whole
    periods and multiples of 600 s is 2000 s, yet the request completes (the latest segments
    trimmed, none below 600 s), each segment inside its view period."""
    periods = (
        "node,station,start,end\n"
        + "".join(f"sat-a,alpha,2026-05-30T0{h}:00:00Z,2026-05-30T0{h}:13:00Z\n" for h in (1, 2, 3))
        + "sat-b,beta,2026-05-30T05:00:00Z,2026-05-30T05:10:00Z\n"
    )
    body = (
        "tracks:\n  - {id: long, node: sat-a, duration_s: 2000, min_duration_s: 1200,"
        " alternatives: [alpha], split: {above_s: 1000, min_segment_s: 600}}\n"
    )
    plan = plan_of(tmp_path, body, periods, method)
    segments = plan["tracks"]
    assert sum(t["duration_s"] for t in segments) == pytest.approx(2000)
    assert all(t["duration_s"] >= 600 - 1e-6 for t in segments)
    for t in segments:
        assert t["start"][:13] == t["end"][:13] and t["end"][14:19] <= "13:00"
    assert plan["track_requests"][0]["status"] == "complete"


FAIR_PERIODS = """\
node,station,start,end
sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z
sat-b,alpha,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z
"""
FAIR_TRACKS = """\
tracks:
  - {id: a1, node: sat-a, mission: A, duration_s: 600, alternatives: [alpha]}
  - {id: a2, node: sat-a, mission: A, duration_s: 600, alternatives: [alpha]}
  - {id: b1, node: sat-b, mission: B, duration_s: 1800, min_duration_s: 900, alternatives: [alpha]}
"""


def test_fairness_weight_moves_the_plan_towards_the_worst_mission(tmp_path: Path) -> None:
    """Two missions, one antenna, 30 min: tracked time alone prefers A's two short requests
    (2/3 of the requests complete, mission B gets nothing); with the fairness weight the worst
    mission's unsatisfied fraction drops to 1/2 (a1 + 15 min of b1)."""
    worst = {}
    for fairness in (0.0, 1.0):
        path = tmp_path / f"f{fairness}"
        path.mkdir()
        objectives = f"objectives: {{tracked_time: 1.0, fairness: {fairness}}}\n"
        plan = plan_of(path, FAIR_TRACKS + objectives, FAIR_PERIODS)
        fractions = {m["mission"]: m["unsatisfied_fraction"] for m in plan["missions"]}
        worst[fairness] = max(fractions.values())
        if fairness == 0.0:
            assert fractions == {"A": 0.0, "B": 1.0}
        else:
            assert fractions == {"A": 0.5, "B": 0.5}
    assert worst[1.0] < worst[0.0]


def test_stated_objective_and_global_bound_cover_the_tracks(tmp_path: Path) -> None:
    """solver.objective is the track terms of the plan and solver.bound a valid lower bound of
    them. The fairness instance, solved exactly: a1 + 15 min of b1 gives tracked_time 1/2 and
    fairness 1/2 + 0.5 x 1/4, objective 1.125; the bound (no contention: 0) lies below it and
    below greedy's objective, so neither states gap 0. A request clipped by its only view
    period (40 min asked, 30 min visible) has bound = optimum: tracked_time 1/4, fairness
    1/4 + 0.5 x 1/16 at weights 1 and 0.5."""
    objectives = "objectives: {tracked_time: 1.0, fairness: 1.0}\n"
    solver = {}
    for method in ("milp", "greedy"):
        path = tmp_path / method
        path.mkdir()
        solver[method] = plan_of(path, FAIR_TRACKS + objectives, FAIR_PERIODS, method)["solver"]
    exact = solver["milp"]
    assert exact["status"] == "optimal" and exact["objective"] == pytest.approx(1.125)
    assert exact["bound"] <= exact["objective"] and exact["gap_global"] > 0
    assert solver["greedy"]["objective"] >= exact["objective"] >= solver["greedy"]["bound"]
    clipped = (
        "tracks:\n  - {id: long, node: sat-b, duration_s: 2400, min_duration_s: 600,"
        " alternatives: [alpha]}\n"
    )
    path = tmp_path / "clipped"
    path.mkdir()
    tight = plan_of(path, clipped, FAIR_PERIODS)["solver"]
    assert tight["objective"] == pytest.approx(0.25 + 0.5 * (0.25 + 0.5 / 16))
    assert tight["bound"] == pytest.approx(tight["objective"]) and tight["gap_global"] < 1e-9


@pytest.mark.parametrize("track_priority", ["high", "low"])
def test_tracks_and_syncs_share_antennas_without_overlap(
    tmp_path: Path, track_priority: str
) -> None:
    """A sync of sat-a and a track of sat-b want the one antenna of alpha for 40 min: the
    higher class gets what it asks, the other the rest, and no sync operation overlaps the
    track's setup..teardown on that antenna."""
    periods = (
        "node,station,start,end\n"
        "sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T01:40:00Z\n"
        "sat-b,alpha,2026-05-30T01:00:00Z,2026-05-30T01:40:00Z\n"
    )
    body = (
        "syncs:\n  - {id: dump, node: sat-a, data_size: 2.2e8, priority: normal}\n"
        f"tracks:\n  - {{id: ttc, node: sat-b, duration_s: 600, min_duration_s: 300,"
        f" alternatives: [alpha], setup_s: 120, teardown_s: 60, priority: {track_priority}}}\n"
    )
    plan = plan_of(tmp_path, body, periods)
    spans = busy_spans(plan, "alpha")
    assert no_overlap_per_antenna(spans)
    assert plan["tracks"] and plan["operations"]  # both got antenna time
    sent = sum(op["bytes"] for op in plan["operations"])
    track = plan["tracks"][0]
    if track_priority == "high":  # the track keeps its full length, the sync takes the rest
        assert track["duration_s"] == 600 and sent < 2.2e8
    else:  # the sync (2.2e8 B at 125 kB/s = 1760 s) first, the track in what is left
        assert sent == pytest.approx(2.2e8) and track["duration_s"] >= 300


def test_every_request_accounted_for_with_a_reason(tmp_path: Path) -> None:
    """Unscheduled requests say why: no view period long enough, maintenance under the setup,
    or the antenna taken by a higher class."""
    periods = (
        "node,station,start,end\n"
        "sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T01:05:00Z\n"
        "sat-a,beta,2026-05-30T02:00:00Z,2026-05-30T02:30:00Z\n"
        "sat-b,beta,2026-05-30T02:00:00Z,2026-05-30T02:30:00Z\n"
        "sat-b,alpha,2026-05-30T04:00:00Z,2026-05-30T04:20:00Z\n"
    )
    body = (
        "tracks:\n"
        "  - {id: short, node: sat-a, duration_s: 600, alternatives: [alpha]}\n"
        "  - {id: vip, node: sat-a, duration_s: 1800, alternatives: [beta], priority: critical}\n"
        "  - {id: bumped, node: sat-b, duration_s: 900, alternatives: [beta], priority: low}\n"
        "  - {id: serviced, node: sat-b, duration_s: 600, alternatives: [alpha], setup_s: 900}\n"
    )
    text = HEADER.replace(
        "  - {name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6}",
        "  - {name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6,"
        " maintenance: [{start: +210min, end: +240min}]}",
    )
    (tmp_path / "periods.csv").write_text(periods)
    (tmp_path / "model.yaml").write_text(text + body)
    plan = run(load_model(tmp_path / "model.yaml")).plan.to_dict()
    assert check_plan(plan) == []
    reasons = {r["id"]: (r["status"], r["reason"]) for r in plan["track_requests"]}
    assert reasons["vip"] == ("complete", "complete")
    assert reasons["short"][0] == "unscheduled" and "no view period" in reasons["short"][1]
    assert reasons["bumped"][0] == "unscheduled" and "higher class" in reasons["bumped"][1]
    # the 20-min period fits 600 s + 900 s setup only with the setup inside the maintenance
    assert reasons["serviced"][0] == "unscheduled" and "maintenance" in reasons["serviced"][1]


def test_checker_fails_hand_broken_plans(tmp_path: Path) -> None:
    """The independent checker catches a track moved onto another's setup, a segment cut
    below its minimum, a track outside its view period and a wrong status."""
    periods = (
        "node,station,start,end\n"
        "sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z\n"
        "sat-b,alpha,2026-05-30T02:00:00Z,2026-05-30T02:30:00Z\n"
    )
    body = (
        "tracks:\n"
        "  - {id: t1, node: sat-a, duration_s: 600, alternatives: [alpha], setup_s: 300}\n"
        "  - {id: t2, node: sat-b, duration_s: 600, alternatives: [alpha], setup_s: 300}\n"
    )
    plan = plan_of(tmp_path, body, periods)

    def broken(change) -> list[str]:
        copy = json.loads(json.dumps(plan))
        change(copy)
        return check_plan(copy)

    def onto_other(p: dict) -> None:  # t2 into t1's pass: its setup overlaps t1 on antenna 0
        t1, t2 = sorted(p["tracks"], key=lambda t: t["start"])
        t2.update({k: t1[k] for k in ("setup_start", "start", "end", "teardown_end")})

    def too_short(p: dict) -> None:
        t = p["tracks"][0]
        t["end"] = iso(parse_time(t["start"]) + timedelta(seconds=100))
        t["duration_s"] = 100.0

    def outside(p: dict) -> None:
        t = p["tracks"][0]
        for k in ("setup_start", "start", "end", "teardown_end"):
            t[k] = iso(parse_time(t[k]) + timedelta(hours=3))

    def wrong_status(p: dict) -> None:
        p["track_requests"][0]["status"] = "unscheduled"

    assert any("overlap" in m for m in broken(onto_other))
    assert any("min_duration_s" in m for m in broken(too_short))
    assert any("view period" in m for m in broken(outside))
    assert any("status" in m for m in broken(wrong_status))


def test_rolling_blocks_own_the_tracks_that_cross_their_edge(tmp_path: Path) -> None:
    """Rolling blocks of 12 h: a track whose setup starts before the 12:00 block edge and whose
    transmit time is after it is committed by the first block and keeps its antenna, so the
    second block puts the other request (and the sync) around it; every request is complete."""
    periods = (
        "node,station,start,end\n"
        "sat-a,alpha,2026-05-30T12:00:00Z,2026-05-30T12:20:00Z\n"
        "sat-b,alpha,2026-05-30T12:00:00Z,2026-05-30T12:50:00Z\n"
    )
    body = (
        "syncs:\n  - {id: dump, node: sat-b, data_size: 5.0e7, release: +12h}\n"
        "tracks:\n"
        "  - {id: edge, node: sat-a, duration_s: 1200, alternatives: [alpha], setup_s: 600,"
        " priority: high}\n"
        "  - {id: after, node: sat-b, duration_s: 600, alternatives: [alpha], release: +12h}\n"
        "solver: {strategy: rolling}\n"
    )
    (tmp_path / "periods.csv").write_text(periods)
    (tmp_path / "model.yaml").write_text(HEADER.replace("hours: 6", "hours: 30") + body)
    result = run(load_model(tmp_path / "model.yaml"))
    plan = result.plan.to_dict()
    assert plan["solver"]["strategy"] == "rolling"
    assert plan["solver"]["status"] != "greedy-better"  # the blocks' plan, not the baseline
    assert check_plan(plan) == []
    edge = next(t for t in plan["tracks"] if t["request"] == "edge")
    assert edge["setup_start"] == "2026-05-30T11:50:00Z" and edge["start"] == "2026-05-30T12:00:00Z"
    assert {r["id"]: r["status"] for r in plan["track_requests"]} == {
        "edge": "complete",
        "after": "complete",
    }
    assert no_overlap_per_antenna(busy_spans(plan, "alpha"))
    assert plan["syncs"][0]["status"] == "complete"


def test_report_and_events_show_setup_track_and_teardown(tmp_path: Path) -> None:
    """rsmodel run: the station timeline draws setup, track and teardown of each track on
    every station of its alternative, and events.jsonl has the four phases in time order."""
    body = (
        "tracks:\n  - {id: ttc, node: sat-a, duration_s: 600, alternatives:"
        " [{array: [alpha, beta]}], setup_s: 120, teardown_s: 60}\n"
    )
    path = write_model(tmp_path, body)
    out = tmp_path / "out"
    run_cli = subprocess.run(
        [sys.executable, "-m", "rsmodel", "run", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run_cli.returncode == 0, run_cli.stderr
    html = (out / "report.html").read_text()
    assert (
        html.count('<rect class="trk setup"') == 2 and html.count('<rect class="trk teardown"') == 2
    )
    assert html.count('<rect class="trk"') == 2
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in events] == [
        "antenna_track.setup_started",
        "antenna_track.started",
        "antenna_track.ended",
        "antenna_track.teardown_ended",
    ]
    assert all(e["antenna_track"] == "ttc" and e["node"] == "sat-a" for e in events)
    plan = json.loads((out / "plan.json").read_text())
    assert plan["tracks"][0]["setup_start"] == events[0]["time"]


TURN_PERIODS = (
    "node,station,start,end\n"
    "sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T02:00:00Z\n"
    "sat-b,alpha,2026-05-30T01:00:00Z,2026-05-30T02:00:00Z\n"
)
TURN_BODY = (
    "syncs:\n  - {id: dump, node: sat-a, data_size: 1.0e9}\n"
    "tracks:\n  - {id: ttc, node: sat-b, duration_s: 600, alternatives: [alpha], setup_s: 60,"
    " teardown_s: 60, release: +80min, due: +100min, priority: high}\n"
)


@pytest.mark.parametrize("method", ["milp", "greedy", "rolling"])
def test_turnaround_between_tracks_and_contacts(tmp_path: Path, method: str) -> None:
    """alpha's one antenna turns for 300 s (+ the contact's 30 s setup) between a track of
    sat-b in the middle of the hour and sat-a's contacts before and after it."""
    header = HEADER.replace(
        "{name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6}",
        "{name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6, turnaround_s: 300,"
        " setup_s: 30}",
    )
    (tmp_path / "periods.csv").write_text(TURN_PERIODS)
    solver = "greedy" if method == "greedy" else "milp"
    (tmp_path / "model.yaml").write_text(header + TURN_BODY + f"solver: {{method: {solver}}}\n")
    scenario = load_model(tmp_path / "model.yaml")
    if method == "rolling":
        geometry = compute_geometry(scenario)
        problem = problem_from_scenario(scenario, geometry)
        problem.settings = replace(
            problem.settings, rolling=Rolling(block_s=3600, lookahead_s=1800)
        )
        schedule = solve_rolling(problem)
        plan = build_plan(scenario, geometry, schedule.operations, schedule.solver).to_dict()
        plan.update(schedule.tracks)
    else:
        plan = run(scenario).plan.to_dict()
    assert check_plan(plan) == []
    (track,) = plan["tracks"]
    t0, t1 = seconds(track["setup_start"]), seconds(track["teardown_end"])
    ops = [(seconds(o["start"]), seconds(o["end"])) for o in plan["operations"]]
    before = [b for a, b in ops if b <= t0]
    after = [a for a, b in ops if a >= t1]
    assert before and after  # sat-a's contacts on both sides of the track
    assert t0 - max(before) >= 300 - 1e-3
    assert min(after) - 30 - t1 >= 300 - 1e-3
    # the checker measures it: a longer turnaround than the plan left is a violation
    longer = [dict(s, turnaround_s=900) if s["name"] == "alpha" else s for s in plan["stations"]]
    found = check_plan({**plan, "stations": longer})
    assert any(p.startswith("turnaround: alpha") and "ttc" in p for p in found), found


def test_station_timeline_draws_the_turnaround_around_a_track(tmp_path: Path) -> None:
    """The report's station timeline draws alpha's turnaround where its antenna passes from
    sat-a's contact to sat-b's track (from the contact's end) and back (from the teardown's
    end), 300 s each, as the checker measures them."""
    header = HEADER.replace(
        "{name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6}",
        "{name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6, turnaround_s: 300,"
        " setup_s: 30}",
    )
    (tmp_path / "periods.csv").write_text(TURN_PERIODS)
    (tmp_path / "model.yaml").write_text(header + TURN_BODY + "solver: {method: greedy}\n")
    plan = run(load_model(tmp_path / "model.yaml")).plan.to_dict()
    assert check_plan(plan) == []
    (track,) = plan["tracks"]
    setup_start, teardown_end = parse_time(track["setup_start"]), parse_time(track["teardown_end"])
    ends = [parse_time(o["end"]) for o in plan["operations"]]
    before = max(t for t in ends if t <= setup_start)
    html = render_plan(plan, None)
    svg = html[html.index('id="gantt-stations"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count('<rect class="turn"') == 2
    assert "antenna 1 turnaround 300 s: sat-a → sat-b" in svg
    assert "antenna 1 turnaround 300 s: sat-b → sat-a" in svg
    turns = [b for b in station_extras(plan)["alpha"] if b.cls == "turn"]
    turn = timedelta(seconds=300)
    assert sorted((b.start, b.end) for b in turns) == [
        (before, before + turn),
        (teardown_end, teardown_end + turn),
    ]
