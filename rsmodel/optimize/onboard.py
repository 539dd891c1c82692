"""Onboard recorders, data sources and transmitter energy as problem arrays (docs/recorder.md).

A node's *recorder* holds its data sources' bytes (and the syncs released on it) until they are
downlinked; a *source* produces ``produced_bytes[k]`` during grid slot ``k`` (and may start with
``initial_bytes`` onboard). Bytes produced during slot k exist from the slot's end, so the
optimiser downlinks them from slot k + 1 on. Transmitter power lives in the node's
:class:`~rsmodel.optimize.energy.NodeEnergy` (``tx_power_w``, ``tx_warmup_s``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from rsmodel.geometry import Geometry
from rsmodel.geometry.production import production
from rsmodel.model.recorder_schema import INITIAL_SOURCE, peak_transmit_power_w
from rsmodel.model.scenario import Scenario
from rsmodel.optimize.energy import NodeEnergy, node_energy

ON_FULL = ("drop_new", "overwrite_oldest")


@dataclass(frozen=True)
class Source:
    """Data produced on ``node`` (``id`` is ``"<node>/<name>"``), rank 0=critical .. 3=low.

    ``on_full``: ``drop_new`` (a full recorder drops what the source produces) or
    ``overwrite_oldest`` (the source's oldest onboard bytes are overwritten)."""

    id: str
    node: str
    rank: int
    produced_bytes: np.ndarray = field(repr=False)  # (K,) bytes produced during slot k
    initial_bytes: float = 0.0  # onboard at the horizon start
    on_full: str = "drop_new"
    data_type: str = ""

    @property
    def total_bytes(self) -> float:
        return float(self.initial_bytes + self.produced_bytes.sum())

    def available_before(self) -> np.ndarray:
        """(K,) bytes produced before each slot starts (initial bytes included)."""
        cum = np.cumsum(self.produced_bytes)
        return self.initial_bytes + np.concatenate([[0.0], cum[:-1]])


@dataclass
class Onboard:
    """Recorders (capacity per node that has one), data sources and the energy figures of the
    nodes whose transmitter power is modelled, on one time grid."""

    capacity_bytes: dict[str, float]
    sources: list[Source]
    energy: dict[str, NodeEnergy]

    @property
    def source_rank(self) -> np.ndarray:
        return np.array([s.rank for s in self.sources], dtype=int)

    def produced(self) -> np.ndarray:
        """(S, K) bytes produced per source and slot."""
        if not self.sources:
            return np.zeros((0, 0))
        return np.array([s.produced_bytes for s in self.sources], dtype=float)

    def initial(self) -> np.ndarray:
        """(S,) bytes onboard per source at the horizon start."""
        return np.array([s.initial_bytes for s in self.sources], dtype=float)


def onboard_from_scenario(
    scenario: Scenario, geometry: Geometry, planned_wh: dict[str, np.ndarray] | None = None
) -> Onboard | None:
    """Recorders, sources and transmitter energy of a loaded scenario (None when no node has a
    recorder or transmitter power: the sync problem is then exactly today's).

    Sources come from :func:`rsmodel.geometry.production.production` (the initial fill is the
    source ``"<node>/initial"``, onboard at the start); a node's transmitter draws the highest
    ``tx_power_w`` of its transmitters (the plan never under-counts the draw); ``planned_wh``
    (node -> (K,) Wh) is compute already planned, a fixed draw on the battery."""
    powered = {n.name: peak_transmit_power_w(n) for n in scenario.nodes}
    if not any(n.recorder for n in scenario.nodes) and not any(powered.values()):
        return None
    ds = production(scenario, geometry)
    sources = []
    for i, sid in enumerate(ds["source"].values):
        row = ds["produced_bytes"].values[i].astype(float)
        initial = str(ds["name"].values[i]) == INITIAL_SOURCE
        sources.append(
            Source(
                id=str(sid),
                node=str(ds["node"].values[i]),
                rank=int(ds["rank"].values[i]),
                produced_bytes=np.zeros_like(row) if initial else row,
                initial_bytes=float(row[0]) if initial else 0.0,
                on_full=str(ds["on_full"].values[i]),
                data_type=str(ds["data_type"].values[i]),
            )
        )
    dt_s = ds["slot_s"].values.astype(float)
    energy = {}
    for node in scenario.nodes:
        if powered[node.name] <= 0:
            continue
        sunlit = geometry.arrays.sunlit_of(node.name).astype(bool)[: len(dt_s)]
        e = node_energy(node, sunlit, dt_s)
        planned = (planned_wh or {}).get(node.name)
        energy[node.name] = replace(e, tx_power_w=powered[node.name], planned_wh=planned)
    capacity = {n.name: n.recorder.capacity_bytes for n in scenario.nodes if n.recorder}
    return Onboard(capacity, sources, energy)
