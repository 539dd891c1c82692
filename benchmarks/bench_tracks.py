"""Antenna-time requests at network scale: greedy vs MILP on the generated antenna-network week.

Run: ``python benchmarks/bench_tracks.py`` (about 12 minutes: the MILP row has a 540 s limit;
``--quick``: a 24 h network of 5 missions, 3 s limits, about 20 s).

Instance: ``tools/gen_network.py`` with its defaults (the shipped models/network_week.yaml:
13 stations / 14 antennas incl. three DSN complexes with arrays, 39 real LEO satellites of 30
missions, ~400 request instances over 7 days), written to a temporary directory.

Each row plans it end to end (``rsmodel.pipeline.run``: geometry, tracks and syncs, plan) in its
own process (peak RSS is that process's). Columns: scheduled / requested tracking hours;
complete and partial request instances of all (plan.json ``track_requests``); worst and rms
unsatisfied fraction over missions (``missions``); wall s; the solver's objective, bound and
global gap (``solver``: the sync terms', docs/tracks.md; each class stage's own objective, bound
and gap, track terms included, are listed below the table); checker = violations found by rsmodel.plan.check; peak MiB.

Upper bound on scheduled hours, independent of the optimiser (same geometry): the smaller of
(a) per request instance, its duration capped by the view time it could use in its window
(unsplit: the longest single view period on one alternative, arrays: all antennas at once;
split: the union of its periods >= the segment minimum; 0 if below its minimum duration) and
(b) per station, antennas x the union of the view periods, inside their windows, of the
requests that may use it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from child import ROOT, bench_parser, run_json

GENERATOR = ROOT / "tools" / "gen_network.py"
FULL = dict(args=[], limit_s=540.0)
QUICK = dict(args=["--missions", "5", "--hours", "24"], limit_s=3.0)
METHODS = ("greedy", "milp")


def scenario_with(model: Path, method: str, limit_s: float):
    """The model at ``model`` with ``solver.method`` and ``solver.time_limit_s`` replaced."""
    import yaml

    from rsmodel.model.loader import load_model_dict

    data = yaml.safe_load(model.read_text())
    data["solver"] = {**data.get("solver", {}), "method": method, "time_limit_s": limit_s}
    return load_model_dict(data, base_dir=model.parent)


def run_one(model: Path, method: str, limit_s: float) -> dict:
    """Plan the model with ``method`` in this process; the row's numbers."""
    import numpy as np

    from rsmodel.pipeline import run
    from rsmodel.plan.check import check_plan

    t0 = time.perf_counter()
    result = run(scenario_with(model, method, limit_s))
    wall = time.perf_counter() - t0
    plan = result.plan.to_dict()
    requests = plan["track_requests"]
    unsatisfied = np.array([m["unsatisfied_fraction"] for m in plan["missions"]])
    status = [r["status"] for r in requests]
    solver = plan["solver"]
    return {
        "wall_s": wall,
        "requested_h": sum(r["requested_s"] for r in requests) / 3600.0,
        "scheduled_h": sum(r["scheduled_s"] for r in requests) / 3600.0,
        "requests": len(requests),
        "complete": status.count("complete"),
        "partial": status.count("partial"),
        "worst": float(unsatisfied.max(initial=0.0)),
        "rms": float(np.sqrt(np.mean(unsatisfied**2))) if unsatisfied.size else 0.0,
        "objective": solver.get("objective"),
        "bound": solver.get("bound"),
        "gap": solver.get("gap_global"),
        "status": solver.get("status"),
        "strategy": solver.get("strategy"),
        "stages": [
            {k: st.get(k) for k in ("name", "status", "objective", "bound", "mip_gap", "solve_s")}
            for st in solver.get("stages", [])
        ],
        "violations": len(check_plan(plan)),
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reasons": _reasons(requests),
        "kinds": _kinds(requests),
    }


def _kinds(requests: list[dict]) -> dict[str, list[float]]:
    """Per request kind (the generator's id prefix: ttc, orb, arr, trk, toolong): [instances,
    complete, requested h, scheduled h]."""
    out: dict[str, list[float]] = {}
    for r in requests:
        row = out.setdefault(r["id"].split("-")[0], [0, 0, 0.0, 0.0])
        row[0] += 1
        row[1] += r["status"] == "complete"
        row[2] += r["requested_s"] / 3600.0
        row[3] += r["scheduled_s"] / 3600.0
    return out


def _reasons(requests: list[dict]) -> dict[str, int]:
    """Request instances not complete, by reason (numbers in the text as ``#``)."""
    out: dict[str, int] = {}
    for r in requests:
        if r["status"] != "complete":
            reason = re.sub(r"\d+(\.\d+)?", "#", r["reason"])
            out[reason] = out.get(reason, 0) + 1
    return out


def spans(periods, node: str, stations: tuple[str, ...], a, b) -> list[tuple[float, float]]:
    """Intervals (s from ``a``) inside [a, b] in which every one of ``stations`` sees ``node``."""
    out = None
    for station in stations:
        rows = periods.get((node, station), [])
        mine = [
            ((max(s, a) - a).total_seconds(), (min(e, b) - a).total_seconds())
            for s, e in rows
            if e > a and s < b
        ]
        out = mine if out is None else [
            (max(s1, s2), min(e1, e2)) for s1, e1 in out for s2, e2 in mine if min(e1, e2) > max(s1, s2)
        ]  # fmt: skip
    return out or []


