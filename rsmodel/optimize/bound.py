"""Lower bounds on the plan objective: LPs on a coarse slot grid (docs/optimisation-scale.md).

``F(plan) = sum over classes r of J_r(plan)``, ``J_r`` exactly
:func:`rsmodel.optimize.objective.evaluate` (the core's class objective without link cost).

- :func:`any_plan_bound`: one LP over all classes; ``<= F(plan)`` for *every* plan.
- :func:`stage_bound` (reported as ``solver.bound``): sum over classes of the LP bound of
  class r given the plan's allocation of the classes above r (its links, residual bytes and
  priority blocks), i.e. the preemptive definition of optimal the staged solver uses. The
  critical term bounds every plan; a lower-class term bounds every plan that gives the classes
  above it what this plan gives them.

The LP of class r is the relaxation of its stage model (rsmodel/optimize/model.py) given the
classes above (:class:`Capacity`), aggregated over slots of ``coarse_s`` (the fine grid
``step_s`` where the class has at most ``FINE_PAIRS`` pairs). Aggregate a = (window, coarse
slot, kind: new link / new link on an antenna its node holds / link already on, capacity
level on coarse grids: ``LEVELS_PER_OCTAVE`` per factor 2 of the fine candidates' bytes).
Columns: y[d, a, late] MB per demand, unmet[d], x[a] per new aggregate, on the fine grid
z[c] per possible contact start, a peak per balance term. Rows: sum y + unmet = size;
per aggregate sum_d y <= cap_a x_a - setup z (new; ``cap_a`` its largest fine candidate's
bytes, x_a <= its bytes / cap_a) or <= bytes left (on); z_c >= x_c - x_prev; per (radio,
coarse slot) sum x <= free fine slots; per (station, coarse slot) sum x <= free antenna-slots;
peak >= bytes via station / its capacity; per data source (docs/recorder.md) a running total
``s_T >= s_T' + bytes sent in T`` (T' the previous coarse slot with a row) ``<= bytes produced
before T's last fine slot``, at the slots where that could bind (no byte goes down before it
exists; recorder capacity and losses are left out, which only relaxes). Costs: y at the cheapest per-byte cost of its fine
pairs, unmet and balance exactly as in ``objective.coefficients``.

Why it is a lower bound. Take a plan P whose classes above r are the given ones and whose
class r obeys the stage rules (or is the ``plan`` given). Set y to its class-r bytes per
aggregate, x_a = sum over a's new links c of y_c / cap_a, and on the fine grid x_c = 1 where
the link is on and z_c = 1 at its contact starts. Each row holds: a link carries at most its
bytes (minus setup at a start), so y_a <= sum_c cand_c x_c <= cap_a x_a; a radio talks to one
station per slot, so sum_{c in slot} y_c / cand_c <= 1 and x, summed over a coarse slot, is at
most the free fine slots; likewise an antenna per new link at a station (a node holding the
antenna already needs none); a link already on takes no radio or antenna, its bytes left get
its setup back only if the previous slot comes on. Capacity only grows: setup is dropped on
coarse grids, turnaround and link cost are ignored, and where the plan itself uses more
(a reserved antenna, a blocked slot, a slot after one another class opened) the limit is
raised to it. Its cost is at most ``J_r(P)``: each byte costs the cheapest of its aggregate
and the smallest feasible peak is the balance term. So the LP optimum is <= ``J_r(P)``, and
:func:`_dual_bound` returns a value <= the LP optimum whatever HiGHS's tolerances. If an LP
does not finish in time, its class falls back to the capacity-free bound (each byte at its
demand's cheapest option).

Track requests (docs/tracks.md) add their class's track terms to ``J_r``; both bounds add
:func:`rsmodel.optimize.tracks.track_bound` (each request at most its longest feasible
schedule, contention ignored) per class.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import highspy
import numpy as np

# First: the gateway keeps Pyomo from importing scipy.stats, only before SciPy's first import.
from rsmodel.optimize.gateway import HighsModel  # isort: split

import scipy.sparse as sp

from rsmodel.optimize.compute_pool import Background, Failed, pool_workers
from rsmodel.optimize.greedy import class_ranks
from rsmodel.optimize.objective import (
    LINK_COST,
    class_scores,
    coefficients,
    normalised_weights,
    station_capacity,
)
from rsmodel.optimize.problem import CLASS_NAMES, UNIT_BYTES, Problem
from rsmodel.optimize.stage_lp import SCORE_TOL, first_class_bound, stage_lp_bound
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveOptions, SolveStatus
from rsmodel.optimize.tracks import track_bound

COARSE_GRIDS_S = (300.0, 3600.0)  # tried in turn when the fine LP is too large or too slow
FINE_PAIRS = 1_000_000  # classes with at most this many pairs get the LP on the fine slot grid
BOUND_TIME_FRACTION = 0.35  # of the solver time limit at least, for all bound LPs together
BY_STAGE_LP = "the LP relaxation of its stage model"
BY_WORKER = f"{BY_STAGE_LP} (solved in a worker process beside the stages)"
MIN_LP_S = 0.5  # a bound LP is not started with less time left
FIRST_LP_MARGIN_S = 1.0  # the first class's worker LP stops this long before the plan's limit
FIRST_LP_MIN_PAIRS = 5_000  # a smaller first class's stage LP solves inline in less time than
# a worker process takes to start (forkserver ~0.5 s once, then Pyomo and HiGHS imported ~1 s)
GRID_SHARE = 0.7  # of a class's bound time for its LP on a grid when coarser ones may follow
_EPS_BYTES = 0.5
LEVELS_PER_OCTAVE = (
    4  # coarse aggregates: capacity levels per factor 2 (docs/optimisation-scale.md)
)


@dataclass
class Capacity:
    """What a bound LP of one class may use, per fine candidate and slot.

    ``on``: links the classes above already hold: the class may use their bytes left
    (``cand_bytes``), takes no radio or antenna for them, and gets their ``setup_bytes`` back
    if it opens the previous slot of the window itself. Other candidates are new links:
    ``cand_bytes`` is their capacity (0: unusable), a contact start there costs
    ``setup_bytes``; ``held``: the node keeps the station's antenna there already (turnaround),
    so the link takes none. ``radio_free`` (radio, slot) and ``station_free`` (station, slot):
    how many new links fit there."""

    cand_bytes: np.ndarray  # per candidate, bytes
    setup_bytes: np.ndarray  # per candidate, bytes
    on: np.ndarray  # per candidate, bool
    held: np.ndarray  # per candidate, bool
    radio_free: np.ndarray  # (radio, slot) new links, 0 or 1
    station_free: np.ndarray  # (station, slot) new links


@dataclass
class FirstClassLP:
    """The first class's stage-model LP (:func:`rsmodel.optimize.stage_lp.first_class_bound`)
    running in a worker process since the solve began (:func:`start_first_class_lp`)."""

    rank: int
    call: Background

    def close(self) -> None:
        """Kill the worker if its result was not collected."""
        if self.call.done is None:
            self.call.cancel()


def start_first_class_lp(
    problem: Problem, time_limit_s: float, *, min_pairs: int | None = None
) -> FirstClassLP | None:
    """Start the first class's stage-model LP bound in a worker process, to run next to the
    stage MILPs on a core of its own, or None where it would not be used or has no core. Only
    for a ``milp`` problem with recorders or batteries (where the coarse LPs leave out what
    binds), a first class of at least ``min_pairs`` (default ``FIRST_LP_MIN_PAIRS``) pairs and
    no track requests, and ``solver.threads`` >= 2 on a machine with 2 cores or more (the
    caller then gives the solve one thread less). Its simplex stops ``FIRST_LP_MARGIN_S``
    before ``time_limit_s`` from now, so a stopped one still returns its Lagrangian."""
    s = problem.settings
    min_pairs = FIRST_LP_MIN_PAIRS if min_pairs is None else min_pairs
    classes = class_ranks(problem)
    if (
        problem.onboard is None
        or s.method != "milp"
        or not classes
        or np.isin(problem.tracks.request_rank, classes[0]).any()
        or np.isin(problem.pair_demand, np.flatnonzero(problem.demand_rank == classes[0])).sum()
        < min_pairs
        or pool_workers(s.threads, 2) < 2
    ):
        return None
    alone = copy.copy(problem)
    alone.settings = replace(s, threads=1)
    job = (alone, classes[0], time.time() + time_limit_s - FIRST_LP_MARGIN_S)
    return FirstClassLP(classes[0], Background(first_class_bound, job))


def full_capacity(problem: Problem) -> Capacity:
    """Nothing on yet: every candidate a new link; one link per radio, the antennas in service
    per station."""
    p = problem
    none = np.zeros(len(p.cand_window), dtype=bool)
    return Capacity(
        cand_bytes=p.cand_bytes.copy(),
        setup_bytes=p.cand_setup_bytes.copy(),
        on=none,
        held=none,
        radio_free=np.ones((p.n_radios, max(p.n_slots, 1)), dtype=int),
        station_free=p.antennas_at.copy(),
    )


def residual_capacity(state: LinkState, plan: LinkState, rank: int) -> Capacity:
    """What ``state`` (classes above ``rank`` only, after ``begin_stage``) leaves to class
    ``rank``: the bytes left on its links; new links where the radio is free and an antenna is
    neither held, reserved for a waiting higher class nor in maintenance. Never less than what
    ``plan``'s class ``rank`` itself uses (its new links count, and no setup is charged after a
    slot ``plan`` has on)."""
    p = state.problem
    k, radio, station = p.cand_slot, p.cand_radio, p.cand_station
    mine = plan.pair_bytes * (p.demand_rank[p.pair_demand] == rank) > _EPS_BYTES
    plan_new = np.zeros(len(p.cand_window), dtype=bool)
    plan_new[p.pair_cand[mine]] = True
    plan_new &= ~state.on
    radio_free = (state.radio_link < 0).astype(int)
    np.maximum.at(radio_free, (radio[plan_new], k[plan_new]), 1)
    held = ~state.on & state.holds(station, p.cand_node, k)
    station_free = np.maximum(p.antennas_at - state.station_links - state.reserve, 0)
    counted = plan_new & ~held
    plan_links = np.zeros_like(station_free)
    np.add.at(plan_links, (station[counted], k[counted]), 1)
    station_free = np.maximum(station_free, plan_links)
    prev = np.maximum(p.cand_prev, 0)
    continued = (p.cand_prev >= 0) & (state.on[prev] | plan.on[prev])
    setup = np.where(continued, 0.0, p.cand_setup_bytes)
    usable = radio_free[radio, k] > 0
    cand_bytes = np.where(
        state.on,
        np.maximum(p.cand_bytes - state.used_bytes(), 0.0),
        np.where(usable, p.cand_bytes, 0.0),
    )
    return Capacity(cand_bytes, setup, state.on.copy(), held, radio_free, station_free)


def any_plan_bound(problem: Problem, *, time_limit_s: float = 60.0) -> tuple[float, str]:
    """A lower bound of F over all plans (one LP over every class, on the coarsest grid that
    finishes in time), and how it was obtained."""
    p = problem
    pair_cost, unmet_cost = _costs(p, np.arange(len(p.demands)))
    pairs = np.arange(len(p.pair_demand))
    tracks = sum(track_bound(p, int(r)) for r in np.unique(p.tracks.request_rank))
    if len(p.demands) == 0:
        return tracks, "tracks only"
    value, how = _bound(p, pairs, np.arange(len(p.demands)), pair_cost, unmet_cost,
                        full_capacity(p), time_limit_s, sorted(COARSE_GRIDS_S, reverse=True))  # fmt: skip
    return value + tracks, how


def stage_bound(
    problem: Problem,
    plan: LinkState,
    *,
    time_limit_s: float = 60.0,
    known: dict[str, float] | None = None,
    stage_lp: dict[str, int] | None = None,
    early: FirstClassLP | None = None,
    stage_blocks: Sequence | None = None,
) -> tuple[float, list[dict[str, Any]]]:
    """Sum over classes of the class LP bound given ``plan``'s allocation of the classes above
    (or of ``known[class name]``, a valid bound from elsewhere: :func:`whole_class_bound`, if
    larger). ``stage_lp``: {class name: its stage model's columns} to tighten by their stage
    model's LP relaxation (:func:`_tighten_by_stage_lp`), None: not; ``early``: the first
    class's, started before the solve (:func:`start_first_class_lp`); ``stage_blocks``: those
    stage models' blocks (default the problem's own).

    First every class gets its LP on the coarse grid (300 s; 1 h if that does not finish); the
    first (highest) class, compared first, may use half of ``time_limit_s``, the others share
    the rest by their pair counts. Then, while time is left, the classes are refined on the
    fine grid, the one furthest above its coarse bound in ``plan`` first, and then (the classes
    of ``stage_lp``) by their stage model's LP relaxation; a class keeps the larger of its
    bounds."""
    p = problem
    ranks = p.demand_rank
    classes = [int(r) for r in np.unique(np.r_[ranks, p.tracks.request_rank])]
    stop = time.perf_counter() + time_limit_s
    n_pairs = {
        r: int(np.isin(p.pair_demand, np.flatnonzero(ranks == r)).sum()) + 1 for r in classes
    }
    score = dict(zip(classes, class_scores(p, plan), strict=True))
    coarse = [g for g in COARSE_GRIDS_S if g > p.step_s] or [p.step_s]
    parts, lps = [], {}
    for k, rank in enumerate(classes):
        demands = np.flatnonzero(ranks == rank)
        tracks = track_bound(p, rank)
        if len(demands) == 0:
            parts.append({"class": CLASS_NAMES[rank], "bound": tracks, "by": "tracks only"})
            continue
        higher = plan.higher_classes(rank)
        higher.begin_stage(rank)
        pairs = np.union1d(
            higher.stage_pairs(demands),
            np.flatnonzero(np.isin(p.pair_demand, demands) & (plan.pair_bytes > _EPS_BYTES)),
        )
        cap = residual_capacity(higher, plan, rank)
        lps[k] = (pairs, demands, *_costs(p, demands), cap, tracks)
        share = 0.5 if k == 0 else n_pairs[rank] / sum(n_pairs[r] for r in classes[k:])
        budget = max((stop - time.perf_counter()) * share, 2.0)
        value, how = _bound(p, *lps[k][:5], budget, coarse)
        parts.append({"class": CLASS_NAMES[rank], "bound": value + tracks, "by": how})
        if (known or {}).get(CLASS_NAMES[rank], -np.inf) > parts[-1]["bound"]:
            parts[-1].update(bound=known[CLASS_NAMES[rank]], by="its stage MILP's dual bound")
    if p.step_s not in coarse:
        refine = [k for k in lps if len(lps[k][0]) <= FINE_PAIRS]
        for k in sorted(refine, key=lambda k: parts[k]["bound"] - score[classes[k]]):
            if stop - time.perf_counter() < 1.0:
                break
            lp = coarse_lp(p, *lps[k][:5], p.step_s)
            value, status = _solve_lp(lp, p.settings.threads, stop - time.perf_counter())
            if value is not None and value + lps[k][5] > parts[k]["bound"]:
                how = f"LP on {p.step_s:g} s slots" + ("" if status == "optimal" else f", {status}")
                parts[k].update(bound=value + lps[k][5], by=how)
    if stage_lp is not None:
        _tighten_by_stage_lp(
            p, plan, classes, lps, parts, score, stop, stage_lp, early, stage_blocks
        )
    return float(sum(part["bound"] for part in parts)), parts


def _tighten_by_stage_lp(
    p: Problem,
    plan: LinkState,
    classes: list[int],
    lps: dict[int, tuple],
    parts: list[dict[str, Any]],
    score: dict[int, float],
    stop: float,
    columns: dict[str, int],
    early: FirstClassLP | None = None,
    blocks: Sequence | None = None,
) -> None:
    """While time is left before ``stop``, raise class bounds to their stage model's LP
    relaxation (:func:`rsmodel.optimize.stage_lp.stage_lp_bound`), the class with the largest
    open gap per column of its stage model (``columns``, else its pairs) first: a small
    class's LP is cheap. Classes with track requests and those already within
    ``solver.mip_gap`` are left as they are. A value above the plan's own score is not a bound
    of it: not used. The class of ``early`` takes its worker's value instead, collected last
    (by ``stop`` at the latest: the worker is killed then)."""
    ranks = p.demand_rank
    open_gap = {
        k: score[classes[k]] - parts[k]["bound"]
        for k in lps
        if lps[k][5] == 0.0
        and not np.isin(p.tracks.request_rank, classes[k]).any()
        and score[classes[k]] - parts[k]["bound"]
        > p.settings.mip_gap * max(1.0, abs(score[classes[k]]))
    }
    size = {k: (columns.get(CLASS_NAMES[classes[k]]) or len(lps[k][0])) + 1 for k in open_gap}
    ahead = None if early is None else classes.index(early.rank)
    for k in sorted(open_gap, key=lambda k: -open_gap[k] / size[k]):
        left = stop - time.perf_counter()
        if k == ahead or left < MIN_LP_S:
            continue
        rank = classes[k]
        higher = plan.higher_classes(rank)
        higher.begin_stage(rank)
        value = stage_lp_bound(p, higher, np.flatnonzero(ranks == rank), left, blocks)
        _raise_to_stage_lp(parts[k], value, score[rank])
    if ahead is not None and ahead in open_gap:
        value = early.call.result(max(stop - time.perf_counter(), FIRST_LP_MARGIN_S))
        if isinstance(value, Failed) or value is None:
            why = "no dual solution in time" if value is None else f"worker {value.reason}"
            parts[ahead]["by"] += f" (its stage model's LP relaxation: {why})"
        else:
            _raise_to_stage_lp(parts[ahead], value, score[early.rank], BY_WORKER)


def _raise_to_stage_lp(
    part: dict[str, Any], value: float | None, score: float, by: str = BY_STAGE_LP
) -> None:
    """Raise the class ``part``'s bound to its stage-model LP ``value`` (None: not solved) when
    larger and not above the plan's own ``score`` (then it is not a bound of it: noted)."""
    if value is None or value <= part["bound"]:
        return
    if value > score + SCORE_TOL * max(1.0, abs(score)):
        part["by"] += (
            f" (its stage model's LP relaxation, {value:.6g}, is above the plan: not used)"
        )
        return
    part.update(bound=value, by=by)


