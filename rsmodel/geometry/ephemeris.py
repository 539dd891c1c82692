"""States of OEM ephemerides at any times: interpolation as the message says, then rotation.

Within a segment, each time takes the ``window`` states around it (centred, shifted inwards
at the segment's ends): Lagrange of degree n on n+1 states interpolates positions and
velocities separately; Hermite of degree 2n-1 on n states fits positions and velocities
together and differentiates for the velocity. Frames are rotated to TEME with skyfield's
exact ``TEME.rotation_at`` (on whole hours, linear between; EME2000 first through the ICRS
frame bias), ITRF through
the inverse of :func:`~rsmodel.geometry.frames.teme_to_itrs_state`; ITRS then follows the
SGP4 pipeline's own rotation, so SGP4 and OEM nodes share one Earth-fixed frame.
Times outside every segment's useable span give NaN (the loader rejects horizons they leave).
"""

from __future__ import annotations

from functools import cache

import numpy as np
from skyfield.constants import DAY_S
from skyfield.framelib import ICRS_to_J2000
from skyfield.sgp4lib import TEME, theta_GMST1982
from skyfield.timelib import Time

from rsmodel.geometry.frames import teme_to_itrs_state
from rsmodel.model.oem import Ephemeris, EphemerisSegment
from rsmodel.timeutil import load_timescale

J2000_JD = 2451545.0


def ephemeris_teme(eph: Ephemeris, t: Time) -> tuple[np.ndarray, np.ndarray]:
    """TEME position (km) and velocity (km/s) of ``eph`` at times ``t``: ``[n, 3]`` each."""
    tt_s = np.atleast_1d((t.whole - eph.ref_tt_jd) * DAY_S + t.tt_fraction * DAY_S)
    r = np.full((len(tt_s), 3), np.nan)
    v = np.full((len(tt_s), 3), np.nan)
    free = np.ones(len(tt_s), dtype=bool)
    for seg in eph.segments:
        inside = free & (tt_s >= seg.useable_start_s - 1e-6) & (tt_s <= seg.useable_stop_s + 1e-6)
        if not inside.any():
            continue
        idx = np.flatnonzero(inside)
        r_f, v_f = interpolate(seg, tt_s[idx])
        r[idx], v[idx] = to_teme(seg.frame, r_f, v_f, t[idx])
        free &= ~inside
    return r, v


def ephemeris_itrs(eph: Ephemeris, t: Time) -> tuple[np.ndarray, np.ndarray]:
    """ITRS position (km) and velocity (km/s) of ``eph`` at times ``t``: ``[n, 3]`` each."""
    return teme_to_itrs_state(*ephemeris_teme(eph, t), t)


def to_teme(frame: str, r: np.ndarray, v: np.ndarray, t: Time) -> tuple[np.ndarray, np.ndarray]:
    """Rotate states ``[n, 3]`` given in ``frame`` (EME2000, GCRF, TEME, ITRF) to TEME."""
    if frame == "TEME":
        return r, v
    if frame == "ITRF":
        return itrs_to_teme_state(r, v, t)
    rot = gcrs_to_teme_matrices(t)  # [n, 3, 3]
    if frame == "EME2000":  # EME2000 -> ICRS (frame bias, 23 mas) first
        rot = np.einsum("nij,jk->nik", rot, ICRS_to_J2000.T)
    return np.einsum("nij,nj->ni", rot, r), np.einsum("nij,nj->ni", rot, v)


def gcrs_to_teme_matrices(t: Time) -> np.ndarray:
    """GCRS -> TEME rotations ``[n, 3, 3]``: skyfield's exact ``TEME.rotation_at`` on whole TT
    hours (cached), linear in between (the matrix turns by < 3e-8 rad an hour, smoothly:
    interpolation error < 1e-12 rad)."""
    hours = (
        (np.atleast_1d(t.whole) - J2000_JD) * DAY_S + np.atleast_1d(t.tt_fraction) * DAY_S
    ) / 3600.0
    knot = np.floor(hours)
    unique, inverse = np.unique(knot, return_inverse=True)
    lo = np.stack([_gcrs_to_teme_at_hour(int(h)) for h in unique])[inverse.ravel()]
    hi = np.stack([_gcrs_to_teme_at_hour(int(h) + 1) for h in unique])[inverse.ravel()]
    return lo + (hours - knot)[:, None, None] * (hi - lo)


