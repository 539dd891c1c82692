"""Onboard compute jobs (seed 002) as a time-indexed MILP on the geometry grid.

Every way a step can run is an *option* (a start slot inside an eclipse, a sunlit window or a
pass, with its tier): one binary each, on a sparse flat index. Rows: one placement per step
(pass steps: one segment per pass, at most ``max_segments``), one step at a time per node,
precedence through cumulative "done by slot k" variables, the battery balance of
:mod:`rsmodel.optimize.energy`, eclipse policy shares and ``min_battery_soc``, the window tier
rule. docs/compute.md describes the model; :mod:`rsmodel.compute.report` turns a solution into
placement decisions and events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from rsmodel.model.compute_schema import TIERS, Job, Step, job_node
from rsmodel.model.scenario import OrbitalNode, Scenario
from rsmodel.optimize.energy import WH_PER_WS, NodeEnergy, add_battery, node_energy, simulate_soc_wh

PLACE_WEIGHT = 100.0
TIER_WEIGHT = 0.02  # value of the preferred tier over min_tier (never worth deferring a window)
ABS_GAP_PER_REL = 1.0  # solver.mip_gap 1e-3 -> absolute gap 1e-3 of the objective
POLICY_WEIGHTS: dict[str, dict[str, float]] = {
    # late: finish early; energy: compute Wh (not window tiers); segments: more pass segments;
    # reserve: the lowest state of charge of the node's trajectory.
    "balanced": {"late": 1.0, "energy": 0.5, "segments": 0.5, "reserve": 0.5},
    "max_reliability": {"late": 0.2, "energy": 0.5, "segments": 2.0, "reserve": 3.0},
    "min_latency": {"late": 5.0, "energy": 0.1, "segments": 0.1, "reserve": 0.1},
    "min_energy": {"late": 0.2, "energy": 5.0, "segments": 0.2, "reserve": 0.5},
}


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
    carry: Carry | None = None  # a rolling block: committed state (compute_rolling)

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

    def time_at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=float(seconds))


# --------------------------------------------------------------------------- intervals
def slot_times(grid_time: np.ndarray) -> np.ndarray:
    """Seconds of each grid time from the first one."""
    t = pd.to_datetime(grid_time)
    return np.asarray((t - t[0]).total_seconds(), dtype=float)


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


def pass_intervals(windows: pd.DataFrame, start: datetime, t_s: np.ndarray) -> list[Interval]:
    """Access windows as the grid slots lying fully inside them (``duration_s`` kept in the id table)."""
    if len(windows) == 0:
        return []
    w0 = (
        (pd.to_datetime(windows["start"], utc=True) - pd.Timestamp(start))
        .dt.total_seconds()
        .to_numpy()
    )
    w1 = (
        (pd.to_datetime(windows["end"], utc=True) - pd.Timestamp(start))
        .dt.total_seconds()
        .to_numpy()
    )
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


def _starts_in(t_s: np.ndarray, a: int, b: int, duration_s: float, deadline_s: float) -> np.ndarray:
    """Start slots in ``[a, b)`` whose run of ``duration_s`` ends by ``t_b`` and the deadline."""
    starts = np.arange(a, b)
    limit = min(t_s[b], deadline_s)
    return starts[t_s[starts] + duration_s <= limit + 1e-6]


def _rows(p: ComputeProblem, ref: StepRef, starts: np.ndarray, duration_s: float, interval: int,
          tier: int, output_mb: float) -> dict[str, np.ndarray]:  # fmt: skip
    """Option arrays for ``starts`` of one (step, interval, tier)."""
    n = len(starts)
    draw_w = p.energy[ref.node.name].compute_w if ref.onboard else 0.0
    return {
        "start": starts,
        "start_s": p.t_s[starts],
        "end_s": p.t_s[starts] + duration_s,
        "interval": np.full(n, interval),
        "tier": np.full(n, tier),
        "energy_wh": np.full(n, draw_w * duration_s * WH_PER_WS),
        "output_mb": np.full(n, output_mb),
    }


def _in_intervals(p: ComputeProblem, ref: StepRef, kind: str, duration_s: float, tier: int,
                  output_mb: float, keep: Callable[[Interval], bool] = lambda iv: True) -> list[dict]:  # fmt: skip
    """Rows for every ``kind`` interval of the step's node (filtered by ``keep``)."""
    return [
        _rows(
            p,
            ref,
            _starts_in(p.t_s, iv.a, iv.b, duration_s, ref.deadline_s),
            duration_s,
            i,
            tier,
            output_mb,
        )
        for i, iv in enumerate(p.intervals)
        if iv.kind == kind and iv.node == ref.node.name and keep(iv)
    ]


