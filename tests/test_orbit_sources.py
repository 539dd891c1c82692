"""Orbit sources: CCSDS OEM ephemerides (KVN and XML) and imported view periods.

References are independent of the code under test: the message's own states (held out of the
interpolation), skyfield's ``EarthSatellite`` for OEMs written from a TLE (positions in ITRS),
and the imported file itself (its rows must come back verbatim).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skyfield.api import EarthSatellite
from skyfield.framelib import itrs

from rsmodel.errors import ModelError
from rsmodel.geometry import compute_geometry, compute_geometry_for
from rsmodel.geometry.ephemeris import ephemeris_itrs, interpolate
from rsmodel.geometry.frames import times_from
from rsmodel.model.catalogs import find_tle, read_tle_file
from rsmodel.model.loader import load_model
from rsmodel.model.oem import read_oem
from rsmodel.model.orbits import Orbit
from rsmodel.timeutil import load_timescale
from tests.conftest import DATA, MODELS
from tools.oem_from_tle import states, write_oem

OEM_KVN = DATA / "oem" / "noaa20.oem"
OEM_XML = DATA / "oem" / "noaa20.xml"
START = datetime(2026, 5, 30, tzinfo=UTC)


def noaa20() -> tuple[Orbit, EarthSatellite]:
    rec = find_tle(read_tle_file(DATA / "leo_snapshot.tle"), norad=43013)
    assert rec is not None
    return Orbit.from_tle(rec.line1, rec.line2), EarthSatellite(
        rec.line1, rec.line2, ts=load_timescale()
    )


def skyfield_itrs_km(sat: EarthSatellite, offsets_s: np.ndarray) -> np.ndarray:
    return sat.at(times_from(START, offsets_s)).frame_xyz(itrs).km.T


# --------------------------------------------------------------------------- interpolation
def data_lines(text: str) -> list[int]:
    return [i for i, ln in enumerate(text.splitlines()) if ln[:2] == "20" and len(ln.split()) == 7]


@pytest.mark.parametrize(
    ("method", "degree", "tol_m", "tol_mm_s"),
    [("LAGRANGE", 7, 0.05, 1.0), ("HERMITE", 7, 1.0, 50.0)],
)
def test_interpolation_reproduces_held_out_states(
    tmp_path: Path, method: str, degree: int, tol_m: float, tol_mm_s: float
) -> None:
    """Every other state removed, the rest interpolated as the message says (120 s spacing):
    the removed states come back to centimetres. Hermite also fits the velocities, and SGP4's
    differ from the derivative of its positions by mm/s, so on SGP4 samples it is a little
    worse (under a metre where its 4-state window is one-sided, at the segment's ends)."""
    lines = OEM_KVN.read_text().splitlines()
    rows = data_lines(OEM_KVN.read_text())
    held = rows[1:-1:2]
    kept = [ln for i, ln in enumerate(lines) if i not in set(held)]
    text = "\n".join(kept) + "\n"
    text = text.replace("INTERPOLATION = LAGRANGE", f"INTERPOLATION = {method}")
    text = text.replace("INTERPOLATION_DEGREE = 7", f"INTERPOLATION_DEGREE = {degree}")
    path = tmp_path / "thinned.oem"
    path.write_text(text)
    seg = read_oem(path).segments[0]
    assert (seg.interpolation, seg.degree) == (method, degree)
    full = read_oem(OEM_KVN).segments[0]
    held_index = np.array(held) - rows[0]
    r, v = interpolate(seg, full.t_s[held_index])
    err_m = np.linalg.norm(r - full.pos_km[held_index], axis=1) * 1e3
    verr_mm_s = np.linalg.norm(v - full.vel_km_s[held_index], axis=1) * 1e6
    assert err_m.max() < tol_m
    assert np.median(err_m) < 0.05
    assert verr_mm_s.max() < tol_mm_s
    # At the kept epochs the interpolation is the message itself.
    r0, _ = interpolate(seg, seg.t_s)
    assert np.abs(r0 - seg.pos_km).max() < 1e-9


@pytest.mark.parametrize(
    ("method", "degree", "tol_m", "tol_mm_s"),
    [("LAGRANGE", 7, 0.02, 0.02), ("LAGRANGE", 9, 1e-3, 1e-3), ("HERMITE", 7, 1e-4, 1e-3)],
)
def test_interpolation_of_a_two_body_orbit(
    method: str, degree: int, tol_m: float, tol_mm_s: float
) -> None:
    """Exact circular-orbit states every 120 s (positions and velocities consistent): the
    interpolants converge as their degree says (Hermite 7 on 4 states beats Lagrange 7 on 8)."""
    from rsmodel.model.oem import EphemerisSegment

    radius_km, mu = 7000.0, 398600.4418
    omega = np.sqrt(mu / radius_km**3)

    def state(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.cos(omega * t), np.sin(omega * t)
        zero = np.zeros_like(t)
        return (
            radius_km * np.stack([c, s, zero], axis=1),
            radius_km * omega * np.stack([-s, c, zero], axis=1),
        )

    t = np.arange(0.0, 6000.0, 120.0)
    seg = EphemerisSegment("TEME", method, degree, t, *state(t), 0.0, float(t[-1]))
    query = np.arange(1.0, t[-1], 37.0)
    r, v = interpolate(seg, query)
    r_ref, v_ref = state(query)
    assert np.linalg.norm(r - r_ref, axis=1).max() * 1e3 < tol_m
    assert np.linalg.norm(v - v_ref, axis=1).max() * 1e6 < tol_mm_s


@pytest.mark.parametrize("frame", ["EME2000", "GCRF", "TEME", "ITRF"])
def test_oem_written_from_a_tle_matches_skyfield_sub_metre(tmp_path: Path, frame: str) -> None:
    """An OEM of NOAA 20 at 60 s in each frame, read back and interpolated between its epochs:
    ITRS positions within a centimetre of skyfield's own SGP4 for the TLE, over a day."""
    orbit, sat = noaa20()
    epochs, r, v = states(orbit, START - timedelta(hours=1), 26.0, 60.0, frame)
    path = tmp_path / f"noaa20_{frame}.oem"
    write_oem(path, "NOAA 20", "43013", epochs, r, v, frame, 7, "kvn")
    eph = read_oem(path)
    offsets = np.arange(0.0, 86400.0, 17.3)  # off the 60 s epochs
    pos, _ = ephemeris_itrs(eph, times_from(START, offsets))
    err_m = np.linalg.norm(pos - skyfield_itrs_km(sat, offsets), axis=1) * 1e3
    assert err_m.max() < 0.01  # sub-metre with margin: measured 0.14 mm


def test_shipped_kvn_and_xml_are_the_same_ephemeris_and_match_skyfield() -> None:
    kvn, xml = read_oem(OEM_KVN), read_oem(OEM_XML)
    assert np.array_equal(kvn.segments[0].t_s, xml.segments[0].t_s)
    assert np.array_equal(kvn.segments[0].pos_km, xml.segments[0].pos_km)
    _, sat = noaa20()
    offsets = np.arange(0.0, 86400.0, 23.9)
    pos, _ = ephemeris_itrs(xml, times_from(START, offsets))
    assert np.linalg.norm(pos - skyfield_itrs_km(sat, offsets), axis=1).max() * 1e3 < 0.01


@pytest.mark.parametrize("system", ["TAI", "TT", "GPS"])
def test_time_systems_shift_epochs_to_the_same_instants(tmp_path: Path, system: str) -> None:
    """The same states labelled in TAI/TT/GPS epochs (UTC + 37 s / + 69.184 s / + 18 s in 2026)
    describe the same orbit: positions agree with the UTC message."""
    offset = {"TAI": 37.0, "TT": 69.184, "GPS": 18.0}[system]
    orbit, sat = noaa20()
    epochs, r, v = states(orbit, START - timedelta(hours=1), 4.0, 60.0, "TEME")
    path = tmp_path / "shifted.oem"
    write_oem(
        path,
        "NOAA 20",
        "43013",
        [e + timedelta(seconds=offset) for e in epochs],
        r,
        v,
        "TEME",
        7,
        "kvn",
    )
    path.write_text(path.read_text().replace("TIME_SYSTEM = UTC", f"TIME_SYSTEM = {system}"))
    offsets = np.arange(0.0, 7200.0, 31.0)
    pos, _ = ephemeris_itrs(read_oem(path), times_from(START, offsets))
    assert np.linalg.norm(pos - skyfield_itrs_km(sat, offsets), axis=1).max() * 1e3 < 0.01


# --------------------------------------------------------------------------- models
def test_mixed_model_plans_oem_tle_elements_and_imported_nodes(tmp_path: Path, cli) -> None:
    """models/oem_mixed.yaml end to end through the CLI: every sync accounted for, the OEM
    node's windows are those of its TLE's SGP4 geometry (to a second), the orbit-less node's
    windows are its imported ones."""
    out = tmp_path / "out"
    res = cli("run", str(MODELS / "oem_mixed.yaml"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    plan = json.loads((out / "plan.json").read_text())
    assert {s["id"]: s["status"] for s in plan["syncs"]}.keys() == {
        "oem-1",
        "oem-2",
        "tle-1",
        "el-1",
        "relay-1",
        "relay-2",
    }
    assert any(op["node"] == "noaa-20" for op in plan["operations"])
    assert any(op["node"] == "geo-relay" for op in plan["operations"])
    relay = [w for w in plan["windows"] if w["node"] == "geo-relay"]
    assert [(w["start"], w["end"]) for w in relay] == [
        ("2026-05-30T00:30:00Z", "2026-05-30T07:30:00Z"),
        ("2026-05-30T12:30:00Z", "2026-05-30T19:30:00Z"),
    ]
    assert not any(e["node"] == "geo-relay" for e in plan["eclipses"])
    # The OEM was written from the same TLE: its passes are the SGP4 node's passes.
    scenario = load_model(MODELS / "oem_mixed.yaml")
    tle_node = replace(scenario.node("noaa-20"), orbit=noaa20()[0])
    ref = compute_geometry_for([tle_node], scenario.stations, scenario.start, scenario.end, 60.0)
    oem_windows = [w for w in plan["windows"] if w["node"] == "noaa-20"]
    assert len(oem_windows) == len(ref.windows) > 5
    starts = pd.to_datetime([w["start"] for w in oem_windows])
    assert np.abs((starts - pd.DatetimeIndex(ref.windows.start)).total_seconds()).max() < 1e-3
    oem_eclipses = [e for e in plan["eclipses"] if e["node"] == "noaa-20"]
    assert len(oem_eclipses) == len(ref.eclipses) > 5


VIEW_MODEL = """\
name: imported
horizon: {start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}
ground_stations:
  - {name: svalbard, station: svalsat, bandwidth_bps: 1.0e9, setup_s: 30}
  - {name: chile, station: santiago, bandwidth_bps: 5.0e8}
nodes:
  - {name: sat-21, tle: {file: DATA/leo_snapshot.tle, norad: 54234}}
  - {name: relay}
view_periods: PERIODS
syncs:
  - {node: sat-21, data_size: 1.0e9}
"""


def view_model(tmp_path: Path, periods: str, name: str = "periods.csv") -> Path:
    (tmp_path / name).write_text(periods)
    path = tmp_path / "model.yaml"
    path.write_text(VIEW_MODEL.replace("DATA/", f"{DATA}/").replace("PERIODS", name))
    return path


PERIODS_CSV = """\
node,station,start,end,tx_start,tx_end,max_elevation_deg,rate_bps
sat-21,svalbard,2026-05-30T03:00:00Z,2026-05-30T03:10:00Z,2026-05-30T03:01:00Z,2026-05-30T03:09:00Z,45,2.0e8
relay,chile,2026-05-29T23:00:00Z,2026-05-30T01:00:00Z,,,,
"""


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_imported_view_periods_are_used_verbatim(tmp_path: Path, fmt: str) -> None:
    """The imported pair (sat-21, svalbard) has exactly the file's window (transmit part, rate,
    elevation), none of the ~6 passes SGP4 finds there; the other pair is still computed."""
    text = PERIODS_CSV
    if fmt == "json":
        header, *rows = [ln.split(",") for ln in PERIODS_CSV.strip().splitlines()]
        text = json.dumps(
            [{k: v for k, v in zip(header, r, strict=True) if v} for r in rows], indent=1
        )
    scenario = load_model(view_model(tmp_path, text, f"periods.{fmt}"))
    geo = compute_geometry(scenario)
    w = geo.windows
    imported = w[(w.node == "sat-21") & (w.station == "svalbard")]
    assert len(imported) == 1
    row = imported.iloc[0]
    assert row.start.isoformat() == "2026-05-30T03:01:00+00:00"
    assert row.end.isoformat() == "2026-05-30T03:09:00+00:00"
    assert (row.max_elevation_deg, row.bandwidth_bps) == (45.0, 2.0e8)
    assert row.capacity_bytes == pytest.approx(2.0e8 / 8 * (480 - 30))
    computed = w[(w.node == "sat-21") & (w.station == "chile")]
    assert len(computed) >= 2 and not computed.max_elevation_deg.isna().any()
    relay = w[w.node == "relay"]
    assert len(relay) == 1 and bool(relay.iloc[0].start_clipped)
    assert relay.iloc[0].start.isoformat() == "2026-05-30T00:00:00+00:00"
    assert np.isnan(relay.iloc[0].max_elevation_deg)
    assert relay.iloc[0].bandwidth_bps == 5.0e8  # the station's rate
    # No geometry for imported pairs: NaN elevation, visible exactly inside the file's window.
    vis = geo.grid["visible"].sel(node="sat-21", station="svalbard")
    assert geo.grid["elevation_deg"].sel(node="sat-21", station="svalbard").isnull().all()
    on = vis.time[vis.values].values
    assert on.min() == np.datetime64("2026-05-30T03:01:00") and on.max() == np.datetime64(
        "2026-05-30T03:09:00"
    )
    assert geo.grid["sunlit"].sel(node="relay").all()
    assert list(w.id) == [f"w{i + 1:05d}" for i in range(len(w))]
    assert w.start.is_monotonic_increasing
    # Scanned in time blocks (large models), the windows are the same.
    blocked = compute_geometry(scenario, dense=False).windows
    pd.testing.assert_frame_equal(
        blocked.drop(columns=["start", "end", "tca"]),
        w.drop(columns=["start", "end", "tca"]),
        check_exact=False,
        atol=1e-3,
    )


# --------------------------------------------------------------------------- bad input
def oem_model(tmp_path: Path, oem_text: str, hours: float = 6) -> Path:
    (tmp_path / "x.oem").write_text(oem_text)
    path = tmp_path / "model.yaml"
    path.write_text(
        f"name: bad\nhorizon: {{start: 2026-05-30T00:00:00Z, hours: {hours}}}\n"
        "ground_stations: [{name: s, station: svalsat, bandwidth_bps: 1.0e9}]\n"
        "nodes:\n  - name: n\n    oem: {file: x.oem}\n"
    )
    return path


def shipped_kvn() -> str:
    return OEM_KVN.read_text()


def bad_oem(tmp_path: Path, text: str, hours: float = 6) -> tuple[str, list[str]]:
    with pytest.raises(ModelError) as info:
        load_model(oem_model(tmp_path, text, hours))
    return str(info.value), text.splitlines()


def test_unsorted_epochs_name_the_line(tmp_path: Path) -> None:
    lines = shipped_kvn().splitlines()
    rows = data_lines(shipped_kvn())
    lines[rows[10]], lines[rows[11]] = lines[rows[11]], lines[rows[10]]
    msg, _ = bad_oem(tmp_path, "\n".join(lines) + "\n")
    assert msg.startswith(f"{tmp_path / 'x.oem'}:{rows[11] + 1}: EPOCH:")
    assert "strictly increasing" in msg and "\n" not in msg


def test_duplicate_epoch_names_the_line(tmp_path: Path) -> None:
    lines = shipped_kvn().splitlines()
    rows = data_lines(shipped_kvn())
    lines.insert(rows[5] + 1, lines[rows[5]])
    msg, _ = bad_oem(tmp_path, "\n".join(lines) + "\n")
    assert msg.startswith(f"{tmp_path / 'x.oem'}:{rows[5] + 2}: EPOCH:")
    assert "no duplicates" in msg


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ("REF_FRAME = EME2000", "REF_FRAME = MARSIAU", "REF_FRAME", "unknown frame 'MARSIAU'"),
        ("TIME_SYSTEM = UTC", "TIME_SYSTEM = MET", "TIME_SYSTEM", "unknown time system 'MET'"),
        ("CENTER_NAME = EARTH", "CENTER_NAME = MOON", "CENTER_NAME", "expected EARTH"),
        ("INTERPOLATION = LAGRANGE", "INTERPOLATION = SPLINE", "INTERPOLATION", "'SPLINE'"),
        (
            "LAGRANGE\nINTERPOLATION_DEGREE = 7",
            "HERMITE\nINTERPOLATION_DEGREE = 6",
            "INTERPOLATION_DEGREE",
            "expected an odd degree",
        ),
    ],
)
def test_unknown_frame_time_system_or_centre(
    tmp_path: Path, old: str, new: str, field: str, expected: str
) -> None:
    text = shipped_kvn().replace(old, new)
    msg, lines = bad_oem(tmp_path, text)
    line = next(i for i, ln in enumerate(lines, start=1) if ln == new.splitlines()[-1])
    assert msg.startswith(f"{tmp_path / 'x.oem'}:{line}: {field}: ")
    assert expected in msg


def test_horizon_leaving_the_ephemeris(tmp_path: Path) -> None:
    msg, _ = bad_oem(tmp_path, shipped_kvn(), hours=48)
    assert "model.yaml:" in msg and "nodes[0].oem.file" in msg.replace(".0.", "[0].")
    assert "leaves the ephemeris" in msg and "stops at 2026-05-31T01:00:00Z" in msg


def test_gap_the_interpolation_would_bridge(tmp_path: Path) -> None:
    lines = shipped_kvn().splitlines()
    rows = data_lines(shipped_kvn())
    gap = set(rows[200:320])  # two hours without states, inside the horizon
    msg, _ = bad_oem(tmp_path, "\n".join(ln for i, ln in enumerate(lines) if i not in gap) + "\n")
    assert "segment 1 has a gap of 7260 s" in msg and "split the message" in msg


def test_an_abutting_second_segment_is_not_a_gap(tmp_path: Path) -> None:
    """A message split in two segments that meet (e.g. at a manoeuvre) covers the horizon."""
    text = shipped_kvn()
    lines = text.splitlines()
    rows = data_lines(text)
    meta = lines[lines.index("META_START") : lines.index("META_STOP") + 1]
    cut = rows[300]
    second = [
        ln.replace("START_TIME = 2026-05-29T23:00:00.000", f"START_TIME = {lines[cut].split()[0]}")
        for ln in meta
    ]
    first_meta = [
        ln.replace("STOP_TIME = 2026-05-31T01:00:00.000", f"STOP_TIME = {lines[cut].split()[0]}")
        for ln in meta
    ]
    head = lines[: lines.index("META_START")]
    out = head + first_meta + lines[rows[0] : cut + 1] + [""] + second + lines[cut:]
    (tmp_path / "two.oem").write_text("\n".join(out) + "\n")
    eph = read_oem(tmp_path / "two.oem")
    assert len(eph.segments) == 2
    assert eph.check_covers(START, START + timedelta(hours=24)) is None


VIEW_ERRORS = [
    (
        "node,station,start,end\nrelay,chile,2026-05-30T02:00:00Z,2026-05-30T01:00:00Z\n",
        "periods.csv:2: end: 2026-05-30T01:00:00Z is not after the start",
    ),
    (
        "node,station,start,end\nrelay,chille,2026-05-30T00:00:00Z,2026-05-30T01:00:00Z\n",
        "periods.csv:2: station: unknown station 'chille'; did you mean 'chile'?",
    ),
    (
        "node,station,begin,end\n",
        "periods.csv:1: begin: unknown column 'begin'",
    ),
]


@pytest.mark.parametrize(("text", "expected"), VIEW_ERRORS)
def test_bad_view_periods(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ModelError) as info:
        load_model(view_model(tmp_path, text))
    assert str(info.value).startswith(f"{tmp_path}/{expected}")


def test_json_view_period_ending_before_it_starts_names_its_line(tmp_path: Path) -> None:
    text = json.dumps(
        [
            {
                "node": "relay",
                "station": "chile",
                "start": "2026-05-30T00:00:00Z",
                "end": "2026-05-30T01:00:00Z",
            },
            {
                "node": "relay",
                "station": "chile",
                "start": "2026-05-30T03:00:00Z",
                "end": "2026-05-30T02:00:00Z",
            },
        ],
        indent=2,
    )
    with pytest.raises(ModelError) as info:
        load_model(view_model(tmp_path, text, "periods.json"))
    assert str(info.value).startswith(f"{tmp_path}/periods.json:8: end: ")


def test_orbitless_node_without_view_periods(tmp_path: Path) -> None:
    periods = "node,station,start,end\nsat-21,chile,2026-05-30T00:00:00Z,2026-05-30T01:00:00Z\n"
    with pytest.raises(ModelError) as info:
        load_model(view_model(tmp_path, periods))
    assert "nodes[1].name" in str(info.value) or "nodes.1.name" in str(info.value)
    assert "has no orbit" in str(info.value)


def test_bad_oem_exits_2_with_one_line(tmp_path: Path, cli) -> None:
    path = oem_model(tmp_path, shipped_kvn().replace("TIME_SYSTEM = UTC", "TIME_SYSTEM = UT1"))
    res = cli("run", str(path), "-o", str(tmp_path / "out"))
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert "TIME_SYSTEM: unknown time system 'UT1'" in res.stderr


def test_orbitless_node_cannot_count_job_deadlines_in_orbits(tmp_path: Path) -> None:
    periods = "node,station,start,end\nrelay,chile,2026-05-30T00:00:00Z,2026-05-30T01:00:00Z\n"
    path = view_model(tmp_path, periods)
    path.write_text(
        path.read_text() + "jobs:\n  - name: j\n    node: relay\n    policy: {deadline_orbits: 2}\n"
        "    steps: [{id: s, type: standard, compute_s: 60, output_mb: 1}]\n"
    )
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert "deadline_orbits" in str(info.value) and "has no orbit" in str(info.value)


def test_study_variants_keep_imported_rates(tmp_path: Path) -> None:
    """A study re-rates shared geometry from each variant's stations: a period with its own
    ``rate_bps`` keeps it, one without follows the variant's station."""
    from rsmodel.studies.geocache import rebind

    base = load_model(view_model(tmp_path, PERIODS_CSV))
    path = tmp_path / "model.yaml"
    path.write_text(
        path.read_text()
        .replace("bandwidth_bps: 1.0e9", "bandwidth_bps: 2.0e9")
        .replace("bandwidth_bps: 5.0e8", "bandwidth_bps: 1.0e8")
    )
    variant = load_model(path)
    w = rebind(compute_geometry(base), variant).windows
    by_pair = w.set_index(["node", "station"])["bandwidth_bps"]
    assert by_pair.loc[("sat-21", "svalbard")] == 2.0e8  # the file's rate
    assert by_pair.loc[("relay", "chile")] == 1.0e8  # the variant's chile
    assert (by_pair.loc[("sat-21", "chile")] == 1.0e8).all()  # computed windows too
