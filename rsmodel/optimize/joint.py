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
largest possible size; :class:`JointBlock` adds the recorder block with the placed outputs
instead (:class:`rsmodel.optimize.recorder.Entering`: each enters the fill rows in the slot its
step ends, a cell of its own).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
import pyomo.core as pyo

from rsmodel.optimize.compute_model import add_compute, start_values
from rsmodel.optimize.compute_problem import ComputeProblem, max_output_mb
from rsmodel.optimize.compute_solve import (
    ComputeSolution,
    compute_seconds_per_slot,
    node_view,
    option_subset,
    soc_trajectories,
    steps_placed,
)
from rsmodel.optimize.compute_value import open_pass
from rsmodel.optimize.deadline import BuildTimeout, build_deadline, gc_paused
from rsmodel.optimize.energy import WH_PER_WS, add_battery, balance_with_tx
from rsmodel.optimize.gateway import ArrayRows, add_rows, array_rows, stack_rows
from rsmodel.optimize.greedy import class_ranks, fill, follow
from rsmodel.optimize.model import STAGE_BLOCKS
from rsmodel.optimize.problem import CLASS_NAMES, UNIT_BYTES, Problem
from rsmodel.optimize.recorder import Entering, add_recorder, energy_start, stage_tx_wh, tx_draws
from rsmodel.optimize.schedule import SolverStats
from rsmodel.optimize.solve import solve_stage, stage_needs, stage_share
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveStatus, StageReport, kept_status

JOINT_WEIGHT = 1e-4  # x the compute policy value (~100 per step): a tie-breaker below the syncs
NEAR_OPTIONS = 2_000  # a node's options above which a stage keeps those near its start plan
NEAR_S = 3 * 3600.0  # ... starting within this of the start plan's option of the step, s
_EPS_S = 1e-6  # a pair's slot starts at its demand's release, s (as the problem's pairs)


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


@dataclass(frozen=True)
class Finished:
    """A step an earlier rolling block committed: the grid point by which it is done and the MB
    of its output not yet downlinked."""

    end: int
    left_mb: float


@dataclass
class JointResult:
    """The joint solve: the link state (on the job-output demands of the joint problem), the
    compute solution and the solver figures (one stage report per class, per block)."""

    state: LinkState
    compute: ComputeSolution
    stats: SolverStats


Slice = tuple[ComputeProblem, np.ndarray]  # one node's compute problem, its options' ids in cp


def node_slices(cp: ComputeProblem) -> list[Slice]:
    """The nodes with steps, one view each (nodes share nothing in the compute model); the
    other nodes get the transmitter balance of the recorder module, as in the decomposed model."""
    views = [node_view(cp, node) for node in cp.energy]
    return [(view, ids) for view, ids in views if view.active_steps]


def near_start(slices: Sequence[Slice], chosen: np.ndarray) -> list[Slice]:
    """``slices`` with, on a node of more than ``NEAR_OPTIONS`` options, only the options of the
    steps the start plan ``chosen`` (option ids) places that start within ``NEAR_S`` of its
    option (pass steps: all theirs). A neighbourhood of the start: it keeps that plan, so the
    stage is never worse than it; a node of a fleet's day otherwise brings ~10^4 binaries to
    every class stage."""
    out = []
    for view, ids in slices:
        if len(ids) <= NEAR_OPTIONS:
            out.append((view, ids))
            continue
        o = view.options
        mine = np.flatnonzero(np.isin(ids, chosen))
        passes = [r.index for r in view.steps if r.step.type == "pass"]
        keep = np.isin(o.step, passes)
        for c in mine:
            keep |= (o.step == o.step[c]) & (np.abs(o.start_s - o.start_s[c]) <= NEAR_S)
        keep[mine] = True
        at = np.flatnonzero(keep)
        out.append((option_subset(view, at), ids[at]))
    return out


