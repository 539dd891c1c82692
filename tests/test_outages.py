"""Planned unavailability: station maintenance and node blackouts cut contact windows, so MILP,
greedy and rolling-horizon plans never use a station or node while it is down."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_text
from rsmodel.optimize import optimise, problem_from_scenario
from rsmodel.optimize.rolling import solve_rolling
from rsmodel.optimize.strategy import Rolling
from rsmodel.plan.check import check_plan

MODEL = """\
name: outages
horizon: {start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}
ground_stations:
  - name: svalbard
    lat_deg: 78.23
    lon_deg: 15.41
    bandwidth_bps: 1.0e8
    maintenance: [{start: 2026-05-30T01:05:00Z, end: 2026-05-30T01:09:30Z, reason: service}]
  - name: kiruna
    lat_deg: 67.86
    lon_deg: 20.96
    bandwidth_bps: 1.0e8
nodes:
  - name: noaa20
    tle: {norad: 43013}
    blackouts: [{start: +4h, end: +6h}]
  - name: metop
    tle: {norad: 38771}
syncs:
  - {node: noaa20, data_size: 1.0e12}
  - {node: metop, data_size: 1.0e12}
"""

MAINTENANCE = (pd.Timestamp("2026-05-30T01:05:00Z"), pd.Timestamp("2026-05-30T01:09:30Z"))
BLACKOUT = (pd.Timestamp("2026-05-30T04:00:00Z"), pd.Timestamp("2026-05-30T06:00:00Z"))


def overlaps(a, b, span) -> bool:
    return pd.Timestamp(a) < span[1] and pd.Timestamp(b) > span[0]


@pytest.fixture(scope="module")
def case():
    scenario = load_model_text(MODEL)
    return scenario, compute_geometry(scenario)


def test_windows_avoid_maintenance_and_blackouts(case) -> None:
    scenario, geo = case
    free = load_model_text(
        "\n".join(
            line
            for line in MODEL.splitlines()
            if "maintenance:" not in line and "blackouts:" not in line
        )
    )
    before = compute_geometry(free).windows
    w = geo.windows
    at_station = w[w["station"] == "svalbard"]
    of_node = w[w["node"] == "noaa20"]
    assert not any(
        overlaps(a, b, MAINTENANCE) for a, b in zip(at_station.start, at_station.end, strict=True)
    )
    assert not any(
        overlaps(a, b, BLACKOUT) for a, b in zip(of_node.start, of_node.end, strict=True)
    )
    # the pass through the maintenance is split at its edges; the rest of the time is kept
    cut = before[(before.station == "svalbard") & before.start.lt(MAINTENANCE[1])]
    cut = cut[cut.end.gt(MAINTENANCE[0])]
    assert len(cut) >= 1
    kept = w.duration_s.sum()
    lost = sum(
        (min(b, span[1]) - max(a, span[0])).total_seconds()
        for span, rows in ((MAINTENANCE, before[before.station == "svalbard"]),
                           (BLACKOUT, before[before.node == "noaa20"]))
        for a, b in zip(rows.start, rows.end, strict=True)
        if overlaps(a, b, span)
    )  # fmt: skip
    assert kept == pytest.approx(before.duration_s.sum() - lost, abs=1e-3)


@pytest.mark.parametrize("method", ["milp", "greedy", "rolling"])
def test_plans_never_use_a_station_or_node_while_down(case, method) -> None:
    scenario, geo = case
    if method == "rolling":
        problem = problem_from_scenario(scenario, geo)
        blocks = Rolling(block_s=3 * 3600.0, lookahead_s=3600.0)
        problem.settings = replace(problem.settings, rolling=blocks)
        schedule = solve_rolling(problem)
    else:
        schedule = optimise(scenario, geo, method=method)
    assert schedule.operations
    assert check_plan(schedule.plan_dict()) == []
    for op in schedule.operations:
        if op.station == "svalbard":
            assert not overlaps(op.start, op.end, MAINTENANCE)
        if op.node == "noaa20":
            assert not overlaps(op.start, op.end, BLACKOUT)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (
            MODEL.replace("end: 2026-05-30T01:09:30Z", "end: 2026-05-30T01:00:00Z"),
            "ground_stations[0].maintenance[0].end",
        ),
        (MODEL.replace("end: +6h", "end: +3h"), "nodes[0].blackouts[0].end"),
    ],
)
def test_outage_ending_before_it_starts_is_one_clear_error(text, field, tmp_path: Path, cli):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    result = cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()
    assert len(line) == 1 and f"{path}:" in line[0] and f" {field}:" in line[0]
    assert "must be after the start" in line[0]
