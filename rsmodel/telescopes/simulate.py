"""Deterministic handover simulation of a telescope plan with injected FAULTED heartbeats.

An event loop over the plan (seed 001 "Instant Handover Re-Optimization"):

1. ``telescope.faulted`` — a FAULTED heartbeat; the telescope is down until it recovers.
2. ``track.failed`` — the track running there is marked failed at once, and so is every track
   due to start while it is down (each a failure outcome of that telescope).
3. ``handover.started`` + ``track.reassigned`` (mode ``handover``) — a telescope that sees the
   target at that moment (a handover window; the plan's backup first, then by reliability)
   takes over for the rest of the track, pre-empting deep-sky work if it must.
4. otherwise ``handover.unavailable`` then ``track.reassigned`` (mode ``next_acquisition``) —
   the next telescope to acquire the target is scheduled for the remaining time plus a buffer
   of ``backup_images`` x ``backup_image_s``; ``track.lost`` when nobody sees it again.

Completed tracks are success outcomes of their telescope. Outcomes update the reliability store
(:mod:`rsmodel.telescopes.reliability`), which the next plan reads.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from rsmodel.model.telescope_network import Fault
from rsmodel.plan.events import make_event
from rsmodel.telescopes.api import NetworkPlan
from rsmodel.telescopes.plan import assignments
from rsmodel.timeutil import iso

# Order of simultaneous events: a fault is seen before work ends, work ends before new work starts.
FAULT, RECOVER, END, START = 0, 1, 2, 3


@dataclass
class Segment:
    """A stretch of observing of one task by one telescope (seconds from the horizon start)."""

    task: int
    telescope: int
    start_s: float
    end_s: float
    origin: str  # planned | handover | next_acquisition
    backup: int | None = None
    status: str = "planned"  # planned | running | completed | failed | preempted


@dataclass
class SimulationResult:
    """Event log, per-task outcome and reliability before / after."""

    events: list[dict]
    tasks: list[dict]
    outcomes: list[tuple[str, bool]]
    reliability_before: dict[str, float]
    reliability_after: dict[str, float]
    segments: list[Segment] = field(repr=False, default_factory=list)


class HandoverSimulation:
    """Replays a :class:`NetworkPlan` with faults; see the module docstring."""

    def __init__(self, planned: NetworkPlan, faults: list[Fault]) -> None:
        self.p = planned
        self.inst = planned.instance
        self.net = planned.net
        self.faults = faults
        self.down: dict[int, list[tuple[float, float]]] = {}
        self.segments: list[Segment] = []
        self.events: list[dict] = []
        self.outcomes: list[tuple[str, bool]] = []
        self.queue: list[tuple[float, int, int, str, int]] = []
        self.seq = 0

    # ----------------------------------------------------------------- bookkeeping
    def _s(self, when: datetime) -> float:
        return (when - self.net.start).total_seconds()

    def _log(
        self,
        t_s: float,
        kind: str,
        seg: Segment | None = None,
        telescope: int | None = None,
        **details: object,
    ) -> None:
        """Append an event (rsmodel.plan.events): about a telescope and a task, with details."""
        tel = telescope if telescope is not None else (seg.telescope if seg else None)
        task = self.inst.tasks[seg.task] if seg is not None else None
        subject = {
            "telescope": None if tel is None else self.net.telescopes[tel].name,
            "task_id": None if task is None else task.id,
            "class": None if task is None else task.cls,
            "target": None if task is None else self.net.targets[task.target].name,
        }
        self.events.append(
            make_event(self.net.start + timedelta(seconds=float(t_s)), kind, details, **subject)
        )

    def _push(self, t_s: float, order: int, kind: str, ref: int) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (t_s, order, self.seq, kind, ref))

    def _add(self, seg: Segment) -> Segment:
        self.segments.append(seg)
        k = len(self.segments) - 1
        if seg.status == "planned":
            self._push(seg.start_s, START, "start", k)
        self._push(seg.end_s, END, "end", k)
        return seg

    def _is_down(self, tel: int, t_s: float) -> bool:
        return any(a <= t_s < b for a, b in self.down.get(tel, []))

    def _busy_critical(self, tel: int, t0: float, t1: float) -> bool:
        return any(
            s.telescope == tel
            and s.status in ("planned", "running")
            and s.start_s < t1
            and t0 < s.end_s
            and self.inst.tasks[s.task].cls != "deep_sky"
            for s in self.segments
        )

    # ----------------------------------------------------------------- the loop
    def run(self) -> SimulationResult:
        """Run the event loop to the end of the horizon."""
        before = self._scores()
        for a in assignments(self.inst, self.p.chosen):
            self._add(Segment(a.task, a.telescope, a.start_s, a.end_s, "planned", a.backup))
        for k, f in enumerate(self.faults):
            self._push(self._s(f.at), FAULT, "fault", k)
        while self.queue:
            t_s, _, _, kind, ref = heapq.heappop(self.queue)
            getattr(self, f"_on_{kind}")(t_s, ref)
        store = self.p.store
        for name, ok in self.outcomes:
            store.record(name, ok, self.net.settings.reliability_window)
        after = self._scores()
        for name in before:
            if before[name] != after[name]:
                self._log(
                    self.net.duration_s,
                    "reliability.updated",
                    telescope=self.net.telescope_index(name),
                    before=round(before[name], 4),
                    after=round(after[name], 4),
                )
        return SimulationResult(
            self.events, self._task_rows(), self.outcomes, before, after, self.segments
        )

    def _scores(self) -> dict[str, float]:
        scores = self.p.store.scores(self.net)
        return {t.name: float(s) for t, s in zip(self.net.telescopes, scores, strict=True)}

    def _on_start(self, t_s: float, k: int) -> None:
        seg = self.segments[k]
        if seg.status != "planned":
            return
        if self._is_down(seg.telescope, t_s):
            seg.status = "failed"
            self._log(t_s, "track.failed", seg, reason="telescope is down (FAULTED)")
            self.outcomes.append((self.net.telescopes[seg.telescope].name, False))
            self._recover(seg, t_s, seg.end_s - seg.start_s)
            return
        seg.status = "running"
        self._log(t_s, "track.started", seg, origin=seg.origin)

    def _on_end(self, t_s: float, k: int) -> None:
        seg = self.segments[k]
        if seg.status == "running":
            seg.status = "completed"
            self._log(t_s, "track.completed", seg, origin=seg.origin)
            self.outcomes.append((self.net.telescopes[seg.telescope].name, True))

    def _on_fault(self, t_s: float, k: int) -> None:
        fault = self.faults[k]
        tel = self.net.telescope_index(fault.telescope)
        until = self._s(fault.until)
        self.down.setdefault(tel, []).append((t_s, until))
        self._log(t_s, "telescope.faulted", telescope=tel, until=iso(fault.until))
        if until < self.net.duration_s:
            self._push(until, RECOVER, "recover", tel)
        for seg in [s for s in self.segments if s.telescope == tel and s.status == "running"]:
            seg.status = "failed"
            self._log(t_s, "track.failed", seg, reason="FAULTED heartbeat during the track")
            self.outcomes.append((fault.telescope, False))
            self._recover(seg, t_s, seg.end_s - t_s)

    def _on_recover(self, t_s: float, tel: int) -> None:
        self._log(t_s, "telescope.recovered", telescope=tel)

    # ----------------------------------------------------------------- handover
    def _recover(self, seg: Segment, t_s: float, remaining_s: float) -> None:
        task = self.inst.tasks[seg.task]
        if task.cls == "deep_sky":
            self._log(
                t_s,
                "task.deferred",
                seg,
                reason="deep sky is deferrable; frames not taken are re-planned later",
            )
            return
        if not self._handover(seg, t_s):
            self._log(
                t_s, "handover.unavailable", seg, reason="no other telescope sees the target now"
            )
            self._next_acquisition(seg, t_s, remaining_s)

    def _eligible(self, tel: int, cls: str) -> bool:
        return bool(self.inst.reliability[tel] >= getattr(self.net.settings.min_reliability, cls))

    def _handover(self, seg: Segment, t_s: float) -> bool:
        task = self.inst.tasks[seg.task]
        options = [
            w
            for w in self.inst.windows
            if w.target == task.target
            and w.telescope != seg.telescope
            and w.start_s <= t_s < w.end_s
            and not self._is_down(w.telescope, t_s)
            and self._eligible(w.telescope, task.cls)
            and not self._busy_critical(w.telescope, t_s, min(seg.end_s, w.end_s))
        ]
        if not options:
            return False
        w = min(
            options,
            key=lambda w: (
                w.telescope != seg.backup,
                -self.inst.reliability[w.telescope],
                w.telescope,
            ),
        )
        self._preempt_deep_sky(w.telescope, t_s)
        self._log(
            t_s,
            "handover.started",
            seg,
            from_telescope=self.net.telescopes[seg.telescope].name,
            to_telescope=self.net.telescopes[w.telescope].name,
            planned_backup=w.telescope == seg.backup,
        )
        new = Segment(
            seg.task, w.telescope, t_s, min(seg.end_s, w.end_s), "handover", status="running"
        )
        self._add(new)
        self._log(
            t_s,
            "track.reassigned",
            new,
            mode="handover",
            end=iso(self.net.start + timedelta(seconds=new.end_s)),
        )
        return True

    def _preempt_deep_sky(self, tel: int, t_s: float) -> None:
        for s in self.segments:
            if (
                s.telescope == tel
                and s.status == "running"
                and self.inst.tasks[s.task].cls == "deep_sky"
            ):
                s.status = "preempted"
                self._log(t_s, "track.preempted", s, reason="telescope taken over for a handover")

    def _next_acquisition(self, seg: Segment, t_s: float, remaining_s: float) -> None:
        task = self.inst.tasks[seg.task]
        settings = self.net.settings
        buffer_s = settings.backup_images * settings.backup_image_s
        options = []
        for w in self.inst.windows:
            start = max(w.start_s, t_s)
            end = min(
                w.end_s, start + remaining_s + buffer_s, task.due_s if task.cls == "too" else np.inf
            )
            if (
                w.target == task.target
                and end > start
                and self._eligible(w.telescope, task.cls)
                and not self._is_down(w.telescope, start)
                and not self._busy_critical(w.telescope, start, end)
            ):
                options.append((start, -self.inst.reliability[w.telescope], w.telescope, end))
        if not options:
            self._log(
                t_s,
                "track.lost",
                seg,
                reason="no telescope acquires the target again in the horizon",
            )
            return
        start, _, tel, end = min(options)
        new = self._add(Segment(seg.task, tel, start, end, "next_acquisition"))
        self._log(
            t_s,
            "track.reassigned",
            new,
            mode="next_acquisition",
            start=iso(self.net.start + timedelta(seconds=start)),
            end=iso(self.net.start + timedelta(seconds=end)),
            buffer_images=settings.backup_images,
            buffer_s=buffer_s,
        )

    def _task_rows(self) -> list[dict]:
        rows = []
        for t, task in enumerate(self.inst.tasks):
            segs = [s for s in self.segments if s.task == t]
            if not segs:
                continue
            done = [s for s in segs if s.status == "completed"]
            rows.append(
                {
                    "task_id": task.id,
                    "class": task.cls,
                    "planned_telescope": self.net.telescopes[segs[0].telescope].name,
                    "completed_by": sorted({self.net.telescopes[s.telescope].name for s in done}),
                    "status": "completed" if done else "failed",
                }
            )
        return rows


def simulate(
    planned: NetworkPlan, faults: list[Fault] | None = None, *, save: bool = True
) -> SimulationResult:
    """Simulate a plan with faults (default: the model's ``telescope_network.faults``) and
    update the reliability store (written atomically when ``save``)."""
    result = HandoverSimulation(planned, planned.net.faults if faults is None else faults).run()
    if save:
        planned.store.save(planned.net)
    return result
