"""The seed 000 scheduler of the service: one :class:`rsmodel.api.SyncScheduler`, its state kept
as an operation log in the store and rebuilt by replaying the log after a restart.

Every state change is an operation ``(kind, body)`` whose body holds everything needed to
repeat it (server-chosen sync ids, plan ids): ``create``, ``syncs``, ``optimize``, ``apply``,
``start`` (the monitoring simulation starts), ``advance`` (the simulated clock), ``reschedule``.
:meth:`SchedulerHost.execute` runs one on the live scheduler and commits it with its events and
its idempotency record in one transaction before the caller answers. Calls come from one thread
(the service's scheduler worker), so operations never interleave.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rsmodel.api import GroundStation, SyncPlan, SyncScheduler
from rsmodel.errors import ModelError
from rsmodel.service.errors import BODY_FILE, ApiError
from rsmodel.service.store import Store, Write
from rsmodel.timeutil import iso

PLANS_KEPT = 4  # optimised plans kept in memory for apply (older ones: optimise again)
SPEC_KEYS = {"ground_stations", "orbital_nodes", "orbits", "start", "step_s", "solver"}
SYNC_KEYS = {"id", "node", "data_size", "priority", "deadline", "data_type", "release"}


class SchedulerHost:
    """Owns the scheduler; replays the store's operation log on first use."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sched: SyncScheduler | None = None
        self.plans: OrderedDict[str, SyncPlan] = OrderedDict()
        self.sim_started = False
        self.loaded = False
        self.replaying = False
        self.events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ log
    def load(self) -> None:
        """Rebuild the scheduler from the log (once; again after a failed commit)."""
        if self.loaded:
            return
        self.sched, self.sim_started, self.plans = None, False, OrderedDict()
        ops = self.store.ops()
        applied = {body["plan_id"] for kind, body in ops if kind == "apply"}
        self.replaying = True
        try:
            pending: list[dict[str, Any]] = []
            for kind, body in ops:
                if kind == "syncs":  # consecutive batches are queued as one (same queue)
                    pending.extend(body["syncs"])
                    continue
                if pending:
                    self._apply("syncs", {"syncs": pending})
                    pending = []
                if kind == "optimize" and body["plan_id"] not in applied:
                    self._scheduler().horizon_hours = float(body["horizon_hours"])
                    continue
                self._apply(kind, body)
            if pending:
                self._apply("syncs", {"syncs": pending})
        finally:
            self.replaying = False
            self.events = []
        self.loaded = True

    def execute(
        self,
        kind: str,
        body: dict[str, Any],
        idempotency: tuple[str, str] | None = None,
        job: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        """Run operation ``kind`` and commit it (with its events, ``(key, fingerprint)`` and the
        finished ``job`` row it runs for) before returning ``(status, response)``."""
        self.load()
        self.events = []
        try:
            status, result = self._apply(kind, body)
        except (ApiError, ModelError):
            raise  # refused before anything changed
        except Exception:
            self.loaded = False  # failed half-way: rebuild from the log on the next call
            raise
        write = Write(ops=[(kind, body)], events=self.events, reset=kind == "create")
        if kind == "optimize":
            write.plans.append((body["plan_id"], result))
        if idempotency is not None:
            write.idempotency.append((*idempotency, status, result))
        if job is not None:
            finished = iso(datetime.now(UTC))
            result_row = {"status": status, "body": result}
            write.jobs.append({**job, "status": "done", "result": result_row, "finished": finished})
            write.events.append(
                {"type": "job.done", "time": finished, "job_id": job["id"], "kind": job["kind"]}
            )
        try:
            self.store.write(write)
        except Exception:
            self.loaded = False  # memory is ahead of the store: rebuild from the log
            raise
        finally:
            self.events = []
        return status, result

    def read(self, fn: Callable[[SyncScheduler], Any]) -> Any:
        """A read that changes nothing (windows, queues): ``fn(scheduler)`` as JSON."""
        self.load()
        return jsonable(fn(self._scheduler()))

    def monitor(self, fn: Callable[[SyncScheduler], Any], sync_id: str | None = None) -> Any:
        """A monitoring read (status, sync progress of ``sync_id``): starts the simulation first
        if needed."""
        self.load()
        if sync_id is not None and sync_id not in {s.id for s in self._scheduler().queue}:
            raise ApiError(404, f"unknown sync {sync_id!r}")
        if not self.sim_started:
            self.execute("start", {})
        return jsonable(fn(self._scheduler()))

    # ------------------------------------------------------------------ operations
    def _apply(self, kind: str, body: dict[str, Any]) -> tuple[int, Any]:
        return getattr(self, f"_op_{kind}")(body)

    def delete(self) -> None:
        """Forget the scheduler (its log and plans; events and jobs stay)."""
        self.load()
        event = {"type": "scheduler.deleted", "time": iso(datetime.now(UTC))}
        self.store.write(Write(reset=True, events=[event]))
        self.sched, self.sim_started, self.plans = None, False, OrderedDict()

    def _op_create(self, spec: dict[str, Any]) -> tuple[int, Any]:
        if self.sched is not None:
            raise ApiError(409, "a scheduler exists; DELETE /v1/scheduler first")
        self.sched, self.sim_started, self.plans = None, False, OrderedDict()
        sched = SyncScheduler(**scheduler_kwargs(spec))
        sched.on_sync_complete(self._on_complete)
        sched.on_sync_failed(self._on_failed)
        self.sched = sched
        self._event("scheduler.created", stations=[s["name"] for s in sched.stations])
        return 201, self.describe()

    def _op_syncs(self, body: dict[str, Any]) -> tuple[int, Any]:
        sched = self._scheduler()
        known = {s.id for s in sched.queue}
        for i, item in enumerate(body["syncs"]):
            if item["id"] in known:
                raise ApiError(
                    409, f"sync id {item['id']!r} already exists", field=f"syncs[{i}].id"
                )
        syncs = sched.schedule_batch(body["syncs"])
        for s in syncs:
            self._event("sync.queued", sync_id=s.id, node=s.node, priority=s.priority)
        return 201, jsonable(syncs)

    def _op_optimize(self, body: dict[str, Any]) -> tuple[int, Any]:
        sched = self._scheduler()
        plan = sched.optimize(body["horizon_hours"], body.get("objectives"))
        self.plans[body["plan_id"]] = plan
        while len(self.plans) > PLANS_KEPT:
            self.plans.popitem(last=False)
        self._event("plan.optimized", plan_id=body["plan_id"], operations=len(plan.operations))
        return 200, plan_json(body["plan_id"], plan)

    def _op_apply(self, body: dict[str, Any]) -> tuple[int, Any]:
        plan_id = body["plan_id"]
        plan = self.plans.get(plan_id)
        if plan is None:
            raise ApiError(409, f"plan {plan_id!r} is no longer applicable; optimize again")
        self._scheduler().apply(plan)
        self._event("plan.applied", plan_id=plan_id)
        return 200, {
            "plan_id": plan_id,
            "applied": True,
            "queue": jsonable(self._scheduler().queue),
        }

    def _op_start(self, body: dict[str, Any]) -> tuple[int, Any]:
        status = self._scheduler().get_status()
        self.sim_started = True
        self._event("simulation.started")
        return 200, jsonable(status)

    def _op_advance(self, body: dict[str, Any]) -> tuple[int, Any]:
        sched = self._scheduler()
        self.sim_started = True
        if "until" in body:
            status = sched.run_until(body["until"])
        else:
            status = sched.step(float(body["step_s"]))
        self._event("clock.advanced", time=iso(status.time))
        return 200, jsonable(status)

    def _op_reschedule(self, body: dict[str, Any]) -> tuple[int, Any]:
        sched = self._scheduler()
        self.sim_started = True
        requeued = sched.reschedule(body["sync_id"])
        self._event("sync.rescheduled", sync_id=body["sync_id"], requeued=requeued)
        return 200, {"sync_id": body["sync_id"], "requeued": requeued}

    # ------------------------------------------------------------------ helpers
    def _scheduler(self) -> SyncScheduler:
        if self.sched is None:
            raise ApiError(404, "no scheduler yet; create one with POST /v1/scheduler")
        return self.sched

    def describe(self) -> dict[str, Any]:
        """Stations, nodes, horizon start and grid step of the scheduler."""
        sched = self._scheduler()
        return {
            "ground_stations": sched.stations,
            "orbital_nodes": [n["name"] for n in sched.nodes],
            "start": iso(sched.start),
            "step_s": sched.step_s,
            "horizon_hours": sched.horizon_hours,
            "queued": len(sched.queue),
        }

    def _clock(self) -> datetime:
        sched = self._scheduler()
        return sched.now if self.sim_started else sched.start

    def _event(self, kind: str, time: str | None = None, **details: Any) -> None:
        if not self.replaying:
            self.events.append({"type": kind, "time": time or iso(self._clock()), **details})

    def _on_complete(self, sync: Any) -> None:
        when = self._scheduler().start + timedelta(seconds=sync.completed_s or 0.0)
        self._event("sync.completed", time=iso(when), **_sync_fields(sync))

    def _on_failed(self, sync: Any, error: str) -> None:
        when = self._scheduler().start + timedelta(seconds=sync.last_failure_s or 0.0)
        self._event("sync.failed", time=iso(when), error=str(error), **_sync_fields(sync))


def _sync_fields(sync: Any) -> dict[str, Any]:
    return {
        "sync_id": sync.id,
        "node": sync.node,
        "priority": sync.priority,
        "data_size_bytes": sync.data_size,
        "delivered_bytes": sync.delivered_bytes,
    }


def scheduler_kwargs(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``SyncScheduler`` arguments from a JSON spec: ``ground_stations`` in the seed's form
    (``name, lat, lon, bandwidth[, elevation_min, alt, antennas, setup_s]``) or as model-file
    entries, ``orbital_nodes`` names bound by ``orbits`` or model-file node entries."""
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ModelError(
            f"unknown field(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(SPEC_KEYS))}",
            file=BODY_FILE,
        )
    stations = []
    for i, s in enumerate(spec.get("ground_stations") or []):
        if isinstance(s, Mapping) and "lat" in s:
            try:
                stations.append(GroundStation(**s))
            except TypeError as exc:
                raise ModelError(
                    f"{exc}; expected name, lat, lon, bandwidth and optionally elevation_min, "
                    "alt, antennas, setup_s",
                    file=BODY_FILE,
                    field=f"ground_stations[{i}]",
                ) from None
        else:
            stations.append(s)
    return {**spec, "ground_stations": stations}


def new_sync_bodies(items: list[Any]) -> list[dict[str, Any]]:
    """Sync requests with a server-chosen ``id`` where the client gave none (kept in the log so
    a replay queues the same ids)."""
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ModelError("expected an object", file=BODY_FILE, field=f"syncs[{i}]")
        unknown = set(item) - SYNC_KEYS
        if unknown:
            raise ModelError(
                f"unknown field(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(SYNC_KEYS))}",
                file=BODY_FILE,
                field=f"syncs[{i}]",
            )
        out.append({**item, "id": item.get("id") or f"sync-{uuid.uuid4().hex[:12]}"})
    return out


def plan_json(plan_id: str, plan: SyncPlan) -> dict[str, Any]:
    """The seed's plan object: operations and KPIs, plus each sync's outcome and the solver."""
    return {
        "id": plan_id,
        "operations": jsonable(plan.operations),
        "total_data_mb": plan.total_data_mb,
        "utilization": plan.utilization,
        "avg_wait_minutes": plan.avg_wait_minutes,
        "passes_used": plan.passes_used,
        "syncs": plan.plan.syncs,
        "kpis": plan.plan.kpis,
        "solver": dict(plan.plan.solver),
        "warnings": list(plan.plan.warnings),
    }


def jsonable(value: Any) -> Any:
    """Dataclasses, lists and dicts with datetimes as ISO 8601 UTC ``Z`` strings."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    return value
