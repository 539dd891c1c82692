"""Entry points: optimise a scenario, or solve a prepared Problem, class stage by class stage.

Preemptive class stages: critical demands are solved first on the full capacity, their links and
bytes fixed; then high on what is left (links already on keep their residual bytes), then normal,
then low. Each stage is a MILP (rsmodel/optimize/model.py) solved by HiGHS through the solver
gateway (rsmodel/optimize/gateway.py) and warm-started from the greedy dispatcher. Before each stage,
``LinkState.begin_stage`` blocks the capacity a waiting higher-class demand could use, so lower
classes only get what nothing above them wants. The time limit covers all stages
(:func:`stage_share`: a stage's build is not its solve time, its share follows its pairs and the
links it could switch on, time a stage leaves goes to the next); a stage without a solution in time keeps its greedy allocation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import numpy as np
import pyomo.core as pyo

from rsmodel.optimize.deadline import BuildTimeout, build_deadline, gc_paused
from rsmodel.optimize.gateway import Dive, HighsModel
from rsmodel.optimize.greedy import class_ranks, fill, follow, greedy
from rsmodel.optimize.model import ConstraintBlock, StageIndex, build_stage_model
from rsmodel.optimize.objective import (
    class_scores,
    evaluate,
    station_capacity,
    station_sent,
    total_objective,
)
from rsmodel.optimize.problem import CLASS_NAMES, UNIT_BYTES, Problem
from rsmodel.optimize.recorder import keep_stage_losses
from rsmodel.optimize.schedule import Operation, Schedule, SolverStats, build_schedule
from rsmodel.optimize.setup import contact_starts, spill_bytes
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import (
    SolveOptions,
    SolveResult,
    SolveStatus,
    StageReport,
    kept_status,
)
from rsmodel.optimize.strategy import keep_better
from rsmodel.optimize.tracks import start_values

MIN_STAGE_S = 0.2  # s: a stage's least solve time, and what each later stage is left at least
LATER_KEEP = 0.5  # of their share of the time left: what a stage's build and solve leave the later
# ones in any case (at load 7.5 the fleet day's critical build + dive took 8 s and, unbounded, left
# the later stages none)
_SNAP_BYTES = 16.0
_FINISH_MARGIN_S = 1.0  # left for writing the schedule after the last stage
DIVE_SHARE = 0.3  # of the fractional links fixed on after each LP of a stage's dive
# a stage with more links keeps its dive improved by one RINS sub-MIP (:func:`_rins`), no branch
# and bound on the whole stage: on the link-budget 100 x 10 x 24 h stages (10-22 k links) HiGHS
# did not improve a dive in 30 s on the normal and low stages; the time goes to the next stages
# and the bound. Smaller stages go on (tiny ones to a proven optimum).
DIVE_ONLY_BINARIES = 8000
# a stage with fewer link binaries goes to HiGHS without a dive: the dive's LP is HiGHS's root
# LP again (the fleet day's normal stage, 9 binaries and 142 k columns: 1.6 s of dive, then 1.9 s)
DIVE_MIN_BINARIES = 100
_INTEGRAL = 1e-6  # a link value this close to 0 or 1 is integral


def solve_problem(
    problem: Problem,
    *,
    interface: str = "standard_form",
    fixed: LinkState | None = None,
    hint: np.ndarray | None = None,
) -> Schedule:
    """Solve with ``problem.settings.method``: ``greedy`` or the staged ``milp``.

    ``fixed``: a state whose allocation before ``fixed.frozen_slots`` is kept (see
    :func:`reoptimise`). ``hint``: bytes per pair of a known plan (a rolling block's previous
    look-ahead); each stage starts from it (completed greedily) when that scores better than
    greedy alone.
    """
    t_start = time.perf_counter()
    baseline = greedy(problem, fixed.copy() if fixed is not None else None)
    greedy_s = time.perf_counter() - t_start
    if problem.settings.method == "greedy":
        stats = SolverStats(
            "greedy",
            "class-stages",
            SolveStatus.HEURISTIC,
            solve_s=greedy_s,
            time_limit_s=problem.settings.time_limit_s,
        )
        stats.objective = total_objective(problem, baseline)
        return build_schedule(baseline, stats)
    state, stats = _staged_milp(problem, t_start, interface, fixed, hint)
    warnings = []
    state = keep_greedy_if_better(
        problem,
        state,
        baseline,
        stats,
        "greedy plan scored better than the stage MILPs within the time limit: greedy kept",
    )
    if stats.status == SolveStatus.TIME_LIMIT:
        warnings.append(
            f"solver time limit {problem.settings.time_limit_s:g} s reached; proven gap "
            + ("unknown" if stats.mip_gap is None else f"{stats.mip_gap:.2%}")
        )
    elif not stats.status.is_ok:
        warnings.append(f"a class stage MILP ended {stats.status}: its greedy allocation is kept")
    stats.notes.append(
        f"greedy baseline objective {total_objective(problem, baseline):.6g} in {greedy_s:.3f} s"
    )
    return build_schedule(state, stats, warnings)


def keep_greedy_if_better(
    problem: Problem, state: LinkState, baseline: LinkState, stats: SolverStats, note: str
) -> LinkState:
    """``baseline`` (the greedy plan) when it scores better than ``state`` by the class scores
    (:func:`rsmodel.optimize.strategy.keep_better`): then ``stats`` says ``greedy-better`` and
    ``note``, its objective is the greedy one. Used by the staged and the rolling solve."""
    if not keep_better(class_scores(problem, state), class_scores(problem, baseline)):
        return state
    stats.notes.append(note)
    stats.status = SolveStatus.GREEDY_BETTER
    stats.objective = total_objective(problem, baseline)
    return baseline


# --------------------------------------------------------------------------- stages
def _staged_milp(
    problem: Problem,
    t_start: float,
    interface: str,
    fixed: LinkState | None,
    hint: np.ndarray | None,
) -> tuple[LinkState, SolverStats]:
    settings = problem.settings
    state = fixed.copy() if fixed is not None else LinkState.empty(problem)
    stats = SolverStats(
        "milp", "class-stages", SolveStatus.OPTIMAL, time_limit_s=settings.time_limit_s
    )
    ranks = problem.demand_rank
    classes = class_ranks(problem)
    stop = t_start + settings.time_limit_s - min(_FINISH_MARGIN_S, 0.05 * settings.time_limit_s)
    for k, rank in enumerate(classes):
        demands = np.flatnonzero(ranks == rank)
        state.begin_stage(rank)
        left = stop - time.perf_counter()
        if left - MIN_STAGE_S * (len(classes) - k - 1) < MIN_STAGE_S:
            fill(state, demands)
            stats.status = SolveStatus.TIME_LIMIT
            stats.notes.append(f"{CLASS_NAMES[rank]}: no time left, greedy allocation")
            continue
        share, keep = stage_share(stage_needs(problem, state, classes[k:]), left)
        stage = solve_stage(problem, demands, state, stop, share, keep, interface, hint)
        stage.name = CLASS_NAMES[rank]
        stats.stages.append(stage)
        stats.build_s += stage.build_s
        stats.solve_s += stage.solve_s
        stats.status = kept_status([stats.status, stage.status])  # its incumbent or greedy kept
        if not stage.status.is_ok:
            stats.notes.append(f"{stage.name}: {stage.status}, greedy allocation kept")
    state.close_idle_and_trim()
    _summarise(stats)
    return state, stats


def stage_needs(problem: Problem, state: LinkState, ranks: Sequence[int]) -> np.ndarray:
    """What the stage of each class in ``ranks`` needs, in columns and binaries: its pairs and
    track options (the build, the LP) plus the links its pairs could still switch on (not on in
    ``state``: the stages above are fixed) and its track options again (branch and bound)."""
    p = problem
    rank = p.demand_rank[p.pair_demand]
    cand = p.pair_cand
    free = ~state.on[cand]
    links = np.unique(rank[free] * len(p.cand_window) + cand[free]) // len(p.cand_window)
    options = np.bincount(p.tracks.request_rank[p.tracks.opt_request], minlength=len(CLASS_NAMES))
    need = (
        np.bincount(rank, minlength=len(CLASS_NAMES))
        + np.bincount(links, minlength=len(CLASS_NAMES))
        + 2 * options
    )
    return need[np.asarray(ranks, dtype=int)].astype(float)


def stage_share(needs: np.ndarray, left_s: float) -> tuple[float, float]:
    """(share, keep_s) of the first of the stages with ``needs`` (:func:`stage_needs`, this
    stage and the later ones) when ``left_s`` seconds are left for them all: it solves for
    ``share`` of the time left once it is built, its part of the needs (links it can still
    switch on count: the 20-satellite fleet day's critical stage, 5 k link binaries but 16 % of
    the pairs, got 0.1 s of HiGHS by pairs); its build and solve end ``keep_s`` before the
    deadline, which the
    later stages keep in any case (``LATER_KEEP`` of their share, at least ``MIN_STAGE_S``
    each). Time a stage leaves unused goes to the next ones, which share again."""
    share = float(needs[0] / max(needs.sum(), 1.0))
    keep = max(MIN_STAGE_S * (len(needs) - 1), LATER_KEEP * (1.0 - share) * left_s)
    return share, keep


def solve_stage(
    problem: Problem,
    demands: np.ndarray,
    state: LinkState,
    stop_at: float,
    share: float = 1.0,
    keep_s: float = 0.0,
    interface: str = "standard_form",
    hint: np.ndarray | None = None,
    blocks: Sequence[ConstraintBlock] | None = None,
) -> StageReport:
    """Build, warm-start and solve one class stage; write its allocation into ``state``.

    Time (:func:`stage_share`): the build and hand-off may run until ``keep_s`` before
    ``stop_at`` (``time.perf_counter()`` s, the stages' deadline); HiGHS (the LP dive, RINS,
    branch and bound) then gets ``share`` of what is left until ``stop_at``, ending ``keep_s``
    before it at the latest (at least ``MIN_STAGE_S``; extra ``solve_budget_s`` of the
    report), so a stage whose build is slow still gets its solve time.

    ``blocks``: the stage model's constraint blocks (default: :func:`build_stage_model`'s). A
    block may set ``model.partial_start`` (its variables are left to HiGHS to complete in the
    MIP start) and append ``hook(solver)`` to ``model.solved_hooks`` (called with the
    :class:`HighsModel` when the stage has a solution: the block reads its own values) and
    ``hook(warm)`` to ``model.warm_hooks`` (called once the model is built: it may change the
    stage's warm allocation, the MIP start and the fallback, to satisfy its rows); it may set
    ``model.presolve`` (HiGHS presolve on / off for the stage) and ``model.dive = False`` (no LP
    dive: it rounds the link binaries only, a block with binaries of its own would get a
    fractional start)."""
    t0 = time.perf_counter()
    above = bool(state.on.any() or state.pair_bytes.any() or state.track_on.any())
    starts = _warm_starts(problem, demands, state, hint)
    warm, start_from = _best_start(problem, demands, starts)
    options = SolveOptions(
        time_limit_s=max(stop_at - keep_s - t0, MIN_STAGE_S),
        mip_gap=problem.settings.mip_gap,
        threads=problem.settings.threads,
    )
    idx: StageIndex | None = None
    rins_s, solve_budget = 0.0, 0.0
    try:
        with gc_paused(), build_deadline(t0 + options.time_limit_s):
            kept = warm.copy()  # the pairs of every candidate start stay in the model
            kept.pair_bytes = np.maximum.reduce([w.pair_bytes for w, _ in starts])
            m = build_stage_model(problem, demands, state, warm=kept, blocks=blocks)
            idx = m.stage
            for adjust in getattr(m, "warm_hooks", ()):
                for candidate, _ in starts:
                    adjust(candidate)
            warm, start_from = _best_start(problem, demands, starts)  # as the block's rows allow
            options = replace(options, presolve=getattr(m, "presolve", options.presolve))
            t_built = time.perf_counter()
            solver = HighsModel.from_pyomo(m, options, t_start=t0, interface=interface)
            y_cols = solver.columns_of(list(m.y.values()))
            x_cols = solver.columns_of(list(m.x.values()))
            t_cols = solver.columns_of(list(m.t.values())) if hasattr(m, "t") else None
        t_ready = time.perf_counter()
        handoff_s = t_ready - t_built
        solve_budget = max(
            min(share * (stop_at - t_ready), stop_at - keep_s - t_ready), MIN_STAGE_S
        )
        options = replace(options, time_limit_s=t_ready - t0 + solve_budget)
        solver.options = options
        dive, dive_s = None, 0.0
        if getattr(m, "dive", True) and len(idx.links) >= DIVE_MIN_BINARIES:
            dive, dive_s = _dive(solver, problem, idx, state, warm, x_cols, y_cols, t_cols)
        if dive is None:
            _set_warm_start(solver, m, problem, idx, warm, y_cols, x_cols)
        else:
            start_from = f"LP dive (better than {start_from})"
            if len(idx.links) > DIVE_ONLY_BINARIES:
                t_rins = time.perf_counter()
                searched = _rins(solver, x_cols, dive)
                rins_s = time.perf_counter() - t_rins
                if searched is not dive:
                    start_from += ", improved by RINS"
                    dive = searched
            solver.set_start(np.arange(len(dive.values)), dive.values)
            if len(idx.links) > DIVE_ONLY_BINARIES:  # HiGHS only returns the dive as incumbent
                solver.options = replace(options, time_limit_s=0.0)
        result = solver.run()
    except BuildTimeout:
        result = SolveResult(SolveStatus.NO_SOLUTION, False, build_s=time.perf_counter() - t0)
        handoff_s, dive_s = 0.0, 0.0
        dive = None
    exact = (  # the stage MILP is class r's whole problem: its dual bound bounds every plan
        blocks is None
        and not above
        and idx is not None
        and dive is None
        and idx.reach_pruned == 0
        and len(problem.tracks.requests) == 0
        and len(getattr(m, "lost", ())) + len(getattr(m, "over", ())) == 0
    )
    if result.has_solution:
        _apply_solution(
            problem, idx, state, solver.values(y_cols) * UNIT_BYTES, solver.values(x_cols)
        )
        if t_cols is not None:
            for o in idx.track_options[solver.values(t_cols) > 0.5]:
                state.place_track(int(o))
        keep_stage_losses(m, state, solver)
        for solved in getattr(m, "solved_hooks", ()):
            solved(solver)
        used = "milp"
    else:
        state.pair_bytes[:] = warm.pair_bytes
        for c in np.flatnonzero(warm.on & ~state.on):
            state.open(int(c))
        for o in np.flatnonzero(warm.track_on & ~state.track_on):
            state.place_track(int(o))
        keep_stage_losses(None, state, warm)
        stopped = result.status in (SolveStatus.TIME_LIMIT, SolveStatus.NO_SOLUTION)
        used = "greedy (no MILP solution in time)" if stopped else f"greedy (MILP {result.status})"
    return StageReport(
        name="",
        status=result.status,
        objective=result.objective,
        bound=result.bound,
        mip_gap=result.mip_gap,
        build_s=result.build_s,
        solve_s=result.solve_s,
        sizes={
            "columns": result.columns,
            "rows": result.rows,
            "binaries": 0 if idx is None else len(idx.links) + len(idx.track_options),
            "track_options": 0 if idx is None else len(idx.track_options),
        },
        extra={
            "allocation": used,
            "handoff_s": handoff_s,
            "solve_budget_s": solve_budget,
            "dive_s": dive_s,
            "rins_s": rins_s,
            "warm_objective": evaluate(problem, demands, warm.pair_bytes, problem.weights),
            "warm_start": start_from,
            "exact_model": exact,
        },
    )


def _dive(
    solver: HighsModel,
    problem: Problem,
    idx: StageIndex,
    state: LinkState,
    warm: LinkState,
    x_cols: np.ndarray,
    y_cols: np.ndarray,
    t_cols: np.ndarray | None,
) -> tuple[Dive | None, float]:
    """The stage's LP dive (:meth:`HighsModel.dive` with :func:`_dive_choice`) if it scores better
    than ``warm``, and its seconds. Stages with track options (binaries of their own) skip it."""
    if t_cols is not None and len(t_cols):
        return None, 0.0
    t0 = time.perf_counter()
    dive = solver.dive(
        x_cols, _dive_choice(idx, state, solver.t_start + solver.options.time_limit_s)
    )
    if dive is None:
        return None, time.perf_counter() - t0
    pair_bytes = warm.pair_bytes.copy()
    pair_bytes[idx.pairs] = np.maximum(dive.values[y_cols], 0.0) * UNIT_BYTES
    better = evaluate(problem, idx.demands, pair_bytes, problem.weights) < evaluate(
        problem, idx.demands, warm.pair_bytes, problem.weights
    )
    return (dive if better else None), time.perf_counter() - t0


def _rins(solver: HighsModel, x_cols: np.ndarray, dive: Dive) -> Dive:
    """Relaxation-induced neighbourhood search from the dive: the links whose root LP value
    equals the dive's keep it, HiGHS solves the stage over the others (a few hundred links of
    10-20 k) within the stage's budget, from the dive; the better of the two. On the
    link-budget 100 x 10 x 24 h stages it gains 0.1-0.6 % where HiGHS's own search on the whole
    stage found nothing in 30 s (docs/optimisation-scale.md)."""
    links = np.round(dive.values[x_cols])
    agree = np.abs(dive.root[x_cols] - links) <= _INTEGRAL
    found = solver.solve_fixed(x_cols[agree], links[agree], dive.values)
    if found is None or found[0] >= dive.objective:
        return dive
    return Dive(dive.relaxation, found[0], found[1], dive.root)


def _dive_choice(
    idx: StageIndex, state: LinkState, stop_at: float
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The rounding of the stage's LP dive: after each LP, fix the integral links, then the
    largest ``DIVE_SHARE`` of the fractional ones that still fit (radio, antennas, turnaround:
    :meth:`LinkState.can_open`) to on, and those that no longer fit to off. A larger share
    when the LPs left at that share would not fit in half the time left before ``stop_at``
    (the slowest re-solve so far per LP; all of them once one LP is all that fits): on a loaded
    machine a dive cut by the time limit left its stage at greedy (normal class 0.0645 instead
    of 0.0496 at load 9)."""
    opened = state.copy()
    called: list[float] = []  # when: the intervals after the first call are the re-solves

    def choose(x: np.ndarray, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        called.append(time.perf_counter())
        free = ~fixed
        ones = np.flatnonzero(free & (x >= 1.0 - _INTEGRAL))
        fractional = np.flatnonzero(free & (x > _INTEGRAL) & (x < 1.0 - _INTEGRAL))
        if len(fractional) == 0:
            return ones[:0], ones[:0]
        for i in ones:
            opened.open(int(idx.links[i]))
        share = _dive_share(len(fractional), np.diff(called), stop_at - called[-1])
        quota = int(np.ceil(share * len(fractional)))
        on, off = [], []
        for i in fractional[np.argsort(-x[fractional], kind="stable")]:
            c = int(idx.links[i])
            if not opened.can_open(c):
                off.append(i)
            elif len(on) < quota:
                opened.open(c)
                on.append(i)
        positions = np.r_[ones, on, off].astype(int)
        return positions, np.r_[np.ones(len(ones) + len(on)), np.zeros(len(off))]

    return choose


def _dive_share(n_fractional: int, resolves: np.ndarray, left_s: float) -> float:
    """The share of the ``n_fractional`` links to fix in this step of a dive: ``DIVE_SHARE``,
    or more when the steps left at that share (one per factor ``1 - DIVE_SHARE``) would not fit in
    half of ``left_s`` at the slowest re-solve so far (``resolves``, s); 1 when one is all that
    fits."""
    if len(resolves) == 0:
        return DIVE_SHARE
    steps = (
        0.5 * left_s / max(float(resolves.max()), 1e-3) - 1.0
    )  # LPs that fit, the final one apart
    if steps < 1.0:
        return 1.0
    return max(DIVE_SHARE, 1.0 - n_fractional ** (-1.0 / steps))


def _warm_starts(
    problem: Problem, demands: np.ndarray, state: LinkState, hint: np.ndarray | None
) -> list[tuple[LinkState, str]]:
    """The stage's MIP-start candidates and their names: greedy, and ``hint`` completed
    greedily (when it has bytes for the stage)."""
    starts = [(fill(state.copy(), demands), "greedy")]
    if hint is not None and np.any(hint[np.isin(problem.pair_demand, demands)] > 0):
        starts.append((follow(state.copy(), demands, hint), "hint + greedy"))
    return starts


def _best_start(
    problem: Problem, demands: np.ndarray, starts: list[tuple[LinkState, str]]
) -> tuple[LinkState, str]:
    """The candidate start scoring best on the stage's objective (the first on a tie). Chosen
    again once the blocks' warm hooks cut the candidates (the joint model's job outputs: the
    greedy sends them from their earliest possible end, the decomposed plan from their end)."""
    values = [evaluate(problem, demands, w.pair_bytes, problem.weights) for w, _ in starts]
    return starts[int(np.argmin(values))]


def _set_warm_start(
    solver: HighsModel,
    m: pyo.ConcreteModel,
    problem: Problem,
    idx: StageIndex,
    warm: LinkState,
    y_cols: np.ndarray,
    x_cols: np.ndarray,
) -> None:
    """The greedy allocation of the stage as HiGHS's MIP start."""
    y = np.minimum(warm.pair_bytes[idx.pairs], idx.pair_ub)
    x = warm.on[idx.links].astype(float)
    columns, values = [y_cols, x_cols], [y / UNIT_BYTES, x]
    if len(m.STARTS):
        starts = np.array(list(m.STARTS), dtype=int)
        prev_on = warm.on[idx.links[idx.link_prev[starts]]]
        columns.append(solver.columns_of([m.z[i] for i in starts]))
        values.append((warm.on[idx.links[starts]] & ~prev_on).astype(float))
    position = np.searchsorted(idx.demands, problem.pair_demand[idx.pairs])
    delivered = np.bincount(position, weights=y, minlength=len(idx.demands))
    columns.append(solver.columns_of(list(m.unmet.values())))
    values.append(np.maximum(idx.need - delivered, 0.0) / UNIT_BYTES)
    track_vars, track_values = start_values(m, problem, warm.track_on)
    columns.append(solver.columns_of(track_vars))
    values.append(track_values)
    if hasattr(m, "peak"):
        stage_pairs = np.flatnonzero(np.isin(problem.pair_demand, idx.demands))
        used, cap = station_capacity(problem, stage_pairs)
        stations = np.searchsorted(used, problem.cand_station[problem.pair_cand[idx.pairs]])
        per_station = np.bincount(stations, weights=y, minlength=len(used)) + station_sent(
            problem, stage_pairs, used
        )
        columns.append(solver.columns_of([m.peak]))
        values.append(np.array([(per_station / cap).max()]))
    for hook in m.start_hooks:  # blocks' own variables (recorder, battery)
        block_vars, block_values = hook(warm)
        columns.append(solver.columns_of(block_vars))
        values.append(np.asarray(block_values, dtype=float))
    solver.set_start(
        np.concatenate(columns),
        np.concatenate(values),
        partial=getattr(m, "partial_start", False),
    )


def _apply_solution(
    problem: Problem, idx: StageIndex, state: LinkState, y: np.ndarray, x: np.ndarray
) -> None:
    """Copy the stage's bytes and links into ``state``.

    HiGHS works in MB with a ~1e-7 feasibility tolerance, so a demand it delivers in full can
    come back a few bytes over or short, and a slot a few bytes over its capacity. Bytes over a
    demand's size are scaled away; a demand a few bytes short is topped up only in a slot of its
    own that has room (:func:`_top_up`), so no slot ever carries more than the link rate gives
    it (the exact timeline, rsmodel/optimize/timeline.py, relies on that).
    """
    y = np.where(y > 0.5, np.minimum(y, idx.pair_ub), 0.0)
    demand = problem.pair_demand[idx.pairs]
    delivered = np.bincount(demand, weights=y, minlength=len(problem.demands))
    size = problem.demand_size
    over = delivered > size
    y = y * np.where(over, size / np.maximum(delivered, 1.0), 1.0)[demand]
    state.pair_bytes[idx.pairs] = y
    carried = np.bincount(problem.pair_cand[idx.pairs], weights=y, minlength=len(state.on))
    chosen = idx.links[x > 0.5]
    on = state.on.copy()
    on[chosen] = True
    start = contact_starts(problem, on)  # a link on before its contact's last carrying slot:
    carrying = np.where(on & (carried > 0.5), np.arange(len(on)), -1)  # bytes or setup
    last = np.full(len(on), -1, dtype=int)
    np.maximum.at(last, start[on], carrying[on])
    for c in chosen[last[start[chosen]] >= chosen]:
        state.open(int(c))
    _trim_overfull(state, idx.pairs)
    short = size - state.delivered()
    near = (short > 0) & (short <= np.maximum(_SNAP_BYTES, 1e-7 * size))
    if near.any():
        _top_up(state, idx.pairs, np.flatnonzero(near), short)


def _trim_overfull(state: LinkState, pairs: np.ndarray) -> None:
    """Scale down the stage's bytes in any slot that carries more than its capacity (solver
    round-off of a few bytes)."""
    p = state.problem
    residual = state.residual_bytes()
    cand = p.pair_cand[pairs]
    used = np.bincount(cand, weights=state.pair_bytes[pairs], minlength=len(residual))
    excess = np.maximum(-residual, 0.0)
    scale = np.where(excess > 0, 1.0 - excess / np.maximum(used, 1.0), 1.0)
    state.pair_bytes[pairs] *= np.clip(scale[cand], 0.0, 1.0)


def _top_up(state: LinkState, pairs: np.ndarray, demands: np.ndarray, short: np.ndarray) -> None:
    """Add the few missing bytes of each demand in ``demands`` to its used pair whose slot has
    the most room (as much as fits), so that a demand HiGHS delivered in full counts as complete."""
    p = state.problem
    residual = state.residual_bytes()
    used = pairs[(state.pair_bytes[pairs] > 0) & np.isin(p.pair_demand[pairs], demands)]
    if len(used) == 0:
        return
    room = residual[p.pair_cand[used]]
    order = np.lexsort((-room, p.pair_demand[used]))  # per demand, the roomiest slot first
    first = np.r_[True, np.diff(p.pair_demand[used][order]) != 0]
    for q in used[order][first]:
        c, d = int(p.pair_cand[q]), int(p.pair_demand[q])
        add = min(float(short[d]), max(float(residual[c]), 0.0))
        state.pair_bytes[q] += add
        residual[c] -= add


def _summarise(stats: SolverStats) -> None:
    """Objective and bound summed over stages; mip_gap the largest stage gap."""
    done = [s for s in stats.stages if s.objective is not None]
    if not done:
        return
    stats.objective = float(sum(s.objective for s in done))
    bounds = [s.bound for s in done if s.bound is not None]
    stats.bound = float(sum(bounds)) if len(bounds) == len(done) else None
    gaps = [s.mip_gap for s in done if s.mip_gap is not None]
    stats.mip_gap = float(max(gaps)) if gaps else None
    if stats.bound is not None and abs(stats.objective) > 0:
        stats.gap_global = max(0.0, (stats.objective - stats.bound) / abs(stats.objective))


def reoptimise(
    problem: Problem, fixed_operations: Sequence[Operation], from_time: datetime
) -> Schedule:
    """Re-plan from ``from_time`` keeping the past fixed.

    Slots that start before ``from_time`` keep the bytes of ``fixed_operations`` (each
    operation fills its slots in time order at the link rate; what falls after those slots is
    re-planned); only later slots are optimised, with the same method, stages and blocks.
    ``problem`` may carry new demands (``problem.with_demands``) or changed windows.
    """
    frozen = int(np.ceil(problem.seconds(from_time) / problem.step_s - 1e-9))
    state = LinkState.empty(problem)
    state.frozen_slots = max(frozen, 0)
    _place_fixed(problem, state, fixed_operations)
    return solve_problem(problem, fixed=state)


def _place_fixed(problem: Problem, state: LinkState, operations: Sequence[Operation]) -> None:
    """Write operations into the frozen slots of ``state``: each operation's bytes fill its slots
    in time order up to their capacity (transfers run at the link rate)."""
    p = problem
    window_index = {str(w): i for i, w in enumerate(p.windows["id"])}
    demand_index = {d.id: i for i, d in enumerate(p.demands)}
    pair_of = {
        (int(d), int(c)): q for q, (d, c) in enumerate(zip(p.pair_demand, p.pair_cand, strict=True))
    }
    used = np.zeros(len(p.cand_window))
    for op in sorted(operations, key=lambda o: o.start):
        w, d = window_index.get(op.window_id), demand_index.get(op.sync_id)
        if w is None or d is None:
            raise ValueError(f"fixed operation {op} names an unknown window or sync")
        a, b = p.seconds(op.start), p.seconds(op.end)
        cands = np.flatnonzero(
            (p.cand_window == w) & (p.cand_t1_s > a + 1e-6) & (p.cand_t0_s < b - 1e-6)
        )
        left = op.bytes
        for c in cands[np.argsort(p.cand_slot[cands])]:
            q = pair_of.get((d, int(c)))
            if left <= 0 or q is None or p.cand_slot[c] >= state.frozen_slots:
                continue
            need = state.contact_to(int(c)) or [int(c)]  # the setup slots before it too
            start = need[0]
            while p.cand_prev[start] >= 0 and state.on[p.cand_prev[start]]:
                start = int(p.cand_prev[start])
            setup = spill_bytes(p, np.array([start]), np.array([c]))[0]
            part = min(left, max(p.cand_bytes[c] - setup - used[c], 0.0))
            if part > 0:
                for k in need:
                    state.open(k)
                state.pair_bytes[q] += part
                used[c] += part
                left -= part
