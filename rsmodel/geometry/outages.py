"""Planned unavailability: windows cut by station maintenance and node blackouts.

A window overlapping an outage of its station or node keeps only the parts outside it (parts
shorter than ``MIN_PIECE_S`` are dropped). A piece keeps its pass's ``max_elevation_deg``; its
``tca`` is the pass's culmination moved into the piece; ``start_clipped`` / ``end_clipped``
keep meaning "cut by the horizon" (False at an outage's edge).
"""

from __future__ import annotations

import numpy as np

from rsmodel.geometry.windows import Table, sorted_by_start, take
from rsmodel.model.scenario import OrbitalNode, Station
from rsmodel.timeutil import ns_seconds, utc_ns

MIN_PIECE_S = 1.0


def cut_outages(windows: Table, nodes: list[OrbitalNode], stations: list[Station]) -> Table:
    """``windows`` (geometry contract) minus the outages of their node and station, sorted by
    (start, node, station) and numbered again when anything was cut."""
    down: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for kind, items in (("node", nodes), ("station", stations)):
        for item in items:
            spans = item.blackouts if kind == "node" else item.maintenance  # type: ignore[union-attr]
            if spans:
                down[(kind, item.name)] = [(utc_ns(a), utc_ns(b)) for a, b in spans]
    if not down or not len(windows["id"]):
        return windows
    start_ns, end_ns = windows["start"].view(np.int64), windows["end"].view(np.int64)
    rows: list[int] = []  # each piece's window
    lo: list[int] = []  # and its ends (ns since 1970)
    hi: list[int] = []
    for row, (node, station) in enumerate(zip(windows["node"], windows["station"], strict=True)):
        cuts = down.get(("node", node), []) + down.get(("station", station), [])
        for a, b in _subtract(int(start_ns[row]), int(end_ns[row]), cuts):
            rows.append(row)
            lo.append(a)
            hi.append(b)
    a, b = np.array(lo, dtype=np.int64), np.array(hi, dtype=np.int64)
    kept = ns_seconds(b - a) >= MIN_PIECE_S
    row, a, b = np.array(rows, dtype=int)[kept], a[kept], b[kept]
    out = take(windows, row)
    out["start"], out["end"] = a.view("datetime64[ns]"), b.view("datetime64[ns]")
    out["tca"] = np.clip(out["tca"].view(np.int64), a, b).view("datetime64[ns]")
    out["duration_s"] = ns_seconds(b - a)
    out["start_clipped"] = out["start_clipped"] & (a == start_ns[row])
    out["end_clipped"] = out["end_clipped"] & (b == end_ns[row])
    return sorted_by_start(out)


def _subtract(start: int, end: int, cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of ``[start, end]`` outside every cut."""
    pieces = [(start, end)]
    for a, b in sorted(cuts):
        pieces = [
            part
            for lo, hi in pieces
            for part in ((lo, min(hi, a)), (max(lo, b), hi))
            if part[1] > part[0]
        ]
    return pieces
