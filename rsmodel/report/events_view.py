"""View model of an event log: events of the one schema (rsmodel.plan.events: time, type,
subject fields, details), from a simulation, compute jobs or the telescope network."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from rsmodel.plan.events import event_type
from rsmodel.report.plan_view import GANTT_DETAIL_MAX_BARS, Risk, Summary
from rsmodel.report.svg import Bar, Gantt, GanttRow, build_gantt, to_datetime
from rsmodel.report.tables import Card, Cell, Row, Table, fmt_time, fmt_value

EVENT_TABLE_MAX_ROWS = 10000  # rows kept in the HTML table; the full log is events.jsonl
EVENT_TYPE_CARDS_MAX = 12


def event_subject(event: dict[str, Any]) -> str:
    """What the event is about: the sync, or the job/step, or a dash."""
    if event.get("sync_id"):
        return str(event["sync_id"])
    if event.get("job"):
        return "/".join(str(event[k]) for k in ("job", "step_id") if event.get(k))
    return str(event.get("task_id") or "–")


def event_table(events: list[dict[str, Any]]) -> Table:
    """The event log table, filterable by type, node and station (first EVENT_TABLE_MAX_ROWS)."""
    rows = []
    for e in events[:EVENT_TABLE_MAX_ROWS]:
        details = e.get("details")
        cells = [
            Cell(fmt_time(e.get("time"), date=True)),
            Cell(event_type(e)),
            Cell(str(e.get("node") or "–")),
            Cell(str(e.get("station") or "–")),
            Cell(event_subject(e)),
            Cell(fmt_value(details) if details else "", cls="wrap"),
        ]
        rows.append(Row(cells))
    note = ""
    if len(events) > EVENT_TABLE_MAX_ROWS:
        note = f"First {EVENT_TABLE_MAX_ROWS} of {len(events)} events shown; the full log is in events.jsonl."
    columns = [
        ("time", False),
        ("type", False),
        ("node", False),
        ("station", False),
        ("subject", False),
        ("details", False),
    ]
    filters = ["type", "node", "station"]
    return Table("t-events", columns, rows, filters=filters, page_size=50, note=note)


def is_bad_type(name: str) -> bool:
    """Failures, misses, losses and faults (a fault's ``*_restored`` end is good news, not bad)."""
    return not name.endswith("_restored") and any(
        word in name for word in ("fail", "miss", "fault", "abort", "lost", "overflow")
    )


def event_risks(events: list[dict[str, Any]]) -> list[Risk]:
    """One risk per failure/fault type of an event log (``3 × track.failed``), most frequent first."""
    counts = Counter(event_type(e) for e in events)
    bad = sorted(
        (kv for kv in counts.items() if is_bad_type(kv[0])), key=lambda kv: (-kv[1], kv[0])
    )
    return [Risk("bad", f"{n} × {name} in the event log") for name, n in bad]


def type_cards(events: list[dict[str, Any]]) -> list[Card]:
    """Event counts per type (most frequent first), failures and deferrals flagged.

    At most EVENT_TYPE_CARDS_MAX types: every failure/fault type first, however rare (a single
    station outage matters more than a frequent routine type), then the most frequent others.
    """
    counts = Counter(event_type(e) for e in events)
    by_count = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [kv for kv in by_count if is_bad_type(kv[0])][:EVENT_TYPE_CARDS_MAX]
    chosen += [kv for kv in by_count if not is_bad_type(kv[0])][
        : EVENT_TYPE_CARDS_MAX - len(chosen)
    ]
    cards = [Card("events", f"{len(events)}")]
    for name, n in sorted(chosen, key=lambda kv: (-kv[1], kv[0])):
        warn = "defer" in name or "preempt" in name
        cards.append(
            Card(name, f"{n}", tone="bad" if is_bad_type(name) else ("warn" if warn else ""))
        )
    return cards


def _span(events: list[dict[str, Any]], plan: dict[str, Any] | None) -> tuple[datetime, datetime]:
    if plan and plan.get("horizon"):
        return to_datetime(plan["horizon"]["start"]), to_datetime(plan["horizon"]["end"])
    times = [to_datetime(e["time"]) for e in events if e.get("time")]
    return min(times), max(times)


def event_gantt(events: list[dict[str, Any]], plan: dict[str, Any] | None) -> Gantt | None:
    """One mark per event on its node's row (station row when there is no node), over the
    plan's eclipses and pass windows when the plan is given."""
    timed = [e for e in events if e.get("time") and (e.get("node") or e.get("station"))]
    if not timed:
        return None
    start, end = _span(timed, plan)
    mark_s = max(
        (end - start).total_seconds() / 2000.0, 1.0
    )  # a visible sliver: 1/2000 of the axis
    rows: dict[str, GanttRow] = {
        n["name"]: GanttRow(n["name"]) for n in (plan or {}).get("nodes", [])
    }
    for e in (plan or {}).get("eclipses", []):
        rows.setdefault(e["node"], GanttRow(e["node"])).bars.append(
            Bar(to_datetime(e["start"]), to_datetime(e["end"]), "ecl", "eclipse", band=True)
        )
    for w in (plan or {}).get("windows", []):
        rows.setdefault(w["node"], GanttRow(w["node"])).bars.append(
            Bar(to_datetime(w["start"]), to_datetime(w["end"]), "win", f"{w['id']} {w['station']}")
        )
    for e in timed:
        key = str(e.get("node") or e.get("station"))
        t = to_datetime(e["time"])
        name = event_type(e)
        cls = "ev bad" if "fail" in name or "fault" in name else "ev"
        rows.setdefault(key, GanttRow(key)).bars.append(
            Bar(t, t + timedelta(seconds=mark_s), cls, f"{fmt_time(t)} {name} {key}")
        )
    legend = [("ev", "event"), ("ev bad", "failure / fault")]
    if plan:
        legend = [("ecl", "eclipse"), ("win", "pass window (planned)")] + legend
    n_background = len((plan or {}).get("windows", [])) + len((plan or {}).get("eclipses", []))
    compact = frozenset({"ecl", "win"} if n_background > GANTT_DETAIL_MAX_BARS else ())
    return build_gantt(list(rows.values()), start, end, legend, row_height_px=14.0, compact=compact)


def events_summary(events: list[dict[str, Any]]) -> Summary:
    """What completed, what failed for good (and why), and the faults, from the events alone."""
    completed = {
        e.get("sync_id") or event_subject(e) for e in events if event_type(e).endswith(".completed")
    }
    completed.discard("–")
    failed: dict[str, str] = {}
    for e in events:
        details = e.get("details") or {}
        if event_type(e).endswith((".failed", ".deferred", ".missed")) and details.get(
            "final", True
        ):
            failed[event_subject(e)] = str(
                details.get("error") or details.get("reason") or event_type(e)
            )
    failed = {k: v for k, v in failed.items() if k not in completed}
    faults = Counter(event_type(e) for e in events if event_type(e).startswith("fault."))
    restored = sum(n for name, n in faults.items() if name.endswith("_restored"))
    headline = f"{len(completed)} completed, {len(failed)} failed for good; {sum(faults.values()) - restored} fault(s)."
    got = (
        [f"completed: {', '.join(sorted(completed)[:12])}{' …' if len(completed) > 12 else ''}"]
        if completed
        else []
    )
    not_done = [f"{subject}: {why}" for subject, why in sorted(failed.items())[:10]]
    risks = [
        Risk("warn", f"{n} × {name}")
        for name, n in faults.most_common()
        if not name.endswith("_restored")
    ]
    tone = "bad" if failed else ("warn" if risks else "ok")
    return Summary(headline, tone, got, not_done, risks)
