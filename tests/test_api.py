"""The seed 000 Python API: the seed's examples run as written (import line and orbit binding
aside), results agree with the model-file route and with independent references."""

from __future__ import annotations

import contextlib
import io
import warnings
from datetime import datetime, timedelta

import pytest
from skyfield.api import EarthSatellite, load, wgs84

from rsmodel.errors import ModelError
from rsmodel.model.loader import load_model
from rsmodel.pipeline import run
from rsmodel.plan.check import check_plan
from tests.conftest import DATA, MODELS

# Orbit binding for the seed's node names: explicit mean elements (epoch = horizon start), three
# sun-synchronous planes 40 deg apart. The seed text leaves orbits implicit; rsmodel requires them.
SEED_ORBITS = {
    f"orbital-{i}": {
        "elements": {"altitude_km": 550, "inclination_deg": 97.6, "raan_deg": 40.0 * i}
    }
    for i in (1, 2, 3)
}


def seed_setup():
    """'Ground Station Configuration' from the seed, verbatim but for ``orbits=``."""
    from rsmodel import GroundStation, SyncScheduler

    # Define your ground stations
    stations = [
        GroundStation(
            name="svalbard",
            lat=78.2,
            lon=15.6,
            bandwidth=1e9,  # 1 Gbps
            elevation_min=10,  # Minimum elevation angle
        ),
        GroundStation(
            name="singapore",
            lat=1.3,
            lon=103.8,
            bandwidth=500e6,  # 500 Mbps
        ),
        GroundStation(name="santiago", lat=-33.4, lon=-70.6, bandwidth=500e6),
    ]
    # Initialize scheduler
    scheduler = SyncScheduler(
        api_key="rs_...",
        ground_stations=stations,
        orbital_nodes=["orbital-1", "orbital-2", "orbital-3"],
        orbits=SEED_ORBITS,
    )
    return scheduler


@pytest.fixture(scope="module")
def seed_run():
    """Run every seed example in order (as the seed page does), capturing what it prints."""
    out = io.StringIO()
    scheduler = seed_setup()
    with contextlib.redirect_stdout(out):
        # --- Getting Sync Windows
        windows = scheduler.get_windows(hours=24)
        for window in windows:
            print(f"Node: {window.orbital_node}")
            print(f"Station: {window.ground_station}")
            print(f"Start: {window.start}")
            print(f"Duration: {window.duration_seconds}s")
            print(f"Max elevation: {window.max_elevation}°")
            print(f"Bandwidth: {window.bandwidth / 1e6:.0f} Mbps")
            print(f"Capacity: {window.capacity_mb:.0f} MB")
            print()
        orbital_1_windows = scheduler.get_windows(hours=24, node="orbital-1")
        svalbard_windows = scheduler.get_windows(hours=24, station="svalbard")
        # --- Scheduling Sync Operations
        sync = scheduler.schedule_sync(
            node="orbital-1",
            data_size=50e6,  # 50 MB
            priority="critical",  # "critical", "high", "normal", "low"
            deadline=datetime.now() + timedelta(hours=2),
            data_type="gradients",
        )
        print(f"Sync ID: {sync.id}")
        print(f"Scheduled window: {sync.window.start}")
        print(f"Estimated completion: {sync.estimated_completion}")
        syncs = scheduler.schedule_batch(
            [
                {"node": "orbital-1", "data_size": 50e6, "priority": "critical"},
                {"node": "orbital-2", "data_size": 30e6, "priority": "high"},
                {"node": "orbital-3", "data_size": 100e6, "priority": "normal"},
            ]
        )
        # --- Priority Queue
        queue = scheduler.get_queue("orbital-1")
        for item in queue.items:
            print(f"ID: {item.id}")
            print(f"Priority: {item.priority}")
            print(f"Size: {item.data_size / 1e6:.1f} MB")
            print(f"Deadline: {item.deadline}")
            print(f"Status: {item.status}")
            print()
        print(f"Total queued: {queue.total_size / 1e6:.1f} MB")
        print(f"Critical items: {queue.critical_count}")
        print(f"Estimated clear time: {queue.estimated_clear_time}")
        # --- Optimization
        plan = scheduler.optimize(
            horizon_hours=24,
            objectives={
                "minimize_latency": 0.5,  # Weight for latency
                "maximize_throughput": 0.3,  # Weight for throughput
                "balance_load": 0.2,  # Weight for load balancing
            },
        )
        print(f"Scheduled {len(plan.operations)} sync operations")
        print(f"Total data: {plan.total_data_mb:.0f} MB")
        print(f"Bandwidth utilization: {plan.utilization:.1%}")
        print(f"Average wait time: {plan.avg_wait_minutes:.1f} min")
        for op in plan.operations:
            print(f"{op.time}: {op.node} → {op.station} ({op.data_mb:.0f} MB)")
        scheduler.apply(plan)
    return dict(locals())


