"""The plan.json sections of antenna-time requests: ``tracks``, ``track_requests``, ``missions``
(docs/tracks.md, docs/plan-format.md).

Every request instance is accounted for: complete, partial (scheduled below the requested
duration, at least its minimum) or unscheduled, with a reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rsmodel.optimize.problem import CLASS_NAMES
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.timeline import track_antennas
from rsmodel.optimize.tracks import trimmed_ends
from rsmodel.timeutil import iso

HIGHER_CLASS = "antenna taken by higher class: every option's antenna is busy with higher-priority tracks or syncs"
EQUAL_CLASS = "antenna time taken by tracks or syncs of the same priority (objective trade-off)"
_EPS_S = 1e-6


def track_sections(state: LinkState) -> dict[str, list[dict[str, Any]]]:
    """``tracks`` (one entry per scheduled segment), ``track_requests`` and ``missions``;
    empty when the problem has no track requests."""
    p = state.problem
    ts = p.tracks
    if not ts.requests:
        return {}
    antennas = track_antennas(state)
    chosen = np.flatnonzero(state.track_on)
    chosen = chosen[np.lexsort((ts.opt_start_s[chosen], ts.opt_request[chosen]))]
    counts = np.bincount(ts.opt_request[chosen], minlength=len(ts.requests))
    end = trimmed_ends(ts, state.track_on)
    tracks, seen = [], np.zeros(len(ts.requests), dtype=int)
    for o in chosen:
        i = int(ts.opt_request[o])
        r = ts.requests[i]
        seg = int(seen[i])
        seen[i] += 1
        tracks.append(
            {
                "id": r.id if counts[i] == 1 else f"{r.id}#{seg + 1}",
                "request": r.request,
                "instance": r.id,
                "node": r.node,
                "mission": r.mission,
                "priority": r.priority,
                "stations": list(r.alternatives[int(ts.opt_alt[o])]),
                "antennas": list(antennas[int(o)]),
                "setup_start": iso(p.time_at(ts.opt_setup_s[o])),
                "start": iso(p.time_at(ts.opt_start_s[o])),
                "end": iso(p.time_at(end[o])),
                "teardown_end": iso(p.time_at(end[o] + r.teardown_s)),
                "segment": seg,
                "duration_s": float(end[o] - ts.opt_start_s[o]),
            }
        )
    got = state.tracked_s()
    requests = [_request_entry(state, i, float(got[i])) for i in range(len(ts.requests))]
    missions: dict[str, list[float]] = {}
    for entry in requests:
        tally = missions.setdefault(entry["mission"], [0.0, 0.0])
        tally[0] += entry["requested_s"]
        tally[1] += entry["scheduled_s"]
    return {
        "tracks": tracks,
        "track_requests": requests,
        "missions": [
            {
                "mission": name,
                "requested_s": req,
                "scheduled_s": got_s,
                "unsatisfied_fraction": max(0.0, 1.0 - got_s / req),
            }
            for name, (req, got_s) in sorted(missions.items())
        ],
    }


def _request_entry(state: LinkState, i: int, got: float) -> dict[str, Any]:
    ts = state.problem.tracks
    r = ts.requests[i]
    if got >= r.duration_s - _EPS_S:
        status, reason = "complete", "complete"
    else:
        cause = ts.no_option_reason[i] or (
            HIGHER_CLASS if state.track_offered[i] == 0 else EQUAL_CLASS
        )
        status = "partial" if got > _EPS_S else "unscheduled"
        reason = (
            cause
            if status == "unscheduled"
            else (
                f"scheduled {got:g} of {r.duration_s:g} s (>= min_duration_s {r.min_duration_s:g} s): "
                "no longer option fit the view periods and free antennas"
            )
        )
    return {
        "id": r.id,
        "request": r.request,
        "node": r.node,
        "mission": r.mission,
        "priority": CLASS_NAMES[r.rank],
        "release": iso(r.release),
        "due": iso(r.due),
        "requested_s": r.duration_s,
        "min_duration_s": r.min_duration_s,
        "min_segment_s": r.min_segment_s,
        "scheduled_s": got,
        "status": status,
        "reason": reason,
    }
