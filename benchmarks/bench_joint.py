"""Loss of the compute-then-downlink decomposition against the joint model, same run, same geometry.

    python benchmarks/bench_joint.py [--time-limit-s 60] [--quick] [--fleet [--fleet-sats 20] [--only day]]

Every instance is planned twice by ``rsmodel.pipeline.run`` on one geometry:
``solver.compute_downlink: decomposed`` (compute MILP first, then its energy a fixed draw and its
outputs fixed demands of the sync stages) and ``joint`` (the compute block in every class stage:
one battery with the transmitter, outputs through the recorder; docs/compute.md). Columns:
wall s, solver status (worst stage), F (the sum of the class objectives, lower is better, both
plans scored on the joint model's transfer problem so that job outputs count the same), bytes
delivered (syncs, sources and job outputs), bytes lost (recorder overflow), steps placed,
lowest SOC margin above the floor (Wh, from the plan's SOC curve; negative where the idle bus
alone goes below ``min_soc``), the lowest margin above the checker's floor ``min(min_soc, idle-only
SOC)`` (Wh: what the plan's own draws leave), the nodes whose idle bus alone dips below ``min_soc``
(the plan's ``battery:`` warnings; docs/compute.md, "Energy model") and the independent checker's
findings (``check_plan``; 0 = valid). ``joint`` plans both ways and keeps the joint plan unless
the decomposed one scores strictly better, class by class from critical (so a plan better on a
higher class is kept with a larger F): the closing lines give its note (the joint model's own F,
the decomposed F, the plan kept) and each mode's class objectives. F is one yardstick for both
rows; an undelivered job output (a small demand wholly unmet) adds ~10 to its class (a rolling
joint row whose blocks kept greedy allocations showed F ~50 against ~4 until those greedy
allocations saw the outputs as placed: docs/compute.md, "Gaps").

Instances: ``battery`` (ISS, one eclipse pass, a 20 min standard step with policy
min_latency: the decomposition runs it first and starves the pass), ``eclipse`` (an eclipse step
and an eclipse pass competing for the same battery), ``recorder`` (models/compute_mixed.yaml
with transmitter power and a recorder filled by a sunlit source: the job's 400 MB output goes
through it) and ``medium`` (``--sats`` EO satellites of models/recorder_power.yaml, 12 h,
recorders, sources, transmitter power and a 5-step job each; ``--time-limit-s``).
``--quick``: the two small instances and a 1-satellite rolling fleet row (4 s limit).
``--fleet``: only ``fleet_day`` (``--fleet-sats`` nodes of recorder_power.yaml x bench_compute's
10-step mixed DAG x 24 h, ``--fleet-time-limit-s``, strategy auto) and ``fleet_week`` (the same
nodes x 7 days, one 4-step job a day each, rolling, 120 s), both with ``solver.threads: 2``
(the benchmark machine's 2 cores: the compute nodes are solved two at a time in worker
processes, docs/compute.md "Parallel nodes"; the other rows keep the default 1). Columns add
the strategy and the stated gap (``solver.gap_global``); per mode a line sums the stages' build
and HiGHS seconds and counts the stages at their time limit and those that kept their greedy
allocation.
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from child import bench_parser

ROOT = Path(__file__).resolve().parents[1]
MODES = ("decomposed", "joint")
FLEET_THREADS = 2  # solver.threads of the fleet rows: the machine's 2 cores (nodes in parallel)


def iss_battery(step: dict[str, Any], *, start: str, hours: float, soc0: float, floor: float,
                policy: str = "min_latency") -> dict[str, Any]:  # fmt: skip
    """The ISS with a small battery, a 300 W transmitter, one 6 GB sync and one job; dongara's
    pass of 14:50-14:56 UTC lies in the eclipse of 14:37-15:13."""
    return {
        "name": "joint-battery",
        "horizon": {"start": start, "hours": hours, "step_s": 60},
        "ground_stations": [{"name": "dongara", "station": "dongara", "bandwidth_bps": 1.0e8}],
        "nodes": [
            {
                "name": "iss",
                "tle": {"norad": 25544},
                "battery": {"capacity_wh": 100, "initial_soc": soc0, "min_soc": floor},
                "power": {"solar_charge_w": 25, "idle_w": 15, "compute_w": 100, "tx_power_w": 300},
            }
        ],
        "syncs": [{"id": "survey", "node": "iss", "data_size": 6.0e9, "priority": "normal"}],
        "jobs": [{"name": "job", "node": "iss", "policy": {"objective": policy}, "steps": [step]}],
    }


def battery() -> dict[str, Any]:
    return iss_battery(
        {"id": "crunch", "compute_s": 1200}, start="2026-05-30T12:25:00Z", hours=3.75, soc0=0.9,
        floor=0.3,
    )  # fmt: skip


def eclipse() -> dict[str, Any]:
    step = {"id": "crunch", "type": "eclipse", "compute_s": 900, "eclipse_policy": "aggressive",
            "min_battery_soc": 0.2}  # fmt: skip
    return iss_battery(step, start="2026-05-30T14:00:00Z", hours=1.5, soc0=0.6, floor=0.2)


def recorder() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "models" / "compute_mixed.yaml").read_text())
    node = data["nodes"][0]
    node["power"].update(tx_power_w=30, tx_warmup_s=60)
    node["recorder"] = {
        "capacity_bytes": 2.0e9,
        "sources": [
            {"name": "cam", "rate_bps": 8e6, "priority": "normal", "active": {"sunlit": True}}
        ],
    }
    return data


def medium(sats: int) -> dict[str, Any]:
    """The first ``sats`` nodes of models/recorder_power.yaml over 12 h with 400 W of compute and
    a pass -> window -> eclipse -> package (30 GB) -> ground job each (tests/fixtures/eo_fleet.py)."""
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    from eo_fleet import eo_fleet

    return eo_fleet(sats)


def fleet_day(sats: int, steps: int, hours: float = 24.0) -> dict[str, Any]:
    """The first ``sats`` nodes of models/recorder_power.yaml over ``hours`` with 100 W of compute
    and bench_compute's ``steps``-step mixed DAG each (pass, window, eclipse, standard, ground:
    every 6th step a ground step, so outputs go down through the recorders)."""
    from bench_compute import mixed_steps

    data = yaml.safe_load((ROOT / "models" / "recorder_power.yaml").read_text())
    data["horizon"]["hours"] = hours
    data["nodes"] = data["nodes"][:sats]
    data["jobs"] = []
    for node in data["nodes"]:
        node["power"]["compute_w"] = 100
        data["jobs"].append({"name": f"{node['name']}-dag", "node": node["name"],
                             "steps": mixed_steps(steps)})  # fmt: skip
    return data


def fleet_week(sats: int, days: int) -> dict[str, Any]:
    """``fleet_day`` over ``days`` days with one job a day per satellite (capture pass -> process
    window -> compress eclipse -> ground analysis, due at the end of its day)."""
    from bench_compute import TIERS

    data = fleet_day(sats, 1, 24.0 * days)
    steps = [
        {"id": "capture", "type": "pass", "min_pass_duration_s": 180, "max_segments": 2,
         "compute_s": 60, "output_mb": 20},
        {"id": "process", "type": "window", "quality_tiers": TIERS, "preferred_tier": "enhanced",
         "depends_on": ["capture"]},
        {"id": "compress", "type": "eclipse", "energy_budget_wh": 8, "compute_s": 120,
         "output_mb": 40, "depends_on": ["process"]},
        {"id": "analyse", "location": "ground", "compute_s": 300, "depends_on": ["compress"]},
    ]  # fmt: skip
    period_s = 5900.0  # ~98 min sun-synchronous orbits: deadlines in orbits at each day's end
    data["jobs"] = [
        {"name": f"{node['name']}-d{d}", "node": node["name"], "steps": steps,
         "policy": {"deadline_orbits": round((d + 1) * 86400 / period_s, 3)}}
        for node in data["nodes"] for d in range(days)
    ]  # fmt: skip
    return data


def measure(
    name: str, data: dict[str, Any], time_limit_s: float, strategy: str = "auto", threads: int = 1
) -> list[dict[str, Any]]:
    """Plan ``data`` in both modes on one geometry (``solver.threads``: ``threads``); one row
    per mode."""
    from rsmodel import pipeline
    from rsmodel.compute.joint import joint_problem
    from rsmodel.geometry import compute_geometry
    from rsmodel.model.loader import load_model_dict
    from rsmodel.optimize.compute_problem import build_compute_problem
    from rsmodel.optimize.joint import carry_over
    from rsmodel.optimize.objective import class_scores
    from rsmodel.plan.check import check_plan
    from rsmodel.plan.check_recorder import reintegrated_soc

    rows, geometry, yardstick = [], None, None
    for mode in MODES:
        variant = copy.deepcopy(data)
        variant["solver"] = {"time_limit_s": time_limit_s, "compute_downlink": mode,
                             "strategy": strategy, "threads": threads}  # fmt: skip
        scenario = load_model_dict(variant, base_dir=ROOT / "models")
        if geometry is None:
            geometry = compute_geometry(scenario)
            cp = build_compute_problem(scenario, geometry)
            yardstick, _ = joint_problem(scenario, geometry, cp)
        t0 = time.perf_counter()
        result = pipeline.run(scenario, geometry=geometry)
        wall = time.perf_counter() - t0
        plan = result.plan.to_dict()
        classes = class_scores(yardstick, carry_over(result.schedule.state, yardstick))
        margin = [
            min(s - c["min_soc"] for s in c["soc"]) * c["capacity_wh"]
            for c in plan.get("soc", {}).values()
        ]
        floors = reintegrated_soc(plan, scenario)
        above = [
            min(np.asarray(c["soc"]) * c["capacity_wh"] - floors[n][1])
            for n, c in plan.get("soc", {}).items()
        ]
        rows.append(
            {
                "instance": name,
                "mode": mode,
                "wall_s": wall,
                "status": plan["solver"]["status"],
                "strategy": plan["solver"]["strategy"],
                "gap": plan["solver"].get("gap_global"),
                "F": float(sum(classes)),
                "classes": classes,
                "delivered": sum(o["bytes"] for o in plan["operations"]),
                "lost": sum(s["lost_bytes"] for s in plan.get("sources", [])),
                "placed": sum(
                    d["status"] == "placed" for j in plan["jobs"] for d in j["placement_decisions"]
                ),
                "steps": sum(len(j["placement_decisions"]) for j in plan["jobs"]),
                "margin_wh": min(margin) if margin else float("nan"),
                "above_wh": min(above) if above else float("nan"),
                "dips": sum(w.startswith("battery:") for w in plan["warnings"]),
                "findings": len(check_plan(plan, scenario=scenario)),
                "note": next((n for n in plan["solver"]["notes"] if n.endswith("plan kept")), ""),
                "stages": plan["solver"]["stages"],
            }
        )
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    head = "| instance | mode | strategy | wall s | status | gap | F | delivered GB | lost GB | placed | min SOC margin Wh | above idle floor Wh | idle dips | checker |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        print(
            f"| {r['instance']} | {r['mode']} | {r['strategy']} | {r['wall_s']:.1f} | {r['status']} "
            f"| {'-' if r['gap'] is None else format(r['gap'], '.2%')} | {r['F']:.6f} "
            f"| {r['delivered'] / 1e9:.3f} | {r['lost'] / 1e9:.3f} | {r['placed']}/{r['steps']} "
            f"| {r['margin_wh']:.2f} | {r['above_wh']:.2f} | {r['dips']} | {r['findings']} |"
        )
    for name in dict.fromkeys(r["instance"] for r in rows):
        d, j = (next(r for r in rows if r["instance"] == name and r["mode"] == m) for m in MODES)
        print(
            f"{name}: decomposition loss dF = {d['F'] - j['F']:+.6f} "
            f"({(d['F'] - j['F']) / abs(j['F']) if j['F'] else 0.0:+.2%} of joint F), "
            f"delivered {(j['delivered'] - d['delivered']) / 1e9:+.3f} GB, "
            f"lost {(d['lost'] - j['lost']) / 1e9:+.3f} GB more decomposed, "
            f"time x{j['wall_s'] / max(d['wall_s'], 1e-9):.1f}; {j['note']}"
        )
        for r in (d, j):
            st = r["stages"]
            print(
                f"  {name} {r['mode']}: class objectives (critical first: the plans are compared "
                f"by these in order, F is their sum) {', '.join(f'{c:.6f}' for c in r['classes'])}"
            )
            print(
                f"  {name} {r['mode']}: {len(st)} stages/blocks, build "
                f"{sum(x.get('build_s') or 0 for x in st):.1f} s, HiGHS "
                f"{sum(x.get('solve_s') or 0 for x in st):.1f} s, at their time limit "
                f"{sum(x['status'] == 'time_limit' for x in st)}, greedy kept "
                f"{sum(str(x.get('allocation', '')).startswith('greedy') for x in st)}"
            )


def main() -> None:
    parser = bench_parser(
        __doc__, "the battery and eclipse instances and a 1-satellite rolling fleet row, ~20 s"
    )
    parser.add_argument("--time-limit-s", type=float, default=60.0, help="per plan (default 60)")
    parser.add_argument("--sats", type=int, default=3, help="medium: EO satellites (default 3)")
    parser.add_argument("--fleet", action="store_true",
                        help="only the fleet rows: --fleet-sats x 10 steps x 24 h and x 7 days "
                        "(rolling), --fleet-time-limit-s and 120 s")  # fmt: skip
    parser.add_argument("--fleet-sats", type=int, default=20, help="fleet rows: satellites (20)")
    parser.add_argument("--fleet-time-limit-s", type=float, default=30.0,
                        help="fleet day row: time limit (default 30, the issue's target)")  # fmt: skip
    parser.add_argument("--only", choices=("day", "week"),
                        help="with --fleet: only that fleet row")  # fmt: skip
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    instances = [("battery", battery(), args.time_limit_s, "auto", 1),
                 ("eclipse", eclipse(), args.time_limit_s, "auto", 1)]  # fmt: skip
    if args.quick:
        instances += [("fleet 1 sat x 2 steps x 30 h", fleet_day(1, 2, 30.0), 4.0, "rolling", 1)]
    elif args.fleet:
        n = args.fleet_sats
        instances = [
            (
                f"fleet {n} sats x 10 steps x 24 h",
                fleet_day(n, 10),
                args.fleet_time_limit_s,
                "auto",
                FLEET_THREADS,
            ),
            (f"fleet {n} sats x 7 days", fleet_week(n, 7), 120.0, "rolling", FLEET_THREADS),
        ]
        instances = [
            r for r, k in zip(instances, ("day", "week"), strict=True) if args.only in (None, k)
        ]
    else:
        instances += [("recorder", recorder(), args.time_limit_s, "auto", 1),
                      (f"medium {args.sats} sats", medium(args.sats), args.time_limit_s, "auto",
                       1)]  # fmt: skip
    rows = []
    for name, data, limit, strategy, threads in instances:
        rows += measure(name, data, limit, strategy, threads)
    print_rows(rows)


if __name__ == "__main__":
    main()
