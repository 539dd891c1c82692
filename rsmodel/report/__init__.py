"""HTML reports: one self-contained page per plan, event log or study.

Jinja2 with autoescape on (every model string is escaped); CSS, JS and charts (SVG) inline; no
network resources. Output is deterministic: the only time in the page is the plan's own
``generated_at``, so re-rendering saved outputs gives a byte-identical file.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from rsmodel.errors import ModelError, RsmodelError
from rsmodel.plan.events import upgrade_event
from rsmodel.report import (
    compute_view,
    events_view,
    pass_view,
    plan_view,
    recorder_view,
    study_view,
    telescope_view,
)
from rsmodel.report.plan_view import Summary
from rsmodel.report.svg import to_datetime
from rsmodel.version import __version__

if TYPE_CHECKING:
    import xarray as xr

_KIND_META = re.compile(r'<meta name="rsmodel-report" content="([a-z+]+)">')
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("rsmodel", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _horizon_text(horizon: dict[str, Any] | None) -> str:
    if not horizon or not horizon.get("start"):
        return ""
    start, end = to_datetime(horizon["start"]), to_datetime(horizon["end"])
    hours = (end - start).total_seconds() / 3600
    step = f", step {horizon['step_s']:g} s" if horizon.get("step_s") else ""
    return f"{start:%Y-%m-%d %H:%MZ} → {end:%Y-%m-%d %H:%MZ} ({hours:g} h{step})"


def _header(source: dict[str, Any], kind: str) -> dict[str, str]:
    model = source.get("model") or {}
    return {
        "name": str(model.get("name") or source.get("name") or "rsmodel"),
        "kind": kind,
        "version": str(source.get("rsmodel_version") or __version__),
        "generated_at": str(source.get("generated_at") or ""),
        "horizon": _horizon_text(source.get("horizon")),
        "file": str(model.get("file") or ""),
    }


def _toc(sections: list[tuple[str, str, bool]]) -> list[tuple[str, str]]:
    return [(anchor, label) for anchor, label, present in sections if present]


def _with_event_risks(summary: Summary, events: list[dict[str, Any]] | None) -> Summary:
    """The plan's summary plus the failures/faults of its event log (e.g. a replay with faults)."""
    if not events:
        return summary
    return replace(summary, risks=summary.risks + events_view.event_risks(events))


