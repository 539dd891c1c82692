"""The optimiser's output type (contract with rsmodel.plan / pipeline / api)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from rsmodel.cells import CELL_DIM, cell_coords, dense_fits
from rsmodel.geometry.link import PROFILE_COLUMNS
from rsmodel.model.scenario import station_entry
from rsmodel.optimize.onboard_plan import onboard_grid, onboard_sections
from rsmodel.optimize.problem import CLASS_NAMES, Demand, Problem
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.status import SolveStatus, StageReport
from rsmodel.optimize.timeline import EPS_BYTES, Operation, timeline
from rsmodel.optimize.track_output import track_sections
from rsmodel.timeutil import iso


@dataclass
class SolverStats:
    """How the schedule was obtained; objective/bound are sums over the class stages."""

    method: str
    strategy: str
    status: SolveStatus
    strategy_reason: str = ""
    objective: float | None = None
    mip_gap: float | None = None
    bound: float | None = None
    gap_global: float | None = None
    build_s: float = 0.0
    solve_s: float = 0.0
    time_limit_s: float | None = None
    notes: list[str] = field(default_factory=list)
    stages: list[StageReport] = field(default_factory=list)

    def keys(self) -> list[str]:
        """Mapping protocol, so ``dict(stats)`` gives the plan.json ``solver`` section."""
        return [f.name for f in fields(self)]

    def __getitem__(self, key: str) -> object:
        if key == "stages":
            return [s.as_dict() for s in self.stages]
        if key == "status":
            return str(self.status)
        return getattr(self, key)


@dataclass(frozen=True)
class DemandOutcome:
    """What happened to one demand: status complete | partial | unmet, with a reason."""

    id: str
    status: str
    delivered_bytes: float
    late_bytes: float
    completed_at: datetime | None
    reason: str


@dataclass
class Schedule:
    """Operations, per-demand outcomes, solver stats and the per-slot grid (plan.nc)."""

    operations: list[Operation]
    outcomes: dict[str, DemandOutcome]
    solver: SolverStats
    grid: xr.Dataset
    problem: Problem = field(repr=False)
    state: LinkState = field(repr=False)
    warnings: list[str] = field(default_factory=list)
    tracks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # docs/tracks.md
    onboard: dict[str, Any] = field(default_factory=dict)  # recorders, sources, losses, soc

    def plan_dict(self) -> dict[str, Any]:
        """The plan.json sections the independent checker reads (horizon, stations, windows,
        operations, syncs; tracks, track_requests, missions when there are track requests),
        built from this schedule alone."""
        p = self.problem
        windows = p.windows
        return {
            "horizon": {"start": iso(p.start), "end": iso(p.end), "step_s": p.step_s},
            "stations": [station_entry(s) for s in p.stations],
            "windows": [
                {
                    "id": str(w.id),
                    "node": w.node,
                    "station": w.station,
                    "start": iso(w.start.round("us").to_pydatetime()),
                    "end": iso(w.end.round("us").to_pydatetime()),
                    "bandwidth_bps": float(w.bandwidth_bps),
                    **{
                        name: float(getattr(w, name))
                        for name in ("min_rate_bps", "max_rate_bps")
                        if name in windows
                    },
                    **{
                        name: np.asarray(getattr(w, name), dtype=float).tolist()
                        for name in PROFILE_COLUMNS
                        if isinstance(getattr(w, name, None), list | np.ndarray)
                    },
                }
                for w in windows.itertuples()
            ],
            "operations": [
                {**asdict(o), "start": iso(o.start), "end": iso(o.end)} for o in self.operations
            ],
            "syncs": [_sync_entry(d, self.outcomes[d.id]) for d in p.demands],
            **self.tracks,
        }


def _sync_entry(demand: Demand, outcome: DemandOutcome) -> dict[str, Any]:
    return {
        "id": demand.id,
        "node": demand.node,
        "priority": CLASS_NAMES[demand.rank],
        "data_size_bytes": demand.size_bytes,
        "release": iso(demand.release),
        "deadline": iso(demand.deadline) if demand.deadline else None,
        "status": outcome.status,
        "delivered_bytes": outcome.delivered_bytes,
        "completed_at": iso(outcome.completed_at) if outcome.completed_at else None,
        "reason": outcome.reason,
    }


def build_schedule(
    state: LinkState, solver: SolverStats, warnings: list[str] | None = None
) -> Schedule:
    """Turn a final link state into operations, outcomes and the grid."""
    operations = timeline(state)
    grid = _grid(state)
    onboard = {}
    if state.problem.onboard is not None:
        onboard = onboard_sections(state, operations)
        grid = grid.assign(onboard_grid(onboard, state.problem))
    return Schedule(
        warnings=list(warnings or []),
        operations=operations,
        outcomes=_outcomes(state, operations),
        solver=solver,
        grid=grid,
        problem=state.problem,
        state=state,
        tracks=track_sections(state),
        onboard=onboard,
    )


def _outcomes(state: LinkState, operations: list[Operation]) -> dict[str, DemandOutcome]:
    p = state.problem
    delivered = state.delivered()
    late = np.bincount(
        p.pair_demand, weights=state.pair_bytes * p.pair_late, minlength=len(p.demands)
    )
    last_end: dict[str, datetime] = {}
    for op in operations:
        last_end[op.sync_id] = max(op.end, last_end.get(op.sync_id, op.end))
    has_pairs = np.bincount(p.pair_demand, minlength=len(p.demands)) > 0
    out = {}
    for i, demand in enumerate(p.demands):
        got = float(delivered[i])
        complete = got >= demand.size_bytes - EPS_BYTES
        status = "complete" if complete else ("partial" if got > EPS_BYTES else "unmet")
        out[demand.id] = DemandOutcome(
            id=demand.id,
            status=status,
            delivered_bytes=min(got, demand.size_bytes),
            late_bytes=float(late[i]),
            completed_at=last_end.get(demand.id) if complete else None,
            reason=_reason(
                demand.deadline, status, float(late[i]), bool(has_pairs[i]), got, demand.size_bytes
            ),
        )
    return out


def _reason(
    deadline: datetime | None, status: str, late: float, has_pairs: bool, got: float, size: float
) -> str:
    if status == "complete":
        if deadline is not None and late > EPS_BYTES:
            return "complete after its deadline: contact capacity before the deadline was too small"
        return "complete" + (" before its deadline" if deadline is not None else "")
    if not has_pairs:
        return "no contact window with any station between its release and the horizon end"
    return (
        f"only {got:.0f} of {size:.0f} bytes fit: the node's contact capacity after release was too small "
        "or taken by data of equal or higher priority"
    )


def _grid(state: LinkState) -> xr.Dataset:
    """bytes and link per (node, station, time slot): dense, or above
    ``rsmodel.geometry.DENSE_GRID_MAX_CELLS`` cells only the candidates' cells (rsmodel.cells)."""
    p = state.problem
    n_slots = max(p.n_slots, 1)
    shape = (len(p.nodes), len(p.stations), n_slots)
    flat = np.ravel_multi_index((p.cand_node, p.cand_station, p.cand_slot), shape)
    start = pd.Timestamp(p.start).tz_convert(None)
    times = pd.date_range(start, periods=n_slots, freq=pd.Timedelta(seconds=p.step_s)).astype(
        "datetime64[ns]"
    )
    coords = {"node": list(p.nodes), "station": [s.name for s in p.stations], "time": times}
    dims: tuple[str, ...] = ("node", "station", "time")
    if dense_fits(shape):
        size, out_shape = int(np.prod(shape)), shape
    else:
        cells, flat = np.unique(flat, return_inverse=True)
        size, out_shape, dims = len(cells), (len(cells),), (CELL_DIM,)
        coords.update(cell_coords(cells, shape))
    bytes_ = np.bincount(flat, weights=state.used_bytes(), minlength=size).reshape(out_shape)
    link = np.bincount(flat, weights=state.on.astype(float), minlength=size).reshape(out_shape)
    return xr.Dataset(
        {
            "bytes": (dims, bytes_, {"units": "bytes", "long_name": "bytes sent in the slot"}),
            "link": (dims, (link > 0).astype(np.int8), {"long_name": "link on in the slot"}),
        },
        coords=coords,
        attrs={"step_s": p.step_s},
    )
