"""Job outputs that go to ground as transfer demands, and ground steps timed by their downlinks.

Sequential decomposition (docs/compute.md, "Ground steps and downlink"): the compute MILP fixes
when each onboard output is ready; every output that feeds a ground step becomes a demand of the
sync optimiser (:func:`job_output_requests`), planned with the syncs in the same class stages;
:func:`time_ground_steps` then starts each ground step at the grid time after its inputs' last
downlinked byte, or reports it missed when an input is not downlinked in full.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rsmodel.model.compute_schema import Job
from rsmodel.model.scenario import Scenario, SyncRequest
from rsmodel.optimize.problem import Demand
from rsmodel.plan.events import make_event
from rsmodel.plan.plan import job_output_id
from rsmodel.timeutil import iso, parse_time

MB = 1e6  # bytes per MB (output_mb)


def ground_inputs(job: Job) -> set[str]:
    """Ids of the job's onboard steps whose output a ground step needs (sent to ground)."""
    onboard = {s.id for s in job.steps if s.location == "onboard"}
    return {d for s in job.steps if s.location == "ground" for d in s.depends_on if d in onboard}


def job_output_requests(scenario: Scenario, response: Mapping[str, Any]) -> list[SyncRequest]:
    """One transfer request per placed onboard output a ground step needs: id
    ``job:<job>/<step>``, size = merged output (MB x 1e6 bytes), release = when the output is
    final (the step's end), deadline = the job's deadline, priority = the job's ``priority``."""
    jobs = {j.name: j for j in scenario.model.jobs}
    out = []
    for entry in response["jobs"]:
        job = jobs[entry["name"]]
        needed = ground_inputs(job)
        deadline = None if entry["deadline"] is None else parse_time(entry["deadline"])
        for d in entry["placement_decisions"]:
            if d["step_id"] in needed and d["status"] == "placed" and d["output_mb"] > 0:
                out.append(
                    SyncRequest(
                        id=job_output_id(job.name, d["step_id"]),
                        node=d["node"],
                        data_size_bytes=float(d["output_mb"]) * MB,
                        priority=job.priority,
                        release=parse_time(d["end"]),
                        deadline=deadline,
                        data_type="job_output",
                    )
                )
    return out


def as_demands(requests: Sequence[SyncRequest]) -> list[Demand]:
    """The requests as the sync optimiser's demands (``kind="job_output"``)."""
    return [
        Demand(r.id, r.node, r.data_size_bytes, r.rank, r.release, r.deadline, "job_output")
        for r in requests
    ]


def time_ground_steps(
    scenario: Scenario, response: dict[str, Any], downlinks: Sequence[Mapping[str, Any]]
) -> None:
    """Re-time the ground steps of ``response`` (in place) from the final transfer plan's
    ``job_downlinks``: start at the first grid time after every input is down (and every ground
    input done); missed, with the reason, when an input is not downlinked in full or the step
    would end after the job deadline. Events, job status and warnings follow."""
    by_id = {d["id"]: d for d in downlinks}
    jobs = {j.name: j for j in scenario.model.jobs}
    for entry in response["jobs"]:
        job = jobs[entry["name"]]
        timing = _GroundTiming(scenario, response, entry, job, by_id)
        for step in job.steps:
            if step.location == "ground":
                timing.resolve(step.id)
        _job_status(entry)


