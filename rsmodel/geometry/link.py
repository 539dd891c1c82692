"""Achievable downlink rate of each contact: constant, rate-vs-elevation table or link budget.

Link budget (docs/links.md), per sample of a pass::

    C/N0 [dBHz] = EIRP - FSL(slant range) - A_atm(elevation) - fixed losses + G/T - 10 log10(k)
    Es/N0 [dB]  = C/N0 - 10 log10(symbol rate)
    rate [bps]  = symbol rate x efficiency of the best MODCOD with Es/N0 >= required + margin

capped by the station's ``bandwidth_bps`` and the transmitter's ``max_rate_bps``. ``A_atm`` is
ITU-R P.618 gaseous + cloud + rain + scintillation attenuation from the ``itur`` package at
the station's location and availability, evaluated once per station and carrier at 40
elevations and interpolated (``itur`` takes ~2 ms per elevation and ~9 s to load its maps).

Each window of a station with a link model gets a *rate profile*: the rate at its AOS, at
every ``PROFILE_STEP_S``-aligned instant inside it (grid times included) and at its LOS,
linear in between. Capacities are integrals of the profile (:func:`profile_integral_bytes`).
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from rsmodel.geometry.frames import site_itrs, times_from
from rsmodel.geometry.propagate import orbit_source, pairs_itrs
from rsmodel.geometry.samples import Samples
from rsmodel.geometry.windows import Table, take, window_ids
from rsmodel.model.catalogs import data_dir
from rsmodel.model.radios import Radio, pair_radio
from rsmodel.model.scenario import OrbitalNode, Station
from rsmodel.timeutil import seconds_since

if TYPE_CHECKING:
    import pandas as pd

SPEED_OF_LIGHT_M_S = 299_792_458.0
BOLTZMANN_DBW_HZ_K = 10.0 * math.log10(1.380649e-23)  # -228.6 dBW/(Hz K)
PROFILE_STEP_S = 20.0  # longest spacing of rate samples inside a pass
ATTENUATION_MIN_ELEVATION_DEG = 5.0  # ITU-R P.618 holds from 5 deg; lower samples use 5 deg
# Attenuation x sin(elevation) is smooth except near zenith, where P.618's rain term rises.
TABLE_ELEVATION_DEG = np.r_[
    np.arange(5.0, 20.0),
    np.arange(20.0, 40.0, 2.5),
    np.arange(40.0, 86.0, 5.0),
    86,
    87,
    88,
    89,
    89.5,
    89.9,
    90,
]
PROFILE_COLUMNS = ("profile_t_s", "profile_rate_bps")
# window columns a link model adds (plan.json keeps them, and the profiles as lists)
RATE_COLUMNS = ("band", "min_rate_bps", "mean_rate_bps", "max_rate_bps")


# --------------------------------------------------------------------------- link budget terms
def free_space_loss_db(range_m: np.ndarray, frequency_hz: np.ndarray | float) -> np.ndarray:
    """Free-space path loss ``20 log10(4 pi d f / c)``, dB."""
    return 20.0 * np.log10(4.0 * np.pi * np.asarray(range_m) * frequency_hz / SPEED_OF_LIGHT_M_S)


def cn0_dbhz(
    eirp_dbw: np.ndarray | float,
    path_loss_db: np.ndarray | float,
    gt_dbk: np.ndarray | float,
) -> np.ndarray:
    """Carrier-to-noise-density ratio ``EIRP - losses + G/T - 10 log10(k)``, dBHz."""
    return np.asarray(eirp_dbw) - path_loss_db + gt_dbk - BOLTZMANN_DBW_HZ_K


def attenuation_db(
    lat_deg: float,
    lon_deg: float,
    alt_m: float,
    frequency_hz: float,
    elevation_deg: np.ndarray,
    availability_pct: float,
    antenna_diameter_m: float,
    *,
    antenna_efficiency: float = 0.5,
    polarization_tilt_deg: float = 45.0,
) -> np.ndarray:
    """ITU-R P.618 total slant-path attenuation (gas, clouds, rain, scintillation), dB, exceeded
    ``100 - availability_pct`` % of an average year, from the ``itur`` package (offline: it
    ships the ITU-R maps)."""
    import itur  # ~3 s to import (astropy, pyproj): only models with a link budget pay it

    el = np.maximum(np.asarray(elevation_deg, dtype=float), ATTENUATION_MIN_ELEVATION_DEG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        total = itur.atmospheric_attenuation_slant_path(
            lat_deg,
            lon_deg,
            frequency_hz / 1e9,
            el,
            100.0 - availability_pct,
            antenna_diameter_m,
            hs=alt_m / 1000.0,
            eta=antenna_efficiency,
            tau=polarization_tilt_deg,
        )
    return np.asarray(total.value, dtype=float).reshape(el.shape)


@cache
def _attenuation_table(
    lat_deg: float,
    lon_deg: float,
    alt_m: float,
    frequency_hz: float,
    availability_pct: float,
    antenna_diameter_m: float,
) -> np.ndarray:
    """Attenuation (dB) at ``TABLE_ELEVATION_DEG`` times the sine of the elevation (nearly
    constant: the slant path grows as 1/sin(el)), for linear interpolation."""
    el = TABLE_ELEVATION_DEG
    total = attenuation_db(
        lat_deg, lon_deg, alt_m, frequency_hz, el, availability_pct, antenna_diameter_m
    )
    return total * np.sin(np.radians(el))


def interpolated_attenuation_db(
    lat_deg: float,
    lon_deg: float,
    alt_m: float,
    frequency_hz: float,
    elevation_deg: np.ndarray,
    availability_pct: float,
    antenna_diameter_m: float,
) -> np.ndarray:
    """:func:`attenuation_db` from a table of ``TABLE_ELEVATION_DEG`` (cached per station and
    carrier), interpolated as attenuation x sin(elevation)."""
    table = _attenuation_table(
        lat_deg, lon_deg, alt_m, frequency_hz, availability_pct, antenna_diameter_m
    )
    el = np.clip(elevation_deg, ATTENUATION_MIN_ELEVATION_DEG, 90.0)
    return np.interp(el, TABLE_ELEVATION_DEG, table) / np.sin(np.radians(el))


# --------------------------------------------------------------------------- MODCODs
@dataclass(frozen=True)
class Ladder:
    """ACM ladder: required Es/N0 (dB) and efficiency (bits/symbol), both increasing."""

    names: tuple[str, ...]
    esn0_db: np.ndarray
    efficiency: np.ndarray

    def rate_bps(self, esn0_db: np.ndarray, symbol_rate_baud: np.ndarray, margin_db: float):
        """Rate of the best MODCOD with ``esn0_db >= required + margin_db`` (0 if none)."""
        k = np.searchsorted(self.esn0_db + margin_db, esn0_db, side="right") - 1
        eff = np.where(k >= 0, self.efficiency[np.maximum(k, 0)], 0.0)
        return eff * symbol_rate_baud


@cache
def dvbs2_ladder() -> Ladder:
    """The shipped DVB-S2 table (data/dvbs2_modcod.csv) without MODCODs that another beats with
    a higher efficiency at a lower required Es/N0."""
    with open(data_dir() / "dvbs2_modcod.csv", newline="", encoding="utf-8") as fh:
        rows = sorted(
            ((float(r["esn0_db"]), float(r["efficiency_bits_per_symbol"]), r["name"])
             for r in csv.DictReader(fh)),
            key=lambda r: (r[0], -r[1]),
        )  # fmt: skip
    kept: list[tuple[float, float, str]] = []
    for row in rows:
        if not kept or row[1] > kept[-1][1]:
            kept.append(row)
    return Ladder(
        tuple(r[2] for r in kept),
        np.array([r[0] for r in kept]),
        np.array([r[1] for r in kept]),
    )


def station_ladder(station: Station) -> Ladder:
    """The station's MODCOD ladder (its own, else DVB-S2)."""
    assert station.link is not None and station.link.budget is not None
    modcods = station.link.budget.modcods
    if modcods is None:
        return dvbs2_ladder()
    return Ladder(
        tuple(m.name for m in modcods),
        np.array([m.esn0_db for m in modcods]),
        np.array([m.efficiency_bits_per_symbol for m in modcods]),
    )


