"""Telescope planners and handover simulation on small real scenarios (McDonald and Kitt Peak,
MetOp-B and M13 on 2026-05-30 02:00-06:00 UTC, shipped TLEs): priorities, handover, reliability."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta

import numpy as np
import pytest
import skyfield_data
from skyfield.api import EarthSatellite, Loader, load, wgs84

from rsmodel.model.loader import load_model_text
from rsmodel.model.telescope_network import Fault, resolve_network
from rsmodel.telescopes.api import plan_network
from rsmodel.telescopes.simulate import simulate
from tests.conftest import assert_one_event_schema

PLANNERS = ["dispatcher", "milp"]
MCD = "{name: mcd, observatory: mcdonald, aperture_m: 0.2, fov_deg: 2, pixel_scale_arcsec: 2, altitude_limit_deg: 20, reliability: 0.9}"
KPNO = "{name: kpno, observatory: kpno, aperture_m: 0.2, fov_deg: 2, pixel_scale_arcsec: 2, altitude_limit_deg: 20, reliability: 0.8}"
METOP_B = "{name: MetOp-B, tle: {norad: 38771}}"
M13 = "{name: M13, ra_deg: 250.4235, dec_deg: 36.4613, exposure_s: 60, frames: 200}"


NETWORK_DEFAULTS = {
    "slot_s": "30",
    "ssa_track_s": "60",
    "deep_sky_session_s": "1200",
    "time_limit_s": "20",
}


def _network(overrides: str) -> str:
    """The telescope_network mapping: defaults, with ``", key: value"`` overrides applied."""
    settings = dict(NETWORK_DEFAULTS)
    for item in filter(None, (part.strip() for part in overrides.split(","))):
        key, value = (x.strip() for x in item.split(":", 1))
        settings[key] = value
    return ", ".join(f"{k}: {v}" for k, v in settings.items())


def model(telescopes: list[str], *, satellites=(), deep_sky=(), too=(), network: str = "") -> str:
    return f"""
name: small
horizon: {{start: 2026-05-30T02:00:00Z, hours: 4, step_s: 60}}
telescopes: [{", ".join(telescopes)}]
targets:
  satellites: [{", ".join(satellites)}]
  deep_sky: [{", ".join(deep_sky)}]
  too: [{", ".join(too)}]
