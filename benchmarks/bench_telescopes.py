"""Telescope planners: priority-queue dispatcher vs MILP look-ahead on the same instances.

Run: ``python benchmarks/bench_telescopes.py`` (about a minute on 2 cores; ``--quick``: both
instances with 6 shipped satellites, 2 deep-sky targets, 5 added, a 5 s MILP limit, seconds).

Instances, all from models/telescopes.yaml (12 telescopes at real observatories, 24 h):

- ``shipped``: the model as shipped (24 satellites, 5 deep-sky stacks, 2 ToO alerts).
- ``dense``: 60 s SSA tracks -> 180 s, 54 satellites (adds 30 Earth-resources satellites from
  data/celestrak_resource_*.tle) and no minimum reliability: many tracks compete for telescopes.

For each: tasks completed per class, reliability-weighted expected completions, deep-sky frames,
the MILP objective evaluated on both plans, wall time (visibility excluded, same windows), and
ratios against the dispatcher measured in the same run.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from child import bench_parser

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "telescopes.yaml"
EXTRA_SATELLITES = 30
STORE = Path("/tmp/bench_telescopes_state.json")  # never written (no simulation)
# --quick: shipped satellites and deep-sky targets kept, satellites added to the dense
# instance, MILP time limit (s)
QUICK = dict(satellites=6, deep_sky=2, extra=5, time_limit_s=5)


def shipped_model(quick: bool) -> dict:
    """models/telescopes.yaml as a dict (``quick``: cut to ``QUICK`` sizes)."""
    data = yaml.safe_load(MODEL.read_text())
    if quick:
        for kind in ("satellites", "deep_sky"):
            data["targets"][kind] = data["targets"][kind][: QUICK[kind]]
        data["telescope_network"]["time_limit_s"] = QUICK["time_limit_s"]
    return data


def dense_model(quick: bool) -> dict:
    from rsmodel.model.catalogs import read_tle_file

    data = shipped_model(quick)
    extra = QUICK["extra"] if quick else EXTRA_SATELLITES
    resource = sorted((ROOT / "data").glob("celestrak_resource_*.tle"))[0]
    for rec in read_tle_file(resource)[:extra]:
        data["targets"]["satellites"].append(
            {"name": f"{rec.name} [{rec.norad_id}]", "tle": {"norad": rec.norad_id}}
        )
    net = data["telescope_network"]
    net.update(
        ssa_track_s=180,
        min_reliability={"too": 0.0, "ssa": 0.0, "deep_sky": 0.0},
        time_limit_s=QUICK["time_limit_s"] if quick else 60,
    )
    data["name"] = "telescope-network-dense"
    return data


def run(name: str, data: dict) -> list[dict]:
    from rsmodel.model.loader import load_model_dict
    from rsmodel.model.telescope_network import resolve_network
    from rsmodel.telescopes.api import plan_network
    from rsmodel.telescopes.milp import objective_value
    from rsmodel.telescopes.visibility import visibility_windows

    scenario = load_model_dict(data, base_dir=MODEL.parent)
    net = resolve_network(scenario)
    windows = visibility_windows(net)
    rows = []
    for planner in ("dispatcher", "milp"):
        t0 = time.perf_counter()
        planned = plan_network(net, planner=planner, store_path=STORE, windows=windows)
        wall = time.perf_counter() - t0
        k = planned.plan["kpis"]
        rows.append(
            {
                "instance": name,
                "planner": planner,
                "too": f"{k['too_complete']}/{k['too_tasks']}",
                "ssa": f"{k['ssa_complete']}/{k['ssa_tasks']}",
                "ssa_n": k["ssa_complete"],
                "exp_ssa": k["expected_ssa"],
                "deep_frames": f"{k['deep_sky_frames_planned']}/{k['deep_sky_frames_wanted']}",
                "objective": objective_value(planned.instance, planned.chosen),
                "status": planned.plan["solver"].get("status"),
                "time_s": wall,
                "blocks": len(planned.instance.blocks),
            }
        )
    return rows


def main() -> None:
    args = bench_parser(
        __doc__, ", ".join(f"{k}={v}" for k, v in QUICK.items()) + " in both instances"
    ).parse_args()
    rows = run("shipped", shipped_model(args.quick)) + run("dense", dense_model(args.quick))
    head = f"{'instance':<9} {'planner':<10} {'blocks':>6} {'ToO':>5} {'SSA':>7} {'E[SSA]':>7} {'SSA x':>6} {'deep frames':>11} {'objective':>11} {'obj x':>6} {'status':>8} {'time s':>8} {'time x':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        base = next(
            b for b in rows if b["instance"] == r["instance"] and b["planner"] == "dispatcher"
        )
        print(
            f"{r['instance']:<9} {r['planner']:<10} {r['blocks']:>6} {r['too']:>5} {r['ssa']:>7} {r['exp_ssa']:>7.2f} "
            f"{r['ssa_n'] / max(1, base['ssa_n']):>6.3f} {r['deep_frames']:>11} {r['objective']:>11.2f} "
            f"{r['objective'] / base['objective']:>6.3f} {r['status']:>8} {r['time_s']:>8.3f} {r['time_s'] / base['time_s']:>7.1f}"
        )
    print("\nx = ratio against the dispatcher on the same instance (same visibility windows).")


if __name__ == "__main__":
    main()
