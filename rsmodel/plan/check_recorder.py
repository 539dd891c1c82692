"""Independent check of a plan's recorders and battery (docs/recorder.md, "Checker").

``check_recorder(plan, scenario=None) -> list[str]`` re-integrates, from the plan's operations,
syncs, job downlinks, compute placements and eclipses and from the model's recorder sources
(their production recomputed with :func:`rsmodel.geometry.production.source_production` on
the plan's eclipses), without the optimiser:

- per source: no byte downlinked before it exists (bytes produced during slot k exist from the
  slot's end; the initial fill from the horizon start); ``sources[]`` totals agree with the
  production and the operations (produced = delivered + lost + onboard at the end);
- per recorder: the fill without losses, ``F_0`` = initial fills, ``F_k+1 = F_k`` + produced
  + syncs and job outputs released in slot k - downlinked in slot k, never exceeds the capacity
  by more than the losses reported by then (``losses[]`` started by ``t_k``); the plan's
  ``recorders[].fill_bytes`` is compared: the loss it implies (``F_k - fill_k``) never shrinks,
  stays within [0, capacity] fill, and adds up to the reported losses;
- per node with a ``soc`` curve: the state of charge re-integrated (solar charge in slots whose
  start is sunlit, idle load, compute placements' ``energy_wh`` spread over their run,
  the peak ``tx_power_w`` of its radios while the transmitter is on: from its station's
  ``setup_s`` before every operation (the station locks on the carrier before the first byte)
  to its end, and ``tx_warmup_s`` before that, kept on across shorter gaps; clipped at
  capacity, :func:`reintegrated_soc`) stays above ``min(min_soc x capacity, the idle-only SOC)``
  and agrees with the plan's curve.

The optimiser's fill and SOC curves are read only to compare. The scenario (recorder
sources, power figures) is ``scenario`` when given, else the plan's model text loaded again
(relative files resolve against ``model.file``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rsmodel.errors import RsmodelError
from rsmodel.geometry.production import slot_edges_s, source_production
from rsmodel.model.loader import load_model_text
from rsmodel.model.recorder_schema import INITIAL_SOURCE, peak_transmit_power_w
from rsmodel.model.scenario import Scenario
from rsmodel.timeutil import parse_time

BYTES_TOL = 1.0
REL_TOL = 1e-6  # of the recorder capacity / production (fill is written to 1e-3 byte)
SOC_TOL = 1e-4  # of the battery capacity (SOC is written to 1e-6)


def recorder_plan(plan: Mapping[str, Any]) -> bool:
    """Whether ``plan`` has recorder sections to check."""
    return bool(plan.get("recorders") or plan.get("sources"))


def source_ids(plan: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Operation targets the plan's recorder sources add: ``{id: {id, node, priority, rel}}``
    (downlinks of source data name the source id in ``sync_id``)."""
    names = ("critical", "high", "normal", "low")
    return {
        s["id"]: {"id": s["id"], "node": s["node"], "priority": names[int(s["rank"])], "rel": 0.0}
        for s in plan.get("sources", [])
    }


def check_recorder(plan: Mapping[str, Any], scenario: Scenario | None = None) -> list[str]:
    """All recorder and battery violations of ``plan`` (see the module docstring): checked when
    the plan has recorder sections, or ``scenario`` is given and a node draws transmit power."""
    transmits = scenario is not None and any(n.power.tx_power_w > 0 for n in scenario.nodes)
    if not (recorder_plan(plan) or transmits):
        return []
    if scenario is None:
        try:
            scenario = _scenario_of(plan)
        except (RsmodelError, OSError, KeyError) as exc:
            return [f"recorders: cannot re-integrate, the plan's model does not load: {exc}"]
    t0 = parse_time(plan["horizon"]["start"])
    edges = slot_edges_s(scenario)
    if parse_time(plan["horizon"]["end"]) != scenario.end or t0 != scenario.start:
        return ["recorders: the plan's horizon is not its model's"]
    prod = source_production(scenario, _eclipses(plan))
    out = _check_sources(plan, prod, _downlinked(plan, t0, edges))
    out += _check_fill(plan, scenario, prod, t0, edges)
    out += _check_soc(plan, scenario, edges)
    return out


def _scenario_of(plan: Mapping[str, Any]) -> Scenario:
    model = plan["model"]
    file = Path(model.get("file") or "plan-model.yaml")
    return load_model_text(model["text"], file=file, base_dir=file.resolve().parent)


