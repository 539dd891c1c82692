"""The compute-job MILP (Pyomo) of a :class:`~rsmodel.optimize.compute_problem.ComputeProblem`.

One binary per option on a sparse flat index. Rows: one placement per step (pass steps: one
segment per pass, at most ``max_segments``), one step at a time per node, precedence through
cumulative "done by" / "started by" chains, the battery balance of :mod:`rsmodel.optimize.energy`,
eclipse policy shares and ``min_battery_soc``, the window tier rule. docs/compute.md describes
the model; :mod:`rsmodel.compute.report` turns a solution into placement decisions and events.

Built from the option arrays in O(rows + nonzeros): the rows are gathered as (coefficient,
variable) lists and handed to HiGHS as arrays (:class:`Rows`, no Pyomo constraint), the
chains have a variable only where they change (the slots where a step's options end or start),
and options no row could ever allow are dropped before the build
(:func:`rsmodel.optimize.compute_value.feasible_options`). The objective's coefficients and the
option rules as arrays live in :mod:`rsmodel.optimize.compute_value` (shared with the greedy
plan, the bound and the pruning, none of which needs Pyomo).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression

from rsmodel.model.compute_schema import TIERS
from rsmodel.optimize.compute_problem import ComputeProblem, StepRef
from rsmodel.optimize.compute_value import (
    grouped,
    higher_tier_slot,
    input_ready_slot,
    low_points,
    nonzero_items,
    objective_weights,
    onboard_seconds,
    open_pass,
    options_by_step,
)
from rsmodel.optimize.energy import WH_PER_WS, add_battery, simulate_soc_wh
from rsmodel.optimize.gateway import ArrayRows, add_rows

Term = tuple[float, object]  # (coefficient, Pyomo variable)
Value = tuple[float, object | None]  # constant + (a variable or None): a chain's value at a slot


class Rows:
    """Linear rows ``lb <= sum(coef * var) <= ub`` gathered in lists and given to a block as one
    family of :class:`~rsmodel.optimize.gateway.ArrayRows` (no Pyomo constraint: HiGHS gets
    the arrays)."""

    def __init__(self) -> None:
        self.lb: list[float | None] = []
        self.terms: list[list[Term]] = []
        self.ub: list[float | None] = []

    def add(self, terms: list[Term], lb: float | None = None, ub: float | None = None) -> None:
        self.terms.append(terms)
        self.lb.append(lb)
        self.ub.append(ub)

    def attach(self, block: pyo.Block, name: str) -> None:
        variables: list = []
        position: dict[int, int] = {}
        col: list[int] = []
        coef: list[float] = []
        for terms in self.terms:
            for c, v in terms:
                i = position.get(id(v))
                if i is None:
                    i = position[id(v)] = len(variables)
                    variables.append(v)
                col.append(i)
                coef.append(c)
        row = np.repeat(np.arange(len(self.terms)), [len(t) for t in self.terms])
        lower = np.array([-np.inf if b is None else b for b in self.lb], dtype=float)
        upper = np.array([np.inf if b is None else b for b in self.ub], dtype=float)
        add_rows(block, name, ArrayRows.from_triplets(variables, row, col, coef, lower, upper))


def linear(terms: list[Term]) -> LinearExpression:
    """``sum(coef * var)`` as one ``LinearExpression``."""
    return LinearExpression(
        [v if c == 1.0 else MonomialTermExpression((float(c), v)) for c, v in terms]
    )


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
    x = [m.x[c] for c in range(len(o.step))]
    by_step = options_by_step(p)
    pass_steps = [r.index for r in p.active_steps if r.step.type == "pass"]
    m.P = pyo.Set(initialize=pass_steps)
    m.placed = pyo.Var(m.P, bounds=(0, 1))
    m.PO = pyo.Set(initialize=[int(c) for s in pass_steps for c in by_step[s]])
    m.f = pyo.Var(m.PO, domain=pyo.Binary)  # the pass step's last segment
    m.z = pyo.Var(sorted(open_pass(p)), bounds=(0, 1))  # a committed segment stays the last
    rows = Rows()
    _placement_rows(m, p, by_step, x, rows)
    done = _done_by(m, p, by_step, x)
    m.done_at = {s: d.at for s, d in done.items()}  # step -> k -> (constant, variable or None)
    m.chains = done
    _precedence_rows(m, p, by_step, done, x, rows)
    draws, seconds = _occupancy_rows(p, x, rows)
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
    _eclipse_rows(m, p, by_step, seconds, x, rows)
    m.reserve = pyo.Var(list(p.energy), bounds=(0, None))
    lows = low_points(p)
    for name, k in lows:  # below zero without compute: every plan's reserve is 0 (the value's)
        if m.battery[name].soc[k].lb < 0:
            m.reserve[name].fix(0)
    for name, k in lows:
        if not m.reserve[name].fixed:
            rows.add([(1.0, m.reserve[name]), (-1.0, m.battery[name].soc[k])], ub=0.0)
    rows.attach(m, "cons")
    return _objective(m, p, x)


def _placement_rows(m: pyo.Block, p: ComputeProblem, by_step: dict[int, np.ndarray],
                    x: list, rows: Rows) -> None:  # fmt: skip
    o = p.options
    for ref in p.active_steps:
        opts = by_step[ref.index]
        if ref.step.type != "pass":
            if len(opts):
                rows.add([(1.0, x[c]) for c in opts.tolist()], ub=1.0)
            continue
        s = ref.index
        _, per_pass = grouped(opts, o.interval[opts])
        for same in per_pass:
            if len(same) > 1:
                rows.add([(1.0, x[c]) for c in same.tolist()], ub=1.0)
        committed = open_pass(p).get(s)
        if ref.step.max_segments is not None and len(opts):
            left = ref.step.max_segments - (committed[0] if committed else 0)
            rows.add([(1.0, x[c]) for c in opts.tolist()], ub=float(left))
        last = [(-1.0, m.f[c]) for c in opts.tolist()]
        if committed:  # placed already; the last segment is a new one or the committed one
            m.placed[s].fix(1)
            rows.add([*last, (-1.0, m.z[s])], lb=-1.0, ub=-1.0)
        else:
            rows.add([(1.0, m.placed[s]), *last], lb=0.0, ub=0.0)
        for c in opts.tolist():
            rows.add([(1.0, m.f[c]), (-1.0, x[c])], ub=0.0)
            rows.add([(1.0, x[c]), (-1.0, m.placed[s])], ub=0.0)


@dataclass
class _Done:
    """``done`` of one step: 1 once it has finished by grid point k. A chain (``slots``
    ascending, ``var[j]`` its value from ``slots[j]`` on) inside the model's points; a constant
    for a step finished by earlier rolling blocks (1 from ``end``); before the model's first
    point 0, or ``z`` (a pass step whose committed segment, ending at ``end``, may be its last)."""

    window: tuple[int, int]
    end: int
    slots: np.ndarray | None = None
    var: list | None = None
    z: object | None = None

    def at(self, k: int) -> Value:
        if self.slots is None:
            return (1.0 if k >= self.end else 0.0), None
        k0, k1 = self.window
        if k < k0:
            return 0.0, (self.z if self.z is not None and k >= self.end else None)
        j = int(np.searchsorted(self.slots, min(k, k1), side="right")) - 1
        return 0.0, (self.var[j] if j >= 0 else None)  # type: ignore[index]


def _done_by(m: pyo.Block, p: ComputeProblem, by_step: dict[int, np.ndarray],
             x: list) -> dict[int, _Done]:  # fmt: skip
    """``done[s]`` of each step that is an input or a pass step: a chain with one variable per
    slot where one of its (last-segment) options ends."""
    o = p.options
    needed = {d for r in p.active_steps for d in r.preds} | {
        r.index for r in p.active_steps if r.step.type == "pass"
    }
    done = {d: _Done(p.window, p.finished[d]) for d in needed & set(p.finished)}
    modelled = sorted(needed - set(p.finished))
    m.done = pyo.Block(modelled)
    for s in modelled:
        b = m.done[s]
        opts = by_step.get(s, np.zeros(0, dtype=int))
        var = m.f if p.steps[s].step.type == "pass" else x
        committed_end = open_pass(p)[s][1] if s in open_pass(p) else -1
        e = max(committed_end, p.window[0]) if committed_end >= 0 else None
        ends, groups = grouped(opts, o.end[opts])
        step_terms = {
            k: [(1.0, var[c]) for c in g.tolist()] for k, g in zip(ends, groups, strict=True)
        }
        if e is not None:
            step_terms.setdefault(e, []).append((1.0, m.z[s]))
        slots = np.array(sorted(step_terms), dtype=int)
        b.d = pyo.Var(range(len(slots)), bounds=(0, 1))
        chain = Rows()
        for j, k in enumerate(slots.tolist()):
            prev = [(-1.0, b.d[j - 1])] if j else []
            chain.add([(1.0, b.d[j]), *prev, *((-c, v) for c, v in step_terms[k])], lb=0.0, ub=0.0)
        chain.attach(b, "chain")
        z = m.z[s] if committed_end >= 0 else None
        done[s] = _Done(p.window, committed_end, slots, [b.d[j] for j in range(len(slots))], z)
    return done


def _precedence_rows(m: pyo.Block, p: ComputeProblem, by_step: dict[int, np.ndarray],
                     done: dict[int, _Done], x: list, rows: Rows) -> None:  # fmt: skip
    o = p.options
    cumulative: dict[int, list[int]] = {}
    for ref in p.active_steps:
        opts = by_step[ref.index]
        for d in ref.preds:
            if done[d].slots is not None and ref.step.type != "pass" and len(opts):
                cumulative.setdefault(ref.index, []).append(d)
                continue
            ready = input_ready_slot(p, ref, d, o.start[opts]).tolist()
            for c, k in zip(opts.tolist(), ready, strict=True):
                const, var = done[d].at(k)
                if var is not None:
                    rows.add([(1.0, x[c]), (-1.0, var)], ub=const)
                elif const < 0.5:  # d finished in an earlier rolling block, too late for c
                    x[c].fix(0)
        if ref.step.type == "pass":
            for c in opts.tolist():  # no segment after the last one
                const, var = done[ref.index].at(int(o.start[c]))
                if var is not None:
                    rows.add([(1.0, x[c]), (1.0, var)], ub=1.0 - const)
        if ref.step.type == "window":
            _tier_rule_rows(p, ref, opts, done, x, rows)
    m.started = pyo.Block(sorted(cumulative))
    for s, preds in cumulative.items():
        _started_rows(m.started[s], x, p, p.steps[s], by_step[s], preds, done)


def _started_rows(b: pyo.Block, x: list, p: ComputeProblem, ref: StepRef, opts: np.ndarray,
                  preds: list[int], done: dict[int, _Done]) -> None:  # fmt: skip
    """Cumulative precedence of a step placed once: ``S[j]`` (its options starting at or before
    its j-th start slot k) <= ``done[d][ready(k)]`` for each input d. Valid because ``ready``
    is monotone in k; on integer points the same as one row per option, in the LP relaxation
    tighter (a fractional step cannot start more than its inputs have finished). A row is kept
    only where the next start slot reads another value of ``done`` (``S`` is nondecreasing)."""
    starts, groups = grouped(opts, p.options.start[opts])
    b.S = pyo.Var(range(len(starts)), bounds=(0, 1))
    rows = Rows()
    for j, group in enumerate(groups):
        prev = [(-1.0, b.S[j - 1])] if j else []
        rows.add([(1.0, b.S[j]), *prev, *((-1.0, x[c]) for c in group.tolist())], lb=0.0, ub=0.0)
    for d in preds:
        ready = [done[d].at(int(k)) for k in input_ready_slot(p, ref, d, starts)]
        for j, (const, var) in enumerate(ready):
            if j + 1 < len(ready) and ready[j + 1][0] == const and ready[j + 1][1] is var:
                continue  # S[j] <= S[j + 1] <= the same value
            if var is None:
                rows.add([(1.0, b.S[j])], ub=const)
            else:
                rows.add([(1.0, b.S[j]), (-1.0, var)], ub=const)
    rows.attach(b, "rows")


def _tier_rule_rows(p: ComputeProblem, ref: StepRef, opts: np.ndarray, done: dict[int, _Done],
                    x: list, rows: Rows) -> None:  # fmt: skip
    """A tier is used only if the next higher tier of the ladder would not fit once ready: per
    window and tier, ``sum x + sum_d done[d][h] <= inputs`` (one option per step at most)."""
    o = p.options
    key = o.interval[opts] * len(TIERS) + o.tier[opts]
    for _, group in zip(*grouped(opts, key), strict=True):
        k = higher_tier_slot(p, ref, int(group[0]))
        if k is None:
            continue
        ready = [done[d].at(k) for d in ref.preds]
        bound = len(ref.preds) - sum(const for const, _ in ready)
        terms = [(1.0, x[c]) for c in group.tolist()]
        terms += [(1.0, var) for _, var in ready if var is not None]
        if bound < 0.5 and len(terms) == len(group):
            for c in group.tolist():  # ready at the start: the higher tier fits
                x[c].fix(0)
            continue
        rows.add(terms, ub=bound)


def _occupancy_rows(p: ComputeProblem, x: list, rows: Rows) -> tuple[dict, tuple]:
    """One step at a time per node; returns compute seconds per (node, slot) expressions and
    the flat arrays of :func:`onboard_seconds`."""
    opt, slot, secs, node = seconds = onboard_seconds(p)
    names = list(p.energy)
    draws: dict[str, dict[int, LinearExpression]] = {}
    key = node * (p.n_slots + 1) + slot
    for k, idx in zip(*grouped(np.arange(len(key)), key), strict=True):
        cs = opt[idx].tolist()
        if len(cs) > 1:
            rows.add([(1.0, x[c]) for c in cs], ub=1.0)
        terms = list(zip(secs[idx].tolist(), (x[c] for c in cs), strict=True))
        draws.setdefault(names[k // (p.n_slots + 1)], {})[k % (p.n_slots + 1)] = linear(terms)
    return draws, seconds


def _eclipse_rows(m: pyo.Block, p: ComputeProblem, by_step: dict[int, np.ndarray],
                  seconds: tuple, x: list, rows: Rows) -> None:  # fmt: skip
    """min_battery_soc at the eclipse exit and the policy share of the eclipse battery capacity:
    all compute drawn in the eclipse <= share x (SOC at entry - kept - idle), when the step runs."""
    o = p.options
    opt, slot, secs, node = seconds
    names = list(p.energy)
    fixed_s = p.carry.busy_s if p.carry else np.zeros(p.n_slots)
    for ref in p.active_steps:
        if ref.step.type != "eclipse":
            continue
        opts = by_step[ref.index]
        name = ref.node.name
        energy = p.energy[name]
        soc = _soc_at(m, p, name)
        mine = node == names.index(name)
        for iv_index, same in zip(*grouped(opts, o.interval[opts]), strict=True):
            iv = p.intervals[int(iv_index)]
            y = [(1.0, x[c]) for c in same.tolist()]
            cap, draw = energy.capacity_wh, energy.compute_w * WH_PER_WS
            keep_wh = ref.step.min_soc * cap
            idle_wh = float(energy.idle_wh[iv.a : iv.b].sum())
            fixed_wh = draw * float(fixed_s[iv.a : iv.b].sum())
            big = cap * 2 + draw * (p.t_s[iv.b] - p.t_s[iv.a])
            inside = mine & (slot >= iv.a) & (slot < iv.b)
            per_opt = np.bincount(opt[inside], weights=secs[inside], minlength=len(o.step))
            used = [(draw * s, x[c]) for c, s in zip(*nonzero_items(per_opt), strict=True)]
            share = ref.step.policy_share
            b_const, b_var = soc(iv.b)
            a_const, a_var = soc(iv.a)
            rows.add([*([(1.0, b_var)] if b_var is not None else []), *((-cap, v) for _, v in y)],
                     lb=keep_wh - cap - b_const)  # fmt: skip
            rows.add(
                [
                    *used,
                    *([(-share, a_var)] if a_var is not None else []),
                    *((big, v) for _, v in y),
                ],
                ub=share * (a_const - keep_wh - idle_wh) + big - fixed_wh,
            )


def _soc_at(m: pyo.Block, p: ComputeProblem, node: str):  # noqa: ANN202
    """SOC at grid point k: the model's variable, or the committed (physical) SOC before it."""
    soc = m.battery[node].soc
    k0 = p.window[0]
    return lambda k: (0.0, soc[k]) if k >= k0 else (float(p.carry.soc_wh[k]), None)  # type: ignore[union-attr]