def attach_bound(
    problem: Problem,
    schedule: Any,
    budget_s: float | None = None,
    *,
    stage_lp: bool = True,
    early: FirstClassLP | None = None,
    stage_blocks: Sequence | None = None,
) -> None:
    """Set ``solver.objective`` (F of the returned plan), ``bound`` (:func:`stage_bound`) and
    ``gap_global``; note the any-plan bound too. ``budget_s``: seconds for all bound LPs
    (default ``BOUND_TIME_FRACTION`` of the time limit). ``stage_lp``: tighten classes by
    their stage model's LP relaxation where the LPs leave out what binds (a monolithic
    staged MILP plan of a problem with recorders or batteries); ``early``: the first class's,
    running since the solve began (:func:`start_first_class_lp`; the caller closes it);
    ``stage_blocks``: the blocks of those stage models, a relaxation of the plan's own (default
    the problem's; the joint model's: :func:`rsmodel.optimize.recorder.onboard_blocks` with
    its job outputs left out of the recorders, the compute block and its energy left out)."""
    stats = schedule.solver
    if len(problem.demands) == 0 and len(problem.tracks.requests) == 0:  # the empty plan: optimal
        stats.objective, stats.bound, stats.gap_global = 0.0, 0.0, 0.0
        return
    t0 = time.perf_counter()
    budget = max(budget_s or BOUND_TIME_FRACTION * problem.settings.time_limit_s, 2.0)
    known = whole_class_bound(stats)
    exact_stages = (
        stage_lp
        and problem.onboard is not None
        and stats.method == "milp"
        and stats.strategy == "monolithic"
    )
    columns = {st.name: int(st.sizes.get("columns", 0)) for st in stats.stages}
    bound, parts = stage_bound(
        problem,
        schedule.state,
        time_limit_s=0.85 * budget,
        known=known,
        stage_lp=columns if exact_stages else None,
        early=early if exact_stages else None,
        stage_blocks=stage_blocks,
    )
    left = t0 + budget - time.perf_counter()
    any_bound, how = any_plan_bound(problem, time_limit_s=max(left, 0.1 * budget))
    score = class_scores(problem, schedule.state)
    objective = float(sum(score))
    stats.objective = objective
    stats.bound = bound
    stats.gap_global = max(0.0, (objective - bound) / abs(objective)) if objective else 0.0
    per_class = ", ".join(
        f"{c['class']} {s:.6g} >= {c['bound']:.6g} by {c['by']}"
        for c, s in zip(parts, score, strict=True)
    )
    stats.notes.append(
        f"global bound {bound:.6g} ({time.perf_counter() - t0:.1f} s): each class within {100 * stats.gap_global:.2f} % in total of "
        f"the best it can reach given the classes above it ({per_class}); any plan, ignoring "
        f"priorities: F >= {any_bound:.6g} ({how}); docs/optimisation-scale.md"
    )


