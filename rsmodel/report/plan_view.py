"""View model of a plan report: the manager summary, KPI cards, Gantt charts, SOC curves and
tables computed from a plan.json v1 dict (and optionally its plan.nc dataset)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from rsmodel.cells import station_time_sum
from rsmodel.model.vocabulary import PRIORITIES
from rsmodel.optimize.status import SolveStatus
from rsmodel.report.antenna_view import LEGEND as ANTENNA_LEGEND
from rsmodel.report.antenna_view import station_extras
from rsmodel.report.compute_view import (
    compute_summary,
    decision_bars,
    is_not_placed,
    job_decisions,
    job_list,
)
from rsmodel.report.recorder_view import recorder_summary
from rsmodel.report.svg import (
    Bar,
    Gantt,
    GanttRow,
    Heatmap,
    LineChart,
    Series,
    build_gantt,
    build_heatmap,
    build_line_chart,
    to_datetime,
)
from rsmodel.report.tables import (
    Card,
    Cell,
    Row,
    Table,
    fmt_deg,
    fmt_duration,
    fmt_hm,
    fmt_mb,
    fmt_time,
    fmt_value,
    generic_table,
    is_number,
)
from rsmodel.report.telescope_view import telescope_summary

SOC_CHARTS_MAX = 12  # SOC small multiples shown (the nodes closest to their floor first)
SOC_MARGIN = 0.05  # a node whose minimum SOC is within this of its floor is a risk
WINDOW_TABLE_MAX_ROWS = 2000  # above this the window table is left out (plan.json has them)
GANTT_DETAIL_MAX_BARS = 3000  # above this, windows/eclipses (per node) and transfers (per station)
# are drawn as compact paths without tooltips
GAP_RISK = 0.01


@dataclass(frozen=True)
class Risk:
    tone: str  # warn | bad
    text: str


@dataclass(frozen=True)
class Summary:
    headline: str
    tone: str
    got_down: list[str]
    not_down: list[str]
    risks: list[Risk]


def priority_class(priority: str | None) -> str:
    """CSS class of a priority (``p0`` critical .. ``p3`` low)."""
    return f"p{PRIORITIES.index(priority)}" if priority in PRIORITIES else "p2"


# --------------------------------------------------------------------------- summary


def _sync_summary(syncs: list[dict[str, Any]]) -> tuple[str, str, list[str], list[str]]:
    requested = sum(float(s.get("data_size_bytes") or 0) for s in syncs)
    delivered = sum(float(s.get("delivered_bytes") or 0) for s in syncs)
    status = Counter(s.get("status") for s in syncs)
    n, complete = len(syncs), status.get("complete", 0)
    share = f" ({delivered / requested:.0%})" if requested else ""
    headline = f"{complete} of {n} syncs complete; {fmt_mb(delivered)} of {fmt_mb(requested)} delivered{share}."
    tone = "ok" if complete == n else ("bad" if status.get("unmet") else "warn")
    got = []
    for prio in PRIORITIES:
        group = [s for s in syncs if s.get("priority") == prio]
        if group:
            done = sum(s.get("status") == "complete" for s in group)
            got_bytes = sum(float(s.get("delivered_bytes") or 0) for s in group)
            got.append(f"{prio}: {done}/{len(group)} complete, {fmt_mb(got_bytes)}")
    by_reason: dict[str, list[str]] = defaultdict(list)
    for s in syncs:
        if s.get("status") != "complete":
            by_reason[str(s.get("reason") or "no reason given")].append(
                f"{s['id']} ({s.get('status')})"
            )
    not_down = [
        f"{len(ids)} × {reason}: {', '.join(ids[:5])}{' …' if len(ids) > 5 else ''}"
        for reason, ids in sorted(by_reason.items(), key=lambda kv: -len(kv[1]))
    ]
    return headline, tone, got, not_down


def _missed_deadline(sync: dict[str, Any]) -> bool:
    """Not complete by its deadline (late, partial or unmet)."""
    if not sync.get("deadline"):
        return False
    done = sync.get("completed_at")
    return (
        sync.get("status") != "complete"
        or not done
        or to_datetime(done) > to_datetime(sync["deadline"])
    )


def _risks(plan: dict[str, Any], soc: dict[str, dict[str, Any]]) -> list[Risk]:
    risks = []
    missed = [s["id"] for s in plan.get("syncs", []) if _missed_deadline(s)]
    if missed:
        more = f" and {len(missed) - 5} more" if len(missed) > 5 else ""
        risks.append(
            Risk("bad", f"{len(missed)} sync deadline(s) missed: {', '.join(missed[:5])}{more}.")
        )
    critical_open = [
        s["id"]
        for s in plan.get("syncs", [])
        if s.get("priority") == "critical" and s.get("status") != "complete"
    ]
    if critical_open:
        risks.append(Risk("bad", f"critical sync(s) not complete: {', '.join(critical_open[:5])}."))
    low = []
    for node, curve in soc.items():
        values = [v for v in curve.get("soc", []) if is_number(v)]
        floor = curve.get("min_soc")
        if values and is_number(floor) and min(values) < floor + SOC_MARGIN:
            low.append((min(values) - floor, node, min(values), floor))
    for _, node, value, floor in sorted(low)[:5]:
        tone = "bad" if value < floor - 1e-9 else "warn"
        risks.append(Risk(tone, f"{node}: SOC reaches {value:.0%} (floor {floor:.0%})."))
    if len(low) > 5:
        risks.append(
            Risk("warn", f"{len(low) - 5} more node(s) within {SOC_MARGIN:.0%} of their SOC floor.")
        )
    not_placed = [d for d in job_decisions(plan) if is_not_placed(d)]
    if not_placed:
        risks.append(
            Risk("warn", f"{len(not_placed)} compute step(s) not placed (missed or deferred).")
        )
    solver = plan.get("solver") or {}
    status = solver.get("status")
    if status and not _proven(str(status)):
        risks.append(Risk("warn", f"solver status: {status}."))
    gap = solver.get("gap_global", solver.get("mip_gap"))
    if is_number(gap) and gap > GAP_RISK:
        risks.append(Risk("warn", f"optimality gap {gap:.1%}: a better plan may exist."))
    risks += [Risk("warn", str(w)) for w in plan.get("warnings", [])[:5]]
    if len(plan.get("warnings", [])) > 5:
        risks.append(Risk("warn", f"{len(plan['warnings']) - 5} more warning(s) below."))
    return risks


def build_summary(plan: dict[str, Any], soc: dict[str, dict[str, Any]]) -> Summary:
    """The ten-second summary: what got down, what did not and why, the main risks."""
    syncs = plan.get("syncs") or []
    headline, tone, got, not_down = "", "", [], []
    if syncs:
        headline, tone, got, not_down = _sync_summary(syncs)
    parts = (compute_summary(plan), telescope_summary(plan), recorder_summary(plan))
    for part_got, part_missing in parts:
        got += part_got
        not_down += part_missing
        if part_missing and tone != "bad":
            tone = "warn"
    if not headline:
        headline = "; ".join(got[:3]) + "." if got else "Nothing was requested in this plan."
    risks = _risks(plan, soc)
    if risks and tone in ("", "ok"):
        tone = "warn"
    return Summary(headline, tone or "ok", got, not_down, risks)


def build_cards(plan: dict[str, Any]) -> list[Card]:
    """KPI cards: transfers (when the plan has syncs) and compute jobs (when it has jobs)."""
    k = plan.get("kpis") or {}
    syncs = plan.get("syncs") or []
    cards = []
    if syncs:
        done = sum(s.get("status") == "complete" for s in syncs)
        tone = "ok" if done == len(syncs) else "warn"
        cards.append(Card("syncs complete", f"{done}/{len(syncs)}", tone=tone))
        cards += _transfer_cards(plan, k)
    jobs = job_list(plan)
    if jobs:
        done = sum(j.get("status") == "complete" for j in jobs)
        cards.append(
            Card("jobs complete", f"{done}/{len(jobs)}", tone="ok" if done == len(jobs) else "warn")
        )
    decisions = job_decisions(plan)
    if decisions:
        placed = sum(not is_not_placed(d) for d in decisions)
        tone = "ok" if placed == len(decisions) else "warn"
        cards.append(Card("compute steps placed", f"{placed}/{len(decisions)}", tone=tone))
    return cards


def _transfer_cards(plan: dict[str, Any], k: dict[str, Any]) -> list[Card]:
    cards = []
    if is_number(k.get("total_data_mb")):
        requested = k.get("requested_data_mb")
        detail = f"of {fmt_mb(requested * 1e6)} requested" if is_number(requested) else ""
        cards.append(Card("data delivered", fmt_mb(k["total_data_mb"] * 1e6), detail))
    if is_number(k.get("utilization")):
        cards.append(
            Card("bandwidth utilisation", f"{k['utilization']:.1%}", "of used passes' capacity")
        )
    if is_number(k.get("avg_wait_minutes")):
        cards.append(
            Card("average wait", f"{k['avg_wait_minutes']:.1f} min", "release to completion")
        )
    if is_number(k.get("passes_used")):
        n_windows = len(plan.get("windows", []))
        cards.append(Card("passes used", f"{k['passes_used']:g}", f"of {n_windows} windows"))
    if k.get("latest_completion"):
        cards.append(Card("latest completion", fmt_time(k["latest_completion"]), "UTC"))
    for key, label in (
        ("unmet_count", "unmet"),
        ("partial_count", "partial"),
        ("deadline_misses", "deadline misses"),
    ):
        if is_number(k.get(key)):
            cards.append(Card(label, f"{k[key]:g}", tone="bad" if k[key] else "ok"))
    return cards


# --------------------------------------------------------------------------- Gantt charts


def priority_legend(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """Legend entries of the transfer priorities present in the plan."""
    present = {s.get("priority") for s in plan.get("syncs", [])}
    return [(f"op p{i}", f"transfer ({p})") for i, p in enumerate(PRIORITIES) if p in present]


def _window_title(w: dict[str, Any], used: bool) -> str:
    return (
        f"{w['station']} {fmt_hm(w['start'])}–{fmt_hm(w['end'])} "
        f"{fmt_deg(w.get('max_elevation_deg'), 0)} {fmt_mb(w.get('capacity_bytes'))}{' used' if used else ''}"
    )


def transfers(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Sync and job-downlink entries (operations name either by ``sync_id``)."""
    return [*plan.get("syncs", []), *plan.get("job_downlinks", [])]


