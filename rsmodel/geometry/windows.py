"""Contact windows: intervals with a node above a station's effective elevation mask."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from rsmodel.geometry.events import Intervals, find_intervals
from rsmodel.geometry.frames import Sites, times_from
from rsmodel.geometry.masks import Masks
from rsmodel.geometry.propagate import Source, pairs_itrs
from rsmodel.model.scenario import Station
from rsmodel.timeutil import datetime64_ns

if TYPE_CHECKING:
    import pandas as pd

# A table as NumPy columns of one length (instants ``datetime64[ns]``, UTC): how the geometry
# builds its windows and eclipses; ``Geometry.windows`` / ``.eclipses`` are them as DataFrames.
Table = dict[str, np.ndarray]

# A pass that fits between two samples of a <= 60 s grid peaks within ~0.2 deg of the nearest
# sample; grid maxima up to this far below the mask are checked for a hidden pass.
GRAZE_THRESHOLD_DEG = 2.0

WINDOW_COLUMNS = [
    "id",
    "node",
    "station",
    "start",
    "end",
    "tca",
    "max_elevation_deg",
    "duration_s",
    "bandwidth_bps",
    "capacity_bytes",
    "start_clipped",
    "end_clipped",
]


def contact_intervals(
    margin_deg: np.ndarray,
    t_s: np.ndarray,
    start: datetime,
    sources: list[Source],
    sites: Sites,
    masks: Masks,
) -> Intervals:
    """Refined windows from grid elevation-minus-mask ``[nsat, nsite, ntime]``; rows are
    sat*nsite+site. ``peak_s`` is the instant of largest margin above the effective mask (the
    culmination where no terrain mask applies), ``peak_value`` the elevation then (deg)."""
    nsat, nsite, nt = margin_deg.shape

    def state(rows: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos, vel = pairs_itrs(sources, rows // nsite, times_from(start, t))
        return masks.pair_margin(pos, vel, rows % nsite, sites)

    found = find_intervals(
        margin_deg.reshape(nsat * nsite, nt),
        t_s,
        lambda rows, t: state(rows, t)[:2],
        graze_threshold=GRAZE_THRESHOLD_DEG,
    )
    assert found.peak_s is not None and found.peak_value is not None
    terrain = np.array([masks.terrain[r % nsite] is not None for r in found.row], dtype=bool)
    found.peak_value = found.peak_value + masks.min_deg[found.row % nsite]
    if terrain.any():
        found.peak_value[terrain] = state(found.row[terrain], found.peak_s[terrain])[2]
    return found


def window_table(
    found: Intervals, node_names: list[str], stations: list[Station], start: datetime
) -> Table:
    """The windows table of the geometry contract, sorted by (start, node, station), ids w00001..."""
    nsite = len(stations)
    node, site = found.row // nsite, found.row % nsite
    order = np.lexsort(
        (name_rank([s.name for s in stations])[site], name_rank(node_names)[node], found.start_s)
    )
    node, site = node[order], site[order]
    start_s, end_s = found.start_s[order], found.end_s[order]
    bandwidth = np.array([s.bandwidth_bps for s in stations], dtype=float)[site]
    setup = np.array([s.setup_s for s in stations], dtype=float)[site]
    duration = end_s - start_s
    return {
        "id": window_ids(len(order)),
        "node": np.asarray(node_names, dtype=object)[node],
        "station": np.asarray([s.name for s in stations], dtype=object)[site],
        "start": datetime64_ns(start, start_s),
        "end": datetime64_ns(start, end_s),
        "tca": datetime64_ns(start, found.peak_s[order]),
        "max_elevation_deg": found.peak_value[order],
        "duration_s": duration,
        "bandwidth_bps": bandwidth,
        "capacity_bytes": bandwidth / 8.0 * np.maximum(0.0, duration - setup),
        "start_clipped": found.start_clipped[order],
        "end_clipped": found.end_clipped[order],
    }


def window_ids(n: int) -> np.ndarray:
    """Window ids ``w00001`` ... of ``n`` rows in table order."""
    return np.array([f"w{i + 1:05d}" for i in range(n)], dtype=object)


def take(table: Table, rows: np.ndarray) -> Table:
    """Rows ``rows`` (indices or a mask) of ``table``."""
    return {name: values[rows] for name, values in table.items()}


def sorted_by_start(table: Table) -> Table:
    """``table`` sorted by (start, node, station) (stable), ids w00001... again."""
    order = np.lexsort((dense_rank(table["station"]), dense_rank(table["node"]), table["start"]))
    out = take(table, order)
    out["id"] = window_ids(len(order))
    return out


def frame(table: Table) -> pd.DataFrame:
    """``table`` as a pandas DataFrame (instants as aware UTC timestamps)."""
    import pandas as pd  # here: `rsmodel plan` reads the columns and never imports pandas

    return pd.DataFrame(
        {
            name: pd.DatetimeIndex(values).tz_localize("UTC")
            if values.dtype.kind == "M"
            else values
            for name, values in table.items()
        },
        columns=list(table),
    )


def dense_rank(names: np.ndarray) -> np.ndarray:
    """Position of each row's name among the distinct names in sorted order (equal names, equal
    ranks: to sort rows by name with ``np.lexsort``)."""
    return np.unique(np.asarray(names, dtype=object), return_inverse=True)[1].reshape(-1)


def name_rank(names: list[str]) -> np.ndarray:
    """Position of each name in sorted order (to sort rows by name with ``np.lexsort``)."""
    return np.argsort(np.argsort(np.asarray(names, dtype=object), kind="stable"), kind="stable")
