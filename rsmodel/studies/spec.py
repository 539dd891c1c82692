"""Study spec -> variants: the model data of every variant, with its place in the results."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from rsmodel.errors import ModelError
from rsmodel.model.study_schema import Axis, Study
from rsmodel.model.vocabulary import FieldPath
from rsmodel.model.yamlsrc import Source, format_path
from rsmodel.studies.kpis import KPI_NAMES, KPIS
from rsmodel.studies.paths import (
    PathError,
    check_path,
    parse_path,
    remove_path,
    select_items,
    set_path,
)

RESERVED_NAMES = frozenset({*KPIS, "status", "error", "variant", "variant_id"})


@dataclass(frozen=True)
class Variant:
    """One model of a study: its data (without ``study``) and its place in the results."""

    id: str
    index: tuple[int, ...]
    params: dict[str, Any]
    data: dict[str, Any] = field(repr=False)
    problem: str | None = None  # why the variant cannot be built (it is reported as invalid)

    @property
    def digest(self) -> str:
        """Content hash of the variant's model data (a finished result is reused only if equal)."""
        text = json.dumps(self.data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StudyPlan:
    """All variants of a study and the coordinates of the results."""

    study: Study
    variants: list[Variant]
    coords: dict[str, list[Any]]  # axis name -> coordinate labels (grid) or per-variant values

    @property
    def dims(self) -> list[str]:
        """Result dimensions: one per axis (grid), the first axis (zip), ``variant`` (random)."""
        if self.study.mode == "grid":
            return [a.dim for a in self.study.vary]
        if self.study.mode == "zip":
            return [self.study.vary[0].dim]
        return ["variant"]

    @property
    def shape(self) -> tuple[int, ...]:
        if self.study.mode == "grid":
            return tuple(len(self.coords[d]) for d in self.dims)
        return (len(self.variants),)


# --------------------------------------------------------------------------- checks
def check_study(study: Study, data: dict[str, Any], where: StudyOrigin) -> None:
    """Raise ModelError for paths that do not exist, unknown KPIs and unknown item names."""
    trial = copy.deepcopy(data)  # `set` and `remove` apply first, to the model as written
    for key, value in study.set.items():
        where.guard(("set", key), lambda key=key, value=value: _check_set(trial, key, value))
    for i, text in enumerate(study.remove):
        where.guard(("remove", i), lambda text=text: _check_remove(trial, text))
    for i, axis in enumerate(study.vary):
        where.guard(("vary", i, "path"), lambda axis=axis: check_path(axis.path, trial))
        where.guard(("vary", i, "values"), lambda axis=axis: _check_item_names(axis, trial))
        if axis.dim in RESERVED_NAMES:
            raise where.error(
                ("vary", i, "name"), f"{axis.dim!r} names a result variable; give another `name:`"
            )
    for i, kpi in enumerate(study.kpis or []):
        if kpi not in KPI_NAMES:
            raise where.error(
                ("kpis", i), f"unknown KPI {kpi!r}; expected one of: {', '.join(KPI_NAMES)}"
            )


def _check_set(trial: dict[str, Any], path: str, value: Any) -> None:
    check_path(path, trial)
    set_path(trial, path, value)


def _check_remove(trial: dict[str, Any], path: str) -> None:
    check_path(path, trial)
    remove_path(trial, path)


def _check_item_names(axis: Axis, data: dict[str, Any]) -> None:
    """For a list-section axis, every named item must exist in the model."""
    target: Any = data
    for segment in parse_path(axis.path):
        if not isinstance(target, dict):
            return
        target = target.get(segment)
    if isinstance(target, list):
        for value in axis.values or []:
            select_items(target, value, axis.path)


@dataclass(frozen=True)
class StudyOrigin:
    """Where the study spec came from, to point errors at it (model file lines or CLI flags)."""

    source: Source | None
    flag: str | None = None

    def error(self, path: FieldPath, message: str) -> ModelError:
        if self.source is not None and self.flag is None:
            return self.source.error(("study", *path), message)
        return ModelError(message, file=self.flag or "study", field=format_path(("study", *path)))

    def guard(self, path: FieldPath, check: Any) -> None:
        try:
            check()
        except PathError as exc:
            raise self.error(path, str(exc)) from None


def study_from_flags(spec: dict[str, Any], origin: StudyOrigin) -> Study:
    """Validate a study given as a plain dict (command-line flags)."""
    try:
        return Study.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise origin.error(tuple(err["loc"]), err["msg"].removeprefix("Value error, ")) from None


def study_plan(
    source: Source, study: Study | None, overrides: dict[str, Any] | None = None
) -> StudyPlan:
    """Merge command-line ``overrides`` into the model's ``study``, check it against the model
    data of ``source`` and expand the variants (ModelError naming file, line, field)."""
    origin = StudyOrigin(source)
    if overrides:
        merged = {**(study.model_dump(exclude_unset=True) if study else {}), **overrides}
        origin = StudyOrigin(source, flag="command line")
        study = study_from_flags(merged, origin)
    if study is None:
        raise ModelError(
            "no `study:` section and no --vary flags; expected the fields to vary",
            file=source.file,
        )
    check_study(study, source.data, origin)
    return expand(study, source.data)


# --------------------------------------------------------------------------- variants
def expand(study: Study, base: dict[str, Any]) -> StudyPlan:
    """All variants of ``study`` applied to the model data ``base``."""
    common = copy.deepcopy({k: v for k, v in base.items() if k != "study"})
    for key, value in study.set.items():
        set_path(common, key, value)
    for text in study.remove:
        remove_path(common, text)
    if study.mode == "random":
        combos, coords = _random(study)
    else:
        values = [axis_values(a) for a in study.vary]
        coords = {a.dim: axis_labels(a, v) for a, v in zip(study.vary, values, strict=True)}
        if study.mode == "grid":
            shape = [len(v) for v in values]
            combos = [
                (idx, [v[i] for v, i in zip(values, idx, strict=True)])
                for idx in np.ndindex(*shape)
            ]
        else:
            combos = [((i,), list(vals)) for i, vals in enumerate(zip(*values, strict=True))]
    variants = [_variant(n, idx, study, vals, common) for n, (idx, vals) in enumerate(combos)]
    return StudyPlan(study, variants, coords)


def _variant(
    n: int, index: tuple[int, ...], study: Study, values: list[Any], common: dict[str, Any]
) -> Variant:
    data = copy.deepcopy(common)
    params = {}
    problems = []
    for axis, value in zip(study.vary, values, strict=True):
        params[axis.dim] = value
        try:
            set_path(data, axis.path, value)
        except PathError as exc:  # e.g. an item another axis removed: the variant is invalid
            problems.append(f"{axis.path}: {exc}")
    index = tuple(int(i) for i in index)
    return Variant(f"v{n + 1:04d}", index, params, data, "; ".join(problems) or None)


def axis_values(axis: Axis) -> list[Any]:
    """Grid/zip values of an axis (explicit, or ``num`` points over ``range``)."""
    if axis.values is not None:
        return list(axis.values)
    assert axis.range is not None and axis.num is not None
    low, high = axis.range
    points = np.geomspace(low, high, axis.num) if axis.log else np.linspace(low, high, axis.num)
    return [int(round(p)) if axis.integer else float(p) for p in points]


def axis_labels(axis: Axis, values: list[Any]) -> list[Any]:
    """Coordinate labels: numbers stay numbers, anything else becomes a short string."""
    if axis.labels is not None:
        return list(axis.labels)
    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        return numbers
    return [value_label(v) for v in values]


def _number(value: Any) -> int | float | None:
    """``value`` as a number if it is one (YAML 1.1 reads ``5e8`` as a string: accept it)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def value_label(value: Any) -> str:
    """A readable label: item names joined by ``+`` for lists, compact JSON for mappings."""
    if isinstance(value, list):
        return "+".join(
            v.get("name", json.dumps(v, sort_keys=True)) if isinstance(v, dict) else str(v)
            for v in value
        )
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return "none" if value is None else str(value)


def _random(study: Study) -> tuple[list[tuple[tuple[int, ...], list[Any]]], dict[str, list[Any]]]:
    rng = np.random.default_rng(study.seed)
    assert study.samples is not None
    columns = [_draw(axis, rng, study.samples) for axis in study.vary]
    combos = [((i,), [col[i] for col in columns]) for i in range(study.samples)]
    coords = {}
    for axis, col in zip(study.vary, columns, strict=True):
        if axis.values is not None and axis.labels is not None:
            lookup = {
                json.dumps(v, sort_keys=True, default=str): lab
                for v, lab in zip(axis.values, axis.labels, strict=True)
            }
            coords[axis.dim] = [lookup[json.dumps(v, sort_keys=True, default=str)] for v in col]
        else:
            coords[axis.dim] = axis_labels(axis.model_copy(update={"labels": None}), col)
    return combos, coords


def _draw(axis: Axis, rng: np.random.Generator, n: int) -> list[Any]:
    if axis.values is not None:
        return [copy.deepcopy(axis.values[i]) for i in rng.integers(0, len(axis.values), n)]
    assert axis.range is not None
    low, high = axis.range
    draws = (
        np.exp(rng.uniform(np.log(low), np.log(high), n)) if axis.log else rng.uniform(low, high, n)
    )
    return [int(round(d)) if axis.integer else float(d) for d in draws]


def load_base(path: Path) -> tuple[Source, Study | None]:
    """Read the model file and validate it whole (ModelError on problems)."""
    from rsmodel.model.loader import load_model

    scenario = load_model(path)
    assert scenario.source is not None
    return scenario.source, scenario.model.study
