"""Rolling-horizon compute planning (docs/compute.md, "Long horizons"): state carried across
block boundaries, checked against skyfield and an independent SOC integration."""

from __future__ import annotations

from dataclasses import astuple, replace
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from test_compute import (
    ROOT,
    TIERS_SEED,
    assert_soc_ok,
    model,
    reintegrate_soc,
    sky,
)

from rsmodel.compute import plan_jobs
from rsmodel.compute.report import jobs_report
from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.optimize.compute_auto import compute_strategy
from rsmodel.optimize.compute_problem import build_compute_problem
from rsmodel.optimize.compute_rolling import solve_compute_rolling
from rsmodel.optimize.compute_solve import solve_compute
from rsmodel.optimize.strategy import BLOCK_S, LOOKAHEAD_S, Rolling
from rsmodel.timeutil import parse_time

skyfield_refs = sky  # test_compute's fixture: skyfield timescale and ephemeris


def chain_steps() -> list[dict[str, Any]]:
    """14 steps in one dependency chain, mostly 20-min eclipse steps (one eclipse each, so the
    chain spans ~20 h), with a pass, a window and a ground step in it."""
    steps: list[dict[str, Any]] = []
    for i in range(14):
        step: dict[str, Any] = {
            "id": f"s{i}",
            "type": "eclipse",
            "compute_s": 1200,
            "energy_budget_wh": 20,
        }
        if i == 5:
            step = {"id": "s5", "type": "pass", "compute_s": 120, "output_mb": 5,
                    "max_segments": 3, "min_pass_duration_s": 300}  # fmt: skip
        if i == 9:
            step = {"id": "s9", "type": "window", "quality_tiers": TIERS_SEED,
                    "preferred_tier": "maximum"}  # fmt: skip
        if i == 13:
            step = {"id": "s13", "location": "ground", "compute_s": 600}
        if i:
            step["depends_on"] = [f"s{i - 1}"]
        steps.append(step)
    return steps


def solve(
    data: dict[str, Any],
    rolling: bool = True,
    block_s: float = BLOCK_S,
    lookahead_s: float = LOOKAHEAD_S,
) -> tuple[Any, Any, dict]:
    scenario = load_model_dict(data, base_dir=ROOT)
    problem = build_compute_problem(scenario, compute_geometry(scenario))
    # per node, Pyomo builds included (a shared 2-core machine builds a block in up to ~15 s)
    problem.settings = replace(
        problem.settings, time_limit_s=120.0, rolling=Rolling(block_s, lookahead_s)
    )
    solve_fn = solve_compute_rolling if rolling else solve_compute
    solution = solve_fn(problem)
    return scenario, solution, jobs_report(solution)


@pytest.fixture(scope="module")
def chain() -> tuple[Any, Any, dict]:
    """The chain over 40 h, default blocks (12 h + 6 h look-ahead)."""
    return solve(model(chain_steps(), hours=40, policy={"objective": "balanced"}))


def grid_index(response: dict[str, Any], time: str) -> int:
    return [parse_time(t) for t in response["soc"]["iss"]["times"]].index(parse_time(time))


def block_of(solution: Any, time: datetime) -> int:
    starts = [parse_time(s.extra["start"]) for s in solution.stages]
    return max(i for i, s in enumerate(starts) if s <= time)


# --------------------------------------------------------------------------- battery carry
def test_rolling_soc_is_physical_above_floor_and_continuous_at_boundaries(
    chain, skyfield_refs
) -> None:
    scenario, solution, response = chain
    assert solution.strategy == "rolling"
    assert sum(s.extra["committed"] > 0 for s in solution.stages) >= 2, "the plan does not roll"
    # equals skyfield-based re-integration of the chosen runs over the whole horizon, >= floor
    assert_soc_ok(scenario, response, skyfield_refs)
    cap = scenario.node("iss").battery.capacity_wh
    soc = reintegrate_soc(scenario, response, "iss", skyfield_refs)
    for stage in solution.stages:  # each block started from the plan's own physical SOC
        k = grid_index(response, stage.extra["start"])
        assert stage.extra["initial_soc_wh"] / cap == pytest.approx(soc[k], abs=1e-5)
    power = scenario.node("iss").power
    max_step = max(power.solar_charge_w, power.idle_w + power.compute_w) * 60 / 3600 / cap
    assert np.abs(np.diff(soc)).max() <= max_step + 1e-9, "SOC jumps between grid points"


