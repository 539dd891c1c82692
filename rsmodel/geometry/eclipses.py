"""Eclipse (umbra) intervals of nodes: skyfield's point-Sun, spherical-Earth model."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from rsmodel.geometry.events import Intervals, find_intervals
from rsmodel.geometry.frames import propagate_pairs_itrs, shadow_margin_km, sun_itrs, times_from

# Depth (km) below which a grid maximum of the shadow depth is checked for a short eclipse
# hidden between two samples of a <= 60 s grid.
GRAZE_THRESHOLD_KM = 50.0

ECLIPSE_COLUMNS = ["node", "start", "end", "duration_s", "start_clipped", "end_clipped"]


def eclipse_intervals(
    shadow_depth_km: np.ndarray, t_s: np.ndarray, start: datetime, satrecs: list
) -> Intervals:
    """Refined umbra intervals from grid shadow depth ``[nsat, ntime]`` (km, > 0 in shadow)."""

    def depth(rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        times = times_from(start, t)
        return -shadow_margin_km(propagate_pairs_itrs(satrecs, rows, times), sun_itrs(times))

    return find_intervals(
        np.nan_to_num(shadow_depth_km, nan=-1e4),
        t_s,
        depth,
        graze_threshold=GRAZE_THRESHOLD_KM,
        with_peaks=False,
    )


def eclipses_frame(found: Intervals, node_names: list[str], start: datetime) -> pd.DataFrame:
    """The eclipses table of the geometry contract, sorted by (start, node)."""
    origin = pd.Timestamp(start)
    frame = pd.DataFrame(
        {
            "node": np.asarray(node_names, dtype=object)[found.row],
            "start": origin + pd.to_timedelta(found.start_s, unit="s"),
            "end": origin + pd.to_timedelta(found.end_s, unit="s"),
            "duration_s": found.end_s - found.start_s,
            "start_clipped": found.start_clipped,
            "end_clipped": found.end_clipped,
        }
    )
    return frame.sort_values(["start", "node"], kind="stable", ignore_index=True)[ECLIPSE_COLUMNS]
