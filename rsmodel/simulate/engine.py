"""Discrete-event simulation of a plan over a simulated clock (seconds from the horizon start).

The simulator replays planned operations: a transfer moves bytes at its planned rate, cut to
the (possibly degraded) link rate, from its start to its planned end. Faults interrupt
transfers; the bytes already on the ground stay there and the request resumes from that byte
offset (transfers are resumable). After a fault, an arrival or ``reschedule`` the rest of the
horizon is planned again with the past fixed (see :mod:`rsmodel.simulate.recovery`).

:class:`Simulator` composes the pieces: :class:`~rsmodel.simulate.clock.EventQueue` (clock and
ordered events), :class:`~rsmodel.simulate.known.KnownFaults` (what the planner knows now),
:class:`~rsmodel.simulate.transfers.TransferBook` (planned and running transfers, ledger) and
:class:`~rsmodel.simulate.jobs.JobSteps` (compute-job steps). It owns the requests' states, the
event handlers and re-planning.

Deterministic: every random draw comes from one seeded ``numpy.random.Generator`` in event
order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from rsmodel.model.scenario import Scenario, SyncRequest
from rsmodel.model.vocabulary import PRIORITIES, PRIORITY_RANK
from rsmodel.plan.events import make_event
from rsmodel.simulate import clock
from rsmodel.simulate.antennas import AntennaBook, Turns, reserved_holds
from rsmodel.simulate.clock import EventQueue
from rsmodel.simulate.faults import Degradation, FaultPlan, Outage
from rsmodel.simulate.jobs import JobSteps
from rsmodel.simulate.known import KnownFaults, Windows
from rsmodel.simulate.onboard import OnboardRun, overflow_details
from rsmodel.simulate.residual import MIN_OP_S, PendingData, PlannedTransfer, Residual, dispatch
from rsmodel.simulate.state import (
    ACTIVE,
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
from rsmodel.simulate.transfers import TransferBook
from rsmodel.timeutil import iso, parse_time

Planner = Callable[[Residual], list[PlannedTransfer]]
SyncCallback = Callable[[SyncState], Any]
FailCallback = Callable[[SyncState, str], Any]

ROUNDING_S = 0.002


class Simulator:
    """Play a plan forward through faults and arrivals; re-plan when something breaks.

    ``windows`` is the geometry's windows table; ``operations`` the plan to replay (``None``:
    plan from scratch with ``planner``). ``requeue`` lists the priorities whose failed
    requests are re-queued automatically; the others wait for :meth:`reschedule`. ``onboard``
    (a model with recorders or transmitter power) carries recorder contents and SOC through
    the run (:mod:`rsmodel.simulate.onboard`); its sources' downlinks are requests too.
    ``tracks``: the plan's tracks (plan.json ``tracks``, docs/tracks.md); they keep their
    antennas, so no transfer runs or is re-planned on an antenna during a track or its
    turnaround.
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
        onboard: OnboardRun | None = None,
        tracks: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.scenario = scenario
        self.horizon_s = scenario.duration_s
        self.faults = faults or FaultPlan()
        self.rng = np.random.default_rng(seed)
        self.planner = planner
        self.requeue = frozenset(requeue)
        self.retry_delay_s = scenario.step_s if retry_delay_s is None else retry_delay_s
        self.syncs: dict[str, SyncState] = {}
        self.events: list[dict[str, Any]] = []
        self.replans: list[dict[str, Any]] = []
        self.on_complete: list[SyncCallback] = []
        self.on_failed: list[FailCallback] = []
        self.antennas = {s.name: s.antennas for s in scenario.stations}
        # per-antenna maintenance and the plan's tracks as antenna holds, s
        self.turns = Turns(scenario, reserved_holds(scenario, tracks))
        self.antenna_use = AntennaBook(scenario, self.turns)
        self.simultaneous = frozenset(n.name for n in scenario.nodes if n.simultaneous_bands)
        self.queue = EventQueue(scenario.start)
        self.windows = Windows(windows, scenario)
        self.known = KnownFaults(self.windows)
        self.transfers = TransferBook(self.windows, self.known, self._rank)
        self.jobs = JobSteps(
            job_nodes or {}, self._emit, lambda node: self.known.node_down(node, self.clock_s)
        )
        self._replan_cause: str | None = None
        self._handling = False
        self._displaced: set[str] = set()
        self.onboard = onboard
        for req in scenario.syncs:
            self._add_sync(req, known=True)
        if onboard is not None:  # sources' downlinks run as transfers of one request each
            for req in onboard.requests(scenario.start):
                self.syncs[req.id] = SyncState(req, 0.0, math.inf)
            for t_s in onboard.slot_ends_s:
                self.queue.push(float(t_s), clock.RATE_STEP, self._on_slot_end, None)
        self._schedule_faults()
        for ev in job_events:
            self.queue.push(self.seconds(parse_time(ev["time"])), clock.START, self.jobs.replay, ev)
        self.queue.push(self.horizon_s, clock.HORIZON, self._on_horizon_end, None)
        syncs = sum(not self._is_source(sid) for sid in self.syncs)
        self._emit("sim.started", seed=seed, syncs=syncs, windows=len(self.windows))
        if operations is None:
            self._replan("initial plan")
        else:
            self._adopt(list(operations))
        self._announce_plan()

    # ------------------------------------------------------------------ clock
    @property
    def clock_s(self) -> float:
        """The simulated time, s from the horizon start."""
        return self.queue.now_s

    def run_until(self, t_s: float) -> None:
        """Process every event up to ``t_s`` (seconds from the horizon start) and stop there."""
        t_s = min(t_s, self.horizon_s)
        while (due := self.queue.pop_due(t_s)) is not None:
            handler, payload = due
            handler(payload)
            if self._replan_cause is not None:
                cause, self._replan_cause = self._replan_cause, None
                self._replan(cause)
        self.queue.advance_to(t_s)
        self.transfers.rerate(self.clock_s)

    def run(self) -> None:
        """Run to the end of the horizon."""
        self.run_until(self.horizon_s)

    def time_of(self, t_s: float) -> datetime:
        return self.queue.time_of(t_s)

    def seconds(self, t: datetime) -> float:
        return self.queue.seconds(t)

    # ------------------------------------------------------------------ queries
    @property
    def ledger(self) -> list[Segment]:
        """Executed (possibly interrupted) transfers, in the order they ended."""
        return self.transfers.ledger

    @property
    def windows_table(self) -> pd.DataFrame:
        """Windows by id: start_s, end_s, rate_Bps, setup_s (see :class:`Windows`)."""
        return self.windows.table

    def moving_bytes(self, sync_id: str) -> float:
        """Bytes of running transfers of ``sync_id`` moved but not yet booked (up to now)."""
        return self.transfers.moving_bytes(sync_id, self.clock_s)

    def rate_Bps(self, sync_id: str) -> float:
        return self.transfers.rate_Bps(sync_id)

    def active_transfers(self) -> list[Transfer]:
        """Transfers running now."""
        return list(self.transfers.active.values())

    def planned_operations(self) -> list[PlannedTransfer]:
        """Operations still to start, in time order."""
        return self.transfers.planned_in_order()

    # ------------------------------------------------------------------ user actions
    def add_arrival(self, request: SyncRequest, at_s: float | None = None) -> SyncState:
        """A new request becoming known at ``at_s`` (default: now)."""
        at_s = self.clock_s if at_s is None else at_s
        state = self._add_sync(request, known=False)
        self.queue.push(at_s, clock.ARRIVAL, self._on_arrival, request.id)
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
    def _rank(self, sync_id: str) -> int:
        return PRIORITY_RANK[self.syncs[sync_id].priority]

    def _add_sync(self, req: SyncRequest, *, known: bool) -> SyncState:
        deadline_s = self.seconds(req.deadline) if req.deadline is not None else math.inf
        state = SyncState(
            req, self.seconds(req.release), deadline_s, status=QUEUED if known else WAITING
        )
        self.syncs[req.id] = state
        if known and self.onboard is not None:
            self.onboard.enter(req.node, state.release_s, req.data_size_bytes)
        if deadline_s < self.horizon_s:
            self.queue.push(deadline_s, clock.DEADLINE, self._on_deadline, req.id)
        return state

    def _schedule_faults(self) -> None:
        f, push = self.faults, self.queue.push
        for o in f.station_outages:
            push(o.start_s, clock.FAULT_START, self._on_station_outage, o)
            push(o.end_s, clock.FAULT_END, self._on_restored, ("fault.station_restored", o))
        for o in f.node_faults:
            push(o.start_s, clock.FAULT_START, self._on_node_fault, o)
            push(o.end_s, clock.FAULT_END, self._on_restored, ("fault.node_restored", o))
        for d in f.degradations:
            push(d.start_s, clock.FAULT_START, self._on_degradation, d)
            push(d.end_s, clock.FAULT_END, self._on_restored, ("fault.bandwidth_restored", d))
        table = self.windows.table
        drawn = self.rng.random(len(table)) < f.dropout_probability
        for w, lost in zip(table.itertuples(), drawn, strict=True):
            if lost or w.id in f.dropped_windows:
                push(w.start_s, clock.DROPOUT, self._on_dropout, w.id)
        for a in f.arrivals:
            self.add_arrival(a.request, a.time_s)

    # ------------------------------------------------------------------ events
    def _emit(
        self,
        name: str,
        *,
        sync: SyncState | None = None,
        node: str | None = None,
        station: str | None = None,
        job: str | None = None,
        step_id: str | None = None,
        **details: Any,
    ) -> None:
        """An event now about ``sync`` (or ``node`` / ``station``; a compute ``job`` step); the
        rest goes to details."""
        subject = {
            "node": sync.node if sync is not None else node,
            "station": station,
            "sync_id": sync.id if sync is not None else None,
        }
        if job is not None:
            subject.update(job=job, step_id=step_id)
        self.events.append(make_event(self.time_of(self.clock_s), name, details, **subject))

    def _adopt(self, ops: list[PlannedTransfer]) -> None:
        """Take ``ops`` as the plan, each cut to its window (plans carry microsecond times)."""
        for planned in ops:
            if planned.sync_id not in self.syncs:
                continue  # a compute job's output downlink (job:<job>/<step>): replayed as planned
            w_start, w_end = self.windows.bounds[planned.window_id]
            start_s, end_s = max(planned.start_s, w_start), min(planned.end_s, w_end)
            if end_s - start_s < MIN_OP_S:
                continue
            cut_s = planned.duration_s - (end_s - start_s)
            # plan times are rounded to the millisecond: a cut that small is rounding, not lost time
            share = 1.0 if cut_s <= ROUNDING_S else (end_s - start_s) / planned.duration_s
            op = replace(
                planned, start_s=start_s, end_s=end_s, bytes=planned.bytes * min(1.0, share)
            )
            key = self.transfers.add_planned(op)
            self.queue.push(op.start_s, clock.START, self._on_op_start, key)

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
        op = self.transfers.take_planned(key)
        if op is None:
            return
        state = self.syncs[op.sync_id]
        if state.status in FINAL or state.status == HELD or op.end_s <= self.clock_s:
            return
        op = replace(op, antenna=self.antenna_use.take(key, op, self.clock_s))
        tr = self.transfers.start(key, op, self.clock_s)
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
        self.queue.push(op.end_s, clock.END, self._on_op_end, key)
        for t_s in self.windows.rate_steps_s(op.window_id, op.start_s, op.end_s):
            self.queue.push(t_s, clock.RATE_STEP, self._on_rate_step, key)
        if (
            self.faults.transfer_failure_rate > 0
            and self.rng.random() < self.faults.transfer_failure_rate
        ):
            # whole milliseconds, so a broken transfer still has a measurable length
            fail_at = min(
                op.end_s, math.ceil((op.start_s + self.rng.random() * op.duration_s) * 1e3) / 1e3
            )
            self.queue.push(max(fail_at, self.clock_s), clock.FAIL, self._on_transfer_failure, key)

    def _on_rate_step(self, key: int) -> None:
        """A running transfer's window changes rate (a grid slot edge of its rate profile)."""
        if key in self.transfers.active:
            self.transfers.rerate(self.clock_s)

    def _on_op_end(self, key: int) -> None:
        tr = self.transfers.active.get(key)
        if tr is None:
            return
        self._close(tr, "completed", None)
        state = self.syncs[tr.op.sync_id]
        if (
            not self._is_source(state.id)
            and state.status == QUEUED
            and state.remaining_bytes > self.transfers.still_planned(state.id, self.clock_s) + 1.0
        ):
            self._displaced.add(state.id)
            self._replan_cause = f"shortfall {state.id}"

    def _on_transfer_failure(self, key: int) -> None:
        tr = self.transfers.active.get(key)
        if tr is None:
            return
        self._emit("fault.transfer_failure", sync=self.syncs[tr.op.sync_id], station=tr.op.station)
        self._interrupt(tr, "transfer failed")
        self._replan_cause = "transfer failure"

    def _on_station_outage(self, o: Outage) -> None:
        self.known.station_outages.append(o)
        self._emit("fault.station_outage", station=o.name, until=iso(self.time_of(o.end_s)))
        hit = [tr for tr in self.transfers.active.values() if tr.op.station == o.name]
        self._fail_and_replan(
            hit,
            f"station {o.name} outage",
            lambda op: op.station == o.name and op.start_s < o.end_s,
        )

    def _on_node_fault(self, o: Outage) -> None:
        self.known.node_faults.append(o)
        self._emit("fault.node_fault", node=o.name, until=iso(self.time_of(o.end_s)))
        self.jobs.node_fault(o.name)
        hit = [tr for tr in self.transfers.active.values() if tr.op.node == o.name]
        self._fail_and_replan(
            hit, f"node {o.name} fault", lambda op: op.node == o.name and op.start_s < o.end_s
        )

    def _on_dropout(self, window_id: str) -> None:
        self.known.dropped.add(window_id)
        w = self.windows.table.loc[window_id]
        self._emit("fault.pass_dropout", node=w.node, station=w.station, window_id=window_id)
        hit = [tr for tr in self.transfers.active.values() if tr.op.window_id == window_id]
        self._fail_and_replan(hit, f"pass {window_id} lost", lambda op: op.window_id == window_id)

    def _on_degradation(self, d: Degradation) -> None:
        self.transfers.rerate(self.clock_s)
        self.known.degradations.append(d)
        self.transfers.rerate(self.clock_s)
        self._emit(
            "fault.degraded_bandwidth",
            station=d.station,
            factor=d.factor,
            until=iso(self.time_of(d.end_s)),
        )
        ops = [*self.transfers.planned.values(), *(tr.op for tr in self.transfers.active.values())]
        if any(
            (d.station is None or op.station == d.station) and op.start_s < d.end_s for op in ops
        ):
            self._replan_cause = "degraded bandwidth"

    def _on_restored(self, payload: tuple[str, Any]) -> None:
        kind, fault = payload
        self.transfers.rerate(self.clock_s)
        if isinstance(fault, Degradation):
            self.known.degradations.remove(fault)
            self._emit(kind, station=fault.station)
        elif kind == "fault.station_restored":
            self._emit(kind, station=fault.name)
        else:
            self._emit(kind, node=fault.name)
        self.transfers.rerate(self.clock_s)

    def _on_arrival(self, sync_id: str) -> None:
        state = self.syncs[sync_id]
        state.status = QUEUED
        if self.onboard is not None:
            self.onboard.enter(state.node, max(state.release_s, self.clock_s), state.data_size)
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
        for tr in self.transfers.running(sync_id):
            self._close(tr, "interrupted", "deadline")
        self.transfers.drop_sync(sync_id)
        if not state.done:
            self._finalise(
                state,
                f"deadline passed with {state.delivered_bytes:.0f} of {state.data_size:.0f} bytes delivered",
            )

    def _on_horizon_end(self, _: Any) -> None:
        for tr in list(self.transfers.active.values()):
            self._close(tr, "interrupted", "horizon end")
        if self.onboard is not None:
            self._overflows(self.onboard.finish())
        for state in self.syncs.values():
            if state.status not in FINAL and not self._is_source(state.id):
                self._finalise(state, self._unfinished_reason(state))
        self.transfers.clear_planned()
        self._emit("sim.finished", **self._totals())

    # ------------------------------------------------------------------ request outcomes
    def _close(self, tr: Transfer, outcome: str, error: str | None) -> None:
        """Book the bytes of a transfer that ends now (at its end or interrupted)."""
        state = self.syncs[tr.op.sync_id]
        limit = state.remaining_bytes
        if self.onboard is not None:
            limit = self.onboard.limit(tr, limit)
        seg = self.transfers.book(tr, self.clock_s, outcome, error, limit)
        self.antenna_use.release(tr.key, seg.station, seg.antenna, seg.node, self.clock_s)
        if self.onboard is not None:
            self.onboard.booked(tr, seg.bytes, self.clock_s, len(self.ledger) - 1)
        state.delivered_bytes += seg.bytes
        self._emit(
            "sync.progress",
            sync=state,
            station=tr.op.station,
            window_id=tr.op.window_id,
            bytes=seg.bytes,
            delivered_bytes=state.delivered_bytes,
            progress=state.delivered_bytes / state.data_size,
            outcome=outcome,
        )
        if state.done and state.status not in FINAL:
            state.status = COMPLETED
            state.completed_s = self.clock_s
            self.transfers.drop_sync(state.id)
            self._emit(
                "sync.completed",
                sync=state,
                delivered_bytes=state.delivered_bytes,
                attempts=state.attempts,
            )
            self._callback(self.on_complete, state)
        elif state.status == ACTIVE and not self.transfers.running(state.id):
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
        touched = self.transfers.drop_planned(affects)
        for sid in touched:
            self.syncs[sid].last_error = error
        self._displaced |= touched
        if hit or touched:
            self._replan_cause = error

    def _preemptible(self, arriving: SyncState, rank: int) -> list[Transfer]:
        """Running transfers of lower priority on the arriving request's node, or at a station
        that node sees now (their antenna is what the arrival needs)."""
        in_view = self.windows.stations_in_view(arriving.node, self.clock_s)
        return [
            tr
            for tr in self.transfers.active.values()
            if self._rank(tr.op.sync_id) > rank
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
        self.transfers.rerate(t)
        wall = time.perf_counter()
        if only is None:
            self.transfers.clear_planned()
        residual = self.residual(only=only)
        residual.cause = cause
        ops = self.planner(residual)
        if self.onboard is not None:
            ops = self._onboard_ops(ops, only is not None)
        wall_s = time.perf_counter() - wall
        method = getattr(self.planner, "method", "greedy")
        self.replans.append(
            {
                "time_s": t,
                "cause": cause,
                "wall_s": wall_s,
                "operations": len(ops),
                "demands": len(residual.demands),
                "method": method,
            }
        )
        self._emit(
            "replan.completed",
            cause=cause,
            operations=len(ops),
            demands=len(residual.demands),
            method=method,
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
        lookback_s = max(map(self.turns.longest_s, self.antennas), default=0.0)
        node_busy, station_busy = self.transfers.busy(
            t, with_planned=only is not None, lookback_s=lookback_s, simultaneous=self.simultaneous
        )
        for name, holds in self.turns.reserved.items():  # a track's turnaround may reach past t
            station_busy.setdefault(name, []).extend(h for h in holds if h[1] + lookback_s > t)
        links = self.known.links(t)
        return Residual(
            t,
            self._pending(only) + self._source_pending(links, only),
            links,
            dict(self.antennas),
            node_busy,
            station_busy,
            turns=self.turns,
            simultaneous=self.simultaneous,
            setup_s={s.name: float(s.setup_s) for s in self.scenario.stations},
        )

    def _pending(self, only: list[str] | None) -> list[PendingData]:
        """Bytes each queued or active request still needs beyond its running transfers."""
        t = self.clock_s
        running = self.transfers.expected_bytes(t)
        out = []
        for state in self.syncs.values():
            if state.status not in (QUEUED, ACTIVE) or (only is not None and state.id not in only):
                continue
            if self._is_source(state.id):
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

    def _totals(self) -> dict[str, Any]:
        states = [s for s in self.syncs.values() if not self._is_source(s.id)]
        onboard = self.onboard.totals() if self.onboard is not None else {}
        return {
            "completed": sum(s.status == COMPLETED for s in states),
            "failed": sum(s.status == FAILED for s in states),
            "delivered_bytes": sum(s.delivered_bytes for s in states),
            "replans": len(self.replans),
            **onboard,
        }

    # ------------------------------------------------------------------ recorders and SOC
    def _is_source(self, sync_id: str) -> bool:
        """Whether ``sync_id`` is a recorder source's downlink (not a sync request)."""
        return self.onboard is not None and self.onboard.is_source(sync_id)

    def _on_slot_end(self, _: Any) -> None:
        """A grid slot ends: the recorders are replayed over it (losses become events)."""
        assert self.onboard is not None
        self.transfers.rerate(self.clock_s)
        self._overflows(self.onboard.settle(self.transfers.active.values()))
        self.transfers.rerate(self.clock_s)

    def _overflows(self, runs: list[Any]) -> None:
        for o in runs:
            self._emit("recorder.overflow", node=o.node, **overflow_details(o, self.time_of))

    def _source_pending(self, links: list[Any], only: list[str] | None) -> list[PendingData]:
        """The sources' bytes still to send, released when they exist (``OnboardRun.pending``)."""
        if self.onboard is None:
            return []
        release = {
            sid: max(state.retry_after_s, self.clock_s)
            for sid, state in self.syncs.items()
            if self._is_source(sid)
            and state.status in (QUEUED, ACTIVE)
            and (only is None or sid in only)
        }
        return self.onboard.pending(self.clock_s, links, self.transfers.active.values(), release)

    def _onboard_ops(self, ops: list[PlannedTransfer], keep_planned: bool) -> list[PlannedTransfer]:
        """A re-plan's operations under their sources' ids, cut to keep every battery above
        its floor given what ran, runs and (``keep_planned``) stays planned; ``battery.floor``
        for each transfer shortened or refused."""
        assert self.onboard is not None
        ops = [replace(op, sync_id=self.onboard.owner(op.sync_id)) for op in ops]
        fixed: dict[str, list[tuple[float, float]]] = {}
        spans = [(seg.node, seg.station, seg.start_s, seg.end_s) for seg in self.ledger]
        spans += [
            (tr.op.node, tr.op.station, tr.op.start_s, tr.op.end_s)
            for tr in self.transfers.active.values()
        ]
        if keep_planned:
            spans += [
                (op.node, op.station, op.start_s, op.end_s)
                for op in self.transfers.planned.values()
            ]
        for node, station, a, b in spans:
            fixed.setdefault(node, []).append(self.onboard.tx_span(station, a, b))
        kept, refused = self.onboard.guard(ops, self.clock_s, fixed)
        for r in refused:
            self._emit(
                "battery.floor",
                sync=self.syncs[r.op.sync_id],
                station=r.op.station,
                window_id=r.op.window_id,
                planned_bytes=r.op.bytes,
                kept_bytes=r.kept_bytes,
                refused_bytes=r.op.bytes - r.kept_bytes,
                lowest_soc=r.lowest_soc,
                min_soc=self.onboard.energy[r.op.node].floor_soc,
            )
        return kept
