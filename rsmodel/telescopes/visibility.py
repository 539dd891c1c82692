"""When each telescope can observe each target, on the vectorised geometry grid.

Rules (docs/telescopes.md): a satellite is observable when it is above the telescope's altitude
limit, sunlit, and the site is dark (Sun below ``sun_altitude_max_deg``); a fixed ICRS target
when it is above the limit and the site is dark. The rules are evaluated for every target x
telescope x grid time with the vectorised functions of ``rsmodel.geometry.frames``; each change
between two grid samples is then refined by vectorised bisection to ``TOLERANCE_S``. A visible
spell shorter than the grid step can be missed; it is too short to track anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsmodel.geometry.frames import (
    Sites,
    elevation_deg,
    is_sunlit,
    propagate_itrs,
    radec_altitude_deg,
    site_itrs,
    sun_itrs,
    times_from,
)
from rsmodel.model.telescope_network import Network

TOLERANCE_S = 0.5


@dataclass(frozen=True)
class Window:
    """One visibility interval of a target from a telescope; times in s from the horizon start."""

    target: int
    telescope: int
    start_s: float
    end_s: float
    max_altitude_deg: float  # highest grid-sample altitude inside the window


def network_sites(net: Network) -> Sites:
    """ITRS sites of the network's telescopes, in order."""
    tel = net.telescopes
    return site_itrs([t.lat_deg for t in tel], [t.lon_deg for t in tel], [t.alt_m for t in tel])


class Observability:
    """The observing rules for every target from every telescope, vectorised over time."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.sites = network_sites(net)
        self.limit = np.array([t.altitude_limit_deg for t in net.telescopes])
        self.sun_max = net.settings.sun_altitude_max_deg

    def dark(self, offsets_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sun ITRS ``[nt, 3]`` km and site darkness ``[ntelescope, nt]``."""
        t = times_from(self.net.start, offsets_s)
        sun = np.atleast_2d(sun_itrs(t))
        return sun, elevation_deg(sun[None], self.sites)[0] <= self.sun_max

    def target(
        self, i: int, offsets_s: np.ndarray, sun: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Altitude ``[ntelescope, nt]`` deg of target ``i`` and whether it may be observed
        (sunlit for satellites; always for fixed targets), ``[nt]``."""
        tgt = self.net.targets[i]
        t = times_from(self.net.start, offsets_s)
        if tgt.orbit is not None:
            pos = propagate_itrs([tgt.orbit.satrec], t)
            return elevation_deg(pos, self.sites)[0], is_sunlit(pos, sun)[0]
        alt = radec_altitude_deg(np.array([tgt.ra_deg]), np.array([tgt.dec_deg]), self.sites, t)[0]
        return alt, np.ones(len(offsets_s), dtype=bool)

    def grid(self, offsets_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Observable ``[ntarget, ntelescope, nt]`` and altitude (deg) on a time grid."""
        sun, dark = self.dark(offsets_s)
        shape = (len(self.net.targets), len(self.sites), len(offsets_s))
        ok, alt = np.zeros(shape, dtype=bool), np.zeros(shape)
        for i in range(len(self.net.targets)):
            alt[i], lit = self.target(i, offsets_s, sun)
            ok[i] = (alt[i] >= self.limit[:, None]) & dark & lit[None]
        return ok, alt

    def at(self, target: np.ndarray, telescope: np.ndarray, offsets_s: np.ndarray) -> np.ndarray:
        """Observable for ``target[k]`` from ``telescope[k]`` at ``offsets_s[k]`` (pairwise)."""
        out = np.zeros(len(offsets_s), dtype=bool)
        if out.size == 0:
            return out
        sun, dark = self.dark(offsets_s)
        for i in np.unique(target):
            k = np.flatnonzero(target == i)
            alt, lit = self.target(int(i), offsets_s[k], sun[k])
            j = telescope[k]
            col = np.arange(len(k))
            out[k] = (alt[j, col] >= self.limit[j]) & dark[j, k] & lit
        return out


def grid_offsets_s(net: Network) -> np.ndarray:
    """The geometry grid: horizon start to end every ``step_s`` seconds (end included)."""
    offsets = np.arange(int(np.floor(net.duration_s / net.step_s)) + 1) * net.step_s
    return offsets if offsets[-1] >= net.duration_s else np.r_[offsets, net.duration_s]


def refine_edges(
    obs: Observability, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, rising: bool
) -> np.ndarray:
    """Bisect each ``[lo, hi]`` (state changes inside) to ``TOLERANCE_S``: the first observable
    time of a rising edge, the last observable time of a falling edge."""
    ntel = len(obs.net.telescopes)
    lo, hi = lo.astype(float).copy(), hi.astype(float).copy()
    while rows.size and (hi - lo).max() > TOLERANCE_S:
        mid = 0.5 * (lo + hi)
        seen = obs.at(rows // ntel, rows % ntel, mid)
        move_hi = seen if rising else ~seen
        hi = np.where(move_hi, mid, hi)
        lo = np.where(move_hi, lo, mid)
    return hi if rising else lo


def visibility_windows(net: Network) -> list[Window]:
    """Every observable interval of every target from every telescope, sorted by start."""
    if not net.targets or not net.telescopes:
        return []
    obs = Observability(net)
    t = grid_offsets_s(net)
    ok, alt = obs.grid(t)
    ntarget, ntel, nt = ok.shape
    flat, alt = ok.reshape(-1, nt), alt.reshape(-1, nt)
    padded = np.pad(flat, ((0, 0), (1, 1)))
    r_rows, r_k = np.nonzero(~padded[:, :-1] & padded[:, 1:])  # first observable sample k
    f_rows, f_k = np.nonzero(padded[:, :-1] & ~padded[:, 1:])  # last observable sample k - 1
    f_k = f_k - 1
    start = t[r_k].astype(float)
    inner = r_k > 0
    start[inner] = refine_edges(obs, r_rows[inner], t[r_k[inner] - 1], t[r_k[inner]], True)
    end = t[f_k].astype(float)
    inner = f_k < nt - 1
    end[inner] = refine_edges(obs, f_rows[inner], t[f_k[inner]], t[f_k[inner] + 1], False)
    windows = [
        Window(int(r // ntel), int(r % ntel), float(s), float(e), float(alt[r, k0 : k1 + 1].max()))
        for r, k0, k1, s, e in zip(r_rows, r_k, f_k, start, end, strict=True)
        if e > s
    ]
    return sorted(windows, key=lambda w: (w.start_s, w.target, w.telescope))
