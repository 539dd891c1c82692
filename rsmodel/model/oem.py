"""CCSDS Orbit Ephemeris Messages (OEM, KVN or XML) read into an :class:`Ephemeris`.

The ``oem`` package (PyPI) parses both encodings; this module checks what planning needs and
turns the states into arrays: epochs as TT seconds from a reference Julian date (whatever the
message's ``TIME_SYSTEM``), positions km and velocities km/s in the segment's ``REF_FRAME``.
Interpolation and frame rotation live in :mod:`rsmodel.geometry.ephemeris`.

Every problem is a :class:`~rsmodel.errors.ModelError` naming the OEM file, the line where it
is known, the keyword and what is expected.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from skyfield.constants import DAY_S
from skyfield.timelib import Time

from rsmodel.errors import ModelError
from rsmodel.timeutil import load_timescale

MU_EARTH_KM3_S2 = 398600.4418

# REF_FRAME values (CCSDS SANA) this reader accepts, mapped to the frame the geometry rotates.
# ITRF realisations differ by centimetres; all are read as skyfield's ITRS (no polar motion).
FRAMES = {"EME2000": "EME2000", "J2000": "EME2000", "GCRF": "GCRF", "ICRF": "GCRF", "TEME": "TEME"}
ITRF_FRAME = re.compile(r"^ITRF(-?\d{2,4})?$")
TIME_SYSTEMS = ("UTC", "TAI", "TT", "GPS", "TDB")
GPS_MINUS_TAI_S = -19.0
INTERPOLATIONS = ("LAGRANGE", "HERMITE", "LINEAR")
# Used when the message does not say how to interpolate (CCSDS leaves it to the user).
DEFAULT_INTERPOLATION = ("LAGRANGE", 7)
# A step longer than this many times the segment's median step is a gap: interpolation across
# it would invent an orbit. Split the message into segments there instead.
GAP_STEP_RATIO = 8.0


@dataclass(frozen=True)
class EphemerisSegment:
    """One OEM segment: states in ``frame`` at TT seconds ``t_s`` from ``Ephemeris.ref_tt_jd``."""

    frame: str  # "EME2000", "GCRF", "TEME" or "ITRF"
    interpolation: str  # "LAGRANGE" or "HERMITE" (LINEAR is LAGRANGE of degree 1)
    degree: int
    t_s: np.ndarray = field(repr=False)  # [n] s, strictly increasing
    pos_km: np.ndarray = field(repr=False)  # [n, 3]
    vel_km_s: np.ndarray = field(repr=False)  # [n, 3]
    useable_start_s: float
    useable_stop_s: float

    @property
    def window(self) -> int:
        """States per interpolation: degree + 1 (Lagrange) or (degree + 1) / 2 (Hermite)."""
        return self.degree + 1 if self.interpolation == "LAGRANGE" else (self.degree + 1) // 2


@dataclass(frozen=True, eq=False)
class Ephemeris:
    """A node's orbit from an OEM: segments in time order, epochs in TT."""

    file: Path
    object_name: str
    ref_tt_jd: float  # whole TT Julian date the segments' ``t_s`` count from
    segments: tuple[EphemerisSegment, ...]
    digest: str  # sha256 of the file (cache keys)

    def utc(self, t_s: float) -> datetime:
        """The UTC time of TT seconds ``t_s`` from the reference."""
        return load_timescale().tt_jd(self.ref_tt_jd, t_s / DAY_S).utc_datetime()

    def seconds(self, when: datetime) -> float:
        """TT seconds from the reference of the UTC time ``when``."""
        t = load_timescale().from_datetime(when)
        return float((t.whole - self.ref_tt_jd) * DAY_S + t.tt_fraction * DAY_S)

    @property
    def epoch(self) -> datetime:
        """UTC time of the first state."""
        return self.utc(float(self.segments[0].t_s[0]))

    @property
    def period_s(self) -> float:
        """Osculating period of the first state (two-body), seconds."""
        seg = self.segments[0]
        r = float(np.linalg.norm(seg.pos_km[0]))
        v2 = float(np.dot(seg.vel_km_s[0], seg.vel_km_s[0]))
        a_km = 1.0 / (2.0 / r - v2 / MU_EARTH_KM3_S2)
        return 2 * math.pi * math.sqrt(a_km**3 / MU_EARTH_KM3_S2)

    def check_covers(self, start: datetime, end: datetime) -> str | None:
        """Why ``start``..``end`` cannot be interpolated from this ephemeris, or None.

        The useable spans of the segments must cover it without a hole, and no segment may
        have a gap (a step over ``GAP_STEP_RATIO`` times its median) inside it."""
        lo, hi = self.seconds(start), self.seconds(end)
        reach = lo
        for seg in self.segments:
            if seg.useable_start_s > reach + 1e-6:
                break
            reach = max(reach, seg.useable_stop_s)
        if reach < hi - 1e-6:
            span = f"{_iso(self.utc(self.segments[0].useable_start_s))}.."
            span += _iso(self.utc(self.segments[-1].useable_stop_s))
            where = (
                f"stops at {_iso(self.utc(reach))}" if reach > lo else "does not cover its start"
            )
            return (
                f"the horizon {_iso(start)}..{_iso(end)} leaves the ephemeris "
                f"(useable {span}; coverage {where}); expected an OEM covering the whole horizon"
            )
        for i, seg in enumerate(self.segments):
            step = np.diff(seg.t_s)
            gap = np.flatnonzero(
                (step > GAP_STEP_RATIO * np.median(step)) & (seg.t_s[1:] > lo) & (seg.t_s[:-1] < hi)
            )
            if gap.size:
                k = int(gap[0])
                return (
                    f"segment {i + 1} has a gap of {step[k]:.0f} s between "
                    f"{_iso(self.utc(seg.t_s[k]))} and {_iso(self.utc(seg.t_s[k + 1]))} inside the "
                    f"horizon (median step {np.median(step):.0f} s); expected no step over "
                    f"{GAP_STEP_RATIO:g}x the median (split the message into segments at the gap)"
                )
        return None


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def read_oem(path: Path) -> Ephemeris:
    """Read and check an OEM file (KVN or XML)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reader warns of TIME_SYSTEMs astropy lacks (GPS)
        return _read(path)


def _read(path: Path) -> Ephemeris:
    from oem import OrbitEphemerisMessage

    text = path.read_text(errors="replace")
    try:
        message = OrbitEphemerisMessage.open(path)
    except Exception as exc:  # the reader raises bare ValueErrors / KeyErrors / XML errors
        raise _parse_error(path, text, exc) from None
    segments = list(message)
    for i, seg in enumerate(segments):
        _check_metadata(path, text, i, seg.metadata)
    ts = load_timescale()
    first = _tt(ts, segments[0].metadata["TIME_SYSTEM"], *_jd(segments[0].useable_start_time))
    ref = math.floor(first.whole + first.tt_fraction - 0.5) + 0.5
    out = [_segment(path, text, i, seg, ref) for i, seg in enumerate(segments)]
    for i in range(1, len(out)):
        if out[i].t_s[0] < out[i - 1].t_s[-1]:
            raise _error(
                path,
                text,
                segments[i].metadata["START_TIME"],
                "START_TIME",
                f"segment {i + 1} starts before segment {i} ends; expected segments in time order",
            )
    return Ephemeris(
        path,
        str(segments[0].metadata["OBJECT_NAME"]),
        float(ref),
        tuple(out),
        hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def _jd(epoch: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two-part Julian date (in the epoch's own time scale) of an astropy Time or datetime."""
    if isinstance(epoch, datetime):  # the reader's fallback for scales astropy lacks (GPS)
        days = (epoch - datetime(2000, 1, 1, 12)).total_seconds() / DAY_S
        return np.array(2451545.0 + math.floor(days)), np.array(days - math.floor(days))
    return np.asarray(epoch.jd1), np.asarray(epoch.jd2)


