"""Resolved scenario: what the rest of rsmodel consumes after a model file is loaded.

Catalog names are looked up, TLE files read, element sets turned into orbits, relative
times made absolute. Everything here is plain, immutable and in SI units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsmodel.model.orbits import Orbit
from rsmodel.model.vocabulary import PRIORITY_RANK
from rsmodel.timeutil import iso

if TYPE_CHECKING:
    from rsmodel.model.antenna_schema import Slew
    from rsmodel.model.oem import Ephemeris
    from rsmodel.model.recorder_schema import NodeRecorder
    from rsmodel.model.schema import Battery, Link, Model, Power, StationBand, Transmitter
    from rsmodel.model.yamlsrc import Source


@dataclass(frozen=True)
class Station:
    """A ground station with resolved WGS-84 coordinates."""

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    bandwidth_bps: float
    elevation_min_deg: float = 10.0
    antennas: int = 1
    setup_s: float = 0.0
    terrain_mask: tuple[tuple[float, float], ...] | None = None  # (azimuth_deg, elevation_deg)
    bands: tuple[StationBand, ...] = ()  # empty: receives any band
    link: Link | None = None  # None: constant rate bandwidth_bps (docs/links.md)
    maintenance: tuple[tuple[datetime, datetime], ...] = ()  # (start, end): no contacts
    # (antenna 0-based, start, end): that antenna takes no contacts
    antenna_maintenance: tuple[tuple[int, datetime, datetime], ...] = ()
    turnaround_s: float = 0.0  # fixed antenna turnaround between nodes (docs/links.md)
    slew: Slew | None = None  # or the turnaround derived from the slew


def station_entry(s: Any) -> dict[str, Any]:
    """A station's antenna fields as plan.json and the checker give them (``s`` a
    scenario :class:`Station` or the optimiser's
    :class:`~rsmodel.optimize.problem.StationSpec`): antennas, setup, turnaround, per-antenna
    maintenance (1-based ``antenna``)."""
    return {
        "name": s.name,
        "antennas": s.antennas,
        "setup_s": s.setup_s,
        "turnaround_s": s.turnaround_s,
        "slew": None if s.slew is None else s.slew.model_dump(),
        "antenna_maintenance": [
            {"antenna": a + 1, "start": iso(t0), "end": iso(t1)}
            for a, t0, t1 in s.antenna_maintenance
        ],
    }


@dataclass(frozen=True)
class OrbitalNode:
    """A node with its orbit and onboard resources.

    ``orbit``: an SGP4 :class:`Orbit` (TLE or elements), an OEM :class:`Ephemeris`, or None for a
    node planned from imported view periods alone (no geometry; taken as always sunlit)."""

    name: str
    orbit: Orbit | Ephemeris | None
    battery: Battery
    power: Power
    memory_mb: float
    transmitters: tuple[Transmitter, ...] = ()  # empty: one radio any station receives
    blackouts: tuple[tuple[datetime, datetime], ...] = ()  # (start, end): no contacts
    recorder: NodeRecorder | None = None  # None: no recorder (docs/recorder.md)
    simultaneous_bands: bool = False  # one station per band at once instead of one in all


@dataclass(frozen=True)
class SyncRequest:
    """A resolved sync request (times absolute UTC, size in bytes)."""

    id: str
    node: str
    data_size_bytes: float
    priority: str
    release: datetime
    deadline: datetime | None
    data_type: str | None = None

    @property
    def rank(self) -> int:
        """0 for critical ... 3 for low."""
        return PRIORITY_RANK[self.priority]


@dataclass(frozen=True)
class ViewPeriod:
    """An imported view period of ``node`` over ``station`` (aware UTC; docs/orbits.md).

    ``tx_start``/``tx_end``: the transmit-enabled part (default: all of it); ``rate_bps``:
    downlink rate during it (default: the station's ``bandwidth_bps``)."""

    node: str
    station: str
    start: datetime
    end: datetime
    tx_start: datetime | None = None
    tx_end: datetime | None = None
    max_elevation_deg: float | None = None
    rate_bps: float | None = None


@dataclass
class Scenario:
    """A validated, resolved model."""

    model: Model
    start: datetime
    end: datetime
    step_s: float
    stations: list[Station]
    nodes: list[OrbitalNode]
    syncs: list[SyncRequest]
    file: Path | None = None
    source: Source | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    view_periods: list[ViewPeriod] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def node(self, name: str) -> OrbitalNode:
        return next(n for n in self.nodes if n.name == name)

    def station(self, name: str) -> Station:
        return next(s for s in self.stations if s.name == name)
