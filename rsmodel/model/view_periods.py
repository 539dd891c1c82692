"""Imported view periods: a CSV or JSON file of (node, station, start, end, ...) rows.

Columns (CSV header, or keys of each JSON object in a top-level list): ``node``, ``station``,
``start``, ``end`` (ISO 8601 UTC) and optionally ``tx_start``/``tx_end`` (the transmit-enabled
sub-interval), ``max_elevation_deg`` and ``rate_bps``. Problems are ModelErrors naming the
file, the line and the column.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from rsmodel.errors import ModelError
from rsmodel.model.scenario import ViewPeriod
from rsmodel.timeutil import iso, parse_time

REQUIRED = ("node", "station", "start", "end")
OPTIONAL = ("tx_start", "tx_end", "max_elevation_deg", "rate_bps")


def read_view_periods(path: Path, nodes: list[str], stations: list[str]) -> list[ViewPeriod]:
    """The view periods of ``path`` (``.csv`` or ``.json``), checked against the model's names."""
    text = path.read_text(encoding="utf-8")
    rows = _json_rows(path, text) if path.suffix.lower() == ".json" else _csv_rows(path, text)
    return [_period(path, line, row, nodes, stations) for line, row in rows]


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    _check_columns(path, 1, list(reader.fieldnames or []))
    out = []
    for row in reader:
        values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        out.append((reader.line_num, {k: v for k, v in values.items() if v != ""}))
    return out


def _json_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from None
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ModelError("expected a JSON list of objects (one per view period)", file=path, line=1)
    lines = _object_lines(text)
    out = []
    for i, entry in enumerate(data):
        line = lines[i] if i < len(lines) else None
        _check_columns(path, line, list(entry))
        out.append((line, {k: v for k, v in entry.items() if v is not None}))
    return out


def _object_lines(text: str) -> list[int]:
    """1-based line of each object opening at depth 1 of a JSON list (strings skipped)."""
    lines, depth, line, in_string, escaped = [], 0, 1, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            escaped, in_string = (not escaped and ch == "\\"), in_string and (escaped or ch != '"')
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            if ch == "{" and depth == 1:
                lines.append(line)
            depth += 1
        elif ch in "]}":
            depth -= 1
    return lines


def _check_columns(path: Path, line: int | None, columns: list[str]) -> None:
    known = (*REQUIRED, *OPTIONAL)
    for c in columns:
        if c.strip() not in known:
            hint = difflib.get_close_matches(c, known, n=1)
            raise ModelError(
                f"unknown column {c!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" Expected: {', '.join(known)}",
                file=path,
                line=line,
                field=c,
            )
    for c in REQUIRED:
        if c not in [x.strip() for x in columns]:
            raise ModelError(f"required column {c!r} is missing", file=path, line=line, field=c)


def _period(
    path: Path, line: int | None, row: dict[str, Any], nodes: list[str], stations: list[str]
) -> ViewPeriod:
    def fail(column: str, message: str) -> ModelError:
        return ModelError(message, file=path, line=line, field=column)

    for column, names, what in (("node", nodes, "node"), ("station", stations, "station")):
        name = str(row.get(column, ""))
        if name not in names:
            hint = difflib.get_close_matches(name, names, n=1)
            raise fail(
                column,
                f"unknown {what} {name!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" Expected one of the model's {what}s",
            )

    def time(column: str) -> datetime | None:
        if column not in row:
            if column in REQUIRED:
                raise fail(column, "required value is missing")
            return None
        try:
            return parse_time(str(row[column]))
        except ValueError as exc:
            raise fail(column, str(exc)) from None

    def number(column: str, lo: float, hi: float) -> float | None:
        if column not in row:
            return None
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            value = math.nan
        if not lo <= value <= hi or isinstance(row[column], bool):
            raise fail(column, f"expected a number in [{lo:g}, {hi:g}], got {row[column]!r}")
        return value

    start, end = time("start"), time("end")
    assert start is not None and end is not None
    if end <= start:
        raise fail("end", f"{iso(end)} is not after the start {iso(start)}; expected end > start")
    tx_start, tx_end = time("tx_start"), time("tx_end")
    if (tx_start is None) != (tx_end is None):
        raise fail("tx_end" if tx_end is None else "tx_start", "give both tx_start and tx_end")
    if tx_start is not None and tx_end is not None and not start <= tx_start < tx_end <= end:
        raise fail(
            "tx_start",
            f"{iso(tx_start)}..{iso(tx_end)} is not a non-empty part of "
            f"{iso(start)}..{iso(end)}; expected start <= tx_start < tx_end <= end",
        )
    return ViewPeriod(
        str(row["node"]),
        str(row["station"]),
        start,
        end,
        tx_start,
        tx_end,
        number("max_elevation_deg", -90.0, 90.0),
        number("rate_bps", 1e-9, math.inf),
    )
