"""Recorder and power benchmark: 100 nodes x 10 stations x 24 h with recorders, sources and power.

Run: ``python benchmarks/bench_recorder.py`` (about 3 minutes; ``--quick``: 4 nodes x 2 stations
x 3 h with a 5 s limit, under 30 s). ``--week``: the same nodes over 7 days through the rolling
horizon (12 h blocks + 6 h look-ahead, recorder contents and SOC carried across block edges),
one row, 200 s solver limit, goal under 5 minutes in all (``--week --quick``: 4 x 2 x 30 h, 10 s).

Instance (benchmarks/instances.py constellation, no syncs): every node gets a 300 GB recorder a
fifth full (normal), a sunlit imager at 400 Mbit/s (high), an always-on survey at 50 Mbit/s
(low, overwrite_oldest) and housekeeping at 0.2 Mbit/s (critical); a 400 Wh battery (floor 0.3,
solar 250 W, idle 120 W) and a 60 W transmitter with 60 s warm-up. Each row runs in its own
process: geometry, production, problem, solve (+ bound). Columns: wall s; F = summed class
objective (lower is better); vs greedy = 1 - F / F_greedy; gap = ``solver.gap_global``;
produced / delivered / lost in TB; SOC margin = the lowest (SOC - floor) of any node, as a
fraction of capacity, where the floor is min(min_soc, SOC with no transmitting); overflow = the
largest recorder fill above capacity (bytes, must be 0); per MILP stage: class, status and
build s (warm start, Pyomo model and hand-off to HiGHS); per node (worst / median over the nodes):
bytes lost (GB) and SOC margin; cpu s and peak MB: the row process's CPU time (user + system:
on a shared machine the wall time is mostly waiting) and peak RSS (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace

from child import bench_parser, run_json

SIZE = dict(n_nodes=100, n_stations=10, hours=24.0)
QUICK_SIZE = dict(n_nodes=4, n_stations=2, hours=3.0)
RUNS = [("greedy", 90.0), ("milp", 90.0)]
QUICK_LIMIT_S = 5.0
WEEK_SIZE = dict(n_nodes=100, n_stations=10, hours=168.0)
QUICK_WEEK_SIZE = dict(n_nodes=4, n_stations=2, hours=30.0)
WEEK_LIMIT_S, QUICK_WEEK_LIMIT_S = 200.0, 10.0


def scenario_of(size: dict, time_limit_s: float, strategy: str = "monolithic"):
    """The constellation of ``size`` with recorders, sources and power on every node."""
    from instances import constellation

    from rsmodel.model.recorder_schema import DataSource, DutyCycle, NodeRecorder

    base = constellation(**size, n_syncs=0, time_limit_s=time_limit_s, strategy=strategy)
    nodes = []
    for n in base.nodes:
        sources = (
            DataSource(n.name, "imager", 4.0e8, "high", "image", "drop_new", "sunlit", sunlit=True),
            DataSource(
                n.name, "survey", 5.0e7, "low", "survey", "overwrite_oldest", "duty_cycle",
                duty_cycle=DutyCycle(on_s=60, period_s=60),
            ),
            DataSource(
                n.name, "hk", 2.0e5, "critical", "housekeeping", "drop_new", "duty_cycle",
                duty_cycle=DutyCycle(on_s=60, period_s=60),
            ),
        )  # fmt: skip
        nodes.append(
            replace(
                n,
                recorder=NodeRecorder(3.0e11, 6.0e10, "normal", sources),
                battery=n.battery.model_copy(
                    update=dict(capacity_wh=400.0, initial_soc=0.9, min_soc=0.3)
                ),
                power=n.power.model_copy(
                    update=dict(
                        solar_charge_w=250.0, idle_w=120.0, tx_power_w=60.0, tx_warmup_s=60.0
                    )
                ),
            )
        )
    base.nodes = nodes
    return base


def run_one(size: dict, method: str, time_limit_s: float, strategy: str) -> dict:
    """Geometry -> production -> problem -> solve (+ bound), in this process."""
    import resource

    import numpy as np

    from rsmodel.geometry import compute_geometry
    from rsmodel.optimize import problem_from_scenario
    from rsmodel.optimize.auto import solve_auto

    t0 = time.perf_counter()
    scenario = scenario_of(size, time_limit_s, strategy)
    geometry = compute_geometry(scenario)
    problem = problem_from_scenario(scenario, geometry, method=method)
    problem.settings = replace(problem.settings, time_limit_s=time_limit_s)
    schedule = solve_auto(problem)
    wall = time.perf_counter() - t0
    s, ob = schedule.solver, schedule.onboard
    margins = []
    for name, curve in ob["soc"].items():
        e = problem.onboard.energy[name]
        floor = np.minimum(e.floor_soc * e.capacity_wh, e.baseline_wh()) / e.capacity_wh
        margins.append(float((np.array(curve["soc"]) - floor).min()))
    overflow = max((np.array(r["fill_bytes"]) - r["capacity_bytes"]).max() for r in ob["recorders"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    lost = {}
    for x in ob["sources"]:
        lost[x["node"]] = lost.get(x["node"], 0.0) + x["lost_bytes"] / 1e9
    return {
        "wall_s": wall,
        "strategy": s.strategy,
        "peak_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "node_lost_gb": [max(lost.values()), float(np.median(list(lost.values())))],
        "node_margin": [min(margins), float(np.median(margins))],
        "objective": s.objective,
        "gap": s.gap_global,
        "status": str(s.status),
        "stages": [(st.name, str(st.status), round(st.build_s, 1)) for st in s.stages],
        "produced_tb": sum(x["produced_bytes"] for x in ob["sources"]) / 1e12,
        "delivered_tb": sum(x["delivered_bytes"] for x in ob["sources"]) / 1e12,
        "lost_tb": sum(x["lost_bytes"] for x in ob["sources"]) / 1e12,
        "soc_margin": min(margins),
        "overflow_bytes": max(float(overflow), 0.0),
    }


def main() -> None:
    parser = bench_parser(__doc__, "4 nodes x 2 stations x 3 h, limit 5 s")
    parser.add_argument("--week", action="store_true", help="7 days through the rolling horizon")
    parser.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.week:
        size = QUICK_WEEK_SIZE if args.quick else WEEK_SIZE
        runs = [("milp", QUICK_WEEK_LIMIT_S if args.quick else WEEK_LIMIT_S)]
    else:
        size = QUICK_SIZE if args.quick else SIZE
        runs = [(m, min(limit, QUICK_LIMIT_S)) for m, limit in RUNS] if args.quick else RUNS
    strategy = "rolling" if args.week else "monolithic"
    if args.one:
        method, limit = args.one
        print(json.dumps(run_one(size, method, float(limit), strategy)))
        return
    print(f"instance: {', '.join(f'{k}={v}' for k, v in size.items())}, strategy {strategy}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores shared)")
    flags = (["--quick"] if args.quick else []) + (["--week"] if args.week else [])
    rows = [(m, limit, run_json(__file__, *flags, "--one", m, str(limit))) for m, limit in runs]
    greedy_f = rows[0][2]["objective"] if rows[0][0] == "greedy" else None
    print(
        f"{'method':7} {'limit s':>7} {'wall s':>7} {'cpu s':>7} {'peak MB':>7} {'F':>9} "
        f"{'vs greedy':>9} "
        f"{'gap':>7} {'prod TB':>8} {'sent TB':>8} {'lost TB':>8} {'SOC margin':>10} "
        f"{'overflow':>9} {'node lost GB':>13} {'node margin':>12} status"
    )
    for method, limit, r in rows:
        gap = "-" if r["gap"] is None else f"{r['gap']:.2%}"
        versus = "-" if greedy_f is None else f"{1 - r['objective'] / greedy_f:.2%}"
        worst_lost, median_lost = r["node_lost_gb"]
        worst_margin, median_margin = r["node_margin"]
        print(
            f"{method:7} {limit:7.0f} {r['wall_s']:7.1f} {r['cpu_s']:7.1f} {r['peak_mb']:7.0f} "
            f"{r['objective']:9.4f} "
            f"{versus:>9} {gap:>7} {r['produced_tb']:8.2f} {r['delivered_tb']:8.2f} "
            f"{r['lost_tb']:8.2f} {r['soc_margin']:10.3f} {r['overflow_bytes']:9.0f} "
            f"{worst_lost:6.1f}/{median_lost:6.1f} {worst_margin:5.3f}/{median_margin:5.3f} "
            f"{r['strategy']} {r['status']} {r['stages']}"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
