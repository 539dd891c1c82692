"""The telescope network in a plan report (``plan["telescopes"]``): per-telescope Gantt of target
visibility and assignments, task outcomes, KPI cards and the network tables."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rsmodel.report.svg import Bar, Gantt, GanttRow, build_gantt, to_datetime
from rsmodel.report.tables import Card, Table, fmt_hm, fmt_value, generic_table

CLASS_STYLE = {"too": "p0", "ssa": "p1", "deep_sky": "p2"}  # priority colours: ToO > SSA > deep sky
TASK_COLUMNS = (
    "id",
    "class",
    "target",
    "status",
    "release",
    "due",
    "required_s",
    "completed_at",
    "reason",
)
ASSIGNMENT_COLUMNS = (
    "task_id",
    "class",
    "target",
    "telescope",
    "family",
    "start",
    "end",
    "frames",
    "backup",
)
TELESCOPE_COLUMNS = ("name", "observatory", "family", "aperture_m", "fov_deg", "pixel_scale_arcsec",
                     "altitude_limit_deg", "reliability", "operator")  # fmt: skip


def section(plan: dict[str, Any]) -> dict[str, Any]:
    """The telescope section as a dict (a bare list is taken as the telescope list)."""
    tel = plan.get("telescopes") or {}
    return {"telescopes": tel} if isinstance(tel, list) else tel


def telescope_gantt(plan: dict[str, Any]) -> Gantt | None:
    """Rows per telescope: target visibility windows (pale) and assignments by task class."""
    tel = section(plan)
    horizon = tel.get("horizon") or plan.get("horizon")
    if not horizon or not (tel.get("assignments") or tel.get("windows")):
        return None
    rows = {
        t["name"]: GanttRow(t["name"]) for t in tel.get("telescopes", []) if isinstance(t, dict)
    }
    for w in tel.get("windows", []):
        title = f"{w.get('target')} visible {fmt_hm(w['start'])}–{fmt_hm(w['end'])}"
        rows.setdefault(w["telescope"], GanttRow(w["telescope"])).bars.append(
            Bar(to_datetime(w["start"]), to_datetime(w["end"]), "win", title)
        )
    for a in tel.get("assignments", []):
        cls = f"op {CLASS_STYLE.get(a.get('class'), 'p3')}"
        backup = " (backup)" if a.get("backup") else ""
        title = (
            f"{a.get('task_id')} {a.get('target')} {fmt_hm(a['start'])}–{fmt_hm(a['end'])}{backup}"
        )
        rows.setdefault(a["telescope"], GanttRow(a["telescope"])).bars.append(
            Bar(to_datetime(a["start"]), to_datetime(a["end"]), cls, title)
        )
    legend = [("win", "target visible")] + [(f"op {c}", k) for k, c in CLASS_STYLE.items()]
    start, end = to_datetime(horizon["start"]), to_datetime(horizon["end"])
    return build_gantt(list(rows.values()), start, end, legend)


def telescope_cards(plan: dict[str, Any]) -> list[Card]:
    """``<class>_complete`` / ``<class>_tasks`` pairs as done/total cards, other KPIs as is."""
    kpis = section(plan).get("kpis") or {}
    cards, used = [], set()
    for key, total in kpis.items():
        if key.endswith("_tasks") and f"{key[:-6]}_complete" in kpis:
            done = kpis[f"{key[:-6]}_complete"]
            tone = "ok" if done == total else "warn"
            cards.append(
                Card(f"{key[:-6].replace('_', ' ')} complete", f"{done}/{total}", tone=tone)
            )
            used |= {key, f"{key[:-6]}_complete"}
    cards += [Card(k.replace("_", " "), fmt_value(v)) for k, v in kpis.items()
              if k not in used and not isinstance(v, dict | list)]  # fmt: skip
    return cards


def telescope_tables(plan: dict[str, Any]) -> list[tuple[str, Table]]:
    """Tasks, assignments, telescopes and families tables (those present)."""
    tel = section(plan)
    specs = [
        ("Tasks", "tasks", TASK_COLUMNS, ["class", "status"]),
        ("Assignments", "assignments", ASSIGNMENT_COLUMNS, ["class", "telescope"]),
        ("Telescopes", "telescopes", TELESCOPE_COLUMNS, ["family"]),
        ("Families", "families", ("family", "telescopes", "fov_deg", "pixel_scale_arcsec"), []),
    ]
    tables = []
    for title, key, columns, filters in specs:
        records = [r for r in tel.get(key, []) if isinstance(r, dict)]
        if records:
            table = generic_table(
                f"t-tel-{key}", records, preferred=columns, only=columns, filters=filters
            )
            tables.append((title, table))
    return tables


def telescope_summary(plan: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(got-done lines per task class, not-done lines grouped by reason)."""
    tasks = [t for t in section(plan).get("tasks", []) if isinstance(t, dict)]
    by_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in tasks:
        by_class[str(t.get("class"))].append(t)
    got = [
        f"{cls.replace('_', ' ')}: {sum(t.get('status') == 'complete' for t in group)}/{len(group)} tasks complete"
        for cls, group in by_class.items()
    ]
    reasons: dict[str, list[str]] = defaultdict(list)
    for t in tasks:
        if t.get("status") != "complete":
            reasons[str(t.get("reason") or "no reason given")].append(str(t.get("id")))
    missing = [
        f"{len(ids)} × {reason}: {', '.join(ids[:4])}{' …' if len(ids) > 4 else ''}"
        for reason, ids in sorted(reasons.items(), key=lambda kv: -len(kv[1]))
    ][:6]
    return got, missing
