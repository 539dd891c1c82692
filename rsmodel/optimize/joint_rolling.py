"""The joint compute + downlink model in rolling blocks (``solver.compute_downlink: joint`` with
``solver.strategy: rolling``; docs/compute.md, "Joint compute + downlink model").

One strategy frame: the blocks are the sync side's (:func:`rsmodel.optimize.rolling.block_slots`,
``settings.rolling``: commit ``block_s``, see ``lookahead_s`` more), each block's transfer problem
is :func:`rsmodel.optimize.rolling.block_problem` (remaining bytes, costs in full-horizon terms,
recorders and batteries as committed) and is committed by
:func:`~rsmodel.optimize.rolling.commit_block`; each node's compute is the compute rolling's
:class:`rsmodel.optimize.compute_rolling.NodeRoll` (options starting in the block for unfinished
steps, committed compute a fixed draw, DAG order from the finished steps). A block solves its
class stages with the :class:`rsmodel.optimize.joint.JointBlock` of those compute views, from the
block's compute-only plan (each node's block MILP as the compute rolling solves it, with the SOC
carried below: the MIP start; the stage places at least as many steps), and
commits the links and the compute options that start in its first ``block_s``. Carried across
a boundary, exactly:

- **SOC**: a node's block starts from the SOC of the slot model with everything committed:
  solar, idle, the committed links and warm-ups (:func:`~rsmodel.optimize.rolling.committed_soc_wh`)
  and the committed compute (its ``planned_wh``); compute committed past the boundary is a
  fixed draw of the block;
- **recorder fill**: each source and sync holds what is left after the committed downlinks and
  losses (:func:`~rsmodel.optimize.rolling.block_onboard`); a job output enters when its step
  ends, and an output of a step committed earlier holds what is still not downlinked
  (:class:`~rsmodel.optimize.joint.Finished`);
- **links**: a contact running at the boundary continues without a new setup, committed
  antenna occupation and tracks reach into the block (as for syncs);
- **jobs**: committed steps are finished at their end slot; a successor starts only after
  them, a step spanning the boundary is one committed option (its draw fixed), a pass step with
  committed segments stays open.

A block with a stage without a MILP solution keeps that stage's warm allocation where the
block's compute plan allows it, then the greedy fill; a block left ``MIN_BLOCK_S`` or less of the
time limit builds no stage model: the greedy plan of its compute plan (the compute-only plan is
then each node's greedy list schedule). The status says so (``time_limit``). Each such greedy
sees the job outputs as that compute plan places them
(:meth:`~rsmodel.optimize.joint.JointBlock.outputs_as_placed`: sent from the step's end, at most
its output, entering the recorder there), so the plan rebuilt on the outputs as placed keeps
every byte and its recorder balance is the one the checker re-integrates.

A block's time is what is left over the blocks left, less the least a block has cost beyond its
MILPs so far (its problem, compute views, greedy fill and commit: ~1 s a block on the
20-satellite week, paid even when the time is spent); with a plan to fall back on (``hint``, the
decomposed one) the solve stops once the blocks left cannot end in time even at that cost
(docs/compute.md, "Time limit").
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from rsmodel.optimize.compute_greedy import GreedyPlan, greedy_view
from rsmodel.optimize.compute_problem import ComputeProblem
from rsmodel.optimize.compute_rolling import MIN_BLOCK_TIME_S, NodeRoll, last_segments
from rsmodel.optimize.compute_solve import node_view, option_subset, solve_view, steps_placed
from rsmodel.optimize.compute_value import feasible_options
from rsmodel.optimize.greedy import greedy
from rsmodel.optimize.joint import (
    ComputePlan,
    Finished,
    JobOutput,
    JointBlock,
    JointResult,
    joint_solution,
    near_start,
    solve_stages,
    use_compute_draw,
)
from rsmodel.optimize.problem import UNIT_BYTES, Problem
from rsmodel.optimize.rolling import (
    MIN_BLOCK_S,
    block_problem,
    block_slots,
    block_state,
    block_tracks,
    commit_block,
    commit_tracks,
    committed_soc_wh,
    full_costs,
)
from rsmodel.optimize.schedule import SolverStats
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveStatus, StageReport, kept_status
from rsmodel.optimize.strategy import Choice, Rolling, choose_strategy

COMPUTE_SHARE = 0.25  # of a block's time: its compute-only MILPs (the MIP start)
JOINT_MONOLITHIC_PER_S = 1_000  # auto: monolithic while pairs + options <= this x time limit
_EPS = 1e-6


class _Compute:
    """The committed compute of a joint rolling solve: one :class:`NodeRoll` per node with steps."""

    def __init__(self, cp: ComputeProblem, shape: Rolling) -> None:
        self.cp = cp
        self.rolls: list[tuple[NodeRoll, np.ndarray]] = []
        for node in cp.energy:
            view, ids = node_view(cp, node)
            if view.active_steps:
                self.rolls.append((NodeRoll(view, node, shape.block_s, shape.lookahead_s), ids))
        self.cands: list[np.ndarray] = []

    def committed(self) -> np.ndarray:
        """Option ids (of ``cp``) committed so far."""
        ids = [ids[np.array(r.committed, dtype=int)] for r, ids in self.rolls]
        return np.concatenate(ids) if ids else np.zeros(0, dtype=int)

    def slices(
        self, k0: int, k2: int, soc_wh: dict[str, np.ndarray], budget_s: float
    ) -> tuple[list[tuple[ComputeProblem, np.ndarray]], ComputePlan]:
        """Per node the block's compute view over grid points ``k0 .. k2`` (options starting
        before ``k2`` of unfinished steps; SOC at ``k0`` from ``soc_wh``, the committed slot
        model with links) and the compute-only plan of the block (option ids of ``cp``: each
        node's block MILP from its greedy plan, as the compute rolling solves it, within
        ``budget_s`` in all; the greedy plan alone for a node left less than
        ``MIN_BLOCK_TIME_S``)."""
        t_s = self.cp.t_s
        slices, chosen, last = [], [], set()
        self.cands = []
        stop = time.perf_counter() + budget_s
        for n, (roll, ids) in enumerate(self.rolls):
            carry = roll.carry(k0)
            if roll.node in soc_wh:
                carry.soc_wh = carry.soc_wh.copy()
                carry.soc_wh[: k0 + 1] = soc_wh[roll.node][: k0 + 1]
            cand = roll.candidates(carry, float(t_s[k0]), float(t_s[min(k2, len(t_s) - 1)]))
            view = roll.block_view(carry, cand, until=k2)
            left = (stop - time.perf_counter()) / (len(self.rolls) - n)
            keep = np.flatnonzero(feasible_options(view))
            if left >= MIN_BLOCK_TIME_S:
                alone = solve_view(view, time_limit_s=left)
            else:  # no time for the MILP: the greedy list schedule
                plan = greedy_view(option_subset(view, keep))
                alone = GreedyPlan(keep[plan.chosen], {int(keep[c]) for c in plan.last})
            self.cands.append(cand[keep])
            slices.append((option_subset(view, keep), ids[cand[keep]]))
            chosen.append(ids[cand[alone.chosen]])
            last |= {int(ids[cand[c]]) for c in alone.last}
        start = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)
        return near_start(slices, start), ComputePlan(start, last)

    def commit(self, plan: ComputePlan, until_s: float) -> None:
        """Commit the block's options of ``plan`` that start before ``until_s``."""
        o = self.cp.options
        chosen = set(plan.chosen.tolist())
        for (roll, ids), cand in zip(self.rolls, self.cands, strict=True):
            glob = ids[cand]
            local = [
                i
                for i, g in enumerate(glob.tolist())
                if g in chosen and o.start_s[g] < until_s - _EPS
            ]
            lasts = {i for i, g in enumerate(glob.tolist()) if g in plan.last}
            roll.commit(cand, local, lasts)

    def finished(
        self, p: Problem, outputs: Sequence[JobOutput], committed: LinkState
    ) -> dict[int, Finished]:
        """The output steps earlier blocks finished: their end and MB not yet downlinked."""
        o, chosen = self.cp.options, self.committed()
        delivered = committed.delivered()
        out = {}
        for roll, _ in self.rolls:
            for s, end in roll.finished.items():
                mine = [j.demand for j in outputs if j.step == s]
                if not mine:
                    continue
                opts = chosen[o.step[chosen] == s]
                step = self.cp.steps[s].step
                merged = step.type == "pass" and step.merge != "concat"
                made = float(o.output_mb[opts].max() if merged else o.output_mb[opts].sum())
                sent = float(delivered[mine].sum()) / UNIT_BYTES
                out[s] = Finished(int(end), max(made - sent, 0.0))
        return out


