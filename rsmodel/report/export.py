"""Exports operators load: a contact schedule (CSV), one iCalendar file per station and a DTN
contact plan in ION's ``ionadmin`` syntax (docs/exports.md).

Every export is built from one list of :class:`Occupation`: an interval during which one antenna
of a station is given to one node. ``kind`` ``contact``: the plan's operations grouped by
(window, antenna), from the first operation's start to the last one's end; ``track``: a
plan.json ``tracks`` entry (antenna-time requests), one occupation per station/antenna it uses.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar
import numpy as np
from sgp4.api import Satrec

from rsmodel.errors import ModelError
from rsmodel.geometry.frames import EARTH_RADIUS_KM, propagate_itrs, site_itrs, times_from
from rsmodel.io import atomic_write, write_text
from rsmodel.plan.check_link import carried_bits
from rsmodel.plan.plan import Plan
from rsmodel.timeutil import iso, parse_time

FORMATS = ("csv", "ics", "ion")
SPEED_OF_LIGHT_KM_S = 299_792.458
EARTH_MU_KM3_S2 = 398_600.4418
PRODID = "-//rsmodel//contact schedule//EN"
SLACK = timedelta(milliseconds=1)  # a track lies in a pass up to this rounding of the instants


@dataclass(frozen=True)
class Occupation:
    """One antenna of one station given to one node from ``start`` to ``end`` (UTC).

    ``setup_start`` / ``teardown_end`` bound the antenna's busy time (equal to start/end when
    the plan has no setup); ``window_*`` is the access window (AOS/LOS) it lies in; rates in bit/s.
    """

    kind: str
    id: str
    station: str
    antenna: int | None
    node: str
    band: str | None
    start: datetime
    end: datetime
    setup_start: datetime
    teardown_end: datetime
    window_id: str | None
    window_start: datetime | None
    window_end: datetime | None
    max_elevation_deg: float | None
    bytes: float | None
    min_rate_bps: float | None
    mean_rate_bps: float | None
    max_rate_bps: float | None
    requests: tuple[str, ...]

    @property
    def duration_s(self) -> float:
        """Length of the occupation (without setup/teardown), s."""
        return (self.end - self.start).total_seconds()


# --------------------------------------------------------------------------- occupations
def occupations(plan: Mapping[str, Any]) -> list[Occupation]:
    """The plan's antenna occupations (contacts, then tracks), sorted by station, start, antenna."""
    windows = {w["id"]: w for w in plan.get("windows", [])}
    groups: dict[tuple[str, int | None], list[Mapping[str, Any]]] = {}
    for op in plan.get("operations", []):
        groups.setdefault((op["window_id"], op.get("antenna")), []).append(op)
    occs = [_contact(windows.get(wid), ops) for (wid, _), ops in groups.items()]
    passes: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for w in windows.values():
        passes.setdefault((w["node"], w["station"]), []).append(w)
    occs += [occ for track in plan.get("tracks", []) for occ in _track(track, passes)]
    return sorted(occs, key=lambda o: (o.station, o.start, o.antenna or 0, o.node, o.id))


def _contact(window: Mapping[str, Any] | None, ops: Sequence[Mapping[str, Any]]) -> Occupation:
    first = ops[0]
    start = min(parse_time(op["start"]) for op in ops)
    end = max(parse_time(op["end"]) for op in ops)
    antenna = first.get("antenna")
    window = window or {}
    tag = "" if antenna is None else f"-a{antenna}"
    return Occupation(
        kind="contact",
        id=f"{first['window_id']}{tag}",
        station=first["station"],
        antenna=antenna,
        node=first["node"],
        band=first.get("band") or window.get("band"),
        start=start,
        end=end,
        setup_start=start,
        teardown_end=end,
        window_id=first["window_id"],
        window_start=_time_or_none(window.get("start")),
        window_end=_time_or_none(window.get("end")),
        max_elevation_deg=_number(window.get("max_elevation_deg")),
        bytes=float(sum(op["bytes"] for op in ops)),
        min_rate_bps=_number(window.get("min_rate_bps", window.get("bandwidth_bps"))),
        mean_rate_bps=_number(window.get("mean_rate_bps", window.get("bandwidth_bps"))),
        max_rate_bps=_number(window.get("max_rate_bps", window.get("bandwidth_bps"))),
        requests=tuple(sorted({op["sync_id"] for op in ops})),
    )


