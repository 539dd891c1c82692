"""Final accounting of a simulated run: every request complete or failed with a reason.

Delivered bytes are recomputed from the ledger of executed transfers (never from the
requests' own counters), and the ledger is checked against the physical limits.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rsmodel.simulate.state import COMPLETED, Segment
from rsmodel.timeutil import iso

if TYPE_CHECKING:
    from rsmodel.simulate.engine import Simulator

# Slack for float round-off: bytes and seconds.
_BYTES_EPS = 1e-3
_TIME_EPS = 1e-6


def accounting(sim: Simulator) -> dict[str, Any]:
    """The accounting.json document of a finished run."""
    by_sync: dict[str, list[Segment]] = defaultdict(list)
    for seg in sim.ledger:
        by_sync[seg.sync_id].append(seg)
    requests = []
    for state in sim.syncs.values():
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
    return {
        "requests": requests,
        "totals": {
            "requests": len(requests),
            "complete": sum(r["status"] == "complete" for r in requests),
            "failed": sum(r["status"] == "failed" for r in requests),
            "requested_bytes": sum(r["data_size_bytes"] for r in requests),
            "delivered_bytes": sum(r["delivered_bytes"] for r in requests),
            "faults": sum(e["kind"].startswith("fault.") for e in sim.events),
            "replans": len(sim.replans),
        },
        "replans": [{**r, "time": iso(sim.time_of(r["time_s"]))} for r in sim.replans],
        "violations": ledger_violations(sim),
    }


def ledger_violations(sim: Simulator) -> list[str]:
    """Physical and bookkeeping rules the executed transfers break (empty when all hold)."""
    out: list[str] = []
    win = sim.windows_table
    for seg in sim.ledger:
        w = win.loc[seg.window_id]
        if seg.start_s < w.start_s - _TIME_EPS or seg.end_s > w.end_s + _TIME_EPS:
            out.append(
                f"{seg.sync_id}: transfer {seg.start_s:.1f}-{seg.end_s:.1f} s outside window {seg.window_id}"
            )
        if seg.bytes > w.rate_Bps * (seg.end_s - seg.start_s) + _BYTES_EPS:
            out.append(
                f"{seg.sync_id}: {seg.bytes:.0f} bytes exceed the link rate in {seg.window_id}"
            )
    for state in sim.syncs.values():
        booked = sum(s.bytes for s in sim.ledger if s.sync_id == state.id)
        if abs(booked - state.delivered_bytes) > _BYTES_EPS:
            out.append(
                f"{state.id}: ledger {booked:.0f} bytes != delivered {state.delivered_bytes:.0f}"
            )
        if booked > state.data_size + _BYTES_EPS:
            out.append(
                f"{state.id}: {booked:.0f} bytes delivered for {state.data_size:.0f} requested"
            )
        if state.status not in ("completed", "failed") or (
            state.status == "failed" and not state.reason
        ):
            out.append(f"{state.id}: ends {state.status} without a reason")
    out += _node_rate_excess(sim.ledger, win)
    out += _antenna_excess(sim.ledger, sim.antennas)
    return out


def _sweep(segments: list[Segment]) -> list[tuple[float, int, Segment]]:
    """Start (+1) and end (-1) marks of non-empty segments, ends first at equal times."""
    marks = []
    for seg in segments:
        if seg.end_s - seg.start_s > _TIME_EPS:
            marks += [(seg.start_s, 1, seg), (seg.end_s, -1, seg)]
    return sorted(marks, key=lambda m: (m[0], m[1]))


def _node_rate_excess(ledger: list[Segment], win: Any) -> list[str]:
    """A node sends at most its link rate in total (transfers may share a slot)."""
    by_node: dict[str, list[Segment]] = defaultdict(list)
    for seg in ledger:
        by_node[seg.node].append(seg)
    out = []
    for node, segs in by_node.items():
        level = 0.0
        for t, step, seg in _sweep(segs):
            level += step * seg.bytes / (seg.end_s - seg.start_s)
            if level > win.loc[seg.window_id].rate_Bps * (1 + 1e-9) + _BYTES_EPS:
                out.append(
                    f"{node}: sends {level * 8 / 1e6:.1f} Mbps at {t:.1f} s, above its link rate"
                )
                break
    return out


def _antenna_excess(ledger: list[Segment], antennas: dict[str, int]) -> list[str]:
    """A station serves at most ``antennas`` distinct nodes at once."""
    by_station: dict[str, list[Segment]] = defaultdict(list)
    for seg in ledger:
        by_station[seg.station].append(seg)
    out = []
    for station, segs in by_station.items():
        nodes: dict[str, int] = defaultdict(int)
        for t, step, seg in _sweep(segs):
            nodes[seg.node] += step
            if sum(n > 0 for n in nodes.values()) > antennas.get(station, 1):
                out.append(
                    f"{station}: serves more than {antennas.get(station, 1)} node(s) at {t:.1f} s"
                )
                break
    return out
