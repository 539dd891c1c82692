"""Report benchmark: HTML generation time and size at constellation scale vs the time to plan it.

Run: ``python benchmarks/bench_report.py`` (about 2 minutes on 2 cores: it plans
models/constellation.yaml once, as ``rsmodel run`` does, then renders its report).
``--plan-dir OUT/`` reuses the outputs of an earlier ``rsmodel run`` instead of planning (the
baseline is then the solver's recorded build_s + solve_s). ``--quick``: models/seed_sync.yaml
and a synthetic plan of 10 nodes x 3 stations, same tables, seconds.

Prints, for the real constellation plan and a synthetic one of the same size: render time
(median of 3, after one warm-up that compiles the templates), HTML size, and the render time as
a share of the planning time measured in the same run. Goal: < 10 % of the solve, < 5 MB.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from child import bench_parser

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "constellation.yaml"
QUICK_MODEL = ROOT / "models" / "seed_sync.yaml"
# synthetic plan: nodes, stations, hours, syncs
SYNTHETIC = dict(n_nodes=100, n_stations=10, hours=24, n_syncs=1000)
QUICK_SYNTHETIC = dict(n_nodes=10, n_stations=3, hours=24, n_syncs=50)
REPEATS = 3


def plan_model(model: Path) -> tuple[dict[str, Any], Any, float]:
    """Plan ``model`` like ``rsmodel run``; returns (plan, dataset, wall s)."""
    from rsmodel.model.loader import load_model
    from rsmodel.pipeline import run

    t0 = time.perf_counter()
    result = run(load_model(model))
    return result.plan.to_dict(), result.dataset, time.perf_counter() - t0


def saved_plan(out: Path) -> tuple[dict[str, Any], Any, float]:
    import xarray as xr

    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    dataset = None
    if (out / "plan.nc").exists():
        with xr.open_dataset(out / "plan.nc", engine="h5netcdf") as ds:
            dataset = ds.load()
    solver = plan.get("solver") or {}
    return plan, dataset, float(solver.get("build_s") or 0) + float(solver.get("solve_s") or 0)


def time_render(plan: dict[str, Any], dataset: Any) -> tuple[float, int]:
    """Median render time (s) and HTML size (bytes) of ``plan`` (and its xarray ``dataset``)."""
    from rsmodel.report import render_plan

    html = render_plan(plan, dataset)  # warm-up: template compilation
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        html = render_plan(plan, dataset)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(html.encode("utf-8"))


def main() -> None:
    parser = bench_parser(__doc__, "models/seed_sync.yaml, synthetic 10 x 3 x 24 h x 50 syncs")
    parser.add_argument(
        "--plan-dir", type=Path, help="outputs of `rsmodel run models/constellation.yaml`"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    from synth_plan import synthetic_plan

    model = QUICK_MODEL if args.quick else MODEL
    if args.plan_dir:
        plan, dataset, baseline_s = saved_plan(args.plan_dir)
        baseline = "recorded build+solve"
    else:
        plan, dataset, baseline_s = plan_model(model)
        baseline = "pipeline.run wall"
    size = QUICK_SYNTHETIC if args.quick else SYNTHETIC
    synthetic = synthetic_plan(**size)
    rows = []
    for name, p, ds in (
        (model.name, plan, dataset),
        (f"synthetic {size['n_nodes']}x{size['n_stations']}x{size['hours']}h", synthetic, None),
    ):
        render_s, size = time_render(p, ds)
        counts = f"{len(p['windows'])} win, {len(p['eclipses'])} ecl, {len(p['operations'])} ops, {len(p['syncs'])} syncs"
        rows.append((name, counts, render_s, size))
    print(f"baseline: planning {model.name} ({baseline}) = {baseline_s:.1f} s")
    print(f"{'case':<22} {'content':<48} {'render s':>9} {'size MB':>8} {'render/plan':>12}")
    for name, counts, render_s, size in rows:
        print(
            f"{name:<22} {counts:<48} {render_s:>9.2f} {size / 1e6:>8.2f} {render_s / baseline_s:>11.1%}"
        )


if __name__ == "__main__":
    main()
