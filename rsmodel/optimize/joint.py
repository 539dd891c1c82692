"""The joint compute + downlink model (``solver.compute_downlink: joint``; docs/compute.md, "Joint
compute + downlink model").

The decomposition (the default) places compute first and hands the sync stages its energy as a
fixed draw and its outputs as fixed demands. Here compute placement is a constraint block of the
class-stage model (:data:`rsmodel.optimize.model.STAGE_BLOCKS` + the recorder block + :class:`JointBlock`),
so in every stage it is re-optimised together with that class's downlinks:

- **one battery** per node: :func:`rsmodel.optimize.compute_model.add_compute`'s balance also draws
  the transmitter (:func:`rsmodel.optimize.recorder.tx_draws`: this stage's links as variables, the
  links of higher classes as constants); the SOC floor holds for both together;
- **outputs through the recorder**: a job output that goes to ground (:class:`JobOutput`) enters the
  node's recorder in the slot its step ends (a pass step: each segment when it ends), and no
  byte of it is downlinked before the step is done (``done`` of the compute block), nor more than
  the step produced (its tier, its segments);
- **no step lost**: the stage places at least as many steps as the compute-only solve did (a hard
  row; that plan is the MIP start), and the compute policy value is a tie-breaker
  (``JOINT_WEIGHT``) below the class's delivery objective.

Stages run critical first as in :mod:`rsmodel.optimize.solve`; a stage keeps the higher classes'
bytes and links fixed (their transmitter energy a constant of the balance, their job-output bytes
constants of the existence rows), so the compute plan it chooses keeps every earlier stage
feasible. A job-output demand is built released at its step's earliest possible end with its
largest possible size; the recorder block counts it so, and :class:`JointBlock` replaces that
count by the placed outputs in the capacity rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyomo.core as pyo

from rsmodel.optimize.compute_model import add_compute
from rsmodel.optimize.compute_problem import ComputeProblem, max_output_mb
from rsmodel.optimize.compute_solve import (
    ComputeSolution,
    compute_seconds_per_slot,
    soc_trajectories,
    steps_placed,
)
from rsmodel.optimize.energy import WH_PER_WS, add_battery
from rsmodel.optimize.greedy import class_ranks
from rsmodel.optimize.model import STAGE_BLOCKS
from rsmodel.optimize.problem import CLASS_NAMES, UNIT_BYTES, Problem
from rsmodel.optimize.recorder import add_recorder, tx_draws
from rsmodel.optimize.schedule import SolverStats
from rsmodel.optimize.solve import solve_stage
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveStatus, worst

JOINT_WEIGHT = 1e-4  # x the compute policy value (~100 per step): a tie-breaker below the syncs


@dataclass(frozen=True)
class JobOutput:
    """A job output that goes to ground: its demand (index in ``Problem.demands``, released at the
    step's earliest end, sized by its largest output) and its step (index in the compute steps)."""

    demand: int
    step: int


@dataclass
class ComputePlan:
    """The compute options chosen so far (and last pass segments), updated by each stage."""

    chosen: np.ndarray
    last: set[int] = field(default_factory=set)


@dataclass
class JointResult:
    """The joint solve: the link state (on the job-output demands of the joint problem), the
    compute solution and the solver figures (one stage report per class)."""

    state: LinkState
    compute: ComputeSolution
    stats: SolverStats


def joint_view(cp: ComputeProblem) -> ComputeProblem:
    """``cp`` with batteries only for the nodes that have steps (the others get the transmitter
    balance of the recorder module, as in the decomposed model)."""
    nodes = {r.node.name for r in cp.steps}
    return replace(cp, energy={n: e for n, e in cp.energy.items() if n in nodes})


class JointBlock:
    """The compute block of a joint class stage (a :data:`~rsmodel.optimize.model.ConstraintBlock`).

    Adds ``m.compute`` (the jobs, their battery drawing the transmitter too), batteries for the
    other nodes with transmitter power, the job-output existence rows and the recorder capacity
    rows with the placed outputs; ``plan`` is the MIP start and receives the stage's solution."""

    def __init__(
        self, cp: ComputeProblem, outputs: Sequence[JobOutput], min_steps: int, plan: ComputePlan
    ) -> None:
        self.cp, self.outputs, self.min_steps, self.plan = cp, list(outputs), min_steps, plan

    def __call__(self, m: pyo.ConcreteModel, p: Problem, idx) -> None:
        cp = self.cp
        computing = frozenset(n for n, name in enumerate(p.nodes) if name in cp.energy)
        tx = tx_draws(m, p, idx, always=computing) if p.onboard is not None else {}
        shared = {p.nodes[n]: v for n, v in tx.items() if p.nodes[n] in cp.energy}
        m.compute = pyo.Block()
        value = add_compute(m.compute, cp, tx=shared)
        others = [n for n in tx if p.nodes[n] not in cp.energy]
        m.battery = pyo.Block([p.nodes[n] for n in others])
        for n in others:
            draws, fixed = tx[n]
            e = replace(p.onboard.energy[p.nodes[n]], planned_wh=None)
            add_battery(m.battery[p.nodes[n]], e, {}, tx_wh_in_slot=draws, fixed_tx_wh=fixed)
        m.objective_terms.append((-JOINT_WEIGHT, value))
        m.joint_steps = pyo.Constraint(expr=self._placed(m.compute) >= self.min_steps - 0.5)
        self._existence_rows(m, p, idx)
        if hasattr(m, "recorder_cap"):
            self._recorder_rows(m, p)
        m.partial_start = True  # HiGHS completes the battery and bookkeeping columns
        m.presolve = False  # as the compute MILP: HiGHS's probing outlasts the solve
        m.start_hooks.append(lambda warm: self._start(m.compute))
        m.warm_hooks = [lambda warm: self.keep_outputs_after_their_step(p, idx, warm)]
        m.solved_hooks = [lambda solver: self._solved(m, solver)]

    def _placed(self, c: pyo.Block) -> pyo.Expression:
        """Steps placed: options chosen per non-pass step, ``placed`` per pass step."""
        o = self.cp.options
        placed = [c.placed[s] for s in c.P]
        passes = set(c.P)
        placed += [c.x[int(i)] for i in np.flatnonzero(~np.isin(o.step, list(passes)))]
        return pyo.quicksum(placed)

    def _produced(self, c: pyo.Block, s: int) -> pyo.Expression:
        """MB step ``s`` outputs: its chosen option's (a concat pass: every segment's; reduce or
        latest: one segment's)."""
        o, ref = self.cp.options, self.cp.steps[s]
        opts = np.flatnonzero(o.step == s)
        if ref.step.type == "pass" and ref.step.merge != "concat":
            return float(o.output_mb[opts].max()) * c.placed[s]
        return pyo.quicksum(float(o.output_mb[i]) * c.x[int(i)] for i in opts)

    def _existence_rows(self, m: pyo.ConcreteModel, p: Problem, idx) -> None:
        """Per job output: bytes downlinked by the end of slot k <= its largest output x
        ``done[step][k]`` (none before the step ends); in all <= what the step produced."""
        ys = list(m.y.values())
        position = {int(q): i for i, q in enumerate(idx.pairs)}
        in_stage = set(idx.demands.tolist())
        m.JOUT = pyo.ConstraintList()
        for out in self.outputs:
            pairs = np.flatnonzero(p.pair_demand == out.demand)
            if not len(pairs):
                continue
            slots = p.cand_slot[p.pair_cand[pairs]]
            fixed = np.zeros(len(pairs))  # bytes of an earlier stage's output: constants
            if out.demand not in in_stage:
                fixed = idx.state.pair_bytes[pairs] / UNIT_BYTES
            done = m.compute.done[out.step].d
            most = max_output_mb(self.cp, self.cp.steps[out.step])
            total: pyo.Expression = 0.0
            for k in np.unique(slots):
                at = slots == k
                total = total + float(fixed[at].sum())
                total = total + pyo.quicksum(
                    [ys[position[int(q)]] for q in pairs[at] if int(q) in position]
                )
                m.JOUT.add(total <= most * done[int(k)])
            m.JOUT.add(total <= self._produced(m.compute, out.step))

    def _recorder_rows(self, m: pyo.ConcreteModel, p: Problem) -> None:
        """The recorder capacity rows with each output entering in the slot its step (a pass
        segment) ends, instead of the demand's earliest release at its largest size."""
        o, n_slots = self.cp.options, max(p.n_slots, 1)
        node_of = {name: i for i, name in enumerate(p.nodes)}
        early = np.zeros((len(p.nodes), n_slots))  # MB the recorder block counted per slot
        inflow: dict[int, dict[int, list]] = {}
        for out in self.outputs:
            d = p.demands[out.demand]
            n = node_of[d.node]
            early[n, min(int(p.seconds(d.release) // p.step_s), n_slots - 1)] += (
                d.size_bytes / UNIT_BYTES
            )
            for i in np.flatnonzero(o.step == out.step):
                k = min(int(o.end_s[i] // p.step_s), n_slots - 1)
                inflow.setdefault(n, {}).setdefault(k, []).append(
                    float(o.output_mb[i]) * m.compute.x[int(i)]
                )
        nodes = sorted(n for n in inflow if (n, 0) in m.recorder_cap)
        m.JREC = pyo.Set(initialize=[(n, k) for n in nodes for k in range(n_slots)], dimen=2)
        m.joint_in = pyo.Var(m.JREC, bounds=(0, None))
        m.joint_in_sum = pyo.Constraint(
            m.JREC,
            rule=lambda m, n, k: (
                m.joint_in[n, k]
                == (m.joint_in[n, k - 1] if k else 0.0) + pyo.quicksum(inflow[n].get(k, []))
            ),
        )
        counted = np.cumsum(early, axis=1)
        capacity = {n: float(p.onboard.capacity_bytes[p.nodes[n]]) / UNIT_BYTES for n in nodes}
        for n, k in m.JREC:
            m.recorder_cap[n, k].deactivate()
        m.joint_cap = pyo.Constraint(
            m.JREC,
            rule=lambda m, n, k: (
                m.fill[n, k] - float(counted[n, k]) + m.joint_in[n, k] - m.over[n, k] <= capacity[n]
            ),
        )

    def keep_outputs_after_their_step(self, p: Problem, idx, warm: LinkState) -> None:
        """Cut the stage's warm (greedy) allocation of each job output to what the current
        compute plan has produced by each slot (the greedy sees outputs from their earliest
        possible end), so that the MIP start satisfies the existence rows."""
        o = self.cp.options
        in_stage = set(idx.demands.tolist())
        for out in self.outputs:
            if out.demand not in in_stage:
                continue
            mine = self.plan.chosen[o.step[self.plan.chosen] == out.step]
            ready = int(o.end[mine].max()) if len(mine) else p.n_slots + 1
            step = self.cp.steps[out.step].step
            merged = step.type == "pass" and step.merge != "concat" and len(mine)
            produced = float(o.output_mb[mine].max() if merged else o.output_mb[mine].sum())
            produced *= UNIT_BYTES
            pairs = np.flatnonzero((p.pair_demand == out.demand) & (warm.pair_bytes > 0))
            pairs = pairs[np.argsort(p.cand_slot[p.pair_cand[pairs]], kind="stable")]
            left = produced
            for q in pairs:
                keep = (
                    min(warm.pair_bytes[q], left) if p.cand_slot[p.pair_cand[q]] >= ready else 0.0
                )
                warm.pair_bytes[q] = keep
                left -= keep

    def _start(self, c: pyo.Block) -> tuple[list, np.ndarray]:
        """MIP-start values of the option and last-segment binaries: the current compute plan."""
        chosen = set(self.plan.chosen.tolist())
        x = [1.0 if i in chosen else 0.0 for i in c.O]
        f = [1.0 if i in self.plan.last else 0.0 for i in c.PO]
        return [*c.x.values(), *c.f.values()], np.array(x + f)

    def _solved(self, m: pyo.ConcreteModel, solver) -> None:
        c = m.compute
        x = solver.values(solver.columns_of(list(c.x.values())))
        f = solver.values(solver.columns_of(list(c.f.values())))
        self.plan.chosen = np.array([i for i, v in zip(c.O, x, strict=True) if v > 0.5], dtype=int)
        self.plan.last = {int(i) for i, v in zip(c.PO, f, strict=True) if v > 0.5}


def use_compute_draw(p: Problem, cp: ComputeProblem, chosen: np.ndarray) -> None:
    """Give the transmitter-powered nodes of ``p`` the energy of the compute options ``chosen`` as
    a fixed draw (``planned_wh``), so that the greedy warm start and fallback of a stage respect
    the battery with that compute plan."""
    if p.onboard is None:
        return
    for name, e in p.onboard.energy.items():
        if name in cp.energy:
            busy = compute_seconds_per_slot(cp, chosen, name)
            wh = cp.energy[name].compute_w * WH_PER_WS * busy[: len(e.dt_s)]
            p.onboard.energy[name] = replace(e, planned_wh=wh)


def solve_joint(
    problem: Problem, cp: ComputeProblem, outputs: Sequence[JobOutput], start: ComputeSolution
) -> JointResult | None:
    """Solve the class stages of ``problem`` with the compute block (:class:`JointBlock`) of
    ``cp`` in each, from the compute-only plan ``start``; ``problem.settings.time_limit_s``
    shared among the stages. None when a stage found no MILP solution in time (the caller keeps
    the decomposed plan)."""
    t0 = time.perf_counter()
    view = joint_view(cp)
    plan = ComputePlan(start.chosen.copy(), set(start.last))
    min_steps = steps_placed(cp, start.chosen)
    state = LinkState.empty(problem)
    limit = problem.settings.time_limit_s
    stats = SolverStats("milp", "class-stages", SolveStatus.OPTIMAL, time_limit_s=limit)
    recorder = (add_recorder,) if problem.onboard is not None else ()
    classes = class_ranks(problem)
    for k, rank in enumerate(classes):
        use_compute_draw(problem, cp, plan.chosen)
        state.begin_stage(rank)
        budget = (t0 + limit - time.perf_counter()) / (len(classes) - k)
        block = JointBlock(view, outputs, min_steps, plan)
        stage = solve_stage(
            problem,
            np.flatnonzero(problem.demand_rank == rank),
            state,
            budget,
            blocks=(*STAGE_BLOCKS, *recorder, block),
        )
        stage.name = f"joint {CLASS_NAMES[rank]}"
        stats.stages.append(stage)
        stats.build_s += stage.build_s
        stats.solve_s += stage.solve_s
        if stage.extra["allocation"] != "milp":
            return None
    state.close_idle_and_trim()
    stats.status = worst([s.status for s in stats.stages])
    stats.notes.append(
        f"joint compute + downlink model: {steps_placed(cp, plan.chosen)} steps placed "
        f"(compute-only solve: {min_steps})"
    )
    compute = ComputeSolution(
        cp,
        plan.chosen,
        plan.last,
        soc_trajectories(cp, plan.chosen),
        stats.status,
        None,
        stats.build_s,
        stats.solve_s,
        notes=["placements of the joint model (its stages: plan.json solver.stages)"],
        stages=list(start.stages),  # the compute-only solve: the MIP start
    )
    return JointResult(state, compute, stats)


def carry_over(old: LinkState, final: Problem) -> LinkState:
    """The allocation ``old`` on ``final`` (the same links; job-output demands released and sized
    otherwise, e.g. as placed): bytes per (demand id, candidate), links on, losses. Bytes on a
    pair ``final`` lacks are dropped; bytes over a demand's size are scaled away."""
    p = old.problem
    state = LinkState.empty(final)
    for c in np.flatnonzero(old.on):
        state.open(int(c))
    ids = [final.demands[d].id for d in final.pair_demand]
    index = {key: q for q, key in enumerate(zip(ids, final.pair_cand.tolist(), strict=True))}
    for q in np.flatnonzero(old.pair_bytes > 0):
        key = (p.demands[int(p.pair_demand[q])].id, int(p.pair_cand[q]))
        if key in index:
            state.pair_bytes[index[key]] = old.pair_bytes[q]
    size = final.demand_size
    delivered = np.bincount(final.pair_demand, weights=state.pair_bytes, minlength=len(size))
    scale = np.where(delivered > size, size / np.maximum(delivered, 1.0), 1.0)
    state.pair_bytes *= scale[final.pair_demand]
    state.lost = old.lost.copy()
    return state
