"""Eclipse (umbra) intervals of nodes: skyfield's point-Sun, spherical-Earth model."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from rsmodel.geometry.events import Intervals, find_intervals
from rsmodel.geometry.frames import (
    gcrs_to_teme,
    shadow_margin_km,
    shadow_margin_rate_km_s,
    times_from,
)
from rsmodel.geometry.propagate import Source, pairs_teme
from rsmodel.geometry.windows import Table, name_rank
from rsmodel.timeutil import datetime64_ns

# Depth (km) below which a grid maximum of the shadow depth is checked for a short eclipse
# hidden between two samples of a <= 60 s grid (the depth curves by < 4 km in 30 s).
GRAZE_THRESHOLD_KM = 50.0


def eclipse_intervals(
    shadow_depth_km: np.ndarray,
    t_s: np.ndarray,
    start: datetime,
    sources: list[Source],
    sun_gcrs_km: np.ndarray,
) -> Intervals:
    """Refined umbra intervals from grid shadow depth ``[nsat, ntime]`` (km, > 0 in shadow).

    ``sun_gcrs_km [ntime, 3]`` is the Sun on the grid; between samples it is interpolated
    linearly (error ~3 m at 60 s spacing).
    """

    def depth(rows: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Inertial (TEME) frame: the Sun is nearly fixed there, as the rate formula assumes.
        times = times_from(start, t)
        pos, vel = pairs_teme(sources, rows, times)
        sun_gcrs = np.stack([np.interp(t, t_s, sun_gcrs_km[:, i]) for i in range(3)], axis=-1)
        sun = gcrs_to_teme(sun_gcrs, times)
        return -shadow_margin_km(pos, sun), -shadow_margin_rate_km_s(pos, vel, sun)

    return find_intervals(
        shadow_depth_km,
        t_s,
        depth,
        graze_threshold=GRAZE_THRESHOLD_KM,
        with_peaks=False,
    )


def eclipse_table(found: Intervals, node_names: list[str], start: datetime) -> Table:
    """The eclipses table of the geometry contract (``node``, ``start``, ``end``, ``duration_s``,
    ``start_clipped``, ``end_clipped``), sorted by (start, node)."""
    order = np.lexsort((name_rank(node_names)[found.row], found.start_s))
    start_s, end_s = found.start_s[order], found.end_s[order]
    return {
        "node": np.asarray(node_names, dtype=object)[found.row[order]],
        "start": datetime64_ns(start, start_s),
        "end": datetime64_ns(start, end_s),
        "duration_s": end_s - start_s,
        "start_clipped": found.start_clipped[order],
        "end_clipped": found.end_clipped[order],
    }