def _eclipses(plan: Mapping[str, Any]) -> pd.DataFrame:
    rows = plan.get("eclipses", [])
    return pd.DataFrame(
        {
            "node": [e["node"] for e in rows],
            "start": pd.to_datetime([e["start"] for e in rows], utc=True, format="ISO8601"),
            "end": pd.to_datetime([e["end"] for e in rows], utc=True, format="ISO8601"),
        }
    )


def _spread(spans: list[tuple[float, float, float]], edges: np.ndarray) -> np.ndarray:
    """Amounts ``(a, b, amount)`` spread evenly over ``[a, b)`` and summed per slot, ``(K,)``."""
    out = np.zeros(len(edges) - 1)
    for a, b, amount in spans:
        if b <= a:
            continue
        k0 = max(int(np.searchsorted(edges, a, side="right")) - 1, 0)
        k1 = min(int(np.searchsorted(edges, b, side="left")), len(out))
        lo, hi = edges[k0:k1], edges[k0 + 1 : k1 + 1]
        share = np.clip(np.minimum(b, hi) - np.maximum(a, lo), 0.0, None)
        out[k0:k1] += amount * share / (b - a)
    return out


def _downlinked(
    plan: Mapping[str, Any], t0: Any, edges: np.ndarray, key: str = "sync_id"
) -> dict[str, np.ndarray]:
    """Bytes downlinked per slot by each operation ``key`` (``sync_id``: sync, job output or
    source; or ``node``)."""
    spans: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for o in plan["operations"]:
        a = (parse_time(o["start"]) - t0).total_seconds()
        b = (parse_time(o["end"]) - t0).total_seconds()
        spans[o[key]].append((a, b, float(o["bytes"])))
    return {sid: _spread(s, edges) for sid, s in spans.items()}


# --------------------------------------------------------------------------- sources
def _check_sources(plan: Mapping[str, Any], prod: Any, down: dict[str, np.ndarray]) -> list[str]:
    out = []
    reported = {s["id"]: s for s in plan.get("sources", [])}
    k_slots = prod.sizes["slot"]
    for sid in prod.source.values:
        row = prod.sel(source=sid)
        made = row.produced_bytes.values
        initial = made[0] if str(row["name"].values) == INITIAL_SOURCE else 0.0
        later = made if not initial else np.zeros_like(made)
        available = initial + np.concatenate([[0.0], np.cumsum(later)[:-1]])
        sent = np.cumsum(down.get(str(sid), np.zeros(k_slots)))
        total = float(initial + later.sum())
        tol = max(BYTES_TOL, REL_TOL * total)
        early = np.flatnonzero(sent > available + tol)
        if len(early):
            k = int(early[0])
            out.append(
                f"recorder: source {sid} has {sent[k]:.0f} bytes downlinked by the end of slot "
                f"{k} but only {available[k]:.0f} produced before it: bytes sent before they exist"
            )
        entry = reported.get(str(sid))
        if entry is None:
            if total > tol:
                out.append(
                    f"recorder: source {sid} produces {total:.0f} bytes but is not in sources"
                )
            continue
        if abs(float(entry["produced_bytes"]) - total) > tol:
            out.append(
                f"recorder: source {sid} produced_bytes {float(entry['produced_bytes']):.0f} but "
                f"its activity produces {total:.0f}"
            )
        if abs(float(entry["delivered_bytes"]) - sent[-1]) > tol:
            out.append(
                f"recorder: source {sid} delivered_bytes {float(entry['delivered_bytes']):.0f} but "
                f"its operations move {sent[-1]:.0f}"
            )
        balance = sum(
            float(entry[k]) for k in ("delivered_bytes", "lost_bytes", "onboard_end_bytes")
        )
        if (
            abs(balance - total) > tol
            or min(float(entry["lost_bytes"]), float(entry["onboard_end_bytes"])) < -tol
        ):
            out.append(
                f"recorder: source {sid} delivered + lost + onboard_end = {balance:.0f} bytes, "
                f"produced {total:.0f}"
            )
    for sid in set(reported) - {str(s) for s in prod.source.values}:
        out.append(f"recorder: sources lists {sid}, which the model does not have")
    return out


