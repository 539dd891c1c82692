"""Load a model file: YAML -> schema validation -> resolved :class:`Scenario`.

Every problem becomes one :class:`~rsmodel.errors.ModelError` naming the file, the field
path, the line and what is expected.
"""

from __future__ import annotations

import difflib
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rsmodel.errors import ModelError
from rsmodel.model import radios  # noqa: F401  (registers its section check)
from rsmodel.model.catalogs import (
    TleFormatError,
    find_tle,
    ground_station_catalog,
    read_tle_file,
    resolve_site,
    shipped_tle_files,
)
from rsmodel.model.oem import Ephemeris, read_oem
from rsmodel.model.orbits import Orbit, orbit_from_elements
from rsmodel.model.recorder_schema import NodeRecorder, resolve_recorder
from rsmodel.model.scenario import OrbitalNode, Scenario, Station, SyncRequest, ViewPeriod
from rsmodel.model.schema import Horizon, Model, Node, NodeGroup, Outage, check_terrain_mask
from rsmodel.model.view_periods import read_view_periods
from rsmodel.model.vocabulary import (
    SECTION_CHECKS,
    FieldError,
    FieldPath,
    ItemError,
    check_unique,
)
from rsmodel.model.yamlsrc import Source, parse_yaml, read_yaml
from rsmodel.timeutil import iso, parse_time


def load_model(path: str | Path) -> Scenario:
    """Read, validate and resolve a model file."""
    path = Path(path)
    return scenario_from_source(read_yaml(path), base_dir=path.resolve().parent)


def load_model_text(
    text: str, *, file: str | Path | None = None, base_dir: Path | None = None
) -> Scenario:
    """Validate and resolve model YAML given as text."""
    src = parse_yaml(text, Path(file) if file else None)
    return scenario_from_source(src, base_dir=base_dir or Path.cwd())


def load_model_dict(data: dict[str, Any], *, base_dir: Path, file: Path | None = None) -> Scenario:
    """Validate and resolve an already-parsed model (e.g. a study variant)."""
    return scenario_from_source(Source(data, {}, file), base_dir=base_dir)


def scenario_from_source(src: Source, *, base_dir: Path) -> Scenario:
    if not isinstance(src.data, dict):
        raise ModelError(
            "expected a mapping of sections (name, horizon, ...)", file=src.file, line=1
        )
    try:
        model = Model.model_validate(src.data)
    except ValidationError as exc:
        raise validation_error(exc, src) from None
    try:
        scenario = _resolve(model, src, base_dir)
        for check in SECTION_CHECKS:
            check(scenario)
    except FieldError as exc:
        raise src.error(exc.path, exc.message) from None
    return scenario