class JointBlock:
    """The compute block of a joint class stage (a :data:`~rsmodel.optimize.model.ConstraintBlock`).

    Adds the compute blocks of the node slices (built once by :meth:`build`, shared by the
    stages: their jobs, their batteries drawing the stage's transmitter too), batteries for the
    other nodes with transmitter power, the job-output existence rows and the recorder capacity
    rows with the placed outputs; ``plan`` (option ids of ``cp``) is the compute part of the
    stage's complete MIP start and receives the stage's solution. In a rolling block the stage
    problem starts at grid slot ``offset``; ``finished`` are the steps earlier blocks committed
    and ``fixed`` their options (a fixed draw of the greedy warm start)."""

    def __init__(
        self,
        cp: ComputeProblem,
        slices: Sequence[Slice],
        outputs: Sequence[JobOutput],
        min_steps: int,
        plan: ComputePlan,
        *,
        offset: int = 0,
        finished: dict[int, Finished] | None = None,
        fixed: np.ndarray | None = None,
    ) -> None:
        self.cp, self.slices, self.outputs = cp, list(slices), list(outputs)
        self.min_steps, self.plan, self.offset = min_steps, plan, offset
        self.finished = finished or {}
        self.fixed = np.zeros(0, dtype=int) if fixed is None else fixed
        self.nodes = {name for view, _ in self.slices for name in view.energy}

    def build(self) -> None:
        """Build the compute blocks once, for every class stage (``self.home``): their rows
        but the batteries' balances as one frozen array family (:meth:`ArrayRows.frozen`: a
        stage reads no bound of its ~10^5 variables again), the balances without the
        transmitter (each stage adds its links: :func:`balance_with_tx`)."""
        self.home = home = pyo.ConcreteModel("joint-compute")
        home.compute = pyo.Block(range(len(self.slices)))
        self.x: dict[int, pyo.Var] = {}
        self.f: dict[int, pyo.Var] = {}
        self.placed: dict[int, pyo.Var] = {}
        self.done_at: dict[int, object] = {}
        self.value: pyo.Expression = 0.0
        self.balances: list[ArrayRows] = []
        for i, (view, ids) in enumerate(self.slices):
            b = home.compute[i]
            self.value = self.value + add_compute(b, view)
            self.x.update({int(ids[c]): b.x[c] for c in b.O})
            self.f.update({int(ids[c]): b.f[c] for c in b.PO})
            self.placed.update({int(s): b.placed[s] for s in b.P})
            self.done_at.update(b.done_at)
            (name,) = view.energy
            self.balances.append(b.battery[name].array_rows.pop("balance"))
        families = array_rows(home)
        if self.min_steps > 0:  # no step lost: at least as many placed as the start plan
            terms = self._placed()
            families.append(
                ArrayRows.from_triplets(terms, np.zeros(len(terms)), np.arange(len(terms)),
                                        np.ones(len(terms)), [self.min_steps - 0.5], None)
            )  # fmt: skip
        self.rows = stack_rows(families).frozen()
        position = {id(v): j for j, v in enumerate(self.rows.variables)}
        self.soc = [
            np.array([position.get(id(v), -1) for v in self._battery(i).soc.values()])
            for i in range(len(self.slices))
        ]

    def _battery(self, i: int) -> pyo.Block:
        (name,) = self.slices[i][0].energy
        return self.home.compute[i].battery[name]

    def __call__(self, m: pyo.ConcreteModel, p: Problem, idx) -> None:
        computing = frozenset(n for n, name in enumerate(p.nodes) if name in self.nodes)
        tx = tx_draws(m, p, idx, always=computing) if p.onboard is not None else {}
        node_of = {name: n for n, name in enumerate(p.nodes)}
        add_rows(m, "compute", self.rows)  # before the balances: the SOC columns' bounds
        for i, (view, _) in enumerate(self.slices):
            (name,) = view.energy
            draws = tx.get(node_of[name])
            on_grid = self._on_grid(*draws) if draws is not None else ({}, np.zeros(view.n_slots))
            battery = self._battery(i)
            k0 = view.window[0]
            rows, floor = balance_with_tx(
                self.balances[i], view.energy[name], k0, float(battery.soc[k0].value), *on_grid
            )
            self._set_floor(i, floor)
            add_rows(m, f"compute_balance_{i}", rows)
        others = [n for n in tx if p.nodes[n] not in self.nodes]
        m.battery = pyo.Block([p.nodes[n] for n in others])
        for n in others:
            draws, fixed = tx[n]
            e = replace(p.onboard.energy[p.nodes[n]], planned_wh=None)
            add_battery(m.battery[p.nodes[n]], e, {}, tx_wh_in_slot=draws, fixed_tx_wh=fixed)
        m.objective_terms.append((-JOINT_WEIGHT, self.value))
        self._existence_rows(m, p, idx)
        if p.onboard is not None:
            add_recorder(m, p, idx, self._entering(p))
        m.presolve = False  # as the compute MILP: HiGHS's probing outlasts the solve
        m.dive = False  # the LP dive rounds links only: its compute columns stay fractional
        m.start_hooks.append(lambda warm: self._start(m, p, idx, tx, warm))
        m.warm_hooks = [lambda warm: self.keep_outputs_after_their_step(p, idx, warm)]
        m.solved_hooks = [lambda solver: self._solved(solver)]

    def _set_floor(self, i: int, floor: np.ndarray) -> None:
        """SOC floor (Wh per grid point of the window) of slice ``i``'s battery in this stage:
        on its variables (the first grid point stays fixed) and in the frozen bounds."""
        soc = self._battery(i).soc
        for v, lb in zip(list(soc.values())[1:], floor[1:].tolist(), strict=True):
            v.setlb(lb)
        at = self.soc[i][1:]
        self.rows.bounds[0][at[at >= 0]] = floor[1:][at >= 0]

    def _on_grid(self, draws: dict[int, pyo.Expression], fixed: np.ndarray) -> tuple:
        """A stage's transmitter draws (its slots) on the compute grid (slots from ``offset``)."""
        return {k + self.offset: e for k, e in draws.items()}, self._wh_on_grid(fixed)

    def _wh_on_grid(self, wh: np.ndarray) -> np.ndarray:
        """Wh per slot of the stage (from grid slot ``offset``) on the compute grid."""
        on_grid = np.zeros(self.cp.n_slots)
        n = min(len(wh), self.cp.n_slots - self.offset)
        on_grid[self.offset : self.offset + n] = wh[:n]
        return on_grid

    def _options(self, s: int) -> list[int]:
        """Option ids of step ``s`` in this stage's slices."""
        o = self.cp.options
        return [g for g in self.x if int(o.step[g]) == s]

    def _placed(self) -> list[pyo.Var]:
        """The variables whose sum is the steps placed: options chosen per non-pass step,
        ``placed`` per pass step."""
        o = self.cp.options
        terms = list(self.placed.values())
        return terms + [v for g, v in self.x.items() if int(o.step[g]) not in self.placed]

    def _produced(self, s: int) -> pyo.Expression | float:
        """MB step ``s`` outputs in this stage: a finished step's output not yet downlinked,
        else its chosen option's (a concat pass: every segment's; reduce or latest: one
        segment's); 0 for a step this stage cannot place."""
        if s in self.finished:
            return self.finished[s].left_mb
        o, ref = self.cp.options, self.cp.steps[s]
        opts = self._options(s)
        if not opts:
            return 0.0
        if ref.step.type == "pass" and ref.step.merge != "concat" and s in self.placed:
            return float(o.output_mb[opts].max()) * self.placed[s]
        return pyo.quicksum(float(o.output_mb[g]) * self.x[g] for g in opts)

    def _done(self, s: int, k: int) -> pyo.Expression | float:
        """1 once step ``s`` is done by the stage's grid point ``k`` (a finished step: a
        constant; a step this stage cannot place: 0)."""
        at = k + self.offset
        if s in self.finished:
            return 1.0 if at >= self.finished[s].end else 0.0
        if s in self.done_at:
            const, var = self.done_at[s](at)
            return const if var is None else const + var
        o = self.cp.options  # a step no other step of the block waits for: its options
        return pyo.quicksum([self.x[g] for g in self._options(s) if int(o.end[g]) <= at])

    def _by_step(self) -> dict[int, list[int]]:
        steps: dict[int, list[int]] = {}
        for out in self.outputs:
            steps.setdefault(out.step, []).append(out.demand)
        return steps

    def _existence_rows(self, m: pyo.ConcreteModel, p: Problem, idx) -> None:
        """Per step with outputs to ground: bytes downlinked by the end of slot k <= its largest
        output x ``done[step][k]`` (none before the step ends); in all <= what it produced."""
        ys = list(m.y.values())
        position = {int(q): i for i, q in enumerate(idx.pairs)}
        in_stage = set(idx.demands.tolist())
        m.JOUT = pyo.ConstraintList()
        for s, demands in self._by_step().items():
            pairs = np.flatnonzero(np.isin(p.pair_demand, demands))
            mine = [q for q in pairs.tolist() if q in position]
            if not mine:
                continue
            slots = p.cand_slot[p.pair_cand[pairs]]
            fixed = np.where(  # bytes of an earlier stage's output: constants
                np.isin(p.pair_demand[pairs], list(in_stage)),
                0.0,
                idx.state.pair_bytes[pairs] / UNIT_BYTES,
            )
            most = (
                self.finished[s].left_mb
                if s in self.finished
                else max_output_mb(self.cp, self.cp.steps[s])
            )
            total: pyo.Expression = 0.0
            for k in np.unique(slots):
                at = slots == k
                own = [ys[position[int(q)]] for q in pairs[at] if int(q) in position]
                total = total + float(fixed[at].sum()) + pyo.quicksum(own)
                if own or not isinstance(total, float):  # earlier stages' bytes alone: held
                    m.JOUT.add(total <= most * self._done(s, int(k)))
            m.JOUT.add(total <= self._produced(s))

    def _entering(self, p: Problem) -> Entering:
        """The job outputs entering the recorders as this stage places them (the recorder block
        counts each job-output demand at its earliest end with its largest output instead):
        an option's output in the slot it ends (a reduce / latest pass: its largest output at
        the end of the last segment, and at a committed segment's end if that one may be the
        last); a step finished in an earlier block, what it left in the slot it ended."""
        o, n_slots = self.cp.options, max(p.n_slots, 1)
        node_of = {name: i for i, name in enumerate(p.nodes)}
        chosen, last = set(self.plan.chosen.tolist()), self.plan.last
        entries: list[tuple[int, int, float, object, float]] = []
        demands: list[int] = []

        def slot(end: int) -> int:
            return min(max(end - self.offset, 0), n_slots - 1)

        for s, outputs in self._by_step().items():
            n, step = node_of[self.cp.steps[s].node.name], self.cp.steps[s].step
            demands += outputs
            if s in self.finished:
                entries.append((n, slot(self.finished[s].end), self.finished[s].left_mb, None, 1.0))
                continue
            opts = self._options(s)
            if step.type == "pass" and step.merge != "concat" and opts:
                most = float(o.output_mb[opts].max())
                entries += [
                    (n, slot(int(o.end[g])), most, self.f[g], float(g in last)) for g in opts
                ]
                if s in open_pass(self.cp):
                    entries.append((n, slot(open_pass(self.cp)[s][1]), most, None, 1.0))
                continue
            entries += [
                (n, slot(int(o.end[g])), float(o.output_mb[g]), self.x[g], float(g in chosen))
                for g in opts
            ]
        node, at, mb, variables, start = zip(*entries, strict=True) if entries else ([],) * 5
        return Entering(
            np.array(node, dtype=int),
            np.array(at, dtype=int),
            np.array(mb, dtype=float),
            list(variables),
            np.array(start, dtype=float),
            demands,
        )

    def ready(self, s: int) -> tuple[int, float]:
        """(stage slot from which step ``s``'s output exists, MB of it) in the current plan."""
        if s in self.finished:
            return self.finished[s].end - self.offset, self.finished[s].left_mb * UNIT_BYTES
        o = self.cp.options
        mine = self.plan.chosen[o.step[self.plan.chosen] == s]
        if not len(mine):
            return np.iinfo(np.int32).max, 0.0
        step = self.cp.steps[s].step
        merged = step.type == "pass" and step.merge != "concat"
        produced = float(o.output_mb[mine].max() if merged else o.output_mb[mine].sum())
        return int(o.end[mine].max()) - self.offset, produced * UNIT_BYTES

    def problem_as_placed(self, p: Problem) -> tuple[Problem, np.ndarray]:
        """``p`` with its job-output demands as the current plan places them: each released
        where its step's output exists (:meth:`ready`; never for a step the plan leaves out) and
        sized by what the step produced (a step an earlier block finished: what it left), split
        demands (``#due``) in order; their pairs before that release dropped, the other demands
        and every candidate as in ``p``. Returns it with the pairs of ``p`` it keeps (its pair
        ``i`` is ``p``'s ``keep[i]``)."""
        demands, release_s = list(p.demands), np.full(len(p.demands), -np.inf)
        for s, mine in self._by_step().items():
            at, left = self.ready(s)
            when = p.time_at(min(max(at, 0), p.n_slots) * p.step_s)
            for j in sorted(mine):
                d = demands[j]
                size = min(d.size_bytes, left)
                left -= size
                demands[j] = replace(d, size_bytes=size, release=max(d.release, when))
                release_s[j] = p.seconds(demands[j].release)
        keep = np.flatnonzero(p.cand_t0_s[p.pair_cand] >= release_s[p.pair_demand] - _EPS_S)
        view = copy.copy(p)
        view.demands = demands
        for name in ("pair_demand", "pair_cand", "pair_late", "pair_tau"):
            setattr(view, name, getattr(p, name)[keep])
        if p.costs is not None:
            view.costs = replace(p.costs, pair_cost=p.costs.pair_cost[keep])
        return view, keep

    @contextmanager
    def outputs_as_placed(self, state: LinkState) -> Iterator[np.ndarray]:
        """``state`` on :meth:`problem_as_placed` of its problem inside the ``with`` block, for a
        greedy fallback: it sends each job output from its step's end as placed and replays the
        recorders with the output entering there (the recorder the plan reports is the one the
        checker re-integrates; docs/compute.md, "Gaps"). Yields the pairs kept; after the
        block ``state`` is on its own problem again with the view's bytes."""
        p, full = state.problem, state.pair_bytes
        view, keep = self.problem_as_placed(p)
        state.problem, state.pair_bytes = view, full[keep]
        try:
            yield keep
        finally:
            full[keep] = state.pair_bytes
            state.problem, state.pair_bytes = p, full

    def keep_outputs_after_their_step(self, p: Problem, idx, warm: LinkState) -> None:
        """Cut the stage's warm (greedy) allocation of each job output to what the current
        compute plan has produced by each slot (the greedy sees outputs from their earliest
        possible end), so that the MIP start satisfies the existence rows."""
        in_stage = set(idx.demands.tolist())
        for s, demands in self._by_step().items():
            demands = [j for j in demands if j in in_stage]
            if not demands:
                continue
            ready, left = self.ready(s)
            pairs = np.flatnonzero(np.isin(p.pair_demand, demands) & (warm.pair_bytes > 0))
            pairs = pairs[np.argsort(p.cand_slot[p.pair_cand[pairs]], kind="stable")]
            for q in pairs:
                keep = (
                    min(warm.pair_bytes[q], left) if p.cand_slot[p.pair_cand[q]] >= ready else 0.0
                )
                warm.pair_bytes[q] = keep
                left -= keep

    def use_draw(self, p: Problem) -> None:
        """Give ``p``'s powered nodes the energy of the current plan (and ``fixed``) as a fixed
        draw, for the stage's greedy warm start and fallback."""
        use_compute_draw(p, self.cp, np.concatenate([self.fixed, self.plan.chosen]), self.offset)

    def _start(self, m: pyo.ConcreteModel, p: Problem, idx, tx: dict, warm: LinkState) -> tuple:
        """A complete MIP start (every column of the block; HiGHS has an incumbent at once):
        the current compute plan with its chains, SOC and reserve (:func:`start_values`, the
        battery drawing the warm links too), the contact starts and the other nodes'
        batteries for the warm links (:func:`energy_start`)."""
        others = {n: fixed for n, (_, fixed) in tx.items() if p.nodes[n] not in self.nodes}
        variables, values = energy_start(m, p, idx, others, warm) if tx else ([], [])
        values = [np.asarray(values, dtype=float)]
        node_of = {name: n for n, name in enumerate(p.nodes)}
        chosen, last = self.plan.chosen, np.array(sorted(self.plan.last), dtype=int)
        for i, (view, ids) in enumerate(self.slices):
            (name,) = view.energy
            n = node_of[name]
            tx_wh = {}
            if n in tx:
                tx_wh[name] = self._wh_on_grid(stage_tx_wh(p, idx, warm, n, tx[n][1]))
            mine, theirs = np.isin(ids, chosen), np.isin(ids, last)
            block_vars, block_values = start_values(
                self.home.compute[i], view, np.flatnonzero(mine), np.flatnonzero(theirs), tx_wh
            )
            variables += block_vars
            values.append(block_values)
        return variables, np.concatenate(values)

    def _solved(self, solver) -> None:
        x = solver.values(solver.columns_of(list(self.x.values())))
        f = solver.values(solver.columns_of(list(self.f.values())))
        self.plan.chosen = np.array(
            sorted(g for g, v in zip(self.x, x, strict=True) if v > 0.5), dtype=int
        )
        self.plan.last = {g for g, v in zip(self.f, f, strict=True) if v > 0.5}


