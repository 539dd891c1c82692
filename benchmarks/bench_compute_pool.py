"""Benchmark of parallel node solves: the compute MILPs of independent nodes one after the other vs in worker processes.

    python benchmarks/bench_compute_pool.py [--sats 20] [--steps 10] [--threads 2] [--time-limit-s 120] [--quick]

The instance is bench_compute.py's ``N sats x M steps, 24 h`` fleet (one mixed-DAG job per
satellite). The same problem is solved twice in this process with ``solver.threads =
--threads``: sequential (``solve_compute(workers=1)``: one node at a time, HiGHS with all the
threads) and parallel (the default: ``compute_pool.pool_workers`` processes, the threads shared
among them). Prints wall, summed Pyomo build and HiGHS seconds, status, steps placed, objective,
whether the two plans are the same, the ratio parallel / sequential, and the load average (the
machine may be shared). ``--quick``: 2 satellites x 2 steps, 10 s per node.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import replace
from typing import Any

from bench_compute import ROOT, fleet
from child import bench_parser

FULL = dict(sats=20, steps=10, time_limit_s=120.0)
QUICK = dict(sats=2, steps=2, time_limit_s=10.0)


def solve(problem: Any, workers: int | None) -> dict[str, Any]:
    from rsmodel.compute.report import jobs_report
    from rsmodel.optimize.compute_solve import solve_compute

    t0 = time.perf_counter()
    solution = solve_compute(problem, workers=workers)
    wall = time.perf_counter() - t0
    report = jobs_report(solution)
    return {
        "wall_s": wall,
        "build_s": solution.build_s,
        "highs_s": solution.solve_s,
        "status": str(solution.status),
        "placed": sum(d["status"] == "placed" for d in report["placement_decisions"]),
        "objective": solution.objective,
        "chosen": sorted(solution.chosen.tolist()),
        "worst_gap": max((s.mip_gap or 0.0 for s in solution.stages), default=0.0),
    }


def main() -> None:
    parser = bench_parser(__doc__, ", ".join(f"{k}={v:g}" for k, v in QUICK.items()))
    parser.add_argument("--sats", type=int, help="satellites (default 20)")
    parser.add_argument("--steps", type=int, help="steps per satellite's job (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="solver.threads (default 2)")
    parser.add_argument("--time-limit-s", type=float, help="per node, build included (default 120)")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    for key in ("sats", "steps", "time_limit_s"):
        if getattr(args, key) is None:
            setattr(args, key, size[key])
    warnings.filterwarnings("ignore")
    from rsmodel.geometry import compute_geometry
    from rsmodel.model.loader import load_model_dict
    from rsmodel.optimize.compute_pool import pool_workers
    from rsmodel.optimize.compute_problem import build_compute_problem

    load_before = os.getloadavg()
    scenario = load_model_dict(fleet(args.sats, args.steps), base_dir=ROOT)
    geometry = compute_geometry(scenario)
    rows = []
    for label, workers in (("sequential", 1), ("parallel", None)):
        problem = build_compute_problem(scenario, geometry)
        problem.settings = replace(
            problem.settings, threads=args.threads, time_limit_s=args.time_limit_s
        )
        n = pool_workers(args.threads, len(problem.energy)) if workers is None else workers
        rows.append(
            {"mode": f"{label} ({n} x {max(1, args.threads // n)} thr)", **solve(problem, workers)}
        )
    seq = rows[0]
    name = f"{args.sats} sats x {args.steps} steps, 24 h"
    head = (
        f"{'instance':28} {'mode':>24} {'wall s':>8} {'/ seq':>6} {'build s':>8} {'HiGHS s':>8} "
        f"{'placed':>6} {'objective':>12} {'worst gap':>9} {'status':>12}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{name:28} {r['mode']:>24} {r['wall_s']:>8.1f} {r['wall_s'] / seq['wall_s']:>5.2f}x "
            f"{r['build_s']:>8.1f} {r['highs_s']:>8.1f} {r['placed']:>6} {r['objective']:>12.4f} "
            f"{r['worst_gap']:>9.2%} {r['status']:>12}"
        )
    same = rows[1]["chosen"] == seq["chosen"]
    print(f"same placements: {same}; time limit {args.time_limit_s:g} s per node")
    load_after = os.getloadavg()
    print(
        f"load average (1/5/15 min): before {'/'.join(f'{x:.2f}' for x in load_before)}, "
        f"after {'/'.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
