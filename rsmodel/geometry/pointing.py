"""Where a station's antenna points: topocentric vectors, azimuth and elevation of node/station
pairs at given instants (vectorised over the pairs)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sgp4.api import Satrec

from rsmodel.geometry.frames import propagate_pairs_itrs_hermite, site_itrs, times_from
from rsmodel.geometry.masks import azimuth_deg
from rsmodel.geometry.propagate import orbit_source, pairs_itrs
from rsmodel.model.scenario import OrbitalNode, Station

HERMITE_SPACING_S = 120.0  # SGP4 spacing of the positions samples are interpolated from


def topocentric_km(
    nodes: list[OrbitalNode],
    node: np.ndarray,
    stations: list[Station],
    station: np.ndarray,
    start: datetime,
    t_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (ITRS, km) from ``stations[station[i]]`` to ``nodes[node[i]]`` at ``t_s[i]`` >= 0 s
    after ``start``, and the stations' unit zeniths (SGP4 every ``HERMITE_SPACING_S``,
    interpolated; ephemerides by their own interpolation; WGS-84; geometric)."""
    sources = [orbit_source(n) for n in nodes]
    node, t_s = np.asarray(node, dtype=int), np.asarray(t_s, dtype=float)
    sgp4 = np.array([isinstance(s, Satrec) for s in sources], dtype=bool)[node]
    pos = np.empty((len(node), 3))
    if sgp4.any():
        pos[sgp4] = propagate_pairs_itrs_hermite(
            sources, node[sgp4], start, t_s[sgp4], HERMITE_SPACING_S
        )
    if not sgp4.all():
        pos[~sgp4] = pairs_itrs(sources, node[~sgp4], times_from(start, t_s[~sgp4]))[0]
    sites = site_itrs(
        [s.lat_deg for s in stations], [s.lon_deg for s in stations], [s.alt_m for s in stations]
    )
    station = np.asarray(station, dtype=int)
    return pos - sites.xyz_km[station], sites.up[station]


def pointing_deg(
    nodes: list[OrbitalNode],
    node: np.ndarray,
    stations: list[Station],
    station: np.ndarray,
    start: datetime,
    t_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth (deg from north through east, [0, 360)) and elevation (deg) of each pair; NaN
    for nodes without an orbit (imported view periods only)."""
    node = np.asarray(node, dtype=int)
    az, el = np.full(len(node), np.nan), np.full(len(node), np.nan)
    known = np.array([n.orbit is not None for n in nodes], dtype=bool)[node]
    if not known.any():
        return az, el
    rho, up = topocentric_km(
        nodes, node[known], stations, np.asarray(station)[known], start, np.asarray(t_s)[known]
    )
    sin_el = np.einsum("ij,ij->i", rho, up) / np.linalg.norm(rho, axis=-1)
    el[known] = np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0)))
    az[known] = [azimuth_deg(r, u) for r, u in zip(rho, up, strict=True)]
    return az, el
