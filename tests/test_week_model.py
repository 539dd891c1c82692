"""The shipped week-long model (models/constellation_week.yaml, docs/optimisation-scale.md):
it loads, spans 7 days with 2000 syncs, is what tools/gen_constellation.py writes, and
``rsmodel run`` would plan it with the rolling horizon (not solved here)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model
from rsmodel.optimize import problem_from_scenario
from rsmodel.optimize.auto import sync_strategy
from tests.conftest import MODELS, ROOT

WEEK = MODELS / "constellation_week.yaml"
WEEK_ARGS = [
    "--hours",
    "168",
    "--stations",
    "10",
    "--syncs-per-node",
    "20",
    "--size-gb",
    "3",
    "60",
    "--time-limit-s",
    "240",
]


@pytest.fixture(scope="module")
def week():
    return load_model(WEEK)


def test_week_model_spans_7_days_with_2000_syncs(week):
    assert week.end - week.start == timedelta(hours=168)
    assert (len(week.nodes), len(week.stations), len(week.syncs)) == (100, 10, 2000)
    sizes = [s.data_size_bytes for s in week.syncs]
    assert min(sizes) >= 3e9 * 0.999 and max(sizes) <= 60e9 * 1.001
    assert all(s.deadline is None or s.deadline <= week.end for s in week.syncs)
    assert week.model.solver.time_limit_s == 240
    assert week.model.solver.strategy == "auto"


@pytest.mark.parametrize(
    "model,args", [("constellation.yaml", []), ("constellation_week.yaml", WEEK_ARGS)]
)
def test_shipped_models_are_what_the_generator_writes(tmp_path, model, args):
    out = tmp_path / model
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_constellation.py"), *args, "--out", str(out)],
        check=True,
        capture_output=True,
    )
    # the TLE file is referenced relative to the output directory
    tle_free = [line for line in out.read_text().splitlines() if "from_tle" not in line]
    shipped = [line for line in (MODELS / model).read_text().splitlines() if "from_tle" not in line]
    assert tle_free == shipped


def test_auto_strategy_rolls_the_week(week):
    problem = problem_from_scenario(week, compute_geometry(week))
    strategy, why = sync_strategy(problem).strategy, sync_strategy(problem).reason
    assert strategy == "rolling"
    assert f"{len(problem.pair_demand)} pairs >" in why
