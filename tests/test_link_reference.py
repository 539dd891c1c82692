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


def test_window_rates_are_the_budget_computed_from_skyfield_itur_and_the_standard() -> None:
    import itur

    scenario = load_model_text(MODEL)
    windows = compute_geometry(scenario).windows
    orbit = scenario.nodes[0].orbit
    ts = load.timescale(builtin=True)
    sat = EarthSatellite(orbit.line1, orbit.line2, ts=ts)
    site = wgs84.latlon(LAT, LON, ALT_M)
    ladder = pd.read_csv(ROOT / "data" / "dvbs2_modcod.csv")
    compared, rates = 0, set()
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
                LAT, LON, F_HZ / 1e9, np.maximum(el.degrees, 5.0), 100 - AVAILABILITY, DISH_M,
                hs=ALT_M / 1e3,
            ).value  # fmt: skip
        cn0 = EIRP_DBW - fsl_db - atm_db - LOSSES_DB + GT_DBK - BOLTZMANN_DBW
        esn0 = cn0 - 10 * math.log10(SYMBOL_RATE)
        for value, got in zip(esn0, w.profile_rate_bps, strict=True):
            needed = ladder["esn0_db"].to_numpy() + MARGIN_DB
            if np.min(np.abs(value - needed)) < GUARD_DB:
                continue
            closing = ladder["efficiency_bits_per_symbol"][needed <= value]
            expected = min(CAP_BPS, SYMBOL_RATE * closing.max()) if len(closing) else 0.0
            assert got == pytest.approx(expected, rel=1e-6), (w.id, value)
            compared += 1
            rates.add(round(expected))
    assert compared >= 100 and len(rates) >= 4  # many samples over much of the ACM ladder