def solve_joint_rolling(
    problem: Problem,
    cp: ComputeProblem,
    outputs: Sequence[JobOutput],
    hint: np.ndarray | None = None,
) -> JointResult | None:
    """The joint model in the rolling blocks of ``problem.settings.rolling`` within
    ``settings.time_limit_s`` (each block what is left over the blocks still to solve, less
    their cost beyond the MILPs). ``hint``: bytes per pair of ``problem`` of a known plan (the
    decomposed one), each block stage's MIP start when it scores better than greedy; with it,
    None when the blocks left cannot end within the limit (the caller keeps that plan)."""
    t0 = time.perf_counter()
    shape: Rolling = problem.settings.rolling
    limit = problem.settings.time_limit_s
    blocks = block_slots(problem, shape.block_s, shape.lookahead_s)
    if abs(float(cp.t_s[min(blocks[-1][0], cp.n_slots)]) - blocks[-1][0] * problem.step_s) > _EPS:
        raise RuntimeError("joint rolling: the compute grid and the transfer slots differ")
    costs = full_costs(problem)
    committed = LinkState.empty(problem)
    compute = _Compute(cp, shape)
    stats = SolverStats("milp", "rolling", SolveStatus.BLOCKS_OPTIMAL, time_limit_s=limit)
    stop, fallbacks, floor_s = t0 + limit, 0, np.inf
    for j, (b0, b1, b2) in enumerate(blocks):
        began, solver_s = time.perf_counter(), stats.build_s + stats.solve_s
        left = len(blocks) - j
        if hint is not None and j > 1 and stop - began < left * floor_s:  # (not block 0's
            return None  # alone: it costs ~3x a later one) the blocks left cannot end in time
        budget = max((stop - began) / left - (0.0 if j == 0 else floor_s), MIN_BLOCK_S)
        block_stop = time.perf_counter() + budget
        fixed = compute.committed()
        use_compute_draw(problem, cp, fixed)  # the committed SOC includes the committed compute
        sub, parent, full_q = block_problem(problem, costs, committed, b0, b2, budget)
        sub.tracks, full_opt = block_tracks(problem, committed, b0, b2)
        soc = committed_soc_wh(problem, committed, b0) if problem.onboard is not None else {}
        sliced = time.perf_counter()
        slices, plan = compute.slices(b0, b2, soc, COMPUTE_SHARE * budget)
        sliced = min(time.perf_counter() - sliced, COMPUTE_SHARE * budget)  # its MILPs at most
        mine = [
            JobOutput(int(i), out.step)
            for out in outputs
            for i in np.flatnonzero(parent == out.demand)
        ]
        block = JointBlock(
            cp, slices, mine, steps_placed(cp, plan.chosen), plan, offset=b0,
            finished=compute.finished(problem, outputs, committed), fixed=fixed,
        )  # fmt: skip
        state = block_state(sub, committed, b0, b2)
        label = problem.time_at(b0 * problem.step_s).isoformat()
        if (len(sub.pair_demand) or len(sub.tracks)) and budget > MIN_BLOCK_S:
            fallbacks += not solve_stages(
                sub, state, block, block_stop, stats, label,
                hint=None if hint is None else hint[full_q],
            )  # fmt: skip
            state.close_idle_and_trim()
        elif len(sub.pair_demand) or len(sub.tracks) or sub.onboard is not None:
            block.use_draw(sub)  # the greedy plan of the block's compute plan (no stage models;
            with block.outputs_as_placed(state):  # no links: the recorders still fill, may lose)
                greedy(state.problem, state)
            if len(sub.pair_demand) or len(sub.tracks):  # the limit is spent
                spent = {"allocation": "greedy (time limit spent)"}
                stats.stages.append(StageReport(label, SolveStatus.TIME_LIMIT, extra=spent))
                fallbacks += 1
        commit_block(problem, committed, state, full_q, b0, b1)
        commit_tracks(committed, state, full_opt, b0, b1)
        compute.commit(block.plan, b1 * problem.step_s)
        # what a block costs beyond its MILPs (its problem, compute views, greedy, commit): the
        # least seen so far
        spent = time.perf_counter() - began - sliced - (stats.build_s + stats.solve_s - solver_s)
        floor_s = min(floor_s, spent)
    committed.close_idle_and_trim()
    chosen = compute.committed()
    use_compute_draw(problem, cp, chosen)
    stats.status = kept_status([s.status for s in stats.stages], SolveStatus.BLOCKS_OPTIMAL)
    if stats.status == SolveStatus.EMPTY:
        stats.status = SolveStatus.BLOCKS_OPTIMAL
    stats.notes.append(
        f"joint compute + downlink model in {len(blocks)} {shape.describe()}: "
        f"{steps_placed(cp, chosen)} steps placed; {fallbacks} blocks kept a stage's greedy "
        "allocation (no MILP solution in time)"
    )
    plan = ComputePlan(chosen, last_segments(cp, chosen))
    return JointResult(committed, joint_solution(cp, plan, stats), stats)


def joint_strategy(problem: Problem, cp: ComputeProblem) -> Choice:
    """The strategy of the joint model for ``problem.settings.strategy``: the shared rule
    (:func:`rsmodel.optimize.strategy.choose_strategy`) with the size = transfer pairs + compute
    options and the limit = ``JOINT_MONOLITHIC_PER_S`` x the time limit."""
    s = problem.settings
    pairs, options = len(problem.pair_demand), len(cp.options.step)
    return choose_strategy(
        s.strategy,
        horizon_s=problem.duration_s,
        size=pairs + options,
        size_limit=JOINT_MONOLITHIC_PER_S * s.time_limit_s,
        size_text=f"{pairs} pairs + {options} compute options",
        limit_text=f"{JOINT_MONOLITHIC_PER_S}/s x time limit {s.time_limit_s:g} s",
        rolling=s.rolling,
    )
