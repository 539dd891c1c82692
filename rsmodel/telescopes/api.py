"""Plan a telescope network end to end: resolve -> visibility -> instance -> planner -> plan dict."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rsmodel.model.scenario import Scenario
from rsmodel.model.telescope_network import Network, resolve_network
from rsmodel.telescopes.dispatcher import dispatch
from rsmodel.telescopes.families import assign_families
from rsmodel.telescopes.milp import solve_milp
from rsmodel.telescopes.plan import plan_dict
from rsmodel.telescopes.reliability import ReliabilityStore, default_store_path
from rsmodel.telescopes.tasks import Instance, build_instance
from rsmodel.telescopes.visibility import Window, visibility_windows


@dataclass
class NetworkPlan:
    """A planned network: the instance, the chosen blocks and the plan.json section."""

    net: Network
    windows: list[Window]
    instance: Instance
    chosen: list[int]
    plan: dict
    store: ReliabilityStore


def choose_blocks(inst: Instance, planner: str, time_limit_s: float) -> tuple[list[int], dict]:
    """Run one planner: ``dispatcher`` or ``milp``."""
    if planner == "dispatcher":
        import time

        t0 = time.perf_counter()
        chosen = dispatch(inst)
        return chosen, {
            "method": "dispatcher",
            "status": "ok",
            "solve_s": round(time.perf_counter() - t0, 3),
        }
    if not inst.blocks:
        return [], {"method": "milp", "status": "empty", "solve_s": 0.0}
    return solve_milp(inst, time_limit_s=time_limit_s, start=dispatch(inst))


def plan_network(
    source: Scenario | Network,
    *,
    planner: str | None = None,
    store_path: str | Path | None = None,
    windows: list[Window] | None = None,
) -> NetworkPlan:
    """Plan the network of a scenario, with reliability scores from the state store."""
    net = source if isinstance(source, Network) else resolve_network(source)
    store = ReliabilityStore.load(Path(store_path) if store_path else default_store_path(net))
    windows = visibility_windows(net) if windows is None else windows
    reliability = store.scores(net)
    family = assign_families(net.telescopes, net.settings.family_tolerance)
    inst = build_instance(net, windows, np.asarray(reliability), family)
    chosen, solver = choose_blocks(inst, planner or net.settings.planner, net.settings.time_limit_s)
    return NetworkPlan(net, windows, inst, chosen, plan_dict(inst, chosen, solver), store)
