"""plan.nc's sparse layout (above DENSE_GRID_MAX_CELLS): the same plan as the dense layout, cell
for cell; reports and re-reads work on it (docs/plan-format.md, "plan.nc")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import rsmodel.geometry
from rsmodel import pipeline
from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model
from rsmodel.plan import Plan, plan_dataset
from rsmodel.report.plan_view import throughput_heatmap
from tests.conftest import MODELS

SLOT_DIMS = ("node", "station", "time")


@pytest.fixture(scope="module")
def runs() -> tuple[pipeline.RunResult, pipeline.RunResult]:
    """The shipped seed model planned with the dense layout and with the sparse one forced."""
    scenario = load_model(MODELS / "seed_sync.yaml")
    geometry = compute_geometry(scenario)
    dense = pipeline.run(scenario, geometry=geometry)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rsmodel.geometry, "DENSE_GRID_MAX_CELLS", 0)
        sparse = pipeline.run(scenario, geometry=geometry)
    return dense, sparse


def dense_at_cells(dense: xr.Dataset, sparse: xr.Dataset, name: str) -> np.ndarray:
    """The dense variable read at the sparse dataset's (node, station, time) cells."""
    index = tuple(sparse[f"{dim}_index"].values for dim in SLOT_DIMS)
    return dense[name].transpose(*SLOT_DIMS).values[index]


def test_sparse_plan_holds_the_dense_plans_cells_and_nothing_else(runs) -> None:
    dense, sparse = runs
    ds, sp = dense.dataset, sparse.dataset
    assert dense.plan.operations == sparse.plan.operations  # same plan, two layouts
    assert all(sp[v].dims == ("cell",) for v in ("bytes", "in_window", "link"))
    assert not any(set(SLOT_DIMS) <= set(v.dims) for v in sp.data_vars.values())
    assert sparse.schedule.grid["bytes"].dims == ("cell",)  # the optimiser grid too
    for dim in SLOT_DIMS:
        np.testing.assert_array_equal(sp[dim].values, ds[dim].values)
    # only cells in a window or carrying bytes are listed, and each at most once
    index = np.stack([sp[f"{dim}_index"].values for dim in SLOT_DIMS])
    assert len(np.unique(index, axis=1).T) == sp.sizes["cell"]
    assert ((sp["in_window"] > 0) | (sp["bytes"] > 0)).all()
    assert sp.sizes["cell"] < ds["bytes"].size / 10
    for name in ("bytes", "in_window", "link"):
        np.testing.assert_allclose(sp[name].values, dense_at_cells(ds, sp, name), rtol=1e-12)
        # nothing of the dense plan lies outside the listed cells
        assert float(np.abs(ds[name]).sum()) == pytest.approx(float(np.abs(sp[name]).sum()))
        assert sp[name].attrs == ds[name].attrs
        assert sp[name].dtype == ds[name].dtype


def test_sparse_bytes_per_station_match_plan_operations(runs) -> None:
    _, sparse = runs
    sp = sparse.dataset
    stations = sp["station"].values[sp["station_index"].values]
    from_cells = pd.Series(sp["bytes"].values).groupby(stations).sum()
    ops = pd.DataFrame(sparse.plan.operations)
    from_ops = ops.groupby("station")["bytes"].sum()
    assert len(from_ops) > 1 and from_ops.sum() > 1e8
    pd.testing.assert_series_equal(
        from_cells.reindex(from_ops.index), from_ops, check_names=False, rtol=1e-9
    )


def test_plan_json_alone_gives_the_same_cells_in_either_layout(runs, monkeypatch) -> None:
    dense, _ = runs
    plan = Plan.from_dict(dense.plan.to_dict())
    ds = plan_dataset(plan)
    monkeypatch.setattr(rsmodel.geometry, "DENSE_GRID_MAX_CELLS", 0)
    sp = plan_dataset(plan)
    assert set(sp.data_vars) == {"bytes", "in_window"}
    for name in ("bytes", "in_window"):
        np.testing.assert_allclose(sp[name].values, dense_at_cells(ds, sp, name), rtol=1e-12)
        assert float(ds[name].sum()) == pytest.approx(float(sp[name].sum()), rel=1e-12)


def test_report_heatmap_is_the_same_from_either_layout(runs) -> None:
    dense, sparse = runs
    a, b = throughput_heatmap(dense.dataset), throughput_heatmap(sparse.dataset)
    assert a is not None and b is not None
    titles = [cell[5] for cell in a.cells]  # "UTC hour=.., station=..: <MB>"
    assert titles == [cell[5] for cell in b.cells]
    assert any(not title.endswith(": 0") for title in titles)
    assert a == b


def test_sparse_plan_nc_round_trips_and_the_report_re_renders(runs, tmp_path: Path, cli) -> None:
    _, sparse = runs
    paths = pipeline.write_outputs(sparse, tmp_path)
    with xr.open_dataset(paths["plan.nc"], engine="h5netcdf") as back:
        xr.testing.assert_identical(back.load(), sparse.dataset)
    original = paths["report.html"].read_bytes()
    paths["report.html"].unlink()
    result = cli("report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert paths["report.html"].read_bytes() == original
