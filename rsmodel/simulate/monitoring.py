"""Seed 000 monitoring on ``SyncScheduler``: status, per-sync progress, callbacks, reschedule,
and a simulated clock (``run_until`` / ``step``) that executes the applied plan.

:class:`MonitoringMixin` is a base of :class:`rsmodel.api.SyncScheduler`. It relies on the
scheduler's ``queue`` (list of ``ScheduledSync``), ``applied`` (the applied ``SyncPlan`` or
None), ``horizon_hours``, ``optimize()`` and ``apply()``. The first monitoring call starts a
simulation of the applied plan (optimising and applying the queue first if nothing was
applied) at the horizon start; faults can be given with :meth:`start_simulation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rsmodel.errors import ModelError
from rsmodel.model.scenario import SyncRequest
from rsmodel.model.yamlsrc import Source
from rsmodel.simulate.engine import Simulator
from rsmodel.simulate.faults import model_faults, parse_faults, resolve_faults
from rsmodel.simulate.recovery import RecoveryPlanner
from rsmodel.simulate.run import operations_in_seconds
from rsmodel.simulate.state import ACTIVE, COMPLETED, FAILED, QUEUED, SyncState
from rsmodel.timeutil import parse_time

DAY_S = 86400.0
_STATUS_NAMES = {QUEUED: "queued", ACTIVE: "active", COMPLETED: "completed", FAILED: "failed"}


@dataclass(frozen=True)
class SchedulerStatus:
    """Counts at the simulated time ``time``."""

    time: datetime
    active_count: int
    queued_count: int
    completed_24h: int
    failed_24h: int


@dataclass(frozen=True)
class SyncStatus:
    """One sync at the simulated time: ``progress`` 0-1, ``rate_mbps`` its current rate."""

    id: str
    status: str
    progress: float
    bytes_transferred: float
    data_size: float
    rate_mbps: float
    reason: str | None


class MonitoringMixin:
    """Monitoring API of seed 000 over a deterministic simulation of the applied plan."""

    queue: list[Any]
    applied: Any
    horizon_hours: float

    # ------------------------------------------------------------------ simulation
    def start_simulation(
        self, faults: Mapping[str, Any] | None = None, *, seed: int = 0, budget_s: float = 1.0
    ) -> Simulator:
        """(Re)start the simulation of the applied plan at the horizon start.

        ``faults``: a dict shaped like a model's ``faults:`` section (see docs/simulation.md).
        """
        from rsmodel.api import API_FILE

        if self.applied is None:
            self.apply(self.optimize(self.horizon_hours))  # type: ignore[attr-defined]
        result = self.applied.result
        scenario = result.scenario
        given = (
            model_faults(scenario)
            if faults is None
            else parse_faults(Source(dict(faults), {}, API_FILE), scenario)
        )
        sim = Simulator(
            scenario,
            result.geometry.windows,
            operations_in_seconds(result.schedule.operations, scenario),
            faults=resolve_faults(given, scenario, result.geometry.windows),
            seed=seed,
            planner=RecoveryPlanner(scenario, budget_s),
        )
        sim.on_complete = self._callbacks("complete")
        sim.on_failed = self._callbacks("failed")
        self.__dict__["_simulator"] = sim
        return sim

    @property
    def simulator(self) -> Simulator:
        """The running simulation (started on first use)."""
        sim = self.__dict__.get("_simulator")
        if sim is None:
            sim = self.start_simulation()
        self._admit_new_syncs(sim)
        return sim

    @property
    def now(self) -> datetime:
        """The simulated time."""
        sim = self.simulator
        return sim.time_of(sim.clock_s)

    def run_until(self, t: datetime | str) -> SchedulerStatus:
        """Advance the simulated clock to ``t`` (UTC, or ``+2h`` from the horizon start)."""
        sim = self.simulator
        sim.run_until(sim.seconds(parse_time(t, base=sim.scenario.start)))
        self._publish(sim)
        return self.get_status()

    def step(self, dt: timedelta | float) -> SchedulerStatus:
        """Advance the simulated clock by ``dt`` (a timedelta or seconds)."""
        seconds = dt.total_seconds() if isinstance(dt, timedelta) else float(dt)
        sim = self.simulator
        sim.run_until(sim.clock_s + seconds)
        self._publish(sim)
        return self.get_status()

    # ------------------------------------------------------------------ status
    def get_status(self) -> SchedulerStatus:
        """Active and queued syncs now; completed and failed in the last 24 simulated hours."""
        sim = self.simulator
        t = sim.clock_s
        states = list(sim.syncs.values())
        return SchedulerStatus(
            time=sim.time_of(t),
            active_count=sum(s.status == ACTIVE for s in states),
            queued_count=sum(s.status == QUEUED for s in states),
            completed_24h=sum(
                s.completed_s is not None and t - DAY_S < s.completed_s <= t for s in states
            ),
            failed_24h=sum(
                s.last_failure_s is not None and t - DAY_S < s.last_failure_s <= t for s in states
            ),
        )

    def get_sync_status(self, sync_id: str) -> SyncStatus:
        """Progress (0-1), bytes on the ground and current rate of one sync."""
        sim = self.simulator
        state = self._state(sim, sync_id)
        moved = min(state.data_size, state.delivered_bytes + sim.moving_bytes(sync_id))
        return SyncStatus(
            id=state.id,
            status=_STATUS_NAMES.get(state.status, state.status),
            progress=moved / state.data_size,
            bytes_transferred=moved,
            data_size=state.data_size,
            rate_mbps=sim.rate_Bps(sync_id) * 8 / 1e6,
            reason=state.reason,
        )

    def reschedule(self, sync_id: str) -> bool:
        """Re-queue a failed (or held) sync and re-plan the rest of the horizon now."""
        sim = self.simulator
        self._state(sim, sync_id)
        return sim.reschedule(sync_id)

    # ------------------------------------------------------------------ callbacks
    def on_sync_complete(self, callback: Callable[[SyncState], Any]) -> Callable[[SyncState], Any]:
        """Decorator: ``callback(sync)`` when a sync has all its bytes on the ground."""
        self._callbacks("complete").append(callback)
        return callback

    def on_sync_failed(
        self, callback: Callable[[SyncState, str], Any]
    ) -> Callable[[SyncState, str], Any]:
        """Decorator: ``callback(sync, error)`` when a transfer of a sync fails, or it finally does."""
        self._callbacks("failed").append(callback)
        return callback

    # ------------------------------------------------------------------ internals
    def _callbacks(self, kind: str) -> list[Any]:
        return self.__dict__.setdefault(f"_on_sync_{kind}", [])

    def _state(self, sim: Simulator, sync_id: str) -> SyncState:
        if sync_id not in sim.syncs:
            from rsmodel.api import API_FILE

            raise ModelError(
                f"unknown sync id {sync_id!r}; expected one of {', '.join(sorted(sim.syncs))}",
                file=API_FILE,
                field="sync_id",
            )
        return sim.syncs[sync_id]

    def _admit_new_syncs(self, sim: Simulator) -> None:
        """Syncs queued after the simulation started arrive now (dynamic arrivals)."""
        for item in self.queue:
            if item.id not in sim.syncs:
                release = max(item.release or sim.scenario.start, sim.time_of(sim.clock_s))
                request = SyncRequest(
                    item.id,
                    item.node,
                    float(item.data_size),
                    item.priority,
                    release,
                    item.deadline,
                    item.data_type,
                )
                sim.add_arrival(request, sim.clock_s)
                sim.run_until(sim.clock_s)  # it arrives (and may preempt) at once

    def _publish(self, sim: Simulator) -> None:
        """Copy status and delivered bytes onto the scheduler's queue items."""
        for item in self.queue:
            state = sim.syncs.get(item.id)
            if state is not None:
                item.status = _STATUS_NAMES.get(state.status, state.status)
                item.delivered_bytes = state.delivered_bytes
                item.reason = state.reason or item.reason


__all__ = ["MonitoringMixin", "SchedulerStatus", "SyncStatus"]
