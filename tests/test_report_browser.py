"""Reports in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): they load
with no console error and no network request, draw one bar/point per plan item, their tables
filter, sort and page, model strings stay text, and they fit a phone screen. Screenshots go to
test-artifacts/ (look at them)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rsmodel.io import write_text
from rsmodel.report import read_events, render_plan, rerender
from tests.conftest import MODELS, ROOT

playwright_api = pytest.importorskip("playwright.sync_api")

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from synth_plan import synthetic_plan  # noqa: E402

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
XSS = "<script>alert(1)</script>"


@dataclass
class Loaded:
    """A report open in a page, with everything it tried to do."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.errors == []
        assert self.requests == [self.url]  # the file itself, nothing else
        assert self.dialogs == []

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def visible_rows(self, table_id: str) -> list[list[str]]:
        return self.page.eval_on_selector_all(
            f"#{table_id} tbody tr:not([hidden])",
            "rows => rows.map(r => Array.from(r.cells, c => c.textContent))",
        )

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000
        return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does)")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_report(browser: Any) -> Iterator[Any]:
    contexts = []

    def _open(path: Path, width: int = 1280) -> Loaded:
        context = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(context)
        page = context.new_page()
        loaded = Loaded(page, path.resolve().as_uri())
        page.on(
            "console", lambda m: m.type in ("error", "warning") and loaded.errors.append(m.text)
        )
        page.on("pageerror", lambda e: loaded.errors.append(str(e)))
        page.on("request", lambda r: loaded.requests.append(r.url))
        page.on("dialog", lambda d: (loaded.dialogs.append(d.message), d.dismiss()))
        context.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("file:") else route.abort()
            ),
        )
        page.goto(loaded.url)
        page.wait_for_load_state("load")
        return loaded

    yield _open
    for context in contexts:
        context.close()


def write_report(tmp_path: Path, name: str, html: str) -> Path:
    return write_text(tmp_path / f"{name}.html", html)


def small_plan() -> dict[str, Any]:
    return json.loads((FIXTURES / "plan_small.json").read_text())


# --------------------------------------------------------------------------- the fixture plan


def test_plan_report_draws_one_bar_per_window_eclipse_transfer_and_step(
    tmp_path: Path, open_report
) -> None:
    plan = small_plan()
    report = open_report(write_report(tmp_path, "plan_small", render_plan(plan)))
    report.assert_clean()
    nodes = "#gantt-nodes"
    assert report.count(f"{nodes} rect.win") == len(plan["windows"])
    assert report.count(f"{nodes} rect.ecl") == len(plan["eclipses"])
    assert report.count(f"{nodes} rect.op") == len(plan["operations"])
    assert report.count("#gantt-stations rect.op") == len(plan["operations"])
    placed = [d for job in plan["jobs"] for d in job["placement_decisions"] if d["start"]]
    assert report.count(f"{nodes} rect.job") == len(placed)
    for i, curve in enumerate(
        sorted(plan["soc"].values(), key=lambda c: min(c["soc"]) - c["min_soc"]), 1
    ):
        points = report.page.get_attribute(f"#soc-{i} path.line", "data-points")
        assert int(points) == len(curve["times"])
        assert report.count(f"#soc-{i} line.floor") == 1
    labels = report.page.locator(f"{nodes} g.row > text").all_text_contents()
    assert labels == [n["name"] for n in plan["nodes"]]
    report.shot("report_plan_small")


