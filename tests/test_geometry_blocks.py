"""Geometry one time block at a time equals the whole horizon at once (rsmodel.geometry.blocks).

Reference: the one-shot scan (``compute_geometry_for`` without ``block_s``), itself checked
against skyfield in test_geometry.py. Real TLEs over two days; blocks of 2 h (passes and
eclipses cut once) and 20 min (eclipses cut into three or more pieces).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from rsmodel.geometry import compute_geometry, compute_geometry_for
from rsmodel.geometry.blocks import windows_by_block
from rsmodel.geometry.windows import frame
from rsmodel.model.loader import load_model, load_model_text
from rsmodel.pipeline import run, write_outputs
from rsmodel.plan.check import check_plan
from tests.conftest import DATA, MODELS, ROOT

EDGE_TOL = pd.Timedelta(milliseconds=5)
TCA_TOL = pd.Timedelta(milliseconds=20)  # each culmination is bracketed to 10 ms
MAX_ELEVATION_TOL_DEG = 1e-3
BLOCKS_S = (2 * 3600.0, 1200.0)


@pytest.fixture(scope="module")
def horizon():
    """8 real satellites x a polar, an Antarctic, a northern and an equatorial station, 2 days."""
    scenario = load_model(MODELS / "constellation.yaml")
    stations = [scenario.station(n) for n in ("svalsat", "trollsat", "kiruna_esa", "singapore")]
    start = scenario.start
    return scenario.nodes[:8], stations, start, start + timedelta(days=2), scenario.step_s


@pytest.fixture(scope="module")
def one_shot(horizon):
    return compute_geometry_for(*horizon)


@pytest.fixture(scope="module", params=BLOCKS_S, ids=["2h", "20min"])
def by_block(request, horizon):
    return request.param, compute_geometry_for(*horizon, block_s=request.param)


def _inner_edges(horizon, block_s: float) -> pd.DatetimeIndex:
    start, end = horizon[2], horizon[3]
    n = int((end - start).total_seconds() // block_s)
    return pd.DatetimeIndex([start + timedelta(seconds=k * block_s) for k in range(1, n)])


def _cut(table: pd.DataFrame, edges: pd.DatetimeIndex) -> np.ndarray:
    """How many block edges fall strictly inside each row's interval."""
    e = edges.to_numpy()
    starts, ends = table["start"].to_numpy(), table["end"].to_numpy()
    return np.searchsorted(e, ends, side="left") - np.searchsorted(e, starts, side="right")


def test_block_windows_equal_the_one_shot_windows(one_shot, by_block) -> None:
    _, blocked = by_block
    whole, mine = one_shot.windows, blocked.windows
    assert len(mine) == len(whole) > 300
    for column in ("id", "node", "station", "start_clipped", "end_clipped"):
        assert list(mine[column]) == list(whole[column]), column
    assert (mine["start"] - whole["start"]).abs().max() < EDGE_TOL
    assert (mine["end"] - whole["end"]).abs().max() < EDGE_TOL
    np.testing.assert_allclose(mine["capacity_bytes"], whole["capacity_bytes"], rtol=1e-6)
    # one culmination per pass, also for passes cut by a block edge
    assert mine["tca"].notna().all() and (mine["tca"] - whole["tca"]).abs().max() < TCA_TOL
    np.testing.assert_allclose(
        mine["max_elevation_deg"], whole["max_elevation_deg"], atol=MAX_ELEVATION_TOL_DEG
    )


def test_block_eclipses_equal_the_one_shot_eclipses(one_shot, by_block) -> None:
    _, blocked = by_block
    whole, mine = one_shot.eclipses, blocked.eclipses
    assert len(mine) == len(whole) > 100
    for column in ("node", "start_clipped", "end_clipped"):
        assert list(mine[column]) == list(whole[column]), column
    assert (mine["start"] - whole["start"]).abs().max() < EDGE_TOL
    assert (mine["end"] - whole["end"]).abs().max() < EDGE_TOL


def test_a_pass_or_eclipse_cut_by_block_edges_is_one_interval(horizon, one_shot, by_block) -> None:
    block_s, blocked = by_block
    edges = _inner_edges(horizon, block_s)
    for name in ("windows", "eclipses"):
        whole, mine = getattr(one_shot, name), getattr(blocked, name)
        cut = _cut(whole, edges)
        assert (cut >= 1).sum() >= 5, name  # the scenario does cut intervals
        if name == "eclipses" and block_s < 1800:
            assert (cut >= 2).any()  # ~35 min eclipses in 20 min blocks: three pieces or more
        # every cut interval is one row of the blocked table, spanning the same edges
        np.testing.assert_array_equal(_cut(mine, edges), cut)
        keys = ["node", "station"] if name == "windows" else ["node"]
        for row in whole[cut >= 1].itertuples():
            same = (mine[keys] == [getattr(row, k) for k in keys]).all(axis=1)
            over = same & (mine["start"] < row.end) & (mine["end"] > row.start)
            assert over.sum() == 1
            assert abs(mine.loc[over, "start"].iloc[0] - row.start) < EDGE_TOL
            assert abs(mine.loc[over, "end"].iloc[0] - row.end) < EDGE_TOL


