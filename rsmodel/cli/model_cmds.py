"""``rsmodel schema`` and ``rsmodel validate``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rsmodel.model.yamlsrc import Source


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of model files")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser(
        "validate",
        help="check a model file (or a faults file) and print what it declares",
        description="Check a model file; a faults file (for `rsmodel simulate --faults`) is "
        "recognised by its top-level keys and checked against --model when given.",
    )
    p.add_argument("model", help="model file or faults file (YAML)")
    p.add_argument(
        "--model",
        dest="for_model",
        metavar="MODEL",
        help="for a faults file: the model it is for (checks its stations, nodes and times)",
    )
    p.set_defaults(func=cmd_validate)


def cmd_schema(args: argparse.Namespace) -> int:
    from rsmodel.model.schema import Model

    schema = Model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "rsmodel model file"
    print(json.dumps(schema, indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rsmodel.errors import ModelError
    from rsmodel.model.loader import scenario_from_source
    from rsmodel.model.yamlsrc import read_yaml
    from rsmodel.simulate.faults import is_faults_data
    from rsmodel.studies.spec import study_plan
    from rsmodel.timeutil import iso

    src = read_yaml(args.model)
    if is_faults_data(src.data):
        return _validate_faults(args, src)
    if args.for_model:
        raise ModelError(
            "--model is for a faults file; this file is a model (validate it alone)",
            file=args.model,
        )
    sc = scenario_from_source(src, base_dir=Path(args.model).resolve().parent)
    plan = study_plan(src, sc.model.study) if sc.model.study is not None else None
    print(
        f"{args.model}: ok — model {sc.name!r}, {iso(sc.start)} .. {iso(sc.end)} "
        f"(step {sc.step_s:g} s), {len(sc.stations)} stations, {len(sc.nodes)} nodes, "
        f"{len(sc.syncs)} syncs, {len(sc.model.jobs)} jobs"
    )
    if plan is not None:
        invalid = sum(v.problem is not None for v in plan.variants)
        print(
            f"study: {len(plan.variants)} variants ({plan.study.mode} over "
            f"{', '.join(a.dim for a in plan.study.vary)})"
            + (f", {invalid} of them invalid" if invalid else "")
            + f"; run them with `rsmodel study {args.model} -o OUT/`"
        )
    for line in sc.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return 0


def _validate_faults(args: argparse.Namespace, src: Source) -> int:
    """Check a faults file (against ``--model`` when given) and print what it declares."""
    from rsmodel.model.loader import load_model
    from rsmodel.simulate.faults import parse_faults

    scenario = load_model(args.for_model) if args.for_model else None
    f = parse_faults(src, scenario).faults
    counts = ", ".join(
        f"{len(getattr(f, name))} {name.replace('_', ' ')}"
        for name in (
            "station_outages",
            "pass_dropouts",
            "node_faults",
            "degraded_bandwidth",
            "arrivals",
        )
    )
    checked = (
        f"checked against {args.for_model}"
        if scenario
        else "shape only; add --model MODEL to check its stations, nodes and times"
    )
    print(
        f"{args.model}: ok — faults file for `rsmodel simulate MODEL --faults {args.model}`: "
        f"{counts}, transfer failure rate {f.transfer_failure_rate:g} ({checked})"
    )
    return 0