def whole_class_bound(stats: Any) -> dict[str, float]:
    """{top class name: its stage MILP's dual bound - ``LINK_COST``} where that bounds the top
    class's objective ``J_r`` over every plan (docs/optimisation-scale.md, "The top class's own
    bound"); else {}.

    Why it is valid. The top class (critical first) is solved with nothing above it, so its
    stage MILP, when it is the class's whole problem, has every plan's class-r allocation as a
    feasible point, and HiGHS's dual bound is <= the MILP optimum <= its objective at that
    point = ``J_r + LINK_COST * links / |L| + recorder loss terms``. The link term is at most
    ``LINK_COST``; the loss terms are 0 when the stage has no loss or overflow columns (no
    recorder can overflow in the stage). Hence bound - ``LINK_COST`` <= ``J_r(plan)``. The
    stage is the whole problem (``extra["exact_model"]``, set by
    :func:`rsmodel.optimize.solve.solve_stage`) only in a monolithic staged solve, with the
    default blocks (not the joint model's ``min_steps`` row and compute block), no LP dive
    (it fixes links), no pair left out by the reach rule, no track requests, nothing above it;
    a rolling block is a part of the horizon: never."""
    if stats.method != "milp" or stats.strategy != "monolithic" or not stats.stages:
        return {}
    top = stats.stages[0]
    if not top.extra.get("exact_model") or top.bound is None or not np.isfinite(top.bound):
        return {}
    return {top.name: float(top.bound) - LINK_COST}


