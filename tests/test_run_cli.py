"""``rsmodel run``: the real command writes a checkable plan.json, plan.nc and report.html."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model
from rsmodel.plan import Plan
from rsmodel.plan.check import check_plan
from rsmodel.timeutil import parse_time
from tests.conftest import DATA, MODELS

SEED = MODELS / "seed_sync.yaml"

# One station, 3 h: far more data than the passes can carry, and a sync released after the
# node's last pass. Every request must still be accounted for, with a reason.
OVERLOADED = f"""\
name: overloaded
horizon: {{start: 2026-05-30T00:00:00Z, hours: 3, step_s: 60}}
ground_stations:
  - {{name: svalbard, station: svalsat, bandwidth_bps: 1.0e8}}
nodes:
  - {{name: a, tle: {{file: {DATA}/leo_snapshot.tle, norad: 43013}}}}
  - {{name: b, tle: {{file: {DATA}/leo_snapshot.tle, norad: 54234}}}}
syncs:
  - {{id: crit-a, node: a, data_size: 2.0e9, priority: critical}}
  - {{id: bulk-a, node: a, data_size: 5.0e10, priority: low}}
  - {{id: huge-b, node: b, data_size: 1.0e12, priority: high}}
  - {{id: late-b, node: b, data_size: 1.0e6, priority: normal, release: RELEASE}}
solver: {{method: milp, time_limit_s: 20}}
"""


@pytest.fixture(scope="module")
def seed_out(tmp_path_factory):
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("seed") / "out"
    result = run_cli("run", str(SEED), "-o", str(out))
    return result, out


def test_seed_run_prints_the_summary_and_writes_three_files(seed_out) -> None:
    result, out = seed_out
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    plan = json.loads((out / "plan.json").read_text())
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == f"Scheduled {len(plan['operations'])} sync operations over {plan['kpis']['passes_used']} passes"
    )
    assert "Total data: 500 MB of 500 MB requested" in lines
    assert f"Bandwidth utilization: {plan['kpis']['utilization']:.1%} of the passes used" in lines
    assert f"Average wait time: {plan['kpis']['avg_wait_minutes']:.1f} min" in lines
    assert lines[-1] == f"Report: {out / 'report.html'}"
    assert "warning" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["plan.json", "plan.nc", "report.html"]


def test_seed_run_prints_the_strategy_and_the_global_bound(seed_out) -> None:
    result, out = seed_out
    solver = json.loads((out / "plan.json").read_text())["solver"]
    lines = result.stdout.splitlines()
    why = solver["strategy_reason"]
    assert why and not any(note.startswith("strategy ") for note in solver["notes"])
    assert f"Solver: milp {solver['status']}" in lines[5]
    assert lines[5].endswith(f"; strategy {solver['strategy']} ({why})")
    assert solver["objective"] >= solver["bound"] - 1e-9
    assert lines[6] == (
        f"Global bound: objective {solver['objective']:.6g} >= bound {solver['bound']:.6g}, "
        f"gap {solver['gap_global']:.2%} (docs/optimisation-scale.md)"
    )


def test_seed_plan_is_feasible_complete_and_reloadable(seed_out) -> None:
    _, out = seed_out
    data = json.loads((out / "plan.json").read_text())
    assert check_plan(data) == []
    model = load_model(SEED)
    assert [s["id"] for s in data["syncs"]] == [s.id for s in model.syncs]
    assert {s["status"] for s in data["syncs"]} == {"complete"}
    assert data["solver"]["method"] == "milp"
    assert data["model"]["text"] == SEED.read_text()
    assert Plan.from_json(out / "plan.json").to_dict() == data
    # the element sets recorded are the ones the model binds
    assert [n["tle"] for n in data["nodes"]] == [
        [n.orbit.line1, n.orbit.line2] for n in model.nodes
    ]


def test_seed_plan_nc_holds_the_bytes_of_the_operations(seed_out) -> None:
    _, out = seed_out
    data = json.loads((out / "plan.json").read_text())
    with xr.open_dataset(out / "plan.nc", engine="h5netcdf") as ds:
        assert ds["bytes"].dims == ("node", "station", "time")
        assert float(ds["bytes"].sum()) == pytest.approx(
            sum(o["bytes"] for o in data["operations"]), rel=1e-9
        )
        for o in data["operations"]:
            t0 = pd.Timestamp(o["start"]).tz_convert(None).floor("60s")
            t1 = pd.Timestamp(o["end"]).tz_convert(None)
            sent = float(
                ds["bytes"].sel(node=o["node"], station=o["station"], time=slice(t0, t1)).sum()
            )
            assert sent >= o["bytes"] * (1 - 1e-9)


def test_seed_report_is_self_contained_and_lists_every_sync(seed_out) -> None:
    _, out = seed_out
    html = (out / "report.html").read_text()
    assert "<script src=" not in html and '<link rel="stylesheet" href=' not in html
    for sync_id in ("grad-1", "grad-2", "grad-3", "grad-4", "grad-5"):
        assert sync_id in html


def test_default_output_directory_is_reports_model_name(cli, tmp_path: Path) -> None:
    result = cli("run", str(SEED), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "reports" / "seed-sync" / "plan.json").exists()
    assert result.stdout.splitlines()[-1] == "Report: reports/seed-sync/report.html"


def overloaded_model(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """The overloaded model, ``late-b`` released after node b's last pass."""
    first = tmp_path / "probe.yaml"
    first.write_text(OVERLOADED.replace("RELEASE", "+1min"))
    windows = compute_geometry(load_model(first)).windows
    last_end = windows[windows["node"] == "b"]["end"].max()
    horizon_end = pd.Timestamp("2026-05-30T03:00:00Z")
    assert last_end < horizon_end - pd.Timedelta(minutes=2)
    release = last_end + (horizon_end - last_end) / 2
    model = tmp_path / "overloaded.yaml"
    model.write_text(OVERLOADED.replace("RELEASE", release.isoformat()))
    return model, windows


