"""Antenna-time requests (`tracks:`, docs/tracks.md): schema, bad input, optimisation, checker.

Models use nodes without orbits and imported view periods, so every visibility interval is
known exactly and no geometry is computed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rsmodel.model.loader import load_model
from rsmodel.model.track_schema import resolve_tracks

HEADER = """\
name: tracks
horizon: {start: 2026-05-30T00:00:00Z, hours: 6, step_s: 60}
ground_stations:
  - {name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6}
  - {name: beta, lat_deg: 11, lon_deg: 10, bandwidth_bps: 1.0e6}
nodes:
  - {name: sat-a}
  - {name: sat-b}
view_periods: periods.csv
"""

PERIODS = """\
node,station,start,end
sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z
sat-a,beta,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z
sat-b,alpha,2026-05-30T01:00:00Z,2026-05-30T01:30:00Z
sat-a,alpha,2026-05-30T03:00:00Z,2026-05-30T03:20:00Z
"""


def write_model(tmp_path: Path, body: str, periods: str = PERIODS) -> Path:
    (tmp_path / "periods.csv").write_text(periods)
    path = tmp_path / "model.yaml"
    path.write_text(HEADER + body)
    return path


def test_repetition_expands_into_instances(tmp_path: Path) -> None:
    """`repeat: {every: day, count: 2}` over a 6 h horizon: two instances, each with the period
    (clipped to the horizon) as its window; an array alternative keeps its stations together."""
    path = write_model(
        tmp_path,
        "tracks:\n  - {id: t1, node: sat-a, duration_s: 600, alternatives: "
        "[alpha, {array: [alpha, beta]}], repeat: {every: day, count: 2}, release: +1h}\n",
    )
    requests = resolve_tracks(load_model(path))
    assert [r.id for r in requests] == ["t1/1", "t1/2"]
    assert all(r.release.hour == 1 and r.due.hour == 6 for r in requests)
    assert requests[0].alternatives == (("alpha",), ("alpha", "beta"))
    assert requests[0].mission == "sat-a" and requests[0].min_duration_s == 600


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "{id: t, node: sat-a, duration_s: 600, min_duration_s: 900, alternatives: [alpha]}",
            "tracks[0].min_duration_s: 900 s is longer than duration_s 600 s",
        ),
        (
            "{id: t, node: sat-a, duration_s: 600, alternatives: [{array: [alpha, gamma]}]}",
            "tracks[0].alternatives[0].array[1]: unknown station 'gamma'",
        ),
        (
            "{id: t, node: sat-a, duration_s: 3600, alternatives: [alpha], "
            "split: {above_s: 1200, min_segment_s: 4000}}",
            "tracks[0].split.min_segment_s: 4000 s is longer than the request",
        ),
        (
            "{id: t, node: sat-c, duration_s: 600, alternatives: [alpha]}",
            "tracks[0].node: unknown node 'sat-c'",
        ),
        (
            "{id: t, node: sat-a, duration_s: 600, alternatives: [alpha], repeat: {every: orbit}}",
            "tracks[0].repeat.every: node 'sat-a' has no orbit",
        ),
    ],
)
def test_bad_track_input_is_one_line_exit_2(tmp_path: Path, entry: str, expected: str) -> None:
    path = write_model(tmp_path, f"tracks:\n  - {entry}\n")
    run = subprocess.run(
        [sys.executable, "-m", "rsmodel", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert f"{path}:11: {expected}" in run.stderr, run.stderr
