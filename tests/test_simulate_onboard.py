"""The simulator carries recorders and SOC through faults (issue 16; docs/simulation.md,
"Recorders and SOC").

References are independent of the simulator: the recorder/SOC checker
(``rsmodel.plan.check_recorder`` via ``check_plan``) re-integrates the executed plan from its
operations and the model, and the amounts come from the model's figures.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rsmodel.model.loader import load_model_text
from rsmodel.model.yamlsrc import Source
from rsmodel.pipeline import run as plan_scenario
from rsmodel.plan.check import check_plan
from rsmodel.simulate.accounting import accounting, executed_plan
from rsmodel.simulate.faults import parse_faults
from rsmodel.simulate.run import simulate
from tests.conftest import assert_one_event_schema, recorder_passes_model, run_cli

# NOAA 20 over Svalbard, 6 h: passes w1 ~01:02:46-01:13:08, w2 ~02:43:24-02:54:16,
# w3 ~04:23:50-04:34:40, all sunlit. A 1 GB initial fill (high) and a 6 GB burst (normal,
# +70 .. +80 min at 10 MB/s) fill the 6.5 GB recorder only if part of it goes down in w1.
# The battery (20 Wh, floor 30 %) pays 150 W to transmit: about 6 minutes of sending per pass.
MODEL = recorder_passes_model("sim-recorder")


@pytest.fixture(scope="module")
def planned():
    scenario = load_model_text(MODEL, file="sim-recorder.yaml")
    return scenario, plan_scenario(scenario)


def run(planned, faults: dict, replan: str = "greedy"):
    scenario, result = planned
    given = parse_faults(Source(faults, {}, "faults.yaml"), scenario)
    sim = simulate(scenario, faults=given, replan=replan, planned=result).simulator
    executed = executed_plan(sim, result.plan.to_dict())
    return scenario, sim, executed


def by_id(rows: list[dict]) -> dict:
    return {r.get("id") or r.get("source"): r for r in rows}


def test_fault_free_run_reproduces_the_plans_fill_losses_and_soc(planned):
    scenario, sim, executed = run(planned, {})
    plan = planned[1].plan.to_dict()
    assert check_plan(executed, executed=True, scenario=scenario) == []
    fill = np.array(executed["recorders"][0]["fill_bytes"])
    np.testing.assert_allclose(fill, plan["recorders"][0]["fill_bytes"], atol=1e3)
    np.testing.assert_allclose(
        executed["soc"]["eo-01"]["soc"], plan["soc"]["eo-01"]["soc"], atol=1e-4
    )
    ran, meant = by_id(executed["sources"]), by_id(plan["sources"])
    for sid, src in meant.items():
        for key in ("delivered_bytes", "lost_bytes", "onboard_end_bytes"):
            assert ran[sid][key] == pytest.approx(src[key], abs=1e3), (sid, key)
    assert not [e for e in sim.events if e["type"] in ("recorder.overflow", "battery.floor")]


@pytest.mark.parametrize("replan", ["greedy", "auto"])
def test_station_outage_piles_data_up_until_the_recorder_overflows(planned, replan):
    """Svalbard down for w1 and w2: 7 GB were made for a 6.5 GB recorder, so 0.5 GB of the
    lower-class burst is lost when it is produced (drop_new), reported per source."""
    outage = {"station_outages": [{"station": "svalbard", "start": "+60min", "end": "+3h"}]}
    scenario, sim, executed = run(planned, outage, replan)
    assert check_plan(executed, executed=True, scenario=scenario) == []
    sources = by_id(executed["sources"])
    assert sources["eo-01/burst"]["lost_bytes"] == pytest.approx(0.5e9, rel=1e-3)
    assert sources["eo-01/initial"]["lost_bytes"] == 0.0
    (loss,) = executed["losses"]
    assert loss["source"] == "eo-01/burst" and loss["lost_bytes"] == pytest.approx(0.5e9, rel=1e-3)
    assert max(executed["recorders"][0]["fill_bytes"]) == pytest.approx(6.5e9, rel=1e-6)
    (event,) = [e for e in sim.events if e["type"] == "recorder.overflow"]
    assert event["node"] == "eo-01" and event["details"]["source"] == "eo-01/burst"
    assert event["details"]["lost_bytes"] == pytest.approx(0.5e9, rel=1e-3)
    totals = accounting(sim, planned[1].plan.to_dict())["totals"]
    assert totals["source_lost_bytes"] == pytest.approx(0.5e9, rel=1e-3)
    assert totals["source_delivered_bytes"] + totals["source_lost_bytes"] + totals[
        "source_onboard_end_bytes"
    ] == pytest.approx(7.0e9)


def test_replan_after_a_fault_keeps_the_soc_floor_and_sends_only_what_exists(planned):
    """After the outage the greedy re-plan would send the whole backlog in w3; 150 W for that
    long takes the 20 Wh battery below 30 %, so the transfer is shortened (battery.floor) and
    the re-integrated SOC of what ran stays above the floor."""
    outage = {"station_outages": [{"station": "svalbard", "start": "+90min", "end": "+3h"}]}
    scenario, sim, executed = run(planned, outage)
    assert check_plan(executed, executed=True, scenario=scenario) == []
    refused = [e for e in sim.events if e["type"] == "battery.floor"]
    assert refused and all(e["details"]["refused_bytes"] > 0 for e in refused)
    soc = np.array(executed["soc"]["eo-01"]["soc"])
    assert soc.min() >= 0.3 - 1e-4
    sent = sum(o["bytes"] for o in executed["operations"])
    onboard = by_id(executed["sources"])
    assert sent == pytest.approx(sum(s["delivered_bytes"] for s in onboard.values()))
    assert sent < 7.0e9  # the rest stays onboard: never sent before it exists or twice


def test_cli_reports_losses_and_checks_the_executed_run_clean(tmp_path):
    model = tmp_path / "sim-recorder.yaml"
    model.write_text(MODEL)
    faults = tmp_path / "faults.yaml"
    faults.write_text("station_outages: [{station: svalbard, start: +60min, end: +3h}]\n")
    out = tmp_path / "out"
    proc = run_cli("simulate", str(model), "--faults", str(faults), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "0.5 GB lost" in proc.stdout
    accounting_json = json.loads((out / "accounting.json").read_text())
    assert accounting_json["violations"] == []
    assert accounting_json["totals"]["source_lost_bytes"] == pytest.approx(0.5e9, rel=1e-3)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert_one_event_schema(events, ("node", "station", "sync_id"))
    assert "recorder.overflow" in {e["type"] for e in events}


@pytest.mark.parametrize("replan", ["greedy", "auto"])
def test_replan_while_the_burst_is_produced_sends_only_bytes_that_exist(planned, replan):
    """A degradation at +71 min, inside pass w1 while the burst is being recorded: the re-plan
    gets the burst's bytes as they come into existence, transfers slow down mid-way, and the
    independent re-integration finds no byte sent before it was produced, the fill and the
    SOC of what ran as the simulator carried them."""
    degraded = {"degraded_bandwidth": [{"factor": 0.5, "start": "+71min", "end": "+4h"}]}
    scenario, sim, executed = run(planned, degraded, replan)
    assert [e for e in sim.events if e["type"] == "replan.completed"]
    assert check_plan(executed, executed=True, scenario=scenario) == []
    burst = by_id(executed["sources"])["eo-01/burst"]
    assert burst["delivered_bytes"] > 0
    assert burst["delivered_bytes"] + burst["lost_bytes"] + burst["onboard_end_bytes"] == (
        pytest.approx(6.0e9)
    )
