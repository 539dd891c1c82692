"""Faults for a simulated run: read a faults file, and turn the section into timed facts.

A faults file has the shape of a model's ``faults:`` section (optionally wrapped in a top-level
``faults:`` key). Given with ``--faults``, it replaces the model's own section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from rsmodel.errors import ModelError
from rsmodel.model.faults_schema import Arrival, Faults, absolute_time, check_faults
from rsmodel.model.loader import validation_error
from rsmodel.model.scenario import Scenario, SyncRequest
from rsmodel.model.schema import Model
from rsmodel.model.vocabulary import FieldError, Strict
from rsmodel.model.yamlsrc import Source, read_yaml


class _FaultsFile(Strict):
    faults: Faults


@dataclass(frozen=True)
class Outage:
    """A resource (station or node) unavailable over [start_s, end_s)."""

    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Degradation:
    """Rates at `station` (None: everywhere) multiplied by `factor` over [start_s, end_s)."""

    factor: float
    start_s: float
    end_s: float
    station: str | None


@dataclass(frozen=True)
class ArrivalAt:
    """A request that becomes known at `time_s`."""

    time_s: float
    request: SyncRequest


@dataclass
class FaultPlan:
    """The faults of one run in seconds from the horizon start."""

    station_outages: list[Outage] = field(default_factory=list)
    node_faults: list[Outage] = field(default_factory=list)
    degradations: list[Degradation] = field(default_factory=list)
    dropout_probability: float = 0.0
    dropped_windows: set[str] = field(default_factory=set)
    transfer_failure_rate: float = 0.0
    arrivals: list[ArrivalAt] = field(default_factory=list)


@dataclass
class FaultsInput:
    """A validated faults section and the source its field paths refer to (for errors)."""

    faults: Faults
    source: Source | None


def model_faults(scenario: Scenario) -> FaultsInput:
    """The model's own ``faults:`` section (empty when it has none)."""
    return FaultsInput(scenario.model.faults or Faults(), scenario.source)


def load_faults_file(path: str | Path, scenario: Scenario) -> FaultsInput:
    """Read and check a faults file against ``scenario``; problems raise ``ModelError`` (exit 2)."""
    return parse_faults(read_yaml(path), scenario)


def is_faults_data(data: object) -> bool:
    """Whether parsed YAML is a faults file rather than a model: a lone ``faults:`` key, or
    top-level keys of which some are faults fields and none is another model section."""
    if not isinstance(data, dict) or not data:
        return False
    keys = set(data)
    sections = set(Model.model_fields) - {"faults"}
    return keys == {"faults"} or (bool(keys & set(Faults.model_fields)) and not keys & sections)


def parse_faults(src: Source, scenario: Scenario | None) -> FaultsInput:
    """Validate faults data (a faults section, optionally under a ``faults:`` key) for
    ``scenario``; with no scenario only the shape is checked (not names or times)."""
    data = src.data if src.data is not None else {}
    if not (isinstance(data, dict) and set(data) == {"faults"}):
        src = Source({"faults": data}, {("faults", *k): v for k, v in src.lines.items()}, src.file)
    try:
        faults = _FaultsFile.model_validate(src.data).faults
    except ValidationError as exc:
        raise validation_error(exc, src) from None
    if scenario is None:
        return FaultsInput(faults, src)
    try:
        check_faults(scenario, faults)
    except FieldError as exc:
        raise src.error(exc.path, exc.message) from None
    return FaultsInput(faults, src)


def resolve_faults(given: FaultsInput, scenario: Scenario, windows: pd.DataFrame) -> FaultPlan:
    """Absolute seconds for every fault; named passes looked up in the ``windows`` table."""
    f = given.faults

    def sec(value: object) -> float:
        return (absolute_time(value, scenario) - scenario.start).total_seconds()  # type: ignore[arg-type]

    plan = FaultPlan(
        station_outages=[Outage(o.station, sec(o.start), sec(o.end)) for o in f.station_outages],
        node_faults=[Outage(n.node, sec(n.start), sec(n.end)) for n in f.node_faults],
        degradations=[
            Degradation(d.factor, sec(d.start), sec(d.end), d.station) for d in f.degraded_bandwidth
        ],
        transfer_failure_rate=f.transfer_failure_rate,
        arrivals=[ArrivalAt(sec(a.time), _request(a, scenario)) for a in f.arrivals],
    )
    keep = 1.0
    for i, drop in enumerate(f.pass_dropouts):
        if drop.probability is not None:
            keep *= 1.0 - drop.probability
        else:
            plan.dropped_windows.add(_named_window(given, i, scenario, windows))
    plan.dropout_probability = 1.0 - keep
    return plan


def _named_window(given: FaultsInput, i: int, scenario: Scenario, windows: pd.DataFrame) -> str:
    drop = given.faults.pass_dropouts[i]
    path: tuple[str | int, ...] = ("faults", "pass_dropouts", i)
    if drop.window is not None:
        if drop.window in set(windows["id"]):
            return drop.window
        raise _error(
            given,
            path + ("window",),
            f"no access window {drop.window!r}; expected an id of the geometry's windows table",
        )
    t = pd.Timestamp(absolute_time(drop.time, scenario))  # type: ignore[arg-type]
    hit = windows[
        (windows["node"] == drop.node)
        & (windows["station"] == drop.station)
        & (windows["start"] <= t)
        & (windows["end"] > t)
    ]
    if hit.empty:
        raise _error(
            given,
            path + ("time",),
            f"{drop.node} is not in view of {drop.station} at {t.isoformat()}; expected a time inside one of its passes",
        )
    return str(hit["id"].iloc[0])


def _request(arrival: Arrival, scenario: Scenario) -> SyncRequest:
    sync = arrival.sync
    release = absolute_time(arrival.time, scenario)
    if sync.release is not None:
        release = max(release, absolute_time(sync.release, scenario))
    deadline = absolute_time(sync.deadline, scenario) if sync.deadline is not None else None
    return SyncRequest(
        str(sync.id),
        sync.node,
        float(sync.data_size),
        sync.priority,
        release,
        deadline,
        sync.data_type,
    )


def _error(given: FaultsInput, path: tuple[str | int, ...], message: str) -> ModelError:
    if given.source is None:
        return ModelError(message, field=".".join(map(str, path)))
    return given.source.error(path, message)
