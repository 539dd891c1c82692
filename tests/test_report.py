"""HTML reports without a browser: determinism and re-rendering from saved outputs, escaping of
every model string, sections present only with their data, the manager summary and the chart
geometry checked against values computed here from the plan."""

from __future__ import annotations

import copy
import json
import re
import shutil
import sys
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from rsmodel.io import write_json, write_netcdf, write_text
from rsmodel.report import read_events, render_events, render_plan, render_study, rerender
from tests.conftest import MODELS

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from synth_plan import synthetic_plan  # noqa: E402

XSS = "<script>alert(1)</script>"


def small_plan() -> dict[str, Any]:
    return json.loads((FIXTURES / "plan_small.json").read_text())


def seed_events() -> list[dict[str, Any]]:
    return read_events(FIXTURES / "events_seed_faults.jsonl")


class Elements(HTMLParser):
    """Every start tag with its attributes, plus the text inside <script> elements."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag and (cls is None or a.get("class") == cls)]


def svg_section(html: str, svg_id: str) -> str:
    start = html.index(f'id="{svg_id}"')
    return html[start : html.index("</svg>", start)]


def iso_dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- re-rendering


def test_plan_report_rerenders_byte_identical_from_plan_json(tmp_path: Path, cli) -> None:
    plan = small_plan()
    write_json(tmp_path / "plan.json", plan)
    write_text(tmp_path / "report.html", render_plan(plan))
    first = (tmp_path / "report.html").read_bytes()
    result = cli("report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "report.html") in result.stdout
    assert (tmp_path / "report.html").read_bytes() == first


def test_shipped_seed_model_report_regenerates_identically(tmp_path: Path, cli) -> None:
    out = tmp_path / "seed"
    run = cli("run", str(MODELS / "seed_sync.yaml"), "-o", str(out))
    assert run.returncode == 0, run.stderr
    original = (out / "report.html").read_bytes()
    (out / "report.html").unlink()  # no hint left: the kind comes from the saved files
    again = cli("report", str(out))
    assert again.returncode == 0, again.stderr
    assert (out / "report.html").read_bytes() == original
    plan = json.loads((out / "plan.json").read_text())
    assert plan["generated_at"] in original.decode()  # the only time stamp: the plan's own


def test_event_log_report_rerenders_identically(tmp_path: Path) -> None:
    events = seed_events()
    shutil.copy(FIXTURES / "events_seed_faults.jsonl", tmp_path / "events.jsonl")
    write_text(tmp_path / "report.html", render_events(events))
    first = (tmp_path / "report.html").read_bytes()
    assert rerender(tmp_path) == [tmp_path / "report.html"]
    assert (tmp_path / "report.html").read_bytes() == first


def test_an_events_file_from_before_the_one_schema_rerenders_like_the_schema(
    tmp_path: Path,
) -> None:
    """Old events.jsonl files named the event ``kind``: read as ``type``, same report."""
    events = seed_events()
    old, new = tmp_path / "old", tmp_path / "new"
    old_lines = [
        json.dumps({("kind" if k == "type" else k): v for k, v in e.items()}) for e in events
    ]
    write_text(old / "events.jsonl", "".join(line + "\n" for line in old_lines))
    write_text(new / "events.jsonl", (FIXTURES / "events_seed_faults.jsonl").read_text())
    assert read_events(old / "events.jsonl") == events
    assert all("kind" not in e and e["type"] for e in read_events(old / "events.jsonl"))
    rerender(old)
    rerender(new)
    html = (old / "report.html").read_text()
    assert html == (new / "report.html").read_text()
    assert "sync.completed" in html and "fault.station_outage" in html


def test_plan_with_events_rerenders_with_its_event_log(tmp_path: Path) -> None:
    plan, events = small_plan(), seed_events()
    write_json(tmp_path / "plan.json", plan)
    shutil.copy(FIXTURES / "events_seed_faults.jsonl", tmp_path / "events.jsonl")
    write_text(tmp_path / "report.html", render_plan(plan, events=events))
    first = (tmp_path / "report.html").read_bytes()
    rerender(tmp_path)
    assert (tmp_path / "report.html").read_bytes() == first
    assert 'id="t-events"' in first.decode()


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("plan.json", '{"schema_version": 1,\n "stations": [}', "plan.json:2: "),
        ("plan.json", '{"schema_version": 7}', "plan.json: schema_version: expected 1"),
        (
            "events.jsonl",
            '{"time": "2026-05-30T00:00:00Z", "type": "x"}\ngarbage\n',
            "events.jsonl:2: ",
        ),
    ],
)
def test_a_damaged_output_file_is_one_error_line_not_a_traceback(
    tmp_path: Path, cli, name: str, text: str, where: str
) -> None:
    write_text(tmp_path / name, text)
    result = cli("report", str(tmp_path))
    assert result.returncode == 2
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"error: {tmp_path / name}") and where in err
    assert not (tmp_path / "report.html").exists()


def study_dataset() -> tuple[xr.Dataset, dict[str, Any]]:
    rate = np.array([2e6, 5e6, 2e7])
    stations = np.array(["all", "no-chile"])
    wait = np.array([[70.4, 71.0], [68.0, 68.6], [66.8, 67.4]])
    ds = xr.Dataset(
        {
            "avg_wait_minutes": (("rate_bps", "stations"), wait, {"units": "min"}),
            "total_data_mb": (("rate_bps", "stations"), np.full((3, 2), 500.0), {"units": "MB"}),
            "status": (("rate_bps", "stations"), np.full((3, 2), "ok")),
        },
        coords={"rate_bps": rate, "stations": stations},
    )
    meta = {
        "name": "seed study",
        "description": "rate x stations",
        "kpis": {"avg_wait_minutes": {"better": "min"}, "total_data_mb": {"better": "max"}},
        "variants": [],
    }
    return ds, meta


def test_study_report_rerenders_identically_from_study_nc(tmp_path: Path) -> None:
    ds, meta = study_dataset()
    write_netcdf(tmp_path / "study.nc", ds)
    write_json(tmp_path / "study.json", meta)
    write_text(tmp_path / "report.html", render_study(ds, meta))
    first = (tmp_path / "report.html").read_bytes()
    rerender(tmp_path)
    assert (tmp_path / "report.html").read_bytes() == first


def test_report_of_a_directory_without_outputs_is_one_clear_error(tmp_path: Path, cli) -> None:
    result = cli("report", str(tmp_path))
    assert result.returncode == 1
    assert str(tmp_path) in result.stderr and "plan.json" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- escaping


def hostile_plan() -> dict[str, Any]:
    plan = small_plan()
    plan["model"]["name"] = XSS
    plan["model"]["text"] = f"name: x\n# </pre>{XSS}\n"
    plan["stations"][0]["name"] = XSS
    for item in plan["windows"] + plan["operations"]:
        if item["station"] == "svalbard":
            item["station"] = XSS
    plan["syncs"][0]["reason"] = XSS
    plan["syncs"][0]["data_type"] = '"><img src=x onerror=alert(2)>'
    plan["warnings"].append(XSS)
    return plan


def test_every_model_string_in_a_plan_report_is_escaped() -> None:
    html = render_plan(
        hostile_plan(), events=[{"time": "2026-05-30T01:00:00Z", "type": XSS, "station": XSS}]
    )
    assert XSS not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = Elements(html)
    assert len(page.find("script")) == 1  # only the report's own inline script
    assert "alert" not in "".join(page.scripts)


def test_study_and_event_strings_are_escaped() -> None:
    ds, meta = study_dataset()
    ds = ds.assign_coords(stations=[XSS, "no-chile"])
    meta["description"] = XSS
    html = render_study(ds, meta) + render_events(
        [{"time": "2026-05-30T00:00:00Z", "type": "k", "node": XSS}]
    )
    assert XSS not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3


# --------------------------------------------------------------------------- sections


def section_ids(html: str) -> set[str]:
    return {a["id"] for a in Elements(html).find("section") if "id" in a}


def test_sections_follow_the_data_in_the_plan() -> None:
    plan = small_plan()
    full = section_ids(render_plan(plan))
    assert {
        "overview",
        "timeline",
        "soc",
        "syncs",
        "operations",
        "stations",
        "jobs",
        "solver",
        "model",
    } <= full
    assert "telescopes" not in full and "events" not in full

    bare = copy.deepcopy(plan)
    for key in ("jobs", "soc"):
        del bare[key]
    ids = section_ids(render_plan(bare))
    assert "jobs" not in ids and "soc" not in ids and "syncs" in ids

    no_syncs = copy.deepcopy(bare)
    no_syncs.update(syncs=[], operations=[])
    no_syncs["telescopes"] = {
        "kpis": {"too_tasks": 2, "too_complete": 1},
        "tasks": [{"id": "too:1", "class": "too", "status": "unmet", "reason": "clouds"}],
    }
    html = render_plan(no_syncs)
    ids = section_ids(html)
    assert "syncs" not in ids and "telescopes" in ids
    assert "1/2" in html and "clouds" in html


# --------------------------------------------------------------------------- summary


def test_manager_summary_states_what_got_down_what_did_not_and_why() -> None:
    plan = small_plan()
    html = render_plan(plan)
    box = html[
        html.index('id="summary-box"') : html.index(
            "</div>\n</div>", html.index('id="summary-box"')
        )
    ]
    syncs = plan["syncs"]
    complete = [s for s in syncs if s["status"] == "complete"]
    assert f"{len(complete)} of {len(syncs)} syncs complete" in box
    for s in syncs:
        if s["status"] != "complete":
            assert s["id"] in box and s["reason"] in box
    late = [
        s["id"]
        for s in syncs
        if s["deadline"]
        and (s["status"] != "complete" or iso_dt(s["completed_at"]) > iso_dt(s["deadline"]))
    ]
    assert f"{len(late)} sync deadline(s) missed: {', '.join(late)}" in box
    deferred = [
        d for j in plan["jobs"] for d in j["placement_decisions"] if d["status"] == "deferred"
    ]
    assert f"{len(deferred)} compute step(s) not placed" in box


# --------------------------------------------------------------------------- chart geometry


def test_gantt_bars_sit_at_their_utc_times() -> None:
    plan = small_plan()
    svg = svg_section(render_plan(plan), "gantt-nodes")
    page = Elements(svg)
    line = page.find("line", "rowline")[0]
    x0, x1 = float(line["x1"]), float(line["x2"])
    t0, t1 = iso_dt(plan["horizon"]["start"]), iso_dt(plan["horizon"]["end"])

    def x_of(t: str) -> float:
        return x0 + (iso_dt(t) - t0).total_seconds() / (t1 - t0).total_seconds() * (x1 - x0)

    windows = page.find("rect", "win") + page.find("rect", "win used")
    assert len(windows) == len(plan["windows"])
    assert sorted(float(r["x"]) for r in windows) == pytest.approx(
        sorted(x_of(w["start"]) for w in plan["windows"]), abs=0.06
    )
    eclipses = page.find("rect", "ecl")
    assert len(eclipses) == len(plan["eclipses"])
    ops = [a for t, a in page.tags if t == "rect" and a.get("class", "").startswith("op ")]
    assert len(ops) == len(plan["operations"])
    placed = [d for j in plan["jobs"] for d in j["placement_decisions"] if d["start"]]
    assert len(page.find("rect", "job")) == len(placed)
    labels = re.findall(r'text-anchor="middle">(\d\d:\d\d)</text>', svg)
    assert labels and all(label.endswith(":00") for label in labels)  # round UTC hours


def test_soc_curve_has_every_sample_and_the_floor_line() -> None:
    plan = small_plan()
    html = render_plan(plan)
    for i, (node, curve) in enumerate(
        sorted(plan["soc"].items(), key=lambda kv: min(kv[1]["soc"]) - kv[1]["min_soc"]), 1
    ):
        svg = svg_section(html, f"soc-{i}")
        path = Elements(svg).find("path", "line s0")[0]
        assert len(re.findall(r"[ML]", path["d"])) == len(curve["times"])
        assert f"min SOC {curve['min_soc']:.0%}" in svg
        assert f'aria-label="SOC of {node}"' in svg  # nodes closest to their floor first


def test_constellation_size_plan_is_compact_and_complete() -> None:
    plan = synthetic_plan(n_nodes=100, n_stations=10, hours=24, n_syncs=1000)
    html = render_plan(plan)
    assert len(html.encode()) < 5_000_000
    svg = svg_section(html, "gantt-nodes")
    drawn = {cls: 0 for cls in ("ecl", "win", "win used")}
    for cls, n in re.findall(r'<path class="([^"]+)" d="[^"]*" data-n="(\d+)"', svg):
        drawn[cls] += int(n)
    assert drawn["ecl"] == len(plan["eclipses"])
    assert drawn["win"] + drawn["win used"] == len(plan["windows"])
    assert len(re.findall(r'<rect class="op p\d"', svg)) == len(plan["operations"])
    assert html.count("<tr>") - 1 >= len(plan["syncs"]) + len(
        plan["operations"]
    )  # every row is there


def test_study_charts_have_a_point_or_cell_per_variant() -> None:
    ds, meta = study_dataset()
    html = render_study(ds, meta)
    page = Elements(svg_section(html, "heat-1"))
    assert len(page.find("rect", "cell")) == ds.sizes["rate_bps"] * ds.sizes["stations"]
    assert "total_data_mb" in html.split("not charted")[1]  # constant across variants
    one_d = ds.isel(stations=0, drop=True)
    html = render_study(one_d, meta)
    page = Elements(svg_section(html, "kpi-1"))
    assert len(page.find("circle", "pt s0")) == ds.sizes["rate_bps"]
    assert "best avg_wait_minutes (min)" in html and "rate_bps=20M" in html


def test_event_log_summary_agrees_with_the_simulators_final_totals() -> None:
    events = seed_events()
    finished = next(e for e in events if e["type"] == "sim.finished")["details"]
    html = render_events(events)
    faults = sum(
        e["type"].startswith("fault.") and not e["type"].endswith("_restored") for e in events
    )
    assert (
        f"{finished['completed']} completed, {finished['failed']} failed for good; {faults} fault(s)."
        in html
    )


def test_event_cards_show_every_fault_kind_and_restorations_are_not_bad() -> None:
    events = seed_events()
    html = render_events(events)
    cards = {
        label: tone
        for tone, label in re.findall(
            r'<div class="card ([a-z]*)"><div class="v">[^<]*</div><div class="l">([^<]*)<', html
        )
    }
    fault_kinds = {
        e["type"] for e in events if "fault" in e["type"] and not e["type"].endswith("_restored")
    }
    assert fault_kinds <= set(cards)  # a single station outage is never cut from the summary
    assert all(cards[k] == "bad" for k in fault_kinds)
    assert all(tone != "bad" for label, tone in cards.items() if label.endswith("_restored"))


def test_a_plan_replayed_with_failures_lists_them_as_risks() -> None:
    plan = small_plan()
    risk_re = r'<li class="risk [a-z]*">([^<]*)</li>'
    plan_risks = re.findall(risk_re, render_plan(plan))
    events = [
        {"time": "2026-05-30T04:14:00Z", "type": "telescope.faulted", "telescope": "t1"},
        {"time": "2026-05-30T04:15:00Z", "type": "track.failed", "telescope": "t1"},
        {"time": "2026-05-30T04:16:00Z", "type": "track.failed", "telescope": "t1"},
        {"time": "2026-05-30T04:16:00Z", "type": "track.lost", "telescope": "t1"},
        {"time": "2026-05-30T05:00:00Z", "type": "telescope.recovered", "telescope": "t1"},
        {"time": "2026-05-30T05:01:00Z", "type": "track.completed", "telescope": "t2"},
    ]
    html = render_plan(plan, events=events)
    risks = re.findall(r'<li class="risk bad">([^<]*)</li>', html)
    assert set(plan_risks) <= set(re.findall(risk_re, html))  # the plan's own risks stay
    for text in ("2 × track.failed", "1 × track.lost", "1 × telescope.faulted"):
        assert any(r.startswith(text) for r in risks)
    assert not any("completed" in r or "recovered" in r for r in risks)


def test_node_queue_table_totals_each_nodes_requests() -> None:
    plan = small_plan()
    html = render_plan(plan)
    table = html[html.index('id="t-nodes"') : html.index("</table>", html.index('id="t-nodes"'))]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    assert [re.findall(r">([^<]*)</td>", r)[0] for r in rows] == [n["name"] for n in plan["nodes"]]
    for row, node in zip(rows, plan["nodes"], strict=True):
        mine = [s for s in plan["syncs"] if s["node"] == node["name"]]
        delivered = sum(s["delivered_bytes"] for s in mine)
        assert f'data-v="{int(delivered)}"' in row
        open_ids = [s["id"] for s in mine if s["status"] != "complete"]
        assert (", ".join(open_ids) or "–") in row
