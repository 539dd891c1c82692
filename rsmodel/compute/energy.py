"""Energy of planned compute per node and grid slot: the fixed draw the sync optimiser adds to
transmitter power when jobs are planned first (docs/recorder.md, "compute and downlinks")."""

from __future__ import annotations

from typing import Any

import numpy as np

from rsmodel.model.scenario import Scenario
from rsmodel.timeutil import parse_time


def planned_compute_wh(scenario: Scenario, response: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per node, (K,) Wh drawn by the onboard placements of ``response`` (:func:`plan_jobs`):
    each placement's (or pass segment's) ``energy_wh`` spread evenly over its run."""
    n_slots = int(np.ceil(scenario.duration_s / scenario.step_s - 1e-9))
    edges = np.minimum(np.arange(n_slots + 1) * scenario.step_s, scenario.duration_s)
    out: dict[str, np.ndarray] = {}
    for d in response.get("placement_decisions", []):
        if d.get("status") != "placed" or d.get("location") == "ground" or d.get("start") is None:
            continue
        for part in d.get("segments") or [d]:
            a = (parse_time(part["start"]) - scenario.start).total_seconds()
            b = (parse_time(part["end"]) - scenario.start).total_seconds()
            overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0, None)
            if b > a:
                row = out.setdefault(d["node"], np.zeros(n_slots))
                row += float(part.get("energy_wh") or 0.0) * overlap / (b - a)
    return out
