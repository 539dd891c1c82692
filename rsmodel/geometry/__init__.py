"""Geometry: contact windows, eclipses and the (node, station, time) grid of a scenario.

``compute_geometry(scenario)`` propagates every node with SGP4 on a grid of at most 60 s,
computes elevations for all node x station x time as one matrix product per chunk of nodes,
and refines window edges, culminations and eclipse edges to ~1 ms (see ``events``). Above
``DENSE_GRID_MAX_CELLS`` node x station x time cells it scans one time block at a time and
keeps no dense elevation grid (see ``blocks``). Nodes from OEM ephemerides are interpolated
(``ephemeris``) and scanned with the others. Pairs with imported view periods take their
windows from the file and are not searched (``imported``); nodes without an orbit (imported
view periods only) are not propagated: no eclipses, ``sunlit`` true, elevation NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import xarray as xr

from rsmodel.geometry.blocks import DEFAULT_BLOCK_S, scan_by_block
from rsmodel.geometry.eclipses import eclipses_frame
from rsmodel.geometry.imported import (
    imported_pairs,
    imported_visible,
    imported_windows,
    merged_windows,
)
from rsmodel.geometry.link import apply_link_models, grid_rate_bps, imported_rates
from rsmodel.geometry.outages import cut_outages
from rsmodel.geometry.scan import Scan, detection_times, scan
from rsmodel.geometry.windows import windows_frame
from rsmodel.model.scenario import OrbitalNode, Scenario, Station, ViewPeriod
from rsmodel.progress import bar
from rsmodel.timeutil import as_utc

__all__ = ["DENSE_GRID_MAX_CELLS", "Geometry", "compute_geometry", "compute_geometry_for"]

# Largest dense grid compute_geometry keeps: 2**24 cells = 64 MiB of float32 elevation plus
# 16 MiB of visibility (e.g. 500 nodes x 20 stations x 24 h at 60 s; not 7 days).
DENSE_GRID_MAX_CELLS = 2**24


@dataclass
class Geometry:
    """Grid, windows and eclipses of a scenario (see docs/ARCHITECTURE.md, geometry contract)."""

    grid: xr.Dataset
    windows: pd.DataFrame
    eclipses: pd.DataFrame


def compute_geometry(scenario: Scenario, *, dense: bool | None = None) -> Geometry:
    """Geometry of every node x station of ``scenario`` over its horizon and grid step.

    ``dense``: keep the (node, station, time) ``elevation_deg`` / ``visible`` grid (scan the
    horizon at once) or not (scan it in ``DEFAULT_BLOCK_S`` blocks); default: dense when the
    grid has at most ``DENSE_GRID_MAX_CELLS`` cells.
    """
    args = (scenario.nodes, scenario.stations, scenario.start, scenario.end, scenario.step_s)
    if dense is None:
        duration_s = (scenario.end - scenario.start).total_seconds()
        t_s, grid_index = detection_times(duration_s, scenario.step_s)
        n_grid = len(t_s[grid_index])
        dense = len(scenario.nodes) * len(scenario.stations) * n_grid <= DENSE_GRID_MAX_CELLS
    return compute_geometry_for(
        *args, block_s=None if dense else DEFAULT_BLOCK_S, view_periods=scenario.view_periods
    )


def compute_geometry_for(
    nodes: list[OrbitalNode],
    stations: list[Station],
    start: datetime,
    end: datetime,
    step_s: float,
    *,
    block_s: float | None = None,
    view_periods: list[ViewPeriod] | tuple[()] = (),
) -> Geometry:
    """Geometry of ``nodes`` x ``stations`` from ``start`` to ``end`` on a ``step_s`` grid.

    ``block_s`` (s): scan one time block at a time; the grid then has ``sunlit`` only.
    ``view_periods``: imported windows, used verbatim for their (node, station) pairs."""
    start = as_utc(start)
    names = [n.name for n in nodes]
    imported = imported_pairs(list(view_periods), names, stations)
    orbiting = [i for i, n in enumerate(nodes) if n.orbit is not None]
    scanned = [nodes[i] for i in orbiting]
    skip = imported[orbiting] if imported.any() else None
    if block_s is not None:
        found = scan_by_block(scanned, stations, start, end, step_s, block_s, skip_pairs=skip)
    else:
        with bar(len(scanned), desc="geometry") as progress:
            found = scan(
                scanned,
                stations,
                start,
                end,
                step_s,
                dense=True,
                skip_pairs=skip,
                on_nodes_done=progress.update,
            )
    scanned_names = [n.name for n in scanned]
    from_file = imported_windows(list(view_periods), stations, start, end, names)
    computed = windows_frame(found.contacts, scanned_names, stations, start)
    computed = cut_outages(computed, scanned, stations)
    windows = merged_windows(
        apply_link_models(computed, scanned, stations, start, step_s, found.samples),
        imported_rates(cut_outages(from_file, nodes, stations)),
    )
    grid = _grid(names, stations, start, found, orbiting, imported, from_file)
    if found.elevation_deg is not None:
        grid["rate_bps"] = (
            ("node", "station", "time"),
            grid_rate_bps(windows, names, [s.name for s in stations], start, found.t_s),
        )
        grid["rate_bps"].attrs.update(
            units="bit/s", long_name="achievable downlink rate (0 outside contact windows)"
        )
    return Geometry(grid, windows, eclipses_frame(found.shadows, scanned_names, start))


def _grid(
    names: list[str],
    stations: list[Station],
    start: datetime,
    found: Scan,
    orbiting: list[int],
    imported: np.ndarray,
    from_file: pd.DataFrame,
) -> xr.Dataset:
    """The (node, station, time) dataset of the geometry contract (``elevation_deg`` and
    ``visible`` only when ``found`` has the dense elevation grid). ``found`` covers the nodes
    ``orbiting``; the others are sunlit with NaN elevation. Pairs ``imported [node, station]``
    have NaN elevation and are visible inside their windows ``from_file``."""
    t_s = found.t_s
    time = (pd.Timestamp(start).tz_convert(None) + pd.to_timedelta(t_s, unit="s")).values.astype(
        "datetime64[ns]"
    )
    variables = {}
    if found.elevation_deg is not None:
        elevation = np.full((len(names), len(stations), len(t_s)), np.nan, dtype=np.float32)
        elevation[orbiting] = found.elevation_deg
        elevation[imported] = np.nan
        visible = np.zeros(elevation.shape, dtype=bool)
        visible[orbiting] = found.visible
        visible[imported] = False
        if imported.any():
            station_names = [s.name for s in stations]
            visible |= imported_visible(from_file, names, station_names, time)
        variables["elevation_deg"] = (("node", "station", "time"), elevation)
        variables["visible"] = (("node", "station", "time"), visible)
    sunlit = np.ones((len(names), len(t_s)), dtype=bool)
    sunlit[orbiting] = found.sunlit
    variables["sunlit"] = (("node", "time"), sunlit)
    grid = xr.Dataset(
        variables, coords={"node": names, "station": [s.name for s in stations], "time": time}
    )
    if found.elevation_deg is not None:
        grid["elevation_deg"].attrs.update(
            units="deg", long_name="elevation above the station horizon"
        )
        grid["visible"].attrs.update(
            units="1", long_name="elevation >= station mask (minimum and terrain)"
        )
    grid["sunlit"].attrs.update(
        units="1", long_name="outside the Earth's umbra (point Sun, spherical Earth)"
    )
    grid["time"].attrs.update(long_name="time (UTC)")
    grid.attrs.update(
        start=start.isoformat(), step_s=float(t_s[1] - t_s[0]) if len(t_s) > 1 else 0.0
    )
    return grid
