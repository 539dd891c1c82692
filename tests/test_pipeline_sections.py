"""`rsmodel run` plans every section a model has, not only syncs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import MODELS


def test_run_plans_the_telescope_network_of_a_model(cli, tmp_path: Path) -> None:
    result = cli("run", str(MODELS / "telescopes.yaml"), "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    tasks = plan["telescopes"]["tasks"]
    done = sum(t["status"] == "complete" for t in tasks)
    assert f"Telescope tasks: {done} of {len(tasks)} complete" in result.stdout
    # every task accounted for, with a reason when not complete
    assert all(t["status"] in {"complete", "partial", "unmet"} for t in tasks)
    assert all(t["reason"] for t in tasks if t["status"] != "complete")
    # ToO alerts are the top class: the shipped model's alerts are planned
    assert all(t["status"] == "complete" for t in tasks if t["class"] == "too")
    assert "telescope" in (tmp_path / "report.html").read_text().lower()


def test_run_reports_deadline_misses_in_summary_and_warnings(cli, tmp_path: Path) -> None:
    text = (MODELS / "seed_sync.yaml").read_text()
    text = text.replace("data_type: gradients}", "data_type: gradients, deadline: +1min}", 2)
    text = text.replace("../data/", str(MODELS.parent / "data") + "/")
    model = tmp_path / "late.yaml"
    model.write_text(text)
    result = cli("run", str(model), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    late = [
        s["id"]
        for s in plan["syncs"]
        if s["deadline"] and s["completed_at"] and s["completed_at"] > s["deadline"]
    ]
    assert len(late) == plan["kpis"]["deadline_misses"] >= 1
    assert f"{len(late)} deadline miss(es)" in result.stdout
    assert "delivered after their deadline" in result.stderr
