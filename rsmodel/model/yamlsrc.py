"""Read YAML while remembering the line of every field, so errors can point at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rsmodel.errors import ModelError
from rsmodel.model.vocabulary import FieldPath


class Source:
    """A parsed YAML document plus the line number of each field path."""

    def __init__(self, data: Any, lines: dict[FieldPath, int], file: Path | None) -> None:
        self.data = data
        self.lines = lines
        self.file = file

    def line_of(self, path: FieldPath) -> int | None:
        """Line of ``path``, or of its nearest parent that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, path: FieldPath, message: str) -> ModelError:
        """Build a :class:`ModelError` for ``path`` with its line."""
        return ModelError(message, file=self.file, field=format_path(path), line=self.line_of(path))


def format_path(path: FieldPath) -> str:
    """``("ground_stations", 2, "lat_deg")`` -> ``ground_stations[2].lat_deg``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _ValueError(Exception):
    """A scalar YAML cannot construct (e.g. the date 2026-13-30), at a field path."""

    def __init__(self, path: FieldPath, line: int, message: str) -> None:
        super().__init__(message)
        self.path, self.line, self.message = path, line, message


def _scalar(node: yaml.Node, path: FieldPath) -> Any:
    try:
        return _LOADER.construct_object(node, deep=True)  # type: ignore[arg-type]
    except (ValueError, yaml.YAMLError) as exc:
        raise _ValueError(
            path, node.start_mark.line + 1, f"invalid value {node.value!r}: {exc}"
        ) from None


def _convert(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, path)
            if key in out:
                raise _ValueError(
                    (*path, key),
                    key_node.start_mark.line + 1,
                    f"duplicate key {key!r} (first on line {lines[(*path, key)]}); give each key once",
                )
            out[key] = _convert(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node, path)


_LOADER = yaml.SafeLoader("")


def parse_yaml(text: str, file: Path | None = None) -> Source:
    """Parse YAML text into a :class:`Source`; syntax errors become ``ModelError`` with line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ModelError(
            f"YAML syntax error: {problem}; expected valid YAML",
            file=file,
            line=mark.line + 1 if mark else None,
        ) from None
    lines: dict[FieldPath, int] = {}
    try:
        data = {} if root is None else _convert(root, (), lines)
    except _ValueError as exc:
        raise ModelError(
            exc.message, file=file, field=format_path(exc.path), line=exc.line
        ) from None
    return Source(data, lines, file)


def read_text(path: Path, expected: str) -> str:
    """A user's input file as UTF-8 text; a missing or unreadable file is a ModelError that
    says what was ``expected`` (e.g. "an existing YAML file")."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelError(f"file not found; expected {expected}", file=path) from None
    except OSError as exc:
        raise ModelError(f"cannot read file ({exc.strerror})", file=path) from None


def read_yaml(path: str | Path) -> Source:
    """Read and parse a YAML (or JSON) file."""
    path = Path(path)
    return parse_yaml(read_text(path, "an existing YAML file"), path)
