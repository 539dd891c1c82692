"""Cold start: each command imports only what it needs (issue 18; benchmarks/bench_startup.py
times it). Checked on the modules a fresh process running the command has loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUEST = ROOT / "models" / "requests" / "eclipse_compute.json"
# Runs the real command line in a fresh interpreter, then prints the packages it loaded.
LOADED = """
import json, sys
from rsmodel.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help
    code = exc.code
print("LOADED " + json.dumps(sorted(m for m, v in sys.modules.items() if v is not None)))
sys.exit(code)
"""
NEVER = {"dask", "distributed", "itur", "astropy", "rsmodel.studies", "rsmodel.service",
         "rsmodel.simulate", "rsmodel.telescopes"}  # fmt: skip
# What Pyomo would load without rsmodel.optimize.gateway's care: scipy.stats (Pyomo's SciPy
# finalisation) and pyomo.environ's solver, transformation and GDP plugins.
PYOMO_EXTRAS = {"scipy.stats", "scipy.integrate", "scipy.spatial", "pyomo.environ",
                "pyomo.solvers", "pyomo.gdp", "pyomo.contrib"}  # fmt: skip


def loaded(*argv: str) -> set[str]:
    """Packages and modules loaded by ``rsmodel *argv`` (it must succeed)."""
    out = subprocess.run(
        [sys.executable, "-c", LOADED, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines()[::-1] if ln.startswith("LOADED "))
    return set(json.loads(line.removeprefix("LOADED ")))


def test_help_loads_no_third_party_package() -> None:
    modules = loaded("--help")
    heavy = {"numpy", "pandas", "xarray", "pyomo", "highspy", "scipy", "pydantic", "skyfield",
             "yaml", "jinja2", "dask", "uvicorn", "fastapi"}  # fmt: skip
    assert not heavy & modules


# What a compute request never needs: the geometry is read as NumPy arrays and columns
# (Geometry.arrays, .window_table, .eclipse_table); xarray (Geometry.grid), NetCDF and pandas
# (Geometry.windows, .eclipses) are for plan.json, plan.nc, reports, the sync optimiser, studies.
PLAN_NEVER = {"xarray", "h5netcdf", "netCDF4", "pandas"}
# What only the sync optimiser needs: never loaded for a compute request.
SYNC_ONLY = {"rsmodel.optimize.auto", "rsmodel.optimize.solve", "rsmodel.optimize.rolling",
             "rsmodel.optimize.bound", "rsmodel.optimize.problem", "rsmodel.plan.plan"}  # fmt: skip
# What only a compute MILP needs: a greedy plan within the gap of its bound never loads it.
MILP_ONLY = {"pyomo.core", "highspy", "scipy", "rsmodel.optimize.gateway",
             "rsmodel.optimize.compute_model"}  # fmt: skip


def test_plan_request_loads_no_dask_report_or_telescope_code() -> None:
    modules = loaded("plan", str(REQUEST))
    assert "rsmodel.optimize.compute_solve" in modules  # it did plan (greedy within the gap)
    unwanted = NEVER | PYOMO_EXTRAS | SYNC_ONLY | MILP_ONLY | {"jinja2", "rsmodel.report"}
    assert not (unwanted | PLAN_NEVER) & modules


def test_plan_request_written_with_its_report_loads_no_sync_optimiser_or_xarray(
    tmp_path: Path,
) -> None:
    """``rsmodel plan -o OUT``: plan.json and report.html of a plan in memory, built without the
    sync optimiser (Pyomo) or xarray (plan.nc is not written)."""
    modules = loaded("plan", str(REQUEST), "-o", str(tmp_path))
    assert (tmp_path / "plan.json").exists() and (tmp_path / "report.html").exists()
    assert "jinja2" in modules  # it did render the report
    sync_only = SYNC_ONLY - {"rsmodel.plan.plan"}  # plan.json's builder, the sync plan's too
    tables = PLAN_NEVER - {"pandas"}  # plan.json's windows and eclipses: Geometry's DataFrames
    assert not (NEVER | PYOMO_EXTRAS | sync_only | MILP_ONLY | tables) & modules


def test_plan_request_that_needs_a_milp_loads_only_the_compute_milp() -> None:
    out = loaded("plan", str(ROOT / "models" / "requests" / "multi_pass_collection.json"))
    assert out >= MILP_ONLY  # the node's MILP went to HiGHS (Pyomo's standard form)
    assert not (NEVER | PYOMO_EXTRAS | SYNC_ONLY | PLAN_NEVER | {"jinja2", "rsmodel.report"}) & out


@pytest.mark.slow
def test_run_loads_no_dask_or_telescope_code(tmp_path: Path) -> None:
    modules = loaded("run", str(ROOT / "models" / "compute_mixed.yaml"), "-o", str(tmp_path))
    assert (tmp_path / "report.html").exists()
    assert not (NEVER | PYOMO_EXTRAS) & modules


def test_dask_is_importable_again_after_a_command_in_the_same_process() -> None:
    """Only ``rsmodel study`` runs Dask: the other commands mark it absent while they run
    (``rsmodel.cli.dask_hidden``); a process that goes on (a notebook, a test session) can
    still start a Dask client after them."""
    script = (
        "from rsmodel.cli import main\n"
        f"assert main(['windows', {str(ROOT / 'models' / 'seed_sync.yaml')!r}]) == 0\n"
        "import sys; assert 'dask' not in sys.modules\n"
        "from distributed import Client\n"
        "print('LOADED ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "LOADED ok"
