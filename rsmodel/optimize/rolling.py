"""Rolling-horizon decomposition of the sync problem (docs/optimisation-scale.md).

The horizon is cut into *commit* blocks of ``block_s`` (``settings.rolling``, the strategy
frame :mod:`rsmodel.optimize.strategy` shared with compute jobs); block k is solved by the core staged
MILP (:func:`rsmodel.optimize.solve.solve_problem`, greedy warm starts) on its own small
:class:`Problem` covering ``[b_k, b_k + block_s + lookahead_s)``, and only its first
``block_s`` are committed. State carried across a boundary, exactly:

- each demand enters the next block with its *remaining* bytes (size minus committed bytes);
  committed bytes are added to the full-horizon pair of the same (demand, window, slot), so a
  byte is counted once and a transfer spanning a boundary continues in the next block;
- a contact running at the boundary continues: the next block's first slot of that window does
  not pay the station's setup again;
- committed slots end where the next block starts, so no antenna or node link is used twice;
- a demand due after the block's look-ahead whose node cannot bring its bytes down in time
  (optimistic node capacity x ``DUE_SHARE``, earliest deadline first) gets the excess as a
  sub-demand due at the block end ("must deliver by"), which pulls that work into the block;
- with recorders and transmitter power (``problem.onboard``, :func:`block_onboard`): each data
  source starts the block with the bytes it still holds (initial + produced before the block -
  committed downlinks - committed losses) and the block's slice of its production; released
  syncs still onboard enter in the block's first slot; each powered node starts from the
  committed SOC at the block start (the slot model of the committed links); the block's losses
  in its commit part are committed with its downlinks. The plan's fill and SOC curves are
  integrated once over the whole horizon from the committed state, so they are one curve.

The result is compared with the full-horizon greedy plan by the core's lexicographic class score
and the better one is kept (:func:`rsmodel.optimize.solve.keep_greedy_if_better`), so a time-out never
returns a plan worse than greedy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np

from rsmodel.optimize.energy import WH_PER_WS, simulate_soc_wh
from rsmodel.optimize.greedy import greedy
from rsmodel.optimize.objective import (
    DEADLINE_PENALTY,
    coefficients,
    normalised_weights,
    station_capacity,
    total_objective,
)
from rsmodel.optimize.onboard import Onboard
from rsmodel.optimize.problem import (
    CLASS_NAMES,
    UNIT_BYTES,
    Demand,
    GivenCosts,
    Problem,
    build_problem,
)
from rsmodel.optimize.recorder import downlinked, onboard_index, tx_wh
from rsmodel.optimize.schedule import Schedule, SolverStats, build_schedule
from rsmodel.optimize.setup import carry_of, contact_starts, setup_from
from rsmodel.optimize.solve import keep_greedy_if_better, solve_problem
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveStatus, StageReport, worst
from rsmodel.optimize.strategy import Rolling
from rsmodel.optimize.tracks import TrackSet, tx_slots
from rsmodel.progress import bar

EARLY_WEIGHT = 0.1  # cost of a sync waiting a whole block (a missed deadline costs 10)
DUE_SHARE = 0.5  # share of a node's optimistic future capacity counted on for later deadlines
MIN_BLOCK_S = 0.2  # a block's least budget; at it (time limit spent) the block is greedy
_EPS_BYTES = 0.5
_EPS_S = 1e-6
_TICK_S = 1e-6  # plan times are ISO 8601 to the microsecond


def solve_rolling(problem: Problem) -> Schedule:
    """Rolling-horizon staged MILP over ``problem`` (blocks: ``settings.rolling``); never worse
    than its full-horizon greedy plan, or with recorders and power (``problem.onboard``) than
    each block's greedy plan: their full-horizon greedy re-simulates a node's whole SOC curve
    for every link it tries, half of a week's run (docs/optimisation-scale.md)."""
    t_start = time.perf_counter()
    shape: Rolling = problem.settings.rolling
    baseline = greedy(problem) if problem.onboard is None else None
    greedy_s = time.perf_counter() - t_start
    blocks = block_slots(problem, shape.block_s, shape.lookahead_s)
    costs = full_costs(problem)
    committed = LinkState.empty(problem)
    stats = SolverStats(
        "milp", "rolling", SolveStatus.BLOCKS_OPTIMAL, time_limit_s=problem.settings.time_limit_s
    )
    stop = t_start + problem.settings.time_limit_s
    with bar(len(blocks), desc="rolling blocks") as progress:
        tail = None
        for k, (b0, b1, b2) in enumerate(blocks):
            budget = max((stop - time.perf_counter()) / (len(blocks) - k), MIN_BLOCK_S)
            entry, tail = _solve_block(problem, costs, committed, b0, b1, b2, budget, tail)
            tail = tail if shape.warm_start else None
            stats.stages.append(entry)
            stats.build_s += entry.build_s
            stats.solve_s += entry.solve_s
            progress.update(1)
    stats.status = worst([s.status for s in stats.stages], SolveStatus.BLOCKS_OPTIMAL)
    if stats.status == SolveStatus.EMPTY:
        stats.status = SolveStatus.BLOCKS_OPTIMAL
    committed.close_idle_and_trim()
    stats.objective = total_objective(problem, committed)
    if baseline is None:
        stats.notes.append(
            f"{len(blocks)} {shape.describe()}; each block kept its greedy plan if better"
        )
        return build_schedule(committed, stats)
    stats.notes.append(
        f"{len(blocks)} {shape.describe()}; greedy baseline objective "
        f"{total_objective(problem, baseline):.6g} in {greedy_s:.3f} s"
    )
    committed = keep_greedy_if_better(
        problem,
        committed,
        baseline,
        stats,
        f"full-horizon greedy scored better than the rolling plan ({stats.objective:.6g}): "
        "greedy kept",
    )
    return build_schedule(committed, stats)


