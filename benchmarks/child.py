"""Run one benchmark row in a fresh Python process and read its result.

A fresh process gives the row its own peak RSS (``ru_maxrss``) and its own HiGHS thread pool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_json(*argv: str) -> dict:
    """``python *argv`` from the repository root (CI=true: no progress bars); the last line of
    its standard output parsed as JSON."""
    out = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
