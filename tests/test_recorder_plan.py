"""Recorder models end to end: ``pipeline.run`` plans them and the independent checker
(rsmodel.plan.check_recorder) re-integrates fill and SOC from the plan and finds nothing."""

from __future__ import annotations

import numpy as np
import pytest

from rsmodel.model.loader import load_model, load_model_text
from rsmodel.pipeline import run
from rsmodel.plan.check import check_plan
from rsmodel.report import render_plan
from rsmodel.report.tables import fmt_mb
from tests.conftest import MODELS
from tests.test_check_recorder import MODEL


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_small_recorder_plan_passes_the_checker(method: str) -> None:
    scenario = load_model_text(MODEL + f"solver: {{method: {method}}}\n", file="rec.yaml")
    result = run(scenario)
    plan = result.plan.to_dict()
    assert check_plan(plan, scenario=scenario) == []
    (curve,) = plan["recorders"]
    assert max(curve["fill_bytes"]) <= 6.5e9 + 1.0
    # avoidable: the initial fill goes down in the first pass, before the burst
    assert sum(s["lost_bytes"] for s in plan["sources"]) == pytest.approx(0.0, abs=1.0)
    fill_nc = result.dataset["recorder_fill_bytes"].sel(node="eo-01").values
    assert np.allclose(fill_nc, curve["fill_bytes"][: len(fill_nc)], atol=1.0)
    soc_nc = result.dataset["soc"].sel(node="eo-01").values
    assert np.allclose(soc_nc, plan["soc"]["eo-01"]["soc"][: len(soc_nc)], atol=1e-6)


def test_overflow_is_reported_and_checked() -> None:
    # 3 GB: the 6 GB burst (01:10-01:20) cannot wait for the pass that ends at ~01:13
    text = MODEL.replace("capacity_bytes: 6.5e9", "capacity_bytes: 3.0e9")
    scenario = load_model_text(text, file="rec.yaml")
    plan = run(scenario).plan.to_dict()
    assert check_plan(plan, scenario=scenario) == []
    burst = next(s for s in plan["sources"] if s["id"] == "eo-01/burst")
    assert burst["lost_bytes"] > 1.0e9
    (loss,) = [x for x in plan["losses"] if x["source"] == "eo-01/burst"]
    assert loss["lost_bytes"] == pytest.approx(burst["lost_bytes"])
    assert loss["reason"]
    # the report shows the fill curve with the downlinks and the loss per source
    html = render_plan(plan)
    assert '<section id="recorders">' in html and 'aria-label="Recorder fill of eo-01"' in html
    downlinks = [op for op in plan["operations"] if op["node"] == "eo-01"]
    assert downlinks and all(
        f"downlink {op['sync_id']} to {op['station']}" in html for op in downlinks
    )
    assert f">{fmt_mb(burst['lost_bytes'])}<" in html.split('id="t-sources"')[1]
    assert f"source eo-01/burst (normal) lost {fmt_mb(burst['lost_bytes'])}" in html  # summary


def test_shipped_recorder_model_plans_and_checks() -> None:
    scenario = load_model(MODELS / "recorder_power.yaml")
    scenario.model.solver.method = "greedy"
    plan = run(scenario).plan.to_dict()
    assert check_plan(plan, scenario=scenario) == []
    assert len(plan["recorders"]) == 20 and len(plan["soc"]) == 20
    delivered = sum(s["delivered_bytes"] for s in plan["sources"])
    assert delivered > 1.0e12  # terabytes come down over the day