def render_plan(
    plan: dict[str, Any],
    dataset: xr.Dataset | None = None,
    *,
    events: list[dict[str, Any]] | None = None,
) -> str:
    """Render a plan (plan.json v1 dict, optional plan.nc dataset and event log) as HTML.

    Sections appear only when the plan has their data: transfers (``syncs``), compute
    (``jobs`` / ``placement_decisions``), SOC, telescopes, events.
    """
    soc = plan_view.soc_curves(plan, dataset)
    has_syncs = bool(plan.get("syncs"))
    decisions = compute_view.job_decisions(plan)
    jobs = compute_view.job_list(plan)
    has_gantt = bool(
        plan.get("horizon") and (plan.get("windows") or plan.get("operations") or decisions)
    )
    soc_charts, soc_hidden = plan_view.soc_charts(plan, soc) if soc else ([], 0)
    fill_charts, fill_hidden = recorder_view.fill_charts(plan)
    throughput = plan_view.throughput_heatmap(dataset)
    passes, n_used_passes = pass_view.pass_details(plan) if has_syncs else ([], 0)
    has_tel = bool(plan.get("telescopes"))
    tel_gantt = telescope_view.telescope_gantt(plan) if has_tel else None
    tel_cards = telescope_view.telescope_cards(plan) if has_tel else []
    tel_tables = telescope_view.telescope_tables(plan) if has_tel else []
    ctx = {
        "kind": "plan+events" if events else "plan",
        "header": _header(plan, "plan"),
        "summary": _with_event_risks(plan_view.build_summary(plan, soc), events),
        "cards": plan_view.build_cards(plan),
        "has_jobs": bool(decisions),
        "gantt_nodes": plan_view.gantt_by_node(plan) if has_gantt else None,
        "gantt_stations": plan_view.gantt_by_station(plan)
        if (has_syncs or plan.get("tracks")) and plan.get("stations")
        else None,
        "throughput": throughput,
        "soc_charts": soc_charts,
        "soc_hidden": soc_hidden,
        "fill_charts": fill_charts,
        "fill_hidden": fill_hidden,
        "source_table": recorder_view.source_table(plan),
        "sync_table": plan_view.sync_table(plan) if has_syncs else None,
        "operations_table": plan_view.operations_table(plan) if has_syncs else None,
        "station_table": plan_view.station_table(plan) if has_syncs else None,
        "node_table": plan_view.node_queue_table(plan) if has_syncs else None,
        "window_table": plan_view.window_table(plan) if has_syncs else None,
        "n_windows": len(plan.get("windows", [])),
        "passes": passes,
        "n_used_passes": n_used_passes,
        "passes_per_station": pass_view.PASSES_PER_STATION,
        "jobs_table": compute_view.jobs_table(plan) if jobs else None,
        "decisions_table": compute_view.decisions_table(plan) if decisions else None,
        "telescope_gantt": tel_gantt,
        "telescope_cards": tel_cards,
        "telescope_tables": tel_tables,
        "events_table": events_view.event_table(events) if events else None,
        "solver_rows": plan_view.solver_rows(plan),
        "solver_stages": plan_view.solver_stages_table(plan),
        "solver_notes": (plan.get("solver") or {}).get("notes", []),
        "warnings": plan.get("warnings", []),
        "model": plan.get("model") or {},
    }
    ctx["toc"] = _toc(
        [
            ("overview", "Summary", True),
            ("timeline", "Timeline", has_gantt),
            ("throughput", "Downlink", throughput is not None),
            ("soc", "SOC", bool(soc_charts)),
            ("recorders", "Recorders", bool(fill_charts)),
            ("syncs", "Syncs", has_syncs),
            ("operations", "Transfers", has_syncs),
            ("nodes", "Nodes", has_syncs),
            ("stations", "Stations", has_syncs),
            ("passes", "Passes", bool(passes)),
            ("jobs", "Compute", bool(jobs or decisions)),
            ("telescopes", "Telescopes", has_tel),
            ("events", "Events", bool(events)),
            ("solver", "Solver", True),
            ("warnings", "Warnings", bool(plan.get("warnings"))),
            ("model", "Model file", bool((plan.get("model") or {}).get("text"))),
        ]
    )
    return _ENV.get_template("plan.html.j2").render(ctx)


def render_events(events: list[dict[str, Any]], plan: dict[str, Any] | None = None) -> str:
    """Render an event log (list of event dicts) as HTML; ``plan`` supplies name and horizon."""
    source = plan or {"name": "event log"}
    gantt = events_view.event_gantt(events, plan)
    ctx = {
        "kind": "events",
        "header": _header(source, "event log"),
        "summary": events_view.events_summary(events),
        "cards": events_view.type_cards(events),
        "gantt": gantt,
        "events_table": events_view.event_table(events),
        "model": source.get("model") or {},
    }
    ctx["toc"] = _toc(
        [
            ("overview", "Summary", True),
            ("timeline", "Timeline", gantt is not None),
            ("events", "Events", True),
            ("model", "Model file", bool(ctx["model"].get("text"))),
        ]
    )
    return _ENV.get_template("events.html.j2").render(ctx)


def render_study(results: xr.Dataset, meta: dict[str, Any]) -> str:
    """Render a study: KPIs (data variables) over varied parameters (dimensions).

    ``meta`` may hold ``name``, ``description``, ``rsmodel_version``, ``generated_at`` and
    ``model`` ({name, file, text}) of the base model.
    """
    kpis, constant = study_view.charted_kpis(results, meta)
    n_dims = len(results.dims)
    charts = study_view.kpi_line_charts(results, kpis) if n_dims == 1 else []
    heatmaps, averaged = study_view.kpi_heatmaps(results, kpis) if n_dims >= 2 else ([], [])
    ctx = {
        "kind": "study",
        "header": _header(meta, "study"),
        "description": str(meta.get("description") or ""),
        "cards": study_view.study_cards(results, meta, kpis),
        "failed": study_view.failed_variants(meta),
        "charts": charts,
        "heatmaps": heatmaps,
        "averaged": averaged,
        "constant": constant,
        "results_table": study_view.results_table(results),
        "model": meta.get("model") or {},
    }
    ctx["toc"] = _toc(
        [
            ("overview", "Summary", True),
            ("charts", "Charts", bool(charts or heatmaps)),
            ("results", "Results", True),
            ("model", "Model file", bool(ctx["model"].get("text"))),
        ]
    )
    return _ENV.get_template("study.html.j2").render(ctx)


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Read an events.jsonl file (one JSON event per line); a broken line is a ModelError.

    Files written before the one event schema (``kind`` for ``type``) are read as the schema.
    """
    events = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                event = _parse_json(line, path, lineno)
                if not isinstance(event, dict):
                    raise ModelError("expected one JSON object per line", file=path, line=lineno)
                events.append(upgrade_event(event))
    return events


def _parse_json(text: str, path: str | Path, first_line: int = 1) -> Any:
    """``json.loads`` whose errors name the file and line (exit 2, no traceback)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"not valid JSON ({exc.msg}); expected the file as rsmodel wrote it",
            file=path,
            line=first_line + exc.lineno - 1,
        ) from None