def use_compute_draw(p: Problem, cp: ComputeProblem, chosen: np.ndarray, offset: int = 0) -> None:
    """Give the transmitter-powered nodes of ``p`` (starting at grid slot ``offset``) the energy
    of the compute options ``chosen`` as a fixed draw (``planned_wh``), so that the greedy warm
    start and fallback of a stage respect the battery with that compute plan."""
    if p.onboard is None:
        return
    for name, e in p.onboard.energy.items():
        if name in cp.energy:
            busy = compute_seconds_per_slot(cp, chosen, name)[offset : offset + len(e.dt_s)]
            wh = np.zeros(len(e.dt_s))
            wh[: len(busy)] = cp.energy[name].compute_w * WH_PER_WS * busy
            p.onboard.energy[name] = replace(e, planned_wh=wh)


def solve_stages(
    problem: Problem, state: LinkState, block: JointBlock, stop: float, stats: SolverStats,
    label: str = "joint", hint: np.ndarray | None = None, fallback: bool = True,
) -> bool:  # fmt: skip
    """The class stages of ``problem`` (critical first) with ``block`` (built once, here) in
    each, sharing the time up to ``stop`` (perf_counter s) by their pairs (each also hands the
    compute block to HiGHS: one mean share more, as in :func:`stage_share`, with no minimum for
    the first class, as every stage needs a solution); reports appended to ``stats``. ``hint``: bytes per
    pair of a known plan (the decomposed one), each stage's MIP start when it scores better than
    greedy. False when a stage had no MILP solution: it keeps its warm allocation where the
    job outputs as placed allow it, then the greedy fill (:func:`follow`); every stage the
    greedy fill when the compute block did not fit in time. A fallback sees the job outputs as
    the current compute plan places them (:meth:`JointBlock.outputs_as_placed`). Without
    ``fallback`` (the caller keeps another plan then) False at the first such stage."""
    t0 = time.perf_counter()
    classes = class_ranks(problem)
    try:
        with gc_paused(), build_deadline(stop):
            block.build()
    except BuildTimeout:
        stats.notes.append(f"{label}: compute block not built in time: greedy class stages")
        if not fallback:
            return False
        block.use_draw(problem)
        with block.outputs_as_placed(state):
            for rank in classes:
                state.begin_stage(rank)
                fill(state, np.flatnonzero(problem.demand_rank == rank))
        return False
    built_s = time.perf_counter() - t0
    stats.build_s += built_s
    stats.notes.append(
        f"{label}: compute block built once for its class stages in {built_s:.2f} s "
        f"({len(block.rows.variables)} columns, {len(block.rows)} rows)"
    )
    solved = True
    for k, rank in enumerate(classes):
        block.use_draw(problem)
        demands = np.flatnonzero(problem.demand_rank == rank)
        name = f"{label} {CLASS_NAMES[rank]}"
        if time.perf_counter() >= stop:  # the time is spent: no stage model, the greedy fill
            if not fallback:
                return False
            with block.outputs_as_placed(state):
                state.begin_stage(rank)
                fill(state, demands)
            spent = {"allocation": "greedy (time limit spent)"}
            stats.stages.append(StageReport(name, SolveStatus.TIME_LIMIT, extra=spent))
            solved = False
            continue
        state.begin_stage(rank)
        before = state.copy()
        needs = stage_needs(problem, state, classes[k:])
        share, keep = stage_share(needs + needs.sum() / len(needs), stop - time.perf_counter())
        stage = solve_stage(
            problem,
            demands,
            state,
            stop,
            share,
            keep,
            hint=hint,
            blocks=(*STAGE_BLOCKS, block),
        )
        stage.name = name
        stats.stages.append(stage)
        stats.build_s += stage.build_s
        stats.solve_s += stage.solve_s
        if stage.extra["allocation"] != "milp":  # its warm allocation, as the outputs are placed
            if not fallback:
                return False
            warm = state.pair_bytes.copy()
            state.restore(before)
            with block.outputs_as_placed(state) as kept:
                state.begin_stage(rank)
                follow(state, demands, warm[kept])
            solved = False
    return solved


