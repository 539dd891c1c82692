"""Recorder and transmitter-energy constraint blocks of a class stage, and their replays.

Docs: docs/optimisation.md ("Recorders, data sources and transmitter power"). Per node with a
recorder, at the slot edges:

    fill_k = fill_{k-1} + produced_k + syncs released_k - downlinked_k - lost_k <= capacity

Per data source: no byte leaves before it exists (bytes downlinked up to slot k plus bytes
lost before it <= bytes produced before slot k starts), and nothing is lost twice (downlinked +
lost <= produced). ``drop_new`` loses at most what the source produces in the slot,
``overwrite_oldest`` any of its onboard bytes.

**Losses among the class stages.** Stage r (critical first) fixes the downlinks *and losses*
of class r. Its model holds the classes above as constants and its own downlinks and losses as
variables; the classes below are not downlinked yet and may all be dropped, so they are left
out (only bytes nothing can drop stay: syncs and lower ``drop_new`` initial fills). So a class
loses bytes only when the recorder overflows even with all lower-class data dropped: higher
classes pre-empt recorder room exactly as they pre-empt link capacity. A lost byte of class r
costs its unmet price once more on top of being undelivered (a byte still onboard at the
horizon end can go down later, a lost one never). After a stage its class's losses are kept
(:func:`keep_stage_losses`): the MILP's, or those of the greedy allocation it fell back to
(:class:`RecorderReplay`). A ``drop_new`` loss is data never recorded when produced: the plan
tells the onboard data manager which source's data not to record, possibly before the
recorder is full, so that data of a higher class produced later still fits.

**Cells** (:func:`recorder_cells`). The rows are written on cells, not slots: a recorder that
cannot overflow in the stage (its start plus everything that enters it, no downlink, stays
within capacity) has no rows; otherwise each slot with a downlink of the stage is a cell, and
the slots between two of them form one cell when the node has at most one source of the class
that can lose bytes. Such a cell has one fill (its end) and one loss; taken as early as the
source allows (``drop_new``: as it is produced; ``overwrite_oldest``: onboard bytes first) the
fill inside the cell is highest where a row ``fill_prev + peak - loss <= capacity`` says, and
the content nothing can drop must fit in it too; both rows are exact, so the cells describe
the same plans as the slot rows with a fraction of the variables.

**Transmitter energy.** The transmitter is on from the start of a contact's setup (the station
locks on the carrier before the first byte) to its last byte, and ``tx_warmup_s`` before that.
A link on in slot k draws ``tx_power_w`` for its usable seconds (a contact's setup slots are
link-on, so its setup is drawn), a contact start also ``tx_warmup_s`` before it (charged in the
slot where the warm-up begins); with solar charge, idle load and fixed compute this is one SOC
balance per node (:func:`rsmodel.optimize.energy.add_battery`) above ``min_soc``. The slot
model charges whole link-on slots, so the SOC of the executed operations
(:func:`soc_from_operations`: each on from its station's ``setup_s`` before it,
:func:`transmitting_s`) is never lower than the model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

from rsmodel.optimize.energy import WH_PER_WS, NodeEnergy, add_battery, simulate_soc_wh, soc_parts
from rsmodel.optimize.gateway import ArrayRows, add_rows
from rsmodel.optimize.objective import coefficients
from rsmodel.optimize.onboard import Onboard
from rsmodel.optimize.problem import UNIT_BYTES, Problem, group_positions
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.timeline import Operation

OVERFLOW_COST = 100.0  # x the stage's largest unmet price: bytes above capacity no loss absorbs
_EPS = 0.5


@dataclass
class OnboardIndex:
    """Problem-level arrays of the recorders and sources (``S`` sources, ``K`` slots)."""

    onboard: Onboard
    src_demand: np.ndarray  # (S,) demand index of each source, -1 if it has no bytes
    src_node: np.ndarray  # (S,) node index
    recorder_nodes: np.ndarray  # node indices with a recorder
    capacity: np.ndarray  # (N,) bytes, inf without recorder
    produced: np.ndarray  # (S, K)
    initial: np.ndarray  # (S,)
    sync_in: np.ndarray  # (N, K) bytes of other demands entering the recorder in slot k
    sync_initial: np.ndarray  # (N,) bytes of other demands released before the horizon
    is_source: np.ndarray  # (D,) bool

    @property
    def available_before(self) -> np.ndarray:
        """(S, K) bytes each source has produced before slot k starts."""
        cum = np.cumsum(self.produced, axis=1) - self.produced
        return self.initial[:, None] + cum


def onboard_index(p: Problem) -> OnboardIndex:
    """The recorder arrays of ``p`` (which must have ``onboard``)."""
    ob = p.onboard
    assert ob is not None
    n_slots = max(p.n_slots, 1)
    node_of = {n: i for i, n in enumerate(p.nodes)}
    demand_of = p.demand_index()
    src_demand = np.array([demand_of.get(s.id, -1) for s in ob.sources], dtype=int)
    is_source = np.zeros(len(p.demands), dtype=bool)
    is_source[src_demand[src_demand >= 0]] = True
    capacity = np.array([ob.capacity_bytes.get(n, np.inf) for n in p.nodes], dtype=float)
    sync_in = np.zeros((len(p.nodes), n_slots))
    sync_initial = np.zeros(len(p.nodes))
    for i, d in enumerate(p.demands):
        n = node_of.get(d.node, -1)
        if is_source[i] or n < 0 or not np.isfinite(capacity[n]):
            continue
        t = p.seconds(d.release)
        if t < 0:
            sync_initial[n] += d.size_bytes
        elif t < p.duration_s:
            sync_in[n, min(int(t // p.step_s), n_slots - 1)] += d.size_bytes
    produced = ob.produced() if ob.sources else np.zeros((0, n_slots))
    return OnboardIndex(
        onboard=ob,
        src_demand=src_demand,
        src_node=np.array([node_of[s.node] for s in ob.sources], dtype=int),
        recorder_nodes=np.flatnonzero(np.isfinite(capacity)),
        capacity=capacity,
        produced=produced[:, :n_slots],
        initial=ob.initial(),
        sync_in=sync_in,
        sync_initial=sync_initial,
        is_source=is_source,
    )


# --------------------------------------------------------------------------- replays
def downlinked(p: Problem, pair_bytes: np.ndarray, demands: np.ndarray) -> np.ndarray:
    """(len(demands), K) bytes of each of ``demands`` downlinked per slot (-1 rows stay 0)."""
    n_slots = max(p.n_slots, 1)
    row = np.full(len(p.demands) + 1, -1, dtype=int)
    keep_d = demands >= 0
    row[demands[keep_d]] = np.flatnonzero(keep_d)
    r = row[p.pair_demand]
    use = (r >= 0) & (pair_bytes > 0)
    flat = r[use] * n_slots + p.cand_slot[p.pair_cand[use]]
    out = np.bincount(flat, weights=pair_bytes[use], minlength=len(demands) * n_slots)
    return out.reshape(len(demands), n_slots)


def node_downlinked(p: Problem, pair_bytes: np.ndarray) -> np.ndarray:
    """(N, K) bytes each node downlinks per slot."""
    n_slots = max(p.n_slots, 1)
    c = p.pair_cand
    flat = p.cand_node[c] * n_slots + p.cand_slot[c]
    out = np.bincount(flat, weights=pair_bytes, minlength=len(p.nodes) * n_slots)
    return out.reshape(len(p.nodes), n_slots)


def loss_limit(oi: OnboardIndex, down: np.ndarray) -> np.ndarray:
    """(S, K) most bytes each source may have lost by the end of slot k without losing a byte
    that is downlinked later (``down``: (S, K) its downlinks) or that does not exist yet."""
    avail = oi.available_before
    cum_down = np.cumsum(down, axis=1)
    produced_through = avail + oi.produced
    future = avail - cum_down  # L(<j) <= avail(j) - D(<=j) for every slot j with a downlink
    later = np.minimum.accumulate(future[:, ::-1], axis=1)[:, ::-1]
    later = np.concatenate([later[:, 1:], np.full((len(down), 1), np.inf)], axis=1)
    return np.maximum(np.minimum(produced_through - cum_down, later), 0.0)


def keep_stage_losses(m: pyo.ConcreteModel | None, state: LinkState, source) -> None:
    """Record the losses of the stage's class in ``state.lost``: the stage MILP's ``lost``
    values (``source`` its :class:`~rsmodel.optimize.gateway.HighsModel`; a loss over a cell of
    several slots is taken as early as its source allows), or with ``m=None`` those of the
    greedy allocation ``source`` (a :class:`LinkState`) the stage fell back to."""
    p = state.problem
    if p.onboard is None or not p.onboard.sources:
        return
    own = p.onboard.source_rank == state.stage_rank
    if m is None:
        state.lost[own] = source.lost[own]
        return
    state.lost[own] = 0.0
    rc: RecorderCells | None = getattr(m, "recorder_cells", None)
    if rc is None or not len(rc.loss_src):
        return
    values = source.values(source.columns_of(list(m.lost.values()))) * UNIT_BYTES
    values = np.maximum(values, 0.0)
    single = rc.loss_first == rc.loss_last
    state.lost[rc.loss_src[single], rc.loss_first[single]] = values[single]
    oi = onboard_index(p)
    sent = np.cumsum(downlinked(p, state.pair_bytes, oi.src_demand), axis=1)
    for i in np.flatnonzero(~single)[np.argsort(rc.loss_first[~single], kind="stable")]:
        s, a, b = int(rc.loss_src[i]), int(rc.loss_first[i]), int(rc.loss_last[i])
        made = np.cumsum(oi.produced[s, a : b + 1])
        if p.onboard.sources[s].on_full != "drop_new":  # onboard bytes may go first
            made += oi.available_before[s, a] - state.lost[s, :a].sum()
            made -= sent[s, a - 1] if a > 0 else 0.0
        state.lost[s, a : b + 1] = np.diff(
            np.minimum(values[i], np.maximum(made, 0.0)), prepend=0.0
        )


def stage_content(
    p: Problem, oi: OnboardIndex, lost: np.ndarray, rank: int, other_bytes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What the stage of class ``rank`` holds in each recorder besides its own sources' bytes:
    (N,) bytes at the horizon start (released syncs, the initial bytes of the classes above and
    the initial bytes of lower ``drop_new`` sources, which cannot be dropped) and (N, K) the
    change in slot k (syncs released, the classes above's production minus their ``lost``,
    minus the downlinks ``other_bytes`` per pair). Lower classes' other bytes are left out: a
    stage may drop all of them (they are not downlinked yet)."""
    rank_of = p.onboard.source_rank
    drop_new = np.array([s.on_full == "drop_new" for s in p.onboard.sources], dtype=bool)
    kept = (rank_of < rank) | ((rank_of > rank) & drop_new)
    start = oi.sync_initial.copy()
    np.add.at(start, oi.src_node, np.where(kept, oi.initial, 0.0))
    change = oi.sync_in - node_downlinked(p, other_bytes)
    above = rank_of < rank
    np.add.at(change, oi.src_node[above], oi.produced[above] - lost[above])
    return start, change


