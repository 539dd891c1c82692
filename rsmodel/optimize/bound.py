"""A global lower bound on the plan objective: an LP on a coarse slot grid (docs/optimisation-scale.md).

What is bounded: ``F(plan) = sum over classes r of J_r(plan)``, with ``J_r`` exactly
:func:`rsmodel.optimize.objective.evaluate` (the core's per-class objective without link cost),
over *every* plan the optimiser can return (any strategy, any priority rule): the LP drops
integrality, contact setup, the priority blocks and the balance term (>= 0), and over-states
capacity. Hence ``bound <= F(lexicographic optimum)`` and ``bound <= F(any returned plan)``.

The LP: columns y[d, a] per demand d and *aggregate* a = (window, coarse slot of
``coarse_s``, late-or-not for d) plus unmet[d]; cost of y[d, a] = the cheapest per-byte pair
cost of d among the fine pairs in a (earliest slot end, and "late" only if every fine pair in
a is late); rows: sum_a y + unmet = size; per (window, coarse slot) bytes <= sum of fine
capacities; per (node, coarse slot) link seconds sum y / rate <= coarse slot length; per
(station, coarse slot) link seconds <= antennas x length. If the LP does not finish in time,
the capacity-free bound (each byte at its demand's cheapest option) is used instead.
"""

from __future__ import annotations

import time
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
from pyomo.common.tee import capture_output

from rsmodel.optimize.highs import _use_threads
from rsmodel.optimize.objective import coefficients
from rsmodel.optimize.problem import UNIT_BYTES, Problem
from rsmodel.optimize.solve import _total_objective

COARSE_S = 3600.0
BOUND_TIME_FRACTION = 0.25  # of the solver time limit, for the bound LP
SAFETY = 1e-7  # relative margin under the LP optimum (solver tolerances)


