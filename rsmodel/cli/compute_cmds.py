"""``rsmodel plan REQUEST.json``: plan a seed 002 compute request (docs/compute.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0 (a zero or negative time limit is a
    usage error, exit 2, not a silent default or an empty plan)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plan",
        help="plan a seed 002 compute request (satellite_id + custom_job JSON)",
        description="Plan the request's job on its satellite; print the response JSON "
        "(placement_decisions, events, jobs, soc) or write it with -o.",
    )
    p.add_argument("request", help="request body as JSON (the seed's curl -d payload)")
    p.add_argument(
        "-o", "--out", help="directory for response.json, events.jsonl, plan.json, report.html"
    )
    p.add_argument(
        "--time-limit-s",
        type=positive_seconds,
        default=None,
        help="solver time limit, s > 0 (default 60 s)",
    )
    p.set_defaults(func=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    from rsmodel.compute import plan_jobs
    from rsmodel.compute.request import load_request
    from rsmodel.geometry import compute_geometry

    _, scenario = load_request(args.request)
    geometry = compute_geometry(scenario)
    response = plan_jobs(scenario, geometry, time_limit_s=args.time_limit_s)
    for warning in response["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if args.out is None:
        print(json.dumps(response, indent=2, default=str))
        return 0
    written = write_response(scenario, geometry, response, Path(args.out))
    for path in written:
        print(path)
    return 0


def write_response(scenario, geometry, response: dict, out: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    """response.json, events.jsonl, plan.json (with ``jobs``/``soc``) and report.html, atomically."""
    from rsmodel.io import write_json, write_text
    from rsmodel.plan.events import write_events
    from rsmodel.plan.plan import build_plan
    from rsmodel.report import render_plan

    plan = build_plan(scenario, geometry, [], response["solver"], warnings=response["warnings"])
    plan.extra.update(jobs=response["jobs"], soc=response["soc"])
    plan_dict = plan.to_dict()
    return [
        write_json(out / "response.json", response),
        write_events(out / "events.jsonl", response["events"]),
        plan.save(out / "plan.json"),
        write_text(out / "report.html", render_plan(plan_dict, None, events=response["events"])),
    ]
