"""``rsmodel simulate`` end to end, bad faults input (exit 2), and the seed 000 monitoring
examples run as written (import line and orbit binding aside)."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from tests.conftest import MODELS, assert_one_event_schema, run_cli

SEED_ORBITS = {
    f"orbital-{i}": {
        "elements": {"altitude_km": 550, "inclination_deg": 97.6, "raan_deg": 40.0 * i}
    }
    for i in (1, 2, 3)
}


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    proc = run_cli(
        "simulate",
        "models/seed_sync.yaml",
        "--faults",
        "models/seed_faults.yaml",
        "--seed",
        "4",
        "-o",
        str(out),
    )
    return proc, out


def test_simulate_writes_events_accounting_and_report(seed_run):
    proc, out = seed_run
    assert proc.returncode == 0, proc.stderr
    assert "complete" in proc.stdout
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert {"time", "type", "node", "station", "sync_id", "details"} <= set(events[0])
    assert_one_event_schema(events, ("node", "station", "sync_id"))
    kinds = {e["type"] for e in events}
    assert {
        "sync.started",
        "sync.progress",
        "sync.completed",
        "fault.station_outage",
        "fault.pass_dropout",
        "fault.node_fault",
        "fault.degraded_bandwidth",
        "sync.arrived",
        "replan.completed",
    } <= kinds
    acc = json.loads((out / "accounting.json").read_text())
    faults = yaml.safe_load((MODELS / "seed_faults.yaml").read_text())
    model = yaml.safe_load((MODELS / "seed_sync.yaml").read_text())
    ids = {s["id"] for s in model["syncs"]} | {a["sync"]["id"] for a in faults["arrivals"]}
    assert {r["id"] for r in acc["requests"]} == ids  # every request, arrivals included
    delivered = defaultdict(float)
    for e in events:
        if e["type"] == "sync.progress":
            delivered[e["sync_id"]] += e["details"]["bytes"]
    for r in acc["requests"]:
        assert r["status"] in ("complete", "failed")
        assert r["status"] == "complete" or r["reason"]
        assert r["delivered_bytes"] == pytest.approx(delivered[r["id"]], abs=1e-3)
        if r["status"] == "complete":
            assert r["delivered_bytes"] == pytest.approx(r["data_size_bytes"], abs=1.0)
    assert acc["violations"] == []
    # Svalbard is down for the first 6 h: nothing goes through it then.
    for e in events:
        if e["type"] == "sync.started" and e["station"] == "svalbard":
            assert e["time"] >= "2026-05-30T06:00:00"
    html = (out / "report.html").read_text()
    assert "fault.station_outage" in html and "<html" in html.lower()


@pytest.mark.parametrize(
    ("faults", "field", "expected"),
    [
        (
            {"station_outages": [{"station": "svalbrd", "start": "+1h", "end": "+2h"}]},
            "faults.station_outages[0].station",
            "unknown station 'svalbrd'",
        ),
        (
            {"node_faults": [{"node": "sat-9", "start": "+1h", "end": "+2h"}]},
            "faults.node_faults[0].node",
            "unknown node 'sat-9'",
        ),
        (
            {"station_outages": [{"station": "chile", "start": "+20h", "end": "+30h"}]},
            "faults.station_outages[0].end",
            "outside the horizon",
        ),
        (
            {"degraded_bandwidth": [{"factor": 0.5, "start": "+3h", "end": "+2h"}]},
            "faults.degraded_bandwidth[0].end",
            "must be after start",
        ),
        (
            {"pass_dropouts": [{"probability": 1.5}]},
            "faults.pass_dropouts[0].probability",
            "less than or equal to 1",
        ),
        (
            {"transfer_failure_rate": -0.1},
            "faults.transfer_failure_rate",
            "greater than or equal to 0",
        ),
        (
            {"pass_dropouts": [{"window": "w99999"}]},
            "faults.pass_dropouts[0].window",
            "no access window",
        ),
        (
            {
                "arrivals": [
                    {"time": "+1h", "sync": {"id": "grad-1", "node": "sat-1", "data_size": 1e9}}
                ]
            },
            "faults.arrivals[0].sync.id",
            "duplicate sync id",
        ),
        ({"station_outage": []}, "faults.station_outage", "did you mean 'station_outages'"),
    ],
)
def test_bad_faults_file_exits_2_naming_file_and_field(tmp_path, faults, field, expected):
    path = tmp_path / "bad_faults.yaml"
    path.write_text(yaml.safe_dump(faults))
    proc = run_cli(
        "simulate", "models/seed_sync.yaml", "--faults", str(path), "-o", str(tmp_path / "out")
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "bad_faults.yaml" in proc.stderr and field in proc.stderr and expected in proc.stderr
    assert not (tmp_path / "out").exists()


def test_faults_section_in_model_is_checked_by_validate(tmp_path):
    model = yaml.safe_load((MODELS / "seed_sync.yaml").read_text())
    model["faults"] = {
        "station_outages": [{"station": "svalbard", "start": "+1h", "end": "+2h"}],
        "node_faults": [{"node": "sat-7", "start": "+1h", "end": "+2h"}],
    }
    for n in model["nodes"]:
        n["tle"]["file"] = str((MODELS / n["tle"]["file"]).resolve())
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2
    assert (
        "m.yaml:" in proc.stderr
        and "faults.node_faults[0].node: unknown node 'sat-7'" in proc.stderr
    )


# --------------------------------------------------------------------------- seed 000 monitoring
SEED_START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def seed_scheduler():
    """The seed's 'Ground Station Configuration' and a critical sync (orbits bound explicitly)."""
    from rsmodel import GroundStation, SyncScheduler

    stations = [
        GroundStation(name="svalbard", lat=78.2, lon=15.6, bandwidth=1e9, elevation_min=10),
        GroundStation(name="singapore", lat=1.3, lon=103.8, bandwidth=500e6),
        GroundStation(name="santiago", lat=-33.4, lon=-70.6, bandwidth=500e6),
    ]
    scheduler = SyncScheduler(
        api_key="rs_...",
        ground_stations=stations,
        orbital_nodes=["orbital-1", "orbital-2", "orbital-3"],
        orbits=SEED_ORBITS,
        start=SEED_START,  # fixed: whether a pass falls in the next 2 h depends on the start
    )
    sync = scheduler.schedule_sync(
        node="orbital-1",
        data_size=50e6,
        priority="critical",
        deadline=SEED_START + timedelta(hours=2),
        data_type="gradients",
    )
    return scheduler, sync.id


