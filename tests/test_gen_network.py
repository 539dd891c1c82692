"""tools/gen_network.py: the antenna-network week it writes (and models/network_week.yaml, the
shipped instance) is deterministic per seed, has the size issue #17 asks for (a dozen antennas,
a few dozen missions, a few hundred request instances, tens of view periods per mission) and
every request instance can be tracked somewhere, except the ones infeasible on purpose.

Request instances are expanded here independently of the optimiser (period arithmetic of
rsmodel/model/track_schema.py) and checked against view periods computed by rsmodel's geometry."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rsmodel.geometry import compute_geometry
from rsmodel.model.loader import load_model
from rsmodel.model.track_schema import resolve_tracks
from rsmodel.timeutil import parse_time
from tests.conftest import MODELS, ROOT

GENERATOR = ROOT / "tools" / "gen_network.py"
SHIPPED = MODELS / "network_week.yaml"


def generate(out: Path, *args: str) -> Path:
    subprocess.run(
        [sys.executable, str(GENERATOR), *args, "--out", str(out)], check=True, capture_output=True
    )
    return out


def without_tle_paths(path: Path) -> list[str]:
    """The model's lines, TLE file paths (relative to the output directory) blanked."""
    return [
        re.sub(r"tle: \{file: [^,]*,", "tle: {", line) for line in path.read_text().splitlines()
    ]


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("week") / "network_week.yaml")


@pytest.fixture(scope="module")
def network(week):
    """(model dict, scenario, view periods DataFrame)."""
    scenario = load_model(week)
    return yaml.safe_load(week.read_text()), scenario, compute_geometry(scenario).windows


def instances(track: dict, scenario) -> list[tuple[datetime, datetime]]:
    """(release, due) of every request instance of a ``tracks:`` entry (docs/tracks.md)."""
    release = parse_time(track.get("release", "+0h"), base=scenario.start)
    due = min(parse_time(track.get("due", "+168h"), base=scenario.start), scenario.end)
    minimum = timedelta(seconds=track.get("min_duration_s", track["duration_s"]))
    repeat = track.get("repeat")
    if repeat is None:
        return [(release, due)]
    if repeat["every"] == "orbit":
        node = next(n for n in scenario.nodes if n.name == track["node"])
        period = timedelta(seconds=node.orbit.period_s)
    else:
        period = timedelta(days={"day": 1, "week": 7}[repeat["every"]])
    out, a = [], release
    while due - a >= minimum:
        b = min(a + period, due)
        out += [(a, b)] * repeat["count"]
        a = b
    return out


def longest_view_s(periods: pd.DataFrame, node: str, stations: list[str], a, b) -> float:
    """Longest interval inside [a, b] in which every one of ``stations`` sees ``node`` (s)."""
    spans = None
    for station in stations:
        rows = periods[(periods["node"] == node) & (periods["station"] == station)]
        mine = [
            (max(s, a), min(e, b))
            for s, e in zip(rows["start"], rows["end"], strict=True)
            if e > a and s < b
        ]
        spans = mine if spans is None else [
            (max(s1, s2), min(e1, e2)) for s1, e1 in spans for s2, e2 in mine if min(e1, e2) > max(s1, s2)
        ]  # fmt: skip
    return max(((e - s).total_seconds() for s, e in spans or []), default=0.0)


def test_same_seed_same_model_another_seed_other_requests(week, tmp_path):
    assert without_tle_paths(generate(tmp_path / "a" / "network_week.yaml")) == without_tle_paths(
        week
    )
    other = generate(tmp_path / "b" / "network_week.yaml", "--seed", "18")
    assert without_tle_paths(other) != without_tle_paths(week)


def test_shipped_model_is_what_the_generator_writes(week):
    assert without_tle_paths(SHIPPED) == without_tle_paths(week)


def test_the_loader_expands_the_same_request_instances(network):
    data, scenario, _ = network
    ours = Counter(t["id"] for t in data["tracks"] for _ in instances(t, scenario))
    theirs = Counter(r.request for r in resolve_tracks(scenario))
    assert ours == theirs


def test_a_dozen_antennas_dozens_of_missions_hundreds_of_requests(network):
    data, scenario, periods = network
    tracks = data["tracks"]
    assert sum(s.antennas for s in scenario.stations) >= 12
    assert scenario.end - scenario.start == timedelta(days=7)
    missions = {t["mission"] for t in tracks}
    assert len(missions) >= 24
    n = sum(len(instances(t, scenario)) for t in tracks)
    assert 200 <= n <= 700
    kinds = Counter(t["id"].split("-")[0] for t in tracks)
    assert set(kinds) == {"ttc", "orb", "trk", "arr", "toolong"}
    assert all("split" in t for t in tracks if t["id"].startswith("trk-"))
    assert all(
        "array" in a for t in tracks if t["id"].startswith("arr-") for a in t["alternatives"]
    )
    assert len({t["priority"] for t in tracks}) >= 3
    assert any("release" in t and "due" in t for t in tracks)
    # tens of view periods per mission and week on the stations it asks for
    for mission in missions:
        mine = [t for t in tracks if t["mission"] == mission]
        nodes = {t["node"] for t in mine}
        stations = {s for t in mine for a in t["alternatives"] for s in
                    ([a] if isinstance(a, str) else a["array"])}  # fmt: skip
        seen = periods[periods["node"].isin(nodes) & periods["station"].isin(stations)]
        assert len(seen) >= 20, mission


def test_every_request_instance_has_a_long_enough_view_period_unless_meant_not_to(network):
    data, scenario, periods = network
    infeasible = []
    for t in data["tracks"]:
        needed = (
            t["split"]["min_segment_s"]
            if "split" in t
            else t.get("min_duration_s", t["duration_s"])
        )
        for a, b in instances(t, scenario):
            best = max(
                longest_view_s(periods, t["node"], [alt] if isinstance(alt, str) else alt["array"], a, b)
                for alt in t["alternatives"]
            )  # fmt: skip
            if best < needed:
                infeasible.append(t["id"])
    assert set(infeasible) == {t["id"] for t in data["tracks"] if t["id"].startswith("toolong-")}


def test_split_requests_fit_their_windows_in_principle(network):
    """A split request's duration is at most the view time its window offers (else it could
    never be complete, and it would not test the optimiser's choices)."""
    data, scenario, periods = network
    for t in data["tracks"]:
        if "split" not in t:
            continue
        ((a, b),) = instances(t, scenario)
        rows = periods[(periods["node"] == t["node"]) & periods["station"].isin(t["alternatives"])]
        offered = (rows["end"].clip(upper=b) - rows["start"].clip(lower=a)).dt.total_seconds()
        assert offered[offered > 0].sum() >= t["duration_s"], t["id"]


def test_help_and_bad_hours():
    out = subprocess.run(
        [sys.executable, str(GENERATOR), "--help"], capture_output=True, text=True, check=True
    )
    assert "--seed" in out.stdout and "--view-periods" in out.stdout
    bad = subprocess.run(
        [sys.executable, str(GENERATOR), "--hours", "12"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--hours" in bad.stderr
