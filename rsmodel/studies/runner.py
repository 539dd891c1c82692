"""The study driver: expand variants, reuse geometry, run the rest in parallel, resume, assemble.

Layout of ``OUT/``::

    study.nc                  results (xarray Dataset, NetCDF)
    study.json                axes, KPIs, variants (status, plan link) and the run summary
    report.html               HTML study report (rsmodel.report.render_study)
    variants/<id>/result.json one per finished variant (written last, atomically: the commit mark)
    variants/<id>/plan.json   the variant's plan (and report.html with ``variant_reports``)
    .geometry-cache/<key>.pickle

A re-run skips variants whose result.json matches the variant's content hash.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

import xarray as xr

from rsmodel.errors import ModelError
from rsmodel.io import write_json, write_netcdf, write_text
from rsmodel.progress import bar
from rsmodel.studies.engine import DaskEngine, LocalEngine
from rsmodel.studies.geocache import GeometryCache, geometry_key, geometry_model
from rsmodel.studies.results import build_dataset, study_meta
from rsmodel.studies.spec import (
    StudyPlan,
    Variant,
    load_base,
    study_plan,
)
from rsmodel.studies.tasks import VariantTask, compute_geometry_task, run_variant_task, variant_file
from rsmodel.timeutil import iso

FINISHED = ("ok", "invalid", "failed")


@dataclass
class StudyRun:
    """What :func:`run_study` produced."""

    out_dir: Path
    dataset: xr.Dataset
    summary: dict[str, Any]
    plan: StudyPlan = field(repr=False)


def prepare(model: Path, overrides: dict[str, Any] | None = None) -> tuple[StudyPlan, Path]:
    """Read the model, merge command-line overrides into its study and expand the variants."""
    source, study = load_base(model)
    return study_plan(source, study, overrides), model.resolve().parent


def run_study(
    model: str | Path,
    out_dir: str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    retry_failed: bool = False,
    variant_reports: bool = False,
    start_method: str = "forkserver",
) -> StudyRun:
    """Run (or resume) the study of ``model`` into ``out_dir``; see the module docstring.

    ``start_method`` of local workers: see :class:`~rsmodel.studies.engine.LocalEngine`.
    """
    model, out = Path(model), Path(out_dir)
    plan, base_dir = prepare(model, overrides)
    engine = (
        DaskEngine.connect(cluster)
        if cluster
        else LocalEngine(workers or os.cpu_count() or 1, start_method)
    )
    t0 = perf_counter()
    try:
        with exclusive(out):
            driver = Driver(plan, out, engine, model, base_dir, retry_failed, variant_reports)
            driver.run()
            summary = driver.summary(perf_counter() - t0)
            records = driver.records
            dataset = build_dataset(plan, records)
            meta = study_meta(plan, records, summary, model)
            write_netcdf(out / "study.nc", dataset)
            summary["report_error"] = _write_report(out, dataset, meta)
            write_json(out / "study.json", meta)
    finally:
        engine.close()
    return StudyRun(out, dataset, summary, plan)


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold OUT/.study.lock: one study at a time writes into a directory.

    A POSIX record lock: released when the driver exits however it exits (even SIGKILL), and
    not inherited by forked workers.
    """
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".study.lock").open("w") as fh:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ModelError(
                "another rsmodel study is writing into this directory; wait for it to finish "
                "or give another -o",
                file=out,
            ) from None
        yield


def _write_report(out: Path, dataset: xr.Dataset, meta: dict[str, Any]) -> str | None:
    """Render OUT/report.html; returns why it could not be rendered (the results stand anyway)."""
    from rsmodel import report

    render_study = getattr(report, "render_study", None)
    if render_study is None:
        return "rsmodel.report.render_study is not available"
    try:
        write_text(out / "report.html", render_study(dataset, meta))
    except Exception as exc:  # a report bug must not lose a finished study
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass(frozen=True)
class Job:
    """A task in flight: the geometry of ``key`` (from ``variant``'s data) or one variant."""

    kind: str  # "geometry" | "variant"
    variant: Variant
    key: str | None
    isolated: bool = False  # re-run alone after a worker crash, to find the crashing task


