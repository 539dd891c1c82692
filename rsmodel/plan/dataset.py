"""plan.nc: a plan on its time grid as an ``xarray.Dataset`` (docs/plan-format.md).

Built from the plan (windows and operations), so a plan.json re-read from disk gives a
Dataset without geometry or solver; the optimiser's exact per-slot grid, when given, replaces
the pro-rata ``bytes`` and adds its variables (``link``, ``soc`` ...). Above
``rsmodel.geometry.DENSE_GRID_MAX_CELLS`` node x station x slot cells (or when the optimiser's
grid is sparse) the per-slot variables are kept only for cells in an access window or carrying
bytes, along one ``cell`` dimension (:mod:`rsmodel.cells`); the dense array is never built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from rsmodel.cells import (
    CELL_DIM,
    GRID_DIMS,
    INDEX_NAMES,
    LAYOUT_ATTR,
    cell_coords,
    dense_fits,
    is_sparse,
)
from rsmodel.plan.plan import Plan

_BYTES_ATTRS = {"units": "bytes", "long_name": "bytes transferred in the slot"}
_IN_WINDOW_ATTRS = {"units": "1", "long_name": "fraction of the slot inside an access window"}


def plan_dataset(plan: Plan, grid: xr.Dataset | None = None) -> xr.Dataset:
    """``bytes`` and ``in_window`` per (node, station, slot), slot = [time, time + step_s),
    plus the variables of the optimiser's ``grid`` (which take precedence).

    Dense (node, station, time) arrays unless the grid is sparse or, without per-slot grid
    variables, the grid would exceed ``DENSE_GRID_MAX_CELLS`` cells: then along ``cell``."""
    start = pd.Timestamp(plan.horizon["start"])
    end = pd.Timestamp(plan.horizon["end"])
    step_s = float(plan.horizon["step_s"])
    n_slots = int(np.ceil((end - start).total_seconds() / step_s - 1e-9))
    edges_s = np.minimum(np.arange(n_slots + 1) * step_s, (end - start).total_seconds())
    nodes = [n["name"] for n in plan.nodes]
    stations = [s["name"] for s in plan.stations]
    shape = (len(nodes), len(stations), n_slots)
    in_window = _overlaps(plan.windows, nodes, stations, start, edges_s, shape, weight=None)
    sent = _overlaps(plan.operations, nodes, stations, start, edges_s, shape, weight="bytes")
    times = (
        (start + pd.to_timedelta(edges_s[:-1], unit="s"))
        .tz_convert(None)
        .to_numpy("datetime64[ns]")
    )
    coords = {"node": nodes, "station": stations, "time": times}
    attrs = {
        "title": f"rsmodel plan {plan.model.get('name', '')}",
        "schema_version": plan.schema_version,
        "step_s": step_s,
        "time_zone": "UTC; time is the slot start",
        "horizon_start": plan.horizon["start"],
        "horizon_end": plan.horizon["end"],
    }
    grid_vars = {} if grid is None else dict(grid.data_vars)
    has_slot_grid = any("station" in v.dims for v in grid_vars.values())
    if is_sparse(grid) or (not has_slot_grid and not dense_fits(shape)):
        return _sparse_dataset(in_window, sent, grid, coords, attrs)
    dataset = xr.Dataset(
        {
            "bytes": (GRID_DIMS, _dense(sent, shape), _BYTES_ATTRS),
            "in_window": (GRID_DIMS, _dense(in_window, shape), _IN_WINDOW_ATTRS),
        },
        coords=coords,
        attrs=attrs,
    )
    for name, variable in grid_vars.items():
        dataset[name] = variable.reindex_like(dataset, fill_value=0)
    return dataset


def _sparse_dataset(
    in_window: tuple[np.ndarray, np.ndarray],
    sent: tuple[np.ndarray, np.ndarray],
    grid: xr.Dataset | None,
    coords: dict[str, Any],
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The plan dataset along ``cell``: the cells of the windows, operations and ``grid``."""
    shape = tuple(len(coords[dim]) for dim in GRID_DIMS)
    grid_flat, grid_keep = _grid_cells(grid, coords) if is_sparse(grid) else (_NO_CELLS, None)
    cells = np.unique(np.concatenate([in_window[0], sent[0], grid_flat]))
    dataset = xr.Dataset(
        {
            "bytes": (CELL_DIM, _gather(cells, sent), _BYTES_ATTRS),
            "in_window": (CELL_DIM, _gather(cells, in_window), _IN_WINDOW_ATTRS),
        },
        coords={**coords, **cell_coords(cells, shape)},
        attrs={**attrs, "layout": LAYOUT_ATTR},
    )
    position = np.searchsorted(cells, grid_flat)
    for name, variable in ({} if grid is None else grid.data_vars).items():
        if CELL_DIM in variable.dims:
            values = np.zeros(len(cells), dtype=variable.dtype)
            values[position] = variable.values[grid_keep]
            dataset[name] = (CELL_DIM, values, variable.attrs)
        else:
            dataset[name] = variable.reindex_like(dataset, fill_value=0)
    return dataset


