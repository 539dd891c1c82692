"""Onboard compute jobs (seed 002) as a problem on the geometry grid: steps, intervals, options.

Every way a step can run is an *option* (a start slot inside an eclipse, a sunlit window or a
pass, with its tier), on a flat index (:class:`Options`). The Pyomo model of these options is
:mod:`rsmodel.optimize.compute_model`, its solve :mod:`rsmodel.optimize.compute_solve`
(docs/compute.md), like the sync side's problem / model / solve modules.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from rsmodel.geometry.windows import Table
from rsmodel.model.compute_schema import TIERS, Job, Step, job_node
from rsmodel.model.scenario import OrbitalNode, Scenario
from rsmodel.optimize.energy import WH_PER_WS, NodeEnergy, node_energy
from rsmodel.optimize.strategy import SolverSettings, settings_from_model
from rsmodel.timeutil import ns_seconds, seconds_since


@dataclass(frozen=True)
class Interval:
    """An eclipse, a sunlit window or a pass of a node, as grid slots ``[a, b)``."""

    kind: str  # eclipse | sunlit | pass
    node: str
    a: int
    b: int
    id: str
    station: str | None = None


@dataclass
class StepRef:
    """A step of a job with what the model needs to know about it."""

    job: Job
    step: Step
    node: OrbitalNode
    index: int
    preds: list[int] = field(default_factory=list)
    deadline_s: float = math.inf

    @property
    def key(self) -> str:
        return f"{self.job.name}/{self.step.id}"

    @property
    def onboard(self) -> bool:
        return self.step.location == "onboard"

    @property
    def ladder(self) -> list[str]:
        """Window tiers from min_tier to preferred_tier that fit the node's memory, lowest first."""
        tiers = self.step.quality_tiers or {}
        return [t for t in self.step.tier_range() if tiers[t].memory_mb <= self.node.memory_mb]


@dataclass
class Options:
    """Flat option arrays (length O)."""

    step: np.ndarray
    start: np.ndarray  # slot index
    end: np.ndarray  # first slot boundary at/after the end
    start_s: np.ndarray
    end_s: np.ndarray
    interval: np.ndarray  # index into ComputeProblem.intervals, -1 none
    tier: np.ndarray  # index into TIERS, -1 none
    energy_wh: np.ndarray
    output_mb: np.ndarray


@dataclass
class Carry:
    """What earlier blocks of a rolling solve committed on one node (grid slot indices)."""

    window: tuple[int, int]  # (k0, k1): the block models grid points k0..k1
    soc_wh: np.ndarray  # (K+1,) physical SOC of the committed options (exact before k0)
    busy_s: np.ndarray  # (K,) committed compute seconds per slot: fixed draw
    finished: dict[int, int]  # step -> slot by which it is done (no more options)
    open_pass: dict[int, tuple[int, int]]  # pass step -> (committed segments, end slot of last)
    steps: frozenset[int] | None = None  # the steps this block models (None: all unfinished)


@dataclass
class ComputeProblem:
    """Grid, intervals, steps and options of all jobs of a scenario."""

    start: datetime
    t_s: np.ndarray  # (K+1,) grid times, s from start
    energy: dict[str, NodeEnergy]
    intervals: list[Interval]
    steps: list[StepRef]
    options: Options
    reasons: dict[int, str]  # step -> why it has no option at all
    warnings: list[str]
    downlink_bytes: dict[str, np.ndarray] = field(default_factory=dict)  # node -> (K+1,) cumulative
    # (only with ground steps: their inputs' downlink, compute_model.input_ready_slot)
    carry: Carry | None = None  # a rolling block: committed state (compute_rolling)
    settings: SolverSettings = field(default_factory=SolverSettings)  # the model's solver:

    @property
    def n_slots(self) -> int:
        return len(self.t_s) - 1

    @property
    def window(self) -> tuple[int, int]:
        """Grid points ``(k0, k1)`` the model spans: the whole grid, or a rolling block's."""
        return self.carry.window if self.carry else (0, self.n_slots)

    @property
    def finished(self) -> dict[int, int]:
        """Steps committed by earlier rolling blocks -> slot by which they are done."""
        return self.carry.finished if self.carry else {}

    @property
    def active_steps(self) -> list[StepRef]:
        """Steps on the nodes this problem models (all of them, or one node's in a node view),
        less those earlier rolling blocks finished and, in a block, those it does not model."""
        mine = self.carry.steps if self.carry and self.carry.steps is not None else None
        return [
            r
            for r in self.steps
            if r.node.name in self.energy
            and r.index not in self.finished
            and (mine is None or r.index in mine)
        ]

    def of_options(self, value: Callable[[StepRef], object], dtype: type = object) -> np.ndarray:
        """``value(step)`` for each option's step (length O), computed once per step."""
        per_step = np.array([value(r) for r in self.steps], dtype=dtype)
        if not len(per_step):
            return np.zeros(len(self.options.step), dtype=dtype)
        return per_step[self.options.step]

    def time_at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=float(seconds))


