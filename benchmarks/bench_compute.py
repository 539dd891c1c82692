"""Benchmark of the compute-job MILP (seed 002): build + HiGHS solve time, greedy in the same run.

    python benchmarks/bench_compute.py [--time-limit-s 120] [--mip-gap G] [--only day|week] [--quick]

Instances (``day``): the seed 002 request bodies (``models/requests/*.json``), a 1-step job
(baseline: the fixed cost on the same grid), a 24-step mixed DAG on the ISS over 6 orbits, and
``--fleet-sats`` LEO satellites x 10 steps over 24 h. Each is planned twice in the same run:
the greedy list scheduler alone (``solver.method: greedy``) and the MILP (warm-started from
that greedy plan); columns: greedy s and steps placed, MILP build s, HiGHS s, status, the
largest relative gap a node stated, steps placed, and which plan each node kept (``greedy``:
within ``--mip-gap`` of its bound, or the fallback; ``--mip-gap`` below every greedy gap forces
the MILPs). Ratios
are against the baseline measured in the same run. The formulation before issue 18 is not
kept: its figures are printed from the issue text, marked "old main (issue #18), not this run".
``--quick``: the same instances and tables at small sizes (``QUICK``), seconds.

``week``: 20 LEO satellites x 7 days, ``--jobs-per-day`` jobs per satellite and day (capture
pass -> process window -> compress eclipse, due at the end of their day), solved greedily,
monolithically and rolling (12 h blocks + 6 h look-ahead), each with one ``--time-limit-s``
for all its nodes (docs/compute.md, "Time limit"), each in its own forked process on the same
geometry and options: wall s, steps placed, peak RSS (MB, the process's ``ru_maxrss``,
including the parent's pages it shares; address space capped at ``MEMORY_CAP_GB``). Ratio: vs
monolithic.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import time
import warnings
from pathlib import Path
from typing import Any

from child import bench_parser

ROOT = Path(__file__).resolve().parents[1]
MEMORY_CAP_GB = 10.0  # week: address-space cap of each solve process
STATIONS = ["wallops", "weilheim", "hartebeesthoek", "dongara", "santiago", "svalsat", "singapore"]
TIERS = {
    "minimal": {"compute_s": 30, "memory_mb": 256, "output_mb": 10},
    "standard": {"compute_s": 90, "memory_mb": 512, "output_mb": 50},
    "enhanced": {"compute_s": 180, "memory_mb": 1024, "output_mb": 120},
}
# sizes: the day group's DAG steps, ISS orbits, fleet satellites and steps; the week options
FULL = dict(dag_steps=24, orbits=6, fleet_sats=20, fleet_steps=10, time_limit_s=120.0,
            sats=20, days=7, jobs_per_day=2, requests=3)  # fmt: skip
QUICK = dict(dag_steps=6, orbits=2, fleet_sats=1, fleet_steps=2, time_limit_s=2.0,
             sats=1, days=1, jobs_per_day=1, requests=1)  # fmt: skip
OLD_MAIN = {  # issue 18's figures (same machine, load ~5.5): build s, HiGHS s; not this run
    "24-step": (2.5, 27.3),
    "20 sats": (46.1, 311.9),
    "request": (None, 1.0),
    "week rolling": (75.0, 342.0),
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


def week(n_sats: int, days: int, jobs_per_day: int) -> dict[str, Any]:
    """``n_sats`` satellites over ``days`` days; per satellite and day ``jobs_per_day`` jobs of
    three steps due at the end of their day."""
    data = fleet(n_sats, 1)
    steps = [
        {"id": "capture", "type": "pass", "min_pass_duration_s": 180, "max_segments": 2,
         "compute_s": 60, "output_mb": 20},
        {"id": "process", "type": "window", "quality_tiers": TIERS, "preferred_tier": "enhanced",
         "depends_on": ["capture"]},
        {"id": "compress", "type": "eclipse", "energy_budget_wh": 8, "compute_s": 120,
         "depends_on": ["process"]},
    ]  # fmt: skip
    periods_s = _periods_s(data)
    data["jobs"] = [
        {
            "name": f"sat{i}-d{d}-j{j}",
            "node": f"sat{i}",
            "steps": steps,
            "policy": {"deadline_orbits": round((d + 1) * 86400 / periods_s[i], 3)},
        }
        for i in range(n_sats)
        for d in range(days)
        for j in range(jobs_per_day)
    ]
    data["horizon"]["hours"] = 24.0 * days
    return data


def _periods_s(data: dict[str, Any]) -> list[float]:
    from rsmodel.model.loader import load_model_dict

    scenario = load_model_dict({**data, "jobs": []}, base_dir=ROOT)
    return [n.orbit.period_s for n in scenario.nodes]


def _solve_child(problem: Any, strategy: str, args: argparse.Namespace, out: Any) -> None:
    from rsmodel.compute.report import jobs_report

    limit = int(MEMORY_CAP_GB * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # a shared machine: fail, not swap
    from rsmodel.optimize.compute_rolling import solve_compute_rolling
    from rsmodel.optimize.compute_solve import solve_compute

    method = "greedy" if strategy == "greedy" else "milp"
    problem.settings = settings(problem, args.time_limit_s, method, args.mip_gap)
    t0 = time.perf_counter()
    solve = solve_compute_rolling if strategy == "rolling" else solve_compute
    solution = solve(problem)
    wall_s = time.perf_counter() - t0
    report = jobs_report(solution)
    out.put(
        {
            "wall_s": wall_s,
            "build_s": solution.build_s,
            "highs_s": solution.solve_s,
            "status": solution.status,
            "placed": sum(d["status"] == "placed" for d in report["placement_decisions"]),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "milps": len(solution.stages) or len(problem.energy),
            "gap": solution.mip_gap,
        }
    )


def measure_week(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The week instance solved monolithic then rolling, each in a forked process."""
    from rsmodel.geometry import compute_geometry
    from rsmodel.model.loader import load_model_dict
    from rsmodel.optimize.compute_problem import build_compute_problem

    t0 = time.perf_counter()
    scenario = load_model_dict(week(args.sats, args.days, args.jobs_per_day), base_dir=ROOT)
    geometry = compute_geometry(scenario)
    t1 = time.perf_counter()
    problem = build_compute_problem(scenario, geometry)
    t2 = time.perf_counter()
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    name = f"{args.sats} sats x {args.days} d, {args.jobs_per_day} jobs/sat/day"
    rows = []
    ctx = mp.get_context("fork")
    for strategy in args.strategies:
        out = ctx.Queue()
        child = ctx.Process(target=_solve_child, args=(problem, strategy, args, out))
        child.start()
        child.join()
        result = (
            out.get()
            if not out.empty()
            else {"wall_s": math.nan, "build_s": math.nan, "highs_s": math.nan, "placed": 0,
                  "rss_mb": math.nan, "milps": 0, "status": f"died (exit {child.exitcode})"}
        )  # fmt: skip
        rows.append(
            {"instance": name, "strategy": strategy, "steps": len(problem.steps),
             "options": len(problem.options.step), "geometry_s": t1 - t0, "options_s": t2 - t1,
             "base_rss_mb": base_mb, **result}
        )  # fmt: skip
    return rows