# --------------------------------------------------------------------------- rates
def link_rate_bps(
    station: Station,
    radio: Radio,
    elevation_deg: np.ndarray,
    range_km: np.ndarray,
) -> np.ndarray:
    """Achievable rate (bits/s) of one node/station pair at samples of elevation and slant
    range (the station has a link model)."""
    link = station.link
    assert link is not None
    cap = min(
        station.bandwidth_bps,
        radio.transmitter.max_rate_bps
        if radio.transmitter and radio.transmitter.max_rate_bps
        else math.inf,
    )
    if link.rate_table is not None:
        table_el = np.array([p.elevation_deg for p in link.rate_table])
        table_rate = np.array([p.rate_bps for p in link.rate_table])
        k = np.searchsorted(table_el, elevation_deg, side="right") - 1
        return np.minimum(np.where(k >= 0, table_rate[np.maximum(k, 0)], 0.0), cap)
    budget, tx, rx = link.budget, radio.transmitter, radio.receiver
    assert budget is not None and tx is not None and rx is not None
    assert tx.frequency_hz and tx.eirp_dbw is not None and tx.symbol_rate_baud
    assert rx.gt_dbk is not None
    atmosphere = interpolated_attenuation_db(
        station.lat_deg,
        station.lon_deg,
        station.alt_m,
        tx.frequency_hz,
        elevation_deg,
        budget.availability_pct,
        budget.antenna_diameter_m,
    )
    loss = free_space_loss_db(range_km * 1e3, tx.frequency_hz) + atmosphere + budget.fixed_losses_db
    esn0 = cn0_dbhz(tx.eirp_dbw, loss, rx.gt_dbk) - 10.0 * math.log10(tx.symbol_rate_baud)
    rate = station_ladder(station).rate_bps(esn0, tx.symbol_rate_baud, budget.margin_db)
    return np.minimum(rate, cap)


