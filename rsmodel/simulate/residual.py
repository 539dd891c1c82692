"""The residual problem at a moment of the simulation, and a fast greedy dispatcher for it.

The residual problem is what is left to decide at time ``now_s``: the bytes still owed by each
request (released no earlier than ``now_s``), the parts of the access windows still usable
(after outages, node faults, dropped passes and with degraded rates), and the antenna time already
taken by transfers that keep running (the fixed past and the locked present) and by per-antenna
maintenance. An antenna switching between two nodes needs the station's turnaround and setup
(``Residual.turns``: the fixed ``turnaround_s``, or for a slewing station the slew between the
actual pointings, :mod:`rsmodel.simulate.antennas`; docs/links.md).

Times are seconds from the horizon start; rates are bytes per second. The classes here are the
simulator's, on its continuous clock: :class:`PlannedTransfer` and :class:`PendingData` are not
the optimiser's slot-based ``Operation`` / ``Demand`` (aware datetimes).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field

from rsmodel.simulate.antennas import Turns

Interval = tuple[float, float]
# Antenna time held at a station: [start, end) s and the node holding it ("" for maintenance).
Hold = tuple[float, float, str]
# Shortest operation planned (s): a last few bytes still get a measurable transfer time.
MIN_OP_S = 1e-3


@dataclass(frozen=True)
class PlannedTransfer:
    """One planned transfer: ``bytes`` of ``sync_id`` from ``node`` to ``station`` over
    [start_s, end_s) (s from the horizon start), on ``antenna`` (0-based; None: the simulator
    picks one when it starts, :class:`~rsmodel.simulate.antennas.AntennaBook`)."""

    sync_id: str
    node: str
    station: str
    window_id: str
    start_s: float
    end_s: float
    bytes: float
    antenna: int | None = None

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
    """A usable piece of an access window with a constant rate (bytes/s), on the window's band
    (None: the window has none)."""

    window_id: str
    node: str
    station: str
    start_s: float
    end_s: float
    rate_Bps: float
    band: str | None = None


@dataclass
class Residual:
    """What is left to plan at ``now_s``."""

    now_s: float
    demands: list[PendingData]
    links: list[Link]
    antennas: dict[str, int]
    node_busy: dict[str, list[Interval]] = field(default_factory=dict)  # by radio()
    station_busy: dict[str, list[Hold]] = field(default_factory=dict)
    turns: Turns | None = None  # turnaround + setup between nodes; None: none
    simultaneous: frozenset[str] = frozenset()  # nodes with ``simultaneous_bands``
    cause: str = ""  # what triggered the re-plan ("station svalbard outage", "shortfall s1" ...)


def radio(node: str, band: str | None, simultaneous: frozenset[str]) -> str:
    """The radio a node sends on over a band: the node itself (one station at a time), or per
    band for a node with ``simultaneous_bands`` (docs/links.md)."""
    return f"{node}/{band}" if node in simultaneous else node


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


def held_for(holds: list[Hold], station: str, node: str, turns: Turns | None) -> list[Interval]:
    """The antenna time ``holds`` keep from ``node`` (:meth:`Turns.widen`; no turns: as they
    are)."""
    return turns.widen(holds, station, node) if turns else [(a, b) for a, b, _ in holds]


def saturated(busy: list[Interval], antennas: int) -> list[Interval]:
    """Intervals in which all ``antennas`` of a station are taken by ``busy``."""
    edges = sorted({t for iv in busy for t in iv})
    return [
        (t0, t1)
        for t0, t1 in zip(edges[:-1], edges[1:], strict=True)
        if sum(1 for a, b in busy if a <= t0 and b >= t1) >= antennas
    ]


class _StationTimeline:
    """Antenna use of one station: sorted holds, with a query for the free sub-intervals a node
    may use (turnaround and setup to and from other nodes' transfers included)."""

    def __init__(self, name: str, antennas: int, busy: list[Hold], turns: Turns | None) -> None:
        self.name = name
        self.antennas = antennas
        self.turns = turns
        self.turnaround_s = turns.longest_s(name) if turns else 0.0
        self.holds: list[Hold] = []
        self.longest = 0.0
        for hold in sorted(busy):
            self.add(*hold)

    def add(self, a: float, b: float, node: str) -> None:
        bisect.insort(self.holds, (a, b, node))
        self.longest = max(self.longest, b - a + 2.0 * self.turnaround_s)

    def free(self, a: float, b: float, node: str) -> list[Interval]:
        """Sub-intervals of [a, b) in which fewer than ``antennas`` transfers hold the station
        for ``node``."""
        lo = bisect.bisect_left(self.holds, (a - self.longest - self.turnaround_s,))
        hi = bisect.bisect_left(self.holds, (b + self.turnaround_s,))
        overlapping = [
            (s, e)
            for s, e in held_for(self.holds[lo:hi], self.name, node, self.turns)
            if e > a and s < b
        ]
        if len(overlapping) < self.antennas:
            return [(a, b)]
        return subtract([(a, b)], saturated(overlapping, self.antennas))


def dispatch(residual: Residual, *, min_op_s: float = 1.0) -> list[PlannedTransfer]:
    """Greedy plan of the residual demands: by priority, then deadline, earliest capacity first.

    Each demand takes the earliest link time of its node in [release, deadline) where the node's
    radio is idle and its station has a free antenna (after the turnaround from or to another node).
    Pieces shorter than ``min_op_s`` are skipped.
    """
    links_by_node: dict[str, list[Link]] = defaultdict(list)
    for link in sorted(residual.links, key=lambda k: (k.start_s, k.station)):
        links_by_node[link.node].append(link)
    stations = {
        name: _StationTimeline(name, n, residual.station_busy.get(name, []), residual.turns)
        for name, n in residual.antennas.items()
    }
    node_busy = {k: list(v) for k, v in residual.node_busy.items()}
    ops: list[PlannedTransfer] = []
    order = sorted(residual.demands, key=lambda d: (d.rank, d.deadline_s, d.release_s, d.sync_id))
    for demand in order:
        links = links_by_node[demand.node]
        ops.extend(_place(demand, links, stations, node_busy, residual.simultaneous, min_op_s))
    return ops


def _place(
    demand: PendingData,
    links: list[Link],
    stations: dict[str, _StationTimeline],
    node_busy: dict[str, list[Interval]],
    simultaneous: frozenset[str],
    min_op_s: float,
) -> list[PlannedTransfer]:
    left = demand.bytes
    ops: list[PlannedTransfer] = []
    for link in links:
        if left <= 0 or link.start_s >= demand.deadline_s:
            break
        a, b = max(link.start_s, demand.release_s), min(link.end_s, demand.deadline_s)
        if b - a < min_op_s or link.rate_Bps <= 0:
            continue
        busy = node_busy.setdefault(radio(demand.node, link.band, simultaneous), [])
        for f0, f1 in subtract(stations[link.station].free(a, b, demand.node), busy):
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
            stations[link.station].add(f0, f0 + length, demand.node)
    return ops