def block_slots(problem: Problem, block_s: float, lookahead_s: float) -> list[tuple[int, int, int]]:
    """(first slot, first slot after the commit part, first slot after the look-ahead) per block."""
    n = max(problem.n_slots, 1)
    commit = max(1, int(round(block_s / problem.step_s)))
    ahead = max(0, int(round(lookahead_s / problem.step_s)))
    return [(b0, min(b0 + commit, n), min(b0 + commit + ahead, n)) for b0 in range(0, n, commit)]


# --------------------------------------------------------------------------- block costs
@dataclass
class FullCosts:
    """The full horizon's objective per byte (:func:`rsmodel.optimize.objective.coefficients`
    of each class) and its station capacities, shared by every block."""

    pair_cost: np.ndarray  # (P,) per full pair
    unmet_cost: np.ndarray  # (D,) per full demand
    deadline_cost: np.ndarray  # (D,) the deadline-penalty part of unmet_cost
    station_cap: np.ndarray  # (4, S) balance denominators per class rank


def full_costs(p: Problem) -> FullCosts:
    """Per-byte costs of every pair and demand as the full-horizon class objectives price them."""
    pair_cost = np.zeros(len(p.pair_demand))
    unmet_cost = np.zeros(len(p.demands))
    station_cap = np.full((len(CLASS_NAMES), len(p.stations)), np.inf)
    for rank in np.unique(p.demand_rank):
        demands = np.flatnonzero(p.demand_rank == rank)
        pairs = np.flatnonzero(np.isin(p.pair_demand, demands))
        pair_cost[pairs], unmet_cost[demands], _, _ = coefficients(p, demands, pairs, p.weights)
        used, cap = station_capacity(p, pairs)
        station_cap[rank, used] = cap
    deadline_cost = DEADLINE_PENALTY * p.demand_has_deadline / np.maximum(p.demand_size, 1.0)
    return FullCosts(pair_cost, unmet_cost, deadline_cost, station_cap)


