"""The solver vocabulary shared by every optimiser: statuses, options, results, stage reports.

A leaf module (no rsmodel imports): the gateway (:mod:`rsmodel.optimize.gateway`), the sync and
compute solves, the telescope MILP and the plan/report layers all speak these types. The status
values are documented in docs/plan-format.md ("solver").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class SolveStatus(StrEnum):
    """How a solve ended; the value is what plan.json ``solver.status`` says."""

    OPTIMAL = "optimal"  # proven optimal within the requested gap
    TIME_LIMIT = "time_limit"  # stopped at the time limit: best incumbent (or fallback) returned
    NO_SOLUTION = "no_solution"  # stopped without any feasible solution (nothing to return)
    INFEASIBLE = "infeasible"  # proven infeasible
    ERROR = "error"  # the solver failed (unbounded, numerical trouble, ...)
    HEURISTIC = "heuristic"  # greedy dispatch only (method greedy)
    GREEDY_BETTER = "greedy-better"  # the greedy plan scored better than the MILP's: greedy kept
    BLOCKS_OPTIMAL = "blocks-optimal"  # rolling: every block solved to its gap (not the horizon)
    EMPTY = "empty"  # nothing to decide

    @property
    def is_ok(self) -> bool:
        """A plan came back that can be used as is (not necessarily proven optimal)."""
        return self not in (SolveStatus.NO_SOLUTION, SolveStatus.INFEASIBLE, SolveStatus.ERROR)

    @property
    def is_proven(self) -> bool:
        """Optimal within the gap (or nothing to decide); rolling blocks count per block."""
        return self in (SolveStatus.OPTIMAL, SolveStatus.BLOCKS_OPTIMAL, SolveStatus.EMPTY)


def worst(statuses: list[SolveStatus], proven: SolveStatus = SolveStatus.OPTIMAL) -> SolveStatus:
    """The first status that is not ``optimal``/``empty``, else ``proven`` (``empty`` if none)."""
    real = [s for s in statuses if s != SolveStatus.EMPTY]
    if not real:
        return SolveStatus.EMPTY
    return next((s for s in real if s != SolveStatus.OPTIMAL), proven)


def kept_status(
    statuses: list[SolveStatus], proven: SolveStatus = SolveStatus.OPTIMAL
) -> SolveStatus:
    """The status of a plan assembled from class stages (or blocks) that each keep their warm
    (greedy) allocation when they find no MILP solution: :func:`worst`, with such a stage's
    ``no_solution`` read as ``time_limit`` (its plan is returned, so the plan is not
    ``no_solution``)."""
    cut = [SolveStatus.TIME_LIMIT if s == SolveStatus.NO_SOLUTION else s for s in statuses]
    return worst(cut, proven)


@dataclass(frozen=True)
class SolveOptions:
    """What a solve may use: ``time_limit_s`` wall seconds from ``t_start`` (build and hand-off
    included), relative and absolute MIP gaps, HiGHS threads, presolve on / off / HiGHS's
    default (``None``)."""

    time_limit_s: float
    mip_gap: float = 1e-4
    abs_gap: float | None = None
    threads: int = 1
    presolve: bool | None = None


@dataclass
class SolveResult:
    """Outcome of one gateway solve (objective and bound in the model's own sense)."""

    status: SolveStatus
    has_solution: bool
    objective: float | None = None
    bound: float | None = None
    mip_gap: float | None = None
    build_s: float = 0.0  # model build + hand-off to HiGHS, s
    solve_s: float = 0.0  # HiGHS wall time, s
    columns: int = 0
    rows: int = 0


@dataclass
class StageReport:
    """One stage (sync class), block (rolling) or node MILP of a solve, for ``solver.stages``.

    ``name``: the class name, the block start or ``node/block``; ``sizes``: counts that say how
    big the model was (pairs, binaries, options, ...); ``extra``: other per-stage facts
    (warm start, committed options, SOC at the block start, ...)."""

    name: str
    status: SolveStatus
    objective: float | None = None
    bound: float | None = None
    mip_gap: float | None = None
    build_s: float = 0.0
    solve_s: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Flat JSON-ready dict (plan.json ``solver.stages[]``)."""
        out = asdict(self)
        out["status"] = str(self.status)
        return {**{k: v for k, v in out.items() if k not in ("sizes", "extra")}, **self.sizes,
                **self.extra}  # fmt: skip
