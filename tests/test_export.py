"""``rsmodel export``: the contact schedule of a real plan as CSV, iCalendar and an ION contact
plan, each read back with an independent parser (pandas, icalendar, the ionrc(5) grammar)."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from pathlib import Path

import icalendar
import numpy as np
import pandas as pd
import pytest
from skyfield.api import EarthSatellite, load, wgs84

from rsmodel.plan.check import check_plan
from rsmodel.report.export import export_plan
from rsmodel.timeutil import parse_time
from tests.conftest import MODELS, run_cli

GROUND_SEGMENT = MODELS / "ground_segment.yaml"
# ionrc(5): "@ yyyy/mm/dd-hh:mm:ss", "a contact start stop from to rate", "a range start stop
# one other owlt"; relative times "+ss"; comments start with "#".
ION_LINE = re.compile(
    r"^(#.*"
    r"|@ \d{4}/\d\d/\d\d-\d\d:\d\d:\d\d"
    r"|a contact \+(\d+) \+(\d+) ([1-9]\d*) ([1-9]\d*) ([1-9]\d*)"
    r"|a range \+(\d+) \+(\d+) ([1-9]\d*) ([1-9]\d*) (\d+))$"
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The shipped ground-segment model run and exported by the real commands."""
    root = tmp_path_factory.mktemp("gs")
    run = run_cli("run", str(GROUND_SEGMENT), "-o", str(root / "out"))
    assert run.returncode == 0, run.stderr
    export = run_cli("export", str(root / "out"), str(root / "exports"))
    assert export.returncode == 0, export.stderr
    plan = json.loads((root / "out" / "plan.json").read_text())
    return plan, root / "exports"


def planned_contacts(plan: dict) -> dict[tuple[str, int], dict]:
    """Contacts computed here from the operations: (window, antenna) -> station, node, span, bytes."""
    out: dict[tuple[str, int], dict] = {}
    for op in plan["operations"]:
        c = out.setdefault(
            (op["window_id"], op["antenna"]),
            {
                "station": op["station"],
                "node": op["node"],
                "antenna": op["antenna"],
                "start": [],
                "end": [],
                "bytes": 0.0,
            },  # fmt: skip
        )
        c["start"].append(parse_time(op["start"]))
        c["end"].append(parse_time(op["end"]))
        c["bytes"] += op["bytes"]
    return {k: {**c, "start": min(c["start"]), "end": max(c["end"])} for k, c in out.items()}


def link_bits(window: dict, origin, a: float, b: float) -> float:
    """Bits a window's link carries in [a, b] s after ``origin``: its rate profile integrated
    (linear between samples) or its constant rate; 0 outside the window."""
    w0 = (parse_time(window["start"]) - origin).total_seconds()
    w1 = (parse_time(window["end"]) - origin).total_seconds()
    a, b = max(a, w0), min(b, w1)
    if b <= a:
        return 0.0
    if not window.get("profile_t_s"):
        return window["bandwidth_bps"] * (b - a)
    knots = w0 + np.asarray(window["profile_t_s"])
    t = np.concatenate(([a], knots[(knots > a) & (knots < b)], [b]))
    return float(np.trapezoid(np.interp(t, knots, window["profile_rate_bps"]), t))


def test_ground_segment_plans_clean_on_real_bands_masks_and_maintenance(exported) -> None:
    plan, _ = exported
    assert check_plan(plan) == []
    assert {s["status"] for s in plan["syncs"]} == {"complete"}
    bands = {(w["station"], w["band"]) for w in plan["windows"]}
    assert ("svalbard", "Ka") in bands and ("wallops", "X") in bands
    assert ("wallops", "Ka") not in bands  # Wallops lists no Ka band: no Ka contacts there
    ka = [w for w in plan["windows"] if w["band"] == "Ka"]
    assert any(w["min_rate_bps"] < 0.5 * w["max_rate_bps"] for w in ka)  # ACM within a pass
    start = parse_time(plan["horizon"]["start"])
    for w in plan["windows"]:
        if w["station"] == "inuvik":  # maintenance +2 h .. +4 h
            hours = [(parse_time(w[k]) - start).total_seconds() / 3600 for k in ("start", "end")]
            assert hours[1] <= 2 + 1e-6 or hours[0] >= 4 - 1e-6, w
    # the executable timeline lies inside the passes as plan.json states them, to the
    # microsecond (w00001's LOS is at .979508799 s: stated and used rounded the same way)
    windows = {w["id"]: w for w in plan["windows"]}
    for op in plan["operations"]:
        w = windows[op["window_id"]]
        assert parse_time(w["start"]) <= parse_time(op["start"]), (op, w["start"])
        assert parse_time(op["end"]) <= parse_time(w["end"]), (op, w["end"])
        assert op["band"] == w["band"]  # each operation records its band


