"""``rsmodel report OUT/``: re-render the HTML report of saved outputs without re-solving."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="re-render report.html from saved outputs (plan.json / plan.nc / events.jsonl / study.nc)",
    )
    p.add_argument("out_dir", help="output directory of `rsmodel run`, a simulation or a study")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from rsmodel.report import rerender

    for path in rerender(args.out_dir):
        print(path)
    return 0
