"""Deterministic constellation instances for the scale benchmarks (model dicts -> Scenario).

``constellation(n_nodes, n_stations, hours, n_syncs, seed=2026)``: the first ``n_nodes`` real
element sets of data/celestrak_resource_2026-05-30T2250Z.tle (167 exist); beyond them,
element-defined circular orbits (500-800 km, sun-synchronous-like 97-99 deg or 53 deg, spread
RAAN and mean anomaly). Stations: the first ``n_stations`` rows of data/ground_stations.csv,
300 Mbps at polar sites (|lat| > 60 deg), 150 Mbps elsewhere (planning assumptions).
Syncs: the priority mix of tools/gen_constellation.py (10 % critical with deadlines 1-4 h after
release, 20 % high 3-8 h, 45 % normal 6-16 h, 25 % low without deadline), sizes log-uniform
in ``size_gb`` (1-20 GB by default), releases uniform over the horizon minus its last 4 h.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from rsmodel.model.loader import load_model_dict
from rsmodel.model.scenario import Scenario
from rsmodel.timeutil import iso

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
TLE_FILE = DATA / "celestrak_resource_2026-05-30T2250Z.tle"
START = datetime(2026, 5, 30, tzinfo=UTC)
REAL_TLES = 167
PRIORITY_MIX = {
    "critical": (0.10, (1.0, 4.0)),
    "high": (0.20, (3.0, 8.0)),
    "normal": (0.45, (6.0, 16.0)),
    "low": (0.25, None),
}


def station_entries(n_stations: int) -> list[dict]:
    """The first ``n_stations`` catalog stations with an assumed downlink rate."""
    with (DATA / "ground_stations.csv").open() as f:
        rows = list(csv.DictReader(f))[:n_stations]
    return [
        {
            "name": r["id"],
            "station": r["id"],
            "bandwidth_bps": 3e8 if abs(float(r["lat_deg"])) > 60 else 1.5e8,
        }
        for r in rows
    ]


def node_entries(n_nodes: int, seed: int) -> list[dict]:
    """Real TLEs first, then element-defined orbits (deterministic)."""
    entries: list[dict] = [{"from_tle": {"file": str(TLE_FILE), "limit": min(n_nodes, REAL_TLES)}}]
    rng = np.random.default_rng(seed + 1)
    for k in range(max(0, n_nodes - REAL_TLES)):
        polar = k % 3 != 2
        entries.append(
            {
                "name": f"synthetic-{k + 1:03d}",
                "elements": {
                    "altitude_km": float(rng.uniform(500, 800)),
                    "inclination_deg": float(rng.uniform(97, 99)) if polar else 53.0,
                    "raan_deg": float(rng.uniform(0, 360)),
                    "mean_anomaly_deg": float(rng.uniform(0, 360)),
                },
            }
        )
    return entries


def sync_entries(
    names: list[str],
    hours: float,
    n_syncs: int,
    seed: int,
    size_gb: tuple[float, float] = (1.0, 20.0),
) -> list[dict]:
    """``n_syncs`` syncs spread round-robin over the nodes, sizes log-uniform in ``size_gb``."""
    rng = np.random.default_rng(seed)
    priorities = list(PRIORITY_MIX)
    shares = [PRIORITY_MIX[p][0] for p in priorities]
    end = START + timedelta(hours=hours)
    release_span_min = int(max(hours - 4.0, hours * 0.8) * 60)
    out = []
    for i in range(n_syncs):
        priority = priorities[rng.choice(len(priorities), p=shares)]
        release = START + timedelta(minutes=int(rng.integers(0, release_span_min)))
        entry = {
            "id": f"s{i + 1:05d}",
            "node": names[i % len(names)],
            "data_size": float(f"{np.exp(rng.uniform(*np.log(np.array(size_gb) * 1e9))):.4g}"),
            "priority": priority,
            "release": iso(release),
        }
        window = PRIORITY_MIX[priority][1]
        if window is not None:
            deadline = release + timedelta(minutes=int(rng.uniform(*window) * 60))
            entry["deadline"] = iso(min(deadline, end))
        out.append(entry)
    return out


def constellation(
    n_nodes: int,
    n_stations: int,
    hours: float,
    n_syncs: int,
    *,
    seed: int = 2026,
    time_limit_s: float = 60.0,
    strategy: str = "auto",
    size_gb: tuple[float, float] = (1.0, 20.0),
) -> Scenario:
    """A loaded scenario of the given size (see the module docstring)."""
    base = {
        "name": f"bench-{n_nodes}x{n_stations}x{hours:g}h",
        "horizon": {"start": iso(START), "hours": hours, "step_s": 60},
        "ground_stations": station_entries(n_stations),
        "nodes": node_entries(n_nodes, seed),
    }
    names = [n.name for n in load_model_dict(base, base_dir=ROOT).nodes]
    model = dict(
        base,
        syncs=sync_entries(names, hours, n_syncs, seed, size_gb),
        solver={"time_limit_s": time_limit_s, "strategy": strategy},
    )
    return load_model_dict(model, base_dir=ROOT)
