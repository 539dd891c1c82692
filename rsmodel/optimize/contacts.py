"""Link variables: which node talks to which station in which slot (sparse, free candidates only)."""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from rsmodel.optimize.problem import UNIT_BYTES, Problem, group_positions


def add_contacts(m: pyo.ConcreteModel, problem: Problem, idx) -> None:
    """x[i] binary per free candidate; z[i] contact start where the previous slot is a variable
    too; at most the free antennas per (station, slot); one station per radio and slot (a node's
    radio, or one per band for a node with ``simultaneous_bands``)."""
    links = idx.links
    m.LINKS = pyo.RangeSet(0, len(links) - 1)
    m.x = pyo.Var(m.LINKS, domain=pyo.Binary)
    xs = list(m.x.values())
    setup = problem.cand_setup_bytes[links]
    starts = np.flatnonzero((idx.link_prev >= 0) & (setup > 0) & ~idx.link_prev_on)
    prev = idx.link_prev
    m.STARTS = pyo.Set(initialize=starts.tolist(), ordered=True)
    m.z = pyo.Var(m.STARTS, bounds=(0, 1))
    m.contact_start = pyo.Constraint(
        m.STARTS, rule=lambda m, i: m.z[i] - xs[i] + xs[int(prev[i])] >= 0
    )
    n_slots = max(problem.n_slots, 1)
    _antennas(m, idx)
    _at_most(
        m,
        "one_station",
        problem.cand_radio[links] * n_slots + problem.cand_slot[links],
        np.ones(len(links)),
    )


def link_capacity(m: pyo.ConcreteModel, problem: Problem, idx, xs: list, i: int):
    """MB link ``i`` can carry: capacity x minus the setup of each contact start whose setup
    reaches its slot (its own start, or an earlier link of its window when the setup lasts
    several slots; rsmodel.optimize.setup)."""
    out = float(problem.cand_bytes[idx.links[i]] / UNIT_BYTES) * xs[i]
    for j, spill in setup_into(problem, idx, i):
        if idx.link_prev_on[j]:
            break  # the contact began in an earlier class: its setup is behind
        start = m.z[j] if idx.link_prev[j] >= 0 else xs[j]
        out = out - spill / UNIT_BYTES * start
    return out


def setup_into(problem: Problem, idx, i: int) -> list[tuple[int, float]]:
    """(link j, bytes of link ``i`` the setup takes if a contact starts at j) for ``i`` and the
    links before it in its window whose setup reaches ``i``'s slot."""
    p, links = problem, idx.links
    c = int(links[i])
    t0, t1 = float(p.cand_t0_s[c]), float(p.cand_t1_s[c])
    out = [(i, float(p.cand_setup_bytes[c]))] if p.cand_setup_bytes[c] > 0 else []
    j = int(idx.link_prev[i])
    while j >= 0 and (ends := float(p.cand_t0_s[links[j]] + p.cand_setup_s[links[j]])) > t0:
        out.append((j, float(p.curve_bytes(np.array([c]), t0, min(t1, ends))[0])))
        j = int(idx.link_prev[j])
    return out


def _antennas(m: pyo.ConcreteModel, idx) -> None:
    """Per (station, slot): the nodes keeping an antenna there (a link on in the slot, or in an
    earlier slot whose turnaround reaches it) at most the antennas left; a node with several
    such links counts once (``hold[g] >= x`` of each)."""
    xs = list(m.x.values())
    terms: list[list] = []
    limits: list[float] = []
    multi: list[np.ndarray] = []
    if len(idx.cover_key):
        uniq, inverse = np.unique(idx.cover_key, return_inverse=True)
        for g in group_positions(inverse, len(uniq)):
            nodes, first = np.unique(idx.cover_node[g], return_inverse=True)
            if len(nodes) <= idx.cover_limit[g[0]]:
                continue
            row = []
            for j in range(len(nodes)):
                links = np.unique(idx.cover_link[g[first == j]])
                if len(links) == 1:
                    row.append(("x", int(links[0])))
                else:
                    row.append(("hold", len(multi)))
                    multi.append(links)
            terms.append(row)
            limits.append(float(idx.cover_limit[g[0]]))
    m.HOLDS = pyo.RangeSet(0, len(multi) - 1)
    m.hold = pyo.Var(m.HOLDS, bounds=(0, 1))
    pairs = [(h, int(i)) for h, links in enumerate(multi) for i in links]
    m.hold_link = pyo.Constraint(
        range(len(pairs)), rule=lambda m, k: m.hold[pairs[k][0]] >= xs[pairs[k][1]]
    )
    m.antennas = pyo.Constraint(
        range(len(terms)),
        rule=lambda m, k: (
            None,
            pyo.quicksum([xs[i] if kind == "x" else m.hold[i] for kind, i in terms[k]]),
            limits[k],
        ),
    )


def _at_most(m: pyo.ConcreteModel, name: str, keys: np.ndarray, limit: np.ndarray) -> None:
    """sum of x over each key group <= limit, only for groups that could exceed it."""
    xs = list(m.x.values())
    binding: list[np.ndarray] = []
    if len(keys):
        uniq, inverse = np.unique(keys, return_inverse=True)
        binding = [g for g in group_positions(inverse, len(uniq)) if len(g) > limit[g[0]]]
    constraint = pyo.Constraint(
        range(len(binding)),
        rule=lambda m, k: (
            None,
            pyo.quicksum([xs[i] for i in binding[k]]),
            float(limit[binding[k][0]]),
        ),
    )
    setattr(m, name, constraint)
