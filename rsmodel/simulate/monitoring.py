"""Seed 000 monitoring: status, per-sync progress, callbacks, reschedule, and a simulated clock
(``run_until`` / ``step``) that executes a scheduler's applied plan.

:class:`Monitor` is owned by :class:`rsmodel.api.SyncScheduler`, which delegates the seed's
monitoring methods to it. It is given the scheduler's queue (a list of seed 000 ``ScheduledSync``
items: ``id``, ``node``, ``data_size``, ``priority``, ``release``, ``deadline``, ``data_type``;
``status``, ``delivered_bytes`` and ``reason`` are written back) and a function returning the
applied plan's :class:`~rsmodel.pipeline.RunResult` (the scheduler optimises and applies the
queue first if nothing was applied). The first monitoring call starts a simulation of that plan
at the horizon start; faults can be given with :meth:`Monitor.start_simulation`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rsmodel.errors import ModelError
from rsmodel.model.scenario import SyncRequest
from rsmodel.model.yamlsrc import Source
from rsmodel.pipeline import RunResult
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


class Monitor:
    """Monitoring API of seed 000 over a deterministic simulation of the applied plan.

    ``queue``: the scheduler's queue (the same list, read at every call); ``applied_run()``: the
    applied plan's run result; ``file``: the name errors give as their file (``SyncScheduler``).
    """

    def __init__(
        self, queue: list[Any], applied_run: Callable[[], RunResult], *, file: Path
    ) -> None:
        self.queue = queue
        self.applied_run = applied_run
        self.file = file
        self.on_complete: list[Callable[[SyncState], Any]] = []
        self.on_failed: list[Callable[[SyncState, str], Any]] = []
        self._simulator: Simulator | None = None

    # ------------------------------------------------------------------ simulation
    def start_simulation(
        self, faults: Mapping[str, Any] | None = None, *, seed: int = 0, budget_s: float = 1.0
    ) -> Simulator:
        """(Re)start the simulation of the applied plan at the horizon start.

        ``faults``: a dict shaped like a model's ``faults:`` section (see docs/simulation.md);
        ``budget_s``: wall-time budget of one re-plan, s.
        """
        result = self.applied_run()
        scenario = result.scenario
        given = (
            model_faults(scenario)
            if faults is None
            else parse_faults(Source(dict(faults), {}, self.file), scenario)
        )
        sim = Simulator(
            scenario,
            result.geometry.windows,
            operations_in_seconds(result.schedule.operations, scenario),
            faults=resolve_faults(given, scenario, result.geometry.windows),
            seed=seed,
            planner=RecoveryPlanner(scenario, budget_s),
            tracks=result.plan.extra.get("tracks", []),
        )
        sim.on_complete = self.on_complete
        sim.on_failed = self.on_failed
        self._simulator = sim
        return sim

    @property
    def simulator(self) -> Simulator:
        """The running simulation (started on first use)."""
        sim = self._simulator
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
        self.on_complete.append(callback)
        return callback

    def on_sync_failed(
        self, callback: Callable[[SyncState, str], Any]
    ) -> Callable[[SyncState, str], Any]:
        """Decorator: ``callback(sync, error)`` when a transfer of a sync fails, or it finally does."""
        self.on_failed.append(callback)
        return callback

    # ------------------------------------------------------------------ internals
    def _state(self, sim: Simulator, sync_id: str) -> SyncState:
        if sync_id not in sim.syncs:
            raise ModelError(
                f"unknown sync id {sync_id!r}; expected one of {', '.join(sorted(sim.syncs))}",
                file=self.file,
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


__all__ = ["Monitor", "SchedulerStatus", "SyncStatus"]
