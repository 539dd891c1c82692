"""The stated bound and gap (``solver.bound``, ``solver.gap_global``; docs/optimisation-scale.md,
"The top class's own bound"): never above what a plan can reach, and tight where the plan is
optimal. The ISS over dongara as in tests/test_joint.py (100 Mbit/s, a 300 W transmitter on a
100 Wh battery); real HiGHS, real skyfield."""

from __future__ import annotations

import copy
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_joint import standard_step

from rsmodel import pipeline
from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.optimize.auto import solve_auto
from rsmodel.optimize.bound import stage_bound
from rsmodel.optimize.objective import class_scores
from rsmodel.optimize.problem import problem_from_scenario
from rsmodel.optimize.solve import solve_problem
from rsmodel.optimize.stage_lp import stage_lp_bound
from rsmodel.optimize.state import LinkState

ROOT = Path(__file__).resolve().parents[1]
STATIONS = ("dongara", "santiago", "singapore", "hartebeesthoek")


def syncs_only(size_bytes: float, *, battery: bool = False) -> dict[str, Any]:
    """The ISS for 12 h over four stations (more than six windows) with one critical sync;
    ``battery``: a 100 Wh battery feeding a 300 W transmitter (the bound LPs ignore it)."""
    node: dict[str, Any] = {"name": "iss", "tle": {"norad": 25544}}
    if battery:
        node["battery"] = {"capacity_wh": 100, "initial_soc": 0.5, "min_soc": 0.3}
        node["power"] = {"solar_charge_w": 25, "idle_w": 15, "tx_power_w": 300}
    return {
        "name": "gap-bound",
        "horizon": {"start": "2026-05-30T06:00:00Z", "hours": 12, "step_s": 60},
        "ground_stations": [{"name": s, "station": s, "bandwidth_bps": 1.0e8} for s in STATIONS],
        "nodes": [node],
        "syncs": [{"id": "dump", "node": "iss", "data_size": size_bytes, "priority": "critical"}],
        "solver": {"time_limit_s": 60},
    }


@pytest.fixture(scope="module")
def problem_of():
    geometry: dict[str, Any] = {}

    def build(model: dict[str, Any], **settings: Any):
        scenario = load_model_dict(copy.deepcopy(model), base_dir=ROOT / "models")
        key = repr(model["nodes"])
        if key not in geometry:
            geometry[key] = compute_geometry(scenario)
        problem = problem_from_scenario(scenario, geometry[key])
        problem.settings = replace(problem.settings, **settings)
        return problem

    return build


def optimum(problem) -> float:
    """F of the plan of the unrestricted staged MILP solved to a zero gap: at least the
    optimum of F, so every valid bound is below it."""
    exact = copy.copy(problem)
    exact.settings = replace(problem.settings, mip_gap=0.0, reach_factor=None)  # unrestricted
    return float(sum(class_scores(exact, solve_problem(exact).state)))


def test_decomposed_gap_is_tight_where_its_plan_is_optimal() -> None:
    """The decomposed battery plan was stated 17.48 % off (the LP bound ignores the battery)
    although its only stage was solved to optimality; the stage MILP's own bound says 0.06 %."""
    model = copy.deepcopy(standard_step())
    model["solver"] = {"time_limit_s": 60, "compute_downlink": "decomposed"}
    scenario = load_model_dict(model, base_dir=ROOT / "models")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solver = pipeline.run(scenario).plan.to_dict()["solver"]
    assert solver["status"] == "optimal"
    assert solver["bound"] <= solver["objective"] + 1e-12
    assert solver["gap_global"] < 0.01
    assert any("its stage MILP's dual bound" in n for n in solver["notes"])


@pytest.mark.parametrize("battery", [False, True])
def test_stated_bound_is_below_the_optimum_and_tight(problem_of, battery: bool) -> None:
    """With the battery the bound LPs, which ignore it, are far below the optimum; the stage
    MILP's dual bound is used there (no dive, no recorder, nothing above)."""
    problem = problem_of(syncs_only(20e9, battery=battery))
    schedule = solve_auto(problem)
    best = optimum(problem)
    assert schedule.solver.bound <= best * (1 + 1e-9)
    assert schedule.solver.gap_global < 0.005


def test_stage_model_lp_is_not_used_for_a_plan_breaking_the_battery(problem_of) -> None:
    """A plan made without the battery sends more than the 100 Wh battery allows (even with a
    tenth of its bytes left out): it is no point of the stage model, whose LP relaxation is
    then above the plan's own score. The stated bound stays at or below the score, says why,
    and keeps the coarse LP's value."""
    problem = problem_of(syncs_only(20e9, battery=True))
    free = problem_of(syncs_only(20e9, battery=False))
    plan = solve_problem(free).state
    plan.problem = problem
    plan.pair_bytes *= 0.9
    (score,) = class_scores(problem, plan)
    higher = LinkState.empty(problem)
    higher.begin_stage(int(problem.demand_rank[0]))
    assert stage_lp_bound(problem, higher, np.arange(len(problem.demands)), 60.0) > 2 * score
    _, parts = stage_bound(problem, plan, time_limit_s=60, stage_lp={})
    assert parts[0]["bound"] <= score * (1 + 1e-9)
    assert "is above the plan: not used" in parts[0]["by"]
    assert not parts[0]["by"].startswith("the LP relaxation of its stage model")