# --------------------------------------------------------------------------- intervals
def slot_times(grid_time: np.ndarray) -> np.ndarray:
    """Seconds of each grid time from the first one."""
    ns = np.asarray(grid_time, dtype="datetime64[ns]").view(np.int64)
    return ns_seconds(ns - ns[0])


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[a, b)`` of true values."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def node_intervals(node: str, point_sunlit: np.ndarray) -> list[Interval]:
    """Eclipses and sunlit windows: runs of slots dark (lit) at both ends."""
    dark = ~point_sunlit[:-1] & ~point_sunlit[1:]
    lit = point_sunlit[:-1] & point_sunlit[1:]
    out = [
        Interval("eclipse", node, a, b, f"{node}:ecl{i + 1}") for i, (a, b) in enumerate(runs(dark))
    ]
    out += [
        Interval("sunlit", node, a, b, f"{node}:sun{i + 1}") for i, (a, b) in enumerate(runs(lit))
    ]
    return out


def pass_intervals(windows: Table, start: datetime, t_s: np.ndarray) -> list[Interval]:
    """Access windows (the geometry's ``window_table``) as the grid slots lying fully inside
    them (``duration_s`` kept in the id table)."""
    if len(windows["id"]) == 0:
        return []
    w0 = seconds_since(windows["start"], start)
    w1 = seconds_since(windows["end"], start)
    a = np.searchsorted(t_s, w0 - 1e-6, side="left")
    b = np.searchsorted(t_s, w1 + 1e-6, side="right") - 1
    return [
        Interval("pass", str(n), int(i), int(j), str(wid), str(st))
        for n, st, wid, i, j in zip(
            windows["node"], windows["station"], windows["id"], a, b, strict=True
        )
    ]


