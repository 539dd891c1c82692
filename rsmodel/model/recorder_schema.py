"""Schema of a node's onboard ``recorder:`` and its data sources (docs/recorder.md).

::

    nodes:
      - name: eo-01
        recorder:
          capacity_bytes: 1.0e12
          initial_fill_bytes: 2.0e11        # source "<node>/initial", class initial_priority
          initial_priority: normal
          sources:
            - name: imager
              rate_bps: 8.0e8               # produced while active
              priority: high
              data_type: image
              on_full: drop_new             # drop_new | overwrite_oldest
              active: {box: {lat_min_deg: 35, lat_max_deg: 70, lon_min_deg: -10,
                             lon_max_deg: 40, and_sunlit: true}}
        power: {tx_power_w: 35.0, tx_warmup_s: 60.0}

``active`` is exactly one of ``sunlit: true``, ``box`` (sub-satellite point inside a
latitude/longitude box, optionally only in sunlight), ``intervals`` (ISO UTC or +offset) or
``duty_cycle``. :func:`resolve_recorder` turns a section into a :class:`NodeRecorder` with absolute
times (the loader calls it for every node); :func:`check_recorders` is the section check
(source ids apart from sync ids, the transmitter-power warning).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from rsmodel.model.vocabulary import (
    PRIORITY_RANK,
    FieldError,
    FieldPath,
    Priority,
    Strict,
    section_check,
)
from rsmodel.timeutil import iso, parse_time

if TYPE_CHECKING:
    from rsmodel.model.scenario import OrbitalNode, Scenario

OnFull = Literal["drop_new", "overwrite_oldest"]
ActivityKind = Literal["sunlit", "box", "intervals", "duty_cycle"]
INITIAL_SOURCE = "initial"  # name of the source holding a recorder's initial fill


class LatLonBox(Strict):
    """Active while the sub-satellite point (WGS-84 geodetic) is inside the box.

    Longitudes in [-180, 360]; the box runs east from `lon_min_deg` to `lon_max_deg`, so
    `lon_min_deg: 170, lon_max_deg: 190` crosses the antimeridian."""

    lat_min_deg: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lat_max_deg: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon_min_deg: float = Field(ge=-180, le=360, allow_inf_nan=False)
    lon_max_deg: float = Field(ge=-180, le=360, allow_inf_nan=False)
    and_sunlit: bool = Field(False, description="Only while the node is also sunlit.")


class Interval(Strict):
    """Active during [start, end)."""

    start: datetime | str = Field(description="ISO 8601 UTC or +offset from the horizon start.")
    end: datetime | str = Field(description="ISO 8601 UTC or +offset; after `start`.")


class DutyCycle(Strict):
    """Active during [offset_s + n * period_s, offset_s + n * period_s + on_s), s from the
    horizon start, for every integer n."""

    on_s: float = Field(gt=0, allow_inf_nan=False, description="On time per period, s.")
    period_s: float = Field(gt=0, allow_inf_nan=False, description="Period, s.")
    offset_s: float = Field(0.0, allow_inf_nan=False, description="First switch-on, s.")


class Activity(Strict):
    """When a source produces: exactly one of the four."""

    sunlit: Literal[True] | None = Field(None, description="While the node is sunlit.")
    box: LatLonBox | None = None
    intervals: list[Interval] | None = Field(None, min_length=1)
    duty_cycle: DutyCycle | None = None

    @model_validator(mode="after")
    def _one(self) -> Activity:
        given = [k for k in ("sunlit", "box", "intervals", "duty_cycle") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of `sunlit: true`, `box`, `intervals` or `duty_cycle`"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class SourceSection(Strict):
    """A payload writing into the recorder at `rate_bps` while active."""

    name: str = Field(min_length=1, pattern=r"^[^/]+$", description="Unique on the node; no `/`.")
    rate_bps: float = Field(ge=0, allow_inf_nan=False, description="Production rate, bit/s.")
    priority: Priority = "normal"
    data_type: str | None = Field(None, description="Free text, reported.")
    on_full: OnFull = Field(
        "drop_new",
        description="When the recorder is full: drop_new (new data is lost) | overwrite_oldest "
        "(the oldest undelivered bytes of this source are lost instead).",
    )
    active: Activity


class RecorderSection(Strict):
    """A node's recorder (mass memory): what it holds and what writes into it."""

    capacity_bytes: float = Field(gt=0, allow_inf_nan=False, description="Size, bytes.")
    initial_fill_bytes: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Held at the horizon start, bytes."
    )
    initial_priority: Priority = Field("normal", description="Class of the initial fill.")
    sources: list[SourceSection] = Field(default_factory=list)


