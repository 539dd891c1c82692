"""Pass details of a plan report: per drawn pass its band, elevation and rate over time and a
sky plot of the track over the station's effective mask (docs/links.md).

The report stays bounded on big plans: only passes that carry data are drawn, at most
:data:`PASSES_PER_STATION` per station (those carrying the most bytes).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sgp4.api import Satrec

from rsmodel.geometry.frames import elevation_deg, propagate_itrs, site_itrs, times_from
from rsmodel.geometry.masks import Masks, azimuth_deg
from rsmodel.model.scenario import Station
from rsmodel.report.svg import LineChart, Series, SkyPlot, build_line_chart, build_sky_plot
from rsmodel.report.tables import fmt_deg, fmt_mb
from rsmodel.timeutil import parse_time

PASSES_PER_STATION = 2  # passes drawn per station: those carrying the most bytes
TRACK_SAMPLES = 40  # SGP4 samples of a pass track
MASK_STEP_DEG = 5.0  # azimuth step of the drawn mask


@dataclass(frozen=True)
class PassDetail:
    title: str
    facts: str
    elevation: LineChart | None  # None: the node has no TLE in the plan (OEM, imported)
    rate: LineChart
    sky: SkyPlot


def pass_details(plan: dict[str, Any]) -> tuple[list[PassDetail], int]:
    """The drawn passes (station, then start order) and the number of passes carrying data."""
    bytes_by_window: dict[str, float] = defaultdict(float)
    for op in plan.get("operations", []):
        bytes_by_window[op["window_id"]] += float(op["bytes"])
    windows = [w for w in plan.get("windows", []) if bytes_by_window.get(w["id"], 0.0) > 0]
    by_station: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for w in windows:
        by_station[w["station"]].append(w)
    chosen = []
    for station in sorted(by_station):
        top = sorted(by_station[station], key=lambda w: -bytes_by_window[w["id"]])
        chosen += sorted(top[:PASSES_PER_STATION], key=lambda w: w["start"])
    stations = {s["name"]: s for s in plan.get("stations", [])}
    nodes = {n["name"]: n for n in plan.get("nodes", [])}
    ops = defaultdict(list)
    for op in plan.get("operations", []):
        ops[op["window_id"]].append(op)
    details = [
        _detail(w, stations[w["station"]], nodes.get(w["node"], {}), ops[w["id"]], bytes_by_window)
        for w in chosen
    ]
    return details, len(windows)


def _detail(
    window: dict[str, Any],
    station: dict[str, Any],
    node: dict[str, Any],
    ops: list[dict[str, Any]],
    bytes_by_window: dict[str, float],
) -> PassDetail:
    start, end = parse_time(window["start"]), parse_time(window["end"])
    transfers = [(parse_time(o["start"]), parse_time(o["end"]), o["sync_id"]) for o in ops]
    masks = Masks.of([_station(station)])
    az_grid = np.arange(0.0, 360.0, MASK_STEP_DEG)
    mask = list(zip(az_grid.tolist(), masks.mask_deg(0, az_grid).tolist(), strict=True))
    track: list[tuple[float, float]] = []
    elevation = None
    if node.get("tle") and all(node["tle"]):  # hand-made plans may leave the lines empty
        offsets = np.linspace(0.0, (end - start).total_seconds(), TRACK_SAMPLES)
        pos = propagate_itrs([Satrec.twoline2rv(*node["tle"])], times_from(start, offsets))
        sites = site_itrs(station["lat_deg"], station["lon_deg"], station["alt_m"])
        el = elevation_deg(pos, sites)[0, 0]
        az = azimuth_deg(pos[0] - sites.xyz_km[0], sites.up[0])
        track = list(zip(az.tolist(), el.tolist(), strict=True))
        times = [start + timedelta(seconds=float(t)) for t in offsets]
        elevation = build_line_chart(
            [Series("elevation, deg", times, el.tolist())],
            y_label="elevation, deg",
            y_range=(0.0, max(float(np.nanmax(el, initial=0.0)), 10.0)),
            hlines=[(station["elevation_min_deg"], "floor", "minimum")],
            x_range=(start, end),
            x_bands=[(a, b, f"transfer {s}") for a, b, s in transfers],
            width_px=330.0,
            height_px=150.0,
        )
    if window.get("profile_t_s"):
        rate_t = [start + timedelta(seconds=t) for t in window["profile_t_s"]]
        rate_y = [r / 1e6 for r in window["profile_rate_bps"]]
    else:  # constant rate
        rate_t, rate_y = [start, end], [window["bandwidth_bps"] / 1e6] * 2
    rate = build_line_chart(
        [Series("rate, Mbit/s", rate_t, rate_y, cls="s1")],
        y_label="rate, Mbit/s",
        y_range=(0.0, max(rate_y) * 1.05 or 1.0),
        x_range=(start, end),
        x_bands=[(a, b, f"transfer {s}") for a, b, s in transfers],
        width_px=330.0,
        height_px=150.0,
    )
    band = f"{window['band']}-band, " if window.get("band") else ""
    facts = (
        f"{band}max elevation {fmt_deg(window.get('max_elevation_deg'))}, "
        f"{fmt_mb(bytes_by_window[window['id']])} in {len(ops)} transfer(s), "
        f"rate {window.get('min_rate_bps', window['bandwidth_bps']) / 1e6:,.1f}–"
        f"{window.get('max_rate_bps', window['bandwidth_bps']) / 1e6:,.1f} Mbit/s"
    )
    return PassDetail(
        title=f"{window['node']} at {window['station']}, {start:%H:%M:%S}–{end:%H:%M:%S}Z",
        facts=facts,
        elevation=elevation,
        rate=rate,
        sky=build_sky_plot(track, mask),
    )


def _station(entry: dict[str, Any]) -> Station:
    """The plan's station entry as the model's Station (for its effective mask)."""
    mask = entry.get("terrain_mask")
    return Station(
        name=entry["name"],
        lat_deg=entry["lat_deg"],
        lon_deg=entry["lon_deg"],
        alt_m=entry["alt_m"],
        bandwidth_bps=entry["bandwidth_bps"],
        elevation_min_deg=entry["elevation_min_deg"],
        terrain_mask=None if not mask else tuple((float(a), float(e)) for a, e in mask),
    )
