"""Link state shared by the greedy dispatcher, the MILP stages and the repair pass.

Which candidates are on, how many bytes each carries and which demand got which bytes.
A contact starts on a candidate whose previous slot (same window) is off; it pays the
station's ``setup_s`` of its capacity, over as many slots as the setup lasts
(:mod:`rsmodel.optimize.setup`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rsmodel.optimize.problem import Problem
from rsmodel.optimize.setup import contact_starts, setup_paid


@dataclass
class LinkState:
    """Mutable allocation: ``on`` per candidate, ``pair_bytes`` per (demand, candidate) pair."""

    problem: Problem
    on: np.ndarray
    pair_bytes: np.ndarray
    radio_link: np.ndarray  # (radio, slot) -> candidate index or -1 (Problem.cand_radio)
    station_links: np.ndarray  # (station, slot) -> nodes holding an antenna (links + turnaround)
    node_blocked: np.ndarray  # (node, slot): a higher class of the node waits there (set per stage)
    reserve: np.ndarray  # (station, slot): antennas kept free for waiting higher classes
    frozen_slots: int = 0  # slots before this one are the fixed past (reoptimise)
    track_on: np.ndarray | None = None  # per track option (rsmodel/optimize/tracks.py): chosen
    track_busy: np.ndarray | None = None  # (station, slot): antennas taken by chosen tracks
    track_offered: np.ndarray | None = None  # per request: options free when its class began
    stage_rank: int = 0  # class of the current stage (begin_stage)
    # (station, node, slot) -> on candidates of the node keeping an antenna of the station there
    # (their slot through ``problem.cand_cover_last``); ``problem.given_busy`` counts once
    holding: dict[tuple[int, int, int], int] = field(default_factory=dict)
    lost: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (source, slot) bytes

    def __post_init__(self) -> None:
        n_opts, n_req = len(self.problem.tracks), len(self.problem.tracks.requests)
        if self.track_on is None:
            self.track_on = np.zeros(n_opts, dtype=bool)
            self.track_busy = np.zeros_like(self.station_links)
            self.track_offered = np.zeros(n_req, dtype=int)

    @classmethod
    def empty(cls, problem: Problem) -> LinkState:
        n_slots = max(problem.n_slots, 1)
        n_sources = len(problem.onboard.sources) if problem.onboard else 0
        state = cls(
            lost=np.zeros((n_sources, n_slots)),
            problem=problem,
            on=np.zeros(len(problem.cand_window), dtype=bool),
            pair_bytes=np.zeros(len(problem.pair_demand)),
            radio_link=np.full((problem.n_radios, n_slots), -1, dtype=int),
            station_links=np.zeros((len(problem.stations), n_slots), dtype=int),
            node_blocked=np.zeros((len(problem.nodes), n_slots), dtype=bool),
            reserve=np.zeros((len(problem.stations), n_slots), dtype=int),
        )
        for s, n, k0, k1 in problem.given_busy:
            state._hold(s, n, range(max(k0, 0), min(k1, n_slots - 1) + 1), 1)
        return state

    def copy(self) -> LinkState:
        return LinkState(
            self.problem,
            self.on.copy(),
            self.pair_bytes.copy(),
            self.radio_link.copy(),
            self.station_links.copy(),
            self.node_blocked.copy(),
            self.reserve.copy(),
            self.frozen_slots,
            self.track_on.copy(),
            self.track_busy.copy(),
            self.track_offered.copy(),
            self.stage_rank,
            dict(self.holding),
            self.lost.copy(),
        )

    def restore(self, saved: LinkState) -> None:
        """Go back (in place) to ``saved``, an earlier :meth:`copy` of this state."""
        self.__dict__.update(saved.copy().__dict__)

    # ------------------------------------------------------------------ queries
    def higher_classes(self, rank: int) -> LinkState:
        """This allocation with only the classes above ``rank``: their bytes, their sources'
        recorder losses and the links they need, each contact that carries their bytes on from
        its start (its setup slots) to the last slot where it carries them (the bound LPs'
        "plan given the classes above": rsmodel/optimize/bound.py)."""
        p = self.problem
        state = LinkState.empty(p)
        keep = p.demand_rank[p.pair_demand] < rank
        state.pair_bytes = np.where(keep, self.pair_bytes, 0.0)
        if p.onboard is not None and p.onboard.sources:
            above = p.onboard.source_rank < rank
            state.lost[above] = self.lost[above]
        carrying = np.flatnonzero(state.used_bytes() > 0.5)  # bytes
        start = np.where(self.on[carrying], contact_starts(p, self.on)[carrying], carrying)
        last = np.full(len(self.on), -1)
        np.maximum.at(last, start, carrying)
        for s in np.flatnonzero(last >= 0).tolist():  # a window's candidates: consecutive
            for k in range(s, int(last[s]) + 1):
                state.open(k)
        return state

    def used_bytes(self) -> np.ndarray:
        """Bytes carried per candidate."""
        return np.bincount(self.problem.pair_cand, weights=self.pair_bytes, minlength=len(self.on))

    def contact_start(self) -> np.ndarray:
        """Per candidate: on and its previous slot in the same window off."""
        prev = self.problem.cand_prev
        prev_on = np.where(prev >= 0, self.on[np.maximum(prev, 0)], False)
        return self.on & ~prev_on

    def residual_bytes(self) -> np.ndarray:
        """Bytes still free per candidate (on or not: capacity minus the setup it pays in its
        contact, or in the one it would continue or start, minus use)."""
        return self.problem.cand_bytes - setup_paid(self.problem, self.on) - self.used_bytes()

    def delivered(self) -> np.ndarray:
        """Bytes delivered per demand."""
        return np.bincount(
            self.problem.pair_demand, weights=self.pair_bytes, minlength=len(self.problem.demands)
        )

    def can_open(self, c: int) -> bool:
        """The candidate's radio has no link in that slot and its station an antenna the stage may
        use in every slot the link would keep it (turnaround)."""
        p = self.problem
        t, n, s = p.cand_slot[c], p.cand_node[c], p.cand_station[c]
        if self.radio_link[p.cand_radio[c], t] >= 0:
            return False
        return all(
            (s, n, k) in self.holding
            or self.station_links[s, k] + self.reserve[s, k] + self.track_busy[s, k]
            < p.antennas_at[s, k]
            for k in range(t, p.cand_cover_last[c] + 1)
        )

    # ------------------------------------------------------------------ tracks
    def track_free(self) -> np.ndarray:
        """(station, slot): antennas in service neither linked (or turning round), reserved nor
        tracked."""
        taken = self.station_links + self.reserve + self.track_busy
        return self.problem.antennas_at - taken

    def stage_track_options(self) -> np.ndarray:
        """Options of the current class's requests that are not chosen, start after the frozen
        past and find a free antenna in every (station, slot) they occupy."""
        ts = self.problem.tracks
        if len(ts) == 0:
            return np.zeros(0, dtype=int)
        ok = self.track_free()[ts.occ_station, ts.occ_slot] >= 1
        fits = np.logical_and.reduceat(ok, ts.occ_ptr[:-1]) if len(ok) else ok
        first_slot = ts.occ_slot[ts.occ_ptr[:-1]]
        stage = ts.request_rank[ts.opt_request] == self.stage_rank
        return np.flatnonzero(stage & fits & ~self.track_on & (first_slot >= self.frozen_slots))

    def track_fits(self, o: int) -> bool:
        """Option ``o`` finds a free antenna in every (station, slot) it occupies."""
        ts = self.problem.tracks
        k = slice(ts.occ_ptr[o], ts.occ_ptr[o + 1])
        return bool(np.all(self.track_free()[ts.occ_station[k], ts.occ_slot[k]] >= 1))

    def place_track(self, o: int) -> None:
        ts = self.problem.tracks
        k = slice(ts.occ_ptr[o], ts.occ_ptr[o + 1])
        self.track_on[o] = True
        np.add.at(self.track_busy, (ts.occ_station[k], ts.occ_slot[k]), 1)

    def remove_track(self, o: int) -> None:
        ts = self.problem.tracks
        k = slice(ts.occ_ptr[o], ts.occ_ptr[o + 1])
        self.track_on[o] = False
        np.subtract.at(self.track_busy, (ts.occ_station[k], ts.occ_slot[k]), 1)

    def tracked_s(self) -> np.ndarray:
        """Scheduled transmit seconds per track request (split requests: at most
        ``duration_s``, their last segments trimmed in the plan)."""
        ts = self.problem.tracks
        got = np.bincount(
            ts.opt_request[self.track_on],
            weights=ts.duration_s[self.track_on],
            minlength=len(ts.requests),
        )
        return np.minimum(got, ts.requested_s)

    def holds(self, station: np.ndarray, node: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """Per entry: the node already keeps an antenna of the station in the slot (a contact
        or its turnaround)."""
        if not self.holding:
            return np.zeros(len(slot), dtype=bool)
        n, k = len(self.problem.nodes), self.station_links.shape[1]
        held = np.array([(a * n + b) * k + t for a, b, t in self.holding], dtype=np.int64)
        wanted = (np.asarray(station, dtype=np.int64) * n + node) * k + slot
        return np.isin(wanted, held)

    def stage_pairs(self, demand_ids: np.ndarray) -> np.ndarray:
        """Pairs of these demands the current stage may use: not in the frozen past, their node
        not blocked in the slot."""
        p = self.problem
        pairs = np.flatnonzero(np.isin(p.pair_demand, demand_ids))
        c = p.pair_cand[pairs]
        free = ~self.node_blocked[p.cand_node[c], p.cand_slot[c]] & (
            p.cand_slot[c] >= self.frozen_slots
        )
        return pairs[free]

    def begin_stage(self, rank: int) -> None:
        """Priority blocks for a stage of class ``rank`` (seed 000 semantics).

        A demand of a higher class *waits* in a slot when it is released before the slot ends and
        not complete before the slot starts. Where such a demand's node sends nothing of its class
        or higher in the slot, (a) the node's lower classes may not send in that slot and (b) every
        station the idle node sees there keeps one antenna free of lower classes.
        """
        self.stage_rank = rank
        self._block_waiting(rank)
        ts = self.problem.tracks
        offered = np.bincount(
            ts.opt_request[self.stage_track_options()], minlength=len(ts.requests)
        )
        in_class = ts.request_rank == rank if len(ts.requests) else np.zeros(0, dtype=bool)
        self.track_offered[in_class] = offered[in_class]

    def _block_waiting(self, rank: int) -> None:
        """The blocks of :meth:`begin_stage` for waiting higher-class syncs."""
        p = self.problem
        n_slots = self.radio_link.shape[1]
        node_of_demand = p.demand_node
        higher = np.flatnonzero((p.demand_rank < rank) & (node_of_demand >= 0))
        self.node_blocked[:] = False
        self.reserve[:] = 0
        if len(higher) == 0:
            return
        slot_end = np.minimum((np.arange(n_slots) + 1) * p.step_s, p.duration_s)
        release = np.array([p.seconds(p.demands[d].release) for d in higher])
        waiting = (release[:, None] < slot_end[None, :]) & (
            self._bytes_before_slot(higher) < p.demand_size[higher][:, None] - 0.5
        )
        node_of = node_of_demand[higher]
        sending = self._best_rank_sent(n_slots)
        blocked = waiting & (sending[node_of, :] > p.demand_rank[higher][:, None])
        np.logical_or.at(self.node_blocked, node_of, blocked)
        c = np.arange(len(self.on))
        n, t, s = p.cand_node, p.cand_slot, p.cand_station
        sees = (
            self.node_blocked[n, t]
            & (self.radio_link[p.cand_radio, t] < 0)
            & (p.cand_bytes - p.cand_setup_bytes > 0.5)
        )
        self.reserve[s[c[sees]], t[c[sees]]] = 1

    def _bytes_before_slot(self, demands: np.ndarray) -> np.ndarray:
        """(len(demands), slots): bytes of each demand delivered in earlier slots."""
        p = self.problem
        n_slots = self.radio_link.shape[1]
        row = np.full(len(p.demands), -1, dtype=int)
        row[demands] = np.arange(len(demands))
        keep = (row[p.pair_demand] >= 0) & (self.pair_bytes > 0)
        flat = row[p.pair_demand[keep]] * n_slots + p.cand_slot[p.pair_cand[keep]]
        per_slot = np.bincount(
            flat, weights=self.pair_bytes[keep], minlength=len(demands) * n_slots
        )
        per_slot = per_slot.reshape(len(demands), n_slots)
        return np.cumsum(per_slot, axis=1) - per_slot

    def _best_rank_sent(self, n_slots: int) -> np.ndarray:
        """(node, slot): best (lowest) rank of the bytes the node sends in the slot, 99 if none."""
        p = self.problem
        best = np.full((len(p.nodes), n_slots), 99, dtype=int)
        keep = self.pair_bytes > 0.5
        c = p.pair_cand[keep]
        np.minimum.at(best, (p.cand_node[c], p.cand_slot[c]), p.demand_rank[p.pair_demand[keep]])
        return best

    # ------------------------------------------------------------------ updates
    def contact_to(self, c: int) -> list[int]:
        """The candidates to switch on for ``c`` to carry: ``c`` when it is on or continues a
        contact; else the setup slots before it too, from the earliest start whose setup ends
        in ``c`` (the most bytes left in ``c``) whose slots can all be switched on
        (:attr:`Problem.cand_carry`); [] when there is none."""
        p = self.problem
        prev = p.cand_prev[c]
        if self.on[c]:
            return [c]
        if prev >= 0 and self.on[prev]:
            return [c] if self.can_open(c) else []
        j = int(p.cand_setup_from[c])
        starts = []
        while j >= 0 and p.cand_carry[j] == c:
            starts.append(j)
            j = int(p.cand_prev[j])
        for j in reversed(starts):
            need = list(range(j, c + 1))
            if all(self.on[k] or self.can_open(k) for k in need):
                return need
        return []

    def open(self, c: int) -> None:
        p = self.problem
        if self.on[c]:
            return
        self.on[c] = True
        self.radio_link[p.cand_radio[c], p.cand_slot[c]] = c
        slots = range(p.cand_slot[c], p.cand_cover_last[c] + 1)
        self._hold(int(p.cand_station[c]), int(p.cand_node[c]), slots, 1)

    def close(self, c: int) -> None:
        p = self.problem
        if not self.on[c]:
            return
        self.on[c] = False
        self.radio_link[p.cand_radio[c], p.cand_slot[c]] = -1
        slots = range(p.cand_slot[c], p.cand_cover_last[c] + 1)
        self._hold(int(p.cand_station[c]), int(p.cand_node[c]), slots, -1)

    def _hold(self, s: int, n: int, slots: range, step: int) -> None:
        """Count ``step`` (+1 / -1) holders of (s, n) in ``slots``; a node starting or ending
        to hold an antenna there changes ``station_links``."""
        for k in slots:
            count = self.holding.get((s, n, k), 0) + step
            if count > 0:
                self.holding[(s, n, k)] = count
            else:
                self.holding.pop((s, n, k), None)
            if (count > 0) != (count - step > 0):
                self.station_links[s, k] += step

    def close_idle_and_trim(self) -> int:
        """Switch off links carrying nothing; where that makes a later slot a contact start
        without room for its setup, drop the excess bytes (lowest priority first).

        Returns the number of pairs trimmed (normally 0).
        """
        p = self.problem
        rank = p.demand_rank[p.pair_demand]
        trimmed = 0
        while True:  # a trimmed link may fall idle, making a later slot a contact start
            self._close_idle()
            over = np.flatnonzero(self.on & (self.residual_bytes() < -1e-6))
            if len(over) == 0 or not self.pair_bytes[np.isin(p.pair_cand, over)].any():
                return trimmed
            for c in over:
                excess = -self.residual_bytes()[c]
                for q in sorted(np.flatnonzero(p.pair_cand == c), key=lambda q: -rank[q]):
                    take = min(excess, self.pair_bytes[q])
                    self.pair_bytes[q] -= take
                    excess -= take
                    trimmed += 1
                    if excess <= 1e-6:
                        break

    def _close_idle(self) -> None:
        """Switch off links carrying nothing, except the setup of a contact that carries later:
        slots up to the one its setup ends in, before the contact's last carrying slot."""
        p = self.problem
        used = self.used_bytes()
        start = contact_starts(p, self.on)
        idx = np.arange(len(self.on))
        carrying = np.where(self.on & (used > 0.5), idx, -1)
        last = np.full(len(self.on), -1, dtype=int)
        np.maximum.at(last, start[self.on], carrying[self.on])
        setup = self.on & (idx <= p.cand_carry[start]) & (last[start] > idx)
        for c in np.flatnonzero(self.on & (used <= 0.5) & ~setup):
            self.close(int(c))