class RecorderReplay:
    """The recorders replayed slot by slot for the stage of class ``rank`` (the stage model's
    view, :func:`stage_content`): the classes above keep their recorded losses, the classes
    below are not recorded yet (the stage may drop all of them), and the stage's own sources
    lose bytes so that everything fits:

    - its ``drop_new`` sources keep at most the room the other contents leave at every later
      slot (their bytes can only leave by a downlink, and later downlinks are not known yet), so
      data of the classes above produced later always fits; what does not is not recorded;
    - when the recorder is still over capacity, its ``overwrite_oldest`` sources lose onboard
      bytes, then its ``drop_new`` sources what they produce in the slot.

    With ``limit`` (S, K) a source never loses more than ``limit`` in all by the end of a slot.
    :meth:`advance` lets a greedy dispatch in slot order see what is lost before it sends."""

    def __init__(self, state: LinkState, rank: int, limit: np.ndarray | None = None) -> None:
        p = state.problem
        assert p.onboard is not None
        self.state, self.rank, self.limit = state, rank, limit
        self.oi = oi = onboard_index(p)
        rank_of = p.onboard.source_rank
        self.fixed = rank_of < rank
        self.own = (rank_of == rank) & np.isfinite(oi.capacity[oi.src_node])
        self.drop_new = np.array([s.on_full == "drop_new" for s in p.onboard.sources], dtype=bool)
        self.lost = np.where(self.fixed[:, None], state.lost, 0.0)
        self.cum_lost = np.zeros(len(rank_of))
        self.cum_down = np.zeros(len(rank_of))
        self.made = oi.initial.copy()
        other = np.where(p.demand_rank[p.pair_demand] != rank, state.pair_bytes, 0.0)
        start, change = stage_content(p, oi, state.lost, rank, other)
        self.level = start + np.bincount(
            oi.src_node, weights=np.where(self.own, oi.initial, 0.0), minlength=len(start)
        )
        room = oi.capacity[:, None] - (start[:, None] + np.cumsum(change, axis=1))
        self.headroom = np.minimum.accumulate(room[:, ::-1], axis=1)[:, ::-1]
        counted = np.where((self.fixed | self.own)[:, None], oi.produced, 0.0) - self.lost
        self.inflow = oi.sync_in.copy()  # (N, K) bytes entering in a slot, downlinks aside
        np.add.at(self.inflow, oi.src_node, counted)
        self.own_new = np.flatnonzero(self.own & self.drop_new)
        self.own_sets = (self.own & self.drop_new, self.own & ~self.drop_new)  # (new, old) masks
        self.fixed_idx = np.flatnonzero(self.fixed)
        self.by_node = np.argsort(oi.src_node, kind="stable")
        node_sorted = oi.src_node[self.by_node]
        self.first = np.r_[True, node_sorted[1:] != node_sorted[:-1]] if len(node_sorted) else []
        self.k = 0
        pair_slot = p.cand_slot[p.pair_cand]
        self.pairs_by_slot = np.argsort(pair_slot, kind="stable")
        self.pair_slot_sorted = pair_slot[self.pairs_by_slot]
        source_of_demand = np.full(len(p.demands), -1, dtype=int)
        has = oi.src_demand >= 0
        source_of_demand[oi.src_demand[has]] = np.flatnonzero(has)
        sorted_cand = p.pair_cand[self.pairs_by_slot]  # the pairs' node and source in that order
        self.pair_node_sorted = p.cand_node[sorted_cand]
        self.pair_src_sorted = source_of_demand[p.pair_demand[self.pairs_by_slot]]
        self.new_node = oi.src_node[self.own_new]

    def advance(self, to_slot: int) -> None:
        """Replay slots ``[self.k, to_slot)`` with the downlinks placed so far."""
        if to_slot <= self.k:
            return
        p, oi = self.state.problem, self.oi
        window = slice(self.k, to_slot)
        lo, hi = np.searchsorted(self.pair_slot_sorted, [self.k, to_slot])
        width = to_slot - self.k
        slot = self.pair_slot_sorted[lo:hi] - self.k
        sent = self.state.pair_bytes[self.pairs_by_slot[lo:hi]]
        nodes = np.bincount(
            self.pair_node_sorted[lo:hi] * width + slot,
            weights=sent,
            minlength=len(p.nodes) * width,
        ).reshape(len(p.nodes), width)
        src = self.pair_src_sorted[lo:hi]
        has = src >= 0
        n_src = len(oi.src_node)
        sources = np.bincount(
            src[has] * width + slot[has], weights=sent[has], minlength=n_src * width
        ).reshape(n_src, width)
        produced = oi.produced[:, window]
        inflow = self.inflow[:, window] - nodes
        own_new, own_old = self.own_sets
        new, fixed = self.own_new, self.fixed_idx
        for j in range(width):
            k = self.k + j
            self.made += produced[:, j]
            self.cum_down += sources[:, j]
            if len(fixed):
                self.cum_lost[fixed] += self.lost[fixed, k]
            self.level += inflow[:, j]
            if len(new):
                held = self.made[new] - self.cum_down[new] - self.cum_lost[new]
                need = np.bincount(self.new_node, weights=held, minlength=len(self.level))
                self._drop(need - self.headroom[:, k], k, own_new, produced[:, j])
            excess = self.level - oi.capacity
            if (excess > _EPS).any():
                self._drop(excess, k, own_old, None)
                self._drop(self.level - oi.capacity, k, own_new, produced[:, j])
        self.k = to_slot

    def _drop(self, need: np.ndarray, k: int, sources: np.ndarray, produced) -> None:
        """Lose up to ``need`` (N,) bytes per node in slot ``k`` from ``sources`` in their
        order: onboard bytes, or with ``produced`` only what each produces in the slot."""
        if not (need > _EPS).any():
            return
        room = self.made - self.cum_down - self.cum_lost
        if produced is not None:
            room = np.minimum(room, produced - self.lost[:, k])
        if self.limit is not None:
            room = np.minimum(room, self.limit[:, k] - self.cum_lost)
        room = np.where(sources, np.maximum(room, 0.0), 0.0)[self.by_node]
        total = np.cumsum(room)
        before = total - room
        before -= np.maximum.accumulate(np.where(self.first, before, 0.0))
        node = self.oi.src_node[self.by_node]
        take = np.zeros(len(room))
        take[self.by_node] = np.clip(np.maximum(need, 0.0)[node] - before, 0.0, room)
        self.lost[:, k] += take
        self.cum_lost += take
        self.level -= np.bincount(self.oi.src_node, weights=take, minlength=len(self.level))

    def lost_before(self, s: int) -> float:
        """Bytes of source ``s`` lost in the slots replayed so far."""
        return float(self.cum_lost[s])

    def finish(self) -> None:
        """Replay to the horizon end and record the losses of class ``rank`` in the state."""
        self.advance(self.oi.produced.shape[1])
        own = self.state.problem.onboard.source_rank == self.rank
        self.state.lost[own] = self.lost[own]