def test_ground_segment_station_timelines_show_its_turnarounds_and_maintenance(exported) -> None:
    """The shipped model uses a slewing antenna (Svalbard), fixed turnarounds (Troll,
    Fairbanks) and one antenna's maintenance (Svalbard antenna 3); the report's station
    timeline draws each with its station, and the plan keeps them (checker above)."""
    plan, out = exported
    stations = {s["name"]: s for s in plan["stations"]}
    assert stations["svalbard"]["slew"] and stations["troll"]["turnaround_s"] == 90
    assert stations["svalbard"]["antenna_maintenance"][0]["antenna"] == 3
    html = (out.parent / "out" / "report.html").read_text()
    svg = html[html.index('id="gantt-stations"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count('class="turn"') >= 3
    assert re.search(r"antenna \d turnaround \d+ s: \S+ → \S+", svg)
    assert "antenna 3 maintenance 08:00–10:00" in svg
    assert "maintenance 02:00–04:00 (all antennas)" in svg  # Inuvik's whole-station window


def test_ics_has_one_event_per_contact_and_track_at_the_planned_times(exported) -> None:
    plan, out = exported
    occupations = [{**c, "kind": "contact"} for c in planned_contacts(plan).values()]
    occupations += [
        {"kind": "track", "station": st, "node": t["node"], "start": parse_time(t["start"]),
         "end": parse_time(t["end"])}
        for t in plan["tracks"] for st in t["stations"]
    ]  # fmt: skip
    assert any(o["kind"] == "track" for o in occupations)
    by_station: dict[str, list[dict]] = defaultdict(list)
    for o in occupations:
        by_station[o["station"]].append(o)
    files = sorted((out / "ics").glob("*.ics"))
    assert [f.stem for f in files] == sorted(by_station)
    uids = set()
    for f in files:
        cal = icalendar.Calendar.from_ical(f.read_bytes())
        events = list(cal.walk("VEVENT"))
        expected = sorted(by_station[f.stem], key=lambda c: (c["start"], c["kind"], c["node"]))
        assert len(events) == len(expected)
        got = sorted(
            events,
            key=lambda e: (e.decoded("dtstart"), str(e["categories"].cats[0]), str(e["summary"])),
        )
        for event, c in zip(got, expected, strict=True):
            start, end = event.decoded("dtstart"), event.decoded("dtend")
            assert start.utcoffset().total_seconds() == 0  # UTC
            assert 0 <= (c["start"] - start).total_seconds() < 1  # covers the occupation,
            assert 0 <= (end - c["end"]).total_seconds() < 1  # whole seconds
            assert event["categories"].cats == [c["kind"]]
            assert c["node"] in str(event["summary"]) and str(event["uid"]) not in uids
            # antennas numbered as in the model file's maintenance and the report: 1 ..
            if c["kind"] == "contact":
                label = f"antenna {c['antenna'] + 1}"
                assert str(event["location"]) == f"{f.stem} {label}"
                assert str(event["summary"]).endswith(label)
            uids.add(str(event["uid"]))
    again = out.parent / "again"
    export_plan(plan, again, ["ics"])  # UIDs are stable: the same plan gives the same files
    assert all((again / "ics" / f.name).read_bytes() == f.read_bytes() for f in files)


def test_csv_round_trips_through_pandas(exported) -> None:
    plan, out = exported
    frame = pd.read_csv(out / "contacts.csv")
    keys = list(zip(frame["station"], frame["start"], strict=True))
    assert keys == sorted(keys)  # a per-station schedule, in time order
    tracks = frame[frame["kind"] == "track"]
    assert sorted(tracks["id"]) == sorted(
        f"{t['id']}-{st}-a{a}"
        for t in plan["tracks"]
        for st, a in zip(t["stations"], t["antennas"], strict=True)
    )
    by_id = {t["id"]: t for t in plan["tracks"]}
    windows = {w["id"]: w for w in plan["windows"]}
    assert tracks["window_id"].notna().all()  # each track lies in a pass of its node and station
    for row in tracks.itertuples():
        w = windows[row.window_id]
        assert (w["node"], w["station"]) == (row.node, row.station)
        assert parse_time(w["start"]) <= parse_time(row.start) + pd.Timedelta("1ms")
        t = by_id[row.id.rsplit("-", 2)[0]]
        assert (row.setup_start, row.start, row.end, row.teardown_end) == (
            t["setup_start"], t["start"], t["end"], t["teardown_end"]
        )  # fmt: skip
    frame = frame[frame["kind"] == "contact"]
    contacts = planned_contacts(plan)
    assert len(frame) == len(contacts)
    assert frame["bytes"].sum() == pytest.approx(sum(op["bytes"] for op in plan["operations"]))
    for row in frame.itertuples():
        c = contacts[(row.window_id, row.antenna)]
        w = windows[row.window_id]
        assert (row.station, row.node, row.band) == (c["station"], c["node"], w["band"])
        assert parse_time(row.start) == c["start"] and parse_time(row.end) == c["end"]
        assert parse_time(row.window_start) == parse_time(w["start"]) <= c["start"]
        assert row.max_elevation_deg == pytest.approx(w["max_elevation_deg"])


def test_ion_contact_plan_follows_the_ionrc_grammar(exported) -> None:
    plan, out = exported
    lines = (out / "contact_plan.ionrc").read_text().splitlines()
    assert all(ION_LINE.match(line) for line in lines), [x for x in lines if not ION_LINE.match(x)]
    numbers = pd.read_csv(out / "ion_nodes.csv")
    assert numbers["ion_node"].is_unique and len(numbers) == len(plan["stations"]) + len(
        plan["nodes"]
    )
    name_of = {(r.kind, r.ion_node): r.name for r in numbers.itertuples()}
    origin = parse_time(plan["horizon"]["start"])
    assert [x for x in lines if x.startswith("@")] == [f"@ {origin:%Y/%m/%d-%H:%M:%S}"]
    contacts = planned_contacts(plan)
    ts = load.timescale(builtin=True)
    sats = {n["name"]: EarthSatellite(*n["tle"], ts=ts) for n in plan["nodes"]}
    sites = {
        s["name"]: wgs84.latlon(s["lat_deg"], s["lon_deg"], s["alt_m"]) for s in plan["stations"]
    }
    pairs: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    ion = [x.split() for x in lines if x.startswith("a ")]
    assert len(ion) % 2 == 0 and len(ion) >= 2 * 40
    for contact, rng in zip(ion[::2], ion[1::2], strict=True):
        assert contact[1] == "contact" and rng[1] == "range" and rng[2:4] == contact[2:4]
        s, e = int(contact[2][1:]), int(contact[3][1:])
        node, station = name_of[("node", int(contact[4]))], name_of[("station", int(contact[5]))]
        # inside one planned contact of that pair
        assert any(
            (c["node"], c["station"]) == (node, station)
            and (c["start"] - origin).total_seconds()
            <= s
            < e
            <= (c["end"] - origin).total_seconds()
            for c in contacts.values()
        )
        pairs[(int(contact[4]), int(contact[5]))].append((s, e))
        # RATE (bytes/s) x duration is what the pair's link carries from s to e: the integral
        # of the windows' rate profiles (linear between samples), within the plan's per-slot
        # smoothing; never the window's mean rate applied to a low-elevation part of a pass
        link_bytes = sum(link_bits(w, origin, s, e) for w in plan["windows"]
                         if (w["node"], w["station"]) == (node, station)) / 8  # fmt: skip
        assert 0.97 * link_bytes <= int(contact[6]) * (e - s) <= 1.005 * link_bytes
        # one-way light time: skyfield's slant range at the ends, in whole seconds (rounded up)
        times = ts.from_datetimes([origin + pd.Timedelta(seconds=t) for t in (s, e)])
        range_km = max((sats[node] - sites[station]).at(times).distance().km)
        assert int(rng[6]) == math.ceil(range_km / 299_792.458)
        assert sorted(map(int, rng[4:6])) == [int(contact[5]), int(contact[4])]
    for spans in pairs.values():  # ionrc(5): contacts of a pair do not overlap
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_tracks_are_exported_as_antenna_occupations(exported, tmp_path: Path) -> None:
    plan, _ = exported
    track = {
        "id": "t1",
        "request": "ttc-noaa20",
        "node": "NOAA-20",
        "stations": ["svalbard", "troll"],
        "antennas": [2, 1],
        "setup_start": "2026-05-30T03:00:00Z",
        "start": "2026-05-30T03:05:00Z",
        "end": "2026-05-30T03:15:00Z",
        "teardown_end": "2026-05-30T03:17:00Z",
    }
    export_plan({**plan, "tracks": [track]}, tmp_path, ["csv", "ics"])
    frame = pd.read_csv(tmp_path / "contacts.csv")
    tracks = frame[frame["kind"] == "track"]
    assert sorted(zip(tracks["station"], tracks["antenna"], strict=True)) == [
        ("svalbard", 2),
        ("troll", 1),
    ]
    assert set(tracks["setup_start"]) == {"2026-05-30T03:00:00Z"}
    assert set(tracks["teardown_end"]) == {"2026-05-30T03:17:00Z"}
    cal = icalendar.Calendar.from_ical((tmp_path / "ics" / "troll.ics").read_bytes())
    (event,) = [e for e in cal.walk("VEVENT") if "track" in str(e["summary"])]
    assert event.decoded("dtstart") == parse_time(track["start"])
    assert "antenna busy: 2026-05-30T03:00:00Z" in str(event["description"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "unknown format pdf; expected csv | ics | ion"),
        (["--format", "csv,kml"], "unknown format kml"),
    ],
)
def test_bad_format_is_exit_2_with_the_allowed_formats(exported, tmp_path, args, message) -> None:
    _, out = exported
    result = run_cli("export", str(out.parent / "out"), str(tmp_path), *args)
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())


