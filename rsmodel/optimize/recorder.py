"""Recorder and transmitter-energy constraint blocks of a class stage, and their replays.

Docs: docs/recorder.md ("Optimisation"). Per node with a recorder, on the grid slots:

    fill_k = fill_{k-1} + produced_k + syncs released_k - downlinked_k - lost_k <= capacity

Per data source: no byte leaves before it exists (bytes downlinked up to slot k plus bytes
lost before it <= bytes produced before slot k starts), and nothing is lost twice (downlinked +
lost <= produced). Losses are per source and slot: ``drop_new`` loses at most what the
source produces in the slot, ``overwrite_oldest`` any of its onboard bytes.

**Losses among the class stages.** Stage r (critical first) fixes the downlinks *and losses*
of class r. Its model sees the classes above it fixed, its own downlinks and losses as
variables, and the classes below as not downlinked yet and free to drop (a tiny cost). So a
class loses bytes only when the recorder overflows even with all lower-class data dropped:
higher classes pre-empt recorder room exactly as they pre-empt link capacity. A lost byte of
class r costs its unmet price once more on top of being undelivered (a byte still onboard at
the horizon end can go down later, a lost one never). After a stage its class's losses are
kept (:func:`keep_stage_losses`): the MILP's, or those of the greedy allocation it fell back to
(:class:`RecorderReplay`, which drops when full, lowest class first). A ``drop_new`` loss is
data never recorded when produced: the plan tells the onboard data manager which source's
data not to record, possibly a little before the recorder is full, so that data of a higher
class produced later still fits.

**Transmitter energy.** A link on in slot k draws ``tx_power_w`` for its usable seconds, a
contact start also ``tx_warmup_s`` before it (charged in the slot where the warm-up begins);
with solar charge, idle load and fixed compute this is one SOC balance per node
(:func:`rsmodel.optimize.energy.add_battery`) above ``min_soc``. The slot model charges whole
link-on slots, so the SOC of the executed operations (:func:`soc_from_operations`) is never
lower than the model's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from rsmodel.optimize.energy import WH_PER_WS, NodeEnergy, add_battery, simulate_soc_wh
from rsmodel.optimize.objective import coefficients
from rsmodel.optimize.onboard import Onboard
from rsmodel.optimize.problem import UNIT_BYTES, Problem, group_positions
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.timeline import Operation

LOWER_LOSS_COST = 1e-3  # x the stage's smallest unmet price: lower classes dropped nearly free
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
    values (``source`` its :class:`~rsmodel.optimize.gateway.HighsModel`), or with ``m=None``
    those of the greedy allocation ``source`` (a :class:`LinkState`) the stage fell back to."""
    p = state.problem
    if p.onboard is None or not p.onboard.sources:
        return
    own = p.onboard.source_rank == state.stage_rank
    if m is None:
        state.lost[own] = source.lost[own]
        return
    state.lost[own] = 0.0
    if not hasattr(m, "lost") or not m.loss_cells:
        return
    values = source.values(source.columns_of(list(m.lost.values()))) * UNIT_BYTES
    cells = np.array(m.loss_cells, dtype=int)
    mine = own[cells[:, 0]]
    state.lost[cells[mine, 0], cells[mine, 1]] = np.maximum(values[mine], 0.0)