def _fill_start(oi: OnboardIndex) -> np.ndarray:
    """(N,) bytes onboard at the horizon start."""
    start = oi.sync_initial.copy()
    np.add.at(start, oi.src_node, oi.initial)
    return start


def recorder_fill(state: LinkState) -> np.ndarray:
    """(N, K+1) bytes in each node's recorder at the slot edges (0 for nodes without one)."""
    p = state.problem
    oi = onboard_index(p)
    net = oi.sync_in - node_downlinked(p, state.pair_bytes)
    per_source = oi.produced - state.lost
    for s, n in enumerate(oi.src_node):
        net[n] += per_source[s]
    fill = _fill_start(oi)[:, None] + np.concatenate(
        [np.zeros((len(p.nodes), 1)), np.cumsum(net, axis=1)], axis=1
    )
    fill[~np.isfinite(oi.capacity)] = 0.0
    return fill


def tx_wh(p: Problem, on: np.ndarray) -> dict[int, np.ndarray]:
    """Per node with transmitter power: (K,) Wh the slot model charges for links ``on``
    (usable seconds of each link on, plus the warm-up of each contact start in the slot where
    it begins)."""
    assert p.onboard is not None
    by_node = group_positions(p.cand_node, len(p.nodes))
    return {
        n: node_tx_wh(p, on, n, by_node[n])
        for n, name in enumerate(p.nodes)
        if name in p.onboard.energy and p.onboard.energy[name].tx_power_w > 0
    }


def node_tx_wh(p: Problem, on: np.ndarray, n: int, cands: np.ndarray) -> np.ndarray:
    """:func:`tx_wh` of node ``n`` (``cands``: its candidates)."""
    e = p.onboard.energy[p.nodes[n]]
    n_slots = max(p.n_slots, 1)
    c = cands[on[cands]]
    wh = np.bincount(
        p.cand_slot[c],
        weights=e.tx_power_w * (p.cand_t1_s[c] - p.cand_t0_s[c]) * WH_PER_WS,
        minlength=n_slots,
    ).astype(float)  # bincount of nothing is int: a MIP start's SOC drawn on it would truncate
    prev = p.cand_prev[c]
    starts = c[(prev < 0) | ~on[np.maximum(prev, 0)]]
    if e.tx_warmup_s > 0 and len(starts):
        slot = np.maximum(np.floor((p.cand_t0_s[starts] - e.tx_warmup_s) / p.step_s), 0)
        np.add.at(wh, slot.astype(int), e.tx_power_w * e.tx_warmup_s * WH_PER_WS)
    return wh[:n_slots]


def never_short(p: Problem, n: int, cands: np.ndarray, fixed_wh: np.ndarray | None = None) -> bool:
    """Whether node ``n`` stays above its SOC floor whatever links of ``cands`` it uses: the
    SOC with ``fixed_wh`` (links already on) and every candidate of ``cands`` on, each with its
    own warm-up, never goes below ``min_soc`` of the capacity (or below the SOC with only
    ``fixed_wh`` drawn, the floor of a stage)."""
    e = p.onboard.energy[p.nodes[n]]
    on = np.zeros(len(p.cand_node), dtype=bool)
    on[cands] = True
    most = node_tx_wh(p, on, n, cands).astype(float)
    if fixed_wh is not None:
        most = most + fixed_wh
    if e.tx_warmup_s > 0:
        slot = np.maximum(np.floor((p.cand_t0_s[cands] - e.tx_warmup_s) / p.step_s), 0)
        most += np.bincount(slot.astype(int), minlength=len(most))[: len(most)] * (
            e.tx_power_w * e.tx_warmup_s * WH_PER_WS
        )
    floor = e.floor_soc * e.capacity_wh
    if fixed_wh is not None:
        floor = np.minimum(floor, _soc(e, fixed_wh))
    return bool(np.all(_soc(e, most) >= floor - 1e-9))


