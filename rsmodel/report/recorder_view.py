"""Report views of onboard recorders (plan.json ``recorders``, ``sources``, ``losses``;
docs/recorder.md): a fill chart per node with its downlinks shaded, and a per-source table of
bytes produced, delivered, lost and left onboard."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rsmodel.model.vocabulary import PRIORITIES
from rsmodel.report.svg import LineChart, Series, build_line_chart, to_datetime
from rsmodel.report.tables import Cell, Row, Table, fmt_hm, fmt_mb, fmt_time

FILL_CHARTS_MAX = 12  # nodes drawn; the rest are in plan.json / plan.nc


def recorder_summary(plan: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(got-down lines, not-done lines) of the data sources for the manager summary."""
    sources = plan.get("sources") or []
    if not sources:
        return [], []
    produced = sum(float(s["produced_bytes"]) for s in sources)
    delivered = sum(float(s["delivered_bytes"]) for s in sources)
    got = [f"recorders: {fmt_mb(delivered)} of {fmt_mb(produced)} produced downlinked"]
    lost = sorted(
        (s for s in sources if float(s.get("lost_bytes") or 0.0) > 0.0),
        key=lambda s: -float(s["lost_bytes"]),
    )
    missing = [
        f"source {s['id']} ({PRIORITIES[int(s['rank'])]}) lost {fmt_mb(s['lost_bytes'])}: "
        "recorder full"
        for s in lost[:5]
    ]
    return got, missing


def fill_charts(plan: dict[str, Any]) -> tuple[list[tuple[str, LineChart]], int]:
    """One chart per recorder: fill as a fraction of capacity over time with the capacity line
    and the node's downlinks as shaded bands; nodes that lose most, then fullest, first
    (capped at :data:`FILL_CHARTS_MAX`); and how many were left out."""
    recorders = plan.get("recorders") or []
    if not recorders:
        return [], 0
    start, end = to_datetime(plan["horizon"]["start"]), to_datetime(plan["horizon"]["end"])
    lost: dict[str, float] = defaultdict(float)
    for loss in plan.get("losses", []):
        lost[loss["node"]] += float(loss.get("lost_bytes") or 0.0)
    downlinks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for op in plan.get("operations", []):
        downlinks[op["node"]].append(op)

    def peak(rec: dict[str, Any]) -> float:
        return max(rec["fill_bytes"], default=0.0) / max(float(rec["capacity_bytes"]), 1.0)

    ordered = sorted(recorders, key=lambda r: (-lost[r["node"]], -peak(r), r["node"]))
    charts = []
    for rec in ordered[:FILL_CHARTS_MAX]:
        capacity = max(float(rec["capacity_bytes"]), 1.0)
        fill = [float(v) / capacity for v in rec["fill_bytes"]]
        series = [Series(rec["node"], [to_datetime(t) for t in rec["times"]], fill, "s0")]
        bands = [
            (
                to_datetime(op["start"]),
                to_datetime(op["end"]),
                f"downlink {op['sync_id']} to {op['station']} {fmt_hm(op['start'])}–"
                f"{fmt_hm(op['end'])}, {fmt_mb(op['bytes'])}",
            )
            for op in downlinks.get(rec["node"], [])
        ]
        chart = build_line_chart(
            series,
            y_label="fill",
            hlines=[(1.0, "floor", f"capacity {fmt_mb(capacity)}")],
            y_range=(0.0, 1.05),
            x_range=(start, end),
            x_bands=bands,
            width_px=480.0,
            height_px=180.0,
        )
        charts.append((rec["node"], chart))
    return charts, max(len(recorders) - FILL_CHARTS_MAX, 0)


def source_table(plan: dict[str, Any]) -> Table | None:
    """Per data source: class, type, produced, delivered, lost (with the first loss) and left
    onboard at the end of the horizon."""
    sources = plan.get("sources") or []
    if not sources:
        return None
    first_loss = {loss["source"]: loss.get("first_time") for loss in plan.get("losses", [])}
    rows = []
    for s in sources:
        lost = float(s.get("lost_bytes") or 0.0)
        cells = [
            Cell(s["node"]),
            Cell(str(s["source"])),
            Cell(PRIORITIES[int(s["rank"])]),
            Cell(str(s.get("data_type") or "")),
            Cell(fmt_mb(s["produced_bytes"]), s["produced_bytes"]),
            Cell(fmt_mb(s["delivered_bytes"]), s["delivered_bytes"]),
            Cell(fmt_mb(lost), lost),
            Cell(fmt_time(first_loss.get(s["id"])) if lost > 0 else "–"),
            Cell(fmt_mb(s["onboard_end_bytes"]), s["onboard_end_bytes"]),
        ]
        rows.append(Row(cells))
    columns = [
        ("node", False),
        ("source", False),
        ("class", False),
        ("data type", False),
        ("produced", True),
        ("delivered", True),
        ("lost", True),
        ("first loss", False),
        ("onboard at end", True),
    ]
    return Table("t-sources", columns, rows, filters=["node", "class"])
