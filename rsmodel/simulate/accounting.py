"""Final accounting of a simulated run: every request complete or failed with a reason.

Delivered bytes are recomputed from the ledger of executed transfers (never from the
requests' own counters), and the ledger is checked against the physical limits.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rsmodel.model.scenario import station_entry
from rsmodel.simulate.state import COMPLETED, FAILED, Segment
from rsmodel.timeutil import iso

if TYPE_CHECKING:
    from rsmodel.simulate.engine import Simulator

# Slack for float round-off, bytes.
_BYTES_EPS = 1e-3
# plan.json sections of the recorders and batteries: a run's own replace the initial plan's.
ONBOARD_SECTIONS = ("recorders", "sources", "losses", "soc")


def accounting(sim: Simulator, base: dict[str, Any]) -> dict[str, Any]:
    """The accounting.json document of a finished run (``base``: the initial plan's dict).

    ``violations``: bookkeeping problems plus what the independent plan checker finds in the
    executed transfers; ``priority_notes``: the checker's priority findings (after faults a
    lower class may legitimately send while a higher one waits, e.g. during a retry delay).
    """
    from rsmodel.plan.check import check_plan

    checked = check_plan(executed_plan(sim, base), executed=True)
    priority = [p for p in checked if p.startswith("priority")]
    by_sync: dict[str, list[Segment]] = defaultdict(list)
    for seg in sim.ledger:
        by_sync[seg.sync_id].append(seg)
    requests = []
    for state in _sync_states(sim):
        segs = by_sync.get(state.id, [])
        requests.append(
            {
                "id": state.id,
                "node": state.node,
                "priority": state.priority,
                "data_size_bytes": state.data_size,
                "delivered_bytes": sum(s.bytes for s in segs),
                "status": "complete" if state.status == COMPLETED else "failed",
                "reason": state.reason,
                "completed_at": iso(sim.time_of(state.completed_s))
                if state.completed_s is not None
                else None,
                "attempts": state.attempts,
                "failed_attempts": state.failures,
                "segments": len(segs),
                "interrupted_segments": sum(s.outcome == "interrupted" for s in segs),
            }
        )
    onboard = sim.onboard.totals() if sim.onboard is not None else {}
    return {
        "requests": requests,
        "totals": {
            **onboard,
            "requests": len(requests),
            "complete": sum(r["status"] == "complete" for r in requests),
            "failed": sum(r["status"] == "failed" for r in requests),
            "requested_bytes": sum(r["data_size_bytes"] for r in requests),
            "delivered_bytes": sum(r["delivered_bytes"] for r in requests),
            "faults": sum(e["type"].startswith("fault.") for e in sim.events),
            "replans": len(sim.replans),
        },
        "replans": [{**r, "time": iso(sim.time_of(r["time_s"]))} for r in sim.replans],
        "violations": ledger_violations(sim) + [p for p in checked if p not in priority],
        "priority_notes": priority,
    }


def ledger_violations(sim: Simulator) -> list[str]:
    """Bookkeeping rules the run breaks (empty when all hold): the ledger adds up to each
    request's delivered bytes, never more than its size, and every request ends complete or
    failed with a reason (a recorder source's bytes not sent stay onboard: it never fails). Physical limits are checked on :func:`executed_plan` by the plan
    checker."""
    booked: dict[str, float] = defaultdict(float)
    for seg in sim.ledger:
        booked[seg.sync_id] += seg.bytes
    out = []
    for state in sim.syncs.values():
        got = booked[state.id]
        source = sim.onboard is not None and sim.onboard.is_source(state.id)
        if abs(got - state.delivered_bytes) > _BYTES_EPS:
            out.append(
                f"{state.id}: ledger {got:.0f} bytes != delivered {state.delivered_bytes:.0f}"
            )
        if got > state.data_size + _BYTES_EPS:
            out.append(f"{state.id}: {got:.0f} bytes delivered for {state.data_size:.0f} requested")
        if (
            not source
            and state.status != COMPLETED
            and not (state.status == FAILED and state.reason)
        ):
            out.append(f"{state.id}: ends {state.status} without a reason")
    return out


def base_plan(scenario: Any, windows: Any) -> dict[str, Any]:
    """The horizon, stations (antenna fields included) and windows sections of plan.json (what
    the checker reads about them), for :func:`executed_plan` when no plan.json is at hand."""
    return {
        "horizon": {"start": scenario.start.isoformat(), "end": scenario.end.isoformat()},
        "stations": [
            {**station_entry(s), "bandwidth_bps": s.bandwidth_bps} for s in scenario.stations
        ],
        "windows": [
            {
                "id": w.id,
                "node": w.node,
                "station": w.station,
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "bandwidth_bps": w.bandwidth_bps,
            }
            for w in windows.itertuples()
        ],
    }


def executed_plan(
    sim: Simulator, base: dict[str, Any], *, with_planned: bool = False
) -> dict[str, Any]:
    """A plan.json-like dict of what was executed (and, ``with_planned``, what is still planned).

    ``base`` is the initial plan's dict (horizon, stations, windows); the result can be checked
    with :func:`rsmodel.plan.check.check_plan`.
    """
    pieces = sim.onboard.pieces if sim.onboard is not None else {}
    ops = [
        (s.sync_id, s.node, s.station, s.window_id, a, b, moved, s.antenna)
        for i, s in enumerate(sim.ledger)
        for a, b, moved in pieces.get(i, [(s.start_s, s.end_s, s.bytes)])
    ]
    if with_planned:
        ops += [
            (
                *_op_fields(tr.op)[:5],
                tr.op.end_s,
                tr.moved_bytes + tr.rate_Bps * (tr.op.end_s - tr.last_s),
                tr.op.antenna,
            )
            for tr in sim.active_transfers()
        ]
        ops += [_op_fields(op) for op in sim.planned_operations()]
    ops = [o for o in ops if o[6] > _BYTES_EPS and o[5] > o[4]]
    moved: dict[str, float] = defaultdict(float)
    last: dict[str, float] = {}
    for o in ops:
        moved[o[0]] += o[6]
        last[o[0]] = max(last.get(o[0], o[5]), o[5])
    onboard = {}
    if sim.onboard is not None:
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for o in ops:
            spans[o[1]].append(sim.onboard.tx_span(o[2], o[4], o[5]))
        onboard = sim.onboard.sections(spans)
        onboard["soc"] = {**base.get("soc", {}), **onboard.get("soc", {})}
    return {
        **{k: v for k, v in base.items() if k not in ONBOARD_SECTIONS},
        **onboard,
        "operations": [
            {
                "sync_id": o[0],
                "node": o[1],
                "station": o[2],
                "window_id": o[3],
                "start": sim.time_of(o[4]).isoformat(),  # microseconds: short transfers stay
                "end": sim.time_of(o[5]).isoformat(),  # distinguishable for the checker
                "bytes": o[6],
                **({} if o[7] is None else {"antenna": o[7]}),
            }
            for o in sorted(ops, key=lambda o: (o[4], o[1]))
        ],
        "syncs": [
            _sync_entry(sim, state, moved[state.id], last.get(state.id))
            for state in _sync_states(sim)
        ],
        "kpis": {},
    }


def _sync_states(sim: Simulator) -> list[Any]:
    """The run's sync requests (not its recorder sources)."""
    if sim.onboard is None:
        return list(sim.syncs.values())
    return [s for s in sim.syncs.values() if not sim.onboard.is_source(s.id)]


def _op_fields(op: Any) -> tuple[Any, ...]:
    return (
        op.sync_id,
        op.node,
        op.station,
        op.window_id,
        op.start_s,
        op.end_s,
        op.bytes,
        op.antenna,
    )


def _sync_entry(sim: Simulator, state: Any, moved: float, last_s: float | None) -> dict[str, Any]:
    req = state.request
    got = min(moved, state.data_size)
    complete = got >= state.data_size - max(1.0, 1e-9 * state.data_size)
    return {
        "id": state.id,
        "node": state.node,
        "priority": state.priority,
        "data_size_bytes": state.data_size,
        "release": iso(req.release),
        "deadline": iso(req.deadline) if req.deadline is not None else None,
        "status": "complete" if complete else ("partial" if got > 1.0 else "unmet"),
        "delivered_bytes": got,
        "completed_at": sim.time_of(last_s).isoformat()
        if complete and last_s is not None
        else None,
        "reason": None if complete else (state.reason or "not (yet) delivered"),
    }