class PowerCheck:
    """Per node, the transmitter energy of the links on and whether more links (one slot with
    the setup slots of its contact) fit above the SOC floor (or, where the links already on put
    the SOC below it, lower it no further).

    A link that draws at most what the SOC has above that floor at every later slot edge fits
    without integrating the SOC again (a draw lowers every later SOC by at most itself)."""

    def __init__(self, state: LinkState) -> None:
        self.state = state
        p = state.problem
        self.by_node = group_positions(p.cand_node, len(p.nodes))
        drawn = tx_wh(p, state.on) if p.onboard is not None else {}
        self.drawn = {n: wh for n, wh in drawn.items() if not never_short(p, n, self.by_node[n])}
        self.net: dict[int, np.ndarray] = {}  # (K,) Wh solar minus idle, transmitter aside
        self.soc: dict[int, np.ndarray] = {}
        self.parts: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # soc's terms (soc_parts)
        self.spare: dict[int, np.ndarray] = {}  # (K+1,) least SOC above the floor from edge k on
        self.stale: set[int] = set()  # nodes with links opened since their SOC was integrated
        self.known: dict[int, dict[tuple[int, ...], bool]] = {}  # verdicts since then, per node
        for n, wh in self.drawn.items():
            e = p.onboard.energy[p.nodes[n]]
            self.net[n] = e.charge_wh - e.idle_wh
            self._integrate(n, wh)

    def _integrate(self, n: int, wh: np.ndarray) -> None:
        e = self.state.problem.onboard.energy[self.state.problem.nodes[n]]
        low = min(e.initial_wh, e.capacity_wh)
        self.parts[n] = cum, low = soc_parts(e.capacity_wh, low, 0.0, self.net[n] - wh)
        self.soc[n] = soc = cum + low
        above = soc - np.minimum(e.floor_soc * e.capacity_wh, soc)
        self.spare[n] = np.minimum.accumulate(above[::-1])[::-1]

    def _refresh(self, n: int) -> None:
        """Integrate node ``n``'s SOC again if links were opened since (:meth:`opened`)."""
        if n in self.stale:
            self.stale.discard(n)
            p = self.state.problem
            self.drawn[n] = node_tx_wh(p, self.state.on, n, self.by_node[n])
            self._integrate(n, self.drawn[n])

    def allows(self, cands: Sequence[int]) -> bool:
        """Whether switching on ``cands`` together (candidates of one node: a slot and the
        setup slots its contact needs before it) keeps the node's SOC as above."""
        p = self.state.problem
        c = np.array([k for k in cands if not self.state.on[k]], dtype=int)
        if not len(c) or int(p.cand_node[c[0]]) not in self.drawn:
            return True
        n = int(p.cand_node[c[0]])
        known = self.known.setdefault(n, {})
        key = tuple(c.tolist())
        if key not in known:
            known[key] = self._fits(n, c)
        return known[key]

    def _fits(self, n: int, c: np.ndarray) -> bool:
        """:meth:`allows` for candidates ``c`` (off) of node ``n``."""
        p = self.state.problem
        self._refresh(n)
        e = p.onboard.energy[p.nodes[n]]
        most = e.tx_power_w * ((p.cand_t1_s[c] - p.cand_t0_s[c]).sum() + e.tx_warmup_s) * WH_PER_WS
        first = max(int(np.floor((p.cand_t0_s[c].min() - e.tx_warmup_s) / p.step_s)), 0)
        if most <= self.spare[n][min(first + 1, len(self.spare[n]) - 1)] - 1e-9:
            return True
        on = self.state.on.copy()
        on[c] = True
        # the draw changes from slot k on: the SOC up to edge k is the one integrated already
        k = min(first, int(p.cand_slot[c].min()))
        cum, low = self.parts[n]
        net = self.net[n][k:] - node_tx_wh(p, on, n, self.by_node[n])[k:]
        cum, low = soc_parts(e.capacity_wh, low[k], cum[k], net)
        after = cum + low
        floor = np.minimum(e.floor_soc * e.capacity_wh, self.soc[n][k:])
        return bool(np.all(after >= floor - 1e-9))

    def opened(self, c: int) -> None:
        """Note that candidate ``c`` was switched on: its node's SOC is integrated again when
        next asked (:meth:`allows`)."""
        n = int(self.state.problem.cand_node[c])
        if n in self.drawn:
            self.stale.add(n)
            self.known.pop(n, None)


def _soc(e: NodeEnergy, tx: np.ndarray) -> np.ndarray:
    return simulate_soc_wh(e.capacity_wh, e.initial_wh, e.charge_wh - e.idle_wh - tx)


# --------------------------------------------------------------------------- blocks
@dataclass
class RecorderCells:
    """The time cells of one stage's recorder rows (docs/recorder.md, "Optimisation").

    Each recorder node that can overflow in the stage has its slots cut into cells: a slot with
    a downlink of the stage is a cell of its own, and the slots between two such slots form one
    cell when the node has at most one source of the stage's class that can lose bytes (its
    loss over the cell is then one variable, taken as early as the source allows), else every
    slot is a cell. ``fill`` is the fill (MB) at the end of a cell. A stage source's running
    total (downlinked + lost) has one value per cell of its node, or, on a node that cannot
    overflow, per slot it downlinks in."""

    node: np.ndarray  # (J,) fill cells: node, slots [first, last], previous cell of the node
    first: np.ndarray
    last: np.ndarray
    prev: np.ndarray  # -1: the node's first cell (starts from ``start``)
    start: np.ndarray  # (J,) MB onboard before a node's first cell
    const: np.ndarray  # (J,) MB entering in the cell (production, syncs, classes above)
    fill_ub: np.ndarray  # (J,) MB; inf where ``over`` is the slack of the capacity row
    cap: np.ndarray  # (J,) MB, the bound of the capacity row of an ``over`` cell
    over: np.ndarray  # (J,) bool
    loss_src: np.ndarray  # (L,) loss variables: source, fill cell, slots, bounds (MB)
    loss_cell: np.ndarray
    loss_first: np.ndarray
    loss_last: np.ndarray
    loss_lb: np.ndarray
    loss_ub: np.ndarray
    chain_src: np.ndarray  # (Q,) running totals: source, slots, previous total, loss, bound
    chain_first: np.ndarray
    chain_last: np.ndarray
    chain_prev: np.ndarray
    chain_loss: np.ndarray  # -1: no loss variable in the cell
    chain_ub: np.ndarray
    chain_exists: np.ndarray  # (Q,) MB produced before the cell where it downlinks and loses
    # long cell j, its loss variable (-1: none): fill_{j-1} - loss <= peak_rhs (its peak)
    peak_rows: np.ndarray  # (R, 2)
    peak_rhs: np.ndarray
    # cell j-1 before a long cell, its overwrite_oldest source s: fill_{j-1} + total_s <= rhs
    room_rows: np.ndarray  # (R2, 2)
    room_rhs: np.ndarray


