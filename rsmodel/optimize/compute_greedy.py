"""Greedy list scheduler of one node's compute jobs: the MILP's warm start and fallback.

Steps are taken in list order (earliest job deadline first, inputs before successors, higher
eclipse ``priority`` first) and each gets its earliest-ending option that keeps every row of
:mod:`rsmodel.optimize.compute_model` true: one step at a time per slot, inputs done by the
option's ready slot (ground steps: the downlink-capacity rule), the window tier rule, the
battery floor on the physical SOC (charge clipped at capacity, which is a feasible SOC of the
MILP) and every eclipse's ``min_battery_soc`` and policy share. A pass step gets one segment (its
earliest). A rolling block's committed state (:class:`~rsmodel.optimize.compute_problem.Carry`)
is honoured the same way: its start SOC, fixed draw, finished steps and open pass steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsmodel.model.compute_schema import TIERS
from rsmodel.optimize.compute_problem import ComputeProblem, StepRef
from rsmodel.optimize.compute_value import input_ready_slot, open_pass
from rsmodel.optimize.energy import WH_PER_WS, simulate_soc_wh

_EPS = 1e-6


@dataclass
class GreedyPlan:
    """Chosen options (view indices) and the final segment of each pass step placed."""

    chosen: np.ndarray
    last: set[int]

    @property
    def size(self) -> int:
        return len(self.chosen)


def greedy_view(p: ComputeProblem) -> GreedyPlan:
    """A feasible plan of a one-node view (or a rolling block of one) by list scheduling."""
    return _Greedy(p).run()


class _Greedy:
    def __init__(self, p: ComputeProblem) -> None:
        self.p = p
        (self.node,) = p.energy
        self.e = p.energy[self.node]
        self.k0, self.k1 = p.window
        carry = p.carry
        self.fixed_s = carry.busy_s.copy() if carry else np.zeros(p.n_slots)
        self.used_s = np.zeros(p.n_slots)
        self.busy = self.fixed_s > 0
        self.start_wh = min(
            float(carry.soc_wh[self.k0]) if carry else self.e.initial_wh, self.e.capacity_wh
        )
        net = self.e.charge_wh - self.e.idle_wh - self.e.compute_w * WH_PER_WS * self.fixed_s
        idle_soc = simulate_soc_wh(self.e.capacity_wh, self.start_wh, net[self.k0 : self.k1])
        self.floor = np.minimum(self.e.floor_soc * self.e.capacity_wh, idle_soc) - _EPS
        self.done: dict[int, int] = dict(p.finished)  # step -> slot by which it is done
        for s, (_, end) in open_pass(p).items():  # a committed segment may stay the last
            self.done[s] = end
        self.chosen: list[int] = []
        self.last: set[int] = set()
        self.eclipses: list[tuple[StepRef, int]] = []  # (eclipse step, interval) placed

    def run(self) -> GreedyPlan:
        o = self.p.options
        for ref in sorted(self.p.active_steps, key=self._order):
            if ref.index in self.done or any(d not in self.done for d in ref.preds):
                continue
            opts = np.flatnonzero(o.step == ref.index)
            if ref.step.type == "window":  # earliest end, then the higher tier
                opts = opts[np.lexsort((-o.tier[opts], o.end_s[opts]))]
            else:
                opts = opts[np.argsort(o.end_s[opts], kind="stable")]
            for c in opts.tolist():
                if self._fits(ref, c):
                    self._place(ref, c)
                    break
        return GreedyPlan(np.array(sorted(self.chosen), dtype=int), self.last)

    def _order(self, ref: StepRef) -> tuple:
        depth, todo = 0, list(ref.preds)
        seen: set[int] = set()
        while todo:  # longest chain of inputs (the DAG is acyclic)
            depth += 1
            todo = [d for s in todo for d in self.p.steps[s].preds if d not in seen]
            seen.update(todo)
        return (ref.deadline_s, depth, -ref.step.rank_priority, ref.index)

    def _fits(self, ref: StepRef, c: int) -> bool:
        o, p = self.p.options, self.p
        a, b = int(o.start[c]), int(o.end[c])
        if ref.onboard and self.busy[a:b].any():
            return False
        if any(self.done[d] > input_ready_slot(p, ref, d, a) for d in ref.preds):
            return False
        if ref.step.type == "window" and not self._top_tier_ok(ref, c):
            return False
        return not ref.onboard or self._energy_ok(ref, c)

    def _top_tier_ok(self, ref: StepRef, c: int) -> bool:
        """The tier rule: a tier only if the next higher one would not fit once ready."""
        o, p = self.p.options, self.p
        ladder = [TIERS.index(t) for t in ref.ladder]
        i = ladder.index(int(o.tier[c]))
        if i + 1 == len(ladder):
            return True
        iv = p.intervals[int(o.interval[c])]
        higher_s = ref.step.quality_tiers[TIERS[ladder[i + 1]]].compute_s  # type: ignore[index]
        h = int(np.searchsorted(p.t_s, p.t_s[iv.b] - higher_s + 1e-6, side="right") - 1)
        if h < iv.a:
            return True
        return any(self.done[d] > min(h, p.n_slots) for d in ref.preds)

    def _seconds(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        o, t_s = self.p.options, self.p.t_s
        k = np.arange(o.start[c], o.end[c])
        return k, np.minimum(t_s[k + 1], o.end_s[c]) - t_s[k]

    def _energy_ok(self, ref: StepRef, c: int) -> bool:
        k, secs = self._seconds(c)
        used = self.used_s.copy()
        used[k] += secs
        eclipses = self.eclipses
        if ref.step.type == "eclipse":
            eclipses = [*eclipses, (ref, int(self.p.options.interval[c]))]
        return self._battery_ok(used, eclipses)

    def _battery_ok(self, used_s: np.ndarray, eclipses: list[tuple[StepRef, int]]) -> bool:
        e, k0, k1 = self.e, self.k0, self.k1
        draw = e.compute_w * WH_PER_WS * (self.fixed_s + used_s)
        net = e.charge_wh - e.idle_wh - draw
        soc = simulate_soc_wh(e.capacity_wh, self.start_wh, net[k0:k1])
        if (soc < self.floor).any():
            return False
        carried = self.p.carry.soc_wh if self.p.carry else None

        def soc_at(k: int) -> float:
            return float(soc[k - k0]) if k >= k0 else float(carried[k])  # type: ignore[index]

        for ref, i in eclipses:
            iv = self.p.intervals[i]
            keep_wh = ref.step.min_soc * e.capacity_wh
            if soc_at(iv.b) < keep_wh - _EPS:
                return False
            idle_wh = float(e.idle_wh[iv.a : iv.b].sum())
            spent = float(draw[iv.a : iv.b].sum())
            if spent > ref.step.policy_share * (soc_at(iv.a) - keep_wh - idle_wh) + _EPS:
                return False
        return True

    def _place(self, ref: StepRef, c: int) -> None:
        o = self.p.options
        self.chosen.append(c)
        self.done[ref.index] = int(o.end[c])
        if ref.onboard:
            k, secs = self._seconds(c)
            self.used_s[k] += secs
            self.busy[k] = True
        if ref.step.type == "eclipse":
            self.eclipses.append((ref, int(o.interval[c])))
        if ref.step.type == "pass":
            self.last.add(c)
