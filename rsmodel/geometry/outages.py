"""Planned unavailability: windows cut by station maintenance and node blackouts.

A window overlapping an outage of its station or node keeps only the parts outside it (parts
shorter than ``MIN_PIECE_S`` are dropped). A piece keeps its pass's ``max_elevation_deg``; its
``tca`` is the pass's culmination moved into the piece; ``start_clipped`` / ``end_clipped``
keep meaning "cut by the horizon" (False at an outage's edge).
"""

from __future__ import annotations

import pandas as pd

from rsmodel.model.scenario import OrbitalNode, Station

MIN_PIECE_S = 1.0


def cut_outages(
    windows: pd.DataFrame, nodes: list[OrbitalNode], stations: list[Station]
) -> pd.DataFrame:
    """``windows`` (geometry contract) minus the outages of their node and station, sorted by
    (start, node, station) and numbered again when anything was cut."""
    down: dict[tuple[str, str], list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    for kind, items in (("node", nodes), ("station", stations)):
        for item in items:
            spans = item.blackouts if kind == "node" else item.maintenance  # type: ignore[union-attr]
            if spans:
                down[(kind, item.name)] = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in spans]
    if not down or not len(windows):
        return windows
    rows = []
    for row in windows.to_dict("records"):
        cuts = down.get(("node", row["node"]), []) + down.get(("station", row["station"]), [])
        for a, b in _subtract(row["start"], row["end"], cuts):
            if (b - a).total_seconds() < MIN_PIECE_S:
                continue
            rows.append(
                {
                    **row,
                    "start": a,
                    "end": b,
                    "tca": min(max(row["tca"], a), b),
                    "duration_s": (b - a).total_seconds(),
                    "start_clipped": row["start_clipped"] and a == row["start"],
                    "end_clipped": row["end_clipped"] and b == row["end"],
                }
            )
    out = pd.DataFrame(rows, columns=windows.columns)
    if not len(out):
        return out
    out = out.sort_values(["start", "node", "station"], kind="stable").reset_index(drop=True)
    out["id"] = [f"w{i + 1:05d}" for i in range(len(out))]
    return out.astype({c: windows[c].dtype for c in windows.columns if c != "id"})


def _subtract(
    start: pd.Timestamp, end: pd.Timestamp, cuts: list[tuple[pd.Timestamp, pd.Timestamp]]
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
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