def _step_options(p: ComputeProblem, ref: StepRef, pass_len_s: dict[str, float]) -> list[dict]:
    """Option rows of one step (dicts of equal-length arrays); ``p.reasons`` says why none."""
    step = ref.step
    if step.type == "standard":
        starts = _starts_in(p.t_s, 0, p.n_slots, step.duration_s, ref.deadline_s)
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
        rows = _in_intervals(p, ref, "eclipse", step.duration_s, -1, step.output_size_mb)
        why = f"no eclipse before the deadline is {step.duration_s:g} s long"
    elif step.type == "window":
        rows = []
        for t in ref.ladder:
            q = step.quality_tiers[t]  # type: ignore[index]
            rows += _in_intervals(p, ref, "sunlit", q.compute_s, TIERS.index(t), q.output_mb)
        why = "no sunlit window before the deadline is long enough for min_tier"
        if not ref.ladder:
            why = f"no tier from min_tier to preferred_tier fits memory_mb {ref.node.memory_mb:g}"
    else:
        rows = _in_intervals(p, ref, "pass", step.duration_s, -1, step.output_size_mb,
                             lambda iv: pass_len_s[iv.id] >= step.min_pass_s)  # fmt: skip
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
    grid = geometry.grid  # type: ignore[attr-defined]
    t_s = slot_times(grid["time"].values)
    energy, intervals = {}, []
    for node in scenario.nodes:
        point_sunlit = grid["sunlit"].sel(node=node.name).values.astype(bool)
        energy[node.name] = node_energy(node, point_sunlit[:-1], np.diff(t_s))
        intervals += node_intervals(node.name, point_sunlit)
    windows = geometry.windows  # type: ignore[attr-defined]
    intervals += pass_intervals(windows, scenario.start, t_s)
    pass_len_s = (
        dict(zip(windows["id"].astype(str), windows["duration_s"].astype(float), strict=True))
        if len(windows)
        else {}
    )
    steps = _step_refs(scenario, t_s)
    p = ComputeProblem(scenario.start, t_s, energy, intervals, steps, _empty_options(), {}, [])
    p.downlink_bytes = cumulative_downlink_bytes(scenario, geometry, len(t_s) - 1, sync_slots or {})
    parts = []
    for ref in steps:
        for row in _step_options(p, ref, pass_len_s):
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
    from rsmodel.optimize.problem import problem_from_scenario

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
    from rsmodel.model.loader import FieldError

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


# --------------------------------------------------------------------------- Pyomo
def build_model(p: ComputeProblem) -> pyo.ConcreteModel:
    """A model of the jobs alone: ``m.compute`` (see :func:`add_compute`), maximised."""
    m = pyo.ConcreteModel("compute")
    m.compute = pyo.Block()
    m.objective = pyo.Objective(expr=add_compute(m.compute, p), sense=pyo.maximize)
    return m