# --------------------------------------------------------------------------- resolved
@dataclass(frozen=True)
class DataSource:
    """A resolved data source (absolute times, SI units); its id is ``"<node>/<name>"``."""

    node: str
    name: str
    rate_bps: float
    priority: Priority
    data_type: str | None
    on_full: OnFull
    kind: ActivityKind
    sunlit: bool = False  # needs sunlight: kind "sunlit", or a box with and_sunlit
    box: LatLonBox | None = None
    intervals: tuple[tuple[datetime, datetime], ...] = ()
    duty_cycle: DutyCycle | None = None

    @property
    def id(self) -> str:
        return f"{self.node}/{self.name}"

    @property
    def rank(self) -> int:
        """0 for critical ... 3 for low."""
        return PRIORITY_RANK[self.priority]


@dataclass(frozen=True)
class NodeRecorder:
    """A node's resolved recorder."""

    capacity_bytes: float
    initial_fill_bytes: float
    initial_priority: Priority
    sources: tuple[DataSource, ...]


def source_ranks(nodes: Iterable[OrbitalNode]) -> dict[str, int]:
    """Rank (0 = critical .. 3 = low) of every recorder source id of ``nodes``, the initial
    fills (``"<node>/initial"``) included: the ids source downlinks carry as ``sync_id``."""
    out: dict[str, int] = {}
    for node in nodes:
        if node.recorder is not None:
            out[f"{node.name}/{INITIAL_SOURCE}"] = PRIORITY_RANK[node.recorder.initial_priority]
            out.update({src.id: src.rank for src in node.recorder.sources})
    return out


def resolve_recorder(
    section: RecorderSection, node: str, path: FieldPath, start: datetime
) -> NodeRecorder:
    """``section`` of node ``node`` with absolute interval times; FieldError (at ``path`` +
    field) for a fill above capacity, a repeated or reserved source name, an inverted box or an
    empty interval."""
    if section.initial_fill_bytes > section.capacity_bytes:
        raise FieldError(
            (*path, "initial_fill_bytes"),
            f"initial_fill_bytes {section.initial_fill_bytes:g} is above capacity_bytes "
            f"{section.capacity_bytes:g}; expected 0 <= initial_fill_bytes <= capacity_bytes",
        )
    seen: set[str] = set()
    sources = []
    for j, src in enumerate(section.sources):
        where = (*path, "sources", j)
        if src.name == INITIAL_SOURCE or src.name in seen:
            raise FieldError(
                (*where, "name"),
                f"source name {src.name!r} is "
                + ("reserved for the initial fill" if src.name == INITIAL_SOURCE else "repeated")
                + "; expected a unique name per node",
            )
        seen.add(src.name)
        sources.append(_source(src, node, where, start))
    return NodeRecorder(
        section.capacity_bytes,
        section.initial_fill_bytes,
        section.initial_priority,
        tuple(sources),
    )


def _source(src: SourceSection, node: str, path: FieldPath, start: datetime) -> DataSource:
    act, where = src.active, (*path, "active")
    common = (node, src.name, src.rate_bps, src.priority, src.data_type, src.on_full)
    if act.box is not None:
        box = act.box
        if box.lat_max_deg <= box.lat_min_deg:
            raise FieldError(
                (*where, "box", "lat_max_deg"),
                f"lat_max_deg {box.lat_max_deg:g} is not above lat_min_deg {box.lat_min_deg:g}; "
                "expected -90 <= lat_min_deg < lat_max_deg <= 90",
            )
        if not 0 < box.lon_max_deg - box.lon_min_deg <= 360:
            raise FieldError(
                (*where, "box", "lon_max_deg"),
                f"lon_max_deg {box.lon_max_deg:g} is not east of lon_min_deg "
                f"{box.lon_min_deg:g}; expected lon_min_deg < lon_max_deg <= lon_min_deg + 360",
            )
        return DataSource(*common, "box", sunlit=box.and_sunlit, box=box)
    if act.intervals is not None:
        spans = []
        for k, iv in enumerate(act.intervals):
            a = _time(iv.start, (*where, "intervals", k, "start"), start)
            b = _time(iv.end, (*where, "intervals", k, "end"), start)
            if b <= a:
                raise FieldError(
                    (*where, "intervals", k, "end"),
                    f"end {iso(b)} is not after the start {iso(a)}; expected a non-empty interval",
                )
            spans.append((a, b))
        return DataSource(*common, "intervals", intervals=tuple(spans))
    if act.duty_cycle is not None:
        if act.duty_cycle.on_s > act.duty_cycle.period_s:
            raise FieldError(
                (*where, "duty_cycle", "on_s"),
                f"on_s {act.duty_cycle.on_s:g} is longer than period_s "
                f"{act.duty_cycle.period_s:g}; expected 0 < on_s <= period_s",
            )
        return DataSource(*common, "duty_cycle", duty_cycle=act.duty_cycle)
    return DataSource(*common, "sunlit", sunlit=True)


