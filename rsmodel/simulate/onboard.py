"""Recorders and batteries during a simulated run (docs/simulation.md, "Recorders and SOC").

:class:`OnboardRun` carries, on the plan's time grid, every node's recorder contents per data
source and its state of charge through the run:

- **production** is the plan's own per-slot arrays (``rsmodel.geometry.production`` via the
  problem's :class:`~rsmodel.optimize.onboard.Onboard`); syncs enter a node's recorder at their
  release; **downlinks** are the bytes the executed transfers moved in each slot;
- a slot is **settled** at its end: fill = fill + produced + entered - downlinked, then the
  plan's own loss instructions for the slot are followed (the data manager drops what the plan
  said not to record), and whatever still does not fit is lost by each source's ``on_full``
  policy, lowest class first (``drop_new``: from what it produced in the slot;
  ``overwrite_oldest``: from its onboard bytes), as the optimiser's greedy replay drops;
- a transfer never sends bytes of a source that are not onboard: bytes produced in slot k exist
  from its end, and lost bytes are gone (:meth:`OnboardRun.sendable`);
- the **SOC** is one balance of solar charge, idle load, compute planned and the transmitter
  (on from the station's ``setup_s`` before every executed transfer to its end,
  :meth:`OnboardRun.tx_span`, and ``tx_warmup_s`` before that), as the plan's.

Re-plans see the simulated contents: :meth:`OnboardRun.pending` gives each source's bytes as
demands released when they exist, and :meth:`OnboardRun.guard` shortens or refuses re-planned
transfers that would take a battery below its floor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rsmodel.model.scenario import SyncRequest
from rsmodel.model.vocabulary import PRIORITIES
from rsmodel.optimize.energy import WH_PER_WS, NodeEnergy, simulate_soc_wh
from rsmodel.optimize.onboard_plan import LOSS_REASON, sections_of
from rsmodel.optimize.problem import Problem
from rsmodel.optimize.recorder import node_soc_wh, slot_edges, transmitting_s
from rsmodel.simulate.residual import MIN_OP_S, Link, PendingData, PlannedTransfer
from rsmodel.simulate.state import Transfer
from rsmodel.timeutil import iso

_EPS = 0.5  # bytes: less is float noise, not data
_SOC_TOL_WH = 1e-9
_SEARCH_STEPS = 20  # bisection steps when a transfer is shortened to keep the SOC floor
Span = tuple[float, float]


@dataclass(frozen=True)
class Overflow:
    """Bytes of ``source`` lost in the slots ``[first_slot, last_slot]`` in a row."""

    source: str
    node: str
    on_full: str
    first_s: float
    last_s: float
    lost_bytes: float


@dataclass(frozen=True)
class Refusal:
    """A re-planned transfer shortened (or refused) so that its node's SOC stays above the floor."""

    op: PlannedTransfer
    kept_bytes: float
    lowest_soc: float  # fraction of capacity the full transfer would have reached


