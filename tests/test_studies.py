"""What-if studies end to end on the seed 000 scenario (models/study_seed_sync.yaml).

References are independent of the study code: each variant's model is rebuilt by hand from the
YAML and run alone through ``rsmodel.pipeline.run`` (fresh geometry, no cache). Tests with spies
in the workers use forked workers (``start_method="fork"``); the others run the default
forkserver workers. Dask tests are in test_studies_dask.py (after these: no Dask threads
exist when these fork).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from rsmodel import geometry, pipeline
from rsmodel.cli import main
from rsmodel.model.loader import load_model_dict
from rsmodel.studies import run_study

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "study_seed_sync.yaml"
BANDWIDTHS = [2.0e6, 5.0e6, 2.0e7]
STATION_SETS = {"all": ["svalbard", "singapore", "chile"], "no-chile": ["svalbard", "singapore"]}
TIMING = [
    "build_s",
    "solve_s",
    "geometry_s",
    "run_s",
    "geometry_share",
    "build_share",
    "solve_share",
]

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def comparable(ds: xr.Dataset) -> xr.Dataset:
    """The study results without run times (which differ from run to run)."""
    out = ds.drop_vars(TIMING)
    out.attrs = {k: v for k, v in ds.attrs.items() if not k.startswith("time_")}
    return out


def base_data() -> dict:
    data = yaml.safe_load(MODEL.read_text(encoding="utf-8"))
    data.pop("study")
    return data


def plan_alone(data: dict) -> dict:
    """The plan of one model run alone through the pipeline (its own geometry)."""
    scenario = load_model_dict(data, base_dir=MODEL.parent, file=MODEL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline.run(scenario).plan.to_dict()


def seed_variant(bandwidth_bps: float, stations: list[str]) -> dict:
    data = base_data()
    by_name = {g["name"]: g for g in data["ground_stations"]}
    by_name["svalbard"]["bandwidth_bps"] = bandwidth_bps
    data["ground_stations"] = [by_name[n] for n in stations]
    return data


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The 3 x 2 sweep on 2 local workers, counting every geometry computation (any process)."""
    tmp = tmp_path_factory.mktemp("sweep")
    log = tmp / "geometry-calls.log"
    real = geometry.compute_geometry

    def counting(scenario):  # spy: record the call, then run the real function
        with log.open("a") as fh:
            fh.write(",".join(s.name for s in scenario.stations) + "\n")
        return real(scenario)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(geometry, "compute_geometry", counting)
        mp.setattr(pipeline, "compute_geometry", counting)
        run = run_study(MODEL, tmp / "out", workers=2, start_method="fork")
        calls = log.read_text().splitlines()
        saved = xr.open_dataset(run.out_dir / "study.nc").load()
        plans = {
            p.parent.name: json.loads(p.read_text())
            for p in (tmp / "out").glob("variants/*/plan.json")
        }
        rerun = run_study(MODEL, tmp / "out", workers=2, start_method="fork")
        calls_after_rerun = log.read_text().splitlines()
        wider = run_study(
            MODEL,
            tmp / "out",
            workers=2,
            start_method="fork",
            overrides={
                "vary": [
                    {"path": "ground_stations.svalbard.bandwidth_bps", "values": [1.0e6, 3.0e7]},
                    {
                        "path": "ground_stations",
                        "name": "stations",
                        "values": list(STATION_SETS.values()),
                    },
                ]
            },
        )
        calls_after_wider = log.read_text().splitlines()
    return run, calls, rerun, calls_after_rerun, wider, calls_after_wider, saved, plans


