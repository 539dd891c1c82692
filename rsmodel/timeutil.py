"""UTC time parsing. All rsmodel times are timezone-aware UTC ``datetime`` objects."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from functools import cache

import numpy as np
from skyfield.iokit import Loader
from skyfield.timelib import Timescale

RESOLUTION_S = 1e-6  # a datetime's resolution: plan instants are rounded to the microsecond
_RELATIVE = re.compile(r"^\s*\+\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NS_PER_S = 1_000_000_000


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (a naive value is taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_time(value: str | datetime, *, base: datetime | None = None) -> datetime:
    """Parse an ISO 8601 time or a relative offset such as ``+2h`` / ``+90min`` / ``+30s``.

    Relative offsets are added to ``base`` (normally the horizon start). Naive ISO times
    are taken as UTC.
    """
    if isinstance(value, datetime):
        return as_utc(value)
    match = _RELATIVE.match(value)
    if match:
        if base is None:
            raise ValueError(f"relative time {value!r} needs a base time")
        return as_utc(base) + timedelta(seconds=float(match[1]) * _UNIT_S[match[2]])
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(
            f"expected an ISO 8601 UTC time (e.g. 2026-05-30T00:00:00Z) or +<n>s|min|h|d, got {value!r}"
        ) from None


def iso(value: datetime) -> str:
    """Format as ISO 8601 UTC with a trailing ``Z``, losslessly: whole seconds, milliseconds, or
    microseconds (a datetime's resolution), whichever is the shortest exact form."""
    value = as_utc(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    us = value.microsecond
    if us == 0:
        return f"{text}Z"
    return f"{text}.{us // 1000:03d}Z" if us % 1000 == 0 else f"{text}.{us:06d}Z"


def utc_ns(value: datetime) -> int:
    """``value`` in nanoseconds since 1970-01-01T00:00:00Z (exact: a datetime has microseconds)."""
    return (as_utc(value) - _EPOCH) // timedelta(microseconds=1) * 1000


def datetime64_ns(start: datetime, offsets_s: np.ndarray) -> np.ndarray:
    """The instants ``start + offsets_s`` (s, rounded to the nanosecond) as ``datetime64[ns]``
    (UTC, no time zone): how rsmodel keeps arrays of instants without pandas."""
    offsets_ns = np.round(np.asarray(offsets_s, dtype=float) * 1e9).astype(np.int64)
    return (utc_ns(start) + offsets_ns).view("datetime64[ns]")


def seconds_since(times: np.ndarray, start: datetime) -> np.ndarray:
    """Seconds (float) from ``start`` to each of ``times`` (``datetime64``, UTC): whole seconds
    plus the remainder, as pandas' ``total_seconds`` (bit for bit, so either way agrees)."""
    return ns_seconds(np.asarray(times, dtype="datetime64[ns]").view(np.int64) - utc_ns(start))


def ns_seconds(delta_ns: np.ndarray) -> np.ndarray:
    """Durations in nanoseconds (int) as seconds (float): whole seconds plus the remainder, as
    pandas' ``total_seconds`` (bit for bit)."""
    whole, rest = np.divmod(np.asarray(delta_ns, dtype=np.int64), _NS_PER_S)
    return whole + rest / _NS_PER_S


@cache
def load_timescale() -> Timescale:
    """Skyfield's built-in timescale (offline; no finals2000A download)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Loader(".").timescale(builtin=True)
