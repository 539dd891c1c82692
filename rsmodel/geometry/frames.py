"""Vectorised frames: satellite, site and Sun positions in an Earth-fixed frame, and angles.

The Earth-fixed frame is skyfield's own TEME -> ITRS chain without polar motion (skyfield's
default): ``r_itrs = Rz(-theta_GMST1982(UT1)) @ r_teme``. Skyfield computes a satellite's
topocentric altitude through exactly this rotation, so elevations agree with
``(sat - topos).at(t).altaz()`` to float precision. Inertial vectors (Sun, stars) are taken to
TEME with ``TEME.rotation_at`` evaluated once per UTC day (the matrix moves ~6e-7 rad/day) and
then rotated with the same GMST angle.

Times are skyfield ``Time`` arrays (build them with :func:`times_from`); positions are km.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
from sgp4.api import SatrecArray
from skyfield.constants import DAY_S, ERAD
from skyfield.iokit import Loader
from skyfield.jpllib import SpiceKernel
from skyfield.sgp4lib import TEME, theta_GMST1982
from skyfield.timelib import Time

from rsmodel.timeutil import as_utc, load_timescale

EARTH_RADIUS_KM = ERAD / 1000.0  # skyfield's spherical Earth for is_sunlit, km
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563


@cache
def load_ephemeris() -> SpiceKernel:
    """The de421 planetary ephemeris from the ``skyfield-data`` package (offline, no warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import skyfield_data

        return Loader(skyfield_data.get_skyfield_data_path(), verbose=False)("de421.bsp")


def times_from(start: datetime, offsets_s: np.ndarray | float) -> Time:
    """Skyfield times ``start + offsets_s`` (UTC seconds, no leap second inside the span)."""
    start = as_utc(start)
    seconds = start.second + start.microsecond * 1e-6 + np.asarray(offsets_s, dtype=float)
    return load_timescale().utc(
        start.year, start.month, start.day, start.hour, start.minute, seconds
    )


def teme_to_itrs(vec: np.ndarray, t: Time) -> np.ndarray:
    """Rotate TEME vectors ``[..., ntime, 3]`` to ITRS (GMST-1982 of UT1, no polar motion, as skyfield)."""
    theta, _ = theta_GMST1982(t.whole, t.ut1_fraction)
    return _rotate_z(vec, np.cos(theta), np.sin(theta))


def _rotate_z(vec: np.ndarray, c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``Rz(-theta) @ vec`` given cos and sin of theta (broadcast over the time axis)."""
    out = np.empty_like(vec)
    out[..., 0] = c * vec[..., 0] + s * vec[..., 1]
    out[..., 1] = -s * vec[..., 0] + c * vec[..., 1]
    out[..., 2] = vec[..., 2]
    return out


def teme_to_itrs_state(r: np.ndarray, v: np.ndarray, t: Time) -> tuple[np.ndarray, np.ndarray]:
    """TEME position (km) and velocity (km/s) to ITRS, with the Earth-rotation term (as skyfield)."""
    theta, theta_dot = theta_GMST1982(t.whole, t.ut1_fraction)
    c, s = np.cos(theta), np.sin(theta)
    r_itrs = _rotate_z(r, c, s)
    v_itrs = _rotate_z(v, c, s)
    omega = theta_dot / DAY_S
    v_itrs[..., 0] += omega * r_itrs[..., 1]
    v_itrs[..., 1] -= omega * r_itrs[..., 0]
    return r_itrs, v_itrs


def _sgp4_time_args(t: Time) -> tuple[np.ndarray, np.ndarray]:
    """Julian date split as SGP4 wants it: whole day and UTC fraction (as skyfield passes it)."""
    return np.atleast_1d(t.whole), np.atleast_1d(t.tai_fraction - t._leap_seconds() / DAY_S)


def propagate_teme(satrecs: list, t: Time) -> tuple[np.ndarray, np.ndarray]:
    """SGP4 positions and velocities in TEME: ``[nsat, ntime, 3]`` km and km/s (NaN on error)."""
    jd, fr = _sgp4_time_args(t)
    err, r, v = SatrecArray(list(satrecs)).sgp4(jd, fr)
    bad = err != 0
    if bad.any():
        r[bad] = np.nan
        v[bad] = np.nan
    return r, v


def propagate_itrs(satrecs: list, t: Time) -> np.ndarray:
    """Satellite positions in ITRS, ``[nsat, ntime, 3]`` km, for every satellite at every time."""
    r, _ = propagate_teme(satrecs, t)
    return teme_to_itrs(r, t)


def propagate_itrs_hermite(satrecs: list, t: Time) -> np.ndarray:
    """:func:`propagate_itrs` at half the SGP4 cost, for dense grids (steps <= 60 s).

    SGP4 runs at every other time (and the last); each time between two of those is cubic
    Hermite interpolated in TEME from their positions and velocities (error ~6 m for LEO at
    60 s spacing, 5e-4 deg of elevation).
    """
    n = len(np.atleast_1d(t.tt))
    if n < 3:
        return propagate_itrs(satrecs, t)
    knots = np.r_[np.arange(0, n - 1, 2), n - 1]  # every other time, and the last
    between = np.arange(1, n - 1, 2)  # knots[i] < between[i] < knots[i + 1]
    nb = len(between)
    r, v = propagate_teme(satrecs, t[knots])
    seconds = (np.atleast_1d(t.whole) - t.whole[0]) * DAY_S + (
        t.tai_fraction - t.tai_fraction[0]
    ) * DAY_S
    h = (seconds[knots[1 : nb + 1]] - seconds[knots[:nb]])[None, :, None]
    x = ((seconds[between] - seconds[knots[:nb]]) / h[0, :, 0])[None, :, None]
    h00, h10, h01, h11 = (
        2 * x**3 - 3 * x**2 + 1,
        (x**3 - 2 * x**2 + x) * h,
        3 * x**2 - 2 * x**3,
        (x**3 - x**2) * h,
    )
    full = np.empty((len(satrecs), n, 3))
    full[:, 0 : n - 1 : 2] = r[:, :-1]
    full[:, n - 1] = r[:, -1]
    full[:, 1 : n - 1 : 2] = (
        h00 * r[:, :nb] + h10 * v[:, :nb] + h01 * r[:, 1 : nb + 1] + h11 * v[:, 1 : nb + 1]
    )
    return teme_to_itrs(full, t)


def propagate_pairs_itrs_hermite(
    satrecs: list, sat_index: np.ndarray, start: datetime, t_s: np.ndarray, spacing_s: float
) -> np.ndarray:
    """ITRS position (km) of satellite ``sat_index[i]`` at ``t_s[i]`` >= 0 s after ``start``, for
    many times per satellite: SGP4 at the multiples of ``spacing_s`` around them (each once),
    cubic Hermite interpolation in TEME between (error < 1 m for LEO at 60 s, ~6 m at 120 s),
    rotated to ITRS by the GMST of the earlier multiple advanced at its rate."""
    sat_index, t_s = np.asarray(sat_index, dtype=np.int64), np.asarray(t_s, dtype=float)
    if len(t_s) == 0:
        return np.empty((0, 3))
    k = np.floor(t_s / spacing_s).astype(np.int64)
    span = int(k.max()) + 2
    first = sat_index * span + k
    distinct = np.unique(first)
    anchors = np.union1d(distinct, distinct + 1)
    anchor_t = times_from(start, (anchors % span) * spacing_s)
    r, v = propagate_pairs_teme(satrecs, anchors // span, anchor_t)
    i0 = np.searchsorted(anchors, first)
    i1 = i0 + 1  # first + 1 is an anchor, and nothing lies between
    x = (t_s - k * spacing_s) / spacing_s
    x2, x3 = x * x, x * x * x
    h01 = 3 * x2 - 2 * x3
    teme = (
        (1 - h01)[:, None] * r[i0]
        + ((x3 - 2 * x2 + x) * spacing_s)[:, None] * v[i0]
        + h01[:, None] * r[i1]
        + ((x3 - x2) * spacing_s)[:, None] * v[i1]
    )
    theta, theta_dot = theta_GMST1982(anchor_t.whole, anchor_t.ut1_fraction)
    theta = theta[i0] + theta_dot[i0] / DAY_S * (t_s - k * spacing_s)
    return _rotate_z(teme, np.cos(theta), np.sin(theta))


def propagate_pairs_itrs(
    satrecs: list, sat_index: np.ndarray, t: Time
) -> tuple[np.ndarray, np.ndarray]:
    """ITRS state of satellite ``sat_index[i]`` at time ``t[i]``: ``[n, 3]`` km and km/s."""
    return teme_to_itrs_state(*propagate_pairs_teme(satrecs, sat_index, t), t)


def propagate_pairs_teme(
    satrecs: list, sat_index: np.ndarray, t: Time
) -> tuple[np.ndarray, np.ndarray]:
    """TEME state of satellite ``sat_index[i]`` at time ``t[i]``: ``[n, 3]`` km and km/s.

    One vectorised SGP4 call per distinct satellite (used to refine event times).
    """
    if len(sat_index) == 0:
        return np.empty((0, 3)), np.empty((0, 3))
    jd, fr = _sgp4_time_args(t)
    order = np.argsort(sat_index, kind="stable")
    jd, fr, sats = jd[order], fr[order], sat_index[order]
    bounds = np.r_[0, np.flatnonzero(np.diff(sats)) + 1, len(sats)]
    parts = [
        satrecs[sats[lo]].sgp4_array(jd[lo:hi], fr[lo:hi])
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    r, v = np.empty((len(sats), 3)), np.empty((len(sats), 3))
    err = np.concatenate([p[0] for p in parts])
    r[order] = np.where((err != 0)[:, None], np.nan, np.concatenate([p[1] for p in parts]))
    v[order] = np.concatenate([p[2] for p in parts])
    return r, v


@dataclass(frozen=True)
class Sites:
    """Sites on the WGS-84 ellipsoid: ITRS positions ``xyz_km [n, 3]`` and unit zenith ``up [n, 3]``."""

    xyz_km: np.ndarray
    up: np.ndarray

    def __len__(self) -> int:
        return len(self.xyz_km)


def site_itrs(
    lat_deg: np.ndarray | list, lon_deg: np.ndarray | list, alt_m: np.ndarray | list
) -> Sites:
    """ITRS positions (km) and geodetic zenith directions of WGS-84 sites."""
    lat = np.radians(np.atleast_1d(np.asarray(lat_deg, dtype=float)))
    lon = np.radians(np.atleast_1d(np.asarray(lon_deg, dtype=float)))
    alt_km = np.atleast_1d(np.asarray(alt_m, dtype=float)) / 1000.0
    e2 = WGS84_F * (2.0 - WGS84_F)
    n = WGS84_A_KM / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    up = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    xyz = np.stack(
        [
            (n + alt_km) * up[:, 0],
            (n + alt_km) * up[:, 1],
            (n * (1.0 - e2) + alt_km) * up[:, 2],
        ],
        axis=-1,
    )
    return Sites(xyz, up)


def elevation_deg(pos_itrs: np.ndarray, sites: Sites) -> np.ndarray:
    """Geometric elevation of every position above every site, ``[nsat, nsite, ntime]`` degrees.

    Computed in the dtype of ``pos_itrs`` (float32 positions give ~1e-4 deg, twice as fast).

    One product of the stacked site zeniths and positions ``[2*nsite, 3]`` with all positions:
    ``sin(el) = up . (r - p) / |r - p|`` with ``|r - p|^2 = |r|^2 - 2 r.p + |p|^2``.
    """
    nsat, ntime, _ = pos_itrs.shape
    nsite = len(sites)
    dtype = pos_itrs.dtype
    flat = np.ascontiguousarray(pos_itrs.reshape(-1, 3).T)  # [3, nsat*ntime]
    # einsum, not BLAS: a 3-long inner dimension gains nothing from BLAS threads, which spin.
    prod = np.einsum("ij,jk->ik", np.concatenate([sites.up, sites.xyz_km]).astype(dtype), flat)
    up_r, rng = prod[:nsite], prod[nsite:]
    rng *= -2.0
    rng += np.einsum("ij,ij->j", flat, flat)
    rng += np.einsum("ij,ij->i", sites.xyz_km, sites.xyz_km).astype(dtype)[:, None]
    np.sqrt(rng, out=rng)
    up_r -= np.einsum("ij,ij->i", sites.up, sites.xyz_km).astype(dtype)[:, None]
    up_r /= rng
    np.clip(up_r, -1.0, 1.0, out=up_r)
    el = np.degrees(np.arcsin(up_r, out=up_r), out=up_r)
    return el.reshape(nsite, nsat, ntime).transpose(1, 0, 2)


def pair_elevation_deg(
    pos: np.ndarray, vel: np.ndarray, site_xyz_km: np.ndarray, site_up: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Elevation (deg) and its rate (deg/s) of ``pos[i]`` moving at ``vel[i]`` above site ``i``."""
    rho = pos - site_xyz_km
    dist = np.linalg.norm(rho, axis=-1)
    up_rho = np.einsum("ij,ij->i", rho, site_up)
    sin_el = np.clip(up_rho / dist, -1.0, 1.0)
    d_sin = (
        np.einsum("ij,ij->i", vel, site_up) / dist
        - up_rho * np.einsum("ij,ij->i", rho, vel) / dist**3
    )
    cos_el = np.sqrt(np.maximum(1.0 - sin_el**2, 1e-300))
    return np.degrees(np.arcsin(sin_el)), np.degrees(d_sin / cos_el)


def _gcrs_to_teme(t: Time) -> np.ndarray:
    """GCRS -> TEME rotation ``[ntime, 3, 3]``, evaluated at the middle of each UTC day."""
    day = np.floor(np.atleast_1d(t.whole + t.tai_fraction) - 0.5)
    days, index = np.unique(day, return_inverse=True)
    if days.size == 0:
        return np.empty((0, 3, 3))
    mats = np.stack([_gcrs_to_teme_on_day(float(d)) for d in days])
    return mats[index.ravel()]


@cache
def _gcrs_to_teme_on_day(day_jd: float) -> np.ndarray:
    return np.asarray(TEME.rotation_at(load_timescale().tt_jd(day_jd + 1.0)))


def gcrs_to_teme(vec: np.ndarray, t: Time) -> np.ndarray:
    """Rotate GCRS vectors ``[ntime, 3]`` (one per time) to TEME."""
    return np.einsum("nij,nj->ni", _gcrs_to_teme(t), np.atleast_2d(vec))


def gcrs_to_itrs(vec: np.ndarray, t: Time) -> np.ndarray:
    """Rotate GCRS vectors ``[ntime, 3]`` (one per time) to ITRS."""
    return teme_to_itrs(gcrs_to_teme(vec, t), t)


def sun_gcrs(t: Time) -> np.ndarray:
    """Geometric geocentric Sun position in GCRS, ``[ntime, 3]`` km (de421)."""
    eph = load_ephemeris()
    return np.atleast_2d((eph["sun"] - eph["earth"]).at(t).position.km.T)


def sun_itrs(t: Time) -> np.ndarray:
    """Geometric geocentric Sun position in ITRS, ``[ntime, 3]`` km (de421)."""
    return gcrs_to_itrs(sun_gcrs(t), t)


def shadow_margin_km(pos: np.ndarray, sun: np.ndarray) -> np.ndarray:
    """Signed distance (km) of a satellite from the Earth's shadow; negative in umbra.

    Skyfield's ``is_sunlit`` model: the satellite is dark when the line towards the (point)
    Sun passes through a sphere of radius ERAD on the Sun's side. Returns the closest
    approach of that line to the Earth's centre minus ERAD when the Earth lies towards the
    Sun, and the satellite's height above the sphere otherwise (continuous where they meet).
    """
    to_sun = sun - pos
    along = -np.einsum("...i,...i->...", to_sun, pos) / np.sqrt(
        np.einsum("...i,...i->...", to_sun, to_sun)
    )
    r2 = np.einsum("...i,...i->...", pos, pos)
    closest = np.sqrt(np.maximum(r2 - along**2, 0.0))
    return np.where(along > 0, closest, np.sqrt(r2)) - EARTH_RADIUS_KM


def shadow_margin_rate_km_s(pos: np.ndarray, vel: np.ndarray, sun: np.ndarray) -> np.ndarray:
    """Time derivative of :func:`shadow_margin_km` (km/s) in an inertial frame (Sun taken as fixed)."""
    to_sun = sun - pos
    to_sun = to_sun / np.linalg.norm(to_sun, axis=-1, keepdims=True)
    along = -np.sum(to_sun * pos, axis=-1)
    r2 = np.sum(pos * pos, axis=-1)
    r_v = np.sum(pos * vel, axis=-1)
    u_v = np.sum(to_sun * vel, axis=-1)
    closest = np.sqrt(np.maximum(r2 - along**2, 1e-12))
    return np.where(along > 0, (r_v + along * u_v) / closest, r_v / np.sqrt(r2))


def is_sunlit(pos_itrs: np.ndarray, sun_itrs_km: np.ndarray) -> np.ndarray:
    """Whether each satellite is in sunlight, ``[nsat, ntime]`` (skyfield's point-Sun model)."""
    return shadow_margin_km(pos_itrs, sun_itrs_km[None, :, :]) > 0


def sun_altitude_deg(sites: Sites, t: Time) -> np.ndarray:
    """Geometric altitude of the Sun's centre above each site, ``[nsite, ntime]`` degrees."""
    return elevation_deg(sun_itrs(t)[None], sites)[0]


def radec_altitude_deg(
    ra_deg: np.ndarray, dec_deg: np.ndarray, sites: Sites, t: Time
) -> np.ndarray:
    """Geometric altitude of ICRS directions (stars) above sites, ``[ntarget, nsite, ntime]`` deg.

    No refraction (~0.5 deg at the horizon) and no annual aberration (< 0.006 deg).
    """
    ra = np.radians(np.atleast_1d(np.asarray(ra_deg, dtype=float)))
    dec = np.radians(np.atleast_1d(np.asarray(dec_deg, dtype=float)))
    icrs = np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)
    rot = _gcrs_to_teme(t)  # [ntime, 3, 3]
    teme = np.einsum("nij,kj->kni", rot, icrs)  # [ntarget, ntime, 3]
    itrs = teme_to_itrs(teme, t)
    sin_alt = np.einsum("kni,si->ksn", itrs, sites.up)
    return np.degrees(np.arcsin(np.clip(sin_alt, -1.0, 1.0)))


def subpoint_deg(pos_itrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 geodetic latitude and longitude (degrees, longitude in [-180, 180]) of the
    sub-satellite points of ITRS positions ``[..., 3]`` km (skyfield's ``wgs84.latlon_of``:
    fixed-point iteration on the latitude, converged to < 1e-9 deg in LEO)."""
    x, y, z = pos_itrs[..., 0], pos_itrs[..., 1], pos_itrs[..., 2]
    e2 = WGS84_F * (2.0 - WGS84_F)
    r = np.hypot(x, y)
    lat = np.arctan2(z, r)
    for _ in range(4):
        sin_lat = np.sin(lat)
        c = WGS84_A_KM / np.sqrt(1.0 - e2 * sin_lat * sin_lat)
        lat = np.arctan2(z + c * e2 * sin_lat, r)
    return np.degrees(lat), np.degrees(np.arctan2(y, x))
