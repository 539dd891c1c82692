"""Imported view periods as rows of the windows table (no geometry computed for their pairs).

A view period becomes one window: its transmit-enabled part when the file gives one, else the
whole period, cut to the horizon (``start_clipped``/``end_clipped`` say so). ``tca`` is the
middle of the view period (cut to the window; files give the maximum elevation, not its time),
``max_elevation_deg`` is the file's value or NaN, ``bandwidth_bps`` the file's ``rate_bps`` or
the station's, and ``capacity_bytes = bandwidth_bps / 8 * (duration_s - setup_s)`` as for
computed windows.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from rsmodel.geometry.windows import Table, sorted_by_start
from rsmodel.model.scenario import Station, ViewPeriod
from rsmodel.timeutil import ns_seconds, utc_ns


def imported_pairs(
    periods: list[ViewPeriod], node_names: list[str], stations: list[Station]
) -> np.ndarray:
    """``[node, station]`` bool: the pairs whose windows come from the imported file (periods
    of other nodes or stations are ignored)."""
    out = np.zeros((len(node_names), len(stations)), dtype=bool)
    node_index = {n: i for i, n in enumerate(node_names)}
    station_index = {s.name: j for j, s in enumerate(stations)}
    for p in periods:
        if p.node in node_index and p.station in station_index:
            out[node_index[p.node], station_index[p.station]] = True
    return out


def imported_windows(
    periods: list[ViewPeriod],
    stations: list[Station],
    start: datetime,
    end: datetime,
    nodes: list[str] | None = None,
) -> Table:
    """Windows (columns of the geometry contract, ``id`` empty) of the periods inside the horizon
    (of ``stations`` and of ``nodes`` when given)."""
    t0, t1 = utc_ns(start), utc_ns(end)
    by_name = {s.name: s for s in stations}
    kept = [
        p
        for p in periods
        if p.station in by_name
        and (nodes is None or p.node in nodes)
        and min(utc_ns(p.tx_end or p.end), t1) > max(utc_ns(p.tx_start or p.start), t0)
    ]
    lo = np.array([utc_ns(p.tx_start or p.start) for p in kept], dtype=np.int64)
    hi = np.array([utc_ns(p.tx_end or p.end) for p in kept], dtype=np.int64)
    w0, w1 = np.maximum(lo, t0), np.minimum(hi, t1)
    middle = np.array(
        [utc_ns(p.start) + (utc_ns(p.end) - utc_ns(p.start)) // 2 for p in kept], dtype=np.int64
    )
    duration = ns_seconds(w1 - w0)
    rate = np.array(
        [p.rate_bps if p.rate_bps is not None else by_name[p.station].bandwidth_bps for p in kept],
        dtype=float,
    )
    setup = np.array([by_name[p.station].setup_s for p in kept], dtype=float)
    elevation = [np.nan if p.max_elevation_deg is None else p.max_elevation_deg for p in kept]
    return {
        "id": np.full(len(kept), "", dtype=object),
        "node": np.array([p.node for p in kept], dtype=object),
        "station": np.array([p.station for p in kept], dtype=object),
        "start": w0.view("datetime64[ns]"),
        "end": w1.view("datetime64[ns]"),
        "tca": np.clip(middle, w0, w1).view("datetime64[ns]"),
        "max_elevation_deg": np.array(elevation, dtype=float),
        "duration_s": duration,
        "bandwidth_bps": rate,
        "capacity_bytes": rate / 8.0 * np.maximum(0.0, duration - setup),
        "start_clipped": lo < t0,
        "end_clipped": hi > t1,
    }


def merged_windows(computed: Table, imported: Table) -> Table:
    """Both tables as one, sorted by (start, node, station), ids w00001... again."""
    if len(imported["id"]) == 0:
        return computed
    return sorted_by_start(
        {name: np.concatenate([computed[name], imported[name]]) for name in computed}
    )


def imported_visible(
    windows: Table, node_names: list[str], station_names: list[str], time: np.ndarray
) -> np.ndarray:
    """``[node, station, time]`` bool: grid times (``datetime64[ns]``, UTC) inside an imported
    window of the pair."""
    out = np.zeros((len(node_names), len(station_names), len(time)), dtype=bool)
    node_index = {n: i for i, n in enumerate(node_names)}
    station_index = {s: j for j, s in enumerate(station_names)}
    for node, station, a, b in zip(
        windows["node"], windows["station"], windows["start"], windows["end"], strict=True
    ):
        out[node_index[node], station_index[station]] |= (time >= a) & (time <= b)
    return out
