"""Priority-queue dispatcher: slot by slot, highest priority, earliest deadline, earliest window first.

The same routine repairs a MILP stage (``fill`` starting from the stage's allocation): a
released, incomplete demand whose node can still send in a slot takes that capacity, moving
its own bytes earlier (from its unmet remainder first, then from its latest slots). After
``fill`` no capacity a demand of the class could have used in a slot is left idle while the
demand waits, so lower classes only ever get what the higher ones could not use.
"""

from __future__ import annotations

import numpy as np

from rsmodel.optimize.problem import Problem
from rsmodel.optimize.state import LinkState

_EPS_BYTES = 0.5


def dispatch_order(problem: Problem, demand_ids: np.ndarray) -> np.ndarray:
    """Pairs of the given demands ordered by (slot, rank, deadline, release, demand, -capacity)."""
    p = problem
    pairs = np.flatnonzero(np.isin(p.pair_demand, demand_ids))
    d = p.pair_demand[pairs]
    deadline = np.array([p.seconds(x.deadline) if x.deadline else np.inf for x in p.demands])
    release = np.array([p.seconds(x.release) for x in p.demands])
    keys = (
        -p.cand_bytes[p.pair_cand[pairs]],
        d,
        release[d],
        deadline[d],
        p.demand_rank[d],
        p.cand_slot[p.pair_cand[pairs]],
    )
    return pairs[np.lexsort(keys)]


def fill(state: LinkState, demand_ids: np.ndarray) -> LinkState:
    """Greedily give each waiting demand (in dispatch order) the capacity its node can reach.

    ``state.pair_bytes`` may already hold an allocation for these demands (a MILP stage):
    bytes are then moved earlier, never added beyond a demand's size.
    """
    p = state.problem
    order = dispatch_order(p, demand_ids)
    if len(order) == 0:
        return state
    size = p.demand_size
    residual = state.residual_bytes()
    slot_of = p.cand_slot[p.pair_cand[order]]
    dem_of = p.pair_demand[order]
    later = _later_pairs(p, order)
    delivered_before = np.zeros(len(p.demands))
    delivered_total = state.delivered()
    starts = np.flatnonzero(
        np.r_[True, (slot_of[1:] != slot_of[:-1]) | (dem_of[1:] != dem_of[:-1])]
    )
    ends = np.r_[starts[1:], len(order)]
    for a, b in zip(starts, ends, strict=True):
        group = order[a:b]
        d = int(dem_of[a])
        if delivered_before[d] < size[d] - _EPS_BYTES:
            movable = size[d] - delivered_total[d] + _bytes_after(state, later[d], int(slot_of[a]))
            if movable > _EPS_BYTES:
                q = _choose_pair(state, group, residual)
                if q >= 0:
                    amount = min(movable, residual[p.pair_cand[q]])
                    if amount > _EPS_BYTES:
                        unmet = size[d] - delivered_total[d]
                        delivered_total[d] += _move_into(
                            state, q, amount, unmet, later[d], residual
                        )
        delivered_before[d] += state.pair_bytes[group].sum()
    return state


def greedy(problem: Problem, state: LinkState | None = None) -> LinkState:
    """The greedy plan: class by class (critical first), each with :func:`fill`."""
    state = state or LinkState.empty(problem)
    ranks = problem.demand_rank
    for rank in np.unique(ranks):
        fill(state, np.flatnonzero(ranks == rank))
    state.close_idle_and_trim()
    return state


def _later_pairs(problem: Problem, order: np.ndarray) -> dict[int, np.ndarray]:
    """All pairs of each demand, latest slot first (bytes are taken back from the end)."""
    d = problem.pair_demand[order]
    out: dict[int, np.ndarray] = {}
    by_d = np.argsort(d, kind="stable")
    bounds = np.flatnonzero(np.r_[True, d[by_d][1:] != d[by_d][:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        pairs = order[by_d[lo:hi]]
        out[int(d[by_d[lo]])] = pairs[
            np.argsort(-problem.cand_slot[problem.pair_cand[pairs]], kind="stable")
        ]
    return out


def _bytes_after(state: LinkState, pairs: np.ndarray, slot: int) -> float:
    p = state.problem
    after = p.cand_slot[p.pair_cand[pairs]] > slot
    return float(state.pair_bytes[pairs[after]].sum())


def _choose_pair(state: LinkState, group: np.ndarray, residual: np.ndarray) -> int:
    """The pair to use in this slot: the node's current link, else the best station free to open."""
    p = state.problem
    cands = p.pair_cand[group]
    current = state.node_link[p.cand_node[cands[0]], p.cand_slot[cands[0]]]
    if current >= 0:
        hit = np.flatnonzero(cands == current)
        return int(group[hit[0]]) if len(hit) else -1
    best, best_key = -1, None
    for q, c in zip(group, cands, strict=True):
        if residual[c] <= _EPS_BYTES or not state.can_open(int(c)):
            continue
        prev = p.cand_prev[c]
        key = (bool(prev >= 0 and state.on[prev]), residual[c])
        if best_key is None or key > best_key:
            best, best_key = int(q), key
    return best


def _move_into(
    state: LinkState, q: int, amount: float, unmet: float, later: np.ndarray, residual: np.ndarray
) -> float:
    """Put ``amount`` bytes on pair ``q``: from the unmet remainder first, then the latest pairs.

    Returns the bytes taken from the unmet remainder (newly delivered).
    """
    p = state.problem
    c = int(p.pair_cand[q])
    if not state.on[c]:
        _open_updating_residual(state, c, residual)
        amount = min(amount, residual[c])
    slot = p.cand_slot[c]
    take_unmet = min(amount, max(unmet, 0.0))
    rest = amount - take_unmet
    for r in later:
        if rest <= _EPS_BYTES or p.cand_slot[p.pair_cand[r]] <= slot:
            break
        take = min(rest, state.pair_bytes[r])
        if take > 0:
            state.pair_bytes[r] -= take
            residual[p.pair_cand[r]] += take
            rest -= take
    moved = amount - max(rest, 0.0)
    state.pair_bytes[q] += moved
    residual[c] -= moved
    return take_unmet


def _open_updating_residual(state: LinkState, c: int, residual: np.ndarray) -> None:
    """Open candidate ``c`` (its own residual already counts its setup); the next slot of the
    same window no longer starts a contact, so it gets its setup bytes back."""
    p = state.problem
    state.open(c)
    nxt = _next_candidate(p, c)
    if nxt >= 0:
        residual[nxt] += p.cand_setup_bytes[nxt]


def _next_candidate(problem: Problem, c: int) -> int:
    n = c + 1
    if n < len(problem.cand_prev) and problem.cand_prev[n] == c:
        return n
    return -1