def _track(
    track: Mapping[str, Any], passes: Mapping[tuple[str, str], list[Mapping[str, Any]]]
) -> list[Occupation]:
    """One occupation per station/antenna of a track (``stations`` and ``antennas`` in pairs),
    with the pass (window of that node and station) holding it, if the plan lists one."""
    stations = list(track.get("stations") or [])
    antennas = list(track.get("antennas") or [None] * len(stations))
    start, end = parse_time(track["start"]), parse_time(track["end"])
    out = []
    for station, antenna in zip(stations, antennas, strict=True):
        window = next(
            (
                w
                for w in passes.get((track["node"], station), [])
                if parse_time(w["start"]) - SLACK <= start and end <= parse_time(w["end"]) + SLACK
            ),
            {},
        )
        tag = "" if antenna is None else f"-a{antenna}"
        out.append(
            Occupation(
                kind="track",
                id=f"{track['id']}-{station}{tag}",
                station=station,
                antenna=antenna,
                node=track["node"],
                band=window.get("band"),
                start=start,
                end=end,
                setup_start=parse_time(track.get("setup_start") or track["start"]),
                teardown_end=parse_time(track.get("teardown_end") or track["end"]),
                window_id=window.get("id"),
                window_start=_time_or_none(window.get("start")),
                window_end=_time_or_none(window.get("end")),
                max_elevation_deg=_number(window.get("max_elevation_deg")),
                bytes=None,
                min_rate_bps=None,
                mean_rate_bps=None,
                max_rate_bps=None,
                requests=(str(track["request"]),) if track.get("request") else (),
            )
        )
    return out


