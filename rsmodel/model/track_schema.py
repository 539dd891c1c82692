"""Schema of antenna-time requests, the ``tracks:`` section (docs/tracks.md).

A track asks for antenna time on a node: ``duration_s`` of tracking (at least
``min_duration_s``) on one of its ``alternatives`` (a station name = one antenna of it, or
``{array: [st1, st2]}`` = one antenna of each, all at once), inside ``[release, due]`` and inside
the node's view periods, with ``setup_s`` before and ``teardown_s`` after occupying the
antenna(s)::

    tracks:
      - id: ttc-eo01
        node: eo-01
        mission: earth-obs-a            # default: the node name
        priority: high
        duration_s: 600
        min_duration_s: 300             # default: duration_s
        alternatives: [svalsat, {array: [dss-34, dss-35]}]
        setup_s: 300
        teardown_s: 120
        release: "+0h"                  # default: horizon start
        due: "+168h"                    # default: horizon end
        repeat: {every: orbit, count: 1}
        split: {above_s: 7200, min_segment_s: 1800}

:func:`resolve_tracks` expands repetitions into request instances with absolute windows; the
registered section check :func:`check_tracks` runs it on every loaded model, so bad input is
one ``file:line: tracks.i.field: ...`` message.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from rsmodel.model.sync_schema import not_bool
from rsmodel.model.vocabulary import PRIORITY_RANK, FieldError, Priority, Strict, section_check
from rsmodel.timeutil import iso, parse_time

if TYPE_CHECKING:
    from rsmodel.model.scenario import Scenario

PERIOD_S: dict[str, float] = {"day": 86_400.0, "week": 604_800.0}  # "orbit": the node's period


class ArrayAlternative(Strict):
    """Several stations used simultaneously (one antenna of each)."""

    array: list[str] = Field(min_length=2, description="Station names, all used at once.")


class Repeat(Strict):
    """``count`` request instances per period (orbit of the node, day or week)."""

    every: Literal["orbit", "day", "week"]
    count: int = Field(1, ge=1)


class Split(Strict):
    """A request longer than ``above_s`` may be tracked in segments of >= ``min_segment_s``."""

    above_s: float = Field(gt=0, allow_inf_nan=False)
    min_segment_s: float = Field(gt=0, allow_inf_nan=False)


class Track(Strict):
    """A request for antenna time on a node (docs/tracks.md)."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:\-]+$")
    node: str
    mission: str | None = Field(None, description="For fairness; default: the node name.")
    priority: Priority = "normal"
    duration_s: float = Field(gt=0, allow_inf_nan=False, description="Requested tracking, s.")
    min_duration_s: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Shortest acceptable, s (default duration_s)."
    )
    alternatives: list[str | ArrayAlternative] = Field(min_length=1)
    setup_s: float = Field(0.0, ge=0, allow_inf_nan=False, description="Antenna setup before, s.")
    teardown_s: float = Field(0.0, ge=0, allow_inf_nan=False, description="Teardown after, s.")
    release: datetime | str | None = Field(None, description="Earliest start (default horizon).")
    due: datetime | str | None = Field(None, description="Latest end (default horizon end).")
    repeat: Repeat | None = None
    split: Split | None = None

    @field_validator("duration_s", "min_duration_s", "setup_s", "teardown_s", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return not_bool(value)


@dataclass(frozen=True)
class TrackRequest:
    """One request instance (a repetition of a ``tracks:`` entry), times absolute UTC.

    ``alternatives``: station-name tuples (one name = one antenna; several = an array).
    ``min_segment_s`` is None when the request may not be split."""

    id: str
    request: str
    node: str
    mission: str
    priority: str
    duration_s: float
    min_duration_s: float
    alternatives: tuple[tuple[str, ...], ...]
    setup_s: float
    teardown_s: float
    release: datetime
    due: datetime
    min_segment_s: float | None = None

    @property
    def rank(self) -> int:
        """0 for critical ... 3 for low."""
        return PRIORITY_RANK[self.priority]


def resolve_tracks(scenario: Scenario) -> list[TrackRequest]:
    """The request instances of ``scenario.model.tracks``; FieldError for bad input."""
    stations = {s.name for s in scenario.stations}
    nodes = {n.name: n for n in scenario.nodes}
    ids: set[str] = set()
    out: list[TrackRequest] = []
    for i, t in enumerate(scenario.model.tracks):
        path = ("tracks", i)
        if t.id in ids:
            raise FieldError((*path, "id"), f"duplicate track id {t.id!r}; ids must be unique")
        ids.add(t.id)
        if t.node not in nodes:
            raise FieldError((*path, "node"), _unknown("node", t.node, set(nodes)))
        minimum = t.duration_s if t.min_duration_s is None else t.min_duration_s
        if minimum > t.duration_s:
            raise FieldError(
                (*path, "min_duration_s"),
                f"{minimum:g} s is longer than duration_s {t.duration_s:g} s; "
                "expected a minimum <= the requested duration",
            )
        alternatives = tuple(_alternative(a, (*path, "alternatives", j), stations)
                             for j, a in enumerate(t.alternatives))  # fmt: skip
        segment = None
        if t.split is not None:
            segment = t.split.min_segment_s
            if segment > t.duration_s:
                raise FieldError(
                    (*path, "split", "min_segment_s"),
                    f"{segment:g} s is longer than the request ({t.duration_s:g} s); "
                    "expected a segment minimum <= duration_s",
                )
            if t.duration_s <= t.split.above_s:
                segment = None  # short enough: never split
        release = _time(t.release, (*path, "release"), scenario, scenario.start)
        due = _time(t.due, (*path, "due"), scenario, scenario.end)
        if due - release < timedelta(seconds=minimum):
            raise FieldError(
                (*path, "due"),
                f"the window {iso(release)} .. {iso(due)} is shorter than min_duration_s "
                f"{minimum:g} s; expected a due time at least that long after the release",
            )
        windows = [(release, due, t.id)]
        if t.repeat is not None:
            windows = _periods(t, release, due, minimum, nodes[t.node], path)
        for a, b, instance in windows:
            out.append(
                TrackRequest(
                    id=instance,
                    request=t.id,
                    node=t.node,
                    mission=t.mission or t.node,
                    priority=t.priority,
                    duration_s=float(t.duration_s),
                    min_duration_s=float(minimum),
                    alternatives=alternatives,
                    setup_s=float(t.setup_s),
                    teardown_s=float(t.teardown_s),
                    release=a,
                    due=b,
                    min_segment_s=segment,
                )
            )
    return out


@section_check
def check_tracks(scenario: Scenario) -> None:
    """Cross-section checks of ``tracks:`` (nodes, stations, durations, windows, repetition)."""
    resolve_tracks(scenario)


def _alternative(
    alt: str | ArrayAlternative, path: tuple[Any, ...], stations: set[str]
) -> tuple[str, ...]:
    names = [alt] if isinstance(alt, str) else alt.array
    for k, name in enumerate(names):
        if name not in stations:
            where = path if isinstance(alt, str) else (*path, "array", k)
            raise FieldError(where, _unknown("station", name, stations))
    if len(set(names)) != len(names):
        raise FieldError(
            (*path, "array"), "an array names a station twice; expected distinct stations"
        )
    return tuple(names)


def _periods(
    t: Track, release: datetime, due: datetime, minimum: float, node: Any, path: tuple[Any, ...]
) -> list[tuple[datetime, datetime, str]]:
    """(release, due, id) of each instance: ``count`` per period from the release to the due
    time; a last partial period shorter than ``min_duration_s`` is dropped."""
    assert t.repeat is not None
    if t.repeat.every == "orbit":
        period = getattr(node.orbit, "period_s", None)
        if period is None:
            raise FieldError(
                (*path, "repeat", "every"),
                f"node {t.node!r} has no orbit (imported view periods only); "
                "expected `day` or `week`",
            )
    else:
        period = PERIOD_S[t.repeat.every]
    out = []
    a = release
    while due - a >= timedelta(seconds=minimum):
        b = min(a + timedelta(seconds=float(period)), due)
        for _ in range(t.repeat.count):
            out.append((a, b, f"{t.id}/{len(out) + 1}"))
        a = b
    return out


def _time(value: Any, path: tuple[Any, ...], scenario: Scenario, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        t = parse_time(value, base=scenario.start)
    except ValueError as exc:
        raise FieldError(path, str(exc)) from None
    return min(max(t, scenario.start), scenario.end)


def _unknown(what: str, name: str, known: set[str]) -> str:
    hint = difflib.get_close_matches(name, sorted(known), n=1)
    return (
        f"unknown {what} {name!r}"
        + (f"; did you mean {hint[0]!r}?" if hint else "")
        + f"; expected one of the model's {what}s ({len(known)} defined)"
    )
