"""The model-file schema: one typed, documented place for every field and default.

A model file is YAML. Top-level sections::

    name, description, horizon, ground_stations, nodes,       # foundation
    view_periods,                                             # imported windows (docs/orbits.md)
    syncs, objectives, solver,                                # sync scheduler
    jobs,                                                     # orbital compute primitives
    faults,                                                   # simulation
    study,                                                    # what-if studies
    telescopes, targets, telescope_network                    # telescope network

Units are SI and part of the field name (``bandwidth_bps``, ``alt_m``, ``step_s``). Times are
ISO 8601 UTC (a naive time is taken as UTC) or, where noted, relative to the horizon start
(``+2h``, ``+90min``, ``+30s``, ``+1d``). ``rsmodel schema`` prints the JSON Schema.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from rsmodel.model.compute_schema import Job
from rsmodel.model.faults_schema import Faults
from rsmodel.model.study_schema import Study
from rsmodel.model.sync_schema import Objectives, Solver, Sync
from rsmodel.model.telescope_schema import Targets, Telescope, TelescopeNetwork
from rsmodel.model.vocabulary import Strict
from rsmodel.timeutil import as_utc, iso


# --------------------------------------------------------------------------- foundation
class Horizon(Strict):
    """The planning interval and the time grid."""

    start: datetime = Field(description="Start, ISO 8601 UTC.")
    hours: float | None = Field(None, gt=0, description="Length in hours (give this or `end`).")
    end: datetime | None = Field(None, description="End, ISO 8601 UTC (give this or `hours`).")
    step_s: float = Field(60.0, gt=0, le=3600, description="Grid step in seconds (slot length).")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @model_validator(mode="after")
    def _length(self) -> Horizon:
        if self.hours is None and self.end is None:
            self.hours = 24.0
        if self.hours is not None and self.end is not None:
            raise ValueError("give either `hours` or `end`, not both")
        if self.end is None:
            self.end = self.start + timedelta(hours=float(self.hours or 0))
        elif self.end <= self.start:
            raise ValueError(f"end {iso(self.end)} must be after start {iso(self.start)}")
        self.hours = (self.end - self.start).total_seconds() / 3600.0
        return self

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()  # type: ignore[operator]


class GroundStation(Strict):
    """A ground station: give `station` (a catalog id from data/ground_stations.csv) or lat/lon."""

    name: str = Field(min_length=1)
    station: str | None = Field(None, description="Catalog id in data/, e.g. `svalsat`.")
    lat_deg: float | None = Field(None, ge=-90, le=90)
    lon_deg: float | None = Field(None, ge=-180, le=360)
    alt_m: float | None = Field(
        None, ge=-500, le=9000, description="Height above the WGS-84 ellipsoid."
    )
    bandwidth_bps: float = Field(gt=0, description="Downlink rate while in contact, bits/s.")
    elevation_min_deg: float = Field(10.0, ge=-5, lt=90, description="Elevation mask.")
    antennas: int = Field(1, ge=1, description="Nodes served at once.")
    setup_s: float = Field(
        0.0, ge=0, description="Acquisition overhead at the start of each contact."
    )

    @model_validator(mode="after")
    def _where(self) -> GroundStation:
        if self.station is None and (self.lat_deg is None or self.lon_deg is None):
            raise ValueError("give `station` (a catalog id) or both `lat_deg` and `lon_deg`")
        if self.station is not None and (self.lat_deg is not None or self.lon_deg is not None):
            raise ValueError("give `station` or `lat_deg`/`lon_deg`, not both")
        return self


class TleRef(Strict):
    """An element set from a TLE file (default: every shipped file in data/)."""

    file: str | None = Field(
        None, description="TLE file; relative paths resolve against the model file."
    )
    norad: int | None = Field(None, gt=0, description="NORAD catalog number.")
    satellite: str | None = Field(None, description="Satellite name as in the file's name line.")

    @model_validator(mode="after")
    def _which(self) -> TleRef:
        if (self.norad is None) == (self.satellite is None):
            raise ValueError("give exactly one of `norad` or `satellite`")
        return self


class Elements(Strict):
    """Mean orbital elements, turned into a Satrec with ``Satrec.sgp4init`` (no drag)."""

    altitude_km: float = Field(
        gt=150,
        lt=40000,
        description="Altitude of a circular orbit (semi-major axis minus Earth radius).",
    )
    inclination_deg: float = Field(ge=0, le=180)
    raan_deg: float = Field(0.0, ge=0, lt=360)
    arg_perigee_deg: float = Field(0.0, ge=0, lt=360)
    mean_anomaly_deg: float = Field(0.0, ge=0, lt=360)
    eccentricity: float = Field(0.0, ge=0, lt=0.9)
    epoch: datetime | None = Field(None, description="Epoch (default: horizon start).")
    bstar: float = Field(0.0, description="SGP4 drag term, 1/earth radii.")


class OemRef(Strict):
    """A CCSDS Orbit Ephemeris Message (KVN or XML) covering the horizon (docs/orbits.md)."""

    file: str = Field(description="OEM file; relative paths resolve against the model file.")


class Battery(Strict):
    """Battery of a node."""

    capacity_wh: float = Field(100.0, gt=0)
    initial_soc: float = Field(
        0.9, ge=0, le=1, description="State of charge at the horizon start (0-1)."
    )
    min_soc: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Floor compute never pushes the battery below (0-1); docs/compute.md.",
    )


class Power(Strict):
    """Power figures of a node, watts."""

    solar_charge_w: float = Field(
        60.0, ge=0, description="Charge power in sunlight (net of the array's losses)."
    )
    idle_w: float = Field(15.0, ge=0, description="Bus load at all times.")
    compute_w: float = Field(40.0, ge=0, description="Extra load while a compute step runs.")


class Node(Strict):
    """An orbital node: its orbit (`tle`, `elements` or `oem`) and onboard resources.

    A node without an orbit is planned from the model's `view_periods` alone (docs/orbits.md)."""

    name: str = Field(min_length=1)
    tle: TleRef | None = None
    elements: Elements | None = None
    oem: OemRef | None = None
    battery: Battery = Field(default_factory=Battery)
    power: Power = Field(default_factory=Power)
    memory_mb: float = Field(4096.0, gt=0, description="Memory available to compute steps.")

    @model_validator(mode="after")
    def _orbit(self) -> Node:
        if sum(x is not None for x in (self.tle, self.elements, self.oem)) > 1:
            raise ValueError("give at most one of `tle`, `elements` or `oem` (the node's orbit)")
        return self


