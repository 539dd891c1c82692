"""The strategy frame shared by transfers (syncs) and compute jobs: ``monolithic | rolling``.

Both optimisers solve either the whole horizon at once (``monolithic``) or in commit blocks of
``block_s`` seen with ``lookahead_s`` more (``rolling``, warm-started from the previous block's
look-ahead where the optimiser can use it). ``auto`` decides for both with one rule
(:func:`choose_strategy`): a requested strategy wins; a single-block horizon or a model small
enough for its time budget is solved monolithically; anything larger rolls. Settings come the
same way on both sides: :class:`SolverSettings` (the model's
``solver:`` section). :func:`keep_better` is the one "keep the plan that scores better" rule
(the sync side compares its MILP or rolling plan with the full-horizon greedy plan).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BLOCK_S = 12 * 3600.0  # commit part of a rolling block, s
LOOKAHEAD_S = 6 * 3600.0  # look-ahead seen (not committed) after it, s
STRATEGIES = ("auto", "monolithic", "rolling")


@dataclass(frozen=True)
class Rolling:
    """Block shape of a rolling solve; ``warm_start``: a block starts from the previous block's
    look-ahead plan where the optimiser keeps one (syncs: each stage's MIP start is that plan
    completed greedily when it scores better than greedy alone; compute blocks have no MIP
    start and ignore it)."""

    block_s: float = BLOCK_S
    lookahead_s: float = LOOKAHEAD_S
    warm_start: bool = True

    def describe(self) -> str:
        return f"blocks of {self.block_s / 3600:g} h + {self.lookahead_s / 3600:g} h look-ahead"


@dataclass(frozen=True)
class SolverSettings:
    """The model's ``solver:`` settings, read the same way by the sync and compute solves:
    ``method`` milp|greedy; limits for the whole solve (all stages or blocks together)."""

    method: str = "milp"
    time_limit_s: float = 60.0
    mip_gap: float = 1e-3
    threads: int = 1
    strategy: str = "auto"  # auto | monolithic | rolling (rsmodel.optimize.strategy)
    rolling: Rolling = Rolling()  # block shape of a rolling solve
    reach_factor: float | None = 4.0  # see model.stage_index; None: every pair after release
    compute_downlink: str = "decomposed"  # or "joint" (rsmodel.optimize.joint, docs/compute.md)


def settings_from_model(solver: Any, *, method: str | None = None) -> SolverSettings:
    """The model's ``solver:`` section as :class:`SolverSettings` (``method`` overrides)."""
    return SolverSettings(
        method=method or solver.method,
        time_limit_s=float(solver.time_limit_s),
        mip_gap=float(solver.mip_gap),
        threads=int(solver.threads),
        strategy=str(solver.strategy),
        compute_downlink=str(solver.compute_downlink),
    )


@dataclass(frozen=True)
class Choice:
    """The strategy a solve runs and why (plan.json ``solver.strategy`` / ``strategy_reason``)."""

    strategy: str  # monolithic | rolling
    reason: str


def choose_strategy(
    requested: str,
    *,
    horizon_s: float,
    size: int,
    size_limit: float,
    size_text: str,
    limit_text: str,
    rolling: Rolling = Rolling(),
    monolithic_because: str | None = None,
) -> Choice:
    """``requested`` (auto | monolithic | rolling) -> the strategy and why.

    ``auto``: ``monolithic_because`` (a reason that forces the full horizon) if given; else
    monolithic when the horizon fits one block + look-ahead or ``size`` <= ``size_limit``;
    else rolling. ``size_text`` names the size ("1234 pairs"), ``limit_text`` the limit's
    origin ("10000/s x time limit")."""
    if requested not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {requested!r}")
    if requested != "auto":
        return Choice(requested, f"strategy {requested} requested by the model")
    if monolithic_because:
        return Choice("monolithic", monolithic_because)
    one_block_s = rolling.block_s + rolling.lookahead_s
    if horizon_s <= one_block_s:
        return Choice("monolithic", f"horizon {horizon_s / 3600:g} h fits one block")
    if size <= size_limit:
        return Choice("monolithic", f"{size_text} <= {size_limit:.0f} ({limit_text})")
    return Choice(
        "rolling",
        f"horizon {horizon_s / 3600:g} h > {one_block_s / 3600:g} h and {size_text} > "
        f"{size_limit:.0f} ({limit_text})",
    )


def keep_better(score: Sequence[float], baseline: Sequence[float]) -> bool:
    """True when ``baseline`` scores strictly better (lexicographic, lower is better)."""
    return tuple(baseline) < tuple(score)
