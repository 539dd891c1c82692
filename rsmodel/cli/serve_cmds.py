"""``rsmodel serve``: the seed 002 planner and the seed 000 scheduler as a local HTTP service
(docs/service.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rsmodel.cli.compute_cmds import positive_seconds

TOKEN_ENV = "RSMODEL_TOKEN"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve POST /v1/plan and the sync scheduler over HTTP (localhost by default)",
        description="Run the rsmodel HTTP service (FastAPI on uvicorn). State is kept in "
        "DATA/rsmodel.sqlite3; OpenAPI at /openapi.json, interactive docs at /docs.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--data", default="rsmodel-data", help="state directory (default rsmodel-data/)")
    p.add_argument("--workers", type=int, default=2, help="solver processes (default 2)")
    p.add_argument(
        "--queue",
        type=int,
        default=8,
        help="requests waiting beyond the workers before 429 (default 8)",
    )
    p.add_argument(
        "--token", help=f"bearer token required on every route (default: ${TOKEN_ENV} if set)"
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser requests from ORIGIN (CORS; repeatable; default: none)",
    )
    p.add_argument(
        "--max-body-bytes", type=int, default=1 << 20, help="request body limit (default 1 MiB)"
    )
    p.add_argument(
        "--time-limit-s",
        type=positive_seconds,
        default=60.0,
        help="solver time limit per request (default 60 s)",
    )
    p.add_argument(
        "--wait-s",
        type=float,
        default=30.0,
        help="answer 202 + job when a solve takes longer than this (default 30 s)",
    )
    p.add_argument("--model", help="create the scheduler from this model file's stations and nodes")
    p.add_argument(
        "--webhook", action="append", default=[], metavar="URL", help="POST every event to URL"
    )
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rsmodel.service.app import ServiceConfig, create_app

    if args.workers < 1 or args.queue < 1:
        from rsmodel.errors import ModelError

        raise ModelError("--workers and --queue must be at least 1", file="rsmodel serve")
    config = ServiceConfig(
        data_dir=Path(args.data),
        workers=args.workers,
        queue=args.queue,
        token=args.token or os.environ.get(TOKEN_ENV) or None,
        allow_origins=list(args.allow_origin),
        max_body_bytes=args.max_body_bytes,
        time_limit_s=args.time_limit_s,
        wait_s=args.wait_s,
        model_spec=model_spec(Path(args.model)) if args.model else None,
        webhooks=list(args.webhook),
    )
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level="info",
        timeout_graceful_shutdown=5,
    )
    return 0


def model_spec(path: Path) -> dict[str, Any]:
    """The scheduler spec of a model file: its stations, nodes (TLE files made absolute),
    horizon start, grid step and solver section."""
    from rsmodel.model.loader import load_model

    scenario = load_model(path)
    model = scenario.model.model_dump(mode="json", exclude_none=True)
    return {
        "ground_stations": [
            {
                "name": s.name,
                "lat_deg": s.lat_deg,
                "lon_deg": s.lon_deg,
                "alt_m": s.alt_m,
                "bandwidth_bps": s.bandwidth_bps,
                "elevation_min_deg": s.elevation_min_deg,
                "antennas": s.antennas,
                "setup_s": s.setup_s,
            }
            for s in scenario.stations
        ],
        "orbital_nodes": [_absolute_files(n, path.resolve().parent) for n in model["nodes"]],
        "start": scenario.start.isoformat(),
        "step_s": scenario.step_s,
        "solver": model.get("solver", {}),
    }


def _absolute_files(value: Any, base: Path) -> Any:
    if isinstance(value, dict):
        return {
            k: str(base / v) if k == "file" and isinstance(v, str) else _absolute_files(v, base)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_absolute_files(v, base) for v in value]
    return value
