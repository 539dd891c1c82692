"""Priority-queue dispatcher: slot by slot, highest priority, earliest deadline, earliest window first.

Class by class (critical first, like the MILP stages, with the same priority blocks from
:meth:`LinkState.begin_stage`), each slot in time order: every released demand with bytes left
takes its node's current link in that slot, or opens the best free link (continuing a contact
first, then the largest capacity); a node with ``simultaneous_bands`` opens a link on another
band when its links in the slot are full.

With recorders and transmitter power (``problem.onboard``) a source sends only bytes produced
before the slot, a link opens only if its node's SOC stays above the floor
(:class:`rsmodel.optimize.recorder.PowerCheck`), and the recorders are replayed slot by slot as the
class is placed (:class:`rsmodel.optimize.recorder.RecorderReplay`): a byte lost before a slot
is not sent in it, and the class's losses are recorded.
"""

from __future__ import annotations

import numpy as np

from rsmodel.optimize.problem import Problem
from rsmodel.optimize.recorder import PowerCheck, RecorderReplay, onboard_index
from rsmodel.optimize.setup import spill_bytes
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.tracks import place_tracks

_EPS_BYTES = 0.5


def dispatch_order(problem: Problem, pairs: np.ndarray) -> np.ndarray:
    """``pairs`` ordered by (slot, rank, deadline, release, demand, -capacity)."""
    p = problem
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
    """Greedily place the current class's tracks (:func:`place_tracks`), then send the remaining
    bytes of ``demand_ids`` within the current stage's blocks."""
    p = state.problem
    place_tracks(state)
    order = dispatch_order(p, state.stage_pairs(demand_ids))
    room = _Room(state, demand_ids)
    if len(order) == 0:
        room.finish()
        return state
    residual = state.residual_bytes()
    remaining = p.demand_size - state.delivered()
    slot_of = p.cand_slot[p.pair_cand[order]]
    dem_of = p.pair_demand[order]
    starts = np.flatnonzero(
        np.r_[True, (slot_of[1:] != slot_of[:-1]) | (dem_of[1:] != dem_of[:-1])]
    )
    ends = np.r_[starts[1:], len(order)]
    for a, b in zip(starts, ends, strict=True):
        d = dem_of[a]
        while remaining[d] > _EPS_BYTES:  # a node with simultaneous bands may use more links
            q, need = _choose_pair(state, order[a:b], residual, room)
            if q < 0:
                break
            c = p.pair_cand[q]
            free = residual[c] if state.on[c] else _value(state, int(c), residual, need)
            amount = min(remaining[d], free, room.existing(d, slot_of[a], remaining[d]))
            if amount <= _EPS_BYTES:
                break
            if not state.on[c]:
                for k in _open(state, int(c), residual, need):
                    room.opened(k)
                amount = min(amount, residual[c])
            if amount <= _EPS_BYTES:
                break
            state.pair_bytes[q] += amount
            residual[c] -= amount
            remaining[d] -= amount
    room.finish()
    return state


def follow(state: LinkState, demand_ids: np.ndarray, hint: np.ndarray) -> LinkState:
    """Place ``hint`` (bytes per pair, e.g. a previous block's look-ahead plan) for ``demand_ids``
    in slot order wherever the current stage's rules still allow it, then :func:`fill` the rest."""
    p = state.problem
    allowed = state.stage_pairs(demand_ids)
    pairs = allowed[hint[allowed] > _EPS_BYTES]
    pairs = pairs[np.argsort(p.cand_slot[p.pair_cand[pairs]], kind="stable")]
    residual = state.residual_bytes()
    remaining = p.demand_size - state.delivered()
    room = _Room(state, demand_ids)
    for q in pairs:
        c, d = p.pair_cand[q], p.pair_demand[q]
        need = [] if state.on[c] else state.contact_to(int(c))
        free = residual[c] if state.on[c] else _value(state, int(c), residual, need)
        amount = min(hint[q], free, remaining[d])
        amount = min(amount, room.existing(d, p.cand_slot[c], remaining[d]))
        if amount <= _EPS_BYTES:
            continue
        if not state.on[c]:
            if not (need and room.powered(need)):
                continue
            for k in _open(state, int(c), residual, need):
                room.opened(k)
        if amount > _EPS_BYTES:
            state.pair_bytes[q] += amount
            residual[c] -= amount
            remaining[d] -= amount
    return fill(state, demand_ids)


def greedy(problem: Problem, state: LinkState | None = None) -> LinkState:
    """The greedy plan: class by class (critical first), each with :func:`fill`."""
    state = state or LinkState.empty(problem)
    ranks = problem.demand_rank
    for rank in class_ranks(problem):
        state.begin_stage(int(rank))
        fill(state, np.flatnonzero(ranks == rank))
    state.close_idle_and_trim()
    return state