def _op_bar(op: dict[str, Any], priority: dict[str, str], other: str) -> Bar:
    """A transfer bar; ``other`` is the key (node or station) not already named by the row."""
    title = f"{op['sync_id']} {op[other]} {fmt_hm(op['start'])}–{fmt_hm(op['end'])} {fmt_mb(op.get('bytes'))}"
    cls = f"op {priority_class(priority.get(op['sync_id']))}"
    return Bar(to_datetime(op["start"]), to_datetime(op["end"]), cls, title)


def gantt_by_node(plan: dict[str, Any]) -> Gantt:
    """Per-node rows: eclipse bands, pass windows (used ones darker), transfers, compute steps."""
    start, end = to_datetime(plan["horizon"]["start"]), to_datetime(plan["horizon"]["end"])
    rows = {n["name"]: GanttRow(n["name"]) for n in plan.get("nodes", [])}
    used = {op.get("window_id") for op in plan.get("operations", [])}
    priority = {s["id"]: s.get("priority") for s in transfers(plan)}
    for e in plan.get("eclipses", []):
        title = f"eclipse {fmt_hm(e['start'])}–{fmt_hm(e['end'])}"
        rows.setdefault(e["node"], GanttRow(e["node"])).bars.append(
            Bar(to_datetime(e["start"]), to_datetime(e["end"]), "ecl", title, band=True)
        )
    for w in plan.get("windows", []):
        cls = "win used" if w["id"] in used else "win"
        rows.setdefault(w["node"], GanttRow(w["node"])).bars.append(
            Bar(
                to_datetime(w["start"]),
                to_datetime(w["end"]),
                cls,
                _window_title(w, w["id"] in used),
            )
        )
    for op in plan.get("operations", []):
        rows.setdefault(op["node"], GanttRow(op["node"])).bars.append(
            _op_bar(op, priority, "station")
        )
    for d in job_decisions(plan):
        if d.get("node"):
            rows.setdefault(d["node"], GanttRow(d["node"])).bars.extend(decision_bars(d))
    legend = [("ecl", "eclipse"), ("win", "pass window"), ("win used", "window used")]
    legend += priority_legend(plan)
    if job_decisions(plan):
        legend.append(("job", "compute step"))
    n_background = len(plan.get("windows", [])) + len(plan.get("eclipses", []))
    compact = frozenset({"ecl", "win", "win used"} if n_background > GANTT_DETAIL_MAX_BARS else ())
    return build_gantt(list(rows.values()), start, end, legend, compact=compact)


