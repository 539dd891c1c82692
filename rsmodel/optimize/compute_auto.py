"""Entry point of the compute-job optimiser: pick the strategy with the one rule, then solve.

:func:`solve_compute_auto` runs :func:`rsmodel.optimize.compute_solve.solve_compute` or
:func:`rsmodel.optimize.compute_rolling.solve_compute_rolling` as
:func:`rsmodel.optimize.strategy.choose_strategy` decides (:func:`compute_strategy`), like
:func:`rsmodel.optimize.auto.solve_auto` for syncs; it imports none of the sync modules, so a
compute request loads only what it solves with. Nothing in ``optimize/`` imports it.
"""

from __future__ import annotations

import numpy as np

from rsmodel.optimize.compute_problem import ComputeProblem
from rsmodel.optimize.compute_rolling import solve_compute_rolling
from rsmodel.optimize.compute_solve import ComputeSolution, solve_compute
from rsmodel.optimize.strategy import Choice, choose_strategy

ROLLING_MIN_OPTIONS = 20_000  # auto: rolling when a node has more options (docs/compute.md)


def compute_strategy(p: ComputeProblem) -> Choice:
    """The strategy for ``p.settings.strategy``: the shared rule with the size = options of the
    largest node and the limit = ``ROLLING_MIN_OPTIONS``."""
    counts = np.bincount(
        p.of_options(lambda r: list(p.energy).index(r.node.name), int),
        minlength=len(p.energy),
    )
    largest = int(counts.max()) if len(counts) else 0
    return choose_strategy(
        p.settings.strategy,
        horizon_s=float(p.t_s[-1]),
        size=largest,
        size_limit=ROLLING_MIN_OPTIONS,
        size_text=f"{largest} options on the largest node",
        limit_text="ROLLING_MIN_OPTIONS",
        rolling=p.settings.rolling,
        monolithic_because=(
            "method greedy: one full-horizon list schedule per node"
            if p.settings.method == "greedy"
            else None
        ),
    )


def solve_compute_auto(p: ComputeProblem, *, stop_at: float | None = None) -> ComputeSolution:
    """Solve the jobs with the strategy :func:`compute_strategy` picks, monolithic or rolling,
    by the deadline ``stop_at`` (``time.perf_counter()`` s; default ``settings.time_limit_s``
    from now; docs/compute.md, "Time limit")."""
    choice = compute_strategy(p)
    if choice.strategy == "rolling":
        solution = solve_compute_rolling(p, stop_at=stop_at)
    else:
        solution = solve_compute(p, stop_at=stop_at)
    solution.strategy, solution.strategy_reason = choice.strategy, choice.reason
    return solution
