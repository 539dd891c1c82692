"""The compute model's objective and option rules as arrays, without Pyomo.

What the MILP (:mod:`rsmodel.optimize.compute_model`), the greedy plan
(:mod:`rsmodel.optimize.compute_greedy`) and the solve (:mod:`rsmodel.optimize.compute_solve`)
share: the policy objective's coefficients (:func:`objective_weights`, docs/compute.md "Policy
objectives"), a plan's objective value (:func:`objective_value`) and a valid upper bound
(:func:`objective_bound`), the options some plan could use (:func:`feasible_options`) and the
input rules (:func:`input_ready_slot`, :func:`higher_tier_slot`). A greedy plan within the gap
of the bound is found and proven without loading Pyomo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from rsmodel.model.compute_schema import TIERS
from rsmodel.optimize.compute_problem import ComputeProblem, StepRef, max_output_mb
from rsmodel.optimize.energy import WH_PER_WS, simulate_soc_wh

T = TypeVar("T", int, np.ndarray)  # a slot or an array of slots

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
_EPS = 1e-6


def open_pass(p: ComputeProblem) -> dict[int, tuple[int, int]]:
    """Pass steps with segments committed by earlier rolling blocks: (segments, end slot of last)."""
    return p.carry.open_pass if p.carry else {}


def options_by_step(p: ComputeProblem) -> dict[int, np.ndarray]:
    """Option indices of each active step."""
    all_options = np.arange(len(p.options.step))
    groups = dict(zip(*grouped(all_options, p.options.step), strict=True))
    empty = np.zeros(0, dtype=int)
    return {r.index: groups.get(r.index, empty) for r in p.active_steps}


def grouped(opts: np.ndarray, key: np.ndarray) -> tuple[list[int], list[np.ndarray]]:
    """``opts`` grouped by ``key`` (ascending): the distinct keys and each one's options."""
    if not len(opts):
        return [], []
    order = np.argsort(key, kind="stable")
    keys, first = np.unique(key[order], return_index=True)
    return keys.tolist(), np.split(opts[order], first[1:])


def low_points(p: ComputeProblem) -> list[tuple[str, int]]:
    """(node, grid index) where the SOC has its lows: eclipse exits and the model's end."""
    k0, k1 = p.window
    ends = [
        (iv.node, iv.b)
        for iv in p.intervals
        if iv.kind == "eclipse" and iv.node in p.energy and k0 < iv.b <= k1
    ]
    return sorted(set(ends) | {(name, k1) for name in p.energy})


def input_ready_slot(p: ComputeProblem, ref: StepRef, d: int, start: T) -> T:
    """Slot by which predecessor ``d`` must be done for ``ref`` to start at ``start`` (a slot,
    or an array of them: one lookup of d's output for all): a ground step waits until the
    node's passes since then could downlink d's largest output."""
    pred = p.steps[d]
    if ref.onboard or not pred.onboard:
        return start
    cum = p.downlink_bytes[pred.node.name]
    need = max_output_mb(p, pred) * 1e6
    k = np.asarray(start)
    ready = np.minimum(np.searchsorted(cum, cum[k] - need + 1e-6, side="right") - 1, k)
    ready = np.where(need > cum[k], 0, ready)  # never done by slot 0: this start is impossible
    return ready if ready.ndim else int(ready)  # type: ignore[return-value]


def higher_tier_slot(p: ComputeProblem, ref: StepRef, c: int) -> int | None:
    """The window tier rule for option ``c``: the slot by which the step must be ready for the
    next higher tier of its ladder to fit the window (None: no higher tier, or it never fits)."""
    o, tiers = p.options, ref.step.quality_tiers or {}
    ladder = [TIERS.index(t) for t in ref.ladder]
    i = ladder.index(int(o.tier[c]))
    if i + 1 == len(ladder):
        return None
    iv = p.intervals[int(o.interval[c])]
    higher_s = tiers[TIERS[ladder[i + 1]]].compute_s  # type: ignore[index]
    h = int(np.searchsorted(p.t_s, p.t_s[iv.b] - higher_s + 1e-6, side="right") - 1)
    return None if h < iv.a else min(h, p.n_slots)


