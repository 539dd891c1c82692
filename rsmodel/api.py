"""The seed 000 Python API: ``from rsmodel import SyncScheduler, GroundStation``.

A thin layer over the model file and the pipeline: every call builds a model dict, validates
and resolves it with :func:`rsmodel.model.loader.load_model_dict` (the same checks and error
messages as a YAML file) and runs :func:`rsmodel.pipeline.run`. Nothing is re-implemented.

Sizes are bytes, bandwidths bits/s, times aware UTC (a naive ``datetime`` is local time, as
``datetime.now()`` returns it). Node names must be bound to real orbits (``orbits=`` or
``tle_file=``); an unbound name is an error, never an invented orbit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from rsmodel.errors import ModelError
from rsmodel.geometry import Geometry, compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.model.scenario import Scenario
from rsmodel.model.vocabulary import OBJECTIVE_NAMES, PRIORITY_RANK
from rsmodel.pipeline import RunResult, run, write_outputs
from rsmodel.plan.plan import Plan
from rsmodel.simulate.engine import Simulator
from rsmodel.simulate.monitoring import Monitor, SchedulerStatus, SyncStatus
from rsmodel.simulate.state import SyncState
from rsmodel.timeutil import parse_time

API_FILE = Path("SyncScheduler")  # the "file" named in error messages


@dataclass(frozen=True)
class GroundStation:
    """A ground station: WGS-84 position (deg, m), downlink ``bandwidth`` in bits/s."""

    name: str
    lat: float
    lon: float
    bandwidth: float
    elevation_min: float = 10.0
    alt: float = 0.0
    antennas: int = 1
    setup_s: float = 0.0

    def to_model(self) -> dict[str, Any]:
        """The ``ground_stations:`` entry of a model file."""
        return {
            "name": self.name,
            "lat_deg": self.lat,
            "lon_deg": self.lon,
            "alt_m": self.alt,
            "bandwidth_bps": self.bandwidth,
            "elevation_min_deg": self.elevation_min,
            "antennas": self.antennas,
            "setup_s": self.setup_s,
        }


@dataclass(frozen=True)
class SyncWindow:
    """One pass of a node over a station (``bandwidth`` bits/s, ``capacity_mb`` 1e6 bytes)."""

    id: str
    orbital_node: str
    ground_station: str
    start: datetime
    end: datetime
    duration_seconds: float
    max_elevation: float
    bandwidth: float
    capacity_mb: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SyncWindow:
        """From a geometry window row or a plan.json window entry."""
        return cls(
            id=row["id"],
            orbital_node=row["node"],
            ground_station=row["station"],
            start=_utc(row["start"]),
            end=_utc(row["end"]),
            duration_seconds=float(row["duration_s"]),
            max_elevation=float(row["max_elevation_deg"]),
            bandwidth=float(row["bandwidth_bps"]),
            capacity_mb=float(row["capacity_bytes"]) / 1e6,
        )


@dataclass
class ScheduledSync:
    """A queued sync and its latest estimate (``window``: first pass used, None if none)."""

    id: str
    node: str
    data_size: float
    priority: str
    deadline: datetime | None = None
    data_type: str | None = None
    release: datetime | None = None
    status: str = "queued"
    window: SyncWindow | None = None
    estimated_completion: datetime | None = None
    delivered_bytes: float = 0.0
    reason: str | None = None

    def to_model(self) -> dict[str, Any]:
        """The ``syncs:`` entry of a model file."""
        entry = {
            "id": self.id,
            "node": self.node,
            "data_size": self.data_size,
            "priority": self.priority,
        }
        optional = {"deadline": self.deadline, "release": self.release, "data_type": self.data_type}
        return entry | {k: v for k, v in optional.items() if v is not None}


@dataclass(frozen=True)
class Queue:
    """A snapshot of a node's queue, highest priority and earliest deadline first.

    ``estimated_clear_time`` is the estimated completion of the last item, or None when the
    queue is empty or some item cannot be completed within the horizon.
    """

    node: str
    items: list[ScheduledSync]
    total_size: float
    critical_count: int
    estimated_clear_time: datetime | None


@dataclass(frozen=True)
class PlannedOperation:
    """One transfer of a plan: ``time`` is its start, ``data_mb`` 1e6 bytes."""

    time: datetime
    end: datetime
    node: str
    station: str
    data_mb: float
    sync_id: str
    window_id: str


@dataclass(frozen=True)
class SyncPlan:
    """An optimised schedule (the seed's plan object) over the full :class:`Plan`."""

    operations: list[PlannedOperation]
    total_data_mb: float
    utilization: float
    avg_wait_minutes: float | None
    passes_used: int
    plan: Plan
    result: RunResult = field(repr=False)
    sync_ids: frozenset[str] = frozenset()

    @classmethod
    def from_result(cls, result: RunResult) -> SyncPlan:
        plan = result.plan
        ops = [
            PlannedOperation(
                _utc(o["start"]),
                _utc(o["end"]),
                o["node"],
                o["station"],
                o["bytes"] / 1e6,
                o["sync_id"],
                o["window_id"],
            )
            for o in plan.operations
        ]
        k = plan.kpis
        return cls(
            ops,
            k["total_data_mb"],
            k["utilization"],
            k["avg_wait_minutes"],
            k["passes_used"],
            plan,
            result,
            frozenset(s["id"] for s in plan.syncs),
        )

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write plan.json, plan.nc and report.html into ``out_dir``."""
        return write_outputs(self.result, out_dir)


class SyncScheduler:
    """Plan data transfers from orbital nodes to ground stations (seed 000).

    ``orbital_nodes`` are names (bound through ``orbits={"name": {"tle": {"norad": 43013}}}``,
    ``{"elements": {...}}`` or ``tle_file=`` whose name lines match) or full model-file node
    entries. ``start`` is the horizon start (default: now), ``step_s`` the grid step,
    ``solver`` the model file's ``solver:`` section. ``api_key`` is accepted and ignored.

    Monitoring (seed 000: get_status, get_sync_status, callbacks, reschedule, run_until, step,
    start_simulation) is delegated to :attr:`monitor`, a
    :class:`~rsmodel.simulate.monitoring.Monitor` over :attr:`queue` and the applied plan.
    """

    def __init__(
        self,
        ground_stations: Sequence[GroundStation],
        orbital_nodes: Sequence[str | Mapping[str, Any]],
        api_key: str | None = None,
        *,
        orbits: Mapping[str, Mapping[str, Any]] | None = None,
        tle_file: str | Path | None = None,
        start: datetime | str | None = None,
        step_s: float = 60.0,
        solver: Mapping[str, Any] | None = None,
    ) -> None:
        del api_key  # accepted for compatibility with the seed; rsmodel runs locally
        self.start = _utc(start) if start is not None else datetime.now(UTC).replace(microsecond=0)
        self.step_s = step_s
        self.stations = [
            s.to_model() if isinstance(s, GroundStation) else dict(s) for s in ground_stations
        ]
        self.nodes = [
            _bind_orbit(i, n, orbits or {}, tle_file) for i, n in enumerate(orbital_nodes)
        ]
        self.solver = dict(solver or {})
        self.queue: list[ScheduledSync] = []
        self.applied: SyncPlan | None = None
        self.horizon_hours = 24.0
        self._ids = itertools.count(1)
        self._geometry: dict[float, Geometry] = {}
        self._scenario(self.horizon_hours, [])  # validate stations and orbits now
        self.monitor = Monitor(self.queue, self._applied_run, file=API_FILE)

    # ----------------------------------------------------------------- model building
    def model_dict(
        self,
        hours: float,
        syncs: Iterable[ScheduledSync] | None = None,
        objectives: Mapping[str, float] | None = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        """The model file this scheduler stands for (``syncs`` default: the queue; ``method``
        overrides ``solver.method``)."""
        data: dict[str, Any] = {
            "name": "sync-scheduler",
            "horizon": {"start": self.start, "hours": hours, "step_s": self.step_s},
            "ground_stations": self.stations,
            "nodes": self.nodes,
            "syncs": [s.to_model() for s in (self.queue if syncs is None else syncs)],
        }
        if objectives is not None:
            data["objectives"] = {**dict.fromkeys(OBJECTIVE_NAMES, 0.0), **objectives}
        solver = self.solver | ({"method": method} if method else {})
        if solver:
            data["solver"] = solver
        return data

    def _scenario(
        self,
        hours: float,
        syncs: Iterable[ScheduledSync] | None = None,
        objectives: Mapping[str, float] | None = None,
        method: str | None = None,
    ) -> Scenario:
        data = self.model_dict(hours, syncs, objectives, method)
        return load_model_dict(data, base_dir=Path.cwd(), file=API_FILE)

    def _geometry_for(self, hours: float) -> Geometry:
        """Geometry of the stations and nodes over ``hours`` (cached: it does not depend on syncs)."""
        if hours not in self._geometry:
            self._geometry[hours] = compute_geometry(self._scenario(hours, []))
        return self._geometry[hours]

    # ----------------------------------------------------------------- windows
    def get_windows(
        self, hours: float = 24, node: str | None = None, station: str | None = None
    ) -> list[SyncWindow]:
        """Passes in the next ``hours`` from the horizon start, by start time, optionally filtered."""
        self._check_name(node, [n["name"] for n in self.nodes], "node")
        self._check_name(station, [s["name"] for s in self.stations], "station")
        windows = self._geometry_for(float(hours)).windows
        if node is not None:
            windows = windows[windows["node"] == node]
        if station is not None:
            windows = windows[windows["station"] == station]
        return [SyncWindow.from_row(row) for row in windows.to_dict("records")]

    @staticmethod
    def _check_name(name: str | None, names: list[str], what: str) -> None:
        if name is not None and name not in names:
            raise ModelError(
                f"unknown {what} {name!r}; expected one of {', '.join(names)}",
                file=API_FILE,
                field=what,
            )

    # ----------------------------------------------------------------- queue
    def schedule_sync(
        self,
        node: str,
        data_size: float,
        priority: str = "normal",
        deadline: datetime | str | None = None,
        data_type: str | None = None,
        *,
        release: datetime | str | None = None,
        id: str | None = None,
    ) -> ScheduledSync:
        """Queue a sync of ``data_size`` bytes and estimate its first pass and completion (greedy
        dispatch of the whole queue; :meth:`optimize` refines the estimates)."""
        (sync,) = self._enqueue(
            [
                dict(
                    node=node,
                    data_size=data_size,
                    priority=priority,
                    deadline=deadline,
                    data_type=data_type,
                    release=release,
                    id=id,
                )
            ]
        )
        return sync

    def schedule_batch(self, requests: Iterable[Mapping[str, Any]]) -> list[ScheduledSync]:
        """Queue several syncs (dicts with the arguments of :meth:`schedule_sync`) at once."""
        return self._enqueue(list(requests))

    def _enqueue(self, requests: list[Mapping[str, Any]]) -> list[ScheduledSync]:
        new = [self._new_sync(r) for r in requests]
        # validates (raises before anything is queued); estimates come from the fast greedy
        # dispatcher, optimize() refines them
        scenario = self._scenario(self.horizon_hours, [*self.queue, *new], method="greedy")
        resolved = {s.id: s for s in scenario.syncs}
        for sync in new:
            sync.release, sync.deadline = resolved[sync.id].release, resolved[sync.id].deadline
        self.queue.extend(new)
        self._update_estimates(self._solve(scenario))
        return new

    def _new_sync(self, request: Mapping[str, Any]) -> ScheduledSync:
        allowed = {"node", "data_size", "priority", "deadline", "data_type", "release", "id"}
        unknown = set(request) - allowed
        if unknown:
            raise ModelError(
                f"unknown argument(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(allowed))}",
                file=API_FILE,
                field="syncs",
            )
        times = {
            k: _utc(v) if isinstance(v, datetime) else v
            for k in ("deadline", "release")
            if (v := request.get(k)) is not None
        }
        return ScheduledSync(
            id=request.get("id") or f"sync-{next(self._ids):04d}",
            node=request["node"],
            data_size=request["data_size"],
            priority=request.get("priority", "normal"),
            data_type=request.get("data_type"),
            **times,
        )

    def get_queue(self, node: str) -> Queue:
        """The queue of ``node`` (items by priority, then deadline)."""
        self._check_name(node, [n["name"] for n in self.nodes], "node")
        far = datetime.max.replace(tzinfo=UTC)
        items = sorted(
            (replace(s) for s in self.queue if s.node == node),
            key=lambda s: (PRIORITY_RANK[s.priority], s.deadline or far),
        )
        done = [s.estimated_completion for s in items]
        clear = max(done) if items and all(t is not None for t in done) else None  # type: ignore[type-var]
        return Queue(
            node,
            items,
            sum(s.data_size for s in items),
            sum(s.priority == "critical" for s in items),
            clear,
        )

    # ----------------------------------------------------------------- planning
    def optimize(
        self, horizon_hours: float = 24, objectives: Mapping[str, float] | None = None
    ) -> SyncPlan:
        """Optimise the whole queue over ``horizon_hours``.

        ``objectives`` weights (see docs/optimisation.md); names left out weigh 0; default the
        model file's defaults (0.5 latency, 0.3 throughput, 0.2 load balance).
        """
        self.horizon_hours = float(horizon_hours)
        plan = self._solve(self._scenario(self.horizon_hours, None, objectives))
        self._update_estimates(plan)
        return plan

    def _solve(self, scenario: Scenario) -> SyncPlan:
        return SyncPlan.from_result(run(scenario, geometry=self._geometry_for(self.horizon_hours)))

    def _update_estimates(self, plan: SyncPlan) -> None:
        windows = plan.result.geometry.windows.set_index("id", drop=False)
        for sync in self.queue:
            if sync.id not in plan.sync_ids:
                continue
            outcome = plan.plan.sync(sync.id)
            first = next((o for o in plan.operations if o.sync_id == sync.id), None)
            sync.window = SyncWindow.from_row(windows.loc[first.window_id]) if first else None
            sync.estimated_completion = (
                _utc(outcome["completed_at"]) if outcome["completed_at"] else None
            )
            sync.delivered_bytes = outcome["delivered_bytes"]
            sync.reason = outcome["reason"]

    def apply(self, plan: SyncPlan) -> None:
        """Adopt ``plan``: queued syncs take its outcome (scheduled | partial | unmet)."""
        missing = [s.id for s in self.queue if s.id not in plan.sync_ids]
        if missing:
            raise ModelError(
                f"the queue changed since this plan was made ({', '.join(missing)} not in it); call optimize() again",
                file=API_FILE,
                field="plan",
            )
        self.applied = plan
        self._update_estimates(plan)
        status = {"complete": "scheduled", "partial": "partial", "unmet": "unmet"}
        for sync in self.queue:
            sync.status = status[plan.plan.sync(sync.id)["status"]]

    def _applied_run(self) -> RunResult:
        """The applied plan's run (optimising and applying the queue first if none was)."""
        plan = self.applied
        if plan is None:
            plan = self.optimize(self.horizon_hours)
            self.apply(plan)
        return plan.result

    # ----------------------------------------------------------------- monitoring (seed 000)
    def start_simulation(
        self, faults: Mapping[str, Any] | None = None, *, seed: int = 0, budget_s: float = 1.0
    ) -> Simulator:
        """(Re)start the simulation of the applied plan; see :meth:`Monitor.start_simulation`."""
        return self.monitor.start_simulation(faults, seed=seed, budget_s=budget_s)

    @property
    def simulator(self) -> Simulator:
        """The running simulation (started on first use)."""
        return self.monitor.simulator

    @property
    def now(self) -> datetime:
        """The simulated time."""
        return self.monitor.now

    def run_until(self, t: datetime | str) -> SchedulerStatus:
        """Advance the simulated clock to ``t`` (UTC, or ``+2h`` from the horizon start)."""
        return self.monitor.run_until(t)

    def step(self, dt: timedelta | float) -> SchedulerStatus:
        """Advance the simulated clock by ``dt`` (a timedelta or seconds)."""
        return self.monitor.step(dt)

    def get_status(self) -> SchedulerStatus:
        """Active and queued syncs now; completed and failed in the last 24 simulated hours."""
        return self.monitor.get_status()

    def get_sync_status(self, sync_id: str) -> SyncStatus:
        """Progress (0-1), bytes on the ground and current rate of one sync."""
        return self.monitor.get_sync_status(sync_id)

    def reschedule(self, sync_id: str) -> bool:
        """Re-queue a failed (or held) sync and re-plan the rest of the horizon now."""
        return self.monitor.reschedule(sync_id)

    def on_sync_complete(self, callback: Callable[[SyncState], Any]) -> Callable[[SyncState], Any]:
        """Decorator: ``callback(sync)`` when a sync has all its bytes on the ground."""
        return self.monitor.on_sync_complete(callback)

    def on_sync_failed(
        self, callback: Callable[[SyncState, str], Any]
    ) -> Callable[[SyncState, str], Any]:
        """Decorator: ``callback(sync, error)`` when a transfer of a sync fails, or it finally does."""
        return self.monitor.on_sync_failed(callback)


def _bind_orbit(
    i: int,
    node: str | Mapping[str, Any],
    orbits: Mapping[str, Mapping[str, Any]],
    tle_file: str | Path | None,
) -> dict[str, Any]:
    """The model-file entry of a node: its name plus an explicit orbit."""
    if isinstance(node, Mapping):
        return dict(node)
    if node in orbits:
        return {"name": node, **orbits[node]}
    if tle_file is not None:
        return {"name": node, "tle": {"file": str(Path(tle_file).resolve()), "satellite": node}}
    raise ModelError(
        f"node {node!r} has no orbit; bind it explicitly, e.g. orbits={{{node!r}: {{'tle': {{'norad': 43013}}}}}}, "
        "{'elements': {...}} or tle_file= a TLE file whose name lines match the node names",
        file=API_FILE,
        field=f"orbital_nodes[{i}]",
    )


def _utc(value: datetime | str | pd.Timestamp) -> datetime:
    """Aware UTC; a naive ``datetime`` is local time (what ``datetime.now()`` returns)."""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime(warn=False)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(UTC)
    return parse_time(value)