def test_sweep_dims_coords_and_kpis_match_each_variant_run_alone(sweep: tuple) -> None:
    run = sweep[0]
    ds = run.dataset
    assert ds["avg_wait_minutes"].dims == ("svalbard_bandwidth_bps", "stations")
    assert ds["svalbard_bandwidth_bps"].values.tolist() == BANDWIDTHS
    assert ds["stations"].values.tolist() == list(STATION_SETS)
    assert (ds["status"] == "ok").all()
    xr.testing.assert_identical(sweep[-2], ds)  # study.nc as written by the run
    assert run.summary["report_error"] is None and (run.out_dir / "report.html").exists()
    for bw in BANDWIDTHS:
        for label, stations in STATION_SETS.items():
            alone = plan_alone(seed_variant(bw, stations))
            cell = ds.sel(svalbard_bandwidth_bps=bw, stations=label)
            kpis = alone["kpis"]
            assert float(cell["avg_wait_minutes"]) == pytest.approx(kpis["avg_wait_minutes"])
            assert float(cell["total_data_mb"]) == pytest.approx(kpis["total_data_mb"])
            assert float(cell["utilization"]) == pytest.approx(kpis["utilization"])
            assert float(cell["unmet_count"]) == kpis["unmet_count"]
            assert float(cell["passes_used"]) == kpis["passes_used"]
            assert float(cell["delivered_bytes_high"]) == pytest.approx(
                kpis["delivered_bytes_by_priority"]["high"]
            )
            assert (
                np.datetime64(kpis["latest_completion"].rstrip("Z"))
                == cell["latest_completion"].values
            )
            saved = sweep[-1][str(cell["variant_id"].values)]  # its plan.json
            assert saved["operations"] == alone["operations"]
            assert {s["name"] for s in saved["stations"]} == set(stations)
            assert {w["bandwidth_bps"] for w in saved["windows"] if w["station"] == "svalbard"} == {
                bw
            }
    # the KPIs respond to the varied fields (otherwise the comparison above proves little)
    assert len(np.unique(ds["avg_wait_minutes"].values)) == 6


def test_geometry_computed_once_per_distinct_station_set(sweep: tuple) -> None:
    run, calls, rerun, calls_after_rerun, wider, calls_after_wider, _, _ = sweep
    assert sorted(calls) == sorted(",".join(s) for s in STATION_SETS.values())
    assert run.summary["geometry"] == {
        "distinct_keys": 2,
        "computed_this_session": 2,
        "loaded_from_cache": 0,
    }
    # a re-run finds every variant finished: nothing computed, nothing run
    assert calls_after_rerun == calls
    assert rerun.summary["ran_this_session"] == 0
    xr.testing.assert_identical(comparable(rerun.dataset), comparable(run.dataset))
    # new bandwidths, same orbits/stations/horizon: the cached grids are reused from disk
    assert calls_after_wider == calls
    assert wider.summary["ran_this_session"] == 4
    assert wider.summary["geometry"]["loaded_from_cache"] == 2
    alone = plan_alone(seed_variant(3.0e7, STATION_SETS["no-chile"]))
    got = wider.dataset["avg_wait_minutes"].sel({"ground_stations.svalbard.bandwidth_bps": 3.0e7})
    assert float(got.isel(stations=1)) == pytest.approx(alone["kpis"]["avg_wait_minutes"])


def test_invalid_variants_are_reported_and_the_rest_complete(tmp_path: Path) -> None:
    overrides = {
        "mode": "zip",
        "vary": [  # in order: the station set first, then Svalbard's rate (gone in the 3rd)
            {
                "path": "ground_stations",
                "name": "stations",
                "values": [["svalbard", "chile"], ["svalbard"], ["chile"]],
            },
            {
                "path": "ground_stations.svalbard.bandwidth_bps",
                "name": "bw",
                "values": [5.0e6, -5.0, 1.0e7],
            },
        ],
    }
    run = run_study(MODEL, tmp_path / "out", workers=2, overrides=overrides, variant_reports=True)
    ds = run.dataset
    assert ds["status"].dims == ("stations",)
    assert ds["bw"].values.tolist() == [5.0e6, -5.0, 1.0e7]
    assert ds["stations"].values.tolist() == ["svalbard+chile", "svalbard", "chile"]
    assert ds["status"].values.tolist() == ["ok", "invalid", "invalid"]
    negative, missing = ds["error"].values[1], ds["error"].values[2]
    assert (
        "(variant v0002)" in negative
        and "bandwidth_bps" in negative
        and "greater than 0" in negative
    )
    assert "no item 'svalbard'" in missing
    alone = plan_alone(seed_variant(5.0e6, ["svalbard", "chile"]))
    assert float(ds["avg_wait_minutes"][0]) == pytest.approx(alone["kpis"]["avg_wait_minutes"])
    assert np.isnan(ds["avg_wait_minutes"][1:]).all()
    assert not (run.out_dir / "variants" / "v0002" / "plan.json").exists()
    html = (run.out_dir / "variants" / "v0001" / "report.html").read_text()
    assert "grad-1" in html and not (run.out_dir / "variants" / "v0002" / "report.html").exists()
    listed = json.loads((run.out_dir / "study.json").read_text())["variants"]
    assert [v["report"] for v in listed] == ["variants/v0001/report.html", None, None]


