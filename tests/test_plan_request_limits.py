"""Seed 002 requests at the edges a user meets: a time limit too short for any plan, a bad
``--time-limit-s``, a misspelt request field, and the service's time limit on a real server
process (tests/test_service.py's ``Server``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.test_service import SEED_HEADERS, Server

REQUEST = ROOT / "models" / "requests" / "multi_pass_collection.json"
NO_TIME = "1e-9"  # seconds: shorter than pruning the options, so not even the greedy runs


def assert_cut_before_any_plan(response: dict) -> None:
    """The answer says the limit, not the job, is why nothing was placed."""
    (stage,) = response["solver"]["stages"]
    assert stage["status"] == "no_solution" and stage["plan"] == "none"
    (job,) = response["jobs"]
    assert job["status"] == "unmet"
    assert "solver time limit" in job["reason"] and "before any plan" in job["reason"]


def test_a_limit_too_short_for_any_plan_says_so(cli) -> None:
    result = cli("plan", str(REQUEST), "--time-limit-s", NO_TIME)
    assert result.returncode == 0, result.stderr
    assert_cut_before_any_plan(json.loads(result.stdout))


def test_a_zero_or_negative_time_limit_is_a_usage_error(cli) -> None:
    for bad in ("0", "-1", "nan"):
        result = cli("plan", str(REQUEST), f"--time-limit-s={bad}")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"expected seconds > 0, got '{bad}'" in result.stderr


def test_a_misspelt_request_field_lists_the_request_fields(tmp_path: Path, cli) -> None:
    body = json.loads(REQUEST.read_text())
    path = tmp_path / "typo.json"

    def error_line(data: dict) -> str:
        path.write_text(json.dumps(data, indent=1))
        result = cli("plan", str(path))
        assert result.returncode == 2 and "Traceback" not in result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {path}:")
        return line

    line = error_line({**body, "step": 60})
    assert " step: unknown field 'step'; did you mean 'step_s'?" in line
    assert "satellite_id, custom_job" in line and "horizon" not in line  # not a model file's
    step = body["custom_job"]["steps"][0]
    step["compute_sec"] = step.pop("compute_s")
    line = error_line(body)
    assert " custom_job.steps[0].compute_sec: unknown field 'compute_sec'; did you mean " in line


def test_the_service_time_limit_answers_200_with_the_reason(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", "--workers", "1", "--time-limit-s", NO_TIME)
    try:
        server.start()
        r = httpx.post(
            f"{server.url}/v1/plan", content=REQUEST.read_bytes(), headers=SEED_HEADERS,
            timeout=120,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert_cut_before_any_plan(r.json())
        bad = httpx.post(
            f"{server.url}/v1/plan", json={"satellite_id": "25544", "custom_job": {}}, timeout=60
        )
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "custom_job.name"
    finally:
        server.stop()