class RecorderReplay:
    """The recorders replayed slot by slot for the stage of class ``rank``: the classes above
    keep their recorded losses, and whatever does not fit is dropped when it arrives, lowest
    class first (the classes below are not downlinked yet), from a source's onboard bytes
    (``drop_new``: from what it produces in the slot) and, with ``limit`` (S, K), never beyond
    ``limit`` in all by the end of a slot. :meth:`advance` lets a greedy dispatch in slot order
    see what is lost before it sends."""

    def __init__(self, state: LinkState, rank: int, limit: np.ndarray | None = None) -> None:
        p = state.problem
        assert p.onboard is not None
        self.state, self.rank, self.limit = state, rank, limit
        self.oi = oi = onboard_index(p)
        rank_of = p.onboard.source_rank
        self.fixed = rank_of < rank
        self.lost = np.where(self.fixed[:, None], state.lost, 0.0)
        self.cum_lost = np.zeros(len(rank_of))
        self.cum_down = np.zeros(len(rank_of))
        self.made = oi.initial.copy()
        self.level = _fill_start(oi)
        self.k = 0
        self.order = {
            int(n): [
                int(s)
                for s in sorted(
                    np.flatnonzero((oi.src_node == n) & ~self.fixed), key=lambda s: -rank_of[s]
                )
            ]
            for n in oi.recorder_nodes
        }
        self.drop_new = np.array([s.on_full == "drop_new" for s in p.onboard.sources], dtype=bool)
        pair_slot = p.cand_slot[p.pair_cand]
        self.pairs_by_slot = np.argsort(pair_slot, kind="stable")
        self.pair_slot_sorted = pair_slot[self.pairs_by_slot]
        self.source_of_demand = np.full(len(p.demands), -1, dtype=int)
        has = oi.src_demand >= 0
        self.source_of_demand[oi.src_demand[has]] = np.flatnonzero(has)

    def advance(self, to_slot: int) -> None:
        """Replay slots ``[self.k, to_slot)`` with the downlinks placed so far."""
        if to_slot <= self.k:
            return
        p, oi = self.state.problem, self.oi
        window = slice(self.k, to_slot)
        lo, hi = np.searchsorted(self.pair_slot_sorted, [self.k, to_slot])
        q = self.pairs_by_slot[lo:hi]
        width = to_slot - self.k
        slot = p.cand_slot[p.pair_cand[q]] - self.k
        sent = self.state.pair_bytes[q]
        nodes = np.bincount(
            p.cand_node[p.pair_cand[q]] * width + slot, weights=sent, minlength=len(p.nodes) * width
        ).reshape(len(p.nodes), width)
        src = self.source_of_demand[p.pair_demand[q]]
        has = src >= 0
        sources = np.bincount(
            src[has] * width + slot[has],
            weights=sent[has],
            minlength=len(src_rows := oi.src_node) * width,
        ).reshape(len(src_rows), width)
        produced = oi.produced[:, window]
        inflow = oi.sync_in[:, window] - nodes
        np.add.at(inflow, oi.src_node, produced - self.lost[:, window] * self.fixed[:, None])
        for j in range(to_slot - self.k):
            k = self.k + j
            self.made += produced[:, j]
            self.cum_down += sources[:, j]
            self.cum_lost[self.fixed] += self.lost[self.fixed, k]
            self.level += inflow[:, j]
            for n in np.flatnonzero(self.level - oi.capacity > _EPS):
                self._drop(int(n), k, produced[:, j])
        self.k = to_slot

    def _drop(self, n: int, k: int, produced: np.ndarray) -> None:
        excess = self.level[n] - self.oi.capacity[n]
        for s in self.order.get(n, ()):
            if excess <= _EPS:
                break
            room = self.made[s] - self.cum_down[s] - self.cum_lost[s]
            if self.drop_new[s]:
                room = min(room, produced[s])
            if self.limit is not None:
                room = min(room, self.limit[s, k] - self.cum_lost[s])
            take = max(min(excess, room), 0.0)
            self.lost[s, k] += take
            self.cum_lost[s] += take
            self.level[n] -= take
            excess -= take

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
    )
    prev = p.cand_prev[c]
    starts = c[(prev < 0) | ~on[np.maximum(prev, 0)]]
    if e.tx_warmup_s > 0 and len(starts):
        slot = np.maximum(np.floor((p.cand_t0_s[starts] - e.tx_warmup_s) / p.step_s), 0)
        np.add.at(wh, slot.astype(int), e.tx_power_w * e.tx_warmup_s * WH_PER_WS)
    return wh[:n_slots]


class PowerCheck:
    """Per node, the transmitter energy of the links on and whether one more link fits above
    the SOC floor (or, where the links already on put the SOC below it, lowers it no further)."""

    def __init__(self, state: LinkState) -> None:
        self.state = state
        p = state.problem
        self.by_node = group_positions(p.cand_node, len(p.nodes))
        self.drawn = tx_wh(p, state.on) if p.onboard is not None else {}
        self.soc = {n: _soc(p.onboard.energy[p.nodes[n]], wh) for n, wh in self.drawn.items()}

    def allows(self, c: int) -> bool:
        p = self.state.problem
        n = int(p.cand_node[c])
        if n not in self.drawn or self.state.on[c]:
            return True
        e = p.onboard.energy[p.nodes[n]]
        on = self.state.on.copy()
        on[c] = True
        after = _soc(e, node_tx_wh(p, on, n, self.by_node[n]))
        return bool(np.all(after >= np.minimum(e.floor_soc * e.capacity_wh, self.soc[n]) - 1e-9))

    def opened(self, c: int) -> None:
        p = self.state.problem
        n = int(p.cand_node[c])
        if n in self.drawn:
            self.drawn[n] = node_tx_wh(p, self.state.on, n, self.by_node[n])
            self.soc[n] = _soc(p.onboard.energy[p.nodes[n]], self.drawn[n])


