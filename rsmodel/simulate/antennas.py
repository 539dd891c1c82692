"""Antennas on the simulated clock (docs/simulation.md, "Antennas").

:class:`Turns`: the time an antenna needs between a transfer of one node and one of another
node at a station: the station's turnaround plus its ``setup_s`` (the next contact's setup). For
a slewing station the turnaround is the slew between the actual pointings
(:mod:`rsmodel.geometry.pointing`): the last pointing of the first transfer and the first
pointing of the next contact (``setup_s`` before its first transfer), searched on a
``SAMPLE_S`` grid so that every later start is as good. Re-plans widen other nodes' transfers
by it (:meth:`Turns.widen`).

:class:`AntennaBook`: the antenna each executed transfer runs on: the planned one (the
optimiser's timeline) when it is free, else one the same node used last, else the lowest free
one; free means no other node's transfer running on it, the turnaround since its last transfer
of another node elapsed, and none of the antenna time reserved before the run
(:func:`reserved_holds`: that antenna's maintenance, and the plan's tracks with the turnaround
and setup to and from another node's transfer) during the transfer.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from rsmodel.geometry.pointing import pointing_deg
from rsmodel.optimize.turnaround import longest_turnaround_s, slew_time_s
from rsmodel.timeutil import parse_time

if TYPE_CHECKING:
    from rsmodel.model.scenario import Scenario
    from rsmodel.simulate.residual import Hold, Interval, PlannedTransfer

SAMPLE_S = 1.0  # resolution of the slew search, s
SLEW_MARGIN_S = 0.05  # geometry.pointing vs the checker's skyfield pointings (~mdeg), s
TOL_S = 1e-6


class Turns:
    """Turnaround plus setup between transfers of different nodes at the scenario's stations."""

    def __init__(self, scenario: Scenario, reserved: dict[str, list[Hold]] | None = None) -> None:
        self.scenario = scenario
        # antenna time reserved before the run (:func:`reserved_holds`); a hold with a holder
        # there is a track, whose setup is inside the hold
        self.reserved: dict[str, list[Hold]] = reserved or {}
        self.tracks = {(st, *h) for st, holds in self.reserved.items() for h in holds if h[2]}
        self.station_index = {s.name: i for i, s in enumerate(scenario.stations)}
        self.node_index = {n.name: i for i, n in enumerate(scenario.nodes)}
        self.reach_s = {
            s.name: longest_turnaround_s(s) + float(s.setup_s) for s in scenario.stations
        }
        self._cache: dict[tuple, float] = {}

    def longest_s(self, station: str) -> float:
        """The most ``station`` can need between two nodes, s."""
        return self.reach_s.get(station, 0.0)

    def after_s(self, station: str, prev: str, end_s: float, nxt: str) -> float:
        """Seconds after ``prev``'s transfer ends at ``end_s`` before ``nxt``'s may start on
        that antenna."""
        return self._gap_s(station, prev, nxt, end_s, forward=True)

    def before_s(self, station: str, prev: str, nxt: str, start_s: float) -> float:
        """Seconds before ``nxt``'s transfer starts at ``start_s`` by which ``prev``'s must end
        on that antenna."""
        return self._gap_s(station, prev, nxt, start_s, forward=False)

    def widen(self, holds: list[Hold], station: str, node: str) -> list[Interval]:
        """The antenna time ``holds`` keep from ``node``: another node's transfer or track
        widened by the turnaround and setup on both sides (before a track only the turnaround:
        its setup is inside the hold), the node's own transfers and tracks and maintenance
        (holder "") as they are."""
        if self.longest_s(station) <= 0:
            return [(h[0], h[1]) for h in holds]
        setup = float(self.scenario.stations[self.station_index[station]].setup_s)
        out = []
        for a, b, who, k in holds:
            if who in ("", node):
                out.append((a, b))
                continue
            if (station, a, b, who, k) in self.tracks:  # the track's own setup starts at a
                lead = self.before_s(station, node, who, a + setup) - setup
            else:
                lead = self.before_s(station, node, who, a)
            out.append((a - lead, b + self.after_s(station, who, b, node)))
        return out

    def _gap_s(self, station: str, prev: str, nxt: str, t_s: float, *, forward: bool) -> float:
        key = (station, prev, nxt, round(t_s, 6), forward)
        if key not in self._cache:
            self._cache[key] = self._search_s(station, prev, nxt, t_s, forward)
        return self._cache[key]

    def _search_s(self, station: str, prev: str, nxt: str, t_s: float, forward: bool) -> float:
        """Smallest turnaround u on the ``SAMPLE_S`` grid with every u' >= u at least the slew
        it needs, plus setup (forward: ``prev`` ends at ``t_s``, ``nxt``'s contact starts at
        ``t_s + u``; backward: ``nxt``'s contact starts ``setup_s`` before ``t_s``)."""
        st = self.scenario.stations[self.station_index[station]]
        setup = float(st.setup_s)
        if st.slew is None:
            return float(st.turnaround_s) + setup
        worst = longest_turnaround_s(st)
        u = np.arange(math.ceil(worst / SAMPLE_S) + 1) * SAMPLE_S
        if forward:
            t_prev, t_next = np.full(len(u), t_s), t_s + u
        else:
            t_next = np.full(len(u), t_s - setup)
            t_prev = t_next - u
        ok = t_prev >= 0
        n = int(ok.sum())
        if n == 0:
            return worst + setup
        nodes = [self.node_index[prev]] * n + [self.node_index[nxt]] * n
        az, el = pointing_deg(
            self.scenario.nodes,
            np.array(nodes),
            self.scenario.stations,
            np.full(2 * n, self.station_index[station]),
            self.scenario.start,
            np.r_[t_prev[ok], t_next[ok]],
        )
        need = slew_time_s(st.slew, az[:n], el[:n], az[n:], el[n:]) + SLEW_MARGIN_S
        short = np.flatnonzero(u[ok] < need)
        if len(short) == n:
            return worst + setup
        first = 0 if len(short) == 0 else short[-1] + 1
        return float(u[ok][first]) + setup