# --------------------------------------------------------------------------- fill
def _check_fill(
    plan: Mapping[str, Any],
    scenario: Scenario,
    prod: Any,
    t0: Any,
    edges: np.ndarray,
) -> list[str]:
    out = []
    curves = {r["node"]: r for r in plan.get("recorders", [])}
    losses: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for loss in plan.get("losses", []):
        first = (parse_time(loss["first_time"]) - t0).total_seconds()
        losses[loss["node"]].append((first, float(loss["lost_bytes"])))
    lost_by_source: dict[str, float] = defaultdict(float)
    for s in plan.get("sources", []):
        lost_by_source[s["node"]] += float(s["lost_bytes"])
    entering = _entering(plan, t0, edges)
    node_down = _downlinked(plan, t0, edges, "node")
    for node in scenario.nodes:
        if node.recorder is None:
            continue
        cap = node.recorder.capacity_bytes
        tol = max(BYTES_TOL, REL_TOL * cap)
        rows = prod.source.values[prod["node"].values == node.name]
        made = prod.produced_bytes.sel(source=rows).values
        initial = float(node.recorder.initial_fill_bytes)
        flows = made.sum(axis=0) + entering.get(node.name, 0.0) - node_down.get(node.name, 0.0)
        flows[0] -= initial  # the initial fill is onboard at t_0, not produced in slot 0
        fill0 = initial + np.concatenate([[0.0], np.cumsum(flows)])  # no losses, at the edges
        reported = sorted(losses.get(node.name, []))
        firsts = np.array([f for f, _ in reported])
        lost_by = np.array([sum(b for f, b in reported if f <= e + 1e-6) for e in edges])
        over = fill0 - cap - lost_by
        if (over > tol).any():
            k = int(np.argmax(over))
            out.append(
                f"recorder: {node.name} holds {fill0[k]:.0f} bytes at {edges[k]:.0f}s without "
                f"losses, {over[k]:.0f} above its {cap:.0f} byte capacity and the losses reported "
                "by then: it overflows without reporting the loss"
            )
        total_lost = sum(b for _, b in reported)
        if abs(total_lost - lost_by_source[node.name]) > tol:
            out.append(
                f"recorder: losses of {node.name} add up to {total_lost:.0f} bytes, its sources' "
                f"lost_bytes to {lost_by_source[node.name]:.0f}"
            )
        curve = curves.get(node.name)
        if curve is None:
            out.append(f"recorder: {node.name} has a recorder but no recorders[] fill curve")
            continue
        fill = np.asarray(curve["fill_bytes"], dtype=float)
        if len(fill) != len(edges):
            out.append(
                f"recorder: {node.name} fill_bytes has {len(fill)} values, expected {len(edges)}"
            )
            continue
        implied = fill0 - fill
        bad = (
            (fill > cap + tol)
            | (fill < -tol)
            | (implied < -tol)
            | (np.concatenate([[0.0], np.diff(implied)]) < -tol)
            | ((edges < (firsts.min() if len(firsts) else np.inf) - 1e-6) & (implied > tol))
        )
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            out.append(
                f"recorder: {node.name} fill_bytes {fill[k]:.0f} at {edges[k]:.0f}s differs from "
                f"the re-integration {fill0[k]:.0f} (capacity {cap:.0f}) by more than the losses "
                "reported by then"
            )
        elif abs(implied[-1] - total_lost) > tol:
            out.append(
                f"recorder: {node.name} fill_bytes imply {implied[-1]:.0f} bytes lost, losses "
                f"report {total_lost:.0f}"
            )
    return out


def _entering(plan: Mapping[str, Any], t0: Any, edges: np.ndarray) -> dict[str, np.ndarray]:
    """Bytes of syncs and job outputs entering each node's recorder per slot (at release)."""
    out: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(len(edges) - 1))
    for s in [*plan.get("syncs", []), *plan.get("job_downlinks", [])]:
        t = (parse_time(s["release"]) - t0).total_seconds() if s.get("release") else 0.0
        k = int(np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2))
        out[s["node"]][k] += float(s["data_size_bytes"])
    return out


