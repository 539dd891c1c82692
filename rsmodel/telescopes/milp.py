"""MILP look-ahead planner (Pyomo + HiGHS), time-indexed on the sparse candidate blocks.

Variables: ``z[b]`` (block ``b`` is observed), ``u[k, f]`` (deep-sky stack ``k`` uses family
``f``), ``y[k]`` (reliability-weighted frames credited to stack ``k``). Constraints: one block
per ToO / SSA task; at most one block per telescope per slot (setup and slew are inside the
block); a stack uses one family; ``y[k] <= frames wanted`` and ``<= sum rel*frames*z``.

Objective: ``W_too * sum rel*z (ToO) + W_ssa * sum rel*z (SSA) + sum y[k]/frames[k] - eps *
sum z``. The class weights are lexicographic: ``W_ssa`` exceeds the whole deep-sky value and
``W_too`` the whole SSA + deep-sky value (divided by the smallest reliability), so a ToO always
pre-empts SSA tracks and an SSA track always pre-empts deep sky.
"""

from __future__ import annotations

import time
from collections import defaultdict

import numpy as np
import pyomo.core as pyo

from rsmodel.optimize.gateway import HighsModel
from rsmodel.optimize.status import SolveOptions
from rsmodel.telescopes.tasks import Instance

MIN_RELIABILITY_FOR_WEIGHTS = 0.01
BLOCK_COST = 1e-4


def class_weights(inst: Instance) -> dict[str, float]:
    """Lexicographic class weights for this instance (see the module docstring)."""
    r_min = max(MIN_RELIABILITY_FOR_WEIGHTS, float(min(inst.reliability, default=1.0)))
    n_deep = sum(t.cls == "deep_sky" for t in inst.tasks)
    n_ssa = sum(t.cls == "ssa" for t in inst.tasks)
    w_ssa = (n_deep + 1.0) / r_min
    w_too = (n_ssa * w_ssa + n_deep + 1.0) / r_min
    return {"too": w_too, "ssa": w_ssa, "deep_sky": 1.0}


def overlap_cliques(inst: Instance) -> list[list[int]]:
    """Sets of blocks that overlap on one telescope: those covering each block's first slot.

    Any set of pairwise-overlapping intervals shares the start of one of them, so one row per
    distinct start slot (with >= 2 blocks) states "one block at a time" exactly, as cliques.
    """
    by_tel: dict[int, list[int]] = defaultdict(list)
    for i, b in enumerate(inst.blocks):
        by_tel[b.telescope].append(i)
    out = []
    for ids in by_tel.values():
        idx = np.array(ids)
        first = np.array([inst.blocks[i].first for i in ids])
        last = np.array([inst.blocks[i].last for i in ids])
        for s in np.unique(first):
            members = idx[(first <= s) & (s < last)]
            if len(members) > 1:
                out.append(members.tolist())
    return out


def objective_value(inst: Instance, chosen: list[int]) -> float:
    """The MILP objective of any plan (chosen blocks), e.g. the dispatcher's, for comparison."""
    weights = class_weights(inst)
    value = -BLOCK_COST * len(chosen)
    credit: dict[int, float] = defaultdict(float)
    for i in chosen:
        b = inst.blocks[i]
        task = inst.tasks[b.task]
        if task.cls == "deep_sky":
            credit[b.task] += inst.reliability[b.telescope] * b.frames
        else:
            value += weights[task.cls] * inst.reliability[b.telescope]
    return float(
        value + sum(min(c, inst.tasks[t].frames) / inst.tasks[t].frames for t, c in credit.items())
    )