def constant_rate_bps(station: Station, radio: Radio) -> float:
    """Rate (bits/s) of a station without link model: ``bandwidth_bps``, capped by the
    transmitter's ``max_rate_bps``."""
    tx = radio.transmitter
    return min(station.bandwidth_bps, tx.max_rate_bps if tx and tx.max_rate_bps else math.inf)


# --------------------------------------------------------------------------- windows
def pair_radios(nodes: list[OrbitalNode], stations: list[Station]) -> np.ndarray:
    """``[node, station]`` object array of the radios of each pair (None: no shared band, no
    contact)."""
    radios = np.empty((len(nodes), len(stations)), dtype=object)
    for i, node in enumerate(nodes):
        for j, station in enumerate(stations):
            radios[i, j] = pair_radio(node, station)
    return radios


def apply_link_models(
    windows: Table,
    nodes: list[OrbitalNode],
    stations: list[Station],
    start: datetime,
    step_s: float,
    samples: Samples | None = None,
) -> Table:
    """``windows`` (geometry contract) without pairs that share no band, with each window's
    ``band``, ``min_rate_bps`` / ``mean_rate_bps`` / ``max_rate_bps``, ``capacity_bytes`` (the
    integral of the rate after ``setup_s``) and, for stations with a link model, the rate
    profile (``profile_t_s`` s from the window start, ``profile_rate_bps``);
    ``bandwidth_bps`` is then the window's highest rate. ``samples``: the scan's node positions
    around these windows (:func:`look_angles`)."""
    radios = pair_radios(nodes, stations)
    ni = indexer([n.name for n in nodes], windows["node"])
    si = indexer([s.name for s in stations], windows["station"])
    keep = np.array([r is not None for r in radios.flat], dtype=bool).reshape(radios.shape)[ni, si]
    out = dict(windows)
    if not keep.all():
        out = take(windows, keep)
        out["id"] = window_ids(len(out["id"]))
        ni, si = ni[keep], si[keep]
    pair_rate = np.array(
        [[constant_rate_bps(s, r) if r else 0.0 for s, r in zip(stations, row, strict=True)]
         for row in radios],
        dtype=float,
    ).reshape(radios.shape)  # fmt: skip
    pair_band = np.array([r.band if r else None for r in radios.flat], dtype=object)
    rate = pair_rate[ni, si]
    out["band"] = pair_band.reshape(radios.shape)[ni, si]
    duration = out["duration_s"].astype(float)
    setup = np.array([s.setup_s for s in stations], dtype=float)[si]
    stats = {
        "bandwidth_bps": rate,
        "capacity_bytes": rate / 8.0 * np.maximum(0.0, duration - setup),
        **{name: rate.copy() for name in ("min_rate_bps", "mean_rate_bps", "max_rate_bps")},
    }
    n = len(duration)
    profile_columns = (np.full(n, None, dtype=object), np.full(n, None, dtype=object))
    modelled = np.flatnonzero(np.array([s.link is not None for s in stations], dtype=bool)[si])
    if len(modelled):
        group = _rate_groups(ni[modelled], si[modelled], radios)
        order = np.argsort(group, kind="stable")  # each group's windows together
        modelled, group = modelled[order], group[order]
        w0 = seconds_since(out["start"][modelled], start)
        profiles = _profiles(
            w0, duration[modelled], ni[modelled], si[modelled], group, radios, nodes, stations,
            start, step_s, samples,
        )  # fmt: skip
        total = profiles.cumulative_bits[profiles.last]  # the knots span each whole window
        at_setup = np.flatnonzero(setup[modelled] > 0)
        usable = total.copy()
        usable[at_setup] -= profiles.integral_bits(
            at_setup, np.zeros(len(at_setup)), setup[modelled][at_setup]
        )
        top = np.maximum.reduceat(profiles.rate_bps, profiles.first)
        low = np.minimum.reduceat(profiles.rate_bps, profiles.first)
        mean = np.clip(total / np.maximum(duration[modelled], 1e-9), low, top)  # no rounding dust
        for name, values in (
            ("bandwidth_bps", top),
            ("capacity_bytes", usable / 8.0),
            ("min_rate_bps", low),
            ("mean_rate_bps", mean),
            ("max_rate_bps", top),
        ):
            stats[name] = stats[name].copy()
            stats[name][modelled] = values
        for column, knots in zip(profile_columns, (profiles.t_s, profiles.rate_bps), strict=True):
            for row, a, b in zip(modelled.tolist(), profiles.first.tolist(),
                                 (profiles.last + 1).tolist(), strict=True):  # fmt: skip
                column[row] = knots[a:b]
    out.update(stats)
    out.update(zip(PROFILE_COLUMNS, profile_columns, strict=True))
    return out


