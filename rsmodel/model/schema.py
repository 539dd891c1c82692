"""The model-file schema: one typed, documented place for every field and default.

A model file is YAML. Top-level sections::

    name, description, horizon, ground_stations, nodes,       # foundation
    view_periods,                                             # imported windows (docs/orbits.md)
    syncs, objectives, solver,                                # sync scheduler
    tracks,                                                   # antenna time (docs/tracks.md)
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
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from rsmodel.model.antenna_schema import Slew
from rsmodel.model.compute_schema import Job
from rsmodel.model.faults_schema import Faults
from rsmodel.model.recorder_schema import RecorderSection
from rsmodel.model.study_schema import Study
from rsmodel.model.sync_schema import Objectives, Solver, Sync
from rsmodel.model.telescope_schema import Targets, Telescope, TelescopeNetwork
from rsmodel.model.track_schema import Track
from rsmodel.model.vocabulary import ItemError, Strict
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


# --------------------------------------------------------------------------- links (docs/links.md)
Band = Literal["VHF", "UHF", "L", "S", "C", "X", "Ku", "K", "Ka"]


class StationBand(Strict):
    """A band a station receives, with its figure of merit (needed by a link budget)."""

    band: Band
    gt_dbk: float | None = Field(
        None, allow_inf_nan=False, description="Receive G/T in the band, dB/K."
    )


class Transmitter(Strict):
    """A node's downlink transmitter."""

    band: Band
    frequency_hz: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Carrier frequency, Hz (link budget)."
    )
    eirp_dbw: float | None = Field(
        None, allow_inf_nan=False, description="EIRP, dBW (link budget)."
    )
    symbol_rate_baud: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Symbol rate, symbols/s (link budget)."
    )
    max_rate_bps: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Highest rate the radio sends, bits/s."
    )
    tx_power_w: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="Draw while sending (default: power.tx_power_w), W.",
    )


class Modcod(Strict):
    """One rung of an ACM ladder: required Es/N0 and information bits per symbol."""

    name: str = Field(min_length=1)
    esn0_db: float = Field(allow_inf_nan=False, description="Required Es/N0, dB.")
    efficiency_bits_per_symbol: float = Field(gt=0, allow_inf_nan=False)


class LinkBudget(Strict):
    """Rate from C/N0: node EIRP - free-space loss - atmosphere (ITU-R, `itur`) - fixed losses
    + station G/T; the best MODCOD whose Es/N0 plus `margin_db` closes gives the rate."""

    fixed_losses_db: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Pointing, polarisation, implementation, dB."
    )
    margin_db: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Required link margin, dB."
    )
    availability_pct: float = Field(
        99.0,
        ge=95,
        le=99.999,
        description="Share of an average year the rate is achieved (ITU-R P.618 exceedance "
        "100 - availability): sets gaseous, cloud and rain attenuation.",
    )
    antenna_diameter_m: float = Field(
        3.7, gt=0, le=100, description="Station dish diameter (scintillation), m."
    )
    modcods: list[Modcod] | None = Field(
        None,
        description="ACM ladder, Es/N0 and efficiency both increasing; default: the DVB-S2 "
        "table of data/dvbs2_modcod.csv (ETSI EN 302 307-1).",
    )

    @field_validator("modcods")
    @classmethod
    def _ladder(cls, value: list[Modcod] | None) -> list[Modcod] | None:
        for i, (a, b) in enumerate(zip(value or [], (value or [])[1:], strict=False)):
            if not (
                b.esn0_db > a.esn0_db
                and b.efficiency_bits_per_symbol > a.efficiency_bits_per_symbol
            ):
                raise ItemError(
                    (i + 1,),
                    f"MODCOD {b.name!r} after {a.name!r}: expected Es/N0 and efficiency both "
                    "increasing down the table (an ACM ladder)",
                )
        return value


class RatePoint(Strict):
    """From `elevation_deg` up (to the next point) the link runs at `rate_bps`."""

    elevation_deg: float = Field(ge=-5, le=90)
    rate_bps: float = Field(ge=0, allow_inf_nan=False)


