"""``rsmodel export PLAN [OUT/]``: contact schedules operators load (CSV, iCalendar, ION)."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMAT_HELP = "csv | ics | ion; repeat or comma-separate (default: all)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a plan's contacts: CSV schedule, iCalendar per station, ION contact plan",
    )
    p.add_argument("plan", help="plan.json or the output directory of `rsmodel run` holding it")
    p.add_argument(
        "out_dir",
        nargs="?",
        help="directory to write the exports into (default: the directory holding plan.json)",
    )
    p.add_argument("--format", "-f", action="append", dest="formats", help=FORMAT_HELP)
    p.set_defaults(func=cmd_export, parser=p)


def cmd_export(args: argparse.Namespace) -> int:
    from rsmodel.report.export import export_plan, load_plan, parse_formats

    try:
        formats = parse_formats(args.formats)
    except ValueError as exc:
        args.parser.error(f"--format: {exc}")
    plan = Path(args.plan)
    out_dir = args.out_dir or (plan if plan.is_dir() else plan.parent)
    for path in export_plan(load_plan(plan), out_dir, formats):
        print(path)
    return 0