def test_sync_table_filters_by_select_and_text_and_sorts(tmp_path: Path, open_report) -> None:
    plan = small_plan()
    report = open_report(write_report(tmp_path, "plan_small", render_plan(plan)))
    page = report.page
    assert len(report.visible_rows("t-syncs")) == len(plan["syncs"])

    page.select_option('.dt-controls[data-for="t-syncs"] select[aria-label="status"]', "partial")
    rows = report.visible_rows("t-syncs")
    assert sorted(r[0] for r in rows) == sorted(
        s["id"] for s in plan["syncs"] if s["status"] == "partial"
    )
    page.select_option('.dt-controls[data-for="t-syncs"] select[aria-label="status"]', "")

    page.fill('.dt-controls[data-for="t-syncs"] input.dt-search', "sat-3")
    rows = report.visible_rows("t-syncs")
    assert sorted(r[0] for r in rows) == sorted(
        s["id"] for s in plan["syncs"] if s["node"] == "sat-3"
    )
    page.fill('.dt-controls[data-for="t-syncs"] input.dt-search', "")

    page.click("#t-syncs th:text-is('size')")
    ids = [r[0] for r in report.visible_rows("t-syncs")]
    by_size = sorted(plan["syncs"], key=lambda s: s["data_size_bytes"])
    assert [s["data_size_bytes"] for s in plan["syncs"] if s["id"] == ids[0]] == [
        by_size[0]["data_size_bytes"]
    ]
    page.click("#t-syncs th:text-is('size')")
    ids = [r[0] for r in report.visible_rows("t-syncs")]
    assert [s["data_size_bytes"] for s in plan["syncs"] if s["id"] == ids[0]] == [
        by_size[-1]["data_size_bytes"]
    ]
    report.assert_clean()


def test_model_strings_render_as_text_and_no_script_runs(tmp_path: Path, open_report) -> None:
    plan = small_plan()
    plan["model"]["name"] = XSS
    plan["stations"][0]["name"] = XSS
    for item in plan["windows"] + plan["operations"]:
        if item["station"] == "svalbard":
            item["station"] = XSS
    plan["syncs"][0]["reason"] = XSS
    report = open_report(write_report(tmp_path, "xss", render_plan(plan)))
    report.assert_clean()  # includes: no alert dialog
    assert XSS in report.page.locator("#gantt-stations g.row > text").all_text_contents()
    assert report.page.locator("header.top h1").inner_text().startswith(XSS)
    assert XSS in report.page.locator("#t-syncs").inner_text()
    assert report.page.title().startswith(XSS)
    report.shot("report_xss")


def test_long_node_names_are_not_clipped_at_the_timeline_edge(tmp_path: Path, open_report) -> None:
    plan = small_plan()
    renames = {"sat-1": "TECHSAT 1B (GO-32)", "sat-2": "WORLDVIEW-2 (WV-2) PRIMARY IMAGER X"}
    for item in plan["nodes"] + plan["windows"] + plan["eclipses"] + plan["operations"]:
        key = "name" if item in plan["nodes"] else "node"
        item[key] = renames.get(item[key], item[key])
    for sync in plan["syncs"]:
        sync["node"] = renames.get(sync["node"], sync["node"])
    report = open_report(write_report(tmp_path, "long_names", render_plan(plan)))
    report.assert_clean()
    left = report.page.locator("#gantt-nodes").bounding_box()["x"]
    labels = report.page.locator("#gantt-nodes g.row > text")
    texts = labels.all_text_contents()
    assert "TECHSAT 1B (GO-32)" in texts  # short enough to be shown whole
    for i in range(labels.count()):
        assert labels.nth(i).bounding_box()["x"] >= left  # nothing cut off on the left
    report.shot("report_long_node_names")


def test_report_fits_a_phone_screen_and_prints_without_controls(
    tmp_path: Path, open_report
) -> None:
    report = open_report(write_report(tmp_path, "plan_small", render_plan(small_plan())), width=390)
    report.assert_clean()
    page_width = report.page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 390  # wide charts and tables scroll inside their own boxes
    assert report.page.locator("#gantt-nodes").bounding_box()["width"] >= 700  # still readable
    report.shot("report_plan_small_phone")
    report.page.emulate_media(media="print")
    assert report.page.locator(".dt-controls").first.is_hidden()
    assert report.page.locator("nav.toc").is_hidden()


# --------------------------------------------------------------------------- shipped models


@pytest.fixture(scope="module")
def seed_outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.conftest import run_cli

    base = tmp_path_factory.mktemp("shipped")
    runs = {
        "seed_sync": ("run", str(MODELS / "seed_sync.yaml"), "-o", str(base / "seed_sync")),
        "seed_faults": (
            "simulate", str(MODELS / "seed_sync.yaml"), "--faults", str(MODELS / "seed_faults.yaml"),
            "-o", str(base / "seed_faults"),
        ),
        "eclipse_compute": ("plan", str(MODELS / "requests" / "eclipse_compute.json"), "-o", str(base / "eclipse_compute")),
        "telescopes": ("telescopes", "plan", str(MODELS / "telescopes.yaml"), "-o", str(base / "telescopes")),
        "study_seed_sync": ("study", str(MODELS / "study_seed_sync.yaml"), "-o", str(base / "study_seed_sync"), "--workers", "1"),
    }  # fmt: skip
    for name, args in runs.items():
        result = run_cli(*args)
        assert result.returncode == 0, f"{name}: {result.stderr}"
        assert "not rendered" not in result.stderr, result.stderr
    return {name: base / name for name in runs}


