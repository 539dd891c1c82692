"""Link-budget benchmark: geometry with per-window rate profiles vs constant-rate geometry.

Run: ``python benchmarks/bench_link.py`` (about two minutes on 2 cores); ``--quick`` for a
small instance; ``--only geometry`` for the geometry rows and the capacity comparison (seconds).

Scenario: models/constellation.yaml, its 100 satellites x first 10 stations x 24 h, 60 s grid.
Constant rate: the model as shipped (300 Mbps polar sites, 150 Mbps elsewhere). Link budget:
the same stations receive X band with G/T 30 dB/K (polar, 7-13 m dishes) or 24 dB/K
(others), 3 dB fixed losses, 1 dB margin, 99 % availability (ITU-R P.618 via ``itur``), the
shipped DVB-S2 ladder; every satellite transmits at 8.2 GHz, 7 dBW EIRP, 100 Msymbol/s; the
station rate stays the cap. These radio figures are planning assumptions, not the real
satellites'.

Prints the geometry wall and process CPU time of both (medians of ``--repeats`` rounds, after a
warm-up that also loads ``itur``'s maps, a one-off ~3-9 s per process, shown apart) and their
ratio (target <= 1.5): each round times the two back to back, in alternating order, and the
ratio is the median of the rounds' ratios, so a change of load on a shared machine hits both
sides of a ratio alike and one noisy round does not decide it (each run starts after a full
garbage collection: a collection of the whole heap, ~20 ms, otherwise lands in whichever run
tips it over); then the load average, then
how much of the constant-rate capacity the link budget cannot deliver: per window, and for the
constant-rate greedy plan, the bytes it puts in a window beyond the link budget's capacity; then,
in a fresh process, the link-budget MILP solve with per-slot rates (the model's syncs, 1000 in
the full run; target <= 60 s at a global gap <= 0.5 %), checked by the independent checker.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import time
from pathlib import Path

import numpy as np
import yaml
from child import bench_parser, run_json

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_dict
from rsmodel.optimize import optimise
from rsmodel.plan.check import check_plan
from rsmodel.timeutil import parse_time

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "constellation.yaml"


def yaml_time(value):
    """A YAML timestamp (already a datetime, or ISO text) as an aware datetime."""
    return parse_time(value)


def variants(n_nodes: int, n_stations: int, hours: float) -> tuple[dict, dict]:
    """(constant-rate, link-budget) model dicts of the benchmark scenario."""
    data = yaml.safe_load(MODEL.read_text())
    data["horizon"]["hours"] = hours
    data["ground_stations"] = data["ground_stations"][:n_stations]
    data["nodes"][0]["from_tle"]["limit"] = n_nodes
    data["nodes"][0]["from_tle"]["file"] = str(
        ROOT / "data" / Path(data["nodes"][0]["from_tle"]["file"]).name
    )
    names = {n.name for n in load_model_dict({**data, "syncs": []}, base_dir=ROOT).nodes}
    start = yaml_time(data["horizon"]["start"])
    data["syncs"] = [
        {**s, "deadline": None}  # keep every sync valid on a shortened horizon
        for s in data["syncs"]
        if s["node"] in names and (yaml_time(s["release"]) - start).total_seconds() < hours * 3600
    ]
    budget = copy.deepcopy(data)
    for gs in budget["ground_stations"]:
        gs["bands"] = [{"band": "X", "gt_dbk": 30.0 if float(gs["bandwidth_bps"]) >= 3e8 else 24.0}]
        gs["link"] = {
            "budget": {"fixed_losses_db": 3.0, "margin_db": 1.0, "availability_pct": 99.0}
        }
    budget["nodes"][0]["transmitters"] = [
        {"band": "X", "frequency_hz": 8.2e9, "eirp_dbw": 7.0, "symbol_rate_baud": 1.0e8}
    ]
    return data, budget


def paired_times(scenarios: list, repeats: int) -> tuple[list[tuple[float, float]], list]:
    """Wall and process CPU seconds of the geometry of each scenario in each of ``repeats``
    rounds (the scenarios back to back, in reverse order every other round, each after a full
    garbage collection), and the geometries."""
    times: list[tuple[float, float]] = [(0.0, 0.0)] * (len(scenarios) * repeats)
    geos: list = [None] * len(scenarios)
    for r in range(repeats):
        order = range(len(scenarios)) if r % 2 == 0 else reversed(range(len(scenarios)))
        for i in order:
            gc.collect()  # no run pays for the garbage of the one before it
            t0, c0 = time.perf_counter(), time.process_time()
            geos[i] = compute_geometry(scenarios[i])
            times[r * len(scenarios) + i] = (time.perf_counter() - t0, time.process_time() - c0)
    return times, geos


def sizes(quick: bool) -> tuple[int, int, float]:
    """(nodes, stations, hours) of the benchmark scenario."""
    return (20, 4, 6.0) if quick else (100, 10, 24.0)


def milp_child(quick: bool) -> dict:
    """In this (fresh) process: the link-budget scenario's MILP (per-slot rates), timed from
    the geometry on; its status, global gap and the checker's verdict."""
    n_nodes, n_stations, hours = sizes(quick)
    budget = load_model_dict(variants(n_nodes, n_stations, hours)[1], base_dir=ROOT / "models")
    geo = compute_geometry(budget)
    t0 = time.perf_counter()
    schedule = optimise(budget, geo)
    wall_s = time.perf_counter() - t0
    st = schedule.solver
    delivered = sum(o.delivered_bytes for o in schedule.outcomes.values())
    return {
        "syncs": len(budget.syncs),
        "wall_s": wall_s,
        "status": str(st.status),
        "strategy": st.strategy,
        "gap_global": st.gap_global,
        "delivered_tb": delivered / 1e12,
        "problems": len(check_plan(schedule.plan_dict())),
    }


