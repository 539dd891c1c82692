"""What every benchmark shares: its options, and running one row in a fresh Python process.

A fresh process gives the row its own peak RSS (``ru_maxrss``) and its own HiGHS thread pool.
It runs the benchmark's own script again (``run_json(__file__, "--child", ...)``), so the child
imports its siblings (``child``, ``instances``) exactly as the script run by hand does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench_parser(doc: str, quick: str) -> argparse.ArgumentParser:
    """Options of a benchmark: ``--help`` starts with the first line of its docstring ``doc``;
    ``--quick`` (described by ``quick``) runs small sizes through the same code and tables."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes, seconds: {quick}")
    return parser


def run_json(*argv: str) -> dict:
    """``python *argv`` from the repository root (CI=true: no progress bars); the last line of
    its standard output parsed as JSON. A failing child's standard error is passed on."""
    out = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
    )
    if out.returncode:
        sys.stderr.write(out.stderr)  # the child's traceback, then fail
        out.check_returncode()
    return json.loads(out.stdout.strip().splitlines()[-1])