def test_block_grid_keeps_time_and_sunlit_without_the_dense_elevation(one_shot, by_block) -> None:
    _, blocked = by_block
    assert set(blocked.grid.data_vars) == {"sunlit"}
    assert blocked.grid["sunlit"].dims == ("node", "time")
    np.testing.assert_array_equal(blocked.grid["time"].values, one_shot.grid["time"].values)
    np.testing.assert_array_equal(blocked.grid["sunlit"].values, one_shot.grid["sunlit"].values)
    assert list(blocked.grid["station"].values) == list(one_shot.grid["station"].values)


def test_windows_by_block_is_the_window_table_of_the_block_scan(horizon, by_block) -> None:
    block_s, blocked = by_block
    pd.testing.assert_frame_equal(frame(windows_by_block(*horizon, block_s)), blocked.windows)


MULTI_DAY = f"""\
name: blocks-3d
horizon: {{start: 2026-05-30T00:00:00Z, hours: 72, step_s: 60}}
ground_stations:
  - {{name: svalbard, station: svalsat, bandwidth_bps: 2.0e7, elevation_min_deg: 10}}
  - {{name: singapore, station: singapore, bandwidth_bps: 1.0e7}}
nodes:
  - {{name: sat-1, tle: {{file: {DATA}/leo_snapshot.tle, norad: 43013}}}}
  - {{name: sat-2, tle: {{file: {DATA}/leo_snapshot.tle, norad: 54234}}}}
  - {{name: sat-3, tle: {{file: {DATA}/leo_snapshot.tle, norad: 37849}}}}
syncs:
  - {{id: a1, node: sat-1, data_size: 4.0e9, priority: critical, deadline: +30h}}
  - {{id: a2, node: sat-1, data_size: 4.0e10, priority: low, release: +20h}}
  - {{id: b1, node: sat-2, data_size: 3.0e9, priority: high}}
  - {{id: b2, node: sat-2, data_size: 3.0e10, priority: normal, release: +40h, deadline: +70h}}
  - {{id: c1, node: sat-3, data_size: 5.0e9, priority: high, deadline: +12h}}
solver: {{method: milp, time_limit_s: 30, mip_gap: 0.0}}
"""


def test_a_multi_day_run_on_block_geometry_gives_the_one_shot_plan(tmp_path) -> None:
    """``pipeline.run`` (geometry computed as usual: dense, one shot, for this small model) and
    ``pipeline.run`` on block geometry plan the same syncs, and both plans pass the checker."""
    scenario = load_model_text(MULTI_DAY, base_dir=ROOT)
    usual = run(scenario)
    assert "elevation_deg" in usual.geometry.grid  # small: the dense grid is kept
    blocked = run(scenario, geometry=compute_geometry(scenario, dense=False))
    assert "elevation_deg" not in blocked.geometry.grid
    a, b = usual.plan.to_dict(), blocked.plan.to_dict()
    assert check_plan(a) == [] and check_plan(b) == []
    assert [(s["id"], s["status"]) for s in b["syncs"]] == [
        (s["id"], s["status"]) for s in a["syncs"]
    ]
    assert {s["status"] for s in a["syncs"]} >= {"complete", "partial"}  # a constrained plan
    for mine, ref in zip(b["syncs"], a["syncs"], strict=True):
        assert mine["delivered_bytes"] == pytest.approx(ref["delivered_bytes"], rel=1e-6)
    assert b["kpis"]["passes_used"] == a["kpis"]["passes_used"]
    written = write_outputs(blocked, tmp_path)
    assert {"plan.json", "plan.nc", "report.html"} <= set(written)


def test_onboard_jobs_planned_on_block_geometry_are_the_one_shot_ones() -> None:
    """Jobs use the grid's ``sunlit`` and the eclipses: 1 h blocks change neither."""
    scenario = load_model(MODELS / "compute_mixed.yaml")
    geometry = compute_geometry_for(
        scenario.nodes,
        scenario.stations,
        scenario.start,
        scenario.end,
        scenario.step_s,
        block_s=3600.0,
    )
    a, b = run(scenario).plan.to_dict(), run(scenario, geometry=geometry).plan.to_dict()
    assert [j["status"] for j in a["jobs"]] == ["complete"]
    for section in ("jobs", "soc", "job_events", "job_downlinks"):
        assert b[section] == a[section], section