def build_network_model(inst: Instance) -> pyo.ConcreteModel:
    """The Pyomo model of an instance (sparse sets only)."""
    blocks, tasks = inst.blocks, inst.tasks
    weights = class_weights(inst)
    m = pyo.ConcreteModel("telescopes")
    m.B = pyo.Set(initialize=range(len(blocks)))
    m.z = pyo.Var(m.B, domain=pyo.Binary)
    by_task: dict[int, list[int]] = defaultdict(list)
    for i, b in enumerate(blocks):
        by_task[b.task].append(i)
    timed = [t for t in by_task if tasks[t].cls != "deep_sky"]
    deep = [t for t in by_task if tasks[t].cls == "deep_sky"]
    m.one_block = pyo.Constraint(timed, rule=lambda m, t: sum(m.z[i] for i in by_task[t]) <= 1)
    cliques = overlap_cliques(inst)
    m.capacity = pyo.Constraint(
        range(len(cliques)), rule=lambda m, c: sum(m.z[i] for i in cliques[c]) <= 1
    )
    fam_pairs = sorted(
        {(blocks[i].task, inst.family[blocks[i].telescope]) for t in deep for i in by_task[t]}
    )
    m.u = pyo.Var(fam_pairs, domain=pyo.Binary)
    m.one_family = pyo.Constraint(
        deep, rule=lambda m, t: sum(m.u[k, f] for k, f in fam_pairs if k == t) <= 1
    )
    deep_blocks = [i for t in deep for i in by_task[t]]
    m.in_family = pyo.Constraint(
        deep_blocks,
        rule=lambda m, i: m.z[i] <= m.u[blocks[i].task, inst.family[blocks[i].telescope]],
    )
    m.y = pyo.Var(deep, domain=pyo.NonNegativeReals, bounds=lambda m, t: (0, tasks[t].frames))
    m.frames = pyo.Constraint(
        deep,
        rule=lambda m, t: (
            m.y[t]
            <= sum(
                inst.reliability[blocks[i].telescope] * blocks[i].frames * m.z[i]
                for i in by_task[t]
            )
        ),
    )
    timed_value = sum(
        weights[tasks[blocks[i].task].cls] * inst.reliability[blocks[i].telescope] * m.z[i]
        for t in timed
        for i in by_task[t]
    )
    deep_value = sum(m.y[t] / tasks[t].frames for t in deep)
    m.obj = pyo.Objective(
        expr=timed_value + deep_value - BLOCK_COST * sum(m.z[i] for i in m.B), sense=pyo.maximize
    )
    return m


def set_start(m: pyo.ConcreteModel, inst: Instance, start: list[int]) -> None:
    """Load a feasible plan (e.g. the dispatcher's) into the variables as the MIP start."""
    chosen = set(start)
    for i in m.B:
        m.z[i].set_value(int(i in chosen))
    used = {(inst.blocks[i].task, inst.family[inst.blocks[i].telescope]) for i in chosen}
    for key in m.u:
        m.u[key].set_value(int(key in used))
    credit: dict[int, float] = defaultdict(float)
    for i in chosen:
        b = inst.blocks[i]
        credit[b.task] += inst.reliability[b.telescope] * b.frames
    for t in m.y:
        m.y[t].set_value(min(credit[t], inst.tasks[t].frames))


def solve_milp(
    inst: Instance, *, time_limit_s: float, start: list[int] | None = None, mip_gap: float = 1e-6
) -> tuple[list[int], dict]:
    """Chosen block indices and solver facts (method, status, objective, bound, build/solve time).

    ``start``: a feasible plan (block indices) handed to HiGHS as the MIP start, so a
    time-limited solve is never worse than it.
    """
    t0 = time.perf_counter()
    m = build_network_model(inst)
    solver = HighsModel.from_pyomo(
        m, SolveOptions(time_limit_s=time_limit_s, mip_gap=mip_gap), t_start=t0
    )
    if start is not None:
        set_start(m, inst, start)
        variables = list(m.component_data_objects(pyo.Var))
        solver.set_start(
            solver.columns_of(variables), np.array([v.value or 0.0 for v in variables])
        )
    result = solver.run()
    info = {
        "method": "milp",
        "status": str(result.status),
        "objective": result.objective,
        "bound": result.bound,
        "build_s": round(result.build_s, 3),
        "solve_s": round(result.solve_s, 3),
        "time_limit_s": time_limit_s,
        "variables": len(inst.blocks),
        "capacity_rows": len(m.capacity),
        "warm_start": start is not None,
        "class_weights": class_weights(inst),
    }
    if not result.has_solution:
        return [], info
    z = solver.values(solver.columns_of([m.z[i] for i in m.B]))
    return [i for i, v in zip(m.B, z, strict=True) if v > 0.5], info