class _GroundTiming:
    """Times the ground steps of one job in dependency order."""

    def __init__(
        self,
        scenario: Scenario,
        response: dict[str, Any],
        entry: dict[str, Any],
        job: Job,
        downlinks: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.scenario, self.response, self.entry, self.job = scenario, response, entry, job
        self.downlinks = downlinks
        self.decision = {d["step_id"]: d for d in entry["placement_decisions"]}
        self.steps = {s.id: s for s in job.steps}
        self.done: set[str] = set()

    def resolve(self, step_id: str) -> None:
        if step_id in self.done:
            return
        self.done.add(step_id)
        d, step = self.decision[step_id], self.steps[step_id]
        for dep in step.depends_on:
            if self.steps[dep].location == "ground":
                self.resolve(dep)
        if d["status"] != "placed":
            return
        ready, down_at, down_mb, why = self.inputs_ready(step.depends_on)
        if why is None:
            start = self.grid_ceil(ready)
            end = start + timedelta(seconds=float(d["duration_s"]))
            limit = self.deadline()
            if end > limit:
                why = (
                    f"inputs downlinked by {iso(ready)}; {d['duration_s']:g} s of ground compute "
                    f"would end at {iso(end)}, after the job deadline {iso(limit)}"
                )
        d["inputs_downlinked_mb"], d["inputs_downlinked_at"] = down_mb, down_at
        self.drop_events(step_id)
        if why is not None:
            self.miss(d, why)
            return
        d.update(ready=iso(ready), start=iso(start), end=iso(end))
        self.event(start, "step.started", step_id, location="ground", inputs_downlinked_at=down_at)
        self.event(end, "step.completed", step_id, output_mb=d["output_mb"], energy_wh=0.0)

    def inputs_ready(
        self, deps: Sequence[str]
    ) -> tuple[datetime, dict[str, str | None], dict[str, float], str | None]:
        """(latest input time, downlink completion per onboard input, MB downlinked per onboard
        input, why the step cannot run or None)."""
        ready, at, mb, why = self.scenario.start, {}, {}, None
        for dep in deps:
            dd = self.decision[dep]
            if dd["status"] != "placed":
                return ready, at, mb, f"depends on {dep}, which did not run before the deadline"
            if self.steps[dep].location == "ground" or dd["output_mb"] <= 0:
                ready = max(ready, parse_time(dd["end"]))
                continue
            down = self.downlinks[job_output_id(self.job.name, dep)]
            mb[dep], at[dep] = down["delivered_bytes"] / MB, down["completed_at"]
            if down["status"] != "complete":
                why = why or (
                    f"input {dep} downlink {down['status']}: {down['delivered_bytes'] / MB:.1f} of "
                    f"{down['data_size_bytes'] / MB:.1f} MB delivered ({down['reason']})"
                )
                continue
            ready = max(ready, parse_time(down["completed_at"]))
        return ready, at, mb, why

    def grid_ceil(self, t: datetime) -> datetime:
        step = self.scenario.step_s
        k = math.ceil((t - self.scenario.start).total_seconds() / step - 1e-9)
        return self.scenario.start + timedelta(seconds=k * step)

    def deadline(self) -> datetime:
        given = self.entry["deadline"]
        return self.scenario.end if given is None else min(parse_time(given), self.scenario.end)

    def drop_events(self, step_id: str) -> None:
        self.response["events"][:] = [
            e
            for e in self.response["events"]
            if not (e["job"] == self.job.name and e["step_id"] == step_id)
        ]

    def event(self, t: datetime, name: str, step_id: str, **details: Any) -> None:
        self.response["events"].append(
            make_event(t, name, details, job=self.job.name, step_id=step_id)
        )
        self.response["events"].sort(key=lambda e: e["time"])

    def miss(self, d: dict[str, Any], why: str) -> None:
        d.update(status="missed", ready=None, start=None, end=None, duration_s=0.0, reason=why)
        deadline = self.deadline()
        self.event(deadline, "step.deferred", d["step_id"], reason=why, deadline=iso(deadline))
        self.response["warnings"].append(f"job {self.job.name} step {d['step_id']} missed: {why}")


def _job_status(entry: dict[str, Any]) -> None:
    """complete / partial / unmet, completed_at and reason of a job from its decisions."""
    decisions = entry["placement_decisions"]
    missed = [d for d in decisions if d["status"] == "missed"]
    ends = [d["end"] for d in decisions if d["end"] is not None]
    entry["status"] = (
        "complete" if not missed else ("unmet" if len(missed) == len(decisions) else "partial")
    )
    entry["completed_at"] = max(ends, key=parse_time) if not missed and ends else None
    entry["reason"] = "; ".join(f"{d['step_id']}: {d['reason']}" for d in missed) or None
