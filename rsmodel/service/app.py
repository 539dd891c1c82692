"""The ``rsmodel serve`` application: seed 002 ``POST /v1/plan`` and the seed 000 scheduler over
HTTP (FastAPI on uvicorn). Routes, auth, limits, storage and errors: docs/service.md."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsmodel.errors import ModelError
from rsmodel.model.yamlsrc import format_path
from rsmodel.service.errors import BODY_FILE, ApiError, model_error_body
from rsmodel.service.scheduler import SchedulerHost, new_sync_bodies
from rsmodel.service.store import SqliteStore, Write
from rsmodel.service.work import WorkPool
from rsmodel.timeutil import iso
from rsmodel.version import __version__

log = logging.getLogger("rsmodel.service")
DB_FILE = "rsmodel.sqlite3"


@dataclass
class ServiceConfig:
    """Settings of one service (``rsmodel serve`` options)."""

    data_dir: Path
    workers: int = 2
    queue: int = 8
    token: str | None = None
    allow_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = 1 << 20
    time_limit_s: float = 60.0
    wait_s: float = 30.0
    model_spec: dict[str, Any] | None = None
    webhooks: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- request bodies
class OptimizeBody(BaseModel):
    """``POST /v1/optimize``: the seed's ``optimize(horizon_hours, objectives)``."""

    model_config = ConfigDict(extra="forbid")
    horizon_hours: float = Field(24.0, gt=0, le=24 * 14)
    objectives: dict[str, float] | None = Field(
        None, description="minimize_latency, maximize_throughput, balance_load weights."
    )


class ClockBody(BaseModel):
    """``POST /v1/clock``: advance the simulated clock to ``until`` or by ``step_s`` seconds."""

    model_config = ConfigDict(extra="forbid")
    until: str | None = Field(None, description="UTC time, or '+2h' from the horizon start.")
    step_s: float | None = Field(None, gt=0)


class SchedulerSpec(BaseModel):
    """``POST /v1/scheduler``: the seed's ``SyncScheduler(ground_stations, orbital_nodes)``."""

    model_config = ConfigDict(extra="forbid")
    ground_stations: list[dict[str, Any]] = Field(
        description="Seed form {name, lat, lon, bandwidth, elevation_min} or model-file entries."
    )
    orbital_nodes: list[str | dict[str, Any]] = Field(
        description="Names bound by `orbits`, or model-file node entries (tle norad/satellite or elements)."
    )
    orbits: dict[str, dict[str, Any]] | None = None
    start: str | None = Field(None, description="Horizon start, UTC (default now).")
    step_s: float = Field(60.0, gt=0, le=600)
    solver: dict[str, Any] | None = None


