"""Antenna turnaround and per-antenna maintenance on the slot grid (docs/links.md).

An antenna that ends a contact with one node needs a turnaround before it starts a contact with
another node: the station's fixed ``turnaround_s``, or the slew from the last pointing of the
first contact to the first pointing of the next at the station's axis rates,
``max(|d az| / az_deg_s, |d el| / el_deg_s) + reacquire_s`` (azimuth the shorter way round).

Conservative slot formulation: a link-on candidate keeps its antenna from its slot through
``cand_cover_last``, the last slot that starts before ``t1 + ext`` (``t1`` the candidate's end,
``ext`` the longest turnaround to any candidate of another node at the station that starts, in
a later slot, sooner than that turnaround after ``t1``; the pointing of the candidate is taken at
both its ends, of the later one at its start). Per (station, slot) the nodes holding an
antenna are at most the antennas in service there, so an interval colouring
(:mod:`rsmodel.optimize.timeline`) gives every antenna gaps of at least the turnaround.
Pointings are unknown for nodes without an orbit: they get the worst case (180 deg of azimuth,
90 deg of elevation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np

from rsmodel.model.antenna_schema import Slew

# (node index, station index, seconds from the horizon start) -> (azimuth deg, elevation deg)
Pointing = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def slew_time_s(
    slew: Slew, az0: np.ndarray, el0: np.ndarray, az1: np.ndarray, el1: np.ndarray
) -> np.ndarray:
    """Seconds to turn from (az0, el0) to (az1, el1) deg and re-acquire; NaN pointings take the
    worst case."""
    daz = np.abs((np.asarray(az1) - np.asarray(az0) + 180.0) % 360.0 - 180.0)
    delv = np.abs(np.asarray(el1) - np.asarray(el0))
    daz, delv = np.where(np.isnan(daz), 180.0, daz), np.where(np.isnan(delv), 90.0, delv)
    return np.maximum(daz / slew.az_deg_s, delv / slew.el_deg_s) + slew.reacquire_s


def longest_turnaround_s(station) -> float:
    """The longest turnaround ``station`` can need, s: its ``turnaround_s``, or the slew from
    (0, 0) to (180, 90) deg (the worst case)."""
    if station.slew is None:
        return float(station.turnaround_s)
    return float(slew_time_s(station.slew, 0.0, 0.0, 180.0, 90.0))


def antennas_in_service(
    stations: Sequence, start: datetime, step_s: float, n_slots: int
) -> np.ndarray:
    """(station, slot): antennas not in maintenance for any part of the slot."""
    out = np.array([[s.antennas] * n_slots for s in stations], dtype=int).reshape(-1, n_slots)
    for i, s in enumerate(stations):
        for k0, k1 in antenna_down_slots(s, start, step_s, n_slots).values():
            for a, b in zip(k0, k1, strict=True):
                out[i, a : b + 1] -= 1
    return np.maximum(out, 0)


def antenna_down_slots(
    station, start: datetime, step_s: float, n_slots: int
) -> dict[int, tuple[list[int], list[int]]]:
    """Per antenna (0-based) in maintenance: first and last slots it touches, merged per antenna."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for antenna, a, b in station.antenna_maintenance:
        k0 = int(np.floor((a - start).total_seconds() / step_s))
        k1 = int(np.ceil((b - start).total_seconds() / step_s - 1e-9)) - 1
        k0, k1 = max(k0, 0), min(k1, n_slots - 1)
        if k1 >= k0:
            spans.setdefault(int(antenna), []).append((k0, k1))
    out = {}
    for antenna, items in spans.items():
        merged: list[list[int]] = []
        for a, b in sorted(items):
            if merged and a <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        out[antenna] = ([a for a, _ in merged], [b for _, b in merged])
    return out


def cover_last(
    stations: Sequence,
    step_s: float,
    n_slots: int,
    cand_station: np.ndarray,
    cand_node: np.ndarray,
    cand_slot: np.ndarray,
    cand_t0_s: np.ndarray,
    cand_t1_s: np.ndarray,
    pointing: Pointing | None = None,
) -> np.ndarray:
    """Per candidate, the last slot its antenna stays taken (module docstring)."""
    ext = np.zeros(len(cand_slot))
    fixed = np.array([s.turnaround_s if s.slew is None else 0.0 for s in stations])
    if len(cand_slot):
        ext = fixed[cand_station].astype(float)
    for i, station in enumerate(stations):
        if station.slew is None:
            continue
        mine = np.flatnonzero(cand_station == i)
        ext[mine] = _slew_extension(
            station.slew, i, mine, cand_node, cand_slot, cand_t0_s, cand_t1_s, pointing
        )
    last = np.ceil((cand_t1_s + ext) / step_s - 1e-9).astype(int) - 1
    return np.clip(np.maximum(last, cand_slot), 0, max(n_slots - 1, 0))


def _slew_extension(
    slew: Slew,
    station: int,
    mine: np.ndarray,
    cand_node: np.ndarray,
    cand_slot: np.ndarray,
    cand_t0_s: np.ndarray,
    cand_t1_s: np.ndarray,
    pointing: Pointing | None,
) -> np.ndarray:
    """Longest slew turnaround from each of the station's candidates ``mine`` to a later-slot
    candidate of another node starting within that turnaround."""
    worst = float(slew_time_s(slew, 0.0, 0.0, 180.0, 90.0))  # longest_turnaround_s
    if len(mine) == 0:
        return np.zeros(0)
    order = mine[np.argsort(cand_t0_s[mine], kind="stable")]
    t0 = cand_t0_s[order]
    lo = np.searchsorted(t0, cand_t1_s[mine] - 1e-9, side="left")
    hi = np.searchsorted(t0, cand_t1_s[mine] + worst, side="left")
    count = np.maximum(hi - lo, 0)
    a = np.repeat(np.arange(len(mine)), count)
    b = order[
        np.repeat(lo, count) + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    ]
    c = mine[a]
    keep = (cand_slot[b] > cand_slot[c]) & (cand_node[b] != cand_node[c])
    a, b, c = a[keep], b[keep], c[keep]
    if pointing is None:
        need = np.full(len(a), worst)
    else:
        stations = np.full(3 * len(a), station)
        nodes = np.r_[cand_node[c], cand_node[c], cand_node[b]]
        az, el = pointing(nodes, stations, np.r_[cand_t0_s[c], cand_t1_s[c], cand_t0_s[b]])
        n = len(a)
        need = np.maximum(
            slew_time_s(slew, az[:n], el[:n], az[2 * n :], el[2 * n :]),
            slew_time_s(slew, az[n : 2 * n], el[n : 2 * n], az[2 * n :], el[2 * n :]),
        )
    conflict = cand_t0_s[b] - cand_t1_s[c] < need
    ext = np.zeros(len(mine))
    np.maximum.at(ext, a[conflict], need[conflict])
    return ext
