"""What runs on a worker (local process or Dask worker): geometry of a key, one variant end to end.

Both return plain picklable values; the driver writes every file.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from rsmodel.errors import ModelError
from rsmodel.geometry import Geometry
from rsmodel.studies.geocache import geometry_model, rebind
from rsmodel.studies.kpis import kpis_from_plan, timing_kpis


@dataclass(frozen=True)
class VariantTask:
    """Everything a worker needs to run one variant (picklable)."""

    id: str
    data: dict[str, Any]
    base_dir: Path
    file: Path
    problem: str | None = None  # the variant could not be built from the spec
    report: bool = False  # also render the variant's HTML plan report


def variant_file(model_file: Path, variant_id: str) -> Path:
    """The name errors and plans of a variant carry: ``models/x.yaml (variant v0003)``."""
    return Path(f"{model_file} (variant {variant_id})")


def compute_geometry_task(
    data: dict[str, Any], base_dir: Path, file: Path
) -> tuple[Geometry, float]:
    """Geometry of a model's nodes x stations over its horizon, and the seconds it took."""
    from rsmodel import geometry
    from rsmodel.model.loader import load_model_dict

    _quiet_progress()
    scenario = load_model_dict(geometry_model(data), base_dir=base_dir, file=file)
    t0 = perf_counter()
    geo = geometry.compute_geometry(scenario)
    return geo, perf_counter() - t0


def run_variant_task(task: VariantTask, geo: Geometry | None, geometry_s: float) -> dict[str, Any]:
    """Load, optimise and summarise one variant; never raises.

    Returns ``{"status": "ok"|"invalid"|"failed", "error", "kpis", "plan_json"}`` (plan.json
    text, encoded here so that the driver only writes it); ``geometry_s`` is
    this variant's share of the geometry time (s).
    """
    from rsmodel import pipeline
    from rsmodel.model.loader import load_model_dict

    _quiet_progress()
    t0 = perf_counter()
    if task.problem is not None:
        return _outcome("invalid", f"{task.file}: {task.problem}")
    try:
        scenario = load_model_dict(task.data, base_dir=task.base_dir, file=task.file)
        result = pipeline.run(scenario, geometry=None if geo is None else rebind(geo, scenario))
        plan = result.plan.to_dict()
    except ModelError as exc:
        return _outcome("invalid", str(exc))
    except Exception as exc:  # a raising variant is reported, the study goes on
        return _outcome("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8))
    kpis = kpis_from_plan(plan)
    kpis.update(timing_kpis(geometry_s, perf_counter() - t0, kpis["build_s"], kpis["solve_s"]))
    plan_json = json.dumps(plan, indent=2, default=str) + "\n"  # as rsmodel.io.write_json
    outcome = {"status": "ok", "error": None, "kpis": kpis, "plan_json": plan_json}
    if task.report:
        outcome.update(_report(plan, result.dataset))
    return outcome


def _report(plan: dict[str, Any], dataset: Any) -> dict[str, Any]:
    """The variant's HTML report, or why it could not be rendered (the plan stands anyway)."""
    from rsmodel.report import render_plan

    try:
        return {"report_html": render_plan(plan, dataset)}
    except Exception as exc:  # a report bug must not turn a planned variant into a failure
        return {"report_error": f"{type(exc).__name__}: {exc}"}


def _quiet_progress() -> None:
    """Only the driver draws a progress bar: workers sharing its terminal stay quiet."""
    from rsmodel import progress

    progress.interactive = lambda: False


def _outcome(status: str, error: str, trace: str | None = None) -> dict[str, Any]:
    return {"status": status, "error": error, "traceback": trace, "kpis": {}, "plan_json": None}
