"""Catalogs of real facts shipped in ``data/``: ground stations, observatories and TLE sets."""

from __future__ import annotations

import csv
import difflib
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rsmodel.errors import RsmodelError
from rsmodel.model.vocabulary import FieldError, FieldPath


def data_dir() -> Path:
    """The catalog directory: ``$RSMODEL_DATA`` or the repository's ``data/``."""
    env = os.environ.get("RSMODEL_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class Site:
    """A named place on the WGS-84 ellipsoid."""

    id: str
    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@cache
def ground_station_catalog() -> dict[str, Site]:
    """Ground stations by id: ``ground_stations.csv`` (with heights) then commercial sites."""
    sites: dict[str, Site] = {}
    with open(data_dir() / "ground_stations.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            sites[row["id"]] = Site(
                row["id"],
                row["name"],
                float(row["lat_deg"]),
                float(row["lon_deg"]),
                float(row["alt_m"] or 0),
            )
    brahe = data_dir() / "commercial_groundstations_brahe.csv"
    if brahe.exists():
        with open(brahe, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                key = _slug(f"{row['provider']}_{row['name']}")
                sites.setdefault(
                    key,
                    Site(
                        key,
                        f"{row['provider']} {row['name']}",
                        float(row["lat_deg"]),
                        float(row["lon_deg"]),
                        0.0,
                    ),
                )
    return sites


@cache
def observatory_catalog() -> dict[str, Site]:
    """Observatory sites by id from ``observatories.csv``."""
    sites: dict[str, Site] = {}
    with open(data_dir() / "observatories.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            sites[row["id"]] = Site(
                row["id"],
                row["name"],
                float(row["lat_deg"]),
                float(row["lon_deg"]),
                float(row["elevation_m"] or 0),
            )
    return sites


@dataclass(frozen=True)
class TleRecord:
    """One element set: optional name line and the two element lines."""

    name: str
    line1: str
    line2: str

    @property
    def norad_id(self) -> int:
        return int(self.line1[2:7])


class TleFormatError(RsmodelError):
    """A TLE file or element set is malformed."""


def tle_checksum(line: str) -> int:
    """The mod-10 checksum of a TLE line's first 68 characters ('-' counts 1)."""
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10


def check_tle_lines(line1: str, line2: str) -> None:
    """Raise :class:`TleFormatError` when a pair of lines is not a valid TLE."""
    for number, line in ((1, line1), (2, line2)):
        if len(line) < 69 or not line.startswith(f"{number} "):
            raise TleFormatError(
                f"line {number} is not a TLE line {number} (69 columns starting '{number} ')"
            )
        if not line[68].isdigit() or tle_checksum(line) != int(line[68]):
            raise TleFormatError(
                f"line {number} checksum mismatch (column 69 is {line[68]!r}, computed {tle_checksum(line)})"
            )
    if line1[2:7] != line2[2:7]:
        raise TleFormatError("line 1 and line 2 have different catalog numbers")


def read_tle_file(path: Path) -> list[TleRecord]:
    """Parse a 2- or 3-line TLE file; every record's checksum is verified."""
    lines = [ln.rstrip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    records: list[TleRecord] = []
    i = 0
    while i < len(lines):
        name = ""
        if not lines[i].startswith("1 "):
            name, i = lines[i].strip(), i + 1
        if i + 1 >= len(lines):
            raise TleFormatError(f"{path.name}: incomplete element set at the end of the file")
        try:
            check_tle_lines(lines[i], lines[i + 1])
        except TleFormatError as exc:
            raise TleFormatError(
                f"{path.name}: element set {name or lines[i][2:7]!r}: {exc}"
            ) from None
        records.append(TleRecord(name or lines[i][2:7].strip(), lines[i], lines[i + 1]))
        i += 2
    return records


def shipped_tle_files() -> list[Path]:
    """All ``*.tle`` files in the catalog directory, newest snapshot files first."""
    return sorted(data_dir().glob("*.tle"), key=lambda p: (p.name == "iss.tle", p.name))


def find_tle(
    records: list[TleRecord], *, norad: int | None = None, name: str | None = None
) -> TleRecord | None:
    """The newest-epoch record matching a NORAD id or a (case-insensitive) satellite name."""
    if norad is not None:
        matches = [r for r in records if r.norad_id == norad]
    else:
        wanted = (name or "").strip().lower()
        matches = [r for r in records if r.name.strip().lower() == wanted]
    if not matches:
        return None
    return max(matches, key=lambda r: float(r.line1[18:32]))


def catalog_site(
    catalog: dict[str, Site], key: str, path: FieldPath, what: str, source: str
) -> Site:
    """The catalog entry ``key``, or a FieldError suggesting close ids."""
    site = catalog.get(key)
    if site is None:
        hint = difflib.get_close_matches(key, list(catalog), n=3)
        raise FieldError(
            path,
            f"unknown {what} {key!r}"
            + (f"; did you mean {', '.join(map(repr, hint))}?" if hint else "")
            + f" Expected an id from {source}",
        )
    return site


def resolve_site(
    catalog: dict[str, Site],
    key: str | None,
    lat_lon_alt: tuple[float | None, float | None, float | None],
    path: FieldPath,
    what: str,
    source: str,
) -> tuple[float, float, float]:
    """(lat_deg, lon_deg in [-180, 180), alt_m): from catalog entry ``key`` when given (an
    explicit altitude still wins), else the explicit values (alt default 0)."""
    lat, lon, alt = lat_lon_alt
    if key is not None:
        site = catalog_site(catalog, key, path, what, source)
        lat, lon, alt = site.lat_deg, site.lon_deg, site.alt_m if alt is None else alt
    assert lat is not None and lon is not None
    return float(lat), normalise_lon_deg(float(lon)), float(alt or 0.0)


def normalise_lon_deg(lon: float) -> float:
    """Longitude in [-180, 180) degrees (values already in range are returned unchanged)."""
    return lon if -180.0 <= lon < 180.0 else ((lon + 180.0) % 360.0) - 180.0
