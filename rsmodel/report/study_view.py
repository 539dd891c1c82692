"""View model of a study: KPIs (data variables) over the varied parameters (dimensions).

``meta["kpis"][name]["better"]`` ("max" / "min" / "") picks the KPIs that are charted and
which variant is best; without it every numeric KPI is charted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from rsmodel.report.svg import (
    Heatmap,
    LineChart,
    Series,
    build_heatmap,
    build_line_chart,
    fmt_number,
)
from rsmodel.report.tables import Card, Cell, Row, Table, fmt_value

if TYPE_CHECKING:
    import xarray as xr

RUN_METADATA_SUFFIXES = ("_s", "_share")  # timings: listed in the table, not charted


def _label(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return "–" if np.isnat(value) else str(np.datetime_as_string(value, unit="m")) + "Z"
    if isinstance(value, float | np.floating):
        return fmt_number(float(value)) if np.isfinite(value) else "–"
    return fmt_value(value.item() if isinstance(value, np.generic) else value)


def _is_numeric(var: xr.DataArray) -> bool:
    return bool(np.issubdtype(var.dtype, np.number)) and var.dtype != np.bool_


def charted_kpis(results: xr.Dataset, meta: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(KPIs to chart, KPIs constant or empty across the variants).

    Charted: numeric KPIs with a direction (better = max|min), not run timings, that vary.
    """
    info = meta.get("kpis") or {}
    names = [str(k) for k, v in results.data_vars.items() if _is_numeric(v)]
    if info:
        names = [n for n in names if (info.get(n) or {}).get("better") in ("max", "min")]
    names = [n for n in names if not n.endswith(RUN_METADATA_SUFFIXES)]
    varying, constant = [], []
    for name in names:
        values = results[name].values
        finite = values[np.isfinite(values)]
        (varying if finite.size and finite.min() != finite.max() else constant).append(name)
    return varying, constant


def _units(var: xr.DataArray) -> str:
    units = var.attrs.get("units")
    return f" [{units}]" if units and units != "1" else ""


def results_table(results: xr.Dataset) -> Table:
    """One row per variant: parameter values, other coordinates, then every variable."""
    dims = [str(d) for d in results.dims]
    extra = [str(c) for c in results.coords if str(c) not in dims]
    variables = [str(v) for v in results.data_vars]
    names = dims + extra + variables
    arrays = {}
    for name in names:
        var = results[name]
        arrays[name] = var.broadcast_like(results[variables[0]]) if variables else var
        arrays[name] = arrays[name].transpose(*dims).values if variables else var.values
    columns = [(n, _is_numeric(results[n])) for n in names]
    shape = tuple(results.sizes[d] for d in dims)
    rows = []
    for index in np.ndindex(*shape):
        cells = []
        for name, numeric in columns:
            value = arrays[name][index]
            ok = numeric and np.isfinite(value)
            cells.append(
                Cell(_label(value), float(value) if ok else None, "param" if name in dims else "")
            )
        rows.append(Row(cells))
    filters = [d for d in dims if results.sizes[d] <= 50]
    return Table("t-study", columns, rows, filters=filters, page_size=50)


def kpi_line_charts(results: xr.Dataset, kpis: list[str]) -> list[tuple[str, LineChart]]:
    """KPI vs the single varied parameter (numeric or categorical x), one chart per KPI."""
    dim = str(next(iter(results.dims)))
    coord = results[dim].values
    numeric_x = _is_numeric(results[dim])
    categories = None if numeric_x else [_label(v) for v in coord]
    xs = [float(v) for v in coord] if numeric_x else list(range(len(coord)))
    charts = []
    for kpi in kpis:
        ys = [float(v) for v in results[kpi].values]
        chart = build_line_chart(
            [Series(kpi, xs, ys, "s0", markers=True)],
            y_label=kpi + _units(results[kpi]),
            x_label=dim + _units(results[dim]),
            x_categories=categories,
            width_px=460.0,
            height_px=220.0,
        )
        charts.append((kpi, chart))
    return charts


def kpi_heatmaps(
    results: xr.Dataset, kpis: list[str]
) -> tuple[list[tuple[str, Heatmap]], list[str]]:
    """KPI over the first two parameters (mean over any further ones, which are returned)."""
    dims = [str(d) for d in results.dims]
    x_dim, y_dim, rest = dims[0], dims[1], dims[2:]
    maps = []
    for kpi in kpis:
        grid = results[kpi].mean(rest) if rest else results[kpi]
        heat = build_heatmap(
            grid.transpose(y_dim, x_dim).values.tolist(),
            [_label(v) for v in results[x_dim].values],
            [_label(v) for v in results[y_dim].values],
            x_label=x_dim,
            y_label=y_dim,
            value_label=kpi + _units(results[kpi]) + (" (mean)" if rest else ""),
        )
        maps.append((kpi, heat))
    return maps, rest


def _best(results: xr.Dataset, kpi: str, better: str) -> Card | None:
    values = results[kpi].values
    if not np.isfinite(values).any():
        return None
    flat = np.nanargmax(values) if better == "max" else np.nanargmin(values)
    index = np.unravel_index(flat, values.shape)
    where = ", ".join(
        f"{dim}={_label(results[dim].values[i])}"
        for dim, i in zip(results[kpi].dims, index, strict=True)
    )
    return Card(f"best {kpi} ({better})", _label(values[index]), where)


def study_cards(results: xr.Dataset, meta: dict[str, Any], kpis: list[str]) -> list[Card]:
    """Variant counts by status, each parameter's range, and the best variant of each KPI."""
    n = int(np.prod([results.sizes[d] for d in results.dims])) if results.dims else 1
    cards = [Card("variants", str(n))]
    if "status" in results:
        statuses, counts = np.unique(results["status"].values.astype(str), return_counts=True)
        for status, count in zip(statuses, counts, strict=True):
            tone = "ok" if status == "ok" else "bad"
            cards.append(Card(f"variants {status}", str(int(count)), tone=tone))
    for dim in results.dims:
        values = results[dim].values
        cards.append(
            Card(
                f"parameter {dim}",
                f"{_label(values[0])} … {_label(values[-1])}",
                f"{len(values)} values",
            )
        )
    info = meta.get("kpis") or {}
    for kpi in kpis:
        better = (info.get(kpi) or {}).get("better")
        card = _best(results, kpi, better) if better in ("max", "min") else None
        if card is not None:
            cards.append(card)
    return cards


def failed_variants(meta: dict[str, Any]) -> list[str]:
    """'id (status): error' for variants that did not finish ok."""
    return [
        f"{v.get('id')} ({v.get('status')}): {v.get('error') or 'no error message'}"
        for v in meta.get("variants", [])
        if isinstance(v, dict) and v.get("status") not in ("ok", None)
    ]
