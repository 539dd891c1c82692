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

from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from rsmodel.geometry.blocks import DEFAULT_BLOCK_S, scan_by_block
from rsmodel.geometry.eclipses import eclipse_table
from rsmodel.geometry.imported import (
    imported_pairs,
    imported_visible,
    imported_windows,
    merged_windows,
)
from rsmodel.geometry.link import apply_link_models, grid_rate_bps, imported_rates
from rsmodel.geometry.outages import cut_outages
from rsmodel.geometry.scan import Scan, detection_times, scan
from rsmodel.geometry.windows import Table, frame, window_table
from rsmodel.model.scenario import OrbitalNode, Scenario, Station, ViewPeriod
from rsmodel.progress import bar
from rsmodel.timeutil import as_utc, datetime64_ns

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = [
    "DENSE_GRID_MAX_CELLS",
    "Geometry",
    "GridArrays",
    "compute_geometry",
    "compute_geometry_for",
]

# Largest dense grid compute_geometry keeps: 2**24 cells = 64 MiB of float32 elevation plus
# 16 MiB of visibility (e.g. 500 nodes x 20 stations x 24 h at 60 s; not 7 days).
DENSE_GRID_MAX_CELLS = 2**24


@dataclass(frozen=True)
class GridArrays:
    """The (node, station, time) grid of the geometry contract as NumPy arrays (``Geometry.grid``
    is the same as an ``xarray.Dataset``). ``elevation_deg`` (deg, float32), ``visible`` and
    ``rate_bps`` (bit/s, 0 outside windows) are ``[node, station, time]`` and dense grids only."""

    node: list[str]
    station: list[str]
    time: np.ndarray  # datetime64[ns], UTC
    sunlit: np.ndarray  # [node, time] bool
    start: datetime
    step_s: float  # between the first two grid times (0 with one time)
    elevation_deg: np.ndarray | None = None
    visible: np.ndarray | None = None
    rate_bps: np.ndarray | None = None

    def sunlit_of(self, node: str) -> np.ndarray:
        """``sunlit`` of ``node`` at every grid time."""
        return self.sunlit[self.node.index(node)]

    def dataset(self) -> xr.Dataset:
        """The grid as the ``xarray.Dataset`` of the geometry contract (arrays shared, not copied)."""
        import xarray as xr  # here: `rsmodel plan` reads the arrays and never imports xarray

        cube = ("node", "station", "time")
        attrs = {
            "elevation_deg": {"units": "deg", "long_name": "elevation above the station horizon"},
            "visible": {
                "units": "1",
                "long_name": "elevation >= station mask (minimum and terrain)",
            },
            "sunlit": {
                "units": "1",
                "long_name": "outside the Earth's umbra (point Sun, spherical Earth)",
            },
            "rate_bps": {
                "units": "bit/s",
                "long_name": "achievable downlink rate (0 outside contact windows)",
            },
        }
        variables = {
            name: xr.Variable(("node", "time") if name == "sunlit" else cube, values, attrs[name])
            for name in attrs
            if (values := getattr(self, name)) is not None
        }
        time = xr.Variable("time", self.time, {"long_name": "time (UTC)"})
        return xr.Dataset(
            variables,
            coords={"node": self.node, "station": self.station, "time": time},
            attrs={"start": self.start.isoformat(), "step_s": self.step_s},
        )


@dataclass
class Geometry:
    """Grid, windows and eclipses of a scenario (see docs/ARCHITECTURE.md, geometry contract):
    NumPy arrays and columns (what a compute request reads: it never imports pandas or xarray),
    with DataFrame and ``xarray.Dataset`` views built on first use."""

    arrays: GridArrays
    window_table: Table
    eclipse_table: Table

    @cached_property
    def grid(self) -> xr.Dataset:
        """``arrays`` as an ``xarray.Dataset``, built on first use."""
        return self.arrays.dataset()

    @cached_property
    def windows(self) -> pd.DataFrame:
        """``window_table`` as a DataFrame, built on first use."""
        return frame(self.window_table)

    @cached_property
    def eclipses(self) -> pd.DataFrame:
        """``eclipse_table`` as a DataFrame, built on first use."""
        return frame(self.eclipse_table)


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
    computed = window_table(found.contacts, scanned_names, stations, start)
    computed = cut_outages(computed, scanned, stations)
    windows = merged_windows(
        apply_link_models(computed, scanned, stations, start, step_s, found.samples),
        imported_rates(cut_outages(from_file, nodes, stations)),
    )
    arrays = _grid(names, stations, start, found, orbiting, imported, from_file)
    if found.elevation_deg is not None:
        rate_bps = grid_rate_bps(windows, names, arrays.station, start, found.t_s)
        arrays = replace(arrays, rate_bps=rate_bps)
    return Geometry(arrays, windows, eclipse_table(found.shadows, scanned_names, start))


def _grid(
    names: list[str],
    stations: list[Station],
    start: datetime,
    found: Scan,
    orbiting: list[int],
    imported: np.ndarray,
    from_file: Table,
) -> GridArrays:
    """The (node, station, time) arrays of the geometry contract (``elevation_deg`` and
    ``visible`` only when ``found`` has the dense elevation grid). ``found`` covers the nodes
    ``orbiting``; the others are sunlit with NaN elevation. Pairs ``imported [node, station]``
    have NaN elevation and are visible inside their windows ``from_file``."""
    t_s = found.t_s
    time = datetime64_ns(start, t_s)
    station_names = [s.name for s in stations]
    elevation = visible = None
    if found.elevation_deg is not None:
        elevation = np.full((len(names), len(stations), len(t_s)), np.nan, dtype=np.float32)
        elevation[orbiting] = found.elevation_deg
        elevation[imported] = np.nan
        visible = np.zeros(elevation.shape, dtype=bool)
        visible[orbiting] = found.visible
        visible[imported] = False
        if imported.any():
            visible |= imported_visible(from_file, names, station_names, time)
    sunlit = np.ones((len(names), len(t_s)), dtype=bool)
    sunlit[orbiting] = found.sunlit
    return GridArrays(
        node=names,
        station=station_names,
        time=time,
        sunlit=sunlit,
        start=start,
        step_s=float(t_s[1] - t_s[0]) if len(t_s) > 1 else 0.0,
        elevation_deg=elevation,
        visible=visible,
    )
