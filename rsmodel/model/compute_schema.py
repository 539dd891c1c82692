"""Schema of onboard compute jobs: the seed 002 ``custom_job`` (see docs/compute.md).

A job is a DAG of steps on one node. Step kinds: ``standard`` (runs anywhere onboard or on the
ground), ``eclipse`` (only in eclipse, under an energy budget and an eclipse policy), ``window``
(in a sunlit window, at the highest quality tier that fits) and ``pass`` (segments aligned with
ground passes, merged by a strategy). :func:`check_job` does the cross-field checks that
pydantic cannot (cycles, unknown ids and tiers, node resources).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, model_validator

from rsmodel.model.orbits import Orbit
from rsmodel.model.vocabulary import FieldError, Priority, Strict, section_check

TierName = Literal["minimal", "standard", "enhanced", "maximum"]
TIERS: tuple[str, ...] = ("minimal", "standard", "enhanced", "maximum")
StepKind = Literal["standard", "eclipse", "window", "pass"]
EclipsePolicy = Literal["conservative", "balanced", "aggressive"]
POLICY_SHARE: dict[str, float] = {"conservative": 0.40, "balanced": 0.65, "aggressive": 0.85}
AGGRESSIVE_MIN_SOC_CAUTION = 0.2
DEFAULT_COMPUTE_S = 60.0

_ONLY_FOR: dict[str, tuple[str, ...]] = {
    "energy_budget_wh": ("eclipse",),
    "eclipse_policy": ("eclipse",),
    "min_battery_soc": ("eclipse",),
    "priority": ("eclipse",),
    "quality_tiers": ("window",),
    "min_tier": ("window",),
    "preferred_tier": ("window",),
    "merge_strategy": ("pass",),
    "max_segments": ("pass",),
    "min_pass_duration_s": ("pass",),
    "compute_s": ("standard", "eclipse", "pass"),
    "output_mb": ("standard", "eclipse", "pass"),
    "memory_mb": ("standard", "eclipse", "pass"),
}


class QualityTier(Strict):
    """Resources a window step needs at one quality tier."""

    compute_s: float = Field(gt=0, description="Compute time at this tier, seconds.")
    memory_mb: float = Field(0.0, ge=0, description="Memory needed at this tier, MB.")
    output_mb: float = Field(0.0, ge=0, description="Output size at this tier, MB.")


class Step(Strict):
    """One step of a job. Fields apply to the kinds named in their description."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str | None = None
    type: StepKind = Field("standard", description="standard | eclipse | window | pass.")
    location: Literal["onboard", "ground"] = Field(
        "onboard", description="Where it runs; only standard steps may run on the ground."
    )
    depends_on: list[str] = Field(
        default_factory=list, description="Ids of steps that must finish first."
    )
    compute_s: float | None = Field(
        None,
        gt=0,
        description=f"standard/eclipse/pass: compute time, s (default {DEFAULT_COMPUTE_S:g}).",
    )
    output_mb: float | None = Field(
        None, ge=0, description="standard/eclipse/pass: output size, MB (default 0)."
    )
    memory_mb: float | None = Field(
        None, ge=0, description="standard/eclipse/pass: memory needed, MB (default 0)."
    )
    energy_budget_wh: float | None = Field(
        None, gt=0, description="eclipse: maximum energy the step may use, Wh."
    )
    eclipse_policy: EclipsePolicy | None = Field(
        None,
        description="eclipse: conservative | balanced (default) | aggressive = 40 | 65 | 85 % share.",
    )
    min_battery_soc: float | None = Field(
        None,
        ge=0,
        le=1,
        description="eclipse: state of charge kept through the eclipse (0-1, default 0.2).",
    )
    priority: float | None = Field(
        None, description="eclipse: larger runs first among competing eclipse steps (default 0)."
    )
    quality_tiers: dict[TierName, QualityTier] | None = Field(
        None, description="window: tier -> resources."
    )
    min_tier: TierName | None = Field(
        None, description="window: lowest acceptable tier (default minimal / lowest given)."
    )
    preferred_tier: TierName | None = Field(
        None, description="window: tier targeted if time allows (default highest given)."
    )
    merge_strategy: Literal["concat", "reduce", "latest"] | None = Field(
        None, description="pass: concat (default) | reduce | latest."
    )
    max_segments: int | None = Field(
        None, ge=1, description="pass: maximum segments (default unlimited)."
    )
    min_pass_duration_s: float | None = Field(
        None, ge=0, description="pass: ignore passes shorter than this, s (default 0)."
    )

    @model_validator(mode="after")
    def _kind_fields(self) -> Step:
        for field, kinds in _ONLY_FOR.items():
            if getattr(self, field) is not None and self.type not in kinds:
                raise ValueError(
                    f"`{field}` applies to {' / '.join(kinds)} steps, not to a {self.type} step"
                )
        if self.type == "window" and not self.quality_tiers:
            raise ValueError(
                "a window step needs `quality_tiers` (at least one of " + ", ".join(TIERS) + ")"
            )
        if self.location == "ground" and self.type != "standard":
            raise ValueError(
                f"a {self.type} step runs onboard; only standard steps may have location ground"
            )
        return self

    # Resolved values (defaults applied) -------------------------------------------------
    @property
    def duration_s(self) -> float:
        """Compute time of a standard/eclipse step or of one pass segment, seconds."""
        return self.compute_s if self.compute_s is not None else DEFAULT_COMPUTE_S

    @property
    def output_size_mb(self) -> float:
        return self.output_mb or 0.0

    @property
    def memory_need_mb(self) -> float:
        return self.memory_mb or 0.0

    @property
    def policy_share(self) -> float:
        return POLICY_SHARE[self.eclipse_policy or "balanced"]

    @property
    def min_soc(self) -> float:
        return 0.2 if self.min_battery_soc is None else self.min_battery_soc

    @property
    def rank_priority(self) -> float:
        return self.priority or 0.0

    @property
    def merge(self) -> str:
        return self.merge_strategy or "concat"

    @property
    def min_pass_s(self) -> float:
        return self.min_pass_duration_s or 0.0

    def tier_range(self) -> list[str]:
        """Tiers from min_tier up to preferred_tier that the step defines, lowest first."""
        given = [t for t in TIERS if t in (self.quality_tiers or {})]
        low = self.min_tier or given[0]
        high = self.preferred_tier or given[-1]
        return [t for t in given if TIERS.index(low) <= TIERS.index(t) <= TIERS.index(high)]


