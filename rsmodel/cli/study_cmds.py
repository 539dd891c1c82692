"""``rsmodel study``: run the what-if study of a model file (docs/studies.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study",
        help="run many variants of a model (its `study:` section or --vary) and compare KPIs",
        description="Run the variants of a model file in parallel; results in OUT/study.nc, "
        "OUT/report.html and OUT/variants/<id>/. Re-running into the same OUT/ resumes.",
    )
    p.add_argument("model", help="model file (YAML)")
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument(
        "--workers", type=int, default=None, help="local worker processes (default: CPU count)"
    )
    p.add_argument(
        "--cluster", default=None, metavar="tcp://HOST:PORT", help="run on this Dask scheduler"
    )
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="PATH=VALUES",
        help="vary a field: PATH=[v1, v2, ...] or PATH={range: [lo, hi], num: N, ...} (YAML); "
        "replaces the model's `study.vary`",
    )
    p.add_argument(
        "--mode", choices=["grid", "zip", "random"], default=None, help="how --vary axes combine"
    )
    p.add_argument("--samples", type=int, default=None, help="random mode: number of variants")
    p.add_argument("--seed", type=int, default=None, help="random mode: sampler seed")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="set a field in every variant",
    )
    p.add_argument(
        "--remove",
        action="append",
        default=[],
        metavar="PATH",
        help="remove a list item from every variant",
    )
    p.add_argument("--kpis", default=None, help="comma-separated KPIs to collect (default: all)")
    p.add_argument("--retry-failed", action="store_true", help="re-run variants that failed before")
    p.add_argument(
        "--variant-reports",
        action="store_true",
        help="also write each variant's HTML plan report (OUT/variants/<id>/report.html)",
    )
    p.set_defaults(func=cmd_study, uses_dask=True)


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The study fields given on the command line (ModelError for malformed flags)."""
    out: dict[str, Any] = {}
    if args.vary:
        out["vary"] = [_axis(text) for text in args.vary]
    if args.set:
        out["set"] = dict(_assignment(text, "--set") for text in args.set)
    if args.remove:
        out["remove"] = list(args.remove)
    if args.kpis:
        out["kpis"] = [k.strip() for k in args.kpis.split(",") if k.strip()]
    for key in ("mode", "samples", "seed"):
        if getattr(args, key) is not None:
            out[key] = getattr(args, key)
    return out


def _assignment(text: str, flag: str) -> tuple[str, Any]:
    import yaml

    from rsmodel.errors import ModelError

    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise ModelError(f"expected PATH=VALUE, got {text!r}", file=flag)
    try:
        return path.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ModelError(
            f"{path.strip()}: value is not valid YAML ({exc.__class__.__name__}): {value!r}",
            file=flag,
        ) from None


def _axis(text: str) -> dict[str, Any]:
    from rsmodel.errors import ModelError

    path, value = _assignment(text, "--vary")
    if isinstance(value, list):
        return {"path": path, "values": value}
    if isinstance(value, dict):
        return {"path": path, **value}
    raise ModelError(
        f"{path}: expected a YAML list [v1, v2] or a mapping {{range: [lo, hi], num: N}}, got {value!r}",
        file="--vary",
    )


def cmd_study(args: argparse.Namespace) -> int:
    from rsmodel.errors import ModelError
    from rsmodel.studies import run_study

    if args.workers is not None and args.workers < 1:
        raise ModelError(f"expected a worker count >= 1, got {args.workers}", file="--workers")
    run = run_study(
        Path(args.model),
        Path(args.out),
        overrides=overrides_from_args(args),
        workers=args.workers,
        cluster=args.cluster,
        retry_failed=args.retry_failed,
        variant_reports=args.variant_reports,
    )
    s = run.summary
    counts = ", ".join(f"{n} {k}" for k, n in s["counts"].items())
    geo = s["geometry"]
    print(
        f"study {args.model}: {s['variants']} variants ({counts}); ran {s['ran_this_session']} now, "
        f"{s['variants'] - s['ran_this_session']} reused; geometry grids: {geo['distinct_keys']} distinct, "
        f"{geo['computed_this_session']} computed, {geo['loaded_from_cache']} from cache; {s['wall_s']:.1f} s"
    )
    report = run.out_dir / "report.html"
    print(
        f"results: {run.out_dir / 'study.nc'}" + (f", report: {report}" if report.exists() else "")
    )
    if s["report_error"]:
        print(f"warning: the study report was not rendered ({s['report_error']})", file=sys.stderr)
    return 0
