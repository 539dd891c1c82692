"""The simulator on models with compute jobs, and exact byte accounting through the seed API."""

from __future__ import annotations

import json
from pathlib import Path

from rsmodel import GroundStation, SyncScheduler
from tests.conftest import MODELS


def test_simulate_model_with_job_downlinks_accounts_every_sync(cli, tmp_path: Path) -> None:
    result = cli("simulate", str(MODELS / "compute_mixed.yaml"), "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    accounting = json.loads((tmp_path / "accounting.json").read_text())
    plan = json.loads((tmp_path / "plan.json").read_text())
    sync_ids = {s["id"] for s in plan["syncs"]}
    assert {r["id"] for r in accounting["requests"]} >= sync_ids
    for request in accounting["requests"]:
        assert request["status"] in {"complete", "failed"}
        assert request["status"] == "complete" or request["reason"]


def test_completed_sync_reports_exactly_its_size() -> None:
    scheduler = SyncScheduler(
        ground_stations=[GroundStation("svalbard", lat=78.2, lon=15.6, bandwidth=1e9)],
        orbital_nodes=["sat-1"],
        orbits={"sat-1": {"tle": {"norad": 43013}}},
        start="2026-05-30T00:00:00Z",
    )
    sync = scheduler.schedule_sync(
        node="sat-1", data_size=50e6, priority="critical", deadline="+2h"
    )
    scheduler.apply(scheduler.optimize(horizon_hours=24))
    status = scheduler.run_until("2026-05-30T06:00:00Z")
    assert status.completed_24h == 1 and status.failed_24h == 0
    sync_status = scheduler.get_sync_status(sync.id)
    assert sync_status.bytes_transferred == 50e6
    assert sync_status.progress == 1.0
