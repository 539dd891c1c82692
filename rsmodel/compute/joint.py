"""A scenario's jobs and their downlinks, decomposed or joint (``solver.compute_downlink``).

``decomposed`` (default): the compute MILP alone, then its outputs that go to ground are transfer
demands and its energy a fixed draw of the sync stages (docs/compute.md, "Ground steps and
downlink"). ``joint``: the same compute-only plan is the MIP start of the class stages with the
compute block in each (:mod:`rsmodel.optimize.joint`); the plan is then rebuilt on the job-output
demands as placed. A joint stage without a MILP solution in time, a decomposed plan that scores
strictly better, or a joint plan the plan checker rejects keeps the decomposed plan. Only the
plan kept gets its bound LPs, after the joint stages (docs/compute.md, "Time limit").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from rsmodel.compute.downlink import MB, as_demands, ground_inputs, job_output_requests
from rsmodel.compute.energy import planned_compute_wh
from rsmodel.compute.report import jobs_report
from rsmodel.model.scenario import Scenario, SyncRequest
from rsmodel.model.vocabulary import PRIORITY_RANK
from rsmodel.optimize.auto import solve_auto, solve_unbounded, sync_problem
from rsmodel.optimize.bound import BOUND_TIME_FRACTION, attach_bound
from rsmodel.optimize.compute_problem import ComputeProblem, max_output_mb
from rsmodel.optimize.compute_solve import ComputeSolution
from rsmodel.optimize.deadline import budget_s
from rsmodel.optimize.joint import JobOutput, carry_over, solve_joint
from rsmodel.optimize.joint_rolling import joint_strategy, solve_joint_rolling
from rsmodel.optimize.model import STAGE_BLOCKS
from rsmodel.optimize.objective import class_scores, total_objective
from rsmodel.optimize.problem import Demand, Problem, problem_from_scenario
from rsmodel.optimize.recorder import onboard_blocks
from rsmodel.optimize.schedule import Schedule, SolverStats, build_schedule
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveStatus
from rsmodel.optimize.strategy import keep_better
from rsmodel.plan.plan import job_output_id

JOINT_REASON = "solver.compute_downlink joint: compute, downlinks, recorder and battery in one model per class stage"
COMPUTE_SHARE = 0.5  # of a plan's time limit: the compute solve's deadline (docs/compute.md)
ASSEMBLY_SHARE = {"monolithic": 0.03, "rolling": 0.06}  # of a plan's limit by its compute
# strategy, kept for building it after the solves (timeline, events, checks): 0.6 s of the
# fleet day's 30 s, 7.4 s of the fleet week's 120 s (bench_joint.py --fleet)
JOINT_SHARE = 0.25  # joint: of the stages' time (what is left after the compute solve, less the
# bound LPs' BOUND_TIME_FRACTION), 1 - this to the decomposed stages (solved first: the joint
# stages' MIP start), the rest to the joint stages
FALLBACK_NOTE = (
    "joint compute + downlink model: a stage found no solution in time, or the rolling blocks "
    "left could not end within the limit; decomposed plan kept"
)


@dataclass
class PlannedJobs:
    """The jobs' response (:func:`rsmodel.compute.plan_jobs` shape), their outputs that go to
    ground as transfer requests, and the transfer schedule (syncs and outputs)."""

    response: dict[str, Any]
    outputs: list[SyncRequest]
    schedule: Schedule
    mode: str  # the plan kept: "joint" or "decomposed"


def plan_jobs_and_downlinks(
    scenario: Scenario,
    geometry: Any,
    *,
    mode: str | None = None,
    check: Callable[[PlannedJobs], list[str]] | None = None,
) -> PlannedJobs:
    """Plan the jobs and all transfers of ``scenario`` (``mode`` overrides
    ``solver.compute_downlink``). ``joint`` plans both ways and keeps the joint plan unless the
    decomposed one scores strictly better (class objectives on the joint model's transfer
    problem, critical first: :func:`rsmodel.optimize.strategy.keep_better`), places more
    steps (a rolling block may spend on downlinks the energy a later block's step needed) or
    ``check`` finds faults in the joint plan (the plan checker's findings on the plan it makes,
    :func:`rsmodel.pipeline.findings`); a solver note gives both and why."""
    from rsmodel.compute import solve_jobs

    t0 = time.perf_counter()
    limit = float(scenario.model.solver.time_limit_s)
    stop = t0 + limit  # the plan's one deadline (docs/compute.md, "Time limit")
    mode = mode or scenario.model.solver.compute_downlink
    first = solve_jobs(scenario, geometry, stop_at=t0 + COMPUTE_SHARE * limit)
    stop -= ASSEMBLY_SHARE[first.strategy] * limit  # building the plan takes time too
    response = jobs_report(first)
    outputs = job_output_requests(scenario, response)
    problem = sync_problem(
        scenario,
        geometry,
        extra_demands=as_demands(outputs),
        planned_wh=planned_compute_wh(scenario, response),
    )
    if mode != "joint" or scenario.model.solver.method != "milp":
        schedule = solve_auto(problem, time_limit_s=budget_s(limit, stop))
        return decomposed_plan(response, outputs, schedule, first, limit)
    left = budget_s(limit, stop)
    bound_from = stop - BOUND_TIME_FRACTION * left  # the bound LPs of the plan kept, from here
    solve_s = (1 - JOINT_SHARE) * (1 - BOUND_TIME_FRACTION) * left
    pending = solve_unbounded(problem, solve_s=solve_s, worker_s=left)
    try:
        decomposed = decomposed_plan(response, outputs, pending.schedule, first, limit)
        joint = plan_joint(
            scenario,
            geometry,
            first,
            time_limit_s=budget_s(limit, bound_from),
            start=decomposed.schedule.state,
            threads=pending.problem.settings.threads,
        )
        kept, why = keep_joint_or_decomposed(first, decomposed, joint, limit, check)
        if kept is decomposed:
            pending.attach_bound(budget_s(limit, stop))
        else:
            pending.close()
            attach_bound(
                joint.yardstick,
                joint.bounded,
                budget_s(limit, stop),
                stage_blocks=relaxed_stage_blocks(joint.yardstick),
            )
    finally:
        pending.close()
    kept.schedule.solver.notes.append(why)
    return kept


def decomposed_plan(
    response: dict[str, Any],
    outputs: list[SyncRequest],
    schedule: Schedule,
    first: ComputeSolution,
    limit_s: float,
) -> PlannedJobs:
    """The decomposed plan of ``schedule``, its stats stating the compute solve's limit."""
    state_compute_limit(schedule.solver, first)
    schedule.solver.time_limit_s = limit_s
    return PlannedJobs(response, outputs, schedule, "decomposed")


def keep_joint_or_decomposed(
    first: ComputeSolution,
    decomposed: PlannedJobs,
    joint: JointPlan | None,
    limit_s: float,
    check: Callable[[PlannedJobs], list[str]] | None,
) -> tuple[PlannedJobs, str]:
    """``joint``'s plan, or ``decomposed`` (its MIP start) when the joint plan has no solution,
    scores worse, places fewer steps or fails ``check`` (:func:`plan_jobs_and_downlinks`), and
    a note saying which and why."""
    if joint is None:
        return decomposed, FALLBACK_NOTE
    planned, yardstick = joint.planned, joint.yardstick
    scores = [
        class_scores(yardstick, carry_over(p.schedule.state, yardstick))
        for p in (planned, decomposed)
    ]
    placed = [steps_placed(p.response) for p in (planned, decomposed)]
    fewer = placed[0] < placed[1]
    kept = decomposed if fewer or keep_better(scores[0], scores[1]) else planned
    state_compute_limit(planned.schedule.solver, first)
    planned.schedule.solver.time_limit_s = limit_s
    faults = check(planned) if kept is planned and check is not None else []
    if faults:
        kept = decomposed
    return kept, (
        f"joint compute + downlink model: F {sum(scores[0]):.6g} joint, {sum(scores[1]):.6g} "
        f"decomposed (class objectives on the joint transfer problem); steps placed "
        f"{placed[0]} joint, {placed[1]} decomposed; "
        + (
            f"the joint plan fails the plan checker ({len(faults)}: {faults[0]}); "
            if faults
            else ""
        )
        + f"{kept.mode} plan kept"
    )


def state_compute_limit(stats: SolverStats, first: ComputeSolution) -> None:
    """A plan whose compute solve the deadline cut says so: status ``time_limit`` (the nodes'
    greedy or incumbent plans kept, each with its gap in ``solver.jobs.stages``)."""
    if first.status != SolveStatus.TIME_LIMIT:
        return
    cut = [s for s in first.stages if s.status == SolveStatus.TIME_LIMIT]
    gaps = [s.mip_gap for s in cut if s.mip_gap is not None]
    stats.status = SolveStatus.TIME_LIMIT
    stats.notes.append(
        f"compute solve stopped by the plan's time limit on {len(cut)} of {len(first.stages)} "
        "nodes/blocks (their greedy or incumbent plans kept"
        + (f", largest stated gap {max(gaps):.2%})" if gaps else ")")
    )


def steps_placed(response: dict[str, Any]) -> int:
    """Steps a jobs response places."""
    return sum(d["status"] == "placed" for d in response["placement_decisions"])


def joint_problem(
    scenario: Scenario, geometry: Any, cp: ComputeProblem
) -> tuple[Problem, list[JobOutput]]:
    """The transfer problem of the joint model: the syncs (and sources) plus one demand per
    onboard step whose output a ground step needs, released at the step's earliest possible end
    and sized by its largest possible output (:mod:`rsmodel.optimize.joint` bounds both by the
    placement)."""
    problem = problem_from_scenario(scenario, geometry)
    demands, steps = [], []
    for ref in cp.steps:
        opts = cp.options.step == ref.index
        most = max_output_mb(cp, ref)
        if ref.step.id not in ground_inputs(ref.job) or not opts.any() or most <= 0:
            continue
        demands.append(
            Demand(
                job_output_id(ref.job.name, ref.step.id),
                ref.node.name,
                most * MB,
                PRIORITY_RANK[ref.job.priority],
                cp.time_at(float(cp.options.end_s[opts].min())),
                cp.time_at(ref.deadline_s),
                "job_output",
            )
        )
        steps.append(ref.index)
    base = len(problem.demands)
    outputs = [JobOutput(base + i, s) for i, s in enumerate(steps)]
    return problem.with_demands([*problem.demands, *demands]), outputs


def plan_joint(
    scenario: Scenario,
    geometry: Any,
    first: ComputeSolution,
    *,
    time_limit_s: float | None = None,
    start: LinkState | None = None,
    threads: int | None = None,
) -> JointPlan | None:
    """The joint plan from the compute-only plan ``first`` (None: a stage had no solution, or
    rolling blocks could not end in time), its stages solved in ``time_limit_s`` (default
    ``solver.time_limit_s``; no bound LPs: the caller attaches them to the plan it keeps). ``start``: the decomposed plan's allocation (on
    ``first``), each stage's MIP start when it beats greedy; ``threads``: HiGHS threads
    (default ``solver.threads``)."""
    problem, outputs = joint_problem(scenario, geometry, first.problem)
    hint = None if start is None else carry_over(start, problem).pair_bytes
    choice = joint_strategy(problem, first.problem)  # by the model's limit, as the decomposed
    limit = problem.settings.time_limit_s if time_limit_s is None else time_limit_s
    threads = problem.settings.threads if threads is None else threads
    problem.settings = replace(problem.settings, time_limit_s=limit, threads=threads)
    if choice.strategy == "rolling":
        result = solve_joint_rolling(problem, first.problem, outputs, hint)
    else:
        result = solve_joint(problem, first.problem, outputs, first, hint)
    if result is None:
        return None
    response = jobs_report(result.compute)
    requests = job_output_requests(scenario, response)
    final = problem_from_scenario(
        scenario, geometry, planned_wh=planned_compute_wh(scenario, response)
    )
    final = final.with_demands([*final.demands, *as_demands(requests)])
    state = carry_over(result.state, final)
    stats = result.stats
    stats.time_limit_s = limit
    stats.strategy, stats.strategy_reason = choice.strategy, f"{JOINT_REASON}; {choice.reason}"
    stats.notes.append(
        "joint: objective, bound and gap_global on the joint transfer problem (job outputs "
        f"released at their earliest end, sized by their largest output); as placed F = "
        f"{total_objective(final, state):.6g}"
    )
    planned = PlannedJobs(response, requests, build_schedule(state, stats), "joint")
    return JointPlan(planned, problem, Bounded(result.state, stats))


def relaxed_stage_blocks(problem: Problem) -> tuple:
    """The stage-model blocks whose LP relaxation bounds the joint plan's classes on the joint
    transfer problem (:class:`Bounded`): the sync stage's and the transmitter's on the battery
    without compute (``problem`` has no compute draw), and the recorders without the job
    outputs (each enters its recorder when its step ends in the joint model)."""
    outputs = [i for i, d in enumerate(problem.demands) if d.kind == "job_output"]
    return (*STAGE_BLOCKS, *onboard_blocks(problem, leaving_out=outputs))


@dataclass
class JointPlan:
    """The joint plan (``planned``, on the job outputs as placed), the joint transfer problem
    it was solved on (``yardstick``: the plans are compared there) and its allocation there
    (``bounded``: what the bound LPs bound, :class:`Bounded`)."""

    planned: PlannedJobs
    yardstick: Problem
    bounded: Bounded


@dataclass
class Bounded:
    """A joint allocation on the joint transfer problem and its solver figures, for
    :func:`rsmodel.optimize.bound.attach_bound`.

    Why that bound holds for the joint plan: the joint problem's job-output demands are
    released at their step's earliest possible end and sized by its largest output, and the
    coarse bound LPs leave energy and recorder capacity out; the stage-model LPs
    (:func:`relaxed_stage_blocks`) keep the battery without compute draw and the recorders
    without job outputs. The joint model only adds to that (the compute draw, which only
    lowers the SOC; each output entering its recorder when its step ends, which only raises
    the fill; bytes after the step's actual end and at most its actual output), so every joint
    plan's allocation is a feasible point of each class LP (given the classes above, as for
    syncs) and its class objective is at least the LP's."""

    state: LinkState
    solver: SolverStats
