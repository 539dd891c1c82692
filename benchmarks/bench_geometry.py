"""Geometry benchmark: vectorised windows + eclipses vs a per-pair skyfield ``find_events`` loop.

Run: ``python benchmarks/bench_geometry.py`` (about 4 minutes on 2 cores; ``--quick``: the
same tables at small sizes in seconds).

Scenario: models/constellation.yaml, 100 satellites x its first 10 stations x 24 h, 60 s grid.
Prints both times and their ratio, pass-count agreement with find_events, a check against a
dense 1 s elevation scan (no pass >= 20 s missed), and the peak memory of a 7-day run (in a
fresh process).

Then long horizons at constellation scale (``--blocks`` runs only this table, ~3 min):
500 nodes x 20 stations x 7 days, 60 s grid (benchmarks/instances.py), each way in a fresh
process: the one-shot scan with the dense (node, station, time) grid (the baseline,
``compute_geometry(scenario, dense=True)``) and ``compute_geometry(scenario, dense=False)``
(what ``compute_geometry(scenario)`` picks at this size), which scans 12 h blocks and keeps
time + sunlit only (rsmodel/geometry/blocks.py). Peak RSS is ``ru_maxrss`` of that process
(scenario loading included, printed apart).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
from child import bench_parser, run_json

ROOT = Path(__file__).resolve().parents[1]

MODEL = ROOT / "models" / "constellation.yaml"
REPEATS = 3
SHORT_PASS_S = 20.0
DENSE_STEP_S = 1.0
# constellation.yaml cut to (satellites, stations), hours of the compared run, days of the
# memory run; LONG: the benchmarks/instances.py constellation of the long-horizon table
FULL = dict(nodes=100, stations=10, hours=24.0, memory_days=7.0)
QUICK = dict(nodes=10, stations=3, hours=6.0, memory_days=1.0)
LONG = dict(n_nodes=500, n_stations=20, hours=168, n_syncs=1)
LONG_QUICK = dict(n_nodes=20, n_stations=5, hours=24, n_syncs=1)


def scenario_parts(nodes: int, stations: int, hours: float):
    """(nodes, stations, start, end, step_s) of constellation.yaml cut to the given size."""
    from rsmodel.model.loader import load_model

    sc = load_model(MODEL)
    return (
        sc.nodes[:nodes],
        sc.stations[:stations],
        sc.start,
        sc.start + timedelta(hours=hours),
        sc.step_s,
    )


def time_vectorised(nodes, stations, start, end, step_s):
    """Best wall and CPU seconds of REPEATS runs (after a warm-up of imports and caches)."""
    from rsmodel.geometry import compute_geometry_for

    compute_geometry_for(nodes[:5], stations, start, end, step_s)
    wall, cpu, geo = float("inf"), float("inf"), None
    for _ in range(REPEATS):
        w0, c0 = time.perf_counter(), time.process_time()
        geo = compute_geometry_for(nodes, stations, start, end, step_s)
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu, geo


def find_events_loop(nodes, stations, start, end):
    """Windows from skyfield's find_events, per pair: {(node, station): [(aos_s, los_s)]}."""
    from skyfield.api import EarthSatellite, wgs84

    from rsmodel.geometry.frames import load_timescale, times_from

    ts = load_timescale()
    t0, t1 = times_from(start, 0.0), times_from(end, 0.0)
    passes: dict[tuple[str, str], list[tuple[float, float]]] = {}
    w0, c0 = time.perf_counter(), time.process_time()
    for node in nodes:
        sat = EarthSatellite(node.orbit.line1, node.orbit.line2, node.name, ts)
        for st in stations:
            topos = wgs84.latlon(st.lat_deg, st.lon_deg, st.alt_m)
            t, events = sat.find_events(topos, t0, t1, altitude_degrees=st.elevation_min_deg)
            passes[(node.name, st.name)] = _pair_passes(
                (t - t0) * 86400.0, events, (t1 - t0) * 86400.0
            )
    return time.perf_counter() - w0, time.process_time() - c0, passes


def _pair_passes(t_s, events, horizon_s):
    out, aos = [], None
    for t, e in zip(np.atleast_1d(t_s), np.atleast_1d(events), strict=True):
        if e == 0:
            aos = t
        elif e == 2:
            out.append((0.0 if aos is None else aos, t))
            aos = None
        elif e == 1 and aos is None and not out:
            aos = 0.0  # culmination before any rise: the pass began before the horizon
    if aos is not None:
        out.append((aos, horizon_s))
    return out


