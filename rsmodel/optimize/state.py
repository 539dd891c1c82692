"""Link state shared by the greedy dispatcher, the MILP stages and the repair pass.

Which candidates are on, how many bytes each carries and which demand got which bytes.
A contact starts on a candidate whose previous slot (same window) is off; it pays the
station's ``setup_s`` of its capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rsmodel.optimize.problem import Problem


@dataclass
class LinkState:
    """Mutable allocation: ``on`` per candidate, ``pair_bytes`` per (demand, candidate) pair."""

    problem: Problem
    on: np.ndarray
    pair_bytes: np.ndarray
    node_link: np.ndarray  # (node, slot) -> candidate index or -1
    station_links: np.ndarray  # (station, slot) -> links on

    @classmethod
    def empty(cls, problem: Problem) -> LinkState:
        n_slots = max(problem.n_slots, 1)
        return cls(
            problem=problem,
            on=np.zeros(len(problem.cand_window), dtype=bool),
            pair_bytes=np.zeros(len(problem.pair_demand)),
            node_link=np.full((len(problem.nodes), n_slots), -1, dtype=int),
            station_links=np.zeros((len(problem.stations), n_slots), dtype=int),
        )

    def copy(self) -> LinkState:
        return LinkState(
            self.problem,
            self.on.copy(),
            self.pair_bytes.copy(),
            self.node_link.copy(),
            self.station_links.copy(),
        )

    # ------------------------------------------------------------------ queries
    def used_bytes(self) -> np.ndarray:
        """Bytes carried per candidate."""
        return np.bincount(self.problem.pair_cand, weights=self.pair_bytes, minlength=len(self.on))

    def contact_start(self) -> np.ndarray:
        """Per candidate: on and its previous slot in the same window off."""
        prev = self.problem.cand_prev
        prev_on = np.where(prev >= 0, self.on[np.maximum(prev, 0)], False)
        return self.on & ~prev_on

    def residual_bytes(self) -> np.ndarray:
        """Bytes still free per candidate (on or not: capacity minus setup if a start, minus use)."""
        p = self.problem
        prev = p.cand_prev
        prev_on = np.where(prev >= 0, self.on[np.maximum(prev, 0)], False)
        return p.cand_bytes - np.where(prev_on, 0.0, p.cand_setup_bytes) - self.used_bytes()

    def delivered(self) -> np.ndarray:
        """Bytes delivered per demand."""
        return np.bincount(
            self.problem.pair_demand, weights=self.pair_bytes, minlength=len(self.problem.demands)
        )

    def can_open(self, c: int) -> bool:
        """The candidate's node has no link in that slot and its station has a free antenna."""
        p = self.problem
        t, n, s = p.cand_slot[c], p.cand_node[c], p.cand_station[c]
        return self.node_link[n, t] < 0 and self.station_links[s, t] < p.stations[s].antennas

    # ------------------------------------------------------------------ updates
    def open(self, c: int) -> None:
        p = self.problem
        if self.on[c]:
            return
        self.on[c] = True
        self.node_link[p.cand_node[c], p.cand_slot[c]] = c
        self.station_links[p.cand_station[c], p.cand_slot[c]] += 1

    def close(self, c: int) -> None:
        p = self.problem
        if not self.on[c]:
            return
        self.on[c] = False
        self.node_link[p.cand_node[c], p.cand_slot[c]] = -1
        self.station_links[p.cand_station[c], p.cand_slot[c]] -= 1

    def close_idle_and_trim(self) -> int:
        """Switch off links carrying nothing; where that makes a later slot a contact start
        without room for its setup, drop the excess bytes (lowest priority first).

        Returns the number of pairs trimmed (normally 0).
        """
        idle = np.flatnonzero(self.on & (self.used_bytes() <= 0.5))
        for c in idle:
            self.close(int(c))
        trimmed = 0
        over = np.flatnonzero(self.on & (self.residual_bytes() < -1e-6))
        if len(over) == 0:
            return 0
        p = self.problem
        rank = p.demand_rank[p.pair_demand]
        for c in over:
            excess = -self.residual_bytes()[c]
            for q in sorted(np.flatnonzero(p.pair_cand == c), key=lambda q: -rank[q]):
                take = min(excess, self.pair_bytes[q])
                self.pair_bytes[q] -= take
                excess -= take
                trimmed += 1
                if excess <= 1e-6:
                    break
        return trimmed
