"""Station timeline extras: maintenance (whole station or one antenna) and antenna turnarounds.

The turnaround bars start where an antenna's operation ends before an operation of another node
on the same antenna and last the turnaround the station needs (fixed, or the slew computed by
the plan checker's :class:`~rsmodel.plan.check_antennas.Turnarounds` from plan.json alone).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
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
    turns = Turnarounds(plan)
    start = to_datetime(plan["horizon"]["start"])
    setup = {s["name"]: float(s.get("setup_s") or 0.0) for s in plan.get("stations", [])}
    by_antenna: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for op in plan.get("operations", []):
        if op.get("antenna") is not None and turns.most_s(op["station"]) > 0:
            by_antenna[(op["station"], int(op["antenna"]))].append(op)
    out: dict[str, list[Bar]] = defaultdict(list)
    for (station, antenna), ops in by_antenna.items():
        ops.sort(key=lambda o: o["start"])
        for prev, nxt in zip(ops, ops[1:], strict=False):
            if prev["node"] == nxt["node"]:
                continue
            a = to_datetime(prev["end"])
            b = to_datetime(nxt["start"]) - timedelta(seconds=setup.get(station, 0.0))
            need = turns.need_s(
                station,
                prev["node"],
                nxt["node"],
                (a - start).total_seconds(),
                (b - start).total_seconds(),
            )
            title = (
                f"antenna {antenna + 1} turnaround {need:.0f} s: {prev['node']} → {nxt['node']} "
                f"({fmt_hm(a)}–{fmt_hm(b)} idle)"
            )
            out[station].append(Bar(a, a + timedelta(seconds=need), "turn", title))
    return out
