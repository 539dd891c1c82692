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
import pandas as pd

from rsmodel.geometry.windows import WINDOW_COLUMNS
from rsmodel.model.scenario import Station, ViewPeriod
from rsmodel.timeutil import as_utc


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
) -> pd.DataFrame:
    """Windows (columns of the geometry contract, ``id`` empty) of the periods inside the horizon
    (of ``stations`` and of ``nodes`` when given)."""
    start, end = pd.Timestamp(as_utc(start)), pd.Timestamp(as_utc(end))
    by_name = {s.name: s for s in stations}
    rows = []
    for p in periods:
        lo = pd.Timestamp(p.tx_start or p.start)
        hi = pd.Timestamp(p.tx_end or p.end)
        w0, w1 = max(lo, start), min(hi, end)
        if w1 <= w0 or p.station not in by_name or (nodes is not None and p.node not in nodes):
            continue
        station = by_name[p.station]
        middle = pd.Timestamp(p.start) + (pd.Timestamp(p.end) - pd.Timestamp(p.start)) / 2
        duration = (w1 - w0).total_seconds()
        rate = p.rate_bps if p.rate_bps is not None else station.bandwidth_bps
        rows.append(
            {
                "id": "",
                "node": p.node,
                "station": p.station,
                "start": w0,
                "end": w1,
                "tca": min(max(middle, w0), w1),
                "max_elevation_deg": np.nan if p.max_elevation_deg is None else p.max_elevation_deg,
                "duration_s": duration,
                "bandwidth_bps": float(rate),
                "capacity_bytes": rate / 8.0 * max(0.0, duration - station.setup_s),
                "start_clipped": lo < start,
                "end_clipped": hi > end,
            }
        )
    frame = pd.DataFrame(rows, columns=WINDOW_COLUMNS)
    for column in ("start", "end", "tca"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    return frame


def merged_windows(computed: pd.DataFrame, imported: pd.DataFrame) -> pd.DataFrame:
    """Both tables as one, sorted by (start, node, station), ids w00001... again."""
    if len(imported) == 0:
        return computed
    frames = [f for f in (computed, imported) if len(f)]
    out = pd.concat(frames, ignore_index=True).sort_values(
        ["start", "node", "station"], kind="stable", ignore_index=True
    )
    out["id"] = [f"w{i + 1:05d}" for i in range(len(out))]
    return out


def imported_visible(
    windows: pd.DataFrame, node_names: list[str], station_names: list[str], time: np.ndarray
) -> np.ndarray:
    """``[node, station, time]`` bool: grid times inside an imported window of the pair."""
    out = np.zeros((len(node_names), len(station_names), len(time)), dtype=bool)
    node_index = {n: i for i, n in enumerate(node_names)}
    station_index = {s: j for j, s in enumerate(station_names)}
    t = pd.DatetimeIndex(time).tz_localize("UTC") if pd.DatetimeIndex(time).tz is None else time
    for w in windows.itertuples():
        inside = (t >= w.start) & (t <= w.end)
        out[node_index[w.node], station_index[w.station]] |= np.asarray(inside)
    return out
