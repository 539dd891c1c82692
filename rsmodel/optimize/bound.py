"""Lower bounds on the plan objective: LPs on a coarse slot grid (docs/optimisation-scale.md).

``F(plan) = sum over classes r of J_r(plan)``, ``J_r`` exactly
:func:`rsmodel.optimize.objective.evaluate` (the core's class objective without link cost).

- :func:`any_plan_bound`: one LP over all classes; ``<= F(plan)`` for *every* plan.
- :func:`stage_bound` (reported as ``solver.bound``): sum over classes of the LP bound of
  class r given the plan's allocation of the classes above r (its links, residual bytes and
  priority blocks), i.e. the preemptive definition of optimal the staged solver uses. The
  critical term bounds every plan; a lower-class term bounds every plan that gives the classes
  above it what this plan gives them.

The LP drops integrality, contact setup and the balance term (>= 0), and over-states capacity.
Columns: y[d, a] per demand d and *aggregate* a = (window, coarse slot of ``coarse_s``, late
for d or not) plus unmet[d]; cost of y[d, a] = the cheapest per-byte cost of d's fine pairs
in a. Rows: sum_a y + unmet = size; per (window, coarse slot) bytes <= fine capacities; per
(node, coarse slot) link seconds sum y / rate <= free node seconds; per (station, coarse slot)
link seconds <= free antenna seconds; per data source (docs/recorder.md) a running total
``s_T >= s_T' + bytes sent in T`` (T' the previous coarse slot with a row) ``<= bytes produced
before T's last fine slot``, at the slots where that could bind (no byte goes down before it
exists; recorder capacity and losses are left out, which only relaxes). If an LP does not
finish in time, its class falls back to the capacity-free bound (each byte at its demand's
cheapest option).

Track requests (docs/tracks.md) add their class's track terms to ``J_r``; both bounds add
:func:`rsmodel.optimize.tracks.track_bound` (each request at most its longest feasible
schedule, contention ignored) per class.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp

from rsmodel.optimize.gateway import HighsModel
from rsmodel.optimize.objective import (
    class_scores,
    coefficients,
    normalised_weights,
    station_capacity,
)
from rsmodel.optimize.problem import CLASS_NAMES, UNIT_BYTES, Problem
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveOptions, SolveStatus
from rsmodel.optimize.tracks import track_bound

COARSE_GRIDS_S = (300.0, 3600.0)  # tried in turn when the fine LP is too large or too slow
FINE_PAIRS = 1_000_000  # classes with at most this many pairs get the LP on the fine slot grid
BOUND_TIME_FRACTION = 0.25  # of the solver time limit, for all bound LPs together
_EPS_BYTES = 0.5


@dataclass
class Capacity:
    """What a bound LP may use: bytes per fine candidate, free link seconds per fine slot."""

    cand_bytes: np.ndarray  # per candidate
    node_s: np.ndarray  # (node, slot) free link seconds
    station_s: np.ndarray  # (station, slot) free antenna seconds


def full_capacity(problem: Problem) -> Capacity:
    """Every candidate's bytes without setup; one link per node, ``antennas`` per station."""
    slot_s = _slot_seconds(problem)
    return Capacity(
        cand_bytes=problem.cand_bytes.copy(),
        node_s=np.tile(slot_s, (len(problem.nodes), 1)),
        station_s=problem.antennas[:, None] * slot_s[None, :],
    )


def residual_capacity(state: LinkState, plan: LinkState) -> Capacity:
    """What ``state`` (higher classes only, after ``begin_stage``) leaves to the next class;
    never less than the links ``plan`` itself uses at a station."""
    p = state.problem
    slot_s = _slot_seconds(p)
    used = state.used_bytes()
    seconds = used / np.maximum(p.cand_bytes / np.maximum(p.cand_t1_s - p.cand_t0_s, 1e-9), 1e-9)
    node_s = np.tile(slot_s, (len(p.nodes), 1))
    np.subtract.at(node_s, (p.cand_node, p.cand_slot), seconds)
    links = np.maximum.reduce(
        [state.station_links, p.antennas[:, None] - state.reserve, plan.station_links]
    )
    station_s = links * slot_s[None, :]
    np.subtract.at(station_s, (p.cand_station, p.cand_slot), seconds)
    cand_bytes = np.where(state.on, np.maximum(state.residual_bytes(), 0.0), p.cand_bytes)
    return Capacity(cand_bytes, np.maximum(node_s, 0.0), np.maximum(station_s, 0.0))


