"""Orbits of nodes: TLE lines and ``sgp4`` Satrec objects."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sgp4.api import WGS72, Satrec
from sgp4.conveniences import sat_epoch_datetime
from sgp4.exporter import export_tle

EARTH_RADIUS_KM = 6378.135  # WGS-72, the radius SGP4 works in
MU_KM3_S2 = 398600.8  # WGS-72


@dataclass(frozen=True)
class Orbit:
    """An orbit defined by the two TLE lines it propagates from (exactly as used in plans)."""

    line1: str
    line2: str
    satrec: Satrec = field(compare=False, repr=False, hash=False)

    @classmethod
    def from_tle(cls, line1: str, line2: str) -> Orbit:
        return cls(line1, line2, Satrec.twoline2rv(line1, line2, WGS72))

    def __reduce__(self) -> tuple:
        """Pickle as the two lines (``Satrec`` does not pickle): worker processes get the same orbit."""
        return Orbit.from_tle, (self.line1, self.line2)

    @property
    def norad_id(self) -> int:
        return int(self.satrec.satnum)

    @property
    def epoch(self) -> datetime:
        return sat_epoch_datetime(self.satrec)

    @property
    def period_s(self) -> float:
        """Anomalistic period from the mean motion, seconds."""
        return 2 * math.pi / self.satrec.no_kozai * 60.0


def orbit_from_elements(
    *,
    altitude_km: float,
    inclination_deg: float,
    raan_deg: float,
    arg_perigee_deg: float,
    mean_anomaly_deg: float,
    eccentricity: float,
    epoch: datetime,
    bstar: float = 0.0,
    satnum: int = 99999,
) -> Orbit:
    """Build an SGP4 orbit from mean elements with ``Satrec.sgp4init`` and export it as a TLE."""
    a_km = EARTH_RADIUS_KM + altitude_km
    n_rad_min = math.sqrt(MU_KM3_S2 / a_km**3) * 60.0
    epoch_days = (
        epoch.timestamp() - datetime(1949, 12, 31, tzinfo=epoch.tzinfo).timestamp()
    ) / 86400.0
    sat = Satrec()
    sat.sgp4init(
        WGS72,
        "i",
        satnum,
        epoch_days,
        bstar,
        0.0,
        0.0,
        eccentricity,
        math.radians(arg_perigee_deg),
        math.radians(inclination_deg),
        math.radians(mean_anomaly_deg),
        n_rad_min,
        math.radians(raan_deg),
    )
    line1, line2 = export_tle(sat)
    # Re-read the exported lines so the geometry uses exactly what plan.json records.
    return Orbit.from_tle(line1, line2)
