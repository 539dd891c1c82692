"""``rsmodel schema`` and ``rsmodel validate``."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of model files")
    p.set_defaults(func=cmd_schema)
    p = sub.add_parser("validate", help="check a model file and print what it declares")
    p.add_argument("model", help="model file (YAML)")
    p.set_defaults(func=cmd_validate)


def cmd_schema(args: argparse.Namespace) -> int:
    from rsmodel.model.schema import Model

    schema = Model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "rsmodel model file"
    print(json.dumps(schema, indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from rsmodel.model.loader import load_model
    from rsmodel.timeutil import iso

    sc = load_model(args.model)
    print(
        f"{args.model}: ok — model {sc.name!r}, {iso(sc.start)} .. {iso(sc.end)} "
        f"(step {sc.step_s:g} s), {len(sc.stations)} stations, {len(sc.nodes)} nodes, "
        f"{len(sc.syncs)} syncs, {len(sc.model.jobs)} jobs"
    )
    for line in sc.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return 0