def _tt(ts: Any, time_system: str, jd1: np.ndarray, jd2: np.ndarray) -> Time:
    """Skyfield Time of Julian dates ``jd1 + jd2`` given in ``time_system``."""
    system = time_system.upper()
    if system == "TT":
        return ts.tt_jd(jd1, jd2)
    if system == "TDB":
        return ts.tdb_jd(jd1, jd2)
    if system in ("TAI", "GPS"):
        shift = 0.0 if system == "TAI" else -GPS_MINUS_TAI_S / DAY_S
        return ts.tai_jd(jd1, jd2 + shift)
    # UTC: calendar seconds from the first day's midnight (no leap second inside the message).
    day0 = math.floor(float(np.min(jd1 + jd2)) - 0.5) + 0.5
    seconds = ((jd1 - day0) + jd2) * DAY_S
    y, m, d = _calendar(day0 + 0.5)
    return ts.utc(y, m, d, 0, 0, seconds)


def _calendar(jd_noon: float) -> tuple[int, int, int]:
    """Gregorian (year, month, day) of an integer Julian day number."""
    d = date.fromordinal(int(jd_noon) - 1721425)
    return d.year, d.month, d.day


def _check_metadata(path: Path, text: str, i: int, meta: Any) -> None:
    center = str(meta["CENTER_NAME"]).strip().upper()
    if center != "EARTH":
        raise _error(
            path, text, meta["CENTER_NAME"], "CENTER_NAME", f"got {center!r}; expected EARTH"
        )
    frame = str(meta["REF_FRAME"]).strip().upper()
    if frame not in FRAMES and not ITRF_FRAME.match(frame):
        raise _error(
            path,
            text,
            meta["REF_FRAME"],
            "REF_FRAME",
            f"unknown frame {frame!r}; expected one of {', '.join(FRAMES)}, ITRF or ITRF<year>",
        )
    system = str(meta["TIME_SYSTEM"]).strip().upper()
    if system not in TIME_SYSTEMS:
        raise _error(
            path,
            text,
            meta["TIME_SYSTEM"],
            "TIME_SYSTEM",
            f"unknown time system {system!r}; expected one of {', '.join(TIME_SYSTEMS)}",
        )
    method = str(meta["INTERPOLATION"]).strip().upper() if "INTERPOLATION" in meta else None
    if method is not None and method not in INTERPOLATIONS:
        raise _error(
            path,
            text,
            meta["INTERPOLATION"],
            "INTERPOLATION",
            f"unknown method {method!r}; expected one of {', '.join(INTERPOLATIONS)}",
        )
    if method == "HERMITE" and int(meta["INTERPOLATION_DEGREE"]) % 2 == 0:
        raise _error(
            path,
            text,
            meta["INTERPOLATION_DEGREE"],
            "INTERPOLATION_DEGREE",
            f"HERMITE of degree {meta['INTERPOLATION_DEGREE']} in segment {i + 1}; expected an "
            "odd degree 2n-1 (n states, each with position and velocity)",
        )


