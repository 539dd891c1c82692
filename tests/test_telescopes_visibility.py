"""Telescope visibility rules (altitude limit, sunlit satellite, dark site) on shipped
observatory sites, checked against skyfield's own altaz / is_sunlit."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import skyfield_data
from skyfield.api import EarthSatellite, Loader, Star, load, wgs84

from rsmodel.model.loader import load_model
from rsmodel.model.telescope_network import resolve_network
from rsmodel.telescopes.visibility import visibility_windows

MODEL = Path(__file__).resolve().parents[1] / "models" / "telescopes.yaml"
SAT_PROBE_S = 3.0  # windows are refined to 0.5 s; probe this far inside / outside each edge
# Stars: skyfield's altaz needs an apparent position (annual aberration, up to 20.5 arcsec) while
# rsmodel uses the geometric direction; a slowly rising star takes a few seconds for that.
STAR_PROBE_S = 15.0


@pytest.fixture(scope="module")
def sky():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = load.timescale(builtin=True)
        eph = Loader(skyfield_data.get_skyfield_data_path(), verbose=False)("de421.bsp")
    return ts, eph


@pytest.fixture(scope="module")
def network():
    net = resolve_network(load_model(MODEL))
    return net, visibility_windows(net)


def observable(net, sky, target: int, telescope: int, offsets_s: np.ndarray) -> np.ndarray:
    """The telescope rules evaluated with skyfield only (geometric positions, no refraction)."""
    ts, eph = sky
    tel, tgt = net.telescopes[telescope], net.targets[target]
    times = [net.start + timedelta(seconds=float(s)) for s in offsets_s]
    t = ts.from_datetimes(times)
    topos = wgs84.latlon(tel.lat_deg, tel.lon_deg, elevation_m=tel.alt_m)
    sun_alt = (eph["sun"] - (eph["earth"] + topos)).at(t).altaz()[0].degrees
    dark = sun_alt <= net.settings.sun_altitude_max_deg
    if tgt.orbit is not None:
        sat = EarthSatellite(tgt.orbit.line1, tgt.orbit.line2, ts=ts)
        alt = (sat - topos).at(t).altaz()[0].degrees
        lit = sat.at(t).is_sunlit(eph)
        return (alt >= tel.altitude_limit_deg) & dark & lit
    star = Star(ra_hours=tgt.ra_deg / 15.0, dec_degrees=tgt.dec_deg)
    alt = (eph["earth"] + topos).at(t).observe(star).apparent().altaz()[0].degrees
    return (alt >= tel.altitude_limit_deg) & dark


def test_shipped_model_has_a_real_network(network):
    net, windows = network
    assert len({t.observatory for t in net.telescopes}) >= 8
    assert len(net.ssa) >= 20 and len(net.deep_sky) >= 1 and len(net.too) == 2
    assert {net.targets[w.target].is_satellite for w in windows} == {True, False}


def test_every_window_obeys_the_rules_inside_and_breaks_them_just_outside(network, sky):
    net, windows = network
    for w in windows:
        probe = SAT_PROBE_S if net.targets[w.target].is_satellite else STAR_PROBE_S
        inside = np.array([w.start_s + probe, 0.5 * (w.start_s + w.end_s), w.end_s - probe])
        inside = inside[(inside >= w.start_s) & (inside <= w.end_s)]
        assert observable(net, sky, w.target, w.telescope, inside).all(), w
        edges = ((w.start_s - probe, w.start_s <= 0), (w.end_s + probe, w.end_s >= net.duration_s))
        outside = [s for s, clipped in edges if not clipped]
        assert not observable(net, sky, w.target, w.telescope, np.array(outside)).any(), w


@pytest.mark.parametrize("kind", ["satellite", "star"])
def test_no_observable_time_is_missed(network, sky, kind):
    """Brute force with skyfield every 20 s over the day for the busiest pairs: every
    observable sample lies inside a window (or within the refinement tolerance of one)."""
    net, windows = network
    pairs: dict[tuple[int, int], int] = {}
    for w in windows:
        if net.targets[w.target].is_satellite == (kind == "satellite"):
            pairs[w.target, w.telescope] = pairs.get((w.target, w.telescope), 0) + 1
    busiest = sorted(pairs, key=lambda p: (-pairs[p], p))[:3]
    grid = np.arange(0.0, net.duration_s, 20.0)
    for target, telescope in busiest:
        seen = observable(net, sky, target, telescope, grid)
        mine = [w for w in windows if (w.target, w.telescope) == (target, telescope)]
        covered = np.zeros(len(grid), bool)
        for w in mine:
            slack = SAT_PROBE_S if kind == "satellite" else STAR_PROBE_S
            covered |= (grid >= w.start_s - slack) & (grid <= w.end_s + slack)
        assert seen.any()
        assert not (seen & ~covered).any(), (
            net.targets[target].name,
            net.telescopes[telescope].name,
        )
