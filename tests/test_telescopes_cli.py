"""``rsmodel telescopes``: bad input is one clear line and exit 2; the shipped model plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsmodel.cli import main

MODEL = Path(__file__).resolve().parents[1] / "models" / "telescopes.yaml"
GOOD_TELESCOPE = "{name: t1, observatory: ctio, aperture_m: 0.4, fov_deg: 0.5, pixel_scale_arcsec: 0.6, reliability: 0.9}"


def write(
    tmp_path: Path, telescope: str = GOOD_TELESCOPE, deep: str = "", too: str = "", sat: str = ""
) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\n"
        "horizon: {start: 2026-05-30T00:00:00Z, hours: 6}\n"
        "telescopes:\n"
        f"  - {telescope}\n"
        "targets:\n"
        f"  deep_sky: [{deep or '{name: M83, ra_deg: 204.25, dec_deg: -29.87, exposure_s: 60, frames: 10}'}]\n"
        + (f"  too: [{too}]\n" if too else "")
        + (f"  satellites: [{sat}]\n" if sat else "")
    )
    return path


CASES = {
    "unknown observatory": (
        {"telescope": GOOD_TELESCOPE.replace("ctio", "ctoi")},
        "telescopes[0].observatory",
        "unknown observatory 'ctoi'; did you mean 'ctio'",
    ),
    "RA out of range": (
        {"deep": "{name: X, ra_deg: 400, dec_deg: 0, exposure_s: 60, frames: 10}"},
        "targets.deep_sky[0].ra_deg",
        "less than 360",
    ),
    "Dec out of range": (
        {"too": "{name: A, ra_deg: 10, dec_deg: -95, arrival: '+1h', duration_s: 60}"},
        "targets.too[0].dec_deg",
        "greater than or equal to -90",
    ),
    "reliability above 1": (
        {"telescope": GOOD_TELESCOPE.replace("reliability: 0.9", "reliability: 1.5")},
        "telescopes[0].reliability",
        "less than or equal to 1",
    ),
    "negative exposure": (
        {"deep": "{name: X, ra_deg: 10, dec_deg: 0, exposure_s: -5, frames: 10}"},
        "targets.deep_sky[0].exposure_s",
        "greater than 0",
    ),
    "unknown NORAD id": (
        {"sat": "{name: S, tle: {norad: 99999}}"},
        "targets.satellites[0].tle.norad",
        "no element set for NORAD 99999",
    ),
    "alert outside the horizon": (
        {"too": "{name: A, ra_deg: 10, dec_deg: 0, arrival: '+7h', duration_s: 60}"},
        "targets.too[0].arrival",
        "outside the horizon",
    ),
}


@pytest.mark.parametrize(
    "command", [["validate"], ["telescopes", "plan"], ["telescopes", "status"]]
)
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_file_line_and_field(case, command, tmp_path, capsys):
    kwargs, field, expected = CASES[case]
    path = write(tmp_path, **kwargs)
    assert main([*command, str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: {path}:") and f" {field}: " in err and expected in err


@pytest.mark.parametrize("action", ["plan", "status", "simulate"])
def test_a_model_without_telescopes_is_one_error_line(action, tmp_path, capsys):
    sync_model = MODEL.parent / "seed_sync.yaml"
    out = [] if action == "status" else ["-o", str(tmp_path)]
    assert main(["telescopes", action, str(sync_model), *out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {sync_model}: telescopes: ")
    assert not (tmp_path / "plan.json").exists()


def test_bad_fault_option_exits_2(tmp_path, capsys):
    path = write(tmp_path)
    assert (
        main(
            [
                "telescopes",
                "simulate",
                str(path),
                "--fault",
                "nope@+1h",
                "--no-save",
                "-o",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "TELESCOPE@TIME" in capsys.readouterr().err


def test_shipped_model_plan_writes_plan_json_with_telescopes(tmp_path, capsys):
    assert main(["validate", str(MODEL)]) == 0
    out = tmp_path / "out"
    assert (
        main(
            [
                "telescopes",
                "plan",
                str(MODEL),
                "--planner",
                "dispatcher",
                "--state",
                str(tmp_path / "s.json"),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    plan = json.loads((out / "plan.json").read_text())
    tel = plan["telescopes"]
    assert plan["schema_version"] == 1 and tel["planner"] == "dispatcher"
    assert {t["class"] for t in tel["tasks"]} == {"too", "ssa", "deep_sky"}
    assert all(t["status"] in ("complete", "partial", "unmet") for t in tel["tasks"])
    assert all(t["reason"] for t in tel["tasks"] if t["status"] != "complete")
    assert any(a["backup"] and a["handover_windows"] for a in tel["assignments"])
    assert "Telescope" in (out / "report.html").read_text()
