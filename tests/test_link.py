"""Link models: geometry, link budget terms and attenuation against independent references;
rate tables, terrain masks and bands in the windows; per-slot capacity in the optimiser."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from skyfield.api import EarthSatellite, wgs84

from rsmodel.errors import ModelError
from rsmodel.geometry import compute_geometry
from rsmodel.geometry.blocks import scan_by_block
from rsmodel.geometry.frames import load_timescale
from rsmodel.geometry.link import (
    PROFILE_STEP_S,
    attenuation_db,
    cn0_dbhz,
    dvbs2_ladder,
    free_space_loss_db,
    interpolated_attenuation_db,
    link_rate_bps,
    look_angles,
)
from rsmodel.geometry.scan import scan
from rsmodel.model.loader import load_model, load_model_text
from rsmodel.model.radios import pair_radio
from rsmodel.optimize import optimise
from rsmodel.plan.check import check_plan

BASE = """\
name: link
horizon: {start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}
ground_stations:
  - name: svalbard
    lat_deg: 78.23
    lon_deg: 15.41
    alt_m: 500
    bandwidth_bps: 1.0e8
STATION_EXTRA
nodes:
  - name: noaa20
    tle: {norad: 43013}
NODE_EXTRA
"""


def model(station_extra: str = "", node_extra: str = "", syncs: str = "") -> str:
    return (
        BASE.replace("STATION_EXTRA\n", station_extra).replace("NODE_EXTRA\n", node_extra) + syncs
    )


def skyfield_pass(scenario, station_index: int, node_index: int, altitude_deg: float):
    """Rise/set times (aware datetimes) of every pass above ``altitude_deg`` (skyfield)."""
    ts = load_timescale()
    node, st = scenario.nodes[node_index], scenario.stations[station_index]
    sat = EarthSatellite(node.orbit.line1, node.orbit.line2, ts=ts)
    site = wgs84.latlon(st.lat_deg, st.lon_deg, st.alt_m)
    t, kind = sat.find_events(
        site, ts.from_datetime(scenario.start), ts.from_datetime(scenario.end), altitude_deg
    )
    rises = [ti.utc_datetime() for ti, k in zip(t, kind, strict=True) if k == 0]
    sets = [ti.utc_datetime() for ti, k in zip(t, kind, strict=True) if k == 2]
    return sat, site, rises, sets


# --------------------------------------------------------------------------- references
def test_slant_range_and_elevation_match_skyfield() -> None:
    scenario = load_model_text(model())
    sat, site, _, _ = skyfield_pass(scenario, 0, 0, 0.0)
    t_s = np.arange(0.0, 12 * 3600.0, 317.0)
    el, range_km = look_angles(
        scenario.nodes, np.zeros(len(t_s), int), scenario.stations, np.zeros(len(t_s), int),
        scenario.start, t_s,
    )  # fmt: skip
    ts = load_timescale()
    when = ts.from_datetimes([scenario.start + timedelta(seconds=float(s)) for s in t_s])
    alt, _, distance = (sat - site).at(when).altaz()
    assert np.max(np.abs(el - alt.degrees)) < 0.01
    assert np.max(np.abs(range_km - distance.km)) < 0.05


@pytest.mark.parametrize("block_s", [None, 4 * 3600.0])
def test_rate_profile_positions_reused_from_the_scan_match_skyfield(block_s) -> None:
    """Rate profiles look nodes up in the positions the window scan computed (interpolated
    between its 60 s samples), whole horizon or block by block: still skyfield's geometry."""
    scenario = load_model_text(model(RATE_TABLE))
    sat, site, _, _ = skyfield_pass(scenario, 0, 0, 0.0)
    args = (scenario.nodes, scenario.stations, scenario.start, scenario.end, scenario.step_s)
    found = scan(*args, dense=True) if block_s is None else scan_by_block(*args, block_s)
    assert found.samples is not None and len(found.contacts.row)
    windows = zip(found.contacts.start_s, found.contacts.end_s, strict=True)
    t_s = np.concatenate([np.arange(a, b, 7.0) for a, b in windows])
    _, known = found.samples.at(np.zeros(len(t_s), int), t_s)
    assert known.mean() > 0.95  # the rest is propagated
    zero = np.zeros(len(t_s), int)
    el, range_km = look_angles(
        scenario.nodes, zero, scenario.stations, zero, scenario.start, t_s, found.samples
    )
    ts = load_timescale()
    when = ts.from_datetimes([scenario.start + timedelta(seconds=float(s)) for s in t_s])
    alt, _, distance = (sat - site).at(when).altaz()
    assert np.max(np.abs(el - alt.degrees)) < 0.01
    assert np.max(np.abs(range_km - distance.km)) < 0.05


