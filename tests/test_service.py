"""``rsmodel serve`` against a real server process on a free loopback port, with a real HTTP
client (httpx), real SQLite and real HiGHS."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from rsmodel.cli import main
from rsmodel.compute.report import without_timings

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = sorted((ROOT / "models" / "requests").glob("*.json"))
SEED_HEADERS = {"Content-Type": "application/json", "Origin": "https://rotastellar.com"}
START_TIMEOUT_S = 180.0  # two shared CPU cores: worker start-up can be slow
SCHEDULER = {
    "ground_stations": [
        {"name": "svalbard", "lat": 78.2, "lon": 15.6, "bandwidth": 1e9, "elevation_min": 10},
        {"name": "singapore", "lat": 1.3, "lon": 103.8, "bandwidth": 500e6},
    ],
    "orbital_nodes": ["sat-1", "sat-2"],
    "orbits": {"sat-1": {"tle": {"norad": 43013}}, "sat-2": {"tle": {"norad": 54234}}},
    "start": "2026-05-30T00:00:00Z",
}


class Server:
    """``python -m rsmodel.cli serve`` on a free port; ``kill()`` is ``kill -9``."""

    def __init__(self, data: Path, *args: str) -> None:
        self.data, self.args = data, args
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data.parent / f"{data.name}-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, token: str | None = None) -> Server:
        cmd = [sys.executable, "-m", "rsmodel", "serve", "--port", str(self.port)]
        cmd += ["--data", str(self.data), *self.args]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, env=os.environ)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/v1/health", headers=headers).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class Hooks(BaseHTTPRequestHandler):
    """A webhook receiver: collects the JSON bodies POSTed to it."""

    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hooks.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def hooks() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, hooks: str) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("serve") / "data"
    srv = Server(data, "--workers", "1", "--queue", "2", "--max-body-bytes", "1000000")
    srv.args += ("--webhook", hooks)
    try:
        yield srv.start()
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120.0) as c:
        yield c


def rsmodel_plan(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``rsmodel plan PATH``: exit status, stdout, stderr (the CLI's own entry point)."""
    capsys.readouterr()
    status = main(["plan", str(path)])
    out = capsys.readouterr()
    return status, out.out, out.err


def assert_json_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "Traceback" not in r.text
    return r.json()["error"]