def report_kind(html_path: str | Path) -> str | None:
    """The kind of an existing report (plan, plan+events, events, study) from its meta tag."""
    path = Path(html_path)
    if not path.exists():
        return None
    match = _KIND_META.search(path.read_text(encoding="utf-8", errors="replace")[:4096])
    return match.group(1) if match else None


def _load_dataset(path: Path) -> xr.Dataset | None:
    if not path.exists():
        return None
    import xarray as xr  # here: a report of a plan in memory (`rsmodel plan -o`) needs no xarray

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def _json_file(path: Path) -> Any:
    return _parse_json(path.read_text(encoding="utf-8"), path) if path.exists() else None


def _check_plan_version(plan: Any, path: Path) -> None:
    """A plan.json this version of rsmodel can render (an object with schema_version 1)."""
    from rsmodel.plan import SCHEMA_VERSION as PLAN_SCHEMA_VERSION

    if not isinstance(plan, dict):
        raise ModelError("expected a JSON object (plan.json, docs/plan-format.md)", file=path)
    if plan.get("schema_version") != PLAN_SCHEMA_VERSION:
        raise ModelError(
            f"expected {PLAN_SCHEMA_VERSION} (docs/plan-format.md), got "
            f"{plan.get('schema_version')!r}",
            file=path,
            field="schema_version",
        )


def _kind_from_files(out: Path, has_plan: bool, has_events: bool) -> str:
    if (out / "study.nc").exists():
        return "study"
    if has_plan:
        return "plan+events" if has_events else "plan"
    return "events"


def rerender(out_dir: str | Path) -> list[Path]:
    """Re-render ``report.html`` of an output directory from its saved files, without re-solving.

    The kind of report is the one already there (its ``rsmodel-report`` meta tag); without a
    report: ``study.nc`` (+ ``study.json``) -> study, ``plan.json`` (+ ``plan.nc``) -> plan,
    ``events.jsonl`` -> event log. Returns the files written (atomically).
    """
    from rsmodel.io import write_text

    out = Path(out_dir)
    if not out.is_dir():
        raise RsmodelError(f"{out}: not a directory (expected an output directory of rsmodel)")
    plan = _json_file(out / "plan.json")
    if plan is not None:
        _check_plan_version(plan, out / "plan.json")
    events = read_events(out / "events.jsonl") if (out / "events.jsonl").exists() else None
    if plan is None and events is None and not (out / "study.nc").exists():
        raise RsmodelError(f"{out}: no plan.json, events.jsonl or study.nc to render a report from")
    kind = report_kind(out / "report.html") or _kind_from_files(
        out, plan is not None, events is not None
    )
    needed = {
        "study": "study.nc",
        "plan": "plan.json",
        "plan+events": "plan.json",
        "events": "events.jsonl",
    }
    missing = [needed[kind]] if not (out / needed[kind]).exists() else []
    if kind == "plan+events" and events is None:
        missing.append("events.jsonl")
    if missing:
        raise RsmodelError(
            f"{out}: cannot re-render its {kind} report: {' and '.join(missing)} not found"
        )
    if kind == "study":
        html = render_study(_load_dataset(out / "study.nc"), _json_file(out / "study.json") or {})
    elif kind == "events":
        html = render_events(events, plan)
    else:
        html = render_plan(
            plan, _load_dataset(out / "plan.nc"), events=events if kind == "plan+events" else None
        )
    return [write_text(out / "report.html", html)]


__all__ = ["read_events", "render_events", "render_plan", "render_study", "report_kind", "rerender"]