def test_free_space_loss_matches_itu_r_p525() -> None:
    # ITU-R P.525-4, eq. (4): Lbf = 32.4 + 20 log f(MHz) + 20 log d(km); 32.45 unrounded.
    for f_mhz, d_km in [(2200.0, 1400.0), (8200.0, 500.0), (8200.0, 1700.0), (26000.0, 2500.0)]:
        expected = 32.45 + 20 * math.log10(f_mhz) + 20 * math.log10(d_km)
        assert free_space_loss_db(d_km * 1e3, f_mhz * 1e6) == pytest.approx(expected, abs=0.01)
    # The LEO example: 500 km at zenith vs ~1,700 km at 10 deg is ~10.6 dB more loss.
    assert free_space_loss_db(1700e3, 8.2e9) - free_space_loss_db(500e3, 8.2e9) == pytest.approx(
        10.63, abs=0.01
    )


def test_cn0_matches_a_published_link_budget() -> None:
    # Table 1 (primary user link budget, QPSK FEC 1/2) of Vanelli-Coralli et al., "On the
    # feasibility of a secondary service transmission over an existent satellite infrastructure",
    # EURASIP J. Wireless Comm. and Networking (2020) 2020:40, doi:10.1186/s13638-020-01674-9:
    # 2200 MHz, EIRP 38.3 dBm, free-space loss 162.2 dB, depointing loss 10 dB, 5 m dish of
    # 38.2 dBi, system noise temperature 130 K -> C/N0 = 81.8 dBHz.
    gt_dbk = 38.2 - 10 * math.log10(130.0)
    assert cn0_dbhz(38.3 - 30.0, 162.2 + 10.0, gt_dbk) == pytest.approx(81.8, abs=0.05)


# ITU-R validation examples for P.618-13 as shipped with ITU-Rpy's tests
# (test/test_data/618/ITURP618-13_A_total.csv): lat, lon, hs (km), f (GHz), el (deg), D (m),
# eta, tau (deg), p (%), total attenuation (dB).
ITU_VALIDATION = [
    (51.5, -0.14, 0.031382984, 14.25, 31.07699124, 1, 0.65, 0, 1, 1.212790721),
    (41.9, 12.49, 0.046122988, 29, 40.232036, 1, 0.65, 0, 0.1, 12.47579603),
    (3.133, 101.7, 0.051251456, 14.25, 85.80459566, 1, 0.65, 90, 0.01, 22.43075823),
    (22.9, -43.23, 0, 29, 22.27833468, 1, 0.65, 0, 1, 10.59851911),
]


@pytest.mark.parametrize("row", ITU_VALIDATION)
def test_attenuation_matches_itu_r_validation_examples(row) -> None:
    lat, lon, hs_km, f_ghz, el, d_m, eta, tau, p_pct, total_db = row
    got = attenuation_db(
        lat, lon, hs_km * 1e3, f_ghz * 1e9, [el], 100.0 - p_pct, d_m,
        antenna_efficiency=eta, polarization_tilt_deg=tau,
    )  # fmt: skip
    assert got[0] == pytest.approx(total_db, rel=1e-3)


