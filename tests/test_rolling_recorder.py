"""The rolling horizon with recorders and transmitter power (docs/recorder.md, docs/optimisation.md).

Two Earth-observation nodes (real TLEs) over two real stations for 8 h, blocks of 2 h + 1 h
look-ahead (4 blocks, 3 block edges), real HiGHS. The plan's recorder fill and SOC curves are
compared with a numpy re-integration written here from the plan's operations and eclipses and
the geometry's production (rsmodel.geometry.production), and the plan goes through the
independent checker (rsmodel.plan.check_recorder); nothing is read from the optimiser's models.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.geometry.production import production
from rsmodel.model.loader import load_model_dict
from rsmodel.optimize import problem_from_scenario, solve_problem
from rsmodel.optimize.auto import sync_strategy
from rsmodel.optimize.bound import any_plan_bound, attach_bound
from rsmodel.optimize.objective import total_objective
from rsmodel.optimize.onboard import Onboard, Source
from rsmodel.optimize.rolling import solve_rolling
from rsmodel.optimize.strategy import Rolling
from rsmodel.plan.check import check_plan
from rsmodel.plan.dataset import plan_dataset
from rsmodel.plan.plan import build_plan
from rsmodel.timeutil import parse_time
from tests.conftest import DATA, ROOT

HOURS = 8
STEP_S = 60.0
BLOCKS = Rolling(2 * 3600.0, 3600.0)
CAPACITY = 1.5e10  # the 10 GB initial fill (normal) leaves 5 GB for the imager (high)
BATTERY_WH, MIN_SOC, SOLAR_W, IDLE_W, TX_W, WARMUP_S = 60.0, 0.5, 35.0, 20.0, 120.0, 90.0
MODEL = {
    "name": "rolling-recorder",
    "horizon": {"start": "2026-05-30T00:00:00Z", "hours": HOURS, "step_s": STEP_S},
    "ground_stations": [
        {"name": "svalsat", "station": "svalsat", "bandwidth_bps": 2e8},
        {"name": "singapore", "station": "singapore", "bandwidth_bps": 1e8},
    ],
    "nodes": [
        {
            "from_tle": {"file": str(DATA / "celestrak_resource_2026-05-30T2250Z.tle"), "limit": 2},
            "battery": {"capacity_wh": BATTERY_WH, "initial_soc": 0.8, "min_soc": MIN_SOC},
            "power": {
                "solar_charge_w": SOLAR_W,
                "idle_w": IDLE_W,
                "tx_power_w": TX_W,
                "tx_warmup_s": WARMUP_S,
            },
            "recorder": {
                "capacity_bytes": CAPACITY,
                "initial_fill_bytes": 1.0e10,
                "initial_priority": "normal",
                "sources": [
                    {
                        "name": "imager",
                        "rate_bps": 1.5e7,
                        "priority": "high",
                        "active": {"sunlit": True},
                    },
                    {
                        "name": "survey",
                        "rate_bps": 2.0e6,
                        "priority": "low",
                        "on_full": "overwrite_oldest",
                        "active": {"duty_cycle": {"on_s": 60, "period_s": 60}},
                    },
                ],
            },
        }
    ],  # fmt: skip
    "syncs": [],
    "solver": {"time_limit_s": 30},
}


@pytest.fixture(scope="module")
def solved():
    """The scenario, its geometry, the problem, and its rolling and monolithic schedules."""
    scenario = load_model_dict(MODEL, base_dir=ROOT)
    geometry = compute_geometry(scenario)
    problem = problem_from_scenario(scenario, geometry)
    problem.settings = replace(problem.settings, rolling=BLOCKS)
    return scenario, geometry, problem, solve_rolling(problem), solve_problem(problem)


@pytest.fixture(scope="module")
def rolled(solved):
    """The rolling schedule as plan.json (as ``pipeline.run`` assembles it) and plan.nc."""
    scenario, geometry, _, schedule, _ = solved
    plan = build_plan(scenario, geometry, schedule.operations, dict(schedule.solver))
    plan.extra.update(schedule.onboard)
    return plan.to_dict(), plan_dataset(plan, schedule.grid)


def edges_s() -> np.ndarray:
    return np.arange(HOURS * 3600 / STEP_S + 1) * STEP_S


def seconds(text: str) -> float:
    return (parse_time(text) - parse_time(MODEL["horizon"]["start"])).total_seconds()


def sent_per_slot(plan: dict, node: str) -> np.ndarray:
    """Bytes the node downlinks per slot, each operation spread evenly over its span."""
    edges = edges_s()
    out = np.zeros(len(edges) - 1)
    for op in plan["operations"]:
        if op["node"] == node:
            a, b = seconds(op["start"]), seconds(op["end"])
            overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0, None)
            out += op["bytes"] * overlap / (b - a)
    return out


def soc_reintegrated(plan: dict, node: str) -> tuple[np.ndarray, np.ndarray]:
    """SOC (Wh) at the slot edges and its floor: solar in slots starting sunlit (the plan's
    eclipses), idle always, the transmitter during each operation and ``WARMUP_S`` before it
    (on across gaps up to the warm-up), clipped at capacity; floor min(min_soc, idle-only)."""
    edges = edges_s()
    dark = [(seconds(e["start"]), seconds(e["end"])) for e in plan["eclipses"] if e["node"] == node]
    sunlit = np.array([not any(a <= t < b for a, b in dark) for t in edges[:-1]])
    spans = sorted(
        (seconds(o["start"]), seconds(o["end"])) for o in plan["operations"] if o["node"] == node
    )
    on: list[list[float]] = []
    for a, b in spans:
        if on and a - on[-1][1] <= WARMUP_S:
            on[-1][1] = max(on[-1][1], b)
        else:
            on.append([a - WARMUP_S, b])
    tx_s = np.zeros(len(edges) - 1)
    for a, b in on:
        tx_s += np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0, None)
    idle = (SOLAR_W * sunlit - IDLE_W) * STEP_S / 3600

    def integrate(net: np.ndarray) -> np.ndarray:
        soc = [0.8 * BATTERY_WH]
        for x in net:
            soc.append(min(BATTERY_WH, soc[-1] + x))
        return np.array(soc)

    soc = integrate(idle - TX_W * tx_s / 3600)
    return soc, np.minimum(MIN_SOC * BATTERY_WH, integrate(idle))


def block_edges(plan: dict) -> list[int]:
    """Slot index of every block start after the first (from the solver's stage names)."""
    return [int(seconds(st["name"]) / STEP_S) for st in plan["solver"]["stages"][1:]]


def test_rolling_recorder_plan_checks_clean(solved, rolled):
    scenario = solved[0]
    plan, _ = rolled
    assert plan["solver"]["strategy"] == "rolling"
    assert block_edges(plan) == [120, 240, 360]
    assert check_plan(plan, scenario=scenario) == []
    # the instance is at stake: data comes down, some is lost, the battery is drawn
    assert sum(s["delivered_bytes"] for s in plan["sources"]) > 5e10
    assert sum(s["lost_bytes"] for s in plan["sources"]) > 1e9


def test_fill_and_soc_are_one_curve_across_block_edges(solved, rolled):
    scenario, geometry = solved[0], solved[1]
    plan, dataset = rolled
    made = production(scenario, geometry)
    edges = block_edges(plan)
    for rec in plan["recorders"]:
        node = rec["node"]
        mine = made["node"].values == node
        initial = mine & (made["name"].values == "initial")  # onboard at the start
        produced = made["produced_bytes"].values[mine & ~initial].sum(axis=0)
        start = made["produced_bytes"].values[initial].sum()
        no_loss = start + np.concatenate([[0.0], np.cumsum(produced - sent_per_slot(plan, node))])
        curve = np.array(rec["fill_bytes"])
        lost = no_loss - curve  # bytes lost so far: never negative, never shrinking
        reported = sum(x["lost_bytes"] for x in plan["losses"] if x["node"] == node)
        tol = 1e-6 * CAPACITY
        assert lost.min() > -tol and np.diff(lost).min() > -tol
        assert lost[-1] == pytest.approx(reported, abs=tol)
        assert curve.max() <= CAPACITY + tol
        assert curve[edges].min() > 1e8  # each block starts with data onboard
        nc = dataset["recorder_fill_bytes"].sel(node=node).values
        assert np.allclose(nc, curve[:-1], atol=1.0)
    margins, at_edges = [], []
    for node, entry in plan["soc"].items():
        soc, floor = soc_reintegrated(plan, node)
        given = np.array(entry["soc"]) * BATTERY_WH
        assert np.abs(given - soc).max() < 1e-4 * BATTERY_WH
        margins.append((soc - floor).min())
        at_edges += soc[edges].tolist()
        assert np.allclose(dataset["soc"].sel(node=node).values, entry["soc"][:-1], atol=1e-6)
    assert min(margins) > -1e-4 * BATTERY_WH  # never below the floor
    assert min(margins) < 0.05 * BATTERY_WH  # the floor shapes the plan
    assert min(at_edges) < 0.9 * BATTERY_WH  # blocks start from a drawn battery


def test_rolling_loses_no_byte_the_monolithic_plan_keeps(solved):
    """Both solved to within 1 % (every block and class stage): for the high class and in all,
    the rolling plan delivers at least and loses at most what the monolithic one does.

    Here it does better: the monolithic high stage sees the normal initial fill onboard for the
    whole horizon (a lower class is not downlinked before its own stage), so the imager has
    5 GB of room; the rolling blocks commit the fill's downlinks block by block."""
    *_, rolling, monolithic = solved
    for schedule in (rolling, monolithic):
        assert all(s.mip_gap is not None and s.mip_gap <= 0.01 for s in schedule.solver.stages)

    def by_rank(schedule, key: str) -> np.ndarray:
        out = np.zeros(4)
        for s in schedule.onboard["sources"]:
            out[s["rank"]] += s[key]
        return out

    tol = 1e-6 * CAPACITY
    assert by_rank(rolling, "delivered_bytes")[1] >= by_rank(monolithic, "delivered_bytes")[1] - tol
    assert by_rank(rolling, "lost_bytes")[1] <= by_rank(monolithic, "lost_bytes")[1] + tol
    assert by_rank(rolling, "lost_bytes").sum() <= by_rank(monolithic, "lost_bytes").sum() + tol


def test_auto_rolls_a_recorder_model_too_large_for_its_time(solved):
    problem = solved[2]
    tight = replace(problem, settings=replace(problem.settings, time_limit_s=0.01))
    assert sync_strategy(tight).strategy == "rolling"


def test_block_edges_carry_recorder_contents_and_charge():
    """1 h, one node in eclipse (idle 10 W, 50 Wh battery, floor 25 Wh, 60 W transmitter),
    passes at 10-20 and 40-50 min at 1 MB/s, blocks of 20 min + 10 min look-ahead: the second
    pass is in the third block. The 1 GB initial fill (high) still onboard two block edges later
    goes down there, as far as the battery the first pass drew allows: SOC at the end
    50 - 10 (idle) - 60 W x the seconds sent >= 25 Wh, so 900 s in all, 300 s in the second."""
    from tests.test_recorder_opt import K, energy, instance, reintegrate_soc, sent_per_slot

    produced = np.zeros(K)
    produced[20:30] = 2.0e7  # 200 MB of imagery (normal) made between the passes
    e = energy(np.zeros(K, dtype=bool), solar_w=0.0, idle_w=10.0, tx_power_w=60.0)
    sources = [
        Source("sat/initial", "sat", 1, np.zeros(K), initial_bytes=1.0e9),
        Source("sat/imager", "sat", 2, produced),
    ]
    problem = instance(Onboard({"sat": 1.3e9}, sources, {"sat": e}))
    problem.settings = replace(problem.settings, rolling=Rolling(1200.0, 600.0))
    schedule = solve_rolling(problem)
    assert str(schedule.solver.status) == "blocks-optimal"  # the blocks' plan, not greedy's
    initial = sent_per_slot(schedule, "sat/initial")
    assert initial[:20].sum() == pytest.approx(6.0e8, rel=1e-6)
    assert initial[40:].sum() == pytest.approx(3.0e8, rel=1e-6)  # carried over two edges
    assert sent_per_slot(schedule, "sat/imager").sum() == pytest.approx(0.0, abs=1.0)
    soc = reintegrate_soc(schedule, e)
    assert soc.min() >= 25.0 - 1e-6
    assert np.allclose(np.array(schedule.onboard["soc"]["sat"]["soc"]) * 50.0, soc, atol=1e-4)
    assert sum(s["lost_bytes"] for s in schedule.onboard["sources"]) == pytest.approx(0, abs=1.0)


def test_global_bound_stays_valid_for_the_rolling_plan(solved):
    """The bound LPs run on the full problem with the committed state (recorders and power
    relaxed): the stated bound is below the rolling plan's objective, and the any-plan bound is
    below every plan of this instance, rolling and monolithic."""
    problem, rolling, monolithic = solved[2], copy.deepcopy(solved[3]), solved[4]
    attach_bound(problem, rolling)
    s = rolling.solver
    assert s.bound is not None and s.bound <= s.objective + 1e-9
    assert s.gap_global == pytest.approx((s.objective - s.bound) / s.objective)
    floor, _ = any_plan_bound(problem)
    for schedule in (rolling, monolithic):
        assert floor <= total_objective(problem, schedule.state) + 1e-9