class Driver:
    """Runs the unfinished variants of one study; every finished variant is written at once."""

    def __init__(
        self,
        plan: StudyPlan,
        out: Path,
        engine: LocalEngine | DaskEngine,
        model: Path,
        base_dir: Path,
        retry_failed: bool,
        variant_reports: bool,
    ) -> None:
        self.plan, self.out, self.engine = plan, out, engine
        self.model, self.base_dir = model, base_dir
        self.variant_reports = variant_reports
        self.session = uuid.uuid4().hex[:12]
        self.cache = GeometryCache(out / ".geometry-cache")
        self.records = load_records(out, plan.variants, retry_failed)
        self.keys = self._geometry_keys()
        self.sharing = Counter(k for k in self.keys.values() if k)  # variants per geometry key
        self.geometry: dict[str, tuple[Any, float]] = {}  # key -> (shared geometry, seconds)
        self.computed: list[str] = []
        self.from_disk: list[str] = []
        self.ran: list[str] = []

    # ------------------------------------------------------------------ geometry keys
    def _geometry_keys(self) -> dict[str, str | None]:
        """Variant id -> geometry key (None: the geometry sections do not load; the worker reports why)."""
        from rsmodel.model.loader import load_model_dict

        memo: dict[str, str | None] = {}
        keys: dict[str, str | None] = {}
        for v in self.plan.variants:
            if v.problem is not None:
                keys[v.id] = None
                continue
            part = geometry_model(v.data)
            text = json.dumps(part, sort_keys=True, default=str)
            if text not in memo:
                try:
                    memo[text] = geometry_key(
                        load_model_dict(part, base_dir=self.base_dir, file=self.model)
                    )
                except ModelError:
                    memo[text] = None
            keys[v.id] = memo[text]
        return keys

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        todo = [v for v in self.plan.variants if v.id not in self.records]
        waiting: dict[str, list[Variant]] = {}
        ready: deque[Variant] = deque()
        pending: dict[Any, Job] = {}
        for v in todo:
            key = self.keys[v.id]
            if key is None or self._have_geometry(key):
                ready.append(v)
                continue
            if key not in waiting:
                job = Job("geometry", v, key)
                pending[self._submit(job)] = job
            waiting.setdefault(key, []).append(v)
        quarantine: deque[Job] = deque()
        with bar(len(todo), desc="study") as progress:
            while ready or pending or quarantine:
                self._fill(ready, pending, quarantine)
                for future in self.engine.wait_any(pending):
                    job = pending.pop(future)
                    try:
                        value = future.result()
                    except Exception as exc:
                        if (
                            self.engine.is_crash(exc)
                            and self.engine.can_isolate
                            and not job.isolated
                        ):
                            self.engine.recover(future)
                            quarantine.append(Job(job.kind, job.variant, job.key, isolated=True))
                            continue
                        value = exc
                    if job.kind == "geometry":
                        self._geometry_done(
                            job, value, waiting.pop(job.key or "", []), ready, progress
                        )
                    else:
                        self._variant_done(job.variant, _outcome_of(value, job.isolated))
                        progress.update(1)

    def _fill(self, ready: deque[Variant], pending: dict[Any, Job], quarantine: deque[Job]) -> None:
        """Keep about two tasks per worker in flight, and at most one isolated (suspect) task."""
        if quarantine and not any(job.isolated for job in pending.values()):
            job = quarantine.popleft()
            pending[self._submit(job)] = job
        while ready and len(pending) < 2 * self.engine.slots:
            job = Job("variant", ready.popleft(), None)
            pending[self._submit(job)] = job

    def _submit(self, job: Job) -> Any:
        v = job.variant
        if job.kind == "geometry":
            return self.engine.submit(
                compute_geometry_task, v.data, self.base_dir, self.model, isolated=job.isolated
            )
        task = VariantTask(
            v.id,
            v.data,
            self.base_dir,
            variant_file(self.model, v.id),
            v.problem,
            self.variant_reports,
        )
        key = self.keys[v.id]
        geo, seconds = self.geometry[key] if key else (None, 0.0)
        share_s = seconds / self.sharing[key] if key else 0.0
        return self.engine.submit(run_variant_task, task, geo, share_s, isolated=job.isolated)

    def _have_geometry(self, key: str) -> bool:
        if key in self.geometry:
            return True
        cached = self.cache.load(key)
        if cached is None:
            return False
        geo, seconds = cached
        self.geometry[key] = (self.engine.share(geo), seconds)
        self.from_disk.append(key)
        return True

    def _geometry_done(
        self, job: Job, value: Any, variants: list[Variant], ready: deque[Variant], progress: Any
    ) -> None:
        key = job.key
        assert key is not None
        if isinstance(value, BaseException):
            for v in variants:
                self._variant_done(v, _failure(f"geometry failed: {type(value).__name__}: {value}"))
                progress.update(1)
            return
        geo, seconds = value
        self.cache.save(key, geo, seconds)
        self.geometry[key] = (self.engine.share(geo), seconds)
        self.computed.append(key)
        ready.extend(variants)

    def _variant_done(self, v: Variant, outcome: dict[str, Any]) -> None:
        directory = self.out / "variants" / v.id
        if outcome.get("plan_json") is not None:
            write_text(directory / "plan.json", outcome["plan_json"])
        if outcome.get("report_html") is not None:
            write_text(directory / "report.html", outcome["report_html"])
        record = {
            "id": v.id,
            "digest": v.digest,
            "index": list(v.index),
            "params": v.params,
            "status": outcome["status"],
            "error": outcome.get("error"),
            "traceback": outcome.get("traceback"),
            "has_report": outcome.get("report_html") is not None,
            "report_error": outcome.get("report_error"),
            "kpis": outcome.get("kpis") or {},
            "geometry_key": self.keys.get(v.id),
            "session": self.session,
            "finished_at": iso(datetime.now(UTC)),
        }
        write_json(directory / "result.json", record)
        self.records[v.id] = record
        self.ran.append(v.id)

    # ------------------------------------------------------------------ summary
    def summary(self, wall_s: float) -> dict[str, Any]:
        statuses = [r["status"] for r in self.records.values()]
        return {
            "model": str(self.model),
            "session": self.session,
            "variants": len(self.plan.variants),
            "ran_this_session": len(self.ran),
            "counts": {s: statuses.count(s) for s in FINISHED},
            "geometry": {
                "distinct_keys": len(self.sharing),
                "computed_this_session": len(self.computed),
                "loaded_from_cache": len(self.from_disk),
            },
            "engine": type(self.engine).__name__,
            "workers": self.engine.slots,
            "wall_s": wall_s,
        }


def load_records(
    out: Path, variants: list[Variant], retry_failed: bool
) -> dict[str, dict[str, Any]]:
    """Finished results of earlier runs that still match their variant (content hash)."""
    records = {}
    for v in variants:
        path = out / "variants" / v.id / "result.json"
        if not path.exists():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # unreadable: run the variant again
            continue
        if record.get("digest") != v.digest or record.get("status") not in FINISHED:
            continue
        if retry_failed and record["status"] == "failed":
            continue
        records[v.id] = record
    return records


def _outcome_of(value: Any, isolated: bool) -> dict[str, Any]:
    if not isinstance(value, BaseException):
        return value
    if isolated or type(value).__name__ in ("BrokenProcessPool", "KilledWorker"):
        return _failure(
            f"worker process died while running this variant ({type(value).__name__}: {value})"
        )
    return _failure(f"{type(value).__name__}: {value}")


def _failure(message: str) -> dict[str, Any]:
    return {"status": "failed", "error": message, "kpis": {}, "plan_json": None}
