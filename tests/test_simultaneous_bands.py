"""Two transmitters at once: a node with transmitters on different bands uses two stations at
the same time only when the model sets `simultaneous_bands` (docs/links.md); otherwise one
station at a time, as always. Times at both stations are measured from the operations; the
plan checker judges both plans."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model_text
from rsmodel.optimize import optimise
from rsmodel.plan import build_plan
from rsmodel.plan.check import check_plan
from rsmodel.simulate.accounting import executed_plan
from rsmodel.simulate.run import simulate

MODEL = """\
name: two-bands
horizon: {start: 2026-05-30T00:00:00Z, hours: 6, step_s: 60}
ground_stations:
  - {name: svalbard_x, lat_deg: 78.23, lon_deg: 15.41, bandwidth_bps: 1.0e8, bands: [{band: X}]}
  - {name: svalbard_s, lat_deg: 78.22, lon_deg: 15.39, bandwidth_bps: 2.0e7, bands: [{band: S}]}
nodes:
  - name: noaa20
    tle: {norad: 43013}
    transmitters: [{band: X}, {band: S}]
    SIMULTANEOUS
syncs:
  - {node: noaa20, data_size: 1.0e13}
"""


def plan_of(simultaneous: bool, method: str) -> dict:
    text = MODEL.replace("SIMULTANEOUS", f"simultaneous_bands: {str(simultaneous).lower()}")
    scenario = load_model_text(text)
    geometry = compute_geometry(scenario)
    schedule = optimise(scenario, geometry, method=method)
    return build_plan(scenario, geometry, schedule.operations, schedule.solver).to_dict()


def seconds_at_both(plan: dict) -> float:
    """Seconds in which the node sends to both stations at once."""
    spans = {
        name: [
            (pd.Timestamp(o["start"]), pd.Timestamp(o["end"]))
            for o in plan["operations"]
            if o["station"] == name
        ]
        for name in ("svalbard_x", "svalbard_s")
    }
    return sum(
        max((min(b1, b2) - max(a1, a2)).total_seconds(), 0.0)
        for a1, b1 in spans["svalbard_x"]
        for a2, b2 in spans["svalbard_s"]
    )


@pytest.mark.parametrize("method", ["milp", "greedy"])
def test_two_stations_at_once_only_when_the_model_says_so(method) -> None:
    one = plan_of(False, method)
    two = plan_of(True, method)
    assert seconds_at_both(one) == 0.0
    assert seconds_at_both(two) > 600.0
    assert check_plan(one) == [] and check_plan(two) == []
    # both bands at once carry more than one at a time
    assert two["kpis"]["total_data_mb"] > one["kpis"]["total_data_mb"] * 1.05
    # the checker holds a node without the flag to one station at a time
    for node in two["nodes"]:
        node.pop("simultaneous_bands", None)
    assert any(p.startswith("overlap: node noaa20") for p in check_plan(two))


def test_simultaneous_bands_need_two_bands(tmp_path: Path, cli) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        MODEL.replace("[{band: X}, {band: S}]", "[{band: X}]").replace(
            "SIMULTANEOUS", "simultaneous_bands: true"
        )
    )
    result = cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}:" in lines[0] and "nodes[0]" in lines[0]
    assert "at least two bands" in lines[0]


def test_simulated_replans_keep_both_bands_at_once() -> None:
    """After an outage the optimiser re-plans the rest of the run; its windows keep their band,
    so the node still sends to both stations at once, and the executed plan passes the checker."""
    text = MODEL.replace("SIMULTANEOUS", "simultaneous_bands: true") + (
        "faults:\n  station_outages: [{station: svalbard_s, start: +65min, end: +68min}]\n"
    )
    result = simulate(load_model_text(text), replan="auto", budget_s=5.0)
    sim = result.simulator
    assert [r["method"] for r in sim.replans if r["cause"].startswith("station")] == ["optimiser"]
    executed = executed_plan(sim, result.run.plan.to_dict())
    after = pd.Timestamp("2026-05-30T02:00:00Z")
    later = [o for o in executed["operations"] if pd.Timestamp(o["start"]) >= after]
    assert seconds_at_both({**executed, "operations": later}) > 600.0
    assert [p for p in check_plan(executed, executed=True) if not p.startswith("priority")] == []