def _merged_intervals(windows: list[dict[str, Any]]) -> list[tuple[datetime, datetime, int]]:
    """Union of window intervals as (start, end, number of windows merged), in time order."""
    spans = sorted((to_datetime(w["start"]), to_datetime(w["end"])) for w in windows)
    merged: list[list[Any]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] += 1
        else:
            merged.append([start, end, 1])
    return [(a, b, n) for a, b, n in merged]


def track_bars(track: dict[str, Any]) -> list[Bar]:
    """Setup, track and teardown of one scheduled track (docs/tracks.md)."""
    title = (
        f"{track['id']} {track['node']} on {'+'.join(track['stations'])} "
        f"{fmt_hm(track['start'])}–{fmt_hm(track['end'])} ({track['priority']})"
    )
    t = {k: to_datetime(track[k]) for k in ("setup_start", "start", "end", "teardown_end")}
    bars = [Bar(t["start"], t["end"], "trk", title)]
    if t["setup_start"] < t["start"]:
        bars.append(Bar(t["setup_start"], t["start"], "trk setup", f"setup of {title}"))
    if t["end"] < t["teardown_end"]:
        bars.append(Bar(t["end"], t["teardown_end"], "trk teardown", f"teardown of {title}"))
    return bars


def gantt_by_station(plan: dict[str, Any]) -> Gantt:
    """Per-station rows: time with at least one node in view (merged windows), the transfers,
    the tracks (setup, track, teardown), maintenance and antenna turnarounds
    (rsmodel.report.antenna_view)."""
    start, end = to_datetime(plan["horizon"]["start"]), to_datetime(plan["horizon"]["end"])
    rows = {s["name"]: GanttRow(s["name"]) for s in plan.get("stations", [])}
    priority = {s["id"]: s.get("priority") for s in transfers(plan)}
    by_station: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for w in plan.get("windows", []):
        by_station[w["station"]].append(w)
    for station, windows in by_station.items():
        for a, b, n in _merged_intervals(windows):
            title = f"{fmt_hm(a)}–{fmt_hm(b)} {n} pass{'es' if n > 1 else ''}"
            rows.setdefault(station, GanttRow(station)).bars.append(Bar(a, b, "vis", title))
    for op in plan.get("operations", []):
        rows.setdefault(op["station"], GanttRow(op["station"])).bars.append(
            _op_bar(op, priority, "node")
        )
    for track in plan.get("tracks", []):
        for station in track["stations"]:
            rows.setdefault(station, GanttRow(station)).bars.extend(track_bars(track))
    extras = station_extras(plan)
    for station, bars in extras.items():
        rows.setdefault(station, GanttRow(station)).bars.extend(bars)
    present = {b.cls for bars in extras.values() for b in bars}
    legend = [("vis", "a node in view")] + priority_legend(plan)
    if plan.get("tracks"):
        legend += [("trk setup", "track setup / teardown"), ("trk", "track")]
    legend += [(cls, label) for cls, label in ANTENNA_LEGEND if cls in present]
    large = len(plan.get("operations", [])) > GANTT_DETAIL_MAX_BARS
    compact = frozenset(f"op p{i}" for i in range(len(PRIORITIES))) if large else frozenset()
    return build_gantt(list(rows.values()), start, end, legend, row_height_px=20.0, compact=compact)


