"""plan.json v1 / plan.nc: outcomes, reasons and KPIs follow the documented definitions.

The plans here are built from real geometry (two real satellites over Svalbard) and
operations written out by hand, so each expected status, reason and figure is known
independently of the optimiser. End-to-end plans are tested in test_run_cli / test_api.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rsmodel.errors import ModelError
from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_text
from rsmodel.plan import Plan, build_plan, plan_dataset
from rsmodel.plan.check import check_plan
from tests.conftest import DATA, ROOT

BASE = f"""\
name: plan-unit
horizon: {{start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}}
ground_stations:
  - {{name: svalbard, station: svalsat, bandwidth_bps: 1.0e8, setup_s: 30}}
nodes:
  - {{name: a, tle: {{file: {DATA}/leo_snapshot.tle, norad: 43013}}}}
  - {{name: b, tle: {{file: {DATA}/leo_snapshot.tle, norad: 54234}}}}
"""
SETUP_S = 30.0
RATE_BYTES_S = 1.0e8 / 8


def scenario_with(syncs: str):
    return load_model_text(BASE + "syncs:\n" + syncs, base_dir=ROOT)


@pytest.fixture(scope="module")
def geometry():
    return compute_geometry(scenario_with("  - {node: a, data_size: 1}\n"))


def windows_of(geometry, node: str) -> pd.DataFrame:
    return geometry.windows[geometry.windows["node"] == node].reset_index(drop=True)


def op(sync_id: str, window: pd.Series, offset_s: float, nbytes: float) -> dict:
    """A contact ``offset_s`` after the window opens on antenna 0: the station's setup, then one
    operation sending ``nbytes`` at the full rate."""
    start = window["start"] + pd.Timedelta(seconds=offset_s + SETUP_S)
    return {
        "sync_id": sync_id,
        "node": window["node"],
        "station": window["station"],
        "window_id": window["id"],
        "start": start,
        "end": start + pd.Timedelta(seconds=nbytes / RATE_BYTES_S),
        "bytes": nbytes,
        "antenna": 0,
    }


def test_statuses_delivered_bytes_and_completion_follow_the_operations(geometry) -> None:
    sc = scenario_with(
        "  - {id: full, node: a, data_size: 3.0e8}\n"
        "  - {id: half, node: b, data_size: 2.0e8}\n"
        "  - {id: none, node: b, data_size: 1.0e8, priority: low}\n"
    )
    wa, wb = windows_of(geometry, "a"), windows_of(geometry, "b")
    ops = [
        op("full", wa.iloc[0], 0, 1e8),
        op("full", wa.iloc[1], 0, 2e8),
        op("half", wb.iloc[0], 0, 1e8),
    ]
    plan = build_plan(sc, geometry, ops, {"method": "hand"})
    assert check_plan(plan.to_dict()) == []

    assert [s["id"] for s in plan.syncs] == ["full", "half", "none"]
    full, half, none = plan.syncs
    assert (full["status"], full["delivered_bytes"], full["reason"]) == ("complete", 3e8, None)
    assert pd.Timestamp(full["completed_at"]) == ops[1]["end"].floor("us")
    assert (half["status"], half["delivered_bytes"], half["completed_at"]) == ("partial", 1e8, None)
    assert (none["status"], none["delivered_bytes"]) == ("unmet", 0.0)
    assert half["reason"] and none["reason"]
    # one warning line per (priority, status) class that is not complete
    assert len(plan.warnings) == 2
    assert any(w.startswith("1 normal sync(s) partial (half)") for w in plan.warnings)
    assert any(w.startswith("1 low sync(s) unmet (none)") for w in plan.warnings)


def test_kpis_match_their_documented_definitions(geometry) -> None:
    sc = scenario_with(
        "  - {id: s1, node: a, data_size: 3.0e8, deadline: +1h}\n"
        "  - {id: s2, node: b, data_size: 1.0e8, release: +30min}\n"
        "  - {id: s3, node: b, data_size: 5.0e8, priority: low}\n"
    )
    wa, wb = windows_of(geometry, "a"), windows_of(geometry, "b")
    w_b_after = wb[wb["start"] > sc.start + timedelta(minutes=30)].iloc[0]
    ops = [op("s1", wa.iloc[0], 0, 1e8), op("s1", wa.iloc[1], 0, 2e8), op("s2", w_b_after, 0, 1e8)]
    plan = build_plan(sc, geometry, ops, {"method": "hand"})
    assert check_plan(plan.to_dict()) == []
    k = plan.kpis

    used = {wa.iloc[0]["id"], wa.iloc[1]["id"], w_b_after["id"]}
    cap_used = geometry.windows.set_index("id").loc[sorted(used), "capacity_bytes"].sum()
    assert k["total_data_mb"] == pytest.approx(400.0)
    assert k["requested_data_mb"] == pytest.approx(900.0)
    assert k["utilization"] == pytest.approx(4e8 / cap_used)
    assert k["utilization_all_passes"] == pytest.approx(
        4e8 / geometry.windows["capacity_bytes"].sum()
    )
    assert k["passes_used"] == 3 and k["operations"] == 3
    waits = [
        (ops[1]["end"] - pd.Timestamp(sc.start)).total_seconds() / 60,
        (ops[2]["end"] - pd.Timestamp(sc.start + timedelta(minutes=30))).total_seconds() / 60,
    ]
    assert k["avg_wait_minutes"] == pytest.approx(np.mean(waits), abs=1e-3)
    assert pd.Timestamp(k["latest_completion"]) == max(ops[1]["end"], ops[2]["end"]).floor("us")
    assert k["delivered_bytes_by_priority"] == {
        "critical": 0.0,
        "high": 0.0,
        "normal": 4e8,
        "low": 0.0,
    }
    assert (k["complete_count"], k["partial_count"], k["unmet_count"]) == (2, 0, 1)
    late = ops[1]["end"] > pd.Timestamp(sc.start + timedelta(hours=1))
    assert k["deadline_misses"] == int(late)


def test_reason_no_contact_window_after_release(geometry) -> None:
    last_end = windows_of(geometry, "a")["end"].max()
    horizon_end = pd.Timestamp("2026-05-30T12:00:00Z")
    assert last_end < horizon_end - pd.Timedelta(minutes=2)
    release = (last_end + (horizon_end - last_end) / 2).isoformat()
    sc = scenario_with(f"  - {{id: s, node: a, data_size: 1.0e6, release: '{release}'}}\n")
    plan = build_plan(sc, geometry, [], {"method": "hand"})
    assert plan.sync("s")["status"] == "unmet"
    assert plan.sync("s")["reason"] == "no contact window after release"


def test_reason_deadline_before_the_first_reachable_pass(geometry) -> None:
    first = windows_of(geometry, "a")["start"].min()
    assert first > pd.Timestamp("2026-05-30T00:10:00Z")
    deadline = (first - pd.Timedelta(minutes=5)).isoformat()
    sc = scenario_with(f"  - {{id: s, node: a, data_size: 1.0e6, deadline: '{deadline}'}}\n")
    w = windows_of(geometry, "a").iloc[0]
    plan = build_plan(sc, geometry, [op("s", w, 0, 1e6)], {"method": "hand"})
    s = plan.sync("s")
    assert s["status"] == "complete"
    late_min = (pd.Timestamp(s["completed_at"]) - pd.Timestamp(deadline)).total_seconds() / 60
    assert f"delivered after deadline by {late_min:.0f} min" in s["reason"]
    # the first usable moment is AOS + setup: 5 min + 30 s after the deadline
    assert (
        "deadline before the first reachable pass (first pass 6 min after the deadline)"
        in s["reason"]
    )
    assert plan.kpis["deadline_misses"] == 1


@pytest.mark.parametrize("inside_s", [None, 100.0])
def test_reason_horizon_too_short_states_the_capacity_after_release(geometry, inside_s) -> None:
    """Single station, so the node's capacity is the sum of its windows' capacities; a release
    ``inside_s`` into a pass leaves that pass's rest minus one setup."""
    wa = windows_of(geometry, "a")
    later = wa.iloc[3:]["capacity_bytes"].sum()
    if inside_s is None:
        release = wa.iloc[2]["end"] + pd.Timedelta(seconds=1)
        capacity = later
    else:
        release = wa.iloc[2]["start"] + pd.Timedelta(seconds=inside_s)
        rest_s = (wa.iloc[2]["end"] - release).total_seconds() - SETUP_S
        capacity = later + rest_s * RATE_BYTES_S
    sc = scenario_with(
        f"  - {{id: s, node: a, data_size: 1.0e12, release: '{release.isoformat()}'}}\n"
    )
    plan = build_plan(sc, geometry, [], {"method": "hand"})
    reason = plan.sync("s")["reason"]
    match = re.fullmatch(
        r"horizon too short: ([\d,.]+) MB of capacity after release vs 1,000,000.0 MB requested; "
        r"left unscheduled by the optimiser although ([\d,.]+) MB of capacity was free",
        reason,
    )
    assert match, reason
    assert float(match[1].replace(",", "")) == pytest.approx(capacity / 1e6, abs=0.05)
    assert match[2] == match[1]  # nothing was sent: all of it was free


