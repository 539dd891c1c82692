"""Assemble the finished variants of a study into one ``xarray.Dataset`` (and report metadata).

Grid studies get one dimension per varied field; zip studies one dimension named after the
first field (the others are coordinates along it); random studies a ``variant`` dimension
with the sampled parameters as coordinates. The Dataset has no other dimension. Variables are
the KPIs (see ``kpis.KPIS``), plus ``status`` (ok | invalid | failed | missing) and ``error``;
``variant_id`` is a coordinate. Counts are float so that variants without a plan hold NaN.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from rsmodel.studies.kpis import KPIS, selected_kpis
from rsmodel.studies.spec import StudyPlan


def build_dataset(plan: StudyPlan, records: dict[str, dict[str, Any]]) -> xr.Dataset:
    """One Dataset of every variant's KPIs, indexed by the varied parameters."""
    dims, shape = plan.dims, plan.shape
    names = selected_kpis(plan.study.kpis)
    arrays = {name: _empty(KPIS[name].kind, shape) for name in names}
    status = np.full(shape, "missing", dtype=object)
    error = np.full(shape, "", dtype=object)
    variant_id = np.full(shape, "", dtype=object)
    for n, v in enumerate(plan.variants):
        at = v.index if plan.study.mode == "grid" else (n,)
        variant_id[at] = v.id
        record = records.get(v.id)
        if record is None:
            continue
        status[at] = record["status"]
        error[at] = record.get("error") or ""
        for name in names:
            value = record["kpis"].get(name)
            if value is not None:
                arrays[name][at] = _stored(KPIS[name].kind, value)
    ds = xr.Dataset(coords=_coords(plan))
    ds["variant_id"] = (dims, variant_id.astype(str))
    ds = ds.set_coords("variant_id")
    ds["status"] = (dims, status.astype(str))
    ds["error"] = (dims, error.astype(str))
    for name in names:
        kpi = KPIS[name]
        data = arrays[name].astype(str) if kpi.kind == "text" else arrays[name]
        ds[name] = (dims, data)
        ds[name].attrs.update(better=kpi.better, description=kpi.description)
        if kpi.kind != "time":  # xarray sets the units of times when it encodes them
            ds[name].attrs["units"] = kpi.units
    ds.attrs.update(_attrs(plan, records))
    return ds


def _empty(kind: str, shape: tuple[int, ...]) -> np.ndarray:
    if kind == "time":
        return np.full(shape, np.datetime64("NaT", "ns"))
    if kind == "text":
        return np.full(shape, "", dtype=object)
    return np.full(shape, np.nan)


def _stored(kind: str, value: Any) -> Any:
    if kind == "time":
        return pd.Timestamp(value).tz_convert(None).to_datetime64()
    if kind == "text":
        return str(value)
    return float(value)


def _coords(plan: StudyPlan) -> dict[str, Any]:
    coords: dict[str, Any] = {}
    dims = plan.dims
    if plan.study.mode == "grid":
        coords.update({d: _coord_values(plan.coords[d]) for d in dims})
        return coords
    if plan.study.mode == "random":
        coords["variant"] = [v.id for v in plan.variants]
    for axis in plan.study.vary:
        coords[axis.dim] = (dims, _coord_values(plan.coords[axis.dim]))
    return coords


def _coord_values(labels: list[Any]) -> np.ndarray:
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in labels):
        return np.asarray(labels, dtype=float if any(isinstance(x, float) for x in labels) else int)
    return np.asarray([str(x) for x in labels], dtype=str)


def _attrs(plan: StudyPlan, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Study-level attributes (NetCDF-safe): mode, field paths and where the time went."""
    totals = {k: 0.0 for k in ("geometry_s", "run_s", "build_s", "solve_s")}
    for record in records.values():
        for k in totals:
            totals[k] += float(record["kpis"].get(k) or 0.0)
    work = totals["geometry_s"] + totals["run_s"]
    statuses = [r["status"] for r in records.values()]
    return {
        "mode": plan.study.mode,
        "axis_paths": json.dumps({a.dim: a.path for a in plan.study.vary}),
        "variants": len(plan.variants),
        "ok": statuses.count("ok"),
        "invalid": statuses.count("invalid"),
        "failed": statuses.count("failed"),
        "time_total_s": work,
        "time_share_geometry": totals["geometry_s"] / work if work else 0.0,
        "time_share_build": totals["build_s"] / work if work else 0.0,
        "time_share_solve": totals["solve_s"] / work if work else 0.0,
    }


def study_meta(
    plan: StudyPlan, records: dict[str, dict[str, Any]], summary: dict[str, Any], model: Path
) -> dict[str, Any]:
    """What ``rsmodel.report.render_study(results, meta)`` needs beyond the Dataset."""
    name = str(plan.variants[0].data.get("name", model.stem)) if plan.variants else model.stem
    axes = ", ".join(a.path for a in plan.study.vary)
    return {
        "name": f"{name} study",
        "description": f"{len(plan.variants)} variants ({plan.study.mode}) varying {axes}.",
        "model": {"name": name, "file": str(model), "text": model.read_text(encoding="utf-8")},
        "mode": plan.study.mode,
        "dims": plan.dims,
        "axes": [
            {"dim": a.dim, "path": a.path, "values": list(plan.coords[a.dim])}
            for a in plan.study.vary
        ],
        "kpis": {
            name: {
                "units": KPIS[name].units,
                "better": KPIS[name].better,
                "description": KPIS[name].description,
            }
            for name in selected_kpis(plan.study.kpis)
        },
        "variants": [
            {
                "id": v.id,
                "params": {
                    a.dim: plan.coords[a.dim][v.index[i] if plan.study.mode == "grid" else n]
                    for i, a in enumerate(plan.study.vary)
                },
                "status": records.get(v.id, {}).get("status", "missing"),
                "error": records.get(v.id, {}).get("error"),
                "plan": f"variants/{v.id}/plan.json" if _ok(records, v.id) else None,
                "report": f"variants/{v.id}/report.html" if _has_report(records, v.id) else None,
            }
            for n, v in enumerate(plan.variants)
        ],
        "summary": summary,
    }


def _ok(records: dict[str, dict[str, Any]], variant_id: str) -> bool:
    return records.get(variant_id, {}).get("status") == "ok"


def _has_report(records: dict[str, dict[str, Any]], variant_id: str) -> bool:
    record = records.get(variant_id, {})
    return bool(record.get("has_report"))
