"""The KPIs a study collects from each variant's plan (plan.json v1, see docs/ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rsmodel.model.vocabulary import PRIORITIES


@dataclass(frozen=True)
class Kpi:
    """How a KPI is stored in the results and which way is better."""

    kind: Literal["float", "count", "time", "text"]
    units: str
    better: Literal["max", "min", ""]
    description: str


KPIS: dict[str, Kpi] = {
    **{
        f"delivered_bytes_{p}": Kpi(
            "float", "bytes", "max", f"Bytes delivered of {p}-priority syncs."
        )
        for p in PRIORITIES
    },
    "total_data_mb": Kpi("float", "MB", "max", "Data delivered in total, megabytes (1e6 bytes)."),
    "unmet_count": Kpi("count", "1", "min", "Sync requests with nothing delivered."),
    "partial_count": Kpi("count", "1", "min", "Sync requests delivered in part."),
    "deadline_misses": Kpi(
        "count", "1", "min", "Sync requests completing after their deadline (or never)."
    ),
    "avg_wait_minutes": Kpi("float", "min", "min", "Mean wait from release to completion."),
    "utilization": Kpi(
        "float", "1", "max", "Share of the used passes' capacity that carried data."
    ),
    "passes_used": Kpi("count", "1", "", "Access windows carrying data."),
    "latest_completion": Kpi("time", "UTC", "min", "When the last delivered sync completed."),
    "min_soc": Kpi(
        "float",
        "1",
        "max",
        "Lowest state of charge reached by any node (where energy is modelled).",
    ),
    "tiers": Kpi("text", "", "", "Tier chosen per window step, `job/step=tier` joined by `,`."),
    "solver_status": Kpi("text", "", "", "Solver status of the plan."),
    "solver_method": Kpi("text", "", "", "milp or greedy."),
    "objective": Kpi("float", "1", "", "Objective value reported by the solver."),
    "gap": Kpi("float", "1", "min", "Relative optimality gap of the plan (0 = proven optimal)."),
    "build_s": Kpi("float", "s", "min", "Optimisation model build time."),
    "solve_s": Kpi("float", "s", "min", "Solver time."),
    "geometry_s": Kpi(
        "float", "s", "min", "Geometry time, shared equally among variants reusing one grid."
    ),
    "run_s": Kpi(
        "float", "s", "min", "Worker time of the variant (load, optimise, plan), without geometry."
    ),
    "geometry_share": Kpi("float", "1", "", "geometry_s / (geometry_s + run_s)."),
    "build_share": Kpi("float", "1", "", "build_s / (geometry_s + run_s)."),
    "solve_share": Kpi("float", "1", "", "solve_s / (geometry_s + run_s)."),
}
KPI_GROUPS: dict[str, list[str]] = {"delivered_bytes": [f"delivered_bytes_{p}" for p in PRIORITIES]}
KPI_NAMES: tuple[str, ...] = (*KPIS, *KPI_GROUPS)


def selected_kpis(names: list[str] | None) -> list[str]:
    """The KPI variables for a study's ``kpis:`` list (all when None; groups expanded)."""
    if names is None:
        return list(KPIS)
    out: list[str] = []
    for name in names:
        out.extend(n for n in KPI_GROUPS.get(name, [name]) if n not in out)
    return out


def kpis_from_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan-derived KPIs of one variant (timings are added by the runner)."""
    kpis = plan.get("kpis") or {}
    solver = plan.get("solver") or {}
    delivered = kpis.get("delivered_bytes_by_priority") or {}
    return {
        **{f"delivered_bytes_{p}": float(delivered.get(p, 0.0)) for p in PRIORITIES},
        "total_data_mb": kpis.get("total_data_mb"),
        "unmet_count": kpis.get("unmet_count"),
        "partial_count": kpis.get("partial_count"),
        "deadline_misses": kpis.get("deadline_misses"),
        "avg_wait_minutes": kpis.get("avg_wait_minutes"),
        "utilization": kpis.get("utilization"),
        "passes_used": kpis.get("passes_used"),
        "latest_completion": kpis.get("latest_completion"),
        "min_soc": _min_soc(plan.get("soc") or {}),
        "tiers": _tiers(plan.get("jobs") or []),
        "solver_status": solver.get("status"),
        "solver_method": solver.get("method"),
        "objective": solver.get("objective"),
        "gap": _gap(solver),
        "build_s": solver.get("build_s"),
        "solve_s": solver.get("solve_s"),
    }


def timing_kpis(
    geometry_s: float, run_s: float, build_s: float | None, solve_s: float | None
) -> dict[str, float]:
    """Per-variant time and its shares (geometry amortised over the variants sharing it)."""
    total = geometry_s + run_s
    share = (lambda x: (x or 0.0) / total) if total > 0 else (lambda x: 0.0)
    return {
        "geometry_s": geometry_s,
        "run_s": run_s,
        "geometry_share": share(geometry_s),
        "build_share": share(build_s),
        "solve_share": share(solve_s),
    }


def _min_soc(soc: dict[str, Any]) -> float | None:
    """Lowest state of charge reached by any node (``soc[node]["soc"]`` series, fraction)."""
    values = [min(v["soc"]) for v in soc.values() if isinstance(v, dict) and v.get("soc")]
    return float(min(values)) if values else None


def _tiers(jobs: list[dict[str, Any]]) -> str:
    """``job/step=tier`` of every placed window step (docs/compute.md), joined by commas."""
    return ",".join(
        f"{job.get('name')}/{d.get('step_id')}={d['quality_tier']}"
        for job in jobs
        for d in job.get("placement_decisions") or []
        if d.get("quality_tier")
    )


def _gap(solver: dict[str, Any]) -> float | None:
    for key in ("gap_global", "gap"):
        if solver.get(key) is not None:
            return float(solver[key])
    return None