class OnboardRun:
    """Recorder contents per source and SOC per node through a simulated run of ``problem``
    (which must have ``onboard``); ``planned_lost`` (S, K) are the plan's losses per source and
    slot (``Schedule.state.lost``)."""

    def __init__(self, problem: Problem, planned_lost: np.ndarray | None = None) -> None:
        ob = problem.onboard
        assert ob is not None
        self.problem = problem
        self.edges = slot_edges(problem)
        n_slots = len(self.edges) - 1
        self.sources = list(ob.sources)
        self.index = {s.id: i for i, s in enumerate(self.sources)}
        self.energy: dict[str, NodeEnergy] = {
            n: e for n, e in ob.energy.items() if e.tx_power_w > 0
        }
        self.node_of = {n: i for i, n in enumerate(problem.nodes)}
        self.setup_s = {s.name: s.setup_s for s in problem.stations}
        self.src_node = np.array([self.node_of[s.node] for s in self.sources], dtype=int)
        self.capacity = np.array([ob.capacity_bytes.get(n, np.inf) for n in problem.nodes])
        shape = (len(self.sources), n_slots)
        self.produced = ob.produced()[:, :n_slots] if self.sources else np.zeros(shape)
        initial = ob.initial() if self.sources else np.zeros(0)
        self.avail_before = initial[:, None] + np.cumsum(self.produced, axis=1) - self.produced
        self.rank = ob.source_rank
        self.drop_new = np.array([s.on_full == "drop_new" for s in self.sources], dtype=bool)
        self.planned_lost = np.zeros(shape)
        if planned_lost is not None and planned_lost.size:
            self.planned_lost[:, : planned_lost.shape[1]] = planned_lost[:, :n_slots]
        n_nodes = len(problem.nodes)
        self.entered = np.zeros((n_nodes, n_slots))
        self.down = np.zeros(shape)
        self.lost = np.zeros(shape)
        self.node_down = np.zeros((n_nodes, n_slots))
        self.fill = np.zeros((n_nodes, n_slots + 1))
        self.level = np.zeros(n_nodes)
        np.add.at(self.level, self.src_node, initial)
        self.fill[:, 0] = self.level
        self.k = 0  # slots [0, k) settled
        self.cum_down = np.zeros(len(self.sources))
        self.cum_lost = np.zeros(len(self.sources))
        self.slot_down = np.zeros(len(self.sources))  # moved in slot k so far
        self.slot_node_down = np.zeros(n_nodes)
        self.counted: dict[int, float] = {}  # transfer key -> bytes attributed to slots
        self.losing: dict[int, list[float]] = {}  # source -> [first slot, bytes] of a loss run
        self.chunks: dict[str, str] = {}  # pending demand id -> source id
        # A source transfer as executed, slot by slot: [(start_s, end_s, bytes)] per running
        # transfer key, and per ledger position once booked (the checker spreads an operation's
        # bytes evenly over it; a piece per slot keeps its fill exact).
        self.open_pieces: dict[int, list[tuple[float, float, float]]] = {}
        self.pieces: dict[int, list[tuple[float, float, float]]] = {}

    # ------------------------------------------------------------------ who is who
    def requests(self, problem_start: Any) -> list[SyncRequest]:
        """One request per source (its id, node, class, all it produces over the horizon), so
        its downlinks run through the simulator's transfers like a sync's."""
        return [
            SyncRequest(
                s.id, s.node, s.total_bytes, PRIORITIES[s.rank], problem_start, None, s.data_type
            )
            for s in self.sources
        ]

    def is_source(self, sync_id: str) -> bool:
        return sync_id in self.index

    def owner(self, demand_id: str) -> str:
        """The source (or sync) a re-planned demand id belongs to."""
        return self.chunks.get(demand_id, demand_id)

    @property
    def slot_ends_s(self) -> np.ndarray:
        """Slot edges at which a slot is settled (``t_1 .. t_K-1``; the last at the horizon end)."""
        return self.edges[1:-1]

    # ------------------------------------------------------------------ flows
    def enter(self, node: str, t_s: float, size_bytes: float) -> None:
        """A sync of ``size_bytes`` released on ``node`` at ``t_s`` enters its recorder."""
        n = self.node_of.get(node)
        if n is None or not np.isfinite(self.capacity[n]):
            return
        k = min(
            max(int(np.searchsorted(self.edges, t_s, side="right")) - 1, self.k, 0),
            len(self.edges) - 2,
        )
        self.entered[n, k] += size_bytes

    def sendable(self, s: int) -> float:
        """Bytes of source ``s`` that may still go down in the current slot: produced before it
        (or initial), not yet sent and not lost."""
        k = min(self.k, self.produced.shape[1] - 1)
        got = self.cum_down[s] + self.slot_down[s] + self.cum_lost[s]
        return max(float(self.avail_before[s, k] - got), 0.0)

    def limit(self, tr: Transfer, remaining_bytes: float) -> float:
        """Most bytes ``tr`` may book in all (a sync: ``remaining_bytes``; a source: what it
        has booked so far plus what is onboard now)."""
        s = self.index.get(tr.op.sync_id)
        if s is None:
            return remaining_bytes
        return min(remaining_bytes, self.counted.get(tr.key, 0.0) + self.sendable(s))

    def moved(self, tr: Transfer, total_bytes: float, t_s: float) -> float:
        """Attribute to the current slot what ``tr`` moved since last counted, up to ``t_s``
        (``total_bytes`` in all); a source's bytes are cut to what is onboard and kept as a
        piece of its executed record. Returns the total counted."""
        before = self.counted.get(tr.key, 0.0)
        delta = total_bytes - before
        s = self.index.get(tr.op.sync_id)
        if s is not None:
            delta = min(delta, self.sendable(s))
            self.slot_down[s] += delta
        n = self.node_of.get(tr.op.node)
        if n is not None:
            self.slot_node_down[n] += delta
        self.counted[tr.key] = before + delta
        if s is not None:
            pieces = self.open_pieces.setdefault(tr.key, [])
            a = pieces[-1][1] if pieces else tr.op.start_s
            if t_s > a:
                pieces.append((a, t_s, delta))
        return before + delta

    def booked(self, tr: Transfer, booked_bytes: float, t_s: float, position: int) -> None:
        """``tr`` ended at ``t_s`` with ``booked_bytes`` in the ledger at ``position``."""
        self.moved(tr, booked_bytes, t_s)
        del self.counted[tr.key]
        if tr.key in self.open_pieces:
            self.pieces[position] = self.open_pieces.pop(tr.key)

    def settle(self, active: Iterable[Transfer]) -> list[Overflow]:
        """End the current slot: count what the running transfers (advanced to its end) moved in
        it, cutting a source transfer to what is onboard, and replay the recorders over it.
        Returns the loss runs that ended."""
        t_s = float(self.edges[min(self.k + 1, len(self.edges) - 1)])
        for tr in active:
            tr.moved_bytes = self.moved(tr, tr.moved_bytes, t_s)
        return self._settle_slot()

    def finish(self) -> list[Overflow]:
        """Settle the slots left (the horizon end, every transfer booked); returns the loss runs
        that ended, the last ones included."""
        out: list[Overflow] = []
        while self.k < self.produced.shape[1]:
            out += self._settle_slot()
        out += [self._run_ended(s, float(self.edges[-1])) for s in sorted(self.losing)]
        self.losing.clear()
        return out

    def _settle_slot(self) -> list[Overflow]:
        k = self.k
        if k >= self.produced.shape[1]:
            return []
        self.down[:, k] = self.slot_down
        self.node_down[:, k] = self.slot_node_down
        self.cum_down += self.slot_down
        self.slot_down[:] = 0.0
        self.slot_node_down[:] = 0.0
        self.level += self.entered[:, k] - self.node_down[:, k]
        np.add.at(self.level, self.src_node, self.produced[:, k])
        for s in np.flatnonzero(self.planned_lost[:, k] > _EPS):
            self._lose(int(s), k, float(self.planned_lost[s, k]))
        for n in np.flatnonzero(self.level - self.capacity > _EPS):
            mine = np.flatnonzero(self.src_node == n)
            for s in sorted(mine.tolist(), key=lambda s: (-self.rank[s], s)):
                excess = self.level[n] - self.capacity[n]
                if excess <= _EPS:
                    break
                self._lose(s, k, excess)
        self.fill[:, k + 1] = np.where(np.isfinite(self.capacity), self.level, 0.0)
        self.k = k + 1
        ended = []
        for s in np.flatnonzero(self.lost[:, k] > _EPS):
            self.losing.setdefault(int(s), [k, 0.0])[1] += float(self.lost[s, k])
        for s in [s for s in self.losing if self.lost[s, k] <= _EPS]:
            ended.append(self._run_ended(s, float(self.edges[k])))
            del self.losing[s]
        return ended

    def _lose(self, s: int, k: int, amount: float) -> None:
        """Lose up to ``amount`` bytes of source ``s`` in slot ``k`` by its ``on_full`` policy."""
        onboard = self.avail_before[s, k] + self.produced[s, k] - self.cum_down[s]
        room = onboard - self.cum_lost[s]
        if self.drop_new[s]:
            room = min(room, self.produced[s, k] - self.lost[s, k])
        take = max(min(amount, room), 0.0)
        self.lost[s, k] += take
        self.cum_lost[s] += take
        self.level[self.src_node[s]] -= take

    def _run_ended(self, s: int, last_s: float) -> Overflow:
        """The loss run of source ``s`` that ended at ``last_s``."""
        first, amount = self.losing[s]
        src = self.sources[s]
        return Overflow(
            src.id, src.node, src.on_full, float(self.edges[int(first)]), last_s, amount
        )

    def tx_span(self, station: str, start_s: float, end_s: float) -> Span:
        """The transmitter-on span of a transfer to ``station`` over [start_s, end_s): from its
        setup's start to its last byte (:func:`rsmodel.optimize.recorder.transmitting_s`)."""
        return transmitting_s(start_s, end_s, self.setup_s.get(station, 0.0))

    # ------------------------------------------------------------------ re-planning
    def pending(
        self,
        now_s: float,
        links: Sequence[Link],
        active: Iterable[Transfer],
        release_s: dict[str, float],
    ) -> list[PendingData]:
        """Each source's bytes not yet sent, lost or coming from its running transfers, as
        demands released when they exist: what is onboard now at ``now_s`` (or the source's
        ``release_s``, e.g. a retry delay), then what it produces before each later pass of its
        node (the first usable piece of a window in ``links``; only the sources in
        ``release_s`` are asked)."""
        committed = self.cum_down + self.slot_down
        for tr in active:
            s = self.index.get(tr.op.sync_id)
            if s is not None:
                ahead = tr.moved_bytes + tr.rate_Bps * max(tr.op.end_s - now_s, 0.0)
                committed[s] += max(ahead - self.counted.get(tr.key, 0.0), 0.0)
        first: dict[str, float] = {}  # window -> its first usable piece's start
        for link in links:
            first[link.window_id] = min(first.get(link.window_id, link.start_s), link.start_s)
        starts: dict[str, list[float]] = {}
        for link in links:
            if first[link.window_id] == link.start_s:
                starts.setdefault(link.node, []).append(link.start_s)
        k_now = min(self.k, self.produced.shape[1] - 1)
        self.chunks.clear()
        out: list[PendingData] = []
        for sid, release in release_s.items():
            s = self.index[sid]
            src = self.sources[s]
            times = sorted(
                {max(now_s, release), *(t for t in starts.get(src.node, ()) if t > release)}
            )
            released = committed[s] + self.cum_lost[s]
            for i, t in enumerate(times):
                k = max(k_now, min(int(t // self.problem.step_s), self.produced.shape[1] - 1))
                exists = float(self.avail_before[s, k])
                if exists - released <= 1.0:
                    continue
                cid = f"{sid}@{i}"
                self.chunks[cid] = sid
                out.append(PendingData(cid, src.node, src.rank, exists - released, t))
                released = exists
        return out

    def guard(
        self, ops: list[PlannedTransfer], now_s: float, fixed: dict[str, list[Span]]
    ) -> tuple[list[PlannedTransfer], list[Refusal]]:
        """``ops`` (a re-plan) cut so that no node's SOC goes below its floor: in time order,
        each transfer of a node with transmitter power is kept, shortened or refused given
        ``fixed`` (node -> :meth:`tx_span` of the executed, running and kept transfers) and those
        kept before it. A warm-up cannot start in the past: a transfer that needs one (its
        transmitter not on already) starts its warm-up at ``now_s`` at the earliest, then its
        setup, then its first byte. (A setup that reaches before ``now_s`` is drawn where it
        lies: when a re-planned transfer needs one is the residual's business.)"""
        kept: list[PlannedTransfer] = []
        refused: list[Refusal] = []
        by_node: dict[str, list[PlannedTransfer]] = {}
        for op in ops:
            if op.node in self.energy:
                by_node.setdefault(op.node, []).append(op)
            else:
                kept.append(op)
        for node, mine in by_node.items():
            e = self.energy[node]
            spans = list(fixed.get(node, []))
            floor = self.floor_wh(e)
            soc = node_soc_wh(e, spans, self.edges)
            for op in sorted(mine, key=lambda o: (o.start_s, o.end_s)):
                setup = self.setup_s.get(op.station, 0.0)
                a = op.start_s
                lead = a - setup  # the transmitter is on from here (tx_span)
                joined = any(b0 >= lead - e.tx_warmup_s and a0 <= lead for a0, b0 in spans)
                if not joined and e.tx_warmup_s > 0 and lead - e.tx_warmup_s < now_s - 1e-6:
                    a = now_s + e.tx_warmup_s + setup
                need = np.minimum(floor, soc) - _SOC_TOL_WH
                most_wh = e.tx_power_w * (op.end_s - a + setup + e.tx_warmup_s) * WH_PER_WS
                if (soc - need).min() >= most_wh:  # the whole draw fits anywhere
                    b = op.end_s
                else:
                    b = self._longest_end(e, spans, op.station, (a, op.end_s), need)
                if b < op.end_s:
                    full = self.tx_span(op.station, a, op.end_s)
                    lowest = node_soc_wh(e, [*spans, full], self.edges).min()
                    share = max(b - a, 0.0) / op.duration_s
                    refused.append(Refusal(op, op.bytes * share, lowest / e.capacity_wh))
                if b - a < 1.0:
                    continue
                cut = replace(op, start_s=a, end_s=b, bytes=op.bytes * (b - a) / op.duration_s)
                kept.append(cut)
                spans.append(self.tx_span(op.station, a, b))
                soc = node_soc_wh(e, spans, self.edges)
        return kept, refused

    def _longest_end(
        self, e: NodeEnergy, spans: list[Span], station: str, span: Span, need: np.ndarray
    ) -> float:
        """The latest end in ``span`` = [a, b] of a transfer to ``station`` from ``a`` that
        keeps the SOC >= ``need``."""
        a, b = span

        def fits(end: float) -> bool:
            drawn = [*spans, self.tx_span(station, a, end)]
            return bool(np.all(node_soc_wh(e, drawn, self.edges) >= need))

        if b - a < MIN_OP_S or fits(b):
            return b
        if not fits(min(a + 1.0, b)):
            return a  # not even a second of it fits
        lo, hi = a + 1.0, b
        for _ in range(_SEARCH_STEPS):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return lo

    def floor_wh(self, e: NodeEnergy) -> np.ndarray:
        """(K+1,) lowest allowed SOC, Wh: ``min_soc`` unless the idle bus alone goes lower."""
        idle = simulate_soc_wh(
            e.capacity_wh, e.initial_wh, e.charge_wh - e.idle_w * e.dt_s * WH_PER_WS
        )
        return np.minimum(e.floor_soc * e.capacity_wh, idle)

    # ------------------------------------------------------------------ outputs
    def sections(self, spans: dict[str, list[Span]]) -> dict[str, Any]:
        """plan.json ``recorders``, ``sources``, ``losses`` and ``soc`` of the run (transmitter
        on during ``spans``: node -> :meth:`tx_span` of the executed operations), as the
        optimiser writes them."""
        soc = {
            node: node_soc_wh(e, spans.get(node, []), self.edges) for node, e in self.energy.items()
        }
        return sections_of(self.problem, self.fill, self.down, self.lost, soc)

    def totals(self) -> dict[str, float]:
        """Bytes produced, downlinked, lost and onboard at the end, over all sources."""
        produced = float(self.avail_before[:, -1].sum() + self.produced[:, -1].sum())
        down, lost = float(self.down.sum()), float(self.lost.sum())
        return {
            "source_produced_bytes": produced,
            "source_delivered_bytes": down,
            "source_lost_bytes": lost,
            "source_onboard_end_bytes": max(produced - down - lost, 0.0),
        }


def overflow_details(o: Overflow, time_of: Any) -> dict[str, Any]:
    """The ``recorder.overflow`` event details of a loss run (``time_of``: s -> aware UTC)."""
    return {
        "source": o.source,
        "lost_bytes": o.lost_bytes,
        "first_time": iso(time_of(o.first_s)),
        "last_time": iso(time_of(o.last_s)),
        "on_full": o.on_full,
        "reason": LOSS_REASON,
    }
