"""The residual problem at a moment of the simulation, and a fast greedy dispatcher for it.

The residual problem is what is left to decide at time ``now_s``: the bytes still owed by each
request (released no earlier than ``now_s``), the parts of the access windows still usable
(after outages, node faults, dropped passes and with degraded rates), and the link time already
taken by transfers that keep running (the fixed past and the locked present).

Times are seconds from the horizon start; rates are bytes per second. The classes here are the
simulator's, on its continuous clock: :class:`PlannedTransfer` and :class:`PendingData` are not
the optimiser's slot-based ``Operation`` / ``Demand`` (aware datetimes).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field

Interval = tuple[float, float]
# Shortest operation planned (s): a last few bytes still get a measurable transfer time.
MIN_OP_S = 1e-3


@dataclass(frozen=True)
class PlannedTransfer:
    """One planned transfer: ``bytes`` of ``sync_id`` from ``node`` to ``station`` over
    [start_s, end_s) (s from the horizon start)."""

    sync_id: str
    node: str
    station: str
    window_id: str
    start_s: float
    end_s: float
    bytes: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class PendingData:
    """Bytes a request still needs, with its priority rank (0 = critical) and time limits (s)."""

    sync_id: str
    node: str
    rank: int
    bytes: float
    release_s: float
    deadline_s: float = math.inf


@dataclass(frozen=True)
class Link:
    """A usable piece of an access window with a constant rate (bytes/s)."""

    window_id: str
    node: str
    station: str
    start_s: float
    end_s: float
    rate_Bps: float


@dataclass
class Residual:
    """What is left to plan at ``now_s``."""

    now_s: float
    demands: list[PendingData]
    links: list[Link]
    antennas: dict[str, int]
    node_busy: dict[str, list[Interval]] = field(default_factory=dict)
    station_busy: dict[str, list[Interval]] = field(default_factory=dict)
    cause: str = ""  # what triggered the re-plan ("station svalbard outage", "shortfall s1" ...)


def subtract(pieces: list[Interval], cuts: list[Interval]) -> list[Interval]:
    """The parts of ``pieces`` not covered by any of ``cuts`` (both lists of [a, b))."""
    out = pieces
    for c0, c1 in cuts:
        nxt: list[Interval] = []
        for a, b in out:
            if c1 <= a or c0 >= b:
                nxt.append((a, b))
                continue
            if a < c0:
                nxt.append((a, c0))
            if c1 < b:
                nxt.append((c1, b))
        out = nxt
    return out


class _StationTimeline:
    """Antenna use of one station: sorted intervals, with a query for free sub-intervals."""

    def __init__(self, antennas: int, busy: list[Interval]) -> None:
        self.antennas = antennas
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.longest = 0.0
        for a, b in sorted(busy):
            self.add(a, b)

    def add(self, a: float, b: float) -> None:
        i = bisect.bisect_right(self.starts, a)
        self.starts.insert(i, a)
        self.ends.insert(i, b)
        self.longest = max(self.longest, b - a)

    def free(self, a: float, b: float) -> list[Interval]:
        """Sub-intervals of [a, b) in which fewer than ``antennas`` transfers use the station."""
        lo = bisect.bisect_left(self.starts, a - self.longest)
        hi = bisect.bisect_left(self.starts, b)
        overlapping = [
            (s, e) for s, e in zip(self.starts[lo:hi], self.ends[lo:hi], strict=True) if e > a
        ]
        if len(overlapping) < self.antennas:
            return [(a, b)]
        edges = sorted({a, b, *(t for s, e in overlapping for t in (s, e) if a < t < b)})
        free: list[Interval] = []
        for t0, t1 in zip(edges[:-1], edges[1:], strict=True):
            used = sum(1 for s, e in overlapping if s <= t0 and e >= t1)
            if used < self.antennas:
                if free and free[-1][1] == t0:
                    free[-1] = (free[-1][0], t1)
                else:
                    free.append((t0, t1))
        return free


def dispatch(residual: Residual, *, min_op_s: float = 1.0) -> list[PlannedTransfer]:
    """Greedy plan of the residual demands: by priority, then deadline, earliest capacity first.

    Each demand takes the earliest link time of its node in [release, deadline) where the node
    is idle and its station has a free antenna. Pieces shorter than ``min_op_s`` are skipped.
    """
    links_by_node: dict[str, list[Link]] = defaultdict(list)
    for link in sorted(residual.links, key=lambda k: (k.start_s, k.station)):
        links_by_node[link.node].append(link)
    stations = {
        name: _StationTimeline(n, residual.station_busy.get(name, []))
        for name, n in residual.antennas.items()
    }
    node_busy = {k: list(v) for k, v in residual.node_busy.items()}
    ops: list[PlannedTransfer] = []
    order = sorted(residual.demands, key=lambda d: (d.rank, d.deadline_s, d.release_s, d.sync_id))
    for demand in order:
        ops.extend(_place(demand, links_by_node[demand.node], stations, node_busy, min_op_s))
    return ops


def _place(
    demand: PendingData,
    links: list[Link],
    stations: dict[str, _StationTimeline],
    node_busy: dict[str, list[Interval]],
    min_op_s: float,
) -> list[PlannedTransfer]:
    left = demand.bytes
    ops: list[PlannedTransfer] = []
    busy = node_busy.setdefault(demand.node, [])
    for link in links:
        if left <= 0 or link.start_s >= demand.deadline_s:
            break
        a, b = max(link.start_s, demand.release_s), min(link.end_s, demand.deadline_s)
        if b - a < min_op_s or link.rate_Bps <= 0:
            continue
        for f0, f1 in subtract(stations[link.station].free(a, b), busy):
            if left <= 0:
                break
            if f1 - f0 < min_op_s:
                continue
            length = min(f1 - f0, max(left / link.rate_Bps, MIN_OP_S))
            moved = min(left, length * link.rate_Bps)
            ops.append(
                PlannedTransfer(
                    demand.sync_id,
                    demand.node,
                    link.station,
                    link.window_id,
                    f0,
                    f0 + length,
                    moved,
                )
            )
            left -= moved
            busy.append((f0, f0 + length))
            stations[link.station].add(f0, f0 + length)
    return ops