def add_compute(m: pyo.Block, p: ComputeProblem) -> pyo.Expression:
    """Add the jobs' variables and rows to block ``m``; returns the policy value to maximise."""
    o = p.options
    m.O = pyo.RangeSet(0, len(o.step) - 1) if len(o.step) else pyo.Set(initialize=[])
    m.x = pyo.Var(m.O, domain=pyo.Binary)
    by_step: dict[int, np.ndarray] = {
        r.index: np.flatnonzero(o.step == r.index) for r in p.active_steps
    }
    pass_steps = [r.index for r in p.active_steps if r.step.type == "pass"]
    m.P = pyo.Set(initialize=pass_steps)
    m.placed = pyo.Var(m.P, bounds=(0, 1))
    m.PO = pyo.Set(initialize=[int(c) for s in pass_steps for c in by_step[s]])
    m.f = pyo.Var(m.PO, domain=pyo.Binary)  # the pass step's last segment
    m.z = pyo.Var(sorted(_open_pass(p)), bounds=(0, 1))  # a committed segment stays the last
    m.cons = pyo.ConstraintList()
    _placement_rows(m, p, by_step)
    done = _done_by(m, p, by_step)
    _precedence_rows(m, p, by_step, done)
    draws = _occupancy_rows(m, p)
    m.battery = pyo.Block(list(p.energy))
    for name, energy in p.energy.items():
        carry = p.carry
        add_battery(
            m.battery[name],
            energy,
            draws.get(name, {}),
            window=p.window,
            initial_wh=float(carry.soc_wh[p.window[0]]) if carry else None,
            fixed_compute_s=carry.busy_s if carry else None,
        )
    _eclipse_rows(m, p, by_step, draws)
    m.reserve = pyo.Var(list(p.energy), bounds=(0, None))
    for name, k in _low_points(p):
        m.cons.add(m.reserve[name] <= m.battery[name].soc[k])
    return _objective(m, p, by_step)


def _open_pass(p: ComputeProblem) -> dict[int, tuple[int, int]]:
    """Pass steps with segments committed by earlier rolling blocks: (segments, end slot of last)."""
    return p.carry.open_pass if p.carry else {}


def _low_points(p: ComputeProblem) -> list[tuple[str, int]]:
    """(node, grid index) where the SOC has its lows: eclipse exits and the model's end."""
    k0, k1 = p.window
    ends = [
        (iv.node, iv.b)
        for iv in p.intervals
        if iv.kind == "eclipse" and iv.node in p.energy and k0 < iv.b <= k1
    ]
    return sorted(set(ends) | {(name, k1) for name in p.energy})


def _placement_rows(
    m: pyo.ConcreteModel, p: ComputeProblem, by_step: dict[int, np.ndarray]
) -> None:
    o = p.options
    for ref in p.active_steps:
        opts = by_step[ref.index]
        if ref.step.type != "pass":
            if len(opts):
                m.cons.add(sum(m.x[int(c)] for c in opts) <= 1)
            continue
        s = ref.index
        for iv in np.unique(o.interval[opts]):
            same = opts[o.interval[opts] == iv]
            if len(same) > 1:
                m.cons.add(sum(m.x[int(c)] for c in same) <= 1)
        committed = _open_pass(p).get(s)
        if ref.step.max_segments is not None and len(opts):
            left = ref.step.max_segments - (committed[0] if committed else 0)
            m.cons.add(sum(m.x[int(c)] for c in opts) <= left)
        if committed:  # placed already; the last segment is a new one or the committed one
            m.placed[s].fix(1)
            m.cons.add(m.placed[s] == sum(m.f[int(c)] for c in opts) + m.z[s])
        else:
            m.cons.add(m.placed[s] == sum(m.f[int(c)] for c in opts))
        for c in opts:
            m.cons.add(m.f[int(c)] <= m.x[int(c)])
            m.cons.add(m.x[int(c)] <= m.placed[s])