_NO_CELLS = np.zeros(0, dtype=np.int64)


def _grid_cells(grid: xr.Dataset, coords: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices on the plan's (node, station, time) coordinates of the sparse ``grid``'s
    cells, and which of its cells lie on them (matched by label)."""
    positions = [
        pd.Index(coords[dim]).get_indexer(grid[dim].values)[grid[name].values]
        for name, dim in zip(INDEX_NAMES, GRID_DIMS, strict=True)
    ]
    keep = np.logical_and.reduce([p >= 0 for p in positions])
    shape = tuple(len(coords[dim]) for dim in GRID_DIMS)
    return np.ravel_multi_index(tuple(p[keep] for p in positions), shape), keep


def _dense(entries: tuple[np.ndarray, np.ndarray], shape: tuple[int, int, int]) -> np.ndarray:
    """Entries (flat index, value) summed on the dense grid, in entry order."""
    flat, values = entries
    return np.bincount(flat, weights=values, minlength=math.prod(shape)).reshape(shape)


def _gather(cells: np.ndarray, entries: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Entries (flat index, value) summed per cell of ``cells`` (sorted, a superset)."""
    flat, values = entries
    return np.bincount(np.searchsorted(cells, flat), weights=values, minlength=len(cells))


def _overlaps(
    rows: Sequence[Mapping[str, Any]],
    nodes: list[str],
    stations: list[str],
    origin: pd.Timestamp,
    edges_s: np.ndarray,
    shape: tuple[int, int, int],
    *,
    weight: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's time overlap with each slot it touches: (flat cell index, value) entries.

    With ``weight`` each row's value is split pro rata to the overlap (bytes per slot);
    without, the value is the overlap as a fraction of the slot length.
    """
    node_index = {n: i for i, n in enumerate(nodes)}
    station_index = {s: i for i, s in enumerate(stations)}
    lengths = np.diff(edges_s)
    flats, values = [_NO_CELLS], [np.zeros(0)]
    for row in rows:
        t0 = (pd.Timestamp(row["start"]) - origin).total_seconds()
        t1 = (pd.Timestamp(row["end"]) - origin).total_seconds()
        lo = max(int(np.searchsorted(edges_s, t0, side="right")) - 1, 0)
        hi = int(np.searchsorted(edges_s, t1, side="left"))
        overlap = np.clip(
            np.minimum(edges_s[lo + 1 : hi + 1], t1) - np.maximum(edges_s[lo:hi], t0), 0, None
        )
        if weight is None:
            values.append(overlap / lengths[lo:hi])
        else:
            values.append(float(row[weight]) * overlap / max(t1 - t0, 1e-9))
        base = (node_index[row["node"]] * shape[1] + station_index[row["station"]]) * shape[2]
        flats.append(base + np.arange(lo, hi, dtype=np.int64))
    return np.concatenate(flats), np.concatenate(values)