def _time_or_none(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- CSV
CSV_COLUMNS = [f.name for f in fields(Occupation)] + ["duration_s"]


def contacts_csv(occs: Iterable[Occupation]) -> str:
    """One row per occupation (columns :data:`CSV_COLUMNS`; times ISO UTC, requests ``;``-joined)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for occ in occs:
        row = asdict(occ)
        row["duration_s"] = occ.duration_s
        row["requests"] = ";".join(occ.requests)
        for key, value in row.items():
            if isinstance(value, datetime):
                row[key] = iso(value)
        writer.writerow(row)
    return buf.getvalue()


# --------------------------------------------------------------------------- iCalendar
def station_calendar(station: str, occs: Iterable[Occupation], plan: Mapping[str, Any]) -> bytes:
    """An RFC 5545 calendar of one station: one VEVENT per occupation (times UTC).

    iCalendar times are whole seconds: DTSTART rounds down, DTEND up, so the event covers the
    occupation. UIDs are ``<kind>-<id>@<model name>.rsmodel`` (stable across exports of the same plan); DTSTAMP is
    the plan's ``generated_at``, so the file is deterministic.
    """
    model = str((plan.get("model") or {}).get("name") or "rsmodel")
    stamp = parse_time(plan["generated_at"]) if plan.get("generated_at") else None
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{station} ({model})")
    for occ in occs:
        event = icalendar.Event()
        event.add("uid", f"{occ.kind}-{occ.id}@{_slug(model)}.rsmodel")
        if stamp is not None:
            event.add("dtstamp", stamp)
        event.add("dtstart", occ.start.replace(microsecond=0))
        event.add("dtend", _ceil_s(occ.end))
        event.add("summary", _summary(occ))
        event.add("description", _description(occ))
        event.add(
            "location", station if occ.antenna is None else f"{station} antenna {occ.antenna + 1}"
        )
        event.add("categories", [occ.kind])
        cal.add_component(event)
    return cal.to_ical()


def _ceil_s(t: datetime) -> datetime:
    return t if t.microsecond == 0 else t.replace(microsecond=0) + timedelta(seconds=1)


def _summary(occ: Occupation) -> str:
    band = f" {occ.band}-band" if occ.band else ""
    antenna = "" if occ.antenna is None else f" antenna {occ.antenna + 1}"
    return f"{occ.node}{band} {occ.kind}{antenna}"


def _description(occ: Occupation) -> str:
    lines = [f"{occ.kind} {occ.id}: {occ.node} at {occ.station}"]
    lines.append(f"{occ.kind}: {iso(occ.start)} to {iso(occ.end)} ({occ.duration_s:.0f} s)")
    if occ.setup_start != occ.start or occ.teardown_end != occ.end:
        lines.append(f"antenna busy: {iso(occ.setup_start)} to {iso(occ.teardown_end)}")
    if occ.window_start is not None and occ.window_end is not None:
        lines.append(f"pass AOS {iso(occ.window_start)}, LOS {iso(occ.window_end)}")
    if occ.max_elevation_deg is not None:
        lines.append(f"max elevation {occ.max_elevation_deg:.1f} deg")
    if occ.bytes is not None:
        lines.append(f"data {occ.bytes / 1e6:,.1f} MB")
    if occ.mean_rate_bps is not None:
        lines.append(
            f"rate min/mean/max {occ.min_rate_bps / 1e6:,.1f} / "
            f"{occ.mean_rate_bps / 1e6:,.1f} / {occ.max_rate_bps / 1e6:,.1f} Mbit/s"
        )
    if occ.requests:
        lines.append("requests: " + ", ".join(occ.requests))
    return "\n".join(lines)


# --------------------------------------------------------------------------- ION contact plan
def ion_node_numbers(plan: Mapping[str, Any]) -> dict[str, int]:
    """ION (CBHE) node numbers: stations ``1..S`` in name order, then nodes from the next
    multiple of 1000 in name order (a station and a node with the same name stay distinct
    because stations are keyed ``station:<name>``, nodes ``node:<name>``)."""
    stations = sorted(s["name"] for s in plan.get("stations", []))
    nodes = sorted(n["name"] for n in plan.get("nodes", []))
    base = 1000 * (len(stations) // 1000 + 1)
    numbers = {f"station:{name}": i + 1 for i, name in enumerate(stations)}
    numbers.update({f"node:{name}": base + i for i, name in enumerate(nodes)})
    return numbers


def ion_contact_plan(plan: Mapping[str, Any], occs: Sequence[Occupation]) -> str:
    """The plan's contacts as ``ionadmin`` commands (ionrc(5)).

    ``@ <horizon start>`` sets the reference time; each contact (node -> station, downlink) is
    ``a contact +S +E FROM TO RATE`` (whole seconds inside the contact; RATE in bytes/s, rounded
    down, is what the link carries from S to E divided by E - S, so ION never counts on more
    than the plan's link rates deliver) and ``a range +S +E STATION NODE OWLT`` (one-way light
    time of the contact's largest slant range, rounded up to whole seconds; the lower node
    number first, so ION applies it both ways). Overlapping contacts of one pair (two antennas)
    are merged: ION forbids overlapping contacts of a pair.
    """
    numbers = ion_node_numbers(plan)
    origin = parse_time(plan["horizon"]["start"])
    merged = _merged_contacts([o for o in occs if o.kind == "contact"])
    contacts = [occ for occ, _ in merged]
    owlt = _owlt_s(plan, contacts)
    windows = {w["id"]: w for w in plan.get("windows", [])}
    lines = [
        f"# ION contact plan of {(plan.get('model') or {}).get('name', 'rsmodel')} (rsmodel export)",
        "# times: seconds after the reference time set by '@' (UTC); rates bytes/s; ranges light s",
        *(f"# node {number} = {key}" for key, number in numbers.items()),
        f"@ {origin:%Y/%m/%d-%H:%M:%S}",
    ]
    for (occ, window_ids), light_s in zip(merged, owlt, strict=True):
        start_s = math.ceil((occ.start - origin).total_seconds())
        end_s = math.floor((occ.end - origin).total_seconds())
        if end_s <= start_s:
            lines.append(f"# {occ.id}: shorter than one whole second, left out")
            continue
        bits = sum(
            carried_bits(plan, windows[i], start_s, end_s) for i in window_ids if i in windows
        )
        rate = math.floor(bits / 8.0 / (end_s - start_s) + 1e-6)
        src, dst = numbers[f"node:{occ.node}"], numbers[f"station:{occ.station}"]
        lines.append(f"a contact +{start_s} +{end_s} {src} {dst} {rate}")
        if light_s is None:
            lines.append(f"# {occ.id}: no orbit in the plan for {occ.node}; no range")
        else:
            lines.append(f"a range +{start_s} +{end_s} {min(src, dst)} {max(src, dst)} {light_s}")
    return "\n".join(lines) + "\n"


def _merged_contacts(contacts: Sequence[Occupation]) -> list[tuple[Occupation, set[str]]]:
    """Contacts of one node/station pair that overlap joined into one (sorted by start), each
    with the ids of the windows it uses (two for a node sending on two bands at once)."""
    out: list[tuple[Occupation, set[str]]] = []
    last: dict[tuple[str, str], int] = {}
    for occ in sorted(contacts, key=lambda o: (o.start, o.node, o.station)):
        i = last.get((occ.node, occ.station))
        if i is not None and occ.start <= out[i][0].end:
            prev, window_ids = out[i]
            merged = Occupation(
                **{
                    **asdict(prev),
                    "end": max(prev.end, occ.end),
                    "teardown_end": max(prev.teardown_end, occ.teardown_end),
                    "bytes": (prev.bytes or 0.0) + (occ.bytes or 0.0),
                    "requests": tuple(sorted({*prev.requests, *occ.requests})),
                }
            )
            out[i] = (merged, window_ids | {str(occ.window_id)})
            continue
        last[(occ.node, occ.station)] = len(out)
        out.append((occ, {str(occ.window_id)}))
    return out


def _owlt_s(plan: Mapping[str, Any], contacts: Sequence[Occupation]) -> list[int | None]:
    """One-way light time (whole seconds, rounded up) of each contact's largest slant range.

    TLE nodes: SGP4 at the contact's start and end (the range is largest at an end of a pass
    piece); other nodes with a period: the range to the horizon of a circular orbit of that
    period (an upper bound); nodes without either: None.
    """
    nodes = {n["name"]: n for n in plan.get("nodes", [])}
    stations = {s["name"]: s for s in plan.get("stations", [])}
    out: list[int | None] = []
    for occ in contacts:
        node, station = nodes.get(occ.node, {}), stations[occ.station]
        if node.get("tle"):
            sat = Satrec.twoline2rv(*node["tle"])
            offsets = np.array([0.0, (occ.end - occ.start).total_seconds()])
            pos = propagate_itrs([sat], times_from(occ.start, offsets))[0]
            site = site_itrs(station["lat_deg"], station["lon_deg"], station["alt_m"]).xyz_km[0]
            range_km = float(np.nanmax(np.linalg.norm(pos - site, axis=-1)))
        elif node.get("period_s"):
            radius_km = (EARTH_MU_KM3_S2 * (node["period_s"] / (2 * math.pi)) ** 2) ** (1 / 3)
            range_km = math.sqrt(max(radius_km**2 - EARTH_RADIUS_KM**2, 0.0))
        else:
            out.append(None)
            continue
        out.append(math.ceil(range_km / SPEED_OF_LIGHT_KM_S))
    return out


def ion_nodes_csv(plan: Mapping[str, Any]) -> str:
    """The ION node numbering as CSV: ``name,kind,ion_node`` (kind ``station`` or ``node``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "kind", "ion_node"])
    for key, number in ion_node_numbers(plan).items():
        kind, name = key.split(":", 1)
        writer.writerow([name, kind, number])
    return buf.getvalue()


