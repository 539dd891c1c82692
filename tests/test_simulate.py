"""Simulation: nothing lost or duplicated across faults and retries; recovery delivers every
critical sync that is still physically deliverable; preemption follows seed 000's table.

References are independent of the simulator: the plan checker (rsmodel.plan.check) on the
executed transfers, the event log, and capacities computed straight from the windows table.
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from datetime import timedelta

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.model.scenario import SyncRequest
from rsmodel.plan.check import check_plan
from rsmodel.simulate import Simulator
from rsmodel.simulate.accounting import base_plan, executed_plan
from rsmodel.simulate.faults import ArrivalAt, Degradation, FaultPlan, Outage
from rsmodel.simulate.recovery import RecoveryPlanner
from rsmodel.simulate.residual import dispatch
from rsmodel.timeutil import iso
from tests.conftest import MODELS, assert_exact_timeline

HOUR = 3600.0


@pytest.fixture(scope="module")
def seed_model() -> dict:
    return yaml.safe_load((MODELS / "seed_sync.yaml").read_text())


@pytest.fixture(scope="module")
def seed(seed_model):
    """The seed scenario and its geometry (computed once)."""
    warnings.filterwarnings("ignore", module="skyfield_data")
    scenario = load_model_dict(seed_model, base_dir=MODELS)
    return scenario, compute_geometry(scenario)


def variant(seed_model: dict, syncs: list[dict]) -> object:
    """The seed model with other syncs (same stations, nodes and horizon)."""
    data = copy.deepcopy(seed_model)
    data["syncs"] = syncs
    return load_model_dict(data, base_dir=MODELS)


def assert_nothing_lost_or_duplicated(sim: Simulator, windows) -> None:
    """Every request final (failed ones with a reason); bytes add up three independent ways."""
    for state in sim.syncs.values():
        assert state.status in ("completed", "failed"), state
        if state.status == "failed":
            assert state.reason
    # The event log (what a user sees) adds up to the delivered bytes, per request.
    from_events: dict[str, float] = defaultdict(float)
    for e in sim.events:
        if e["type"] == "sync.progress":
            from_events[e["sync_id"]] += e["details"]["bytes"]
    for state in sim.syncs.values():
        assert from_events[state.id] == pytest.approx(state.delivered_bytes, abs=1e-3)
        assert state.delivered_bytes <= state.data_size + 1e-3
        if state.status == "completed":
            assert state.delivered_bytes == pytest.approx(state.data_size, abs=1.0)
    # The independent checker: the executed transfers fit in their windows and links (at most
    # the link rate: degraded links run slower), never overlap per link or node, one station per
    # node, antennas respected, bytes conserved, statuses consistent.
    problems = check_plan(executed_plan(sim, base_plan(sim.scenario, windows)), executed=True)
    assert [p for p in problems if not p.startswith("priority")] == []


def assert_plan_in_force_valid(sim: Simulator, windows) -> None:
    """Executed past + running + planned transfers: feasible, no request booked beyond its size."""
    plan = executed_plan(sim, base_plan(sim.scenario, windows), with_planned=True)
    assert [p for p in check_plan(plan, executed=True) if not p.startswith("priority")] == []
    assert_exact_timeline(plan, executed=True)


def assert_resumed_from_offset(sim: Simulator) -> None:
    """Each transfer of a request starts at the byte offset already on the ground."""
    down: dict[str, float] = defaultdict(float)
    for e in sim.events:
        if e["type"] == "sync.started":
            assert e["details"]["offset_bytes"] == pytest.approx(down[e["sync_id"]], abs=1e-3)
        elif e["type"] == "sync.progress":
            down[e["sync_id"]] += e["details"]["bytes"]


def assert_no_transfer_while_down(sim: Simulator, faults: FaultPlan) -> None:
    """No byte moves through a station in outage, from a faulted node, or in a lost pass."""
    lost = {e["details"]["window_id"] for e in sim.events if e["type"] == "fault.pass_dropout"}
    for seg in sim.ledger:
        if seg.bytes <= 1e-3:
            continue
        assert seg.window_id not in lost
        for o in faults.station_outages:
            if o.name == seg.station:
                assert seg.end_s <= o.start_s + 1e-6 or seg.start_s >= o.end_s - 1e-6
        for o in faults.node_faults:
            if o.name == seg.node:
                assert seg.end_s <= o.start_s + 1e-6 or seg.start_s >= o.end_s - 1e-6


# --------------------------------------------------------------------------- invariants
fault_plans = st.builds(
    lambda outages, node_faults, degr, p_drop, p_fail, arrivals: (
        outages,
        node_faults,
        degr,
        p_drop,
        p_fail,
        arrivals,
    ),
    st.lists(
        st.tuples(
            st.sampled_from(["svalbard", "singapore", "chile"]), st.floats(0, 22), st.floats(0.1, 6)
        ),
        max_size=3,
    ),
    st.lists(
        st.tuples(
            st.sampled_from([f"sat-{i}" for i in range(1, 6)]), st.floats(0, 22), st.floats(0.1, 4)
        ),
        max_size=2,
    ),
    st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0, 22), st.floats(0.1, 6)), max_size=2),
    st.floats(0, 0.5),
    st.floats(0, 0.9),
    st.lists(
        st.tuples(
            st.sampled_from(["critical", "high", "normal", "low"]),
            st.sampled_from([f"sat-{i}" for i in range(1, 6)]),
            st.floats(0, 20),
            st.floats(1e9, 6e10),
        ),
        max_size=3,
    ),
)


def build_faults(scenario, drawn) -> FaultPlan:
    outages, node_faults, degr, p_drop, p_fail, arrivals = drawn
    end = scenario.duration_s
    iv = lambda a, d: (a * HOUR, min(end, (a + d) * HOUR))  # noqa: E731
    reqs = [
        ArrivalAt(
            at_h * HOUR,
            SyncRequest(f"arr-{i}", node, size, prio, scenario.start + timedelta(hours=at_h), None),
        )
        for i, (prio, node, at_h, size) in enumerate(arrivals)
    ]
    return FaultPlan(
        station_outages=[Outage(s, *iv(a, d)) for s, a, d in outages],
        node_faults=[Outage(n, *iv(a, d)) for n, a, d in node_faults],
        degradations=[Degradation(f, *iv(a, d), None) for f, a, d in degr],
        dropout_probability=p_drop,
        transfer_failure_rate=p_fail,
        arrivals=reqs,
    )


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=fault_plans, rng_seed=st.integers(0, 2**31 - 1))
def test_random_faults_lose_and_duplicate_nothing(seed, drawn, rng_seed):
    scenario, geo = seed
    faults = build_faults(scenario, drawn)
    sim = Simulator(scenario, geo.windows, faults=faults, seed=rng_seed, planner=dispatch)
    for t_h in (3, 9, 15):  # the plan in force (past + running + planned) is valid at any time
        sim.run_until(t_h * HOUR)
        assert_plan_in_force_valid(sim, geo.windows)
    sim.run()
    assert_nothing_lost_or_duplicated(sim, geo.windows)
    assert_resumed_from_offset(sim)
    assert_no_transfer_while_down(sim, faults)


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=fault_plans, rng_seed=st.integers(0, 2**31 - 1))
def test_random_faults_with_optimiser_recovery(seed, drawn, rng_seed):
    """The same invariants when the optimiser re-plans (residual problem -> build_problem)."""
    scenario, geo = seed
    faults = build_faults(scenario, drawn)
    sim = Simulator(
        scenario,
        geo.windows,
        faults=faults,
        seed=rng_seed,
        planner=RecoveryPlanner(scenario, budget_s=1.0),
    )
    for t_h in (4, 12):
        sim.run_until(t_h * HOUR)
        assert_plan_in_force_valid(sim, geo.windows)
    sim.run()
    assert_nothing_lost_or_duplicated(sim, geo.windows)
    assert_no_transfer_while_down(sim, faults)


def test_same_seed_same_run_other_seed_other_faults(seed):
    scenario, geo = seed
    faults = FaultPlan(dropout_probability=0.3, transfer_failure_rate=0.5)
    runs = [
        Simulator(scenario, geo.windows, faults=faults, seed=s, planner=dispatch) for s in (7, 7, 8)
    ]
    for sim in runs:
        sim.run()
    assert runs[0].events == runs[1].events
    assert runs[0].events != runs[2].events


def test_transfer_failures_resume_and_still_deliver(seed, seed_model):
    """Half of all transfers break part-way: retries resume from the byte offset, and with a day
    of passes every request still completes (bytes are never sent twice)."""
    scenario = variant(
        seed_model,
        [
            {"id": f"big-{i}", "node": f"sat-{i}", "data_size": 2.0e10, "priority": "high"}
            for i in range(1, 6)
        ],
    )
    geo = seed[1]
    sim = Simulator(
        scenario, geo.windows, faults=FaultPlan(transfer_failure_rate=0.5), seed=3, planner=dispatch
    )
    sim.run()
    kinds = [e["type"] for e in sim.events]
    assert kinds.count("fault.transfer_failure") >= 3
    assert all(s.status == "completed" for s in sim.syncs.values())
    assert_resumed_from_offset(sim)
    assert_nothing_lost_or_duplicated(sim, geo.windows)


# --------------------------------------------------------------------------- recovery quality
def capacity_bytes(windows, node, t0_s, t1_s, start, outage) -> float:
    """Bytes ``node`` can send in [t0_s, t1_s] over its windows, outside the outage (straight
    from the windows table; ignores other nodes, so it is an upper bound per sync)."""
    total = 0.0
    station, o0, o1 = outage
    for w in windows[windows.node == node].itertuples():
        a = max((w.start - start).total_seconds(), t0_s)
        b = min((w.end - start).total_seconds(), t1_s)
        if b <= a:
            continue
        if w.station == station:
            usable = max(0.0, min(b, o0) - a) + max(0.0, b - max(a, o1))
        else:
            usable = b - a
        total += w.bandwidth_bps / 8 * usable
    return total


@pytest.mark.parametrize("planner", ["greedy", "optimiser"])
def test_outage_of_30_percent_of_passes_still_delivers_every_deliverable_critical(
    seed, seed_model, planner
):
    scenario0, geo = seed
    windows = geo.windows
    start = windows.start.min().normalize()
    # Svalbard goes down 1 h into the day, unannounced, for long enough to take ~30 % of all passes.
    o0 = 1 * HOUR
    o1 = o0
    frac = 0.0
    while frac < 0.30:
        o1 += 600
        lost = windows[
            (windows.station == "svalbard")
            & ((windows.end - start).dt.total_seconds() > o0)
            & ((windows.start - start).dt.total_seconds() < o1)
        ]
        frac = len(lost) / len(windows)
    assert 0.28 <= frac <= 0.36
    outage = ("svalbard", o0, o1)
    # One critical sync per node with a deadline; sizes 0.6x (deliverable) or 1.3x (not) of the
    # node's capacity before its deadline once the outage is taken out.
    deadline_s = 8 * HOUR
    syncs, expect = [], {}
    for i in range(1, 6):
        node = f"sat-{i}"
        cap = capacity_bytes(windows, node, 0.0, deadline_s, start, outage)
        factor = 0.6 if i % 2 else 1.3
        syncs.append(
            {
                "id": f"crit-{i}",
                "node": node,
                "data_size": factor * cap,
                "priority": "critical",
                "deadline": "+8h",
            }
        )
        syncs.append({"id": f"bulk-{i}", "node": node, "data_size": 4.0e10, "priority": "normal"})
        expect[f"crit-{i}"] = cap >= factor * cap
    scenario = variant(seed_model, syncs)
    chosen = dispatch if planner == "greedy" else RecoveryPlanner(scenario, budget_s=2.0)
    initial = dispatch(Simulator(scenario, windows, operations=[], planner=dispatch).residual())
    # The initial plan does not know about the outage and uses Svalbard passes inside it.
    assert any(op.station == "svalbard" and o0 < op.start_s < o1 for op in initial)
    sim = Simulator(
        scenario,
        windows,
        initial,
        faults=FaultPlan(station_outages=[Outage(*outage)]),
        planner=chosen,
    )
    sim.run()
    assert_nothing_lost_or_duplicated(sim, windows)
    for sid, deliverable in expect.items():
        state = sim.syncs[sid]
        if deliverable:
            assert state.status == "completed", (sid, state.reason)
            assert state.completed_s <= deadline_s + 1e-6
        else:
            assert state.status == "failed" and "deadline" in state.reason
    assert any(e["type"] == "sync.rescheduled" for e in sim.events)


# --------------------------------------------------------------------------- preemption
PREEMPTION = [
    # running, arriving, the running transfer is interrupted
    ("low", "critical", True),
    ("high", "critical", True),
    ("normal", "high", True),
    ("low", "high", True),
    ("low", "normal", False),
    ("normal", "normal", False),
    ("high", "high", False),
    ("critical", "critical", False),
]


def mid_transfer(sim: Simulator, node: str) -> tuple[float, str]:
    """A moment in the middle of a long planned transfer of ``node``, and its station."""
    op = max((o for o in sim.planned_operations() if o.node == node), key=lambda o: o.duration_s)
    return (op.start_s + op.end_s) / 2, op.station


@pytest.mark.parametrize(("running", "arriving", "interrupts"), PREEMPTION)
def test_arrival_preempts_only_lower_classes(seed, seed_model, running, arriving, interrupts):
    scenario = variant(
        seed_model, [{"id": "bulk", "node": "sat-1", "data_size": 1e12, "priority": running}]
    )
    windows = seed[1].windows
    sim = Simulator(scenario, windows, planner=dispatch)
    t, station = mid_transfer(sim, "sat-1")
    new = SyncRequest("new", "sat-1", 5e9, arriving, sim.time_of(t), None)
    sim.add_arrival(new, t)
    sim.run_until(t + 1)
    preempted = [e for e in sim.events if e["type"] == "sync.preempted"]
    started_new = [e for e in sim.events if e["type"] == "sync.started" and e["sync_id"] == "new"]
    if interrupts:
        assert [e["sync_id"] for e in preempted] == ["bulk"]
        assert sim.syncs["bulk"].status == "queued"
        assert started_new[0]["time"] == iso(sim.time_of(t))  # takes the link at once
    else:
        assert preempted == []
        assert sim.syncs["bulk"].status == "active"
        assert not started_new
    sim.run()
    assert_nothing_lost_or_duplicated(sim, windows)


def test_low_arrival_only_fills_idle_capacity(seed, seed_model):
    """A low arrival keeps every planned transfer as it was and uses only idle link time."""
    scenario = variant(
        seed_model,
        [
            {"id": f"g-{i}", "node": f"sat-{i}", "data_size": 3e10, "priority": "normal"}
            for i in range(1, 6)
        ],
    )
    windows = seed[1].windows
    sim = Simulator(scenario, windows, planner=dispatch)
    sim.run_until(2 * HOUR)
    before = set(sim.planned_operations())
    sim.add_arrival(SyncRequest("bg", "sat-2", 2e10, "low", sim.time_of(2 * HOUR), None))
    sim.run_until(2 * HOUR)
    after = sim.planned_operations()
    assert before <= set(after)
    for op in after:
        if op.sync_id == "bg":
            for other in before:
                same_link = other.node == op.node or other.station == op.station
                assert not (same_link and other.start_s < op.end_s and op.start_s < other.end_s)
    sim.run()
    assert_nothing_lost_or_duplicated(sim, windows)


def test_degraded_bandwidth_halves_what_a_pass_carries(seed, seed_model):
    """With every link at half rate from the start, no transfer beats half the station rate, and
    a request sized for the nominal capacity of its node's first passes takes longer."""
    scenario = variant(
        seed_model, [{"id": "big", "node": "sat-1", "data_size": 2e11, "priority": "high"}]
    )
    windows = seed[1].windows
    runs = {}
    for factor in (1.0, 0.5):
        faults = FaultPlan(degradations=[Degradation(factor, 0.0, scenario.duration_s, None)])
        sim = Simulator(scenario, windows, faults=faults, planner=dispatch)
        sim.run()
        assert_nothing_lost_or_duplicated(sim, windows)
        bw = {s.name: s.bandwidth_bps / 8 for s in scenario.stations}
        for seg in sim.ledger:
            assert seg.bytes <= factor * bw[seg.station] * (seg.end_s - seg.start_s) + 1.0
        runs[factor] = sim.syncs["big"]
    assert runs[1.0].status == "completed"
    assert runs[0.5].completed_s is None or runs[0.5].completed_s > runs[1.0].completed_s
