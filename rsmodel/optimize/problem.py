"""The sparse transfer problem: time slots, link candidates and demands (no Pyomo here).

A *slot* is ``[start + k*step_s, start + (k+1)*step_s)``. A *candidate* is one (window, slot)
pair where the access window overlaps the slot; its usable time is the overlap only (partial
slots at AOS/LOS count their overlap) and its byte capacity is ``bandwidth_bps / 8 * usable_s``
(for windows with a link model, the integral of their rate profile over the overlap, and any
part of a slot — a contact's setup — counts the integral over that part: :meth:`Problem.curve_bytes`).
A *demand* is data to bring down from a node (a sync, or a compute job's output); a *pair* is a
(demand, candidate) combination the demand may use: same node, slot starting at or after the
demand's release (a release inside a slot moves to the next slot boundary).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from rsmodel.geometry.link import WindowCurves
from rsmodel.geometry.pointing import pointing_deg
from rsmodel.model.antenna_schema import Slew
from rsmodel.model.track_schema import resolve_tracks
from rsmodel.model.vocabulary import DEFAULT_OBJECTIVE_WEIGHTS, PRIORITIES
from rsmodel.optimize.onboard import Onboard, onboard_from_scenario
from rsmodel.optimize.setup import carry_of, setup_from
from rsmodel.optimize.strategy import SolverSettings, settings_from_model
from rsmodel.optimize.tracks import TrackSet, build_track_set
from rsmodel.optimize.turnaround import (
    Pointing,
    antennas_in_service,
    cover_last,
    longest_turnaround_s,
)
from rsmodel.timeutil import as_utc

CLASS_NAMES = PRIORITIES  # the transfer classes; a demand's rank indexes them
_EPS_S = 1e-6  # shortest slot part, s
UNIT_BYTES = 1e6  # Pyomo byte quantities are in megabytes (keeps HiGHS coefficients well scaled)


@dataclass(frozen=True)
class Demand:
    """Bytes to bring down from ``node``: ``rank`` 0=critical .. 3=low; times aware UTC."""

    id: str
    node: str
    size_bytes: float
    rank: int
    release: datetime
    deadline: datetime | None = None
    kind: str = "sync"


@dataclass(frozen=True)
class StationSpec:
    """What the optimiser needs of a ground station."""

    name: str
    antennas: int = 1
    setup_s: float = 0.0
    turnaround_s: float = 0.0  # fixed antenna turnaround between nodes, s
    slew: Slew | None = None  # or the turnaround from the slew (rsmodel.optimize.turnaround)
    # (antenna 0-based, start, end): that antenna takes no contacts
    antenna_maintenance: tuple[tuple[int, datetime, datetime], ...] = ()


@dataclass
class GivenCosts:
    """Objective coefficients set from outside instead of derived from this Problem.

    A rolling-horizon block uses the full horizon's per-byte costs of each pair and demand, the
    full horizon's station capacities as the balance denominators, and the bytes earlier blocks
    already sent via each station (docs/optimisation-scale.md). Costs may be scaled per class
    (the balance weight with them): a stage's optimum does not change, HiGHS's tolerances see
    coefficients of order one."""

    pair_cost: np.ndarray  # (P,) objective per byte of each pair
    unmet_cost: np.ndarray  # (D,) objective per byte a demand leaves undelivered
    station_cap: np.ndarray  # (4, S) bytes: balance denominator per class rank and station
    station_sent: np.ndarray  # (4, S) bytes already sent per class rank and station
    balance_weight: np.ndarray  # (4,) weight of the balance term per class rank


@dataclass
class Problem:
    """Arrays describing one sync-scheduling instance (seconds are counted from ``start``)."""

    start: datetime
    end: datetime
    step_s: float
    nodes: list[str]
    stations: list[StationSpec]
    windows: pd.DataFrame
    demands: list[Demand]
    weights: dict[str, float]
    settings: SolverSettings
    # candidates (window x slot), length C
    cand_window: np.ndarray = field(repr=False)
    cand_node: np.ndarray = field(repr=False)
    cand_station: np.ndarray = field(repr=False)
    cand_slot: np.ndarray = field(repr=False)
    cand_t0_s: np.ndarray = field(repr=False)
    cand_t1_s: np.ndarray = field(repr=False)
    cand_bytes: np.ndarray = field(repr=False)
    cand_setup_bytes: np.ndarray = field(repr=False)  # a contact start's setup in its own slot
    cand_prev: np.ndarray = field(repr=False)
    # setup over several slots (rsmodel.optimize.setup): seconds of setup of a contact starting
    # at the candidate (its station's setup_s; less where a rolling block continues a contact),
    # where that setup ends (-1: not in its window), the latest start whose setup ends in it
    cand_setup_s: np.ndarray = field(repr=False)
    cand_carry: np.ndarray = field(repr=False)
    cand_setup_from: np.ndarray = field(repr=False)
    # radio per candidate: its node's index, or for a node with ``simultaneous_bands`` one per
    # (node, band) after the nodes; a radio talks to one station at a time
    cand_radio: np.ndarray = field(repr=False)
    n_radios: int = field(repr=False)
    # pairs (demand x candidate), length P
    pair_demand: np.ndarray = field(repr=False)
    pair_cand: np.ndarray = field(repr=False)
    pair_late: np.ndarray = field(repr=False)
    pair_tau: np.ndarray = field(repr=False)
    # antennas: last slot each candidate keeps its antenna (turnaround), antennas in service
    # per (station, slot), and (station, node, first slot, last slot) taken from outside
    cand_cover_last: np.ndarray = field(repr=False)
    antennas_at: np.ndarray = field(repr=False)
    given_busy: list[tuple[int, int, int, int]] = field(default_factory=list, repr=False)
    pointing: Pointing | None = field(default=None, repr=False)
    simultaneous_nodes: frozenset[str] = field(default=frozenset(), repr=False)
    costs: GivenCosts | None = field(default=None, repr=False)
    tracks: TrackSet = field(default_factory=TrackSet.empty, repr=False)  # docs/tracks.md
    onboard: Onboard | None = field(default=None, repr=False)  # recorders, sources, tx power

    @property
    def n_slots(self) -> int:
        return int(np.ceil(self.duration_s / self.step_s - 1e-9))

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def antennas(self) -> np.ndarray:
        return np.array([s.antennas for s in self.stations], dtype=int)

    @property
    def demand_size(self) -> np.ndarray:
        return np.array([d.size_bytes for d in self.demands], dtype=float)

    @property
    def demand_rank(self) -> np.ndarray:
        return np.array([d.rank for d in self.demands], dtype=int)

    @property
    def demand_node(self) -> np.ndarray:
        """Node index of each demand (-1 for a node without windows or unknown)."""
        index = {n: i for i, n in enumerate(self.nodes)}
        return np.array([index.get(d.node, -1) for d in self.demands], dtype=int)

    @property
    def demand_has_deadline(self) -> np.ndarray:
        return np.array([d.deadline is not None for d in self.demands], dtype=bool)

    @cached_property
    def curves(self) -> WindowCurves:
        """The rate over time of each window (rate profiles, docs/links.md)."""
        return WindowCurves(self.windows, self.start)

    def curve_bytes(self, c: np.ndarray, a_s: np.ndarray, b_s: np.ndarray) -> np.ndarray:
        """Bytes candidate ``c[i]`` carries from ``a_s[i]`` to ``b_s[i]`` (s from the horizon
        start, inside its slot, ``a_s <= b_s``): the integral of its window's rate profile,
        else its share of ``cand_bytes`` (constant rate)."""
        c = np.asarray(c, dtype=int)
        a_s = np.broadcast_to(np.asarray(a_s, dtype=float), c.shape)
        b_s = np.broadcast_to(np.asarray(b_s, dtype=float), c.shape)
        t0, t1 = self.cand_t0_s[c], self.cand_t1_s[c]
        out = self.cand_bytes[c] * ((b_s - a_s) / np.maximum(t1 - t0, _EPS_S))
        on = self.curves.profiled(self.cand_window[c])
        if on.any():
            out = out.copy()
            w = self.cand_window[c[on]]
            out[on] = self.curves.bytes_between(w, a_s[on], b_s[on])
        return out

    def time_at(self, seconds: float) -> datetime:
        """Aware UTC datetime ``seconds`` after the horizon start."""
        return self.start + timedelta(seconds=float(seconds))

    def seconds(self, when: datetime) -> float:
        """Seconds from the horizon start to ``when``."""
        return (as_utc(when) - self.start).total_seconds()

    def with_demands(self, demands: list[Demand]) -> Problem:
        """The same links with another demand list (e.g. adding compute-job outputs)."""
        return build_problem(
            start=self.start,
            end=self.end,
            step_s=self.step_s,
            nodes=self.nodes,
            stations=self.stations,
            windows=self.windows,
            demands=demands,
            weights=self.weights,
            settings=self.settings,
            tracks=self.tracks,
            pointing=self.pointing,
            simultaneous_nodes=self.simultaneous_nodes,
            onboard=self.onboard,
        )

    def demand_index(self) -> dict[str, int]:
        """Position of each demand id."""
        return {d.id: i for i, d in enumerate(self.demands)}


def source_demands(onboard: Onboard, start: datetime, step_s: float) -> list[Demand]:
    """One demand per data source with bytes (kind ``source``): its size is everything it has
    onboard or produces; it is released when its first byte exists (the recorder block keeps
    every later byte from leaving before it is produced)."""
    out = []
    for s in onboard.sources:
        if s.total_bytes <= 0:
            continue
        first = 0 if s.initial_bytes > 0 else int(np.flatnonzero(s.produced_bytes > 0)[0]) + 1
        release = as_utc(start) + timedelta(seconds=first * step_s)
        out.append(Demand(s.id, s.node, s.total_bytes, s.rank, release, None, "source"))
    return out


def build_problem(
    *,
    start: datetime,
    end: datetime,
    step_s: float,
    nodes: list[str],
    stations: list[StationSpec],
    windows: pd.DataFrame,
    demands: list[Demand],
    weights: dict[str, float] | None = None,
    settings: SolverSettings | None = None,
    tracks: TrackSet | None = None,
    pointing: Pointing | None = None,
    simultaneous_nodes: frozenset[str] = frozenset(),
    onboard: Onboard | None = None,
) -> Problem:
    """Build the sparse candidate and pair arrays from a windows table (docs/ARCHITECTURE.md);
    ``tracks``: antenna-time requests with their options (rsmodel/optimize/tracks.py).

    ``pointing`` gives the slew turnaround of stations with ``slew`` its geometry (worst case
    without it; rsmodel.optimize.turnaround). Nodes in ``simultaneous_nodes`` may talk to one
    station per band (the windows' ``band``) at once.

    ``onboard`` adds recorders, data sources and transmitter power (their sources must be among
    ``demands``, e.g. via :func:`source_demands`)."""
    start, end = as_utc(start), as_utc(end)
    windows = windows.reset_index(drop=True)
    station_index = {s.name: i for i, s in enumerate(stations)}
    node_index = {n: i for i, n in enumerate(nodes)}
    cands = _candidates(windows, start, end, step_s, node_index, station_index, stations)
    pairs = _pairs(demands, cands, node_index, start, end)
    n_slots = max(int(np.ceil((end - start).total_seconds() / step_s - 1e-9)), 1)
    radio, n_radios = _radios(windows, cands, nodes, simultaneous_nodes)
    cover = cover_last(
        stations,
        float(step_s),
        n_slots,
        cands["cand_station"],
        cands["cand_node"],
        cands["cand_slot"],
        cands["cand_t0_s"],
        cands["cand_t1_s"],
        pointing,
    )
    return Problem(
        start=start,
        end=end,
        step_s=float(step_s),
        nodes=list(nodes),
        stations=list(stations),
        windows=windows,
        demands=list(demands),
        weights=dict(weights or DEFAULT_OBJECTIVE_WEIGHTS),
        settings=settings or SolverSettings(),
        **cands,
        **pairs,
        tracks=tracks if tracks is not None else TrackSet.empty(),
        cand_radio=radio,
        n_radios=n_radios,
        simultaneous_nodes=frozenset(simultaneous_nodes),
        cand_cover_last=cover,
        antennas_at=antennas_in_service(stations, start, float(step_s), n_slots),
        pointing=pointing,
        onboard=onboard,
    )


def problem_from_scenario(
    scenario: Any,
    geometry: Any,
    *,
    method: str | None = None,
    planned_wh: dict[str, np.ndarray] | None = None,
) -> Problem:
    """Problem for a loaded :class:`~rsmodel.model.scenario.Scenario` and its geometry
    (``planned_wh``: compute energy per node and slot planned before, docs/recorder.md)."""
    settings = settings_from_model(scenario.model.solver, method=method)
    demands = [
        Demand(s.id, s.node, float(s.data_size_bytes), s.rank, s.release, s.deadline, "sync")
        for s in scenario.syncs
    ]
    onboard = onboard_from_scenario(scenario, geometry, planned_wh)
    if onboard is not None:
        demands += source_demands(onboard, scenario.start, scenario.step_s)
    tracks = build_track_set(
        resolve_tracks(scenario),
        geometry.windows,
        [s.name for s in scenario.stations],
        {
            s.name: [
                ((a - scenario.start).total_seconds(), (b - scenario.start).total_seconds())
                for a, b in s.maintenance
            ]
            for s in scenario.stations
        },
        scenario.start,
        scenario.duration_s,
        scenario.step_s,
        {s.name: longest_turnaround_s(s) for s in scenario.stations},
    )
    return build_problem(
        start=scenario.start,
        end=scenario.end,
        step_s=scenario.step_s,
        nodes=[n.name for n in scenario.nodes],
        stations=station_specs(scenario),
        windows=geometry.windows,
        demands=demands,
        weights=scenario.model.objectives.model_dump(),
        settings=settings,
        tracks=tracks,
        pointing=scenario_pointing(scenario),
        simultaneous_nodes=frozenset(n.name for n in scenario.nodes if n.simultaneous_bands),
        onboard=onboard,
    )


def station_specs(scenario: Any, *, setup: bool = True) -> list[StationSpec]:
    """The scenario's stations as the optimiser sees them (``setup=False``: no setup time)."""
    return [
        StationSpec(
            s.name,
            int(s.antennas),
            float(s.setup_s) if setup else 0.0,
            float(s.turnaround_s),
            s.slew,
            s.antenna_maintenance,
        )
        for s in scenario.stations
    ]


def scenario_pointing(scenario: Any) -> Pointing | None:
    """Antenna pointing of the scenario's node/station pairs (rsmodel.geometry.pointing); None
    when no station has a slew model (nothing needs it)."""
    if not any(s.slew is not None for s in scenario.stations):
        return None

    def pointing(node: np.ndarray, station: np.ndarray, t_s: np.ndarray):
        return pointing_deg(scenario.nodes, node, scenario.stations, station, scenario.start, t_s)

    return pointing


def _radios(
    windows: pd.DataFrame,
    cands: dict[str, np.ndarray],
    nodes: list[str],
    simultaneous_nodes: frozenset[str],
) -> tuple[np.ndarray, int]:
    """Radio of each candidate and the number of radios (``Problem.cand_radio``)."""
    radio = cands["cand_node"].copy()
    if not simultaneous_nodes or "band" not in windows or not len(radio):
        return radio, len(nodes)
    band = windows["band"].to_numpy(dtype=object)[cands["cand_window"]]
    split = np.isin(np.asarray(nodes, dtype=object)[radio], list(simultaneous_nodes))
    keys = sorted({(int(n), str(b)) for n, b in zip(radio[split], band[split], strict=True)})
    index = {k: len(nodes) + i for i, k in enumerate(keys)}
    radio[split] = [index[(int(n), str(b))] for n, b in zip(radio[split], band[split], strict=True)]
    return radio, len(nodes) + len(keys)


def _seconds_since(times: pd.Series, start: datetime) -> np.ndarray:
    return ((pd.to_datetime(times, utc=True) - pd.Timestamp(start)).dt.total_seconds()).to_numpy(
        dtype=float
    )


def _candidates(
    windows: pd.DataFrame,
    start: datetime,
    end: datetime,
    step_s: float,
    node_index: dict[str, int],
    station_index: dict[str, int],
    stations: list[StationSpec],
) -> dict[str, np.ndarray]:
    """One candidate per (window, slot) overlap, vectorised over windows."""
    horizon_s = (end - start).total_seconds()
    if len(windows) == 0:
        empty_i, empty_f = np.zeros(0, dtype=int), np.zeros(0)
        return dict(
            cand_window=empty_i, cand_node=empty_i, cand_station=empty_i, cand_slot=empty_i,
            cand_t0_s=empty_f, cand_t1_s=empty_f, cand_bytes=empty_f, cand_setup_bytes=empty_f,
            cand_prev=empty_i, cand_setup_s=empty_f, cand_carry=empty_i, cand_setup_from=empty_i,
        )  # fmt: skip
    w0 = np.clip(_seconds_since(windows["start"], start), 0.0, horizon_s)
    w1 = np.clip(_seconds_since(windows["end"], start), 0.0, horizon_s)
    first = np.floor(w0 / step_s).astype(int)
    last = np.ceil(w1 / step_s).astype(int) - 1
    count = np.maximum(last - first + 1, 0)
    window = np.repeat(np.arange(len(windows)), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    slot = first[window] + offset
    t0 = np.maximum(slot * step_s, w0[window])
    t1 = np.minimum(np.minimum((slot + 1) * step_s, w1[window]), horizon_s)
    keep = t1 - t0 > 1e-6
    window, slot, t0, t1 = window[keep], slot[keep], t0[keep], t1[keep]
    node = windows["node"].map(node_index).to_numpy()[window].astype(int)
    station = windows["station"].map(station_index).to_numpy()[window].astype(int)
    bytes_per_s = windows["bandwidth_bps"].to_numpy(dtype=float)[window] / 8.0
    cand_bytes = bytes_per_s * (t1 - t0)
    setup_s = np.array([s.setup_s for s in stations], dtype=float)[station]
    setup_bytes = bytes_per_s * np.minimum(setup_s, t1 - t0)  # its own slot's part
    # Windows with a link model: integrals of their rate profile (docs/links.md)
    curves = WindowCurves(windows, start)
    on = curves.profiled(window)
    if on.any():
        w, a, b = window[on], t0[on], t1[on]
        cand_bytes[on] = curves.bytes_between(w, a, b)
        setup_bytes[on] = curves.bytes_between(w, a, a + np.minimum(setup_s[on], b - a))
    prev = np.full(len(window), -1, dtype=int)
    same = (window[1:] == window[:-1]) & (slot[1:] == slot[:-1] + 1)
    prev[1:][same] = np.arange(len(window) - 1)[same]
    carry = carry_of(t0, t1, prev, setup_s)
    return dict(
        cand_window=window,
        cand_node=node,
        cand_station=station,
        cand_slot=slot,
        cand_t0_s=t0,
        cand_t1_s=t1,
        cand_bytes=cand_bytes,
        cand_setup_bytes=setup_bytes,
        cand_prev=prev,
        cand_setup_s=setup_s,
        cand_carry=carry,
        cand_setup_from=setup_from(carry),
    )


def _pairs(
    demands: list[Demand],
    cands: dict[str, np.ndarray],
    node_index: dict[str, int],
    start: datetime,
    end: datetime,
) -> dict[str, np.ndarray]:
    """(demand, candidate) pairs: same node, slot at/after release; lateness and latency fraction."""
    horizon_s = (end - start).total_seconds()
    by_node: dict[int, np.ndarray] = {}
    order = np.argsort(cands["cand_node"], kind="stable")
    nodes_sorted = cands["cand_node"][order]
    for n in np.unique(nodes_sorted):
        lo, hi = np.searchsorted(nodes_sorted, [n, n + 1])
        by_node[int(n)] = order[lo:hi]
    pd_list, pc_list, late_list, tau_list = [], [], [], []
    for d, demand in enumerate(demands):
        c = by_node.get(node_index.get(demand.node, -1), np.zeros(0, dtype=int))
        release_s = (as_utc(demand.release) - start).total_seconds()
        c = c[cands["cand_t0_s"][c] >= release_s - 1e-6]
        t1 = cands["cand_t1_s"][c]
        deadline_s = (
            np.inf if demand.deadline is None else (as_utc(demand.deadline) - start).total_seconds()
        )
        span = max(horizon_s - max(release_s, 0.0), 1e-9)
        pd_list.append(np.full(len(c), d, dtype=int))
        pc_list.append(c)
        late_list.append(t1 > deadline_s + 1e-6)
        tau_list.append(np.clip((t1 - max(release_s, 0.0)) / span, 0.0, 1.0))
    if not demands:
        return dict(
            pair_demand=np.zeros(0, dtype=int),
            pair_cand=np.zeros(0, dtype=int),
            pair_late=np.zeros(0, dtype=bool),
            pair_tau=np.zeros(0),
        )
    return dict(
        pair_demand=np.concatenate(pd_list),
        pair_cand=np.concatenate(pc_list).astype(int),
        pair_late=np.concatenate(late_list),
        pair_tau=np.concatenate(tau_list),
    )


def group_positions(keys: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """For each group id in ``range(n_groups)``, the positions in ``keys`` holding it."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n_groups + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in range(n_groups)]
