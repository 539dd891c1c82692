"""Sync scheduler optimiser: feasibility, priority semantics, splitting, shortfall, weights.

Synthetic windows tables (the geometry contract's columns) keep the instances small and exact;
every plan is verified by the independent checker (rsmodel.plan.check).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyomo.environ as pyo
import pytest

from rsmodel.optimize import (
    Demand,
    SolverSettings,
    StationSpec,
    build_problem,
    model,
    solve_problem,
)
from rsmodel.optimize.greedy import greedy
from rsmodel.optimize.objective import evaluate
from rsmodel.plan.check import check_plan
from tests.conftest import assert_exact_timeline

T0 = datetime(2026, 5, 30, tzinfo=UTC)
MB = 1e6
RATE = 8e6  # bits/s: 1 MB/s, 60 MB per full 60 s slot


def windows_table(
    rows: list[tuple[str, str, float, float]], bandwidth_bps: float = RATE
) -> pd.DataFrame:
    """rows: (node, station, start_s, end_s) -> a windows table as compute_geometry returns."""
    frame = pd.DataFrame(
        [
            {
                "node": n,
                "station": s,
                "start": pd.Timestamp(T0) + pd.Timedelta(seconds=a),
                "end": pd.Timestamp(T0) + pd.Timedelta(seconds=b),
                "tca": pd.Timestamp(T0) + pd.Timedelta(seconds=(a + b) / 2),
                "max_elevation_deg": 45.0,
                "duration_s": b - a,
                "bandwidth_bps": bandwidth_bps,
                "capacity_bytes": bandwidth_bps / 8 * (b - a),
            }
            for n, s, a, b in rows
        ]
    )
    frame = frame.sort_values(["start", "node", "station"]).reset_index(drop=True)
    frame.insert(0, "id", [f"w{i + 1:05d}" for i in range(len(frame))])
    return frame


def demand(sid, node, size_mb, priority, release_s=0.0, deadline_s=None) -> Demand:
    rank = {"critical": 0, "high": 1, "normal": 2, "low": 3}[priority]
    deadline = None if deadline_s is None else T0 + timedelta(seconds=deadline_s)
    return Demand(sid, node, size_mb * MB, rank, T0 + timedelta(seconds=release_s), deadline)


def problem(rows, demands, *, stations=None, hours=1.0, method="milp", weights=None, **settings):
    names = sorted({r[1] for r in rows} | {s.name for s in stations or []})
    stations = stations or [StationSpec(n) for n in names]
    nodes = sorted({r[0] for r in rows} | {d.node for d in demands})
    return build_problem(
        start=T0,
        end=T0 + timedelta(hours=hours),
        step_s=60.0,
        nodes=nodes,
        stations=stations,
        windows=windows_table(rows),
        demands=demands,
        weights=weights,
        settings=SolverSettings(
            method=method, time_limit_s=settings.pop("time_limit_s", 20.0), **settings
        ),
    )


def solve_checked(prob):
    """Solve and assert the independent checker finds nothing."""
    schedule = solve_problem(prob)
    problems = check_plan(schedule.plan_dict())
    assert problems == [], problems
    assert_exact_timeline(schedule.plan_dict())
    return schedule


def bytes_of(schedule, sync_id: str) -> float:
    return sum(o.bytes for o in schedule.operations if o.sync_id == sync_id)


METHODS = ["milp", "greedy"]


@pytest.mark.parametrize("method", METHODS)
def test_critical_takes_the_contested_pass_from_low(method):
    # one 120 s pass (120 MB) of node a; critical 100 MB and low 100 MB compete for it
    rows = [("a", "gs", 0, 120)]
    s = solve_checked(
        problem(
            rows,
            [demand("low", "a", 100, "low"), demand("crit", "a", 100, "critical")],
            method=method,
        )
    )
    assert s.outcomes["crit"].status == "complete"
    assert s.outcomes["low"].delivered_bytes == pytest.approx(20 * MB, rel=1e-6)
    assert s.outcomes["low"].status == "partial" and s.outcomes["low"].reason


@pytest.mark.parametrize("method", METHODS)
def test_high_is_not_delayed_for_normal_on_a_shared_station(method):
    # nodes a and b see one single-antenna station at the same time; b's normal data came first
    rows = [("a", "gs", 0, 300), ("b", "gs", 0, 300)]
    demands = [demand("norm", "b", 120, "normal"), demand("high", "a", 120, "high")]
    s = solve_checked(problem(rows, demands, method=method))
    high_ops = [o for o in s.operations if o.sync_id == "high"]
    assert min(o.start for o in high_ops) == T0
    assert s.outcomes["high"].completed_at == T0 + timedelta(seconds=120)
    assert s.outcomes["norm"].status == "complete"


@pytest.mark.parametrize("method", METHODS)
def test_low_only_uses_capacity_nothing_else_wants(method):
    # 10 min of contact (600 MB); normal 200 MB released at +2 min, low 1 GB released at 0
    rows = [("a", "gs", 0, 600)]
    demands = [demand("low", "a", 1000, "low"), demand("norm", "a", 200, "normal", release_s=120)]
    s = solve_checked(problem(rows, demands, method=method))
    # 200 MB at 1 MB/s from its release at 120 s: the slot it ends in carries it first, so its
    # last byte leaves at 320 s
    assert s.outcomes["norm"].completed_at == T0 + timedelta(seconds=320)
    # low fills exactly the rest of the pass: before the normal release and after it finished
    assert s.outcomes["low"].delivered_bytes == pytest.approx(400 * MB, rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_a_sync_is_split_across_passes(method):
    rows = [("a", "gs", 0, 120), ("a", "gs", 1200, 1320), ("a", "gs2", 2400, 2520)]
    s = solve_checked(problem(rows, [demand("big", "a", 300, "normal")], method=method))
    windows = {o.window_id for o in s.operations if o.sync_id == "big"}
    assert len(windows) == 3
    assert s.outcomes["big"].status == "complete"
    assert bytes_of(s, "big") == pytest.approx(300 * MB, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_more_data_than_capacity_returns_partial_and_unmet_with_reasons(method):
    rows = [("a", "gs", 0, 120), ("b", "gs", 600, 660)]
    demands = [
        demand("a1", "a", 100, "high"),
        demand("a2", "a", 100, "high"),
        demand("b1", "b", 500, "normal"),
        demand("c1", "c", 10, "critical"),  # node c never sees a station
    ]
    s = solve_checked(problem(rows, demands, method=method))
    assert set(s.outcomes) == {"a1", "a2", "b1", "c1"}
    total = sum(o.delivered_bytes for o in s.outcomes.values())
    assert total == pytest.approx(180 * MB, rel=1e-6)  # all the capacity there is
    assert s.outcomes["c1"].status == "unmet" and "no contact window" in s.outcomes["c1"].reason
    assert s.outcomes["b1"].status == "partial"
    assert {s.outcomes["a1"].status, s.outcomes["a2"].status} == {"complete", "partial"}


def test_deadline_is_met_when_physically_possible():
    # one station, two nodes in view together; only a's sync has a deadline (+3 min)
    rows = [("a", "gs", 0, 600), ("b", "gs", 0, 600)]
    demands = [
        demand("b-first", "b", 180, "normal"),
        demand("a-due", "a", 180, "normal", deadline_s=180),
    ]
    s = solve_checked(problem(rows, demands))
    assert s.outcomes["a-due"].late_bytes == 0
    assert s.outcomes["a-due"].completed_at <= T0 + timedelta(seconds=180)
    assert s.outcomes["b-first"].status == "complete"


def test_balance_weight_spreads_bytes_over_stations():
    # node a sees gs1 early and gs2 later; node b only gs1 late: latency alone puts all on gs1
    rows = [("a", "gs1", 0, 300), ("a", "gs2", 1800, 2100), ("b", "gs1", 2400, 2700)]
    demands = [demand("a1", "a", 120, "normal"), demand("b1", "b", 120, "normal")]
    latency = solve_checked(
        problem(
            rows,
            demands,
            weights={"minimize_latency": 1.0, "maximize_throughput": 0, "balance_load": 0},
        )
    )
    balance = solve_checked(
        problem(
            rows,
            demands,
            weights={"minimize_latency": 0.1, "maximize_throughput": 0, "balance_load": 0.9},
        )
    )

    def stations_used(schedule):
        return {o.station for o in schedule.operations}

    assert stations_used(latency) == {"gs1"}
    assert stations_used(balance) == {"gs1", "gs2"}
    assert balance.outcomes["a1"].completed_at > latency.outcomes["a1"].completed_at


def test_milp_never_worse_than_greedy_on_random_instances():
    rng = np.random.default_rng(7)
    for _ in range(3):
        rows = []
        for node in ["a", "b", "c", "d"]:
            for k in range(3):
                start = float(rng.integers(0, 50)) * 60 + float(rng.uniform(0, 59))
                rows.append(
                    (
                        node,
                        f"gs{rng.integers(0, 2)}",
                        start + k * 3600,
                        start + k * 3600 + rng.uniform(100, 500),
                    )
                )
        demands = [
            demand(f"d{i}", str(rng.choice(["a", "b", "c", "d"])), float(rng.uniform(50, 400)),
                   str(rng.choice(["critical", "high", "normal", "low"])), release_s=float(rng.uniform(0, 3600)))
            for i in range(8)
        ]  # fmt: skip
        prob = problem(rows, demands, hours=4.0)
        milp = solve_checked(prob)
        base = greedy(prob)
        ranks = prob.demand_rank
        for r in np.unique(ranks):
            ids = np.flatnonzero(ranks == r)
            better = evaluate(prob, ids, milp.state.pair_bytes, prob.weights)
            worse = evaluate(prob, ids, base.pair_bytes, prob.weights)
            if better < worse - 1e-9:
                break  # lexicographically better from this class on
            assert better == pytest.approx(worse, abs=1e-6)


def test_time_out_still_returns_a_checked_plan():
    rows = [(n, f"gs{k % 2}", 600 * k, 600 * k + 400) for n in "abcdef" for k in range(6)]
    demands = [demand(f"{n}{i}", n, 150, "normal") for n in "abcdef" for i in range(3)]
    s = solve_checked(problem(rows, demands, hours=2.0, time_limit_s=0.01))
    assert s.solver.status == "time_limit"
    assert s.warnings and "time limit" in s.warnings[0]
    assert len(s.outcomes) == len(demands)


def test_setup_time_is_paid_once_per_contact():
    stations = [StationSpec("gs", antennas=1, setup_s=30.0)]
    rows = [("a", "gs", 0, 300)]
    s = solve_checked(problem(rows, [demand("a1", "a", 1000, "normal")], stations=stations))
    assert s.outcomes["a1"].delivered_bytes == pytest.approx(270 * MB, rel=1e-6)


def test_second_antenna_serves_two_nodes_at_once():
    rows = [("a", "gs", 0, 120), ("b", "gs", 0, 120)]
    demands = [demand("a1", "a", 120, "normal"), demand("b1", "b", 120, "normal")]
    one = solve_checked(problem(rows, demands))
    two = solve_checked(problem(rows, demands, stations=[StationSpec("gs", antennas=2)]))
    assert sum(o.delivered_bytes for o in one.outcomes.values()) == pytest.approx(
        120 * MB, rel=1e-6
    )
    assert sum(o.delivered_bytes for o in two.outcomes.values()) == pytest.approx(
        240 * MB, rel=1e-6
    )


def test_changing_threads_between_solves_works():
    rows = [("a", "gs", 0, 120)]
    for threads in (1, 2, 1):
        s = solve_checked(problem(rows, [demand("a1", "a", 60, "high")], threads=threads))
        assert s.outcomes["a1"].status == "complete"


def test_milp_optimum_equals_brute_force_on_a_tiny_instance():
    """Enumerate every link choice; for each, an independent LP (scipy) of the documented
    objective (docs/optimisation.md) gives the best transfer; the MILP stage must match."""
    from itertools import product

    from scipy.optimize import linprog

    rows = [("a", "gs1", 30, 200), ("a", "gs2", 0, 150), ("b", "gs1", 10, 180)]
    sizes = {"a1": 90.0, "a2": 40.0, "b1": 100.0}  # MB
    release = {"a1": 0.0, "a2": 60.0, "b1": 0.0}
    deadline = {"a1": None, "a2": 120.0, "b1": None}
    demands = [demand(k, k[0], sizes[k], "normal", release[k], deadline[k]) for k in sizes]
    weights = {"minimize_latency": 0.5, "maximize_throughput": 0.3, "balance_load": 0.2}
    prob = problem(rows, demands, weights=weights, mip_gap=0.0)
    milp = solve_checked(prob)

    horizon = 3600.0
    links = []  # (node, station, slot, capacity MB, end s)
    for node, station, a, b in rows:
        for slot in range(int(a // 60), int(np.ceil(b / 60))):
            end = min(b, 60 * slot + 60)  # a transfer in this slot ends here at the latest
            links.append((node, station, slot, (end - max(a, 60 * slot)) / 1.0, end))
    pairs = [
        (k, i)
        for k in sizes
        for i, lk in enumerate(links)
        if lk[0] == k[0] and 60 * lk[2] >= release[k]
    ]
    w_lat, w_thr, w_bal = 0.5, 0.3, 0.2
    total, n = sum(sizes.values()), len(sizes)
    n_pairs, keys = len(pairs), list(sizes)
    reachable = sorted({i for _, i in pairs})
    cap = {s: sum(links[i][3] for i in reachable if links[i][1] == s) for s in ("gs1", "gs2")}
    best = np.inf
    for x in product((0, 1), repeat=len(links)):
        used = [links[i] for i in range(len(links)) if x[i]]
        if any(
            sum(1 for u in used if u[1] == s and u[2] == t) > 1
            for s in ("gs1", "gs2")
            for t in range(4)
        ):
            continue
        if any(sum(1 for u in used if u[0] == v and u[2] == t) > 1 for v in "ab" for t in range(4)):
            continue
        # variables: y per pair, unmet per demand, peak utilisation
        cost = np.zeros(n_pairs + n + 1)
        for j, (k, i) in enumerate(pairs):
            end = links[i][4]
            tau = (end - release[k]) / (horizon - release[k])
            late = deadline[k] is not None and end > deadline[k]
            cost[j] = w_lat * tau / (sizes[k] * n) + 10.0 * late / sizes[k]
        for q, k in enumerate(keys):
            cost[n_pairs + q] = (
                w_lat / (sizes[k] * n)
                + w_thr / total
                + w_bal / min(cap.values())
                + 10.0 * (deadline[k] is not None) / sizes[k]
            )
        cost[-1] = w_bal
        a_ub, b_ub = [], []
        for i, lk in enumerate(links):
            row = np.zeros(n_pairs + n + 1)
            for j, (_, pi) in enumerate(pairs):
                row[j] = 1.0 if pi == i else 0.0
            a_ub.append(row)
            b_ub.append(lk[3] * x[i])
        for s in ("gs1", "gs2"):
            row = np.zeros(n_pairs + n + 1)
            for j, (_, pi) in enumerate(pairs):
                row[j] = 1.0 / cap[s] if links[pi][1] == s else 0.0
            row[-1] = -1.0
            a_ub.append(row)
            b_ub.append(0.0)
        a_eq = np.zeros((n, n_pairs + n + 1))
        for q, k in enumerate(keys):
            for j, (kk, _) in enumerate(pairs):
                a_eq[q, j] = 1.0 if kk == k else 0.0
            a_eq[q, n_pairs + q] = 1.0
        lp = linprog(
            cost,
            A_ub=np.array(a_ub),
            b_ub=b_ub,
            A_eq=a_eq,
            b_eq=[sizes[k] for k in keys],
            bounds=(0, None),
        )
        assert lp.status == 0
        best = min(best, lp.fun * 1.0 + 1e-3 / len(links) * sum(x))
    assert milp.solver.objective == pytest.approx(best, abs=1e-7)


@pytest.mark.parametrize("method", METHODS)
def test_reoptimise_keeps_the_past_and_serves_a_new_critical_sync(method):
    from rsmodel.optimize import reoptimise

    rows = [
        ("a", "gs", 0, 600),
        ("b", "gs", 0, 600),
        ("a", "gs", 1800, 2400),
        ("b", "gs", 1800, 2400),
    ]
    demands = [demand("a-low", "a", 500, "low"), demand("b-norm", "b", 500, "normal")]
    first = solve_checked(problem(rows, demands, method=method))
    now = T0 + timedelta(seconds=300)
    urgent = demand("b-crit", "b", 100, "critical", release_s=300)
    replanned = reoptimise(problem(rows, [*demands, urgent], method=method), first.operations, now)
    assert check_plan(replanned.plan_dict()) == []
    assert_exact_timeline(replanned.plan_dict())

    def past(schedule):
        grid = schedule.grid["bytes"]
        return grid.sel(time=grid["time"] < np.datetime64(now.replace(tzinfo=None))).values

    assert past(first).sum() > 0
    np.testing.assert_allclose(past(replanned), past(first), rtol=1e-9)
    assert replanned.outcomes["b-crit"].status == "complete"
    assert replanned.outcomes["b-crit"].completed_at <= now + timedelta(seconds=120)


def test_appsi_and_standard_form_hand_offs_give_the_same_optimum():
    rows = [("a", "gs1", 0, 300), ("a", "gs2", 600, 900), ("b", "gs1", 100, 400)]
    demands = [
        demand("a1", "a", 200, "high"),
        demand("b1", "b", 150, "high"),
        demand("a2", "a", 80, "low"),
    ]
    prob = problem(rows, demands, mip_gap=0.0)
    standard = solve_problem(prob)
    appsi = solve_problem(prob, interface="appsi")
    assert check_plan(appsi.plan_dict()) == []
    assert appsi.solver.objective == pytest.approx(standard.solver.objective, abs=1e-9)


def link_timeline(schedule, node: str, station: str) -> list:
    return sorted(
        (o for o in schedule.operations if (o.node, o.station) == (node, station)),
        key=lambda o: o.start,
    )


@pytest.mark.parametrize("method", METHODS)
def test_two_syncs_sharing_slots_of_a_one_antenna_link_run_one_after_the_other(method):
    """The AURA-at-McMurdo case: two syncs of one node share slots of one contact; the plan says
    which bytes go when — never both at once — and each operation moves rate x duration."""
    rows = [("aura", "mcmurdo", 30.5, 250.25)]  # AOS and LOS inside slots
    demands = [demand("s0409", "aura", 50, "normal"), demand("s1109", "aura", 100, "normal")]
    prob = problem(rows, demands, stations=[StationSpec("mcmurdo", 1, 10.0)], method=method)
    s = solve_checked(prob)
    ops = link_timeline(s, "aura", "mcmurdo")
    assert {o.sync_id for o in ops} == {"s0409", "s1109"}
    for a, b in zip(ops, ops[1:], strict=False):
        assert b.start >= a.end, (a, b)
    for o in ops:
        assert o.antenna == 0
        assert o.bytes == pytest.approx(RATE / 8 * (o.end - o.start).total_seconds(), rel=1e-9)
    # 150 MB at 1 MB/s from AOS + the 10 s setup, back to back: the last byte leaves at 190.5 s
    assert ops[0].start == T0 + timedelta(seconds=40.5)
    assert max(o.end for o in ops) == T0 + timedelta(seconds=190.5)
    last_end = {sid: max(o.end for o in ops if o.sync_id == sid) for sid in ("s0409", "s1109")}
    assert {sid: s.outcomes[sid].completed_at for sid in last_end} == last_end


def test_a_station_with_two_antennas_gives_each_contact_one_antenna():
    """Three nodes over a two-antenna station: every operation names antenna 0 or 1, no antenna
    carries two operations at once, and a contact stays on its antenna."""
    rows = [("a", "gs", 0, 600), ("b", "gs", 0, 600), ("c", "gs", 0, 600)]
    demands = [demand(f"{n}1", n, 300, "normal") for n in "abc"]
    s = solve_checked(problem(rows, demands, stations=[StationSpec("gs", 2, 5.0)]))
    assert {o.status for o in s.outcomes.values()} == {"complete"}
    assert {o.antenna for o in s.operations} == {0, 1}
    for antenna in (0, 1):
        ops = sorted((o for o in s.operations if o.antenna == antenna), key=lambda o: o.start)
        for a, b in zip(ops, ops[1:], strict=False):
            assert b.start >= a.end, (a, b)
    for node in "abc":
        ops = link_timeline(s, node, "gs")
        touching = [(a, b) for a, b in zip(ops, ops[1:], strict=False) if b.start == a.end]
        assert all(a.antenna == b.antenna for a, b in touching)


def test_plan_json_keeps_the_timeline_exact():
    """Serialised and read back, the instants (microseconds) still carry the bytes exactly."""
    import json

    rows = [("a", "gs", 0.123456, 400)]
    demands = [demand("x", "a", 77.7777777, "high"), demand("y", "a", 33.3, "low")]
    s = solve_checked(problem(rows, demands))
    plan = json.loads(json.dumps(s.plan_dict()))
    assert [o["bytes"] for o in plan["operations"]] == [o.bytes for o in s.operations]
    assert any(len(o["end"]) == len("2026-05-30T00:00:00.123456Z") for o in plan["operations"])
    assert check_plan(plan) == []


def test_a_class_stage_proven_infeasible_makes_the_plan_say_so_and_keeps_greedy(monkeypatch):
    """A stage MILP HiGHS proves infeasible (a constraint block that contradicts itself, appended
    to STAGE_BLOCKS as a new block would be) keeps its greedy allocation: the plan is returned,
    checker-clean, and its status says ``infeasible``, not ``optimal`` (before: optimal)."""

    def contradiction(m, problem, idx) -> None:
        m.contradiction = pyo.Var(bounds=(0, 1))
        m.contradiction_row = pyo.Constraint(expr=m.contradiction >= 2)

    rows = [(n, f"gs{k % 2}", 600 * k, 600 * k + 400) for n in "ab" for k in range(3)]
    demands = [demand("a0", "a", 150, "high"), demand("b0", "b", 150, "normal")]
    monkeypatch.setattr(model, "STAGE_BLOCKS", (*model.STAGE_BLOCKS, contradiction))
    s = solve_checked(problem(rows, demands))
    assert [st.status for st in s.solver.stages] == ["infeasible", "infeasible"]
    assert s.solver.status == "infeasible"
    assert "high: infeasible, greedy allocation kept" in s.solver.notes
    assert s.warnings and "infeasible" in s.warnings[0]
    assert bytes_of(s, "a0") == bytes_of(s, "b0") == 150 * MB  # the greedy plan serves both
