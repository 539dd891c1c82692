"""Geometry: contact windows, eclipses and the (node, station, time) grid of a scenario.

``compute_geometry(scenario)`` propagates every node with SGP4 on a grid of at most 60 s,
computes elevations for all node x station x time as one matrix product per chunk of nodes,
and refines window edges, culminations and eclipse edges to ~1 ms (see ``events``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import xarray as xr

from rsmodel.geometry.eclipses import eclipse_intervals, eclipses_frame
from rsmodel.geometry.events import Intervals
from rsmodel.geometry.frames import (
    elevation_deg,
    gcrs_to_itrs,
    propagate_itrs_hermite,
    shadow_margin_km,
    site_itrs,
    sun_gcrs,
    times_from,
)
from rsmodel.geometry.windows import contact_intervals, windows_frame
from rsmodel.model.scenario import OrbitalNode, Scenario, Station
from rsmodel.progress import bar
from rsmodel.timeutil import as_utc

__all__ = ["Geometry", "compute_geometry", "compute_geometry_for"]

MAX_DETECTION_STEP_S = 60.0
CHUNK_BYTES = 256 * 2**20  # working memory per chunk of nodes


@dataclass
class Geometry:
    """Grid, windows and eclipses of a scenario (see docs/ARCHITECTURE.md, geometry contract)."""

    grid: xr.Dataset
    windows: pd.DataFrame
    eclipses: pd.DataFrame


def compute_geometry(scenario: Scenario) -> Geometry:
    """Geometry of every node x station of ``scenario`` over its horizon and grid step."""
    return compute_geometry_for(
        scenario.nodes, scenario.stations, scenario.start, scenario.end, scenario.step_s
    )


def detection_times(duration_s: float, step_s: float) -> tuple[np.ndarray, slice]:
    """Search times (s, step <= 60 s, ending exactly at the horizon end) and the grid's slice of them."""
    per_step = max(1, math.ceil(step_s / MAX_DETECTION_STEP_S - 1e-9))
    fine = step_s / per_step
    n_uniform = int(math.floor(duration_s / fine + 1e-9)) + 1
    t_s = np.arange(n_uniform) * fine
    if duration_s - t_s[-1] > 1e-6:
        t_s = np.append(t_s, duration_s)
    return t_s, slice(0, n_uniform, per_step)


def compute_geometry_for(
    nodes: list[OrbitalNode], stations: list[Station], start: datetime, end: datetime, step_s: float
) -> Geometry:
    """Geometry of ``nodes`` x ``stations`` from ``start`` to ``end`` on a ``step_s`` grid."""
    start, end = as_utc(start), as_utc(end)
    t_s, grid_index = detection_times((end - start).total_seconds(), step_s)
    times = times_from(start, t_s)
    sun_gcrs_km = sun_gcrs(times)
    sun = gcrs_to_itrs(sun_gcrs_km, times)
    sites = site_itrs(
        [s.lat_deg for s in stations], [s.lon_deg for s in stations], [s.alt_m for s in stations]
    )
    mask = np.array([s.elevation_min_deg for s in stations], dtype=float)
    satrecs = [n.orbit.satrec for n in nodes]
    nsite = len(stations)
    n_grid = len(t_s[grid_index])
    elevation = np.empty((len(nodes), nsite, n_grid), dtype=np.float32)
    sunlit = np.empty((len(nodes), n_grid), dtype=bool)
    contacts: list[Intervals] = []
    shadows: list[Intervals] = []
    chunk = max(1, CHUNK_BYTES // (len(t_s) * (48 * max(nsite, 1) + 96)))
    with bar(len(nodes), desc="geometry") as progress:
        for lo in range(0, len(nodes), chunk):
            part = satrecs[lo : lo + chunk]
            pos = propagate_itrs_hermite(part, times)
            el = elevation_deg(pos.astype(np.float32), sites)
            depth = -shadow_margin_km(pos, sun[None])
            elevation[lo : lo + len(part)] = el[:, :, grid_index]
            sunlit[lo : lo + len(part)] = depth[:, grid_index] < 0
            if nsite:
                el -= mask[None, :, None].astype(np.float32)
                found = contact_intervals(el, t_s, start, part, sites, mask)
                contacts.append(found.with_row_offset(lo * nsite))
            shadows.append(
                eclipse_intervals(depth, t_s, start, part, sun_gcrs_km).with_row_offset(lo)
            )
            progress.update(len(part))
    names = [n.name for n in nodes]
    grid = _grid(names, stations, start, t_s[grid_index], elevation, mask, sunlit)
    windows = windows_frame(_joined(contacts), names, stations, start)
    eclipses = eclipses_frame(_joined(shadows), names, start)
    return Geometry(grid, windows, eclipses)


def _joined(parts: list[Intervals]) -> Intervals:
    empty = np.array([], dtype=float)
    none = Intervals(
        empty.astype(int), empty, empty, empty.astype(bool), empty.astype(bool), empty, empty
    )
    return Intervals.concat(parts or [none])


def _grid(
    names: list[str],
    stations: list[Station],
    start: datetime,
    t_s: np.ndarray,
    elevation: np.ndarray,
    mask: np.ndarray,
    sunlit: np.ndarray,
) -> xr.Dataset:
    """The (node, station, time) dataset of the geometry contract."""
    time = (pd.Timestamp(start).tz_convert(None) + pd.to_timedelta(t_s, unit="s")).values.astype(
        "datetime64[ns]"
    )
    grid = xr.Dataset(
        {
            "elevation_deg": (("node", "station", "time"), elevation),
            "visible": (
                ("node", "station", "time"),
                elevation >= mask[None, :, None].astype(np.float32),
            ),
            "sunlit": (("node", "time"), sunlit),
        },
        coords={"node": names, "station": [s.name for s in stations], "time": time},
    )
    grid["elevation_deg"].attrs.update(units="deg", long_name="elevation above the station horizon")
    grid["visible"].attrs.update(units="1", long_name="elevation >= station elevation mask")
    grid["sunlit"].attrs.update(
        units="1", long_name="outside the Earth's umbra (point Sun, spherical Earth)"
    )
    grid["time"].attrs.update(long_name="time (UTC)")
    grid.attrs.update(
        start=start.isoformat(), step_s=float(t_s[1] - t_s[0]) if len(t_s) > 1 else 0.0
    )
    return grid
