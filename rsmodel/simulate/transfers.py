"""Transfer execution: operations still to start, transfers running now at their current rates,
and the ledger of bytes that reached the ground."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from rsmodel.simulate.known import KnownFaults, Windows
from rsmodel.simulate.residual import Hold, PlannedTransfer, Use, radio
from rsmodel.simulate.state import BYTE_TOLERANCE, Segment, Transfer
from rsmodel.timeutil import RESOLUTION_S


class TransferBook:
    """Planned operations (by key), running transfers (by the same key) and the ledger.

    ``rank(sync_id)`` is the priority rank of a request (0 = critical): when a node's link
    cannot carry all its transfers, lower ranks take their planned rate first.
    """

    def __init__(self, windows: Windows, faults: KnownFaults, rank: Callable[[str], int]) -> None:
        self.windows = windows
        self.faults = faults
        self.rank = rank
        self.planned: dict[int, PlannedTransfer] = {}
        self.active: dict[int, Transfer] = {}
        self.ledger: list[Segment] = []
        self._planned_of: dict[str, set[int]] = {}  # sync id -> keys in planned
        self._link_bytes: dict[int, float] = {}  # running key -> bytes its window carries in it
        self._keys = itertools.count()

    # ------------------------------------------------------------------ planned operations
    def add_planned(self, op: PlannedTransfer) -> int:
        """Plan ``op``; returns its key."""
        key = next(self._keys)
        self.planned[key] = op
        self._planned_of.setdefault(op.sync_id, set()).add(key)
        return key

    def take_planned(self, key: int) -> PlannedTransfer | None:
        """Remove and return the planned operation ``key`` (None when it was dropped)."""
        op = self.planned.pop(key, None)
        if op is not None:
            self._planned_of[op.sync_id].discard(key)
        return op

    def drop_planned(self, which: Callable[[PlannedTransfer], bool]) -> set[str]:
        """Forget the planned operations ``which`` selects; returns their sync ids."""
        gone = [k for k, op in self.planned.items() if which(op)]
        for k in gone:
            self._planned_of[self.planned[k].sync_id].discard(k)
        return {self.planned.pop(k).sync_id for k in gone}

    def drop_sync(self, sync_id: str) -> None:
        """Forget the operations still planned for ``sync_id``."""
        for k in self._planned_of.pop(sync_id, set()):
            del self.planned[k]

    def clear_planned(self) -> None:
        self.planned.clear()
        self._planned_of.clear()

    def planned_in_order(self) -> list[PlannedTransfer]:
        """Operations still to start, in time order."""
        return sorted(self.planned.values(), key=lambda o: (o.start_s, o.node))

    # ------------------------------------------------------------------ running transfers
    def start(self, key: int, op: PlannedTransfer, t_s: float) -> Transfer:
        """Start executing ``op`` at ``t_s``; the rates of its node's transfers are re-set."""
        tr = Transfer(key, op, last_s=t_s)
        self._link_bytes[key] = self.windows.carried_bytes(op.window_id, op.start_s, op.end_s)
        self.rerate(t_s)
        self.active[key] = tr
        self.rerate(t_s)
        return tr

    def rerate(self, t_s: float) -> None:
        """Advance every running transfer to ``t_s``, then set its rate for what holds then.

        A transfer runs at its planned rate unless the node's link (after degradation) cannot
        carry all of its transfers: then higher priorities take their planned rate first and the
        rest share what is left (seed 000 preemption). The link rate is the window's rate now
        (:meth:`Windows.rate_at`: for a window with a rate profile, its mean over the piece of
        the operation between two profile knots, so the engine re-rates at the knots and a
        whole operation carries the integral of the rate), the planned rate the same share of
        it through the whole operation. A plan at the full link rate may state a hair more: its
        instants are rounded to the microsecond.
        """
        by_node: dict[str, list[Transfer]] = {}
        for tr in self.active.values():
            tr.advance(t_s)
            by_node.setdefault(tr.op.node, []).append(tr)
        for transfers in by_node.values():
            transfers.sort(key=lambda tr: (self.rank(tr.op.sync_id), tr.key))
            used = 0.0
            for tr in transfers:
                duration_s = max(tr.op.duration_s, 1e-9)
                rate = self.windows.rate_at(tr.op.window_id, t_s, tr.op.start_s, tr.op.end_s)
                planned = tr.op.bytes * rate / max(self._link_bytes[tr.key], 1e-9)
                link = rate * self.faults.factor(tr.op.station, t_s)
                link *= 1.0 + RESOLUTION_S / duration_s
                tr.rate_Bps = max(0.0, min(planned, link - used))
                used += tr.rate_Bps

    def book(
        self, tr: Transfer, t_s: float, outcome: str, error: str | None, remaining_bytes: float
    ) -> Segment:
        """End ``tr`` at ``t_s`` and book what it moved (at most ``remaining_bytes``) in the ledger."""
        self.rerate(t_s)
        del self.active[tr.key]
        del self._link_bytes[tr.key]
        moved = min(tr.moved_bytes, remaining_bytes)
        if outcome == "completed" and abs(tr.op.bytes - moved) <= BYTE_TOLERANCE:
            moved = min(tr.op.bytes, remaining_bytes)  # float integration noise, not data
        seg = Segment(
            tr.op.sync_id,
            tr.op.node,
            tr.op.station,
            tr.op.window_id,
            tr.op.start_s,
            t_s,
            moved,
            outcome,
            error,
            tr.op.antenna,
        )
        self.ledger.append(seg)
        self.rerate(t_s)
        return seg

    def running(self, sync_id: str) -> list[Transfer]:
        """Running transfers of ``sync_id``."""
        return [tr for tr in self.active.values() if tr.op.sync_id == sync_id]

    def moving_bytes(self, sync_id: str, t_s: float) -> float:
        """Bytes of running transfers of ``sync_id`` moved but not yet booked (up to ``t_s``)."""
        return sum(tr.rate_Bps * (t_s - tr.last_s) + tr.moved_bytes for tr in self.running(sync_id))

    def rate_Bps(self, sync_id: str) -> float:
        """Current rate of ``sync_id`` (bytes/s, all its running transfers)."""
        return sum(tr.rate_Bps for tr in self.running(sync_id))

    def expected_bytes(self, t_s: float) -> dict[str, float]:
        """Per request: bytes its running transfers moved but did not book, plus still to come."""
        out: dict[str, float] = {}
        for tr in self.active.values():
            expected = tr.moved_bytes + tr.rate_Bps * (tr.op.end_s - t_s)
            out[tr.op.sync_id] = out.get(tr.op.sync_id, 0.0) + expected
        return out

    def still_planned(self, sync_id: str, t_s: float) -> float:
        """Bytes of ``sync_id`` in running and future operations."""
        running = sum(
            tr.moved_bytes + tr.rate_Bps * (tr.op.end_s - t_s) for tr in self.running(sync_id)
        )
        return running + sum(self.planned[k].bytes for k in self._planned_of.get(sync_id, ()))

    def busy(
        self,
        t_s: float,
        *,
        with_planned: bool,
        lookback_s: float = 0.0,
        simultaneous: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, list[Use]], dict[str, list[Hold]]]:
        """Link time held from ``t_s`` on by node radio (:func:`~rsmodel.simulate.residual.radio`)
        and by station (with the node holding it and its antenna): the running transfers (and
        the planned operations with ``with_planned``), and the transfers that ended in the last
        ``lookback_s`` (their turnaround and the setup of the contact after them may reach past
        ``t_s``)."""
        node_busy: dict[str, list[Use]] = {}
        station_busy: dict[str, list[Hold]] = {}
        kept = [(tr.op, max(tr.op.start_s, t_s)) for tr in self.active.values()]
        if with_planned:
            kept += [(op, max(op.start_s, t_s)) for op in self.planned.values()]
        kept += [(seg, seg.start_s) for seg in self.ledger if t_s - lookback_s < seg.end_s <= t_s]
        for op, start_s in kept:
            key = radio(op.node, self.windows.band[op.window_id], simultaneous)
            node_busy.setdefault(key, []).append(
                Use(start_s, op.end_s, op.station, op.window_id, op.antenna)
            )
            station_busy.setdefault(op.station, []).append((start_s, op.end_s, op.node, op.antenna))
        return node_busy, station_busy