class _Done:
    """``done[k]`` of one step: 1 once it has finished by grid point k. Variables on the model's
    points; constants for a step finished by earlier rolling blocks (``end``) and before the
    model's first point (0, or ``z`` for a pass step whose committed segment may be its last)."""

    def __init__(self, var: pyo.Var | None, window: tuple[int, int], end: int, z=None) -> None:
        self.var, self.window, self.end, self.z = var, window, end, z

    def __getitem__(self, k: int) -> float | pyo.Expression:
        if self.var is None:
            return 1.0 if k >= self.end else 0.0
        k0, k1 = self.window
        if k < k0:
            return self.z if self.z is not None and k >= self.end else 0.0
        return self.var[min(k, k1)]


def _done_by(
    m: pyo.ConcreteModel, p: ComputeProblem, by_step: dict[int, np.ndarray]
) -> dict[int, _Done]:
    """``done[s][k]`` = 1 when step s (a predecessor or a pass step) has finished by slot k."""
    o = p.options
    k0, k1 = p.window
    needed = {d for r in p.active_steps for d in r.preds} | {
        r.index for r in p.active_steps if r.step.type == "pass"
    }
    done: dict[int, _Done] = {
        d: _Done(None, p.window, p.finished[d]) for d in needed & set(p.finished)
    }
    modelled = sorted(needed - set(p.finished))
    m.done = pyo.Block(modelled)
    for s in modelled:
        b = m.done[s]
        b.d = pyo.Var(pyo.RangeSet(k0, k1), bounds=(0, 1))
        var = m.f if p.steps[s].step.type == "pass" else m.x
        opts = by_step[s]
        ends = o.end[opts]
        committed_end = _open_pass(p)[s][1] if s in _open_pass(p) else -1
        z, e = (m.z[s], max(committed_end, k0)) if committed_end >= 0 else (0.0, -1)
        if e == k0:
            b.add_component(f"c{k0}", pyo.Constraint(expr=b.d[k0] == z))
        else:
            b.d[k0].fix(0)
        for k in range(k0 + 1, k1 + 1):
            ending = [var[int(c)] for c in opts[ends == k]] + ([z] if k == e else [])
            b.add_component(f"c{k}", pyo.Constraint(expr=b.d[k] == b.d[k - 1] + sum(ending)))
        done[s] = _Done(b.d, p.window, committed_end, m.z[s] if committed_end >= 0 else None)
    return done


def _precedence_rows(
    m: pyo.ConcreteModel, p: ComputeProblem, by_step: dict[int, np.ndarray], done: dict
) -> None:
    o = p.options
    for ref in p.active_steps:
        opts = by_step[ref.index]
        for c in opts:
            for d in ref.preds:
                ready = done[d][_input_ready_slot(p, ref, d, int(o.start[c]))]
                if isinstance(ready, float):  # d finished in an earlier rolling block
                    if ready < 0.5:
                        m.x[int(c)].fix(0)
                    continue
                m.cons.add(m.x[int(c)] <= ready)
        if ref.step.type == "pass":
            for c in opts:  # no segment after the last one
                m.cons.add(m.x[int(c)] + done[ref.index][int(o.start[c])] <= 1)
        if ref.step.type == "window":
            _tier_rule_rows(m, p, ref, opts, done)


def _input_ready_slot(p: ComputeProblem, ref: StepRef, d: int, start: int) -> int:
    """Slot by which predecessor ``d`` must be done for ``ref`` to start at ``start``: a ground
    step waits until the node's passes since then could downlink d's largest output."""
    pred = p.steps[d]
    if ref.onboard or not pred.onboard:
        return start
    cum = p.downlink_bytes[pred.node.name]
    need = max_output_mb(p, pred) * 1e6
    if need > cum[start]:
        return 0  # never done by slot 0: this start is impossible
    return min(int(np.searchsorted(cum, cum[start] - need + 1e-6, side="right")) - 1, start)


