"""Independent check of antenna turnaround and per-antenna maintenance in a plan.json-like dict.

``check_antennas(plan) -> list[str]`` (called by :func:`rsmodel.plan.check.check_plan`): on each
antenna (``operations[].antenna``) of a station,

- an operation of another node than the antenna's previous one starts at least the station's
  turnaround plus ``setup_s`` after that previous operation ends. The turnaround is the
  station's ``turnaround_s``, or with ``slew`` ``max(|d az| / az_deg_s, |d el| / el_deg_s) +
  reacquire_s`` between the previous node's pointing when its operation ends and the next node's
  pointing when its contact starts (``setup_s`` before its first operation), azimuth the shorter
  way round. Pointings are computed here with skyfield from the plan's TLE lines and station
  coordinates (nodes without TLE lines: the worst case, 180 deg and 90 deg);
- no operation runs on an antenna during that antenna's ``antenna_maintenance``.

It reads ``horizon``, ``stations``, ``nodes`` and ``operations`` only; it imports nothing of the
optimiser.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from functools import cache
from typing import Any

from skyfield.api import EarthSatellite, load, wgs84

from rsmodel.timeutil import parse_time

SLEW_TOL_S = 0.1  # the planner takes pointings at slot ends; skyfield's frames differ by ~mdeg
TIME_TOL_S = 1e-3


@cache
def _timescale():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load.timescale(builtin=True)


def check_antennas(plan: Mapping[str, Any], turns: Turnarounds | None = None) -> list[str]:
    """Turnaround and per-antenna maintenance violations (module docstring); [] if none."""
    t0 = parse_time(plan["horizon"]["start"])
    turns = turns or Turnarounds(plan)
    stations = {s["name"]: s for s in plan["stations"]}
    by_antenna: dict[tuple[str, int], list[tuple[float, float, str, int]]] = defaultdict(list)
    for i, op in enumerate(plan["operations"]):
        if op.get("antenna") is None:
            continue
        a = (parse_time(op["start"]) - t0).total_seconds()
        b = (parse_time(op["end"]) - t0).total_seconds()
        by_antenna[(op["station"], int(op["antenna"]))].append((a, b, op["node"], i))
    out = []
    for (name, antenna), ops in sorted(by_antenna.items()):
        station = stations.get(name, {})
        ops.sort()
        out += _maintenance(name, antenna, ops, station, t0)
        if turns.most_s(name) <= 0:
            continue
        setup = float(station.get("setup_s") or 0.0)
        tol = SLEW_TOL_S if station.get("slew") else TIME_TOL_S
        for (_, end, prev, i), (start, _, node, j) in zip(ops, ops[1:], strict=False):
            if node == prev:
                continue
            ready = start - setup
            need = turns.need_s(name, prev, node, end, ready)
            if ready - end < need - tol:
                out.append(
                    f"turnaround: {name} antenna {antenna}: operations[{j}] ({node}) starts its "
                    f"contact {ready - end:.3f} s after operations[{i}] ({prev}) ends; the "
                    f"turnaround needs {need:.3f} s"
                )
    return out


class Turnarounds:
    """The turnaround each station of a plan needs between two nodes, s (module docstring)."""

    def __init__(self, plan: Mapping[str, Any]) -> None:
        self.t0 = parse_time(plan["horizon"]["start"])
        self.stations = {s["name"]: s for s in plan["stations"]}
        self.tle = {n["name"]: n.get("tle") for n in plan.get("nodes", [])}
        self.sats: dict[str, Any] = {}

    def most_s(self, station: str) -> float:
        """The longest turnaround the station can need (0: none)."""
        s = self.stations.get(station, {})
        if s.get("slew"):
            return slew_s(s["slew"], 0.0, 0.0, 180.0, 90.0)
        return float(s.get("turnaround_s") or 0.0)

    def need_s(
        self, station: str, node0: str, node1: str, t0_s: float, t1_s: float | None = None
    ) -> float:
        """Turnaround from ``node0`` (its pointing at ``t0_s``) to ``node1`` (at ``t1_s``,
        default ``t0_s``), s from the horizon start."""
        s = self.stations.get(station, {})
        if not s.get("slew"):
            return float(s.get("turnaround_s") or 0.0)
        az0, el0 = self.pointing(node0, s, t0_s)
        az1, el1 = self.pointing(node1, s, t0_s if t1_s is None else t1_s)
        return slew_s(s["slew"], az0, el0, az1, el1)

    def pointing(self, node: str, station: Mapping[str, Any], t_s: float) -> tuple[float, float]:
        """Azimuth and elevation (deg) of ``node`` from ``station`` by skyfield; NaN without
        TLE lines."""
        tle = self.tle.get(node)
        if not tle:
            return float("nan"), float("nan")
        ts = _timescale()
        if node not in self.sats:
            self.sats[node] = EarthSatellite(tle[0], tle[1], node, ts)
        site = wgs84.latlon(
            float(station["lat_deg"]), float(station["lon_deg"]), float(station.get("alt_m") or 0)
        )
        t = ts.from_datetime(self.t0 + timedelta(seconds=t_s))
        alt, az, _ = (self.sats[node] - site).at(t).altaz()
        return float(az.degrees), float(alt.degrees)


def slew_s(slew: Mapping[str, float], az0: float, el0: float, az1: float, el1: float) -> float:
    """Turnaround from (az0, el0) to (az1, el1) deg at the slew's axis rates, s."""
    if any(v != v for v in (az0, el0, az1, el1)):  # NaN: unknown pointing, the worst case
        az0, el0, az1, el1 = 0.0, 0.0, 180.0, 90.0
    daz = abs((az1 - az0 + 180.0) % 360.0 - 180.0)
    return max(daz / float(slew["az_deg_s"]), abs(el1 - el0) / float(slew["el_deg_s"])) + float(
        slew.get("reacquire_s") or 0.0
    )


def _maintenance(name: str, antenna: int, ops: list, station: Mapping[str, Any], t0) -> list[str]:
    out = []
    for m in station.get("antenna_maintenance") or []:
        if int(m["antenna"]) - 1 != antenna:
            continue
        a = (parse_time(m["start"]) - t0).total_seconds()
        b = (parse_time(m["end"]) - t0).total_seconds()
        for start, end, node, i in ops:
            if start < b - TIME_TOL_S and end > a + TIME_TOL_S:
                out.append(
                    f"maintenance: operations[{i}] ({node}) uses {name} antenna {antenna} "
                    f"(antenna {antenna + 1} in the model) during its maintenance"
                )
    return out
