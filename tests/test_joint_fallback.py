"""A joint plan whose rolling blocks fall back to greedy is still a plan its checker accepts, and
a joint plan the checker rejects is never kept (docs/compute.md, "Joint compute + downlink
model", "Gaps").

``fleet_week(1, 2)`` of benchmarks/bench_joint.py (one EO satellite of models/recorder_power.yaml,
a 300 GB recorder with sources, transmitter power, one capture -> process -> compress -> ground
job a day; the 40 MB ``compress`` output goes down through the recorder) in 4 rolling blocks at a
1 s limit: every block keeps the greedy plan of its compute plan. Before, that greedy sent each
output from its step's *earliest* end, so the plan rebuilt on the outputs as placed dropped
those bytes (the output was never delivered) and the recorder overflowed by it without a
reported loss. Real HiGHS, real skyfield; every plan judged by ``check_plan`` with the scenario.
"""

from __future__ import annotations

import copy
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from rsmodel import pipeline
from rsmodel.compute import solve_jobs
from rsmodel.compute.joint import plan_jobs_and_downlinks, plan_joint
from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.plan.check import check_plan
from rsmodel.plan.check_recorder import check_recorder
from rsmodel.timeutil import parse_time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_joint import battery, fleet_week  # noqa: E402


def load(data: dict[str, Any], **solver: Any) -> Any:
    return load_model_dict({**copy.deepcopy(data), "solver": solver}, base_dir=ROOT / "models")


@pytest.fixture(scope="module")
def week() -> tuple[Any, Any]:
    scenario = load(fleet_week(1, 2), time_limit_s=1.0, compute_downlink="joint",
                    strategy="rolling")  # fmt: skip
    return scenario, compute_geometry(scenario)


@pytest.fixture(scope="module")
def joint_plan(week) -> dict[str, Any]:
    """The rolling joint plan itself (whichever plan the choice would keep), as ``rsmodel run``
    writes it."""
    scenario, geometry = week
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planned = plan_joint(scenario, geometry, solve_jobs(scenario, geometry)).planned
    plan, _ = pipeline.assemble(scenario, geometry, planned.schedule, planned)
    return plan.to_dict()


def test_a_rolling_joint_plan_of_greedy_blocks_passes_its_checker(week, joint_plan) -> None:
    scenario, _ = week
    note = next(n for n in joint_plan["solver"]["notes"] if "blocks kept" in n)
    assert int(re.search(r"(\d+) blocks kept a stage's greedy", note)[1]) >= 1  # the fallback ran
    # operations, recorder fill re-integrated with each output entering when its step ends
    # (losses reported where it overflows), SOC re-integrated
    assert check_plan(joint_plan, scenario=scenario) == []
    assert check_recorder(joint_plan, scenario) == []


def test_greedy_blocks_deliver_each_output_after_its_step_ends(joint_plan) -> None:
    """No byte of an output is sent before its step ends, so the rebuilt plan drops none: every
    placed output reaches the ground (before the fix 1 of 2 did)."""
    downs = joint_plan["job_downlinks"]
    assert len(downs) == 2
    assert all(d["status"] == "complete" for d in downs)
    for d in downs:
        ops = [o for o in joint_plan["operations"] if o["sync_id"] == d["id"]]
        assert ops and min(parse_time(o["start"]) for o in ops) >= parse_time(d["release"])
        assert sum(o["bytes"] for o in ops) == pytest.approx(d["data_size_bytes"], abs=1.0)


def test_run_keeps_a_valid_plan_and_says_which(week) -> None:
    scenario, geometry = week
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = pipeline.run(scenario, geometry=geometry).plan.to_dict()
    assert check_plan(plan, scenario=scenario) == []
    assert any(n.endswith("plan kept") for n in plan["solver"]["notes"])
    assert not any("fails the plan checker" in n for n in plan["solver"]["notes"])


def test_a_joint_plan_the_checker_rejects_is_not_kept() -> None:
    """The ISS battery instance, where the joint plan scores better and is kept (tests/
    test_joint.py); given a check that finds a fault in it (the real checker on that plan with
    one operation's bytes doubled: more than its link carries), the decomposed plan is kept and
    the note says why."""
    scenario = load(battery(), time_limit_s=60.0, compute_downlink="joint")
    geometry = compute_geometry(scenario)
    seen = []

    def faulty(planned) -> list[str]:
        seen.append(planned.mode)
        plan = pipeline.assemble(scenario, geometry, planned.schedule, copy.deepcopy(planned))
        data = plan[0].to_dict()
        data["operations"][0]["bytes"] *= 2
        return check_plan(data, scenario=scenario)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = plan_jobs_and_downlinks(scenario, geometry, check=faulty)
        valid = plan_jobs_and_downlinks(
            scenario, geometry, check=lambda p: pipeline.findings(scenario, geometry, p)
        )
    assert seen == ["joint"]  # only a joint plan that would be kept is checked
    assert kept.mode == "decomposed"
    note = kept.schedule.solver.notes[-1]
    assert "the joint plan fails the plan checker (" in note
    assert note.endswith("decomposed plan kept")
    assert valid.mode == "joint"  # the real checker accepts the joint plan: it is kept
    assert valid.schedule.solver.notes[-1].endswith("joint plan kept")
