"""Discrete-event simulation of a plan over a simulated clock (seconds from the horizon start).

The simulator replays planned operations: a transfer moves bytes at its planned rate, cut to
the (possibly degraded) link rate, from its start to its planned end. Faults interrupt
transfers; the bytes already on the ground stay there and the request resumes from that byte
offset (transfers are resumable). After a fault, an arrival or ``reschedule`` the rest of the
horizon is planned again with the past fixed (see :mod:`rsmodel.simulate.recovery`).

Deterministic: every random draw comes from one seeded ``numpy.random.Generator`` in event
order.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from rsmodel.model.scenario import Scenario, SyncRequest
from rsmodel.model.vocabulary import PRIORITIES, PRIORITY_RANK
from rsmodel.simulate.faults import Degradation, FaultPlan, Outage
from rsmodel.simulate.residual import (
    MIN_OP_S,
    Link,
    PendingData,
    PlannedTransfer,
    Residual,
    dispatch,
    subtract,
)
from rsmodel.simulate.state import (
    ACTIVE,
    BYTE_TOLERANCE,
    COMPLETED,
    FAILED,
    FINAL,
    HELD,
    QUEUED,
    WAITING,
    Segment,
    SyncState,
    Transfer,
)
from rsmodel.timeutil import iso, parse_time

Planner = Callable[[Residual], list[PlannedTransfer]]
SyncCallback = Callable[[SyncState], Any]
FailCallback = Callable[[SyncState, str], Any]

# Order of events that fall on the same instant: ends before faults before starts.
_END, _FAIL, _FAULT_END, _DEADLINE, _FAULT_START, _DROPOUT, _ARRIVAL, _START, _HORIZON = range(9)
ROUNDING_S = 0.002
_ROW_COLUMNS = ("id", "node", "station", "start_s", "end_s", "rate_Bps", "setup_s")


class Simulator:
    """Play a plan forward through faults and arrivals; re-plan when something breaks.

    ``windows`` is the geometry's windows table; ``operations`` the plan to replay (``None``:
    plan from scratch with ``planner``). ``requeue`` lists the priorities whose failed
    requests are re-queued automatically; the others wait for :meth:`reschedule`.
    """

    def __init__(
        self,
        scenario: Scenario,
        windows: pd.DataFrame,
        operations: Iterable[PlannedTransfer] | None = None,
        *,
        faults: FaultPlan | None = None,
        seed: int = 0,
        planner: Planner = dispatch,
        requeue: Iterable[str] = PRIORITIES,
        retry_delay_s: float | None = None,
        job_events: Iterable[dict[str, Any]] = (),
        job_nodes: dict[str, str] | None = None,
    ) -> None:
        self.scenario = scenario
        self.horizon_s = scenario.duration_s
        self.faults = faults or FaultPlan()
        self.rng = np.random.default_rng(seed)
        self.planner = planner
        self.requeue = frozenset(requeue)
        self.retry_delay_s = scenario.step_s if retry_delay_s is None else retry_delay_s
        self.clock_s = 0.0
        self.syncs: dict[str, SyncState] = {}
        self.ledger: list[Segment] = []
        self.events: list[dict[str, Any]] = []
        self.replans: list[dict[str, Any]] = []
        self.on_complete: list[SyncCallback] = []
        self.on_failed: list[FailCallback] = []
        self.windows_table = _window_table(windows, scenario)
        self.antennas = {s.name: s.antennas for s in scenario.stations}
        self._heap: list[tuple[float, int, int, Callable[[Any], None], Any]] = []
        self._seq = itertools.count()
        self._planned: dict[int, PlannedTransfer] = {}
        self._planned_of: dict[str, set[int]] = {}  # sync id -> keys in _planned
        self._active: dict[int, Transfer] = {}
        self._known_station_outages: list[Outage] = []
        self._known_node_faults: list[Outage] = []
        self._known_degradations: list[Degradation] = []
        self._dropped: set[str] = set()
        self._replan_cause: str | None = None
        self._handling = False
        self._displaced: set[str] = set()
        self._window_rows = sorted(
            zip(*(self.windows_table[c].tolist() for c in _ROW_COLUMNS), strict=True),
            key=lambda r: r[4],
        )
        self._window_ends = [r[4] for r in self._window_rows]
        self._bounds = dict(
            zip(
                self.windows_table.index,
                zip(self.windows_table.start_s, self.windows_table.end_s, strict=True),
                strict=True,
            )
        )
        self._rates = dict(zip(self.windows_table.index, self.windows_table.rate_Bps, strict=True))
        self._job_nodes = dict(job_nodes or {})
        self._running_steps: dict[tuple[str, str], tuple[str, str]] = {}  # -> (node, step type)
        self._deferred_steps: set[tuple[str, str]] = set()
        for req in scenario.syncs:
            self._add_sync(req, known=True)
        self._schedule_faults()
        for ev in job_events:
            self._push(self.seconds(parse_time(ev["time"])), _START, self._on_job_event, ev)
        self._push(self.horizon_s, _HORIZON, self._on_horizon_end, None)
        self._emit("sim.started", seed=seed, syncs=len(self.syncs), windows=len(self.windows_table))
        if operations is None:
            self._replan("initial plan")
        else:
            self._adopt(list(operations))
        self._announce_plan()

    # ------------------------------------------------------------------ clock
    def run_until(self, t_s: float) -> None:
        """Process every event up to ``t_s`` (seconds from the horizon start) and stop there."""
        t_s = min(t_s, self.horizon_s)
        while self._heap and self._heap[0][0] <= t_s:
            t, _, _, handler, payload = heapq.heappop(self._heap)
            self.clock_s = t
            handler(payload)
            if self._replan_cause is not None:
                cause, self._replan_cause = self._replan_cause, None
                self._replan(cause)
        self.clock_s = max(self.clock_s, t_s)
        self._rerate()

    def run(self) -> None:
        """Run to the end of the horizon."""
        self.run_until(self.horizon_s)

    def time_of(self, t_s: float) -> datetime:
        return self.scenario.start + timedelta(seconds=t_s)

    def seconds(self, t: datetime) -> float:
        return (t - self.scenario.start).total_seconds()

    # ------------------------------------------------------------------ queries
    def moving_bytes(self, sync_id: str) -> float:
        """Bytes of running transfers of ``sync_id`` moved but not yet booked (up to now)."""
        return sum(
            tr.rate_Bps * (self.clock_s - tr.last_s) + tr.moved_bytes
            for tr in self._active.values()
            if tr.op.sync_id == sync_id
        )

    def rate_Bps(self, sync_id: str) -> float:
        return sum(tr.rate_Bps for tr in self._active.values() if tr.op.sync_id == sync_id)

    def active_transfers(self) -> list[Transfer]:
        """Transfers running now."""
        return list(self._active.values())

    def planned_operations(self) -> list[PlannedTransfer]:
        """Operations still to start, in time order."""
        return sorted(self._planned.values(), key=lambda o: (o.start_s, o.node))

    # ------------------------------------------------------------------ user actions
    def add_arrival(self, request: SyncRequest, at_s: float | None = None) -> SyncState:
        """A new request becoming known at ``at_s`` (default: now)."""
        at_s = self.clock_s if at_s is None else at_s
        state = self._add_sync(request, known=False)
        self._push(at_s, _ARRIVAL, self._on_arrival, request.id)
        return state

    def reschedule(self, sync_id: str) -> bool:
        """Re-queue a request and plan again; False when it is already final."""
        state = self.syncs[sync_id]
        if state.status in FINAL:
            return False
        if state.status == HELD:
            state.status = QUEUED
        self._emit("sync.rescheduled", sync=state, requested=True)
        self._replan_cause = f"reschedule {sync_id}"
        if not self._handling:
            cause, self._replan_cause = self._replan_cause, None
            self._replan(cause)
        return True

    # ------------------------------------------------------------------ setup
    def _add_sync(self, req: SyncRequest, *, known: bool) -> SyncState:
        deadline_s = self.seconds(req.deadline) if req.deadline is not None else math.inf
        state = SyncState(
            req, self.seconds(req.release), deadline_s, status=QUEUED if known else WAITING
        )
        self.syncs[req.id] = state
        if deadline_s < self.horizon_s:
            self._push(deadline_s, _DEADLINE, self._on_deadline, req.id)
        return state

    def _schedule_faults(self) -> None:
        f = self.faults
        for o in f.station_outages:
            self._push(o.start_s, _FAULT_START, self._on_station_outage, o)
            self._push(o.end_s, _FAULT_END, self._on_restored, ("fault.station_restored", o))
        for o in f.node_faults:
            self._push(o.start_s, _FAULT_START, self._on_node_fault, o)
            self._push(o.end_s, _FAULT_END, self._on_restored, ("fault.node_restored", o))
        for d in f.degradations:
            self._push(d.start_s, _FAULT_START, self._on_degradation, d)
            self._push(d.end_s, _FAULT_END, self._on_restored, ("fault.bandwidth_restored", d))
        drawn = self.rng.random(len(self.windows_table)) < f.dropout_probability
        for w, lost in zip(self.windows_table.itertuples(), drawn, strict=True):
            if lost or w.id in f.dropped_windows:
                self._push(w.start_s, _DROPOUT, self._on_dropout, w.id)
        for a in f.arrivals:
            self.add_arrival(a.request, a.time_s)

    # ------------------------------------------------------------------ events
    def _push(self, t_s: float, order: int, handler: Callable[[Any], None], payload: Any) -> None:
        heapq.heappush(self._heap, (t_s, order, next(self._seq), handler, payload))

    def _emit(
        self,
        kind: str,
        *,
        sync: SyncState | None = None,
        node: str | None = None,
        station: str | None = None,
        **details: Any,
    ) -> None:
        self.events.append(
            {
                "time": iso(self.time_of(self.clock_s)),
                "kind": kind,
                "node": sync.node if sync is not None else node,
                "station": station,
                "sync_id": sync.id if sync is not None else None,
                "details": details,
            }
        )

    def _adopt(self, ops: list[PlannedTransfer]) -> None:
        """Take ``ops`` as the plan, each cut to its window (plans carry microsecond times)."""
        for planned in ops:
            if planned.sync_id not in self.syncs:
                continue  # a compute job's output downlink (job:<job>/<step>): replayed as planned
            w_start, w_end = self._bounds[planned.window_id]
            start_s, end_s = max(planned.start_s, w_start), min(planned.end_s, w_end)
            if end_s - start_s < MIN_OP_S:
                continue
            cut_s = planned.duration_s - (end_s - start_s)
            # plan times are rounded to the millisecond: a cut that small is rounding, not lost time
            share = 1.0 if cut_s <= ROUNDING_S else (end_s - start_s) / planned.duration_s
            op = replace(
                planned, start_s=start_s, end_s=end_s, bytes=planned.bytes * min(1.0, share)
            )
            key = next(self._seq)
            self._planned[key] = op
            self._planned_of.setdefault(op.sync_id, set()).add(key)
            self._push(op.start_s, _START, self._on_op_start, key)

    def _announce_plan(self) -> None:
        """``sync.scheduled`` per request of the initial plan: first start, operations, bytes."""
        by_sync: dict[str, list[PlannedTransfer]] = {}
        for op in self.planned_operations():
            by_sync.setdefault(op.sync_id, []).append(op)
        for sid, ops in by_sync.items():
            self._emit(
                "sync.scheduled",
                sync=self.syncs[sid],
                station=ops[0].station,
                window_id=ops[0].window_id,
                start=iso(self.time_of(ops[0].start_s)),
                operations=len(ops),
                bytes=sum(op.bytes for op in ops),
            )

    def _on_op_start(self, key: int) -> None:
        op = self._planned.pop(key, None)
        if op is None:
            return
        self._planned_of[op.sync_id].discard(key)
        state = self.syncs[op.sync_id]
        if state.status in FINAL or state.status == HELD or op.end_s <= self.clock_s:
            return
        tr = Transfer(key, op, last_s=self.clock_s)
        self._rerate()
        self._active[key] = tr
        self._rerate()
        state.status = ACTIVE
        state.attempts += 1
        self._emit(
            "sync.started",
            sync=state,
            station=op.station,
            window_id=op.window_id,
            offset_bytes=state.delivered_bytes,
            planned_bytes=op.bytes,
            rate_mbps=tr.rate_Bps * 8 / 1e6,
        )
        self._push(op.end_s, _END, self._on_op_end, key)
        if (
            self.faults.transfer_failure_rate > 0
            and self.rng.random() < self.faults.transfer_failure_rate
        ):
            # whole milliseconds, so a broken transfer still has a measurable length
            fail_at = min(
                op.end_s, math.ceil((op.start_s + self.rng.random() * op.duration_s) * 1e3) / 1e3
            )
            self._push(max(fail_at, self.clock_s), _FAIL, self._on_transfer_failure, key)

    def _on_op_end(self, key: int) -> None:
        tr = self._active.get(key)
        if tr is None:
            return
        self._close(tr, "completed", None)
        state = self.syncs[tr.op.sync_id]
        if state.status == QUEUED and state.remaining_bytes > self._still_planned(state.id) + 1.0:
            self._displaced.add(state.id)
            self._replan_cause = f"shortfall {state.id}"

    def _still_planned(self, sync_id: str) -> float:
        """Bytes of ``sync_id`` in running and future operations."""
        running = sum(
            tr.moved_bytes + tr.rate_Bps * (tr.op.end_s - self.clock_s)
            for tr in self._active.values()
            if tr.op.sync_id == sync_id
        )
        return running + sum(self._planned[k].bytes for k in self._planned_of.get(sync_id, ()))

    def _on_transfer_failure(self, key: int) -> None:
        tr = self._active.get(key)
        if tr is None:
            return
        self._emit("fault.transfer_failure", sync=self.syncs[tr.op.sync_id], station=tr.op.station)
        self._interrupt(tr, "transfer failed")
        self._replan_cause = "transfer failure"

    def _on_station_outage(self, o: Outage) -> None:
        self._known_station_outages.append(o)
        self._emit("fault.station_outage", station=o.name, until=iso(self.time_of(o.end_s)))
        hit = [tr for tr in self._active.values() if tr.op.station == o.name]
        self._fail_and_replan(
            hit,
            f"station {o.name} outage",
            lambda op: op.station == o.name and op.start_s < o.end_s,
        )

    def _on_node_fault(self, o: Outage) -> None:
        self._known_node_faults.append(o)
        self._emit("fault.node_fault", node=o.name, until=iso(self.time_of(o.end_s)))
        for key, (node, step_type) in list(self._running_steps.items()):
            if node == o.name:
                self._defer_step(key, node, step_type, f"node {o.name} fault")
        hit = [tr for tr in self._active.values() if tr.op.node == o.name]
        self._fail_and_replan(
            hit, f"node {o.name} fault", lambda op: op.node == o.name and op.start_s < o.end_s
        )

    def _on_job_event(self, ev: dict[str, Any]) -> None:
        """Replay a planned compute event (seed 002 names); a step whose node is down is deferred."""
        key = (ev["job"], ev["step_id"])
        node = self._job_nodes.get(ev["job"], "")
        kind = ev.get("type") or ev.get("kind", "")
        if kind.endswith("started"):
            self._deferred_steps.discard(key)
            if self._node_down(node):
                self._defer_step(key, node, kind.split(".")[0], f"node {node} fault")
                return
            self._running_steps[key] = (node, kind.split(".")[0])
        elif key in self._deferred_steps:
            return  # the rest of a deferred step (segment) does not happen
        if kind.endswith("completed"):
            self._running_steps.pop(key, None)
        self._emit(
            kind, node=node or None, job=ev["job"], step_id=ev["step_id"], **ev.get("details", {})
        )

    def _defer_step(self, key: tuple[str, str], node: str, step_type: str, reason: str) -> None:
        """``<type>.deferred`` (seed 002): the step (or pass segment) does not run or complete."""
        self._running_steps.pop(key, None)
        self._deferred_steps.add(key)
        self._emit(f"{step_type}.deferred", node=node, job=key[0], step_id=key[1], reason=reason)

    def _node_down(self, node: str) -> bool:
        t = self.clock_s
        return any(o.name == node and o.start_s <= t < o.end_s for o in self._known_node_faults)

    def _on_dropout(self, window_id: str) -> None:
        self._dropped.add(window_id)
        w = self.windows_table.loc[window_id]
        self._emit("fault.pass_dropout", node=w.node, station=w.station, window_id=window_id)
        hit = [tr for tr in self._active.values() if tr.op.window_id == window_id]
        self._fail_and_replan(hit, f"pass {window_id} lost", lambda op: op.window_id == window_id)

    def _on_degradation(self, d: Degradation) -> None:
        self._rerate()
        self._known_degradations.append(d)
        self._rerate()
        self._emit(
            "fault.degraded_bandwidth",
            station=d.station,
            factor=d.factor,
            until=iso(self.time_of(d.end_s)),
        )
        touched = any(
            (d.station is None or op.station == d.station) and op.start_s < d.end_s
            for op in [*self._planned.values(), *(tr.op for tr in self._active.values())]
        )
        if touched:
            self._replan_cause = "degraded bandwidth"

    def _on_restored(self, payload: tuple[str, Any]) -> None:
        kind, fault = payload
        self._rerate()
        if isinstance(fault, Degradation):
            self._known_degradations.remove(fault)
            self._emit(kind, station=fault.station)
        else:
            self._emit(
                kind,
                **(
                    {"station": fault.name}
                    if kind == "fault.station_restored"
                    else {"node": fault.name}
                ),
            )
        self._rerate()

    def _on_arrival(self, sync_id: str) -> None:
        state = self.syncs[sync_id]
        state.status = QUEUED
        self._emit(
            "sync.arrived",
            sync=state,
            priority=state.priority,
            data_size_bytes=state.data_size,
            deadline=iso(self.time_of(state.deadline_s)) if state.deadline_s < math.inf else None,
        )
        rank = PRIORITY_RANK[state.priority]
        if rank <= 1:
            for tr in self._preemptible(state, rank):
                self._interrupt(tr, f"preempted by {state.priority} {sync_id}", failed=False)
        if rank == 3:
            self._replan(f"arrival {sync_id}", only=[sync_id])
        else:
            self._replan_cause = f"arrival {sync_id}"

    def _on_deadline(self, sync_id: str) -> None:
        state = self.syncs[sync_id]
        if state.status in FINAL:
            return
        for tr in [tr for tr in self._active.values() if tr.op.sync_id == sync_id]:
            self._close(tr, "interrupted", "deadline")
        self._drop_sync_plan(sync_id)
        if not state.done:
            self._finalise(
                state,
                f"deadline passed with {state.delivered_bytes:.0f} of {state.data_size:.0f} bytes delivered",
            )

    def _on_horizon_end(self, _: Any) -> None:
        for tr in list(self._active.values()):
            self._close(tr, "interrupted", "horizon end")
        for state in self.syncs.values():
            if state.status not in FINAL:
                self._finalise(state, self._unfinished_reason(state))
        self._planned.clear()
        self._planned_of.clear()
        self._emit("sim.finished", **self._totals())

    # ------------------------------------------------------------------ transfers
    def _rerate(self) -> None:
        """Advance every running transfer to now, then set its rate for what holds now.

        A transfer runs at its planned rate (bytes / duration) unless the node's link (after
        degradation) cannot carry all of its transfers: then higher priorities take their
        planned rate first and the rest share what is left (seed 000 preemption).
        """
        t = self.clock_s
        by_node: dict[str, list[Transfer]] = {}
        for tr in self._active.values():
            tr.advance(t)
            by_node.setdefault(tr.op.node, []).append(tr)
        for transfers in by_node.values():
            transfers.sort(
                key=lambda tr: (PRIORITY_RANK[self.syncs[tr.op.sync_id].priority], tr.key)
            )
            used = 0.0
            for tr in transfers:
                link = self._rates[tr.op.window_id] * self._factor(tr.op.station, t)
                tr.rate_Bps = max(0.0, min(tr.op.bytes / max(tr.op.duration_s, 1e-9), link - used))
                used += tr.rate_Bps

    def _factor(self, station: str, t: float) -> float:
        f = 1.0
        for d in self._known_degradations:
            if (d.station is None or d.station == station) and d.start_s <= t < d.end_s:
                f *= d.factor
        return f

    def _close(self, tr: Transfer, outcome: str, error: str | None) -> None:
        """Book the bytes of a transfer that ends now (at its end or interrupted)."""
        self._rerate()
        del self._active[tr.key]
        state = self.syncs[tr.op.sync_id]
        moved = min(tr.moved_bytes, state.remaining_bytes)
        if outcome == "completed" and abs(tr.op.bytes - moved) <= BYTE_TOLERANCE:
            moved = min(tr.op.bytes, state.remaining_bytes)  # float integration noise, not data
        self.ledger.append(
            Segment(
                tr.op.sync_id,
                tr.op.node,
                tr.op.station,
                tr.op.window_id,
                tr.op.start_s,
                self.clock_s,
                moved,
                outcome,
                error,
            )
        )
        state.delivered_bytes += moved
        self._rerate()
        self._emit(
            "sync.progress",
            sync=state,
            station=tr.op.station,
            window_id=tr.op.window_id,
            bytes=moved,
            delivered_bytes=state.delivered_bytes,
            progress=state.delivered_bytes / state.data_size,
            outcome=outcome,
        )
        if state.done and state.status not in FINAL:
            state.status = COMPLETED
            state.completed_s = self.clock_s
            self._drop_sync_plan(state.id)
            self._emit(
                "sync.completed",
                sync=state,
                delivered_bytes=state.delivered_bytes,
                attempts=state.attempts,
            )
            self._callback(self.on_complete, state)
        elif state.status == ACTIVE and not any(
            t.op.sync_id == state.id for t in self._active.values()
        ):
            state.status = QUEUED

    def _interrupt(self, tr: Transfer, error: str, *, failed: bool = True) -> None:
        """Stop a running transfer now; its bytes stay delivered; the request is re-queued."""
        self._close(tr, "interrupted", error)
        state = self.syncs[tr.op.sync_id]
        if state.status in FINAL:
            return
        self._displaced.add(state.id)
        if not failed:
            self._emit("sync.preempted", sync=state, station=tr.op.station, reason=error)
            return
        state.failures += 1
        state.last_failure_s = self.clock_s
        state.last_error = error
        state.retry_after_s = (
            self.clock_s + self.retry_delay_s if error == "transfer failed" else self.clock_s
        )
        state.status = QUEUED if state.priority in self.requeue else HELD
        self._emit(
            "sync.failed",
            sync=state,
            station=tr.op.station,
            error=error,
            final=False,
            delivered_bytes=state.delivered_bytes,
            requeued=state.status == QUEUED,
        )
        self._callback(self.on_failed, state, error)

    def _fail_and_replan(
        self, hit: list[Transfer], error: str, affects: Callable[[PlannedTransfer], bool]
    ) -> None:
        for tr in hit:
            self._interrupt(tr, error)
        touched = self._drop_planned(affects)
        for sid in touched:
            self.syncs[sid].last_error = error
        self._displaced |= touched
        if hit or touched:
            self._replan_cause = error

    def _drop_planned(self, which: Callable[[PlannedTransfer], bool]) -> set[str]:
        gone = [k for k, op in self._planned.items() if which(op)]
        for k in gone:
            self._planned_of[self._planned[k].sync_id].discard(k)
        return {self._planned.pop(k).sync_id for k in gone}

    def _drop_sync_plan(self, sync_id: str) -> None:
        """Forget the operations still planned for ``sync_id``."""
        for k in self._planned_of.pop(sync_id, set()):
            del self._planned[k]

    def _preemptible(self, arriving: SyncState, rank: int) -> list[Transfer]:
        """Running transfers of lower priority on the arriving request's node, or at a station
        that node sees now (their antenna is what the arrival needs)."""
        t = self.clock_s
        w = self.windows_table
        in_view = set(w[(w.node == arriving.node) & (w.start_s <= t) & (w.end_s > t)].station)
        return [
            tr
            for tr in self._active.values()
            if PRIORITY_RANK[self.syncs[tr.op.sync_id].priority] > rank
            and (tr.op.node == arriving.node or tr.op.station in in_view)
        ]

    def _finalise(self, state: SyncState, reason: str) -> None:
        state.status = FAILED
        state.last_failure_s = self.clock_s
        state.reason = reason
        self._emit(
            "sync.failed",
            sync=state,
            error=reason,
            final=True,
            delivered_bytes=state.delivered_bytes,
        )
        self._callback(self.on_failed, state, reason)

    def _unfinished_reason(self, state: SyncState) -> str:
        got = f"{state.delivered_bytes:.0f} of {state.data_size:.0f} bytes delivered"
        if state.status == HELD:
            return f"held after failure ({state.last_error}) and not rescheduled; {got}"
        why = f"; last interruption: {state.last_error}" if state.last_error else ""
        return f"no usable contact time left before the horizon end; {got}{why}"

    def _callback(self, callbacks: list[Any], *args: Any) -> None:
        was, self._handling = self._handling, True
        try:
            for cb in callbacks:
                cb(*args)
        finally:
            self._handling = was

    # ------------------------------------------------------------------ re-planning
    def _replan(self, cause: str, *, only: list[str] | None = None) -> None:
        """Plan the rest of the horizon again; running transfers continue (the past is fixed).

        ``only``: plan just these requests into the capacity the current plan leaves idle.
        """
        t = self.clock_s
        self._rerate()
        wall = time.perf_counter()
        if only is None:
            self._planned.clear()
            self._planned_of.clear()
        residual = self.residual(only=only)
        residual.cause = cause
        ops = self.planner(residual)
        wall_s = time.perf_counter() - wall
        self.replans.append(
            {
                "time_s": t,
                "cause": cause,
                "wall_s": wall_s,
                "operations": len(ops),
                "demands": len(residual.demands),
                "method": getattr(self.planner, "method", "greedy"),
            }
        )
        self._emit(
            "replan.completed",
            cause=cause,
            operations=len(ops),
            demands=len(residual.demands),
            method=getattr(self.planner, "method", "greedy"),
        )
        self._announce_displaced(ops)
        self._adopt(ops)

    def _announce_displaced(self, ops: list[PlannedTransfer]) -> None:
        """Tell where the requests moved by the last fault or preemption went."""
        first: dict[str, float] = {}
        for op in ops:
            first[op.sync_id] = min(first.get(op.sync_id, math.inf), op.start_s)
        for sid in sorted(self._displaced):
            state = self.syncs[sid]
            if state.status in FINAL:
                continue
            if sid in first:
                self._emit(
                    "sync.rescheduled",
                    sync=state,
                    after=state.last_error,
                    next_start=iso(self.time_of(first[sid])),
                )
            else:
                self._emit(
                    "sync.unscheduled",
                    sync=state,
                    after=state.last_error,
                    reason="no usable contact time before its deadline or the horizon end",
                )
        self._displaced.clear()

    def residual(self, *, only: list[str] | None = None) -> Residual:
        """The problem left at the current time (see :class:`~rsmodel.simulate.residual.Residual`)."""
        t = self.clock_s
        node_busy: dict[str, list[tuple[float, float]]] = {}
        station_busy: dict[str, list[tuple[float, float]]] = {}
        kept = [tr.op for tr in self._active.values()]
        if only is not None:
            kept += list(self._planned.values())
        for op in kept:
            node_busy.setdefault(op.node, []).append((max(op.start_s, t), op.end_s))
            station_busy.setdefault(op.station, []).append((max(op.start_s, t), op.end_s))
        return Residual(
            t, self._demands(only), self._links(t), dict(self.antennas), node_busy, station_busy
        )

    def _demands(self, only: list[str] | None) -> list[PendingData]:
        t = self.clock_s
        running: dict[str, float] = {}  # moved but not yet booked, plus still to come
        for tr in self._active.values():
            expected = tr.moved_bytes + tr.rate_Bps * (tr.op.end_s - t)
            running[tr.op.sync_id] = running.get(tr.op.sync_id, 0.0) + expected
        out = []
        for state in self.syncs.values():
            if state.status not in (QUEUED, ACTIVE) or (only is not None and state.id not in only):
                continue
            need = state.remaining_bytes - running.get(state.id, 0.0)
            if need > 1.0 and state.deadline_s > t:
                out.append(
                    PendingData(
                        state.id,
                        state.node,
                        PRIORITY_RANK[state.priority],
                        need,
                        max(state.release_s, t, state.retry_after_s),
                        state.deadline_s,
                    )
                )
        return out

    def _links(self, t: float) -> list[Link]:
        """Usable pieces of every window from ``t`` on, after the faults known at ``t``."""
        cuts_station: dict[str, list[tuple[float, float]]] = {}
        for o in self._known_station_outages:
            cuts_station.setdefault(o.name, []).append((o.start_s, o.end_s))
        cuts_node: dict[str, list[tuple[float, float]]] = {}
        for o in self._known_node_faults:
            cuts_node.setdefault(o.name, []).append((o.start_s, o.end_s))
        edges = sorted({x for d in self._known_degradations for x in (d.start_s, d.end_s)})
        links: list[Link] = []
        first = bisect.bisect_right(self._window_ends, t)
        for wid, node, station, w0, w1, rate, setup in self._window_rows[first:]:
            if wid in self._dropped:
                continue
            pieces = [(max(w0 + setup, t), w1)]
            cuts = cuts_station.get(station, []) + cuts_node.get(node, [])
            if cuts:
                ends = {c1 for _, c1 in cuts}
                pieces = [
                    (a + setup if a in ends and a > t else a, b) for a, b in subtract(pieces, cuts)
                ]
            for a, b in pieces:
                if b <= a:
                    continue
                if not edges:
                    links.append(Link(wid, node, station, a, b, rate))
                    continue
                marks = [a, *(e for e in edges if a < e < b), b]
                links += [
                    Link(wid, node, station, c0, c1, rate * self._factor(station, c0))
                    for c0, c1 in zip(marks[:-1], marks[1:], strict=True)
                ]
        return links

    def _totals(self) -> dict[str, Any]:
        states = list(self.syncs.values())
        return {
            "completed": sum(s.status == COMPLETED for s in states),
            "failed": sum(s.status == FAILED for s in states),
            "delivered_bytes": sum(s.delivered_bytes for s in states),
            "replans": len(self.replans),
        }


def _window_table(windows: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Windows indexed by id with start/end in seconds, rate in bytes/s and setup time."""
    start = pd.Timestamp(scenario.start)
    setup = {s.name: s.setup_s for s in scenario.stations}
    return pd.DataFrame(
        {
            "id": windows["id"].to_numpy(),
            "node": windows["node"].to_numpy(),
            "station": windows["station"].to_numpy(),
            "start_s": (windows["start"] - start).dt.total_seconds().to_numpy(),
            "end_s": (windows["end"] - start).dt.total_seconds().to_numpy(),
            "rate_Bps": windows["bandwidth_bps"].to_numpy(dtype=float) / 8.0,
            "setup_s": windows["station"].map(setup).fillna(0.0).to_numpy(),
        },
        index=pd.Index(windows["id"].to_numpy(), name="window_id"),
    )
