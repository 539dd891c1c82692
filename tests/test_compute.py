"""Seed 002 compute primitives: plans checked against skyfield and an independent SOC integration."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skyfield_data
from skyfield.api import EarthSatellite, Loader, load, wgs84

from rsmodel.compute import plan_jobs
from rsmodel.geometry import compute_geometry
from rsmodel.model.compute_schema import POLICY_SHARE, TIERS
from rsmodel.model.loader import load_model_dict
from rsmodel.timeutil import parse_time
from tests.conftest import assert_one_event_schema

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = sorted((ROOT / "models" / "requests").glob("*.json"))
SEED_EVENTS = {
    "eclipse_step.scheduled",
    "eclipse_step.energy_check",
    "eclipse_step.started",
    "eclipse_step.completed",
    "eclipse_step.deferred",
    "window_step.tier_selected",
    "window_step.started",
    "window_step.completed",
    "window_step.deferred",
    "pass_step.decomposed",
    "pass_step.segment_started",
    "pass_step.segment_completed",
    "pass_step.merged",
    "step.started",
    "step.completed",
    "step.deferred",
}
ISS_START = "2026-05-30T12:25:00Z"  # epoch of the newest shipped ISS element set, to the minute
STATIONS = ["wallops", "weilheim", "hartebeesthoek", "dongara", "santiago", "south_point_hi"]
TIERS_SEED = {
    "minimal": {"compute_s": 30, "memory_mb": 256, "output_mb": 10},
    "standard": {"compute_s": 90, "memory_mb": 512, "output_mb": 50},
    "enhanced": {"compute_s": 180, "memory_mb": 1024, "output_mb": 120},
    "maximum": {"compute_s": 360, "memory_mb": 2048, "output_mb": 300},
}


# --------------------------------------------------------------------------- independent references
@pytest.fixture(scope="module")
def sky() -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = load.timescale(builtin=True)
        eph = Loader(skyfield_data.get_skyfield_data_path())("de421.bsp")
    return ts, eph


def skyfield_sunlit(
    scenario: Any, node: str, times: list[datetime], sky: tuple[Any, Any]
) -> np.ndarray:
    ts, eph = sky
    orbit = scenario.node(node).orbit
    sat = EarthSatellite(orbit.line1, orbit.line2, ts=ts)
    return np.asarray(sat.at(ts.from_datetimes(times)).is_sunlit(eph), dtype=bool)


def reintegrate_soc(
    scenario: Any, response: dict[str, Any], node: str, sky: tuple[Any, Any]
) -> np.ndarray:
    """SOC fraction over the grid from skyfield's sunlit flags and the decisions' run times."""
    curve = response["soc"][node]
    times = [parse_time(t) for t in curve["times"]]
    sunlit = skyfield_sunlit(scenario, node, times, sky)[:-1]
    n = scenario.node(node)
    t_s = np.array([(t - times[0]).total_seconds() for t in times])
    busy_s = np.zeros(len(times) - 1)
    for d in response["placement_decisions"]:
        if d["status"] != "placed" or d["node"] != node or d["location"] != "onboard":
            continue
        runs = (
            [(s["start"], s["end"]) for s in d["segments"]]
            if d["segments"]
            else [(d["start"], d["end"])]
        )
        for a, b in runs:
            a_s, b_s = ((parse_time(x) - times[0]).total_seconds() for x in (a, b))
            busy_s += np.clip(np.minimum(t_s[1:], b_s) - np.maximum(t_s[:-1], a_s), 0, None)
    dt = np.diff(t_s)
    net_wh = (
        n.power.solar_charge_w * sunlit * dt - n.power.idle_w * dt - n.power.compute_w * busy_s
    ) / 3600
    soc = [n.battery.initial_soc * n.battery.capacity_wh]
    for net in net_wh:
        soc.append(min(n.battery.capacity_wh, soc[-1] + net))
    return np.array(soc) / n.battery.capacity_wh


def assert_soc_ok(scenario: Any, response: dict[str, Any], sky: tuple[Any, Any]) -> None:
    for node, curve in response["soc"].items():
        mine = reintegrate_soc(scenario, response, node, sky)
        np.testing.assert_allclose(curve["soc"], mine, atol=1e-5)
        assert mine.max() <= 1.0 + 1e-9
        idle_only = reintegrate_soc(scenario, {**response, "placement_decisions": []}, node, sky)
        floor = np.minimum(scenario.node(node).battery.min_soc, idle_only)
        assert (mine >= floor - 1e-6).all(), "compute pushed the battery below min_soc"
        times = [parse_time(t) for t in curve["times"]]
        for d in response["placement_decisions"]:
            if d["kind"] == "eclipse" and d["status"] == "placed" and d["node"] == node:
                a, b = (times.index(parse_time(d["interval"][k])) for k in ("start", "end"))
                assert mine[a : b + 1].min() >= d["energy_check"]["min_battery_soc"] - 1e-6


def model(
    steps: list[dict[str, Any]],
    *,
    policy: dict | None = None,
    node: dict | None = None,
    hours: float = 9.5,
    jobs: list[dict] | None = None,
) -> dict[str, Any]:
    iss = {"name": "iss", "tle": {"norad": 25544}, **(node or {})}
    return {
        "name": "compute-test",
        "horizon": {"start": ISS_START, "hours": hours, "step_s": 60},
        "ground_stations": [{"name": s, "station": s, "bandwidth_bps": 1e8} for s in STATIONS],
        "nodes": [iss],
        "solver": {"time_limit_s": 60},
        "jobs": jobs
        or [
            {
                "name": "job",
                "node": "iss",
                "steps": steps,
                "policy": policy or {"deadline_orbits": 6},
            }
        ],
    }


def plan(data: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    scenario = load_model_dict(data, base_dir=ROOT)
    geometry = compute_geometry(scenario)
    return scenario, geometry, plan_jobs(scenario, geometry)


def decision(response: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(d for d in response["placement_decisions"] if d["step_id"] == step_id)


def seconds(a: str, b: str) -> float:
    return (parse_time(b) - parse_time(a)).total_seconds()


# --------------------------------------------------------------------------- seed requests
@pytest.mark.parametrize("request_file", REQUESTS, ids=lambda p: p.stem)
def test_seed_request_plans_with_seed_events_and_outputs(
    request_file: Path, tmp_path: Path, cli, sky
) -> None:
    result = cli("plan", str(request_file), "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    response = json.loads((tmp_path / "response.json").read_text())
    body = json.loads(request_file.read_text())
    assert [d["step_id"] for d in response["placement_decisions"]] == [
        s["id"] for s in body["custom_job"]["steps"]
    ]
    assert all(d["status"] == "placed" for d in response["placement_decisions"])
    assert response["jobs"][0]["status"] == "complete"
    assert {e["type"] for e in response["events"]} <= SEED_EVENTS
    assert_one_event_schema(response["events"], ("job", "step_id"))
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == response["events"]
    assert [e["time"] for e in response["events"]] == sorted(e["time"] for e in response["events"])
    html = (tmp_path / "report.html").read_text()
    assert body["custom_job"]["steps"][0]["id"] in html
    plan_json = json.loads((tmp_path / "plan.json").read_text())
    assert plan_json["jobs"] == response["jobs"] and plan_json["soc"] == response["soc"]
    from rsmodel.compute.request import load_request

    _, scenario = load_request(request_file)
    assert_soc_ok(scenario, response, sky)
    deadline = parse_time(response["jobs"][0]["deadline"])
    assert all(parse_time(d["end"]) <= deadline for d in response["placement_decisions"])


def test_seed_request_printed_to_stdout(cli) -> None:
    result = cli("plan", str(ROOT / "models" / "requests" / "eclipse_compute.json"))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    kinds = [e["type"] for e in response["events"]]
    assert kinds == [
        "eclipse_step.scheduled",
        "eclipse_step.energy_check",
        "eclipse_step.started",
        "eclipse_step.completed",
    ]


# --------------------------------------------------------------------------- eclipse steps
def eclipse_step(step_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "eclipse",
        "energy_budget_wh": 20,
        "compute_s": 120,
        "min_battery_soc": 0.3,
        **extra,
    }


def test_eclipse_energy_within_budget_share_and_in_darkness(sky) -> None:
    steps = [
        eclipse_step(f"e{i}", eclipse_policy=pol, priority=i)
        for i, pol in enumerate(["conservative", "balanced", "aggressive", "balanced"])
    ]
    node = {
        "battery": {"capacity_wh": 30, "initial_soc": 0.6},
        "power": {"compute_w": 150, "idle_w": 10},
    }
    scenario, _, response = plan(model(steps, node=node))
    assert_soc_ok(scenario, response, sky)
    placed = [d for d in response["placement_decisions"] if d["status"] == "placed"]
    assert len(placed) >= 2
    soc = reintegrate_soc(scenario, response, "iss", sky)
    times = [parse_time(t) for t in response["soc"]["iss"]["times"]]
    for d in placed:
        step = next(s for s in steps if s["id"] == d["step_id"])
        assert d["energy_wh"] <= step["energy_budget_wh"] + 1e-9
        a, b = (times.index(parse_time(d["interval"][k])) for k in ("start", "end"))
        # every compute Wh drawn in this eclipse, by any step, within this step's policy share
        used_wh = sum(x["energy_wh"] for x in placed if x["interval"] == d["interval"])
        eclipse_s = (times[b] - times[a]).total_seconds()
        capacity_wh = (soc[a] - 0.3) * 30 - 10 * eclipse_s / 3600
        assert used_wh <= POLICY_SHARE[step["eclipse_policy"]] * capacity_wh + 1e-6
        start, end = parse_time(d["start"]), parse_time(d["end"])
        assert not skyfield_sunlit(
            scenario, "iss", [start, end, start + (end - start) / 2], sky
        ).any()


def test_eclipse_step_deferred_when_battery_cannot_afford_first_eclipse(sky) -> None:
    node = {"battery": {"capacity_wh": 50, "initial_soc": 0.1}, "power": {"compute_w": 400}}
    scenario, _, response = plan(model([eclipse_step("night", energy_budget_wh=15)], node=node))
    d = decision(response, "night")
    assert d["status"] == "placed"
    deferred = [e for e in response["events"] if e["type"] == "eclipse_step.deferred"]
    assert deferred and deferred[0]["details"]["reason"].startswith("battery")
    soc = reintegrate_soc(scenario, response, "iss", sky)
    times = [parse_time(t) for t in response["soc"]["iss"]["times"]]
    first = next(
        i for i in range(1, len(times)) if not skyfield_sunlit(scenario, "iss", [times[i]], sky)[0]
    )
    first_end = next(
        i for i in range(first, len(times)) if skyfield_sunlit(scenario, "iss", [times[i]], sky)[0]
    )
    capacity_wh = (soc[first] - 0.3) * 50 - 15 * (first_end - first) * 60 / 3600
    assert 0.65 * capacity_wh < 400 * 120 / 3600, (
        "the first eclipse was affordable, deferral unjustified"
    )
    assert parse_time(d["start"]) > times[first_end - 1]
    assert_soc_ok(scenario, response, sky)


def test_higher_priority_eclipse_step_gets_the_earlier_eclipse(sky) -> None:
    node = {"battery": {"capacity_wh": 40, "initial_soc": 0.9}, "power": {"compute_w": 300}}
    steps = [
        eclipse_step("low", priority=1, energy_budget_wh=12),
        eclipse_step("high", priority=9, energy_budget_wh=12),
    ]
    scenario, _, response = plan(model(steps, node=node))
    low, high = decision(response, "low"), decision(response, "high")
    assert high["status"] == "placed"
    assert low["status"] == "missed" or parse_time(high["start"]) < parse_time(low["start"])
    assert low["interval"] != high["interval"], (
        "both fit one eclipse: the test does not exercise competition"
    )


# --------------------------------------------------------------------------- window steps
def highest_fitting(
    tiers: dict[str, dict], remaining_s: float, memory_mb: float, lo: str, hi: str
) -> str | None:
    ladder = [
        t for t in TIERS if t in tiers and TIERS.index(lo) <= TIERS.index(t) <= TIERS.index(hi)
    ]
    fits = [
        t
        for t in ladder
        if tiers[t]["compute_s"] <= remaining_s and tiers[t]["memory_mb"] <= memory_mb
    ]
    return fits[-1] if fits else None


@pytest.mark.parametrize(
    ("busy_s", "min_tier"),
    [(0, "minimal"), (2040, "minimal"), (2200, "minimal"), (2280, "minimal"), (2280, "standard")],
)
def test_window_tier_is_the_highest_that_fits_the_remaining_window(
    busy_s: int, min_tier: str, sky
) -> None:
    steps = [
        {
            "id": "w",
            "type": "window",
            "quality_tiers": TIERS_SEED,
            "preferred_tier": "maximum",
            "min_tier": min_tier,
        }
    ]
    if busy_s:  # a predecessor that finishes near the end of the first sunlit window
        steps.insert(0, {"id": "busy", "compute_s": busy_s})
        steps[1]["depends_on"] = ["busy"]
    scenario, _, response = plan(model(steps, node={"memory_mb": 1500}))
    d = decision(response, "w")
    assert d["status"] == "placed"
    window = [parse_time(d["interval"][k]) for k in ("start", "end")]
    assert skyfield_sunlit(scenario, "iss", window, sky).all()
    ready = parse_time(ISS_START)
    if busy_s:
        ready = parse_time(decision(response, "busy")["end"])
        ready += timedelta(seconds=(-ready.second) % 60)  # the grid is whole minutes
    remaining = (window[1] - max(ready, window[0])).total_seconds()
    assert d["quality_tier"] == highest_fitting(TIERS_SEED, remaining, 1500, min_tier, "maximum")
    assert seconds(d["start"], d["end"]) == TIERS_SEED[d["quality_tier"]]["compute_s"]
    assert window[0] <= parse_time(d["start"]) and parse_time(d["end"]) <= window[1]
    first = next(iv for iv in _sunlit(response) if parse_time(iv["end"]) > ready)
    first_left = (parse_time(first["end"]) - max(ready, parse_time(first["start"]))).total_seconds()
    fits_first = highest_fitting(TIERS_SEED, first_left, 1500, min_tier, "maximum")
    deferred = [e for e in response["events"] if e["type"] == "window_step.deferred"]
    assert bool(deferred) == (fits_first is None)
    assert (d["interval"]["start"] == first["start"]) == (fits_first is not None)


def _sunlit(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [iv for iv in response["jobs"][0]["intervals"] if iv["kind"] == "sunlit"]


def test_window_step_deferred_when_no_window_fits_min_tier() -> None:
    tiers = {
        "standard": {"compute_s": 5000, "memory_mb": 1},
        "maximum": {"compute_s": 9000, "memory_mb": 1},
    }
    _, _, response = plan(model([{"id": "w", "type": "window", "quality_tiers": tiers}]))
    d = decision(response, "w")
    assert d["status"] == "missed" and "min_tier" in d["reason"]
    assert [e["type"] for e in response["events"]] == ["window_step.deferred"]
    assert response["jobs"][0]["status"] == "unmet"


# --------------------------------------------------------------------------- pass steps
def station_elevation_deg(
    scenario: Any, station: str, when: datetime, sky: tuple[Any, Any]
) -> float:
    ts, _ = sky
    st = scenario.station(station)
    orbit = scenario.node("iss").orbit
    sat = EarthSatellite(orbit.line1, orbit.line2, ts=ts)
    site = wgs84.latlon(st.lat_deg, st.lon_deg, st.alt_m)
    alt, _, _ = (sat - site).at(ts.from_datetime(when)).altaz()
    return float(alt.degrees)


@pytest.mark.parametrize(
    ("strategy", "max_segments"), [("concat", 3), ("reduce", None), ("latest", 2)]
)
def test_pass_segments_inside_long_passes_and_merged_size(
    strategy: str, max_segments: int | None, sky
) -> None:
    step = {
        "id": "p",
        "type": "pass",
        "merge_strategy": strategy,
        "min_pass_duration_s": 300,
        "compute_s": 60,
        "output_mb": 40,
    }
    if max_segments:
        step["max_segments"] = max_segments
    scenario, geometry, response = plan(
        model([step], policy={"objective": "max_reliability", "deadline_orbits": 6})
    )
    d = decision(response, "p")
    segs = d["segments"]
    assert d["status"] == "placed" and segs
    if max_segments:
        assert len(segs) <= max_segments
    windows = geometry.windows.set_index("id")
    for s in segs:
        w = windows.loc[s["pass"]["id"]]
        assert w["duration_s"] >= 300
        start, end = parse_time(s["start"]), parse_time(s["end"])
        assert w["start"] <= start and end <= w["end"]
        for t in (start, end, start + (end - start) / 2):  # skyfield: the station sees the node
            assert station_elevation_deg(scenario, w["station"], t, sky) >= 10.0 - 0.05
    assert len({s["pass"]["id"] for s in segs}) == len(segs)
    expected = {"concat": 40 * len(segs), "reduce": 40, "latest": 40}[strategy]
    assert d["output_mb"] == expected
    merged = [e for e in response["events"] if e["type"] == "pass_step.merged"]
    assert (
        merged[0]["details"]["merged_output_mb"] == expected
        and merged[0]["time"] == d["end"] == segs[-1]["end"]
    )


# --------------------------------------------------------------------------- DAG
def test_mixed_dag_respects_every_depends_on(sky) -> None:
    steps = [
        {
            "id": "capture",
            "type": "pass",
            "merge_strategy": "concat",
            "min_pass_duration_s": 120,
            "max_segments": 2,
            "compute_s": 60,
            "output_mb": 20,
        },
        {"id": "prep", "compute_s": 240, "output_mb": 5},
        {
            "id": "process",
            "type": "window",
            "preferred_tier": "enhanced",
            "quality_tiers": TIERS_SEED,
            "depends_on": ["capture", "prep"],
        },
        {
            "id": "compress",
            "type": "eclipse",
            "eclipse_policy": "balanced",
            "energy_budget_wh": 10,
            "compute_s": 120,
            "depends_on": ["process"],
        },
        {"id": "package", "compute_s": 60, "output_mb": 2000, "depends_on": ["compress", "prep"]},
        {"id": "analyse", "location": "ground", "compute_s": 600, "depends_on": ["package"]},
    ]
    scenario, geometry, response = plan(
        model(steps, policy={"objective": "min_latency", "deadline_orbits": 6})
    )
    by_id = {d["step_id"]: d for d in response["placement_decisions"]}
    assert all(d["status"] == "placed" for d in by_id.values())
    for s in steps:
        for dep in s.get("depends_on", []):
            assert parse_time(by_id[s["id"]]["start"]) >= parse_time(by_id[dep]["end"])
    onboard = [d for d in by_id.values() if d["location"] == "onboard"]
    runs = sorted(
        (parse_time(x["start"]), parse_time(x["end"]))
        for d in onboard
        for x in (d["segments"] or [d])
    )
    assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False)), (
        "two steps ran at once on one node"
    )
    assert_soc_ok(scenario, response, sky)
    # the ground step waits for 2000 MB to come down: passes in between can carry it
    ready, start = parse_time(by_id["package"]["end"]), parse_time(by_id["analyse"]["start"])
    assert pass_seconds(geometry, ready, start) * 1e8 / 8 >= 2000e6


def pass_seconds(geometry: Any, t0: datetime, t1: datetime) -> float:
    """Seconds in [t0, t1] during which some station sees the node (union of passes)."""
    w = geometry.windows.sort_values("start")
    total, covered_to = 0.0, t0
    for a, b in zip(w["start"], w["end"], strict=True):
        a, b = max(a, covered_to), min(b, t1)
        if b > a:
            total += (b - a).total_seconds()
            covered_to = b
    return total


def test_model_file_jobs_run_through_rsmodel_run(tmp_path: Path, cli, sky) -> None:
    result = cli("run", str(ROOT / "models" / "compute_mixed.yaml"), "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    plan_json = json.loads((tmp_path / "plan.json").read_text())
    job = plan_json["jobs"][0]
    assert job["status"] == "complete"
    assert plan_json["syncs"][0]["status"] == "complete"  # the sync is planned next to the job
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert events == plan_json["job_events"]
    import xarray as xr

    with xr.open_dataset(tmp_path / "plan.nc") as ds:
        np.testing.assert_allclose(
            ds["soc"].sel(node="iss").values, plan_json["soc"]["iss"]["soc"][:-1]
        )
    scenario = load_model_dict(
        __import__("yaml").safe_load((ROOT / "models" / "compute_mixed.yaml").read_text()),
        base_dir=ROOT,
    )
    response = {"soc": plan_json["soc"], "placement_decisions": job["placement_decisions"]}
    assert_soc_ok(scenario, response, sky)


def test_ground_step_needs_link_time_the_syncs_left() -> None:
    data = __import__("yaml").safe_load((ROOT / "models" / "compute_mixed.yaml").read_text())
    scenario = load_model_dict(data, base_dir=ROOT)
    geometry = compute_geometry(scenario)
    free = plan_jobs(scenario, geometry)
    assert decision(free, "analyse")["status"] == "placed"
    # syncs hold every slot from before the package could exist: its 400 MB cannot come down
    package_end = parse_time(decision(free, "package")["end"])
    t = np.array([parse_time(x) for x in free["soc"]["iss"]["times"][:-1]])
    blocked = plan_jobs(
        scenario, geometry, sync_slots={"iss": t >= package_end - timedelta(minutes=30)}
    )
    d = decision(blocked, "analyse")
    assert d["status"] == "missed" and "downlinked" in d["reason"]
    assert all(
        x["status"] == "placed" for x in blocked["placement_decisions"] if x["step_id"] != "analyse"
    )
    assert blocked["jobs"][0]["status"] == "partial"
