"""A class's bound from its stage model's LP relaxation (rsmodel/optimize/stage_lp.py;
docs/optimisation-scale.md, "The stage model's LP relaxation"): where recorders and batteries
bind, the coarse LPs (which leave them out) state gaps the plan does not have. Real HiGHS, real
skyfield; the LP optimum from scipy's own HiGHS interior point as the reference."""

from __future__ import annotations

import copy
import multiprocessing
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import highspy
import numpy as np
import pytest
import scipy.sparse as sp
import yaml
from scipy.optimize import linprog

from rsmodel.compute.joint import plan_jobs_and_downlinks
from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.optimize import bound as bound_module
from rsmodel.optimize.auto import solve_auto
from rsmodel.optimize.bound import attach_bound, start_first_class_lp
from rsmodel.optimize.gateway import HighsModel
from rsmodel.optimize.objective import class_scores
from rsmodel.optimize.problem import problem_from_scenario
from rsmodel.optimize.solve import solve_problem
from rsmodel.optimize.stage_lp import first_class_bound, lagrangian_bound
from rsmodel.optimize.status import SolveOptions

ROOT = Path(__file__).resolve().parents[1]


def small_lp() -> tuple[highspy.HighsLp, dict]:
    """min c x over rows of all three kinds (>=, <=, =) and a free column."""
    a = np.array([[1.0, 1.0, 0.0, 1.0], [1.0, -1.0, 2.0, 0.0], [0.0, 1.0, 1.0, 1.0]])
    c = np.array([1.0, 2.0, -1.0, 0.5])
    lo_row, up_row = np.array([2.0, -np.inf, 1.0]), np.array([np.inf, 3.0, 1.0])
    lo_col, up_col = np.array([0.0, 0.0, 0.0, -np.inf]), np.array([4.0, np.inf, 5.0, np.inf])
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 4, 3
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = c, lo_col, up_col
    lp.row_lower_, lp.row_upper_ = lo_row, up_row
    csc = sp.csc_matrix(a)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = (
        csc.indptr,
        csc.indices,
        csc.data,
    )
    reference = dict(
        c=c,
        A_ub=np.vstack([-a[0], a[1]]),
        b_ub=np.array([-lo_row[0], up_row[1]]),
        A_eq=a[2:],
        b_eq=lo_row[2:],
        bounds=list(zip(lo_col, np.where(np.isinf(up_col), None, up_col), strict=True)),
    )
    reference["bounds"] = [(None if np.isinf(lo) else lo, up) for lo, up in reference["bounds"]]
    return lp, reference


def test_lagrangian_bound_is_the_lp_optimum_at_its_duals_and_below_it_elsewhere() -> None:
    lp, reference = small_lp()
    optimum = linprog(method="highs-ipm", **reference).fun
    model = HighsModel.from_lp(lp, SolveOptions(time_limit_s=10, presolve=False))
    model.run()  # through the gateway: it keeps HiGHS's one thread pool per process
    h = model.highs
    duals = np.asarray(h.getSolution().row_dual)
    assert lagrangian_bound(h.getLp(), duals) == pytest.approx(optimum, abs=1e-9)
    rng = np.random.default_rng(7)
    for _ in range(200):  # weak duality: any multipliers give a value <= the optimum
        pi = duals + rng.normal(scale=2.0, size=3)
        assert lagrangian_bound(h.getLp(), pi) <= optimum + 1e-9


def class_bounds(note: str) -> dict[str, tuple[float, float, str]]:
    """{class: (score, bound, how)} from the "global bound" note."""
    found = re.findall(r"(critical|high|normal|low) ([\d.e+-]+) >= ([\d.e+-]+) by ([^,;)]+)", note)
    return {c: (float(s), float(b), how) for c, s, b, how in found}


@pytest.fixture(scope="module")
def recorder_node():
    """One satellite of models/recorder_power.yaml over 6 h: its recorder overflows and its
    transmitter draws on the battery, which the coarse LPs leave out."""
    data = yaml.safe_load((ROOT / "models" / "recorder_power.yaml").read_text())
    data["horizon"]["hours"] = 6
    data["nodes"] = data["nodes"][:1]
    names = {n["name"] for n in data["nodes"]}
    for key in ("syncs", "jobs"):
        data[key] = [s for s in data.get(key, []) if s.get("node") in names]
    data["solver"] = {"time_limit_s": 60}
    scenario = load_model_dict(data, base_dir=ROOT / "models")
    return problem_from_scenario(scenario, compute_geometry(scenario))


