"""Independent checks of antenna-time requests in a plan.json-like dict (docs/tracks.md).

``check_tracks(plan) -> list[str]`` reads ``horizon``, ``stations`` (``antennas``, optional
``maintenance``), ``windows``, ``operations``, ``tracks``, ``track_requests`` and ``missions``
and verifies, from those alone:

- each track names a known request instance, one antenna (``0 .. antennas - 1``) per station,
  ``setup_start <= start < end <= teardown_end`` inside the horizon, ``duration_s = end - start``;
- its transmit interval lies inside one window of its node over every station of its
  alternative and inside the request's ``[release, due]``;
- per request: one track of at least ``min_duration_s``, or (``min_segment_s`` set) segments of
  at least ``min_segment_s`` each that do not overlap, together at least ``min_duration_s``;
  the total is ``scheduled_s`` (<= ``requested_s``) and the status agrees;
- per station and antenna: no two tracks' ``[setup_start, teardown_end]`` overlap, and no sync
  operation on that antenna overlaps a track's; nothing overlaps a station's maintenance;
- per station and antenna, between a track and the next contact or track of another node (and
  a contact and the next track), the antenna turnaround (``check_antennas.Turnarounds``: fixed,
  or the slew between the pointings by skyfield): from the end of the first (a track's
  ``teardown_end``) to the start of the next (a track's ``setup_start``, a contact's first
  operation minus ``setup_s``);
- ``missions`` add up the requests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from rsmodel.plan.check_antennas import SLEW_TOL_S, Turnarounds
from rsmodel.timeutil import parse_time

TOL_S = 1e-3


def check_tracks(plan: Mapping[str, Any]) -> list[str]:
    """Violations of the track rules in ``plan`` (``[]``: valid or no tracks)."""
    if "track_requests" not in plan:
        return []
    t0 = parse_time(plan["horizon"]["start"])

    def sec(value: Any) -> float:
        return (parse_time(value) - t0).total_seconds()

    horizon_s = sec(plan["horizon"]["end"])
    stations = {s["name"]: s for s in plan["stations"]}
    requests = {r["id"]: r for r in plan["track_requests"]}
    windows: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for w in plan["windows"]:
        windows[(w["node"], w["station"])].append((sec(w["start"]), sec(w["end"])))
    problems: list[str] = []
    busy: dict[tuple[str, int], list[tuple[float, float, str]]] = defaultdict(list)
    # (station, antenna) -> (start, end, node, name, is track); a contact starts setup_s early
    uses: dict[tuple[str, int], list[tuple[float, float, str, str, bool]]] = defaultdict(list)
    by_request: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for tr in plan.get("tracks", []):
        name = f"track {tr['id']}"
        req = requests.get(tr.get("instance", tr["request"]))
        if req is None:
            problems.append(f"{name}: unknown request {tr.get('instance', tr['request'])!r}")
            continue
        s0, a, b, s1 = (sec(tr[k]) for k in ("setup_start", "start", "end", "teardown_end"))
        if not (
            -TOL_S <= s0 <= a + TOL_S and a < b and b <= s1 + TOL_S and s1 <= horizon_s + TOL_S
        ):
            problems.append(f"{name}: expected horizon start <= setup_start <= start < end <= "
                            "teardown_end <= horizon end")  # fmt: skip
        if abs(tr["duration_s"] - (b - a)) > TOL_S:
            problems.append(f"{name}: duration_s {tr['duration_s']} is not end - start {b - a:g}")
        if a < sec(req["release"]) - TOL_S or b > sec(req["due"]) + TOL_S:
            problems.append(f"{name}: outside its request's [release, due]")
        if len(tr["antennas"]) != len(tr["stations"]):
            problems.append(f"{name}: one antenna per station expected")
        for st, ant in zip(tr["stations"], tr["antennas"], strict=False):
            station = stations.get(st)
            if station is None or not 0 <= ant < int(station["antennas"]):
                problems.append(f"{name}: no antenna {ant} at station {st!r}")
                continue
            if not any(w0 - TOL_S <= a and b <= w1 + TOL_S for w0, w1 in windows[(tr["node"], st)]):
                problems.append(
                    f"{name}: [start, end] not inside a view period of {tr['node']} over {st}"
                )
            for m in station.get("maintenance", []):
                if sec(m["start"]) < s1 - TOL_S and sec(m["end"]) > s0 + TOL_S:
                    problems.append(f"{name}: overlaps maintenance of {st}")
            busy[(st, ant)].append((s0, s1, name))
            uses[(st, ant)].append((s0, s1, tr["node"], name, True))
        by_request[req["id"]].append((a, b))
    for op in plan.get("operations", []):
        if op.get("antenna") is not None:
            key = (op["station"], int(op["antenna"]))
            name = f"operation {op['sync_id']}"
            a, b = sec(op["start"]), sec(op["end"])
            busy[key].append((a, b, name))
            setup = float(stations.get(op["station"], {}).get("setup_s") or 0.0)
            uses[key].append((a - setup, b, op["node"], name, False))
    problems += _antenna_overlaps(busy)
    problems += _turnarounds(uses, Turnarounds(plan))
    problems += _requests(requests, by_request)
    problems += _missions(plan)
    return problems


def _antenna_overlaps(busy: dict[tuple[str, int], list[tuple[float, float, str]]]) -> list[str]:
    """Tracks never overlap each other or an operation on one antenna (operations among
    themselves are check.py's)."""
    out = []
    for (st, ant), spans in busy.items():
        spans.sort()
        last: tuple[float, float, str] | None = None  # the span ending latest so far
        for span in spans:
            if (
                last is not None
                and span[0] < last[1] - TOL_S
                and "track"
                in (
                    span[2].split()[0],
                    last[2].split()[0],
                )
            ):
                out.append(f"{st} antenna {ant}: {last[2]} and {span[2]} overlap")
            if last is None or span[1] > last[1]:
                last = span
    return out


def _turnarounds(
    uses: dict[tuple[str, int], list[tuple[float, float, str, str, bool]]], turns: Turnarounds
) -> list[str]:
    """The turnaround between a track and the next use of its antenna by another node, and
    between a contact and the next track (module docstring)."""
    out = []
    for (st, ant), items in uses.items():
        if turns.most_s(st) <= 0 or not any(item[4] for item in items):
            continue
        tol = SLEW_TOL_S if turns.stations.get(st, {}).get("slew") else TOL_S
        items.sort()
        for prev, nxt in zip(items, items[1:], strict=False):
            if not (prev[4] or nxt[4]) or prev[2] == nxt[2]:
                continue
            need = turns.need_s(st, prev[2], nxt[2], prev[1], nxt[0])
            if nxt[0] - prev[1] < need - tol:
                out.append(
                    f"turnaround: {st} antenna {ant}: {nxt[3]} ({nxt[2]}) starts "
                    f"{nxt[0] - prev[1]:.3f} s after {prev[3]} ({prev[2]}) ends; the turnaround "
                    f"needs {need:.3f} s"
                )
    return out


def _requests(
    requests: dict[str, dict[str, Any]], by_request: dict[str, list[tuple[float, float]]]
) -> list[str]:
    out = []
    for rid, req in requests.items():
        spans = sorted(by_request.get(rid, []))
        total = sum(b - a for a, b in spans)
        name = f"track request {rid}"
        segment = req.get("min_segment_s")
        if len(spans) > 1 and segment is None:
            out.append(f"{name}: {len(spans)} tracks but the request may not be split")
        for (_, a1), (b0, _) in zip(spans, spans[1:], strict=False):
            if b0 < a1 - TOL_S:
                out.append(f"{name}: segments overlap")
        if segment is not None and len(spans) > 1:
            out += [f"{name}: segment of {b - a:g} s < min_segment_s {segment:g}"
                    for a, b in spans if b - a < segment - TOL_S]  # fmt: skip
        if spans and total < req["min_duration_s"] - TOL_S:
            out.append(f"{name}: {total:g} s scheduled < min_duration_s {req['min_duration_s']:g}")
        if total > req["requested_s"] + TOL_S:
            out.append(f"{name}: {total:g} s scheduled > requested {req['requested_s']:g}")
        if abs(total - req["scheduled_s"]) > TOL_S:
            out.append(
                f"{name}: scheduled_s {req['scheduled_s']:g} but its tracks add up to {total:g}"
            )
        status = (
            "complete" if total >= req["requested_s"] - TOL_S
            else "partial" if total > TOL_S else "unscheduled"
        )  # fmt: skip
        if req["status"] != status:
            out.append(f"{name}: status {req['status']!r}, expected {status!r}")
        if status != "complete" and not req.get("reason"):
            out.append(f"{name}: {status} without a reason")
    return out


def _missions(plan: Mapping[str, Any]) -> list[str]:
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for req in plan["track_requests"]:
        totals[req["mission"]][0] += req["requested_s"]
        totals[req["mission"]][1] += req["scheduled_s"]
    out = []
    listed = {m["mission"]: m for m in plan.get("missions", [])}
    for mission, (req, got) in totals.items():
        m = listed.get(mission)
        if m is None:
            out.append(f"mission {mission}: missing from missions")
        elif abs(m["requested_s"] - req) > TOL_S or abs(m["scheduled_s"] - got) > TOL_S:
            out.append(f"mission {mission}: requested/scheduled do not add up its requests")
    return out