class Policy(Strict):
    """How the job's steps are traded off (see docs/compute.md for the weights)."""

    objective: Literal["balanced", "max_reliability", "min_latency", "min_energy"] = Field(
        "balanced",
        description="balanced | max_reliability (keep battery margin) | min_latency (finish early) | "
        "min_energy (least compute energy).",
    )
    deadline_orbits: float | None = Field(
        None,
        gt=0,
        description="All steps finish within this many orbital periods of the start (default: horizon end).",
    )


class Job(Strict):
    """A seed 002 ``custom_job`` bound to a node (``node`` name or NORAD ``satellite_id``)."""

    name: str = Field(min_length=1)
    node: str | None = Field(None, description="Node name (model files).")
    satellite_id: str | int | None = Field(
        None, description="NORAD id of a node's orbit (alternative to `node`)."
    )
    steps: list[Step] = Field(min_length=1)
    policy: Policy = Field(default_factory=Policy)
    priority: Priority = Field(
        "normal",
        description="Transfer class of the job's outputs that go to ground; they compete with "
        "syncs of the same classes in the sync scheduler (docs/compute.md).",
    )


# --------------------------------------------------------------------------- checks
Raise = Callable[[tuple[str | int, ...], str], Exception]


def find_cycle(deps: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as ``[a, b, ..., a]`` (each depends on the next), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in deps.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in deps:
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def check_job(
    job: Job, path: tuple[str | int, ...], error: Raise, *, capacity_wh: float, memory_mb: float
) -> None:
    """Raise ``error(field_path, message)`` for the first cross-field problem of ``job``."""
    ids = [s.id for s in job.steps]
    for i, step in enumerate(job.steps):
        if step.id in ids[:i]:
            raise error(
                (*path, "steps", i, "id"),
                f"duplicate step id {step.id!r}; ids must be unique in a job",
            )
    for i, step in enumerate(job.steps):
        for j, dep in enumerate(step.depends_on):
            if dep not in ids:
                hint = difflib.get_close_matches(dep, ids, n=1)
                raise error(
                    (*path, "steps", i, "depends_on", j),
                    f"unknown step id {dep!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else "")
                    + f". Expected one of: {', '.join(ids)}",
                )
        _check_step_resources(
            step, (*path, "steps", i), error, capacity_wh=capacity_wh, memory_mb=memory_mb
        )
    cycle = find_cycle({s.id: list(s.depends_on) for s in job.steps})
    if cycle is not None:
        first = ids.index(cycle[0])
        raise error(
            (*path, "steps", first, "depends_on"), "depends_on cycle: " + " -> ".join(cycle)
        )


def _check_step_resources(
    step: Step, path: tuple[str | int, ...], error: Raise, *, capacity_wh: float, memory_mb: float
) -> None:
    if step.energy_budget_wh is not None and step.energy_budget_wh > capacity_wh:
        raise error(
            (*path, "energy_budget_wh"),
            f"energy_budget_wh {step.energy_budget_wh:g} exceeds the node's battery capacity "
            f"{capacity_wh:g} Wh; expected 0 < energy_budget_wh <= capacity_wh",
        )
    if step.quality_tiers:
        for field in ("min_tier", "preferred_tier"):
            tier = getattr(step, field)
            if tier is not None and tier not in step.quality_tiers:
                raise error(
                    (*path, field),
                    f"unknown tier {tier!r}: quality_tiers defines only {', '.join(step.quality_tiers)}",
                )
        if (
            step.min_tier
            and step.preferred_tier
            and TIERS.index(step.min_tier) > TIERS.index(step.preferred_tier)
        ):
            raise error(
                (*path, "min_tier"),
                f"min_tier {step.min_tier!r} is above preferred_tier {step.preferred_tier!r}; "
                f"expected min_tier <= preferred_tier in the order {' < '.join(TIERS)}",
            )
        if not step.tier_range():
            raise error(
                (*path, "quality_tiers"), "no tier between min_tier and preferred_tier is defined"
            )
    if step.memory_need_mb > memory_mb:
        raise error(
            (*path, "memory_mb"),
            f"memory_mb {step.memory_need_mb:g} exceeds the node's {memory_mb:g} MB",
        )


def job_warnings(job: Job) -> list[str]:
    """Cautions that do not stop planning (the seed's aggressive-policy warning)."""
    out = []
    for step in job.steps:
        if step.eclipse_policy == "aggressive" and step.min_soc < AGGRESSIVE_MIN_SOC_CAUTION:
            out.append(
                f"job {job.name!r} step {step.id!r}: aggressive eclipse policy with min_battery_soc "
                f"{step.min_soc:g} < {AGGRESSIVE_MIN_SOC_CAUTION:g} can leave too little power for the next "
                "sunlit boot sequence; use conservative margins for early-stage missions"
            )
    return out


def node_for_satellite_id(nodes: list[Any], satellite_id: str | int) -> Any | None:
    """The first node whose orbit has NORAD number ``satellite_id``."""
    try:
        norad = int(str(satellite_id).strip())
    except ValueError:
        return None
    return next(
        (n for n in nodes if isinstance(n.orbit, Orbit) and n.orbit.norad_id == norad), None
    )


@section_check
def check_jobs(scenario: Any) -> None:
    """Section check of the model's ``jobs:``."""
    names: set[str] = set()
    for i, job in enumerate(scenario.model.jobs):
        if job.name in names:
            raise FieldError(
                ("jobs", i, "name"), f"duplicate job name {job.name!r}; names must be unique"
            )
        names.add(job.name)
        node = job_node(scenario.nodes, job, ("jobs", i), FieldError)
        check_job(
            job,
            ("jobs", i),
            FieldError,
            capacity_wh=node.battery.capacity_wh,
            memory_mb=node.memory_mb,
        )


def job_node(nodes: list[Any], job: Job, path: tuple[str | int, ...], error: Raise) -> Any:
    """The node a job runs on, from its ``node`` name or ``satellite_id`` (NORAD)."""
    if (job.node is None) == (job.satellite_id is None):
        raise error(path, "give exactly one of `node` (a node name) or `satellite_id` (a NORAD id)")
    if job.node is not None:
        found = next((n for n in nodes if n.name == job.node), None)
        if found is None:
            hint = difflib.get_close_matches(job.node, [n.name for n in nodes], n=1)
            raise error(
                (*path, "node"),
                f"unknown node {job.node!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + " Expected one of the model's nodes",
            )
        return found
    found = node_for_satellite_id(nodes, job.satellite_id)  # type: ignore[arg-type]
    if found is None:
        raise error(
            (*path, "satellite_id"),
            f"unknown satellite_id {job.satellite_id!r}: no node of the model has that NORAD number",
        )
    return found
