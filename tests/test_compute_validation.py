"""Bad compute jobs and requests: one clear message naming file and field, exit status 2."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = json.loads((ROOT / "models" / "requests" / "adaptive_imagery.json").read_text())


def with_steps(steps: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED)
    body["custom_job"]["steps"] = steps
    body.update(top)
    return body


WINDOW = SEED["custom_job"]["steps"][0]
CASES = {
    "cycle": (
        with_steps(
            [
                {"id": "a", "depends_on": ["c"]},
                {"id": "b", "depends_on": ["a"]},
                {"id": "c", "depends_on": ["b"]},
            ]
        ),
        "custom_job.steps[0].depends_on",
        "depends_on cycle: a -> c -> b -> a",
    ),
    "unknown_dependency": (
        with_steps([{"id": "capture"}, {"id": "process", "depends_on": ["captur"]}]),
        "custom_job.steps[1].depends_on[0]",
        "unknown step id 'captur'; did you mean 'capture'?",
    ),
    "unknown_tier_name": (
        with_steps([{**WINDOW, "preferred_tier": "ultra"}]),
        "custom_job.steps[0].preferred_tier",
        "'minimal', 'standard', 'enhanced' or 'maximum'",
    ),
    "tier_not_defined": (
        with_steps([{**WINDOW, "quality_tiers": {"minimal": WINDOW["quality_tiers"]["minimal"]}}]),
        "custom_job.steps[0].preferred_tier",
        "unknown tier 'enhanced': quality_tiers defines only minimal",
    ),
    "min_above_preferred": (
        with_steps([{**WINDOW, "min_tier": "maximum"}]),
        "custom_job.steps[0].min_tier",
        "min_tier 'maximum' is above preferred_tier 'enhanced'",
    ),
    "budget_above_capacity": (
        with_steps([{"id": "e", "type": "eclipse", "energy_budget_wh": 500}]),
        "custom_job.steps[0].energy_budget_wh",
        "exceeds the node's battery capacity 100 Wh",
    ),
    "budget_negative": (
        with_steps([{"id": "e", "type": "eclipse", "energy_budget_wh": -1}]),
        "custom_job.steps[0].energy_budget_wh",
        "greater than 0",
    ),
    "min_soc_out_of_range": (
        with_steps([{"id": "e", "type": "eclipse", "min_battery_soc": 1.5}]),
        "custom_job.steps[0].min_battery_soc",
        "less than or equal to 1",
    ),
    "field_of_other_kind": (
        with_steps([{"id": "e", "type": "eclipse", "merge_strategy": "concat"}]),
        "custom_job.steps[0]",
        "`merge_strategy` applies to pass steps, not to a eclipse step",
    ),
    "unknown_satellite": (
        with_steps([{"id": "a"}], satellite_id="99999"),
        "satellite_id",
        "unknown satellite_id 99999",
    ),
    "missing_job": ({"satellite_id": "25544"}, "custom_job", "required field is missing"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_request_exits_2_naming_file_and_field(case: str, tmp_path: Path, cli) -> None:
    body, field, message = CASES[case]
    path = tmp_path / f"{case}.json"
    path.write_text(json.dumps(body, indent=1))
    result = cli("plan", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line.startswith(f"error: {path}:") and f" {field}:" in line and message in line, line


def test_aggressive_low_soc_plans_but_warns(tmp_path: Path, cli) -> None:
    step = {
        "id": "e",
        "type": "eclipse",
        "eclipse_policy": "aggressive",
        "min_battery_soc": 0.1,
        "compute_s": 60,
    }
    path = tmp_path / "aggressive.json"
    path.write_text(json.dumps(with_steps([step])))
    result = cli("plan", str(path))
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "aggressive eclipse policy" in result.stderr
    response = json.loads(result.stdout)
    assert response["placement_decisions"][0]["status"] == "placed"
    assert any("aggressive" in w for w in response["warnings"])


MODEL = """name: jobs-bad
horizon: {start: 2026-05-30T12:25:00Z, hours: 3}
nodes:
  - {name: iss, tle: {norad: 25544}}
jobs:
  - name: j
    node: {node}
    steps:
      - {id: a, compute_s: 60}
"""


@pytest.mark.parametrize(
    ("node", "field", "message"),
    [("isss", "jobs[0].node", "unknown node 'isss'; did you mean 'iss'?")],
)
def test_model_file_job_on_unknown_node(
    node: str, field: str, message: str, tmp_path: Path, cli
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MODEL.replace("{node}", node))
    result = cli("validate", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: {path}:7: {field}: {message}"), result.stderr


def test_model_file_job_unknown_satellite_id(tmp_path: Path, cli) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MODEL.replace("node: {node}", "satellite_id: 12345"))
    result = cli("validate", str(path))
    assert result.returncode == 2
    assert "jobs[0].satellite_id: unknown satellite_id 12345" in result.stderr


def test_malformed_json_and_missing_file(tmp_path: Path, cli) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"satellite_id": "25544",\n "custom_job": {"name": "x", "steps": [}\n}\n')
    result = cli("plan", str(path))
    assert result.returncode == 2 and result.stderr.startswith(f"error: {path}:2: invalid JSON")
    result = cli("plan", str(tmp_path / "absent.json"))
    assert (
        result.returncode == 2
        and "file not found" in result.stderr
        and "Traceback" not in result.stderr
    )