def _tier_rule_rows(
    m: pyo.ConcreteModel, p: ComputeProblem, ref: StepRef, opts: np.ndarray, done: dict
) -> None:
    """A tier is used only if the next higher tier of the ladder would not fit once ready."""
    o, tiers = p.options, ref.step.quality_tiers or {}
    ladder = [TIERS.index(t) for t in ref.ladder]
    for c in opts:
        i = ladder.index(int(o.tier[c]))
        if i + 1 == len(ladder):
            continue
        iv = p.intervals[int(o.interval[c])]
        higher_s = tiers[TIERS[ladder[i + 1]]].compute_s  # type: ignore[index]
        h = int(np.searchsorted(p.t_s, p.t_s[iv.b] - higher_s + 1e-6, side="right") - 1)
        if h < iv.a:
            continue  # the higher tier never fits this window
        if not ref.preds:
            m.cons.add(m.x[int(c)] == 0)  # ready at the start: the higher tier fits
            continue
        k = min(h, p.n_slots)  # ready by slot k: every predecessor done by k
        ready = sum(done[d][k] for d in ref.preds) - (len(ref.preds) - 1)
        m.cons.add(m.x[int(c)] + ready <= 1)


def _occupancy_rows(
    m: pyo.ConcreteModel, p: ComputeProblem
) -> dict[str, dict[int, pyo.Expression]]:
    """One step at a time per node; returns compute seconds per (node, slot) expressions."""
    o = p.options
    onboard = (
        np.array([p.steps[int(s)].onboard for s in o.step], dtype=bool)
        if len(o.step)
        else np.zeros(0, bool)
    )
    idx = np.flatnonzero(onboard)
    count = o.end[idx] - o.start[idx]
    opt = np.repeat(idx, count)
    slot = o.start[opt] + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    secs = np.minimum(p.t_s[slot + 1], o.end_s[opt]) - p.t_s[slot]
    node = np.array([p.steps[int(s)].node.name for s in o.step[opt]], dtype=object)
    draws: dict[str, dict[int, pyo.Expression]] = {}
    frame = pd.DataFrame({"opt": opt, "slot": slot, "secs": secs, "node": node})
    for (name, k), grp in frame.groupby(["node", "slot"], sort=False):
        terms = list(zip(grp["opt"].tolist(), grp["secs"].tolist(), strict=True))
        if len(terms) > 1:
            m.cons.add(sum(m.x[c] for c, _ in terms) <= 1)
        draws.setdefault(str(name), {})[int(k)] = sum(s * m.x[c] for c, s in terms)
    return draws


def _eclipse_rows(
    m: pyo.ConcreteModel, p: ComputeProblem, by_step: dict[int, np.ndarray], draws: dict
) -> None:
    """min_battery_soc at the eclipse exit and the policy share of the eclipse battery capacity."""
    o = p.options
    for ref in p.active_steps:
        if ref.step.type != "eclipse":
            continue
        opts = by_step[ref.index]
        energy = p.energy[ref.node.name]
        soc = _soc_at(m, p, ref.node.name)
        fixed_s = p.carry.busy_s if p.carry else np.zeros(p.n_slots)
        for iv_index in np.unique(o.interval[opts]):
            iv = p.intervals[int(iv_index)]
            y = sum(m.x[int(c)] for c in opts[o.interval[opts] == iv_index])
            keep_wh = ref.step.min_soc * energy.capacity_wh
            idle_wh = float(energy.idle_wh[iv.a : iv.b].sum())
            compute_wh = energy.compute_w * WH_PER_WS * float(fixed_s[iv.a : iv.b].sum()) + sum(
                energy.compute_w * WH_PER_WS * draws[ref.node.name].get(k, 0.0)
                for k in range(iv.a, iv.b)
            )
            big = energy.capacity_wh * 2 + energy.compute_w * WH_PER_WS * (
                p.t_s[iv.b] - p.t_s[iv.a]
            )
            m.cons.add(soc(iv.b) >= keep_wh - energy.capacity_wh * (1 - y))
            m.cons.add(
                compute_wh
                <= ref.step.policy_share * (soc(iv.a) - keep_wh - idle_wh) + big * (1 - y)
            )