def recorder_cells(
    p: Problem, oi: OnboardIndex, idx, breaks: dict[int, np.ndarray] | None = None
) -> RecorderCells:
    """The cells, bounds and constants of the stage ``idx`` (MB); ``breaks[node]``: slots that
    are cells of their own too (where the stage itself puts bytes into the recorder)."""
    state: LinkState = idx.state
    rank = state.stage_rank
    rank_of = p.onboard.source_rank
    n_slots = oi.produced.shape[1]
    in_stage = np.zeros(len(p.demands), dtype=bool)
    in_stage[idx.demands] = True
    start_other, change_other = stage_content(
        p, oi, state.lost, rank, np.where(in_stage[p.pair_demand], 0.0, state.pair_bytes)
    )
    start_other, change_other = start_other / UNIT_BYTES, change_other / UNIT_BYTES
    own = (rank_of == rank) & np.isfinite(oi.capacity[oi.src_node])
    drop_new = np.array([s.on_full == "drop_new" for s in p.onboard.sources], dtype=bool)
    produced, avail = oi.produced / UNIT_BYTES, oi.available_before / UNIT_BYTES
    initial = oi.initial / UNIT_BYTES
    through = avail + produced
    made = np.cumsum(produced, axis=1)
    pair_node = p.cand_node[p.pair_cand[idx.pairs]]
    pair_slot = p.cand_slot[p.pair_cand[idx.pairs]]
    pair_src = _pair_sources(p, oi, idx.pairs, own)
    eps = _EPS / UNIT_BYTES
    out: dict[str, list] = {key: [] for key in RecorderCells.__dataclass_fields__}
    cells_of: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}  # node -> a, b, first cell
    n_cells = 0
    for n in oi.recorder_nodes.tolist():
        cap = float(oi.capacity[n] / UNIT_BYTES)
        mine = np.flatnonzero(own & (oi.src_node == n))
        start = float(start_other[n] + initial[mine].sum())
        cum = np.cumsum(change_other[n] + produced[mine].sum(axis=0))
        if start + cum.max(initial=0.0) <= cap + eps:
            continue  # cannot overflow in this stage: no fill rows, no losses
        losing = mine[np.where(drop_new[mine], made[mine, -1], through[mine, -1]) > 0]
        own_breaks = (breaks or {}).get(n, np.zeros(0, dtype=int))
        events = np.unique(np.r_[pair_slot[pair_node == n], own_breaks]).astype(int)
        if len(losing) <= 1:
            a = np.unique(np.r_[0, events, events + 1])
            a = a[a < n_slots]
        else:
            a = np.arange(n_slots)
        b = np.r_[a[1:] - 1, n_slots - 1]
        cells_of[n] = (a, b, n_cells)
        count = len(a)
        before = np.r_[0.0, cum][a]
        const = cum[b] - before
        peak = np.maximum.reduceat(cum, a) - before  # highest content inside the cell
        rest = cum - (made[losing[0]] if len(losing) == 1 else 0.0)
        peak_rest = np.maximum.reduceat(rest, a) - np.r_[0.0, rest][a]  # ... with nothing lost
        kind = "none" if len(losing) == 0 else "many" if len(losing) > 1 else (
            "new" if drop_new[losing[0]] else "old"
        )  # fmt: skip
        long = b > a
        nxt = np.r_[long[1:], False]
        # the content at a cell's end must leave room for the next (long) cell's peak
        need = np.where(nxt, np.r_[peak_rest[1:], 0.0], 0.0)
        ub = np.full(count, cap)
        if kind in ("none", "new"):
            ub = np.minimum(ub, cap - need)
        if kind == "none":
            ub = np.minimum(ub, cap - np.where(nxt, np.r_[peak[1:], 0.0], 0.0))
        undroppable = start_other[n] + initial[mine[drop_new[mine]]].sum()
        content = undroppable + np.cumsum(change_other[n])
        over = content[b] > np.minimum(cap, cap - need) + eps
        prev = np.arange(n_cells - 1, n_cells + count - 1)
        prev[0] = -1
        out["node"].append(np.full(count, n))
        out["first"].append(a)
        out["last"].append(b)
        out["prev"].append(prev)
        out["start"].append(np.r_[start, np.zeros(count - 1)])
        out["const"].append(const)
        out["fill_ub"].append(np.where(over, np.inf, ub))
        out["cap"].append(ub)
        out["over"].append(over)
        loss_base = sum(len(x) for x in out["loss_src"])
        for s in losing.tolist():
            span = made[s][b] - np.r_[0.0, made[s]][a]
            room = span if drop_new[s] else through[s, b]
            has = np.flatnonzero(room > 0)
            lb = np.zeros(count)
            if kind in ("new", "old") and long[0]:  # the first cell's peak bounds its loss
                lb[0] = min(max(start + peak[0] - cap, 0.0), room[0])
            out["loss_src"].append(np.full(len(has), s))
            out["loss_cell"].append(n_cells + has)
            out["loss_first"].append(a[has])
            out["loss_last"].append(b[has])
            out["loss_lb"].append(lb[has])
            out["loss_ub"].append(room[has])
            if kind in ("new", "old"):
                position = np.full(count, -1)
                position[has] = loss_base + np.arange(len(has))
                tight = np.flatnonzero(long & (peak > const + 1e-9) & (prev >= 0))
                out["peak_rows"].append(np.c_[n_cells + tight, position[tight]])
                out["peak_rhs"].append(cap - peak[tight])
            if kind == "old":
                later = np.flatnonzero(long & (prev >= 0))
                out["room_rows"].append(np.c_[n_cells + later - 1, np.full(len(later), s)])
                out["room_rhs"].append(cap - peak_rest[later] + avail[s, a[later]])
        n_cells += count
    loss_src = _cat(out["loss_src"], int)
    loss_first = _cat(out["loss_first"], int)
    for s in np.unique(np.r_[pair_src[pair_src >= 0], loss_src]).astype(int).tolist():
        n = int(oi.src_node[s])
        a, b, _ = cells_of.get(n, (None, None, 0))
        if a is None:
            a = b = np.unique(pair_slot[pair_src == s])
        base = sum(len(x) for x in out["chain_src"])
        prev = np.arange(base - 1, base + len(a) - 1)
        prev[0] = -1
        loss = np.full(len(a), -1)
        mine = np.flatnonzero(loss_src == s)
        loss[np.searchsorted(a, loss_first[mine])] = mine
        sends = np.isin(a, pair_slot[pair_src == s])
        out["chain_src"].append(np.full(len(a), s))
        out["chain_first"].append(a)
        out["chain_last"].append(b)
        out["chain_prev"].append(prev)
        out["chain_loss"].append(loss)
        # a cell it sends in: what was sent and lost before it, plus what it sends, exists
        exists = np.where(sends, avail[s, a], np.inf)
        out["chain_ub"].append(np.minimum(through[s, b], np.where(loss < 0, exists, np.inf)))
        out["chain_exists"].append(np.where(loss >= 0, exists, np.inf))
    return RecorderCells(
        **{
            key: _cat(v, int if key in _INT_FIELDS else float).reshape(
                (-1, 2) if key in ("peak_rows", "room_rows") else (-1,)
            )
            for key, v in out.items()
        }
    )


_INT_FIELDS = {"node", "first", "last", "prev", "loss_src", "loss_cell", "loss_first",
               "loss_last", "chain_src", "chain_first", "chain_last", "chain_prev",
               "chain_loss", "peak_rows", "room_rows"}  # fmt: skip


