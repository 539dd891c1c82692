"""A class's bound from its stage model's LP relaxation (rsmodel/optimize/stage_lp.py;
docs/optimisation-scale.md, "The stage model's LP relaxation"): where recorders and batteries
bind, the coarse LPs (which leave them out) state gaps the plan does not have. Real HiGHS, real
skyfield; the LP optimum from scipy's own HiGHS interior point as the reference."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from pathlib import Path

import highspy
import numpy as np
import pytest
import scipy.sparse as sp
import yaml
from scipy.optimize import linprog

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.optimize.auto import solve_auto
from rsmodel.optimize.bound import attach_bound
from rsmodel.optimize.gateway import HighsModel
from rsmodel.optimize.objective import class_scores
from rsmodel.optimize.problem import problem_from_scenario
from rsmodel.optimize.solve import solve_problem
from rsmodel.optimize.stage_lp import lagrangian_bound
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
