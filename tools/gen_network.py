"""Write an antenna-network week: real antennas, real satellites grouped in missions, and
antenna-time requests (``tracks:``, rsmodel/model/track_schema.py) for them (default models/network_week.yaml).

Seeded and deterministic: ``python tools/gen_network.py`` rewrites the shipped model (its view
periods are computed here with rsmodel's geometry to pick each request's antennas;
``--view-periods`` also writes them next to the model and imports them, so planning it needs no
visibility search). Smaller networks: ``--missions 6 --hours 24``.

Request kinds (ids ``<kind>-<mission or node>``): ``ttc`` an 8-minute TT&C contact of each
satellite once or twice a day (``repeat``); ``orb`` a contact every orbit for two days (a
polar weather satellite); ``trk`` a long tracking request of a mission in ``split`` segments
inside view periods, in a release/due window of 2-4 days on its two best home stations (at most
80 % of their view time there: each fits alone, together they contend); ``arr`` a daily arrayed track on two antennas of one DSN
complex; ``toolong`` an unsplittable contact longer than any LEO pass: infeasible on purpose
(its report reason is the point).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from rsmodel.geometry import compute_geometry
from rsmodel.io import write_text
from rsmodel.model.loader import load_model_dict
from rsmodel.timeutil import iso

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "models" / "network_week.yaml"
START = datetime(2026, 5, 31, tzinfo=UTC)  # TLE epochs 2026-05-29 .. 30 (data/SOURCES.md)
SEED = 17
DATA = ROOT / "data"
RESOURCE = DATA / "celestrak_resource_2026-05-30T2250Z.tle"
WEATHER = DATA / "leo_snapshot.tle"
CREWED = DATA / "celestrak_stations_2026-05-30T2250Z.tle"
# station name -> (catalog id in data/, antennas, network). DSN: two 34 m beam-waveguide
# antennas per complex, each its own station so that arrays can name them; the rest are
# single sites (SvalSat with two antennas).
STATIONS: dict[str, tuple[str, int, str]] = {
    "dss-24": ("nasa_dsn_goldstone", 1, "DSN Goldstone"),
    "dss-26": ("nasa_dsn_goldstone", 1, "DSN Goldstone"),
    "dss-34": ("nasa_dsn_canberra", 1, "DSN Canberra"),
    "dss-35": ("nasa_dsn_canberra", 1, "DSN Canberra"),
    "dss-54": ("nasa_dsn_madrid", 1, "DSN Madrid"),
    "dss-55": ("nasa_dsn_madrid", 1, "DSN Madrid"),
    "svalsat": ("svalsat", 2, "KSAT"),
    "trollsat": ("trollsat", 1, "KSAT"),
    "kiruna": ("kiruna_esa", 1, "ESTRACK"),
    "kourou": ("kourou", 1, "ESTRACK"),
    "wallops": ("wallops", 1, "NASA NEN"),
    "fairbanks": ("fairbanks_asf", 1, "NASA NEN"),
    "mcmurdo": ("mcmurdo", 1, "NASA NEN"),
}
ARRAYS = [["dss-24", "dss-26"], ["dss-34", "dss-35"], ["dss-54", "dss-55"]]
# The ground networks a mission books its TT&C and tracking on (the DSN takes arrays and, for
# tracking, any single antenna): NASA/NOAA missions the NEN (with KSAT's SvalSat), ESA/EU
# missions ESTRACK (with SvalSat and TrollSat), the rest KSAT and SSC-style commercial sites.
HOME = {
    "nasa": ("wallops", "fairbanks", "mcmurdo", "svalsat"),
    "esa": ("kiruna", "kourou", "svalsat", "trollsat"),
    "ksat": ("svalsat", "trollsat", "kiruna", "fairbanks"),
}
# mission -> (home network, TLE file, satellite names as in the file); the first entries are
# the most demanding (crewed, weather), so ``--missions N`` keeps a representative mix.
MISSIONS: dict[str, tuple[str, Path, tuple[str, ...]]] = {
    "iss": ("nasa", CREWED, ("ISS (ZARYA)",)),
    "jpss": ("nasa", WEATHER, ("NOAA 20 (JPSS-1)", "NOAA 21 (JPSS-2)")),
    "metop": ("ksat", WEATHER, ("METOP-B", "METOP-C")),
    "landsat": ("nasa", RESOURCE, ("LANDSAT 8", "LANDSAT 9")),
    "sentinel-2": ("esa", RESOURCE, ("SENTINEL-2B", "SENTINEL-2C")),
    "swot": ("nasa", RESOURCE, ("SWOT",)),
    "icesat-2": ("nasa", RESOURCE, ("ICESAT-2",)),
    "sentinel-1": ("esa", RESOURCE, ("SENTINEL-1A",)),
    "terra": ("nasa", RESOURCE, ("TERRA",)),
    "aqua": ("nasa", RESOURCE, ("AQUA",)),
    "aura": ("nasa", RESOURCE, ("AURA",)),
    "gpm": ("nasa", RESOURCE, ("GPM-CORE",)),
    "smap": ("nasa", RESOURCE, ("SMAP",)),
    "sentinel-3": ("esa", RESOURCE, ("SENTINEL-3A", "SENTINEL-3B")),
    "sentinel-6": ("esa", RESOURCE, ("SENTINEL-6A",)),
    "sentinel-5p": ("esa", RESOURCE, ("SENTINEL-5P",)),
    "jason-3": ("nasa", RESOURCE, ("JASON-3",)),
    "biomass": ("esa", RESOURCE, ("BIOMASS",)),
    "tandem-x": ("ksat", RESOURCE, ("TERRASAR-X", "TANDEM-X")),
    "radarsat-2": ("ksat", RESOURCE, ("RADARSAT-2",)),
    "cosmo-sg": ("ksat", RESOURCE, ("CSG-1", "CSG-2")),
    "pleiades": ("ksat", RESOURCE, ("PLEIADES 1A",)),
    "spot": ("ksat", RESOURCE, ("SPOT 6", "SPOT 7")),
    "alos": ("ksat", RESOURCE, ("ALOS-2",)),
    "smos": ("esa", RESOURCE, ("SMOS",)),
    "microcarb": ("ksat", RESOURCE, ("MICROCARB",)),
    "cbers-4": ("ksat", RESOURCE, ("CBERS 4",)),
    "suomi-npp": ("nasa", WEATHER, ("SUOMI NPP",)),
    "dmsp": ("nasa", WEATHER, ("DMSP 5D-3 F17 (USA 191)",)),
    "cygnss": ("nasa", WEATHER, ("CYGFM01", "CYGFM02")),
}
OPERATIONAL = {"iss", "jpss", "metop", "suomi-npp", "dmsp"}  # critical TT&C, twice a day
ORBIT_NODE = "noaa-21"  # contacts every orbit for two days (polar: seen every orbit)
ARRAYED = ("swot", "icesat-2", "gpm", "smap")  # daily arrayed tracks at a DSN complex
TOOLONG = ("biomass",)  # one 30-minute unsplittable contact: longer than any pass
TTC_S, TTC_MIN_S, TTC_SETUP_S, TTC_TEARDOWN_S = 480.0, 240.0, 300.0, 120.0
ARRAY_S, ARRAY_MIN_S, ARRAY_SETUP_S, ARRAY_TEARDOWN_S = 480.0, 300.0, 900.0, 300.0
SEGMENT_S = 240.0  # shortest segment of a split tracking request
TOOLONG_S = 1800.0


@dataclass(frozen=True)
class Spec:
    """What to generate: horizon (h), the first ``missions`` of MISSIONS, solver time limit (s)."""

    hours: float = 168.0
    missions: int = len(MISSIONS)
    time_limit_s: float = 540.0
    seed: int = SEED
    view_periods: bool = False  # also write the view periods file and point the model at it

    @property
    def mission_names(self) -> list[str]:
        return list(MISSIONS)[: self.missions]


def node_name(satellite: str) -> str:
    """Model node name of a satellite: lower case, the part before any parenthesis, dashes."""
    base = satellite.split("(")[0].strip().lower()
    return "-".join(base.replace("/", " ").split())


def nodes(spec: Spec) -> list[tuple[str, str, Path, str]]:
    """(node, mission, TLE file, satellite) of every satellite of the chosen missions."""
    return [
        (node_name(sat), mission, MISSIONS[mission][1], sat)
        for mission in spec.mission_names
        for sat in MISSIONS[mission][2]
    ]


def base_model(spec: Spec, out: Path) -> dict:
    """The model without requests: horizon, stations, nodes, solver."""
    rel = os.path.relpath
    return {
        "name": out.stem,
        "horizon": {"start": iso(START), "hours": spec.hours, "step_s": 60},
        "ground_stations": [
            {"name": name, "station": site, "bandwidth_bps": 1.5e8, "antennas": antennas}
            for name, (site, antennas, _) in STATIONS.items()
        ],
        "nodes": [
            {"name": node, "tle": {"file": rel(tle, out.parent), "satellite": sat}}
            for node, _, tle, sat in nodes(spec)
        ],
        "solver": {"method": "milp", "time_limit_s": spec.time_limit_s},
    }


def view_periods(spec: Spec, out: Path) -> pd.DataFrame:
    """Every (node, station) view period of the horizon from rsmodel's geometry (elevation
    above each station's mask): node, station, start, end, max_elevation_deg."""
    scenario = load_model_dict(base_model(spec, out), base_dir=out.parent)
    w = compute_geometry(scenario, dense=False).windows
    return w[["node", "station", "start", "end", "max_elevation_deg"]].reset_index(drop=True)