def test_seed_sync_report_loads_clean_with_every_pass(
    seed_outputs: dict[str, Path], open_report
) -> None:
    out = seed_outputs["seed_sync"]
    plan = json.loads((out / "plan.json").read_text())
    report = open_report(out / "report.html")
    report.assert_clean()
    assert report.count("#gantt-nodes rect.win") == len(plan["windows"])
    assert report.count("#gantt-nodes rect.ecl") == len(plan["eclipses"])
    assert report.count("#gantt-nodes rect.op") == len(plan["operations"])
    assert len(report.visible_rows("t-syncs")) == len(plan["syncs"])
    assert report.count("#heat-throughput rect.cell") == 24 * len(plan["stations"])
    report.shot("report_seed_sync")


def test_simulation_event_log_filters_by_kind_node_and_station(
    seed_outputs: dict[str, Path], open_report
) -> None:
    out = seed_outputs["seed_faults"]
    events = read_events(out / "events.jsonl")
    report = open_report(out / "report.html")
    report.assert_clean()
    on_rows = [e for e in events if e.get("node") or e.get("station")]
    assert report.count("#gantt-events rect.ev") == len(on_rows)
    controls = '.dt-controls[data-for="t-events"]'
    kinds = Counter(e["type"] for e in events)
    kind = "sync.completed"
    report.page.select_option(f'{controls} select[aria-label="type"]', kind)
    assert len(report.visible_rows("t-events")) == min(kinds[kind], 50)
    assert {r[1] for r in report.visible_rows("t-events")} == {kind}
    report.page.select_option(f'{controls} select[aria-label="type"]', "")
    report.page.select_option(f'{controls} select[aria-label="station"]', "chile")
    expected = sum(e.get("station") == "chile" for e in events)
    info = report.page.locator(f"{controls} .dt-info").inner_text()
    assert info.startswith(f"1–{min(expected, 50)} of {expected} ")
    report.page.select_option(f'{controls} select[aria-label="station"]', "")
    report.page.select_option(f'{controls} select[aria-label="node"]', "sat-5")
    assert {r[2] for r in report.visible_rows("t-events")} == {"sat-5"}
    report.shot("report_seed_faults_events")


def test_compute_report_shows_jobs_soc_and_events(
    seed_outputs: dict[str, Path], open_report
) -> None:
    out = seed_outputs["eclipse_compute"]
    plan = json.loads((out / "plan.json").read_text())
    events = read_events(out / "events.jsonl")
    report = open_report(out / "report.html")
    report.assert_clean()
    assert len(report.visible_rows("t-jobs")) == len(plan["jobs"])
    assert report.count("svg[id^=soc-] path.line") == len(plan["soc"])
    assert (
        report.page.locator('.dt-controls[data-for="t-events"] .dt-info')
        .inner_text()
        .endswith(f"of {len(events)}")
    )
    report.shot("report_eclipse_compute")


def test_study_report_draws_a_cell_per_variant(seed_outputs: dict[str, Path], open_report) -> None:
    out = seed_outputs["study_seed_sync"]
    meta = json.loads((out / "study.json").read_text())
    report = open_report(out / "report.html")
    report.assert_clean()
    n_variants = len(meta["variants"])
    assert len(report.visible_rows("t-study")) == n_variants
    heatmaps = report.page.locator("svg.heatmap")
    assert heatmaps.count() >= 1
    for i in range(heatmaps.count()):
        assert heatmaps.nth(i).locator("rect.cell").count() == n_variants
    report.shot("report_study_seed_sync")