# --------------------------------------------------------------------------- job progress carry
def test_dag_across_block_boundaries_keeps_precedence(chain) -> None:
    _, solution, response = chain
    by_id = {d["step_id"]: d for d in response["placement_decisions"]}
    assert all(d["status"] == "placed" for d in by_id.values()), [
        (d["step_id"], d["reason"]) for d in by_id.values() if d["status"] != "placed"
    ]
    crossings = 0
    for i in range(1, 14):
        pred, succ = by_id[f"s{i - 1}"], by_id[f"s{i}"]
        assert parse_time(succ["start"]) >= parse_time(pred["end"])
        crossings += block_of(solution, parse_time(succ["start"])) > block_of(
            solution, parse_time(pred["start"])
        )
    assert crossings >= 1, "no dependency crosses a block boundary"
    segs = by_id["s5"]["segments"]
    assert 1 <= len(segs) <= 3 and len({s["pass"]["id"] for s in segs}) == len(segs)
    runs = sorted(
        (parse_time(x["start"]), parse_time(x["end"]))
        for d in by_id.values()
        if d["location"] == "onboard"
        for x in (d["segments"] or [d])
    )
    assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False))


def test_pass_step_open_across_blocks_counts_committed_segments(skyfield_refs) -> None:
    """Short blocks: a pass step's segments land in several blocks, at most max_segments in all,
    one per pass, and its successor starts after the last one."""
    steps = [
        {"id": "collect", "type": "pass", "compute_s": 60, "output_mb": 10, "max_segments": 4,
         "min_pass_duration_s": 360, "merge_strategy": "concat"},
        {"id": "use", "compute_s": 120, "depends_on": ["collect"]},
    ]  # fmt: skip
    data = model(steps, hours=30, policy={"objective": "max_reliability"})
    scenario, solution, response = solve(data, block_s=3 * 3600.0, lookahead_s=3600.0)
    collect = next(d for d in response["placement_decisions"] if d["step_id"] == "collect")
    use = next(d for d in response["placement_decisions"] if d["step_id"] == "use")
    segs = collect["segments"]
    assert 1 <= len(segs) <= 4 and len({s["pass"]["id"] for s in segs}) == len(segs)
    assert len({block_of(solution, parse_time(s["start"])) for s in segs}) >= 2, (
        "the segments do not span blocks: the test does not exercise the carry"
    )
    assert use["status"] == "placed" and parse_time(use["start"]) >= parse_time(segs[-1]["end"])
    assert collect["output_mb"] == pytest.approx(10 * len(segs))
    assert_soc_ok(scenario, response, skyfield_refs)


def test_step_running_across_a_boundary_counted_once_and_drawn_in_both_blocks(
    skyfield_refs,
) -> None:
    steps = [{"id": f"r{i}", "compute_s": 5000} for i in range(7)]
    data = model(
        steps, hours=20, policy={"objective": "balanced"}, node={"power": {"compute_w": 5}}
    )
    scenario, solution, response = solve(data, block_s=8 * 3600.0, lookahead_s=4 * 3600.0)
    decisions = response["placement_decisions"]
    assert sorted(d["step_id"] for d in decisions) == sorted(s["id"] for s in steps)
    boundaries = [parse_time(s.extra["start"]) for s in solution.stages[1:]]
    across = [
        (d, b)
        for d in decisions
        if d["status"] == "placed"
        for b in boundaries
        if parse_time(d["start"]) < b < parse_time(d["end"])
    ]
    assert across, "no step runs across a block boundary: the test does not exercise it"
    d, b = across[0]
    stage = next(s for s in solution.stages if parse_time(s.extra["start"]) == b)
    after_s = (parse_time(d["end"]) - b).total_seconds()
    assert stage.extra["fixed_compute_wh"] == pytest.approx(5 * after_s / 3600)  # drawn in block k
    assert d["energy_wh"] == pytest.approx(5 * 5000 / 3600)  # whole run, once
    assert_soc_ok(scenario, response, skyfield_refs)  # the physical SOC draws all of it
    later = [x for x in decisions if x["status"] == "placed" and parse_time(x["start"]) >= b]
    assert all(parse_time(x["start"]) >= parse_time(d["end"]) for x in later if x is not d)


