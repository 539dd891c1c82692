"""The residual problem at a moment of the simulation, and a fast greedy dispatcher for it.

The residual problem is what is left to decide at time ``now_s``: the bytes still owed by each
request (released no earlier than ``now_s``), the parts of the access windows still usable
(after outages, node faults, dropped passes and with degraded rates), and the antenna time already
taken by transfers that keep running (the fixed past and the locked present) and by per-antenna
maintenance. An antenna switching between two nodes needs the station's turnaround and setup
(``Residual.turns``: the fixed ``turnaround_s``, or for a slewing station the slew between the
actual pointings, :mod:`rsmodel.simulate.antennas`; docs/links.md); a node's radio starting a
contact (another window, or another antenna) needs that station's ``setup_s`` after its previous
contact (:func:`radio_held`). Re-plans book antennas one by one (each planned transfer names
its antenna), so the simulator's :class:`~rsmodel.simulate.antennas.AntennaBook` finds the
planned antenna free.

Times are seconds from the horizon start; rates are bytes per second. The classes here are the
simulator's, on its continuous clock: :class:`PlannedTransfer` and :class:`PendingData` are not
the optimiser's slot-based ``Operation`` / ``Demand`` (aware datetimes).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from rsmodel.simulate.antennas import TOL_S, Turns
from rsmodel.timeutil import RESOLUTION_S

Interval = tuple[float, float]
# Antenna time held at a station: [start, end) s, the node holding it ("" for maintenance) and
# the antenna (0-based; None: not known yet, a planned transfer the simulator has not started).
Hold = tuple[float, float, str, int | None]
# Shortest operation planned (s): a last few bytes still get a measurable transfer time.
MIN_OP_S = 1e-3


class Use(NamedTuple):
    """Link time a node's radio holds: [start_s, end_s) on ``window_id`` at ``station``, on
    ``antenna`` (None: not known yet)."""

    start_s: float
    end_s: float
    station: str
    window_id: str
    antenna: int | None


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
    node_busy: dict[str, list[Use]] = field(default_factory=dict)  # by radio()
    station_busy: dict[str, list[Hold]] = field(default_factory=dict)
    turns: Turns | None = None  # turnaround + setup between nodes; None: none
    setup_s: dict[str, float] = field(default_factory=dict)  # station -> its setup_s, s
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
    return turns.widen(holds, station, node) if turns else [(h[0], h[1]) for h in holds]


def radio_held(
    uses: list[Use], window_id: str, antenna: int | None, station: str, setup_s: dict[str, float]
) -> list[Interval]:
    """The time a node radio's ``uses`` keep from a piece on ``window_id`` at ``station`` on
    ``antenna`` (None: any): a use of the same contact (window and antenna) as it is; any other
    widened by the setup of the contact that follows it: the piece's station's ``setup_s`` (s)
    after the use, the use's station's before it."""
    after = setup_s.get(station, 0.0)
    return [
        (u.start_s, u.end_s)
        if u.window_id == window_id and (antenna is None or u.antenna in (None, antenna))
        else (u.start_s - setup_s.get(u.station, 0.0), u.end_s + after)
        for u in uses
    ]


def saturated(busy: list[Interval], antennas: int) -> list[Interval]:
    """Intervals in which all ``antennas`` of a station are taken by ``busy``."""
    edges = sorted({t for iv in busy for t in iv})
    return [
        (t0, t1)
        for t0, t1 in zip(edges[:-1], edges[1:], strict=True)
        if sum(1 for a, b in busy if a <= t0 and b >= t1) >= antennas
    ]


class _StationTimeline:
    """Use of one station's antennas, antenna by antenna: sorted holds, with a query for the
    free sub-intervals a node may use on an antenna (turnaround and setup to and from other
    nodes' transfers and that antenna's maintenance included). Holds whose antenna is not known
    yet go on the first antenna free for them, in time order (as the simulator picks them)."""

    def __init__(self, name: str, antennas: int, busy: list[Hold], turns: Turns | None) -> None:
        self.name = name
        self.turns = turns
        self.turnaround_s = turns.longest_s(name) if turns else 0.0
        self.holds: list[list[Hold]] = [[] for _ in range(antennas)]
        self.longest = 0.0
        unknown = []
        for a, b, node, antenna in busy:
            if antenna is not None and 0 <= antenna < len(self.holds):
                self.add(a, b, node, antenna)
            else:
                unknown.append((a, b, node))
        for a, b, node in sorted(unknown):
            self.add(a, b, node, self.antenna_for(a, b, node))

    def add(self, a: float, b: float, node: str, antenna: int) -> None:
        bisect.insort(self.holds[antenna], (a, b, node, antenna))
        self.longest = max(self.longest, b - a + 2.0 * self.turnaround_s)

    def free(self, a: float, b: float, node: str, antenna: int) -> list[Interval]:
        """Sub-intervals of [a, b) in which ``antenna`` is free for ``node``."""
        holds = self.holds[antenna]
        lo = bisect.bisect_left(holds, (a - self.longest - self.turnaround_s,))
        hi = bisect.bisect_left(holds, (b + self.turnaround_s,))
        cuts = [
            (s, e)
            for s, e in held_for(holds[lo:hi], self.name, node, self.turns)
            if e > a and s < b
        ]
        return subtract([(a, b)], cuts) if cuts else [(a, b)]

    def antenna_for(self, a: float, b: float, node: str) -> int:
        """The first antenna free for ``node`` through [a, b), else the one free the longest."""
        free = [sum(f1 - f0 for f0, f1 in self.free(a, b, node, k)) for k in range(len(self.holds))]
        return next((k for k, f in enumerate(free) if f >= b - a - TOL_S), free.index(max(free)))


class _Board:
    """A re-plan's timeline: every station's antennas and every node radio's uses."""

    def __init__(self, residual: Residual) -> None:
        self.stations = {
            name: _StationTimeline(name, n, residual.station_busy.get(name, []), residual.turns)
            for name, n in residual.antennas.items()
        }
        self.uses = {k: list(v) for k, v in residual.node_busy.items()}
        self.setup_s = residual.setup_s
        self.pad_s = max(residual.setup_s.values(), default=0.0)
        self.simultaneous = residual.simultaneous

    def place(
        self, demand: PendingData, links: list[Link], min_op_s: float
    ) -> list[PlannedTransfer]:
        """Transfers of ``demand`` on ``links`` (in time order), each on one antenna at the
        earliest free time in [release, deadline), until its bytes are placed."""
        left = demand.bytes
        ops: list[PlannedTransfer] = []
        for link in links:
            if left <= 0 or link.start_s >= demand.deadline_s:
                break
            a, b = max(link.start_s, demand.release_s), min(link.end_s, demand.deadline_s)
            if b - a < min_op_s or link.rate_Bps <= 0:
                continue
            uses = self.uses.setdefault(radio(demand.node, link.band, self.simultaneous), [])
            while left > 0 and (found := self._earliest(demand.node, link, uses, a, b, min_op_s)):
                f0, f1, antenna = found
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
                        antenna,
                    )
                )
                left -= moved
                uses.append(Use(f0, f0 + length, link.station, link.window_id, antenna))
                self.stations[link.station].add(f0, f0 + length, demand.node, antenna)
                a = f0 + length
        return ops

    def _earliest(
        self, node: str, link: Link, uses: list[Use], a: float, b: float, min_op_s: float
    ) -> tuple[float, float, int] | None:
        """The earliest free piece [f0, f1) of ``link`` in [a, b), at least ``min_op_s`` long,
        on one antenna, and that antenna (ties: the antenna of the node's contact on this
        window, then the lowest)."""
        near = [u for u in uses if u.end_s + self.pad_s > a and u.start_s - self.pad_s < b]
        own = max(
            (u for u in near if u.window_id == link.window_id), key=lambda u: u.end_s, default=None
        )
        station = self.stations[link.station]
        best: tuple[tuple[float, bool, int], float] | None = None
        for k in range(len(station.holds)):
            cuts = radio_held(near, link.window_id, k, link.station, self.setup_s)
            for f0, f1 in subtract(station.free(a, b, node, k), cuts):
                if f1 - f0 >= min_op_s:
                    key = (f0, own is None or own.antenna != k, k)
                    if best is None or key < best[0]:
                        best = (key, f1)
                    break
        return None if best is None else (best[0][0], best[1], best[0][2])


