"""Node MILPs solved in parallel worker processes (rsmodel.optimize.compute_pool): the same
plan as one after the other; a dead or stuck worker is a failed node, never a hang."""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rsmodel.compute.report import jobs_report
from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.optimize.compute_pool import Failed, pool_workers, run_all
from rsmodel.optimize.compute_problem import build_compute_problem
from rsmodel.optimize.compute_rolling import solve_compute_rolling
from rsmodel.optimize.compute_solve import solve_compute
from rsmodel.optimize.status import SolveStatus
from rsmodel.optimize.strategy import Rolling

ROOT = Path(__file__).resolve().parents[1]
NORAD = [28054, 29522, 25544]  # two DMSP satellites of data/leo_snapshot.tle, and the ISS
TIERS = {
    "minimal": {"compute_s": 30, "memory_mb": 256, "output_mb": 10},
    "standard": {"compute_s": 90, "memory_mb": 512, "output_mb": 50},
}


def fleet(n_nodes: int, hours: float = 6.0) -> dict[str, Any]:
    """``n_nodes`` satellites, each with a capture pass -> process window -> compress eclipse
    job and a standard step."""
    steps = [
        {"id": "capture", "type": "pass", "min_pass_duration_s": 180, "max_segments": 2,
         "compute_s": 60, "output_mb": 20},
        {"id": "process", "type": "window", "quality_tiers": TIERS, "preferred_tier": "standard",
         "depends_on": ["capture"]},
        {"id": "compress", "type": "eclipse", "energy_budget_wh": 8, "compute_s": 120,
         "depends_on": ["process"]},
        {"id": "report", "compute_s": 90, "output_mb": 5},
    ]  # fmt: skip
    nodes = [
        {"name": f"sat{i}", "tle": {"norad": n} if n == 25544 else
         {"file": "data/leo_snapshot.tle", "norad": n}}
        for i, n in enumerate(NORAD[:n_nodes])
    ]  # fmt: skip
    return {
        "name": "pool-test",
        "horizon": {"start": "2026-05-30T12:25:00Z", "hours": hours, "step_s": 60},
        "ground_stations": [
            {"name": s, "station": s, "bandwidth_bps": 1e8}
            for s in ("wallops", "weilheim", "svalsat", "dongara", "santiago")
        ],
        "nodes": nodes,
        "solver": {"time_limit_s": 120},
        "jobs": [{"name": f"job{i}", "node": f"sat{i}", "steps": steps} for i in range(n_nodes)],
    }


@pytest.fixture(scope="module")
def three_nodes() -> tuple[Any, Any]:
    scenario = load_model_dict(fleet(3), base_dir=ROOT)
    return scenario, compute_geometry(scenario)


def test_parallel_node_solves_give_the_sequential_plan(three_nodes) -> None:
    scenario, geometry = three_nodes
    solutions = {}
    for workers in (1, 2):
        problem = build_compute_problem(scenario, geometry)
        solutions[workers] = solve_compute(problem, workers=workers)
    one, two = solutions[1], solutions[2]
    assert [s.name for s in two.stages] == ["sat0", "sat1", "sat2"]
    assert one.status == two.status == SolveStatus.OPTIMAL
    assert sorted(two.chosen.tolist()) == sorted(one.chosen.tolist())
    assert two.last == one.last
    assert two.objective == pytest.approx(one.objective, rel=1e-12)
    decisions = jobs_report(two)["placement_decisions"]
    assert decisions == jobs_report(one)["placement_decisions"]
    assert {d["node"] for d in decisions if d["status"] == "placed"} == {"sat0", "sat1", "sat2"}


def test_parallel_rolling_nodes_give_the_sequential_plan() -> None:
    """Two nodes over 12 h on small batteries, each with fleet()'s job plus a chain of six
    10-min eclipse steps (one eclipse each: the chain spans ~9 h) and four window steps, in
    rolling blocks of 4 h + 2 h look-ahead (some block needs its MILP): rolled two at a time in
    worker processes, the committed options, blocks and reasons are those of the sequential
    roll with the same per-node limit."""
    data = fleet(2, hours=12.0)
    chain = [{"id": f"e{i}", "type": "eclipse", "compute_s": 600, "energy_budget_wh": 20,
              **({"depends_on": [f"e{i - 1}"]} if i else {})} for i in range(6)]  # fmt: skip
    windows = [{"id": f"w{i}", "type": "window", "quality_tiers": TIERS,
                "preferred_tier": "standard"} for i in range(4)]  # fmt: skip
    for job, node in zip(data["jobs"], data["nodes"], strict=True):
        job["steps"] = job["steps"] + chain + windows
        node["battery"] = {"capacity_wh": 60, "initial_soc": 0.6, "min_soc": 0.3}
        node["power"] = {"compute_w": 100, "idle_w": 10, "solar_charge_w": 30}
    scenario = load_model_dict(data, base_dir=ROOT)
    geometry = compute_geometry(scenario)
    solutions, reasons = {}, {}
    for workers in (1, 2):
        problem = build_compute_problem(scenario, geometry)
        problem.settings = replace(problem.settings, rolling=Rolling(4 * 3600.0, 2 * 3600.0))
        solutions[workers] = solve_compute_rolling(problem, workers=workers)
        reasons[workers] = dict(problem.reasons)
    one, two = solutions[1], solutions[2]
    assert [s.name for s in two.stages] == [f"sat{i}/{k}" for i in (0, 1) for k in range(3)]
    assert [s.status for s in two.stages] == [s.status for s in one.stages]
    assert sum(s.extra["committed"] > 0 for s in two.stages) >= 4, "the plan does not roll"
    assert any(s.extra["plan"] == "milp" for s in two.stages), "no block MILP in a worker"
    assert sorted(two.chosen.tolist()) == sorted(one.chosen.tolist())
    assert two.last == one.last
    assert two.objective == pytest.approx(one.objective, rel=1e-9)
    assert reasons[2] == reasons[1]
    decisions = jobs_report(two)["placement_decisions"]
    assert decisions == jobs_report(one)["placement_decisions"]
    assert {d["node"] for d in decisions if d["status"] == "placed"} == {"sat0", "sat1"}