def test_infeasible_load_exits_0_with_warnings_and_reasons(cli, tmp_path: Path) -> None:
    model, windows = overloaded_model(tmp_path)
    result = cli("run", str(model), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert check_plan(data) == []
    syncs = {s["id"]: s for s in data["syncs"]}
    assert set(syncs) == {"crit-a", "bulk-a", "huge-b", "late-b"}

    # node b's whole capacity cannot carry 1 TB: the reason states it (single station: the
    # capacity is the sum of b's windows)
    cap_b = windows[windows["node"] == "b"]["capacity_bytes"].sum()
    huge = syncs["huge-b"]
    assert huge["status"] == "partial"
    limit = f"horizon too short: {cap_b / 1e6:,.1f} MB of capacity after release vs 1,000,000.0 MB requested"
    assert huge["reason"].startswith(limit)
    # whatever it got below its node's capacity is put down to the other syncs
    assert (huge["reason"] == limit) == (huge["delivered_bytes"] >= cap_b - 1)
    assert syncs["late-b"]["status"] == "unmet"
    assert syncs["late-b"]["reason"] == "no contact window after release"
    # critical data first: all 2 GB of crit-a fit in a's passes and are delivered
    assert syncs["crit-a"]["status"] == "complete"
    assert syncs["bulk-a"]["status"] in ("partial", "unmet") and syncs["bulk-a"]["reason"]

    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert "warning: 1 high sync(s) partial (huge-b): horizon too short" in "\n".join(warnings)
    assert any(
        w.startswith("warning: 1 normal sync(s) unmet (late-b): no contact window after release")
        for w in warnings
    )
    assert any(w.startswith("warning: 1 low sync(s) ") for w in warnings)
    assert data["kpis"]["unmet_count"] + data["kpis"]["partial_count"] == 3
    for s in data["syncs"]:  # a reason exactly when a sync is not complete on time
        on_time = s["status"] == "complete" and (
            s["deadline"] is None or parse_time(s["completed_at"]) <= parse_time(s["deadline"])
        )
        assert (s["reason"] is None) == on_time, s
    assert "Syncs: 1 complete" in result.stdout


def test_unwritable_output_directory_is_one_error_line(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = cli("run", str(SEED), "-o", str(blocker / "out"))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"error: cannot write the outputs to {blocker / 'out'}/: Not a directory"
    )
