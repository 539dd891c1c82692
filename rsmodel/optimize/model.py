"""One class stage as a Pyomo model: index arrays (numpy) -> sparse Pyomo components.

**Composition.** A stage model is a list of *constraint blocks*: functions
``block(model, problem, idx)`` (:data:`ConstraintBlock`) that read the stage's
:class:`StageIndex` ``idx``, add their own components to ``model`` and may append
``(weight, expression)`` to ``model.objective_terms`` and, for variables of their own, a
``hook(warm) -> (variables, values)`` to ``model.start_hooks`` (their part of the MIP start
from the greedy warm state). :func:`build_stage_model` creates the
model, calls each block of ``blocks`` in order and adds the objective last. The sync model is
itself this list, :data:`STAGE_BLOCKS`:

- ``contacts.add_contacts``   binary links x on the free candidates, contact starts, antenna and
                              one-station-per-node limits (rsmodel/optimize/contacts.py);
- ``transfers.add_transfers`` bytes y per (demand, candidate) pair, capacity, unmet bytes, late
                              bytes (rsmodel/optimize/transfers.py);
- ``tracks.add_tracks``       antenna-time requests: binary options sharing the antennas with
                              the links (rsmodel/optimize/tracks.py, docs/tracks.md);

then ``objective.add_objective`` (the normalised weighted objective plus the blocks' terms,
rsmodel/optimize/objective.py). A new block (energy, recorder, link budget, ...) is a function
of that signature appended to ``STAGE_BLOCKS`` (or passed as ``blocks=``); docs/optimisation.md.

Candidates already switched on by higher classes (``state.on``) are not variables: the stage
may use their residual bytes. Candidates whose node already talks to another station in that
slot, whose station has no antenna left for this class, or whose node is blocked by a waiting
higher class (``LinkState.begin_stage``) are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyomo.core as pyo

from rsmodel.optimize.contacts import add_contacts
from rsmodel.optimize.objective import add_objective
from rsmodel.optimize.problem import Problem
from rsmodel.optimize.recorder import onboard_blocks
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.tracks import add_tracks
from rsmodel.optimize.transfers import add_transfers

_MIN_BYTES = 1.0
MIN_REACH_WINDOWS = 6


@dataclass
class StageIndex:
    """Numpy description of one stage: which pairs and candidates enter the model."""

    demands: np.ndarray  # problem demand indices in this stage
    need: np.ndarray  # bytes each stage demand still needs (size minus a fixed past)
    pairs: np.ndarray  # problem pair indices usable in this stage
    pair_ub: np.ndarray  # upper bound of y per stage pair, bytes
    links: np.ndarray  # candidate indices that are binary variables
    fixed: np.ndarray  # candidate indices already on (residual capacity only)
    fixed_residual: np.ndarray  # bytes per fixed candidate
    link_prev: np.ndarray  # per link: position of its previous-slot link in ``links`` or -1
    link_prev_on: np.ndarray  # per link: previous slot already on (no setup)
    # antenna limits: one entry per (link, slot it keeps an antenna in) where its node does not
    # hold one yet; key = station * n_slots + slot, limit = antennas left there
    cover_link: np.ndarray
    cover_key: np.ndarray
    cover_node: np.ndarray
    cover_limit: np.ndarray
    track_options: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    track_free: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    state: LinkState | None = None  # the allocation the stage starts from (earlier classes)
    reach_pruned: int = 0  # pairs left out beyond their demand's reach (0: none)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)


ConstraintBlock = Callable[[pyo.ConcreteModel, Problem, StageIndex], None]
"""``block(model, problem, idx)``: adds components (and ``model.objective_terms``) to a stage."""

STAGE_BLOCKS: tuple[ConstraintBlock, ...] = (add_contacts, add_transfers, add_tracks)


def stage_index(
    problem: Problem, stage_demands: np.ndarray, state: LinkState, warm: LinkState | None = None
) -> StageIndex:
    """Select the stage's usable pairs and split their candidates into variables and fixed links.

    Pairs beyond a demand's *reach* are dropped: once the capacity its node could use since the
    demand's release adds up to ``reach_factor`` x the node's bytes in this stage, later slots
    are left out (pairs the warm start ``warm`` uses are always kept).
    """
    p = problem
    residual = state.residual_bytes()
    pairs = state.stage_pairs(stage_demands)
    c = p.pair_cand[pairs]
    node_free = state.radio_link[p.cand_radio[c], p.cand_slot[c]] < 0
    taken = state.station_links + state.reserve + state.track_busy
    station_free = (
        taken[p.cand_station[c], p.cand_slot[c]] < p.antennas_at[p.cand_station[c], p.cand_slot[c]]
    ) | state.holds(p.cand_station[c], p.cand_node[c], p.cand_slot[c])
    openable = (
        ~state.on[c]
        & node_free
        & station_free
        & (
            (p.cand_bytes[c] - p.cand_setup_bytes[c] > _MIN_BYTES)
            | (p.cand_carry[c] != c)  # a setup over several slots may fill it
        )
    )
    usable_on = state.on[c] & (residual[c] > _MIN_BYTES)
    keep = openable | usable_on
    pairs, c = pairs[keep], c[keep]
    cap = np.where(state.on[c], residual[c], p.cand_bytes[c] - p.cand_setup_bytes[c])
    early = _within_capacity_reach(p, pairs, cap, stage_demands, p.settings.reach_factor)
    keep = early if warm is None else early | (warm.pair_bytes[pairs] > 0)
    reach_pruned = int((~keep).sum())
    pairs, c = pairs[keep], c[keep]
    links = np.unique(c[~state.on[c]])
    fixed = np.unique(c[state.on[c]])
    position = np.full(len(p.cand_window), -1, dtype=int)
    position[links] = np.arange(len(links))
    prev = p.cand_prev[links]
    link_prev = np.where(prev >= 0, position[np.maximum(prev, 0)], -1)
    link_prev_on = np.where(prev >= 0, state.on[np.maximum(prev, 0)], False)
    cover = _cover_entries(p, state, links, taken)
    cap = np.where(state.on[c], residual[c], p.cand_bytes[c])
    ub = np.minimum(cap, (p.demand_size - state.delivered())[p.pair_demand[pairs]])
    return StageIndex(
        demands=np.asarray(stage_demands, dtype=int),
        need=np.maximum(p.demand_size[stage_demands] - state.delivered()[stage_demands], 0.0),
        pairs=pairs,
        pair_ub=np.maximum(ub, 0.0),
        links=links,
        fixed=fixed,
        fixed_residual=np.maximum(residual[fixed], 0.0),
        link_prev=link_prev,
        link_prev_on=link_prev_on,
        track_options=state.stage_track_options(),
        track_free=state.track_free(),
        state=state,
        reach_pruned=reach_pruned,
        **cover,
    )


def _cover_entries(
    p: Problem, state: LinkState, links: np.ndarray, taken: np.ndarray
) -> dict[str, np.ndarray]:
    """(link, slot) entries of the antenna limits: every slot a link keeps its antenna in
    (rsmodel.optimize.turnaround) where its node holds none there yet."""
    count = p.cand_cover_last[links] - p.cand_slot[links] + 1
    link = np.repeat(np.arange(len(links)), count)
    slot = (
        p.cand_slot[links][link]
        + np.arange(count.sum())
        - np.repeat(np.cumsum(count) - count, count)
    )
    station, node = p.cand_station[links][link], p.cand_node[links][link]
    keep = ~state.holds(station, node, slot)
    link, slot, station, node = link[keep], slot[keep], station[keep], node[keep]
    return dict(
        cover_link=link,
        cover_key=station * taken.shape[1] + slot,
        cover_node=node,
        cover_limit=np.maximum(p.antennas_at[station, slot] - taken[station, slot], 0),
    )


def build_stage_model(
    problem: Problem,
    stage_demands: np.ndarray,
    state: LinkState,
    *,
    warm: LinkState | None = None,
    weights: dict[str, float] | None = None,
    blocks: Sequence[ConstraintBlock] | None = None,
) -> pyo.ConcreteModel:
    """The Pyomo model of one stage: ``blocks`` (default :data:`STAGE_BLOCKS`, plus the recorder
    and transmitter-energy blocks when ``problem.onboard`` is set) then the objective;
    ``model.stage`` holds its :class:`StageIndex`."""
    idx = stage_index(problem, stage_demands, state, warm)
    m = pyo.ConcreteModel(name="rsmodel-sync-stage")
    m.stage = idx
    m.objective_terms = []
    m.start_hooks = []  # blocks' MIP-start values: hook(warm LinkState) -> (variables, values)
    for block in (*STAGE_BLOCKS, *onboard_blocks(problem)) if blocks is None else blocks:
        block(m, problem, idx)
    add_objective(m, problem, idx, weights or problem.weights)
    return m


def _within_capacity_reach(
    problem: Problem,
    pairs: np.ndarray,
    cap: np.ndarray,
    stage_demands: np.ndarray,
    factor: float | None,
) -> np.ndarray:
    """Per pair: its window is among the demand's first ``MIN_REACH_WINDOWS`` windows after
    release, or the usable capacity of the demand's earlier windows is below ``factor`` x the
    node's stage bytes. ``factor=None`` keeps everything."""
    if factor is None or len(pairs) == 0:
        return np.ones(len(pairs), dtype=bool)
    p = problem
    d = p.pair_demand[pairs]
    window = p.cand_window[p.pair_cand[pairs]]
    demand_node = p.demand_node
    known = stage_demands[demand_node[stage_demands] >= 0]
    node_bytes = np.bincount(
        demand_node[known], weights=p.demand_size[known], minlength=len(p.nodes)
    )
    # one row per (demand, window), in window order (windows are sorted by start)
    keys, inverse = np.unique(d * len(p.windows) + window, return_inverse=True)
    per_window = np.bincount(inverse, weights=cap, minlength=len(keys))
    key_demand = keys // len(p.windows)
    first = np.r_[True, key_demand[1:] != key_demand[:-1]]
    cum = np.cumsum(per_window)
    before = cum - per_window - np.maximum.accumulate(np.where(first, cum - per_window, 0.0))
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))
    rank = np.arange(len(keys)) - group_start
    key_node = demand_node[key_demand]
    keep_window = (rank < MIN_REACH_WINDOWS) | (before < factor * node_bytes[key_node])
    return keep_window[inverse]
