"""One scan of a time range: propagate nodes in chunks, find windows and eclipses, sample the grid.

:func:`scan` is the engine of ``compute_geometry_for`` (the whole horizon at once) and of
:mod:`rsmodel.geometry.blocks` (one time block at a time). Times are seconds from the scan start.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from rsmodel.geometry.eclipses import eclipse_intervals
from rsmodel.geometry.events import Intervals
from rsmodel.geometry.frames import (
    elevation_deg,
    gcrs_to_itrs,
    shadow_margin_km,
    site_itrs,
    sun_gcrs,
    times_from,
)
from rsmodel.geometry.masks import Masks
from rsmodel.geometry.propagate import orbit_source, positions_itrs
from rsmodel.geometry.samples import Samples
from rsmodel.geometry.windows import contact_intervals
from rsmodel.model.scenario import OrbitalNode, Station
from rsmodel.timeutil import as_utc

MAX_DETECTION_STEP_S = 60.0
CHUNK_BYTES = 256 * 2**20  # working memory per chunk of nodes
SKIPPED_MARGIN_DEG = -180.0  # elevation margin given to skipped pairs: no window, no graze check


@dataclass
class Scan:
    """Windows, eclipses and grid samples of ``nodes`` x ``stations`` over one time range."""

    t_s: np.ndarray  # grid times, s from the scan start
    contacts: Intervals  # rows node * n_stations + station, with culminations
    shadows: Intervals  # rows node
    sunlit: np.ndarray  # [node, grid time] bool
    elevation_deg: np.ndarray | None  # [node, station, grid time] float32 (dense scans only)
    visible: np.ndarray | None = None  # [node, station, grid time] bool, above the effective mask
    samples: Samples | None = None  # node positions around windows of stations with a link model


def detection_times(duration_s: float, step_s: float) -> tuple[np.ndarray, slice]:
    """Search times (s, step <= 60 s, ending exactly at the horizon end) and the grid's slice of them."""
    per_step = max(1, math.ceil(step_s / MAX_DETECTION_STEP_S - 1e-9))
    fine = step_s / per_step
    n_uniform = int(math.floor(duration_s / fine + 1e-9)) + 1
    t_s = np.arange(n_uniform) * fine
    if duration_s - t_s[-1] > 1e-6:
        t_s = np.append(t_s, duration_s)
    return t_s, slice(0, n_uniform, per_step)


def scan(
    nodes: list[OrbitalNode],
    stations: list[Station],
    start: datetime,
    end: datetime,
    step_s: float,
    *,
    dense: bool,
    skip_pairs: np.ndarray | None = None,
    on_nodes_done: Callable[[int], object] = lambda n: None,
) -> Scan:
    """Scan ``start``..``end`` on a ``step_s`` grid; ``dense`` keeps the elevation grid.

    Every node needs an orbit. ``skip_pairs [node, station]``: pairs whose windows are not
    searched (imported view periods). Nodes are propagated in chunks of at most
    ``CHUNK_BYTES`` working memory; ``on_nodes_done(n)`` is called after each chunk of ``n``
    nodes (progress bars).
    """
    start, end = as_utc(start), as_utc(end)
    t_s, grid_index = detection_times((end - start).total_seconds(), step_s)
    fine_s = float(t_s[1] - t_s[0]) if len(t_s) > 1 else step_s  # the detection step
    # samples kept for rate profiles: the uniform part (a last, shorter step is left out)
    uniform = len(t_s) - int(len(t_s) > 1 and t_s[-1] - t_s[-2] < fine_s - 1e-6)
    times = times_from(start, t_s)
    sun_gcrs_km = sun_gcrs(times)
    sun = gcrs_to_itrs(sun_gcrs_km, times)
    sites = site_itrs(
        [s.lat_deg for s in stations], [s.lon_deg for s in stations], [s.alt_m for s in stations]
    )
    masks = Masks.of(stations)
    linked = np.array([s.link is not None for s in stations], dtype=bool)
    sources = [orbit_source(n) for n in nodes]
    nsite = len(stations)
    n_grid = len(t_s[grid_index])
    elevation = np.empty((len(nodes), nsite, n_grid), dtype=np.float32) if dense else None
    visible = np.empty((len(nodes), nsite, n_grid), dtype=bool) if dense else None
    sunlit = np.empty((len(nodes), n_grid), dtype=bool)
    contacts: list[Intervals] = []
    shadows: list[Intervals] = []
    samples: list[Samples] = []
    chunk = max(1, CHUNK_BYTES // (len(t_s) * (48 * max(nsite, 1) + 96)))
    for lo in range(0, len(nodes), chunk):
        part = sources[lo : lo + chunk]
        pos = positions_itrs(part, times)
        el = elevation_deg(pos.astype(np.float32), sites)
        depth = -shadow_margin_km(pos, sun[None])
        if elevation is not None:
            elevation[lo : lo + len(part)] = el[:, :, grid_index]
        sunlit[lo : lo + len(part)] = depth[:, grid_index] < 0
        if nsite:
            masks.grid_margin(el, pos, sites)
            if skip_pairs is not None:
                el[skip_pairs[lo : lo + len(part)]] = SKIPPED_MARGIN_DEG
            if visible is not None:
                visible[lo : lo + len(part)] = el[:, :, grid_index] >= 0
            found = contact_intervals(el, t_s, start, part, sites, masks)
            contacts.append(found.with_row_offset(lo * nsite))
            near = linked[found.row % nsite]
            samples.append(
                Samples.around(
                    pos, t_s[:uniform], found.row[near] // nsite,
                    found.start_s[near], found.end_s[near], fine_s,
                ).shifted(lo, 0.0)
            )  # fmt: skip
        shadows.append(eclipse_intervals(depth, t_s, start, part, sun_gcrs_km).with_row_offset(lo))
        on_nodes_done(len(part))
    return Scan(
        t_s[grid_index],
        _joined(contacts),
        _joined(shadows),
        sunlit,
        elevation,
        visible,
        Samples.concat(samples, fine_s),
    )


def _joined(parts: list[Intervals]) -> Intervals:
    empty = np.array([], dtype=float)
    none = Intervals(
        empty.astype(int), empty, empty, empty.astype(bool), empty.astype(bool), empty, empty
    )
    return Intervals.concat(parts or [none])
