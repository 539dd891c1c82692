"""Simulated runs of a plan with tracks (docs/tracks.md, docs/simulation.md "Antennas"): the
plan's tracks keep their antennas through faults and re-plans, so no executed transfer shares
an antenna with a track or its turnaround.

The model uses nodes without orbits and imported view periods (every visibility interval is
known exactly, no geometry is computed): sat-a's dumps and sat-b's TT&C tracks want alpha's one
antenna over the same hours, and beta is there for re-plans to move data to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rsmodel.model.loader import load_model
from rsmodel.plan.check import check_plan
from rsmodel.simulate.accounting import accounting, executed_plan
from rsmodel.simulate.antennas import AntennaBook, Turns, reserved_holds
from rsmodel.simulate.residual import PlannedTransfer
from rsmodel.simulate.run import simulate
from rsmodel.timeutil import parse_time

MODEL = """\
name: simtracks
horizon: {start: 2026-05-30T00:00:00Z, hours: 6, step_s: 60}
ground_stations:
  - {name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6, turnaround_s: 300, setup_s: 30}
  - {name: beta, lat_deg: 11, lon_deg: 10, bandwidth_bps: 1.0e6}
nodes:
  - {name: sat-a}
  - {name: sat-b}
view_periods: periods.csv
syncs:
  - {id: dump-1, node: sat-a, data_size: 3.0e8, priority: high}
  - {id: dump-2, node: sat-a, data_size: 3.0e8}
tracks:
  - {id: ttc, node: sat-b, duration_s: 600, alternatives: [alpha], setup_s: 60, teardown_s: 60,
     priority: critical, repeat: {every: day, count: 2}}
faults:
  transfer_failure_rate: 0.5
  degraded_bandwidth: [{factor: 0.5, start: +1h, end: +3h, station: beta}]
"""

PERIODS = """\
node,station,start,end
sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T02:00:00Z
sat-b,alpha,2026-05-30T01:00:00Z,2026-05-30T02:00:00Z
sat-a,beta,2026-05-30T01:30:00Z,2026-05-30T01:50:00Z
sat-a,alpha,2026-05-30T03:00:00Z,2026-05-30T04:00:00Z
sat-b,alpha,2026-05-30T03:00:00Z,2026-05-30T04:00:00Z
"""


def seconds(text: str) -> float:
    return (parse_time(text) - parse_time("2026-05-30T00:00:00Z")).total_seconds()


@pytest.mark.parametrize(("replan", "seed"), [("auto", 0), ("auto", 1), ("greedy", 2)])
def test_executed_transfers_keep_off_the_tracks_and_their_turnaround(
    tmp_path: Path, replan: str, seed: int
) -> None:
    """Transfers break part-way (half of them) and beta's rate halves, so the run re-plans:
    the executed plan (with the plan's tracks) has no antenna, track or turnaround finding, and
    no transfer of sat-a runs on alpha between a track's setup start - 300 s and its teardown
    end + 300 s."""
    (tmp_path / "periods.csv").write_text(PERIODS)
    (tmp_path / "model.yaml").write_text(MODEL)
    result = simulate(load_model(tmp_path / "model.yaml"), seed=seed, replan=replan)
    base = result.run.plan.to_dict()
    executed = executed_plan(result.simulator, base)
    assert executed["tracks"], "the plan has tracks"
    assert result.simulator.replans  # the faults moved transfers
    assert check_plan(executed, executed=True) == []
    assert accounting(result.simulator, base)["violations"] == []
    held = [
        (seconds(t["setup_start"]) - 300, seconds(t["teardown_end"]) + 300)
        for t in executed["tracks"]
    ]
    on_alpha = [
        (seconds(o["start"]), seconds(o["end"]))
        for o in executed["operations"]
        if o["station"] == "alpha"
    ]
    assert on_alpha  # sat-a still uses alpha around the tracks
    assert not [(a, b) for a, b in on_alpha for h0, h1 in held if a < h1 - 1e-3 and b > h0 + 1e-3]


def test_a_transfer_started_next_to_a_track_takes_the_other_antenna(tmp_path: Path) -> None:
    """alpha has two antennas and a track of sat-b holds antenna 0 from 01:49 to 02:01: a
    transfer of sat-a planned on antenna 0 from 01:40 to 01:47 (within the 300 s turnaround of
    the track's setup) runs on antenna 1; one ending at 01:44 keeps antenna 0."""
    (tmp_path / "periods.csv").write_text(PERIODS)
    text = MODEL.replace("turnaround_s: 300", "turnaround_s: 300, antennas: 2")
    (tmp_path / "model.yaml").write_text(text)
    scenario = load_model(tmp_path / "model.yaml")
    track = {
        "node": "sat-b",
        "stations": ["alpha"],
        "antennas": [0],
        "setup_start": "2026-05-30T01:49:00Z",
        "teardown_end": "2026-05-30T02:01:00Z",
    }
    book = AntennaBook(scenario, Turns(scenario, reserved_holds(scenario, [track])))
    late = PlannedTransfer("dump-1", "sat-a", "alpha", "w00001", 6000.0, 6420.0, 1.0, 0)
    assert book.take(1, late, 6000.0) == 1
    early = PlannedTransfer("dump-2", "sat-a", "alpha", "w00001", 6000.0, 6240.0, 1.0, 0)
    assert book.take(2, early, 6000.0) == 0


@pytest.mark.parametrize("replan", ["greedy", "auto"])
def test_a_replan_just_after_a_track_keeps_its_turnaround(tmp_path: Path, replan: str) -> None:
    """A critical dump of sat-a arrives at 01:32, a minute after the track of sat-b on alpha's
    one antenna tears down (01:31): the re-plan starts it after the 300 s turnaround and its
    30 s setup (01:36:30), not at once."""
    (tmp_path / "periods.csv").write_text(
        "node,station,start,end\n"
        "sat-a,alpha,2026-05-30T01:00:00Z,2026-05-30T02:00:00Z\n"
        "sat-b,alpha,2026-05-30T01:00:00Z,2026-05-30T02:00:00Z\n"
    )
    head = MODEL.split("syncs:")[0]
    (tmp_path / "model.yaml").write_text(
        head
        + "syncs: []\n"
        + "tracks:\n  - {id: ttc, node: sat-b, duration_s: 600, alternatives: [alpha],"
        " setup_s: 60, teardown_s: 60, release: +80min, due: +90min}\n"
        "faults:\n  arrivals: [{time: +92min, sync: {id: urgent, node: sat-a,"
        " data_size: 1.0e8, priority: critical}}]\n"
    )
    result = simulate(load_model(tmp_path / "model.yaml"), replan=replan)
    base = result.run.plan.to_dict()
    executed = executed_plan(result.simulator, base)
    (track,) = executed["tracks"]
    assert track["teardown_end"] == "2026-05-30T01:31:00Z"
    starts = [seconds(o["start"]) for o in executed["operations"] if o["sync_id"] == "urgent"]
    assert starts and min(starts) >= seconds("2026-05-30T01:36:30Z") - 1e-3
    assert check_plan(executed, executed=True) == []