def _soc(e: NodeEnergy, tx: np.ndarray) -> np.ndarray:
    return simulate_soc_wh(e.capacity_wh, e.initial_wh, e.charge_wh - e.idle_wh - tx)


# --------------------------------------------------------------------------- blocks
def add_recorder(m: pyo.ConcreteModel, p: Problem, idx) -> None:
    """Recorder fill, existence and loss rows of the stage (module docstring)."""
    state: LinkState = idx.state
    oi = onboard_index(p)
    if not len(oi.recorder_nodes):
        return
    rank = state.stage_rank
    rank_of = p.onboard.source_rank
    n_slots = oi.produced.shape[1]
    ys = list(m.y.values())
    stage_pairs = idx.pairs
    pair_node = p.cand_node[p.pair_cand[stage_pairs]]
    pair_slot = p.cand_slot[p.pair_cand[stage_pairs]]
    in_stage = np.isin(np.arange(len(p.demands)), idx.demands)
    placed = np.where(in_stage[p.pair_demand], 0.0, state.pair_bytes)
    fixed_down = node_downlinked(p, placed)
    fixed_lost = np.where((rank_of < rank)[:, None], state.lost, 0.0)
    _, unmet_cost, _, position = coefficients(
        p, idx.demands, np.flatnonzero(np.isin(p.pair_demand, idx.demands)), p.weights
    )
    unmet_cost = unmet_cost * UNIT_BYTES
    price = float(unmet_cost.max()) if len(unmet_cost) else 1.0
    cheap = LOWER_LOSS_COST * (float(unmet_cost.min()) if len(unmet_cost) else 1.0)
    produced_mb, avail_mb = oi.produced / UNIT_BYTES, oi.available_before / UNIT_BYTES
    cells: list[tuple[int, int]] = []
    lost_ub: list[float] = []
    for s, src in enumerate(p.onboard.sources):
        if rank_of[s] < rank or not np.isfinite(oi.capacity[oi.src_node[s]]):
            continue
        if src.on_full == "drop_new":
            ks = np.flatnonzero(produced_mb[s] > 0)
            ubs = produced_mb[s, ks]
        else:
            ks = np.flatnonzero(avail_mb[s] + produced_mb[s] > 0)
            ubs = (avail_mb[s] + produced_mb[s])[ks]
        cells += [(s, int(k)) for k in ks]
        lost_ub += ubs.tolist()
    m.loss_cells = cells
    m.LOSS = pyo.RangeSet(0, len(cells) - 1)
    m.lost = pyo.Var(m.LOSS, bounds=lambda m, i: (0.0, lost_ub[i]))
    lost = list(m.lost.values())
    cell_src = np.array([c[0] for c in cells], dtype=int)
    cell_slot = np.array([c[1] for c in cells], dtype=int)
    nodes = oi.recorder_nodes.tolist()
    m.REC = pyo.Set(initialize=[(int(n), k) for n in nodes for k in range(n_slots)], dimen=2)
    m.fill = pyo.Var(m.REC)
    m.over = pyo.Var(m.REC, bounds=(0, None))
    by_node_slot = _groups(pair_node * n_slots + pair_slot)
    cell_node = oi.src_node[cell_src] if len(cells) else np.zeros(0, dtype=int)
    lost_at = _groups(cell_node * n_slots + cell_slot)
    start = _fill_start(oi) / UNIT_BYTES
    const = (oi.sync_in - fixed_down) / UNIT_BYTES
    for s in range(len(p.onboard.sources)):
        const[oi.src_node[s]] += produced_mb[s] - fixed_lost[s] / UNIT_BYTES
    const = const.tolist()

    def fill_row(m, n, k):
        before = m.fill[n, k - 1] if k > 0 else float(start[n])
        key = n * n_slots + k
        return m.fill[n, k] == before + const[n][k] - pyo.quicksum(
            [ys[i] for i in by_node_slot.get(key, ())] + [lost[j] for j in lost_at.get(key, ())]
        )

    m.recorder_fill = pyo.Constraint(m.REC, rule=fill_row)
    capacity = (oi.capacity / UNIT_BYTES).tolist()
    m.recorder_cap = pyo.Constraint(
        m.REC, rule=lambda m, n, k: m.fill[n, k] - m.over[n, k] <= capacity[n]
    )
    _existence_rows(m, p, idx, oi, cells, stage_pairs, pair_slot)
    loss_cost = [
        float(unmet_cost[position[oi.src_demand[s]]]) if rank_of[s] == rank else cheap
        for s in cell_src
    ]
    m.objective_terms.append(
        (1.0, pyo.quicksum([c * v for c, v in zip(loss_cost, lost, strict=True)]))
    )
    m.objective_terms.append((OVERFLOW_COST * price, pyo.quicksum(list(m.over.values()))))
    m.start_hooks.append(lambda warm: _recorder_start(m, p, oi, rank, cells, warm))


