"""Atomic output files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from rsmodel.io import atomic_write, write_json


def test_write_json_creates_readable_file_with_umask_mode(tmp_path: Path) -> None:
    path = write_json(tmp_path / "sub" / "plan.json", {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = write_json(tmp_path / "plan.json", {"v": 1})

    def broken(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_plan_json_is_standard_json_when_a_value_is_unknown(tmp_path):
    """NaN (an imported view period without its maximum elevation) is written as null: strict
    JSON parsers (browsers, jq, other languages) reject the bare NaN token Python writes."""
    path = write_json(tmp_path / "plan.json", {"windows": [{"max_elevation_deg": float("nan")}]})
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}")) == {
        "windows": [{"max_elevation_deg": None}]
    }
