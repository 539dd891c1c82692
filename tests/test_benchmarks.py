"""Every benchmark answers ``--help`` with its options, ``--quick`` among them, and starts nothing.

(CI runs each benchmark with ``--quick`` after the tests, .ci/run; they are too slow for here.)
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))


def test_the_benchmarks_are_found():
    names = {p.stem for p in BENCHMARKS}
    assert {"bench_geometry", "bench_rolling", "bench_sync", "bench_study"} <= names


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_help_lists_quick_and_runs_nothing(script: Path):
    out = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: "), "printed something before parsing its options"
    assert "--quick" in out.stdout
    first_line = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))).splitlines()[0]
    assert " ".join(first_line.split()) in " ".join(out.stdout.split())
