"""``rsmodel simulate MODEL [--faults FILE] [--seed N] -o OUT/``: play a plan through faults."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="plan a model, replay the plan through faults and arrivals, re-plan on each fault",
    )
    p.add_argument("model", help="model file (YAML)")
    p.add_argument(
        "--faults",
        help="faults file (the shape of a model's faults: section); replaces the model's section",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random faults (default 0)")
    p.add_argument(
        "--replan",
        choices=("auto", "greedy"),
        default="auto",
        help="auto: optimiser within --budget per re-plan, greedy when it would not fit; greedy: greedy only",
    )
    p.add_argument(
        "--budget", type=float, default=1.0, help="time budget of one re-plan, seconds (default 1)"
    )
    p.add_argument("-o", "--out", help="output directory (default: reports/<model name>-sim/)")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from rsmodel.errors import ModelError
    from rsmodel.model.loader import load_model
    from rsmodel.simulate.faults import load_faults_file, model_faults
    from rsmodel.simulate.run import simulate, write_simulation

    if args.budget <= 0:
        raise ModelError(f"--budget must be positive seconds, got {args.budget}")
    scenario = load_model(args.model)
    faults = load_faults_file(args.faults, scenario) if args.faults else model_faults(scenario)
    result = simulate(
        scenario, faults=faults, seed=args.seed, replan=args.replan, budget_s=args.budget
    )
    out = Path(args.out) if args.out else Path("reports") / f"{scenario.name}-sim"
    paths = write_simulation(result, out)
    totals = result.simulator.events[-1]["details"]
    print(
        f"Simulated {scenario.name}: {totals['completed']} complete, {totals['failed']} failed, "
        f"{totals['delivered_bytes'] / 1e6:.1f} MB delivered, {totals['replans']} re-plans"
    )
    if "source_produced_bytes" in totals:
        print(
            f"Recorder sources: {totals['source_produced_bytes'] / 1e9:.1f} GB produced, "
            f"{totals['source_delivered_bytes'] / 1e9:.1f} GB delivered, "
            f"{totals['source_lost_bytes'] / 1e9:.1f} GB lost, "
            f"{totals['source_onboard_end_bytes'] / 1e9:.1f} GB onboard at the end"
        )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