# --------------------------------------------------------------------------- the LP
def _bound(
    p: Problem,
    pairs: np.ndarray,
    demands: np.ndarray,
    pair_cost: np.ndarray,
    unmet_cost: np.ndarray,
    cap: Capacity,
    time_limit_s: float,
    grids: list[float] | None = None,
) -> tuple[float, str]:
    """The best of the capacity-free bound and the LP bounds on ``grids`` (slot lengths, s)
    in turn until one LP is solved; by default the fine grid (up to ``FINE_PAIRS`` pairs), then
    the ``COARSE_GRIDS_S`` grids. An LP stopped by the time limit counts with the dual bound of
    where it stopped."""
    stop = time.perf_counter() + time_limit_s
    if grids is None:
        fine = [p.step_s] if len(pairs) <= FINE_PAIRS else []
        grids = fine + [g for g in COARSE_GRIDS_S if g > p.step_s]
    cheapest = unmet_cost[demands].copy()
    position = np.searchsorted(demands, p.pair_demand[pairs])
    np.minimum.at(cheapest, position, pair_cost[pairs])
    best, how = float(cheapest @ p.demand_size[demands]), "capacity-free"
    for k, grid in enumerate(grids):
        if stop - time.perf_counter() < MIN_LP_S:
            break
        lp = coarse_lp(p, pairs, demands, pair_cost, unmet_cost, cap, grid)
        share = 1.0 if k == len(grids) - 1 else GRID_SHARE
        value, status = _solve_lp(lp, p.settings.threads, (stop - time.perf_counter()) * share)
        if value is not None and value > best:
            best, how = (
                value,
                f"LP on {grid:g} s slots" + ("" if status == "optimal" else f", {status}"),
            )
        if status == "optimal":
            break
    return best, how


