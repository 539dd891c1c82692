"""Sync scheduler benchmark: staged Pyomo/HiGHS MILP vs the greedy dispatcher (baseline).

Run: ``python benchmarks/bench_sync.py`` (about 4 minutes; ``--quick``: the cuts are 10x3x30
and 20x5x100, seconds).

Instances (real TLEs, real stations, geometry from rsmodel.geometry):
  seed     models/seed_sync.yaml: 5 nodes x 3 stations x 24 h x 5 syncs (seed 000 example)
  20x5     models/constellation.yaml cut to its first 20 nodes, 5 stations, 100 syncs
  100x10   models/constellation.yaml with its first 10 stations: 100 nodes x 24 h x 1000 syncs
           (default weights 0.5/0.3/0.2, and again with latency-only weights 1/0/0)

Per instance: Pyomo build and hand-off to HiGHS (summed over the class stages), solve time,
the largest stage gap and the gap of the summed stage objectives, delivered bytes and
priority-weighted latency (weights critical 8, high 4, normal 2, low 1; an undelivered sync
counts until the horizon end) and the documented objective J (docs/optimisation.md, summed over
classes, one evaluator for both) for MILP and greedy. A second table times the
hand-off of the first (highest-class) stage model through Pyomo's appsi persistent interface vs the
standard-form compiler + highspy used by rsmodel.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import yaml
from child import bench_parser

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
CLASS_WEIGHT = np.array([8.0, 4.0, 2.0, 1.0])
# (nodes, stations, syncs) of the two constellation.yaml cuts (the second also latency-only)
CUTS = {False: ((20, 5, 100), (100, 10, 1000)), True: ((10, 3, 30), (20, 5, 100))}


def scenarios(quick: bool):
    from rsmodel.model.loader import load_model

    yield "seed 5x3x5", load_model(MODELS / "seed_sync.yaml")
    data = yaml.safe_load((MODELS / "constellation.yaml").read_text())
    names = [n.name for n in load_model(MODELS / "constellation.yaml").nodes]
    small, big = CUTS[quick]
    yield "x".join(map(str, small)), cut(data, names, *small)
    yield "x".join(map(str, big)), cut(data, names, *big)
    latency_only = {"minimize_latency": 1.0, "maximize_throughput": 0.0, "balance_load": 0.0}
    yield "x".join(map(str, big)) + " lat-only", cut(data, names, *big, objectives=latency_only)


def cut(data: dict, names: list[str], nodes: int, stations: int, syncs: int, **extra):
    """constellation.yaml (``data``, its node ``names``) cut to its first ``nodes`` nodes and
    ``stations`` stations and the first ``syncs`` syncs of those nodes."""
    from rsmodel.model.loader import load_model_dict

    keep = set(names[:nodes])
    model = dict(data, name=f"bench-{nodes}x{stations}", **extra)
    model["nodes"] = [{"from_tle": {**data["nodes"][0]["from_tle"], "limit": nodes}}]
    model["ground_stations"] = data["ground_stations"][:stations]
    model["syncs"] = [s for s in data["syncs"] if s["node"] in keep][:syncs]
    return load_model_dict(model, base_dir=MODELS)


def weighted_latency_min(schedule) -> float:
    """Priority-weighted mean of (completion or horizon end) - release, minutes."""
    p = schedule.problem
    total, weights = 0.0, 0.0
    for d in p.demands:
        out = schedule.outcomes[d.id]
        done = out.completed_at if out.status == "complete" else p.end
        w = CLASS_WEIGHT[d.rank]
        total += w * (done - d.release).total_seconds() / 60.0
        weights += w
    return total / max(weights, 1e-9)


def objective_j(schedule) -> float:
    """The documented objective J of the final plan, summed over classes (same evaluator for both)."""
    from rsmodel.optimize.objective import evaluate

    p = schedule.problem
    return sum(
        evaluate(p, np.flatnonzero(p.demand_rank == r), schedule.state.pair_bytes, p.weights)
        for r in np.unique(p.demand_rank)
    )


def delivered_gb(schedule) -> float:
    return sum(o.delivered_bytes for o in schedule.outcomes.values()) / 1e9


def first_stage_handoff(problem) -> tuple[int, float, float]:
    """Columns of the first class stage and its hand-off seconds through appsi vs standard form."""
    from rsmodel.optimize.gateway import HighsModel
    from rsmodel.optimize.greedy import fill
    from rsmodel.optimize.model import build_stage_model
    from rsmodel.optimize.state import LinkState
    from rsmodel.optimize.status import SolveOptions

    ranks = problem.demand_rank
    rank = int(ranks.min())
    demands = np.flatnonzero(ranks == rank)
    state = LinkState.empty(problem)
    state.begin_stage(int(rank))
    warm = fill(state.copy(), demands)
    times = {}
    for interface in ("appsi", "standard_form"):
        m = build_stage_model(problem, demands, state, warm=warm)
        t0 = time.perf_counter()
        solver = HighsModel.from_pyomo(m, SolveOptions(time_limit_s=60.0), interface=interface)
        times[interface] = time.perf_counter() - t0
    return solver.highs.getNumCol(), times["appsi"], times["standard_form"]


def main() -> None:
    args = bench_parser(
        __doc__, "cuts 10x3x30 and 20x5x100 instead of 20x5x100, 100x10x1000"
    ).parse_args()
    from rsmodel.geometry import compute_geometry
    from rsmodel.optimize import problem_from_scenario, solve_problem
    from rsmodel.plan.check import check_plan

    rows, handoff = [], []
    for name, scenario in scenarios(args.quick):
        geometry = compute_geometry(scenario)
        t0 = time.perf_counter()
        problem = problem_from_scenario(scenario, geometry, method="greedy")
        greedy_plan = solve_problem(problem)
        greedy_s = time.perf_counter() - t0
        problem = problem_from_scenario(scenario, geometry, method="milp")
        t0 = time.perf_counter()
        milp = solve_problem(problem)
        wall = time.perf_counter() - t0
        st = milp.solver
        handoff_s = sum(s.extra.get("handoff_s", 0.0) for s in st.stages)
        violations = len(check_plan(milp.plan_dict())) + len(check_plan(greedy_plan.plan_dict()))
        rows.append(
            (
                name,
                f"{max((s.sizes['columns'] for s in st.stages), default=0)}",
                f"{greedy_s:.2f}",
                f"{st.build_s - handoff_s:.2f}",
                f"{handoff_s:.2f}",
                f"{st.solve_s:.2f}",
                f"{wall:.2f}",
                f"{st.build_s / wall:.0%}",
                _pct(st.mip_gap),
                _pct(st.gap_global),
                f"{delivered_gb(milp):.2f}/{delivered_gb(greedy_plan):.2f}",
                f"{weighted_latency_min(milp):.1f}/{weighted_latency_min(greedy_plan):.1f}",
                f"{weighted_latency_min(milp) / max(weighted_latency_min(greedy_plan), 1e-9):.3f}",
                f"{objective_j(milp):.5g}/{objective_j(greedy_plan):.5g}",
                st.status,
                str(violations),
            )
        )
        cols, appsi_s, sf_s = first_stage_handoff(problem)
        handoff.append(
            (name, str(cols), f"{appsi_s:.2f}", f"{sf_s:.2f}", f"{appsi_s / max(sf_s, 1e-9):.1f}x")
        )
    _table(
        (
            "instance", "cols", "greedy_s", "build_s", "handoff_s", "solve_s", "wall_s", "build%",
            "stage_gap", "sum_gap", "GB milp/greedy", "pw_lat_min milp/greedy", "lat ratio",
            "J milp/greedy", "status",
            "checker",
        ),
        rows,
    )  # fmt: skip
    print()
    _table(("instance", "stage cols", "appsi_s", "std_form_s", "appsi/std_form"), handoff)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3%}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