def test_raising_variant_and_crashed_worker_are_failed_and_the_study_goes_on(
    tmp_path: Path,
) -> None:
    """Fault injection: a spy around the real pipeline raises for one variant and kills its
    worker process (os._exit) for another; the other variants must finish normally."""
    real = pipeline.run

    def faulty(scenario, **kwargs):
        limit = scenario.model.solver.time_limit_s
        if limit == 13:
            os._exit(3)
        if limit == 17:
            raise RuntimeError("injected failure")
        return real(scenario, **kwargs)

    overrides = {"vary": [{"path": "solver.time_limit_s", "values": [20, 13, 17, 30, 40]}]}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "run", faulty)
        run = run_study(
            MODEL, tmp_path / "out", workers=2, overrides=overrides, start_method="fork"
        )
    ds = run.dataset
    assert ds["status"].values.tolist() == ["ok", "failed", "failed", "ok", "ok"]
    assert "worker process died" in ds["error"].values[1]
    assert "RuntimeError: injected failure" in ds["error"].values[2]
    alone = plan_alone(base_data())
    assert float(ds["avg_wait_minutes"][0]) == pytest.approx(alone["kpis"]["avg_wait_minutes"])
    record = json.loads((run.out_dir / "variants" / "v0003" / "result.json").read_text())
    assert record["status"] == "failed" and "RuntimeError" in record["traceback"]
    # without the faults: a re-run keeps failed variants unless asked to retry them
    kept = run_study(MODEL, tmp_path / "out", workers=2, overrides=overrides)
    assert kept.summary["ran_this_session"] == 0
    assert kept.dataset["status"].values.tolist() == ds["status"].values.tolist()
    retried = run_study(MODEL, tmp_path / "out", workers=2, overrides=overrides, retry_failed=True)
    assert retried.summary["ran_this_session"] == 2
    assert (retried.dataset["status"] == "ok").all()


def test_random_mode_variant_dimension_with_parameter_coordinates(tmp_path: Path) -> None:
    overrides = {
        "mode": "random",
        "samples": 4,
        "seed": 7,
        "vary": [
            {
                "path": "ground_stations.svalbard.bandwidth_bps",
                "name": "bw",
                "range": [1.0e6, 1.0e8],
                "log": True,
            },
            {"path": "syncs.*.priority", "name": "priority", "values": ["high", "critical"]},
        ],
        "kpis": ["delivered_bytes", "avg_wait_minutes"],
    }
    run = run_study(MODEL, tmp_path / "out", workers=2, overrides=overrides)
    ds = run.dataset
    assert ds["avg_wait_minutes"].dims == ("variant",)
    assert ds["variant"].values.tolist() == ["v0001", "v0002", "v0003", "v0004"]
    assert set(ds.data_vars) == {"status", "error", "avg_wait_minutes"} | {
        f"delivered_bytes_{p}" for p in ("critical", "high", "normal", "low")
    }
    bws = ds["bw"].values
    assert ((bws >= 1.0e6) & (bws <= 1.0e8)).all() and len(set(bws)) == 4
    for i in range(4):
        data = seed_variant(float(bws[i]), STATION_SETS["all"])
        for s in data["syncs"]:
            s["priority"] = str(ds["priority"].values[i])
        alone = plan_alone(data)
        delivered = alone["kpis"]["delivered_bytes_by_priority"]
        assert float(ds["delivered_bytes_critical"][i]) == pytest.approx(delivered["critical"])
        assert float(ds["delivered_bytes_high"][i]) == pytest.approx(delivered["high"])
        assert float(ds["avg_wait_minutes"][i]) == pytest.approx(alone["kpis"]["avg_wait_minutes"])
    again = run_study(MODEL, tmp_path / "again", workers=1, overrides=overrides)
    assert again.dataset["bw"].values.tolist() == bws.tolist()