def test_export_without_out_dir_writes_next_to_the_plan(exported, tmp_path: Path) -> None:
    """Issue 15's own command, ``rsmodel export OUT/ --format ics``: the run directory (or the
    plan.json's) is the default destination; only the asked format is written."""
    plan, out = exported
    run = tmp_path / "run"
    run.mkdir()
    (run / "plan.json").write_text(json.dumps(plan))
    result = run_cli("export", f"{run}/", "--format", "ics")
    assert result.returncode == 0, result.stderr
    stations = {op["station"] for op in plan["operations"]}
    assert {p.stem for p in (run / "ics").iterdir()} >= stations
    assert sorted(p.name for p in run.iterdir()) == ["ics", "plan.json"]
    result = run_cli("export", str(run / "plan.json"), "-f", "ion")
    assert result.returncode == 0, result.stderr
    ionrc = (run / "contact_plan.ionrc").read_text()
    assert ionrc == (out / "contact_plan.ionrc").read_text()


def test_missing_or_broken_plan_is_one_error_line(tmp_path: Path) -> None:
    result = run_cli("export", str(tmp_path), str(tmp_path / "x"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'plan.json'}: file not found; expected a plan.json"
    ]
    bad = tmp_path / "plan.json"
    bad.write_text('{"schema_version": 1}')
    result = run_cli("export", str(bad), str(tmp_path / "x"))
    assert result.returncode == 2 and "horizon: required section is missing" in result.stderr


