"""Schema of the ``faults:`` section (and of a separate faults file with the same shape).

Faults are what the simulator (``rsmodel simulate``) injects while it plays a plan forward::

    faults:
      station_outages:    [{station: svalbard, start: +2h, end: +8h}]
      pass_dropouts:      [{probability: 0.1}, {window: w00012},
                           {node: sat-1, station: chile, time: +5h}]
      transfer_failure_rate: 0.02      # chance that an operation breaks part-way
      node_faults:        [{node: sat-3, start: +10h, end: +11h}]
      degraded_bandwidth: [{factor: 0.5, start: +3h, end: +6h, station: singapore}]
      arrivals:           [{time: +4h, sync: {id: urgent-1, node: sat-2, data_size: 4.0e7,
                                               priority: critical, deadline: +8h}}]

Times are ISO 8601 UTC or offsets from the horizon start, like everywhere in a model file.
Cross-references (stations, nodes, the horizon) are checked by :func:`check_faults`, a
registered section check the loader runs for every model (``vocabulary.section_check``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from rsmodel.model.sync_schema import Sync
from rsmodel.model.vocabulary import FieldError, Strict, section_check
from rsmodel.timeutil import parse_time

if TYPE_CHECKING:
    from rsmodel.model.scenario import Scenario

TimeValue = datetime | str


class StationOutage(Strict):
    """A ground station is down (no contact at all) during [start, end)."""

    station: str
    start: TimeValue
    end: TimeValue


class NodeFault(Strict):
    """A node can neither transfer nor compute during [start, end)."""

    node: str
    start: TimeValue
    end: TimeValue


class PassDropout(Strict):
    """Passes that are lost when they come: at random (`probability`), one named window
    (`window` id), or the window of `node` over `station` that contains `time`."""

    probability: float | None = Field(
        None, ge=0, le=1, description="Chance that any one pass is lost."
    )
    window: str | None = Field(None, description="Window id of the geometry table, e.g. `w00012`.")
    node: str | None = None
    station: str | None = None
    time: TimeValue | None = None

    @model_validator(mode="after")
    def _one_way(self) -> PassDropout:
        ways = [self.probability is not None, self.window is not None, self.node is not None]
        if sum(ways) != 1:
            raise ValueError(
                "give exactly one of `probability`, `window`, or `node` + `station` + `time`"
            )
        if self.node is not None and (self.station is None or self.time is None):
            raise ValueError("a pass named by `node` also needs `station` and `time`")
        if self.node is None and (self.station is not None or self.time is not None):
            raise ValueError("`station` and `time` name a pass together with `node`")
        return self


class DegradedBandwidth(Strict):
    """Link rates are multiplied by `factor` during [start, end) (at `station`, or everywhere)."""

    factor: float = Field(ge=0, le=1, description="Fraction of the nominal rate that remains.")
    start: TimeValue
    end: TimeValue
    station: str | None = None


class Arrival(Strict):
    """A sync request that appears at `time` (it is unknown to the plan before then)."""

    time: TimeValue
    sync: Sync = Field(description="A sync request, as in `syncs:` (an `id` is required).")


class Faults(Strict):
    """Everything that goes wrong (or arrives unplanned) during a simulated run."""

    station_outages: list[StationOutage] = Field(default_factory=list)
    pass_dropouts: list[PassDropout] = Field(default_factory=list)
    transfer_failure_rate: float = Field(
        0.0, ge=0, le=1, description="Chance that one operation breaks at a random moment."
    )
    node_faults: list[NodeFault] = Field(default_factory=list)
    degraded_bandwidth: list[DegradedBandwidth] = Field(default_factory=list)
    arrivals: list[Arrival] = Field(default_factory=list)


@section_check
def check_faults(scenario: Scenario, faults: Faults | None = None) -> None:
    """Check names and times of ``faults`` (default: the model's section) against the scenario.

    Raises ``FieldError`` with a path under ``faults``.
    """
    faults = scenario.model.faults if faults is None else faults
    if faults is None:
        return
    stations = {s.name for s in scenario.stations}
    nodes = {n.name for n in scenario.nodes}
    for path, kind, name in _references(faults):
        known = stations if kind == "station" else nodes
        if name not in known:
            _fail(path, f"unknown {kind} {name!r}; expected one of {_names(known)}")
    for path, start, end in _intervals(faults):
        t0, t1 = (
            _absolute(path + ("start",), start, scenario),
            _absolute(path + ("end",), end, scenario),
        )
        if t1 <= t0:
            _fail(path + ("end",), f"end {t1.isoformat()} must be after start {t0.isoformat()}")
    for path, value in _instants(faults):
        t = _absolute(path, value, scenario)
        if t >= scenario.end:
            _fail(path, f"{t.isoformat()} is not before the horizon end {scenario.end.isoformat()}")
    _check_arrivals(faults, scenario, nodes)


def _references(faults: Faults) -> Iterator[tuple[tuple[Any, ...], str, str]]:
    for i, o in enumerate(faults.station_outages):
        yield ("faults", "station_outages", i, "station"), "station", o.station
    for i, f in enumerate(faults.node_faults):
        yield ("faults", "node_faults", i, "node"), "node", f.node
    for i, d in enumerate(faults.degraded_bandwidth):
        if d.station is not None:
            yield ("faults", "degraded_bandwidth", i, "station"), "station", d.station
    for i, p in enumerate(faults.pass_dropouts):
        if p.node is not None:
            yield ("faults", "pass_dropouts", i, "node"), "node", p.node
            yield ("faults", "pass_dropouts", i, "station"), "station", str(p.station)


def _intervals(faults: Faults) -> Iterator[tuple[tuple[Any, ...], TimeValue, TimeValue]]:
    for section in ("station_outages", "node_faults", "degraded_bandwidth"):
        for i, item in enumerate(getattr(faults, section)):
            yield ("faults", section, i), item.start, item.end


def _instants(faults: Faults) -> Iterator[tuple[tuple[Any, ...], TimeValue]]:
    for i, p in enumerate(faults.pass_dropouts):
        if p.time is not None:
            yield ("faults", "pass_dropouts", i, "time"), p.time
    for i, a in enumerate(faults.arrivals):
        yield ("faults", "arrivals", i, "time"), a.time


def _check_arrivals(faults: Faults, scenario: Scenario, nodes: set[str]) -> None:
    ids = {s.id for s in scenario.syncs}
    for i, a in enumerate(faults.arrivals):
        path = ("faults", "arrivals", i, "sync")
        sync = a.sync
        if sync.node not in nodes:
            _fail(path + ("node",), f"unknown node {sync.node!r}; expected one of {_names(nodes)}")
        if sync.id is None:
            _fail(path + ("id",), "an arriving sync needs an `id` (unique among the model's syncs)")
        if sync.id in ids:
            _fail(
                path + ("id",), f"duplicate sync id {sync.id!r}; expected an id not used elsewhere"
            )
        ids.add(str(sync.id))
        arrival = _absolute(path[:-1] + ("time",), a.time, scenario)
        if sync.deadline is not None:
            deadline = _absolute(path + ("deadline",), sync.deadline, scenario)
            if deadline <= arrival:
                _fail(
                    path + ("deadline",),
                    f"deadline {deadline.isoformat()} must be after the arrival {arrival.isoformat()}",
                )


def absolute_time(value: TimeValue, scenario: Scenario) -> datetime:
    """An ISO time or ``+offset`` (from the horizon start) as an aware UTC datetime."""
    return parse_time(value, base=scenario.start)


def _absolute(path: tuple[Any, ...], value: TimeValue, scenario: Scenario) -> datetime:
    try:
        t = absolute_time(value, scenario)
    except ValueError as exc:
        _fail(path, str(exc))
    if not scenario.start <= t <= scenario.end:
        _fail(
            path,
            f"{t.isoformat()} is outside the horizon; expected a time in "
            f"[{scenario.start.isoformat()}, {scenario.end.isoformat()}]",
        )
    return t


def _names(names: set[str]) -> str:
    listed = sorted(names)
    return ", ".join(map(repr, listed[:8])) + (
        f" ... ({len(listed)} in all)" if len(listed) > 8 else ""
    )


def _fail(path: tuple[Any, ...], message: str) -> None:
    raise FieldError(path, message)
