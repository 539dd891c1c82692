"""The compute-job MILP (Pyomo) of a :class:`~rsmodel.optimize.compute_problem.ComputeProblem`.

One binary per option on a sparse flat index. Rows: one placement per step (pass steps: one
segment per pass, at most ``max_segments``), one step at a time per node, precedence through
cumulative "done by slot k" variables, the battery balance of :mod:`rsmodel.optimize.energy`,
eclipse policy shares and ``min_battery_soc``, the window tier rule. docs/compute.md describes
the model; :mod:`rsmodel.compute.report` turns a solution into placement decisions and events.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from rsmodel.model.compute_schema import TIERS
from rsmodel.optimize.compute_problem import ComputeProblem, StepRef, max_output_mb
from rsmodel.optimize.energy import WH_PER_WS, add_battery

PLACE_WEIGHT = 100.0
TIER_WEIGHT = 0.02  # value of the preferred tier over min_tier (never worth deferring a window)
POLICY_WEIGHTS: dict[str, dict[str, float]] = {
    # late: finish early; energy: compute Wh (not window tiers); segments: more pass segments;
    # reserve: the lowest state of charge of the node's trajectory.
    "balanced": {"late": 1.0, "energy": 0.5, "segments": 0.5, "reserve": 0.5},
    "max_reliability": {"late": 0.2, "energy": 0.5, "segments": 2.0, "reserve": 3.0},
    "min_latency": {"late": 5.0, "energy": 0.1, "segments": 0.1, "reserve": 0.1},
    "min_energy": {"late": 0.2, "energy": 5.0, "segments": 0.2, "reserve": 0.5},
}


def build_compute_model(p: ComputeProblem) -> pyo.ConcreteModel:
    """A model of the jobs alone: ``m.compute`` (see :func:`add_compute`), maximised."""
    m = pyo.ConcreteModel("compute")
    m.compute = pyo.Block()
    m.objective = pyo.Objective(expr=add_compute(m.compute, p), sense=pyo.maximize)
    return m


def add_compute(
    m: pyo.Block,
    p: ComputeProblem,
    tx: dict[str, tuple[dict[int, pyo.Expression], np.ndarray]] | None = None,
) -> pyo.Expression:
    """Add the jobs' variables and rows to block ``m``; returns the policy value to maximise.

    ``tx[node]``: (transmitter Wh per slot as expressions, (K,) Wh already committed) drawn
    from the same battery (the joint compute + downlink model, rsmodel/optimize/joint.py)."""
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
    m.z = pyo.Var(sorted(open_pass(p)), bounds=(0, 1))  # a committed segment stays the last
    m.cons = pyo.ConstraintList()
    _placement_rows(m, p, by_step)
    done = _done_by(m, p, by_step)
    _precedence_rows(m, p, by_step, done)
    draws = _occupancy_rows(m, p)
    m.battery = pyo.Block(list(p.energy))
    for name, energy in p.energy.items():
        carry = p.carry
        tx_wh, fixed_tx_wh = (tx or {}).get(name, ({}, None))
        add_battery(
            m.battery[name],
            energy,
            draws.get(name, {}),
            window=p.window,
            initial_wh=float(carry.soc_wh[p.window[0]]) if carry else None,
            fixed_compute_s=carry.busy_s if carry else None,
            tx_wh_in_slot=tx_wh,
            fixed_tx_wh=fixed_tx_wh,
        )
    _eclipse_rows(m, p, by_step, draws)
    m.reserve = pyo.Var(list(p.energy), bounds=(0, None))
    for name, k in _low_points(p):
        m.cons.add(m.reserve[name] <= m.battery[name].soc[k])
    return _objective(m, p, by_step)


def open_pass(p: ComputeProblem) -> dict[int, tuple[int, int]]:
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
        committed = open_pass(p).get(s)
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
        committed_end = open_pass(p)[s][1] if s in open_pass(p) else -1
        z, e = (m.z[s], max(committed_end, k0)) if committed_end >= 0 else (0.0, -1)
        if e != k0:
            b.d[k0].fix(0)
        order = np.argsort(ends, kind="stable")
        slots, first = np.unique(ends[order], return_index=True)
        ending_at = dict(zip(slots.tolist(), np.split(opts[order], first[1:]), strict=True))

        def chain(b: pyo.Block, k: int, var=var, z=z, e=e, ending_at=ending_at) -> object:
            if k == k0:
                return b.d[k0] == z if e == k0 else pyo.Constraint.Skip
            ending = [var[int(c)] for c in ending_at.get(k, ())] + ([z] if k == e else [])
            return b.d[k] == b.d[k - 1] + sum(ending)

        b.chain = pyo.Constraint(pyo.RangeSet(k0, k1), rule=chain)
        done[s] = _Done(b.d, p.window, committed_end, m.z[s] if committed_end >= 0 else None)
    return done


def _precedence_rows(
    m: pyo.ConcreteModel, p: ComputeProblem, by_step: dict[int, np.ndarray], done: dict
) -> None:
    o = p.options
    cumulative: dict[int, list[int]] = {}
    for ref in p.active_steps:
        opts = by_step[ref.index]
        for d in ref.preds:
            if done[d].var is not None and ref.step.type != "pass" and len(opts):
                cumulative.setdefault(ref.index, []).append(d)
                continue
            for c in opts:
                ready = done[d][input_ready_slot(p, ref, d, int(o.start[c]))]
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
    m.started = pyo.Block(sorted(cumulative))
    for s, preds in cumulative.items():
        _started_rows(m.started[s], m.x, p, p.steps[s], by_step[s], preds, done)


def _started_rows(b: pyo.Block, x: pyo.Var, p: ComputeProblem, ref: StepRef, opts: np.ndarray,
                  preds: list[int], done: dict) -> None:  # fmt: skip
    """Cumulative precedence of a step placed once: ``started[j]`` (its options starting at or
    before its j-th start slot k) <= ``done[d][ready(k)]`` for each input d. Valid because
    ``ready`` is monotone in k; on integer points the same as one row per option, in the LP
    relaxation tighter (a fractional step cannot start more than its inputs have finished)."""
    starts = p.options.start[opts]
    order = np.argsort(starts, kind="stable")
    slots, first = np.unique(starts[order], return_index=True)
    groups = np.split(opts[order], first[1:])
    b.S = pyo.Var(range(len(slots)), bounds=(0, 1))
    b.rows = pyo.ConstraintList()
    for j, (k, group) in enumerate(zip(slots.tolist(), groups, strict=True)):
        new = sum(x[int(c)] for c in group)
        b.rows.add(b.S[j] == (b.S[j - 1] if j else 0) + new)
        for d in preds:
            b.rows.add(b.S[j] <= done[d][input_ready_slot(p, ref, d, k)])


def input_ready_slot(p: ComputeProblem, ref: StepRef, d: int, start: int) -> int:
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
    onboard = p.of_options(lambda r: r.onboard, bool)
    idx = np.flatnonzero(onboard)
    count = o.end[idx] - o.start[idx]
    opt = np.repeat(idx, count)
    slot = o.start[opt] + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    secs = np.minimum(p.t_s[slot + 1], o.end_s[opt]) - p.t_s[slot]
    node = p.of_options(lambda r: r.node.name)[opt]
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
