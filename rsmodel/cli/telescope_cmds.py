"""``rsmodel telescopes status|plan|simulate MODEL``: the telescope network (seed 001)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rsmodel.model.scenario import Scenario
    from rsmodel.model.telescope_network import Fault, Network
    from rsmodel.telescopes.api import NetworkPlan


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "telescopes", help="telescope network: reliability status, plan, handover simulation"
    )
    tsub = p.add_subparsers(dest="telescopes_command", required=True, metavar="ACTION")
    s = tsub.add_parser("status", help="reliability score of each telescope (from the state store)")
    _common(s)
    s.set_defaults(func=cmd_status)
    s = tsub.add_parser("plan", help="plan the network; write plan.json and report.html")
    _common(s)
    _planning(s)
    s.set_defaults(func=cmd_plan)
    s = tsub.add_parser("simulate", help="plan, replay with FAULTED heartbeats, update reliability")
    _common(s)
    _planning(s)
    s.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="TELESCOPE@TIME",
        help="inject a FAULTED heartbeat (TIME: ISO UTC or +offset); replaces the model's faults",
    )
    s.add_argument("--no-save", action="store_true", help="do not update the reliability store")
    s.set_defaults(func=cmd_simulate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="model file (YAML)")
    p.add_argument(
        "--state", help="reliability store (JSON); default from telescope_network.state_store"
    )


def _planning(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--planner", choices=["milp", "dispatcher"], help="override telescope_network.planner"
    )
    p.add_argument("-o", "--out", help="output directory (default: reports/<model name>/)")


def _load(args: argparse.Namespace) -> tuple[Scenario, Network]:
    from rsmodel.errors import ModelError
    from rsmodel.model.loader import load_model
    from rsmodel.model.telescope_network import resolve_network

    scenario = load_model(args.model)
    if not scenario.model.telescopes:
        raise ModelError(
            "the model has no telescopes; expected a `telescopes:` section "
            "(docs/telescopes.md, e.g. models/telescopes.yaml)",
            file=args.model,
            field="telescopes",
        )
    return scenario, resolve_network(scenario)


def cmd_status(args: argparse.Namespace) -> int:
    from rsmodel.telescopes.reliability import ReliabilityStore, default_store_path

    _, net = _load(args)
    path = Path(args.state) if args.state else default_store_path(net)
    store = ReliabilityStore.load(path)
    scores = store.scores(net)
    print(
        f"Reliability store: {path}{'' if path.exists() else ' (not written yet: initial scores)'}"
    )
    print(
        f"{'telescope':<18} {'operator':<13} {'initial':>7} {'score':>6} {'outcomes (last ' + str(net.settings.reliability_window) + ')':>22}"
    )
    for tel, score in zip(net.telescopes, scores, strict=True):
        hist = store.outcomes.get(tel.name, [])
        record = f"{sum(hist)}/{len(hist)} ok" if hist else "none"
        print(
            f"{tel.name:<18} {tel.operator:<13} {tel.reliability:>7.2f} {score:>6.3f} {record:>22}"
        )
    return 0


def _out_dir(args: argparse.Namespace, name: str) -> Path:
    return Path(args.out) if args.out else Path("reports") / name


def _plan(args: argparse.Namespace) -> tuple[Scenario, NetworkPlan]:
    from rsmodel.telescopes.api import plan_network

    scenario, net = _load(args)
    return scenario, plan_network(net, planner=args.planner, store_path=args.state)


def _summary(plan: dict) -> str:
    k, s = plan["kpis"], plan["solver"]
    return (
        f"Planner {s['method']} ({s.get('status')}, {s.get('solve_s', 0):.2f} s): "
        f"ToO {k['too_complete']}/{k['too_tasks']}, SSA tracks {k['ssa_complete']}/{k['ssa_tasks']} "
        f"({k['ssa_with_backup']} with a backup), deep sky {k['deep_sky_complete']}/{k['deep_sky_tasks']} "
        f"({k['deep_sky_frames_planned']}/{k['deep_sky_frames_wanted']} frames)"
    )


def cmd_plan(args: argparse.Namespace) -> int:
    from rsmodel.telescopes.output import write_plan_outputs

    scenario, planned = _plan(args)
    paths = write_plan_outputs(scenario, planned, _out_dir(args, scenario.name))
    print(_summary(planned.plan))
    print(f"Plan: {paths['plan.json']}\nReport: {paths['report.html']}")
    return 0


def _faults(args: argparse.Namespace, scenario: Scenario, net: Network) -> list[Fault] | None:
    from rsmodel.errors import ModelError
    from rsmodel.model.telescope_network import Fault
    from rsmodel.timeutil import parse_time

    if not args.fault:
        return None
    names = {t.name for t in net.telescopes}
    out = []
    for spec in args.fault:
        name, sep, when = spec.rpartition("@")
        if not sep or name not in names:
            raise ModelError(
                f"--fault {spec!r}: expected TELESCOPE@TIME with TELESCOPE one of {sorted(names)}"
            )
        try:
            at = parse_time(when, base=scenario.start)
        except ValueError as exc:
            raise ModelError(f"--fault {spec!r}: {exc}") from None
        out.append(Fault(name, at, scenario.end))
    return out


def cmd_simulate(args: argparse.Namespace) -> int:
    from rsmodel.telescopes.output import write_plan_outputs
    from rsmodel.telescopes.simulate import simulate

    scenario, planned = _plan(args)
    result = simulate(planned, _faults(args, scenario, planned.net), save=not args.no_save)
    paths = write_plan_outputs(scenario, planned, _out_dir(args, scenario.name), result.events)
    print(_summary(planned.plan))
    kinds = (
        "telescope.faulted",
        "track.failed",
        "handover.started",
        "track.reassigned",
        "track.lost",
    )
    counts = ", ".join(f"{k} {sum(e['type'] == k for e in result.events)}" for k in kinds)
    print(f"Simulation: {counts}")
    done = sum(t["status"] == "completed" for t in result.tasks)
    print(f"Tasks completed in simulation: {done}/{len(result.tasks)}")
    for name, before in result.reliability_before.items():
        after = result.reliability_after[name]
        if abs(after - before) > 1e-9:
            print(f"  reliability {name}: {before:.3f} -> {after:.3f}")
    where = "not saved (--no-save)" if args.no_save else f"saved to {planned.store.path}"
    print(f"Reliability store {where}")
    print(f"Events: {paths['events.jsonl']}\nReport: {paths['report.html']}")
    return 0
