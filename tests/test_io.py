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