def test_seed_monitoring_example_runs_as_written():
    warnings.filterwarnings("ignore", module="skyfield_data")
    scheduler, sync_id = seed_scheduler()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        # --- seed 000 "Monitoring", verbatim ---
        # Get current sync status
        status = scheduler.get_status()
        print(f"Active syncs: {status.active_count}")
        print(f"Queued: {status.queued_count}")
        print(f"Completed (24h): {status.completed_24h}")
        print(f"Failed (24h): {status.failed_24h}")
        # Monitor specific operation
        sync_status = scheduler.get_sync_status(sync_id)
        print(f"Progress: {sync_status.progress:.1%}")
        print(f"Bytes transferred: {sync_status.bytes_transferred}")
        print(f"Current rate: {sync_status.rate_mbps:.1f} Mbps")

        # Set up callbacks
        @scheduler.on_sync_complete
        def handle_complete(sync):
            print(f"Sync {sync.id} completed: {sync.data_size / 1e6:.1f} MB")

        @scheduler.on_sync_failed
        def handle_failed(sync, error):
            print(f"Sync {sync.id} failed: {error}")
            # Auto-reschedule critical syncs
            if sync.priority == "critical":
                scheduler.reschedule(sync.id)

        # --- end of the seed's text ---
        scheduler.run_until("+2h")
    text = out.getvalue()
    assert "Active syncs: 0\nQueued: 1\nCompleted (24h): 0\nFailed (24h): 0\nProgress: 0.0%" in text
    assert f"Sync {sync_id} completed: 50.0 MB" in text
    final = scheduler.get_sync_status(sync_id)
    assert final.progress == pytest.approx(1.0) and final.bytes_transferred == pytest.approx(50e6)
    assert scheduler.get_status().completed_24h == 1


def test_failure_callback_reschedules_critical_sync_mid_transfer():
    """The seed's callback pattern: a critical transfer breaks, the callback reschedules it, and it
    completes later from the byte offset it had reached. Requeueing is left to the callback."""
    warnings.filterwarnings("ignore", module="skyfield_data")
    from rsmodel import GroundStation, SyncScheduler

    stations = [GroundStation(name="svalbard", lat=78.2, lon=15.6, bandwidth=1e9)]
    scheduler = SyncScheduler(
        ground_stations=stations,
        orbital_nodes=["orbital-1"],
        orbits=SEED_ORBITS,
        start="2026-05-30T00:00:00Z",
    )
    big = scheduler.schedule_sync(node="orbital-1", data_size=4e10, priority="critical")
    plan = scheduler.optimize(horizon_hours=24)
    scheduler.apply(plan)
    first = plan.operations[0]
    mid = first.time + (first.end - first.time) / 2
    outage = {
        "station_outages": [
            {"station": "svalbard", "start": mid, "end": mid + timedelta(minutes=1)}
        ]
    }
    scheduler.start_simulation(outage)
    scheduler.simulator.requeue = frozenset()  # failed syncs wait for reschedule()
    calls = []

    @scheduler.on_sync_failed
    def handle_failed(sync, error):
        calls.append((sync.id, error, sync.delivered_bytes))
        if sync.priority == "critical":
            assert scheduler.reschedule(sync.id)

    scheduler.run_until(mid + timedelta(seconds=1))
    assert calls and calls[0][0] == big.id and "outage" in calls[0][1]
    assert 0 < calls[0][2] < 4e10
    assert scheduler.get_sync_status(big.id).status == "queued"
    scheduler.run_until("+24h")
    status = scheduler.get_sync_status(big.id)
    assert status.status == "completed" and status.bytes_transferred == pytest.approx(4e10)