def print_week(rows: list[dict[str, Any]]) -> None:
    mono = rows[0]
    head = (
        f"{'instance':36} {'strategy':>10} {'steps':>5} {'options':>8} {'geom s':>7} {'opts s':>7} "
        f"{'MILPs':>5} {'build s':>8} {'HiGHS s':>8} {'wall s':>8} {'wall / first':>12} "
        f"{'placed':>11} {'gap':>8} {'peak RSS MB':>11} {'status':>16}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['instance']:36} {r['strategy']:>10} {r['steps']:>5} {r['options']:>8} "
            f"{r['geometry_s']:>7.1f} {r['options_s']:>7.1f} {r['milps']:>5} {r['build_s']:>8.1f} "
            f"{r['highs_s']:>8.1f} {r['wall_s']:>8.1f} {r['wall_s'] / mono['wall_s']:>11.2f}x "
            f"{r['placed']:>5}/{r['steps']:<5} {_gap(r.get('gap')):>8} {r['rss_mb']:>11.0f} "
            f"{r['status']:>16}"
        )
    print(f"(parent process peak RSS before the solves: {rows[0]['base_rss_mb']:.0f} MB)")
    build, highs = OLD_MAIN["week rolling"]
    print(f"old main (issue #18), not this run: 20 sats x 7 d rolling build {build:g} s, HiGHS "
          f"{highs:g} s, wall 434 s, 840/840 placed")  # fmt: skip


def _gap(gap: float | None) -> str:
    return "unknown" if gap is None else f"{100 * gap:.3g}%"


def scenario_of(data: dict[str, Any] | Path) -> Any:
    """A model dict or a seed 002 request file as a scenario."""
    from rsmodel.compute.request import load_request
    from rsmodel.model.loader import load_model_dict

    return load_request(data)[1] if isinstance(data, Path) else load_model_dict(data, base_dir=ROOT)


def settings(problem: Any, time_limit_s: float, method: str, mip_gap: float | None) -> Any:
    """The problem's solver settings with the benchmark's limit, method and gap (None: the
    model's ``solver.mip_gap``)."""
    from dataclasses import replace

    gap = problem.settings.mip_gap if mip_gap is None else mip_gap
    return replace(problem.settings, time_limit_s=time_limit_s, method=method, mip_gap=gap)


