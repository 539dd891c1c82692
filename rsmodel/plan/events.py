"""The one event schema of rsmodel (docs/plan-format.md, "Events").

Every event stream rsmodel writes — simulation events (``rsmodel simulate``), compute-job events
(seed 002: ``plan.json`` ``job_events``, ``response.json`` ``events``), telescope handover
events (``rsmodel telescopes simulate``) and track phases (``plan.json`` ``track_events``) — is a list of dicts built by :func:`make_event`::

    {"time": "2026-05-30T01:00:00Z", "type": "sync.started", <subject fields>, "details": {...}}

``time`` is ISO 8601 UTC with ``Z`` (:func:`rsmodel.timeutil.iso`), ``type`` the event name
(``<subject>.<what happened>``, seed 002's key), the subject fields name what the event is about
(:data:`SUBJECT_FIELDS`, the stream's own subset) and ``details`` holds everything else.
``events.jsonl`` files hold one event per line (:func:`write_events`). Files written before
this schema named the event ``kind``; :func:`upgrade_event` reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from rsmodel.io import write_text
from rsmodel.timeutil import iso, parse_time

# What an event can be about, in the order the keys are written.
SUBJECT_FIELDS = (
    "node",  # orbital node
    "station",  # ground station
    "sync_id",  # sync request
    "job",  # compute job
    "step_id",  # step of ``job``
    "telescope",  # telescope of the network
    "task_id",  # telescope task
    "class",  # telescope task class: too / ssa / deep_sky
    "target",  # telescope target
    "antenna_track",  # scheduled antenna-time track (docs/tracks.md)
)

# A track's phases: (event type, the plan.json instant it happens at).
TRACK_PHASES = (
    ("antenna_track.setup_started", "setup_start"),
    ("antenna_track.started", "start"),
    ("antenna_track.ended", "end"),
    ("antenna_track.teardown_ended", "teardown_end"),
)


def make_event(
    time: datetime, name: str, details: Mapping[str, Any] | None = None, **subject: Any
) -> dict[str, Any]:
    """Event ``name`` (its ``type``) at ``time`` (aware UTC) about ``subject`` (SUBJECT_FIELDS)."""
    unknown = sorted(set(subject) - set(SUBJECT_FIELDS))
    if unknown:
        raise ValueError(f"not event subject fields: {', '.join(unknown)}")
    ordered = {k: subject[k] for k in SUBJECT_FIELDS if k in subject}
    return {"time": iso(time), "type": name, **ordered, "details": dict(details or {})}


def track_events(tracks: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events of plan.json ``tracks`` (:data:`TRACK_PHASES`, about the node, the first
    station and the track), in time order."""
    events = []
    for t in tracks:
        details = {k: t[k] for k in ("request", "mission", "priority", "stations", "antennas")}
        for name, key in TRACK_PHASES:
            when = parse_time(t[key])
            events.append(
                make_event(
                    when,
                    name,
                    details,
                    node=t["node"],
                    station=t["stations"][0],
                    antenna_track=t["id"],
                )
            )
    return sorted(events, key=lambda e: e["time"])


def event_type(event: Mapping[str, Any]) -> str:
    """The event's name (``type``; ``kind`` in files written before the one schema)."""
    return str(event.get("type") or event.get("kind") or "")


def upgrade_event(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` in the current schema: an old file's ``kind`` key becomes ``type``, in place of it."""
    if "type" in event or "kind" not in event:
        return event
    return {("type" if k == "kind" else k): v for k, v in event.items()}


def write_events(path: str | Path, events: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``events`` as events.jsonl (one JSON object per line), atomically."""
    return write_text(path, "".join(json.dumps(e, default=str) + "\n" for e in events))