def _solve_lp(lp: highspy.HighsLp, threads: int, time_limit_s: float) -> tuple[float | None, str]:
    """A rigorous lower bound from the LP's duals (Lagrangian with the column boxes), so solver
    tolerances cannot push it above the LP optimum, and a (weaker) bound from the duals of the
    dual simplex where the time limit stopped it (no presolve, so they are the model's); costs
    are scaled to O(1) for the solve."""
    cost = np.array(lp.col_cost_, dtype=float)  # a copy: the HighsLp field is a view
    if lp.num_col_ == 0:
        return 0.0, "empty"
    scale = 1.0 / max(float(np.median(cost[cost > 0])) if np.any(cost > 0) else 1.0, 1e-300)
    lp.col_cost_ = cost * scale
    options = SolveOptions(time_limit_s=time_limit_s, threads=threads, presolve=False)
    solver = HighsModel.from_lp(lp, options)
    result = solver.run()
    duals = solver.row_duals()
    if len(duals) != lp.num_row_:  # no dual solution (HiGHS may say optimal without one)
        return None, f"{result.status} without duals"
    done = result.status == SolveStatus.OPTIMAL
    return _dual_bound(lp, cost, duals / scale), "optimal" if done else f"duals at {result.status}"


def _dual_bound(lp: highspy.HighsLp, cost: np.ndarray, pi: np.ndarray) -> float:
    """min over the column boxes of c x - pi (A x - b), pi sign-corrected: <= the LP optimum."""
    lower, upper = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    pi = np.where(np.isfinite(lower), pi, np.minimum(pi, 0.0))  # <= rows: pi <= 0
    a = sp.csc_matrix(
        (lp.a_matrix_.value_, lp.a_matrix_.index_, lp.a_matrix_.start_),
        shape=(lp.num_row_, lp.num_col_),
    )
    reduced = cost - a.T @ pi
    col_up = np.asarray(lp.col_upper_)
    return float(pi @ upper + np.minimum(reduced, 0.0) @ col_up)