def any_plan_bound(problem: Problem, *, time_limit_s: float = 60.0) -> tuple[float, str]:
    """A lower bound of F over all plans (one LP over every class, on the coarsest grid that
    finishes in time), and how it was obtained."""
    p = problem
    pair_cost, unmet_cost = _costs(p, np.arange(len(p.demands)))
    pairs = np.arange(len(p.pair_demand))
    tracks = sum(track_bound(p, int(r)) for r in np.unique(p.tracks.request_rank))
    if len(p.demands) == 0:
        return tracks, "tracks only"
    value, how = _bound(p, pairs, np.arange(len(p.demands)), pair_cost, unmet_cost,
                        full_capacity(p), time_limit_s, sorted(COARSE_GRIDS_S, reverse=True))  # fmt: skip
    return value + tracks, how


def stage_bound(
    problem: Problem, plan: LinkState, *, time_limit_s: float = 60.0
) -> tuple[float, list[dict[str, Any]]]:
    """Sum over classes of the class LP bound given ``plan``'s allocation of the classes above.

    First every class gets its LP on the coarse grid (300 s; 1 h if that does not finish); the
    first (highest) class, compared first, may use half of ``time_limit_s``, the others share
    the rest by their pair counts. Then, while time is left, the classes are refined on the
    fine grid, the one furthest above its coarse bound in ``plan`` first; a class keeps the
    larger of its bounds."""
    p = problem
    ranks = p.demand_rank
    classes = [int(r) for r in np.unique(np.r_[ranks, p.tracks.request_rank])]
    stop = time.perf_counter() + time_limit_s
    n_pairs = {
        r: int(np.isin(p.pair_demand, np.flatnonzero(ranks == r)).sum()) + 1 for r in classes
    }
    score = dict(zip(classes, class_scores(p, plan), strict=True))
    coarse = [g for g in COARSE_GRIDS_S if g > p.step_s] or [p.step_s]
    parts, lps = [], {}
    for k, rank in enumerate(classes):
        demands = np.flatnonzero(ranks == rank)
        tracks = track_bound(p, rank)
        if len(demands) == 0:
            parts.append({"class": CLASS_NAMES[rank], "bound": tracks, "by": "tracks only"})
            continue
        higher = _higher_classes_state(p, plan, rank)
        higher.begin_stage(rank)
        pairs = np.union1d(
            higher.stage_pairs(demands),
            np.flatnonzero(np.isin(p.pair_demand, demands) & (plan.pair_bytes > _EPS_BYTES)),
        )
        lps[k] = (pairs, demands, *_costs(p, demands), residual_capacity(higher, plan), tracks)
        share = 0.5 if k == 0 else n_pairs[rank] / sum(n_pairs[r] for r in classes[k:])
        budget = max((stop - time.perf_counter()) * share, 2.0)
        value, how = _bound(p, *lps[k][:5], budget, coarse)
        parts.append({"class": CLASS_NAMES[rank], "bound": value + tracks, "by": how})
    if p.step_s not in coarse:
        refine = [k for k in lps if len(lps[k][0]) <= FINE_PAIRS]
        for k in sorted(refine, key=lambda k: parts[k]["bound"] - score[classes[k]]):
            if stop - time.perf_counter() < 1.0:
                break
            lp = coarse_lp(p, *lps[k][:5], p.step_s)
            value, _ = _solve_lp(lp, p.settings.threads, stop - time.perf_counter())
            if value is not None and value + lps[k][5] > parts[k]["bound"]:
                parts[k].update(bound=value + lps[k][5], by=f"LP on {p.step_s:g} s slots")
    return float(sum(part["bound"] for part in parts)), parts


def attach_bound(problem: Problem, schedule: Any, *, time_limit_s: float = 0.0) -> None:
    """Set ``solver.objective`` (F of the returned plan), ``bound`` (:func:`stage_bound`) and
    ``gap_global``; note the any-plan bound too. The LPs take up to ``time_limit_s`` (at least
    ``BOUND_TIME_FRACTION`` of the solver time limit)."""
    stats = schedule.solver
    if len(problem.demands) == 0 and len(problem.tracks.requests) == 0:  # the empty plan: optimal
        stats.objective, stats.bound, stats.gap_global = 0.0, 0.0, 0.0
        return
    t0 = time.perf_counter()
    budget = max(BOUND_TIME_FRACTION * problem.settings.time_limit_s, time_limit_s, 2.0)
    bound, parts = stage_bound(problem, schedule.state, time_limit_s=0.85 * budget)
    any_bound, how = any_plan_bound(problem, time_limit_s=0.15 * budget)  # a note
    score = class_scores(problem, schedule.state)
    objective = float(sum(score))
    stats.objective = objective
    stats.bound = bound
    stats.gap_global = max(0.0, (objective - bound) / abs(objective)) if objective else 0.0
    per_class = ", ".join(
        f"{c['class']} {s:.6g} >= {c['bound']:.6g} by {c['by']}"
        for c, s in zip(parts, score, strict=True)
    )
    stats.notes.append(
        f"global bound {bound:.6g} ({time.perf_counter() - t0:.1f} s): each class within {100 * stats.gap_global:.2f} % in total of "
        f"the best it can reach given the classes above it ({per_class}); any plan, ignoring "
        f"priorities: F >= {any_bound:.6g} ({how}); docs/optimisation-scale.md"
    )


