"""Sparse (node, station, time) cells of the optimiser grid and plan.nc (docs/plan-format.md).

Above ``rsmodel.geometry.DENSE_GRID_MAX_CELLS`` node x station x slot cells, per-slot link
variables are kept only for the cells listed along one ``cell`` dimension: CF indexed style,
each cell has ``node_index``, ``station_index`` and ``time_index`` (int32 positions along the
``node``, ``station`` and ``time`` dimension coordinates, attribute ``instance_dimension``);
cells not listed are 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

import rsmodel.geometry as geometry

if TYPE_CHECKING:
    import xarray as xr

CELL_DIM = "cell"
GRID_DIMS = ("node", "station", "time")
INDEX_NAMES = tuple(f"{dim}_index" for dim in GRID_DIMS)
LAYOUT_ATTR = (
    "sparse: (node, station, time) cells along cell (node_index, station_index, time_index);"
    " cells not listed are 0"
)


def dense_fits(shape: tuple[int, int, int]) -> bool:
    """Whether a (node, station, time) grid of ``shape`` is kept dense (at most
    ``rsmodel.geometry.DENSE_GRID_MAX_CELLS`` cells)."""
    return math.prod(shape) <= geometry.DENSE_GRID_MAX_CELLS


def is_sparse(dataset: xr.Dataset | None) -> bool:
    """Whether ``dataset`` holds its per-slot link variables along ``cell``."""
    return dataset is not None and CELL_DIM in dataset.dims


def cell_coords(flat: np.ndarray, shape: tuple[int, int, int]) -> dict[str, Any]:
    """``node_index``, ``station_index``, ``time_index`` coordinates of the cells ``flat``
    (sorted flat indices into ``shape``)."""
    positions = np.unravel_index(np.asarray(flat, dtype=np.int64), shape)
    return {
        name: (
            CELL_DIM,
            position.astype(np.int32),
            {"instance_dimension": dim, "long_name": f"position of the cell's {dim} along {dim}"},
        )
        for name, dim, position in zip(INDEX_NAMES, GRID_DIMS, positions, strict=True)
    }


def station_time_sum(dataset: xr.Dataset, name: str) -> xr.DataArray:
    """``dataset[name]`` summed over nodes, as a dense (station, time) array, either layout."""
    variable = dataset[name]
    if not is_sparse(dataset):
        return variable.sum("node")
    n_time = dataset.sizes["time"]
    flat = dataset["station_index"].values.astype(np.int64) * n_time + dataset["time_index"].values
    size = dataset.sizes["station"] * n_time
    import xarray as xr  # loaded already (dataset is one); `rsmodel plan -o` reports need none

    values = np.bincount(flat, weights=variable.values.astype(float), minlength=size)
    return xr.DataArray(
        values.reshape(dataset.sizes["station"], n_time),
        dims=("station", "time"),
        coords={"station": dataset["station"].values, "time": dataset["time"].values},
        attrs=variable.attrs,
    )