def test_seed_windows_are_real_passes(seed_run) -> None:
    """Windows agree with skyfield's own rise/set search for the elements actually used."""
    windows, scheduler = seed_run["windows"], seed_run["scheduler"]
    assert len(windows) > 20  # three LEO nodes x three stations x 24 h
    assert seed_run["out"].getvalue().count("Node: ") == len(windows)
    assert all(
        w.start >= scheduler.start and w.end <= scheduler.start + timedelta(hours=24)
        for w in windows
    )
    for w in windows:
        assert w.capacity_mb == pytest.approx(w.bandwidth / 8 * w.duration_seconds / 1e6, rel=1e-9)
    assert {w.orbital_node for w in seed_run["orbital_1_windows"]} == {"orbital-1"}
    assert {w.ground_station for w in seed_run["svalbard_windows"]} == {"svalbard"}
    assert len(seed_run["orbital_1_windows"]) == sum(w.orbital_node == "orbital-1" for w in windows)

    plan = seed_run["plan"].plan
    line1, line2 = next(n["tle"] for n in plan.nodes if n["name"] == "orbital-1")
    ts = load.timescale(builtin=True)
    sat = EarthSatellite(line1, line2, ts=ts)
    site = wgs84.latlon(78.2, 15.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, events = sat.find_events(
            site,
            ts.from_datetime(scheduler.start),
            ts.from_datetime(scheduler.start + timedelta(hours=24)),
            altitude_degrees=10,
        )
    rises = [ti.utc_datetime() for ti, e in zip(t, events, strict=True) if e == 0]
    ours = [
        w
        for w in seed_run["orbital_1_windows"]
        if w.ground_station == "svalbard" and w.start > scheduler.start
    ]
    assert len(ours) == len(rises)
    for w, rise in zip(ours, rises, strict=True):
        assert abs((w.start - rise).total_seconds()) < 1.0  # skyfield's search tolerance is ~0.5 s


def test_seed_sync_estimate_and_queue(seed_run) -> None:
    sync, scheduler = seed_run["sync"], seed_run["scheduler"]
    assert sync.id and sync.window is not None
    assert sync.window.orbital_node == "orbital-1"
    assert sync.window in seed_run["orbital_1_windows"]
    assert sync.window.start <= sync.estimated_completion <= sync.window.end
    assert sync.deadline.tzinfo is not None  # naive local datetime.now() converted to UTC
    assert len(seed_run["syncs"]) == 3 and len({s.id for s in scheduler.queue}) == 4

    queue = seed_run["queue"]
    assert [i.priority for i in queue.items] == ["critical", "critical"]
    assert queue.items[0].deadline is not None  # earliest deadline first within a class
    assert queue.total_size == pytest.approx(100e6)
    assert queue.critical_count == 2
    assert queue.estimated_clear_time == max(i.estimated_completion for i in queue.items)
    printed = seed_run["out"].getvalue()
    assert "Total queued: 100.0 MB" in printed and "Critical items: 2" in printed


def test_seed_optimize_plan_is_feasible_and_delivers_everything(seed_run) -> None:
    plan = seed_run["plan"]
    assert check_plan(plan.plan.to_dict()) == []
    assert plan.total_data_mb == pytest.approx(230.0)  # 50 + 50 + 30 + 100 MB: ample capacity
    assert plan.total_data_mb == pytest.approx(sum(op.data_mb for op in plan.operations))
    assert {s["status"] for s in plan.plan.syncs} == {"complete"}
    assert 0 < plan.utilization <= 1
    assert plan.avg_wait_minutes > 0
    printed = seed_run["out"].getvalue()
    assert f"Scheduled {len(plan.operations)} sync operations" in printed
    assert "Total data: 230 MB" in printed
    # apply(): the queue takes the plan's outcome
    assert {s.status for s in seed_run["scheduler"].queue} == {"scheduled"}


def test_seed_24_hour_example_with_real_satellites(tmp_path) -> None:
    """'Example: 24-Hour Sync Plan', nodes bound to the TLEs of models/seed_sync.yaml: the API
    and ``rsmodel run`` of that model file build the same scenario and the same plan."""
    from rsmodel import GroundStation, SyncScheduler

    norad = {"sat-1": 43013, "sat-2": 54234, "sat-3": 37849, "sat-4": 38771, "sat-5": 43689}
    orbits = {
        n: {"tle": {"file": str(DATA / "leo_snapshot.tle"), "norad": k}} for n, k in norad.items()
    }
    model = load_model(MODELS / "seed_sync.yaml")
    # Setup (the seed's stations at the catalog coordinates the model file uses)
    site = {s.name: s for s in model.stations}
    scheduler = SyncScheduler(
        api_key="rs_...",
        ground_stations=[
            GroundStation(
                "svalbard",
                lat=site["svalbard"].lat_deg,
                lon=site["svalbard"].lon_deg,
                bandwidth=1e9,
                alt=site["svalbard"].alt_m,
            ),
            GroundStation(
                "singapore",
                lat=site["singapore"].lat_deg,
                lon=site["singapore"].lon_deg,
                bandwidth=500e6,
                alt=site["singapore"].alt_m,
            ),
            GroundStation(
                "chile",
                lat=site["chile"].lat_deg,
                lon=site["chile"].lon_deg,
                bandwidth=500e6,
                alt=site["chile"].alt_m,
            ),
        ],
        orbital_nodes=["sat-1", "sat-2", "sat-3", "sat-4", "sat-5"],
        orbits=orbits,
        start=model.start,
        solver={"method": "milp", "time_limit_s": 20, "mip_gap": 0.001},
    )
    # Queue gradient syncs for all nodes
    for i in range(1, 6):
        scheduler.schedule_sync(
            node=f"sat-{i}",
            data_size=100e6,  # 100 MB gradients per node
            priority="high",
            data_type="gradients",
        )
    # Optimize
    plan = scheduler.optimize(horizon_hours=24)

    assert check_plan(plan.plan.to_dict()) == []
    assert plan.total_data_mb == pytest.approx(500.0)
    reference = run(model).plan
    assert [
        (o["node"], o["station"], o["window_id"], o["start"]) for o in plan.plan.operations
    ] == [(o["node"], o["station"], o["window_id"], o["start"]) for o in reference.operations]
    assert plan.avg_wait_minutes == pytest.approx(reference.kpis["avg_wait_minutes"])
    path = plan.save(tmp_path)["plan.json"]
    assert path.exists()


def test_unbound_node_name_is_an_error_not_an_invented_orbit() -> None:
    from rsmodel import GroundStation, SyncScheduler

    with pytest.raises(
        ModelError,
        match=r"SyncScheduler: orbital_nodes\[1\]: node 'orbital-2' has no orbit; bind it",
    ):
        SyncScheduler(
            ground_stations=[GroundStation("svalbard", lat=78.2, lon=15.6, bandwidth=1e9)],
            orbital_nodes=["orbital-1", "orbital-2"],
            orbits={"orbital-1": SEED_ORBITS["orbital-1"]},
        )


def test_bad_requests_name_the_field_and_leave_the_queue_unchanged() -> None:
    scheduler = seed_setup()
    cases = [
        (dict(node="orbital-9", data_size=1e6), r"syncs\[0\]\.node: unknown node 'orbital-9'"),
        (
            dict(node="orbital-1", data_size=0),
            r"syncs\[0\]\.data_size: Input should be greater than 0",
        ),
        (
            dict(node="orbital-1", data_size=1e6, priority="urgent"),
            r"syncs\[0\]\.priority: Input should be 'critical'",
        ),
        (
            dict(node="orbital-1", data_size=1e6, deadline=scheduler.start - timedelta(hours=1)),
            r"syncs\[0\]\.deadline: deadline .* is not after the horizon start",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(ModelError, match=r"^SyncScheduler: " + message):
            scheduler.schedule_sync(**kwargs)
    assert scheduler.queue == []
    scheduler.schedule_sync(node="orbital-1", data_size=1e6)
    with pytest.raises(
        ModelError, match=r"objectives\.minimize_cost: unknown field 'minimize_cost'"
    ):
        scheduler.optimize(objectives={"minimize_cost": 1.0})
    with pytest.raises(
        ModelError, match=r"objectives: at least one objective weight must be positive"
    ):
        scheduler.optimize(objectives={"minimize_latency": 0})
    with pytest.raises(
        ModelError, match=r"objectives\.balance_load: Input should be greater than or equal to 0"
    ):
        scheduler.optimize(objectives={"balance_load": -1})


def test_apply_rejects_a_plan_older_than_the_queue() -> None:
    scheduler = seed_setup()
    scheduler.schedule_sync(node="orbital-1", data_size=1e6)
    plan = scheduler.optimize(horizon_hours=6)
    scheduler.schedule_sync(node="orbital-2", data_size=1e6)
    with pytest.raises(ModelError, match=r"the queue changed since this plan was made"):
        scheduler.apply(plan)


def test_tle_file_binds_node_names_to_their_element_sets() -> None:
    from rsmodel import GroundStation, SyncScheduler

    scheduler = SyncScheduler(
        ground_stations=[GroundStation("svalbard", lat=78.2, lon=15.6, bandwidth=1e9)],
        orbital_nodes=["NOAA 20 (JPSS-1)"],
        tle_file=DATA / "leo_snapshot.tle",
        start="2026-05-30T00:00:00Z",
    )
    windows = scheduler.get_windows(hours=6)
    assert windows and {w.orbital_node for w in windows} == {"NOAA 20 (JPSS-1)"}
    with pytest.raises(
        ModelError,
        match=r"^SyncScheduler: nodes\[0\]\.tle\.satellite: no element set for 'orbital-1' in .*leo_snapshot.tle",
    ):
        SyncScheduler(
            ground_stations=[GroundStation("svalbard", lat=78.2, lon=15.6, bandwidth=1e9)],
            orbital_nodes=["orbital-1"],
            tle_file=DATA / "leo_snapshot.tle",
        )


def test_objective_weights_reach_the_model_and_omitted_names_weigh_zero() -> None:
    scheduler = seed_setup()
    scheduler.schedule_sync(node="orbital-1", data_size=1e6)
    plan = scheduler.optimize(horizon_hours=6, objectives={"maximize_throughput": 1.0})
    weights = plan.result.scenario.model.objectives
    assert (weights.minimize_latency, weights.maximize_throughput, weights.balance_load) == (
        0,
        1,
        0,
    )
    default = scheduler.optimize(horizon_hours=6).result.scenario.model.objectives
    assert (default.minimize_latency, default.maximize_throughput, default.balance_load) == (
        0.5,
        0.3,
        0.2,
    )


def test_api_plan_records_a_model_file_that_reproduces_it(seed_run, tmp_path) -> None:
    """plan.json's model text is the model the API built: loading it gives the same scenario."""
    from rsmodel.model.loader import load_model_text

    plan = seed_run["plan"].plan
    assert plan.model["file"] == "SyncScheduler"
    scenario = load_model_text(plan.model["text"], base_dir=tmp_path)
    assert [(s.id, s.node, s.data_size_bytes, s.priority, s.deadline) for s in scenario.syncs] == [
        (s.id, s.node, s.data_size, s.priority, s.deadline) for s in seed_run["scheduler"].queue
    ]
    assert [[n.orbit.line1, n.orbit.line2] for n in scenario.nodes] == [
        n["tle"] for n in plan.nodes
    ]
