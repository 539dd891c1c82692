"""Write a CCSDS OEM (KVN and XML) sampled from a TLE with SGP4, as a flight-dynamics team would
deliver it: EME2000 (default), GCRF, TEME or ITRF states, UTC epochs, Lagrange interpolation.

The shipped example (data/oem/): ``python tools/oem_from_tle.py`` writes NOAA 20 (NORAD 43013,
data/leo_snapshot.tle) from 2026-05-29T23:00Z for 26 h at 60 s in EME2000 to
data/oem/noaa20.oem (KVN) and data/oem/noaa20.xml.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.time import Time
from oem import OrbitEphemerisMessage
from oem.components import EphemerisSegment, HeaderSection, MetaDataSection
from skyfield.framelib import ICRS_to_J2000
from skyfield.sgp4lib import TEME

from rsmodel.geometry.frames import propagate_teme, teme_to_itrs_state, times_from
from rsmodel.model.catalogs import find_tle, read_tle_file
from rsmodel.model.orbits import Orbit

ROOT = Path(__file__).resolve().parents[1]


def states(
    orbit: Orbit, start: datetime, hours: float, step_s: float, frame: str
) -> tuple[list[datetime], np.ndarray, np.ndarray]:
    """UTC epochs and SGP4 positions (km) / velocities (km/s) in ``frame``."""
    offsets = np.arange(0.0, hours * 3600.0 + 1e-9, step_s)
    t = times_from(start, offsets)
    r, v = (x[0] for x in propagate_teme([orbit.satrec], t))
    if frame == "ITRF":
        r, v = teme_to_itrs_state(r, v, t)
    elif frame != "TEME":
        to_gcrs = np.transpose(TEME.rotation_at(t), (2, 1, 0))  # [n, 3, 3]: TEME -> GCRS
        if frame == "EME2000":
            to_gcrs = np.einsum("ij,njk->nik", ICRS_to_J2000, to_gcrs)
        r, v = np.einsum("nij,nj->ni", to_gcrs, r), np.einsum("nij,nj->ni", to_gcrs, v)
    epochs = [start + timedelta(seconds=float(s)) for s in offsets]
    return epochs, r, v


def write_oem(
    path: Path,
    name: str,
    object_id: str,
    epochs: list[datetime],
    r: np.ndarray,
    v: np.ndarray,
    frame: str,
    degree: int,
    file_format: str,
) -> None:
    """One-segment OEM v2.0 with UTC epochs and Lagrange interpolation of ``degree``."""
    iso = [e.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] for e in epochs]
    meta = MetaDataSection(
        {
            "OBJECT_NAME": name,
            "OBJECT_ID": object_id,
            "CENTER_NAME": "EARTH",
            "REF_FRAME": frame,
            "TIME_SYSTEM": "UTC",
            "START_TIME": iso[0],
            "STOP_TIME": iso[-1],
            "INTERPOLATION": "LAGRANGE",
            "INTERPOLATION_DEGREE": str(degree),
        }
    )
    times = list(Time(iso, format="isot", scale="utc", precision=3))
    segment = EphemerisSegment(meta, (times, *r.T.tolist(), *v.T.tolist()))
    header = HeaderSection(
        {"CCSDS_OEM_VERS": "2.0", "CREATION_DATE": iso[0], "ORIGINATOR": "rsmodel"}
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    OrbitEphemerisMessage(header, [segment]).save_as(path, file_format=file_format)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tle", type=Path, default=ROOT / "data" / "leo_snapshot.tle")
    p.add_argument("--norad", type=int, default=43013)
    p.add_argument("--start", default="2026-05-29T23:00:00Z")
    p.add_argument("--hours", type=float, default=26.0)
    p.add_argument("--step-s", type=float, default=60.0)
    p.add_argument("--frame", default="EME2000", choices=["EME2000", "GCRF", "TEME", "ITRF"])
    p.add_argument("--degree", type=int, default=7)
    p.add_argument("--out", type=Path, default=ROOT / "data" / "oem" / "noaa20")
    args = p.parse_args()
    rec = find_tle(read_tle_file(args.tle), norad=args.norad, name=None)
    assert rec is not None, f"NORAD {args.norad} not in {args.tle}"
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")).astimezone(UTC)
    epochs, r, v = states(
        Orbit.from_tle(rec.line1, rec.line2), start, args.hours, args.step_s, args.frame
    )
    for suffix, fmt in ((".oem", "kvn"), (".xml", "xml")):
        out = args.out.with_suffix(suffix)
        write_oem(out, rec.name, str(args.norad), epochs, r, v, args.frame, args.degree, fmt)
        print(out)


if __name__ == "__main__":
    main()
