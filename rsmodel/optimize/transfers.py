"""Bytes per (demand, candidate) pair, link capacity, unmet bytes and bytes conservation."""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from rsmodel.optimize.contacts import link_capacity
from rsmodel.optimize.problem import UNIT_BYTES, Problem, group_positions

_MIN_LINK_BYTES = 1.0


def add_transfers(m: pyo.ConcreteModel, problem: Problem, idx) -> None:
    """y[p] MB on stage pair p (0..ub); unmet[k] MB per stage demand; delivered + unmet = size;
    per link: sum y <= capacity (x, setup); per fixed link: sum y <= residual."""
    p = problem
    ub = idx.pair_ub / UNIT_BYTES
    size = idx.need / UNIT_BYTES
    m.PAIRS = pyo.RangeSet(0, idx.n_pairs - 1)
    m.y = pyo.Var(m.PAIRS, bounds=lambda m, i: (0.0, float(ub[i])))
    m.DEMANDS = pyo.RangeSet(0, len(idx.demands) - 1)
    m.unmet = pyo.Var(m.DEMANDS, bounds=lambda m, k: (0.0, float(size[k])))
    ys, unmet, xs = list(m.y.values()), list(m.unmet.values()), list(m.x.values())

    sizes = size.tolist()  # Python floats: numpy scalars make Pyomo expressions slow
    position = np.full(len(p.demands), -1, dtype=int)
    position[idx.demands] = np.arange(len(idx.demands))
    by_demand = group_positions(position[p.pair_demand[idx.pairs]], len(idx.demands))
    m.conserve = pyo.Constraint(
        m.DEMANDS,
        rule=lambda m, k: (
            sizes[k],
            pyo.quicksum([ys[i] for i in by_demand[k]] + [unmet[k]]),
            sizes[k],
        ),
    )

    cand = p.pair_cand[idx.pairs]
    by_link = _groups_of(cand, idx.links, len(p.cand_window))
    m.link_cap = pyo.Constraint(
        m.LINKS,
        rule=lambda m, i: (
            None,
            pyo.quicksum([ys[j] for j in by_link[i]]) - link_capacity(m, p, idx, xs, i),
            0.0,
        ),
    )
    # a link on carries something (an idle one would be switched off, making the next slot a
    # contact start), unless the setup can fill its slot (a setup over several slots)
    setup = p.cand_setup_bytes[idx.links]
    full = setup >= p.cand_bytes[idx.links] - _MIN_LINK_BYTES
    needs_bytes = np.flatnonzero((setup > 0) & ~full).tolist()
    m.link_used = pyo.Constraint(
        needs_bytes,
        rule=lambda m, i: (
            0.0,
            pyo.quicksum([ys[j] for j in by_link[i]]) - _MIN_LINK_BYTES / UNIT_BYTES * xs[i],
            None,
        ),
    )
    by_fixed = _groups_of(cand, idx.fixed, len(p.cand_window))
    shared = [k for k in range(len(idx.fixed)) if len(by_fixed[k]) > 1]
    residual = idx.fixed_residual / UNIT_BYTES
    m.fixed_cap = pyo.Constraint(
        shared,
        rule=lambda m, k: (None, pyo.quicksum([ys[j] for j in by_fixed[k]]), float(residual[k])),
    )


def _groups_of(cand: np.ndarray, members: np.ndarray, n_cands: int) -> list[np.ndarray]:
    """For each candidate in ``members``: positions in ``cand`` (the stage pairs) that use it."""
    pos = np.full(n_cands, len(members), dtype=int)
    pos[members] = np.arange(len(members))
    return group_positions(pos[cand], len(members))
