"""``rsmodel windows`` and ``rsmodel grid`` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import xarray as xr

from rsmodel.cli import main
from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model
from tests.conftest import MODELS

SEED = str(MODELS / "seed_sync.yaml")
SEED_FIELDS = [
    "orbital_node",
    "ground_station",
    "start",
    "duration_seconds",
    "max_elevation",
    "bandwidth",
    "capacity_mb",
]


@pytest.fixture(scope="module")
def seed_windows():
    return compute_geometry(load_model(SEED)).windows


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_windows_json_filters_by_node_and_hours(cli, seed_windows):
    done = cli("windows", SEED, "--node", "sat-1", "--hours", "12", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows and all(set(SEED_FIELDS) <= set(r) for r in rows)
    assert {r["orbital_node"] for r in rows} == {"sat-1"}
    start = datetime(2026, 5, 30, tzinfo=UTC)
    assert all(_utc(r["start"]) < start + timedelta(hours=12) for r in rows)
    expected = seed_windows[
        (seed_windows["node"] == "sat-1") & (seed_windows["start"] < start + timedelta(hours=12))
    ]
    assert [r["id"] for r in rows] == list(expected["id"])
    for r in rows:
        assert r["capacity_mb"] == pytest.approx(
            r["bandwidth"] / 8 * r["duration_seconds"] / 1e6, rel=1e-6
        )
        assert 10.0 <= r["max_elevation"] <= 90.0


def test_windows_csv_filters_by_station(cli, seed_windows):
    done = cli("windows", SEED, "--station", "chile", "--format", "csv")
    assert done.returncode == 0, done.stderr
    reader = csv.DictReader(io.StringIO(done.stdout))
    rows = list(reader)
    assert set(SEED_FIELDS) <= set(reader.fieldnames or [])
    assert {r["ground_station"] for r in rows} == {"chile"}
    assert len(rows) == int((seed_windows["station"] == "chile").sum())
    assert {float(r["bandwidth"]) for r in rows} == {5.0e8}


def test_windows_of_a_link_budget_model_show_band_and_rate_range(cli):
    """Issue 15: a window reports its band, min/mean/max rate and the rate's integral."""
    done = cli("windows", str(MODELS / "ground_segment.yaml"), "--hours", "3", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["band"] for r in rows} == {"X", "Ka"}
    assert any(r["min_rate_bps"] < 0.5 * r["bandwidth"] for r in rows)  # ACM within a pass
    for r in rows:
        low, mean, peak = r["min_rate_bps"], r["mean_rate_bps"], r["bandwidth"]
        assert 0 <= low <= mean * (1 + 1e-12) and mean <= peak * (1 + 1e-12)  # float round-off
        # capacity (the rate's integral; the model has no setup time) = mean rate x duration
        assert r["capacity_mb"] == pytest.approx(
            r["mean_rate_bps"] / 8 * r["duration_seconds"] / 1e6, rel=1e-3, abs=1e-3
        )


def test_windows_table_lists_every_window(capsys, seed_windows):
    assert main(["windows", SEED]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["id", "node", "station"]
    assert lines[-1] == f"{len(seed_windows)} windows"
    assert len(lines) == len(seed_windows) + 2


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--node", "sat-9"], "--node: unknown node 'sat-9'; expected one of: sat-1"),
        (["--station", "mars"], "--station: unknown station 'mars'"),
        (["--hours", "0"], "--hours must be > 0"),
        (["--hours", "nan"], "--hours must be > 0"),
    ],
)
def test_windows_bad_filters_exit_2_with_one_message(capsys, args, expected):
    assert main(["windows", SEED, *args]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "seed_sync.yaml" in err and expected in err and out == ""


def test_windows_hours_beyond_the_calendar_lists_every_window(capsys, seed_windows):
    assert main(["windows", SEED, "--hours", "1e9"]) == 0  # year 116,000: no overflow
    assert capsys.readouterr().out.splitlines()[-1] == f"{len(seed_windows)} windows"


def test_grid_onto_a_directory_is_one_error_line(capsys, tmp_path):
    assert main(["grid", SEED, "-o", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert err == f"error: cannot write {tmp_path}: Is a directory\n" and out == ""
    assert list(tmp_path.iterdir()) == []  # no temporary left behind


def test_grid_writes_netcdf(cli, tmp_path):
    out = tmp_path / "out" / "grid.nc"
    done = cli("grid", SEED, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "5 node x 3 station x 1441 time" in done.stdout
    with xr.open_dataset(out, engine="h5netcdf") as grid:
        assert grid["visible"].dtype == bool and grid["sunlit"].dtype == bool
        assert grid["time"].dtype == np.dtype("datetime64[ns]")
        assert grid["elevation_deg"].attrs["units"] == "deg"
        assert int(grid["visible"].sum()) > 0
    assert [p.name for p in out.parent.iterdir()] == ["grid.nc"]  # no temporary left behind