def dense_scan_passes(nodes, stations, start, end):
    """Passes on a 1 s elevation scan: {(node, station): [(first_s, last_s)]} (>= mask samples)."""
    from rsmodel.geometry.frames import elevation_deg, propagate_itrs, site_itrs, times_from

    duration = (end - start).total_seconds()
    t_s = np.arange(0.0, duration + DENSE_STEP_S / 2, DENSE_STEP_S)
    times = times_from(start, t_s)
    sites = site_itrs(
        [s.lat_deg for s in stations], [s.lon_deg for s in stations], [s.alt_m for s in stations]
    )
    mask = np.array([s.elevation_min_deg for s in stations])
    out = {}
    for i, node in enumerate(nodes):
        el = elevation_deg(propagate_itrs([node.orbit.satrec], times), sites)[0]
        for j, st in enumerate(stations):
            up = np.r_[False, el[j] >= mask[j], False]
            edges = np.flatnonzero(np.diff(up.astype(np.int8)))
            out[(nodes[i].name, st.name)] = [
                (t_s[a], t_s[b - 1]) for a, b in zip(edges[::2], edges[1::2], strict=True)
            ]
    return out


def ours_by_pair(windows, start):
    import pandas as pd

    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    t0 = pd.Timestamp(start)
    for row in windows.itertuples():
        key = (row.node, row.station)
        out.setdefault(key, []).append(
            ((row.start - t0).total_seconds(), (row.end - t0).total_seconds())
        )
    return out


def compare(reference, ours, min_duration_s=0.0):
    """Matched reference passes (by overlap), reference-only and ours-only, plus edge differences."""
    missed, extra, d_aos, d_los, matched = [], [], [], [], 0
    for key in set(reference) | set(ours):
        ref = [p for p in reference.get(key, []) if p[1] - p[0] >= min_duration_s]
        mine = ours.get(key, [])
        used = set()
        for a, b in ref:
            hits = [i for i, (c, d) in enumerate(mine) if c <= b + 1 and d >= a - 1]
            if hits:
                matched += 1
                used.add(hits[0])
                d_aos.append(abs(mine[hits[0]][0] - a))
                d_los.append(abs(mine[hits[0]][1] - b))
            else:
                missed.append((key, a, b - a))
        extra += [
            (key, c, d - c)
            for i, (c, d) in enumerate(mine)
            if i not in used and d - c >= min_duration_s
        ]
    return matched, missed, extra, np.array(d_aos), np.array(d_los)


def memory_run(quick: bool) -> tuple[float, float, int]:
    """The memory-run geometry in a fresh process; (seconds, peak RSS GiB, windows)."""
    r = run_json(__file__, "--child", "memory", *(["--quick"] if quick else []))
    return r["seconds"], r["peak_gib"], r["windows"]


def long_horizon_run(dense: bool, quick: bool) -> dict:
    """Geometry of the LONG instance in a fresh process: seconds, peak RSS GiB before and after
    the geometry, grid variables, windows and eclipses."""
    way = "dense" if dense else "blocks"
    return run_json(__file__, "--child", way, *(["--quick"] if quick else []))


