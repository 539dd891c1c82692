"""Re-planning after a fault: the optimiser on the residual problem, greedy when time is short.

:class:`RecoveryPlanner` turns a :class:`~rsmodel.simulate.residual.Residual` into the
optimiser's own problem (``rsmodel.optimize.build_problem``: the residual windows as a windows
table, the remaining bytes as demands released at the fault time) and solves it with
``solve_problem`` under a time budget. When the last solves predict that the next one would
miss the budget, it uses the continuous-time greedy :func:`~rsmodel.simulate.residual.dispatch`
instead. A lost pass, a broken transfer or a transfer that fell short are repaired by the
greedy directly (they are small and frequent; re-optimising the whole day after each would
multiply the cost of a simulated day).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import timedelta

import pandas as pd

from rsmodel.model.scenario import Scenario
from rsmodel.optimize.problem import StationSpec, station_specs
from rsmodel.simulate.residual import (
    MIN_OP_S,
    Link,
    PlannedTransfer,
    Residual,
    dispatch,
    held_for,
    radio,
    radio_held,
    realise,
    saturated,
    subtract,
)

# Re-plans after these small, local events are greedy repairs; the optimiser re-plans after
# outages, node faults, degradations, arrivals and reschedules.
LOCAL_CAUSES = ("pass ", "transfer failure", "shortfall ")
# Share of the budget given to the solver's time limit (the rest: building and reading back).
SOLVE_SHARE = 0.6


@dataclass
class RecoveryPlanner:
    """Planner for :class:`~rsmodel.simulate.engine.Simulator`: optimiser within ``budget_s``.

    ``method`` is the optimiser's (``milp`` or ``greedy``; default the model's ``solver.method``).
    ``method`` attribute after a call says which planner made the last plan.
    """

    scenario: Scenario
    budget_s: float = 1.0
    optimiser_method: str | None = None
    method: str = "none"
    history: list[dict[str, float | str]] = field(default_factory=list)

    def __call__(self, residual: Residual) -> list[PlannedTransfer]:
        if not residual.demands:
            self.method = "none"
            return []
        if residual.cause.startswith(LOCAL_CAUSES):
            return self._greedy(residual, "local repair")
        links = free_links(residual)
        size = len(links) * max(1, len(residual.demands))
        if self._predicted_s(size) > self.budget_s:
            return self._greedy(residual, "predicted over budget")
        t0 = time.perf_counter()
        ops = self._optimise(residual, links)
        wall = time.perf_counter() - t0
        self.history.append({"size": size, "wall_s": wall})
        self.method = "optimiser"
        return ops

    def _greedy(self, residual: Residual, why: str) -> list[PlannedTransfer]:
        self.method = f"greedy ({why})"
        return dispatch(residual)

    def _predicted_s(self, size: int) -> float:
        """Wall time predicted from the largest solve so far, scaled by problem size."""
        if not self.history:
            return 0.0
        last = max(self.history, key=lambda h: float(h["size"]))
        return float(last["wall_s"]) * size / max(float(last["size"]), 1.0)

    def _optimise(self, residual: Residual, links: list[Link]) -> list[PlannedTransfer]:
        from rsmodel.optimize import Demand, SolverSettings, build_problem, solve_problem
        from rsmodel.optimize.problem import scenario_pointing

        sc = self.scenario
        solver = sc.model.solver
        settings = SolverSettings(
            method=self.optimiser_method or solver.method,
            time_limit_s=SOLVE_SHARE * self.budget_s,
            mip_gap=float(solver.mip_gap),
            threads=int(solver.threads),
            strategy=str(solver.strategy),
        )
        demands = [
            Demand(
                d.sync_id,
                d.node,
                d.bytes,
                d.rank,
                _at(sc, d.release_s),
                _at(sc, d.deadline_s) if d.deadline_s < sc.duration_s else None,
            )
            for d in residual.demands
        ]
        problem = build_problem(
            start=sc.start,
            end=sc.end,
            step_s=sc.step_s,
            nodes=[n.name for n in sc.nodes],
            stations=replan_stations(sc),
            windows=links_frame(links, sc),
            demands=demands,
            weights=sc.model.objectives.model_dump(),
            settings=settings,
            pointing=scenario_pointing(sc),
            simultaneous_nodes=residual.simultaneous,
        )
        schedule = solve_problem(problem)
        start = pd.Timestamp(sc.start)
        ops = [
            PlannedTransfer(
                o.sync_id,
                o.node,
                o.station,
                o.window_id.split("#")[0],
                (pd.Timestamp(o.start) - start).total_seconds(),
                (pd.Timestamp(o.end) - start).total_seconds(),
                o.bytes,
            )
            for o in schedule.operations
        ]
        # Slot-based operations may begin before the fault time inside the first slot; slivers
        # of a slot (under 1 ms) are left out: a shortfall re-plan picks their bytes up. The
        # rest is placed on the simulator's timeline (setup, turnaround, one antenna each).
        clipped = [replace(o, start_s=max(o.start_s, residual.now_s)) for o in ops]
        return realise(residual, [o for o in clipped if o.end_s - o.start_s >= MIN_OP_S])


def replan_stations(scenario: Scenario) -> list[StationSpec]:
    """The stations as an optimiser re-plan sees them: no setup at a link's start (the residual
    links start after it), but the setup added to the turnaround between nodes (a contact that
    follows another node's on an antenna sets up after turning)."""
    out = []
    for spec, station in zip(station_specs(scenario, setup=False), scenario.stations, strict=True):
        setup = float(station.setup_s)
        if spec.slew is None:
            out.append(replace(spec, turnaround_s=spec.turnaround_s + setup))
        else:
            slew = spec.slew.model_copy(update={"reacquire_s": spec.slew.reacquire_s + setup})
            out.append(replace(spec, slew=slew))
    return out


def free_links(residual: Residual) -> list[Link]:
    """Residual links minus the time their node's radio is busy (with the setup of a contact
    after its other contacts) and their station has no antenna free for it (the turnaround to and
    from other nodes' running transfers and maintenance included)."""
    out: list[Link] = []
    full: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for link in residual.links:
        if link.rate_Bps <= 0:
            continue
        key = (link.station, link.node)
        if key not in full:
            holds = residual.station_busy.get(link.station, [])
            held = held_for(holds, link.station, link.node, residual.turns)
            full[key] = saturated(held, residual.antennas[link.station])
        uses = residual.node_busy.get(radio(link.node, link.band, residual.simultaneous), [])
        held = radio_held(uses, link.window_id, None, link.station, residual.setup_s)
        cuts = held + full[key]
        for a, b in subtract([(link.start_s, link.end_s)], cuts):
            if b - a >= 1.0:
                out.append(replace(link, start_s=a, end_s=b))
    return out


def links_frame(links: list[Link], scenario: Scenario) -> pd.DataFrame:
    """Links as an optimiser windows table (a window cut in pieces gets ids ``w00012#1`` ...;
    ``band`` keeps a node with ``simultaneous_bands`` one radio per band)."""
    start = pd.Timestamp(scenario.start)
    seen: dict[str, int] = {}
    rows = []
    for k in sorted(links, key=lambda k: (k.start_s, k.node, k.station)):
        n = seen[k.window_id] = seen.get(k.window_id, -1) + 1
        rows.append(
            {
                "id": k.window_id if n == 0 else f"{k.window_id}#{n}",
                "node": k.node,
                "station": k.station,
                "start": start + pd.Timedelta(seconds=k.start_s),
                "end": start + pd.Timedelta(seconds=k.end_s),
                "duration_s": k.end_s - k.start_s,
                "bandwidth_bps": k.rate_Bps * 8.0,
                "capacity_bytes": k.rate_Bps * (k.end_s - k.start_s),
                "band": k.band,
            }
        )
    columns = [
        "id",
        "node",
        "station",
        "start",
        "end",
        "duration_s",
        "bandwidth_bps",
        "capacity_bytes",
        "band",
    ]
    return pd.DataFrame(rows, columns=columns)


def _at(scenario: Scenario, seconds: float) -> object:
    return scenario.start + timedelta(seconds=seconds)
