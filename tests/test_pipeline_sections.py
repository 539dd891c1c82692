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