def union_s(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of intervals (s)."""
    total, reach = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e > reach:
            total += e - max(s, reach)
            reach = e
    return total


def upper_bound(model: Path) -> dict:
    """Requested hours and the two independent upper bounds on scheduled hours (docstring)."""
    from rsmodel.geometry import compute_geometry
    from rsmodel.model import track_schema

    scenario = scenario_with(model, "greedy", 1.0)
    w = compute_geometry(scenario, dense=False).windows
    periods: dict[tuple[str, str], list] = {}
    for node, station, s, e in zip(w["node"], w["station"], w["start"], w["end"], strict=True):
        periods.setdefault((node, station), []).append((s, e))
    requested = per_request = 0.0
    station_time: dict[str, list[tuple[float, float]]] = {}
    for r in track_schema.resolve_tracks(scenario):
        requested += r.duration_s
        offset = (r.release - scenario.start).total_seconds()
        usable = []
        for alt in r.alternatives:
            got = spans(periods, r.node, alt, r.release, r.due)
            for station in alt:
                station_time.setdefault(station, []).extend(
                    (s + offset, e + offset) for s, e in got
                )
            usable += got
        if r.min_segment_s is None:
            view = max((e - s for s, e in usable), default=0.0)
        else:
            view = union_s([(s, e) for s, e in usable if e - s >= r.min_segment_s])
        per_request += min(r.duration_s, view) if view >= r.min_duration_s else 0.0
    antennas = {s.name: s.antennas for s in scenario.stations}
    per_station = sum(antennas[st] * union_s(iv) for st, iv in station_time.items())
    return {
        "requested_h": requested / 3600.0,
        "per_request_h": per_request / 3600.0,
        "per_station_h": per_station / 3600.0,
    }


def generate(out_dir: Path, args: list[str], limit_s: float) -> Path:
    """Write the network with tools/gen_network.py; the model path."""
    model = out_dir / "network_week.yaml"
    cmd = [sys.executable, str(GENERATOR), *args, "--time-limit-s", str(limit_s)]
    subprocess.run([*cmd, "--out", str(model)], check=True, capture_output=True, cwd=ROOT)
    return model


def main() -> None:
    parser = bench_parser(__doc__, "a 24 h network of 5 missions, 3 s limits")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--bound", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        model, method, limit = args.one
        print(json.dumps(run_one(Path(model), method, float(limit))))
        return
    if args.bound:
        print(json.dumps(upper_bound(args.bound)))
        return
    size = QUICK if args.quick else FULL
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores shared)")
    with tempfile.TemporaryDirectory() as tmp:
        model = generate(Path(tmp), size["args"], size["limit_s"])
        print(f"instance: tools/gen_network.py {' '.join(size['args']) or '(defaults)'}")
        ub = run_json(__file__, "--bound", str(model))
        rows = {}
        for method in METHODS:
            rows[method] = run_json(__file__, "--one", str(model), method, str(size["limit_s"]))
            print(f"  done {method}: {rows[method]['wall_s']:.0f} s", file=sys.stderr)
    bound_h = min(ub["per_request_h"], ub["per_station_h"])
    print(
        f"requested {ub['requested_h']:.1f} h; upper bound on scheduled {bound_h:.1f} h "
        f"(per request {ub['per_request_h']:.1f} h, per station {ub['per_station_h']:.1f} h)"
    )
    header = (
        f"{'method':6} {'limit s':>7} {'sched h':>8} {'/req':>6} {'/bound':>6} {'complete':>9} "
        f"{'partial':>7} {'worst':>6} {'rms':>6} {'wall s':>7} {'objective':>10} {'bound':>10} "
        f"{'gap':>7} {'checker':>7} {'peak MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    for method, r in rows.items():
        gap = r["gap"]
        print(
            f"{method:6} {size['limit_s']:7.0f} {r['scheduled_h']:8.2f} "
            f"{r['scheduled_h'] / max(r['requested_h'], 1e-9):6.1%} "
            f"{r['scheduled_h'] / max(bound_h, 1e-9):6.1%} "
            f"{r['complete']:4d}/{r['requests']:<4d} {r['partial']:7d} {r['worst']:6.3f} "
            f"{r['rms']:6.3f} {r['wall_s']:7.1f} {_num(r['objective']):>10} {_num(r['bound']):>10} "
            f"{'-' if gap is None else f'{gap:.2%}':>7} {r['violations']:7d} {r['peak_mib']:8.0f}"
        )
    g, m = rows["greedy"], rows["milp"]
    if g["scheduled_h"] > 0:
        print(f"milp / greedy scheduled hours: {m['scheduled_h'] / g['scheduled_h']:.3f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    for method, r in rows.items():
        print(f"\n{method} ({r['status']}, {r['strategy']}): not complete by reason")
        for reason, n in sorted(r["reasons"].items(), key=lambda kv: -kv[1]):
            print(f"  {n:4d}  {reason}")
        for kind, (n, done, req_h, sched_h) in r["kinds"].items():
            print(f"  {kind:8} {done:4.0f}/{n:<4.0f} complete, {sched_h:7.2f} of {req_h:7.2f} h")
        for st in r["stages"]:
            print(
                f"  stage {st['name']}: {st['status']}, objective {_num(st['objective'])}, "
                f"bound {_num(st['bound'])}, gap {_num(st['mip_gap'])}, solve {_num(st['solve_s'])} s"
            )


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.5g}"


if __name__ == "__main__":
    main()
