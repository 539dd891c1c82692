"""Recorder, data sources and transmitter power in model files (docs/recorder.md): they load
into the resolved node, and bad input is one line naming file, line and field (exit 2)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rsmodel.errors import ModelError
from rsmodel.model.loader import load_model, load_model_text
from tests.conftest import DATA, MODELS

BASE = f"""name: rec
horizon: {{start: 2026-05-30T00:00:00Z, hours: 6, step_s: 60}}
ground_stations:
  - {{name: svalbard, station: svalsat, bandwidth_bps: 1.0e8}}
nodes:
  - name: eo-01
    tle: {{file: {DATA}/leo_snapshot.tle, norad: 43013}}
    battery: {{capacity_wh: 100, min_soc: 0.2}}
    power: {{tx_power_w: 35.0, tx_warmup_s: 60}}
    recorder:
      capacity_bytes: 1.0e11
      initial_fill_bytes: 2.0e10
      sources:
        - name: imager
          rate_bps: 8.0e8
          priority: high
          data_type: image
          active: {{box: {{lat_min_deg: 35, lat_max_deg: 70, lon_min_deg: -10, lon_max_deg: 40, and_sunlit: true}}}}
        - {{name: hk, rate_bps: 1.0e4, priority: critical, active: {{sunlit: true}}}}
        - {{name: burst, rate_bps: 1.0e6, active: {{intervals: [{{start: +1h, end: +90min}}]}}}}
        - {{name: duty, rate_bps: 1.0e6, on_full: overwrite_oldest, active: {{duty_cycle: {{on_s: 90, period_s: 600}}}}}}
