"""The telescope network resolved from a model: sites, targets and requests in absolute UTC.

The model layer's part of the telescope network (``rsmodel.telescopes`` plans and simulates
it). The section check ``telescope_schema.check_telescopes`` resolves it when a model is
loaded: unknown observatories, unknown TLEs, alert times outside the horizon and duplicate
names are reported with file, field path and line (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rsmodel.errors import ModelError
from rsmodel.model.catalogs import (
    TleFormatError,
    TleRecord,
    find_tle,
    observatory_catalog,
    read_tle_file,
    resolve_site,
    shipped_tle_files,
)
from rsmodel.model.orbits import Orbit
from rsmodel.model.vocabulary import FieldError, FieldPath, check_unique
from rsmodel.model.yamlsrc import format_path
from rsmodel.timeutil import parse_time

if TYPE_CHECKING:  # telescope_schema imports this module to check its sections
    from rsmodel.model.scenario import Scenario
    from rsmodel.model.telescope_schema import (
        Telescope,
        TelescopeNetwork,
        TelescopeTle,
        TooAlert,
    )

SLEW_DEG_PER_ACQUISITION = 90.0  # a typical repointing; documented in docs/telescopes.md


@dataclass(frozen=True)
class TelescopeSite:
    """A telescope with resolved WGS-84 site and its per-acquisition overhead."""

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    observatory: str | None
    aperture_m: float
    fov_deg: float
    pixel_scale_arcsec: float
    altitude_limit_deg: float
    overhead_s: float
    operator: str
    reliability: float
    family: str | None


@dataclass(frozen=True)
class Target:
    """Something to point at: a satellite (``orbit``) or a fixed ICRS direction (``ra_deg``/``dec_deg``)."""

    name: str
    orbit: Orbit | None = None
    ra_deg: float | None = None
    dec_deg: float | None = None

    @property
    def is_satellite(self) -> bool:
        return self.orbit is not None


@dataclass(frozen=True)
class DeepSkyRequest:
    target: int  # index into Network.targets
    exposure_s: float
    frames: int


@dataclass(frozen=True)
class TooRequest:
    target: int
    arrival: datetime
    duration_s: float
    deadline: datetime


@dataclass(frozen=True)
class Fault:
    """A FAULTED heartbeat of a telescope: down from ``at`` to ``until``."""

    telescope: str
    at: datetime
    until: datetime


@dataclass
class Network:
    """Everything the telescope planners and simulator need."""

    name: str
    start: datetime
    end: datetime
    step_s: float
    telescopes: list[TelescopeSite]
    targets: list[Target]
    ssa: list[int]  # target indices of SSA satellites
    deep_sky: list[DeepSkyRequest]
    too: list[TooRequest]
    settings: TelescopeNetwork
    faults: list[Fault]
    model_file: Path | None = None

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def telescope_index(self, name: str) -> int:
        return next(i for i, t in enumerate(self.telescopes) if t.name == name)


def resolve_network(scenario: Scenario) -> Network:
    """The resolved telescope network of a loaded scenario (raises ModelError on bad input)."""
    try:
        return resolve_sections(scenario)
    except FieldError as exc:
        if scenario.source is not None:
            raise scenario.source.error(exc.path, exc.message) from None
        raise ModelError(exc.message, field=format_path(exc.path)) from None


def resolve_sections(scenario: Scenario) -> Network:
    """The telescope network of ``scenario``; a problem raises ``FieldError`` at its field."""
    model = scenario.model
    base_dir = scenario.file.resolve().parent if scenario.file else Path.cwd()
    telescopes = [_telescope(i, t) for i, t in enumerate(model.telescopes)]
    _unique([t.name for t in telescopes], "telescopes")
    if model.targets.requested and not telescopes:
        raise FieldError(
            ("telescopes",), "targets are given but no telescopes; expected at least one telescope"
        )
    tles = _TleFiles(base_dir)
    targets: list[Target] = []
    ssa: list[int] = []
    for i, sat in enumerate(model.targets.satellites):
        ssa.append(len(targets))
        targets.append(
            Target(sat.name, orbit=tles.orbit(sat.tle, ("targets", "satellites", i, "tle")))
        )
    deep: list[DeepSkyRequest] = []
    for d in model.targets.deep_sky:
        deep.append(DeepSkyRequest(len(targets), d.exposure_s, d.frames))
        targets.append(Target(d.name, ra_deg=d.ra_deg, dec_deg=d.dec_deg))
    too: list[TooRequest] = []
    for i, alert in enumerate(model.targets.too):
        too.append(_alert(i, alert, len(targets), scenario))
        orbit = (
            tles.orbit(alert.tle, ("targets", "too", i, "tle")) if alert.tle is not None else None
        )
        targets.append(Target(alert.name, orbit=orbit, ra_deg=alert.ra_deg, dec_deg=alert.dec_deg))
    _unique([t.name for t in targets], "targets", what="target")
    faults = _faults(model.telescope_network, {t.name for t in telescopes}, scenario)
    return Network(
        model.name,
        scenario.start,
        scenario.end,
        scenario.step_s,
        telescopes,
        targets,
        ssa,
        deep,
        too,
        model.telescope_network,
        faults,
        scenario.file,
    )


def _alert(i: int, alert: TooAlert, target: int, scenario: Scenario) -> TooRequest:
    path = ("targets", "too", i)
    arrival = _time(alert.arrival, (*path, "arrival"), scenario.start)
    deadline = scenario.end
    if alert.deadline is not None:
        deadline = _time(alert.deadline, (*path, "deadline"), scenario.start)
    if not scenario.start <= arrival < scenario.end:
        raise FieldError(
            (*path, "arrival"),
            f"arrival {arrival.isoformat()} is outside the horizon; expected a time in "
            f"[{scenario.start.isoformat()}, {scenario.end.isoformat()})",
        )
    if deadline <= arrival:
        raise FieldError(
            (*path, "deadline"),
            f"deadline {deadline.isoformat()} must be after the arrival {arrival.isoformat()}",
        )
    return TooRequest(target, arrival, alert.duration_s, min(deadline, scenario.end))


def _faults(settings: TelescopeNetwork, names: set[str], scenario: Scenario) -> list[Fault]:
    out = []
    for i, f in enumerate(settings.faults):
        path = ("telescope_network", "faults", i)
        if f.telescope not in names:
            raise FieldError(
                (*path, "telescope"),
                f"unknown telescope {f.telescope!r}; expected one of {sorted(names)}",
            )
        at = _time(f.at, (*path, "at"), scenario.start)
        until = scenario.end
        if f.duration_s is not None:
            until = min(scenario.end, at + timedelta(seconds=f.duration_s))
        out.append(Fault(f.telescope, at, until))
    return out


def _unique(names: list[str], section: str, what: str = "telescope") -> None:
    path_of = (
        (lambda i: (section, i, "name")) if section == "telescopes" else (lambda i: (section,))
    )
    check_unique(names, path_of, what)


def _telescope(i: int, t: Telescope) -> TelescopeSite:
    lat, lon, alt = resolve_site(
        observatory_catalog(),
        t.observatory,
        (t.lat_deg, t.lon_deg, t.alt_m),
        ("telescopes", i, "observatory"),
        "observatory",
        "data/observatories.csv",
    )
    overhead_s = t.setup_s + (SLEW_DEG_PER_ACQUISITION / t.slew_deg_s if t.slew_deg_s else 0.0)
    return TelescopeSite(
        t.name,
        lat,
        lon,
        alt,
        t.observatory,
        t.aperture_m,
        t.fov_deg,
        t.pixel_scale_arcsec,
        t.altitude_limit_deg,
        overhead_s,
        t.operator,
        t.reliability,
        t.family,
    )


class _TleFiles:
    """TLE look-ups for one model: each file is read once."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.records: dict[Path, list[TleRecord]] = {}

    def _read(self, path: Path, field: FieldPath) -> list[TleRecord]:
        if path not in self.records:
            if not path.exists():
                raise FieldError(
                    (*field, "file"),
                    f"TLE file not found: {path}; expected an existing file (relative to the model file)",
                )
            try:
                self.records[path] = read_tle_file(path)
            except TleFormatError as exc:
                raise FieldError((*field, "file"), f"malformed TLE: {exc}") from None
        return self.records[path]

    def orbit(self, ref: TelescopeTle, field: FieldPath) -> Orbit:
        """The newest element set matching ``ref`` (``field``: its path, for errors)."""
        files = [self.base_dir / ref.file] if ref.file else shipped_tle_files()
        records = [r for f in files for r in self._read(f, field)]
        rec = find_tle(records, norad=ref.norad, name=ref.satellite)
        if rec is None:
            key = f"NORAD {ref.norad}" if ref.norad is not None else repr(ref.satellite)
            name = "norad" if ref.norad is not None else "satellite"
            where = ref.file or "the shipped TLE catalog (data/*.tle)"
            raise FieldError((*field, name), f"no element set for {key} in {where}")
        return Orbit.from_tle(rec.line1, rec.line2)


def _time(value: datetime | str, path: FieldPath, start: datetime) -> datetime:
    try:
        return parse_time(value, base=start)
    except ValueError as exc:
        raise FieldError(path, str(exc)) from None
