"""Field paths into a model: parse, check against the schema, and apply to model data.

A path walks mapping keys and list items; a list item is picked by its ``name`` (or ``id``),
its index, or ``*`` (every item). ``[...]`` quotes a segment containing dots.
"""

from __future__ import annotations

import copy
import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from rsmodel.model.loader import model_of
from rsmodel.model.schema import Model

_SEGMENT = re.compile(r"\[([^\]]+)\]|([^.\[\]]+)")
WILDCARD = "*"


class PathError(ValueError):
    """A path that does not fit the schema or the model data."""


def parse_path(text: str) -> list[str]:
    """``"nodes[NOAA 20].battery.capacity_wh"`` -> ``["nodes", "NOAA 20", "battery", "capacity_wh"]``."""
    segments: list[str] = []
    pos = 0
    while pos < len(text):
        match = _SEGMENT.match(text, pos)
        if match is None:
            raise PathError(
                f"cannot parse field path {text!r} at character {pos + 1}; expected a.b[name].c"
            )
        segments.append((match[1] or match[2]).strip())
        pos = match.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            if pos == len(text):
                raise PathError(f"field path {text!r} ends with a dot")
    if not segments:
        raise PathError("empty field path")
    return segments


# --------------------------------------------------------------------------- schema check
def check_path(text: str, data: dict[str, Any]) -> None:
    """Raise :class:`PathError` unless ``text`` names a model field present in ``data``'s lists."""
    annotation: Any = Model
    nodes: list[Any] = [data]
    walked: list[str] = []
    for segment in parse_path(text):
        kind, inner = _kind(annotation, nodes[0] if nodes else None)
        where = ".".join(walked) or "the model"
        if kind == "free":
            return
        if kind == "list":
            nodes = [
                node[i]
                for node in nodes
                if isinstance(node, list)
                for i in _indices(node, segment, where)
            ]
            annotation = inner
        elif kind == "model":
            fields = inner.model_fields
            if segment not in fields:
                raise PathError(
                    f"unknown field {segment!r} in {where}; expected one of: {', '.join(fields)}"
                )
            nodes = [node.get(segment) for node in nodes if isinstance(node, dict)]
            annotation = fields[segment].annotation
        else:
            raise PathError(f"{where} is a single value; it has no field {segment!r}")
        walked.append(segment)


def _kind(annotation: Any, value: Any) -> tuple[str, Any]:
    """Classify a schema annotation: ("model", cls), ("list", item annotation), ("free"|"value", None)."""
    annotation = _strip(annotation)
    if get_origin(annotation) is list:
        return "list", get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "model", annotation
    if get_origin(annotation) in (Union, types.UnionType):
        model = model_of(annotation, value)
        if model is not None:
            return "model", model
    if annotation is Any or get_origin(annotation) is dict:
        return "free", None
    return "value", None


def _strip(annotation: Any) -> Any:
    """Drop ``Annotated`` wrappers and ``None`` from optional types."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return annotation


# --------------------------------------------------------------------------- data edits
def _item_key(item: Any, index: int) -> set[str]:
    """The names a list item answers to: its ``name``, ``id`` and index."""
    keys = {str(index)}
    if isinstance(item, dict):
        keys |= {str(item[k]) for k in ("name", "id") if item.get(k) is not None}
    return keys


def _indices(items: list[Any], segment: str, where: str) -> list[int]:
    if segment == WILDCARD:
        return list(range(len(items)))
    found = [i for i, item in enumerate(items) if segment in _item_key(item, i)]
    if not found:
        names = [
            str(item.get("name") or item.get("id") or i)
            for i, item in enumerate(items)
            if isinstance(item, dict)
        ]
        raise PathError(
            f"no item {segment!r} in {where}; expected one of: {', '.join(names) or '(empty list)'}"
        )
    return found[:1]


def set_path(data: dict[str, Any], text: str, value: Any) -> None:
    """Set the field at ``text`` to ``value`` in place (``None`` deletes it, a list item is removed)."""
    _walk(data, parse_path(text), [], lambda container, key: _assign(container, key, value, text))


def remove_path(data: dict[str, Any], text: str) -> None:
    """Remove the list item (or mapping key) at ``text`` in place."""
    _walk(data, parse_path(text), [], lambda container, key: _assign(container, key, None, text))


def _walk(node: Any, segments: list[str], walked: list[str], act: Any) -> None:
    segment, rest = segments[0], segments[1:]
    where = ".".join(walked) or "the model"
    if isinstance(node, list):
        indices = _indices(node, segment, where)
        if not rest:
            for i in sorted(indices, reverse=True):
                act(node, i)
            return
        for i in indices:
            _walk(node[i], rest, [*walked, segment], act)
        return
    if not isinstance(node, dict):
        raise PathError(f"{where} is a single value; it has no field {segment!r}")
    if not rest:
        act(node, segment)
        return
    if node.get(segment) is None:
        node[segment] = {}
    _walk(node[segment], rest, [*walked, segment], act)


def _assign(container: Any, key: Any, value: Any, text: str) -> None:
    if value is None:
        if isinstance(container, list):
            del container[key]
        else:
            container.pop(key, None)
        return
    current = container[key] if isinstance(container, list) or key in container else None
    container[key] = (
        select_items(current, value, text) if isinstance(current, list) else copy.deepcopy(value)
    )


def select_items(items: list[Any], value: Any, text: str) -> list[Any]:
    """A list section's new content: an int keeps the first N items; a list keeps named items
    (strings) and adds new ones (mappings)."""
    if isinstance(value, bool) or not isinstance(value, int | list):
        raise PathError(
            f"{text} is a list; expected an item count or a list of item names / new items, got {value!r}"
        )
    if isinstance(value, int):
        if value < 0:
            raise PathError(f"{text}: item count must be >= 0, got {value}")
        return copy.deepcopy(items[:value])
    out = []
    for entry in value:
        if isinstance(entry, str):
            out.append(copy.deepcopy(items[_indices(items, entry, text)[0]]))
        else:
            out.append(copy.deepcopy(entry))
    return out
