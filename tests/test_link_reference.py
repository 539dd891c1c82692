"""The rate of a link-budget window, end to end, against a budget computed here from
independent pieces: skyfield's slant range, ITU-R P.525's free-space loss, ``itur``'s P.618
attenuation called directly with its own defaults, and the DVB-S2 table as shipped
(data/dvbs2_modcod.csv, ETSI EN 302 307-1 Table 13) — not against rsmodel's link functions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from skyfield.api import EarthSatellite, load, wgs84

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_text
from tests.conftest import ROOT

LAT, LON, ALT_M = 78.23, 15.41, 500.0
F_HZ, EIRP_DBW, SYMBOL_RATE, GT_DBK = 8.2e9, 7.0, 5.0e7, 31.0
LOSSES_DB, MARGIN_DB, AVAILABILITY, DISH_M = 3.0, 1.0, 99.0, 7.3
CAP_BPS = 1.0e9
MODEL = f"""\
name: link-reference
horizon: {{start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}}
ground_stations:
  - name: svalbard
    lat_deg: {LAT}
    lon_deg: {LON}
    alt_m: {ALT_M}
    bandwidth_bps: {CAP_BPS}
    bands: [{{band: X, gt_dbk: {GT_DBK}}}]
    link:
      budget: {{fixed_losses_db: {LOSSES_DB}, margin_db: {MARGIN_DB},
                availability_pct: {AVAILABILITY}, antenna_diameter_m: {DISH_M}}}
nodes:
  - name: noaa20
    tle: {{norad: 43013}}
    transmitters:
      - {{band: X, frequency_hz: {F_HZ}, eirp_dbw: {EIRP_DBW}, symbol_rate_baud: {SYMBOL_RATE}}}
"""
BOLTZMANN_DBW = 10 * math.log10(1.380649e-23)  # CODATA 2018 k, dBW/(Hz K)
GUARD_DB = 0.1  # skip samples this close to a MODCOD threshold (attenuation table: <= 2 %)


def reference_rates(scenario, lat: float, lon: float, alt_m: float):
    """(window, Es/N0 dB, rsmodel's rate bit/s, the reference rate bit/s) at each profile
    sample of every window, the reference computed here from skyfield, itur and the table."""
    import itur

    windows = compute_geometry(scenario).windows
    orbit = scenario.nodes[0].orbit
    ts = load.timescale(builtin=True)
    sat = EarthSatellite(orbit.line1, orbit.line2, ts=ts)
    site = wgs84.latlon(lat, lon, alt_m)
    ladder = pd.read_csv(ROOT / "data" / "dvbs2_modcod.csv")
    needed = ladder["esn0_db"].to_numpy() + MARGIN_DB
    efficiency = ladder["efficiency_bits_per_symbol"].to_numpy()
    for w in windows.itertuples():
        t_s = np.asarray(w.profile_t_s, dtype=float)
        s0 = w.start  # to the nanosecond
        second = s0.second + s0.microsecond / 1e6 + s0.nanosecond / 1e9 + t_s
        when = ts.utc(s0.year, s0.month, s0.day, s0.hour, s0.minute, second)
        el, _, distance = (sat - site).at(when).altaz()
        fsl_db = 20 * np.log10(4 * math.pi * distance.m * F_HZ / 299_792_458.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            atm_db = itur.atmospheric_attenuation_slant_path(
                lat, lon, F_HZ / 1e9, np.maximum(el.degrees, 5.0), 100 - AVAILABILITY, DISH_M,
                hs=alt_m / 1e3,
            ).value  # fmt: skip
        cn0 = EIRP_DBW - fsl_db - atm_db - LOSSES_DB + GT_DBK - BOLTZMANN_DBW
        esn0 = cn0 - 10 * math.log10(SYMBOL_RATE)
        closes = needed[None, :] <= esn0[:, None]
        best = np.where(closes, efficiency[None, :], 0.0).max(axis=1)
        yield w, esn0, np.asarray(w.profile_rate_bps), np.minimum(CAP_BPS, SYMBOL_RATE * best)


def test_window_rates_are_the_budget_computed_from_skyfield_itur_and_the_standard() -> None:
    needed = pd.read_csv(ROOT / "data" / "dvbs2_modcod.csv")["esn0_db"].to_numpy() + MARGIN_DB
    compared, rates = 0, set()
    for w, esn0, got, expected in reference_rates(load_model_text(MODEL), LAT, LON, ALT_M):
        away = np.min(np.abs(esn0[:, None] - needed[None, :]), axis=1) >= GUARD_DB
        np.testing.assert_allclose(got[away], expected[away], rtol=1e-6, err_msg=w.id)
        compared += int(away.sum())
        rates |= {round(r) for r in expected[away]}
    assert compared >= 100 and len(rates) >= 4  # many samples over much of the ACM ladder


# docs/links.md, "A low pass against a high one": this budget at Kiruna (67.86 N, 20.96 E)
# over 24 h; NOAA-20's lowest pass culminates at 21.0 deg, its highest at 73.2 deg.
KIRUNA = (67.86, 20.96, 500.0)
LOW_PER_SECOND, LOW_CAPACITY = 0.713, 0.516  # low pass / high pass: mean rate, capacity


def test_a_low_pass_gets_the_documented_fraction_of_a_high_pass_capacity() -> None:
    """Each pass's capacity integrated here from the reference rates (trapezoids over the
    profile samples) gives the fractions docs/links.md states, and so do rsmodel's windows."""
    text = MODEL.replace("hours: 12", "hours: 24").replace(
        f"lat_deg: {LAT}\n    lon_deg: {LON}", f"lat_deg: {KIRUNA[0]}\n    lon_deg: {KIRUNA[1]}"
    )
    passes = [
        (w, np.trapezoid(expected, w.profile_t_s) / 8.0)
        for w, _, _, expected in reference_rates(load_model_text(text), *KIRUNA)
    ]
    (low, low_bytes), (high, high_bytes) = (
        min(passes, key=lambda p: p[0].max_elevation_deg),
        max(passes, key=lambda p: p[0].max_elevation_deg),
    )
    assert low.max_elevation_deg == pytest.approx(21.0, abs=0.1)
    assert high.max_elevation_deg == pytest.approx(73.2, abs=0.1)
    per_second = (low_bytes / low.duration_s) / (high_bytes / high.duration_s)
    assert per_second == pytest.approx(LOW_PER_SECOND, abs=0.01)
    assert low_bytes / high_bytes == pytest.approx(LOW_CAPACITY, abs=0.01)
    # rsmodel's windows: the same within the profile's smoothing of the MODCOD steps
    assert low.mean_rate_bps / high.mean_rate_bps == pytest.approx(LOW_PER_SECOND, abs=0.01)
    assert low.capacity_bytes / high.capacity_bytes == pytest.approx(LOW_CAPACITY, abs=0.01)