def test_reason_names_higher_priority_syncs_that_took_the_capacity(geometry) -> None:
    """A critical sync fills every pass of node a; the normal one behind it gets nothing."""
    wa = windows_of(geometry, "a")
    total = float(wa["capacity_bytes"].sum())
    sc = scenario_with(
        f"  - {{id: crit, node: a, data_size: {total}, priority: critical}}\n  - {{id: norm, node: a, data_size: 1.0e8}}\n"
    )
    ops = [op("crit", w, 0, w["capacity_bytes"]) for _, w in wa.iterrows()]
    plan = build_plan(sc, geometry, ops, {"method": "hand"})
    assert check_plan(plan.to_dict()) == []
    assert plan.sync("crit")["status"] == "complete"
    assert plan.sync("norm")["status"] == "unmet"
    assert plan.sync("norm")["reason"].startswith("capacity taken by higher-priority syncs")


def test_plan_json_round_trips_and_every_key_is_documented(geometry, tmp_path: Path) -> None:
    sc = scenario_with(
        "  - {id: s, node: a, data_size: 1.0e8, deadline: +3h, data_type: gradients}\n"
    )
    wa = windows_of(geometry, "a")
    plan = build_plan(
        sc, geometry, [op("s", wa.iloc[0], 10, 1e8)], {"method": "hand", "status": "n/a"}
    )
    path = plan.save(tmp_path / "plan.json")
    data = json.loads(path.read_text())
    assert Plan.from_json(path).to_dict() == data == plan.to_dict()
    assert check_plan(data) == []  # the layout the independent checker reads

    doc = (ROOT / "docs" / "plan-format.md").read_text()
    keys = set(data) | set(data["horizon"]) | set(data["kpis"]) | set(data["model"])
    for section in ("stations", "nodes", "windows", "eclipses", "operations", "syncs"):
        assert data[section], section
        keys |= set(data[section][0])
    undocumented = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not undocumented
    assert data["schema_version"] == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z", data["operations"][0]["start"]
    )
    assert data["nodes"][0]["tle"] == [sc.node("a").orbit.line1, sc.node("a").orbit.line2]