telescope_network: {{{_network(network)}}}
"""


def plan(text: str, planner: str, tmp_path, **kw):
    return plan_network(
        load_model_text(text), planner=planner, store_path=tmp_path / "state.json", **kw
    )


def task(p, prefix: str) -> dict:
    return next(t for t in p.plan["tasks"] if t["id"].startswith(prefix))


def blocks_of(p, prefix: str) -> list[dict]:
    return [a for a in p.plan["assignments"] if a["task_id"].startswith(prefix)]


def overlaps(a: dict, b: dict) -> bool:
    return (
        a["telescope"] == b["telescope"]
        and a["setup_start"] < b["end"]
        and b["setup_start"] < a["end"]
    )


# ---------------------------------------------------------------- priorities
# A ToO reported at 04:05 that needs 10 min before 04:20 must use the only telescope during the
# MetOp-B pass (04:09-04:15 at McDonald): it pre-empts the SSA track.
TOO_DURING_PASS = "{name: GW, ra_deg: 250.4235, dec_deg: 36.4613, arrival: '+125min', duration_s: 600, deadline: '+140min'}"


@pytest.mark.parametrize("planner", PLANNERS)
def test_too_preempts_an_ssa_track(planner, tmp_path):
    alone = plan(model([MCD], satellites=[METOP_B]), planner, tmp_path)
    assert task(alone, "ssa:MetOp-B")["status"] == "complete"  # the track is observable on its own
    both = plan(model([MCD], satellites=[METOP_B], too=[TOO_DURING_PASS]), planner, tmp_path)
    assert task(both, "too:GW")["status"] == "complete"
    ssa = task(both, "ssa:MetOp-B")
    assert ssa["status"] == "unmet"
    assert "pre-empted by too" in ssa["reason"]


@pytest.mark.parametrize("planner", PLANNERS)
def test_ssa_track_preempts_deep_sky(planner, tmp_path):
    deep_only = plan(model([MCD], deep_sky=[M13]), planner, tmp_path)
    with_ssa = plan(model([MCD], satellites=[METOP_B], deep_sky=[M13]), planner, tmp_path)
    assert task(with_ssa, "ssa:MetOp-B")["status"] == "complete"
    (track,) = blocks_of(with_ssa, "ssa:")
    assert not any(overlaps(track, d) for d in blocks_of(with_ssa, "deep:"))
    # M13 wants more frames than the night holds, so the track costs deep-sky time.
    assert task(deep_only, "deep:")["status"] == "partial"
    assert task(with_ssa, "deep:")["frames_planned"] < task(deep_only, "deep:")["frames_planned"]


@pytest.mark.parametrize("planner", PLANNERS)
def test_min_reliability_keeps_weak_telescopes_off_ssa(planner, tmp_path):
    strict = plan(
        model([MCD], satellites=[METOP_B], network=", min_reliability: {ssa: 0.95}"),
        planner,
        tmp_path,
    )
    ssa = task(strict, "ssa:MetOp-B")
    assert ssa["status"] == "unmet" and "min_reliability.ssa" in ssa["reason"]


# ---------------------------------------------------------------- handover
@pytest.fixture(scope="module")
def sky():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load.timescale(builtin=True), Loader(
            skyfield_data.get_skyfield_data_path(), verbose=False
        )("de421.bsp")


def sees(net, sky, telescope: str, target: str, when) -> bool:
    """Skyfield's own verdict: above the limit, sunlit, site dark."""
    ts, eph = sky
    tel = net.telescopes[net.telescope_index(telescope)]
    tgt = next(t for t in net.targets if t.name == target)
    t = ts.from_datetime(when)
    topos = wgs84.latlon(tel.lat_deg, tel.lon_deg, elevation_m=tel.alt_m)
    sat = EarthSatellite(tgt.orbit.line1, tgt.orbit.line2, ts=ts)
    alt = (sat - topos).at(t).altaz()[0].degrees
    sun = (eph["sun"] - (eph["earth"] + topos)).at(t).altaz()[0].degrees
    return bool(alt >= tel.altitude_limit_deg and sat.at(t).is_sunlit(eph) and sun <= -12)


def parse(text: str):
    from rsmodel.timeutil import parse_time

    return parse_time(text)


@pytest.mark.parametrize("planner", PLANNERS)
def test_fault_mid_track_hands_over_to_the_backup_inside_its_window(planner, tmp_path, sky):
    text = model([MCD, KPNO], satellites=[METOP_B], network=", ssa_track_s: 120")
    planned = plan(text, planner, tmp_path)
    (track,) = blocks_of(planned, "ssa:MetOp-B")
    assert (track["telescope"], track["backup"]) == ("mcd", "kpno")
    window = next(h for h in track["handover_windows"] if h["telescope"] == "kpno")
    start, end = parse(track["start"]), parse(track["end"])
    fault_at = start + (end - start) / 2
    result = simulate(planned, [Fault("mcd", fault_at, planned.net.end)], save=False)
    assert_one_event_schema(result.events, ("telescope", "task_id", "class", "target"))
    steps = [
        (e["type"], e.get("telescope"))
        for e in result.events
        if (e["task_id"] or "").startswith("ssa:") or e["type"] == "telescope.faulted"
    ]
    assert steps == [
        ("track.started", "mcd"),
        ("telescope.faulted", "mcd"),
        ("track.failed", "mcd"),
        ("handover.started", "mcd"),
        ("track.reassigned", "kpno"),
        ("track.completed", "kpno"),
    ]
    handover = next(e for e in result.events if e["type"] == "handover.started")
    at = parse(handover["time"])
    assert at == fault_at  # at once
    assert handover["details"]["to_telescope"] == "kpno" and handover["details"]["planned_backup"]
    assert parse(window["start"]) <= at < parse(window["end"])
    assert sees(planned.net, sky, "kpno", "MetOp-B", at)
    assert sees(
        planned.net,
        sky,
        "kpno",
        "MetOp-B",
        parse(next(e for e in result.events if e["type"] == "track.completed")["time"])
        - timedelta(seconds=1),
    )
    assert result.tasks[0]["completed_by"] == ["kpno"]
    assert ("mcd", False) in result.outcomes and ("kpno", True) in result.outcomes