def dispatch(residual: Residual, *, min_op_s: float = 1.0) -> list[PlannedTransfer]:
    """Greedy plan of the residual demands: by priority, then deadline, earliest capacity first.

    Each demand takes the earliest link time of its node in [release, deadline) where the node's
    radio is idle (with the setup of a new contact after its other contacts) and an antenna of
    its station is free (after the turnaround and setup from or to another node, outside that
    antenna's maintenance); each transfer names its antenna. Pieces shorter than ``min_op_s``
    are skipped.
    """
    links_by_node: dict[str, list[Link]] = defaultdict(list)
    for link in sorted(residual.links, key=lambda k: (k.start_s, k.station)):
        links_by_node[link.node].append(link)
    board = _Board(residual)
    ops: list[PlannedTransfer] = []
    order = sorted(residual.demands, key=lambda d: (d.rank, d.deadline_s, d.release_s, d.sync_id))
    for demand in order:
        ops.extend(board.place(demand, links_by_node[demand.node], min_op_s))
    return ops


def realise(residual: Residual, proposed: list[PlannedTransfer]) -> list[PlannedTransfer]:
    """Transfers another planner proposed (the optimiser's, from its slot grid) on the same
    timeline as :func:`dispatch`, in time order: each keeps the part of its interval where the
    node's radio, setup, turnaround and one antenna of its station allow it, at most its bytes
    at the link rate (the rest is a shortfall the simulator re-plans). One placed as proposed
    keeps its bytes: its instants are rounded to the microsecond (``RESOLUTION_S``)."""
    links_by_window: dict[str, list[Link]] = defaultdict(list)
    for link in sorted(residual.links, key=lambda k: k.start_s):
        links_by_window[link.window_id].append(link)
    board = _Board(residual)
    ops: list[PlannedTransfer] = []
    for op in sorted(proposed, key=lambda o: (o.start_s, o.node, o.sync_id)):
        wanted = PendingData(op.sync_id, op.node, 0, op.bytes, op.start_s, op.end_s)
        placed = board.place(wanted, links_by_window[op.window_id], MIN_OP_S)
        if (
            len(placed) == 1
            and max(abs(placed[0].start_s - op.start_s), abs(placed[0].end_s - op.end_s))
            <= RESOLUTION_S
        ):
            placed = [replace(placed[0], bytes=op.bytes)]
        ops.extend(placed)
    return ops
