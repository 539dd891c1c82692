"""Bytes per (demand, candidate) pair, link capacity, unmet bytes and bytes conservation."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from rsmodel.optimize.contacts import link_capacity
from rsmodel.optimize.problem import UNIT_BYTES, Problem, group_positions

_MIN_LINK_BYTES = 1.0


def add_transfers(m: pyo.ConcreteModel, problem: Problem, idx) -> None:
    """y[p] MB on stage pair p (0..ub); unmet[k] MB per stage demand; delivered + unmet = size;
    per link: sum y <= capacity (x, setup); per fixed link: sum y <= residual."""
    p = problem
    ub = idx.pair_ub / UNIT_BYTES
    m.PAIRS = pyo.RangeSet(0, idx.n_pairs - 1)
    m.y = pyo.Var(m.PAIRS, bounds=lambda m, i: (0.0, float(ub[i])))
    size = p.demand_size[idx.demands] / UNIT_BYTES
    m.DEMANDS = pyo.RangeSet(0, len(idx.demands) - 1)
    m.unmet = pyo.Var(m.DEMANDS, bounds=lambda m, k: (0.0, float(size[k])))

    position = np.full(len(p.demands), -1, dtype=int)
    position[idx.demands] = np.arange(len(idx.demands))
    by_demand = group_positions(position[p.pair_demand[idx.pairs]], len(idx.demands))
    m.conserve = pyo.Constraint(
        m.DEMANDS,
        rule=lambda m, k: (
            pyo.quicksum(m.y[int(i)] for i in by_demand[k]) + m.unmet[k] == float(size[k])
        ),
    )

    cand = p.pair_cand[idx.pairs]
    link_pos = np.full(len(p.cand_window), -1, dtype=int)
    link_pos[idx.links] = np.arange(len(idx.links))
    by_link = group_positions(
        np.where(link_pos[cand] >= 0, link_pos[cand], len(idx.links)), len(idx.links) + 1
    )
    m.link_cap = pyo.Constraint(
        m.LINKS,
        rule=lambda m, i: (
            pyo.quicksum(m.y[int(j)] for j in by_link[i]) <= link_capacity(m, p, idx, i)
        ),
    )
    needs_bytes = np.flatnonzero(p.cand_setup_bytes[idx.links] > 0)
    m.link_used = pyo.Constraint(
        needs_bytes.tolist(),
        rule=lambda m, i: (
            pyo.quicksum(m.y[int(j)] for j in by_link[i]) >= _MIN_LINK_BYTES / UNIT_BYTES * m.x[i]
        ),
    )

    fixed_pos = np.full(len(p.cand_window), -1, dtype=int)
    fixed_pos[idx.fixed] = np.arange(len(idx.fixed))
    by_fixed = group_positions(
        np.where(fixed_pos[cand] >= 0, fixed_pos[cand], len(idx.fixed)), len(idx.fixed) + 1
    )
    shared = [k for k in range(len(idx.fixed)) if len(by_fixed[k]) > 1]
    m.fixed_cap = pyo.Constraint(
        shared,
        rule=lambda m, k: (
            pyo.quicksum(m.y[int(j)] for j in by_fixed[k])
            <= float(idx.fixed_residual[k] / UNIT_BYTES)
        ),
    )
