"""Placement decisions, the seed 002 event stream and the plan's ``jobs`` / ``soc`` sections.

Everything here reads a :class:`~rsmodel.optimize.compute_solve.ComputeSolution`; nothing is
solved.
Event times are aware UTC ISO strings; energies Wh, sizes MB, durations s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rsmodel.model.compute_schema import TIERS
from rsmodel.optimize.compute_problem import ComputeProblem, Interval, StepRef, max_output_mb
from rsmodel.optimize.compute_solve import ComputeSolution
from rsmodel.optimize.energy import WH_PER_WS
from rsmodel.plan.events import make_event
from rsmodel.timeutil import iso

KIND_PREFIX = {
    "eclipse": "eclipse_step",
    "window": "window_step",
    "pass": "pass_step",
    "standard": "step",
}


def _t(p: ComputeProblem, seconds: float) -> str:
    return iso(p.time_at(seconds))


def _interval_entry(p: ComputeProblem, iv: Interval) -> dict[str, Any]:
    entry = {"kind": iv.kind, "id": iv.id, "start": _t(p, p.t_s[iv.a]), "end": _t(p, p.t_s[iv.b])}
    if iv.station is not None:
        entry["station"] = iv.station
    return entry


def _event(
    p: ComputeProblem, seconds: float, name: str, ref: StepRef, **details: Any
) -> dict[str, Any]:
    """A seed 002 event of step ``ref`` at ``seconds`` from the start (rsmodel.plan.events)."""
    return make_event(p.time_at(seconds), name, details, job=ref.job.name, step_id=ref.step.id)


class _Report:
    """Builds decisions and events step by step in DAG order."""

    def __init__(self, sol: ComputeSolution) -> None:
        self.sol, self.p = sol, sol.problem
        o = self.p.options
        self.by_step: dict[int, list[int]] = {r.index: [] for r in self.p.steps}
        for c in sorted(sol.chosen.tolist(), key=lambda c: o.start_s[c]):
            self.by_step[int(o.step[c])].append(c)
        self.end_s: dict[int, float] = {}
        self.decisions: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def ready_s(self, ref: StepRef) -> float:
        """When all predecessors are done, rounded up to the grid, s."""
        ends = [self.end_s.get(d, np.inf) for d in ref.preds]
        latest = max(ends, default=0.0)
        if not np.isfinite(latest):
            return np.inf
        return float(self.p.t_s[np.searchsorted(self.p.t_s, latest - 1e-6)])

    def run(self) -> None:
        for ref in _topological(self.p.steps):
            chosen = self.by_step[ref.index]
            if not chosen:
                self.missed(ref)
                continue
            handler = getattr(self, f"placed_{ref.step.type}")
            self.decisions.append(handler(ref, chosen))
        self.events.sort(key=lambda e: e["time"])

    # ---------------------------------------------------------------- common
    def base(self, ref: StepRef, chosen: list[int]) -> dict[str, Any]:
        o = self.p.options
        start, end = float(o.start_s[chosen[0]]), float(o.end_s[chosen[-1]])
        self.end_s[ref.index] = end
        return {
            "job": ref.job.name,
            "step_id": ref.step.id,
            "name": ref.step.name,
            "kind": ref.step.type,
            "location": ref.step.location,
            "node": ref.node.name,
            "status": "placed",
            "ready": _t(self.p, self.ready_s(ref)),
            "start": _t(self.p, start),
            "end": _t(self.p, end),
            "duration_s": float(sum(o.end_s[c] - o.start_s[c] for c in chosen)),
            "energy_wh": round(float(sum(o.energy_wh[c] for c in chosen)), 6),
            "output_mb": float(o.output_mb[chosen[-1]]),
            "depends_on": list(ref.step.depends_on),
            "interval": None,
            "quality_tier": None,
            "segments": None,
            "reason": None,
        }

    def missed(self, ref: StepRef) -> None:
        reason = self.p.reasons.get(ref.index) or self.missed_reason(ref)
        self.decisions.append(
            {
                "job": ref.job.name,
                "step_id": ref.step.id,
                "name": ref.step.name,
                "kind": ref.step.type,
                "location": ref.step.location,
                "node": ref.node.name,
                "status": "missed",
                "ready": None,
                "start": None,
                "end": None,
                "duration_s": 0.0,
                "energy_wh": 0.0,
                "output_mb": 0.0,
                "depends_on": list(ref.step.depends_on),
                "interval": None,
                "quality_tier": None,
                "segments": None,
                "reason": reason,
            }
        )
        deadline = min(ref.deadline_s, float(self.p.t_s[-1]))
        self.events.append(
            _event(
                self.p,
                deadline,
                f"{KIND_PREFIX[ref.step.type]}.deferred",
                ref,
                reason=reason,
                deadline=_t(self.p, ref.deadline_s if np.isfinite(ref.deadline_s) else deadline),
            )
        )

    def missed_reason(self, ref: StepRef) -> str:
        missing = [self.p.steps[d].step.id for d in ref.preds if d not in self.end_s]
        if missing:
            return f"depends on {', '.join(missing)}, which did not run before the deadline"
        if not ref.onboard:
            return "its inputs could not be downlinked and processed before the deadline"
        if ref.step.type == "eclipse":
            return "no eclipse before the deadline where the battery could afford it (policy share / min_battery_soc)"
        return "no room before the deadline (node busy with other steps, battery floor)"

    # ---------------------------------------------------------------- kinds
    def placed_standard(self, ref: StepRef, chosen: list[int]) -> dict[str, Any]:
        d = self.base(ref, chosen)
        if not ref.onboard:
            d["inputs_downlinked_mb"] = {
                self.p.steps[k].step.id: max_output_mb(self.p, self.p.steps[k])
                for k in ref.preds
                if self.p.steps[k].onboard
            }
        self.events.append(
            _event(
                self.p,
                self.p.options.start_s[chosen[0]],
                "step.started",
                ref,
                location=ref.step.location,
            )
        )
        self.events.append(
            _event(
                self.p,
                self.end_s[ref.index],
                "step.completed",
                ref,
                output_mb=d["output_mb"],
                energy_wh=d["energy_wh"],
            )
        )
        return d

    def placed_eclipse(self, ref: StepRef, chosen: list[int]) -> dict[str, Any]:
        p, o = self.p, self.p.options
        c = chosen[0]
        d = self.base(ref, chosen)
        iv = p.intervals[int(o.interval[c])]
        d["interval"] = _interval_entry(p, iv)
        ready = self.ready_s(ref)
        for other_index, other in enumerate(p.intervals):
            if (
                other.kind == "eclipse"
                and other.node == iv.node
                and p.t_s[other.b] > ready
                and other.a < iv.a
            ):
                check = self.energy_check(ref, other_index)
                why = (
                    check["reason"]
                    or "eclipse taken by other steps or too short after the step became ready"
                )
                self.events.append(
                    _event(
                        p,
                        p.t_s[other.a],
                        "eclipse_step.deferred",
                        ref,
                        eclipse=other.id,
                        reason=why,
                        **check["figures"],
                    )
                )
        check = self.energy_check(ref, int(o.interval[c]))
        d["energy_check"] = check["figures"]
        self.events.append(
            _event(
                p,
                min(p.t_s[iv.a], ready if np.isfinite(ready) else p.t_s[iv.a]),
                "eclipse_step.scheduled",
                ref,
                eclipse=iv.id,
                eclipse_start=_t(p, p.t_s[iv.a]),
                eclipse_end=_t(p, p.t_s[iv.b]),
            )
        )
        self.events.append(
            _event(
                p,
                p.t_s[iv.a],
                "eclipse_step.energy_check",
                ref,
                ok=check["reason"] is None,
                **check["figures"],
            )
        )
        self.events.append(_event(p, o.start_s[c], "eclipse_step.started", ref, eclipse=iv.id))
        self.events.append(
            _event(
                p,
                o.end_s[c],
                "eclipse_step.completed",
                ref,
                energy_wh=d["energy_wh"],
                energy_budget_wh=ref.step.energy_budget_wh,
                soc_after=self.soc_at(ref, o.end[c]),
            )
        )
        return d

    def soc_at(self, ref: StepRef, k: int) -> float:
        e = self.p.energy[ref.node.name]
        return round(float(self.sol.soc_wh[ref.node.name][k] / e.capacity_wh), 6)

    def energy_check(self, ref: StepRef, iv_index: int) -> dict[str, Any]:
        """Eclipse battery capacity and policy cap of ``ref`` in eclipse ``iv_index`` (final SOC)."""
        p, step = self.p, ref.step
        iv = p.intervals[iv_index]
        e = p.energy[ref.node.name]
        soc_entry = float(self.sol.soc_wh[ref.node.name][iv.a])
        idle = float(e.idle_wh[iv.a : iv.b].sum())
        capacity = soc_entry - step.min_soc * e.capacity_wh - idle
        cap = step.policy_share * max(capacity, 0.0)
        need = e.compute_w * step.duration_s * WH_PER_WS
        figures = {
            "soc_at_entry": round(soc_entry / e.capacity_wh, 6),
            "eclipse_capacity_wh": round(capacity, 6),
            "policy": step.eclipse_policy or "balanced",
            "policy_share": step.policy_share,
            "policy_cap_wh": round(cap, 6),
            "energy_wh": round(need, 6),
            "energy_budget_wh": step.energy_budget_wh,
            "min_battery_soc": step.min_soc,
        }
        reason = None
        if need > cap + 1e-9:
            reason = (
                f"battery: {need:.2f} Wh needed > {step.policy_share:.0%} of the eclipse battery capacity "
                f"{capacity:.2f} Wh = {cap:.2f} Wh"
            )
        return {"figures": figures, "reason": reason}

    def placed_window(self, ref: StepRef, chosen: list[int]) -> dict[str, Any]:
        p, o, step = self.p, self.p.options, ref.step
        c = chosen[0]
        d = self.base(ref, chosen)
        iv = p.intervals[int(o.interval[c])]
        ready = self.ready_s(ref)
        tier = TIERS[int(o.tier[c])]
        d["interval"] = _interval_entry(p, iv)
        d["quality_tier"] = tier
        remaining = float(p.t_s[iv.b] - max(p.t_s[iv.a], ready))
        d["remaining_s"] = remaining
        min_s = step.quality_tiers[step.tier_range()[0]].compute_s  # type: ignore[index]
        for other in p.intervals:
            if (
                other.kind == "sunlit"
                and other.node == iv.node
                and p.t_s[other.b] > ready
                and other.a < iv.a
            ):
                left = float(p.t_s[other.b] - max(p.t_s[other.a], ready))
                why = (
                    f"{left:.0f} s left in the window < min_tier {step.tier_range()[0]} needs {min_s:g} s"
                    if left < min_s
                    else "node busy with other steps in this window"
                )
                self.events.append(
                    _event(
                        p,
                        max(p.t_s[other.a], ready),
                        "window_step.deferred",
                        ref,
                        window=other.id,
                        remaining_s=left,
                        reason=why,
                    )
                )
        self.events.append(
            _event(
                p,
                max(p.t_s[iv.a], ready),
                "window_step.tier_selected",
                ref,
                tier=tier,
                window=iv.id,
                remaining_s=remaining,
                preferred_tier=step.preferred_tier,
                min_tier=step.min_tier or step.tier_range()[0],
                compute_s=float(o.end_s[c] - o.start_s[c]),
                output_mb=float(o.output_mb[c]),
            )
        )
        self.events.append(_event(p, o.start_s[c], "window_step.started", ref, tier=tier))
        self.events.append(
            _event(
                p,
                o.end_s[c],
                "window_step.completed",
                ref,
                tier=tier,
                output_mb=float(o.output_mb[c]),
            )
        )
        return d

    def placed_pass(self, ref: StepRef, chosen: list[int]) -> dict[str, Any]:
        p, o, step = self.p, self.p.options, ref.step
        d = self.base(ref, chosen)
        segments: list[dict[str, Any]] = []
        self.events.append(
            _event(
                p,
                o.start_s[chosen[0]],
                "pass_step.decomposed",
                ref,
                segments=len(chosen),
                max_segments=step.max_segments,
                min_pass_duration_s=step.min_pass_s,
                passes=[p.intervals[int(o.interval[c])].id for c in chosen],
            )
        )
        for i, c in enumerate(chosen):
            iv = p.intervals[int(o.interval[c])]
            segments.append(
                {
                    "index": i,
                    "pass": _interval_entry(p, iv),
                    "start": _t(p, o.start_s[c]),
                    "end": _t(p, o.end_s[c]),
                    "output_mb": float(o.output_mb[c]),
                    "energy_wh": round(float(o.energy_wh[c]), 6),
                }
            )
            self.events.append(
                _event(
                    p,
                    o.start_s[c],
                    "pass_step.segment_started",
                    ref,
                    segment=i,
                    pass_id=iv.id,
                    station=iv.station,
                )
            )
            self.events.append(
                _event(
                    p,
                    o.end_s[c],
                    "pass_step.segment_completed",
                    ref,
                    segment=i,
                    output_mb=float(o.output_mb[c]),
                )
            )
        merged = merged_output_mb(step.merge, [s["output_mb"] for s in segments])
        d["segments"], d["output_mb"], d["merge_strategy"] = segments, merged, step.merge
        d["final_at"] = d["end"]
        if step.merge == "latest":
            d["first_result_at"] = segments[0]["end"]
        self.events.append(
            _event(
                p,
                o.end_s[chosen[-1]],
                "pass_step.merged",
                ref,
                strategy=step.merge,
                merged_output_mb=merged,
                segments=len(segments),
            )
        )
        return d


def merged_output_mb(strategy: str, segment_outputs_mb: list[float]) -> float:
    """concat: all segments appended; reduce: one combined output; latest: the last segment's."""
    if not segment_outputs_mb:
        return 0.0
    if strategy == "concat":
        return float(sum(segment_outputs_mb))
    if strategy == "reduce":
        return float(max(segment_outputs_mb))
    return float(segment_outputs_mb[-1])