def peak_gib() -> float:
    """Peak resident set size of this process so far, GiB (Linux: ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def child(way: str, quick: bool) -> dict:
    """In this (fresh) process: the memory run (``way`` = "memory") or one way of the
    long-horizon table ("dense", "blocks")."""
    from rsmodel.geometry import compute_geometry, compute_geometry_for

    if way == "memory":
        size = QUICK if quick else FULL
        parts = scenario_parts(size["nodes"], size["stations"], 24.0 * size["memory_days"])
        t0 = time.perf_counter()
        geo = compute_geometry_for(*parts)
        return {
            "seconds": time.perf_counter() - t0,
            "peak_gib": peak_gib(),
            "windows": len(geo.windows),
        }
    from instances import constellation

    scenario = constellation(**(LONG_QUICK if quick else LONG))
    loaded, t0 = peak_gib(), time.perf_counter()
    geo = compute_geometry(scenario, dense=way == "dense")
    return {
        "seconds": time.perf_counter() - t0,
        "loaded_gib": loaded,
        "peak_gib": peak_gib(),
        "grid": sorted(geo.grid.data_vars),
        "windows": len(geo.windows),
        "eclipses": len(geo.eclipses),
    }


def long_horizon_table(quick: bool) -> None:
    """One-shot dense grid vs 12 h blocks on the LONG instance, one after the other."""
    size = LONG_QUICK if quick else LONG
    n, m, hours = size["n_nodes"], size["n_stations"], size["hours"]
    print(f"long horizon: {n} nodes x {m} stations x {hours / 24:g} days, grid 60 s")
    base, blocks = long_horizon_run(True, quick), long_horizon_run(False, quick)
    print(
        f"{'geometry':<44}{'wall s':>8}{'ratio':>7}{'peak RSS GiB':>14}{'ratio':>7}"
        f"{'windows':>9}{'eclipses':>9}  grid"
    )
    for label, r in (
        ("one-shot, dense grid (baseline)", base),
        ("compute_geometry: 12 h blocks, time+sunlit", blocks),
    ):
        print(
            f"{label:<44}{r['seconds']:>8.1f}{r['seconds'] / base['seconds']:>7.2f}"
            f"{r['peak_gib']:>14.2f}{r['peak_gib'] / base['peak_gib']:>7.2f}"
            f"{r['windows']:>9}{r['eclipses']:>9}  {', '.join(r['grid'])}"
        )
    print(f"(peak RSS after loading the scenario, before geometry: {base['loaded_gib']:.2f} GiB)")


def main() -> None:
    parser = bench_parser(
        __doc__, "10 satellites x 3 stations x 6 h, 1-day memory run, long horizon 20 x 5 x 1 day"
    )
    parser.add_argument("--blocks", action="store_true", help="only the long-horizon table")
    parser.add_argument("--child", choices=["memory", "dense", "blocks"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.quick)))
        return
    if args.blocks:
        long_horizon_table(args.quick)
        return
    size = QUICK if args.quick else FULL
    nodes, stations, start, end, step_s = scenario_parts(
        size["nodes"], size["stations"], size["hours"]
    )
    print(
        f"scenario: {len(nodes)} satellites x {len(stations)} stations x {size['hours']:g} h,"
        f" grid {step_s:g} s"
    )
    wall_vec, cpu_vec, geo = time_vectorised(nodes, stations, start, end, step_s)
    wall_loop, cpu_loop, ref = find_events_loop(nodes, stations, start, end)
    ours = ours_by_pair(geo.windows, start)
    print()
    print(f"{'method':<46}{'wall s':>8}{'ratio':>7}{'CPU s':>8}{'ratio':>7}")
    print(
        f"{'skyfield find_events loop (windows only)':<46}{wall_loop:>8.3f}{1:>7.1f}{cpu_loop:>8.3f}{1:>7.1f}"
    )
    print(
        f"{'rsmodel compute_geometry (windows+eclipses)':<46}{wall_vec:>8.3f}{wall_loop / wall_vec:>7.1f}"
        f"{cpu_vec:>8.3f}{cpu_loop / cpu_vec:>7.1f}"
    )
    print(
        f"(rsmodel: best of {REPEATS}; CPU time is less disturbed by other load on a shared machine)"
    )
    print()
    n_ref = sum(len(v) for v in ref.values())
    matched, missed, extra, d_aos, d_los = compare(ref, ours)
    print(f"passes: find_events {n_ref}, rsmodel {len(geo.windows)}, matched {matched}")
    print(
        f"  find_events passes rsmodel lacks: {len(missed)}; rsmodel passes find_events lacks: {len(extra)}"
    )
    for key, a, dur in extra[:10]:
        print(f"    rsmodel-only {key} at +{a:.0f} s, {dur:.1f} s long")
    print(
        f"  |AOS diff| max {d_aos.max():.3f} s, |LOS diff| max {d_los.max():.3f} s (find_events is ~0.5 s coarse)"
    )
    t0 = time.perf_counter()
    dense = dense_scan_passes(nodes, stations, start, end)
    n_dense = sum(len(v) for v in dense.values())
    m2, missed2, extra2, _, _ = compare(dense, ours, min_duration_s=SHORT_PASS_S)
    print(
        f"dense {DENSE_STEP_S:g} s scan ({time.perf_counter() - t0:.1f} s): {n_dense} passes; "
        f">= {SHORT_PASS_S:g} s: {m2} matched, {len(missed2)} missed by rsmodel, {len(extra2)} not in the scan"
    )
    print(f"eclipses: {len(geo.eclipses)} intervals")
    seconds, gib, count = memory_run(args.quick)
    print(
        f"{size['memory_days']:g}-day run, {len(nodes)} x {len(stations)}: {seconds:.2f} s,"
        f" {count} windows, peak RSS {gib:.2f} GiB"
    )
    print(f"(this process peak RSS {peak_gib():.2f} GiB)")
    print()
    long_horizon_table(args.quick)


if __name__ == "__main__":
    main()