class Link(Strict):
    """How a station's achievable rate is computed: a link budget or a rate-vs-elevation table
    (without `link`, the rate is the constant `bandwidth_bps`)."""

    budget: LinkBudget | None = None
    rate_table: list[RatePoint] | None = Field(
        None, min_length=1, description="Rate steps by elevation, elevations increasing."
    )

    @model_validator(mode="after")
    def _one(self) -> Link:
        if (self.budget is None) == (self.rate_table is None):
            raise ValueError("give exactly one of `budget` or `rate_table`")
        table = self.rate_table or []
        for i, (a, b) in enumerate(zip(table, table[1:], strict=False)):
            if b.elevation_deg <= a.elevation_deg:
                raise ItemError(
                    ("rate_table", i + 1),
                    f"elevation {b.elevation_deg:g} deg does not follow {a.elevation_deg:g} deg; "
                    "expected rate_table elevations increasing strictly",
                )
        return self


class Outage(Strict):
    """An interval without contacts: station maintenance or a node blackout."""

    start: datetime | str = Field(description="Start, ISO 8601 UTC or +offset from the horizon.")
    end: datetime | str = Field(description="End, ISO 8601 UTC or +offset; after `start`.")
    reason: str | None = None


class Maintenance(Outage):
    """Planned maintenance of a station, or of one of its antennas."""

    antenna: int | None = Field(
        None, ge=1, description="The antenna (1 .. `antennas`) in maintenance; default: all."
    )


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
        0.0,
        ge=0,
        description="Acquisition at the start of each contact, s: holds the antenna, carries "
        "no data; the node's transmitter is on (`power.tx_power_w`) while the station locks on.",
    )
    terrain_mask: list[tuple[float, float]] | None = Field(
        None,
        description="Terrain horizon as [azimuth_deg, elevation_deg] points, azimuths in "
        "[0, 360) increasing, interpolated linearly (wrapping at 360); contacts need the "
        "elevation above both it and `elevation_min_deg`.",
    )
    terrain_mask_file: str | None = Field(
        None,
        description="The same as a CSV file with columns azimuth_deg,elevation_deg (relative "
        "paths resolve against the model file).",
    )
    bands: list[StationBand] = Field(
        default_factory=list,
        description="Bands received (default: any; a node with transmitters then needs one "
        "of these bands).",
    )
    link: Link | None = Field(
        None,
        description="Link budget or rate table; `bandwidth_bps` then caps the rate (the "
        "receiver's highest rate). docs/links.md.",
    )
    maintenance: list[Maintenance] = Field(
        default_factory=list,
        description="Planned maintenance: the station (or the one `antenna`) takes no contacts.",
    )
    turnaround_s: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="Fixed antenna turnaround between contacts of different nodes, s.",
    )
    slew: Slew | None = Field(
        None, description="Turnaround from the slew between pointings instead (docs/links.md)."
    )

    @field_validator("bands")
    @classmethod
    def _one_per_band(cls, value: list[StationBand]) -> list[StationBand]:
        check_one_per_band(value, "the station receives each band once (one G/T per band)")
        return value

    @field_validator("terrain_mask")
    @classmethod
    def _mask(cls, value: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if value is not None:
            check_terrain_mask(value)
        return value

    @model_validator(mode="after")
    def _where(self) -> GroundStation:
        if self.station is None and (self.lat_deg is None or self.lon_deg is None):
            raise ValueError("give `station` (a catalog id) or both `lat_deg` and `lon_deg`")
        if self.station is not None and (self.lat_deg is not None or self.lon_deg is not None):
            raise ValueError("give `station` or `lat_deg`/`lon_deg`, not both")
        if self.turnaround_s is not None and self.slew is not None:
            raise ValueError("give `turnaround_s` or `slew`, not both")
        if self.terrain_mask is not None and self.terrain_mask_file is not None:
            raise ValueError("give `terrain_mask` or `terrain_mask_file`, not both")
        if self.link is not None and self.link.budget is not None:
            need = "a link budget needs `bands` with `gt_dbk` (G/T, dB/K) for every band"
            if not self.bands:
                raise ItemError(("bands",), need)
            for i, band in enumerate(self.bands):
                if band.gt_dbk is None:
                    raise ItemError(("bands", i, "gt_dbk"), f"band {band.band}: {need}")
        return self


def check_terrain_mask(points: list[tuple[float, float]]) -> None:
    """Raise ValueError (an ItemError naming the point) unless azimuths are in [0, 360) and
    increase strictly, elevations in [-5, 90]."""
    if not points:
        raise ValueError("expected at least one [azimuth_deg, elevation_deg] point")
    for i, (az, el) in enumerate(points):
        if not 0.0 <= az < 360.0:
            raise ItemError((i,), f"point {i}: azimuth {az:g} deg is outside [0, 360)")
        if not -5.0 <= el <= 90.0:
            raise ItemError((i,), f"point {i}: elevation {el:g} deg is outside [-5, 90]")
        if i and az <= points[i - 1][0]:
            raise ItemError(
                (i,),
                f"point {i}: azimuth {az:g} deg does not follow {points[i - 1][0]:g} deg; "
                "expected azimuths increasing",
            )


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
    tx_power_w: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="Extra load while the transmitter is on (any band): from the start of a "
        "contact's station `setup_s` to its last byte.",
    )
    tx_warmup_s: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="Transmitter on before a contact (before its setup), s.",
    )


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
    transmitters: list[Transmitter] = Field(
        default_factory=list,
        description="Downlink radios (default: one that any station receives). docs/links.md.",
    )
    blackouts: list[Outage] = Field(
        default_factory=list, description="Planned blackouts: the node takes no contacts."
    )
    simultaneous_bands: bool = Field(
        False,
        description="Transmitters on different bands may work at once, each with one station "
        "(default: one station at a time). docs/links.md.",
    )
    recorder: RecorderSection | None = Field(
        None, description="Onboard recorder and data sources (docs/recorder.md)."
    )

    @field_validator("transmitters")
    @classmethod
    def _one_per_band(cls, value: list[Transmitter]) -> list[Transmitter]:
        check_one_per_band(value, TRANSMITTER_PER_BAND)
        return value

    @model_validator(mode="after")
    def _orbit(self) -> Node:
        if sum(x is not None for x in (self.tle, self.elements, self.oem)) > 1:
            raise ValueError("give at most one of `tle`, `elements` or `oem` (the node's orbit)")
        check_simultaneous_bands(self)
        return self


