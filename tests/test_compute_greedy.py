"""The greedy list scheduler of compute jobs (``solver.method: greedy``; the MILP's warm start and
fallback): its plans are feasible, checked against skyfield and an independent SOC integration,
and the MILP never places fewer steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from test_compute import (
    ISS_START,
    TIERS_SEED,
    assert_soc_ok,
    eclipse_step,
    highest_fitting,
    model,
    plan,
    reintegrate_soc,
    sky,
    skyfield_sunlit,
)

from rsmodel.model.compute_schema import POLICY_SHARE
from rsmodel.timeutil import parse_time

skyfield_refs = sky  # test_compute's fixture: skyfield timescale and ephemeris

DAG = [
    {"id": "capture", "type": "pass", "merge_strategy": "concat", "min_pass_duration_s": 120,
     "max_segments": 2, "compute_s": 60, "output_mb": 20},
    {"id": "prep", "compute_s": 240, "output_mb": 5},
    {"id": "process", "type": "window", "preferred_tier": "maximum", "quality_tiers": TIERS_SEED,
     "depends_on": ["capture", "prep"]},
    {"id": "compress", "type": "eclipse", "energy_budget_wh": 10, "compute_s": 120,
     "depends_on": ["process"]},
    {"id": "package", "compute_s": 60, "output_mb": 200, "depends_on": ["compress", "prep"]},
    {"id": "analyse", "location": "ground", "compute_s": 600, "depends_on": ["package"]},
    {"id": "second", "type": "window", "quality_tiers": TIERS_SEED, "min_tier": "standard",
     "depends_on": ["package"]},
]  # fmt: skip
ECLIPSES = [
    eclipse_step(f"e{i}", eclipse_policy=pol, priority=i)
    for i, pol in enumerate(["conservative", "balanced", "aggressive", "balanced"])
]
SMALL_BATTERY = {
    "battery": {"capacity_wh": 30, "initial_soc": 0.6},
    "power": {"compute_w": 150, "idle_w": 10},
    "memory_mb": 1500,
}


def solved(steps: list[dict[str, Any]], method: str, node: dict | None = None) -> tuple:
    data = model(steps, node=node, policy={"objective": "balanced", "deadline_orbits": 5})
    data["solver"] = {"method": method, "time_limit_s": 60}
    scenario, geometry, response = plan(data)
    return scenario, geometry, response


@pytest.mark.parametrize(
    ("steps", "node"), [(DAG, {"memory_mb": 1500}), (ECLIPSES + DAG, SMALL_BATTERY)],
    ids=["dag", "dag-and-eclipses-small-battery"],
)  # fmt: skip
def test_greedy_plan_is_feasible(steps: list[dict], node: dict, skyfield_refs) -> None:
    scenario, geometry, response = solved(steps, "greedy", node)
    assert response["solver"]["method"] == "greedy"
    assert response["solver"]["status"] == "heuristic"
    by_id = {d["step_id"]: d for d in response["placement_decisions"]}
    placed = {k: d for k, d in by_id.items() if d["status"] == "placed"}
    assert len(placed) >= len(steps) - 2
    deadline = parse_time(response["jobs"][0]["deadline"])
    times = [parse_time(t) for t in response["soc"]["iss"]["times"]]
    soc = reintegrate_soc(scenario, response, "iss", skyfield_refs)
    assert_soc_ok(scenario, response, skyfield_refs)  # floor, capacity, min_battery_soc
    for s in steps:  # DAG order; a successor of a missed step is missed
        for dep in s.get("depends_on", []):
            if s["id"] in placed:
                assert dep in placed
                assert parse_time(placed[s["id"]]["start"]) >= parse_time(placed[dep]["end"])
    runs = sorted(
        (parse_time(x["start"]), parse_time(x["end"]))
        for d in placed.values()
        if d["location"] == "onboard"
        for x in (d["segments"] or [d])
    )
    assert all(a[1] <= b[0] for a, b in zip(runs, runs[1:], strict=False))
    windows = geometry.windows.set_index("id")
    for d in placed.values():
        assert parse_time(d["end"]) <= deadline
        step = next(s for s in steps if s["id"] == d["step_id"])
        if d["kind"] == "pass":  # segments inside long passes, one per pass, at most max
            assert 1 <= len(d["segments"]) <= step["max_segments"]
            assert len({x["pass"]["id"] for x in d["segments"]}) == len(d["segments"])
            for x in d["segments"]:
                w = windows.loc[x["pass"]["id"]]
                assert w["duration_s"] >= step["min_pass_duration_s"]
                assert w["start"] <= parse_time(x["start"]) and parse_time(x["end"]) <= w["end"]
        if d["kind"] == "window":  # the highest tier that fits what is left of the window
            window = [parse_time(d["interval"][k]) for k in ("start", "end")]
            assert skyfield_sunlit(scenario, "iss", window, skyfield_refs).all()
            ready = max(
                [parse_time(ISS_START)] + [parse_time(placed[x]["end"]) for x in step["depends_on"]]
            )
            ready += timedelta(seconds=(-ready.second) % 60)  # the grid is whole minutes
            remaining = (window[1] - max(ready, window[0])).total_seconds()
            hi = step.get("preferred_tier", "maximum")
            expected = highest_fitting(
                TIERS_SEED, remaining, 1500, step.get("min_tier", "minimal"), hi
            )
            assert d["quality_tier"] == expected
        if d["kind"] == "eclipse":  # darkness, budget and the policy share of every Wh drawn
            start, end = parse_time(d["start"]), parse_time(d["end"])
            assert not skyfield_sunlit(scenario, "iss", [start, end], skyfield_refs).any()
            assert d["energy_wh"] <= step["energy_budget_wh"] + 1e-9
            a, b = (times.index(parse_time(d["interval"][k])) for k in ("start", "end"))
            cap = scenario.node("iss").battery.capacity_wh
            power = scenario.node("iss").power
            used_wh = sum(  # compute drawn inside the eclipse by every run
                power.compute_w
                / 3600
                * max(0.0, (min(y, times[b]) - max(x, times[a])).total_seconds())
                for x, y in runs
            )
            eclipse_s = (times[b] - times[a]).total_seconds()
            budget = (
                soc[a] - step.get("min_battery_soc", 0.2)
            ) * cap - power.idle_w * eclipse_s / 3600
            share = POLICY_SHARE[step.get("eclipse_policy", "balanced")]
            assert used_wh <= share * budget + 1e-6


def test_milp_never_places_fewer_steps_than_greedy() -> None:
    placed = {}
    for method in ("greedy", "milp"):
        _, _, response = solved(ECLIPSES + DAG, method, SMALL_BATTERY)
        placed[method] = sum(d["status"] == "placed" for d in response["placement_decisions"])
        if method == "milp":
            (stage,) = response["solver"]["stages"]
            assert stage["greedy_options"] > 0 and stage["mip_gap"] is not None
    assert placed["milp"] >= placed["greedy"]


def test_pruning_keeps_the_optimum_and_the_greedy_gap_is_against_a_valid_bound() -> None:
    """Dropping options no plan could use leaves the MILP optimum unchanged; the greedy plan's
    objective (evaluated without a model) is at most that optimum, the combinatorial bound at
    least; the evaluator gives the model's objective at the MILP's own plan."""
    from test_compute import ROOT

    from rsmodel.geometry import compute_geometry
    from rsmodel.model.loader import load_model_dict
    from rsmodel.optimize.compute_greedy import greedy_view
    from rsmodel.optimize.compute_model import build_compute_model
    from rsmodel.optimize.compute_problem import build_compute_problem
    from rsmodel.optimize.compute_solve import node_view, option_subset
    from rsmodel.optimize.compute_value import feasible_options, objective_bound, objective_value
    from rsmodel.optimize.gateway import HighsModel
    from rsmodel.optimize.status import SolveOptions

    data = model(DAG, node={"memory_mb": 1500}, policy={"deadline_orbits": 3}, hours=5)
    scenario = load_model_dict(data, base_dir=ROOT)
    view, _ = node_view(build_compute_problem(scenario, compute_geometry(scenario)), "iss")
    keep = np.flatnonzero(feasible_options(view))
    pruned = option_subset(view, keep)
    assert len(keep) < len(view.options.step)

    def optimum(p):  # noqa: ANN001, ANN202
        m = build_compute_model(p)
        solver = HighsModel.from_pyomo(m, SolveOptions(time_limit_s=120, mip_gap=0.0))
        result = solver.run()
        assert result.status == "optimal"
        b = m.compute
        x = solver.values(solver.columns_of([b.x[c] for c in b.O]))
        f = solver.values(solver.columns_of([b.f[c] for c in b.PO]))
        chosen = np.array([c for c, v in zip(b.O, x, strict=True) if v > 0.5], dtype=int)
        return result.objective, chosen, {c for c, v in zip(b.PO, f, strict=True) if v > 0.5}

    best, chosen, last = optimum(view)
    assert optimum(pruned)[0] == pytest.approx(best, rel=1e-6)
    assert objective_value(view, chosen, last) == pytest.approx(best, rel=1e-6)
    greedy = greedy_view(pruned)
    assert objective_value(pruned, greedy.chosen, greedy.last) <= best + 1e-6
    assert objective_bound(pruned) >= best - 1e-6