# M13 rises above 20 deg at McDonald ~35 min before Kitt Peak: a ToO on it from 02:00 goes to
# McDonald first; a fault there has no handover partner, so Kitt Peak's later acquisition is
# scheduled with the buffer of backup images.
TOO_M13 = "{name: GRB, ra_deg: 250.4235, dec_deg: 36.4613, arrival: '+0s', duration_s: 1200}"


@pytest.mark.parametrize("planner", PLANNERS)
def test_fault_without_overlap_schedules_next_acquisition_with_buffer(planner, tmp_path):
    text = model([MCD, KPNO], too=[TOO_M13], network=", backup_images: 4, backup_image_s: 15")
    planned = plan(text, planner, tmp_path)
    (obs,) = blocks_of(planned, "too:GRB")
    assert obs["telescope"] == "mcd"
    fault_at = parse(obs["start"]) + timedelta(seconds=300)
    result = simulate(planned, [Fault("mcd", fault_at, planned.net.end)], save=False)
    kinds = [e["type"] for e in result.events if e["type"] not in ("track.started",)]
    assert kinds[:4] == [
        "telescope.faulted",
        "track.failed",
        "handover.unavailable",
        "track.reassigned",
    ]
    re = next(e for e in result.events if e["type"] == "track.reassigned")
    assert (
        re["details"]["mode"] == "next_acquisition"
        and re["telescope"] == "kpno"
        and re["details"]["buffer_images"] == 4
    )
    remaining = (parse(obs["end"]) - fault_at).total_seconds()
    assert (
        parse(re["details"]["end"]) - parse(re["details"]["start"])
    ).total_seconds() == pytest.approx(remaining + 4 * 15)
    kpno_window = next(
        w for w in planned.plan["windows"] if w["telescope"] == "kpno" and w["target"] == "GRB"
    )
    assert parse(re["details"]["start"]) == parse(
        kpno_window["start"]
    )  # the next acquisition of the target


# ---------------------------------------------------------------- reliability
@pytest.mark.parametrize("planner", PLANNERS)
def test_reliability_updates_persist_and_change_the_next_assignment(planner, tmp_path):
    text = model([MCD, KPNO], too=[TOO_M13])
    store = tmp_path / "state.json"
    first = plan_network(load_model_text(text), planner=planner, store_path=store)
    (obs,) = blocks_of(first, "too:GRB")
    assert obs["telescope"] == "mcd"  # 0.9 beats 0.8
    simulate(first, [Fault("mcd", parse(obs["start"]) + timedelta(seconds=60), first.net.end)])
    saved = json.loads(store.read_text())
    assert saved["telescopes"]["mcd"]["outcomes"] == [0]
    assert saved["telescopes"]["kpno"]["outcomes"] == [1]
    # (2 x 0.9 + 0) / 3 and (2 x 0.8 + 1) / 3 with the default prior weight of 2 outcomes
    assert saved["telescopes"]["mcd"]["score"] == pytest.approx(0.6)
    assert saved["telescopes"]["kpno"]["score"] == pytest.approx(2.6 / 3)
    second = plan_network(load_model_text(text), planner=planner, store_path=store)  # a new run
    (obs2,) = blocks_of(second, "too:GRB")
    assert obs2["telescope"] == "kpno"
    assert {t["name"]: t["reliability"] for t in second.plan["telescopes"]}["mcd"] == pytest.approx(
        0.6
    )


