"""Entry points: optimise a scenario, or solve a prepared Problem, class stage by class stage.

Preemptive class stages: critical demands are solved first on the full capacity, their links and
bytes fixed; then high on what is left (links already on keep their residual bytes), then normal,
then low. Each stage is a MILP (rsmodel/optimize/model.py) solved by HiGHS through Pyomo's appsi
interface and warm-started from the greedy dispatcher. Before each stage,
``LinkState.begin_stage`` blocks the capacity a waiting higher-class demand could use, so lower
classes only get what nothing above them wants. The time limit covers all stages; a stage
without a solution in time keeps its greedy allocation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.appsi.solvers.highs import Highs

from rsmodel.optimize.greedy import fill, greedy
from rsmodel.optimize.model import ExtraBlock, StageIndex, build_model
from rsmodel.optimize.objective import evaluate
from rsmodel.optimize.problem import CLASS_NAMES, UNIT_BYTES, Problem, problem_from_scenario
from rsmodel.optimize.schedule import Schedule, SolverStats, build_schedule
from rsmodel.optimize.state import LinkState

_MIN_STAGE_S = 0.2
_threads_in_use: list[int] = []


def optimise(scenario: Any, geometry: Any, *, method: str | None = None) -> Schedule:
    """Schedule the scenario's syncs over its geometry's windows (``method`` overrides the model's)."""
    return solve_problem(problem_from_scenario(scenario, geometry, method=method))


def solve_problem(problem: Problem, *, extra_blocks: Sequence[ExtraBlock] = ()) -> Schedule:
    """Solve with ``problem.settings.method``: ``greedy`` or the staged ``milp``."""
    t_start = time.perf_counter()
    baseline = greedy(problem)
    greedy_s = time.perf_counter() - t_start
    if problem.settings.method == "greedy":
        stats = SolverStats(
            "greedy",
            "class-stages",
            "heuristic",
            solve_s=greedy_s,
            time_limit_s=problem.settings.time_limit_s,
        )
        stats.objective = _total_objective(problem, baseline)
        return build_schedule(baseline, stats)
    state, stats = _staged_milp(problem, t_start, extra_blocks)
    warnings = []
    if _score(problem, baseline) < _score(problem, state):
        stats.notes.append(
            "greedy plan scored better than the stage MILPs within the time limit: greedy kept"
        )
        stats.status = "greedy-better"
        state = baseline
    if stats.status == "time_limit":
        warnings.append(
            f"solver time limit {problem.settings.time_limit_s:g} s reached; proven gap {stats.mip_gap}"
        )
    stats.notes.append(
        f"greedy baseline objective {_total_objective(problem, baseline):.6g} in {greedy_s:.3f} s"
    )
    return build_schedule(state, stats, warnings)


# --------------------------------------------------------------------------- stages
def _staged_milp(
    problem: Problem, t_start: float, extra_blocks: Sequence[ExtraBlock]
) -> tuple[LinkState, SolverStats]:
    settings = problem.settings
    state = LinkState.empty(problem)
    stats = SolverStats("milp", "class-stages", "optimal", time_limit_s=settings.time_limit_s)
    ranks = problem.demand_rank
    classes = [int(r) for r in np.unique(ranks)]
    weight = {
        r: max(int(np.isin(problem.pair_demand, np.flatnonzero(ranks == r)).sum()), 1)
        for r in classes
    }
    deadline = t_start + settings.time_limit_s
    for k, rank in enumerate(classes):
        demands = np.flatnonzero(ranks == rank)
        state.begin_stage(rank)
        remaining = deadline - time.perf_counter()
        share = weight[rank] / sum(weight[r] for r in classes[k:])
        budget = remaining * share
        if budget < _MIN_STAGE_S:
            fill(state, demands)
            stats.status = "time_limit"
            stats.notes.append(f"{CLASS_NAMES[rank]}: no time left, greedy allocation")
            continue
        stage = _solve_stage(problem, demands, state, budget, extra_blocks)
        stats.stages.append({"class": CLASS_NAMES[rank], **stage})
        stats.build_s += stage["build_s"]
        stats.solve_s += stage["solve_s"]
        if stage["status"] != "optimal":
            stats.status = "time_limit" if stage["status"] == "time_limit" else stats.status
    state.close_idle_and_trim()
    _summarise(stats)
    return state, stats


def _solve_stage(
    problem: Problem,
    demands: np.ndarray,
    state: LinkState,
    budget_s: float,
    extra_blocks: Sequence[ExtraBlock],
) -> dict[str, Any]:
    """Build, warm-start, solve one class stage and write its allocation (repaired) into ``state``."""
    t0 = time.perf_counter()
    warm = fill(state.copy(), demands)
    m = build_model(problem, demands, state, extra_blocks=extra_blocks)
    idx: StageIndex = m.stage
    _set_warm_start(m, problem, idx, warm)
    opt = _highs(problem.settings.threads)
    opt.set_instance(m)
    build_s = time.perf_counter() - t0
    opt.config.time_limit = max(budget_s - build_s, _MIN_STAGE_S)
    opt.config.mip_gap = problem.settings.mip_gap
    opt.config.load_solution = False
    opt.config.warmstart = True
    t1 = time.perf_counter()
    result = opt.solve(m)
    solve_s = time.perf_counter() - t1
    info = opt._solver_model.getInfo()
    status = _status(result)
    if result.best_feasible_objective is not None:
        _apply_solution(opt, m, problem, idx, state)
        used = "milp"
    else:
        state.pair_bytes[:] = warm.pair_bytes
        for c in np.flatnonzero(warm.on & ~state.on):
            state.open(int(c))
        used = "greedy (no MILP solution in time)"
    gap = (
        float(info.mip_gap)
        if result.best_feasible_objective is not None and np.isfinite(info.mip_gap)
        else None
    )
    return {
        "status": status,
        "allocation": used,
        "objective": result.best_feasible_objective,
        "bound": result.best_objective_bound,
        "mip_gap": gap,
        "build_s": build_s,
        "solve_s": solve_s,
        "columns": int(opt._solver_model.getNumCol()),
        "rows": int(opt._solver_model.getNumRow()),
        "binaries": len(idx.links),
    }


def _highs(threads: int) -> Highs:
    """An appsi HiGHS instance; HiGHS fixes its thread pool once per process, so reset it when
    the thread count changes."""
    import highspy

    if _threads_in_use and _threads_in_use[-1] != threads:
        highspy.Highs.resetGlobalScheduler(True)
    _threads_in_use[:] = [threads]
    opt = Highs()
    opt.highs_options = {"threads": threads, "output_flag": False}
    return opt


def _status(result: Any) -> str:
    from pyomo.contrib.appsi.base import TerminationCondition

    tc = result.termination_condition
    if tc == TerminationCondition.optimal:
        return "optimal"
    if tc == TerminationCondition.maxTimeLimit:
        return "time_limit"
    return str(tc.name)


def _set_warm_start(
    m: pyo.ConcreteModel, problem: Problem, idx: StageIndex, warm: LinkState
) -> None:
    """Greedy allocation of the stage as the MIP start."""
    y = warm.pair_bytes[idx.pairs]
    for i, v in enumerate(np.minimum(y, idx.pair_ub) / UNIT_BYTES):
        m.y[i].set_value(float(v), skip_validation=True)
    for i, c in enumerate(idx.links):
        m.x[i].set_value(1.0 if warm.on[c] else 0.0, skip_validation=True)
    for i in m.STARTS:
        prev_on = warm.on[idx.links[idx.link_prev[i]]]
        m.z[i].set_value(
            1.0 if warm.on[idx.links[i]] and not prev_on else 0.0, skip_validation=True
        )
    delivered = np.bincount(
        np.searchsorted(idx.demands, problem.pair_demand[idx.pairs]),
        weights=y,
        minlength=len(idx.demands),
    )
    for k, size in enumerate(problem.demand_size[idx.demands]):
        m.unmet[k].set_value(
            float(max(size - delivered[k], 0.0) / UNIT_BYTES), skip_validation=True
        )
    if hasattr(m, "peak"):
        stations = problem.cand_station[problem.pair_cand[idx.pairs]]
        m.peak.set_value(
            float(np.bincount(stations, weights=y).max() / UNIT_BYTES), skip_validation=True
        )


def _apply_solution(
    opt: Highs, m: pyo.ConcreteModel, problem: Problem, idx: StageIndex, state: LinkState
) -> None:
    """Copy the stage's bytes and links into ``state`` (column values read straight from HiGHS)."""
    values = np.asarray(opt._solver_model.getSolution().col_value)
    col = opt._pyomo_var_to_solver_var_map
    y = values[[col[id(m.y[i])] for i in range(idx.n_pairs)]] * UNIT_BYTES
    x = values[[col[id(m.x[i])] for i in range(len(idx.links))]] if len(idx.links) else np.zeros(0)
    y = np.where(y > 0.5, y, 0.0)
    state.pair_bytes[idx.pairs] = np.minimum(y, idx.pair_ub)
    carried = np.bincount(problem.pair_cand[idx.pairs], weights=y, minlength=len(state.on))
    for i in np.flatnonzero(x > 0.5):
        c = int(idx.links[i])
        if carried[c] > 0.5:
            state.open(c)


def _summarise(stats: SolverStats) -> None:
    """Objective and bound summed over stages; mip_gap the largest stage gap."""
    done = [s for s in stats.stages if s["objective"] is not None]
    if not done:
        return
    stats.objective = float(sum(s["objective"] for s in done))
    bounds = [s["bound"] for s in done if s["bound"] is not None]
    stats.bound = float(sum(bounds)) if len(bounds) == len(done) else None
    gaps = [s["mip_gap"] for s in done if s["mip_gap"] is not None]
    stats.mip_gap = float(max(gaps)) if gaps else None
    if stats.bound is not None and abs(stats.objective) > 0:
        stats.gap_global = max(0.0, (stats.objective - stats.bound) / abs(stats.objective))


def _score(problem: Problem, state: LinkState) -> tuple[float, ...]:
    """Per class (critical first) the stage objective: compared lexicographically."""
    ranks = problem.demand_rank
    return tuple(
        round(evaluate(problem, np.flatnonzero(ranks == r), state.pair_bytes, problem.weights), 9)
        for r in np.unique(ranks)
    )


def _total_objective(problem: Problem, state: LinkState) -> float:
    return float(sum(_score(problem, state)))