def _topological(steps: list[StepRef]) -> list[StepRef]:
    done: set[int] = set()
    out: list[StepRef] = []
    pending = list(steps)
    while pending:
        ready = [r for r in pending if all(d in done for d in r.preds)]
        for r in ready:
            done.add(r.index)
            out.append(r)
        pending = [r for r in pending if r.index not in done]
    return out


def jobs_report(sol: ComputeSolution) -> dict[str, Any]:
    """``{"placement_decisions", "events", "jobs", "soc", "solver", "warnings"}`` of a solution."""
    rep = _Report(sol)
    rep.run()
    p = sol.problem
    times = [_t(p, s) for s in p.t_s]
    soc = {}
    for name, e in p.energy.items():
        soc[name] = {
            "times": times,
            "soc": np.round(sol.soc_wh[name] / e.capacity_wh, 6).tolist(),
            "min_soc": e.floor_soc,
            "capacity_wh": e.capacity_wh,
            "sunlit": e.sunlit.astype(int).tolist(),
        }
    jobs = []
    for job in {r.job.name: r.job for r in p.steps}.values():
        ref = next(r for r in p.steps if r.job is job)
        decisions = [d for d in rep.decisions if d["job"] == job.name]
        ends = [d["end"] for d in decisions if d["end"] is not None]
        missed = [d for d in decisions if d["status"] == "missed"]
        deadline = _t(p, ref.deadline_s) if np.isfinite(ref.deadline_s) else None
        jobs.append(
            {
                "name": job.name,
                "node": ref.node.name,
                "policy": job.policy.model_dump(),
                "deadline": deadline,
                "status": "complete"
                if not missed
                else ("unmet" if len(missed) == len(decisions) else "partial"),
                "completed_at": max(ends) if not missed and ends else None,
                "reason": "; ".join(f"{d['step_id']}: {d['reason']}" for d in missed) or None,
                "intervals": [
                    _interval_entry(p, iv) for iv in p.intervals if iv.node == ref.node.name
                ],
                "placement_decisions": decisions,
            }
        )
    return {
        "placement_decisions": rep.decisions,
        "events": rep.events,
        "jobs": jobs,
        "soc": soc,
        "solver": {
            "method": p.settings.method,
            "strategy": sol.strategy,
            "strategy_reason": sol.strategy_reason,
            "notes": list(sol.notes),
            "status": str(sol.status),
            "objective": sol.objective,
            "mip_gap": sol.mip_gap,
            "stages": [s.as_dict() for s in sol.stages],
            "build_s": round(sol.build_s, 3),
            "solve_s": round(sol.solve_s, 3),
            "options": int(len(p.options.step)),
        },
        "warnings": list(p.warnings),
    }


TIMINGS = ("build_s", "solve_s")  # wall-clock fields of a response's ``solver`` and its stages


def without_timings(response: dict[str, Any]) -> dict[str, Any]:
    """``response`` (:func:`jobs_report`) minus its wall-clock timings, in ``solver`` and in each
    of ``solver.stages``: what two plans of the same request agree on."""
    solver = {k: v for k, v in response.get("solver", {}).items() if k not in TIMINGS}
    if "stages" in solver:
        solver["stages"] = [
            {k: v for k, v in stage.items() if k not in TIMINGS} for stage in solver["stages"]
        ]
    return {**response, "solver": solver}