def solve_joint(
    problem: Problem,
    cp: ComputeProblem,
    outputs: Sequence[JobOutput],
    start: ComputeSolution,
    hint: np.ndarray | None = None,
) -> JointResult | None:
    """Solve the class stages of ``problem`` with the compute block (:class:`JointBlock`) of
    ``cp`` in each, from the compute-only plan ``start`` and the downlinks ``hint`` (bytes per
    pair of ``problem``: the decomposed plan, which that compute plan makes feasible here);
    ``problem.settings.time_limit_s`` shared among the stages. None when a stage found no MILP
    solution in time (the caller keeps the decomposed plan)."""
    t0 = time.perf_counter()
    plan = ComputePlan(start.chosen.copy(), set(start.last))
    min_steps = steps_placed(cp, start.chosen)
    state = LinkState.empty(problem)
    limit = problem.settings.time_limit_s
    stats = SolverStats("milp", "class-stages", SolveStatus.OPTIMAL, time_limit_s=limit)
    block = JointBlock(cp, near_start(node_slices(cp), plan.chosen), outputs, min_steps, plan)
    if not solve_stages(problem, state, block, t0 + limit, stats, hint=hint, fallback=False):
        return None
    state.close_idle_and_trim()
    stats.status = kept_status([s.status for s in stats.stages])
    stats.notes.append(
        f"joint compute + downlink model: {steps_placed(cp, plan.chosen)} steps placed "
        f"(compute-only solve: {min_steps})"
    )
    return JointResult(state, joint_solution(cp, plan, stats, start.stages), stats)


def joint_solution(
    cp: ComputeProblem, plan: ComputePlan, stats: SolverStats, stages: Sequence = ()
) -> ComputeSolution:
    """The compute solution of a joint solve (``stages``: the compute-only solve's reports)."""
    return ComputeSolution(
        cp,
        plan.chosen,
        plan.last,
        soc_trajectories(cp, plan.chosen),
        stats.status,
        None,
        stats.build_s,
        stats.solve_s,
        notes=["placements of the joint model (its stages: plan.json solver.stages)"],
        stages=list(stages),
    )


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