def _cat(parts: list, dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


def _pair_sources(p: Problem, oi: OnboardIndex, pairs: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Per pair of ``pairs``: its source if that is one of ``own``, else -1."""
    src_of_demand = np.full(len(p.demands), -1, dtype=int)
    has = oi.src_demand >= 0
    src_of_demand[oi.src_demand[has]] = np.flatnonzero(has)
    src = src_of_demand[p.pair_demand[pairs]]
    return np.where(np.r_[own, False][src], src, -1)


@dataclass
class Entering:
    """Bytes the stage model itself puts into recorders (the joint model's job outputs): entry
    i adds ``mb[i]`` x ``variables[i]`` MB (a variable of another block; None: a constant) to
    node ``node[i]``'s recorder in slot ``slot[i]``, ``start[i]`` that variable's MIP-start
    value. ``demands`` are the demands :func:`onboard_index` counts for them instead (released
    at their earliest end with their largest size): the recorder rows take the entries."""

    node: np.ndarray
    slot: np.ndarray
    mb: np.ndarray
    variables: list
    start: np.ndarray
    demands: list[int]

    def per_slot(self, p: Problem, oi: OnboardIndex, values: np.ndarray) -> np.ndarray:
        """(N, K) MB entering per slot with the variables at ``values``, minus what
        :func:`onboard_index` counts for ``demands`` (those released before the horizon in
        slot 0)."""
        n_slots = oi.produced.shape[1]
        out = np.zeros((len(p.nodes), n_slots))
        np.add.at(out, (self.node, self.slot), self.mb * values)
        node_of = {name: i for i, name in enumerate(p.nodes)}
        for j in self.demands:
            d = p.demands[j]
            t, n = p.seconds(d.release), node_of[d.node]
            if t < p.duration_s:
                out[n, min(int(max(t, 0.0) // p.step_s), n_slots - 1)] -= d.size_bytes / UNIT_BYTES
        out[~np.isfinite(oi.capacity)] = 0.0
        return out


def add_recorder(m: pyo.ConcreteModel, p: Problem, idx, entering: Entering | None = None) -> None:
    """Recorder fill, existence and loss rows of the stage (module docstring) on the cells of
    :func:`recorder_cells`; with ``entering``, its entries instead of the demands it counts
    (each slot where one enters a cell of its own, so the peaks inside longer cells hold)."""
    oi = onboard_index(p)
    if not len(oi.recorder_nodes):
        return
    n_slots = oi.produced.shape[1]
    correction = np.zeros((len(p.nodes), n_slots))
    breaks: dict[int, np.ndarray] = {}
    if entering is not None:
        variable = np.array([v is not None for v in entering.variables], dtype=bool)
        correction = entering.per_slot(p, oi, np.where(variable, 0.0, 1.0))
        moved = correction != 0.0
        moved[entering.node, entering.slot] = True
        breaks = {int(n): np.flatnonzero(moved[n]) for n in np.flatnonzero(moved.any(axis=1))}
    rc = recorder_cells(p, oi, idx, breaks)
    m.recorder_cells = rc
    n_fill, n_loss, n_chain = len(rc.node), len(rc.loss_src), len(rc.chain_src)
    over = np.flatnonzero(rc.over)
    fill_ub = [None if not np.isfinite(u) else float(u) for u in rc.fill_ub]
    m.fill = pyo.Var(range(n_fill), bounds=lambda m, j: (None, fill_ub[j]))
    m.over = pyo.Var(range(len(over)), bounds=(0, None))
    loss_lb, loss_ub = rc.loss_lb.tolist(), rc.loss_ub.tolist()
    m.lost = pyo.Var(range(n_loss), bounds=lambda m, i: (loss_lb[i], loss_ub[i]))
    chain_ub = [None if not np.isfinite(u) else float(u) for u in rc.chain_ub]
    m.cum = pyo.Var(range(n_chain), bounds=lambda m, q: (0.0, chain_ub[q]))
    ys = list(m.y.values())
    columns = ys + list(m.fill.values()) + list(m.over.values())
    columns += list(m.lost.values()) + list(m.cum.values())
    y0, f0, o0 = 0, len(ys), len(ys) + n_fill
    l0 = o0 + len(over)
    c0 = l0 + n_loss
    e0 = len(columns)
    in_cell, in_mb = np.zeros(0, dtype=int), np.zeros(0)
    if entering is not None:  # the variable entries, each in the fill row of its cell
        live = np.flatnonzero(variable)
        in_cell = _cell_of(rc.node, rc.first, entering.node[live], entering.slot[live], n_slots)
        live, in_cell = live[in_cell >= 0], in_cell[in_cell >= 0]  # a recorder with rows
        columns += [entering.variables[i] for i in live]
        in_mb = entering.mb[live]
    cum = np.cumsum(correction, axis=1)
    before = np.where(rc.first > 0, cum[rc.node, np.maximum(rc.first - 1, 0)], 0.0)
    moved = cum[rc.node, rc.last] - before  # MB the fill rows take instead of the counted
    over_of = np.full(n_fill + 1, -1)
    over_of[over] = o0 + np.arange(len(over))
    # fill balance: fill_j - fill_prev + downlinks + losses = what enters (+ the start)
    j = np.arange(n_fill)
    has_prev = rc.prev >= 0
    pair_node = p.cand_node[p.pair_cand[idx.pairs]]
    pair_slot = p.cand_slot[p.pair_cand[idx.pairs]]
    pair_cell = _cell_of(rc.node, rc.first, pair_node, pair_slot, n_slots)
    sent = np.flatnonzero(pair_cell >= 0)
    _add(
        m,
        columns,
        "recorder_fill",
        [j, j[has_prev], pair_cell[sent], rc.loss_cell, in_cell],
        [
            f0 + j,
            f0 + rc.prev[has_prev],
            y0 + sent,
            l0 + np.arange(n_loss),
            e0 + np.arange(len(in_cell)),
        ],
        [np.ones(n_fill), -np.ones(has_prev.sum()), np.ones(len(sent)), np.ones(n_loss), -in_mb],
        rc.const + rc.start + moved,
        rc.const + rc.start + moved,
    )
    _add(m, columns, "recorder_cap", [np.arange(len(over))] * 2, [f0 + over, o0 + np.arange(len(over))],
             [np.ones(len(over)), -np.ones(len(over))], None, rc.cap[over])  # fmt: skip
    # a long cell's highest content, its loss taken as early as possible
    cell, loss = rc.peak_rows[:, 0], rc.peak_rows[:, 1]
    r = np.arange(len(cell))
    has_loss, prev_over = loss >= 0, over_of[cell - 1]
    _add(
        m,
        columns,
        "recorder_peak",
        [r, r[has_loss], r[prev_over >= 0]],
        [f0 + cell - 1, l0 + loss[has_loss], prev_over[prev_over >= 0]],
        [np.ones(len(r)), -np.ones(has_loss.sum()), -np.ones((prev_over >= 0).sum())],
        None,
        rc.peak_rhs,
    )
    # ... and with none of its overwrite_oldest source's bytes left
    cell, src = rc.room_rows[:, 0], rc.room_rows[:, 1]
    chain = _cell_of(rc.chain_src, rc.chain_first, src, rc.first[cell], n_slots)
    r = np.arange(len(cell))
    prev_over = over_of[cell]
    _add(
        m,
        columns,
        "recorder_room",
        [r, r, r[prev_over >= 0]],
        [f0 + cell, c0 + chain, prev_over[prev_over >= 0]],
        [np.ones(len(r)), np.ones(len(r)), -np.ones((prev_over >= 0).sum())],
        None,
        rc.room_rhs,
    )
    # running totals of the stage's sources and what exists before a cell they send in
    pair_src = _pair_sources(p, oi, idx.pairs, p.onboard.source_rank == idx.state.stage_rank)
    pair_chain = _cell_of(rc.chain_src, rc.chain_first, pair_src, pair_slot, n_slots)
    own_sent = np.flatnonzero((pair_src >= 0) & (pair_chain >= 0))
    q = np.arange(n_chain)
    chained, lossy = rc.chain_prev >= 0, rc.chain_loss >= 0
    _add(
        m,
        columns,
        "source_total",
        [q, q[chained], pair_chain[own_sent], q[lossy]],
        [c0 + q, c0 + rc.chain_prev[chained], y0 + own_sent, l0 + rc.chain_loss[lossy]],
        [np.ones(n_chain), -np.ones(chained.sum()), -np.ones(len(own_sent)), -np.ones(lossy.sum())],
        np.zeros(n_chain),
        np.zeros(n_chain),
    )
    exists = np.flatnonzero(np.isfinite(rc.chain_exists))
    r = np.arange(len(exists))
    _add(m, columns, "source_exists", [r, r], [c0 + exists, l0 + rc.chain_loss[exists]],
             [np.ones(len(r)), -np.ones(len(r))], None, rc.chain_exists[exists])  # fmt: skip
    # a lost byte costs its class's unmet price once more; bytes above capacity much more
    _, unmet_cost, _, position = coefficients(
        p, idx.demands, np.flatnonzero(np.isin(p.pair_demand, idx.demands)), p.weights
    )
    unmet_cost = unmet_cost * UNIT_BYTES
    price = float(unmet_cost.max()) if len(unmet_cost) else 1.0
    demand = oi.src_demand[rc.loss_src]
    loss_cost = np.where(demand >= 0, unmet_cost[position[np.maximum(demand, 0)]], price)
    m.objective_terms.append((1.0, _linear(loss_cost, list(m.lost.values()))))
    m.objective_terms.append(
        (OVERFLOW_COST * price, _linear(np.ones(len(over)), list(m.over.values())))
    )
    if entering is not None:
        correction = entering.per_slot(p, oi, np.where(variable, entering.start, 1.0))
    m.start_hooks.append(lambda warm: _recorder_start(m, p, oi, idx, warm, correction))


def _cell_of(
    owner: np.ndarray, first: np.ndarray, key: np.ndarray, slot: np.ndarray, n_slots: int
) -> np.ndarray:
    """The cell (rows sorted by ``owner`` then ``first``) holding each (``key``, ``slot``), -1
    where ``key`` has no cells."""
    if len(owner) == 0:
        return np.full(len(key), -1)
    cells = owner.astype(np.int64) * n_slots + first
    at = np.searchsorted(cells, key.astype(np.int64) * n_slots + slot, side="right") - 1
    at = np.maximum(at, 0)
    return np.where((key >= 0) & (owner[at] == key), at, -1)


def _add(m: pyo.ConcreteModel, columns: list, name: str, rows, cols, coefs, lower, upper) -> None:
    """Row family ``name`` of the stage as :class:`ArrayRows`: row r is lower[r] <= the sum of
    coefs x columns in it <= upper[r] (``None``: no bound); ``rows``/``cols``/``coefs`` are
    lists of aligned arrays."""
    triplets = (np.concatenate(rows), np.concatenate(cols), np.concatenate(coefs))
    add_rows(m, name, ArrayRows.from_triplets(columns, *triplets, lower, upper))


def _linear(coefs: np.ndarray, variables: list) -> LinearExpression:
    """sum of coefs x variables as one LinearExpression."""
    return LinearExpression(
        [
            MonomialTermExpression((c, v))
            for c, v in zip(np.asarray(coefs, dtype=float).tolist(), variables, strict=True)
        ]
    )


def _recorder_start(m, p: Problem, oi: OnboardIndex, idx, warm: LinkState, correction: np.ndarray):
    """MIP-start values of the recorder variables for the warm allocation: the stage's losses
    replayed (:class:`RecorderReplay`), the fill, overflow and running totals they imply, the
    fill changed by ``correction`` (N, K) MB (:meth:`Entering.per_slot` at the MIP start)."""
    rc: RecorderCells = m.recorder_cells
    rank = idx.state.stage_rank
    down = downlinked(p, warm.pair_bytes, oi.src_demand)
    replay = RecorderReplay(warm, rank, loss_limit(oi, down))
    replay.advance(oi.produced.shape[1])
    own = (p.onboard.source_rank == rank) & np.isfinite(oi.capacity[oi.src_node])
    lost = np.where(own[:, None], replay.lost, 0.0)
    in_stage = np.zeros(len(p.demands), dtype=bool)
    in_stage[idx.demands] = True
    start, change = stage_content(
        p, oi, idx.state.lost, rank, np.where(in_stage[p.pair_demand], 0.0, idx.state.pair_bytes)
    )
    np.add.at(start, oi.src_node, np.where(own, oi.initial, 0.0))
    np.add.at(change, oi.src_node, np.where(own[:, None], oi.produced - lost, 0.0))
    change -= node_downlinked(p, np.where(in_stage[p.pair_demand], warm.pair_bytes, 0.0))
    level = (start[:, None] + np.cumsum(change, axis=1)) / UNIT_BYTES
    level += np.cumsum(correction, axis=1)
    fill = level[rc.node, rc.last]
    over = np.flatnonzero(rc.over)
    cum_lost = np.cumsum(lost, axis=1) / UNIT_BYTES
    before = np.where(rc.loss_first > 0, cum_lost[rc.loss_src, np.maximum(rc.loss_first - 1, 0)], 0)
    total = np.cumsum(down + lost, axis=1) / UNIT_BYTES
    values = [
        fill,
        np.maximum(fill[over] - rc.cap[over], 0.0),
        cum_lost[rc.loss_src, rc.loss_last] - before,
        total[rc.chain_src, rc.chain_last],
    ]
    variables = list(m.fill.values()) + list(m.over.values())
    variables += list(m.lost.values()) + list(m.cum.values())
    return variables, np.concatenate(values)


def tx_draws(
    m: pyo.ConcreteModel, p: Problem, idx, always: frozenset[int] = frozenset()
) -> dict[int, tuple[dict[int, pyo.Expression], np.ndarray]]:
    """Per node with transmitter power: (transmitter Wh per slot as linear expressions of this
    stage's links with their warm-ups, (K,) Wh of the links already on in earlier stages).
    Nodes whose links can never take the SOC below the floor are left out, except ``always``
    (node indices whose battery also carries draws the caller adds, e.g. compute steps).
    Adds the contact-start variables ``m.tx_start`` the warm-ups need."""
    state: LinkState = idx.state
    by_node = group_positions(p.cand_node[idx.links], len(p.nodes))
    fixed = {  # nodes whose stage links, all on, could take the SOC below the stage's floor
        n: wh
        for n, wh in tx_wh(p, state.on).items()
        if n in always or not never_short(p, n, idx.links[by_node[n]], wh)
    }
    if not fixed:
        return {}
    links = idx.links
    xs = list(m.x.values())
    link_node = p.cand_node[links]
    warm_prev = np.flatnonzero((idx.link_prev >= 0) & ~idx.link_prev_on)
    m.TXSTART = pyo.Set(initialize=warm_prev.tolist())
    m.tx_start = pyo.Var(m.TXSTART, bounds=(0, 1))
    prev = idx.link_prev
    m.tx_start_def = pyo.Constraint(
        m.TXSTART, rule=lambda m, i: m.tx_start[i] >= xs[i] - xs[int(prev[i])]
    )
    out = {}
    for n, fixed_wh in fixed.items():
        e = p.onboard.energy[p.nodes[n]]
        draws: dict[int, pyo.Expression] = {}
        for i in np.flatnonzero(link_node == n):
            c = int(links[i])
            k = int(p.cand_slot[c])
            on_s = float(p.cand_t1_s[c] - p.cand_t0_s[c])
            draws[k] = draws.get(k, 0.0) + e.tx_power_w * on_s * WH_PER_WS * xs[i]
            prev_c = p.cand_prev[c]
            if e.tx_warmup_s <= 0 or (prev_c >= 0 and state.on[prev_c]):
                continue
            start = m.tx_start[int(i)] if i in m.TXSTART else xs[i]
            w = max(int(np.floor((p.cand_t0_s[c] - e.tx_warmup_s) / p.step_s)), 0)
            draws[w] = draws.get(w, 0.0) + e.tx_power_w * e.tx_warmup_s * WH_PER_WS * start
        out[n] = (draws, fixed_wh)
    return out


def add_tx_energy(m: pyo.ConcreteModel, p: Problem, idx) -> None:
    """One SOC balance per node with transmitter power: solar, idle, the links already on
    (earlier stages) and this stage's links with their warm-ups, above the floor."""
    draws = tx_draws(m, p, idx)
    if not draws:
        return
    m.battery = pyo.Block([p.nodes[n] for n in draws])
    for n, (tx, fixed_wh) in draws.items():
        e = p.onboard.energy[p.nodes[n]]
        add_battery(m.battery[p.nodes[n]], e, {}, tx_wh_in_slot=tx, fixed_tx_wh=fixed_wh)
    fixed = {n: fixed_wh for n, (_, fixed_wh) in draws.items()}
    m.start_hooks.append(lambda warm: energy_start(m, p, idx, fixed, warm))


def energy_start(m, p: Problem, idx, fixed: dict[int, np.ndarray], warm: LinkState):
    """MIP-start values of the contact-start and battery variables (``m.battery[node]``, nodes
    ``fixed``: their Wh of earlier stages) for the warm allocation, drawn as :func:`tx_draws`
    counts them."""
    x = warm.on[idx.links].astype(float)
    prev = idx.link_prev
    starts = list(m.TXSTART)
    variables, values = (
        [m.tx_start[i] for i in starts],
        [max(x[i] - x[prev[i]], 0.0) for i in starts],
    )
    for n, fixed_wh in fixed.items():
        e = p.onboard.energy[p.nodes[n]]
        net = e.charge_wh - e.idle_wh - stage_tx_wh(p, idx, warm, n, fixed_wh)
        soc = simulate_soc_wh(e.capacity_wh, e.initial_wh, net)
        spill = soc[:-1] + net - soc[1:]
        b = m.battery[p.nodes[n]]
        variables += [b.soc[k] for k in range(len(soc))] + [b.spill[k] for k in range(len(net))]
        values += soc.tolist() + np.maximum(spill, 0.0).tolist()
    return variables, np.array(values)


def stage_tx_wh(p: Problem, idx, warm: LinkState, n: int, fixed_wh: np.ndarray) -> np.ndarray:
    """(K,) Wh node ``n``'s transmitter draws per slot with the stage's links as in ``warm``
    (and their warm-ups) on top of ``fixed_wh`` (earlier stages), as :func:`tx_draws` counts
    them."""
    state: LinkState = idx.state
    e = p.onboard.energy[p.nodes[n]]
    x = warm.on[idx.links]
    prev = idx.link_prev
    draw = np.array(fixed_wh, dtype=float)  # a copy (no earlier link: maybe integer zeros)
    for i in np.flatnonzero((p.cand_node[idx.links] == n) & x):
        c = int(idx.links[i])
        draw[p.cand_slot[c]] += e.tx_power_w * (p.cand_t1_s[c] - p.cand_t0_s[c]) * WH_PER_WS
        prev_c = p.cand_prev[c]
        if e.tx_warmup_s <= 0 or (prev_c >= 0 and state.on[prev_c]):
            continue
        if prev[i] >= 0 and x[prev[i]]:
            continue
        w = max(int(np.floor((p.cand_t0_s[c] - e.tx_warmup_s) / p.step_s)), 0)
        draw[w] += e.tx_power_w * e.tx_warmup_s * WH_PER_WS
    return draw


def onboard_blocks(p: Problem, *, leaving_out: Sequence[int] = ()) -> tuple:
    """The blocks ``p.onboard`` needs (none without it: the model is exactly the sync model).
    The bytes of the demands ``leaving_out`` (indices) enter no recorder: a relaxation, for the
    joint model's bound (its job outputs enter when their step ends, not at their release)."""
    if p.onboard is None:
        return ()
    if not len(leaving_out):
        return (add_recorder, add_tx_energy)
    none = np.zeros(0, dtype=int)
    entering = Entering(none, none, np.zeros(0), [], np.zeros(0), list(leaving_out))
    return (partial(add_recorder, entering=entering), add_tx_energy)


# --------------------------------------------------------------------------- outputs
def soc_from_operations(p: Problem, operations: Sequence[Operation]) -> dict[str, np.ndarray]:
    """Per node with energy figures: SOC (K+1,) Wh of the executed plan (solar, idle, compute
    planned before, transmitter on over :func:`transmitting_s` of each operation;
    :func:`node_soc_wh`)."""
    assert p.onboard is not None
    edges = slot_edges(p)
    setup = {s.name: s.setup_s for s in p.stations}
    spans: dict[str, list[tuple[float, float]]] = {name: [] for name in p.onboard.energy}
    for o in operations:
        if o.node in spans:
            spans[o.node].append(
                transmitting_s(p.seconds(o.start), p.seconds(o.end), setup[o.station])
            )
    return {name: node_soc_wh(e, spans[name], edges) for name, e in p.onboard.energy.items()}


def transmitting_s(start_s: float, end_s: float, setup_s: float) -> tuple[float, float]:
    """The transmitter-on span (s) of a transfer over [start_s, end_s) at a station with
    ``setup_s``: from the setup's start (the station locks on the carrier before the first
    byte) to the last byte. The warm-up before it is :func:`transmitter_on_s`'s."""
    return (start_s - setup_s, end_s)


def slot_edges(p: Problem) -> np.ndarray:
    """Slot edges ``t_0 .. t_K`` of ``p``, s from the horizon start, ``(K+1,)``."""
    return np.minimum(np.arange(max(p.n_slots, 1) + 1) * p.step_s, p.duration_s)


def transmitter_on_s(
    spans: Sequence[tuple[float, float]], warmup_s: float, edges: np.ndarray
) -> np.ndarray:
    """(K,) seconds per slot the transmitter is on for ``spans`` ([a, b) s, each
    :func:`transmitting_s` of a transfer): during every span and ``warmup_s`` before it, staying
    on across gaps no longer than the warm-up."""
    if not len(spans):
        return np.zeros(len(edges) - 1)
    a0, b0 = np.array(sorted(spans), dtype=float).T
    reach = np.maximum.accumulate(b0)  # the transmitter stays on to the latest end so far
    starts = np.concatenate([[True], a0[1:] - reach[:-1] > warmup_s])
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:] - 1, [len(a0) - 1]])
    a, b = a0[first] - warmup_s, reach[last]  # disjoint and sorted: on-time is a cumulative sum
    before = np.concatenate([[0.0], np.cumsum(b - a)])
    j = np.searchsorted(a, edges, side="right") - 1
    inside = np.clip(edges - a[np.maximum(j, 0)], 0.0, (b - a)[np.maximum(j, 0)])
    on_before = np.where(j >= 0, before[np.maximum(j, 0)] + inside, 0.0)
    return np.diff(on_before)


def node_soc_wh(
    e: NodeEnergy, spans: Sequence[tuple[float, float]], edges: np.ndarray
) -> np.ndarray:
    """SOC (K+1,) Wh of a node whose transmitter is on over ``spans`` ([a, b) s from the
    horizon start, :func:`transmitting_s` of its transfers):
    solar, idle, compute planned before and the transmitter (:func:`transmitter_on_s`)."""
    tx_s = transmitter_on_s(spans, e.tx_warmup_s, edges)
    net = e.charge_wh - e.idle_wh - e.tx_power_w * tx_s * WH_PER_WS
    return simulate_soc_wh(e.capacity_wh, e.initial_wh, net)