def _soc_at(m: pyo.ConcreteModel, p: ComputeProblem, node: str) -> Callable[[int], object]:
    """SOC at grid point k: the model's variable, or the committed (physical) SOC before it."""
    soc = m.battery[node].soc
    k0 = p.window[0]
    return lambda k: soc[k] if k >= k0 else float(p.carry.soc_wh[k])  # type: ignore[union-attr]


def _objective(
    m: pyo.ConcreteModel, p: ComputeProblem, by_step: dict[int, np.ndarray]
) -> pyo.Expression:
    o = p.options
    terms = []
    reserve_w: dict[str, float] = {}
    for ref in p.active_steps:
        w = POLICY_WEIGHTS[ref.job.policy.objective]
        name = ref.node.name
        reserve_w[name] = max(reserve_w.get(name, 0.0), w["reserve"])
        prio = _priority_boost(p, ref)
        opts = by_step[ref.index]
        cap = p.energy[name].capacity_wh
        last = m.f if ref.step.type == "pass" else m.x
        if ref.step.type == "pass":
            terms.append(PLACE_WEIGHT * m.placed[ref.index])
            terms.append(
                w["segments"]
                * sum(m.x[int(c)] for c in opts)
                / max(len(np.unique(o.interval[opts])), 1)
            )
        else:
            terms.append(PLACE_WEIGHT * prio * sum(m.x[int(c)] for c in opts))
        for c in opts:
            c = int(c)
            terms.append(-w["late"] * prio * float(o.end[c]) / p.n_slots * last[c])
            if ref.step.type != "window":
                terms.append(-w["energy"] * float(o.energy_wh[c]) / cap * m.x[c])
            else:
                terms.append(TIER_WEIGHT * (float(o.tier[c]) + 1) / len(TIERS) * m.x[c])
    for name, weight in reserve_w.items():
        terms.append(weight * m.reserve[name] / p.energy[name].capacity_wh)
    return sum(terms)


def _priority_boost(p: ComputeProblem, ref: StepRef) -> float:
    """1 .. 1.5 for eclipse steps by priority within their node (larger priority first); 1 otherwise."""
    if ref.step.type != "eclipse":
        return 1.0
    prios = [
        r.step.rank_priority
        for r in p.active_steps
        if r.step.type == "eclipse" and r.node.name == ref.node.name
    ]
    lo, hi = min(prios), max(prios)
    return 1.0 + (0.5 * (ref.step.rank_priority - lo) / (hi - lo) if hi > lo else 0.0)


# --------------------------------------------------------------------------- solve
@dataclass
class ComputeSolution:
    """Chosen options (and last pass segments), SOC trajectories and solver figures."""

    problem: ComputeProblem
    chosen: np.ndarray  # option indices
    last: set[int]  # option indices that are the final segment of a pass step
    soc_wh: dict[str, np.ndarray]
    status: str
    objective: float | None
    build_s: float
    solve_s: float
    strategy: str = "monolithic"  # or "rolling" (rsmodel.optimize.compute_rolling)
    notes: list[str] = field(default_factory=list)
    stages: list[dict] = field(default_factory=list)  # rolling: one entry per (node, block)


def node_view(p: ComputeProblem, node: str) -> tuple[ComputeProblem, np.ndarray]:
    """The sub-problem of one node (nodes share nothing in this model) and its option ids."""
    ids = np.flatnonzero(
        np.array([p.steps[int(s)].node.name == node for s in p.options.step], dtype=bool)
    )
    opts = Options(**{k: getattr(p.options, k)[ids] for k in Options.__dataclass_fields__})
    view = ComputeProblem(
        p.start,
        p.t_s,
        {node: p.energy[node]},
        p.intervals,
        p.steps,
        opts,
        p.reasons,
        p.warnings,
        p.downlink_bytes,
    )
    return view, ids