# --------------------------------------------------------------------------- SOC and throughput


def soc_curves(plan: dict[str, Any], dataset: Any) -> dict[str, dict[str, Any]]:
    """SOC curves per node: ``plan["soc"]``, else the dataset's ``soc (node, time)`` variable."""
    if plan.get("soc"):
        return plan["soc"]
    if dataset is None or "soc" not in dataset:
        return {}
    times = [str(np.datetime_as_string(t, unit="s")) + "Z" for t in dataset["time"].values]
    floor = dataset["soc"].attrs.get("min_soc")
    return {
        str(node): {
            "times": times,
            "soc": [float(v) for v in dataset["soc"].sel(node=node).values],
            "min_soc": floor,
        }
        for node in dataset["node"].values
    }


def soc_charts(
    plan: dict[str, Any], soc: dict[str, dict[str, Any]]
) -> tuple[list[tuple[str, LineChart]], int]:
    """One SOC chart per node with its floor line, nodes closest to their floor first (capped)."""
    start, end = to_datetime(plan["horizon"]["start"]), to_datetime(plan["horizon"]["end"])

    def margin(item: tuple[str, dict[str, Any]]) -> float:
        values = [v for v in item[1].get("soc", []) if is_number(v)]
        floor = item[1].get("min_soc") if is_number(item[1].get("min_soc")) else 0.0
        return (min(values) - floor) if values else 1.0

    ordered = sorted(soc.items(), key=lambda item: (margin(item), item[0]))
    eclipses: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in plan.get("eclipses", []):
        eclipses[e["node"]].append(e)
    charts = []
    for node, curve in ordered[:SOC_CHARTS_MAX]:
        floor = curve.get("min_soc")
        hl = [(float(floor), "floor", f"min SOC {floor:.0%}")] if is_number(floor) else []
        series = [Series(node, [to_datetime(t) for t in curve["times"]], curve["soc"], "s0")]
        bands = [
            (
                to_datetime(e["start"]),
                to_datetime(e["end"]),
                f"eclipse {fmt_hm(e['start'])}–{fmt_hm(e['end'])}",
            )
            for e in eclipses.get(node, [])
        ]
        charts.append(
            (
                node,
                build_line_chart(
                    series,
                    y_label="SOC",
                    hlines=hl,
                    y_range=(0.0, 1.0),
                    x_range=(start, end),
                    x_bands=bands,
                    width_px=480.0,
                    height_px=180.0,
                ),
            )
        )
    return charts, max(len(soc) - SOC_CHARTS_MAX, 0)