def test_unsupported_plan_version_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"schema_version": 2}))
    with pytest.raises(
        ModelError, match=r"plan.json: schema_version: unsupported schema_version 2; expected 1"
    ):
        Plan.from_json(path)


def test_plan_dataset_puts_each_operation_on_its_slots(geometry) -> None:
    sc = scenario_with("  - {id: s, node: b, data_size: 4.0e8}\n")
    wb = windows_of(geometry, "b")
    ops = [op("s", wb.iloc[1], 95.5, 1.5e8), op("s", wb.iloc[3], 0, 2.5e8)]
    ds = plan_dataset(build_plan(sc, geometry, ops, {"method": "hand"}))

    assert float(ds["bytes"].sum()) == pytest.approx(4e8)
    assert float(ds["bytes"].sel(node="a").sum()) == 0
    # bytes per slot never exceed what the rate allows in the slot
    assert float(ds["bytes"].max()) <= RATE_BYTES_S * 60 * (1 + 1e-9)
    # the first transfer spans slots from its start minute to its end minute
    first = ds["bytes"].sel(node="b", station="svalbard").to_series()
    on = first[first > 0].index
    assert on[0] == ops[0]["start"].floor("min").tz_convert(None)
    # window fractions integrate to the windows' durations (plan.json times are to the us)
    for node in ("a", "b"):
        windows = windows_of(geometry, node)
        in_window_s = float(ds["in_window"].sel(node=node).sum()) * 60
        assert in_window_s == pytest.approx(windows["duration_s"].sum(), abs=1e-3 * len(windows))