# --------------------------------------------------------------------------- files
def load_plan(path: str | Path) -> dict[str, Any]:
    """plan.json given as the file or the output directory holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / "plan.json"
    return Plan.from_json(path).to_dict()


def parse_formats(values: Sequence[str] | None) -> tuple[str, ...]:
    """``--format`` values (repeated and/or comma-separated) in :data:`FORMATS` order; all when
    none are given. An unknown format is a ValueError naming the allowed ones."""
    asked = {f.strip().lower() for v in values or () for f in v.split(",") if f.strip()}
    unknown = sorted(asked - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown format {', '.join(unknown)}; expected {' | '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in asked) or FORMATS


def export_plan(
    plan: Mapping[str, Any], out_dir: str | Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Write the exports of ``plan`` into ``out_dir`` (atomically); returns the files written.

    csv: ``contacts.csv``; ics: ``ics/<station>.ics`` for every station with an occupation;
    ion: ``contact_plan.ionrc`` and ``ion_nodes.csv`` (name, kind, ION node number).
    """
    if "horizon" not in plan:
        raise ModelError("not a plan: no horizon section", field="horizon")
    out = Path(out_dir)
    occs = occupations(plan)
    written: list[Path] = []
    if "csv" in formats:
        written.append(write_text(out / "contacts.csv", contacts_csv(occs)))
    if "ics" in formats:
        by_station: dict[str, list[Occupation]] = {}
        for occ in occs:
            by_station.setdefault(occ.station, []).append(occ)
        names = _unique_slugs(sorted(by_station))
        for station, occ_list in sorted(by_station.items()):
            data = station_calendar(station, occ_list, plan)
            path = out / "ics" / f"{names[station]}.ics"
            written.append(atomic_write(path, lambda p, data=data: p.write_bytes(data)))
    if "ion" in formats:
        written.append(write_text(out / "contact_plan.ionrc", ion_contact_plan(plan, occs)))
        written.append(write_text(out / "ion_nodes.csv", ion_nodes_csv(plan)))
    return written


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "station"


def _unique_slugs(names: Sequence[str]) -> dict[str, str]:
    """File-name-safe names, distinct for distinct stations (``_2``, ``_3`` on a clash)."""
    used: set[str] = set()
    out = {}
    for name in names:
        slug, n = _slug(name), 1
        while (slug if n == 1 else f"{slug}_{n}").lower() in used:
            n += 1
        slug = slug if n == 1 else f"{slug}_{n}"
        used.add(slug.lower())
        out[name] = slug
    return out