def throughput_heatmap(dataset: Any) -> Heatmap | None:
    """Downlinked MB per station and UTC hour, from plan.nc's ``bytes`` (either layout)."""
    if dataset is None or "bytes" not in dataset or dataset.sizes.get("time", 0) == 0:
        return None
    hourly = station_time_sum(dataset, "bytes").resample(time="1h").sum() / 1e6
    hours = [str(np.datetime_as_string(t, unit="h"))[-2:] for t in hourly["time"].values]
    stations = [str(st) for st in hourly["station"].values]
    values = hourly.transpose("station", "time").values.tolist()
    return build_heatmap(
        values, hours, stations, x_label="UTC hour", y_label="station", value_label="MB"
    )


# --------------------------------------------------------------------------- tables


def sync_table(plan: dict[str, Any]) -> Table:
    """Sync outcomes: one row per request, filterable by status, priority and node."""
    rows = []
    for s in plan.get("syncs", []):
        size, got = s.get("data_size_bytes"), s.get("delivered_bytes")
        share = (float(got or 0) / float(size)) if is_number(size) and size else None
        prio = s.get("priority", "")
        cells = [
            Cell(s["id"]),
            Cell(s.get("node", "")),
            Cell(prio, PRIORITIES.index(prio) if prio in PRIORITIES else 9, priority_class(prio)),
            Cell(s.get("data_type") or "–"),
            Cell(fmt_mb(size), size if is_number(size) else None),
            Cell(fmt_mb(got), got if is_number(got) else None),
            Cell(f"{share:.0%}" if share is not None else "–", share),
            Cell(fmt_time(s.get("release"), date=True)),
            Cell(fmt_time(s.get("deadline"), date=True)),
            Cell(fmt_time(s.get("completed_at"), date=True)),
            Cell(s.get("status", ""), cls=f"st-{s.get('status', '')}"),
            Cell(s.get("reason") or "", cls="wrap"),
        ]
        rows.append(Row(cells))
    columns = [
        ("id", False),
        ("node", False),
        ("priority", True),
        ("type", False),
        ("size", True),
        ("delivered", True),
        ("done", True),
        ("release", False),
        ("deadline", False),
        ("completed", False),
        ("status", False),
        ("reason", False),
    ]
    return Table("t-syncs", columns, rows, filters=["status", "priority", "node"])