def block_costs(
    p: Problem,
    costs: FullCosts,
    committed: LinkState,
    sub: Problem,
    parent: np.ndarray,
    full_q: np.ndarray,
) -> GivenCosts:
    """The block's objective in full-horizon terms.

    A block pair costs what the same (demand, window, slot) costs in the full objective. A
    byte the block leaves undelivered costs the full unmet price, except that a demand due
    after the block (its "must deliver by" part split off) is not charged the deadline penalty
    for it: it can still be on time in a later block. Balance uses the full horizon's station
    capacities and the bytes earlier blocks sent, so the block minimises the running peak."""
    end_s = p.seconds(sub.end)
    later = np.array(
        [d.deadline is not None and p.seconds(d.deadline) > end_s + 1e-6 for d in sub.demands],
        dtype=bool,
    )
    unmet = costs.unmet_cost[parent] - np.where(later, costs.deadline_cost[parent], 0.0)
    early_pair, early_unmet = _early_costs(p, sub, parent)
    used = committed.pair_bytes > _EPS_BYTES
    sent = np.zeros_like(costs.station_cap)
    np.add.at(
        sent,
        (p.demand_rank[p.pair_demand[used]], p.cand_station[p.pair_cand[used]]),
        committed.pair_bytes[used],
    )
    scale = _class_scale(sub.demand_rank, unmet)
    unmet = unmet + early_unmet
    pair_cost = (costs.pair_cost[full_q] + early_pair) * scale[sub.demand_rank[sub.pair_demand]]
    weight = normalised_weights(p.weights)[2] * scale
    return GivenCosts(pair_cost, unmet * scale[sub.demand_rank], costs.station_cap, sent, weight)