def test_telescope_report_draws_every_assignment(
    seed_outputs: dict[str, Path], open_report
) -> None:
    out = seed_outputs["telescopes"]
    section = json.loads((out / "plan.json").read_text())["telescopes"]
    report = open_report(out / "report.html")
    report.assert_clean()
    assert report.count("#gantt-telescopes rect.op") == len(section["assignments"])
    assert report.count("#gantt-telescopes rect.win") == len(section["windows"])
    rows = report.page.locator("#gantt-telescopes g.row > text").all_text_contents()
    assert rows == [t["name"] for t in section["telescopes"]]
    controls = '.dt-controls[data-for="t-tel-tasks"]'
    report.page.select_option(f'{controls} select[aria-label="status"]', "complete")
    done = sum(t["status"] == "complete" for t in section["tasks"])
    assert (
        report.page.locator(f"{controls} .dt-info")
        .inner_text()
        .startswith(f"1–{min(done, 25)} of {done} ")
    )
    report.shot("report_telescopes")


def test_station_timeline_draws_turnarounds_around_a_track(tmp_path: Path, open_report) -> None:
    """alpha's one antenna passes from sat-a's contact to sat-b's track and back: the station
    row shows a track, its setup and teardown, and a 300 s turnaround bar on each side with
    its hover text."""
    from rsmodel.model.loader import load_model
    from rsmodel.pipeline import run
    from tests.test_tracks import HEADER, TURN_BODY, TURN_PERIODS

    header = HEADER.replace(
        "{name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6}",
        "{name: alpha, lat_deg: 10, lon_deg: 10, bandwidth_bps: 1.0e6, turnaround_s: 300}",
    )
    (tmp_path / "periods.csv").write_text(TURN_PERIODS)
    (tmp_path / "model.yaml").write_text(header + TURN_BODY + "solver: {method: greedy}\n")
    plan = run(load_model(tmp_path / "model.yaml")).plan.to_dict()
    report = open_report(write_report(tmp_path, "track_turnaround", render_plan(plan)))
    report.assert_clean()
    stations = "#gantt-stations"
    assert report.count(f'{stations} rect[class="trk"]') == len(plan["tracks"]) == 1
    assert (
        report.count(f"{stations} rect.trk.setup")
        == report.count(f"{stations} rect.trk.teardown")
        == 1
    )
    turns = report.page.locator(f"{stations} rect.turn")
    assert turns.count() == 2
    titles = sorted(turns.nth(i).locator("title").text_content() for i in range(2))
    assert titles[0].startswith("antenna 1 turnaround 300 s: sat-a → sat-b")
    assert titles[1].startswith("antenna 1 turnaround 300 s: sat-b → sat-a")
    assert all(turns.nth(i).bounding_box()["width"] > 0 for i in range(2))
    report.shot("report_track_turnaround")


@pytest.mark.parametrize("name", ["seed_sync", "eclipse_compute", "telescopes", "study_seed_sync"])
def test_shipped_model_reports_regenerate_identically(
    seed_outputs: dict[str, Path], name: str
) -> None:
    out = seed_outputs[name]
    original = (out / "report.html").read_bytes()
    assert rerender(out) == [out / "report.html"]
    assert (out / "report.html").read_bytes() == original


# --------------------------------------------------------------------------- constellation size


def test_constellation_size_report_loads_and_pages(tmp_path: Path, open_report) -> None:
    plan = synthetic_plan(n_nodes=100, n_stations=10, hours=24, n_syncs=1000)
    report = open_report(write_report(tmp_path, "constellation", render_plan(plan)))
    report.assert_clean()
    drawn = report.page.eval_on_selector_all(
        "#gantt-nodes path.ecl", "ps => ps.reduce((n, p) => n + +p.dataset.n, 0)"
    )
    assert drawn == len(plan["eclipses"])
    assert report.count("#gantt-nodes rect.op") == len(plan["operations"])
    controls = '.dt-controls[data-for="t-ops"]'
    n_ops = len(plan["operations"])
    assert report.page.locator(f"{controls} .dt-info").inner_text() == f"1–25 of {n_ops}"
    first_page = report.visible_rows("t-ops")
    report.page.click(f"{controls} button.dt-next")
    assert report.page.locator(f"{controls} .dt-info").inner_text() == f"26–50 of {n_ops}"
    second_page = report.visible_rows("t-ops")
    assert len(first_page) == len(second_page) == 25 and first_page[0] != second_page[0]
    assert report.count("svg[id^=soc-]") == 12  # capped: the 12 nodes closest to their floor
    report.shot("report_constellation_synthetic")
