"""Geometry reuse across variants: a content-hash key and an on-disk cache (OUT/.geometry-cache/).

The key covers what the geometry depends on: every node's name, orbit, transmitters and
blackouts, every station's name, coordinates, elevation and terrain masks, bands, link model and
maintenance (and its bandwidth when a link model caps the rate with it), imported view periods,
the horizon, the grid step and the rsmodel version. A constant rate and the setup time are not
geometry: :func:`rebind` sets them from the variant's stations.
"""

from __future__ import annotations

import copy
import hashlib
import json
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rsmodel.geometry import Geometry
from rsmodel.geometry.imported import imported_windows
from rsmodel.geometry.windows import Table
from rsmodel.io import atomic_write
from rsmodel.model.oem import Ephemeris
from rsmodel.model.orbits import Orbit
from rsmodel.model.scenario import Scenario
from rsmodel.timeutil import iso
from rsmodel.version import __version__

GEOMETRY_SECTIONS = ("name", "horizon", "ground_stations", "nodes", "view_periods")
# The pickled Geometry's shape (2: windows and eclipses as NumPy tables): older entries are
# not read.
GEOMETRY_FORMAT = 2


def geometry_key(scenario: Scenario) -> str:
    """Content hash of the geometry inputs of ``scenario``."""
    content = {
        "rsmodel": __version__,
        "format": GEOMETRY_FORMAT,
        "nodes": [
            (n.name, *_orbit_key(n.orbit), _dumped(n.transmitters), _times(n.blackouts))
            for n in scenario.nodes
        ],
        "view_periods": [
            (
                p.node,
                p.station,
                *(iso(t) if t else None for t in (p.start, p.end, p.tx_start)),
                iso(p.tx_end) if p.tx_end else None,
                p.max_elevation_deg,
                p.rate_bps,
            )
            for p in scenario.view_periods
        ],
        "stations": [
            (
                s.name,
                s.lat_deg,
                s.lon_deg,
                s.alt_m,
                s.elevation_min_deg,
                s.terrain_mask,
                _dumped(s.bands),
                _dumped((s.link,)) if s.link else None,
                (s.bandwidth_bps, s.setup_s) if s.link else None,
                _times(s.maintenance),
            )
            for s in scenario.stations
        ],
        "horizon": (iso(scenario.start), iso(scenario.end), scenario.step_s),
    }
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:20]


def _dumped(models: Any) -> list[Any]:
    """Pydantic model fields as JSON-ready data (for the key)."""
    return [m.model_dump(mode="json") for m in models]


def _times(intervals: Any) -> list[list[str]]:
    return [[iso(start), iso(end)] for start, end in intervals]


def _orbit_key(orbit: Orbit | Ephemeris | None) -> tuple[str, ...]:
    if isinstance(orbit, Orbit):
        return (orbit.line1, orbit.line2)
    if isinstance(orbit, Ephemeris):
        return ("oem", orbit.digest)
    return ("no orbit",)


def geometry_model(data: dict[str, Any]) -> dict[str, Any]:
    """The part of a model's data the geometry depends on (loads fast, shared by many variants)."""
    return {k: copy.deepcopy(data[k]) for k in GEOMETRY_SECTIONS if k in data}


def rebind(geometry: Geometry, scenario: Scenario) -> Geometry:
    """``geometry`` with each window's bandwidth and capacity from ``scenario``'s stations (an
    imported view period's own ``rate_bps`` wins, as in the geometry; a station with a link
    model keeps its windows' rate profiles, which the key covers)."""
    constant = {s.name for s in scenario.stations if s.link is None}
    bandwidth = {s.name: s.bandwidth_bps for s in scenario.stations}
    setup = {s.name: s.setup_s for s in scenario.stations}
    windows = dict(geometry.window_table)
    station = windows["station"]
    rebound = np.array([s in constant for s in station], dtype=bool)
    rate = np.where(
        rebound, [bandwidth.get(s, np.nan) for s in station], windows["bandwidth_bps"]
    ).astype(float)
    if scenario.view_periods:
        imported = imported_windows(
            scenario.view_periods, scenario.stations, scenario.start, scenario.end
        )
        own = dict(zip(_window_keys(imported), imported["bandwidth_bps"].tolist(), strict=True))
        rate = np.array(
            [own.get(key, r) for key, r in zip(_window_keys(windows), rate.tolist(), strict=True)]
        )
    usable_s = np.maximum(0.0, windows["duration_s"] - [setup.get(s, np.nan) for s in station])
    windows["bandwidth_bps"] = rate
    windows["capacity_bytes"] = np.where(rebound, rate / 8.0 * usable_s, windows["capacity_bytes"])
    return replace(geometry, window_table=windows)


def _window_keys(windows: Table) -> list[tuple[str, str, int]]:
    """(node, station, start in ns) of each window."""
    return list(
        zip(
            windows["node"],
            windows["station"],
            windows["start"].view(np.int64).tolist(),
            strict=True,
        )
    )


class GeometryCache:
    """Pickled geometries by key in one directory; writes are atomic."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.pickle"

    def load(self, key: str) -> tuple[Geometry, float] | None:
        """The geometry of ``key`` and the seconds it took to compute, if cached."""
        path = self._path(key)
        if not path.exists():
            return None
        with path.open("rb") as fh:
            entry = pickle.load(fh)
        return entry["geometry"], entry["seconds"]

    def save(self, key: str, geometry: Geometry, seconds: float) -> None:
        entry = {"geometry": geometry, "seconds": seconds}

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                pickle.dump(entry, fh, protocol=pickle.HIGHEST_PROTOCOL)

        atomic_write(self._path(key), write)