def best_stations(periods: pd.DataFrame, node: str, pool: list[str], n: int) -> list[str]:
    """The ``n`` stations of ``pool`` that see ``node`` longest (ties by name)."""
    mine = periods[(periods["node"] == node) & periods["station"].isin(pool)]
    seconds = (mine["end"] - mine["start"]).dt.total_seconds().groupby(mine["station"]).sum()
    return sorted(seconds.index, key=lambda s: (-seconds[s], s))[:n]


def view_s(periods: pd.DataFrame, node: str, stations: list[str], window_h: tuple) -> float:
    """Time (s) in which one of ``stations`` sees ``node`` for >= SEGMENT_S inside the window
    (h from the start)."""
    a, b = (pd.Timestamp(START) + pd.Timedelta(hours=h) for h in window_h)
    mine = periods[(periods["node"] == node) & periods["station"].isin(stations)]
    spans = sorted(zip(mine["start"].clip(lower=a), mine["end"].clip(upper=b), strict=True))
    total, reach = 0.0, a
    for s, e in spans:
        if (e - s).total_seconds() >= SEGMENT_S and e > reach:
            total += (e - max(s, reach)).total_seconds()
            reach = e
    return total


def best_array(periods: pd.DataFrame, node: str) -> list[str]:
    """The DSN pair (an array) that sees ``node`` longest."""
    seen = best_stations(periods, node, [a[0] for a in ARRAYS], len(ARRAYS))
    return next(a for a in ARRAYS if a[0] == seen[0])