# --------------------------------------------------------------------------- the LP
def _bound(
    p: Problem,
    pairs: np.ndarray,
    demands: np.ndarray,
    pair_cost: np.ndarray,
    unmet_cost: np.ndarray,
    cap: Capacity,
    time_limit_s: float,
    grids: list[float] | None = None,
) -> tuple[float, str]:
    """The LP bound on the first of ``grids`` (slot lengths, s) that finishes in time, else the
    capacity-free bound; by default the fine grid (up to ``FINE_PAIRS`` pairs), then the
    ``COARSE_GRIDS_S`` grids in turn."""
    stop = time.perf_counter() + time_limit_s
    if grids is None:
        fine = [p.step_s] if len(pairs) <= FINE_PAIRS else []
        grids = fine + [g for g in COARSE_GRIDS_S if g > p.step_s]
    status = "not run"
    for k, grid in enumerate(grids):
        lp = coarse_lp(p, pairs, demands, pair_cost, unmet_cost, cap, grid)
        budget = max((stop - time.perf_counter()) / (len(grids) - k), 1.0)
        value, status = _solve_lp(lp, p.settings.threads, budget)
        if value is not None:
            return value, f"LP on {grid:g} s slots"
    cheapest = unmet_cost[demands].copy()
    position = np.searchsorted(demands, p.pair_demand[pairs])
    np.minimum.at(cheapest, position, pair_cost[pairs])
    return float(cheapest @ p.demand_size[demands]), f"capacity-free (LP {status})"


def _solve_lp(lp: highspy.HighsLp, threads: int, time_limit_s: float) -> tuple[float | None, str]:
    """A rigorous lower bound from the LP's duals (Lagrangian with the column boxes), so solver
    tolerances cannot push it above the LP optimum; costs are scaled to O(1) for the solve."""
    cost = np.array(lp.col_cost_, dtype=float)  # a copy: the HighsLp field is a view
    if lp.num_col_ == 0:
        return 0.0, "empty"
    scale = 1.0 / max(float(np.median(cost[cost > 0])) if np.any(cost > 0) else 1.0, 1e-300)
    lp.col_cost_ = cost * scale
    solver = HighsModel.from_lp(lp, SolveOptions(time_limit_s=time_limit_s, threads=threads))
    result = solver.run()
    if result.status != SolveStatus.OPTIMAL:
        return None, str(result.status)
    duals = solver.row_duals()
    if len(duals) != lp.num_row_:  # HiGHS may report optimal without a dual solution
        return None, "optimal without duals"
    return _dual_bound(lp, cost, duals / scale), "optimal"


def _dual_bound(lp: highspy.HighsLp, cost: np.ndarray, pi: np.ndarray) -> float:
    """min over the column boxes of c x - pi (A x - b), pi sign-corrected: <= the LP optimum."""
    lower, upper = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    pi = np.where(np.isfinite(lower), pi, np.minimum(pi, 0.0))  # <= rows: pi <= 0
    a = sp.csc_matrix(
        (lp.a_matrix_.value_, lp.a_matrix_.index_, lp.a_matrix_.start_),
        shape=(lp.num_row_, lp.num_col_),
    )
    reduced = cost - a.T @ pi
    col_up = np.asarray(lp.col_upper_)
    return float(pi @ upper + np.minimum(reduced, 0.0) @ col_up)