def test_kill_9_then_rerun_completes_every_variant_exactly_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "rsmodel.cli", "study", str(MODEL), "-o", str(out), "--workers", "1",
        "--vary", "ground_stations.svalbard.bandwidth_bps=[2.0e+6, 3.0e+6, 5.0e+6, 1.0e+7, 2.0e+7, 5.0e+7]",
        "--vary", "syncs.*.data_size=[1.0e+8, 2.0e+8, 3.0e+8, 4.0e+8, 5.0e+8]",
    ]  # fmt: skip
    env = {**os.environ, "CI": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(out.glob("variants/*/result.json"))) < 3:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers
    proc.wait()
    before = {p.parent.name: p.read_bytes() for p in out.glob("variants/*/result.json")}
    assert 3 <= len(before) < 30
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = {p.parent.name: p.read_bytes() for p in out.glob("variants/*/result.json")}
    assert sorted(after) == [f"v{i:04d}" for i in range(1, 31)]
    assert all(after[k] == before[k] for k in before)  # finished variants were not run again
    sessions = {json.loads(after[k])["session"] for k in after if k not in before}
    first = {json.loads(before[k])["session"] for k in before}
    assert len(sessions) == 1 and sessions.isdisjoint(first)
    summary = json.loads((out / "study.json").read_text())["summary"]
    assert summary["ran_this_session"] == 30 - len(before)
    ds = xr.open_dataset(out / "study.nc")
    ids = ds["variant_id"].values.ravel().tolist()
    assert sorted(ids) == sorted(after) and len(set(ids)) == 30
    assert (ds["status"] == "ok").all()