def reserved_holds(
    scenario: Scenario, tracks: Iterable[Mapping[str, Any]] = ()
) -> dict[str, list[Hold]]:
    """Antenna time reserved before the run, per station, as antenna holds (s from the horizon
    start): each antenna's maintenance (holder ""), and each of the plan's ``tracks`` (plan.json
    ``tracks`` entries, docs/tracks.md) on every station and antenna it uses over
    ``[setup_start, teardown_end)``, held by its node (so other nodes' transfers keep the
    turnaround and setup from it, :meth:`Turns.widen`)."""

    def sec(value: Any) -> float:
        return (parse_time(value) - scenario.start).total_seconds()

    out: dict[str, list[Hold]] = {s.name: [] for s in scenario.stations}
    for s in scenario.stations:
        for antenna, a, b in s.antenna_maintenance:
            a_s = (a - scenario.start).total_seconds()
            out[s.name].append((a_s, (b - scenario.start).total_seconds(), "", int(antenna)))
    for tr in tracks:
        a, b = sec(tr["setup_start"]), sec(tr["teardown_end"])
        for station, antenna in zip(tr["stations"], tr["antennas"], strict=True):
            out.setdefault(station, []).append((a, b, tr["node"], int(antenna)))
    return out


class AntennaBook:
    """The antenna of each transfer the simulator runs (module docstring); the antenna time
    reserved before the run is ``turns.reserved``."""

    def __init__(self, scenario: Scenario, turns: Turns) -> None:
        self.turns = turns
        self.count = {s.name: int(s.antennas) for s in scenario.stations}
        self.reserved: dict[tuple[str, int], list[Hold]] = defaultdict(list)
        for station, holds in turns.reserved.items():
            for h in holds:
                self.reserved[(station, int(h[3]))].append(h)
        self.last: dict[tuple[str, int], tuple[str, float]] = {}  # node, end of its transfer
        self.running: dict[tuple[str, int], dict[int, str]] = defaultdict(dict)  # key -> node

    def take(self, key: int, op: PlannedTransfer, t_s: float) -> int:
        """The antenna transfer ``key`` (``op``, starting at ``t_s``) runs on."""
        n = self.count.get(op.station, 1)
        mine = [a for a in range(n) if self.last.get((op.station, a), ("",))[0] == op.node]
        planned = [op.antenna] if op.antenna is not None and 0 <= op.antenna < n else []
        order = list(dict.fromkeys([*planned, *mine, *range(n)]))
        free = [a for a in order if self._free(op, a, t_s)]
        antenna = free[0] if free else self._least_bad(op, order)
        self.running[(op.station, antenna)][key] = op.node
        return antenna

    def release(self, key: int, station: str, antenna: int, node: str, t_s: float) -> None:
        """Transfer ``key`` ends at ``t_s``."""
        self.running[(station, antenna)].pop(key, None)
        self.last[(station, antenna)] = (node, t_s)

    def _free(self, op: PlannedTransfer, antenna: int, t_s: float) -> bool:
        where = (op.station, antenna)
        users = set(self.running[where].values())
        if users - {op.node}:
            return False
        reach = self.turns.longest_s(op.station)
        near = [h for h in self.reserved[where] if h[0] < op.end_s + reach and h[1] > t_s - reach]
        held = self.turns.widen(near, op.station, op.node)
        if any(a < op.end_s - TOL_S and b > t_s + TOL_S for a, b in held):
            return False
        last = self.last.get(where)
        if users or last is None or last[0] == op.node:
            return True
        return t_s - last[1] >= self.turns.after_s(op.station, last[0], last[1], op.node) - TOL_S

    def _least_bad(self, op: PlannedTransfer, order: list[int]) -> int:
        """No antenna is free (a plan the checker will flag): one no other node is using, the
        one whose last transfer ended first."""
        idle = [a for a in order if not set(self.running[(op.station, a)].values()) - {op.node}]
        return min(idle or order, key=lambda a: self.last.get((op.station, a), ("", -math.inf))[1])
