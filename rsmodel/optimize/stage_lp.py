"""A class's lower bound from the LP relaxation of its own stage model (docs/optimisation-scale.md,
"The stage model's LP relaxation").

The coarse LPs of :mod:`rsmodel.optimize.bound` leave out the battery, the transmitter energy,
the recorder and the turnaround, so where those bind (a recorder that fills, a battery that
limits contacts) they sit far below every plan. This bound is the LP relaxation of the class's
stage model (:func:`rsmodel.optimize.model.build_stage_model`, every block: links, contacts,
antennas, turnaround, recorder cells, transmitter energy and battery) built on the plan's
allocation to the classes above (their bytes, links *and recorder losses*), with

- every pair of the class (no reach rule, ``reach_factor`` None),
- the integrality of the link binaries relaxed,
- the recorder's loss and overflow columns at cost 0.

Why it bounds ``J_r``. Take any plan P that gives the classes above what this plan gives them
and whose class r obeys the stage rules. Its class-r links and bytes, with each recorder loss
the least its downlinks need (lower classes dropped first, as the stage assumes) are a
feasible point of the stage model, hence of its relaxation; there the objective is
``J_r(P) + LINK_COST * links / |L|`` (the loss and overflow terms cost 0 here; a lost byte is
undelivered and priced in ``J_r`` already), so the LP optimum is <= ``J_r(P) + LINK_COST``.
The value used is the Lagrangian of HiGHS's row duals (:func:`lagrangian_bound`), <= the LP
optimum for any duals, so tolerances and a stopped simplex cannot overstate it. A plan whose
own score is below the value (beyond ``SCORE_TOL``) is not a feasible point of the model (a
greedy or rolling plan breaking a stage rule): the value is not used for that class.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import replace

import highspy
import numpy as np

# First: the gateway keeps Pyomo from importing scipy.stats, only before SciPy's first import.
from rsmodel.optimize.gateway import HighsModel  # isort: split

import scipy.sparse as sp

from rsmodel.optimize.deadline import BuildTimeout, build_deadline, gc_paused
from rsmodel.optimize.model import build_stage_model
from rsmodel.optimize.objective import LINK_COST
from rsmodel.optimize.problem import Problem
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveOptions

SCORE_TOL = 1e-6  # relative: a stage-LP value above the plan's score by more is not used
_DUAL_TOL = 1e-9  # a reduced cost this small on an unbounded column counts as 0


def stage_lp_bound(
    problem: Problem,
    higher: LinkState,
    demands: np.ndarray,
    time_limit_s: float,
    blocks: Sequence | None = None,
) -> float | None:
    """Lower bound of ``J_r`` of class ``demands`` given ``higher`` (the classes above, after
    ``begin_stage``), or None when the model is not built or its LP not solved in time.
    ``blocks``: the stage model's blocks (:func:`rsmodel.optimize.model.build_stage_model`;
    default the problem's own), a relaxation of every plan's stage rules."""
    stop = time.perf_counter() + time_limit_s
    relaxed = copy.copy(problem)
    relaxed.settings = replace(problem.settings, reach_factor=None)
    try:
        with gc_paused(), build_deadline(stop):
            m = build_stage_model(relaxed, demands, higher, blocks=blocks)
            options = SolveOptions(
                time_limit_s=time_limit_s, threads=problem.settings.threads, presolve=False
            )
            solver = HighsModel.from_pyomo(m, options, t_start=stop - time_limit_s)
    except BuildTimeout:
        return None
    h = solver.highs
    if h.getLp().sense_ != highspy.ObjSense.kMinimize:
        return None
    free = solver.columns_of(list(getattr(m, "lost", {}).values()))
    free = np.r_[free, solver.columns_of(list(getattr(m, "over", {}).values()))]
    free = free[free >= 0].astype(np.int32)
    if len(free):
        h.changeColsCost(len(free), free, np.zeros(len(free)))
    h.setOptionValue("solve_relaxation", True)
    solver.run()
    solution = h.getSolution()
    if not solution.dual_valid:
        return None
    value = lagrangian_bound(h.getLp(), np.asarray(solution.row_dual))
    return None if not np.isfinite(value) else value - LINK_COST


def first_class_bound(job: tuple[Problem, int, float]) -> float | None:
    """:func:`stage_lp_bound` of class ``rank`` (``job``: problem, rank, deadline as
    ``time.time()`` s), the most urgent one: nothing is above it, so its stage model does not
    depend on the plan and can be solved in a worker process while the stage MILPs run
    (:func:`rsmodel.optimize.bound.start_first_class_lp`)."""
    problem, rank, until = job
    higher = LinkState.empty(problem)
    higher.begin_stage(rank)
    demands = np.flatnonzero(problem.demand_rank == rank)
    return stage_lp_bound(problem, higher, demands, max(until - time.time(), 0.0))


def lagrangian_bound(lp: highspy.HighsLp, pi: np.ndarray) -> float:
    """``min over the column box of c x + offset - pi (A x - r)``, with ``r`` the row bound
    ``pi`` presses on (lower where pi > 0, upper where pi < 0; a pi pressing on an infinite
    bound counts as 0): <= the LP optimum for every ``pi``. -inf when a reduced cost pushes a
    column towards an infinite bound."""
    lower, upper = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    pi = np.where(
        pi > 0, np.where(np.isfinite(lower), pi, 0.0), np.where(np.isfinite(upper), pi, 0.0)
    )
    rhs = np.where(pi > 0, lower, np.where(pi < 0, upper, 0.0))
    a = sp.csc_matrix(
        (lp.a_matrix_.value_, lp.a_matrix_.index_, lp.a_matrix_.start_),
        shape=(lp.num_row_, lp.num_col_),
    )
    reduced = np.asarray(lp.col_cost_) - a.T @ pi
    col_lo, col_up = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    small = np.abs(reduced) <= _DUAL_TOL * max(1.0, float(np.abs(lp.col_cost_).max(initial=0.0)))
    reduced = np.where(small & ~(np.isfinite(col_lo) & np.isfinite(col_up)), 0.0, reduced)
    at = np.where(reduced > 0, col_lo, np.where(reduced < 0, col_up, 0.0))
    with np.errstate(invalid="ignore"):
        terms = np.where(reduced != 0, reduced * at, 0.0)
    return float(lp.offset_ + pi @ rhs + terms.sum())