def killing_first_worker(solve: Callable[[], Any]) -> tuple[Any, list[int]]:
    """``solve()`` while a watcher SIGKILLs the first worker process it starts; its result and
    the pids killed."""
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=kill_first_worker)
    watcher.start()
    result = solve()
    watcher.join()
    return result, killed


def test_a_killed_worker_is_a_failed_node_and_the_others_are_solved(three_nodes) -> None:
    scenario, geometry = three_nodes
    problem = build_compute_problem(scenario, geometry)
    solution, killed = killing_first_worker(lambda: solve_compute(problem, workers=2))
    assert len(killed) == 1
    failed = [s for s in solution.stages if s.status == SolveStatus.ERROR]
    assert len(failed) == 1 and solution.status == SolveStatus.ERROR
    assert all(s.status == SolveStatus.OPTIMAL for s in solution.stages if s not in failed)
    report = jobs_report(solution)
    lost = [d for d in report["placement_decisions"] if d["node"] == failed[0].name]
    assert lost and all(d["status"] != "placed" for d in lost)
    reason = f"node solve failed: worker process died (exit code {-signal.SIGKILL})"
    assert all(problem.reasons[i] == reason for i in _step_indices(problem, failed[0].name))
    placed = {d["node"] for d in report["placement_decisions"] if d["status"] == "placed"}
    assert placed == {"sat0", "sat1", "sat2"} - {failed[0].name}


def test_a_killed_rolling_worker_is_a_failed_node_and_the_others_roll(three_nodes) -> None:
    """The rolling solve in worker processes (2 h blocks + 1 h look-ahead): a node whose process
    dies is one ``error`` stage with its steps missed and the reason; the others roll."""
    scenario, geometry = three_nodes
    problem = build_compute_problem(scenario, geometry)
    problem.settings = replace(problem.settings, rolling=Rolling(2 * 3600.0, 3600.0))
    solution, killed = killing_first_worker(lambda: solve_compute_rolling(problem, workers=2))
    assert len(killed) == 1
    failed = [s for s in solution.stages if s.status == SolveStatus.ERROR]
    assert len(failed) == 1 and solution.status == SolveStatus.ERROR
    others = {s.name.split("/")[0] for s in solution.stages if s not in failed}
    assert others == {"sat0", "sat1", "sat2"} - {failed[0].name}
    reason = f"node solve failed: worker process died (exit code {-signal.SIGKILL})"
    assert all(problem.reasons[i] == reason for i in _step_indices(problem, failed[0].name))
    decisions = jobs_report(solution)["placement_decisions"]
    assert {d["node"] for d in decisions if d["status"] == "placed"} == others


def _step_indices(problem: Any, node: str) -> list[int]:
    return [r.index for r in problem.steps if r.node.name == node and r.onboard]


def test_run_all_keeps_order_and_reraises_a_call_exception() -> None:
    assert run_all(abs, [-3, 1, -2, 5], workers=2, kill_after_s=60) == [3, 1, 2, 5]
    with pytest.raises(ValueError, match="math domain error"):
        run_all(math.sqrt, [4.0, -1.0, 9.0], workers=2, kill_after_s=60)


def test_run_all_reports_dead_and_stuck_workers_without_hanging() -> None:
    assert run_all(os._exit, [3, 4], workers=2, kill_after_s=60) == [
        Failed("worker process died (exit code 3)"),
        Failed("worker process died (exit code 4)"),
    ]
    t0 = time.monotonic()
    results = run_all(time.sleep, [0.0, 3600.0], workers=2, kill_after_s=3.0)
    assert time.monotonic() - t0 < 30
    assert results == [None, Failed("worker process killed: still running 3 s after it started")]


def test_solver_threads_is_the_budget_of_the_node_processes() -> None:
    """``solver.threads`` 1: one node at a time (the sequential solve); 2: two at a time (one
    HiGHS thread each), never more than the cores or the nodes."""
    cores = os.cpu_count() or 1
    assert pool_workers(1, 3) == 1
    assert pool_workers(2, 3) == min(2, cores)
    assert pool_workers(64, 3) == min(3, cores)
    assert pool_workers(8, 1) == 1
