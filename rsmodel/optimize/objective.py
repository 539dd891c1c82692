"""The normalised weighted objective of one class stage (formula: docs/optimisation.md).

With w = weights / sum(weights), for the demands D of the stage (sizes s_d, S = sum s_d) and
cap_st = the capacity of station st's slots that D's demands can use (their pairs):

    J = w_lat * L + w_thr * U + w_bal * (B + F) + DEADLINE_PENALTY * Z + LINK_COST * links / |L|

- L = 1/|D| sum_d [ sum_t y_dt * tau_dt + unmet_d * 1 ] / s_d    latency, tau = (slot end - release)
                                                               / (horizon end - release) in (0, 1]
- U = sum_d unmet_d / S                                          undelivered fraction (throughput)
- B = max_st bytes via st / cap_st                               busiest station's utilisation
- F = sum_d unmet_d / min_st cap_st                              delivery floor of the balance term
- Z = sum_{d with deadline} (late_d + unmet_d) / s_d              deadline shortfall (soft)

L, U and B lie in [0, 1]. F prices an undelivered byte at the steepest possible rise of B, so a
delivered byte never raises J whatever the weights.

A Problem with ``costs`` (:class:`~rsmodel.optimize.problem.GivenCosts`, a rolling block) uses
those per-byte costs and station capacities instead, and B counts the bytes already sent:
B = max_st (sent_st + bytes via st) / cap_st.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyomo.core as pyo

from rsmodel.model.vocabulary import SYNC_OBJECTIVE_NAMES
from rsmodel.optimize.problem import UNIT_BYTES, Problem, group_positions
from rsmodel.optimize.tracks import track_score

if TYPE_CHECKING:
    from rsmodel.optimize.state import LinkState

DEADLINE_PENALTY = 10.0
LINK_COST = 1e-3


def normalised_weights(weights: dict[str, float]) -> tuple[float, float, float]:
    """(w_lat, w_thr, w_bal) summing to 1."""
    values = np.array([float(weights.get(k, 0.0)) for k in SYNC_OBJECTIVE_NAMES])
    total = values.sum()
    if total <= 0:
        raise ValueError("at least one objective weight must be positive")
    w = values / total
    return float(w[0]), float(w[1]), float(w[2])


def station_capacity(problem: Problem, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stations reached by ``pairs`` and the bytes their slots offer to these pairs."""
    cands = np.unique(problem.pair_cand[pairs])
    stations = problem.cand_station[cands]
    used = np.unique(stations)
    if problem.costs is not None:
        return used, problem.costs.station_cap[_rank_of(problem, pairs), used]
    cap = np.bincount(
        np.searchsorted(used, stations), weights=problem.cand_bytes[cands], minlength=len(used)
    )
    return used, cap


