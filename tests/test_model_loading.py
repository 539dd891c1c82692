"""Model files: valid files resolve correctly; every kind of bad input gives one clear error."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sgp4.api import WGS72, Satrec, jday

from rsmodel.errors import ModelError
from rsmodel.model.loader import load_model, load_model_text
from tests.conftest import DATA, MODELS

VALID = """\
name: unit
horizon:
  start: 2026-05-30T00:00:00Z
  hours: 6
  step_s: 30
ground_stations:
  - name: svalbard
    station: svalsat
    bandwidth_bps: 1.0e9
  - name: custom
    lat_deg: 10.5
    lon_deg: 200
    alt_m: 12
    bandwidth_bps: 5.0e8
    elevation_min_deg: 5
nodes:
  - name: iss
    tle: {norad: 25544}
  - name: noaa20
    tle: {file: DATA/leo_snapshot.tle, satellite: "NOAA 20 (JPSS-1)"}
  - name: elem
    elements: {altitude_km: 550, inclination_deg: 97.6, raan_deg: 40, mean_anomaly_deg: 10}
syncs:
  - {node: iss, data_size: 5.0e7, priority: critical, deadline: +2h}
"""


def write(tmp_path: Path, text: str, name: str = "model.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text.replace("DATA/", str(DATA) + "/"))
    return path


def test_valid_model_resolves_catalogs_times_and_orbits(tmp_path: Path) -> None:
    sc = load_model(write(tmp_path, VALID))
    assert sc.start == datetime(2026, 5, 30, tzinfo=UTC)
    assert sc.end == sc.start + timedelta(hours=6)
    assert sc.step_s == 30
    sval = sc.station("svalbard")
    assert sval.lat_deg == pytest.approx(78.230767) and sval.alt_m == pytest.approx(500.3)
    custom = sc.station("custom")
    assert custom.lon_deg == pytest.approx(-160.0)  # 200 E normalised to [-180, 180)
    assert sc.node("iss").orbit.norad_id == 25544
    # the newest ISS element set of the shipped catalog is chosen
    assert sc.node("iss").orbit.line1.split()[3] == "26150.51748228"
    assert sc.node("noaa20").orbit.norad_id == 43013
    sync = sc.syncs[0]
    assert sync.deadline == sc.start + timedelta(hours=2)
    assert sync.release == sc.start and sync.id == "sync-1"


def test_elements_orbit_matches_direct_sgp4init(tmp_path: Path) -> None:
    """The exported TLE of an element-defined node propagates like the elements themselves."""
    sc = load_model(write(tmp_path, VALID))
    orbit = sc.node("elem").orbit
    assert orbit.period_s / 60 == pytest.approx(
        2 * math.pi * math.sqrt((6378.135 + 550) ** 3 / 398600.8) / 60, rel=1e-4
    )
    direct = Satrec()
    epoch = (
        datetime(2026, 5, 30, tzinfo=UTC) - datetime(1949, 12, 31, tzinfo=UTC)
    ).total_seconds() / 86400
    n = math.sqrt(398600.8 / (6378.135 + 550) ** 3) * 60
    direct.sgp4init(
        WGS72,
        "i",
        1,
        epoch,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        math.radians(97.6),
        math.radians(10),
        n,
        math.radians(40),
    )
    jd, fr = jday(2026, 5, 30, 3, 0, 0)
    _, r1, _ = orbit.satrec.sgp4(jd, fr)
    _, r2, _ = direct.sgp4(jd, fr)
    # TLE export rounds angles to 1e-4 deg: a few km after 3 h at most
    assert np.linalg.norm(np.subtract(r1, r2)) < 5.0
    # and the orbit is where the elements say: ~550 km above the Earth
    assert 6378.135 + 530 < np.linalg.norm(r1) < 6378.135 + 570


def test_constellation_group_expands_tle_file(tmp_path: Path) -> None:
    text = (
        VALID.split("nodes:")[0]
        + "nodes:\n  - from_tle: {file: DATA/celestrak_resource_2026-05-30T2250Z.tle, limit: 12}\n"
    )
    sc = load_model(write(tmp_path, text))
    assert len(sc.nodes) == 12
    assert len({n.name for n in sc.nodes}) == 12


def test_relative_tle_path_resolves_against_model_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my.tle").write_text((DATA / "iss.tle").read_text())
    text = (
        VALID.split("nodes:")[0] + "nodes:\n  - {name: a, tle: {file: sub/my.tle, norad: 25544}}\n"
    )
    sc = load_model(write(tmp_path, text))
    assert sc.node("a").orbit.norad_id == 25544


def test_shipped_models_validate(cli) -> None:
    """Every shipped YAML file validates: models, the study model and the faults file."""
    for model in sorted(MODELS.glob("*.yaml")):
        result = cli("validate", str(model))
        assert result.returncode == 0, (model, result.stderr)
        assert ": ok" in result.stdout


def test_schema_command_prints_json_schema(cli) -> None:
    result = cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    props = schema["properties"]
    assert {"horizon", "ground_stations", "nodes", "syncs"} <= set(props)


ARRIVAL = "faults:\n  arrivals:\n    - time: +1h\n      sync: {sync}\n"
BAD_CASES = {
    "yaml_syntax": ("horizon:\n  start: [2026-05-30", None, "YAML syntax error"),
    "unknown_key": (
        VALID.replace("bandwidth_bps: 1.0e9", "bandwith_bps: 1.0e9"),
        "ground_stations[0].bandwith_bps",
        "did you mean 'bandwidth_bps'",
    ),
    "missing_required": (
        VALID.replace("    bandwidth_bps: 5.0e8\n", ""),
        "ground_stations[1].bandwidth_bps",
        "required field is missing",
    ),
    "unknown_station": (
        VALID.replace("station: svalsat", "station: svalsatt"),
        "ground_stations[0].station",
        "unknown catalog station 'svalsatt'",
    ),
    "unknown_norad": (
        VALID.replace("norad: 25544", "norad: 11111"),
        "nodes[0].tle.norad",
        "no element set for NORAD 11111",
    ),
    "unknown_sync_node": (
        VALID.replace("{node: iss,", "{node: isss,"),
        "syncs[0].node",
        "unknown node 'isss'",
    ),
    "missing_tle_file": (
        VALID.replace("DATA/leo_snapshot.tle", "nowhere.tle"),
        "nodes[1].tle.file",
        "TLE file not found",
    ),
    "latitude_range": (
        VALID.replace("lat_deg: 10.5", "lat_deg: 95"),
        "ground_stations[1].lat_deg",
        "less than or equal to 90",
    ),
    "negative_bandwidth": (
        VALID.replace("bandwidth_bps: 5.0e8", "bandwidth_bps: -5"),
        "ground_stations[1].bandwidth_bps",
        "greater than 0",
    ),
    "end_before_start": (
        VALID.replace("hours: 6", "end: 2026-05-29T00:00:00Z"),
        "horizon",
        "must be after start",
    ),
    "step_not_positive": (
        VALID.replace("step_s: 30", "step_s: 0"),
        "horizon.step_s",
        "greater than 0",
    ),
    "duplicate_station": (
        VALID.replace("name: custom", "name: svalbard"),
        "ground_stations[1].name",
        "duplicate station name",
    ),
    # an arriving sync is a `syncs:` entry: same checks, same suggestions, same line numbers
    "arrival_sync_priority": (
        VALID + ARRIVAL.format(sync="{id: late-1, node: iss, data_size: 1.0e6, priority: urgent}"),
        "faults.arrivals[0].sync.priority",
        "'critical', 'high', 'normal' or 'low'",
    ),
    "arrival_sync_unknown_key": (
        VALID + ARRIVAL.format(sync="{id: late-1, node: iss, data_sise: 1.0e6}"),
        "faults.arrivals[0].sync.data_sise",
        "did you mean 'data_size'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_model_gives_one_clear_error_exit_2(case: str, tmp_path: Path, cli) -> None:
    text, field, expected = BAD_CASES[case]
    path = write(tmp_path, text)
    result = cli("validate", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert str(path) in lines[0]
    if field:
        assert f" {field}:" in lines[0]
    assert expected in lines[0]
    # a line number is given: file:LINE:
    assert f"{path}:" in lines[0] and lines[0].split(f"{path}:")[1].split(":")[0].isdigit()


def test_malformed_tle_checksum_is_reported(tmp_path: Path, cli) -> None:
    lines = (DATA / "iss.tle").read_text().splitlines()[:3]
    bad = lines[1][:-1] + str((int(lines[1][-1]) + 1) % 10)
    (tmp_path / "bad.tle").write_text("\n".join([lines[0], bad, lines[2]]) + "\n")
    text = VALID.split("nodes:")[0] + "nodes:\n  - {name: a, tle: {file: bad.tle, norad: 25544}}\n"
    result = cli("validate", str(write(tmp_path, text)))
    assert result.returncode == 2
    assert "nodes[0].tle.file" in result.stderr and "checksum mismatch" in result.stderr


def test_missing_model_file_is_a_clear_error(cli, tmp_path: Path) -> None:
    result = cli("validate", str(tmp_path / "absent.yaml"))
    assert (
        result.returncode == 2
        and "file not found" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_error_object_carries_file_field_and_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        load_model_text(VALID.replace("lat_deg: 10.5", "lat_deg: 95"), file="m.yaml")
    err = info.value
    assert err.file == "m.yaml" and err.field == "ground_stations[1].lat_deg" and err.line == 11


def test_horizon_far_from_tle_epochs_warns_but_validates(tmp_path: Path, cli) -> None:
    stale = VALID.replace("start: 2026-05-30T00:00:00Z", "start: 2026-11-24T00:00:00Z")
    result = cli("validate", str(write(tmp_path, stale)))
    assert result.returncode == 0
    assert "warning:" in result.stderr and "days from the horizon" in result.stderr
    fresh = cli("validate", str(write(tmp_path, VALID, "fresh.yaml")))
    assert "warning" not in fresh.stderr


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        (
            "start: 2026-05-30T00:00:00Z",
            "start: 2026-13-30T00:00:00Z",
            "horizon.start",
            "invalid value",
        ),
        ("  hours: 6\n", "  hours: 6\n  hours: 12\n", "horizon.hours", "duplicate key 'hours'"),
    ],
)
def test_unconstructable_values_and_duplicate_keys_are_errors(
    tmp_path: Path, cli, old, new, field, expected
) -> None:
    path = write(tmp_path, VALID.replace(old, new))
    result = cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f" {field}:" in result.stderr and expected in result.stderr


def test_times_in_messages_are_utc_with_z(tmp_path: Path, cli) -> None:
    result = cli("validate", str(write(tmp_path, VALID)))
    assert "2026-05-30T00:00:00Z .. 2026-05-30T06:00:00Z" in result.stdout
    bad = cli(
        "validate",
        str(write(tmp_path, VALID.replace("hours: 6", "end: 2026-05-29T00:00:00Z"), "b.yaml")),
    )
    assert "end 2026-05-29T00:00:00Z must be after start 2026-05-30T00:00:00Z" in bad.stderr


def test_loading_alone_checks_every_section(tmp_path: Path) -> None:
    """The model layer checks the jobs, faults and telescope sections by itself: a bare
    ``load_model`` (nothing above the model layer imported) rejects each with its field."""
    cases = {
        "jobs[0].node": "jobs:\n  - {name: j, node: nowhere, steps: [{id: a}]}\n",
        "faults.node_faults[0].node": "faults:\n  node_faults: [{node: nowhere, start: +1h, end: +2h}]\n",
        "telescopes[0].observatory": "telescopes:\n  - {name: t, observatory: ctoi, aperture_m: 0.4, "
        "fov_deg: 0.5, pixel_scale_arcsec: 0.6}\n",
    }
    paths = {
        field: write(tmp_path, VALID + extra, f"{i}.yaml")
        for i, (field, extra) in enumerate(cases.items())
    }
    script = (
        "import json, sys\n"
        "from rsmodel.errors import ModelError\n"
        "from rsmodel.model.loader import load_model\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_model(path)\n"
        "    except ModelError as exc:\n"
        "        print(exc)\n"
        "print(json.dumps(sorted({m.split('.')[1] for m in sys.modules if m.startswith('rsmodel.')})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths.values())],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    *errors, packages = proc.stdout.strip().splitlines()
    assert [e.split(": ")[1] for e in errors] == list(cases)
    foundation_and_model = {"errors", "timeutil", "io", "progress", "version", "model"}
    assert set(json.loads(packages)) <= foundation_and_model


def test_validate_recognises_a_faults_file_and_checks_it_against_model(cli) -> None:
    faults = str(MODELS / "seed_faults.yaml")
    alone = cli("validate", faults)
    assert alone.returncode == 0, alone.stderr
    assert "faults file for `rsmodel simulate MODEL --faults" in alone.stdout
    assert "3 arrivals" in alone.stdout and "add --model MODEL" in alone.stdout
    assert "unknown field" not in alone.stderr
    checked = cli("validate", faults, "--model", str(MODELS / "seed_sync.yaml"))
    assert checked.returncode == 0, checked.stderr
    assert "checked against" in checked.stdout and "seed_sync.yaml" in checked.stdout


def _one_error_line(result: subprocess.CompletedProcess[str], path: Path) -> str:
    """The single stderr line of a failed validate, which names ``path`` and a line number."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and ": ok" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].split(f"{path}:")[1].split(":")[0].isdigit(), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("old", "new", "with_model", "expected"),
    [
        (
            "node_faults:",
            "node_fault:",
            False,
            "faults.node_fault: unknown field 'node_fault'; did you mean 'node_faults'?",
        ),
        (
            "transfer_failure_rate: 0.05",
            "transfer_failure_rate: 1.5",
            False,
            "faults.transfer_failure_rate: Input should be less than or equal to 1",
        ),
        (
            "{station: svalbard, start",
            "{station: svalbart, start",
            True,
            "faults.station_outages[0].station: unknown station 'svalbart'",
        ),
    ],
)
def test_broken_faults_file_gives_one_message_with_file_line_field(
    tmp_path: Path, cli, old: str, new: str, with_model: bool, expected: str
) -> None:
    text = (MODELS / "seed_faults.yaml").read_text()
    assert old in text
    path = write(tmp_path, text.replace(old, new), "faults.yaml")
    model = ["--model", str(MODELS / "seed_sync.yaml")] if with_model else []
    assert expected in _one_error_line(cli("validate", str(path), *model), path)


def test_validate_model_option_is_only_for_faults_files(cli) -> None:
    model = str(MODELS / "seed_sync.yaml")
    result = cli("validate", model, "--model", model)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--model is for a faults file" in result.stderr and "seed_sync.yaml" in result.stderr


def test_validate_checks_the_study_section_and_counts_variants(tmp_path: Path, cli) -> None:
    spec = MODELS / "study_seed_sync.yaml"
    ok = cli("validate", str(spec))
    assert ok.returncode == 0, ok.stderr
    assert "study: 6 variants (grid over svalbard_bandwidth_bps, stations)" in ok.stdout
    text = spec.read_text().replace("../data/", f"{DATA}/")
    path = write(tmp_path, text.replace(".svalbard.bandwidth_bps", ".svalbart.bandwidth_bps"))
    line = _one_error_line(cli("validate", str(path)), path)
    assert "study.vary[0].path: no item 'svalbart' in ground_stations" in line