@cache
def _gcrs_to_teme_at_hour(hour: int) -> np.ndarray:
    """GCRS -> TEME at ``hour`` TT hours from J2000 (skyfield, exact)."""
    return np.asarray(TEME.rotation_at(load_timescale().tt_jd(J2000_JD, hour / 24.0)))


def itrs_to_teme_state(r: np.ndarray, v: np.ndarray, t: Time) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`~rsmodel.geometry.frames.teme_to_itrs_state` (km, km/s)."""
    theta, theta_dot = theta_GMST1982(t.whole, t.ut1_fraction)
    omega = theta_dot / DAY_S
    v_inertial = v.copy()
    v_inertial[..., 0] -= omega * r[..., 1]
    v_inertial[..., 1] += omega * r[..., 0]
    c, s = np.cos(theta), np.sin(theta)
    out_r, out_v = np.empty_like(r), np.empty_like(v)
    for src, dst in ((r, out_r), (v_inertial, out_v)):
        dst[..., 0] = c * src[..., 0] - s * src[..., 1]
        dst[..., 1] = s * src[..., 0] + c * src[..., 1]
        dst[..., 2] = src[..., 2]
    return out_r, out_v


def interpolate(seg: EphemerisSegment, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position (km) and velocity (km/s) ``[n, 3]`` at TT seconds ``t_s`` inside ``seg``."""
    m = seg.window
    n = len(seg.t_s)
    k = np.searchsorted(seg.t_s, t_s, side="right")
    lo = np.clip(k - m // 2, 0, n - m)
    idx = lo[:, None] + np.arange(m)[None, :]  # [q, m]
    # Times relative to the window's first state, in units of its span: well conditioned.
    t0 = seg.t_s[lo]
    scale = seg.t_s[lo + m - 1] - t0 if m > 1 else np.ones_like(t0)
    nodes = (seg.t_s[idx] - t0[:, None]) / scale[:, None]
    x = (t_s - t0) / scale
    weights, dweights = _lagrange(nodes, x)  # [q, m]; d/dx
    r_k, v_k = seg.pos_km[idx], seg.vel_km_s[idx]  # [q, m, 3]
    if seg.interpolation == "LAGRANGE":
        return (
            np.einsum("qm,qmi->qi", weights, r_k),
            np.einsum("qm,qmi->qi", weights, v_k),
        )
    # Hermite: H_j = (1 - 2 c_j (x - x_j)) L_j^2, K_j = (x - x_j) L_j^2, c_j = L_j'(x_j).
    diff = nodes[:, :, None] - nodes[:, None, :]
    eye = np.eye(m, dtype=bool)[None]
    c = np.where(eye, 0.0, 1.0 / np.where(eye, 1.0, diff)).sum(axis=2)  # [q, m]
    dx = x[:, None] - nodes
    l2, dl2 = weights**2, 2 * weights * dweights
    h, dh = (1 - 2 * c * dx) * l2, -2 * c * l2 + (1 - 2 * c * dx) * dl2
    kk, dk = dx * l2, l2 + dx * dl2
    v_scaled = v_k * scale[:, None, None]  # velocities in km per unit x
    r = np.einsum("qm,qmi->qi", h, r_k) + np.einsum("qm,qmi->qi", kk, v_scaled)
    dr_dx = np.einsum("qm,qmi->qi", dh, r_k) + np.einsum("qm,qmi->qi", dk, v_scaled)
    return r, dr_dx / scale[:, None]


def _lagrange(nodes: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lagrange basis values ``L_j(x)`` and derivatives ``L_j'(x)`` for nodes ``[q, m]``."""
    q, m = nodes.shape
    dx = x[:, None] - nodes  # [q, m]
    diff = nodes[:, :, None] - nodes[:, None, :]  # x_j - x_k
    eye = np.eye(m, dtype=bool)[None]
    denom = np.where(eye, 1.0, diff).prod(axis=2)  # prod_{k != j} (x_j - x_k)
    # prod over l not in {j} and not in {j, k} of (x - x_l), without dividing by zero at nodes.
    factors = np.broadcast_to(dx[:, None, :], (q, m, m))
    without_j = np.where(eye, 1.0, factors)
    numer = without_j.prod(axis=2)
    pair = without_j[:, :, None, :] * np.ones((1, 1, m, 1))
    drop_k = np.eye(m, dtype=bool)[None, None, :, :]  # [.., k, l]: l == k
    pair = np.where(drop_k, 1.0, pair).prod(axis=3)  # [q, j, k]: prod_{l != j, k}
    dnumer = np.where(eye, 0.0, pair).sum(axis=2)
    return numer / denom, dnumer / denom