# --------------------------------------------------------------------------- the guard
class Guard:
    """Outermost checks: bearer token, body size, JSON content type (a browser cannot send
    ``application/json`` cross-origin without a CORS preflight, which fails unless allowed)."""

    def __init__(self, app: ASGIApp, token: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.token is not None:
            given = headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                err = ApiError(
                    401,
                    "missing or wrong bearer token; send 'Authorization: Bearer <token>'",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await _send_error(err, scope, receive, send)
                return
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _send_error(self._too_large(), scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _send_error(self._too_large(), scope, receive, send)
                return
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if body and scope["method"] in ("POST", "PUT", "PATCH") and ctype != "application/json":
            err = ApiError(415, f"content type {ctype or 'none'!r}; expected application/json")
            await _send_error(err, scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> ApiError:
        return ApiError(413, f"request body larger than {self.max_body_bytes} bytes")


async def _send_error(err: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
    await _error_response(err)(scope, receive, send)


def _error_response(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


# --------------------------------------------------------------------------- the service
class Service:
    """State shared by the routes: store, work pool, scheduler host, running jobs."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.store = SqliteStore(config.data_dir / DB_FILE)
        self.pool = WorkPool(config.workers, config.queue, config.time_limit_s)
        self.host = SchedulerHost(self.store)
        self.tasks: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self.ready = False

    # ------------------------------------------------------------------ jobs
    def new_job(self, kind: str, request: Any, idem: tuple[str, str] | None) -> dict[str, Any]:
        """Persist a queued job (and the idempotency key pointing at it) in one transaction."""
        job = {
            "id": f"job-{uuid.uuid4().hex[:16]}",
            "kind": kind,
            "status": "pending",
            "request": request,
            "created": iso(datetime.now(UTC)),
            "idempotency_key": None if idem is None else idem[0],
        }
        write = Write(jobs=[job])
        if idem is not None:
            write.idempotency.append((*idem, 202, {"job_id": job["id"]}))
        self.store.write(write)
        return job

    def start_job(self, job: dict[str, Any]) -> asyncio.Task[dict[str, Any]]:
        """Run a stored job in the background; its task ends after the result is stored."""
        run = self._run_plan if job["kind"] == "plan" else self._run_optimize
        task = asyncio.get_running_loop().create_task(run(job))
        self.tasks[job["id"]] = task
        task.add_done_callback(lambda _: self.tasks.pop(job["id"], None))
        return task

    async def _run_plan(self, job: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            out = await asyncio.wrap_future(self.pool.submit_plan(job["request"]["body"]))
        except Exception as exc:  # a worker process died: the request may be retried
            log.exception("plan job %s failed", job["id"])
            out = ApiError(503, f"solver worker failed ({type(exc).__name__}); retry").body()
            out = {"status": 503, "body": out}
        finally:
            self.pool.plans.release(time.perf_counter() - t0)
        return self._finish(job, out)

    async def _run_optimize(self, job: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        body = job["request"]
        finished = {**job, "status": "done", "finished": None}

        def optimise() -> dict[str, Any]:
            status, result = self.host.execute("optimize", body, job=finished)
            return {"status": status, "body": result}

        try:
            out = await asyncio.wrap_future(self.pool.submit_scheduler(optimise))
        except Exception as exc:  # bad input (4xx) or a failed solve: the job fails
            if not isinstance(exc, ApiError | ModelError):
                log.error("optimize job %s failed", job["id"], exc_info=exc)
                exc = ApiError(500, f"optimisation failed ({type(exc).__name__}: {exc})")
            return self._finish(job, {"status": _status(exc), "body": _error_body(exc)})
        finally:
            self.pool.scheduler.release(time.perf_counter() - t0)
        return out  # stored with the optimize operation

    def _finish(self, job: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
        """Store the job's outcome; a 503 (worker lost) also frees its ``Idempotency-Key`` so
        that the client's retry runs the request again."""
        status = "done" if out["status"] < 400 else "failed"
        row = {**job, "status": status, "result": out, "finished": iso(datetime.now(UTC))}
        event = {"type": f"job.{status}", "time": row["finished"], "job_id": job["id"]}
        write = Write(jobs=[row], events=[{**event, "kind": job["kind"]}])
        if out["status"] == 503:
            write.forget = [k for k in [job.get("idempotency_key")] if k]
        self.store.write(write)
        return out

    async def replayed_job(self, idem: tuple[str, str] | None, wait_s: float) -> Response | None:
        """The response for a job request whose Idempotency-Key already made a job (422 if the
        key came with another request), or None for a new request."""
        seen = self.store.remembered(idem[0]) if idem is not None else None
        if seen is None:
            return None
        check_fingerprint(seen.fingerprint, idem)
        return await self.job_response(seen.body["job_id"], wait_s)

    async def job_response(self, job_id: str, wait_s: float) -> Response:
        """The job's result if it ends within ``wait_s``, else 202 with the job resource."""
        task = self.tasks.get(job_id)
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), wait_s)
        job = self.store.job(job_id)
        if job is None:
            raise ApiError(404, f"unknown job {job_id!r}")
        headers = {"Location": f"/v1/jobs/{job_id}"}
        if job["status"] == "pending":
            headers["Retry-After"] = "1"
            return JSONResponse(job_summary(job), status_code=202, headers=headers)
        result = job["result"]
        if result["status"] == 503:
            headers["Retry-After"] = "1"
        return JSONResponse(result["body"], status_code=result["status"], headers=headers)

    # ------------------------------------------------------------------ scheduler calls
    async def scheduler_call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the scheduler thread (admitted by the scheduler gate)."""
        self.pool.scheduler.admit()
        t0 = time.perf_counter()
        try:
            return await asyncio.wrap_future(self.pool.submit_scheduler(fn))
        finally:
            self.pool.scheduler.release(time.perf_counter() - t0)

    async def scheduler_op(
        self, request: Request, kind: str, make_body: Callable[[], dict[str, Any]]
    ) -> Response:
        """A state-changing scheduler operation, once per ``Idempotency-Key``."""
        idem = await idempotency(request)

        def run() -> tuple[int, Any, bool]:
            if idem is not None:
                seen = self.store.remembered(idem[0])
                if seen is not None:
                    check_fingerprint(seen.fingerprint, idem)
                    return seen.status, seen.body, True
            status, result = self.host.execute(kind, make_body(), idem)
            return status, result, False

        status, result, replayed = await self.scheduler_call(run)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return JSONResponse(result, status_code=status, headers=headers)

    # ------------------------------------------------------------------ webhooks
    async def deliver_webhooks(self) -> None:
        """POST every event to each ``--webhook`` URL, in order, at least once (the position
        is stored, so a restart resumes where delivery stopped)."""
        seq = int(self.store.meta("webhook_seq") or 0)
        delay = 0.5
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                batch = self.store.events_after(seq, 50)
                if not batch:
                    await asyncio.sleep(0.3)
                    continue
                for s, event in batch:
                    try:
                        for url in self.config.webhooks:
                            r = await client.post(url, json={"id": s, **event})
                            r.raise_for_status()
                    except httpx.HTTPError as exc:
                        log.warning("webhook delivery of event %d failed: %s", s, exc)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 30.0)
                        break
                    delay = 0.5
                    seq = s
                    self.store.write(Write(meta={"webhook_seq": seq}))

    async def startup(self) -> list[asyncio.Task[Any]]:
        """Warm the workers, rebuild the scheduler, resume unfinished jobs, start webhooks."""
        replay = self.pool.submit_scheduler(self.host.load)
        await asyncio.gather(*(asyncio.wrap_future(f) for f in [*self.pool.warm(), replay]))
        spec = self.config.model_spec
        if spec is not None and self.host.sched is None:
            spec = capped(spec, self.config.time_limit_s)
            await asyncio.wrap_future(
                self.pool.submit_scheduler(lambda: self.host.execute("create", spec))
            )
        for job in self.store.jobs(status=("pending",)):
            (self.pool.plans if job["kind"] == "plan" else self.pool.scheduler).admit(force=True)
            self.start_job(job)
        background = []
        if self.config.webhooks:
            background.append(asyncio.get_running_loop().create_task(self.deliver_webhooks()))
        self.ready = True
        return background


def capped(spec: dict[str, Any], time_limit_s: float) -> dict[str, Any]:
    """The scheduler spec with its solver time limit at most ``time_limit_s``."""
    solver = spec.get("solver", {})
    limit = min(float(solver.get("time_limit_s", time_limit_s)), time_limit_s)
    return {**spec, "solver": {**solver, "time_limit_s": limit}}


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    """A job resource without its (possibly large) request and result."""
    return {
        "id": job["id"],
        "kind": job["kind"],
        "status": job["status"],
        "created": job["created"],
        "finished": job.get("finished"),
        "href": f"/v1/jobs/{job['id']}",
    }


async def idempotency(request: Request) -> tuple[str, str] | None:
    """``(Idempotency-Key, fingerprint of method + path + body)`` or None."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 0 < len(key) <= 255:
        raise ApiError(400, "Idempotency-Key must be 1-255 characters")
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    digest.update(await request.body())
    return key, digest.hexdigest()


def check_fingerprint(seen: str, idem: tuple[str, str]) -> None:
    if seen != idem[1]:
        raise ApiError(
            422, f"Idempotency-Key {idem[0]!r} was used with a different request", field="headers"
        )


async def json_body(request: Request) -> Any:
    """The parsed JSON body; invalid JSON is a 400 naming the line, like a model file."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        msg = getattr(exc, "msg", "not UTF-8")
        raise ModelError(
            f"invalid JSON ({msg}); expected a JSON object", file=BODY_FILE, line=line
        ) from None


def _status(exc: Exception) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    assert isinstance(exc, ModelError)
    return 400 if exc.detail.startswith("invalid JSON") else 422


def _error_body(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return exc.body()
    assert isinstance(exc, ModelError)
    return model_error_body(exc, _status(exc))


def _reject_file_paths(value: Any, path: tuple[str | int, ...]) -> None:
    """No route reads a file named by a request: TLE files must come from the shipped catalog."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "file":
                raise ModelError(
                    "file paths are not accepted over HTTP; use {norad: N} or {satellite: NAME} "
                    "from the shipped catalog, or elements",
                    file=BODY_FILE,
                    field=format_path((*path, k)),
                )
            _reject_file_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _reject_file_paths(v, (*path, i))


# --------------------------------------------------------------------------- the app
def create_app(config: ServiceConfig) -> FastAPI:
    """The ASGI application for ``config``."""
    from rsmodel.compute.request import PlanRequest

    svc = Service(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = await svc.startup()
        log.info("rsmodel service ready (data %s)", config.data_dir)
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            svc.pool.shutdown()
            svc.store.close()

    app = FastAPI(
        title="rsmodel",
        version=__version__,
        description="Seed 002 compute planning and the seed 000 sync scheduler (docs/service.md).",
        lifespan=lifespan,
    )
    app.state.service = svc
    app.add_middleware(Guard, token=config.token, max_body_bytes=config.max_body_bytes)
    if config.allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.allow_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
        )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(ModelError)
    async def _model_error(request: Request, exc: ModelError) -> JSONResponse:
        return JSONResponse(_error_body(exc), status_code=_status(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if p != "body")
        if err["type"] == "json_invalid":
            me = ModelError("invalid JSON; expected a JSON object", file=BODY_FILE)
            return JSONResponse(model_error_body(me, 400), status_code=400)
        msg = "required field is missing" if err["type"] == "missing" else err["msg"]
        where = err["loc"][0] if err["loc"] else "body"
        me = ModelError(msg, file=BODY_FILE if where == "body" else where, field=format_path(loc))
        return JSONResponse(model_error_body(me), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return _error_response(ApiError(exc.status_code, str(exc.detail), headers=exc.headers))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:8]
        log.error("internal error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
        return _error_response(ApiError(500, f"internal error {ref}; see the service log"))

    async def run_or_404(fn: Callable[[], Any]) -> Any:
        return await svc.scheduler_call(lambda: svc.host.read(lambda _: fn()))

    # ------------------------------------------------------------------ health, jobs
    @app.get("/v1/health", summary="Liveness and readiness")
    async def health() -> dict[str, Any]:
        return {"status": "ready" if svc.ready else "starting", "version": __version__}

    plan_schema = PlanRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    plan_defs = plan_schema.pop("$defs", {})
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus the definitions the seed 002 request body refers to."""
        schema = base_openapi()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(plan_defs)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.post(
        "/v1/plan",
        summary="Plan a seed 002 compute request (the response of `rsmodel plan`)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": plan_schema}},
            }
        },
        responses={202: {"description": "Still solving: poll the job in Location"}},
    )
    async def plan(request: Request, wait_s: float | None = None) -> Response:
        idem = await idempotency(request)
        replay = await svc.replayed_job(idem, _wait(wait_s))
        if replay is not None:
            return replay
        text = (await request.body()).decode("utf-8", errors="replace")
        svc.pool.plans.admit()
        try:
            job = svc.new_job("plan", {"body": text}, idem)
        except sqlite3.IntegrityError:  # the same key raced in: answer with its job
            svc.pool.plans.release(0.0)
            seen = svc.store.remembered(idem[0]) if idem else None
            if seen is None:
                raise
            return await svc.job_response(seen.body["job_id"], _wait(wait_s))
        except BaseException:
            svc.pool.plans.release(0.0)
            raise
        svc.start_job(job)
        return await svc.job_response(job["id"], _wait(wait_s))

    def _wait(wait_s: float | None) -> float:
        return config.wait_s if wait_s is None else max(0.0, min(wait_s, config.wait_s))

    @app.get("/v1/jobs", summary="Jobs (plans, optimisations), oldest first")
    async def jobs(status: str | None = None) -> list[dict[str, Any]]:
        rows = svc.store.jobs(None if status is None else (status,))
        return [job_summary(j) for j in rows]

    @app.get("/v1/jobs/{job_id}", summary="A job; its result once done")
    async def job(job_id: str) -> dict[str, Any]:
        row = svc.store.job(job_id)
        if row is None:
            raise ApiError(404, f"unknown job {job_id!r}")
        return {**job_summary(row), "result": row["result"]}

    # ------------------------------------------------------------------ scheduler
    @app.post("/v1/scheduler", status_code=201, summary="Create the scheduler (seed 000)")
    async def create_scheduler(spec: SchedulerSpec, request: Request) -> Response:
        body = capped(spec.model_dump(exclude_none=True), config.time_limit_s)
        _reject_file_paths(body, ())
        return await svc.scheduler_op(request, "create", lambda: body)

    @app.get("/v1/scheduler", summary="The scheduler's stations, nodes and horizon")
    async def get_scheduler() -> Any:
        return await run_or_404(svc.host.describe)

    @app.delete("/v1/scheduler", status_code=204, summary="Delete the scheduler and its queue")
    async def delete_scheduler() -> Response:
        await svc.scheduler_call(svc.host.delete)
        return Response(status_code=204)

    @app.get("/v1/windows", summary="Sync windows (passes) of the next `hours`")
    async def windows(
        hours: float = 24, node: str | None = None, station: str | None = None
    ) -> Any:
        if not 0 < hours <= 24 * 14:
            raise ApiError(422, "hours: expected 0 < hours <= 336", field="hours")
        return await svc.scheduler_call(
            lambda: svc.host.read(lambda s: s.get_windows(hours=hours, node=node, station=station))
        )

    @app.post("/v1/syncs", status_code=201, summary="Queue one sync or a batch")
    async def post_syncs(request: Request) -> Response:
        data = await json_body(request)
        items = data["syncs"] if isinstance(data, dict) and "syncs" in data else data
        single = isinstance(items, dict)
        items = [items] if single else items
        if not isinstance(items, list) or not items:
            raise ModelError(
                "expected a sync object, a list of them or {syncs: [...]}", file=BODY_FILE
            )
        bodies = new_sync_bodies(items)
        response = await svc.scheduler_op(request, "syncs", lambda: {"syncs": bodies})
        if single and response.status_code == 201:
            replayed = {k: v for k, v in response.headers.items() if k == "idempotent-replayed"}
            response = JSONResponse(json.loads(response.body)[0], 201, replayed)
        return response

    @app.get("/v1/syncs", summary="Every queued sync and its latest estimate")
    async def list_syncs() -> Any:
        return await svc.scheduler_call(lambda: svc.host.read(lambda s: s.queue))

    @app.get("/v1/syncs/{sync_id}", summary="Progress of one sync on the simulated clock")
    async def sync_status(sync_id: str) -> Any:
        return await svc.scheduler_call(
            lambda: svc.host.monitor(lambda s: s.get_sync_status(sync_id), sync_id)
        )

    @app.post("/v1/syncs/{sync_id}/reschedule", summary="Re-queue a failed sync and re-plan")
    async def reschedule(sync_id: str, request: Request) -> Response:
        await sync_status(sync_id)
        return await svc.scheduler_op(request, "reschedule", lambda: {"sync_id": sync_id})

    @app.get("/v1/queues/{node}", summary="A node's priority queue")
    async def queue(node: str) -> Any:
        return await svc.scheduler_call(lambda: svc.host.read(lambda s: s.get_queue(node)))

    @app.post(
        "/v1/optimize",
        summary="Optimise the queue (200 with the plan, or 202 with a job while it solves)",
        responses={202: {"description": "Still solving: poll the job in Location"}},
    )
    async def optimize(
        body: OptimizeBody, request: Request, wait_s: float | None = None
    ) -> Response:
        idem = await idempotency(request)
        replay = await svc.replayed_job(idem, _wait(wait_s))
        if replay is not None:
            return replay
        await run_or_404(svc.host.describe)  # 404 before queueing work for no scheduler
        svc.pool.scheduler.admit()
        try:
            args = body.model_dump(exclude_none=True)
            job = svc.new_job(
                "optimize", {**args, "plan_id": f"plan-{uuid.uuid4().hex[:12]}"}, idem
            )
        except BaseException:
            svc.pool.scheduler.release(0.0)
            raise
        svc.start_job(job)
        return await svc.job_response(job["id"], _wait(wait_s))

    @app.get("/v1/plans/{plan_id}", summary="An optimised plan")
    async def get_plan(plan_id: str) -> Any:
        found = svc.store.plan(plan_id)
        if found is None:
            raise ApiError(404, f"unknown plan {plan_id!r}")
        return found

    @app.post("/v1/plans/{plan_id}/apply", summary="Apply an optimised plan")
    async def apply(plan_id: str, request: Request) -> Response:
        if svc.store.plan(plan_id) is None:
            raise ApiError(404, f"unknown plan {plan_id!r}")
        return await svc.scheduler_op(request, "apply", lambda: {"plan_id": plan_id})

    @app.get("/v1/status", summary="Active, queued, completed and failed syncs (simulated clock)")
    async def status() -> Any:
        return await svc.scheduler_call(lambda: svc.host.monitor(lambda s: s.get_status()))

    @app.post("/v1/clock", summary="Advance the simulated clock; fires the seed's callbacks")
    async def clock(body: ClockBody, request: Request) -> Response:
        if (body.until is None) == (body.step_s is None):
            raise ApiError(422, "give exactly one of until or step_s", field="until")
        await svc.scheduler_call(lambda: svc.host.monitor(lambda s: s.get_status()))
        args = body.model_dump(exclude_none=True)
        return await svc.scheduler_op(request, "advance", lambda: args)

    @app.get("/v1/events", summary="Server-Sent Events: the seed's callbacks and service events")
    async def events(request: Request, after: int | None = None) -> EventSourceResponse:
        last = request.headers.get("last-event-id")
        if after is None and last is not None and last.isdigit():
            after = int(last)
        if after is None:
            after = svc.store.last_event()
        return EventSourceResponse(_follow(svc, after, request.is_disconnected), ping=15)

    return app


async def _follow(
    svc: Service, after: int, disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[dict[str, Any]]:
    """Events after sequence number ``after``, then new ones as they are committed."""
    while not await disconnected():
        batch = svc.store.events_after(after, 100)
        for seq, event in batch:
            after = seq
            yield {"id": str(seq), "event": event["type"], "data": json.dumps(event)}
        if not batch:
            await asyncio.sleep(0.2)
