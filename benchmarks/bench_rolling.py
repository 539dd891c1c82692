"""Scale benchmark: rolling-horizon decomposition vs greedy and the monolithic staged MILP.

Run: ``python benchmarks/bench_rolling.py`` (about 15 minutes; ``--quick``: every row on small
instances with time limits of at most 5 s, about a minute).

Instances (benchmarks/instances.py, deterministic):
  7d        100 nodes (real TLEs) x 10 stations x 7 days x 2000 syncs of 3-60 GB: a contended
            week (demand ~21 % of the time some node sees each station, x its rate)
  7d-light  the same with 1-20 GB syncs (~7 %): almost everything fits, greedy is near optimal
  500       500 nodes (167 real TLEs + 333 element-defined orbits) x 20 stations x 24 h x 5000
            syncs of 1-20 GB (~68 %)

Each row runs in its own process (peak RSS is that process's) and includes geometry, problem
build, solve, the global bound and the independent checker. Columns: wall s; F = summed class
objective (``solver.objective``, lower is better); ``vs greedy`` = 1 - F / F_greedy of the same
instance; critical = the critical class objective (compared first); bound and gap =
``solver.bound`` / ``solver.gap_global`` (stage-conditional coarse-LP bound,
docs/optimisation-scale.md); checker = violations found by rsmodel.plan.check.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import replace

from child import bench_parser, run_json

INSTANCES = {
    "7d": dict(n_nodes=100, n_stations=10, hours=168, n_syncs=2000, size_gb=(3.0, 60.0)),
    "7d-light": dict(n_nodes=100, n_stations=10, hours=168, n_syncs=2000, size_gb=(1.0, 20.0)),
    "500": dict(n_nodes=500, n_stations=20, hours=24, n_syncs=5000),
}
QUICK_INSTANCES = {  # --quick: the same mix, small (170 nodes: 3 element-defined orbits)
    "7d": dict(n_nodes=6, n_stations=2, hours=36, n_syncs=40, size_gb=(3.0, 60.0)),
    "7d-light": dict(n_nodes=6, n_stations=2, hours=36, n_syncs=40, size_gb=(1.0, 20.0)),
    "500": dict(n_nodes=170, n_stations=2, hours=24, n_syncs=100),
}
QUICK_LIMIT_S = 5.0
RUNS = [  # (instance, label, method, strategy, time limit s)
    ("7d", "greedy", "greedy", "monolithic", 270.0),
    ("7d", "monolithic (capped)", "milp", "monolithic", 180.0),
    ("7d", "rolling", "milp", "rolling", 270.0),
    ("7d-light", "greedy", "greedy", "monolithic", 270.0),
    ("7d-light", "rolling", "milp", "rolling", 270.0),
    ("500", "greedy", "greedy", "monolithic", 240.0),
    ("500", "auto", "milp", "auto", 240.0),
]


def run_one(instance: dict, method: str, strategy: str, time_limit_s: float) -> dict:
    """Geometry -> problem -> solve (+ bound) -> checker of the ``instance`` (constellation
    arguments), in this process."""
    from instances import constellation

    from rsmodel.geometry import compute_geometry
    from rsmodel.optimize import problem_from_scenario
    from rsmodel.optimize.auto import solve_auto
    from rsmodel.plan.check import check_plan

    t0 = time.perf_counter()
    scenario = constellation(**instance, time_limit_s=time_limit_s, strategy=strategy)
    geometry = compute_geometry(scenario)
    geometry = replace(geometry, arrays=None)  # the optimiser needs the windows only
    problem = problem_from_scenario(scenario, geometry, method=method)
    problem.settings = replace(problem.settings, time_limit_s=time_limit_s)
    schedule = solve_auto(problem)
    wall = time.perf_counter() - t0
    violations = check_plan(schedule.plan_dict())
    s = schedule.solver
    return {
        "load": station_load(problem),
        "wall_s": wall,
        "objective": s.objective,
        "critical": _critical(problem, schedule),
        "bound": s.bound,
        "gap": s.gap_global,
        "status": s.status,
        "strategy": s.strategy,
        "violations": len(violations),
        "pairs": len(problem.pair_demand),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "notes": s.notes,
    }


def station_load(problem) -> float:
    """Demand bytes / sum over stations of (time some node is in one of its windows x antennas
    x rate): how much of the stations' usable time the syncs would fill."""
    import numpy as np

    w = problem.windows
    capacity = 0.0
    for spec in problem.stations:
        rows = w[w["station"] == spec.name].sort_values("start")
        if rows.empty:
            continue
        t0 = (rows["start"] - problem.start).dt.total_seconds().to_numpy()
        t1 = (rows["end"] - problem.start).dt.total_seconds().to_numpy()
        reach = np.maximum.accumulate(t1)
        new = np.r_[True, t0[1:] > reach[:-1]]  # a gap before this window: a new busy span
        span_start, span_end = t0[new], reach[np.r_[np.flatnonzero(new)[1:] - 1, len(t0) - 1]]
        rate = float(rows["bandwidth_bps"].iloc[0]) / 8.0
        capacity += float((span_end - span_start).sum()) * spec.antennas * rate
    return float(problem.demand_size.sum() / max(capacity, 1.0))


def _critical(problem, schedule) -> float:
    from rsmodel.optimize.objective import class_scores

    return float(class_scores(problem, schedule.state)[0])


def main() -> None:
    parser = bench_parser(__doc__, "every row on 6-170 node instances of 24-36 h, limits <= 5 s")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    instances = QUICK_INSTANCES if args.quick else INSTANCES
    if args.one:
        name, method, strategy, limit = args.one
        print(json.dumps(run_one(instances[name], method, strategy, float(limit))))
        return
    runs = [(*r[:4], min(r[4], QUICK_LIMIT_S)) for r in RUNS] if args.quick else RUNS
    for name, size in instances.items():
        print(f"{name}: {', '.join(f'{k}={v}' for k, v in size.items())}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores shared)")
    rows, greedy_f = [], {}
    for instance, label, method, strategy, limit in runs:
        quick = ["--quick"] if args.quick else []
        r = run_json(__file__, *quick, "--one", instance, method, strategy, str(limit))
        if label == "greedy":
            greedy_f[instance] = r["objective"]
        rows.append((instance, label, limit, r))
        print(f"  done {instance} {label}: {r['wall_s']:.0f} s", file=sys.stderr)
    header = (
        f"{'instance':8} {'load':>5} {'run':20} {'limit s':>7} {'wall s':>7} {'F':>10} {'vs greedy':>9} "
        f"{'critical':>9} {'bound':>10} {'gap':>7} {'checker':>7} {'peak MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    for instance, label, limit, r in rows:
        better = 1.0 - r["objective"] / greedy_f[instance] if instance in greedy_f else float("nan")
        print(
            f"{instance:8} {100 * r['load']:4.0f}% {label:20} {limit:7.0f} {r['wall_s']:7.1f} "
            f"{r['objective']:10.5g} "
            f"{100 * better:8.2f}% {r['critical']:9.5g} {r['bound']:10.5g} "
            f"{100 * r['gap']:6.2f}% {r['violations']:7d} {r['peak_mib']:8.0f}"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    for instance, label, _, r in rows:
        print(f"\n{instance} {label} ({r['strategy']}, {r['status']}, {r['pairs']} pairs):")
        for note in r["notes"]:
            print(f"  - {note}")


if __name__ == "__main__":
    main()