def station_sent(problem: Problem, pairs: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Bytes already sent via each of the ``used`` stations before this problem (given costs)."""
    if problem.costs is None:
        return np.zeros(len(used))
    return problem.costs.station_sent[_rank_of(problem, pairs), used]


def _rank_of(problem: Problem, pairs: np.ndarray) -> int:
    """The class of ``pairs`` (one stage's pairs share it)."""
    return int(problem.demand_rank[problem.pair_demand[pairs[0]]]) if len(pairs) else 0


def coefficients(
    problem: Problem, demands: np.ndarray, pairs: np.ndarray, weights: dict[str, float]
):
    """Per-byte costs of each pair and of each demand's unmet bytes, and the balance weight."""
    w_lat, w_thr, w_bal = normalised_weights(weights)
    p = problem
    size = p.demand_size
    position = np.full(len(p.demands), -1, dtype=int)
    position[demands] = np.arange(len(demands))
    if p.costs is not None:
        bal = float(p.costs.balance_weight[_rank_of(p, pairs)])
        return p.costs.pair_cost[pairs], p.costs.unmet_cost[demands], bal, position
    d = p.pair_demand[pairs]
    n_d = max(len(demands), 1)
    total = max(float(size[demands].sum()), 1.0)
    _, cap = station_capacity(p, pairs)
    floor = w_bal / cap.min() if len(cap) > 1 else 0.0
    pair_cost = (
        w_lat * p.pair_tau[pairs] / (size[d] * n_d)
        + DEADLINE_PENALTY * p.pair_late[pairs] / size[d]
    )
    unmet_cost = (
        w_lat / (size[demands] * n_d)
        + w_thr / total
        + floor
        + DEADLINE_PENALTY * p.demand_has_deadline[demands] / size[demands]
    )
    return pair_cost, unmet_cost, w_bal, position


def add_objective(m: pyo.ConcreteModel, problem: Problem, idx, weights: dict[str, float]) -> None:
    """Minimise J (+ any ``m.objective_terms`` added by extra blocks); y, unmet in MB."""
    p = problem
    all_pairs = np.flatnonzero(np.isin(p.pair_demand, idx.demands))
    pair_cost, unmet_cost, bal, _ = coefficients(p, idx.demands, all_pairs, weights)
    keep = np.searchsorted(all_pairs, idx.pairs)
    pair_cost, unmet_cost = pair_cost[keep] * UNIT_BYTES, unmet_cost * UNIT_BYTES
    used, cap = station_capacity(p, all_pairs)
    stations = p.cand_station[p.pair_cand[idx.pairs]]
    ys, unmet, xs = list(m.y.values()), list(m.unmet.values()), list(m.x.values())
    expr = pyo.quicksum([float(c) * y for c, y in zip(pair_cost, ys, strict=True) if c != 0.0])
    expr += pyo.quicksum([float(c) * u for c, u in zip(unmet_cost, unmet, strict=True)])
    if bal > 0 and len(used) > 1:
        m.peak = pyo.Var(bounds=(0, None))
        groups = group_positions(np.searchsorted(used, stations), len(used))
        inv_cap = (UNIT_BYTES / cap).tolist()
        sent = (station_sent(p, all_pairs, used) / cap).tolist()
        m.peak_def = pyo.Constraint(
            range(len(used)),
            rule=lambda m, k: (
                sent[k],
                m.peak - inv_cap[k] * pyo.quicksum([ys[i] for i in groups[k]]),
                None,
            ),
        )
        expr += bal * m.peak
    if xs:
        expr += (LINK_COST / len(xs)) * pyo.quicksum(xs)
    for weight, term in m.objective_terms:
        expr += weight * term
    m.objective = pyo.Objective(expr=expr, sense=pyo.minimize)


def evaluate(
    problem: Problem, demands: np.ndarray, pair_bytes: np.ndarray, weights: dict[str, float]
) -> float:
    """J of an allocation for the given demands (without the link cost), computed with numpy."""
    p = problem
    pairs = np.flatnonzero(np.isin(p.pair_demand, demands))
    pair_cost, unmet_cost, bal, position = coefficients(p, demands, pairs, weights)
    y = pair_bytes[pairs]
    delivered = np.bincount(position[p.pair_demand[pairs]], weights=y, minlength=len(demands))
    unmet = np.maximum(p.demand_size[demands] - delivered, 0.0)
    value = float(pair_cost @ y + unmet_cost @ unmet)
    used, cap = station_capacity(p, pairs)
    if bal > 0 and len(used) > 1:
        stations = p.cand_station[p.pair_cand[pairs]]
        per_station = np.bincount(
            np.searchsorted(used, stations), weights=y, minlength=len(used)
        ) + station_sent(p, pairs, used)
        value += bal * float((per_station / cap).max())
    return value


def class_scores(problem: Problem, state: LinkState) -> tuple[float, ...]:
    """Per class (critical first, every class with demands or track requests) the stage
    objective of a plan: the sync terms (:func:`evaluate`) plus the track terms
    (:func:`rsmodel.optimize.tracks.track_score`); compared lexicographically
    (:func:`rsmodel.optimize.strategy.keep_better`)."""
    ranks = problem.demand_rank
    return tuple(
        round(
            evaluate(problem, np.flatnonzero(ranks == r), state.pair_bytes, problem.weights)
            + track_score(problem, state.track_on, int(r)),
            9,
        )
        for r in np.unique(np.r_[ranks, problem.tracks.request_rank])
    )


def total_objective(problem: Problem, state: LinkState) -> float:
    """F: the sum of the class objectives of a plan (no link cost)."""
    return float(sum(class_scores(problem, state)))
