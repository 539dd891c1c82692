"""UTC time parsing. All rsmodel times are timezone-aware UTC ``datetime`` objects."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta
from functools import cache

from skyfield.iokit import Loader
from skyfield.timelib import Timescale

RESOLUTION_S = 1e-6  # a datetime's resolution: plan instants are rounded to the microsecond
_RELATIVE = re.compile(r"^\s*\+\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*$")
_UNIT_S = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


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


@cache
def load_timescale() -> Timescale:
    """Skyfield's built-in timescale (offline; no finals2000A download)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Loader(".").timescale(builtin=True)