def test_compute_steps_replayed_and_deferred_by_a_node_fault(tmp_path):
    """Planned seed 002 pass-step events are replayed; a node fault defers the segments it hits."""
    model = yaml.safe_load((MODELS / "seed_sync.yaml").read_text())
    for n in model["nodes"]:
        n["tle"]["file"] = str((MODELS / n["tle"]["file"]).resolve())
    model["jobs"] = [
        {
            "name": "collect-1",
            "node": "sat-1",
            "steps": [
                {
                    "id": "collect",
                    "name": "collect",
                    "type": "pass",
                    "location": "onboard",
                    "merge_strategy": "concat",
                    "min_pass_duration_s": 120,
                    "compute_s": 60,
                    "output_mb": 200,
                }
            ],
            "policy": {"objective": "max_reliability", "deadline_orbits": 6},
        }
    ]
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    plain = run_cli(
        "simulate", str(tmp_path / "m.yaml"), "--replan", "greedy", "-o", str(tmp_path / "a")
    )
    assert plain.returncode == 0, plain.stderr
    planned = [json.loads(x) for x in (tmp_path / "a" / "events.jsonl").read_text().splitlines()]
    starts = [e for e in planned if e["type"] == "pass_step.segment_started"]
    assert len(starts) >= 3 and all(e["node"] == "sat-1" for e in starts)
    # sat-1 fails 10 s into the first segment and stays down until 10 s into the second one
    t0, t1 = (datetime.fromisoformat(starts[k]["time"].replace("Z", "+00:00")) for k in (0, 1))
    faults = {
        "node_faults": [
            {
                "node": "sat-1",
                "start": (t0 + timedelta(seconds=10)).isoformat(),
                "end": (t1 + timedelta(seconds=10)).isoformat(),
            }
        ]
    }
    (tmp_path / "f.yaml").write_text(yaml.safe_dump(faults))
    proc = run_cli(
        "simulate",
        str(tmp_path / "m.yaml"),
        "--faults",
        str(tmp_path / "f.yaml"),
        "--replan",
        "greedy",
        "-o",
        str(tmp_path / "b"),
    )
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(x) for x in (tmp_path / "b" / "events.jsonl").read_text().splitlines()]
    deferred = [e for e in events if e["type"] == "pass_step.deferred"]
    assert [e["time"] for e in deferred] == [
        (t0 + timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        starts[1]["time"],
    ]
    done = [e["details"]["segment"] for e in events if e["type"] == "pass_step.segment_completed"]
    planned_done = [
        e["details"]["segment"] for e in planned if e["type"] == "pass_step.segment_completed"
    ]
    assert done == [s for s in planned_done if s not in (0, 1)]


def test_sync_queued_during_the_simulation_arrives_and_completes():
    """schedule_sync() while the clock runs: the new sync arrives at the simulated now."""
    warnings.filterwarnings("ignore", module="skyfield_data")
    from rsmodel import GroundStation, SyncScheduler

    stations = [GroundStation(name="svalbard", lat=78.2, lon=15.6, bandwidth=1e9)]
    scheduler = SyncScheduler(
        ground_stations=stations,
        orbital_nodes=["orbital-1"],
        orbits=SEED_ORBITS,
        start="2026-05-30T00:00:00Z",
    )
    first = scheduler.schedule_sync(node="orbital-1", data_size=1e9, priority="normal")
    scheduler.run_until("+3h")
    before = scheduler.get_status().queued_count
    late = scheduler.schedule_sync(node="orbital-1", data_size=2e9, priority="critical")
    assert scheduler.get_sync_status(late.id).status == "queued"
    assert scheduler.get_status().queued_count == before + 1
    scheduler.run_until("+24h")
    events = [e for e in scheduler.simulator.events if e["sync_id"] == late.id]
    assert events[0]["type"] == "sync.arrived" and events[0]["time"] == "2026-05-30T03:00:00Z"
    assert all(e["time"] >= "2026-05-30T03:00:00Z" for e in events)
    assert scheduler.get_sync_status(late.id).status == "completed"
    assert scheduler.get_sync_status(first.id).status == "completed"
