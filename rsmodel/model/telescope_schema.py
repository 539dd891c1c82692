"""Schema of the telescope network sections (seed 001): ``telescopes``, ``targets``,
``telescope_network``. Cross-references (observatory ids, TLE look-ups, alert times) are
checked by :func:`check_telescopes`, a registered section check that resolves the network
(:mod:`rsmodel.model.telescope_network`); see docs/telescopes.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from rsmodel.model.telescope_network import resolve_sections
from rsmodel.model.vocabulary import Strict, section_check

if TYPE_CHECKING:
    from rsmodel.model.scenario import Scenario


@section_check
def check_telescopes(scenario: Scenario) -> None:
    """Section check: the telescope network resolves (raises ``FieldError``)."""
    if scenario.model.telescopes or scenario.model.targets.requested:
        resolve_sections(scenario)


class TelescopeTle(Strict):
    """A satellite's element set: ``{norad: 25544}`` or ``{satellite: ISS (ZARYA)}`` (+ ``file``)."""

    file: str | None = Field(
        None, description="TLE file relative to the model file (default: shipped data/*.tle)."
    )
    norad: int | None = Field(None, gt=0)
    satellite: str | None = None

    @model_validator(mode="after")
    def _which(self) -> TelescopeTle:
        if (self.norad is None) == (self.satellite is None):
            raise ValueError("give exactly one of `norad` or `satellite`")
        return self


class Telescope(Strict):
    """One telescope of the network: its site, optics, limits and operator."""

    name: str = Field(min_length=1)
    observatory: str | None = Field(
        None, description="Site id from data/observatories.csv, e.g. `ctio`."
    )
    lat_deg: float | None = Field(None, ge=-90, le=90)
    lon_deg: float | None = Field(None, ge=-180, le=360)
    alt_m: float | None = Field(
        None, ge=-500, le=9000, description="Height above the WGS-84 ellipsoid."
    )
    aperture_m: float = Field(gt=0, le=50, description="Primary mirror diameter, metres.")
    fov_deg: float = Field(gt=0, le=60, description="Field of view (side), degrees.")
    pixel_scale_arcsec: float = Field(gt=0, le=600, description="Pixel scale, arcsec per pixel.")
    altitude_limit_deg: float = Field(20.0, ge=0, lt=90, description="Lowest usable altitude.")
    slew_deg_s: float | None = Field(
        None, gt=0, description="Slew rate; adds a 90 deg slew to each acquisition."
    )
    setup_s: float = Field(
        0.0, ge=0, description="Fixed overhead per acquisition (focus, plate solve)."
    )
    operator: str = Field("volunteer", min_length=1)
    reliability: float = Field(0.8, ge=0, le=1, description="Initial reliability score (0-1).")
    family: str | None = Field(
        None, description="Family override (default: grouped by FoV and pixel scale)."
    )

    @model_validator(mode="after")
    def _where(self) -> Telescope:
        if self.observatory is None and (self.lat_deg is None or self.lon_deg is None):
            raise ValueError(
                "give `observatory` (an id from data/observatories.csv) or both `lat_deg` and `lon_deg`"
            )
        if self.observatory is not None and (self.lat_deg is not None or self.lon_deg is not None):
            raise ValueError("give `observatory` or `lat_deg`/`lon_deg`, not both")
        return self


class SatelliteTarget(Strict):
    """An SSA target: a satellite tracked while sunlit, above the limit, from a dark site."""

    name: str = Field(min_length=1)
    tle: TelescopeTle


class DeepSkyTarget(Strict):
    """A deferrable deep-sky stacking request."""

    name: str = Field(min_length=1)
    ra_deg: float = Field(ge=0, lt=360, description="Right ascension (ICRS), degrees.")
    dec_deg: float = Field(ge=-90, le=90, description="Declination (ICRS), degrees.")
    exposure_s: float = Field(gt=0, le=3600, description="Exposure time of one frame.")
    frames: int = Field(gt=0, description="Frames wanted for the stack.")


class TooAlert(Strict):
    """A target-of-opportunity alert: RA/Dec or a satellite, observable from `arrival`."""

    name: str = Field(min_length=1)
    ra_deg: float | None = Field(None, ge=0, lt=360)
    dec_deg: float | None = Field(None, ge=-90, le=90)
    tle: TelescopeTle | None = None
    arrival: datetime | str = Field(
        description="Alert time (UTC or +offset from the horizon start)."
    )
    duration_s: float = Field(gt=0, description="Observation time needed.")
    deadline: datetime | str | None = Field(
        None, description="Latest completion (default: horizon end)."
    )

    @model_validator(mode="after")
    def _pointing(self) -> TooAlert:
        radec = self.ra_deg is not None and self.dec_deg is not None
        if radec == (self.tle is not None) or (self.ra_deg is None) != (self.dec_deg is None):
            raise ValueError("give either `ra_deg` and `dec_deg`, or `tle`")
        return self


class Targets(Strict):
    """What the network observes."""

    satellites: list[SatelliteTarget] = Field(default_factory=list)
    deep_sky: list[DeepSkyTarget] = Field(default_factory=list)
    too: list[TooAlert] = Field(default_factory=list)

    @property
    def requested(self) -> bool:
        """Whether any observation is asked for."""
        return bool(self.satellites or self.deep_sky or self.too)


class TelescopeFault(Strict):
    """A FAULTED heartbeat injected into ``rsmodel telescopes simulate``."""

    telescope: str
    at: datetime | str = Field(description="Time of the FAULTED heartbeat (UTC or +offset).")
    duration_s: float | None = Field(
        None, gt=0, description="Down time (default: rest of the horizon)."
    )


class MinReliability(Strict):
    """Lowest reliability score a telescope needs to be given work of each class."""

    too: float = Field(0.0, ge=0, le=1)
    ssa: float = Field(0.0, ge=0, le=1)
    deep_sky: float = Field(0.0, ge=0, le=1)


class TelescopeNetwork(Strict):
    """Network-wide settings of the telescope planner, simulator and reliability store."""

    sun_altitude_max_deg: float = Field(
        -12.0, ge=-90, le=0, description="Site is dark when the Sun is below this."
    )
    planner: Literal["milp", "dispatcher"] = "milp"
    slot_s: float = Field(60.0, ge=5, le=3600, description="Planner time slot.")
    ssa_track_s: float = Field(
        120.0, gt=0, description="Tracking time that completes one SSA track."
    )
    deep_sky_session_s: float = Field(
        1800.0, gt=0, description="Length of one deep-sky session block."
    )
    min_reliability: MinReliability = Field(default_factory=MinReliability)
    reliability_window: int = Field(
        20, ge=1, description="Outcomes kept per telescope (rolling window)."
    )
    reliability_prior_weight: float = Field(
        2.0, ge=0, description="Weight of the configured score, in outcomes."
    )
    backup_images: int = Field(
        3, ge=0, description="Extra images a late re-acquisition takes to cover a gap."
    )
    backup_image_s: float = Field(10.0, gt=0, description="Time per backup image.")
    state_store: str | None = Field(
        None,
        description="Reliability store (JSON); default .rsmodel/<name>.telescopes.json next to the model.",
    )
    family_tolerance: float = Field(
        0.2, ge=0, lt=1, description="Relative FoV / pixel-scale tolerance of a family."
    )
    time_limit_s: float = Field(30.0, gt=0, description="MILP time limit.")
    faults: list[TelescopeFault] = Field(default_factory=list)