def test_report_draws_the_passes_carrying_most_data_with_rate_and_sky_track(exported) -> None:
    plan, out = exported
    html = (out.parent / "out" / "report.html").read_text()
    section = html[html.index('<section id="passes">') :]
    section = section[: section.index("</section>")]
    bytes_by_window: dict[str, float] = defaultdict(float)
    for op in plan["operations"]:
        bytes_by_window[op["window_id"]] += op["bytes"]
    per_station = defaultdict(list)
    for w in plan["windows"]:
        if bytes_by_window.get(w["id"]):
            per_station[w["station"]].append(w)
    drawn = re.findall(r"<h3>(.+?) at (.+?), (\d\d:\d\d:\d\d)–", section)
    assert len(drawn) == sum(min(2, len(ws)) for ws in per_station.values())
    ts = load.timescale(builtin=True)
    for (node, station, aos), sky in zip(
        drawn, re.findall(r'<svg id="pass-sky-\d+".*?</svg>', section, re.S), strict=True
    ):
        (w,) = [w for w in per_station[station] if w["node"] == node and aos in w["start"]]
        top = sorted(per_station[station], key=lambda x: -bytes_by_window[x["id"]])[:2]
        assert w in top  # the passes carrying the most data
        # the sky track starts where skyfield puts the node at AOS
        az, el = map(float, re.search(r"AOS: az (\d+)°, el (-?[\d.]+)°", sky).groups())
        (n,) = [n for n in plan["nodes"] if n["name"] == node]
        (s,) = [s for s in plan["stations"] if s["name"] == station]
        site = wgs84.latlon(s["lat_deg"], s["lon_deg"], s["alt_m"])
        alt, azimuth, _ = (
            (EarthSatellite(*n["tle"], ts=ts) - site)
            .at(ts.from_datetime(parse_time(w["start"])))
            .altaz()
        )
        assert abs(el - alt.degrees) < 0.2 and abs((az - azimuth.degrees + 180) % 360 - 180) < 1
        assert ('class="mask"' in sky) == (
            s.get("terrain_mask") is not None or s["elevation_min_deg"] > 0
        )
    assert re.search(r'class="line s1" d="[^"]+" data-points="([3-9]\d|\d{3,})"', section)