def test_shipped_dvbs2_ladder_is_the_standard_without_dominated_modcods() -> None:
    ladder = dvbs2_ladder()
    assert ladder.names[0] == "QPSK 1/4" and ladder.names[-1] == "32APSK 9/10"
    assert "QPSK 8/9" not in ladder.names and "8PSK 5/6" not in ladder.names
    assert np.all(np.diff(ladder.esn0_db) > 0) and np.all(np.diff(ladder.efficiency) > 0)
    # 8PSK 3/5 needs 5.50 dB for 1.779991 bit/symbol (EN 302 307-1 Table 13)
    rate = ladder.rate_bps(np.array([5.49, 5.50, 40.0]), np.array([1e6] * 3), 0.0)
    assert rate[1] == pytest.approx(1.779991e6) and rate[0] < rate[1]
    assert rate[2] == pytest.approx(4.453027e6)


# --------------------------------------------------------------------------- windows
RATE_TABLE = """\
    link: {rate_table: [{elevation_deg: 10, rate_bps: 1.0e6}, {elevation_deg: 60, rate_bps: 1.0e7}]}
"""


def test_low_pass_gets_the_table_rate_high_pass_the_time_above_each_step() -> None:
    scenario = load_model_text(model(RATE_TABLE))
    geo = compute_geometry(scenario)
    _, _, rises40, sets40 = skyfield_pass(scenario, 0, 0, 60.0)
    assert len(rises40) >= 1  # at least one pass culminates above 60 deg
    for w in geo.windows.itertuples():
        above = [
            (max(r, w.start), min(s, w.end))
            for r, s in zip(rises40, sets40, strict=False)
            if r < w.end and s > w.start
        ]
        t_high = sum((b - a).total_seconds() for a, b in above)
        # capacity = 1 Mbps below 60 deg, 10 Mbps above; the profile is linear between its
        # samples, so each of the two steps is smeared over at most one sample interval
        expected = (1e6 * (w.duration_s - t_high) + 1e7 * t_high) / 8.0
        assert w.capacity_bytes == pytest.approx(expected, abs=(1e7 - 1e6) / 8 * PROFILE_STEP_S)
        if w.max_elevation_deg < 60:
            assert w.capacity_bytes == pytest.approx(1e6 / 8 * w.duration_s, rel=1e-9)
            assert w.min_rate_bps == w.mean_rate_bps == w.max_rate_bps == 1e6  # exactly
        else:
            assert w.max_rate_bps == 1e7 and w.bandwidth_bps == 1e7


def test_link_budget_gives_less_capacity_to_a_low_pass_per_second() -> None:
    budget = """\
    bands: [{band: X, gt_dbk: 31.0}]
    link: {budget: {fixed_losses_db: 3.0, availability_pct: 99.0}}
"""
    tx = """\
    transmitters: [{band: X, frequency_hz: 8.2e9, eirp_dbw: 7.0, symbol_rate_baud: 5.0e7}]
"""
    geo = compute_geometry(load_model_text(model(budget, tx)))
    w = geo.windows.sort_values("max_elevation_deg")
    low, high = w.iloc[0], w.iloc[-1]
    assert low.max_elevation_deg < 55 < 75 < high.max_elevation_deg
    assert low.mean_rate_bps < high.mean_rate_bps
    assert high.min_rate_bps < high.max_rate_bps  # ACM changes the rate within the pass
    assert (w["band"] == "X").all()
    rate = geo.grid["rate_bps"].sel(node="noaa20", station="svalbard").values
    visible = geo.grid["visible"].sel(node="noaa20", station="svalbard").values
    assert (rate[~visible] == 0).all() and (rate[visible] > 0).all()


