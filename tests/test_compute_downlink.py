"""Job outputs that go to ground compete with syncs in the sync scheduler (docs/compute.md).

One ISS pass (weilheim, 1 MB/s, ~400 MB) carries a 300 MB sync and a 300 MB job output that a
ground step needs: the class that wins is decided by priority, every plan passes the independent
checker, and the ground step starts only after its input's last downlinked byte.
"""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rsmodel import pipeline
from rsmodel.model.loader import load_model_dict
from rsmodel.plan.check import check_plan
from rsmodel.timeutil import parse_time

ROOT = Path(__file__).resolve().parents[1]
JOB_OUTPUT = "job:survey/make"


def contest_model(sync_priority: str, job_priority: str) -> dict[str, Any]:
    """1 h from the ISS epoch: one weilheim pass (12:40-12:47 UTC, ~402 MB at 8 Mbps)."""
    return {
        "name": "downlink-contest",
        "horizon": {"start": "2026-05-30T12:25:00Z", "hours": 1.0, "step_s": 60},
        "ground_stations": [{"name": "weilheim", "station": "weilheim", "bandwidth_bps": 8.0e6}],
        "nodes": [{"name": "iss", "tle": {"norad": 25544}}],
        "syncs": [
            {"id": "telemetry", "node": "iss", "data_size": 300.0e6, "priority": sync_priority}
        ],
        "jobs": [
            {
                "name": "survey",
                "node": "iss",
                "priority": job_priority,
                "steps": [
                    {"id": "make", "compute_s": 60, "output_mb": 300},
                    {
                        "id": "analyse",
                        "location": "ground",
                        "depends_on": ["make"],
                        "compute_s": 300,
                    },
                ],
            }
        ],
    }


def plan_of(model: dict[str, Any]) -> dict[str, Any]:
    scenario = load_model_dict(model, base_dir=ROOT / "models")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline.run(scenario).plan.to_dict()


def delivered(plan: dict[str, Any], demand_id: str) -> float:
    """Bytes of a demand summed from plan.operations (not from the outcome entries)."""
    return sum(o["bytes"] for o in plan["operations"] if o["sync_id"] == demand_id)


def last_byte_at(plan: dict[str, Any], demand_id: str) -> Any:
    return max(parse_time(o["end"]) for o in plan["operations"] if o["sync_id"] == demand_id)


def decision(plan: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(
        d for j in plan["jobs"] for d in j["placement_decisions"] if d["step_id"] == step_id
    )


@pytest.fixture(scope="module")
def critical_sync_plan() -> dict[str, Any]:
    return plan_of(contest_model("critical", "normal"))


@pytest.fixture(scope="module")
def high_job_plan() -> dict[str, Any]:
    return plan_of(contest_model("low", "high"))


def test_the_pass_cannot_carry_both(critical_sync_plan: dict[str, Any]) -> None:
    (window,) = critical_sync_plan["windows"]
    assert 300e6 < window["capacity_bytes"] < 600e6


def test_critical_sync_wins_and_the_job_output_is_partial_with_a_reason(
    critical_sync_plan: dict[str, Any],
) -> None:
    plan = critical_sync_plan
    assert check_plan(plan) == []
    (window,) = plan["windows"]
    assert delivered(plan, "telemetry") == pytest.approx(300e6, abs=1)
    got = delivered(plan, JOB_OUTPUT)
    assert 0 < got < 300e6 - 1
    # the job output gets what the critical sync leaves of the pass
    assert got + 300e6 == pytest.approx(window["capacity_bytes"], rel=1e-3)
    (down,) = plan["job_downlinks"]
    assert (down["id"], down["kind"], down["priority"]) == (JOB_OUTPUT, "job_output", "normal")
    assert down["status"] == "partial" and "higher-priority" in down["reason"]
    assert plan["kpis"]["delivered_bytes_by_priority"]["normal"] == pytest.approx(got)
    assert plan["kpis"]["job_downlinks"]["partial_count"] == 1
    # the ground step cannot run on a partial input: missed, with the downlink's reason
    analyse = decision(plan, "analyse")
    assert analyse["status"] == "missed" and "input make downlink partial" in analyse["reason"]
    types = [e["type"] for e in plan["job_events"] if e["step_id"] == "analyse"]
    assert types == ["step.deferred"]
    assert plan["jobs"][0]["status"] == "partial"


def test_high_priority_job_output_goes_before_a_low_sync(high_job_plan: dict[str, Any]) -> None:
    plan = high_job_plan
    assert check_plan(plan) == []
    assert delivered(plan, JOB_OUTPUT) == pytest.approx(300e6, abs=1)
    assert 0 < delivered(plan, "telemetry") < 300e6 - 1
    (down,) = plan["job_downlinks"]
    assert down["status"] == "complete" and down["priority"] == "high"
    assert plan["syncs"][0]["status"] == "partial"
    # the output is released when the onboard step ends, not before
    make = decision(plan, "make")
    first = min(parse_time(o["start"]) for o in plan["operations"] if o["sync_id"] == JOB_OUTPUT)
    assert first >= parse_time(make["end"])


def test_ground_step_starts_after_its_inputs_last_downlinked_byte(
    high_job_plan: dict[str, Any],
) -> None:
    analyse = decision(high_job_plan, "analyse")
    assert analyse["status"] == "placed"
    down_at = last_byte_at(high_job_plan, JOB_OUTPUT)
    assert parse_time(analyse["start"]) >= down_at
    # the next grid time (step_s = 60 s): it does not wait longer than one step
    assert parse_time(analyse["start"]) - down_at < timedelta(seconds=60)
    started = next(
        e
        for e in high_job_plan["job_events"]
        if e["step_id"] == "analyse" and e["type"] == "step.started"
    )
    assert parse_time(started["time"]) == parse_time(analyse["start"])


def test_checker_flags_job_output_operations_without_their_entry(
    high_job_plan: dict[str, Any],
) -> None:
    plan = {k: v for k, v in high_job_plan.items() if k != "job_downlinks"}
    assert any(f"unknown sync {JOB_OUTPUT!r}" in p for p in check_plan(plan))


def test_run_cli_shows_the_job_downlink_in_operations(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = cli("run", str(ROOT / "models" / "compute_mixed.yaml"), "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert "Job downlinks: 1 complete, 0 partial, 0 unmet" in res.stdout
    plan = json.loads((out / "plan.json").read_text())
    assert check_plan(plan) == []
    ids = {o["sync_id"] for o in plan["operations"]}
    assert "job:imaging/package" in ids and "telemetry" in ids
    assert plan["job_downlinks"][0]["status"] == "complete"
    analyse = decision(plan, "analyse")
    assert parse_time(analyse["start"]) >= last_byte_at(plan, "job:imaging/package")


def test_greedy_method_gives_the_same_precedence() -> None:
    model = {**contest_model("critical", "normal"), "solver": {"method": "greedy"}}
    plan = plan_of(model)
    assert plan["solver"]["method"] == "greedy"
    assert check_plan(plan) == []
    assert delivered(plan, "telemetry") == pytest.approx(300e6, abs=1)
    assert plan["job_downlinks"][0]["status"] == "partial"
    assert decision(plan, "analyse")["status"] == "missed"
