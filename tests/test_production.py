"""Recorder production per source and slot (rsmodel.geometry.production), checked against
skyfield's own sub-satellite points and against hand computation."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from skyfield.api import EarthSatellite, wgs84

from rsmodel.geometry import compute_geometry
from rsmodel.geometry.frames import subpoint_deg, times_from
from rsmodel.geometry.production import BOX_SAMPLE_S, production
from rsmodel.geometry.propagate import positions_itrs
from rsmodel.model.loader import load_model_text
from rsmodel.timeutil import load_timescale
from tests.conftest import DATA

MODEL = f"""name: prod
horizon: {{start: 2026-05-30T00:00:00Z, hours: 6, step_s: 60}}
ground_stations:
  - {{name: svalbard, station: svalsat, bandwidth_bps: 1.0e8}}
nodes:
  - name: eo-01
    tle: {{file: {DATA}/leo_snapshot.tle, norad: 43013}}
    recorder:
      capacity_bytes: 1.0e12
      initial_fill_bytes: 5.0e9
      initial_priority: low
      sources:
        - {{name: europe, rate_bps: 8.0e8, priority: high, data_type: image,
           active: {{box: {{lat_min_deg: 35, lat_max_deg: 70, lon_min_deg: -10, lon_max_deg: 40}}}}}}
        - {{name: pacific, rate_bps: 8.0e8,
           active: {{box: {{lat_min_deg: -40, lat_max_deg: 40, lon_min_deg: 160, lon_max_deg: 230, and_sunlit: true}}}}}}
        - {{name: hk, rate_bps: 8.0e3, priority: critical, active: {{sunlit: true}}}}
        - {{name: burst, rate_bps: 8.0e6,
           active: {{intervals: [{{start: +3630s, end: +3730s}}, {{start: +3700s, end: +3790s}}]}}}}
        - {{name: duty, rate_bps: 8.0e6, on_full: overwrite_oldest,
           active: {{duty_cycle: {{on_s: 90, period_s: 600, offset_s: 30}}}}}}
        - {{name: wrap, rate_bps: 8.0e6, active: {{duty_cycle: {{on_s: 90, period_s: 600, offset_s: 570}}}}}}
