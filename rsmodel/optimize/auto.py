"""Entry point of the sync optimiser: pick the strategy with the one rule, then solve.

``optimise(scenario, geometry)`` builds the :class:`Problem` and calls :func:`solve_auto`, which
runs ``monolithic`` (:func:`rsmodel.optimize.solve.solve_problem`, class stages on the full
horizon) or ``rolling`` (:func:`rsmodel.optimize.rolling.solve_rolling`) as
:func:`rsmodel.optimize.strategy.choose_strategy` decides, then the bound LPs
(:mod:`rsmodel.optimize.bound`). Compute jobs have their own entry point,
:mod:`rsmodel.optimize.compute_auto` (same rule, none of the sync modules). This module sits
above those: nothing in ``optimize/`` imports it.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rsmodel.optimize.bound import (
    BOUND_TIME_FRACTION,
    FirstClassLP,
    attach_bound,
    start_first_class_lp,
)
from rsmodel.optimize.problem import Demand, Problem, problem_from_scenario
from rsmodel.optimize.rolling import solve_rolling
from rsmodel.optimize.schedule import Schedule
from rsmodel.optimize.solve import solve_problem
from rsmodel.optimize.strategy import Choice, choose_strategy

MONOLITHIC_PAIRS_PER_S = 10_000  # syncs, auto: monolithic while pairs <= this x time limit (s)


def optimise(scenario: Any, geometry: Any, *, method: str | None = None) -> Schedule:
    """Schedule the scenario's syncs over its geometry's windows (``method`` overrides the
    model's) in ``solver.time_limit_s``."""
    return solve_auto(sync_problem(scenario, geometry, method=method))


def sync_problem(
    scenario: Any,
    geometry: Any,
    *,
    method: str | None = None,
    extra_demands: Sequence[Demand] = (),
    planned_wh: dict[str, np.ndarray] | None = None,
) -> Problem:
    """The transfer problem of the scenario's syncs (``method`` overrides the model's).

    ``extra_demands`` (e.g. compute-job outputs that go to ground) join the syncs in the same
    class stages, so they compete with them by priority on the same links; ``planned_wh``
    (node -> (K,) Wh) is their compute energy, a fixed draw next to the transmitter's."""
    problem = problem_from_scenario(scenario, geometry, method=method, planned_wh=planned_wh)
    if extra_demands:
        problem = problem.with_demands([*problem.demands, *extra_demands])
    return problem


def sync_strategy(problem: Problem) -> Choice:
    """The strategy for ``problem.settings.strategy`` (auto | monolithic | rolling): the shared
    rule with the size = pairs and the limit = ``MONOLITHIC_PAIRS_PER_S`` x the time limit."""
    s = problem.settings
    pairs = len(problem.pair_demand) + len(problem.tracks)
    options = f" and {len(problem.tracks)} track options" if len(problem.tracks) else ""
    return choose_strategy(
        s.strategy,
        horizon_s=problem.duration_s,
        size=pairs,
        size_limit=MONOLITHIC_PAIRS_PER_S * s.time_limit_s,
        size_text=f"{len(problem.pair_demand)} pairs{options}",
        limit_text=f"{MONOLITHIC_PAIRS_PER_S}/s x time limit {s.time_limit_s:g} s",
        rolling=s.rolling,
        monolithic_because=(
            "method greedy: one full-horizon dispatch" if s.method == "greedy" else None
        ),
    )


def solve_auto(
    problem: Problem, *, interface: str = "standard_form", time_limit_s: float | None = None
) -> Schedule:
    """Solve with the strategy :func:`sync_strategy` picks, then attach the global bound.

    The whole takes about ``time_limit_s`` (default ``settings.time_limit_s``, which alone
    picks the strategy): the solve gets ``1 - BOUND_TIME_FRACTION`` of it, the bound LPs what
    is left (at least ``BOUND_TIME_FRACTION``)."""
    t_start = time.perf_counter()
    limit = problem.settings.time_limit_s if time_limit_s is None else time_limit_s
    pending = solve_unbounded(
        problem, solve_s=limit * (1 - BOUND_TIME_FRACTION), worker_s=limit, interface=interface
    )
    pending.schedule.solver.time_limit_s = limit
    left = limit - (time.perf_counter() - t_start)
    return pending.attach_bound(max(left, BOUND_TIME_FRACTION * limit))


@dataclass
class Pending:
    """A solved schedule whose global bound is still to attach (:meth:`attach_bound`), and the
    first class's stage-model LP running beside it in a worker process, if any (``early``:
    :func:`rsmodel.optimize.bound.start_first_class_lp`; ``problem`` then has one thread less
    for what runs here meanwhile). Close it (:meth:`attach_bound` or :meth:`close`)."""

    problem: Problem
    schedule: Schedule
    early: FirstClassLP | None

    def attach_bound(self, budget_s: float) -> Schedule:
        """Attach the global bound in ``budget_s`` (the worker's value collected last), close."""
        try:
            attach_bound(self.problem, self.schedule, budget_s=budget_s, early=self.early)
        finally:
            self.close()
        return self.schedule

    def close(self) -> None:
        """Stop the worker if it still runs."""
        if self.early is not None:
            self.early.close()


def solve_unbounded(
    problem: Problem, *, solve_s: float, worker_s: float, interface: str = "standard_form"
) -> Pending:
    """Solve with the strategy :func:`sync_strategy` picks in ``solve_s``; a monolithic solve
    first starts its first class's stage-model LP in a worker process whose simplex stops
    ``FIRST_LP_MARGIN_S`` before ``worker_s`` from now (the bound is attached later)."""
    choice = sync_strategy(problem)
    early = start_first_class_lp(problem, worker_s) if choice.strategy == "monolithic" else None
    if early is not None:  # it has a core of its own: the stages and bound LPs here one less
        problem = copy.copy(problem)
        problem.settings = replace(problem.settings, threads=problem.settings.threads - 1)
    timed = copy.copy(problem)
    timed.settings = replace(problem.settings, time_limit_s=solve_s)
    try:
        if choice.strategy == "rolling":
            schedule = solve_rolling(timed)
        else:
            schedule = solve_problem(timed, interface=interface)
            schedule.solver.strategy = "monolithic"
    except BaseException:
        if early is not None:
            early.close()
        raise
    schedule.solver.strategy_reason = choice.reason
    return Pending(problem, schedule, early)