def test_terrain_mask_moves_aos_los_to_the_hand_computed_crossing() -> None:
    flat = load_model_text(model("    terrain_mask: [[0, 25], [180, 25]]\n"))
    geo = compute_geometry(flat)
    _, _, rises, sets = skyfield_pass(flat, 0, 0, 25.0)
    got = geo.windows
    assert len(got) == len(rises)
    sat, site, _, _ = skyfield_pass(flat, 0, 0, 0.0)
    ts = load_timescale()
    for w, r, s in zip(got.itertuples(), rises, sets, strict=True):
        # skyfield's find_events is ~0.5 s coarse; its altitude at our edges is exact
        assert abs((w.start - r).total_seconds()) < 1.0
        assert abs((w.end - s).total_seconds()) < 1.0
        for edge in (w.start, w.end):
            alt, _, _ = (sat - site).at(ts.from_datetime(edge.to_pydatetime(warn=False))).altaz()
            assert alt.degrees == pytest.approx(25.0, abs=0.01)
    # A mask rising linearly from 0 deg at north to 40 deg at south (and back): at AOS/LOS
    # the elevation equals the mask interpolated at the node's azimuth, by hand.
    sloped = load_model_text(model("    terrain_mask: [[0, 0], [180, 40]]\n"))
    sat, site, _, _ = skyfield_pass(sloped, 0, 0, 0.0)
    for w in compute_geometry(sloped).windows.itertuples():
        for edge in (w.start, w.end):
            alt, az, _ = (sat - site).at(ts.from_datetime(edge.to_pydatetime(warn=False))).altaz()
            a = az.degrees
            mask = 40 * (a / 180 if a <= 180 else (360 - a) / 180)
            assert alt.degrees == pytest.approx(max(mask, 10.0), abs=0.01)


def test_incompatible_bands_give_no_windows_and_a_warning_naming_the_pair() -> None:
    text = model(
        "    bands: [{band: X}]\n",
        "    transmitters: [{band: S}]\n  - name: metop\n    tle: {norad: 38771}\n"
        "    transmitters: [{band: X}]\n",
    )
    scenario = load_model_text(text)
    assert any("noaa20 / svalbard" in w for w in scenario.warnings)
    windows = compute_geometry(scenario).windows
    assert len(windows) and set(windows["node"]) == {"metop"}
    assert (windows["band"] == "X").all()


