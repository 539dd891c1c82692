"""Benchmark of the compute-job MILP (seed 002): build + HiGHS solve time.

    python benchmarks/bench_compute.py [--time-limit-s 120]

Instances: a 1-step job (baseline: the fixed cost on the same grid), a 24-step mixed DAG on
the ISS over 6 orbits, and 20 LEO satellites x 10 steps over 24 h. Prints one table; ratios
are against the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STATIONS = ["wallops", "weilheim", "hartebeesthoek", "dongara", "santiago", "svalsat", "singapore"]
TIERS = {
    "minimal": {"compute_s": 30, "memory_mb": 256, "output_mb": 10},
    "standard": {"compute_s": 90, "memory_mb": 512, "output_mb": 50},
    "enhanced": {"compute_s": 180, "memory_mb": 1024, "output_mb": 120},
}


def mixed_steps(n: int, prefix: str = "") -> list[dict[str, Any]]:
    """``n`` steps cycling pass, window, eclipse, standard, standard, ground; each depends on
    the step before (chains of 6) and every 6th on the previous chain's last step."""
    kinds = ["pass", "window", "eclipse", "standard", "standard", "ground"]
    steps = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        step: dict[str, Any] = {"id": f"{prefix}s{i}"}
        if kind == "pass":
            step.update(
                type="pass", min_pass_duration_s=180, max_segments=2, compute_s=60, output_mb=20
            )
        elif kind == "window":
            step.update(type="window", quality_tiers=TIERS, preferred_tier="enhanced")
        elif kind == "eclipse":
            step.update(type="eclipse", energy_budget_wh=8, compute_s=120, priority=i)
        elif kind == "ground":
            step.update(location="ground", compute_s=300)
        else:
            step.update(compute_s=90 + 30 * (i % 3), output_mb=30)
        if i % len(kinds):
            step["depends_on"] = [f"{prefix}s{i - 1}"]
        elif i:
            step["depends_on"] = [f"{prefix}s{i - 2}"]  # the previous chain's last onboard step
        steps.append(step)
    return steps


def model(nodes: list[dict], jobs: list[dict], hours: float) -> dict[str, Any]:
    return {
        "name": "bench-compute",
        "horizon": {"start": "2026-05-30T12:25:00Z", "hours": hours, "step_s": 60},
        "ground_stations": [{"name": s, "station": s, "bandwidth_bps": 1e8} for s in STATIONS],
        "nodes": nodes,
        "solver": {"time_limit_s": 60},
        "jobs": jobs,
    }


def iss(steps: list[dict], orbits: float) -> dict[str, Any]:
    node = {"name": "iss", "tle": {"norad": 25544}, "memory_mb": 2048}
    job = {"name": "dag", "node": "iss", "steps": steps, "policy": {"deadline_orbits": orbits}}
    return model([node], [job], hours=orbits * 92.9 / 60)


def fleet(n_sats: int, n_steps: int) -> dict[str, Any]:
    from rsmodel.model.catalogs import read_tle_file

    records = read_tle_file(ROOT / "data" / "leo_snapshot.tle")[:n_sats]
    nodes = [
        {"name": f"sat{i}", "tle": {"file": "data/leo_snapshot.tle", "norad": r.norad_id}}
        for i, r in enumerate(records)
    ]
    jobs = [
        {"name": f"job{i}", "node": f"sat{i}", "steps": mixed_steps(n_steps)} for i in range(n_sats)
    ]
    return model(nodes, jobs, hours=24.0)


def measure(name: str, data: dict[str, Any], time_limit_s: float) -> dict[str, Any]:
    from rsmodel.compute.report import jobs_report
    from rsmodel.geometry import compute_geometry
    from rsmodel.model.loader import load_model_dict
    from rsmodel.optimize.compute import build_compute_problem, solve_compute

    t0 = time.perf_counter()
    scenario = load_model_dict(data, base_dir=ROOT)
    geometry = compute_geometry(scenario)
    t1 = time.perf_counter()
    problem = build_compute_problem(scenario, geometry)
    t2 = time.perf_counter()
    solution = solve_compute(problem, time_limit_s=time_limit_s)
    report = jobs_report(solution)
    placed = sum(d["status"] == "placed" for d in report["placement_decisions"])
    return {
        "instance": name,
        "steps": len(problem.steps),
        "options": len(problem.options.step),
        "geometry_s": t1 - t0,
        "options_s": t2 - t1,
        "pyomo_build_s": solution.build_s,
        "highs_s": solution.solve_s,
        "status": solution.status,
        "placed": f"{placed}/{len(problem.steps)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit-s", type=float, default=120.0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    rows = [
        measure("baseline: 1 step, ISS, 6 orbits", iss(mixed_steps(1)[:1], 6), args.time_limit_s),
        measure("24-step mixed DAG, ISS, 6 orbits", iss(mixed_steps(24), 6), args.time_limit_s),
        measure("20 sats x 10 steps, 24 h", fleet(20, 10), args.time_limit_s),
    ]
    base = rows[0]["pyomo_build_s"] + rows[0]["highs_s"]
    head = f"{'instance':34} {'steps':>5} {'options':>8} {'geom s':>7} {'opts s':>7} {'build s':>8} {'HiGHS s':>8} {'build+solve / baseline':>23} {'status':>28} {'placed':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        total = r["pyomo_build_s"] + r["highs_s"]
        print(
            f"{r['instance']:34} {r['steps']:>5} {r['options']:>8} {r['geometry_s']:>7.2f} {r['options_s']:>7.2f} "
            f"{r['pyomo_build_s']:>8.2f} {r['highs_s']:>8.2f} {total / base:>22.1f}x {r['status']:>28} {r['placed']:>7}"
        )


if __name__ == "__main__":
    main()