def measure(
    name: str, data: dict[str, Any] | Path, time_limit_s: float, mip_gap: float | None
) -> dict[str, Any]:
    """Greedy alone, then the MILP, on the same problem (options built once per method)."""
    from rsmodel.compute.report import jobs_report
    from rsmodel.geometry import compute_geometry
    from rsmodel.optimize.compute_problem import build_compute_problem
    from rsmodel.optimize.compute_solve import solve_compute

    t0 = time.perf_counter()
    scenario = scenario_of(data)
    geometry = compute_geometry(scenario)
    t1 = time.perf_counter()
    problem = build_compute_problem(scenario, geometry)
    t2 = time.perf_counter()
    row: dict[str, Any] = {
        "instance": name,
        "steps": len(problem.steps),
        "options": len(problem.options.step),
        "geometry_s": t1 - t0,
        "options_s": t2 - t1,
    }
    reasons = dict(problem.reasons)  # why steps have no option; the solves add their own
    for method in ("greedy", "milp"):
        problem.settings = settings(problem, time_limit_s, method, mip_gap)
        problem.reasons = dict(reasons)
        t3 = time.perf_counter()
        solution = solve_compute(problem)
        wall_s = time.perf_counter() - t3
        report = jobs_report(solution)
        placed = sum(d["status"] == "placed" for d in report["placement_decisions"])
        row[method] = {
            "wall_s": wall_s,
            "build_s": solution.build_s,
            "highs_s": solution.solve_s,
            "status": str(solution.status),
            "gap": solution.mip_gap,
            "placed": placed,
            "kept": ",".join(sorted({str(st.extra.get("plan")) for st in solution.stages})),
        }
    return row


def print_day(rows: list[dict[str, Any]]) -> None:
    base = rows[0]["milp"]["wall_s"]
    head = (
        f"{'instance':34} {'steps':>5} {'options':>8} {'geom s':>7} {'opts s':>7} "
        f"{'greedy s':>8} {'g placed':>8} {'build s':>8} {'HiGHS s':>8} {'MILP wall s':>11} "
        f"{'/ baseline':>10} {'status':>12} {'gap':>8} {'placed':>7} {'kept':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        g, m = r["greedy"], r["milp"]
        print(
            f"{r['instance']:34} {r['steps']:>5} {r['options']:>8} {r['geometry_s']:>7.2f} "
            f"{r['options_s']:>7.2f} {g['wall_s']:>8.3f} {g['placed']:>8} {m['build_s']:>8.2f} "
            f"{m['highs_s']:>8.2f} {m['wall_s']:>11.2f} {m['wall_s'] / base:>9.1f}x "
            f"{m['status']:>12} {_gap(m['gap']):>8} {m['placed']:>7} {m['kept']:>11}"
        )
    print("old main (issue #18), not this run (load ~5.5):")
    for key, (build, highs) in OLD_MAIN.items():
        if key == "week rolling":
            continue
        text = f"build {build:g} s, " if build is not None else ""
        print(f"  {key:10} {text}HiGHS {highs:g} s")


def main() -> None:
    parser = bench_parser(__doc__, ", ".join(f"{k}={v:g}" for k, v in QUICK.items()))
    parser.add_argument("--time-limit-s", type=float, help="per solve, all nodes (default 120)")
    parser.add_argument(
        "--mip-gap", type=float, help="relative MIP gap (default: the models' solver.mip_gap, 1e-3)"
    )
    parser.add_argument("--only", choices=["day", "week"], help="run one group of instances")
    parser.add_argument("--fleet-sats", type=int, help="day: fleet satellites (default 20)")
    parser.add_argument("--sats", type=int, help="week: satellites (default 20)")
    parser.add_argument("--days", type=int, help="week: days (default 7)")
    parser.add_argument("--jobs-per-day", type=int, help="week: jobs per sat per day (default 2)")
    parser.add_argument(
        "--strategies",
        nargs="+",
        default=["monolithic", "rolling", "greedy"],
        choices=["monolithic", "rolling", "greedy"],
        help="week: the solves to run (default all three)",
    )
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    for key in ("time_limit_s", "sats", "days", "jobs_per_day", "fleet_sats"):
        if getattr(args, key) is None:
            setattr(args, key, size[key])
    warnings.filterwarnings("ignore")
    if args.only != "day":
        print_week(measure_week(args))
    if args.only == "week":
        return
    n, orbits = size["dag_steps"], size["orbits"]
    sats, steps = args.fleet_sats, size["fleet_steps"]
    requests = sorted((ROOT / "models" / "requests").glob("*.json"))[: size["requests"]]
    rows = [
        (f"baseline: 1 step, ISS, {orbits} orbits", iss(mixed_steps(1)[:1], orbits)),
        *((f"request {path.stem}", path) for path in requests),
        (f"{n}-step mixed DAG, ISS, {orbits} orbits", iss(mixed_steps(n), orbits)),
        (f"{sats} sats x {steps} steps, 24 h", fleet(sats, steps)),
    ]
    print_day([measure(name, data, args.time_limit_s, args.mip_gap) for name, data in rows])


if __name__ == "__main__":
    main()
