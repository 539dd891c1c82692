"""plan.nc: a plan on its time grid as an ``xarray.Dataset`` (docs/plan-format.md).

Built from the plan (windows and operations), so a plan.json re-read from disk gives a
Dataset without geometry or solver; the optimiser's exact per-slot grid, when given, replaces
the pro-rata ``bytes`` and adds its variables (``link``, ``soc`` ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from rsmodel.plan.plan import Plan


def plan_dataset(plan: Plan, grid: xr.Dataset | None = None) -> xr.Dataset:
    """``bytes`` and ``in_window`` per (node, station, slot), slot = [time, time + step_s),
    plus the variables of the optimiser's ``grid`` (which take precedence)."""
    start = pd.Timestamp(plan.horizon["start"])
    end = pd.Timestamp(plan.horizon["end"])
    step_s = float(plan.horizon["step_s"])
    n_slots = int(np.ceil((end - start).total_seconds() / step_s - 1e-9))
    edges_s = np.minimum(np.arange(n_slots + 1) * step_s, (end - start).total_seconds())
    nodes = [n["name"] for n in plan.nodes]
    stations = [s["name"] for s in plan.stations]
    shape = (len(nodes), len(stations), n_slots)
    in_window = _spread(plan.windows, nodes, stations, start, edges_s, shape, weight=None)
    sent = _spread(plan.operations, nodes, stations, start, edges_s, shape, weight="bytes")
    times = (
        (start + pd.to_timedelta(edges_s[:-1], unit="s"))
        .tz_convert(None)
        .to_numpy("datetime64[ns]")
    )
    dims = ("node", "station", "time")
    dataset = xr.Dataset(
        {
            "bytes": (dims, sent, {"units": "bytes", "long_name": "bytes transferred in the slot"}),
            "in_window": (
                dims,
                in_window,
                {"units": "1", "long_name": "fraction of the slot inside an access window"},
            ),
        },
        coords={"node": nodes, "station": stations, "time": times},
        attrs={
            "title": f"rsmodel plan {plan.model.get('name', '')}",
            "schema_version": plan.schema_version,
            "step_s": step_s,
            "time_zone": "UTC; time is the slot start",
            "horizon_start": plan.horizon["start"],
            "horizon_end": plan.horizon["end"],
        },
    )
    for name, variable in ({} if grid is None else grid.data_vars).items():
        dataset[name] = variable.reindex_like(dataset, fill_value=0)
    return dataset


def _spread(
    rows: Sequence[Mapping[str, Any]],
    nodes: list[str],
    stations: list[str],
    origin: pd.Timestamp,
    edges_s: np.ndarray,
    shape: tuple[int, int, int],
    *,
    weight: str | None,
) -> np.ndarray:
    """Sum over ``rows`` of their time overlap with each slot.

    With ``weight`` each row's value is split pro rata to the overlap (bytes per slot);
    without, the result is the overlap as a fraction of the slot length.
    """
    out = np.zeros(shape)
    node_index = {n: i for i, n in enumerate(nodes)}
    station_index = {s: i for i, s in enumerate(stations)}
    lengths = np.diff(edges_s)
    for row in rows:
        t0 = (pd.Timestamp(row["start"]) - origin).total_seconds()
        t1 = (pd.Timestamp(row["end"]) - origin).total_seconds()
        lo = max(int(np.searchsorted(edges_s, t0, side="right")) - 1, 0)
        hi = int(np.searchsorted(edges_s, t1, side="left"))
        overlap = np.clip(
            np.minimum(edges_s[lo + 1 : hi + 1], t1) - np.maximum(edges_s[lo:hi], t0), 0, None
        )
        if weight is None:
            values = overlap / lengths[lo:hi]
        else:
            values = float(row[weight]) * overlap / max(t1 - t0, 1e-9)
        out[node_index[row["node"]], station_index[row["station"]], lo:hi] += values
    return out