def class_ranks(problem: Problem) -> list[int]:
    """The classes with demands or track requests, most urgent first."""
    ranks = np.r_[problem.demand_rank, problem.tracks.request_rank]
    return [int(r) for r in np.unique(ranks)]


class _Room:
    """What onboard data and the battery allow a dispatch of one class (``demand_ids``) in
    slot order; unlimited without ``onboard``."""

    def __init__(self, state: LinkState, demand_ids: np.ndarray) -> None:
        self.state = state
        p = state.problem
        self.replay: RecorderReplay | None = None
        self.power: PowerCheck | None = None
        if p.onboard is None:
            return
        self.power = PowerCheck(state)
        if not p.onboard.sources or len(demand_ids) == 0:
            return
        oi = onboard_index(p)
        self.source_of = np.full(len(p.demands), -1, dtype=int)
        has = oi.src_demand >= 0
        self.source_of[oi.src_demand[has]] = np.flatnonzero(has)
        self.avail = oi.available_before
        self.size = p.demand_size
        self.replay = RecorderReplay(state, int(p.demand_rank[demand_ids[0]]))

    def existing(self, d: int, slot: int, remaining: float) -> float:
        """Bytes of demand ``d`` produced before ``slot``, not lost and not yet sent."""
        if self.replay is None or self.source_of[d] < 0:
            return np.inf
        s = self.source_of[d]
        self.replay.advance(int(slot))
        sent = self.size[d] - remaining
        return float(self.avail[s, slot] - self.replay.lost_before(s) - sent)

    def finish(self) -> None:
        """Record the class's losses (the rest of the horizon replayed)."""
        if self.replay is not None:
            self.replay.finish()

    def powered(self, cands: list[int]) -> bool:
        """Whether the battery allows switching on ``cands`` together."""
        return self.power is None or self.power.allows(cands)

    def opened(self, c: int) -> None:
        if self.power is not None:
            self.power.opened(c)


def _choose_pair(
    state: LinkState, group: np.ndarray, residual: np.ndarray, room: _Room
) -> tuple[int, list[int]]:
    """The pair to use in this slot: a link of the node already on with bytes free, else the
    best link free to open (one per radio: a node with one radio and a link on opens none; the
    battery must allow it, ``room``); -1 if none. With it the candidates to switch on for it
    (:meth:`LinkState.contact_to`; [] for a link already on)."""
    p = state.problem
    cands = p.pair_cand[group]
    current = [q for q, c in zip(group, cands, strict=True) if state.on[c]]
    free = [q for q in current if residual[p.pair_cand[q]] > _EPS_BYTES]
    if free or (current and p.n_radios == len(p.nodes)):
        return int((free or current)[0]), []
    best, best_key, best_need = -1, None, []
    for q, c in zip(group, cands, strict=True):
        need = state.contact_to(int(c))
        value = _value(state, int(c), residual, need)
        if value <= _EPS_BYTES or not need:
            continue
        prev = p.cand_prev[c]
        key = (bool(prev >= 0 and state.on[prev]), value)
        if (best_key is None or key > best_key) and room.powered(need):  # the battery last
            best, best_key, best_need = int(q), key, need
    return best, best_need


def _value(state: LinkState, c: int, residual: np.ndarray, need: list[int]) -> float:
    """Bytes ``c`` (off) could carry once opened: its residual, or when its contact's setup
    must begin in earlier slots (``need``, :meth:`LinkState.contact_to`), what that setup
    leaves of it."""
    if len(need) <= 1:
        return float(residual[c]) if need else 0.0
    p = state.problem
    return float(p.cand_bytes[c] - spill_bytes(p, np.array([need[0]]), np.array([c]))[0])


def _open(state: LinkState, c: int, residual: np.ndarray, need: list[int]) -> list[int]:
    """Open candidate ``c`` and the setup slots before it (``need``,
    :meth:`LinkState.contact_to`); their residuals and the next slot's (no longer a contact
    start) follow from the contact's start. Returns the candidates opened."""
    p = state.problem
    opened = [k for k in need if not state.on[k]]
    for k in opened:
        state.open(k)
    start = opened[0]
    while p.cand_prev[start] >= 0 and state.on[p.cand_prev[start]]:
        start = int(p.cand_prev[start])
    nxt = c + 1
    follows = nxt < len(p.cand_prev) and p.cand_prev[nxt] == c and not state.on[nxt]
    k = np.array(opened + [nxt] if follows else opened)
    residual[k] = p.cand_bytes[k] - spill_bytes(p, np.full(len(k), start), k)
    return opened
