"""Effective elevation masks: the larger of a station's operational minimum elevation and its
terrain horizon at the node's azimuth (points interpolated linearly, wrapping at 360 deg).

Contact windows are where ``elevation - mask(azimuth) >= 0``; :func:`pair_margin` gives that
margin and its time derivative (deg/s) for the edge refinement of
:mod:`rsmodel.geometry.events`, so AOS/LOS are refined against the effective mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsmodel.geometry.frames import Sites, pair_elevation_deg
from rsmodel.model.scenario import Station


@dataclass(frozen=True)
class Masks:
    """Per site: operational minimum ``min_deg`` and terrain points (None: no terrain mask)."""

    min_deg: np.ndarray
    terrain: tuple[tuple[np.ndarray, np.ndarray] | None, ...]

    @classmethod
    def of(cls, stations: list[Station]) -> Masks:
        terrain = tuple(
            None if s.terrain_mask is None else _wrapped(np.asarray(s.terrain_mask, dtype=float))
            for s in stations
        )
        return cls(np.array([s.elevation_min_deg for s in stations], dtype=float), terrain)

    def mask_deg(self, site: int, azimuth_deg: np.ndarray) -> np.ndarray:
        """Effective mask (deg) of ``site`` at ``azimuth_deg``."""
        points = self.terrain[site]
        if points is None:
            return np.full(np.shape(azimuth_deg), self.min_deg[site])
        return np.maximum(self.min_deg[site], np.interp(azimuth_deg, *points))

    def grid_margin(self, el_deg: np.ndarray, pos_itrs: np.ndarray, sites: Sites) -> None:
        """Subtract the effective mask from ``el_deg [nsat, nsite, ntime]`` in place
        (``pos_itrs [nsat, ntime, 3]`` km)."""
        el_deg -= self.min_deg[None, :, None].astype(el_deg.dtype)
        for site, points in enumerate(self.terrain):
            if points is None:
                continue
            az = azimuth_deg(pos_itrs - sites.xyz_km[site], sites.up[site])
            excess = np.interp(az, *points) - self.min_deg[site]
            el_deg[:, site, :] -= np.maximum(excess, 0.0).astype(el_deg.dtype)

    def pair_margin(
        self, pos: np.ndarray, vel: np.ndarray, site: np.ndarray, sites: Sites
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Margin above the effective mask (deg), its rate (deg/s) and the elevation (deg) of
        ``pos[i]`` moving at ``vel[i]`` (ITRS km, km/s) above site ``site[i]``."""
        el, el_rate = pair_elevation_deg(pos, vel, sites.xyz_km[site], sites.up[site])
        margin, rate = el - self.min_deg[site], el_rate.copy()
        for s in np.unique(site):
            points = self.terrain[s]
            if points is None:
                continue
            i = np.flatnonzero(site == s)
            rho = pos[i] - sites.xyz_km[s]
            east, north = _east_north(sites.up[s])
            e, n = rho @ east, rho @ north
            az = np.degrees(np.arctan2(e, n)) % 360.0
            az_rate = np.degrees((n * (vel[i] @ east) - e * (vel[i] @ north)) / (e * e + n * n))
            terrain = np.interp(az, *points)
            above = terrain > self.min_deg[s]
            k = np.clip(np.searchsorted(points[0], az, side="right") - 1, 0, len(points[0]) - 2)
            slope = np.diff(points[1])[k] / np.diff(points[0])[k]
            margin[i] = np.where(above, el[i] - terrain, margin[i])
            rate[i] = np.where(above, el_rate[i] - slope * az_rate, rate[i])
        return margin, rate, el


def azimuth_deg(rho: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Azimuth (deg from north through east, [0, 360)) of topocentric vectors ``rho [..., 3]``
    at a site with geodetic zenith ``up [3]``."""
    east, north = _east_north(up)
    return np.degrees(np.arctan2(rho @ east, rho @ north)) % 360.0


def _east_north(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit east and north vectors of a site with geodetic zenith ``up``."""
    lon = np.arctan2(up[1], up[0])
    sin_lat, cos_lat = up[2], np.hypot(up[0], up[1])
    east = np.array([-np.sin(lon), np.cos(lon), 0.0])
    north = np.array([-sin_lat * np.cos(lon), -sin_lat * np.sin(lon), cos_lat])
    return east, north


def _wrapped(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask points extended by one point on each side so ``np.interp`` wraps at 360 deg."""
    az, el = points[:, 0], points[:, 1]
    return np.r_[az[-1] - 360.0, az, az[0] + 360.0], np.r_[el[-1], el, el[0]]