# --------------------------------------------------------------------------- seed 002
def test_seed_002_curl_bodies_answer_what_rsmodel_plan_prints(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in REQUESTS:
        r = client.post("/v1/plan", content=path.read_bytes(), headers=SEED_HEADERS)
        assert r.status_code == 200, r.text
        status, out, err = rsmodel_plan(path, capsys)
        assert status == 0, err
        assert without_timings(r.json()) == without_timings(json.loads(out))
        assert r.json()["events"], "the response carries the seed's event stream"
        job = client.get(r.headers["Location"]).json()
        assert job["status"] == "done" and job["kind"] == "plan"


def test_bad_plan_bodies_get_4xx_json_errors_worded_like_model_file_errors(
    client: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = json.loads((ROOT / "models/requests/eclipse_compute.json").read_text())
    unknown_type = json.loads(json.dumps(seed))
    unknown_type["custom_job"]["steps"][0]["type"] = "warp"
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(unknown_type, indent=2))
    r = client.post("/v1/plan", content=bad_file.read_bytes(), headers=SEED_HEADERS)
    error = assert_json_error(r, 422)
    status, _, cli_err = rsmodel_plan(bad_file, capsys)
    assert status == 2
    # the same line as the CLI's, with the file called "body"
    assert "error: " + error["message"] == cli_err.strip().replace(str(bad_file), "body")
    assert error["field"] == "custom_job.steps[0].type"

    wrong_type = json.loads(json.dumps(seed))
    wrong_type["custom_job"]["steps"][0]["compute_s"] = "two minutes"
    error = assert_json_error(client.post("/v1/plan", json=wrong_type), 422)
    assert error["field"] == "custom_job.steps[0].compute_s"
    assert error["message"].startswith("body:")

    cyclic = json.loads(json.dumps(seed))
    a = dict(seed["custom_job"]["steps"][0], id="a", depends_on=["b"])
    b = dict(seed["custom_job"]["steps"][0], id="b", depends_on=["a"])
    cyclic["custom_job"]["steps"] = [a, b]
    error = assert_json_error(client.post("/v1/plan", json=cyclic), 422)
    assert "custom_job.steps" in error["field"] and "cycl" in error["message"]

    error = assert_json_error(
        client.post("/v1/plan", content=b'{"satellite_id": ', headers=SEED_HEADERS), 400
    )
    assert "invalid JSON" in error["message"]

    big = b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert_json_error(client.post("/v1/plan", content=big, headers=SEED_HEADERS), 413)

    form = client.post(
        "/v1/plan", content=b"satellite_id=25544", headers={"Content-Type": "text/plain"}
    )
    assert_json_error(form, 415)


def test_beyond_capacity_the_service_answers_429_with_retry_after(
    client: httpx.Client,
) -> None:
    body = (ROOT / "models/requests/eclipse_compute.json").read_bytes()
    with ThreadPoolExecutor(8) as pool:  # capacity: 1 worker + 2 waiting
        replies = list(
            pool.map(
                lambda _: client.post("/v1/plan", content=body, headers=SEED_HEADERS), range(8)
            )
        )
    codes = sorted(r.status_code for r in replies)
    assert set(codes) == {200, 429} and codes.count(200) >= 3, codes
    for r in replies:
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            assert_json_error(r, 429)
    assert (
        len(
            {
                json.dumps(without_timings(r.json()), sort_keys=True)
                for r in replies
                if r.status_code == 200
            }
        )
        == 1
    )


# --------------------------------------------------------------------------- seed 000
def events_until(server: Server, wanted: set[str], after: int = 0) -> list[dict]:
    """SSE events from ``after`` until every sync id in ``wanted`` has completed."""
    seen: list[dict] = []
    with httpx.stream("GET", f"{server.url}/v1/events", params={"after": after}, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
                done = {e["sync_id"] for e in seen if e["type"] == "sync.completed"}
                if wanted <= done:
                    return seen
    raise AssertionError(seen)


def test_seed_000_flow_create_windows_syncs_queue_optimize_apply_status_events(
    server: Server, client: httpx.Client
) -> None:
    created = client.post("/v1/scheduler", json=SCHEDULER)
    assert created.status_code == 201, created.text
    assert client.post("/v1/scheduler", json=SCHEDULER).status_code == 409

    windows = client.get("/v1/windows", params={"hours": 12, "node": "sat-1"}).json()
    assert windows and {w["orbital_node"] for w in windows} == {"sat-1"}
    assert all(w["duration_seconds"] > 0 and w["capacity_mb"] > 0 for w in windows)
    starts = [w["start"] for w in windows]
    assert starts == sorted(starts) and all(s < "2026-05-30T12:00:00.001Z" for s in starts)
    svalbard = client.get("/v1/windows", params={"hours": 12, "station": "svalbard"}).json()
    assert {w["ground_station"] for w in svalbard} == {"svalbard"}

    one = client.post(
        "/v1/syncs",
        json={"node": "sat-1", "data_size": 50e6, "priority": "critical", "data_type": "gradients"},
    )
    assert one.status_code == 201, one.text
    batch = client.post(
        "/v1/syncs",
        json={
            "syncs": [
                {"node": "sat-2", "data_size": 30e6, "priority": "high"},
                {"node": "sat-1", "data_size": 100e6, "priority": "normal"},
            ]
        },
    )
    assert batch.status_code == 201, batch.text
    ids = {one.json()["id"], *(s["id"] for s in batch.json())}
    queue = client.get("/v1/queues/sat-1").json()
    assert [i["priority"] for i in queue["items"]] == ["critical", "normal"]
    assert queue["total_size"] == 150e6 and queue["critical_count"] == 1

    # a long optimisation: 202 and a job to poll
    started = client.post(
        "/v1/optimize",
        params={"wait_s": 0},
        json={
            "horizon_hours": 24,
            "objectives": {
                "minimize_latency": 0.5,
                "maximize_throughput": 0.3,
                "balance_load": 0.2,
            },
        },
    )
    assert started.status_code == 202, started.text
    for _ in range(600):
        job = client.get(started.headers["Location"]).json()
        if job["status"] != "pending":
            break
        time.sleep(0.2)
    assert job["status"] == "done", job
    plan = job["result"]["body"]
    assert {op["sync_id"] for op in plan["operations"]} == ids
    assert client.get(f"/v1/plans/{plan['id']}").json()["id"] == plan["id"]

    applied = client.post(f"/v1/plans/{plan['id']}/apply")
    assert applied.status_code == 200, applied.text
    assert {s["status"] for s in applied.json()["queue"]} == {"scheduled"}
    status = client.get("/v1/status").json()
    assert status["queued_count"] == 3 and status["time"] == "2026-05-30T00:00:00Z"

    after = client.post("/v1/clock", json={"until": "+12h"})
    assert after.status_code == 200, after.text
    assert after.json()["completed_24h"] == 3
    for sync_id in ids:
        progress = client.get(f"/v1/syncs/{sync_id}").json()
        assert progress["status"] == "completed" and progress["progress"] == 1.0

    events = events_until(server, ids)
    completed = {e["sync_id"]: e for e in events if e["type"] == "sync.completed"}
    for e in completed.values():
        assert (
            e["time"].endswith("Z") and "2026-05-30T00:00:00Z" < e["time"] <= "2026-05-30T12:00:00Z"
        )
    last = max(op["end"] for op in plan["operations"] if op["sync_id"] in completed)
    assert max(e["time"] for e in completed.values()) <= last
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ids <= {
        h.get("sync_id") for h in Hooks.received if h["type"] == "sync.completed"
    }:
        time.sleep(0.2)
    assert ids <= {h.get("sync_id") for h in Hooks.received if h["type"] == "sync.completed"}


def test_bad_scheduler_bodies_get_4xx_json_errors(client: httpx.Client) -> None:
    error = assert_json_error(
        client.post("/v1/syncs", json={"node": "sat-1", "data_size": "big"}), 422
    )
    assert "data_size" in error["message"]
    error = assert_json_error(
        client.post("/v1/syncs", json={"node": "sat-9", "data_size": 1e6}), 422
    )
    assert "sat-9" in error["message"]
    error = assert_json_error(client.post("/v1/syncs", json={"node": "sat-1", "size": 1}), 422)
    assert error["field"] == "syncs[0]" and "size" in error["message"]
    error = assert_json_error(client.post("/v1/optimize", json={"horizon_hours": "a day"}), 422)
    assert error["field"] == "horizon_hours"
    spec = {**SCHEDULER, "orbits": {"sat-1": {"tle": {"file": "/etc/passwd", "norad": 1}}}}
    error = assert_json_error(client.post("/v1/scheduler", json=spec), 422)
    assert error["field"] == "orbits.sat-1.tle.file"
    assert_json_error(client.get("/v1/syncs/nope"), 404)
    assert_json_error(client.get("/v1/jobs/nope"), 404)


def test_openapi_docs_and_closed_cors(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/plan", "/v1/syncs", "/v1/events", "/v1/optimize"} <= set(spec["paths"])
    body = spec["paths"]["/v1/plan"]["post"]["requestBody"]["content"]["application/json"]
    assert "custom_job" in body["schema"]["properties"]
    assert "swagger" in client.get("/docs").text.lower()
    r = client.get("/v1/health", headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    preflight = client.options(
        "/v1/plan",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


# --------------------------------------------------------------------------- durability
def test_kill_9_during_a_burst_loses_no_acknowledged_sync_and_duplicates_none(
    tmp_path: Path,
) -> None:
    token = "s3cret"
    model = str(ROOT / "models/seed_sync.yaml")
    srv = Server(
        tmp_path / "data",
        "--token",
        token,
        "--workers",
        "1",
        "--queue",
        "64",
        "--model",
        model,
        "--allow-origin",
        "https://ops.example",
    )
    auth = {"Authorization": f"Bearer {token}"}
    try:
        srv.start(token)
        anonymous = httpx.get(f"{srv.url}/v1/status")
        assert_json_error(anonymous, 401)
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        for origin, allowed in (("https://ops.example", True), ("https://evil.example", False)):
            preflight = httpx.options(
                f"{srv.url}/v1/syncs",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
        with httpx.Client(base_url=srv.url, headers=auth, timeout=120) as c:
            described = c.get("/v1/scheduler").json()  # created from the model file
            assert described["orbital_nodes"] == ["sat-1", "sat-2", "sat-3", "sat-4", "sat-5"]
            assert described["start"] == "2026-05-30T00:00:00Z"
            assert c.post("/v1/syncs", json={"node": "sat-1", "data_size": 1e6}).status_code == 201
        acked: dict[str, str] = {}
        bodies = {
            f"burst-{i:03d}": {"node": f"sat-{1 + i % 2}", "data_size": 1e6 + i} for i in range(40)
        }
        stop = threading.Event()

        def post(key: str) -> None:
            if stop.is_set():
                return
            try:
                r = httpx.post(
                    f"{srv.url}/v1/syncs",
                    json=bodies[key],
                    headers={**auth, "Idempotency-Key": key},
                    timeout=60,
                )
            except httpx.TransportError:
                return  # the server died under us: not acknowledged
            if r.status_code == 201:
                acked[key] = r.json()["id"]

        with ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(post, k) for k in bodies]
            deadline = time.monotonic() + 120
            while len(acked) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            srv.kill()  # kill -9 with requests in flight
            stop.set()
            for f in futures:
                f.result()
        assert len(acked) >= 4

        srv.start(token)
        with httpx.Client(base_url=srv.url, headers=auth, timeout=120) as c:
            queued = [s["id"] for s in c.get("/v1/syncs").json()]
            assert len(queued) == len(set(queued))
            assert set(acked.values()) <= set(queued)
            # client retries of every request (acknowledged or not) queue nothing twice
            retried = {}
            for key, body in bodies.items():
                r = c.post("/v1/syncs", json=body, headers={"Idempotency-Key": key})
                assert r.status_code == 201, r.text
                retried[key] = r.json()["id"]
            assert all(retried[k] == v for k, v in acked.items())
            queued = [s["id"] for s in c.get("/v1/syncs").json()]
            assert sorted(queued) == sorted({*retried.values(), queued[0]})
            assert len(queued) == len(bodies) + 1
    finally:
        srv.stop()
