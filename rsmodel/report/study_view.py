"""View model of a study: KPIs (data variables) over varied parameters (dimensions)."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from rsmodel.report.svg import (
    Heatmap,
    LineChart,
    Series,
    build_heatmap,
    build_line_chart,
    fmt_number,
)
from rsmodel.report.tables import Card, Cell, Row, Table, fmt_value


def _label(value: Any) -> str:
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="m")) + "Z"
    if isinstance(value, float | np.floating):
        return fmt_number(float(value))
    return fmt_value(value.item() if isinstance(value, np.generic) else value)


def numeric_kpis(results: xr.Dataset) -> list[str]:
    """Data variables that are numbers and span every study dimension's subset."""
    return [
        str(k)
        for k, v in results.data_vars.items()
        if np.issubdtype(v.dtype, np.number) and v.ndim >= 1
    ]


def _units(var: xr.DataArray) -> str:
    units = var.attrs.get("units")
    return f" [{units}]" if units else ""


def results_table(results: xr.Dataset) -> Table:
    """One row per parameter combination: parameter values then every KPI."""
    frame = results.to_dataframe().reset_index()
    dims = [str(d) for d in results.dims]
    columns = [(c, bool(np.issubdtype(frame[c].dtype, np.number))) for c in map(str, frame.columns)]
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for (name, numeric), value in zip(columns, record, strict=True):
            sort = float(value) if numeric and np.isfinite(value) else None
            cells.append(Cell(_label(value), sort, "param" if name in dims else ""))
        rows.append(Row(cells))
    return Table("t-study", columns, rows, page_size=50)


def kpi_line_charts(results: xr.Dataset) -> list[tuple[str, LineChart]]:
    """KPI vs the single varied parameter (numeric or categorical x), one chart per KPI."""
    dim = str(next(iter(results.dims)))
    coord = results[dim].values
    numeric_x = np.issubdtype(coord.dtype, np.number)
    categories = None if numeric_x else [_label(v) for v in coord]
    xs = [float(v) for v in coord] if numeric_x else list(range(len(coord)))
    charts = []
    for kpi in numeric_kpis(results):
        ys = [float(v) for v in results[kpi].values]
        series = [Series(kpi, xs, ys, "s0", markers=True)]
        chart = build_line_chart(
            series,
            y_label=kpi + _units(results[kpi]),
            x_label=dim + _units(results[dim]),
            x_categories=categories,
            width_px=460.0,
            height_px=220.0,
        )
        charts.append((kpi, chart))
    return charts


def kpi_heatmaps(results: xr.Dataset) -> tuple[list[tuple[str, Heatmap]], list[str]]:
    """KPI over the first two parameters (mean over any further ones, which are returned)."""
    dims = [str(d) for d in results.dims]
    x_dim, y_dim, rest = dims[0], dims[1], dims[2:]
    maps = []
    for kpi in numeric_kpis(results):
        grid = results[kpi].mean(rest) if rest else results[kpi]
        grid = grid.transpose(y_dim, x_dim)
        heat = build_heatmap(
            grid.values.tolist(),
            [_label(v) for v in results[x_dim].values],
            [_label(v) for v in results[y_dim].values],
            x_label=x_dim,
            y_label=y_dim,
            value_label=kpi + _units(results[kpi]) + (" (mean)" if rest else ""),
        )
        maps.append((kpi, heat))
    return maps, rest


def study_cards(results: xr.Dataset) -> list[Card]:
    """Variant count, each varied parameter's range, and each KPI's range."""
    n = int(np.prod([results.sizes[d] for d in results.dims])) if results.dims else 1
    cards = [Card("variants", str(n))]
    for dim in results.dims:
        values = results[dim].values
        cards.append(
            Card(
                f"parameter: {dim}",
                f"{_label(values[0])} … {_label(values[-1])}",
                f"{len(values)} values",
            )
        )
    for kpi in numeric_kpis(results):
        values = results[kpi].values
        if np.isfinite(values).any():
            detail = f"min {fmt_number(float(np.nanmin(values)))}, max {fmt_number(float(np.nanmax(values)))}"
            cards.append(Card(kpi, fmt_number(float(np.nanmean(values))), f"mean; {detail}"))
    return cards