TRANSMITTER_PER_BAND = "one transmitter per band (a contact uses the node's radio on a band)"


def check_one_per_band(items: list[StationBand] | list[Transmitter], expected: str) -> None:
    """Raise an ItemError at the ``band`` of the first item repeating an earlier one's band."""
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.band in seen:
            raise ItemError(
                (i, "band"), f"band {item.band} repeats item {seen[item.band]}; expected {expected}"
            )
        seen[item.band] = i


def check_simultaneous_bands(node: Node | NodeGroup) -> None:
    """Raise ValueError when ``simultaneous_bands`` is set without transmitters on two bands."""
    if node.simultaneous_bands and len({t.band for t in node.transmitters}) < 2:
        raise ValueError("`simultaneous_bands` needs `transmitters` on at least two bands")


class NodeGroup(Strict):
    """Many nodes at once from a TLE file: ``- from_tle: {file: ..., limit: 100}``."""

    from_tle: TleGroup
    battery: Battery = Field(default_factory=Battery)
    power: Power = Field(default_factory=Power)
    memory_mb: float = Field(4096.0, gt=0)
    transmitters: list[Transmitter] = Field(default_factory=list)
    blackouts: list[Outage] = Field(default_factory=list)
    recorder: RecorderSection | None = None
    simultaneous_bands: bool = False

    @field_validator("transmitters")
    @classmethod
    def _one_per_band(cls, value: list[Transmitter]) -> list[Transmitter]:
        check_one_per_band(value, TRANSMITTER_PER_BAND)
        return value

    @model_validator(mode="after")
    def _bands(self) -> NodeGroup:
        check_simultaneous_bands(self)
        return self


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
    tracks: list[Track] = Field(default_factory=list)
    objectives: Objectives = Field(default_factory=Objectives)
    solver: Solver = Field(default_factory=Solver)
    jobs: list[Job] = Field(default_factory=list)
    faults: Faults | None = None
    study: Study | None = None
    telescopes: list[Telescope] = Field(default_factory=list)
    targets: Targets = Field(default_factory=Targets)
    telescope_network: TelescopeNetwork = Field(default_factory=TelescopeNetwork)


NodeGroup.model_rebuild()
