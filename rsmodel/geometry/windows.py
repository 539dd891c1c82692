"""Contact windows: intervals with a node above a station's effective elevation mask."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from rsmodel.geometry.events import Intervals, find_intervals
from rsmodel.geometry.frames import Sites, times_from, utc_timestamps
from rsmodel.geometry.masks import Masks
from rsmodel.geometry.propagate import Source, pairs_itrs
from rsmodel.model.scenario import Station

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


def windows_frame(
    found: Intervals, node_names: list[str], stations: list[Station], start: datetime
) -> pd.DataFrame:
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
    return pd.DataFrame(
        {
            "id": [f"w{i + 1:05d}" for i in range(len(order))],
            "node": np.asarray(node_names, dtype=object)[node],
            "station": np.asarray([s.name for s in stations], dtype=object)[site],
            "start": utc_timestamps(start, start_s),
            "end": utc_timestamps(start, end_s),
            "tca": utc_timestamps(start, found.peak_s[order]),
            "max_elevation_deg": found.peak_value[order],
            "duration_s": duration,
            "bandwidth_bps": bandwidth,
            "capacity_bytes": bandwidth / 8.0 * np.maximum(0.0, duration - setup),
            "start_clipped": found.start_clipped[order],
            "end_clipped": found.end_clipped[order],
        },
        columns=WINDOW_COLUMNS,
    )


def name_rank(names: list[str]) -> np.ndarray:
    """Position of each name in sorted order (to sort rows by name with ``np.lexsort``)."""
    return np.argsort(np.argsort(np.asarray(names, dtype=object), kind="stable"), kind="stable")