def requests(spec: Spec, periods: pd.DataFrame) -> list[dict]:
    """The ``tracks:`` entries (dicts in the schema's field order)."""
    rng = np.random.default_rng(spec.seed)
    dsn = [s for s in STATIONS if s.startswith("dss-")]
    horizon_h = spec.hours
    out: list[dict] = []
    members: dict[str, list[str]] = {}
    for node, mission, _, _ in nodes(spec):
        members.setdefault(mission, []).append(node)
    for mission, names in members.items():
        operational = mission in OPERATIONAL
        home = list(HOME[MISSIONS[mission][0]])
        for node in names:
            if node == ORBIT_NODE:
                out.append(
                    {
                        "id": f"orb-{node}",
                        "node": node,
                        "mission": mission,
                        "priority": "critical",
                        "duration_s": 360,
                        "min_duration_s": 240,
                        "alternatives": best_stations(periods, node, list(STATIONS), 6),
                        "setup_s": 120,
                        "teardown_s": 60,
                        "due": f"+{min(48.0, horizon_h):g}h",
                        "repeat": {"every": "orbit", "count": 1},
                    }
                )
            out.append(
                {
                    "id": f"ttc-{node}",
                    "node": node,
                    "mission": mission,
                    "priority": "critical" if operational else "high",
                    "duration_s": TTC_S,
                    "min_duration_s": TTC_MIN_S,
                    "alternatives": best_stations(periods, node, home, 3),
                    "setup_s": TTC_SETUP_S,
                    "teardown_s": TTC_TEARDOWN_S,
                    "repeat": {"every": "day", "count": 2 if operational else 1},
                }
            )
        lead = names[0]
        if mission in ARRAYED:
            out.append(
                {
                    "id": f"arr-{mission}",
                    "node": lead,
                    "mission": mission,
                    "priority": "high",
                    "duration_s": ARRAY_S,
                    "min_duration_s": ARRAY_MIN_S,
                    "alternatives": [{"array": best_array(periods, lead)}],
                    "setup_s": ARRAY_SETUP_S,
                    "teardown_s": ARRAY_TEARDOWN_S,
                    "repeat": {"every": "day", "count": 1},
                }
            )
        if mission in TOOLONG:
            out.append(
                {
                    "id": f"toolong-{mission}",
                    "node": lead,
                    "mission": mission,
                    "priority": "normal",
                    "duration_s": TOOLONG_S,
                    "alternatives": best_stations(periods, lead, home + dsn, 4),
                }
            )
        # a long tracking request of each mission: 4-10 h in segments of >= 4 min somewhere
        # in a window of 2-4 days on its two best home stations (they contend at the poles)
        hours = float(rng.uniform(4.0, 10.0))
        span_h = min(float(rng.uniform(48.0, 96.0)), horizon_h)
        release_h = float(rng.uniform(0.0, horizon_h - span_h))
        stations = best_stations(periods, lead, home, 2)
        window = (round(release_h), round(release_h + span_h))
        # each request alone fits: at most 80 % of the view time it is offered
        duration_s = min(hours * 3600.0, 0.8 * view_s(periods, lead, stations, window))
        out.append(
            {
                "id": f"trk-{mission}",
                "node": lead,
                "mission": mission,
                "priority": str(rng.choice(["normal", "normal", "low"])),
                "duration_s": round(duration_s / 60.0) * 60,
                "min_duration_s": SEGMENT_S * 2,
                "alternatives": stations,
                "setup_s": 300,
                "teardown_s": 120,
                "release": f"+{window[0]}h",
                "due": f"+{window[1]}h",
                "split": {"above_s": 900, "min_segment_s": SEGMENT_S},
            }
        )
    return out


