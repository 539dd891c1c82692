"""Station timeline extras: maintenance (whole station or one antenna) and antenna turnarounds.

The turnaround bars start where an antenna's contact or antenna track (``tracks``, docs/tracks.md)
ends before a contact or track of another node on the same antenna and last the turnaround the
station needs (fixed, or the slew computed by the plan checker's
:class:`~rsmodel.plan.check_antennas.Turnarounds` from plan.json alone).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from rsmodel.plan.check_antennas import Turnarounds
from rsmodel.report.svg import Bar, to_datetime
from rsmodel.report.tables import fmt_hm

LEGEND = [("maint", "maintenance"), ("turn", "antenna turnaround")]


def station_extras(plan: dict[str, Any]) -> dict[str, list[Bar]]:
    """Per station: maintenance bands and turnaround bars (empty when the plan has neither)."""
    out: dict[str, list[Bar]] = defaultdict(list)
    for s in plan.get("stations", []):
        for m in s.get("maintenance") or []:
            a, b = to_datetime(m["start"]), to_datetime(m["end"])
            title = f"maintenance {fmt_hm(a)}–{fmt_hm(b)} (all antennas)"
            out[s["name"]].append(Bar(a, b, "maint", title, band=True))
        for m in s.get("antenna_maintenance") or []:
            a, b = to_datetime(m["start"]), to_datetime(m["end"])
            title = f"antenna {m['antenna']} maintenance {fmt_hm(a)}–{fmt_hm(b)}"
            out[s["name"]].append(Bar(a, b, "maint", title))
    for name, bars in _turnarounds(plan).items():
        out[name].extend(bars)
    return dict(out)


def _turnarounds(plan: dict[str, Any]) -> dict[str, list[Bar]]:
    """Per station: a turnaround bar wherever an antenna passes from one node to another,
    between contacts (a contact is busy from its station's ``setup_s`` before its operation)
    and antenna tracks (busy from ``setup_start`` to ``teardown_end``) alike."""
    turns = Turnarounds(plan)
    start = to_datetime(plan["horizon"]["start"])
    setup = {s["name"]: float(s.get("setup_s") or 0.0) for s in plan.get("stations", [])}
    # (station, antenna) -> (busy from, busy to, node) of each contact and track
    uses: dict[tuple[str, int], list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for op in plan.get("operations", []):
        if op.get("antenna") is not None and turns.most_s(op["station"]) > 0:
            a = to_datetime(op["start"]) - timedelta(seconds=setup.get(op["station"], 0.0))
            uses[(op["station"], int(op["antenna"]))].append(
                (a, to_datetime(op["end"]), op["node"])
            )
    for track in plan.get("tracks", []):
        span = (to_datetime(track["setup_start"]), to_datetime(track["teardown_end"]))
        for station, antenna in zip(track["stations"], track.get("antennas") or [], strict=False):
            if antenna is not None and turns.most_s(station) > 0:
                uses[(station, int(antenna))].append((*span, track["node"]))
    out: dict[str, list[Bar]] = defaultdict(list)
    for (station, antenna), items in uses.items():
        items.sort()
        for prev, nxt in zip(items, items[1:], strict=False):
            if prev[2] == nxt[2]:
                continue
            a, b = prev[1], nxt[0]
            need = turns.need_s(
                station,
                prev[2],
                nxt[2],
                (a - start).total_seconds(),
                (b - start).total_seconds(),
            )
            title = (
                f"antenna {antenna + 1} turnaround {need:.0f} s: {prev[2]} → {nxt[2]} "
                f"({fmt_hm(a)}–{fmt_hm(b)} idle)"
            )
            out[station].append(Bar(a, a + timedelta(seconds=need), "turn", title))
    return out