def test_each_window_carries_the_integral_of_its_documented_rate_profile() -> None:
    """The vectorised profiles of many windows (two link-budget stations, one with setup time,
    and a constant-rate one; two nodes) equal a plain window-by-window computation of
    docs/links.md: the rate at AOS, at every PROFILE_STEP_S-aligned instant and at LOS, linear
    in between; capacity its integral after setup_s."""
    budget = "    bands: [{band: X, gt_dbk: GT}]\n    link: {budget: {availability_pct: 99.0}}\n"
    text = (
        model(budget.replace("GT", "31.0"), "    transmitters: &tx [{band: X, frequency_hz: "
              "8.2e9, eirp_dbw: 7.0, symbol_rate_baud: 5.0e7}]\n"
              "  - name: metop\n    tle: {norad: 38771}\n    transmitters: *tx\n")
        .replace("nodes:", "  - {name: kiruna, lat_deg: 67.86, lon_deg: 20.96, alt_m: 400, "
                 "bandwidth_bps: 2.0e8, setup_s: 45,\n     bands: [{band: X, gt_dbk: 27.0}], "
                 "link: {budget: {availability_pct: 99.0}}}\n"
                 "  - {name: inuvik, lat_deg: 68.32, lon_deg: -133.6, alt_m: 90, "
                 "bandwidth_bps: 5.0e7}\nnodes:")
    )  # fmt: skip
    scenario = load_model_text(text)
    geo = compute_geometry(scenario)
    args = (scenario.nodes, scenario.stations, scenario.start, scenario.end, scenario.step_s)
    samples = scan(*args, dense=False).samples
    nodes = [n.name for n in scenario.nodes]
    stations = {s.name: s for s in scenario.stations}
    seen = set()
    for w in geo.windows.itertuples():
        station = stations[w.station]
        seen.add((w.node, w.station))
        if station.link is None:
            assert w.profile_t_s is None and w.min_rate_bps == w.max_rate_bps
            assert w.capacity_bytes == pytest.approx(5.0e7 / 8 * w.duration_s, rel=1e-12)
            continue
        w0 = (w.start - scenario.start).total_seconds()
        inner = np.arange(
            math.floor(w0 / PROFILE_STEP_S) + 1, w0 / PROFILE_STEP_S + w.duration_s / PROFILE_STEP_S
        )
        t = np.r_[w0, inner * PROFILE_STEP_S, w0 + w.duration_s]
        node = np.full(len(t), nodes.index(w.node))
        site = np.full(len(t), list(stations).index(w.station))
        el, range_km = look_angles(
            scenario.nodes, node, scenario.stations, site, scenario.start, t, samples
        )
        el[[0, -1]] = np.maximum(el[[0, -1]], station.elevation_min_deg)
        radio = pair_radio(scenario.nodes[node[0]], station)
        rate = link_rate_bps(station, radio, el, range_km)
        np.testing.assert_allclose(w.profile_t_s, t - w0, rtol=0, atol=1e-6)
        np.testing.assert_allclose(w.profile_rate_bps, rate, rtol=1e-12)
        fine = np.linspace(station.setup_s, w.duration_s, 20001)
        usable = np.trapezoid(np.interp(fine, t - w0, rate), fine)
        assert w.capacity_bytes * 8 == pytest.approx(usable, rel=1e-6)
        assert w.mean_rate_bps * w.duration_s == pytest.approx(np.trapezoid(rate, t - w0))
        assert w.min_rate_bps == rate.min() and w.max_rate_bps == w.bandwidth_bps == rate.max()
    assert len(seen) == 6  # every node at every station


# --------------------------------------------------------------------------- optimiser
def test_optimiser_uses_the_per_slot_capacity_of_the_rate_profile() -> None:
    syncs = "syncs:\n  - {id: big, node: noaa20, data_size: 1.0e12}\n"
    scenario = load_model_text(model(RATE_TABLE, syncs=syncs))
    geo = compute_geometry(scenario)
    schedule = optimise(scenario, geo)
    assert check_plan(schedule.plan_dict()) == []
    delivered = schedule.outcomes["big"].delivered_bytes
    # the demand exceeds every window: the plan delivers the profiles' integrals, not
    # bandwidth_bps (the 10 Mbps peak) times the contact time
    assert delivered == pytest.approx(geo.windows["capacity_bytes"].sum(), rel=1e-6)
    peak = (geo.windows["bandwidth_bps"] / 8 * geo.windows["duration_s"]).sum()
    assert delivered < 0.9 * peak
    # the checker bounds a varying-rate operation by the window's lowest and highest rate
    plan = schedule.plan_dict()
    plan["operations"][0]["bytes"] *= 10.0
    assert any(p.startswith("rate: operations[0]") for p in check_plan(plan))


