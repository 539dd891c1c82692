"""Peak memory of building plan.nc: dense (node, station, time) layout vs sparse cells.

    python benchmarks/bench_plan_memory.py [--nodes 100 --stations 10 --hours 168 --syncs 2000]

``--quick``: the same at ``QUICK`` sizes (seconds).

Plans the ``benchmarks/instances.py`` constellation once with the greedy method (rolling
``solve_auto``), pickles the final link state and plan, then in a fresh process per layout
builds what ``rsmodel run`` builds for plan.nc (``build_schedule`` -> ``schedule.grid``, then
``plan_dataset``) and writes it. The layout is forced through
``rsmodel.geometry.DENSE_GRID_MAX_CELLS`` (dense: no limit = the layout before issue 9; sparse:
0). Peak RSS from ``resource.getrusage``: the high-water mark is reset (Linux
``/proc/self/clear_refs``) once the plan and state are loaded, so "added" is what building and
writing plan.nc itself takes at its peak.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from child import bench_parser, run_json

ROOT = Path(__file__).resolve().parents[1]
LIMITS = {"dense": 2**62, "sparse": 0}
SIZE_ARGS = ("nodes", "stations", "hours", "syncs", "time-limit-s")
FULL = dict(nodes=100, stations=10, hours=168.0, syncs=2000, time_limit_s=60.0)
QUICK = dict(nodes=10, stations=3, hours=24.0, syncs=50, time_limit_s=5.0)


def peak_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare(args: argparse.Namespace, path: Path) -> dict:
    """Plan the instance (greedy) and pickle (plan, final link state, solver stats) to ``path``."""
    from instances import constellation  # a sibling: this runs as the script (run_child)

    from rsmodel.geometry import compute_geometry
    from rsmodel.optimize import problem_from_scenario
    from rsmodel.optimize.auto import solve_auto
    from rsmodel.plan import build_plan

    t0 = time.perf_counter()
    scenario = constellation(
        args.nodes, args.stations, args.hours, args.syncs, time_limit_s=args.time_limit_s
    )
    geometry = compute_geometry(scenario, dense=False)
    problem = problem_from_scenario(scenario, geometry, method="greedy")
    problem.settings = replace(problem.settings, time_limit_s=args.time_limit_s)
    schedule = solve_auto(problem)
    plan = build_plan(scenario, geometry, schedule.operations, dict(schedule.solver))
    with path.open("wb") as f:
        pickle.dump((plan, schedule.state, schedule.solver), f, protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "seconds": time.perf_counter() - t0,
        "windows": len(plan.windows),
        "operations": len(plan.operations),
    }


def reset_peak() -> None:
    """Reset this process's peak RSS to its current RSS (Linux)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")


def measure(layout: str, state_path: Path, out_dir: Path) -> dict:
    """In this (fresh) process: schedule grid + plan dataset + plan.nc in ``layout``."""
    import xarray as xr

    import rsmodel.geometry
    from rsmodel.io import write_netcdf
    from rsmodel.optimize.schedule import build_schedule
    from rsmodel.plan import plan_dataset

    with state_path.open("rb") as f:
        plan, state, solver = pickle.load(f)
    write_netcdf(out_dir / "warm-up.nc", xr.Dataset({"x": ("x", [0.0])}))  # lazy imports
    reset_peak()
    loaded = peak_mib()
    rsmodel.geometry.DENSE_GRID_MAX_CELLS = LIMITS[layout]
    t0 = time.perf_counter()
    dataset = plan_dataset(plan, build_schedule(state, solver).grid)
    path = write_netcdf(out_dir / f"plan-{layout}.nc", dataset)
    return {
        "seconds": time.perf_counter() - t0,
        "loaded_mib": loaded,
        "peak_mib": peak_mib(),
        "values": int(sum(v.size for v in dataset.data_vars.values())),
        "file_mib": path.stat().st_size / 2**20,
        "bytes_sum": float(dataset["bytes"].sum()),
    }


def run_child(*args: str) -> dict:
    """This script with ``args`` in a fresh Python process (this one stays small: a child's
    ru_maxrss starts from its parent's RSS at fork); its last output line as JSON."""
    return run_json(__file__, *args)


def main() -> None:
    parser = bench_parser(__doc__, ", ".join(f"{k}={v:g}" for k, v in QUICK.items()))
    for key, value in FULL.items():
        parser.add_argument(
            f"--{key.replace('_', '-')}", type=type(value), help=f"default {value:g}"
        )
    parser.add_argument("--prepare", metavar="STATE", help=argparse.SUPPRESS)
    parser.add_argument(
        "--child", nargs=3, metavar=("LAYOUT", "STATE", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.prepare:
        print(json.dumps(prepare(args, Path(args.prepare))))
        return
    if args.child:
        layout, state_path, out_dir = args.child
        print(json.dumps(measure(layout, Path(state_path), Path(out_dir))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        state_path = Path(tmp) / "state.pkl"
        sizes = [f"--{k}={getattr(args, k.replace('-', '_'))}" for k in SIZE_ARGS]
        info = run_child(*sizes, "--prepare", str(state_path))
        cells = args.nodes * args.stations * round(args.hours * 3600 / 60)
        print(
            f"plan.nc of {args.nodes} nodes x {args.stations} stations x {args.hours / 24:g} days"
            f" at 60 s ({cells:,} cells), {info['windows']} windows,"
            f" {info['operations']} operations (greedy plan in {info['seconds']:.0f} s)"
        )
        rows = {layout: run_child("--child", layout, str(state_path), tmp) for layout in LIMITS}
    base = rows["dense"]
    print(
        f"{'layout':<8}{'build+write s':>14}{'ratio':>7}{'RSS before MiB':>16}"
        f"{'peak RSS MiB':>14}{'added MiB':>11}{'ratio':>7}{'values':>12}{'plan.nc MiB':>13}"
    )
    for layout, r in rows.items():
        added = r["peak_mib"] - r["loaded_mib"]
        base_added = base["peak_mib"] - base["loaded_mib"]
        print(
            f"{layout:<8}{r['seconds']:>14.2f}{r['seconds'] / base['seconds']:>7.2f}"
            f"{r['loaded_mib']:>16.0f}{r['peak_mib']:>14.0f}{added:>11.0f}"
            f"{added / max(base_added, 1.0):>7.3f}{r['values']:>12,}{r['file_mib']:>13.1f}"
        )
    same = abs(rows["sparse"]["bytes_sum"] - base["bytes_sum"]) <= 1e-9 * max(base["bytes_sum"], 1)
    print(f"same total bytes in both layouts: {same}")


if __name__ == "__main__":
    main()