def main() -> None:
    parser = bench_parser(__doc__, "20 nodes x 4 stations x 6 h")
    parser.add_argument(
        "--repeats", type=int, default=7, help="timed rounds of both geometries (medians kept)"
    )
    parser.add_argument(
        "--only", choices=["geometry"], help="geometry rows and capacities only (no plans)"
    )
    parser.add_argument("--child", choices=["milp"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(milp_child(args.quick)))
        return
    n_nodes, n_stations, hours = sizes(args.quick)
    constant_model, budget_model = variants(n_nodes, n_stations, hours)
    constant = load_model_dict(constant_model, base_dir=ROOT / "models")
    budget = load_model_dict(budget_model, base_dir=ROOT / "models")
    small = load_model_dict(variants(2, n_stations, 1.0)[1], base_dir=ROOT / "models")
    t0 = time.perf_counter()
    compute_geometry(small)  # warm-up: imports, itur's maps, attenuation tables
    warm_s = time.perf_counter() - t0
    load = os.getloadavg()
    times, (geo_const, geo_budget) = paired_times([constant, budget], args.repeats)
    const, budget_t = np.array(times[0::2]), np.array(times[1::2])  # [round, (wall, CPU)]
    ratio = np.median(budget_t / const, axis=0)
    spread = np.percentile(budget_t / const, [25, 75], axis=0)
    print(f"{n_nodes} nodes x {n_stations} stations x {hours:g} h, 60 s grid, "
          f"medians of {args.repeats} paired rounds")  # fmt: skip
    print(f"{'geometry':<28}{'wall s':>10}{'CPU s':>10}")
    for name, rounds in (("constant rate", const), ("link budget", budget_t)):
        wall, cpu = np.median(rounds, axis=0)
        print(f"{name:<28}{wall:>10.3f}{cpu:>10.3f}")
    print(f"{'ratio (target <= 1.5)':<28}{ratio[0]:>10.2f}{ratio[1]:>10.2f}")
    print(f"{'  ratio, 25-75 % of rounds':<28}{f'{spread[0, 0]:.2f}-{spread[1, 0]:.2f}':>10}"
          f"{f'{spread[0, 1]:.2f}-{spread[1, 1]:.2f}':>10}")  # fmt: skip
    print(f"{'one-off warm-up (itur load)':<28}{warm_s:>10.2f}")
    after = os.getloadavg()
    print(f"load average (1/5/15 min): before {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, "
          f"after {after[0]:.2f}/{after[1]:.2f}/{after[2]:.2f} on {os.cpu_count()} cores")  # fmt: skip

    wc, wb = geo_const.windows, geo_budget.windows
    assert (wc["id"].to_numpy() == wb["id"].to_numpy()).all()
    cap_c, cap_b = wc["capacity_bytes"].to_numpy(), wb["capacity_bytes"].to_numpy()
    short = (cap_c - cap_b).clip(min=0).sum()
    print(f"\nwindows: {len(wc)}; constant-rate capacity {cap_c.sum() / 1e12:.2f} TB, "
          f"link budget {cap_b.sum() / 1e12:.2f} TB; "
          f"{short / 1e12:.2f} TB ({100 * short / cap_c.sum():.1f} %) of the constant-rate "
          "capacity cannot be delivered")  # fmt: skip
    if args.only == "geometry":
        return
    t0 = time.perf_counter()
    plan = optimise(constant, geo_const, method="greedy")
    per_window: dict[str, float] = {}
    for op in plan.operations:
        per_window[op.window_id] = per_window.get(op.window_id, 0.0) + op.bytes
    cap = dict(zip(wb["id"], cap_b, strict=True))
    planned = sum(per_window.values())
    excess = sum(max(0.0, b - cap[w]) for w, b in per_window.items())
    print(f"constant-rate greedy plan ({time.perf_counter() - t0:.1f} s): {planned / 1e12:.2f} TB "
          f"planned, {excess / 1e12:.3f} TB ({100 * excess / max(planned, 1):.1f} %) beyond the "
          "link budget's capacity of their windows")  # fmt: skip
    r = run_json(__file__, "--child", "milp", *(["--quick"] if args.quick else []))
    gap = "n/a" if r["gap_global"] is None else f"{100 * r['gap_global']:.2f} %"
    print(f"link-budget MILP, per-slot rates, fresh process: {r['syncs']} syncs, "
          f"{r['wall_s']:.1f} s (target <= 60), {r['status']} ({r['strategy']}), global gap "
          f"{gap} (target <= 0.5 %), {r['delivered_tb']:.2f} TB delivered, "
          f"checker: {r['problems']} problems")  # fmt: skip


if __name__ == "__main__":
    main()