def onboard_seconds(p: ComputeProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flat (option, slot, seconds, node index into ``p.energy``) of every onboard option's
    compute per slot it runs in."""
    o = p.options
    names = list(p.energy)
    code = {n: i for i, n in enumerate(names)}
    node_of = p.of_options(lambda r: code.get(r.node.name, -1), int)
    onboard = p.of_options(lambda r: r.onboard, bool) & (node_of >= 0)
    idx = np.flatnonzero(onboard)
    count = o.end[idx] - o.start[idx]
    opt = np.repeat(idx, count)
    slot = o.start[opt] + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
    secs = np.minimum(p.t_s[slot + 1], o.end_s[opt]) - p.t_s[slot]
    return opt, slot, secs, node_of[opt]


def nonzero_items(values: np.ndarray) -> tuple[list[int], list[float]]:
    """Indices and values of the nonzero entries of ``values``."""
    idx = np.flatnonzero(values)
    return idx.tolist(), values[idx].tolist()


@dataclass
class ObjectiveWeights:
    """The policy objective as arrays: ``value = option @ x + last @ f + placed . placed +
    reserve . reserve`` (``last``, ``placed`` per pass option / step; ``reserve`` per node, per Wh)."""

    option: np.ndarray
    last: np.ndarray
    placed: dict[int, float]
    reserve: dict[str, float]


def objective_weights(p: ComputeProblem) -> ObjectiveWeights:
    """Coefficients of the policy objective (docs/compute.md, "Policy objectives")."""
    o = p.options
    option, last = np.zeros(len(o.step)), np.zeros(len(o.step))
    placed: dict[int, float] = {}
    reserve: dict[str, float] = {}
    for ref, opts in options_by_step(p).items():
        ref = p.steps[ref]
        w = POLICY_WEIGHTS[ref.job.policy.objective]
        name = ref.node.name
        cap = p.energy[name].capacity_wh
        reserve[name] = max(reserve.get(name, 0.0), w["reserve"] / cap)
        prio = _priority_boost(p, ref)
        late = -w["late"] * prio * o.end[opts] / p.n_slots
        if ref.step.type == "pass":
            placed[ref.index] = PLACE_WEIGHT
            option[opts] = w["segments"] / max(len(np.unique(o.interval[opts])), 1)
            last[opts] = late
        else:
            option[opts] = PLACE_WEIGHT * prio + late
        if ref.step.type == "window":
            option[opts] += TIER_WEIGHT * (o.tier[opts] + 1.0) / len(TIERS)
        else:
            option[opts] -= w["energy"] * o.energy_wh[opts] / cap
    return ObjectiveWeights(option, last, placed, reserve)


def feasible_options(p: ComputeProblem) -> np.ndarray:
    """Options some plan could use (bool per option); the others are dropped before the build:
    a start before an input can be done (its earliest-ending usable option, transitively), a
    tier the window rule forbids whatever the inputs do (the higher tier fits once they are
    done for sure), an eclipse whose ``min_battery_soc`` or policy share the step alone breaks
    on the SOC without further compute (an upper bound of the model's SOC). Pass-step options
    are kept (few; their passes weight the segments term), their rows exclude them."""
    o = p.options
    keep = np.ones(len(o.step), dtype=bool)
    by_step = options_by_step(p)
    earliest: dict[int, int] = dict(p.finished)  # step -> first slot it can be done by
    for s, (_, end) in open_pass(p).items():
        earliest[s] = end
    for ref in _inputs_first(p):
        opts = by_step[ref.index]
        for d in ref.preds:
            if d not in earliest:
                keep[opts] = False
                continue
            ready = o.start[opts]
            if not ref.onboard and p.steps[d].onboard:  # the downlink rule
                ready = input_ready_slot(p, ref, d, ready)
            keep[opts] &= ready >= earliest[d]
        key = o.interval[opts] * len(TIERS) + o.tier[opts]
        for _, group in zip(*grouped(opts, key), strict=True) if ref.step.type == "window" else []:
            k = higher_tier_slot(p, ref, int(group[0]))
            if k is not None and all(p.finished.get(d, k + 1) <= k for d in ref.preds):
                keep[group] = False
        if ref.step.type == "eclipse":
            keep[opts] &= _eclipse_affordable(p, ref, opts)
        left = opts[keep[opts]]
        if len(left):
            earliest[ref.index] = min(
                earliest.get(ref.index, p.n_slots + 1), int(o.end[left].min())
            )
    keep |= p.of_options(lambda r: r.step.type, object) == "pass"
    return keep & _above_floor(p)


def _above_floor(p: ComputeProblem) -> np.ndarray:
    """Per option: False where it draws compute energy in a slot ``k`` whose SOC without
    further compute (:func:`soc_without_compute`, an upper bound of the model's) ends at or
    below ``floor_soc`` and below capacity. The model's floor there is that SOC itself
    (:func:`rsmodel.optimize.energy.add_battery`: ``min(floor_soc x capacity, SOC with no
    further compute)``) and the draw, not clipped, takes the SOC below it: no plan can use the
    option. A node whose idle bus keeps it under ``floor_soc`` (an energy-starved satellite)
    thus loses its options there before the greedy plan, bound and MILP (docs/compute.md)."""
    o = p.options
    keep = np.ones(len(o.step), dtype=bool)
    onboard = p.of_options(lambda r: r.onboard, bool)
    names = p.of_options(lambda r: r.node.name, object)
    for name, e in p.energy.items():
        mine = np.flatnonzero(onboard & (names == name) & (o.end_s > p.t_s[o.start] + _EPS))
        if not len(mine) or e.compute_w <= 0:
            continue
        soc = soc_without_compute(p, name)
        k0, k1 = p.window
        bad = np.zeros(p.n_slots, dtype=bool)
        after = soc[k0 + 1 : k1 + 1]
        bad[k0:k1] = (after <= e.floor_soc * e.capacity_wh) & (after < e.capacity_wh - _EPS)
        count = np.concatenate([[0], np.cumsum(bad)])
        keep[mine] = count[o.end[mine]] == count[o.start[mine]]
    return keep


def _inputs_first(p: ComputeProblem) -> list[StepRef]:
    """Active steps ordered so that every step comes after its inputs."""
    depth: dict[int, int] = {}

    def level(s: int) -> int:
        if s not in depth:
            depth[s] = 1 + max((level(d) for d in p.steps[s].preds), default=0)
        return depth[s]

    return sorted(p.active_steps, key=lambda r: (level(r.index), r.index))


def _eclipse_affordable(p: ComputeProblem, ref: StepRef, opts: np.ndarray) -> np.ndarray:
    """Per option of an eclipse step: its own energy fits the policy share and keeps
    ``min_battery_soc`` at the eclipse exit, on :func:`soc_without_compute`."""
    o, e = p.options, p.energy[ref.node.name]
    soc = soc_without_compute(p, ref.node.name)
    fixed_s = p.carry.busy_s if p.carry else np.zeros(p.n_slots)
    draw = e.compute_w * WH_PER_WS
    keep_wh = ref.step.min_soc * e.capacity_wh
    idle = np.concatenate([[0.0], np.cumsum(e.idle_wh)])
    fixed = np.concatenate([[0.0], np.cumsum(fixed_s)]) * draw
    a = np.array([iv.a for iv in p.intervals])[o.interval[opts]]
    b = np.array([iv.b for iv in p.intervals])[o.interval[opts]]
    own = o.energy_wh[opts]
    room = soc[a] - keep_wh - (idle[b] - idle[a])
    fits = fixed[b] - fixed[a] + own <= ref.step.policy_share * room + _EPS
    return fits & (soc[b] - own >= keep_wh - _EPS)


def soc_without_compute(
    p: ComputeProblem, node: str, busy_s: np.ndarray | None = None
) -> np.ndarray:
    """Physical SOC (K+1,) Wh of ``node`` with the committed compute of a rolling block (before
    its first point: the committed SOC) plus ``busy_s`` (K,) seconds of new compute. With none,
    an upper bound of the model's SOC (spill and compute only lower it)."""
    e = p.energy[node]
    k0, k1 = p.window
    carry = p.carry
    busy = (carry.busy_s.copy() if carry else np.zeros(p.n_slots)) + (
        0.0 if busy_s is None else busy_s
    )
    start = min(float(carry.soc_wh[k0]) if carry else e.initial_wh, e.capacity_wh)
    net = e.charge_wh - e.idle_wh - e.compute_w * WH_PER_WS * busy
    out = carry.soc_wh.astype(float) if carry else np.zeros(p.n_slots + 1)
    out[k0 : k1 + 1] = simulate_soc_wh(e.capacity_wh, start, net[k0:k1])
    return out


def objective_bound(p: ComputeProblem) -> float:
    """An upper bound of the model's optimum: each step at its best options as if alone (a pass
    step: its best segment per pass, ``max_segments`` of them, and its best last segment), the
    reserve at the lowest SOC without compute."""
    o, w = p.options, objective_weights(p)
    total = 0.0
    for s, opts in options_by_step(p).items():
        ref = p.steps[s]
        if ref.step.type != "pass":
            total += max(0.0, float(w.option[opts].max())) if len(opts) else 0.0
            continue
        committed = open_pass(p).get(s)
        if not len(opts):
            total += PLACE_WEIGHT if committed else 0.0
            continue
        _, per_pass = grouped(opts, o.interval[opts])
        best = sorted((float(w.option[g].max()) for g in per_pass), reverse=True)
        left = len(best) if ref.step.max_segments is None else ref.step.max_segments
        left -= committed[0] if committed else 0
        segments = sum(v for v in best[: max(left, 0)] if v > 0)
        last = float(w.last[opts].max())
        if committed:
            total += PLACE_WEIGHT + segments + max(last, 0.0)
        else:
            total += max(0.0, PLACE_WEIGHT + segments + last)
    return total + _reserve_value(p, w, None)


def objective_value(p: ComputeProblem, chosen: np.ndarray, last: set[int]) -> float:
    """The model's objective at a plan (``chosen`` options, ``last`` pass segments), with the
    physical SOC (a feasible SOC of the model) for the reserve."""
    o, w = p.options, objective_weights(p)
    chosen = np.asarray(chosen, dtype=int)
    placed = {int(s) for s in o.step[chosen]} | set(open_pass(p))
    value = float(w.option[chosen].sum()) + float(w.last[sorted(last)].sum())
    value += sum(v for s, v in w.placed.items() if s in placed)
    opt, slot, secs, node = onboard_seconds(p)
    mine = np.isin(opt, chosen)
    busy = {
        name: np.bincount(slot[mine & (node == i)], secs[mine & (node == i)], minlength=p.n_slots)
        for i, name in enumerate(p.energy)
    }
    return value + _reserve_value(p, w, busy)


def _reserve_value(p: ComputeProblem, w: ObjectiveWeights, busy: dict | None) -> float:
    """The reserve term at the lowest SOC of each node's low points (``busy``: new compute)."""
    lows: dict[str, list[int]] = {}
    for name, k in low_points(p):
        lows.setdefault(name, []).append(k)
    total = 0.0
    for name, weight in w.reserve.items():
        soc = soc_without_compute(p, name, None if busy is None else busy[name])
        total += weight * max(0.0, float(soc[lows[name]].min()))
    return total


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
