"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from rsmodel.timeutil import parse_time

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DATA = ROOT / "data"


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real ``rsmodel`` command (as a user would) and capture its output."""
    env = {**os.environ, "CI": "true"}
    return subprocess.run(
        [sys.executable, "-m", "rsmodel.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )


def assert_one_event_schema(events: list[dict[str, Any]], subject: tuple[str, ...]) -> None:
    """Every event has the one schema (docs/plan-format.md, "Events"): ``time`` (ISO 8601 UTC
    with Z), ``type``, subject fields (at least ``subject``) in their fixed order, ``details``."""
    from rsmodel.plan.events import SUBJECT_FIELDS
    from rsmodel.timeutil import iso, parse_time

    assert events
    for e in events:
        assert list(e) == ["time", "type", *(k for k in SUBJECT_FIELDS if k in e), "details"], e
        assert set(subject) <= set(e) and e["type"] and isinstance(e["details"], dict), e
        assert e["time"].endswith("Z") and iso(parse_time(e["time"])) == e["time"], e


@pytest.fixture
def cli():
    return run_cli


def assert_exact_timeline(plan: Mapping[str, Any], *, executed: bool = False) -> None:
    """The plan's operations are an executable timeline, computed here from the plan.json dict
    alone: each lasts at least the 1 us resolution of the serialised instants, per link, per
    antenna and per node no two overlap (beyond that resolution) and, unless ``executed`` (simulated transfers may run slower), each
    carries its window's rate times its duration."""
    t0 = parse_time(plan["horizon"]["start"])
    rate = {w["id"]: float(w["bandwidth_bps"]) / 8 for w in plan["windows"]}
    spans: dict[tuple, list[tuple[float, float, str]]] = defaultdict(list)
    for o in plan["operations"]:
        a = (parse_time(o["start"]) - t0).total_seconds()
        b = (parse_time(o["end"]) - t0).total_seconds()
        assert b > a, f"zero-length operation {o}"  # an operator cannot execute it
        full = rate[o["window_id"]] * (b - a)
        assert o["bytes"] <= full + 1 + rate[o["window_id"]] * 1e-6, o
        if not executed:
            assert o["bytes"] >= full - 1 - rate[o["window_id"]] * 1e-6, o
            assert o["antenna"] is not None, o
        keys = [("link", o["node"], o["station"]), ("node", o["node"])]
        if o.get("antenna") is not None:
            keys.append(("antenna", o["station"], o["antenna"]))
        for key in keys:
            spans[key].append((a, b, o["sync_id"]))
    for key, items in spans.items():
        items.sort()
        busy = items[0]
        for item in items[1:]:
            assert item[0] >= busy[1] - 1e-6, f"{key}: {busy} overlaps {item}"
            busy = max(busy, item, key=lambda s: s[1])


def recorder_passes_model(name: str) -> str:
    """A recorder model file text: NOAA 20 over Svalbard for 6 h (passes w1 ~01:02:46-01:13:08,
    w2 ~02:43:24-02:54:16, w3 ~04:23:50-04:34:40, all sunlit). A 1 GB initial fill (high) and a
    6 GB burst (+70 .. +80 min at 10 MB/s) fit the 6.5 GB recorder only if part of the fill goes
    down in w1 first; the battery (20 Wh, floor 30 %) pays 150 W to transmit."""
    return f"""name: {name}
horizon: {{start: 2026-05-30T00:00:00Z, hours: 6, step_s: 60}}
ground_stations:
  - {{name: svalbard, station: svalsat, bandwidth_bps: 1.0e8}}
nodes:
  - name: eo-01
    tle: {{file: {DATA}/leo_snapshot.tle, norad: 43013}}
    battery: {{capacity_wh: 20, initial_soc: 0.5, min_soc: 0.3}}
    power: {{solar_charge_w: 20, idle_w: 5, compute_w: 0, tx_power_w: 150, tx_warmup_s: 30}}
    recorder:
      capacity_bytes: 6.5e9
      initial_fill_bytes: 1.0e9
      initial_priority: high
      sources:
        - {{name: burst, rate_bps: 8.0e7, active: {{intervals: [{{start: +70min, end: +80min}}]}}}}
"""
