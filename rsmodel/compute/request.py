"""The seed 002 ``POST /v1/plan`` body as a local request file (docs/compute.md, "Requests").

``{"satellite_id": "25544", "custom_job": {...}}`` becomes a one-node scenario: the newest
element set of that NORAD id in the shipped TLE catalog, a horizon starting at the element
set's epoch (rounded down to the minute) and lasting ``deadline_orbits`` orbital periods
(default 4), and the default ground stations below unless the request names its own.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rsmodel.errors import ModelError
from rsmodel.model.catalogs import (
    find_tle,
    ground_station_catalog,
    read_tle_file,
    shipped_tle_files,
)
from rsmodel.model.compute_schema import Job, check_job
from rsmodel.model.orbits import Orbit
from rsmodel.model.scenario import Scenario
from rsmodel.model.yamlsrc import Source, parse_yaml, read_text

DEFAULT_STATIONS: tuple[str, ...] = (
    "wallops",
    "weilheim",
    "hartebeesthoek",
    "dongara",
    "santiago",
    "south_point_hi",
    "kourou",
    "malindi",
)
DEFAULT_BANDWIDTH_BPS = 100e6
DEFAULT_ORBITS = 4.0


class PlanRequest(BaseModel):
    """A seed 002 plan request body; the optional fields are rsmodel extensions."""

    model_config = ConfigDict(extra="forbid")
    satellite_id: str | int = Field(description="NORAD id in the shipped TLE catalog (data/*.tle).")
    custom_job: Job
    ground_stations: list[str] | None = Field(
        None, description="Catalog ids (default: DEFAULT_STATIONS)."
    )
    bandwidth_bps: float = Field(
        DEFAULT_BANDWIDTH_BPS, gt=0, description="Downlink rate of every station."
    )
    step_s: float = Field(60.0, gt=0, le=600, description="Grid step, s.")
    battery: dict[str, float] | None = Field(
        None, description="Overrides of the node's battery (schema Battery)."
    )
    power: dict[str, float] | None = Field(
        None, description="Overrides of the node's power figures (schema Power)."
    )
    memory_mb: float | None = Field(None, gt=0)


def load_request(path: str | Path) -> tuple[PlanRequest, Scenario]:
    """Read, validate and turn a request file into a scenario (ModelError on bad input)."""
    path = Path(path)
    return parse_request(read_text(path, "a JSON plan request"), path)


def parse_request(text: str, file: str | Path) -> tuple[PlanRequest, Scenario]:
    """Validate a request body (JSON text; ``file`` names it in errors) and turn it into a
    scenario (ModelError on bad input). The HTTP service calls this with the POST body."""
    src = _parse_request(text, Path(file))
    if not isinstance(src.data, dict):
        raise ModelError(
            "expected a JSON object with satellite_id and custom_job", file=src.file, line=1
        )
    try:
        request = PlanRequest.model_validate(src.data)
    except ValidationError as exc:
        from rsmodel.model.loader import validation_error  # only on bad input (cold start)

        raise validation_error(exc, src, PlanRequest) from None
    orbit = _orbit(request, src)

    def error(field_path: tuple[str | int, ...], message: str) -> Exception:
        return src.error(field_path, message)

    from rsmodel.model.schema import Battery

    battery = Battery.model_validate(request.battery or {})
    check_job(
        request.custom_job,
        ("custom_job",),
        error,
        capacity_wh=battery.capacity_wh,
        memory_mb=request.memory_mb or 4096.0,
    )
    return request, _scenario(request, orbit, src)


def _parse_request(text: str, path: Path) -> Source:
    """Parse the JSON body; keep each field's line (JSON is YAML) for error messages."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"invalid JSON ({exc.msg}); expected a plan request object", file=path, line=exc.lineno
        ) from None
    return parse_yaml(text, path)


def _orbit(request: PlanRequest, src: Source) -> Orbit:
    try:
        norad = int(str(request.satellite_id).strip())
    except ValueError:
        raise src.error(
            ("satellite_id",), f"expected a NORAD catalog number, got {request.satellite_id!r}"
        ) from None
    records = [r for f in shipped_tle_files() for r in read_tle_file(f)]
    rec = find_tle(records, norad=norad)
    if rec is None:
        raise src.error(
            ("satellite_id",),
            f"unknown satellite_id {norad}: not in the shipped TLE catalog (data/*.tle)",
        )
    return Orbit.from_tle(rec.line1, rec.line2)


def _scenario(request: PlanRequest, orbit: Orbit, src: Source) -> Scenario:
    from rsmodel.model.loader import load_model_dict

    catalog = ground_station_catalog()
    stations = list(request.ground_stations or DEFAULT_STATIONS)
    for i, sid in enumerate(stations):
        if sid not in catalog:
            hint = difflib.get_close_matches(sid, list(catalog), n=1)
            raise src.error(
                ("ground_stations", i),
                f"unknown catalog station {sid!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else ""),
            )
    epoch = orbit.epoch.replace(second=0, microsecond=0)
    orbits = request.custom_job.policy.deadline_orbits or DEFAULT_ORBITS
    hours = math.ceil(orbits * orbit.period_s / request.step_s) * request.step_s / 3600.0
    node: dict[str, Any] = {
        "name": str(request.satellite_id).strip(),
        "tle": {"norad": orbit.norad_id},
    }
    for key in ("battery", "power", "memory_mb"):
        if getattr(request, key) is not None:
            node[key] = getattr(request, key)
    job = request.custom_job.model_dump(exclude_none=True)
    job["node"] = node["name"]
    model = {
        "name": re.sub(r"[^A-Za-z0-9_.\- ]+", "-", request.custom_job.name).strip("- ")
        or "request",
        "description": f"plan request {src.file} for satellite {orbit.norad_id}",
        "horizon": {"start": epoch, "hours": hours, "step_s": request.step_s},
        "ground_stations": [
            {"name": s, "station": s, "bandwidth_bps": request.bandwidth_bps} for s in stations
        ],
        "nodes": [node],
        "jobs": [job],
    }
    return load_model_dict(model, base_dir=Path.cwd(), file=src.file)