# --------------------------------------------------------------------------- bad input
BAD = {
    "unknown_band": (model("    bands: [{band: Q}]\n"), "ground_stations[0].bands[0].band"),
    "mask_unsorted": (
        model("    terrain_mask: [[0, 5], [200, 10], [100, 3]]\n"),
        "ground_stations[0].terrain_mask[2]",
    ),
    "mask_out_of_range": (
        model("    terrain_mask: [[0, 5], [360, 10]]\n"),
        "ground_stations[0].terrain_mask[1]",
    ),
    "modcod_not_increasing": (
        model(
            "    bands: [{band: X, gt_dbk: 30}]\n    link: {budget: {modcods: ["
            "{name: a, esn0_db: 1, efficiency_bits_per_symbol: 1.0}, "
            "{name: b, esn0_db: 3, efficiency_bits_per_symbol: 0.9}]}}\n"
        ),
        "ground_stations[0].link.budget.modcods[1]",
    ),
    "zero_frequency": (
        model("", "    transmitters: [{band: X, frequency_hz: 0}]\n"),
        "nodes[0].transmitters[0].frequency_hz",
    ),
    "negative_symbol_rate": (
        model("", "    transmitters: [{band: X, symbol_rate_baud: -1.0e6}]\n"),
        "nodes[0].transmitters[0].symbol_rate_baud",
    ),
    "budget_without_eirp": (
        model(
            "    bands: [{band: X, gt_dbk: 30}]\n    link: {budget: {}}\n",
            "    transmitters: [{band: X, frequency_hz: 8.2e9, symbol_rate_baud: 1.0e7}]\n",
        ),
        "nodes[0].transmitters[0].eirp_dbw",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_link_input_is_one_line_with_file_line_field_exit_2(case, tmp_path: Path, cli):
    text, field = BAD[case]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    result = cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}:" in lines[0]
    assert lines[0].split(f"{path}:")[1].split(":")[0].isdigit()
    assert f" {field}:" in lines[0]


@pytest.mark.parametrize(
    ("rows", "line", "field", "says"),
    [
        ("0,5\n90,7\n45,9\n", 4, "azimuth_deg", "azimuths increasing"),
        ("0,5\n90,high\n", 3, "elevation_deg", "expected a number in degrees (got 'high')"),
        ("north,5\n", 2, "azimuth_deg", "(got 'north')"),
        ("0,5\n90,7,3\n", 3, None, "expected two numbers azimuth_deg,elevation_deg (got 3"),
    ],
)
def test_bad_terrain_mask_file_names_its_own_line(rows, line, field, says, tmp_path) -> None:
    mask = tmp_path / "mask.csv"
    mask.write_text("azimuth_deg,elevation_deg\n" + rows)
    path = tmp_path / "m.yaml"
    path.write_text(model("    terrain_mask_file: mask.csv\n"))
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert info.value.file == str(mask) and info.value.line == line
    assert info.value.field == field and says in str(info.value)


def test_interpolated_attenuation_table_matches_itur_between_its_points() -> None:
    el = np.array([5.5, 7.3, 11.0, 18.5, 21.2, 33.0, 47.0, 66.0, 85.5, 87.5, 89.2])
    for lat, lon, f_hz in [(78.23, 15.4, 8.2e9), (1.3, 103.8, 26e9), (40.4, -4.2, 2.2e9)]:
        direct = attenuation_db(lat, lon, 100.0, f_hz, el, 99.9, 3.7)
        table = interpolated_attenuation_db(lat, lon, 100.0, f_hz, el, 99.9, 3.7)
        np.testing.assert_allclose(table, direct, rtol=0.02)


# --------------------------------------------------------------------------- studies
def test_study_variants_share_a_geometry_only_when_masks_and_links_agree() -> None:
    """A what-if study reuses one geometry per key: a variant with another terrain mask or link
    model must not get the first variant's windows, and re-binding the shared geometry to a
    variant must keep a link model's rate profiles (not reset them to the constant rate)."""
    from rsmodel.studies.geocache import geometry_key, rebind

    plain = load_model_text(model())
    masked = load_model_text(model("    terrain_mask: [[0, 25], [180, 25]]\n"))
    linked = load_model_text(model(RATE_TABLE))
    keys = {geometry_key(s) for s in (plain, masked, linked)}
    assert len(keys) == 3
    assert geometry_key(load_model_text(model(RATE_TABLE))) == geometry_key(linked)

    geo = compute_geometry(linked)
    rebound = rebind(geo, linked)
    assert rebound.windows["capacity_bytes"].tolist() == geo.windows["capacity_bytes"].tolist()
    assert (rebound.windows["bandwidth_bps"] <= 1.0e7).all()  # the table's top rate, not 1e8