# --------------------------------------------------------------------------- bad input
def cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["study", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1
    return err


def test_bad_input_is_one_clear_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = str(tmp_path / "out")
    err = cli_error(
        capsys, str(MODEL), "-o", out, "--vary", "ground_stations.svalbard.bandwith_bps=[1, 2]"
    )
    assert "unknown field 'bandwith_bps'" in err and "bandwidth_bps" in err
    err = cli_error(
        capsys, str(MODEL), "-o", out, "--vary", "ground_stations.santiago.bandwidth_bps=[1, 2]"
    )
    assert "no item 'santiago' in ground_stations" in err and "chile" in err
    err = cli_error(capsys, str(MODEL), "-o", out, "--vary", "solver.method=[]")
    assert "values" in err and "at least 1" in err
    err = cli_error(
        capsys, str(MODEL), "-o", out, "--mode", "zip",
        "--vary", "solver.time_limit_s=[10, 20]", "--vary", "solver.method=[greedy, milp, greedy]",
    )  # fmt: skip
    assert "equal length" in err and "solver.time_limit_s: 2" in err and "solver.method: 3" in err
    err = cli_error(capsys, str(MODEL), "-o", out, "--cluster", "tcp://127.0.0.1:1")
    assert "--cluster" in err and "cannot reach a Dask scheduler" in err
    err = cli_error(capsys, str(MODEL), "-o", out, "--set", "syncs=[grad-9]")
    assert "study.set.syncs: no item 'grad-9' in syncs" in err
    err = cli_error(capsys, str(MODEL), "-o", out, "--remove", "ground_stations.svalbard")
    assert "study.vary[0].path: no item 'svalbard' in ground_stations" in err
    err = cli_error(capsys, str(MODEL), "-o", out, "--kpis", "avg_wait,unmet_count")
    assert "unknown KPI 'avg_wait'" in err
    assert not Path(out).exists()


def test_one_study_at_a_time_per_output_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(  # another process holding the directory's lock, as a running study does
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'w'); "
         "fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
         str(out / ".study.lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        err = cli_error(capsys, str(MODEL), "-o", str(out))
        assert "another rsmodel study is writing into this directory" in err and str(out) in err
    finally:
        holder.kill()
        holder.wait()
    assert not (out / "variants").exists()


def test_bad_study_section_points_at_the_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = base_data()
    for node in data["nodes"]:
        node["tle"]["file"] = str(ROOT / "data" / "leo_snapshot.tle")
    text = yaml.safe_dump(data, sort_keys=False)
    model = tmp_path / "bad.yaml"
    model.write_text(
        text
        + "study:\n  vary:\n    - path: nodes.sat-9.battery.capacity_wh\n      values: [50, 100]\n"
    )
    err = cli_error(capsys, str(model), "-o", str(tmp_path / "out"))
    line = len(text.splitlines()) + 3
    assert f"{model}:{line}: study.vary[0].path: no item 'sat-9' in nodes" in err
    plain = tmp_path / "plain.yaml"
    plain.write_text(text)
    assert "no `study:` section" in cli_error(capsys, str(plain), "-o", str(tmp_path / "out"))
    model.write_text(
        text
        + "study:\n  vary:\n    - path: solver.method\n      values: [greedy]\n      range: [1, 2]\n"
    )
    assert "exactly one of `values` or `range`" in cli_error(
        capsys, str(model), "-o", str(tmp_path / "out")
    )


def test_path_edits_by_name_index_wildcard_and_item_sets() -> None:
    from rsmodel.studies.paths import remove_path, set_path

    data = copy.deepcopy(base_data())
    set_path(data, "nodes.sat-2.battery.capacity_wh", 250)
    set_path(data, "syncs.*.priority", "critical")
    set_path(data, "syncs[grad-3].deadline", "+6h")
    set_path(data, "nodes", 3)
    set_path(
        data,
        "ground_stations",
        ["chile", {"name": "hbk", "lat_deg": -25.9, "lon_deg": 27.7, "bandwidth_bps": 1.0e7}],
    )
    remove_path(data, "syncs.grad-5")
    set_path(data, "syncs.0.data_type", None)
    assert data["nodes"][1]["battery"] == {"capacity_wh": 250}
    assert [n["name"] for n in data["nodes"]] == ["sat-1", "sat-2", "sat-3"]
    assert [s["priority"] for s in data["syncs"]] == ["critical"] * 4
    assert data["syncs"][2]["deadline"] == "+6h" and "data_type" not in data["syncs"][0]
    assert [g["name"] for g in data["ground_stations"]] == ["chile", "hbk"]
    data["syncs"] = [s for s in data["syncs"] if s["node"] in {"sat-1", "sat-2", "sat-3"}]
    scenario = load_model_dict(data, base_dir=MODEL.parent, file=MODEL)  # still a valid model
    assert scenario.node("sat-2").battery.capacity_wh == 250
    assert scenario.syncs[2].deadline is not None


def test_energy_and_tier_kpis_of_a_compute_model_match_each_variant_alone(tmp_path: Path) -> None:
    model = ROOT / "models" / "compute_mixed.yaml"
    capacities = [20, 200]
    overrides = {
        "vary": [
            {"path": "nodes.iss.battery.capacity_wh", "name": "capacity_wh", "values": capacities}
        ]
    }
    ds = run_study(model, tmp_path / "out", workers=2, overrides=overrides).dataset
    assert (ds["status"] == "ok").all()
    for capacity in capacities:
        data = yaml.safe_load(model.read_text(encoding="utf-8"))
        data["nodes"][0]["battery"]["capacity_wh"] = capacity
        scenario = load_model_dict(data, base_dir=model.parent, file=model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plan = pipeline.run(scenario).plan.to_dict()
        lowest = min(min(s["soc"]) for s in plan["soc"].values())
        tiers = sorted(
            f"{job['name']}/{d['step_id']}={d['quality_tier']}"
            for job in plan["jobs"]
            for d in job["placement_decisions"]
            if d.get("quality_tier")
        )
        cell = ds.sel(capacity_wh=capacity)
        assert float(cell["min_soc"]) == pytest.approx(lowest)
        assert sorted(str(cell["tiers"].values).split(",")) == tiers and tiers
    assert float(ds["min_soc"].sel(capacity_wh=20)) < float(ds["min_soc"].sel(capacity_wh=200))