def flow(value: object) -> str:
    """A YAML flow rendering of a request field (dicts, lists, strings, numbers)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and value.startswith("+"):
        return f'"{value}"'
    return str(value)


def header(spec: Spec, n_requests: int, n_periods: int) -> str:
    """Comment block at the top of the generated file."""
    networks = sorted({net for _, _, net in STATIONS.values()})
    text = (
        f"Antenna-network week (generated by tools/gen_network.py, seed {spec.seed}; do not edit"
        f" by hand). Stations: {len(STATIONS)} ({sum(a for _, a, _ in STATIONS.values())}"
        f" antennas) of {', '.join(networks)} at"
        " catalog sites in data/ (DSN complexes from commercial_groundstations_brahe.csv: two"
        " 34 m antennas each, separate stations so arrays can name them; SvalSat with 2"
        " antennas). Nodes: real satellites from the shipped CelesTrak snapshots (all LEO: the"
        f" data holds no MEO/GEO element sets), {spec.missions} missions. {n_requests} `tracks:`"
        " entries: daily TT&C contacts (twice a day, critical, for the operational missions),"
        " contacts every orbit for two days (NOAA 21), long split tracking requests with"
        " release/due windows, daily arrayed tracks at a DSN complex, and `toolong-*`, infeasible"
        " on purpose (longer than any pass, not splittable). Setup/teardown and durations are"
        " planning assumptions, not any network's published figures."
        f" {n_periods} view periods (elevation >= 10 deg)"
        + (", precomputed by rsmodel in the view_periods file." if spec.view_periods else ".")
    )
    return "\n".join(textwrap.wrap(text, width=99, initial_indent="# ", subsequent_indent="# "))


def periods_csv(periods: pd.DataFrame) -> str:
    """The view periods in the imported CSV format (docs/orbits.md)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["node", "station", "start", "end", "max_elevation_deg"])
    for r in periods.itertuples():
        writer.writerow([r.node, r.station, iso(r.start), iso(r.end), f"{r.max_elevation_deg:.1f}"])
    return buf.getvalue()