# --------------------------------------------------------------------------- errors
def _actual_path(loc: tuple[Any, ...], data: Any) -> FieldPath:
    """Drop pydantic's union tags from ``loc`` by walking the input data."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and part[:1].islower()
            and part not in ("model",)
        ):
            out.append(part)  # a missing or unknown key: keep it, it is the field's name
            node = None
    return tuple(out)


def validation_error(exc: ValidationError, src: Source, root: Any = None) -> ModelError:
    """The first pydantic error of ``exc`` as one ModelError at its line in ``src``; ``root``
    is the validated class (default: the model file's ``Model``), whose fields an unknown key's
    message lists."""
    errors = exc.errors(include_url=False)
    # An unknown key usually explains a "missing" one next to it (a typo): report it first.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    path = _actual_path(err["loc"], src.data)
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ItemError):
        path = _actual_path((*path, *cause.path), src.data)
    kind = err["type"]
    if kind == "extra_forbidden":
        field = str(path[-1]) if path else "?"
        allowed = _allowed_fields(path[:-1], src.data, root or Model)
        hint = difflib.get_close_matches(field, allowed, n=1)
        message = f"unknown field {field!r}"
        message += f"; did you mean {hint[0]!r}?" if hint else ""
        message += f" Expected one of: {', '.join(allowed)}" if allowed else ""
    elif kind == "missing":
        message = "required field is missing"
    else:
        msg = err["msg"].removeprefix("Value error, ")
        message = (
            f"{msg} (got {err['input']!r})"
            if not isinstance(err.get("input"), dict | list)
            else msg
        )
    if len(errors) > 1:
        message += f" [and {len(errors) - 1} more problem(s)]"
    return src.error(path, message)


def _allowed_fields(parent: FieldPath, data: Any, root: Any) -> list[str]:
    from pydantic import BaseModel

    cls: Any = root
    node: Any = data
    for part in parent:
        node = node[part] if isinstance(node, dict | list) else None
        if isinstance(part, int):
            continue
        info = (
            cls.model_fields.get(part)
            if isinstance(cls, type) and issubclass(cls, BaseModel)
            else None
        )
        if info is None:
            return []
        cls = model_of(info.annotation, node)
    if isinstance(cls, type) and issubclass(cls, BaseModel):
        return list(cls.model_fields)
    return []


def model_of(annotation: Any, value: Any) -> Any:
    """The pydantic model class a field annotated ``annotation`` takes for ``value`` (or None)."""
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    candidates = []
    stack = list(get_args(annotation))
    while stack:
        arg = stack.pop(0)
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            candidates.append(arg)
        else:
            stack.extend(get_args(arg))
    if isinstance(value, dict) and "from_tle" in value and NodeGroup in candidates:
        return NodeGroup
    return candidates[0] if candidates else None


# --------------------------------------------------------------------------- resolution
def _resolve(model: Model, src: Source, base_dir: Path) -> Scenario:
    start, end = model.horizon.start, model.horizon.end
    assert end is not None
    stations = [
        _maintained(_station(i, gs, base_dir, src), i, gs, start)
        for i, gs in enumerate(model.ground_stations)
    ]
    _unique([s.name for s in stations], "ground_stations", "station")
    nodes: list[OrbitalNode] = []
    for i, entry in enumerate(model.nodes):
        if isinstance(entry, NodeGroup):
            made = _node_group(i, entry, base_dir)
        else:
            made = [_node(i, entry, base_dir, model.horizon)]
        blackouts = _outages(entry.blackouts, ("nodes", i, "blackouts"), start)
        nodes.extend(
            replace(
                n,
                blackouts=blackouts,
                recorder=_recorder(entry, n.name, i, start),
                simultaneous_bands=entry.simultaneous_bands,
            )
            for n in made
        )
    _unique([n.name for n in nodes], "nodes", "node")
    syncs = _syncs(model, {n.name for n in nodes}, start, end)
    scenario = Scenario(
        model, start, end, model.horizon.step_s, stations, nodes, syncs, src.file, src
    )
    scenario.view_periods = _view_periods(model, base_dir, nodes, stations)
    _check_orbit_counts(model, nodes)
    scenario.warnings.extend(_stale_orbit_warnings(nodes, start, end))
    scenario.warnings.extend(_orbitless_warnings(nodes))
    return scenario


def _view_periods(
    model: Model, base_dir: Path, nodes: list[OrbitalNode], stations: list[Station]
) -> list[ViewPeriod]:
    """The model's imported view periods; every node without an orbit must have some."""
    periods: list[ViewPeriod] = []
    if model.view_periods is not None:
        path = base_dir / model.view_periods
        if not path.exists():
            raise FieldError(
                ("view_periods",),
                f"file not found: {path}; expected a CSV or JSON file (relative to the model file)",
            )
        periods = read_view_periods(path, [n.name for n in nodes], [s.name for s in stations])
    covered = {p.node for p in periods}
    for i, entry in enumerate(model.nodes):
        orbitless = isinstance(entry, Node) and (entry.tle, entry.elements, entry.oem) == (
            None,
            None,
            None,
        )
        if orbitless and entry.name not in covered:
            raise FieldError(
                ("nodes", i, "name"),
                f"node {entry.name!r} has no orbit; give `tle`, `elements` or `oem`, or view "
                "periods for it in the model's `view_periods` file",
            )
    return periods


def _check_orbit_counts(model: Model, nodes: list[OrbitalNode]) -> None:
    """Job deadlines counted in orbits need a node with an orbit."""
    orbitless = {n.name for n in nodes if n.orbit is None}
    for j, job in enumerate(model.jobs):
        if job.policy.deadline_orbits is not None and job.node in orbitless:
            raise FieldError(
                ("jobs", j, "policy", "deadline_orbits"),
                f"node {job.node!r} has no orbit (imported view periods only), so no period to "
                "count; expected no `deadline_orbits` for it, or an orbit for the node",
            )


def _orbitless_warnings(nodes: list[OrbitalNode]) -> list[str]:
    """Nodes without an orbit have no eclipses: say so once."""
    names = [n.name for n in nodes if n.orbit is None]
    if not names:
        return []
    return [
        f"{len(names)} node(s) have no orbit, only imported view periods ({', '.join(names[:5])}"
        f"{', ...' if len(names) > 5 else ''}): they are taken as always sunlit (no eclipses)"
    ]


STALE_TLE_DAYS = 14.0


def _stale_orbit_warnings(nodes: list[OrbitalNode], start: datetime, end: datetime) -> list[str]:
    """One warning for nodes whose element sets are far from the horizon: SGP4 position errors
    grow by roughly 1-3 km a day from the epoch, so passes shift by seconds to minutes."""
    stale = []
    for node in nodes:
        if not isinstance(node.orbit, Orbit):
            continue  # an OEM must cover the horizon (checked when read); no orbit: nothing to age
        epoch = node.orbit.epoch
        age_days = max((start - epoch).total_seconds(), (epoch - end).total_seconds(), 0.0) / 86400
        if age_days > STALE_TLE_DAYS:
            stale.append((age_days, node.name))
    if not stale:
        return []
    worst_days, worst = max(stale)
    return [
        f"{len(stale)} node(s) have element sets more than {STALE_TLE_DAYS:g} days from the horizon "
        f"(worst: {worst}, {worst_days:.0f} days); SGP4 accuracy degrades with age — use fresher TLEs "
        "or a horizon near their epochs"
    ]


def _unique(names: list[str], section: str, what: str) -> None:
    check_unique(names, lambda i: (section, i, "name"), what)


def _station(i: int, gs: Any, base_dir: Path, src: Source) -> Station:
    lat, lon, alt = resolve_site(
        ground_station_catalog(),
        gs.station,
        (gs.lat_deg, gs.lon_deg, gs.alt_m),
        ("ground_stations", i, "station"),
        "catalog station",
        "data/ground_stations.csv",
    )
    return Station(
        gs.name,
        lat,
        lon,
        alt,
        gs.bandwidth_bps,
        gs.elevation_min_deg,
        gs.antennas,
        gs.setup_s,
        _terrain_mask(i, gs, base_dir, src),
        tuple(gs.bands),
        gs.link,
        turnaround_s=float(gs.turnaround_s or 0.0),
        slew=gs.slew,
    )


def _terrain_mask(
    i: int, gs: Any, base_dir: Path, src: Source
) -> tuple[tuple[float, float], ...] | None:
    """The station's terrain mask points, inline or read from its CSV file (errors name the
    file's line)."""
    if gs.terrain_mask is not None:
        return tuple((float(a), float(e)) for a, e in gs.terrain_mask)
    if gs.terrain_mask_file is None:
        return None
    path = base_dir / gs.terrain_mask_file
    if not path.exists():
        raise FieldError(
            ("ground_stations", i, "terrain_mask_file"),
            f"file not found: {path}; expected a CSV with columns azimuth_deg,elevation_deg",
        )
    points: list[tuple[float, float]] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [c.strip() for c in lines[0].split(",")] if lines else []
    if header != ["azimuth_deg", "elevation_deg"]:
        raise ModelError("expected the header azimuth_deg,elevation_deg", file=path, line=1)
    for number, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        cells = [c.strip() for c in text.split(",")]
        if len(cells) != 2:
            message = f"expected two numbers azimuth_deg,elevation_deg (got {len(cells)} cells)"
            raise ModelError(message, file=path, line=number)
        for name, cell in zip(header, cells, strict=True):
            try:
                float(cell)
            except ValueError:
                message = f"expected a number in degrees (got {cell!r})"
                raise ModelError(message, file=path, field=name, line=number) from None
        az, el = float(cells[0]), float(cells[1])
        try:
            check_terrain_mask([*points, (az, el)])
        except ValueError as exc:
            field = "elevation_deg" if "elevation" in str(exc) else "azimuth_deg"
            raise ModelError(str(exc), file=path, field=field, line=number) from None
        points.append((az, el))
    if not points:
        raise ModelError("expected at least one azimuth_deg,elevation_deg row", file=path, line=1)
    return tuple(points)


def _tle_records(path: Path, field: FieldPath) -> list[Any]:
    if not path.exists():
        raise FieldError(
            field,
            f"TLE file not found: {path}; expected an existing file (relative to the model file)",
        )
    try:
        return read_tle_file(path)
    except TleFormatError as exc:
        raise FieldError(field, f"malformed TLE: {exc}") from None


def _ephemeris(i: int, node: Node, base_dir: Path, horizon: Horizon) -> Ephemeris:
    assert node.oem is not None and horizon.end is not None
    path = base_dir / node.oem.file
    if not path.exists():
        raise FieldError(
            ("nodes", i, "oem", "file"),
            f"OEM file not found: {path}; expected an existing file (relative to the model file)",
        )
    eph = read_oem(path)
    problem = eph.check_covers(horizon.start, horizon.end)
    if problem is not None:
        raise FieldError(("nodes", i, "oem", "file"), f"{node.oem.file}: {problem}")
    return eph


def _node(i: int, node: Node, base_dir: Path, horizon: Horizon) -> OrbitalNode:
    orbit: Orbit | Ephemeris | None = None
    if node.oem is not None:
        orbit = _ephemeris(i, node, base_dir, horizon)
    elif node.tle is not None:
        ref = node.tle
        if ref.file is not None:
            files = [(base_dir / ref.file)]
            records = _tle_records(files[0], ("nodes", i, "tle", "file"))
        else:
            records = [r for p in shipped_tle_files() for r in _tle_records(p, ("nodes", i, "tle"))]
        rec = find_tle(records, norad=ref.norad, name=ref.satellite)
        if rec is None:
            key = f"NORAD {ref.norad}" if ref.norad is not None else repr(ref.satellite)
            field = "norad" if ref.norad is not None else "satellite"
            where = ref.file or "the shipped TLE catalog (data/*.tle)"
            raise FieldError(("nodes", i, "tle", field), f"no element set for {key} in {where}")
        orbit = Orbit.from_tle(rec.line1, rec.line2)
    elif node.elements is not None:
        el = node.elements
        orbit = orbit_from_elements(
            altitude_km=el.altitude_km,
            inclination_deg=el.inclination_deg,
            raan_deg=el.raan_deg,
            arg_perigee_deg=el.arg_perigee_deg,
            mean_anomaly_deg=el.mean_anomaly_deg,
            eccentricity=el.eccentricity,
            epoch=el.epoch or horizon.start,
            bstar=el.bstar,
            satnum=90000 + i,
        )
    return OrbitalNode(
        node.name, orbit, node.battery, node.power, node.memory_mb, tuple(node.transmitters)
    )


def _node_group(i: int, group: NodeGroup, base_dir: Path) -> list[OrbitalNode]:
    records = _tle_records(base_dir / group.from_tle.file, ("nodes", i, "from_tle", "file"))
    records = records[: group.from_tle.limit] if group.from_tle.limit else records
    counts: dict[str, int] = {}
    for r in records:
        counts[r.name] = counts.get(r.name, 0) + 1
    out = []
    for r in records:
        name = r.name if counts[r.name] == 1 else f"{r.name} [{r.norad_id}]"
        out.append(
            OrbitalNode(
                name,
                Orbit.from_tle(r.line1, r.line2),
                group.battery,
                group.power,
                group.memory_mb,
                tuple(group.transmitters),
            )
        )
    return out


def _recorder(entry: Node | NodeGroup, name: str, i: int, start: datetime) -> NodeRecorder | None:
    if entry.recorder is None:
        return None
    return resolve_recorder(entry.recorder, name, ("nodes", i, "recorder"), start)


def _time(value: Any, path: FieldPath, start: datetime) -> datetime:
    try:
        return parse_time(value, base=start)
    except ValueError as exc:
        raise FieldError(path, str(exc)) from None


def _maintained(station: Station, i: int, gs: Any, start: datetime) -> Station:
    """``station`` with its maintenance: whole-station entries and per-antenna ones (0-based)."""
    path = ("ground_stations", i, "maintenance")
    spans = _outages(gs.maintenance, path, start)
    for j, m in enumerate(gs.maintenance):
        if m.antenna is not None and m.antenna > station.antennas:
            raise FieldError(
                (*path, j, "antenna"),
                f"antenna {m.antenna} does not exist: expected 1 .. {station.antennas} (`antennas`)",
            )
    return replace(
        station,
        maintenance=tuple(
            s for s, m in zip(spans, gs.maintenance, strict=True) if m.antenna is None
        ),
        antenna_maintenance=tuple(
            (m.antenna - 1, *s)
            for s, m in zip(spans, gs.maintenance, strict=True)
            if m.antenna is not None
        ),
    )


def _outages(
    outages: list[Outage], path: FieldPath, start: datetime
) -> tuple[tuple[datetime, datetime], ...]:
    """(start, end) of each outage, absolute UTC; FieldError unless it ends after it starts."""
    out = []
    for j, o in enumerate(outages):
        a = _time(o.start, (*path, j, "start"), start)
        b = _time(o.end, (*path, j, "end"), start)
        if b <= a:
            raise FieldError((*path, j, "end"), f"end {iso(b)} must be after the start {iso(a)}")
        out.append((a, b))
    return tuple(out)


def _syncs(model: Model, node_names: set[str], start: datetime, end: datetime) -> list[SyncRequest]:
    out: list[SyncRequest] = []
    ids: set[str] = set()
    for i, s in enumerate(model.syncs):
        if s.node not in node_names:
            hint = difflib.get_close_matches(s.node, sorted(node_names), n=1)
            raise FieldError(
                ("syncs", i, "node"),
                f"unknown node {s.node!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
                + f" Expected one of the model's nodes ({len(node_names)} defined)",
            )
        release = (
            _time(s.release, ("syncs", i, "release"), start) if s.release is not None else start
        )
        deadline = (
            _time(s.deadline, ("syncs", i, "deadline"), start) if s.deadline is not None else None
        )
        if release >= end:
            raise FieldError(
                ("syncs", i, "release"),
                f"release {iso(release)} is not before the horizon end {iso(end)}",
            )
        if release < start:
            release = start
        if deadline is not None and deadline <= start:
            raise FieldError(
                ("syncs", i, "deadline"),
                f"deadline {iso(deadline)} is not after the horizon start {iso(start)}",
            )
        if deadline is not None and deadline <= release:
            raise FieldError(
                ("syncs", i, "deadline"),
                f"deadline {iso(deadline)} must be after the release {iso(release)}",
            )
        sid = s.id or f"sync-{i + 1}"
        if sid in ids:
            raise FieldError(("syncs", i, "id"), f"duplicate sync id {sid!r}")
        ids.add(sid)
        out.append(
            SyncRequest(sid, s.node, float(s.data_size), s.priority, release, deadline, s.data_type)
        )
    return out