"""


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_recorder_resolves_onto_the_node() -> None:
    sc = load_model_text(BASE, file="rec.yaml")
    node = sc.node("eo-01")
    rec = node.recorder
    assert rec is not None
    assert (rec.capacity_bytes, rec.initial_fill_bytes, rec.initial_priority) == (
        1e11,
        2e10,
        "normal",
    )
    by_name = {s.name: s for s in rec.sources}
    assert by_name["imager"].id == "eo-01/imager" and by_name["imager"].rank == 1
    assert by_name["imager"].kind == "box" and by_name["imager"].sunlit
    assert by_name["hk"].kind == "sunlit" and by_name["hk"].rank == 0
    (span,) = by_name["burst"].intervals
    assert span == (sc.start + timedelta(hours=1), sc.start + timedelta(minutes=90))
    assert by_name["duty"].on_full == "overwrite_oldest"
    assert by_name["duty"].duty_cycle.period_s == 600
    assert (node.power.tx_power_w, node.power.tx_warmup_s) == (35.0, 60.0)
    assert not sc.warnings


def test_no_recorder_is_todays_node() -> None:
    sc = load_model(MODELS / "seed_sync.yaml")
    assert all(n.recorder is None and n.power.tx_power_w == 0.0 for n in sc.nodes)


CASES = {
    "negative capacity": (
        ("capacity_bytes: 1.0e11", "capacity_bytes: -1.0e11"),
        "capacity_bytes",
        "nodes[0].recorder.capacity_bytes: Input should be greater than 0",
    ),
    "negative rate": (
        ("rate_bps: 8.0e8", "rate_bps: -8.0e8"),
        "rate_bps: -8.0e8",
        "nodes[0].recorder.sources[0].rate_bps: Input should be greater than or equal to 0",
    ),
    "box latitude below -90": (
        ("lat_min_deg: 35", "lat_min_deg: -95"),
        "lat_min_deg",
        "nodes[0].recorder.sources[0].active.box.lat_min_deg: Input should be greater than or "
        "equal to -90 (got -95)",
    ),
    "box latitude above 90": (
        ("lat_max_deg: 70", "lat_max_deg: 91"),
        "lat_max_deg",
        "active.box.lat_max_deg: Input should be less than or equal to 90 (got 91)",
    ),
    "inverted box": (
        ("lat_max_deg: 70", "lat_max_deg: 30"),
        "lat_max_deg",
        "active.box.lat_max_deg: lat_max_deg 30 is not above lat_min_deg 35; expected "
        "-90 <= lat_min_deg < lat_max_deg <= 90",
    ),
    "empty interval": (
        ("end: +90min", "end: +1h"),
        "end: +1h",
        "sources[2].active.intervals[0].end: end 2026-05-30T01:00:00Z is not after the start "
        "2026-05-30T01:00:00Z; expected a non-empty interval",
    ),
    "initial fill above capacity": (
        ("initial_fill_bytes: 2.0e10", "initial_fill_bytes: 2.0e11"),
        "initial_fill_bytes",
        "nodes[0].recorder.initial_fill_bytes: initial_fill_bytes 2e+11 is above capacity_bytes "
        "1e+11; expected 0 <= initial_fill_bytes <= capacity_bytes",
    ),
    "two activities": (
        ("active: {sunlit: true}", "active: {sunlit: true, duty_cycle: {on_s: 1, period_s: 2}}"),
        "name: hk",
        "sources[1].active: give exactly one of `sunlit: true`, `box`, `intervals` or "
        "`duty_cycle` (got sunlit, duty_cycle)",
    ),
    "duty on longer than period": (
        ("on_s: 90", "on_s: 900"),
        "on_s: 900",
        "sources[3].active.duty_cycle.on_s: on_s 900 is longer than period_s 600",
    ),
    "repeated source name": (
        ("name: burst", "name: hk"),
        "name: hk, rate_bps: 1.0e6",
        "sources[2].name: source name 'hk' is repeated; expected a unique name per node",
    ),
    "unknown on_full": (
        ("on_full: overwrite_oldest", "on_full: wrap"),
        "on_full: wrap",
        "sources[3].on_full: Input should be 'drop_new' or 'overwrite_oldest' (got 'wrap')",
    ),
    "negative tx power": (
        ("tx_power_w: 35.0", "tx_power_w: -35.0"),
        "tx_power_w",
        "nodes[0].power.tx_power_w: Input should be greater than or equal to 0",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_recorder_input_is_one_line(case: str) -> None:
    (old, new), needle, expected = CASES[case]
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(ModelError) as exc:
        load_model_text(text, file="rec.yaml")
    assert str(exc.value).startswith(f"rec.yaml:{line_of(text, needle)}: "), str(exc.value)
    assert expected in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_recorder_input_exits_2_without_traceback(cli, tmp_path: Path) -> None:
    model = tmp_path / "bad.yaml"
    model.write_text(BASE.replace("capacity_bytes: 1.0e11", "capacity_bytes: -1"))
    result = cli("run", str(model), "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {model}:{line_of(BASE, 'capacity_bytes')}: ")
    assert "nodes[0].recorder.capacity_bytes" in line
    assert not (tmp_path / "out").exists()


def test_sync_id_equal_to_a_source_id_is_refused() -> None:
    text = BASE + "syncs:\n  - {id: eo-01/hk, node: eo-01, data_size: 1.0e6}\n"
    with pytest.raises(ModelError, match=r"syncs\[0\]\.id: sync id 'eo-01/hk' is also a recorder"):
        load_model_text(text, file="rec.yaml")


def test_transmitter_the_battery_cannot_feed_for_one_contact_is_a_warning() -> None:
    # 100 Wh x (1 - 0.2) = 80 Wh usable; (60 s warm-up + one 60 s slot) x 3000 W = 100 Wh.
    sc = load_model_text(BASE.replace("tx_power_w: 35.0", "tx_power_w: 3000"), file="rec.yaml")
    (warning,) = sc.warnings
    assert "'eo-01'" in warning and "100 Wh" in warning and "80 Wh" in warning
    # 2000 W x 120 s = 66.7 Wh fits: no warning; a transmitter's own tx_power_w overrides.
    assert not load_model_text(BASE.replace("tx_power_w: 35.0", "tx_power_w: 2000")).warnings
    radio = "    transmitters: [{band: X, tx_power_w: 3000}]\n    recorder:"
    overridden = load_model_text(BASE.replace("    recorder:", radio, 1), file="rec.yaml")
    assert len(overridden.warnings) == 1 and "'eo-01'" in overridden.warnings[0]


def test_cli_validate_prints_the_power_warning(cli, tmp_path: Path) -> None:
    model = tmp_path / "hot.yaml"
    model.write_text(BASE.replace("tx_power_w: 35.0", "tx_power_w: 3000"))
    result = cli("validate", str(model))
    assert result.returncode == 0, result.stderr
    assert "warning: node 'eo-01': one minimum contact" in result.stderr


def test_box_source_needs_an_orbit(tmp_path: Path) -> None:
    periods = tmp_path / "vp.csv"
    periods.write_text(
        "node,station,start,end\neo-01,svalbard,2026-05-30T01:00:00Z,2026-05-30T01:10:00Z\n"
    )
    text = BASE.replace(f"    tle: {{file: {DATA}/leo_snapshot.tle, norad: 43013}}\n", "")
    text = text.replace("nodes:", "view_periods: vp.csv\nnodes:")
    with pytest.raises(ModelError) as exc:
        load_model_text(text, file="rec.yaml", base_dir=tmp_path)
    assert f"rec.yaml:{line_of(text, 'active: {box')}: " in str(exc.value)
    assert "sources[0].active.box: node 'eo-01' has no orbit" in str(exc.value)