def solve_compute(
    p: ComputeProblem, *, time_limit_s: float = 60.0, mip_gap: float = 1e-3, threads: int = 1
) -> ComputeSolution:
    """Solve each node's MILP with HiGHS (``time_limit_s`` per node); SOC re-integrated physically."""
    chosen, last, statuses, objective, build_s, solve_s = [], set(), [], 0.0, 0.0, 0.0
    for node in p.energy:
        view, ids = node_view(p, node)
        if not view.active_steps:
            continue
        local = _solve_view(view, time_limit_s=time_limit_s, mip_gap=mip_gap, threads=threads)
        picked, ends, status, value, b_s, s_s = local
        chosen.append(ids[picked])
        last |= {int(ids[c]) for c in ends}
        statuses.append(status)
        objective += value or 0.0
        build_s, solve_s = build_s + b_s, solve_s + s_s
        if value is None:
            for ref in view.active_steps:
                p.reasons.setdefault(
                    ref.index, f"no solution within the solver time limit ({time_limit_s:g} s)"
                )
    picked_all = np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)
    status = next(
        (s for s in statuses if s != "convergenceCriteriaSatisfied"), "convergenceCriteriaSatisfied"
    )
    return ComputeSolution(
        p,
        picked_all,
        last,
        soc_trajectories(p, picked_all),
        status if statuses else "empty",
        objective,
        build_s,
        solve_s,
    )


def _solve_view(
    p: ComputeProblem, *, time_limit_s: float, mip_gap: float, threads: int
) -> tuple[np.ndarray, set[int], str, float | None, float, float]:
    from pyomo.contrib.solver.common.factory import SolverFactory

    t0 = time.perf_counter()
    m = build_model(p)
    t1 = time.perf_counter()
    # The objective is ~100 per placed step: an absolute gap keeps timing terms meaningful.
    # HiGHS presolve substitutes the SOC chain and fills in (minutes); without it: < 1 s.
    res = SolverFactory("highs").solve(
        m,
        time_limit=time_limit_s,
        rel_gap=0.0,
        abs_gap=mip_gap * ABS_GAP_PER_REL,
        threads=threads,
        load_solutions=False,
        raise_exception_on_nonoptimal_result=False,
        solver_options={"presolve": "off"},
    )
    t2 = time.perf_counter()
    if res.incumbent_objective is None:
        return (
            np.zeros(0, dtype=int),
            set(),
            str(res.termination_condition.name),
            None,
            t1 - t0,
            t2 - t1,
        )
    res.solution_loader.load_vars()
    b = m.compute
    chosen = np.array([c for c in b.O if pyo.value(b.x[c]) > 0.5], dtype=int)
    last = {int(c) for c in b.PO if pyo.value(b.f[c]) > 0.5}
    return (
        chosen,
        last,
        str(res.termination_condition.name),
        float(res.incumbent_objective),
        t1 - t0,
        t2 - t1,
    )


def compute_seconds_per_slot(p: ComputeProblem, chosen: np.ndarray, node: str) -> np.ndarray:
    """Seconds of onboard compute of ``chosen`` options of ``node`` in each slot."""
    o = p.options
    out = np.zeros(p.n_slots)
    for c in chosen:
        ref = p.steps[int(o.step[c])]
        if ref.node.name != node or not ref.onboard:
            continue
        k = np.arange(o.start[c], o.end[c])
        out[k] += np.minimum(p.t_s[k + 1], o.end_s[c]) - p.t_s[k]
    return out


def soc_trajectories(p: ComputeProblem, chosen: np.ndarray) -> dict[str, np.ndarray]:
    """Physical SOC (K+1,) Wh per node for the chosen options (charge clipped at capacity)."""
    out = {}
    for name, e in p.energy.items():
        busy_s = compute_seconds_per_slot(p, chosen, name)
        out[name] = simulate_soc_wh(
            e.capacity_wh, e.initial_wh, e.charge_wh - e.idle_wh - e.compute_w * WH_PER_WS * busy_s
        )
    return out
