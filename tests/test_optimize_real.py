"""The optimiser on real geometry (seed 000 example, shipped TLEs): plans pass the checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model
from rsmodel.optimize import optimise
from rsmodel.plan.check import check_plan
from tests.conftest import assert_exact_timeline

SEED = Path(__file__).resolve().parents[1] / "models" / "seed_sync.yaml"


@pytest.fixture(scope="module")
def seed():
    scenario = load_model(SEED)
    return scenario, compute_geometry(scenario)


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_seed_example_plan_is_feasible_and_complete(seed, method):
    scenario, geometry = seed
    schedule = optimise(scenario, geometry, method=method)
    assert check_plan(schedule.plan_dict()) == []
    assert_exact_timeline(schedule.plan_dict())
    assert {o.status for o in schedule.outcomes.values()} == {"complete"}
    assert schedule.solver.method == method
    window_ids = set(geometry.windows["id"])
    assert all(o.window_id in window_ids for o in schedule.operations)


def test_seed_milp_reports_a_proven_gap_within_the_requested_one(seed):
    scenario, geometry = seed
    schedule = optimise(scenario, geometry)
    assert schedule.solver.status == "optimal"
    assert (
        schedule.solver.mip_gap is not None
        and schedule.solver.mip_gap <= scenario.model.solver.mip_gap
    )
    assert schedule.solver.bound <= schedule.solver.objective + 1e-12


def test_plan_json_from_the_pipeline_passes_the_checker(seed):
    from rsmodel.pipeline import run

    scenario, geometry = seed
    plan = run(scenario, geometry=geometry).plan.to_dict()
    assert check_plan(plan) == []
    assert_exact_timeline(plan)


def test_grid_matches_operations(seed):
    scenario, geometry = seed
    schedule = optimise(scenario, geometry)
    grid = schedule.grid
    assert grid["bytes"].sum().item() == pytest.approx(
        sum(o.bytes for o in schedule.operations), rel=1e-9
    )
    assert set(grid["station"].values) == {s.name for s in scenario.stations}
    assert ((grid["bytes"] > 0) <= (grid["link"] > 0)).all()
