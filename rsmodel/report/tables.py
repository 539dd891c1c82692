"""Table specs for the reports (rendered by the ``table`` macro, sorted/filtered/paged by inline JS)
and the small value formatters the report views share."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rsmodel.report.svg import to_datetime

PAGE_SIZE_ROWS = 25
WRAPPED_KEYS = ("reason", "details", "error", "description")  # long text: wraps, other cells do not


@dataclass(frozen=True)
class Card:
    """A KPI card: big ``value``, small ``label`` and optional ``detail``; ``tone`` ok|warn|bad."""

    label: str
    value: str
    detail: str = ""
    tone: str = ""


@dataclass(frozen=True)
class Cell:
    """Displayed ``text``; ``sort`` is the numeric sort key (None: sort by text)."""

    text: str
    sort: float | None = None
    cls: str = ""

    @property
    def sort_text(self) -> str | None:
        """The sort key as compact text (integers without a decimal point)."""
        if self.sort is None:
            return None
        value = float(self.sort)
        return str(int(value)) if value.is_integer() else f"{value:.10g}"


@dataclass(frozen=True)
class Row:
    cells: list[Cell]


@dataclass(frozen=True)
class Table:
    """A sortable, filterable, client-side paged table.

    Columns are (label, numeric): numeric columns sort by each cell's ``sort`` key and are
    right-aligned, the others sort by text (dates are written ``YYYY-MM-DD HH:MM:SSZ`` so text
    order is time order). ``filters`` names columns offered as a select of their distinct values.
    """

    id: str
    columns: list[tuple[str, bool]]
    rows: list[Row]
    filters: list[str] = field(default_factory=list)
    page_size: int = PAGE_SIZE_ROWS
    note: str = ""

    @property
    def filter_options(self) -> list[tuple[int, str, list[str]]]:
        """(column index, label, sorted distinct cell texts) for each filter column."""
        labels = [label for label, _ in self.columns]
        out = []
        for label in self.filters:
            col = labels.index(label)
            out.append((col, label, sorted({r.cells[col].text for r in self.rows} - {"–", ""})))
        return out

    @property
    def numeric_columns(self) -> list[int]:
        """1-based indices of the numeric (right-aligned) columns."""
        return [i + 1 for i, (_, numeric) in enumerate(self.columns) if numeric]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_mb(n_bytes: float | None) -> str:
    """Bytes as megabytes (10^6), e.g. ``12.5 MB``."""
    if not is_number(n_bytes):
        return "–"
    mb = float(n_bytes) / 1e6
    if mb >= 1e6:
        return f"{mb / 1e6:,.2f} TB"
    if mb >= 1e3:
        return f"{mb / 1e3:,.1f} GB"
    return f"{mb:,.1f} MB" if mb < 100 else f"{mb:,.0f} MB"


def fmt_deg(degrees: float | None, digits: int = 1) -> str:
    """An angle in degrees, e.g. ``42.5°``; unknown (None, NaN: an imported view period without
    its maximum elevation) as a dash."""
    return f"{float(degrees):.{digits}f}°" if is_number(degrees) else "–"


def fmt_time(value: str | datetime | None, *, date: bool = False) -> str:
    """UTC time as ``HH:MM:SSZ`` (with ``YYYY-MM-DD`` when ``date``)."""
    if not value:
        return "–"
    t = to_datetime(value)
    return t.strftime("%Y-%m-%d %H:%M:%SZ" if date else "%H:%M:%SZ")


def fmt_hm(value: str | datetime) -> str:
    """UTC time as ``HH:MM`` (compact, for tooltips)."""
    return to_datetime(value).strftime("%H:%M")


def fmt_duration(seconds: float | None) -> str:
    """Seconds as ``1h 02m``, ``12m 05s`` or ``42 s``."""
    if not is_number(seconds):
        return "–"
    s = round(float(seconds))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s} s"


def fmt_value(value: Any) -> str:
    """Generic cell text: numbers with 4 significant digits, lists joined, None as a dash."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt_value(v)}" for k, v in value.items())
    return str(value)


def generic_table(
    table_id: str,
    records: Sequence[dict[str, Any]],
    *,
    preferred: Sequence[str] = (),
    only: Sequence[str] | None = None,
    filters: Sequence[str] = (),
) -> Table:
    """A table of dict records: ``preferred`` keys first, then (unless ``only``) the other scalar keys."""
    keys: list[str] = [k for k in preferred if any(k in r for r in records)]
    if only is None:
        for record in records:
            keys += [k for k in record if k not in keys and not isinstance(record[k], list | dict)]
    else:
        keys = [k for k in keys if k in only]
    rows = []
    for record in records:
        cells = []
        for key in keys:
            value = record.get(key)
            if isinstance(value, str) and _looks_like_time(value):
                cells.append(Cell(fmt_time(value, date=True)))
            else:
                cls = "wrap" if key in WRAPPED_KEYS else ""
                cells.append(
                    Cell(fmt_value(value), float(value) if is_number(value) else None, cls)
                )
        rows.append(Row(cells))
    columns = [(k, any(is_number(r.get(k)) for r in records)) for k in keys]
    return Table(table_id, columns, rows, filters=[f for f in filters if f in keys])


def _looks_like_time(text: str) -> bool:
    return len(text) >= 20 and text[4] == "-" and text[10] == "T" and text.endswith("Z")
