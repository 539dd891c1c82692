"""Solve the compute-job MILP node by node through the solver gateway.

Nodes share nothing in the model (:func:`node_view`), so each node's MILP
(:func:`rsmodel.optimize.compute_model.build_compute_model`) is solved on its own with
one time budget for all of them (``settings.time_limit_s`` from the call, or the plan's deadline:
build included, :mod:`rsmodel.optimize.gateway`), several at a time
in worker processes when ``settings.threads`` allows (:mod:`rsmodel.optimize.compute_pool`:
:func:`solve_view` is a pure function of its view); the SOC is then re-integrated physically
(:func:`soc_trajectories`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from rsmodel.optimize.compute_greedy import GreedyPlan, greedy_view
from rsmodel.optimize.compute_pool import Failed, pool_workers, run_all
from rsmodel.optimize.compute_problem import ComputeProblem, Options
from rsmodel.optimize.compute_value import feasible_options, objective_bound, objective_value
from rsmodel.optimize.deadline import (
    BuildTimeout,
    budget_s,
    build_deadline,
    from_wall_clock,
    gc_paused,
    wall_clock,
)
from rsmodel.optimize.energy import WH_PER_WS, simulate_soc_wh
from rsmodel.optimize.status import SolveOptions, SolveResult, SolveStatus, StageReport, worst

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

    @property
    def mip_gap(self) -> float | None:
        """The largest relative gap HiGHS stated for a node MILP or block (None: a plan without
        a bound, e.g. the greedy plan of a build cut by the time limit)."""
        gaps = [s.mip_gap for s in self.stages if s.status != SolveStatus.EMPTY]
        return None if None in gaps else max(gaps, default=0.0)


@dataclass
class ViewSolution:
    """One MILP of a node view: chosen options, last pass segments (view indices), result."""

    chosen: np.ndarray
    last: set[int]
    result: SolveResult
    source: str  # "milp", "greedy" (the fallback's plan) or "none" (the worker failed)
    greedy_size: int  # options the greedy start chose


def node_view(p: ComputeProblem, node: str) -> tuple[ComputeProblem, np.ndarray]:
    """The sub-problem of one node (nodes share nothing in this model) and its option ids."""
    ids = np.flatnonzero(p.of_options(lambda r: r.node.name) == node)
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


def solve_compute(
    p: ComputeProblem, *, workers: int | None = None, stop_at: float | None = None
) -> ComputeSolution:
    """Solve each node's MILP with HiGHS, ``workers`` nodes at a time in worker processes
    (default :func:`~rsmodel.optimize.compute_pool.pool_workers`: up to ``settings.threads``,
    the ``threads`` shared among them); SOC re-integrated physically. One deadline for all
    nodes: ``stop_at`` (``time.perf_counter()`` s; default ``p.settings.time_limit_s`` from
    now); a node starts with what is left of it (build included; at least
    :data:`~rsmodel.optimize.deadline.MIN_SOLVE_S`, its greedy plan)."""
    limit_s = p.settings.time_limit_s
    stop_at = time.perf_counter() + limit_s if stop_at is None else stop_at
    chosen, last, stages = [], set(), []
    views = [(node, *node_view(p, node)) for node in p.energy]
    views = [(node, view, ids) for node, view, ids in views if view.active_steps]
    workers = pool_workers(p.settings.threads, len(views)) if workers is None else workers
    solved = run_all(  # the deadline as wall-clock time: a worker process reads its own clock
        partial(_solve_by, limit_s=limit_s, until=wall_clock(stop_at)),
        [with_threads(view, max(1, p.settings.threads // workers)) for _, view, _ in views],
        workers=workers,
        kill_after_s=limit_s + KILL_GRACE_S,
    )
    for (node, view, ids), local in zip(views, solved, strict=True):
        if isinstance(local, Failed):
            for ref in view.active_steps:
                p.reasons.setdefault(ref.index, f"node solve failed: {local.reason}")
            failed = SolveResult(SolveStatus.ERROR, False)
            local = ViewSolution(np.zeros(0, dtype=int), set(), failed, "none", 0)
        r = local.result
        if r.status == SolveStatus.NO_SOLUTION:  # the limit cut even the greedy start
            for ref in view.active_steps:
                p.reasons.setdefault(
                    ref.index,
                    f"solver time limit {limit_s:g} s reached before any plan (the greedy "
                    "start included) was found",
                )
        chosen.append(ids[local.chosen])
        last |= {int(ids[c]) for c in local.last}
        stages.append(
            StageReport(node, r.status, r.objective, r.bound, r.mip_gap, r.build_s, r.solve_s,
                        sizes={"options": len(view.options.step), "columns": r.columns,
                               "rows": r.rows},
                        extra={"plan": local.source, "greedy_options": local.greedy_size})
        )  # fmt: skip
        if local.source == "greedy" and r.status != SolveStatus.OPTIMAL:  # not within the gap
            placed = set(view.options.step[local.chosen].tolist())
            why = greedy_reason(r.status, limit_s)
            for ref in view.active_steps:
                if ref.index not in placed:
                    p.reasons.setdefault(ref.index, why)
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


def _solve_by(view: ComputeProblem, *, limit_s: float, until: float) -> ViewSolution:
    """:func:`solve_view` with what is left before ``until`` (``time.time()`` s), at most
    ``limit_s``: the node's share of the plan's deadline, read when its process starts."""
    return solve_view(view, time_limit_s=budget_s(limit_s, from_wall_clock(until)))


def with_threads(view: ComputeProblem, threads: int) -> ComputeProblem:
    """``view`` solved with ``threads`` HiGHS threads."""
    view.settings = replace(view.settings, threads=threads)
    return view


def solve_view(p: ComputeProblem, *, time_limit_s: float) -> ViewSolution:
    """Solve one node's compute MILP (a node view from :func:`node_view`, or a rolling block of
    one) within ``time_limit_s`` wall seconds: the option pruning, the greedy plan, the Pyomo
    build and HiGHS all count; ``settings.mip_gap`` is the relative gap.

    Options no plan could use are dropped first
    (:func:`~rsmodel.optimize.compute_value.feasible_options`). The greedy plan
    (:func:`rsmodel.optimize.compute_greedy.greedy_view`) is the MIP start and the fallback,
    and its gap is stated against a valid bound
    (:func:`~rsmodel.optimize.compute_value.objective_bound`: every step at its best options
    as if alone): within ``mip_gap`` of it, the greedy plan is the result (status optimal, no
    MILP built); a build cut by the limit, a run without an incumbent or one placing fewer steps
    returns it (``source`` "greedy", with that gap). Presolve stays off: its probing takes a
    minute on a 24-step DAG that solves in ~1.5 s without it (benchmarks/bench_compute.py)."""
    t0 = time.perf_counter()
    stop_at = t0 + time_limit_s
    greedy, bound = None, None
    try:
        with gc_paused(), build_deadline(stop_at):
            keep = np.flatnonzero(feasible_options(p))
            q = option_subset(p, keep)
            greedy = greedy_view(q)
            bound = objective_bound(q)
            value = objective_value(q, greedy.chosen, greedy.last)
            if p.settings.method == "greedy" or _gap(value, bound) <= p.settings.mip_gap:
                alone = p.settings.method == "greedy"
                status = SolveStatus.HEURISTIC if alone else SolveStatus.OPTIMAL
                done = SolveResult(status, True, build_s=time.perf_counter() - t0)
                return _mapped(keep, greedy, _stated(done, value, bound), "greedy", greedy.size)
        # A MILP after all: Pyomo's model and the gateway (HiGHS, SciPy) come in now, outside the
        # alarm (an import cut short leaves modules half initialised); a greedy plan within the
        # gap never loads them.
        from rsmodel.optimize.compute_model import build_compute_model
        from rsmodel.optimize.gateway import HighsModel

        with gc_paused(), build_deadline(stop_at):
            m = build_compute_model(q)
            b = m.compute
            options = SolveOptions(
                time_limit_s=time_limit_s,
                mip_gap=p.settings.mip_gap,
                threads=p.settings.threads,
                presolve=False,
            )
            solver = HighsModel.from_pyomo(m, options, t_start=t0)
            x_cols = solver.columns_of([b.x[c] for c in b.O])
            f_cols = solver.columns_of([b.f[c] for c in b.PO])
    except BuildTimeout:
        stopped = SolveResult(SolveStatus.TIME_LIMIT, False, build_s=time.perf_counter() - t0)
        if greedy is None:
            stopped.status = SolveStatus.NO_SOLUTION
            return ViewSolution(np.zeros(0, dtype=int), set(), stopped, "none", 0)
        bound = objective_bound(q) if bound is None else bound
        kept = _stated(stopped, objective_value(q, greedy.chosen, greedy.last), bound)
        return _mapped(keep, greedy, kept, "greedy", greedy.size)
    built = time.perf_counter()
    x_start = np.isin(np.fromiter(b.O, dtype=int, count=len(b.O)), greedy.chosen)
    f_start = np.array([c in greedy.last for c in b.PO], dtype=float)
    solver.set_start(
        np.concatenate([x_cols, f_cols]), np.concatenate([x_start, f_start]), partial=True
    )
    result = solver.run()
    result.build_s = built - t0
    if not result.has_solution:
        if result.status == SolveStatus.NO_SOLUTION:  # stopped: the greedy plan is the result
            result.status = SolveStatus.TIME_LIMIT
        return _mapped(keep, greedy, _stated(result, value, bound), "greedy", greedy.size)
    x = solver.values(x_cols)
    f = solver.values(f_cols)
    chosen = np.array([c for c, v in zip(b.O, x, strict=True) if v > 0.5], dtype=int)
    last = {int(c) for c, v in zip(b.PO, f, strict=True) if v > 0.5}
    if steps_placed(q, greedy.chosen) > steps_placed(q, chosen):
        result.status = SolveStatus.GREEDY_BETTER
        return _mapped(keep, greedy, _stated(result, value, bound), "greedy", greedy.size)
    kept = _stated(result, result.objective, bound)  # type: ignore[arg-type]
    return _mapped(keep, GreedyPlan(chosen, last), kept, "milp", greedy.size)


def option_subset(p: ComputeProblem, keep: np.ndarray) -> ComputeProblem:
    """``p`` with only the options ``keep`` (indices, ascending)."""
    opts = Options(**{k: getattr(p.options, k)[keep] for k in Options.__dataclass_fields__})
    return replace(p, options=opts)


def _mapped(keep: np.ndarray, plan: GreedyPlan, result: SolveResult, source: str,
            greedy_size: int) -> ViewSolution:  # fmt: skip
    """A plan of :func:`option_subset` ``keep`` as a solution of the whole view."""
    return ViewSolution(keep[plan.chosen], {int(keep[c]) for c in plan.last}, result, source,
                        greedy_size)  # fmt: skip


def _gap(value: float, bound: float) -> float:
    """Relative gap of a plan's objective ``value`` to an upper ``bound`` (as HiGHS states it)."""
    return max(bound - value, 0.0) / max(abs(value), 1.0)


def _stated(result: SolveResult, value: float, bound: float) -> SolveResult:
    """``result`` for the plan kept, of objective ``value``: the better of HiGHS's bound and the
    combinatorial ``bound``, and the gap between them."""
    result.objective = value
    result.bound = min(bound, result.bound) if result.bound is not None else bound
    result.mip_gap = _gap(value, result.bound)
    return result


def greedy_reason(status: SolveStatus, limit_s: float) -> str:
    """Why a step of a node whose greedy plan was kept is missed."""
    if status == SolveStatus.HEURISTIC:
        return "the greedy list scheduler (solver.method greedy) found no feasible start"
    return (
        f"not placed by the greedy plan kept as the result (MILP {status}, solver time limit "
        f"{limit_s:g} s)"
    )


def steps_placed(p: ComputeProblem, chosen: np.ndarray) -> int:
    """Distinct steps among ``chosen`` options."""
    return len(np.unique(p.options.step[chosen]))


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
