"""Studies on a real Dask cluster (distributed.LocalCluster, 2 worker processes)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cloudpickle
import pytest
import xarray as xr
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin
from test_studies import MODEL, base_data, comparable, plan_alone

from rsmodel import pipeline
from rsmodel.studies import run_study

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_dask_local_cluster_gives_identical_results(tmp_path: Path) -> None:
    run = run_study(MODEL, tmp_path / "local", workers=2)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        on_dask = run_study(MODEL, tmp_path / "dask", cluster=cluster.scheduler_address)
    assert on_dask.summary["engine"] == "DaskEngine"
    assert on_dask.summary["geometry"]["computed_this_session"] == 2
    xr.testing.assert_identical(comparable(on_dask.dataset), comparable(run.dataset))


class CrashOnTimeLimit13(WorkerPlugin):
    """Dask worker plugin (fault injection): the real pipeline, except that a variant with
    ``solver.time_limit_s == 13`` kills its worker process. Installed on every (re)started worker."""

    def setup(self, worker) -> None:
        real = pipeline.run

        def faulty(scenario, **kwargs):
            if scenario.model.solver.time_limit_s == 13:
                os._exit(3)
            return real(scenario, **kwargs)

        pipeline.run = faulty


def test_dask_worker_crash_fails_that_variant_and_retry_completes_the_rest(tmp_path: Path) -> None:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    overrides = {"vary": [{"path": "solver.time_limit_s", "values": [20, 13, 30]}]}
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        # register the fault plugin, then close this client: the study opens its own, and two
        # clients in one process would share futures across event loops
        with Client(cluster) as client:
            client.register_plugin(CrashOnTimeLimit13(), name="crash-on-13")
        run = run_study(
            MODEL, tmp_path / "out", cluster=cluster.scheduler_address, overrides=overrides
        )
    status, errors = run.dataset["status"].values.tolist(), run.dataset["error"].values.tolist()
    assert len(status) == 3
    assert status[1] == "failed"
    assert "worker process died" in errors[1] and "KilledWorker" in errors[1]
    # Dask counts a worker's death against every task on that worker, so a variant that only
    # shared a worker with the crashing one may be failed too — but only as KilledWorker
    # (docs/studies.md), and --retry-failed runs exactly the failed variants again.
    assert all(s == "ok" or "KilledWorker" in e for s, e in zip(status, errors, strict=True)), (
        errors
    )
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        rerun = run_study(
            MODEL,
            tmp_path / "out",
            cluster=cluster.scheduler_address,
            overrides=overrides,
            retry_failed=True,
        )
    assert rerun.dataset["status"].values.tolist() == ["ok", "ok", "ok"]
    ds = rerun.dataset
    alone = plan_alone(base_data())
    assert float(ds["avg_wait_minutes"][0]) == pytest.approx(alone["kpis"]["avg_wait_minutes"])