def _objective(m: pyo.Block, p: ComputeProblem, x: list) -> LinearExpression:
    w = objective_weights(p)
    terms = [(float(v), x[c]) for c, v in zip(*nonzero_items(w.option), strict=True)]
    terms += [(float(w.last[c]), m.f[c]) for c in m.PO if w.last[c]]
    terms += [(v, m.placed[s]) for s, v in w.placed.items()]
    terms += [(v, m.reserve[name]) for name, v in w.reserve.items()]
    return linear(terms)


def start_values(
    m: pyo.Block, p: ComputeProblem, chosen: np.ndarray, last: np.ndarray,
    tx_wh: dict[str, np.ndarray] | None = None,
) -> tuple[list, np.ndarray]:  # fmt: skip
    """A complete MIP start of block ``m`` (:func:`add_compute` of ``p``): the options
    ``chosen`` and pass steps' last segments ``last`` (indices of ``p.options``), and every other
    variable as its rows then make it: the ``done`` and ``started`` chains, ``placed`` and ``z``,
    the SOC and spilled charge (``tx_wh[node]``: (K,) Wh per slot the transmitter draws from the
    same battery), the reserve at the SOC's lows. HiGHS has an incumbent at once."""
    o = p.options
    x = np.zeros(len(o.step))
    x[chosen] = 1.0
    f = np.zeros(len(o.step))
    f[last] = 1.0
    variables: list = [m.x[c] for c in range(len(o.step))] + [m.f[c] for c in m.PO]
    values = [x, f[list(m.PO)]]
    by_step = options_by_step(p)
    for s in m.P:
        variables.append(m.placed[s])
        values.append(np.array([1.0 if s in open_pass(p) else f[by_step[s]].sum()]))
    for s in m.z:
        variables.append(m.z[s])
        values.append(np.array([1.0 - f[by_step[s]].sum()]))
    for s, chain in m.chains.items():
        if chain.slots is None:
            continue
        opts = by_step.get(s, np.zeros(0, dtype=int))
        value = f if p.steps[s].step.type == "pass" else x
        d = np.array([value[opts[o.end[opts] <= k]].sum() for k in chain.slots.tolist()])
        if s in open_pass(p):  # the committed segment, the last one unless another is
            d += (1.0 - f[opts].sum()) * (chain.slots >= max(open_pass(p)[s][1], p.window[0]))
        variables += chain.var
        values.append(d)
    for s in m.started:
        opts = by_step[s]
        starts, _ = grouped(opts, o.start[opts])
        block = m.started[s]
        variables += [block.S[j] for j in range(len(starts))]
        values.append(np.array([x[opts[o.start[opts] <= k]].sum() for k in starts]))
    opt, slot, secs, node = onboard_seconds(p)
    names = list(p.energy)
    soc_at: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        e, b = p.energy[name], m.battery[name]
        k0, k1 = p.window
        mine = (node == i) & (x[opt] > 0.5)
        busy = np.bincount(slot[mine], weights=secs[mine], minlength=p.n_slots)[: p.n_slots]
        if p.carry is not None:
            busy = busy + p.carry.busy_s
        tx = np.zeros(p.n_slots) if tx_wh is None or name not in tx_wh else tx_wh[name]
        net = (e.charge_wh - e.idle_wh - e.compute_w * WH_PER_WS * busy - tx)[k0:k1]
        soc = simulate_soc_wh(e.capacity_wh, float(b.soc[k0].value), net)
        soc_at[name] = soc
        variables += [b.soc[k] for k in range(k0, k1 + 1)] + [b.spill[k] for k in range(k0, k1)]
        values += [soc, np.maximum(soc[:-1] + net - soc[1:], 0.0)]
    lows: dict[str, float] = {}
    for name, k in low_points(p):
        at = float(soc_at[name][k - p.window[0]])
        lows[name] = min(lows.get(name, at), at)
    for name in m.reserve:
        variables.append(m.reserve[name])
        values.append(np.array([max(lows.get(name, 0.0), 0.0)]))
    return variables, np.concatenate(values)