def _time(value: datetime | str, path: FieldPath, start: datetime) -> datetime:
    try:
        return parse_time(value, base=start)
    except ValueError as exc:
        raise FieldError(path, str(exc)) from None


# --------------------------------------------------------------------------- power
def transmit_power_w(node: OrbitalNode, band: str | None = None) -> float:
    """Power drawn while ``node`` transmits in ``band``, W: the `tx_power_w` of its first
    transmitter in that band when it gives one, else the node's ``power.tx_power_w``."""
    tx = next((t for t in node.transmitters if band is None or t.band == band), None)
    if tx is not None and tx.tx_power_w is not None:
        return float(tx.tx_power_w)
    return float(node.power.tx_power_w)


def peak_transmit_power_w(node: OrbitalNode) -> float:
    """The highest :func:`transmit_power_w` of the node's radios, W (what plans charge while
    it transmits: never under-counted)."""
    bands = [t.band for t in node.transmitters] or [None]
    return max(transmit_power_w(node, b) for b in bands)


def min_contact_wh(node: OrbitalNode, step_s: float, setup_s: float = 0.0) -> float:
    """Battery energy of one minimum contact in eclipse, Wh: :func:`peak_transmit_power_w`
    drawn for ``tx_warmup_s``, the station's ``setup_s`` (the transmitter is on while the
    station locks on) and one grid slot (``step_s``, the shortest transfer the planner
    decides)."""
    return peak_transmit_power_w(node) * (node.power.tx_warmup_s + setup_s + step_s) / 3600.0


@section_check
def check_recorders(scenario: Scenario) -> None:
    """Source ids must differ from sync ids (downlinks name either in ``sync_id``); a node
    whose battery cannot supply one minimum contact (:func:`min_contact_wh`, at the station
    with the shortest setup) above its ``min_soc`` gets a warning naming it."""
    source_ids = {
        f"{node.name}/{name}"
        for node in scenario.nodes
        if node.recorder
        for name in (INITIAL_SOURCE, *(src.name for src in node.recorder.sources))
    }
    for k, sync in enumerate(scenario.syncs):
        if sync.id in source_ids:
            raise FieldError(
                ("syncs", k, "id"),
                f"sync id {sync.id!r} is also a recorder source id (<node>/<source>); expected "
                "ids apart from the sources'",
            )
    for node in scenario.nodes:
        sources = node.recorder.sources if node.recorder and node.orbit is None else ()
        box = next((j for j, src in enumerate(sources) if src.kind == "box"), None)
        if box is not None:  # an orbitless node is a single `nodes:` entry with its name
            i = next(
                i
                for i, e in enumerate(scenario.model.nodes)
                if getattr(e, "name", None) == node.name
            )
            raise FieldError(
                ("nodes", i, "recorder", "sources", box, "active", "box"),
                f"node {node.name!r} has no orbit, so no sub-satellite point; expected "
                "`tle`, `elements` or `oem` for a box source",
            )
    setup_s = min((float(s.setup_s) for s in scenario.stations), default=0.0)
    for node in scenario.nodes:
        need_wh = min_contact_wh(node, scenario.step_s, setup_s)
        usable_wh = node.battery.capacity_wh * (1.0 - node.battery.min_soc)
        if need_wh > usable_wh:
            scenario.warnings.append(
                f"node {node.name!r}: one minimum contact (tx_warmup_s "
                f"{node.power.tx_warmup_s:g} s + setup_s {setup_s:g} s + one "
                f"{scenario.step_s:g} s slot at the highest "
                f"tx_power_w) needs {need_wh:.3g} Wh, more than the {usable_wh:.3g} Wh its "
                "battery holds above min_soc: it cannot downlink in eclipse "
                "(check power.tx_power_w / transmitters[].tx_power_w, W)"
            )
