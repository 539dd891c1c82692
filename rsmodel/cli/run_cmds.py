"""``rsmodel run MODEL [-o OUT/]``: load -> geometry -> optimise -> plan.json, plan.nc, report.html."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="optimise a model file and write plan.json, plan.nc and report.html"
    )
    p.add_argument("model", help="model file (YAML)")
    p.add_argument("-o", "--out", help="output directory (default: reports/<model name>/)")
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from rsmodel.errors import RsmodelError
    from rsmodel.model.loader import load_model
    from rsmodel.pipeline import run, write_outputs

    scenario = load_model(args.model)
    result = run(scenario)
    out = Path(args.out) if args.out else Path("reports") / scenario.name
    try:
        paths = write_outputs(result, out)
    except OSError as exc:
        raise RsmodelError(f"cannot write the outputs to {out}/: {exc.strerror or exc}") from None
    print(summary(result.plan.to_dict()))
    print(f"Report: {paths['report.html']}")
    for line in result.plan.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return 0


def summary(plan: dict[str, Any]) -> str:
    """The seed's short summary (operations, total data, utilisation, average wait), plus one
    line per other section the model has (compute jobs, telescope network)."""
    lines = _sync_summary(plan) if plan["syncs"] else []
    jobs = plan.get("jobs") or []
    if jobs:
        placed = sum(1 for j in jobs for d in j.get("placement_decisions", []) if d.get("start"))
        steps = sum(len(j.get("placement_decisions", [])) for j in jobs)
        lines.append(f"Compute jobs: {len(jobs)} ({placed} of {steps} steps placed)")
    down = plan.get("kpis", {}).get("job_downlinks")
    if down:
        lines.append(
            f"Job downlinks: {down['complete_count']} complete, {down['partial_count']} partial, "
            f"{down['unmet_count']} unmet (operations with sync_id job:<job>/<step>)"
        )
    tel = plan.get("telescopes")
    if tel:
        tasks = tel.get("tasks", [])
        done = sum(1 for t in tasks if t.get("status") == "complete")
        lines.append(f"Telescope tasks: {done} of {len(tasks)} complete")
    if not lines:
        lines.append("Nothing to plan: the model has no syncs, jobs or telescopes")
    return "\n".join(lines)


def _sync_summary(plan: dict[str, Any]) -> list[str]:
    k = plan["kpis"]
    wait = (
        "n/a (no sync completed)"
        if k["avg_wait_minutes"] is None
        else f"{k['avg_wait_minutes']:.1f} min"
    )
    return [
        f"Scheduled {len(plan['operations'])} sync operations over {k['passes_used']} passes",
        f"Total data: {k['total_data_mb']:.0f} MB of {k['requested_data_mb']:.0f} MB requested",
        f"Bandwidth utilization: {k['utilization']:.1%} of the passes used",
        f"Average wait time: {wait}",
        f"Syncs: {k['complete_count']} complete, {k['partial_count']} partial, {k['unmet_count']} unmet"
        + (f"; {k['deadline_misses']} deadline miss(es)" if k.get("deadline_misses") else ""),
        *_solver_summary(plan["solver"]),
    ]


def _solver_summary(solver: dict[str, Any]) -> list[str]:
    """Method and status (MIP gap), the strategy and why (``strategy_reason``), and the
    objective against the global bound (docs/optimisation-scale.md)."""
    gap = solver.get("mip_gap")
    why = solver.get("strategy_reason") or ""
    lines = [
        f"Solver: {solver.get('method')} {solver.get('status')}"
        + ("" if gap is None else f", gap {gap:.3%}")
        + (f"; strategy {solver['strategy']}" if solver.get("strategy") else "")
        + (f" ({why})" if why else "")
    ]
    if solver.get("bound") is not None and solver.get("objective") is not None:
        lines.append(
            f"Global bound: objective {solver['objective']:.6g} >= bound {solver['bound']:.6g}, "
            f"gap {solver['gap_global']:.2%} (docs/optimisation-scale.md)"
        )
    return lines