def imported_rates(windows: Table) -> Table:
    """Imported view periods (constant rate, no band) with the columns of
    :func:`apply_link_models`."""
    n = len(windows["id"])
    rate = windows["bandwidth_bps"].astype(float)
    return {
        **windows,
        "band": np.full(n, None, dtype=object),
        **{name: rate.copy() for name in ("min_rate_bps", "mean_rate_bps", "max_rate_bps")},
        **{name: np.full(n, None, dtype=object) for name in PROFILE_COLUMNS},
    }


def indexer(names: list[str], values: Sequence[str] | np.ndarray) -> np.ndarray:
    """Position of each of ``values`` in ``names`` (every value is one of them)."""
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[v] for v in values], dtype=np.intp)


def _rate_groups(ni: np.ndarray, si: np.ndarray, radios: np.ndarray) -> np.ndarray:
    """Group of the windows of node ``ni[i]`` at station ``si[i]``: one per (station,
    transmitter, receiver), which share one rate computation (``radios [node, station]``)."""
    groups: dict[tuple[int, int, int], int] = {}
    pair_group = np.full(radios.shape, -1)
    for pair in np.unique(ni * radios.shape[1] + si).tolist():
        n, s = divmod(pair, radios.shape[1])
        r = radios[n, s]
        pair_group[n, s] = groups.setdefault((s, id(r.transmitter), id(r.receiver)), len(groups))
    return pair_group[ni, si]