def test_recorder_bound_uses_the_stage_model_and_stays_below_every_plan(recorder_node) -> None:
    problem = recorder_node
    schedule = solve_auto(problem)
    note = next(n for n in schedule.solver.notes if n.startswith("global bound"))
    stated = class_bounds(note)
    assert any(how == "the LP relaxation of its stage model" for *_, how in stated.values())
    for score, bound, _ in stated.values():  # each class at most its own score
        assert bound <= score + 1e-9
    # the critical term bounds every plan: below the unrestricted MILP's plan at a zero gap
    exact = copy.copy(problem)
    exact.settings = replace(problem.settings, mip_gap=0.0, reach_factor=None, time_limit_s=20)
    assert stated["critical"][1] <= class_scores(exact, solve_problem(exact).state)[0] + 1e-9
    # and it states a smaller gap than the coarse LPs alone, which ignore recorder and battery
    without = copy.deepcopy(schedule)
    attach_bound(problem, without, stage_lp=False)
    assert schedule.solver.gap_global < 0.01 < without.solver.gap_global


def test_first_class_lp_in_a_worker_process_is_the_one_solved_inline(recorder_node) -> None:
    """The first class's stage LP, solved in a worker process next to the stage MILPs, gives
    the value the same LP gives in this process, and its worker is gone once collected."""
    problem = copy.copy(recorder_node)
    problem.settings = replace(recorder_node.settings, threads=2)
    rank = int(problem.demand_rank.min())
    early = start_first_class_lp(problem, 30.0, min_pairs=0)
    assert early is not None and early.rank == rank
    inline = first_class_bound((problem, rank, time.time() + 30.0))
    assert inline is not None
    assert early.call.result(30.0) == pytest.approx(inline, rel=1e-9, abs=1e-12)
    assert not multiprocessing.active_children()


def test_a_plan_on_two_threads_takes_the_first_class_bound_from_its_worker(monkeypatch) -> None:
    """threads 2: the first class's stage LP runs in a worker process while the stages solve on
    one thread. On four satellites of the fleet day it is what bounds the critical class, and
    it is the value the same plan states on one thread (nothing is above the first class, so
    its bound does not depend on the plan); no worker is left behind. In joint mode the worker
    runs on through the joint stages: a decomposed plan kept (here: the joint plan is rejected)
    states the same bound."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_joint import fleet_day

    monkeypatch.setattr(bound_module, "FIRST_LP_MIN_PAIRS", 0)  # 4 satellites: a small class
    data = fleet_day(4, 10, 24.0)
    geometry = compute_geometry(load_model_dict(data, base_dir=ROOT / "models"))
    stated = {}
    for threads, mode in ((1, "decomposed"), (2, "decomposed"), (2, "joint")):
        data["solver"] = {"time_limit_s": 60, "threads": threads, "compute_downlink": mode}
        scenario = load_model_dict(data, base_dir=ROOT / "models")
        planned = plan_jobs_and_downlinks(scenario, geometry, check=lambda p: ["rejected"])
        assert planned.mode == "decomposed"
        notes = planned.schedule.solver.notes
        note = next(n for n in notes if n.startswith("global bound"))
        stated[threads, mode] = class_bounds(note)["critical"]
        assert stated[threads, mode][1] <= stated[threads, mode][0] + 1e-9
        assert not multiprocessing.active_children()
    assert notes[-1].endswith("decomposed plan kept")  # the joint plan was made, then rejected
    assert stated[1, "decomposed"][2] == "the LP relaxation of its stage model"
    for run in ((2, "decomposed"), (2, "joint")):
        assert stated[run][2] == (
            "the LP relaxation of its stage model (solved in a worker process beside the stages"
        )
        assert stated[run][1] == pytest.approx(stated[1, "decomposed"][1], rel=1e-6)


def test_one_thread_starts_no_worker(recorder_node) -> None:
    """solver.threads 1 (the default) is a promise: nothing runs beside the solve."""
    assert recorder_node.settings.threads == 1
    assert start_first_class_lp(recorder_node, 30.0, min_pairs=0) is None