def _recorder_start(m, p: Problem, oi: OnboardIndex, rank: int, cells, warm: LinkState):
    """MIP-start values of the recorder variables for the warm allocation: its losses replayed
    (lower classes dropped first), the fill, overflow and running totals they imply."""
    replay = RecorderReplay(
        warm, rank, loss_limit(oi, downlinked(p, warm.pair_bytes, oi.src_demand))
    )
    replay.advance(oi.produced.shape[1])
    lost = replay.lost
    net = oi.sync_in - node_downlinked(p, warm.pair_bytes)
    np.add.at(net, oi.src_node, oi.produced - lost)
    fill = _fill_start(oi)[:, None] + np.cumsum(net, axis=1)
    down = downlinked(p, warm.pair_bytes, oi.src_demand)
    cum = np.cumsum(down + lost, axis=1)
    variables, values = list(m.lost.values()), [lost[s, k] for s, k in cells]
    keys = list(m.REC)
    variables += [m.fill[key] for key in keys] + [m.over[key] for key in keys]
    values += [fill[n, k] for n, k in keys]
    values += [max(fill[n, k] - oi.capacity[n], 0.0) for n, k in keys]
    chained = list(m.CUM)
    variables += [m.cum[key] for key in chained]
    values += [cum[s, k] for s, k in chained]
    return variables, np.array(values) / UNIT_BYTES


def _existence_rows(m, p: Problem, idx, oi: OnboardIndex, cells, stage_pairs, pair_slot) -> None:
    """Per source of the stage (and per overwrite_oldest source below it): a running total
    ``C_k = C_{k-1} + downlinked_k + lost_k <= produced through k``, and in slots with
    downlinks ``C_{k-1} + downlinked_k <= produced before k``."""
    ys, lost = list(m.y.values()), list(m.lost.values())
    n_slots = oi.produced.shape[1]
    avail = oi.available_before / UNIT_BYTES
    through = avail + oi.produced / UNIT_BYTES
    src_of_demand = {int(d): s for s, d in enumerate(oi.src_demand) if d >= 0}
    pair_src = np.array(
        [src_of_demand.get(int(d), -1) for d in p.pair_demand[stage_pairs]], dtype=int
    )
    cells_of: dict[int, dict[int, int]] = {}
    for j, (s, k) in enumerate(cells):
        cells_of.setdefault(s, {})[k] = j
    chained = sorted(
        set(np.unique(pair_src[pair_src >= 0]).tolist())
        | {s for s in cells_of if p.onboard.sources[s].on_full != "drop_new"}
    )
    m.CUM = pyo.Set(initialize=[(s, k) for s in chained for k in range(n_slots)], dimen=2)
    m.cum = pyo.Var(m.CUM, bounds=lambda m, s, k: (0.0, float(through[s, k])))
    pairs_at: dict[tuple[int, int], list[int]] = {}
    for i in np.flatnonzero(pair_src >= 0):
        pairs_at.setdefault((int(pair_src[i]), int(pair_slot[i])), []).append(int(i))
    placed = downlinked(
        p, np.where(np.isin(p.pair_demand, idx.demands), 0.0, idx.state.pair_bytes), oi.src_demand
    )
    placed_mb = (placed / UNIT_BYTES).tolist()

    def chain(m, s, k):
        before = m.cum[s, k - 1] if k > 0 else 0.0
        j = cells_of.get(s, {}).get(k)
        moved = [ys[i] for i in pairs_at.get((s, k), ())] + ([lost[j]] if j is not None else [])
        return m.cum[s, k] == before + placed_mb[s][k] + pyo.quicksum(moved)

    m.source_total = pyo.Constraint(m.CUM, rule=chain)
    exists = sorted(pairs_at)
    m.source_exists = pyo.Constraint(
        range(len(exists)),
        rule=lambda m, i: (
            (m.cum[exists[i][0], exists[i][1] - 1] if exists[i][1] > 0 else 0.0)
            + pyo.quicksum([ys[q] for q in pairs_at[exists[i]]])
            <= float(avail[exists[i]])
        ),
    )


