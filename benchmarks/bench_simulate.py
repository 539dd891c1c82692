"""Recovery benchmark: time from a fault to a new valid plan, vs a full re-solve from scratch.

Run: ``python benchmarks/bench_simulate.py`` (about 3 minutes on 2 cores; ``--quick`` runs the
seed model only, seconds).

For models/seed_sync.yaml (target < 1 s) and models/constellation.yaml (100 nodes, target
< 10 s): plan the day with the greedy dispatcher, play it to the fault time (seed +1 h, constellation +6 h),
then take the busiest station down for 4 h, unannounced. Measured, each in the same run:

- ``greedy``: the simulator's continuous-time greedy re-plan of the residual problem;
- ``recovery``: ``RecoveryPlanner`` (the optimiser on the residual within the budget, greedy
  when it predicts a miss) with the scenario's budget (1 s / 10 s);
- ``full re-solve``: the optimiser (the model's ``solver:`` settings, MILP) on the same residual
  problem from scratch, with no budget — the baseline.

"valid" = the executed past plus the new plan pass the independent plan checker
(rsmodel.plan.check; priority findings aside, which the simulator reports separately). Also
printed: bytes planned for the rest of the day by priority class.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from child import bench_parser

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model
from rsmodel.plan.check import check_plan
from rsmodel.simulate import Simulator
from rsmodel.simulate.faults import FaultPlan, Outage
from rsmodel.simulate.recovery import RecoveryPlanner
from rsmodel.simulate.residual import dispatch

ROOT = Path(__file__).resolve().parents[1]
# model, re-plan budget (s), fault time (s from the start: while its data is still moving)
CASES = [("seed_sync.yaml", 1.0, 3600.0), ("constellation.yaml", 10.0, 6 * 3600.0)]
OUTAGE_S = 4 * 3600.0
CLASSES = ("critical", "high", "normal", "low")


class FullResolve(RecoveryPlanner):
    """The optimiser on the residual problem with the model's own time limit (no budget)."""

    def __call__(self, residual):  # type: ignore[override]
        self.method = "full re-solve"
        from rsmodel.simulate.recovery import free_links

        return self._optimise(residual, free_links(residual))


def measure(scenario, geo, initial, planner, outage: Outage) -> dict:
    """Play ``initial`` to the fault; return the re-plan's wall time, validity and bytes."""
    from rsmodel.simulate.accounting import base_plan, executed_plan

    sim = Simulator(
        scenario, geo.windows, initial, faults=FaultPlan(station_outages=[outage]), planner=planner
    )
    sim.run_until(outage.start_s)
    replan = next(r for r in sim.replans if r["time_s"] >= outage.start_s)
    plan = executed_plan(sim, base_plan(scenario, geo.windows), with_planned=True)
    problems = [p for p in check_plan(plan) if not p.startswith("priority")]
    prio = {s.id: s.priority for s in sim.syncs.values()}
    planned = dict.fromkeys(CLASSES, 0.0)
    for op in sim.planned_operations():
        planned[prio[op.sync_id]] += op.bytes
    return {
        "wall_s": replan["wall_s"],
        "method": replan["method"],
        "valid": not problems,
        "problems": problems[:2],
        "planned": planned,
    }


def run_case(model: str, budget_s: float, fault_at_s: float) -> list[tuple]:
    scenario = load_model(ROOT / "models" / model)
    geo = compute_geometry(scenario)
    initial = dispatch(Simulator(scenario, geo.windows, [], planner=dispatch).residual())
    busiest = geo.windows.station.value_counts().index[0]
    outage = Outage(busiest, fault_at_s, fault_at_s + OUTAGE_S)
    rows = []
    measure(
        scenario, geo, initial, RecoveryPlanner(scenario, budget_s), outage
    )  # warm-up (imports, caches)
    full_settings = scenario.model.solver
    baseline = measure(
        scenario,
        geo,
        initial,
        FullResolve(scenario, budget_s=full_settings.time_limit_s / 0.6),
        outage,
    )
    for name, planner in [
        ("greedy", dispatch),
        ("recovery", RecoveryPlanner(scenario, budget_s)),
        ("full re-solve", None),
    ]:
        r = baseline if planner is None else measure(scenario, geo, initial, planner, outage)
        rows.append((model, name, r, budget_s, baseline["wall_s"]))
    return rows


def main() -> int:
    args = bench_parser(__doc__, "the seed model only (same rows and checks)").parse_args()
    warnings.filterwarnings("ignore", module="skyfield_data")
    cases = CASES[:1] if args.quick else CASES
    print(f"Fault: the busiest station goes down for {OUTAGE_S / 3600:g} h, unannounced")
    head = f"{'model':20} {'re-plan':14} {'wall s':>8} {'vs full':>8} {'target':>7} {'valid':>6}  planned GB c/h/n/l   method"
    print(head)
    print("-" * len(head))
    for model, budget, fault_at_s in cases:
        t0 = time.perf_counter()
        for model_, name, r, target, base_s in run_case(model, budget, fault_at_s):
            gb = "/".join(f"{r['planned'][c] / 1e9:.1f}" for c in CLASSES)
            ratio = r["wall_s"] / base_s if base_s > 0 else float("nan")
            ok = "yes" if r["valid"] else "NO"
            meets = (
                ""
                if name == "full re-solve"
                else ("<" if r["wall_s"] < target else ">") + f"{target:g}s"
            )
            print(
                f"{model_:20} {name:14} {r['wall_s']:8.3f} {ratio:8.3f} {meets:>7} {ok:>6}  {gb:19}  {r['method']}"
            )
            for p in r["problems"]:
                print(f"    problem: {p}")
        print(
            f"  ({model}: fault at +{fault_at_s / 3600:g} h; {time.perf_counter() - t0:.0f} s in all)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