# --------------------------------------------------------------------------- SOC
def reintegrated_soc(
    plan: Mapping[str, Any], scenario: Scenario
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per node with a ``soc`` curve in ``plan``: (SOC, floor) in Wh at the slot edges,
    re-integrated from the plan's operations, eclipses and compute placements and the model's
    power figures (module docstring)."""
    t0 = parse_time(plan["horizon"]["start"])
    edges = slot_edges_s(scenario)
    dt = np.diff(edges)
    shadows = _eclipses(plan)
    setup = {s["name"]: float(s.get("setup_s") or 0.0) for s in plan["stations"]}
    ops = defaultdict(list)
    for o in plan["operations"]:
        ops[o["node"]].append(
            (
                (parse_time(o["start"]) - t0).total_seconds() - setup.get(o["station"], 0.0),
                (parse_time(o["end"]) - t0).total_seconds(),
            )
        )
    compute = defaultdict(list)
    for job in plan.get("jobs", []):
        for d in job.get("placement_decisions", []):
            if (
                d.get("status") != "placed"
                or d.get("location") == "ground"
                or d.get("start") is None
            ):
                continue
            parts = d.get("segments") or [d]
            for part in parts:
                a = (parse_time(part["start"]) - t0).total_seconds()
                b = (parse_time(part["end"]) - t0).total_seconds()
                compute[d["node"]].append((a, b, float(part.get("energy_wh") or 0.0)))
    out = {}
    for name in plan.get("soc") or {}:
        node = scenario.node(name)
        bat, power = node.battery, node.power
        cap = float(bat.capacity_wh)
        rows = shadows[shadows["node"] == name]
        sunlit = np.ones(len(dt), dtype=bool)
        for a, b in zip(rows["start"], rows["end"], strict=True):
            a_s, b_s = (
                (a - pd.Timestamp(t0)).total_seconds(),
                (b - pd.Timestamp(t0)).total_seconds(),
            )
            sunlit &= ~((edges[:-1] >= a_s) & (edges[:-1] < b_s))
        charge = power.solar_charge_w * sunlit * dt / 3600.0
        idle = power.idle_w * dt / 3600.0
        on = _transmitter_on(sorted(ops.get(name, [])), power.tx_warmup_s)
        tx = peak_transmit_power_w(node) * _spread([(a, b, b - a) for a, b in on], edges) / 3600.0
        load = tx + _spread(compute.get(name, []), edges)
        soc = _integrate(cap, bat.initial_soc * cap, charge - idle - load)
        floor = np.minimum(bat.min_soc * cap, _integrate(cap, bat.initial_soc * cap, charge - idle))
        out[name] = (soc, floor)
    return out


def _check_soc(plan: Mapping[str, Any], scenario: Scenario, edges: np.ndarray) -> list[str]:
    curves = plan.get("soc") or {}
    drawing = [
        n.name for n in scenario.nodes if peak_transmit_power_w(n) > 0 and n.name not in curves
    ]
    out = [f"soc: {name} draws transmit power but the plan has no soc curve" for name in drawing]
    for name, (soc, floor) in reintegrated_soc(plan, scenario).items():
        bat = scenario.node(name).battery
        cap = float(bat.capacity_wh)
        tol = SOC_TOL * cap
        below = np.flatnonzero(soc < floor - tol)
        if len(below):
            k = int(below[0])
            out.append(
                f"soc: {name} re-integrated state of charge {soc[k] / cap:.4f} at {edges[k]:.0f}s "
                f"is below its floor {floor[k] / cap:.4f} (min_soc {bat.min_soc:g})"
            )
        given = np.asarray(curves[name]["soc"], dtype=float) * cap
        if len(given) != len(soc):
            out.append(f"soc: {name} has {len(given)} values, expected {len(soc)}")
            continue
        off = np.flatnonzero(np.abs(given - soc) > tol)
        if len(off):
            k = int(off[0])
            out.append(
                f"soc: {name} plan says {given[k] / cap:.4f} at {edges[k]:.0f}s, the "
                f"re-integration {soc[k] / cap:.4f}"
            )
    return out


def _transmitter_on(spans: list[tuple[float, float]], warmup_s: float) -> list[tuple[float, float]]:
    """Transmitter-on intervals: each span (an operation from its setup's start) and
    ``warmup_s`` before it, joined across gaps no longer than the warm-up."""
    on: list[list[float]] = []
    for a, b in spans:
        if on and a - on[-1][1] <= warmup_s:
            on[-1][1] = max(on[-1][1], b)
        else:
            on.append([a - warmup_s, b])
    return [(a, b) for a, b in on]


def _integrate(cap: float, start: float, net: np.ndarray) -> np.ndarray:
    soc = np.empty(len(net) + 1)
    soc[0] = min(start, cap)
    for k, x in enumerate(net):
        soc[k + 1] = min(cap, soc[k] + x)
    return soc