def _profiles(
    w0: np.ndarray,
    duration_s: np.ndarray,
    ni: np.ndarray,
    si: np.ndarray,
    group: np.ndarray,
    radios: np.ndarray,
    nodes: list[OrbitalNode],
    stations: list[Station],
    start: datetime,
    step_s: float,
    samples: Samples | None,
) -> Profiles:
    """Rate profiles of windows starting ``w0`` s after ``start`` of node ``ni`` at station
    ``si`` (a station with a link model; ``radios [node, station]``), sorted by
    :func:`_rate_groups` ``group``."""
    h = step_s / math.ceil(step_s / PROFILE_STEP_S - 1e-9)
    w1 = w0 + duration_s
    k0 = np.floor(w0 / h + 1e-9).astype(int) + 1
    k1 = np.ceil(w1 / h - 1e-9).astype(int) - 1
    count = np.maximum(k1 - k0 + 1, 0) + 2
    win = np.repeat(np.arange(len(w0)), count)
    ends = np.cumsum(count)
    firsts = ends - count
    pos_in = np.arange(ends[-1]) - np.repeat(firsts, count)
    t = np.where(pos_in == 0, w0[win], (k0[win] + pos_in - 1) * h)
    t[ends - 1] = w1
    el, range_km = look_angles(nodes, ni[win], stations, si[win], start, t, samples)
    # AOS/LOS lie on the mask: keep interpolation noise from dropping them below it
    minimum = np.array([s.elevation_min_deg for s in stations])[si]
    for knot in (firsts, ends - 1):
        el[knot] = np.maximum(el[knot], minimum)
    rate = np.empty(len(t))
    heads = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])  # first window of each group
    for a, b in zip(heads.tolist(), [*heads[1:].tolist(), len(group)], strict=True):
        knots = slice(firsts[a], ends[b - 1])
        radio = radios[ni[a], si[a]]
        rate[knots] = link_rate_bps(stations[si[a]], radio, el[knots], range_km[knots])
    return Profiles.concatenated(t - w0[win], rate, count)


