"""Recorder, source, loss and SOC outputs of a schedule (plan.json sections, plan.nc variables).

Formats: docs/plan-format.md ("recorders", "sources", "losses", "soc"). Fill is given at the
slot edges from the slot allocation and the replayed losses; SOC from the executed operations
(:func:`rsmodel.optimize.recorder.soc_from_operations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from rsmodel.optimize.problem import Problem
from rsmodel.optimize.recorder import downlinked, onboard_index, recorder_fill, soc_from_operations
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.timeline import Operation
from rsmodel.timeutil import iso

LOSS_REASON = "recorder full"
_EPS = 0.5


def onboard_sections(state: LinkState, operations: Sequence[Operation]) -> dict[str, Any]:
    """``{"recorders", "sources", "losses", "soc"}`` for plan.json (only the parts the problem has)."""
    p = state.problem
    assert p.onboard is not None
    oi = onboard_index(p)
    soc = soc_from_operations(p, operations) if p.onboard.energy else {}
    return sections_of(
        p, recorder_fill(state), downlinked(p, state.pair_bytes, oi.src_demand), state.lost, soc
    )


def sections_of(
    p: Problem,
    fill: np.ndarray,
    down: np.ndarray,
    lost: np.ndarray,
    soc: dict[str, np.ndarray],
) -> dict[str, Any]:
    """The plan.json sections of recorder ``fill`` (N, K+1) bytes at the slot edges, per
    source ``down`` and ``lost`` (S, K) bytes per slot and ``soc`` (node -> (K+1,) Wh) on the
    grid of ``p`` (the optimiser's schedule, or a simulated run of it)."""
    assert p.onboard is not None
    times = _edge_times(p)
    oi = onboard_index(p)
    out: dict[str, Any] = {}
    if len(oi.recorder_nodes):
        out["recorders"] = [
            {
                "node": p.nodes[n],
                "capacity_bytes": float(oi.capacity[n]),
                "times": times,
                "fill_bytes": np.round(fill[n], 3).tolist(),
            }
            for n in oi.recorder_nodes
        ]
        out["sources"], out["losses"] = [], []
        for s, src in enumerate(p.onboard.sources):
            gone = lost[s]
            sent = float(down[s].sum())
            out["sources"].append(
                {
                    "id": src.id,
                    "node": src.node,
                    "source": src.id.split("/", 1)[-1],
                    "rank": src.rank,
                    "data_type": src.data_type,
                    "on_full": src.on_full,
                    "produced_bytes": src.total_bytes,
                    "delivered_bytes": sent,
                    "lost_bytes": float(gone.sum()),
                    "onboard_end_bytes": max(src.total_bytes - sent - float(gone.sum()), 0.0),
                }
            )
            slots = np.flatnonzero(gone > _EPS)
            if len(slots):
                out["losses"].append(
                    {
                        "source": src.id,
                        "node": src.node,
                        "lost_bytes": float(gone.sum()),
                        "first_time": times[slots[0]],
                        "last_time": times[slots[-1] + 1],
                        "reason": LOSS_REASON,
                    }
                )
    if soc:
        out["soc"] = {
            name: {
                "times": times,
                "soc": np.round(soc[name] / e.capacity_wh, 6).tolist(),
                "min_soc": e.floor_soc,
                "capacity_wh": e.capacity_wh,
                "sunlit": e.sunlit.astype(int).tolist(),
            }
            for name, e in p.onboard.energy.items()
        }
    return out


def onboard_grid(sections: dict[str, Any], problem: Problem) -> dict[str, xr.DataArray]:
    """plan.nc variables of :func:`onboard_sections`: ``recorder_fill_bytes (node, time)`` and
    ``soc (node, time)`` (fraction) at the slot starts."""
    times = pd.to_datetime(_edge_times(problem)[:-1]).tz_convert(None).astype("datetime64[ns]")
    out: dict[str, xr.DataArray] = {}
    if sections.get("recorders"):
        rec = sections["recorders"]
        out["recorder_fill_bytes"] = xr.DataArray(
            np.array([r["fill_bytes"][:-1] for r in rec]),
            dims=("node", "time"),
            coords={"node": [r["node"] for r in rec], "time": times},
            attrs={"units": "bytes", "long_name": "recorder fill at the slot start"},
        )
    if sections.get("soc"):
        soc = sections["soc"]
        out["soc"] = xr.DataArray(
            np.array([v["soc"][:-1] for v in soc.values()]),
            dims=("node", "time"),
            coords={"node": list(soc), "time": times},
            attrs={"units": "1", "long_name": "state of charge at the slot start"},
        )
    return {name: v.reindex(node=problem.nodes) for name, v in out.items()}


def _edge_times(p: Problem) -> list[str]:
    n_slots = max(p.n_slots, 1)
    edges = np.minimum(np.arange(n_slots + 1) * p.step_s, p.duration_s)
    return [iso(p.time_at(t)) for t in edges]