def model_text(spec: Spec, out: Path, periods: pd.DataFrame, tracks: list[dict]) -> str:
    """The whole model file; its view periods are the file next to it."""
    base = base_model(spec, out)
    body = [
        f"name: {base['name']}",
        f"description: {len(STATIONS)} stations, {len(base['nodes'])} satellites of"
        f" {spec.missions} missions, {len(tracks)} track requests over"
        f" {spec.hours / 24:g} days.",
        "horizon:",
        f"  start: {iso(START)}",
        f"  hours: {spec.hours:g}",
        "  step_s: 60",
        "ground_stations:",
        *(f"  - {flow(s)}" for s in base["ground_stations"]),
        "nodes:",
        *(
            f"  - {{name: {n['name']}, tle: {{file: {n['tle']['file']}, satellite:"
            f' "{n["tle"]["satellite"]}"}}}}'
            for n in base["nodes"]
        ),  # fmt: skip
        *([f"view_periods: {out.stem}_view_periods.csv"] if spec.view_periods else []),
        "tracks:",
        *(f"  - {flow(t)}" for t in tracks),
        "solver:",
        "  method: milp",
        f"  time_limit_s: {spec.time_limit_s:g}",
        "",
    ]
    return header(spec, len(tracks), len(periods)) + "\n" + "\n".join(body)


def generate(spec: Spec, out: Path) -> list[Path]:
    """Write the model ``out`` (and with ``spec.view_periods`` its view periods CSV next to
    it); the paths written."""
    out.parent.mkdir(parents=True, exist_ok=True)  # relative TLE paths resolve through it
    periods = view_periods(spec, out)
    tracks = requests(spec, periods)
    written = [write_text(out, model_text(spec, out, periods, tracks))]
    if spec.view_periods:
        written.append(
            write_text(out.with_name(f"{out.stem}_view_periods.csv"), periods_csv(periods))
        )
    return written


def parse_args(argv: list[str] | None = None) -> tuple[Spec, Path]:
    """Command-line options -> (Spec, output path)."""
    d = Spec()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=d.hours, help="horizon length (h, >= 24)")
    ap.add_argument(
        "--missions",
        type=int,
        default=d.missions,
        choices=range(1, len(MISSIONS) + 1),
        metavar=f"1..{len(MISSIONS)}",
        help="use the first N missions of MISSIONS",
    )
    ap.add_argument("--time-limit-s", type=float, default=d.time_limit_s, help="solver limit")
    ap.add_argument("--seed", type=int, default=d.seed, help="random seed of the requests")
    ap.add_argument(
        "--view-periods",
        action="store_true",
        help="also write <out>_view_periods.csv (rsmodel's geometry) and import it in the model",
    )
    ap.add_argument(
        "--out", type=Path, default=OUT, help="output model file (its stem names the model)"
    )
    a = ap.parse_args(argv)
    if a.hours < 24:
        ap.error("--hours: expected at least 24 (requests repeat daily)")
    spec = Spec(a.hours, a.missions, a.time_limit_s, a.seed, a.view_periods)
    return spec, a.out.resolve()


def main(argv: list[str] | None = None) -> None:
    spec, out = parse_args(argv)
    for path in generate(spec, out):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