class NodeGroup(Strict):
    """Many nodes at once from a TLE file: ``- from_tle: {file: ..., limit: 100}``."""

    from_tle: TleGroup
    battery: Battery = Field(default_factory=Battery)
    power: Power = Field(default_factory=Power)
    memory_mb: float = Field(4096.0, gt=0)


class TleGroup(Strict):
    file: str
    limit: int | None = Field(None, gt=0, description="Take the first N element sets of the file.")


def _node_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "NodeGroup" if "from_tle" in value else "Node"
    return type(value).__name__


NodeEntry = Annotated[
    Annotated[Node, Tag("Node")] | Annotated["NodeGroup", Tag("NodeGroup")],
    Discriminator(_node_kind),
]


# --------------------------------------------------------------------------- the file
class Model(Strict):
    """A whole model file."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\- ]+$")
    description: str | None = None
    horizon: Horizon
    ground_stations: list[GroundStation] = Field(default_factory=list)
    nodes: list[NodeEntry] = Field(default_factory=list)
    view_periods: str | None = Field(
        None,
        description="CSV or JSON file of imported view periods (node, station, start, end, ...), "
        "used instead of computed geometry for those pairs; docs/orbits.md.",
    )
    syncs: list[Sync] = Field(default_factory=list)
    objectives: Objectives = Field(default_factory=Objectives)
    solver: Solver = Field(default_factory=Solver)
    jobs: list[Job] = Field(default_factory=list)
    faults: Faults | None = None
    study: Study | None = None
    telescopes: list[Telescope] = Field(default_factory=list)
    targets: Targets = Field(default_factory=Targets)
    telescope_network: TelescopeNetwork = Field(default_factory=TelescopeNetwork)


NodeGroup.model_rebuild()