def coarse_lp(
    p: Problem,
    pairs: np.ndarray,
    demands: np.ndarray,
    pair_cost: np.ndarray,
    unmet_cost: np.ndarray,
    cap: Capacity,
    coarse_s: float,
) -> highspy.HighsLp:
    """The coarse LP (bytes in MB) over ``pairs`` of ``demands`` as a HighsLp."""
    per = max(1, round(coarse_s / p.step_s))  # whole fine slots per coarse slot
    n_t = max(p.n_slots, 1) // per + 1
    agg_keys, cand_agg = np.unique(
        p.cand_window.astype(np.int64) * n_t + p.cand_slot // per, return_inverse=True
    )
    n_a, n_d = len(agg_keys), len(demands)
    agg_cap = np.bincount(cand_agg, weights=cap.cand_bytes, minlength=n_a)
    rate = p.windows["bandwidth_bps"].to_numpy(dtype=float)[agg_keys // n_t] / 8.0
    # the peak rate (a link budget's max): seconds >= bytes / peak keeps the LP a relaxation; a
    # link that never closes (peak 0) has no capacity, so its columns are 0 and take no seconds
    rate = np.where(rate > 0, rate, np.inf)
    # columns: (demand, aggregate, late) groups of fine pairs
    position = np.searchsorted(demands, p.pair_demand[pairs])
    col_keys, q_col = np.unique(
        (position.astype(np.int64) * n_a + cand_agg[p.pair_cand[pairs]]) * 2 + p.pair_late[pairs],
        return_inverse=True,
    )
    n_y = len(col_keys)
    col_cost = np.full(n_y, np.inf)
    np.minimum.at(col_cost, q_col, pair_cost[pairs])
    col_ub = np.bincount(q_col, weights=cap.cand_bytes[p.pair_cand[pairs]], minlength=n_y)
    col_demand, col_agg = col_keys // 2 // n_a, col_keys // 2 % n_a
    # rows: demand equality, aggregate bytes, node seconds, station seconds
    first = np.zeros(n_a, dtype=int)
    first[cand_agg[::-1]] = np.arange(len(cand_agg))[::-1]
    agg_t = agg_keys % n_t
    node_keys, node_row = np.unique(p.cand_node[first] * n_t + agg_t, return_inverse=True)
    sta_keys, sta_row = np.unique(p.cand_station[first] * n_t + agg_t, return_inverse=True)
    n_rows = n_d + n_a + len(node_keys) + len(sta_keys)
    seconds_per_mb = UNIT_BYTES / rate[col_agg]
    cols = np.arange(n_y)
    rows = [col_demand, n_d + col_agg, n_d + n_a + node_row[col_agg]]
    rows += [n_d + n_a + len(node_keys) + sta_row[col_agg], np.arange(n_d)]
    columns = [cols, cols, cols, cols, n_y + np.arange(n_d)]
    values = [np.ones(2 * n_y), seconds_per_mb, seconds_per_mb, np.ones(n_d)]
    bal = _balance_terms(p, demands, col_demand, p.cand_station[first][col_agg])
    size_mb = p.demand_size[demands] / UNIT_BYTES
    n_cols = n_y + n_d + len(bal)
    col_cost = np.concatenate([col_cost, unmet_cost[demands], [b[0] for b in bal]])
    col_upper = np.concatenate([col_ub / UNIT_BYTES, size_mb, [b[1] for b in bal]])
    for k, (_, _, members, stations, inv_cap) in enumerate(bal):
        extra = n_rows + stations
        rows += [extra, n_rows + np.arange(int(stations.max()) + 1)]
        columns += [members, np.full(int(stations.max()) + 1, n_y + n_d + k)]
        values += [inv_cap, -np.ones(int(stations.max()) + 1)]
        n_rows += int(stations.max()) + 1
    col_upper = [col_upper]
    for y_row, y_col, made in _existence_chains(
        p, demands, col_demand, agg_t[col_agg], col_ub / UNIT_BYTES, per, n_t
    ):
        n_chain = len(made)  # s_T >= s_{T-1} + bytes sent in T, s_T <= bytes produced by then
        rows += [n_rows + y_row, n_rows + np.arange(n_chain), n_rows + np.arange(1, n_chain)]
        columns += [y_col, n_cols + np.arange(n_chain), n_cols + np.arange(n_chain - 1)]
        values += [np.ones(len(y_col)), -np.ones(n_chain), np.ones(n_chain - 1)]
        col_cost = np.r_[col_cost, np.zeros(n_chain)]
        col_upper.append(made)
        n_rows += n_chain
        n_cols += n_chain
    col_upper = np.concatenate(col_upper)
    a = sp.csc_matrix(
        (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
        shape=(n_rows, n_cols),
    )
    n_base = n_d + n_a + len(node_keys) + len(sta_keys)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    lp.col_cost_ = col_cost * np.r_[np.full(n_y + n_d, UNIT_BYTES), np.ones(n_cols - n_y - n_d)]
    lp.col_lower_ = np.zeros(n_cols)
    lp.col_upper_ = col_upper
    lp.row_lower_ = np.concatenate([size_mb, np.full(n_rows - n_d, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate(
        [
            size_mb,
            agg_cap / UNIT_BYTES,
            _coarse_sum(cap.node_s, per)[node_keys // n_t, node_keys % n_t],
            _coarse_sum(cap.station_s, per)[sta_keys // n_t, sta_keys % n_t],
            np.zeros(n_rows - n_base),
        ]
    )
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    return lp


def _existence_chains(
    p: Problem,
    demands: np.ndarray,
    col_demand: np.ndarray,
    col_t: np.ndarray,
    col_mb: np.ndarray,
    per: int,
    n_t: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per data source among ``demands`` (docs/recorder.md), a chain that keeps the bytes it
    sends by the end of coarse slot T at most what it has produced before T's last fine slot,
    at the slots T where that could bind (it sends in T, and its columns up to T could carry
    more than it has made): per column of the source, its chain position (the first such T at
    or after its slot) and index, and per position that MB bound."""
    if p.onboard is None:
        return
    index = p.demand_index()
    size = p.demand_size
    last = np.minimum((np.arange(n_t) + 1) * per - 1, max(p.n_slots, 1) - 1)
    order = np.argsort(col_demand, kind="stable")
    bounds = np.searchsorted(col_demand[order], np.arange(len(demands) + 1))
    for src in p.onboard.sources:
        d = index.get(src.id, -1)
        i = int(np.searchsorted(demands, d))
        if d < 0 or i >= len(demands) or demands[i] != d:
            continue
        made = src.available_before()[last] / UNIT_BYTES
        cols = order[bounds[i] : bounds[i + 1]]
        carried = np.cumsum(np.bincount(col_t[cols], weights=col_mb[cols], minlength=n_t))
        sends = np.bincount(col_t[cols], minlength=n_t) > 0
        binds = np.flatnonzero(sends & (made < np.minimum(carried, size[d] / UNIT_BYTES) - 1e-9))
        if len(binds) == 0:
            continue
        cols = cols[col_t[cols] <= binds[-1]]
        yield np.searchsorted(binds, col_t[cols]), cols, made[binds]


def _balance_terms(
    p: Problem, demands: np.ndarray, col_demand: np.ndarray, col_station: np.ndarray
) -> list[tuple[float, float, np.ndarray, np.ndarray, np.ndarray]]:
    """Per class with a balance term in ``evaluate``: (weight, upper bound of the peak, y
    columns, their station row 0.., MB / station capacity) for peak >= bytes_st / cap_st."""
    _, _, w_bal = normalised_weights(p.weights)
    out = []
    for r in np.unique(p.demand_rank[demands]):
        members = np.flatnonzero(p.demand_rank == r)
        used, cap = station_capacity(p, np.flatnonzero(np.isin(p.pair_demand, members)))
        cols = np.flatnonzero(p.demand_rank[demands[col_demand]] == r)
        if w_bal <= 0 or len(used) < 2 or len(cols) == 0:
            continue
        station_row = np.searchsorted(used, col_station[cols])
        peak_max = float(p.demand_size[members].sum() / cap.min())
        out.append((w_bal, peak_max, cols, station_row, UNIT_BYTES / cap[station_row]))
    return out


def _coarse_sum(per_slot: np.ndarray, per: int) -> np.ndarray:
    """(rows, slots) -> (rows, coarse slots): sums over ``per`` consecutive slots."""
    rows, n = per_slot.shape
    padded = np.zeros((rows, (n // per + 1) * per))
    padded[:, :n] = per_slot
    return padded.reshape(rows, -1, per).sum(axis=2)


def _slot_seconds(p: Problem) -> np.ndarray:
    n = max(p.n_slots, 1)
    return np.minimum(p.step_s, p.duration_s - np.arange(n) * p.step_s)


def _costs(p: Problem, demands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-byte cost of every pair and unmet byte of ``demands`` (evaluate's, class by class)."""
    pair_cost = np.zeros(len(p.pair_demand))
    unmet_cost = np.zeros(len(p.demands))
    ranks = p.demand_rank
    for r in np.unique(ranks[demands]):
        members = np.flatnonzero(ranks == r)
        pairs = np.flatnonzero(np.isin(p.pair_demand, members))
        pc, uc, _, _ = coefficients(p, members, pairs, p.weights)
        pair_cost[pairs] = pc
        unmet_cost[members] = uc
    return pair_cost, unmet_cost


def _higher_classes_state(p: Problem, plan: LinkState, rank: int) -> LinkState:
    """``plan`` with only the bytes and links of classes above ``rank``."""
    state = LinkState.empty(p)
    keep = p.demand_rank[p.pair_demand] < rank
    state.pair_bytes = np.where(keep, plan.pair_bytes, 0.0)
    for c in np.flatnonzero(state.used_bytes() > _EPS_BYTES):
        state.open(int(c))
    return state