def operations_table(plan: dict[str, Any]) -> Table:
    """Planned transfers (one row per piece of a sync in a window), filterable by node and station."""
    priority = {s["id"]: s.get("priority") for s in transfers(plan)}
    rows = []
    for op in sorted(plan.get("operations", []), key=lambda o: (o["start"], o["node"])):
        duration = (to_datetime(op["end"]) - to_datetime(op["start"])).total_seconds()
        cells = [
            Cell(fmt_time(op["start"], date=True)),
            Cell(fmt_time(op["end"], date=True)),
            Cell(fmt_duration(duration), duration),
            Cell(op["sync_id"], cls=priority_class(priority.get(op["sync_id"]))),
            Cell(op["node"]),
            Cell(op["station"]),
            Cell(fmt_mb(op.get("bytes")), op.get("bytes")),
        ]
        rows.append(Row(cells))
    columns = [
        ("start", False),
        ("end", False),
        ("duration", True),
        ("sync", False),
        ("node", False),
        ("station", False),
        ("bytes", True),
    ]
    return Table("t-ops", columns, rows, filters=["node", "station"])


def node_queue_table(plan: dict[str, Any]) -> Table:
    """Per-node queue: requests by priority, bytes requested and delivered, open requests."""
    by_node: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in plan.get("syncs", []):
        by_node[s["node"]].append(s)
    names = [n["name"] for n in plan.get("nodes", [])]
    names += sorted(set(by_node) - set(names))
    rows = []
    for node in names:
        syncs = by_node.get(node, [])
        requested = sum(float(s.get("data_size_bytes") or 0) for s in syncs)
        delivered = sum(float(s.get("delivered_bytes") or 0) for s in syncs)
        counts = Counter(s.get("priority") for s in syncs)
        open_ids = [s["id"] for s in syncs if s.get("status") != "complete"]
        cells = [Cell(node), Cell(str(len(syncs)), len(syncs))]
        cells += [Cell(str(counts.get(p, 0)), counts.get(p, 0)) for p in PRIORITIES]
        cells += [
            Cell(fmt_mb(requested), requested),
            Cell(fmt_mb(delivered), delivered),
            Cell(
                f"{delivered / requested:.0%}" if requested else "–",
                delivered / requested if requested else None,
            ),
            Cell(", ".join(open_ids) or "–", cls="wrap"),
        ]
        rows.append(Row(cells))
    columns = [("node", False), ("syncs", True)] + [(p, True) for p in PRIORITIES]
    columns += [("requested", True), ("delivered", True), ("done", True), ("not complete", False)]
    return Table("t-nodes", columns, rows)