# --------------------------------------------------------------------------- options
def _end_slots(t_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    return np.searchsorted(t_s, end_s - 1e-6, side="left")


def _starts_in(
    t_s: np.ndarray, a: np.ndarray, b: np.ndarray, duration_s: float, deadline_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Start slots in each range ``[a_i, b_i)`` whose run of ``duration_s`` ends by ``t_{b_i}``
    and the deadline, all ranges at once; with the position ``i`` of each start's range."""
    count = np.maximum(b - a, 0)
    which = np.repeat(np.arange(len(a)), count)
    starts = a[which] + np.arange(int(count.sum())) - (np.cumsum(count) - count)[which]
    ok = t_s[starts] + duration_s <= np.minimum(t_s[b[which]], deadline_s) + 1e-6
    return starts[ok], which[ok]


def _rows(p: ComputeProblem, ref: StepRef, starts: np.ndarray, duration_s: float,
          interval: int | np.ndarray, tier: int, output_mb: float) -> dict[str, np.ndarray]:  # fmt: skip
    """Option arrays for ``starts`` of one (step, tier), in ``interval`` (one, or one per
    start)."""
    n = len(starts)
    draw_w = p.energy[ref.node.name].compute_w if ref.onboard else 0.0
    return {
        "start": starts,
        "start_s": p.t_s[starts],
        "end_s": p.t_s[starts] + duration_s,
        "interval": np.zeros(n, dtype=int) + interval,
        "tier": np.full(n, tier),
        "energy_wh": np.full(n, draw_w * duration_s * WH_PER_WS),
        "output_mb": np.full(n, output_mb),
    }


def _in_intervals(p: ComputeProblem, ref: StepRef, ids: list[int], duration_s: float, tier: int,
                  output_mb: float) -> list[dict]:  # fmt: skip
    """Rows of the starts in intervals ``ids`` (in order) whose run of ``duration_s`` ends by
    the interval's end and the step's deadline, all intervals at once."""
    if not ids:
        return []
    a = np.array([p.intervals[i].a for i in ids], dtype=int)
    b = np.array([p.intervals[i].b for i in ids], dtype=int)
    starts, which = _starts_in(p.t_s, a, b, duration_s, ref.deadline_s)
    interval = np.asarray(ids, dtype=int)[which]
    return [_rows(p, ref, starts, duration_s, interval, tier, output_mb)]


def _step_options(p: ComputeProblem, ref: StepRef, pass_len_s: dict[str, float],
                  kinds: dict[tuple[str, str], list[int]]) -> list[dict]:  # fmt: skip
    """Option rows of one step (dicts of equal-length arrays); ``p.reasons`` says why none.
    ``kinds``: the intervals of each (node, kind), in order."""
    step = ref.step
    mine = {k: kinds.get((ref.node.name, k), []) for k in ("eclipse", "sunlit", "pass")}
    if step.type == "standard":
        whole = np.array([0]), np.array([p.n_slots])
        starts, _ = _starts_in(p.t_s, *whole, step.duration_s, ref.deadline_s)
        rows = [_rows(p, ref, starts, step.duration_s, -1, -1, step.output_size_mb)]
        why = f"compute_s {step.duration_s:g} s does not fit before the deadline"
    elif step.type == "eclipse":
        need_wh = p.energy[ref.node.name].compute_w * step.duration_s * WH_PER_WS
        if step.energy_budget_wh is not None and need_wh > step.energy_budget_wh + 1e-9:
            p.reasons[ref.index] = (
                f"needs {need_wh:.2f} Wh ({p.energy[ref.node.name].compute_w:g} W x "
                f"{step.duration_s:g} s) > energy_budget_wh {step.energy_budget_wh:g}"
            )
            return []
        rows = _in_intervals(p, ref, mine["eclipse"], step.duration_s, -1, step.output_size_mb)
        why = f"no eclipse before the deadline is {step.duration_s:g} s long"
    elif step.type == "window":
        rows = []
        for t in ref.ladder:
            q = step.quality_tiers[t]  # type: ignore[index]
            rows += _in_intervals(p, ref, mine["sunlit"], q.compute_s, TIERS.index(t), q.output_mb)
        why = "no sunlit window before the deadline is long enough for min_tier"
        if not ref.ladder:
            why = f"no tier from min_tier to preferred_tier fits memory_mb {ref.node.memory_mb:g}"
    else:
        long = [i for i in mine["pass"] if pass_len_s[p.intervals[i].id] >= step.min_pass_s]
        rows = _in_intervals(p, ref, long, step.duration_s, -1, step.output_size_mb)
        why = (
            f"no pass >= min_pass_duration_s {step.min_pass_s:g} s before the deadline "
            f"holds a {step.duration_s:g} s segment"
        )
    rows = [r for r in rows if len(r["start"])]
    if not rows:
        p.reasons[ref.index] = why
    return rows


def build_compute_problem(
    scenario: Scenario, geometry: object, *, sync_slots: dict[str, np.ndarray] | None = None
) -> ComputeProblem:
    """Steps, intervals and options of every job of ``scenario`` on the geometry grid.

    ``sync_slots[node]`` (bool per slot): slots the sync schedule already uses; job outputs
    are not sent in them."""
    grid = geometry.arrays  # type: ignore[attr-defined]
    t_s = slot_times(grid.time)
    energy, intervals = {}, []
    for node in scenario.nodes:
        point_sunlit = grid.sunlit_of(node.name).astype(bool)
        energy[node.name] = node_energy(node, point_sunlit[:-1], np.diff(t_s))
        intervals += node_intervals(node.name, point_sunlit)
    windows = geometry.window_table  # type: ignore[attr-defined]
    intervals += pass_intervals(windows, scenario.start, t_s)
    pass_len_s = dict(
        zip(map(str, windows["id"]), windows["duration_s"].astype(float).tolist(), strict=True)
    )
    steps = _step_refs(scenario, t_s)
    p = ComputeProblem(scenario.start, t_s, energy, intervals, steps, _empty_options(), {}, [])
    p.settings = settings_from_model(scenario.model.solver)
    if not all(ref.onboard for ref in steps):  # a ground step waits for its inputs' downlink
        n_slots = len(t_s) - 1
        p.downlink_bytes = cumulative_downlink_bytes(scenario, geometry, n_slots, sync_slots or {})
    kinds: dict[tuple[str, str], list[int]] = {}
    for i, iv in enumerate(intervals):
        kinds.setdefault((iv.node, iv.kind), []).append(i)
    parts = []
    for ref in steps:
        for row in _step_options(p, ref, pass_len_s, kinds):
            row["step"] = np.full(len(row["start"]), ref.index)
            parts.append(row)
    if parts:
        cat = {k: np.concatenate([r[k] for r in parts]) for k in parts[0]}
        cat["end"] = _end_slots(t_s, cat["end_s"])
        p.options = Options(**{k: cat[k] for k in Options.__dataclass_fields__})
    return p


def cumulative_downlink_bytes(
    scenario: Scenario, geometry: object, n_slots: int, sync_slots: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per node: bytes it could send down before each grid time (best station per slot, setup
    deducted; slots in ``sync_slots[node]`` excluded), from the sync scheduler's candidates
    (:mod:`rsmodel.optimize.problem`)."""
    from rsmodel.optimize.problem import problem_from_scenario  # the link candidates

    links = problem_from_scenario(scenario, geometry)
    usable = np.maximum(links.cand_bytes - links.cand_setup_bytes, 0.0)
    out = {}
    for i, name in enumerate(links.nodes):
        per_slot = np.zeros(n_slots)
        mine = (links.cand_node == i) & (links.cand_slot < n_slots)
        np.maximum.at(per_slot, links.cand_slot[mine], usable[mine])
        if name in sync_slots:
            per_slot[np.asarray(sync_slots[name][:n_slots], dtype=bool)] = 0.0
        out[name] = np.concatenate([[0.0], np.cumsum(per_slot)])
    return out


def max_output_mb(p: ComputeProblem, ref: StepRef) -> float:
    """The largest output the step can produce (window: best tier; concat: every segment), MB."""
    o = p.options
    opts = o.output_mb[o.step == ref.index]
    if not len(opts):
        return 0.0
    if ref.step.type == "pass" and ref.step.merge == "concat":
        passes = len(np.unique(o.interval[o.step == ref.index]))
        return float(opts.max()) * min(passes, ref.step.max_segments or passes)
    return float(opts.max())


def _empty_options() -> Options:
    z = np.zeros(0)
    return Options(
        z.astype(int), z.astype(int), z.astype(int), z, z, z.astype(int), z.astype(int), z, z
    )


def _step_refs(scenario: Scenario, t_s: np.ndarray) -> list[StepRef]:
    from rsmodel.model.vocabulary import FieldError

    refs: list[StepRef] = []
    for j, job in enumerate(scenario.model.jobs):
        node = job_node(scenario.nodes, job, ("jobs", j), FieldError)
        deadline_s = float(t_s[-1])
        if job.policy.deadline_orbits is not None:
            deadline_s = min(deadline_s, job.policy.deadline_orbits * node.orbit.period_s)
        base = len(refs)
        ids = {s.id: base + i for i, s in enumerate(job.steps)}
        for i, step in enumerate(job.steps):
            refs.append(
                StepRef(job, step, node, base + i, [ids[d] for d in step.depends_on], deadline_s)
            )
    return refs