def pair_costs(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Per-byte cost of every pair and of every demand's unmet bytes, class by class."""
    p = problem
    pair_cost = np.zeros(len(p.pair_demand))
    unmet_cost = np.zeros(len(p.demands))
    ranks = p.demand_rank
    for r in np.unique(ranks):
        demands = np.flatnonzero(ranks == r)
        pairs = np.flatnonzero(np.isin(p.pair_demand, demands))
        pc, uc, _, _ = coefficients(p, demands, pairs, p.weights)
        pair_cost[pairs] = pc
        unmet_cost[demands] = uc
    return pair_cost, unmet_cost


def capacity_free_bound(problem: Problem) -> float:
    """Every byte of every demand at its cheapest option (a pair or unmet), no capacity limits."""
    pair_cost, unmet_cost = pair_costs(problem)
    cheapest = unmet_cost.copy()
    np.minimum.at(cheapest, problem.pair_demand, pair_cost)
    return float(cheapest @ problem.demand_size)


def lp_bound(
    problem: Problem, *, coarse_s: float = COARSE_S, time_limit_s: float = 60.0
) -> tuple[float | None, dict[str, Any]]:
    """The coarse LP's optimum (a lower bound of F), or None when it did not finish in time."""
    lp, info = coarse_lp(problem, coarse_s)
    _use_threads(problem.settings.threads)  # HiGHS keeps one thread pool per process
    with capture_output(capture_fd=True):
        h = highspy.Highs()
    h.silent()
    h.setOptionValue("threads", problem.settings.threads)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.passModel(lp)
    h.run()
    info.update(status=str(h.getModelStatus()).split(".")[-1], lp_s=h.getRunTime())
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None, info
    value = float(h.getInfo().objective_function_value)
    return value - SAFETY * max(abs(value), 1.0), info


def coarse_lp(problem: Problem, coarse_s: float) -> tuple[highspy.HighsLp, dict[str, Any]]:
    """Build the coarse LP (bytes in MB) as a HighsLp."""
    p = problem
    coarse_s = max(1, round(coarse_s / p.step_s)) * p.step_s  # whole fine slots per coarse slot
    pair_cost, unmet_cost = pair_costs(p)
    n_t = int(np.ceil(p.duration_s / coarse_s)) + 1
    cand_t = (p.cand_t0_s // coarse_s).astype(np.int64)
    cand_agg_key = p.cand_window.astype(np.int64) * n_t + cand_t
    agg_keys, cand_agg = np.unique(cand_agg_key, return_inverse=True)
    agg_cap = np.bincount(cand_agg, weights=p.cand_bytes, minlength=len(agg_keys))
    rate = p.windows["bandwidth_bps"].to_numpy(dtype=float)[agg_keys // n_t] / 8.0
    agg_t = agg_keys % n_t
    # columns: (demand, aggregate, late) groups of fine pairs
    q_agg = cand_agg[p.pair_cand]
    col_key = (p.pair_demand.astype(np.int64) * len(agg_keys) + q_agg) * 2 + p.pair_late
    col_keys, q_col = np.unique(col_key, return_inverse=True)
    n_y, n_d, n_a = len(col_keys), len(p.demands), len(agg_keys)
    col_cost = np.full(n_y, np.inf)
    np.minimum.at(col_cost, q_col, pair_cost)
    col_ub = np.bincount(q_col, weights=p.cand_bytes[p.pair_cand], minlength=n_y)
    col_demand = col_keys // 2 // n_a
    col_agg = col_keys // 2 % n_a
    # rows: demand equality, aggregate capacity, node seconds, station seconds
    first_cand = np.zeros(n_a, dtype=int)
    first_cand[cand_agg[::-1]] = np.arange(len(cand_agg))[::-1]
    node_keys, node_row = np.unique(
        p.cand_node[first_cand].astype(np.int64) * n_t + agg_t, return_inverse=True
    )
    station_keys, station_row = np.unique(
        p.cand_station[first_cand].astype(np.int64) * n_t + agg_t, return_inverse=True
    )
    n_rows = n_d + n_a + len(node_keys) + len(station_keys)
    seconds_per_mb = UNIT_BYTES / rate[col_agg]
    cols = np.arange(n_y)
    rows = np.concatenate(
        [
            col_demand,
            n_d + col_agg,
            n_d + n_a + node_row[col_agg],
            n_d + n_a + len(node_keys) + station_row[col_agg],
            np.arange(n_d),
        ]
    )
    columns = np.concatenate([cols, cols, cols, cols, n_y + np.arange(n_d)])
    values = np.concatenate(
        [np.ones(n_y), np.ones(n_y), seconds_per_mb, seconds_per_mb, np.ones(n_d)]
    )
    a = sp.csc_matrix((values, (rows, columns)), shape=(n_rows, n_y + n_d))
    slot_len = np.minimum(coarse_s, np.maximum(p.duration_s - np.arange(n_t) * coarse_s, 0.0))
    size_mb = p.demand_size / UNIT_BYTES
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_y + n_d, n_rows
    lp.col_cost_ = np.concatenate([col_cost, unmet_cost]) * UNIT_BYTES
    lp.col_lower_ = np.zeros(n_y + n_d)
    lp.col_upper_ = np.concatenate([col_ub, p.demand_size]) / UNIT_BYTES
    lp.row_lower_ = np.concatenate([size_mb, np.full(n_rows - n_d, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate(
        [
            size_mb,
            agg_cap / UNIT_BYTES,
            slot_len[node_keys % n_t],
            p.antennas[station_keys // n_t] * slot_len[station_keys % n_t],
        ]
    )
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    return lp, {"columns": n_y + n_d, "rows": n_rows, "coarse_s": coarse_s}


def attach_bound(problem: Problem, schedule: Any) -> None:
    """Set ``solver.objective`` (F of the returned plan), ``bound`` and ``gap_global``."""
    stats = schedule.solver
    t0 = time.perf_counter()
    budget = max(BOUND_TIME_FRACTION * problem.settings.time_limit_s, 1.0)
    bound, info = lp_bound(problem, time_limit_s=budget)
    kind = f"coarse LP ({info['coarse_s']:g} s slots, {info['columns']} columns)"
    if bound is None:
        bound = capacity_free_bound(problem)
        kind = f"capacity-free (coarse LP {info['status']} after {info.get('lp_s', 0):.1f} s)"
    objective = _total_objective(problem, schedule.state)
    stats.objective = objective
    stats.bound = bound
    stats.gap_global = max(0.0, (objective - bound) / abs(objective)) if objective else 0.0
    stats.notes.append(
        f"global bound {bound:.6g} by the {kind} in {time.perf_counter() - t0:.1f} s: "
        f"the plan's summed class objective {objective:.6g} is within {100 * stats.gap_global:.2f} % "
        "of the best any plan can reach (docs/optimisation-scale.md)"
    )