def coarse_lp(
    p: Problem,
    pairs: np.ndarray,
    demands: np.ndarray,
    pair_cost: np.ndarray,
    unmet_cost: np.ndarray,
    cap: Capacity,
    coarse_s: float,
) -> highspy.HighsLp:
    """The LP (bytes in MB) over ``pairs`` of ``demands`` on slots of ``coarse_s`` as a HighsLp
    (module docstring)."""
    per = max(1, round(coarse_s / p.step_s))  # whole fine slots per coarse slot
    fine = per == 1
    n_t = max(p.n_slots, 1) // per + 1
    # aggregates: (window, coarse slot, kind, capacity level) groups of fine candidates; kind 0
    # a new link, 1 a new link on an antenna its node holds already, 2 a link already on
    # only candidates up to the last one of their window with a pair of ``demands``: a link
    # after it carries nothing and opens no slot that does, so the LP optimum is the same
    last = np.full(len(p.windows), -1)
    np.maximum.at(last, p.cand_window[p.pair_cand[pairs]], p.cand_slot[p.pair_cand[pairs]])
    cands = np.flatnonzero(p.cand_slot <= last[p.cand_window])
    kind = np.where(cap.on, 2, np.where(cap.held, 1, 0)).astype(np.int64)[cands]
    level = np.zeros(len(kind), dtype=np.int64) if fine else _capacity_level(p.cand_bytes[cands])
    n_levels = int(level.max()) + 1 if len(level) else 1
    window, slot = p.cand_window[cands].astype(np.int64), p.cand_slot[cands]
    agg_keys, inverse = np.unique(
        ((window * n_t + slot // per) * 3 + kind) * n_levels + level, return_inverse=True
    )
    cand_agg = np.full(len(p.cand_window), -1)
    cand_agg[cands] = inverse
    n_a, n_d = len(agg_keys), len(demands)
    agg_t, agg_kind = agg_keys // n_levels // 3 % n_t, agg_keys // n_levels % 3
    first = np.zeros(n_a, dtype=int)
    first[inverse[::-1]] = cands[::-1]
    agg_bytes = np.bincount(inverse, weights=cap.cand_bytes[cands], minlength=n_a)
    largest = np.zeros(n_a)
    np.maximum.at(largest, inverse, p.cand_bytes[cands])
    # link columns x (new aggregates): fine, x = the link on; coarse, x = bytes / largest
    new = np.flatnonzero(agg_kind < 2)
    n_x = len(new)
    x_of = np.full(n_a, -1)
    x_of[new] = np.arange(n_x)
    x_upper = np.where(largest[new] > 0, agg_bytes[new] / np.maximum(largest[new], 1e-300), 0.0)
    # demand columns y: (demand, aggregate, late) groups of fine pairs
    position = np.searchsorted(demands, p.pair_demand[pairs])
    col_keys, q_col = np.unique(
        (position.astype(np.int64) * n_a + cand_agg[p.pair_cand[pairs]]) * 2 + p.pair_late[pairs],
        return_inverse=True,
    )
    n_y = len(col_keys)
    y_cost = np.full(n_y, np.inf)
    np.minimum.at(y_cost, q_col, pair_cost[pairs])
    y_upper = np.bincount(q_col, weights=cap.cand_bytes[p.pair_cand[pairs]], minlength=n_y)
    col_demand, col_agg = col_keys // 2 // n_a, col_keys // 2 % n_a
    x_col = n_y + n_d + np.arange(n_x)
    # bytes rows (one per aggregate): y <= largest x on new ones, <= bytes left on the others;
    # on the fine grid, minus setup at a contact start (z >= x - x_prev, z = x at a window's
    # first slot) and plus the setup a link on gets back when x_prev opens the slot before
    bytes_limit = np.where(agg_kind < 2, 0.0, agg_bytes)
    entries = [(n_d + col_agg, np.arange(n_y), np.ones(n_y))]
    entries.append((n_d + new, x_col, -largest[new] / UNIT_BYTES))
    n_z, row = 0, n_d + n_a
    if fine:
        c = first  # the one candidate of each aggregate
        setup, prev = cap.setup_bytes[c] / UNIT_BYTES, p.cand_prev[c]  # MB
        prev_x = np.where(prev >= 0, x_of[cand_agg[np.maximum(prev, 0)]], -1)
        opens = np.flatnonzero((agg_kind < 2) & (setup > 0) & (prev < 0))
        entries.append((n_d + opens, x_col[x_of[opens]], setup[opens]))
        starts = np.flatnonzero((agg_kind < 2) & (setup > 0) & (prev_x >= 0))
        n_z = len(starts)
        z_col = n_y + n_d + n_x + np.arange(n_z)
        entries.append((n_d + starts, z_col, setup[starts]))
        start_row = row + np.arange(n_z)  # x - x_prev - z <= 0
        entries.append((start_row, x_col[x_of[starts]], np.ones(n_z)))
        entries.append((start_row, x_col[prev_x[starts]], -np.ones(n_z)))
        entries.append((start_row, z_col, -np.ones(n_z)))
        row += n_z
        paid = (agg_kind == 2) & (setup > 0)
        bytes_limit[paid] = np.maximum(bytes_limit[paid] - setup[paid] * UNIT_BYTES, 0.0)
        back = np.flatnonzero(paid & (prev_x >= 0))
        entries.append((n_d + back, x_col[prev_x[back]], -setup[back]))
    # radio and antenna rows over the link columns
    ant = new[agg_kind[new] == 0]
    radio_keys, radio_row = np.unique(
        p.cand_radio[first[new]] * n_t + agg_t[new], return_inverse=True
    )
    sta_keys, sta_row = np.unique(
        p.cand_station[first[ant]] * n_t + agg_t[ant], return_inverse=True
    )
    entries.append((row + radio_row, x_col, np.ones(n_x)))
    entries.append((row + len(radio_keys) + sta_row, x_col[x_of[ant]], np.ones(len(ant))))
    entries.append((col_demand, np.arange(n_y), np.ones(n_y)))
    entries.append((np.arange(n_d), n_y + np.arange(n_d), np.ones(n_d)))
    n_rows = row + len(radio_keys) + len(sta_keys)
    size_mb = p.demand_size[demands] / UNIT_BYTES
    row_upper = [
        size_mb,
        bytes_limit / UNIT_BYTES,
        np.zeros(n_z),
        _coarse_sum(cap.radio_free, per)[radio_keys // n_t, radio_keys % n_t],
        _coarse_sum(cap.station_free, per)[sta_keys // n_t, sta_keys % n_t],
    ]
    # the balance term: peak >= bytes via station / its capacity
    n_cols = n_y + n_d + n_x + n_z
    bal = _balance_terms(p, demands, col_demand, p.cand_station[first][col_agg])
    for k, (_, _, members, stations, inv_cap) in enumerate(bal):
        n_st = int(stations.max()) + 1
        entries.append((n_rows + stations, members, inv_cap))
        entries.append((n_rows + np.arange(n_st), np.full(n_st, n_cols + k), -np.ones(n_st)))
        row_upper.append(np.zeros(n_st))
        n_rows += n_st
    n_cols += len(bal)
    chain_upper = []
    for y_row, y_col, made in _existence_chains(
        p, demands, col_demand, agg_t[col_agg], y_upper / UNIT_BYTES, per, n_t
    ):
        n_chain = len(made)  # s_T >= s_{T-1} + bytes sent in T, s_T <= bytes produced by then
        entries.append((n_rows + y_row, y_col, np.ones(len(y_col))))
        entries.append(
            (n_rows + np.arange(n_chain), n_cols + np.arange(n_chain), -np.ones(n_chain))
        )
        entries.append(
            (n_rows + np.arange(1, n_chain), n_cols + np.arange(n_chain - 1), np.ones(n_chain - 1))
        )
        row_upper.append(np.zeros(n_chain))
        chain_upper.append(made)
        n_rows += n_chain
        n_cols += n_chain
    n_chains = int(sum(len(m) for m in chain_upper))
    rows, columns, values = (np.concatenate(e) for e in zip(*entries, strict=True))
    a = sp.csc_matrix((values, (rows, columns)), shape=(n_rows, n_cols))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_cols, n_rows
    lp.col_cost_ = np.concatenate(
        [
            y_cost * UNIT_BYTES,
            unmet_cost[demands] * UNIT_BYTES,
            np.zeros(n_x + n_z),
            [b[0] for b in bal],
            np.zeros(n_chains),
        ]
    )
    lp.col_lower_ = np.zeros(n_cols)
    lp.col_upper_ = np.concatenate(
        [y_upper / UNIT_BYTES, size_mb, x_upper, np.ones(n_z), [b[1] for b in bal], *chain_upper]
    )
    lp.row_lower_ = np.concatenate([size_mb, np.full(n_rows - n_d, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate(row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    return lp


def _existence_chains(
    p: Problem,
    demands: np.ndarray,
    col_demand: np.ndarray,
    col_t: np.ndarray,
    col_mb: np.ndarray,
    per: int,
    n_t: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per data source among ``demands`` (docs/recorder.md), a chain that keeps the bytes it
    sends by the end of coarse slot T at most what it has produced before T's last fine slot,
    at the slots T where that could bind (it sends in T, and its columns up to T could carry
    more than it has made): per column of the source, its chain position (the first such T at
    or after its slot) and index, and per position that MB bound."""
    if p.onboard is None:
        return
    index = p.demand_index()
    size = p.demand_size
    last = np.minimum((np.arange(n_t) + 1) * per - 1, max(p.n_slots, 1) - 1)
    order = np.argsort(col_demand, kind="stable")
    bounds = np.searchsorted(col_demand[order], np.arange(len(demands) + 1))
    for src in p.onboard.sources:
        d = index.get(src.id, -1)
        i = int(np.searchsorted(demands, d))
        if d < 0 or i >= len(demands) or demands[i] != d:
            continue
        made = src.available_before()[last] / UNIT_BYTES
        cols = order[bounds[i] : bounds[i + 1]]
        carried = np.cumsum(np.bincount(col_t[cols], weights=col_mb[cols], minlength=n_t))
        sends = np.bincount(col_t[cols], minlength=n_t) > 0
        binds = np.flatnonzero(sends & (made < np.minimum(carried, size[d] / UNIT_BYTES) - 1e-9))
        if len(binds) == 0:
            continue
        cols = cols[col_t[cols] <= binds[-1]]
        yield np.searchsorted(binds, col_t[cols]), cols, made[binds]


def _balance_terms(
    p: Problem, demands: np.ndarray, col_demand: np.ndarray, col_station: np.ndarray
) -> list[tuple[float, float, np.ndarray, np.ndarray, np.ndarray]]:
    """Per class with a balance term in ``evaluate``: (weight, upper bound of the peak, y
    columns, their station row 0.., MB / station capacity) for peak >= bytes_st / cap_st."""
    _, _, w_bal = normalised_weights(p.weights)
    out = []
    for r in np.unique(p.demand_rank[demands]):
        members = np.flatnonzero(p.demand_rank == r)
        used, cap = station_capacity(p, np.flatnonzero(np.isin(p.pair_demand, members)))
        cols = np.flatnonzero(p.demand_rank[demands[col_demand]] == r)
        if w_bal <= 0 or len(used) < 2 or len(cols) == 0:
            continue
        station_row = np.searchsorted(used, col_station[cols])
        peak_max = float(p.demand_size[members].sum() / cap.min())
        out.append((w_bal, peak_max, cols, station_row, UNIT_BYTES / cap[station_row]))
    return out


def _coarse_sum(per_slot: np.ndarray, per: int) -> np.ndarray:
    """(rows, slots) -> (rows, coarse slots): sums over ``per`` consecutive slots."""
    rows, n = per_slot.shape
    padded = np.zeros((rows, (n // per + 1) * per))
    padded[:, :n] = per_slot
    return padded.reshape(rows, -1, per).sum(axis=2)


def _capacity_level(cand_bytes: np.ndarray) -> np.ndarray:
    """Per candidate, its capacity on a log scale (``LEVELS_PER_OCTAVE`` levels per factor 2,
    0 from 1 byte down), so that coarse aggregates group candidates of similar rate."""
    return np.floor(LEVELS_PER_OCTAVE * np.log2(np.maximum(cand_bytes, 1.0))).astype(np.int64)


def _costs(p: Problem, demands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-byte cost of every pair and unmet byte of ``demands`` (evaluate's, class by class)."""
    pair_cost = np.zeros(len(p.pair_demand))
    unmet_cost = np.zeros(len(p.demands))
    ranks = p.demand_rank
    for r in np.unique(ranks[demands]):
        members = np.flatnonzero(ranks == r)
        pairs = np.flatnonzero(np.isin(p.pair_demand, members))
        pc, uc, _, _ = coefficients(p, members, pairs, p.weights)
        pair_cost[pairs] = pc
        unmet_cost[members] = uc
    return pair_cost, unmet_cost
