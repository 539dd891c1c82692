"""Issue 15's bad link input, as a user meets it: ``rsmodel validate`` prints one line
``file:line: field: what is expected`` and exits 2, and the line is the offending item's own
line (marked ``# <-`` in each model below), not its section's."""

from __future__ import annotations

from pathlib import Path

import pytest

BASE = """\
name: bad-link
horizon: {start: 2026-05-30T00:00:00Z, hours: 12, step_s: 60}
ground_stations:
  - name: svalbard
    lat_deg: 78.23
    lon_deg: 15.41
    alt_m: 500
    bandwidth_bps: 1.0e8
STATION
nodes:
  - name: noaa20
    tle: {norad: 43013}
NODE
"""

BUDGET = "    bands: [{band: X, gt_dbk: 30}]\n    link:\n      budget:\n"

# case -> (station lines, node lines, field path, words the message must contain)
CASES = {
    "station_band_unknown": (
        "    bands:\n      - band: X\n      - band: Q  # <-\n",
        "",
        "ground_stations[0].bands[1].band",
        "'X'",
    ),
    "transmitter_band_unknown": (
        "",
        "    transmitters:\n      - band: W  # <-\n",
        "nodes[0].transmitters[0].band",
        "'Ka'",
    ),
    "station_band_twice": (
        "    bands:\n      - {band: X, gt_dbk: 32}\n      - {band: X, gt_dbk: 22}  # <-\n",
        "",
        "ground_stations[0].bands[1].band",
        "band X repeats item 0",
    ),
    "transmitter_band_twice": (
        "",
        "    transmitters:\n      - band: S\n      - band: X\n      - band: S  # <-\n",
        "nodes[0].transmitters[2].band",
        "one transmitter per band",
    ),
    "budget_band_without_gt": (
        "    link: {budget: {margin_db: 1}}\n"
        "    bands:\n      - {band: X, gt_dbk: 30}\n      - {band: S}  # <-\n",
        "",
        "ground_stations[0].bands[1].gt_dbk",
        "band S: a link budget needs",
    ),
    "mask_unsorted": (
        "    terrain_mask:\n      - [0, 5]\n      - [200, 10]\n      - [100, 3]  # <-\n",
        "",
        "ground_stations[0].terrain_mask[2]",
        "azimuths increasing",
    ),
    "mask_azimuth_360": (
        "    terrain_mask:\n      - [0, 5]\n      - [360, 10]  # <-\n",
        "",
        "ground_stations[0].terrain_mask[1]",
        "outside [0, 360)",
    ),
    "mask_azimuth_negative": (
        "    terrain_mask:\n      - [-10, 5]  # <-\n      - [30, 10]\n",
        "",
        "ground_stations[0].terrain_mask[0]",
        "outside [0, 360)",
    ),
    "modcod_efficiency_falls": (
        BUDGET + "        modcods:\n"
        "          - {name: a, esn0_db: 1, efficiency_bits_per_symbol: 1.0}\n"
        "          - {name: b, esn0_db: 3, efficiency_bits_per_symbol: 0.9}  # <-\n",
        "",
        "ground_stations[0].link.budget.modcods[1]",
        "efficiency both increasing",
    ),
    "rate_table_unsorted": (
        "    link:\n      rate_table:\n"
        "        - {elevation_deg: 30, rate_bps: 1.0e6}\n"
        "        - {elevation_deg: 10, rate_bps: 2.0e6}  # <-\n",
        "",
        "ground_stations[0].link.rate_table[1]",
        "increasing",
    ),
    "frequency_zero": (
        "",
        "    transmitters:\n      - band: X\n        frequency_hz: 0  # <-\n",
        "nodes[0].transmitters[0].frequency_hz",
        "greater than 0",
    ),
    "frequency_negative": (
        "",
        "    transmitters:\n      - band: X\n        frequency_hz: -8.2e9  # <-\n",
        "nodes[0].transmitters[0].frequency_hz",
        "greater than 0",
    ),
    "symbol_rate_zero": (
        "",
        "    transmitters:\n      - band: X\n        symbol_rate_baud: 0  # <-\n",
        "nodes[0].transmitters[0].symbol_rate_baud",
        "greater than 0",
    ),
    "maintenance_ends_before_start": (
        "    maintenance:\n      - start: +4h\n        end: +2h  # <-\n",
        "",
        "ground_stations[0].maintenance[0].end",
        "must be after the start",
    ),
    "blackout_ends_at_start": (
        "",
        "    blackouts:\n      - {start: +4h, end: +4h}  # <-\n",
        "nodes[0].blackouts[0].end",
        "must be after the start",
    ),
}


def model(station: str, node: str) -> str:
    return BASE.replace("STATION\n", station).replace("NODE\n", node)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_link_input_names_the_items_own_line(case, tmp_path: Path, cli) -> None:
    station, node, field, words = CASES[case]
    text = model(station, node)
    (line,) = [i for i, x in enumerate(text.splitlines(), start=1) if x.endswith("# <-")]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    result = cli("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (message,) = result.stderr.strip().splitlines()
    assert message.startswith(f"error: {path}:{line}: {field}: "), message
    assert words in message


def test_node_no_station_can_receive_is_a_warning_naming_the_pair(tmp_path: Path, cli) -> None:
    text = model(
        "    bands: [{band: X}]\n",
        "    transmitters: [{band: S}]\n  - name: metop\n    tle: {norad: 38771}\n"
        "    transmitters: [{band: X}]\n",
    )
    path = tmp_path / "m.yaml"
    path.write_text(text)
    result = cli("validate", str(path))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    warnings = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and "noaa20 / svalbard" in warnings[0]
    assert "metop" not in warnings[0]