# --------------------------------------------------------------------------- vs monolithic
@pytest.mark.parametrize(
    "policy",
    [{"objective": "balanced"}, {"objective": "min_latency", "deadline_orbits": 9}],
    ids=["horizon-deadline", "deadline-in-block-2"],
)
def test_rolling_places_as_many_steps_as_monolithic(policy: dict[str, Any]) -> None:
    data = model(chain_steps(), hours=40, policy=policy)
    _, rolled, rolling = solve(data)
    _, _, mono = solve(data, rolling=False)

    def placed(r: dict) -> int:
        return sum(d["status"] == "placed" for d in r["placement_decisions"])

    assert placed(rolling) == placed(mono) >= 8
    if "deadline_orbits" in policy:  # the deadline (~14 h) lies in the second block
        assert any(parse_time(s.extra["start"]) < parse_time(rolling["jobs"][0]["deadline"])
                   for s in rolled.stages[1:] if s.extra["committed"])  # fmt: skip


# --------------------------------------------------------------------------- strategy
def test_strategy_choice_recorded_in_response_and_plan() -> None:
    from rsmodel.pipeline import run

    steps = [{"id": "a", "compute_s": 120}, {"id": "b", "compute_s": 60, "depends_on": ["a"]}]
    short = model(steps, hours=9.5)
    scenario = load_model_dict(short, base_dir=ROOT)
    geometry = compute_geometry(scenario)
    auto = plan_jobs(scenario, geometry)
    assert auto["solver"]["strategy"] == "monolithic"
    assert auto["solver"]["strategy_reason"] == "horizon 9.5 h fits one block"
    forced = load_model_dict({**short, "solver": {"strategy": "rolling"}}, base_dir=ROOT)
    rolled = plan_jobs(forced, geometry)
    assert rolled["solver"]["strategy"] == "rolling"
    assert rolled["solver"]["strategy_reason"] == "strategy rolling requested by the model"
    assert [d["start"] for d in rolled["placement_decisions"]] == [
        d["start"] for d in auto["placement_decisions"]
    ]
    plan = run(forced, geometry=geometry).plan
    assert plan.solver["jobs"]["strategy"] == "rolling"
    assert plan.solver["jobs"]["strategy_reason"] == "strategy rolling requested by the model"
    long = load_model_dict(model(steps, hours=40), base_dir=ROOT)
    problem = build_compute_problem(long, compute_geometry(long))
    strategy, why = astuple(compute_strategy(problem))
    assert strategy == "monolithic" and "options on the largest node" in why
    assert compute_strategy(with_strategy(problem, "monolithic")).strategy == "monolithic"
    many = [{"id": f"m{i}", "compute_s": 60} for i in range(12)]  # ~2 400 starts each
    busy = load_model_dict(model(many, hours=40, policy={"objective": "balanced"}), base_dir=ROOT)
    problem = build_compute_problem(busy, compute_geometry(busy))
    strategy, why = astuple(compute_strategy(problem))
    assert strategy == "rolling" and why.startswith("horizon 40 h > 18 h and ")
    assert astuple(compute_strategy(with_strategy(problem, "monolithic"))) == (
        "monolithic",
        "strategy monolithic requested by the model",
    )


def with_strategy(problem: Any, strategy: str) -> Any:
    """A copy of ``problem`` with the model's ``solver.strategy`` set to ``strategy``."""
    return replace(problem, settings=replace(problem.settings, strategy=strategy))


def test_battery_emptied_by_idle_bus_plans_without_infeasible_blocks(skyfield_refs) -> None:
    """A node whose idle bus alone empties its battery (SOC below zero without compute): no
    block MILP is infeasible (before: the reserve row asked SOC >= 0), no step draws below the
    idle floor, and the blocks after the battery is at that floor are settled without a MILP
    (their options are dropped before the greedy plan and the bound)."""
    node = {
        "battery": {"capacity_wh": 100, "initial_soc": 0.5, "min_soc": 0.3},
        "power": {"compute_w": 100, "idle_w": 80, "solar_charge_w": 20},
    }
    data = model(chain_steps(), hours=30, policy={"objective": "balanced"}, node=node)
    scenario, solution, response = solve(data)
    assert all(s.status.value != "infeasible" for s in solution.stages)
    assert solution.status.value != "infeasible"
    assert_soc_ok(scenario, response, skyfield_refs)
    later = [s for s in solution.stages[1:] if s.sizes["options"]]
    assert later and all(s.extra["plan"] == "greedy" for s in later)
    assert all(s.status.value == "optimal" for s in later)
