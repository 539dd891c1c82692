"""Shared test helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DATA = ROOT / "data"


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real ``rsmodel`` command (as a user would) and capture its output."""
    env = {**os.environ, "CI": "true"}
    return subprocess.run(
        [sys.executable, "-m", "rsmodel.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )


def assert_one_event_schema(events: list[dict[str, Any]], subject: tuple[str, ...]) -> None:
    """Every event has the one schema (docs/plan-format.md, "Events"): ``time`` (ISO 8601 UTC
    with Z), ``type``, subject fields (at least ``subject``) in their fixed order, ``details``."""
    from rsmodel.plan.events import SUBJECT_FIELDS
    from rsmodel.timeutil import iso, parse_time

    assert events
    for e in events:
        assert list(e) == ["time", "type", *(k for k in SUBJECT_FIELDS if k in e), "details"], e
        assert set(subject) <= set(e) and e["type"] and isinstance(e["details"], dict), e
        assert e["time"].endswith("Z") and iso(parse_time(e["time"])) == e["time"], e


@pytest.fixture
def cli():
    return run_cli