def test_a_track_due_while_its_telescope_is_down_lowers_its_reliability(tmp_path):
    text = model([MCD, KPNO], too=[TOO_M13])
    store = tmp_path / "state.json"
    planned = plan_network(load_model_text(text), planner="dispatcher", store_path=store)
    (obs,) = blocks_of(planned, "too:GRB")
    down_from = parse(obs["setup_start"]) - timedelta(seconds=600)  # faulted before the track
    result = simulate(planned, [Fault("mcd", down_from, planned.net.end)])
    failed = [e for e in result.events if e["type"] == "track.failed"]
    assert [e["telescope"] for e in failed] == ["mcd"]
    saved = json.loads(store.read_text())
    assert saved["telescopes"]["mcd"]["outcomes"] == [0]  # the missed track counts against it
    assert saved["telescopes"]["mcd"]["score"] < 0.9


def test_reliability_window_keeps_only_recent_outcomes(tmp_path):
    from rsmodel.telescopes.reliability import ReliabilityStore

    net = resolve_network(load_model_text(model([MCD], network=", reliability_window: 3")))
    store = ReliabilityStore(tmp_path / "s.json")
    for ok in (False, False, True, True, True):
        store.record("mcd", ok, net.settings.reliability_window)
    store.save(net)
    again = ReliabilityStore.load(tmp_path / "s.json")
    assert again.outcomes["mcd"] == [1, 1, 1]
    assert again.scores(net)[0] == pytest.approx((2 * 0.9 + 3) / 5)


