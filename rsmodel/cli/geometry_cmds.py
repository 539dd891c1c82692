"""``rsmodel windows`` (contact windows, seed 000 ``get_windows``) and ``rsmodel grid`` (NetCDF)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from typing import Any

FIELDS = [
    "id",
    "orbital_node",
    "ground_station",
    "start",
    "end",
    "duration_seconds",
    "max_elevation",
    "bandwidth",
    "capacity_mb",
    "band",
    "min_rate_bps",
    "mean_rate_bps",
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "windows", help="list contact windows (node x station passes above the mask)"
    )
    p.add_argument("model", help="model file (YAML)")
    p.add_argument("--node", help="only windows of this node")
    p.add_argument("--station", help="only windows at this ground station")
    p.add_argument(
        "--hours", type=float, help="only windows starting within H hours of the horizon start"
    )
    p.add_argument(
        "--format", choices=["table", "json", "csv"], default="table", help="output format"
    )
    p.set_defaults(func=cmd_windows)
    p = sub.add_parser("grid", help="write the (node, station, time) geometry grid as NetCDF")
    p.add_argument("model", help="model file (YAML)")
    p.add_argument("-o", "--output", required=True, help="NetCDF file to write, e.g. grid.nc")
    p.set_defaults(func=cmd_grid)


def cmd_windows(args: argparse.Namespace) -> int:
    from rsmodel.geometry import compute_geometry
    from rsmodel.model.loader import load_model

    scenario = load_model(args.model)
    _check_name(args.node, [n.name for n in scenario.nodes], "--node", "node", args.model)
    _check_name(
        args.station, [s.name for s in scenario.stations], "--station", "station", args.model
    )
    if args.hours is not None and not args.hours > 0:  # also rejects nan
        _fail(f"--hours must be > 0, got {args.hours:g}", args.model)
    windows = compute_geometry(scenario).windows
    if args.node:
        windows = windows[windows["node"] == args.node]
    if args.station:
        windows = windows[windows["station"] == args.station]
    if args.hours is not None:
        offset_s = (windows["start"] - scenario.start).dt.total_seconds()
        windows = windows[offset_s < args.hours * 3600.0]  # any H, even beyond datetime's range
    rows = [_row(w) for w in windows.itertuples()]
    print(_render(rows, args.format), end="")
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    from rsmodel.errors import RsmodelError
    from rsmodel.geometry import compute_geometry
    from rsmodel.io import write_netcdf
    from rsmodel.model.loader import load_model

    grid = compute_geometry(load_model(args.model), dense=True).grid  # asked for: always dense
    try:
        write_netcdf(args.output, grid)
    except OSError as exc:
        raise RsmodelError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    sizes = " x ".join(f"{grid.sizes[d]} {d}" for d in ("node", "station", "time"))
    print(f"wrote {args.output} ({sizes})")
    return 0


def _check_name(value: str | None, names: list[str], option: str, what: str, model: str) -> None:
    if value is not None and value not in names:
        shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
        _fail(f"{option}: unknown {what} {value!r}; expected one of: {shown}", model)


def _fail(message: str, model: str) -> None:
    from rsmodel.errors import ModelError

    raise ModelError(message, file=model)


def _row(w: Any) -> dict[str, Any]:
    """One window with the seed 000 field names (bandwidth in bit/s: the peak rate, capacity in
    MB = 1e6 bytes: the rate's integral), then the band and the lowest and mean rate (bit/s)."""
    from rsmodel.timeutil import iso

    return {
        "id": w.id,
        "orbital_node": w.node,
        "ground_station": w.station,
        "start": iso(w.start.round("ms").to_pydatetime()),
        "end": iso(w.end.round("ms").to_pydatetime()),
        "duration_seconds": round(float(w.duration_s), 3),
        "max_elevation": round(float(w.max_elevation_deg), 3),
        "bandwidth": float(w.bandwidth_bps),
        "capacity_mb": round(float(w.capacity_bytes) / 1e6, 3),
        "band": w.band if isinstance(w.band, str) else None,
        "min_rate_bps": float(w.min_rate_bps),
        "mean_rate_bps": float(w.mean_rate_bps),
    }


def _render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    return _table(rows)


def _table(rows: list[dict[str, Any]]) -> str:
    header = [
        "id",
        "node",
        "station",
        "start (UTC)",
        "duration s",
        "max el deg",
        "band",
        "Mbps min/mean/max",
        "capacity MB",
    ]
    body = [
        [
            r["id"],
            r["orbital_node"],
            r["ground_station"],
            r["start"],
            f"{r['duration_seconds']:.1f}",
            f"{r['max_elevation']:.1f}",
            r["band"] or "-",
            f"{r['min_rate_bps'] / 1e6:.0f}/{r['mean_rate_bps'] / 1e6:.0f}/"
            f"{r['bandwidth'] / 1e6:.0f}",
            f"{r['capacity_mb']:.0f}",
        ]
        for r in rows
    ]
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    lines.append(f"{len(rows)} windows")
    return "\n".join(lines) + "\n"