"""


@pytest.fixture(scope="module")
def case():
    scenario = load_model_text(MODEL, file="prod.yaml")
    geometry = compute_geometry(scenario)
    return scenario, geometry, production(scenario, geometry)


def active_s(prod, source: str) -> np.ndarray:
    """Seconds active per slot (production / rate)."""
    row = prod.sel(source=source)
    return row.produced_bytes.values / (float(row.rate_bps) / 8.0)


def test_layout_and_initial_fill(case) -> None:
    scenario, _, prod = case
    assert list(prod.source.values) == [
        "eo-01/europe",
        "eo-01/pacific",
        "eo-01/hk",
        "eo-01/burst",
        "eo-01/duty",
        "eo-01/wrap",
        "eo-01/initial",
    ]
    assert prod.sizes["slot"] == 360 and prod.produced_bytes.dtype == np.float64
    assert list(prod["rank"].values) == [1, 2, 0, 2, 2, 2, 3]
    assert prod.sel(source="eo-01/europe").data_type == "image"
    assert prod.sel(source="eo-01/duty").on_full == "overwrite_oldest"
    initial = prod.sel(source="eo-01/initial").produced_bytes.values
    assert initial[0] == 5.0e9 and not initial[1:].any()
    assert prod.slot_start.values[1] - prod.slot_start.values[0] == np.timedelta64(60, "s")


def test_intervals_partial_slots_and_overlaps_merged(case) -> None:
    _, _, prod = case
    on = active_s(prod, "eo-01/burst")
    # union [3630, 3790): slot 60 = [3600, 3660) gets 30 s, 61 and 62 60 s, 63 10 s
    assert on[60:64] == pytest.approx([30.0, 60.0, 60.0, 10.0])
    assert on.sum() == pytest.approx(160.0)
    assert prod.sel(source="eo-01/burst").produced_bytes.sum() == pytest.approx(160.0 * 1e6)


def test_duty_cycle_by_hand(case) -> None:
    _, _, prod = case
    on = active_s(prod, "eo-01/duty")  # on [30 + 600 n, 120 + 600 n)
    assert on[:3] == pytest.approx([30.0, 60.0, 0.0])
    assert on[10:13] == pytest.approx([30.0, 60.0, 0.0])
    assert on.sum() == pytest.approx(90.0 * 36)
    wrap = active_s(prod, "eo-01/wrap")  # on [-30 + 600 n, 60 + 600 n): slot 0 whole, 9 half
    assert wrap[:2] == pytest.approx([60.0, 0.0])
    assert wrap[9:11] == pytest.approx([30.0, 60.0])


def test_sunlit_source_follows_the_eclipses(case) -> None:
    scenario, geometry, prod = case
    on = active_s(prod, "eo-01/hk")
    ecl = geometry.eclipses
    assert len(ecl) >= 3
    eclipse_s = float(ecl["duration_s"].sum())
    assert on.sum() == pytest.approx(scenario.duration_s - eclipse_s, abs=1e-6)
    for _, e in ecl.iterrows():
        a = (e["start"] - scenario.start).total_seconds()
        b = (e["end"] - scenario.start).total_seconds()
        ka, kb = int(a // 60), int(b // 60)
        if ka + 1 < kb:
            assert not on[ka + 1 : kb].any()  # whole slots in the shadow produce nothing
        assert on[ka] == pytest.approx(a - 60 * ka, abs=1e-6)  # sunlit until the entry
        if kb < len(on):
            assert on[kb] == pytest.approx(60 * (kb + 1) - b, abs=1e-6)  # from the exit on


def test_subpoint_matches_skyfield(case) -> None:
    scenario, _, _ = case
    orbit = scenario.nodes[0].orbit
    t_s = np.arange(0.0, 6 * 3600.0, 137.0)
    lat, lon = subpoint_deg(positions_itrs([orbit.satrec], times_from(scenario.start, t_s)))
    ts = load_timescale()
    sat = EarthSatellite(orbit.line1, orbit.line2, ts=ts)
    when = ts.from_datetimes([scenario.start + timedelta(seconds=float(s)) for s in t_s])
    ref_lat, ref_lon = wgs84.latlon_of(sat.at(when))
    assert np.abs(lat[0] - ref_lat.degrees).max() < 1e-4
    dlon = np.mod(lon[0] - ref_lon.degrees + 180.0, 360.0) - 180.0
    assert np.abs(dlon).max() < 1e-4


def skyfield_box_share(
    scenario, box: tuple[float, float, float, float], sunlit: bool, eph=None
) -> np.ndarray:
    """Share of the slot sub-step midpoints with the skyfield sub-point inside ``box``."""
    orbit = scenario.nodes[0].orbit
    n_sub = int(np.ceil(60.0 / BOX_SAMPLE_S))
    t_s = (np.arange(360)[:, None] * 60.0 + (np.arange(n_sub) + 0.5) * 60.0 / n_sub).ravel()
    ts = load_timescale()
    sat = EarthSatellite(orbit.line1, orbit.line2, ts=ts)
    when = ts.from_datetimes([scenario.start + timedelta(seconds=float(s)) for s in t_s])
    position = sat.at(when)
    lat, lon = wgs84.latlon_of(position)
    la, lo = lat.degrees, lon.degrees
    inside = (la >= box[0]) & (la <= box[1]) & (np.mod(lo - box[2], 360.0) <= box[3] - box[2])
    if sunlit:
        inside &= position.is_sunlit(eph)
    return inside.reshape(360, n_sub).mean(axis=1)


def test_box_activity_matches_skyfield_subpoints(case) -> None:
    from rsmodel.geometry.frames import load_ephemeris

    scenario, _, prod = case
    europe = active_s(prod, "eo-01/europe") / 60.0
    ref = skyfield_box_share(scenario, (35.0, 70.0, -10.0, 40.0), False)
    assert europe.sum() > 3 and np.array_equal(europe, ref)
    pacific = active_s(prod, "eo-01/pacific") / 60.0
    ref = skyfield_box_share(scenario, (-40.0, 40.0, 160.0, 230.0), True, load_ephemeris())
    assert pacific.sum() > 3 and np.abs(pacific - ref).max() <= 1.0 / 4 + 1e-12
    # sunlit judged on the exact eclipse edges, not skyfield's: at most one sub-step apart,
    # only in slots at a shadow edge
    assert np.count_nonzero(pacific != ref) <= 2