def station_table(plan: dict[str, Any]) -> Table:
    """Per-station pass totals: windows, windows used, visible time, delivered, utilisation."""
    windows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for w in plan.get("windows", []):
        windows[w["station"]].append(w)
    used = {op.get("window_id") for op in plan.get("operations", [])}
    delivered: Counter[str] = Counter()
    for op in plan.get("operations", []):
        delivered[op["station"]] += float(op.get("bytes") or 0)
    rows = []
    for st in plan.get("stations", []):
        ws = windows.get(st["name"], [])
        n_used = sum(w["id"] in used for w in ws)
        cap_used = sum(float(w.get("capacity_bytes") or 0) for w in ws if w["id"] in used)
        util = delivered[st["name"]] / cap_used if cap_used else None
        visible_s = sum(w.get("duration_s", 0) for w in ws)
        cells = [
            Cell(st["name"]),
            Cell(f"{st.get('bandwidth_bps', 0) / 1e6:,.0f} Mbps", st.get("bandwidth_bps")),
            Cell(str(len(ws)), len(ws)),
            Cell(str(n_used), n_used),
            Cell(fmt_duration(visible_s), visible_s),
            Cell(fmt_mb(delivered[st["name"]]), delivered[st["name"]]),
            Cell(f"{util:.1%}" if util is not None else "–", util),
        ]
        rows.append(Row(cells))
    columns = [
        ("station", False),
        ("bandwidth", True),
        ("windows", True),
        ("used", True),
        ("visible time", True),
        ("delivered", True),
        ("utilisation of used passes", True),
    ]
    return Table("t-stations", columns, rows)


def window_table(plan: dict[str, Any]) -> Table | None:
    """Every pass window; None above WINDOW_TABLE_MAX_ROWS (plan.json lists them all)."""
    windows = plan.get("windows", [])
    if not windows or len(windows) > WINDOW_TABLE_MAX_ROWS:
        return None
    used = {op.get("window_id") for op in plan.get("operations", [])}
    rows = [
        Row(
            [
                Cell(w["id"]),
                Cell(w["node"]),
                Cell(w["station"]),
                Cell(fmt_time(w["start"], date=True)),
                Cell(fmt_duration(w.get("duration_s")), w.get("duration_s")),
                Cell(fmt_deg(w.get("max_elevation_deg")), w.get("max_elevation_deg")),
                Cell(fmt_mb(w.get("capacity_bytes")), w.get("capacity_bytes")),
                Cell("yes" if w["id"] in used else "no"),
            ]
        )
        for w in windows
    ]
    columns = [
        ("id", False),
        ("node", False),
        ("station", False),
        ("start", False),
        ("duration", True),
        ("max elevation", True),
        ("capacity", True),
        ("used", False),
    ]
    return Table("t-windows", columns, rows, filters=["node", "station", "used"])


def _proven(status: str) -> bool:
    """The plan's ``solver.status`` is a proven one (docs/plan-format.md, "solver")."""
    try:
        return SolveStatus(status).is_proven
    except ValueError:  # not a status rsmodel writes
        return False


def solver_stages_table(plan: dict[str, Any]) -> Table | None:
    """The solver's per-stage statistics (``solver.stages``), when present."""
    stages = [st for st in (plan.get("solver") or {}).get("stages") or [] if isinstance(st, dict)]
    return generic_table("t-stages", stages) if stages else None


def solver_rows(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of the solver stats present in the plan."""
    solver = plan.get("solver") or {}
    labels = [
        ("method", "method"),
        ("strategy", "strategy"),
        ("strategy_reason", "strategy chosen because"),
        ("status", "status"),
        ("objective", "objective"),
        ("mip_gap", "MIP gap"),
        ("bound", "bound"),
        ("gap_global", "global gap"),
        ("build_s", "build time"),
        ("solve_s", "solve time"),
        ("time_limit_s", "time limit"),
    ]
    rows = []
    for key, label in labels:
        value = solver.get(key)
        if value is None:
            continue
        if key.endswith("_s") and is_number(value):
            rows.append((label, f"{value:.2f} s"))
        elif "gap" in key and is_number(value):
            rows.append((label, f"{value:.3%}"))
        else:
            rows.append((label, fmt_value(value)))
    rows += [
        (k.replace("_", " "), fmt_value(v))
        for k, v in solver.items()
        if k not in dict(labels) and k != "notes" and not isinstance(v, dict | list)
    ]
    return rows
