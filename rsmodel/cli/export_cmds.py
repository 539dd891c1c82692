"""``rsmodel export PLAN OUT/``: contact schedules operators load (CSV, iCalendar, ION)."""

from __future__ import annotations

import argparse

FORMAT_HELP = "csv | ics | ion; repeat or comma-separate (default: all)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a plan's contacts: CSV schedule, iCalendar per station, ION contact plan",
    )
    p.add_argument("plan", help="plan.json or the output directory of `rsmodel run` holding it")
    p.add_argument("out_dir", help="directory to write the exports into")
    p.add_argument("--format", "-f", action="append", dest="formats", help=FORMAT_HELP)
    p.set_defaults(func=cmd_export, parser=p)


def cmd_export(args: argparse.Namespace) -> int:
    from rsmodel.report.export import export_plan, load_plan, parse_formats

    try:
        formats = parse_formats(args.formats)
    except ValueError as exc:
        args.parser.error(f"--format: {exc}")
    for path in export_plan(load_plan(args.plan), args.out_dir, formats):
        print(path)
    return 0