def look_angles(
    nodes: list[OrbitalNode],
    node: np.ndarray,
    stations: list[Station],
    station: np.ndarray,
    start: datetime,
    t_s: np.ndarray,
    samples: Samples | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Elevation (deg) and slant range (km) of ``nodes[node[i]]`` seen from
    ``stations[station[i]]`` at ``t_s[i]`` s after ``start`` (WGS-84, geometric): node positions
    interpolated from the scan's ``samples`` where they cover the instant, else propagated."""
    node, t_s = np.asarray(node, dtype=np.int64), np.asarray(t_s, dtype=float)
    if samples is None:
        pos, known = np.empty((len(node), 3)), np.zeros(len(node), dtype=bool)
    else:
        pos, known = samples.at(node, t_s)
    if not known.all():
        sources = [orbit_source(n) for n in nodes]
        pos[~known] = pairs_itrs(sources, node[~known], times_from(start, t_s[~known]))[0]
    sites = site_itrs(
        [s.lat_deg for s in stations], [s.lon_deg for s in stations], [s.alt_m for s in stations]
    )
    station = np.asarray(station, dtype=np.int64)
    rho = pos - np.take(sites.xyz_km, station, axis=0)
    up = np.take(sites.up, station, axis=0)
    range_km = np.sqrt(np.einsum("ij,ij->i", rho, rho))
    sin_el = np.clip(np.einsum("ij,ij->i", rho, up) / range_km, -1.0, 1.0)
    return np.degrees(np.arcsin(sin_el)), range_km


@dataclass(frozen=True)
class Profiles:
    """Piecewise-linear rate profiles of many windows, concatenated (knot times in s from each
    window's start, increasing within a window)."""

    t_s: np.ndarray
    rate_bps: np.ndarray
    first: np.ndarray  # first knot of each window
    last: np.ndarray  # last knot of each window
    cumulative_bits: np.ndarray  # integral from the window's first knot to each knot
    keys: np.ndarray  # knot times shifted per window (t + w * shift), increasing overall
    shift: float  # window w's knots are searched at t + w * shift

    @classmethod
    def of(cls, t_s: Sequence[np.ndarray], rate_bps: Sequence[np.ndarray]) -> Profiles:
        """Profiles of windows with knots ``t_s[w]`` and rates ``rate_bps[w]``."""
        count = np.fromiter(map(len, t_s), dtype=int, count=len(t_s))
        return cls.concatenated(np.concatenate(t_s), np.concatenate(rate_bps), count)

    @classmethod
    def concatenated(cls, t: np.ndarray, r: np.ndarray, count: np.ndarray) -> Profiles:
        """Profiles from all knots ``t`` (s) and rates ``r`` (bits/s), ``count[w]`` per window."""
        last = np.cumsum(count) - 1
        first = last - count + 1
        seg = np.r_[0.5 * (r[1:] + r[:-1]) * np.diff(t), 0.0]
        seg[last] = 0.0  # no segment from a window's last knot to the next window
        cumulative = np.r_[0.0, np.cumsum(seg)[:-1]]
        cumulative -= np.repeat(cumulative[first], count)
        shift = float(t.max(initial=0.0)) + 1.0
        keys = t + np.repeat(np.arange(len(count)) * shift, count)
        return cls(t, r, first, last, cumulative, keys, shift)

    def integral_bits(self, window: np.ndarray, a_s: np.ndarray, b_s: np.ndarray) -> np.ndarray:
        """Integral of window ``window[i]``'s rate from ``a_s[i]`` to ``b_s[i]`` (s from its
        start, clipped to its knots), bits."""
        return self._antiderivative(window, b_s) - self._antiderivative(window, a_s)

    def instant_of_bits(self, window: np.ndarray, a_s: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`integral_bits`: the instant (s from window ``window[i]``'s start)
        ``x`` with ``integral(a_s, x) = bits`` (``bits >= 0``: the earliest ``x >= a_s``) or
        ``integral(x, a_s) = -bits`` (``bits < 0``: the latest ``x <= a_s``); clipped to the
        window's knots when it carries less. Exact for the piecewise-linear rate: the
        quadratic of the segment holding the target is solved in closed form."""
        window = np.asarray(window, dtype=int)
        a_s, bits = np.broadcast_arrays(np.asarray(a_s, dtype=float), np.asarray(bits, float))
        target = self._antiderivative(window, a_s) + bits
        back = bits < 0
        # knot k: forward the first with cumulative >= target, backward the last <= target
        lo, hi = self.first[window].copy(), self.last[window] + 1  # search in [lo, hi)
        while np.any(hi > lo):
            mid = (lo + hi) // 2
            c = self.cumulative_bits[np.minimum(mid, self.last[window])]
            below = np.where(back, c <= target, c < target) & (hi > lo)
            lo = np.where(below, mid + 1, lo)
            hi = np.where(below | (hi <= lo), hi, mid)
        k = np.where(back, lo - 1, lo)  # forward: segment k-1 ends at or after the target
        j = np.clip(np.where(back, k, k - 1), self.first[window], self.last[window])
        dt, slope = self._slope(window, j)
        d = np.maximum(target - self.cumulative_bits[j], 0.0)
        r = self.rate_bps[j]
        root = np.sqrt(np.maximum(r * r + 2.0 * slope * d, 0.0))
        denom = r + root
        u = np.where(denom > 0, 2.0 * d / np.where(denom > 0, denom, 1.0), 0.0)
        x = self.t_s[j] + np.minimum(u, dt)
        x = np.where(k > self.last[window], self.t_s[self.last[window]], x)  # beyond: clip
        x = np.where(k < self.first[window], self.t_s[self.first[window]], x)
        return np.where(back, np.minimum(x, a_s), np.maximum(x, a_s))

    def rate_at(self, window: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Rate (bits/s) of window ``window[i]`` at ``x[i]`` s from its start."""
        j, u, slope = self._segment(window, x)
        return self.rate_bps[j] + slope * u

    def _antiderivative(self, window: np.ndarray, x: np.ndarray) -> np.ndarray:
        j, u, slope = self._segment(window, x)
        return self.cumulative_bits[j] + u * (self.rate_bps[j] + 0.5 * slope * u)

    def _segment(
        self, window: np.ndarray, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Knot starting the segment holding ``x`` (clipped to the window), the offset from it
        (s) and the segment's slope (bits/s^2)."""
        window = np.asarray(window, dtype=int)
        x = np.clip(x, self.t_s[self.first[window]], self.t_s[self.last[window]])
        j = np.searchsorted(self.keys, x + window * self.shift, side="right") - 1
        j = np.clip(j, self.first[window], np.maximum(self.last[window] - 1, self.first[window]))
        return j, x - self.t_s[j], self._slope(window, j)[1]

    def _slope(self, window: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Length (s) and slope (bits/s^2) of the segment from knot ``j`` of window ``window``
        (0 and 0 at its last knot)."""
        nxt = np.minimum(j + 1, self.last[window])
        dt = self.t_s[nxt] - self.t_s[j]
        safe = np.where(dt > 0, dt, 1.0)
        return dt, np.where(dt > 0, (self.rate_bps[nxt] - self.rate_bps[j]) / safe, 0.0)


def profiles_of(windows: Table | pd.DataFrame) -> tuple[np.ndarray, Profiles | None]:
    """Rows of ``windows`` (a table or its DataFrame) with a rate profile and their
    :class:`Profiles` (None if none)."""
    if PROFILE_COLUMNS[0] not in windows:
        return np.zeros(0, dtype=int), None
    t = np.asarray(windows[PROFILE_COLUMNS[0]], dtype=object)
    rows = np.flatnonzero([not _missing(knots) for knots in t])  # None or NaN: no profile
    if not len(rows):
        return rows, None
    return rows, Profiles.of(t[rows], np.asarray(windows[PROFILE_COLUMNS[1]], dtype=object)[rows])


def _missing(value: object) -> bool:
    """None or NaN (a window without a rate profile)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def grid_rate_bps(
    windows: Table,
    node_names: list[str],
    station_names: list[str],
    start: datetime,
    t_s: np.ndarray,
) -> np.ndarray:
    """Rate (bits/s) at grid times ``t_s`` (s from ``start``), ``[node, station, time]``
    float32: the window's rate inside a window, 0 outside."""
    out = np.zeros((len(node_names), len(station_names), len(t_s)), dtype=np.float32)
    n = len(windows["id"])
    if not n or not len(t_s):
        return out
    w0 = seconds_since(windows["start"], start)
    w1 = w0 + windows["duration_s"].astype(float)
    lo = np.searchsorted(t_s, w0 - 1e-6, side="left")
    hi = np.searchsorted(t_s, w1 + 1e-6, side="right")
    count = np.maximum(hi - lo, 0)
    win = np.repeat(np.arange(n), count)
    k = lo[win] + np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    rate = windows["bandwidth_bps"].astype(float)[win]
    rows, profiles = profiles_of(windows)
    if profiles is not None:
        index = np.full(n, -1)
        index[rows] = np.arange(len(rows))
        on = index[win] >= 0
        rate[on] = profiles.rate_at(index[win[on]], t_s[k[on]] - w0[win[on]])
    node = indexer(node_names, windows["node"])
    station = indexer(station_names, windows["station"])
    out[node[win], station[win], k] = rate
    return out


class WindowCurves:
    """The rate over time of each row of a windows table, seconds counted from ``start``: its
    rate profile where it has one (docs/links.md), else its constant ``bandwidth_bps``."""

    def __init__(self, windows: pd.DataFrame, start: datetime) -> None:
        import pandas as pd  # the sync optimiser's windows are a DataFrame: pandas is loaded

        rows, self.profiles = profiles_of(windows)
        self.index = np.full(len(windows), -1)
        self.index[rows] = np.arange(len(rows))
        w0 = pd.to_datetime(windows["start"], utc=True) - pd.Timestamp(start)
        self.w0_s = w0.dt.total_seconds().to_numpy(dtype=float)

    def profiled(self, window: np.ndarray) -> np.ndarray:
        """Rows ``window[i]`` that have a rate profile (bool)."""
        return self.index[np.asarray(window, dtype=int)] >= 0

    def bytes_between(self, window: np.ndarray, a_s: np.ndarray, b_s: np.ndarray) -> np.ndarray:
        """Bytes the profile of row ``window[i]`` (one with a profile) carries from ``a_s[i]``
        to ``b_s[i]``: the integral of its rate."""
        assert self.profiles is not None
        window = np.asarray(window, dtype=int)
        w0 = self.w0_s[window]
        return self.profiles.integral_bits(self.index[window], a_s - w0, b_s - w0) / 8.0

    def instant_of_bytes(
        self, window: np.ndarray, a_s: np.ndarray, bytes_: np.ndarray
    ) -> np.ndarray:
        """The instant (s) at which row ``window[i]`` (one with a profile) has carried
        ``bytes_[i]`` from ``a_s[i]`` (negative: backwards from ``a_s[i]``):
        :meth:`Profiles.instant_of_bits`."""
        assert self.profiles is not None
        window = np.asarray(window, dtype=int)
        w0 = self.w0_s[window]
        x = self.profiles.instant_of_bits(self.index[window], a_s - w0, 8.0 * bytes_)
        return x + w0