def test_status_command_shows_the_persisted_score(tmp_path, capsys):
    from rsmodel.cli import main

    path = tmp_path / "m.yaml"
    path.write_text(model([MCD, KPNO], too=[TOO_M13]))
    store = tmp_path / "state.json"
    assert (
        main(
            [
                "telescopes",
                "simulate",
                str(path),
                "--planner",
                "dispatcher",
                "--state",
                str(store),
                "--fault",
                "mcd@+1h",
                "-o",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert (tmp_path / "out" / "events.jsonl").exists() and (
        tmp_path / "out" / "report.html"
    ).exists()
    capsys.readouterr()
    assert main(["telescopes", "status", str(path), "--state", str(store)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("mcd "))
    assert "0.600" in row and "0/1 ok" in row


def test_handover_windows_are_overlaps_of_visibility(tmp_path):
    planned = plan(model([MCD, KPNO], satellites=[METOP_B]), "dispatcher", tmp_path)
    (track,) = blocks_of(planned, "ssa:")
    for h in track["handover_windows"]:
        vis = [
            w
            for w in planned.plan["windows"]
            if w["telescope"] == h["telescope"] and w["target"] == track["target"]
        ]
        assert any(
            parse(w["start"]) <= parse(h["start"]) and parse(h["end"]) <= parse(w["end"])
            for w in vis
        )
        assert parse(track["start"]) <= parse(h["start"]) < parse(h["end"]) <= parse(track["end"])
    assert np.isfinite(planned.plan["kpis"]["busy_fraction"])


# ---------------------------------------------------------------- MILP optimality
def feasible(inst, subset: tuple[int, ...]) -> bool:
    """Independent check: one block per ToO/SSA task, one block at a time per telescope, one
    family per deep-sky stack."""
    blocks = [inst.blocks[i] for i in subset]
    timed = [b.task for b in blocks if inst.tasks[b.task].cls != "deep_sky"]
    if len(timed) != len(set(timed)):
        return False
    families: dict[int, set[str]] = {}
    for b in blocks:
        if inst.tasks[b.task].cls == "deep_sky":
            families.setdefault(b.task, set()).add(inst.family[b.telescope])
    if any(len(f) > 1 for f in families.values()):
        return False
    return not any(
        a.telescope == b.telescope and a.first < b.last and b.first < a.last
        for k, a in enumerate(blocks)
        for b in blocks[k + 1 :]
    )


def test_milp_matches_brute_force_optimum_on_a_tiny_instance(tmp_path):
    from itertools import combinations

    from rsmodel.telescopes.dispatcher import dispatch
    from rsmodel.telescopes.milp import objective_value, solve_milp

    kpno_other_family = KPNO.replace("fov_deg: 2", "fov_deg: 0.5")
    text = model(
        [MCD, kpno_other_family],
        satellites=[METOP_B, "{name: MetOp-C, tle: {norad: 43689}}"],
        deep_sky=[M13.replace("frames: 200", "frames: 30")],
        too=[TOO_DURING_PASS],
        network=", deep_sky_session_s: 900",
    )
    inst = plan(text, "dispatcher", tmp_path).instance
    rng = np.random.default_rng(7)
    keep = sorted(rng.choice(len(inst.blocks), size=14, replace=False).tolist())
    inst.blocks = [inst.blocks[i] for i in keep]
    assert len({inst.tasks[b.task].cls for b in inst.blocks}) == 3
    best = max(
        objective_value(inst, list(s))
        for r in range(len(inst.blocks) + 1)
        for s in combinations(range(len(inst.blocks)), r)
        if feasible(inst, s)
    )
    chosen, info = solve_milp(inst, time_limit_s=20)
    assert info["status"] == "optimal" and feasible(inst, tuple(chosen))
    assert objective_value(inst, chosen) == pytest.approx(best, abs=1e-6)
    assert objective_value(inst, dispatch(inst)) <= best + 1e-9


# ---------------------------------------------------------------- independent plan check
@pytest.mark.parametrize("planner", PLANNERS)
def test_shipped_plan_passes_an_independent_check(planner, tmp_path):
    """Every assignment of the shipped model's plan is observable (inside a visibility window of
    its telescope and target), no telescope does two things at once (setup included), ToOs
    start after arrival and end by their deadline, and deep-sky frames fit their block."""
    from dataclasses import replace
    from pathlib import Path

    from rsmodel.model.loader import load_model

    net = resolve_network(
        load_model(Path(__file__).resolve().parents[1] / "models" / "telescopes.yaml")
    )
    net = replace(net, settings=net.settings.model_copy(update={"time_limit_s": 10}))
    p = plan_network(net, planner=planner, store_path=tmp_path / "s.json").plan
    windows = p["windows"]
    tasks = {t["id"]: t for t in p["tasks"]}
    deep = {f"deep:{net.targets[d.target].name}": d for d in net.deep_sky}
    for a in p["assignments"]:
        start, end = parse(a["start"]), parse(a["end"])
        assert any(
            w["telescope"] == a["telescope"]
            and w["target"] == a["target"]
            and parse(w["start"]) <= start
            and end <= parse(w["end"])
            for w in windows
        ), a
        task = tasks[a["task_id"]]
        if a["class"] == "too":
            assert parse(a["setup_start"]) >= parse(task["release"]) and end <= parse(task["due"])
        if a["class"] == "deep_sky":
            assert a["frames"] * deep[a["task_id"]].exposure_s <= (end - start).total_seconds()
    by_tel: dict[str, list[dict]] = {}
    for a in p["assignments"]:
        by_tel.setdefault(a["telescope"], []).append(a)
    for items in by_tel.values():
        items.sort(key=lambda a: a["setup_start"])
        for x, y in zip(items, items[1:], strict=False):
            assert parse(x["end"]) <= parse(y["setup_start"]), (x, y)
    complete = [t for t in p["tasks"] if t["status"] == "complete" and t["class"] != "deep_sky"]
    assert len(complete) == sum(1 for a in p["assignments"] if a["class"] != "deep_sky")


def test_too_on_a_satellite_is_observed_during_its_sunlit_pass(tmp_path, sky):
    too = "{name: Breakup, tle: {norad: 38771}, arrival: '+2h', duration_s: 120, deadline: '+3h'}"
    p = plan(model([MCD], too=[too]), "milp", tmp_path)
    (obs,) = blocks_of(p, "too:Breakup")
    assert sees(p.net, sky, "mcd", "Breakup", parse(obs["start"]))
    assert sees(p.net, sky, "mcd", "Breakup", parse(obs["end"]) - timedelta(seconds=1))