def _segment(path: Path, text: str, i: int, seg: Any, ref: float) -> EphemerisSegment:
    meta = seg.metadata
    ts = load_timescale()
    system = str(meta["TIME_SYSTEM"]).strip().upper()
    states = list(seg.states)
    epochs = [s.epoch for s in states]
    jd1, jd2 = np.array([_jd(e) for e in epochs], dtype=float).reshape(-1, 2).T

    def seconds(jd1: np.ndarray, jd2: np.ndarray) -> np.ndarray:
        t = _tt(ts, system, jd1, jd2)
        return np.atleast_1d((t.whole - ref) * DAY_S + t.tt_fraction * DAY_S)

    t_s = seconds(jd1, jd2)
    step = np.diff(t_s)
    if (step <= 0).any():  # the reader compares epoch text; equal instants can differ in text
        k = int(np.flatnonzero(step <= 0)[0])
        raise _error(
            path,
            text,
            _epoch_text(states[k + 1].epoch),
            "EPOCH",
            f"segment {i + 1}: epoch does not come after the one before it; expected strictly "
            "increasing epochs (no duplicates)",
        )
    method, degree = DEFAULT_INTERPOLATION
    if "INTERPOLATION" in meta:
        method, degree = (
            str(meta["INTERPOLATION"]).strip().upper(),
            int(meta["INTERPOLATION_DEGREE"]),
        )
    if method == "LINEAR":
        method, degree = "LAGRANGE", 1
    out = EphemerisSegment(
        FRAMES.get(str(meta["REF_FRAME"]).strip().upper(), "ITRF"),
        method,
        degree,
        t_s,
        np.array([s.position for s in states], dtype=float),
        np.array([s.velocity for s in states], dtype=float),
        float(seconds(*_jd(meta.useable_start_time))[0]),
        float(seconds(*_jd(meta.useable_stop_time))[0]),
    )
    if len(t_s) < out.window:
        raise _error(
            path,
            text,
            degree,
            "INTERPOLATION_DEGREE",
            f"segment {i + 1} has {len(t_s)} states; {method} of degree {degree} needs "
            f"{out.window}",
        )
    return out


def _epoch_text(epoch: Any) -> str:
    if isinstance(epoch, datetime):
        return epoch.strftime("%Y-%m-%dT%H:%M:%S")
    return str(epoch.isot)[:19]


_EPOCH = re.compile(r"^\s*(?:<EPOCH>)?\s*(\d{4}-\d{2,3}(?:-\d{2})?T[\d:.]+)")


def _line_of(text: str, value: Any, keyword: str) -> int | None:
    """1-based line of ``keyword`` with ``value`` (a state's line when ``keyword`` is EPOCH)."""
    wanted = _epoch_text(value) if hasattr(value, "isot") else str(value).strip()
    for n, line in enumerate(text.splitlines(), start=1):
        if keyword == "EPOCH":
            match = _EPOCH.match(line)
            if match and match[1].startswith(wanted):
                return n
        elif keyword in line and wanted in line.split(keyword, 1)[1]:
            return n
    return None


def _error(path: Path, text: str, value: Any, keyword: str, message: str) -> ModelError:
    return ModelError(message, file=path, line=_line_of(text, value, keyword), field=keyword)


def _unordered_epoch(path: Path, text: str) -> ModelError | None:
    """The first state whose epoch text is not after the one before it in its segment."""
    previous: str | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        if "META_START" in line or "<segment" in line:
            previous = None
        match = _EPOCH.match(line)
        if match and "=" not in line:
            epoch = match[1]
            if previous is not None and epoch <= previous:
                return ModelError(
                    f"{epoch} does not come after {previous}; expected strictly increasing "
                    "epochs (no duplicates) in each segment",
                    file=path,
                    line=n,
                    field="EPOCH",
                )
            previous = epoch
    return None


def _parse_error(path: Path, text: str, exc: Exception) -> ModelError:
    """The reader's exception as a ModelError; unordered epochs get the line of the first one
    not after its predecessor (the reader only says "Malformed data section")."""
    unordered = _unordered_epoch(path, text)
    if unordered is not None:
        return unordered
    detail = str(exc).strip() or type(exc).__name__
    return ModelError(f"not a readable CCSDS OEM (KVN or XML): {detail}", file=path, field="OEM")