def tx_draws(
    m: pyo.ConcreteModel, p: Problem, idx
) -> dict[int, tuple[dict[int, pyo.Expression], np.ndarray]]:
    """Per node with transmitter power: (transmitter Wh per slot as linear expressions of this
    stage's links with their warm-ups, (K,) Wh of the links already on in earlier stages).
    Adds the contact-start variables ``m.tx_start`` the warm-ups need."""
    state: LinkState = idx.state
    fixed = tx_wh(p, state.on)
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
    m.start_hooks.append(lambda warm: _energy_start(m, p, idx, fixed, warm))


def _energy_start(m, p: Problem, idx, fixed: dict[int, np.ndarray], warm: LinkState):
    """MIP-start values of the contact-start and battery variables for the warm allocation,
    drawn as :func:`add_tx_energy` counts them."""
    state: LinkState = idx.state
    x = warm.on[idx.links].astype(float)
    prev = idx.link_prev
    starts = list(m.TXSTART)
    variables, values = (
        [m.tx_start[i] for i in starts],
        [max(x[i] - x[prev[i]], 0.0) for i in starts],
    )
    for n, fixed_wh in fixed.items():
        e = p.onboard.energy[p.nodes[n]]
        draw = fixed_wh.copy()
        mine = np.flatnonzero((p.cand_node[idx.links] == n) & (x > 0.5))
        for i in mine:
            c = int(idx.links[i])
            draw[p.cand_slot[c]] += e.tx_power_w * (p.cand_t1_s[c] - p.cand_t0_s[c]) * WH_PER_WS
            prev_c = p.cand_prev[c]
            if e.tx_warmup_s <= 0 or (prev_c >= 0 and state.on[prev_c]):
                continue
            if prev[i] >= 0 and x[prev[i]] > 0.5:
                continue
            w = max(int(np.floor((p.cand_t0_s[c] - e.tx_warmup_s) / p.step_s)), 0)
            draw[w] += e.tx_power_w * e.tx_warmup_s * WH_PER_WS
        net = e.charge_wh - e.idle_wh - draw
        soc = simulate_soc_wh(e.capacity_wh, e.initial_wh, net)
        spill = soc[:-1] + net - soc[1:]
        b = m.battery[p.nodes[n]]
        variables += [b.soc[k] for k in range(len(soc))] + [b.spill[k] for k in range(len(net))]
        values += soc.tolist() + np.maximum(spill, 0.0).tolist()
    return variables, np.array(values)


def onboard_blocks(p: Problem) -> tuple:
    """The blocks ``p.onboard`` needs (none without it: the model is exactly the sync model)."""
    if p.onboard is None:
        return ()
    return (add_recorder, add_tx_energy)


def _groups(keys: np.ndarray) -> dict[int, list[int]]:
    """Positions per key value, only the keys present."""
    out: dict[int, list[int]] = {}
    for i, key in enumerate(keys.tolist()):
        out.setdefault(key, []).append(i)
    return out


# --------------------------------------------------------------------------- outputs
def soc_from_operations(p: Problem, operations: Sequence[Operation]) -> dict[str, np.ndarray]:
    """Per node with energy figures: SOC (K+1,) Wh of the executed plan (solar, idle, compute
    planned before, transmitter). The transmitter is on during every operation and
    ``tx_warmup_s`` before it, staying on across gaps no longer than the warm-up."""
    assert p.onboard is not None
    n_slots = max(p.n_slots, 1)
    edges = np.minimum(np.arange(n_slots + 1) * p.step_s, p.duration_s)
    out = {}
    for name, e in p.onboard.energy.items():
        spans = sorted((p.seconds(o.start), p.seconds(o.end)) for o in operations if o.node == name)
        on: list[list[float]] = []
        for a, b in spans:
            if on and a - on[-1][1] <= e.tx_warmup_s:
                on[-1][1] = max(on[-1][1], b)
            else:
                on.append([a - e.tx_warmup_s, b])
        tx_s = np.zeros(n_slots)
        for a, b in on:
            tx_s += np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0, None)
        net = e.charge_wh - e.idle_wh - e.tx_power_w * tx_s * WH_PER_WS
        out[name] = simulate_soc_wh(e.capacity_wh, e.initial_wh, net)
    return out
