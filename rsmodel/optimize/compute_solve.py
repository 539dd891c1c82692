"""Solve the compute-job MILP node by node through the solver gateway.

Nodes share nothing in the model (:func:`node_view`), so each node's MILP
(:func:`rsmodel.optimize.compute_model.build_compute_model`) is solved on its own with
``settings.time_limit_s`` (build included, :mod:`rsmodel.optimize.gateway`), several at a time
in worker processes when ``settings.threads`` allows (:mod:`rsmodel.optimize.compute_pool`:
:func:`solve_view` is a pure function of its view); the SOC is then re-integrated physically
(:func:`soc_trajectories`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from rsmodel.optimize.compute_model import build_compute_model
from rsmodel.optimize.compute_pool import Failed, pool_workers, run_all
from rsmodel.optimize.compute_problem import ComputeProblem, Options
from rsmodel.optimize.energy import WH_PER_WS, simulate_soc_wh
from rsmodel.optimize.gateway import BuildTimeout, HighsModel, build_deadline, gc_paused
from rsmodel.optimize.status import SolveOptions, SolveResult, SolveStatus, StageReport, worst

ABS_GAP_PER_REL = 1.0  # solver.mip_gap 1e-3 -> absolute gap 1e-3 of the objective
KILL_GRACE_S = 30.0  # a node's worker process still running this long after its limit is killed


@dataclass
class ComputeSolution:
    """Chosen options (and last pass segments), SOC trajectories and solver figures."""

    problem: ComputeProblem
    chosen: np.ndarray  # option indices
    last: set[int]  # option indices that are the final segment of a pass step
    soc_wh: dict[str, np.ndarray]
    status: SolveStatus
    objective: float | None
    build_s: float
    solve_s: float
    strategy: str = "monolithic"  # or "rolling" (rsmodel.optimize.compute_rolling)
    strategy_reason: str = ""
    notes: list[str] = field(default_factory=list)
    stages: list[StageReport] = field(default_factory=list)  # one per node MILP / rolling block


@dataclass
class ViewSolution:
    """One MILP of a node view: chosen options, last pass segments (view indices), result."""

    chosen: np.ndarray
    last: set[int]
    result: SolveResult


def node_view(p: ComputeProblem, node: str) -> tuple[ComputeProblem, np.ndarray]:
    """The sub-problem of one node (nodes share nothing in this model) and its option ids."""
    ids = np.flatnonzero(
        np.array([p.steps[int(s)].node.name == node for s in p.options.step], dtype=bool)
    )
    opts = Options(**{k: getattr(p.options, k)[ids] for k in Options.__dataclass_fields__})
    view = ComputeProblem(
        p.start,
        p.t_s,
        {node: p.energy[node]},
        p.intervals,
        p.steps,
        opts,
        p.reasons,
        p.warnings,
        p.downlink_bytes,
        settings=p.settings,
    )
    return view, ids


def solve_compute(p: ComputeProblem, *, workers: int | None = None) -> ComputeSolution:
    """Solve each node's MILP with HiGHS (``p.settings.time_limit_s`` per node, build
    included), ``workers`` nodes at a time in worker processes (default
    :func:`~rsmodel.optimize.compute_pool.pool_workers`: up to ``settings.threads``, the
    ``threads`` shared among them); SOC re-integrated physically."""
    limit_s = p.settings.time_limit_s
    chosen, last, stages = [], set(), []
    views = [(node, *node_view(p, node)) for node in p.energy]
    views = [(node, view, ids) for node, view, ids in views if view.active_steps]
    workers = pool_workers(p.settings.threads, len(views)) if workers is None else workers
    solved = run_all(
        partial(solve_view, time_limit_s=limit_s),
        [_with_threads(view, max(1, p.settings.threads // workers)) for _, view, _ in views],
        workers=workers,
        kill_after_s=limit_s + KILL_GRACE_S,
    )
    for (node, view, ids), local in zip(views, solved, strict=True):
        if isinstance(local, Failed):
            for ref in view.active_steps:
                p.reasons.setdefault(ref.index, f"node solve failed: {local.reason}")
            local = ViewSolution(
                np.zeros(0, dtype=int), set(), SolveResult(SolveStatus.ERROR, False)
            )
        r = local.result
        chosen.append(ids[local.chosen])
        last |= {int(ids[c]) for c in local.last}
        stages.append(
            StageReport(node, r.status, r.objective, r.bound, r.mip_gap, r.build_s, r.solve_s,
                        sizes={"options": len(view.options.step), "columns": r.columns,
                               "rows": r.rows})
        )  # fmt: skip
        if r.objective is None:
            for ref in view.active_steps:
                p.reasons.setdefault(
                    ref.index, f"no solution within the solver time limit ({limit_s:g} s)"
                )
    picked_all = np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)
    return ComputeSolution(
        p,
        picked_all,
        last,
        soc_trajectories(p, picked_all),
        worst([s.status for s in stages]),
        sum(s.objective or 0.0 for s in stages),
        sum(s.build_s for s in stages),
        sum(s.solve_s for s in stages),
        stages=stages,
    )


def _with_threads(view: ComputeProblem, threads: int) -> ComputeProblem:
    """``view`` solved with ``threads`` HiGHS threads."""
    view.settings = replace(view.settings, threads=threads)
    return view


def solve_view(
    p: ComputeProblem, *, time_limit_s: float, build_in_limit: bool = True
) -> ViewSolution:
    """Build and solve the MILP of a node view (or a rolling block of one) within
    ``time_limit_s`` wall seconds, build included (``build_in_limit=False``: from the end of
    the build, for rolling blocks whose budget is a share of the node's); the model's
    ``settings`` give gap and threads.

    The objective is ~100 per placed step: an absolute gap keeps timing terms meaningful.
    HiGHS presolve substitutes the SOC chain and fills in (minutes); without it: < 1 s."""
    t0 = time.perf_counter()
    options = SolveOptions(
        time_limit_s=time_limit_s,
        mip_gap=0.0,
        abs_gap=p.settings.mip_gap * ABS_GAP_PER_REL,
        threads=p.settings.threads,
        presolve=False,
    )
    stop_at = t0 + time_limit_s if build_in_limit else float("inf")
    try:
        with gc_paused(), build_deadline(stop_at):
            m = build_compute_model(p)
            b = m.compute
            solver = HighsModel.from_pyomo(m, options, t_start=t0)
            x_cols = solver.columns_of([b.x[c] for c in b.O])
            f_cols = solver.columns_of([b.f[c] for c in b.PO])
    except BuildTimeout:
        timed_out = SolveResult(SolveStatus.NO_SOLUTION, False, build_s=time.perf_counter() - t0)
        return ViewSolution(np.zeros(0, dtype=int), set(), timed_out)
    built = time.perf_counter()
    if not build_in_limit:
        solver.t_start = built
    result = solver.run()
    result.build_s = built - t0
    if not result.has_solution:
        return ViewSolution(np.zeros(0, dtype=int), set(), result)
    x = solver.values(x_cols)
    f = solver.values(f_cols)
    chosen = np.array([c for c, v in zip(b.O, x, strict=True) if v > 0.5], dtype=int)
    last = {int(c) for c, v in zip(b.PO, f, strict=True) if v > 0.5}
    return ViewSolution(chosen, last, result)


def compute_seconds_per_slot(p: ComputeProblem, chosen: np.ndarray, node: str) -> np.ndarray:
    """Seconds of onboard compute of ``chosen`` options of ``node`` in each slot."""
    o = p.options
    out = np.zeros(p.n_slots)
    for c in chosen:
        ref = p.steps[int(o.step[c])]
        if ref.node.name != node or not ref.onboard:
            continue
        k = np.arange(o.start[c], o.end[c])
        out[k] += np.minimum(p.t_s[k + 1], o.end_s[c]) - p.t_s[k]
    return out


def soc_trajectories(p: ComputeProblem, chosen: np.ndarray) -> dict[str, np.ndarray]:
    """Physical SOC (K+1,) Wh per node for the chosen options (charge clipped at capacity)."""
    out = {}
    for name, e in p.energy.items():
        busy_s = compute_seconds_per_slot(p, chosen, name)
        out[name] = simulate_soc_wh(
            e.capacity_wh, e.initial_wh, e.charge_wh - e.idle_wh - e.compute_w * WH_PER_WS * busy_s
        )
    return out