def _early_costs(p: Problem, sub: Problem, parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per byte: ``EARLY_WEIGHT`` x the share of the block a pair's slot end comes after the
    demand's (block) release, and ``EARLY_WEIGHT`` for a byte left to later blocks.

    A waiting sync blocks its node's lower classes and an antenna at every station it sees
    (LinkState.begin_stage), and a byte promised to the look-ahead is not yet sent; on a week's
    horizon the objective's latency term is far inside the MIP gap, so blocks add this one."""
    size = np.maximum(p.demand_size[parent], 1.0)
    release = np.array([max(sub.seconds(d.release), 0.0) for d in sub.demands])
    r = release[sub.pair_demand] if len(parent) else np.zeros(0)
    wait = np.clip((sub.cand_t1_s[sub.pair_cand] - r) / max(sub.duration_s, 1.0), 0.0, 1.0)
    d = sub.pair_demand
    return EARLY_WEIGHT * wait / size[d], EARLY_WEIGHT / size


def _class_scale(rank: np.ndarray, unmet_cost: np.ndarray) -> np.ndarray:
    """Per class, 1 / (mean unmet cost of a megabyte): block costs are far below HiGHS's
    coefficient tolerances otherwise (a week's latency term is ~1e-9 per MB)."""
    scale = np.ones(len(CLASS_NAMES))
    for r in np.unique(rank):
        mean = float(unmet_cost[rank == r].mean()) * UNIT_BYTES
        scale[r] = 1.0 / mean if mean > 0 else 1.0
    return scale


# --------------------------------------------------------------------------- one block
def _solve_block(
    problem: Problem,
    costs: FullCosts,
    committed: LinkState,
    b0: int,
    b1: int,
    b2: int,
    budget_s: float,
    tail: np.ndarray | None,
) -> tuple[StageReport, np.ndarray | None]:
    """Solve the block ``[b0, b2)`` (warm-started from ``tail``, the previous block's
    look-ahead plan per full pair, and greedy), commit its slots ``[b0, b1)`` into
    ``committed`` and return its own look-ahead plan."""
    t0 = time.perf_counter()
    sub, parent, full_q = block_problem(problem, costs, committed, b0, b2, budget_s)
    sub.tracks, full_opt = block_tracks(problem, committed, b0, b2)
    entry = StageReport(
        name=f"{problem.time_at(b0 * problem.step_s).isoformat()}",
        status=SolveStatus.EMPTY,
        build_s=time.perf_counter() - t0,
        sizes={
            "demands": len(sub.demands),
            "pairs": len(sub.pair_demand),
            "track_options": len(sub.tracks),
        },
    )
    if len(sub.pair_demand) == 0 and len(sub.tracks) == 0:
        if sub.onboard is not None:  # nothing goes down, but the recorders fill (and may lose)
            commit_block(problem, committed, greedy(sub), full_q, b0, b1)
        return entry, None
    fixed = block_state(sub, committed, b0, b2)
    if budget_s <= MIN_BLOCK_S:  # the time limit is spent: the block's greedy plan, built once
        state = greedy(sub, fixed)
        tail = commit_block(problem, committed, state, full_q, b0, b1)
        commit_tracks(committed, state, full_opt, b0, b1)
        entry.status = SolveStatus.TIME_LIMIT
        entry.extra["allocation"] = "greedy (time limit spent)"
        entry.solve_s = time.perf_counter() - t0 - entry.build_s
        return entry, tail
    schedule = solve_problem(sub, hint=None if tail is None else tail[full_q], fixed=fixed)
    tail = commit_block(problem, committed, schedule.state, full_q, b0, b1)
    commit_tracks(committed, schedule.state, full_opt, b0, b1)
    s = schedule.solver
    starts = {st.extra.get("warm_start") for st in s.stages}
    entry.status, entry.objective, entry.mip_gap = s.status, s.objective, s.mip_gap
    entry.extra["warm_start"] = "hint + greedy" if "hint + greedy" in starts else "greedy"
    entry.build_s += s.build_s
    entry.solve_s = time.perf_counter() - t0 - entry.build_s
    return entry, tail


def block_state(sub: Problem, committed: LinkState, b0: int, b2: int) -> LinkState:
    """The block's empty state with the antennas of tracks committed by earlier blocks that reach
    into it."""
    fixed = LinkState.empty(sub)
    fixed.track_busy[:] = _pad(committed.track_busy[:, b0:b2], fixed.track_busy.shape[1])
    return fixed


def block_problem(
    problem: Problem,
    costs: FullCosts,
    committed: LinkState,
    b0: int,
    b2: int,
    budget_s: float,
) -> tuple[Problem, np.ndarray, np.ndarray]:
    """The Problem of slots ``[b0, b2)`` with the remaining bytes of every released demand,
    priced with the full horizon's costs (:func:`block_costs`).

    Returns it with ``parent`` (full demand index per block demand) and ``full_q`` (full pair
    index per block pair).
    """
    p = problem
    start = p.time_at(b0 * p.step_s)
    end = p.time_at(min(b2 * p.step_s, p.duration_s))
    w = p.windows
    rows = np.flatnonzero((w["end"] > start).to_numpy() & (w["start"] < end).to_numpy())
    remaining = p.demand_size - committed.delivered()
    onboard = block_onboard(p, committed, b0, b2)
    if onboard is not None:  # a source brings what it holds and produces in the block
        index = p.demand_index()
        for src in onboard.sources:
            if src.id in index:
                i = index[src.id]
                remaining[i] = min(remaining[i], src.total_bytes)
    demands, parent = _block_demands(p, remaining, start, end, rows)
    sub = build_problem(
        start=start,
        end=end,
        step_s=p.step_s,
        nodes=p.nodes,
        stations=p.stations,
        windows=w.iloc[rows],
        demands=demands,
        weights=p.weights,
        settings=replace(p.settings, time_limit_s=budget_s),
        simultaneous_nodes=p.simultaneous_nodes,
        onboard=onboard,
    )
    _continue_contacts(p, committed, sub, rows, b0)
    _guard_warmup(p, committed, sub, rows, b0)
    _carry_turnaround(p, committed, sub, rows, b0)
    full_q = full_pairs_of_block(p, sub, parent, rows, b0)
    sub.costs = block_costs(p, costs, committed, sub, parent, full_q)
    return sub, parent, full_q


def _block_demands(
    p: Problem, remaining: np.ndarray, start: datetime, end: datetime, rows: np.ndarray
) -> tuple[list[Demand], np.ndarray]:
    """Released, unfinished demands with their remaining bytes; due-soon excess split off."""
    due_now = _must_deliver(p, remaining, end, rows)
    demands, parent = [], []
    for i, d in enumerate(p.demands):
        if remaining[i] <= _EPS_BYTES or d.release >= end:
            continue
        release = max(d.release, start)
        rest = remaining[i] - due_now[i]
        if due_now[i] > _EPS_BYTES:
            demands.append(
                replace(d, id=f"{d.id}#due", size_bytes=due_now[i], release=release, deadline=end)
            )
            parent.append(i)
        if rest > _EPS_BYTES:
            demands.append(replace(d, size_bytes=rest, release=release))
            parent.append(i)
    return demands, np.array(parent, dtype=int)


def _must_deliver(p: Problem, remaining: np.ndarray, end: datetime, rows: np.ndarray) -> np.ndarray:
    """Bytes per demand that must leave before ``end``: per node, earliest deadline first, the
    bytes due after ``end`` beyond ``DUE_SHARE`` x the node's window capacity from ``end`` to
    each deadline."""
    due = np.zeros(len(p.demands))
    end_s = p.seconds(end)
    later = [
        i
        for i, d in enumerate(p.demands)
        if d.deadline is not None
        and p.seconds(d.deadline) > end_s
        and remaining[i] > _EPS_BYTES
        and p.seconds(d.release) < end_s
    ]
    if not later:
        return due
    w = p.windows
    w0 = np.maximum((w["start"] - p.start).dt.total_seconds().to_numpy(), end_s)
    w1 = (w["end"] - p.start).dt.total_seconds().to_numpy()
    rate = w["bandwidth_bps"].to_numpy(dtype=float) / 8.0
    node = w["node"].to_numpy()
    by_node: dict[str, list[int]] = {}
    for i in later:
        by_node.setdefault(p.demands[i].node, []).append(i)
    for name, items in by_node.items():
        mine = node == name
        items.sort(key=lambda i: p.demands[i].deadline)
        cumulative = 0.0
        for i in items:
            cumulative += remaining[i]
            dl = p.seconds(p.demands[i].deadline)
            cap = DUE_SHARE * float((rate * np.clip(np.minimum(w1, dl) - w0, 0, None))[mine].sum())
            excess = min(cumulative - cap, remaining[i])
            if excess > _EPS_BYTES:
                due[i] = excess
                cumulative -= excess
    return due


def _continue_contacts(
    p: Problem, committed: LinkState, sub: Problem, rows: np.ndarray, b0: int
) -> None:
    """A window whose slot ``b0 - 1`` is on in ``committed`` continues its contact: the block's
    first candidate of that window pays only what is left of that contact's setup (usually
    nothing; a setup over several slots may cross the block edge)."""
    if b0 == 0:
        return
    first = np.flatnonzero((sub.cand_prev < 0) & (sub.cand_slot == 0))
    full = _full_candidates(p, rows[sub.cand_window[first]], np.full(len(first), b0 - 1))
    on = (full >= 0) & committed.on[np.maximum(full, 0)]
    first, full = first[on], full[on]
    if len(first) == 0:
        return
    began = contact_starts(p, committed.on)[full]
    left = np.maximum(p.cand_t0_s[began] + p.cand_setup_s[began] - b0 * p.step_s, 0.0)
    length = sub.cand_t1_s[first] - sub.cand_t0_s[first]
    sub.cand_setup_s[first] = left
    t0 = sub.cand_t0_s[first]
    sub.cand_setup_bytes[first] = sub.curve_bytes(first, t0, t0 + np.minimum(left, length))
    sub.cand_carry = carry_of(sub.cand_t0_s, sub.cand_t1_s, sub.cand_prev, sub.cand_setup_s)
    sub.cand_setup_from = setup_from(sub.cand_carry)


def _carry_turnaround(
    p: Problem, committed: LinkState, sub: Problem, rows: np.ndarray, b0: int
) -> None:
    """The block keeps its antennas as the full horizon does (each candidate through its full
    ``cand_cover_last``) and starts with the antennas committed contacts still hold by their
    turnaround (rsmodel.optimize.turnaround)."""
    full = _full_candidates(p, rows[sub.cand_window], sub.cand_slot + b0)
    if np.all(full >= 0):
        sub.cand_cover_last = np.clip(p.cand_cover_last[full] - b0, sub.cand_slot, None)
        sub.cand_cover_last = np.minimum(sub.cand_cover_last, max(sub.n_slots - 1, 0))
    on = np.flatnonzero(committed.on & (p.cand_cover_last >= b0))
    sub.given_busy = [
        (int(p.cand_station[c]), int(p.cand_node[c]), 0, int(p.cand_cover_last[c]) - b0) for c in on
    ]


# --------------------------------------------------------------------------- onboard state
def block_onboard(p: Problem, committed: LinkState, b0: int, b2: int) -> Onboard | None:
    """Recorders, sources and batteries of slots ``[b0, b2)`` as ``committed`` leaves them.

    A source's ``initial_bytes`` are what it holds at ``b0`` (:func:`onboard_held`), its
    production the slice ``[b0, b2)`` of the full horizon's; a node's battery starts at the
    committed SOC (:func:`committed_soc_wh`) with its sunlit flags, slot lengths and planned
    compute sliced the same way."""
    ob = p.onboard
    if ob is None:
        return None
    held = onboard_held(p, committed, b0)
    sources = [
        replace(src, produced_bytes=src.produced_bytes[b0:b2], initial_bytes=float(h))
        for src, h in zip(ob.sources, held, strict=True)
    ]
    soc = committed_soc_wh(p, committed, b0)
    energy = {
        name: replace(
            e,
            initial_wh=float(soc[name][-1]),
            sunlit=e.sunlit[b0:b2],
            dt_s=e.dt_s[b0:b2],
            planned_wh=None if e.planned_wh is None else e.planned_wh[b0:b2],
        )
        for name, e in ob.energy.items()
    }
    return Onboard(dict(ob.capacity_bytes), sources, energy)


def onboard_held(p: Problem, committed: LinkState, b0: int) -> np.ndarray:
    """(S,) bytes each source holds at the start of slot ``b0``: its initial bytes and
    production before ``b0`` minus the committed downlinks and losses before ``b0``."""
    oi = onboard_index(p)
    down = downlinked(p, committed.pair_bytes, oi.src_demand)[:, :b0].sum(axis=1)
    gone = down + committed.lost[:, :b0].sum(axis=1)
    return np.maximum(oi.available_before[:, b0] - gone, 0.0)


def committed_soc_wh(p: Problem, committed: LinkState, b0: int) -> dict[str, np.ndarray]:
    """Per node with energy figures, the SOC (Wh) at the slot edges ``0 .. b0`` of the slot
    model with the committed links on (:func:`rsmodel.optimize.recorder.tx_wh`: usable seconds
    and warm-ups; no higher than the SOC of the executed operations)."""
    drawn = tx_wh(p, committed.on)
    out = {}
    for n, name in enumerate(p.nodes):
        e = p.onboard.energy.get(name)
        if e is None:
            continue
        net = (e.charge_wh - e.idle_wh - drawn.get(n, 0.0))[:b0]
        out[name] = simulate_soc_wh(e.capacity_wh, e.initial_wh, net)
    return out


def _guard_warmup(
    p: Problem, committed: LinkState, sub: Problem, rows: np.ndarray, b0: int
) -> None:
    """A contact starting in the block's first ``tx_warmup_s`` warms its transmitter up before
    ``b0``, in committed slots the block's battery does not see (the block charges it in its
    first slot). Where the committed SOC of those slots is closer to the floor than one
    warm-up, the block starts no new contact there (their byte capacity is zeroed)."""
    if p.onboard is None or b0 == 0 or not p.onboard.energy:
        return
    first = np.flatnonzero((sub.cand_prev < 0) & (sub.cand_slot == 0))
    full = _full_candidates(p, rows[sub.cand_window[first]], np.full(len(first), b0 - 1))
    going_on = np.zeros(len(rows), dtype=bool)
    going_on[sub.cand_window[first[(full >= 0) & committed.on[np.maximum(full, 0)]]]] = True
    soc = committed_soc_wh(p, committed, b0)
    for name, e in p.onboard.energy.items():
        if e.tx_warmup_s <= 0 or e.tx_power_w <= 0:
            continue
        k = max(b0 - int(np.ceil(e.tx_warmup_s / p.step_s)), 0)
        headroom = float((soc[name][k:] - e.floor_wh()[k : b0 + 1]).min())
        if headroom >= e.tx_power_w * e.tx_warmup_s * WH_PER_WS:
            continue
        early = (
            (sub.cand_node == p.nodes.index(name))
            & (sub.cand_t0_s < e.tx_warmup_s)
            & ~going_on[sub.cand_window]
        )
        sub.cand_bytes[early] = 0.0


def full_pairs_of_block(
    p: Problem, sub: Problem, parent: np.ndarray, rows: np.ndarray, b0: int
) -> np.ndarray:
    """Full-horizon pair of each block pair (same demand, window and slot)."""
    c = sub.pair_cand
    full_c = _full_candidates(p, rows[sub.cand_window[c]], sub.cand_slot[c] + b0)
    full_q = _full_pairs(p, parent[sub.pair_demand], full_c)
    if np.any(full_q < 0):
        raise RuntimeError("a block pair has no full-horizon pair (slot grids misaligned)")
    return full_q


def commit_block(
    p: Problem, committed: LinkState, block: LinkState, full_q: np.ndarray, b0: int, b1: int
) -> np.ndarray:
    """Add the block's bytes, links (those carrying and the setup slots before them) and
    recorder losses in slots ``[b0, b1)`` to the full-horizon state; return the rest (its
    look-ahead plan) as bytes per full pair.

    A pair sending less than its link does in ``_TICK_S`` (the plan's time resolution) on a
    link that carries other bytes is solver round-off: it is not committed (the link stays on).
    The block's candidates are rebuilt from its own start, so a full candidate may come out a
    fraction of a byte over its capacity: its bytes are scaled to fit."""
    sub = block.problem
    c = sub.pair_cand
    rate = sub.cand_bytes[c] / np.maximum(sub.cand_t1_s[c] - sub.cand_t0_s[c], _EPS_S)
    used = block.pair_bytes > _EPS_BYTES
    tiny = used & (block.pair_bytes < rate * _TICK_S)
    carries = np.zeros(len(sub.cand_window), dtype=bool)
    carries[c[used & ~tiny]] = True
    used &= ~(tiny & carries[c])
    ahead = sub.cand_slot[sub.pair_cand] >= b1 - b0
    now = np.flatnonzero(used & ~ahead)
    np.add.at(committed.pair_bytes, full_q[now], block.pair_bytes[now])
    full_of = np.full(len(sub.cand_window), -1, dtype=int)
    full_of[sub.pair_cand] = p.pair_cand[full_q]
    setup = block.on & (sub.cand_slot < b1 - b0) & (full_of >= 0)  # carrying, or their setup
    for cand in np.union1d(p.pair_cand[full_q[now]], full_of[setup]):
        committed.open(int(cand))
    short = np.minimum(committed.residual_bytes(), 0.0)  # round-off of the rebuilt candidates
    q = full_q[now]
    load = committed.used_bytes()[p.pair_cand[q]]
    committed.pair_bytes[q] *= 1.0 + short[p.pair_cand[q]] / np.maximum(load, 1.0)
    if p.onboard is not None:
        committed.lost[:, b0:b1] = block.lost[:, : b1 - b0]
    tail = np.zeros(len(p.pair_demand))
    later = np.flatnonzero(used & ahead)
    np.add.at(tail, full_q[later], block.pair_bytes[later])
    return tail


def block_tracks(p: Problem, committed: LinkState, b0: int, b2: int) -> tuple[TrackSet, np.ndarray]:
    """Track options inside the block's slots ``[b0, b2)`` of requests not yet satisfied, on the
    block's time axis, and the full option index of each. A split request enters with its
    remaining time (options not overlapping its committed segments; the last ones are trimmed,
    :func:`rsmodel.optimize.tracks.trimmed_ends`)."""
    ts = p.tracks
    if len(ts) == 0:
        return TrackSet.empty(), np.zeros(0, dtype=int)
    got = committed.tracked_s()
    first = ts.occ_slot[ts.occ_ptr[:-1]]
    last = ts.occ_slot[ts.occ_ptr[1:] - 1]
    inside = (first >= b0) & (last < b2)
    left = ts.requested_s - got
    req = ts.opt_request
    split = np.array([r.min_segment_s is not None for r in ts.requests], dtype=bool)
    open_ = np.where(split, left > _EPS_S, got <= _EPS_S)
    keep = inside & open_[req] & (split[req] | (ts.duration_s <= left[req] + _EPS_S))
    taken = np.zeros((len(ts.requests), max(p.n_slots, 1) + 1), dtype=bool)
    for o in np.flatnonzero(committed.track_on):
        taken[req[o], list(tx_slots(ts, int(o), p.step_s))] = True
    for o in np.flatnonzero(keep & split[req]):
        keep[o] = not taken[req[o], list(tx_slots(ts, int(o), p.step_s))].any()
    keep = np.flatnonzero(keep)
    parents = np.unique(req[keep])
    requests = [
        replace(
            ts.requests[i],
            duration_s=float(left[i]),
            min_duration_s=float(max(ts.requests[i].min_duration_s - got[i], 0.0)),
        )
        if got[i] > _EPS_S
        else ts.requests[i]
        for i in parents
    ]
    sub = ts.subset(keep, requests, np.searchsorted(parents, req[keep]), b0, p.step_s)
    return sub, keep


def commit_tracks(
    committed: LinkState, block: LinkState, full_opt: np.ndarray, b0: int, b1: int
) -> None:
    """Commit the block's tracks that start (setup included) in its commit part ``[b0, b1)``;
    they keep their antennas beyond ``b1`` (later blocks see them as busy)."""
    ts = block.problem.tracks
    if len(ts) == 0:
        return
    first = ts.occ_slot[ts.occ_ptr[:-1]]
    for o in np.flatnonzero(block.track_on & (first < b1 - b0)):
        committed.place_track(int(full_opt[o]))
    parent = committed.problem.tracks.opt_request[full_opt]
    offered = np.zeros(len(committed.track_offered), dtype=int)
    np.maximum.at(offered, parent, block.track_offered[ts.opt_request])
    np.maximum(committed.track_offered, offered, out=committed.track_offered)


def _pad(busy: np.ndarray, n_slots: int) -> np.ndarray:
    """``busy`` (station, slots) cut or padded with zeros to ``n_slots`` columns."""
    out = np.zeros((busy.shape[0], n_slots), dtype=busy.dtype)
    out[:, : min(n_slots, busy.shape[1])] = busy[:, :n_slots]
    return out


def _full_candidates(p: Problem, windows: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Full-problem candidate index of each (window row, slot), -1 where none."""
    return _lookup(p.cand_window * (p.n_slots + 1) + p.cand_slot, windows * (p.n_slots + 1) + slots)


def _full_pairs(p: Problem, demands: np.ndarray, cands: np.ndarray) -> np.ndarray:
    """Full-problem pair index of each (demand, candidate), -1 where none."""
    n = len(p.cand_window) + 1
    found = _lookup(p.pair_demand * n + p.pair_cand, demands * n + np.maximum(cands, 0))
    return np.where(cands >= 0, found, -1)


def _lookup(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Position of each ``wanted`` value in ``keys`` (unique), -1 where absent."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    at = np.clip(np.searchsorted(sorted_keys, wanted), 0, max(len(keys) - 1, 0))
    if len(keys) == 0:
        return np.full(len(wanted), -1, dtype=int)
    return np.where(sorted_keys[at] == wanted, order[at], -1)
