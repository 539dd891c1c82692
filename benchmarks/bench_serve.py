"""Load benchmark of ``rsmodel serve`` (seed 002 ``POST /v1/plan``) against ``rsmodel plan``.

    python benchmarks/bench_serve.py [--clients 4] [--duration-s 20] [--max-requests 200]
                                     [--workers 2] [--queue 8] [--baseline 3] [--quick]

Starts the service on a free loopback port with a fresh data directory, runs ``--clients``
concurrent clients (httpx) that post the seed's request bodies (models/requests/*.json, in turn)
for ``--duration-s`` seconds or ``--max-requests`` requests, each with its own
``Idempotency-Key``; a 429/503 is retried with the same key after its ``Retry-After``. Prints
p50/p95/p99 latency of the answered requests, throughput, answers by status, and the
lost / duplicated / wrong counts (every 200 must have exactly one stored job, and its body must
equal the service's answer to the same body when idle, timings aside). The baseline, in the same
run: ``rsmodel plan REQUEST.json`` started once per request (``--baseline`` runs). Exit status 1
if anything was lost, duplicated, wrong or answered with an undocumented error.
``--quick``: a few seconds, same code paths (CI).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from rsmodel.compute.report import without_timings

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = sorted((ROOT / "models" / "requests").glob("*.json"))
HEADERS = {"Content-Type": "application/json", "Origin": "https://rotastellar.com"}
DOCUMENTED = {200, 429, 503}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    p.add_argument("--duration-s", type=float, default=20.0, help="load time (default 20 s)")
    p.add_argument("--max-requests", type=int, default=200, help="request cap (default 200)")
    p.add_argument("--workers", type=int, default=2, help="service solver processes (default 2)")
    p.add_argument("--queue", type=int, default=8, help="service waiting slots (default 8)")
    p.add_argument("--baseline", type=int, default=3, help="`rsmodel plan` runs (default 3)")
    p.add_argument("--quick", action="store_true", help="a few seconds (CI)")
    args = p.parse_args()
    if args.quick:
        args.clients, args.duration_s, args.max_requests, args.baseline = 2, 3.0, 12, 1
    return args


def start_service(data: Path, workers: int, queue: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "rsmodel.cli", "serve", "--port", str(port), "--data", str(data)]
    cmd += ["--workers", str(workers), "--queue", str(queue)]
    log = open(data.parent / "server.log", "wb")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, env=os.environ)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit((data.parent / "server.log").read_text())
        try:
            if httpx.get(f"{url}/v1/health").status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("the service did not start within 300 s")


def strip_timings(body: dict[str, Any]) -> str:
    """The answer without its timings (solver and stages), as canonical JSON."""
    return json.dumps(without_timings(body), sort_keys=True)


def load(url: str, args: argparse.Namespace, expected: dict[Path, str]) -> dict[str, Any]:
    """Run the clients; returns latencies, statuses and per-key outcomes."""
    import httpx

    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    acked: dict[str, str] = {}  # idempotency key -> job id of its 200
    wrong = 0
    issued = 0
    t_end = time.monotonic() + args.duration_s

    def client(i: int) -> None:
        nonlocal issued, wrong
        with httpx.Client(base_url=url, timeout=300) as c:
            n = 0
            while time.monotonic() < t_end:
                with lock:
                    if issued >= args.max_requests:
                        return
                    issued += 1
                path = REQUESTS[(i + n) % len(REQUESTS)]
                n += 1
                key = uuid.uuid4().hex
                body = path.read_bytes()
                t0 = time.perf_counter()
                while True:
                    r = c.post(
                        "/v1/plan", content=body, headers={**HEADERS, "Idempotency-Key": key}
                    )
                    with lock:
                        statuses[r.status_code] += 1
                    if r.status_code in (429, 503) and time.monotonic() < t_end + 60:
                        time.sleep(float(r.headers.get("Retry-After", "1")))
                        continue
                    break
                dt = time.perf_counter() - t0
                with lock:
                    if r.status_code == 200:
                        latencies.append(dt)
                        acked[key] = r.headers["Location"].rsplit("/", 1)[-1]
                        wrong += strip_timings(r.json()) != expected[path]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    with httpx.Client(base_url=url, timeout=60) as c:
        jobs = [j for j in c.get("/v1/jobs").json() if j["kind"] == "plan"]
    stored = Counter(j["id"] for j in jobs if j["status"] == "done")
    lost = sum(stored[job_id] != 1 for job_id in acked.values())
    duplicated = len(jobs) - len(set(acked.values())) - len(expected)  # minus the warm-up jobs
    return {
        "latencies": latencies,
        "statuses": statuses,
        "wall": wall,
        "lost": lost,
        "duplicated": max(duplicated, 0),
        "wrong": wrong,
    }


def baseline(runs: int) -> list[float]:
    """Wall time of ``rsmodel plan REQUEST.json`` as a new process, once per request."""
    times = []
    for i in range(runs):
        path = REQUESTS[i % len(REQUESTS)]
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rsmodel.cli", "plan", str(path)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t0)
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> int:
    args = parse_args()
    import httpx

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        proc, url = start_service(Path(tmp) / "data", args.workers, args.queue)
        try:
            expected = {}
            for path in REQUESTS:  # reference answers, one request at a time (warms the workers)
                r = httpx.post(
                    f"{url}/v1/plan", content=path.read_bytes(), headers=HEADERS, timeout=300
                )
                r.raise_for_status()
                expected[path] = strip_timings(r.json())
            res = load(url, args, expected)
        finally:
            proc.terminate()
            proc.wait(60)
    base = baseline(args.baseline)
    lat = res["latencies"]
    answered = len(lat)
    throughput = answered / res["wall"]
    base_mean = statistics.mean(base)
    undocumented = sum(n for s, n in res["statuses"].items() if s not in DOCUMENTED)
    by_status = ", ".join(f"{s}: {n}" for s, n in sorted(res["statuses"].items()))
    print(
        f"rsmodel serve: {args.clients} clients x {args.duration_s:g} s (cap {args.max_requests}), "
        f"{args.workers} workers + {args.queue} queue, loopback, {len(REQUESTS)} seed 002 bodies"
    )
    print(f"{'':28}{'p50 s':>8}{'p95 s':>8}{'p99 s':>8}{'req/s':>8}")
    if lat:
        p50, p95, p99 = pct(lat, 50), pct(lat, 95), pct(lat, 99)
        print(f"{'service POST /v1/plan':28}{p50:8.2f}{p95:8.2f}{p99:8.2f}{throughput:8.2f}")
    b50, b95, b99 = pct(base, 50), pct(base, 95), pct(base, 99)
    print(f"{'rsmodel plan per request':28}{b50:8.2f}{b95:8.2f}{b99:8.2f}{1 / base_mean:8.2f}")
    if lat:
        print(
            f"ratio (baseline / service): p50 latency {b50 / p50:.1f}x, "
            f"throughput {throughput * base_mean:.1f}x"
        )
    print(f"answers by status: {by_status} (200 answered: {answered})")
    print(
        f"lost: {res['lost']}  duplicated: {res['duplicated']}  wrong: {res['wrong']}  "
        f"undocumented errors: {undocumented}"
    )
    return int(bool(res["lost"] or res["duplicated"] or res["wrong"] or undocumented or not lat))


if __name__ == "__main__":
    sys.exit(main())
