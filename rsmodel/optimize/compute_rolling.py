"""Rolling-horizon solve of the compute-job MILP (docs/compute.md, "Long horizons").

Blocks come from the strategy frame shared with the sync side (``settings.rolling``,
:mod:`rsmodel.optimize.strategy`). Per node, block k optimises the options that start in ``[b_k, b_k + block_s + lookahead_s)``
for steps not yet finished and commits those starting in ``[b_k, b_k + block_s)``. Carried
exactly across a boundary (:class:`rsmodel.optimize.compute_problem.Carry`):

- the battery: block k starts from the physical SOC (:func:`soc_trajectories`, charge clipped
  at capacity) of everything committed so far; committed compute that runs past ``b_k`` is a
  fixed draw in block k (and in its eclipse budgets), its slots are busy for new options;
- job progress: committed steps are fixed and finished (no more options); a successor starts
  only once its committed inputs are done (ground steps: the same downlink-capacity rule);
  a pass step with committed segments stays open (more segments in later passes, none in a
  pass it already used, ``max_segments`` counts the committed ones) until the block commits
  its last segment or one of its successors;
- deadlines: every option already ends by its step's deadline, and each MILP maximises
  placements first (100 per step) and lateness second, so a step that can run now runs in the
  first block that has room; the look-ahead lets a block see work due just after it.

A block is one MILP of every job's options in it, warm-started from the greedy plan of the
block (:mod:`rsmodel.optimize.compute_greedy`, also its fallback; the greedy plan alone when it
is within ``solver.mip_gap`` of the bound). Time: one deadline for all nodes (the plan's
compute share, docs/compute.md "Time limit"); a node starts with what is left of it (pruning,
greedy plans, Pyomo builds and HiGHS of its blocks), a block with what is left of its node's,
at least ``MIN_BLOCK_TIME_S`` (its greedy plan fits): HiGHS stops at ``solver.mip_gap``, so
the blocks a greedy plan settles (most of a fleet week's) leave their time to the others.
Nodes share nothing: ``solver.threads`` >= 2 rolls several at a time in worker processes
(:mod:`rsmodel.optimize.compute_pool`), with the same plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

import numpy as np

from rsmodel.optimize.compute_pool import Failed, pool_workers, run_all
from rsmodel.optimize.compute_problem import Carry, ComputeProblem, Options
from rsmodel.optimize.compute_solve import (
    KILL_GRACE_S,
    ComputeSolution,
    compute_seconds_per_slot,
    node_view,
    soc_trajectories,
    solve_view,
    with_threads,
)
from rsmodel.optimize.deadline import budget_s, from_wall_clock, wall_clock
from rsmodel.optimize.energy import WH_PER_WS
from rsmodel.optimize.status import SolveStatus, StageReport, worst
from rsmodel.optimize.strategy import Rolling
from rsmodel.timeutil import iso

MIN_BLOCK_TIME_S = 1.0
_EPS = 1e-6


def solve_compute_rolling(
    p: ComputeProblem, *, workers: int | None = None, stop_at: float | None = None
) -> ComputeSolution:
    """Rolling-horizon solve of every node (blocks ``settings.rolling``), ``workers`` nodes at
    a time in worker processes (default :func:`~rsmodel.optimize.compute_pool.pool_workers`: up
    to ``settings.threads``, the threads shared among them; nodes share nothing, so the plan is
    the sequential one). One deadline for all nodes: ``stop_at`` (``time.perf_counter()`` s;
    default ``settings.time_limit_s`` from now), each node starting with what is left of it
    (:func:`roll_node`). Same output as
    :func:`rsmodel.optimize.compute_solve.solve_compute`, SOC re-integrated over the whole
    horizon."""
    shape: Rolling = p.settings.rolling
    limit_s = p.settings.time_limit_s
    views = [(node, *node_view(p, node)) for node in p.energy]
    views = [(node, view, ids) for node, view, ids in views if view.active_steps]
    workers = pool_workers(p.settings.threads, len(views)) if workers is None else workers
    stop_at = time.perf_counter() + limit_s if stop_at is None else stop_at
    until = wall_clock(stop_at)
    rolled = run_all(  # the deadline as wall-clock time: a worker process reads its own clock
        partial(roll_node, shape=shape, limit_s=limit_s, until=until),
        [(node, with_threads(view, max(1, p.settings.threads // workers)))
         for node, view, _ in views],
        workers=workers,
        kill_after_s=limit_s + KILL_GRACE_S,
    )  # fmt: skip
    picked, stages, objective = [], [], 0.0
    for (node, view, ids), roll in zip(views, rolled, strict=True):
        if isinstance(roll, Failed):
            roll = RolledNode(
                np.zeros(0, dtype=int),
                [StageReport(node, SolveStatus.ERROR, extra={"node": node})],
                0.0,
                {r.index: f"node solve failed: {roll.reason}" for r in view.active_steps},
            )
        for step, why in roll.reasons.items():
            p.reasons.setdefault(step, why)
        picked.append(ids[roll.committed])
        stages += roll.stages
        objective += roll.objective
    chosen = np.concatenate(picked) if picked else np.zeros(0, dtype=int)
    n_blocks = int(np.ceil(float(p.t_s[-1]) / shape.block_s - _EPS))
    return ComputeSolution(
        p,
        chosen,
        last_segments(p, chosen),
        soc_trajectories(p, chosen),
        worst([s.status for s in stages], SolveStatus.BLOCKS_OPTIMAL),
        objective,
        sum(s.build_s for s in stages),
        sum(s.solve_s for s in stages),
        strategy="rolling",
        notes=[
            f"{n_blocks} {shape.describe()} per node ({len(stages)} block MILPs, every job at "
            f"once, greedy warm start; {workers} node(s) at a time); objective = their sum"
        ],
        stages=stages,
    )


@dataclass
class RolledNode:
    """One node's rolling solve: the options it committed (view indices), its blocks' reports,
    the sum of their objectives and why it left steps unplaced."""

    committed: np.ndarray
    stages: list[StageReport]
    objective: float
    reasons: dict[int, str]


def roll_node(
    item: tuple[str, ComputeProblem], *, shape: Rolling, limit_s: float, until: float
) -> RolledNode:
    """Roll the blocks of one node (``item``: its name and :func:`node_view`) with what is left
    before ``until`` (``time.time()`` s, read when it starts: a worker process reads its own
    clock), at most ``limit_s`` (:func:`~rsmodel.optimize.deadline.budget_s`). A pure function
    of its arguments, so it runs in a worker process."""
    node, view = item
    roll = NodeRoll(view, node, shape.block_s, shape.lookahead_s)
    roll.run(time_limit_s=budget_s(limit_s, from_wall_clock(until)))
    mine = {ref.index for ref in view.active_steps}
    reasons = {s: why for s, why in view.reasons.items() if s in mine}
    return RolledNode(np.array(roll.committed, dtype=int), roll.stages, roll.objective, reasons)


def last_segments(p: ComputeProblem, chosen: np.ndarray) -> set[int]:
    """The latest-ending chosen segment of every pass step."""
    o, last = p.options, {}
    for c in chosen.tolist():
        s = int(o.step[c])
        if p.steps[s].step.type == "pass" and (s not in last or o.end_s[c] > o.end_s[last[s]]):
            last[s] = c
    return set(last.values())


class NodeRoll:
    """The blocks of one node (``view`` from :func:`node_view`) and what they committed."""

    def __init__(self, view: ComputeProblem, node: str, block_s: float, lookahead_s: float):
        self.p, self.node = view, node
        self.block_s, self.lookahead_s = block_s, lookahead_s
        self.committed: list[int] = []  # option indices of the view
        self.finished: dict[int, int] = {}  # step -> slot by which it is done
        self.segments: dict[int, list[int]] = {}  # pass step -> committed segment options
        self.stages: list[dict] = []
        self.objective = 0.0
        self.onboard = view.of_options(lambda r: r.onboard, bool)

    def run(self, *, time_limit_s: float) -> None:
        starts = np.arange(0.0, float(self.p.t_s[-1]) - _EPS, self.block_s)
        stop = time.perf_counter() + time_limit_s
        for k, b0 in enumerate(starts):
            self.block(k, float(b0), stop)
        if any(
            s.extra.get("plan") == "greedy" and s.status != SolveStatus.OPTIMAL for s in self.stages
        ):
            placed = {int(self.p.options.step[c]) for c in self.committed}
            for ref in self.p.active_steps:
                if ref.index not in placed:
                    self.p.reasons.setdefault(
                        ref.index,
                        "not placed: a rolling block kept its greedy plan (no MILP solution "
                        "within the solver time limit)",
                    )

    def carry(self, k0: int) -> Carry:
        """The committed state at grid point ``k0`` (window and steps set once admitted)."""
        chosen = np.array(self.committed, dtype=int)
        open_pass = {
            s: (len(segs), int(max(self.p.options.end[segs])))
            for s, segs in self.segments.items()
            if s not in self.finished
        }
        return Carry(
            (k0, k0),
            soc_trajectories(self.p, chosen)[self.node],
            compute_seconds_per_slot(self.p, chosen, self.node),
            dict(self.finished),
            open_pass,
        )

    def candidates(self, carry: Carry, b0: float, b2: float) -> np.ndarray:
        """Options starting in ``[b0, b2)`` of unfinished steps, clear of committed compute,
        not in a pass a pass step already used, not before a finished input is done."""
        o = self.p.options
        keep = (o.start_s >= b0 - _EPS) & (o.start_s < b2 - _EPS)
        keep &= ~np.isin(o.step, list(self.finished))
        busy = np.concatenate([[0], np.cumsum(carry.busy_s > 0)])
        keep &= ~(self.onboard & (busy[o.end] > busy[o.start]))
        for s, segs in self.segments.items():
            keep &= ~((o.step == s) & np.isin(o.interval, o.interval[segs]))
        for ref in self.p.active_steps:
            for d in ref.preds:
                if d in self.finished and (ref.onboard or not self.p.steps[d].onboard):
                    keep &= ~((o.step == ref.index) & (o.start < self.finished[d]))
        return np.flatnonzero(keep)

    def block(self, k: int, b0: float, stop: float) -> None:
        """Solve block ``k`` starting at ``b0`` s (every job at once, warm-started from the
        greedy plan) with what is left until ``stop`` (``time.perf_counter()`` s; at least
        ``MIN_BLOCK_TIME_S``) and commit the first ``block_s`` of it."""
        k0 = int(np.searchsorted(self.p.t_s, b0 - _EPS))
        carry = self.carry(k0)
        cand = self.candidates(carry, b0, b0 + self.block_s + self.lookahead_s)
        if not len(cand):
            self.stages.append(self.entry(k, b0, carry, cand))
            return
        self.solve(k, b0, carry, cand, max(stop - time.perf_counter(), MIN_BLOCK_TIME_S))

    def entry(self, k: int, b0: float, carry: Carry, cand: np.ndarray) -> StageReport:
        k0 = carry.window[0]
        return StageReport(
            name=f"{self.node}/{k}",
            status=SolveStatus.EMPTY,
            sizes={"options": int(len(cand))},
            extra={
                "node": self.node,
                "block": k,
                "start": iso(self.p.time_at(b0)),
                "initial_soc_wh": float(carry.soc_wh[k0]),
                "fixed_compute_wh": float(
                    self.p.energy[self.node].compute_w * WH_PER_WS * carry.busy_s[k0:].sum()
                ),
                "committed": 0,
            },
        )

    def block_view(self, carry: Carry, cand: np.ndarray, until: int = 0) -> ComputeProblem:
        """The block's problem: options ``cand`` with ``carry`` (its window set to reach every
        option's end, the eclipses they use and grid point ``until``)."""
        p, o = self.p, self.p.options
        eclipse_ends = [
            p.intervals[int(i)].b
            for i in np.unique(o.interval[cand])
            if i >= 0 and p.intervals[int(i)].kind == "eclipse"
        ]
        k0 = carry.window[0]
        carry.window = (k0, int(max([k0 + 1, until, *o.end[cand].tolist(), *eclipse_ends])))
        carry.steps = frozenset(int(s) for s in o.step[cand])
        sub = Options(**{f: getattr(o, f)[cand] for f in Options.__dataclass_fields__})
        return ComputeProblem(
            p.start, p.t_s, p.energy, p.intervals, p.steps, sub, p.reasons, p.warnings,
            p.downlink_bytes, carry, p.settings,
        )  # fmt: skip

    def solve(self, k: int, b0: float, carry: Carry, cand: np.ndarray, budget_s: float) -> None:
        """One MILP of block ``k`` over options ``cand``; commit those starting in the block."""
        o = self.p.options
        entry = self.entry(k, b0, carry, cand)
        view = self.block_view(carry, cand)
        local = solve_view(view, time_limit_s=budget_s)
        r = local.result
        entry.status, entry.objective, entry.bound, entry.mip_gap = (
            r.status, r.objective, r.bound, r.mip_gap
        )  # fmt: skip
        entry.build_s, entry.solve_s = r.build_s, r.solve_s
        commit = [int(c) for c in local.chosen if o.start_s[cand[c]] < b0 + self.block_s - _EPS]
        self.commit(cand, commit, local.last)
        entry.extra.update(
            committed=len(commit), plan=local.source, greedy_options=local.greedy_size
        )
        self.objective += r.objective or 0.0
        self.stages.append(entry)

    def commit(self, cand: np.ndarray, local: list[int], lasts: set[int]) -> None:
        """Fix the block's committed options; close finished steps and decided pass steps."""
        o = self.p.options
        for c in local:
            g = int(cand[c])
            s = int(o.step[g])
            self.committed.append(g)
            if self.p.steps[s].step.type != "pass":
                self.finished[s] = int(o.end[g])
                continue
            self.segments.setdefault(s, []).append(g)
            cap = self.p.steps[s].step.max_segments
            if c in lasts or (cap is not None and len(self.segments[s]) >= cap):
                self.finished[s] = int(max(o.end[self.segments[s]]))
        for c in local:  # a committed successor closes its open pass inputs
            for d in self.p.steps[int(o.step[cand[c]])].preds:
                if d in self.segments and d not in self.finished:
                    self.finished[d] = int(max(o.end[self.segments[d]]))
