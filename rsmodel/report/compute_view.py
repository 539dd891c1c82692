"""Compute jobs in a plan report: placement decisions (tier, energy, status) and job outcomes."""

from __future__ import annotations

from typing import Any

from rsmodel.report.svg import Bar, to_datetime
from rsmodel.report.tables import Table, fmt_hm, generic_table

DECISION_COLUMNS = (
    "job",
    "step_id",
    "kind",
    "type",
    "node",
    "status",
    "start",
    "end",
    "quality_tier",
    "duration_s",
    "energy_wh",
    "output_mb",
    "reason",
)
JOB_COLUMNS = ("name", "id", "node", "status", "deadline", "completed_at", "reason")
NOT_PLACED = ("missed", "deferred", "unmet")


def job_decisions(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """All placement decisions: ``plan["placement_decisions"]`` or each job's own list."""
    if plan.get("placement_decisions"):
        return list(plan["placement_decisions"])
    jobs = plan.get("jobs") or []
    if isinstance(jobs, dict):
        return list(jobs.get("placement_decisions", []))
    return [
        {"job": job.get("name", job.get("id")), **d}
        for job in jobs
        for d in job.get("placement_decisions", [])
    ]


def job_list(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's job outcome entries (list form of ``jobs``)."""
    jobs = plan.get("jobs") or []
    return [j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else []


def is_not_placed(decision: dict[str, Any]) -> bool:
    return str(decision.get("status", "")).startswith(NOT_PLACED)


def decision_bars(decision: dict[str, Any]) -> list[Bar]:
    """Gantt bars of one placed step: its segments when it has them, else start..end."""
    kind = decision.get("kind") or decision.get("type") or "step"
    tier = f" tier {decision['quality_tier']}" if decision.get("quality_tier") else ""
    label = f"{decision.get('job')}/{decision.get('step_id')} ({kind}{tier})"
    pieces = [s for s in decision.get("segments") or [] if isinstance(s, dict) and s.get("start")]
    if not pieces and decision.get("start") and decision.get("end"):
        pieces = [decision]
    return [
        Bar(to_datetime(p["start"]), to_datetime(p["end"]), "job",
            f"{label} {fmt_hm(p['start'])}–{fmt_hm(p['end'])}")
        for p in pieces
        if p.get("end")
    ]  # fmt: skip


def decisions_table(plan: dict[str, Any]) -> Table:
    """Placement decisions: one row per step (tier, energy, status, reason)."""
    return generic_table(
        "t-decisions",
        job_decisions(plan),
        preferred=DECISION_COLUMNS,
        only=DECISION_COLUMNS,
        filters=["job", "node", "status"],
    )


def jobs_table(plan: dict[str, Any]) -> Table:
    """Job outcomes: status, deadline, completion and why not complete."""
    return generic_table(
        "t-jobs",
        job_list(plan),
        preferred=JOB_COLUMNS,
        only=JOB_COLUMNS,
        filters=["status", "node"],
    )


def compute_summary(plan: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(got-down lines, not-done lines) for the manager summary."""
    jobs, decisions = job_list(plan), job_decisions(plan)
    got, missing = [], []
    if jobs:
        done = sum(j.get("status") == "complete" for j in jobs)
        got.append(f"compute: {done} of {len(jobs)} jobs complete")
        missing += [
            f"job {j.get('name', j.get('id'))} ({j.get('status')}): {j.get('reason') or 'no reason given'}"
            for j in jobs
            if j.get("status") != "complete"
        ][:5]
    if decisions:
        placed = sum(not is_not_placed(d) for d in decisions)
        got.append(f"compute: {placed} of {len(decisions)} steps placed")
        if not jobs:
            missing += [
                f"step {d.get('job')}/{d.get('step_id')} {d.get('status')}: {d.get('reason') or 'no reason given'}"
                for d in decisions
                if is_not_placed(d)
            ][:5]
    return got, missing
