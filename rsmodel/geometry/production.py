"""Data produced into the recorders, per source and grid slot (docs/recorder.md).

Slot ``k`` is ``[t_k, t_k+1)`` of the scenario's grid (``t_k = start + k * step_s``, the last
slot cut at the horizon end). A source produces ``rate_bps / 8`` bytes per second while active,
so a slot it covers in part gets the covered fraction:

- ``sunlit``: outside the geometry's eclipses (exact edges, ``geometry.eclipses``);
- ``intervals``: inside the listed intervals (overlaps merged);
- ``duty_cycle``: inside ``[offset_s + n * period_s, offset_s + n * period_s + on_s)``;
- ``box``: the sub-satellite point (WGS-84 geodetic) inside the box, judged at the midpoints
  of ``ceil(step_s / BOX_SAMPLE_S)`` equal sub-steps of the slot (and, with ``and_sunlit``,
  sunlit at the same instants); positions are propagated here, on that sub-grid, in chunks
  (the geometry keeps no positions).

A recorder's initial fill is the source ``"<node>/initial"``, all produced in slot 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import xarray as xr

from rsmodel.geometry import Geometry
from rsmodel.geometry.frames import subpoint_deg, times_from
from rsmodel.geometry.propagate import orbit_source, positions_itrs
from rsmodel.model.recorder_schema import INITIAL_SOURCE, DataSource
from rsmodel.model.scenario import Scenario
from rsmodel.model.vocabulary import PRIORITY_RANK

BOX_SAMPLE_S = (
    15.0  # longest sub-step of a slot at which box activity is judged, s (~110 km in LEO)
)
CHUNK_POSITIONS = 2**19  # node x sample positions propagated at once (12 MiB of float64)


def slot_edges_s(scenario: Scenario) -> np.ndarray:
    """Slot edges ``t_0 .. t_K`` in seconds from the horizon start, ``(K+1,)``."""
    duration_s = scenario.duration_s
    k = int(math.ceil(duration_s / scenario.step_s - 1e-9))
    return np.minimum(np.arange(k + 1) * scenario.step_s, duration_s)


def production(scenario: Scenario, geometry: Geometry) -> xr.Dataset:
    """Bytes each recorder source produces in each slot: ``produced_bytes (source, slot)``
    (:func:`source_production` with the geometry's eclipses)."""
    return source_production(scenario, geometry.eclipses)


def source_production(scenario: Scenario, eclipses: pd.DataFrame) -> xr.Dataset:
    """Bytes each recorder source produces in each slot: ``produced_bytes (source, slot)``;
    ``eclipses``: a table with ``node``, ``start``, ``end`` (aware UTC), as ``Geometry.eclipses``.

    Coordinates: ``source`` (ids ``"<node>/<source>"``, plus ``"<node>/initial"`` for a
    non-zero initial fill), ``slot`` (0..K-1) with ``slot_start`` (datetime64, UTC) and
    ``slot_s`` (length, s); per source ``node``, ``name``, ``rank`` (0 = critical .. 3 = low),
    ``priority``, ``data_type`` ("" when none), ``on_full``, ``rate_bps``."""
    edges = slot_edges_s(scenario)
    dt = np.diff(edges)
    sources = [s for n in scenario.nodes if n.recorder for s in n.recorder.sources]
    fraction = np.zeros((len(sources), len(dt)))
    shadows = _eclipses_s(eclipses, scenario)
    for i, src in enumerate(sources):
        if src.kind == "sunlit":
            fraction[i] = 1.0 - _covered_s(shadows.get(src.node, _NONE), edges) / dt
        elif src.kind == "intervals":
            spans = np.array(
                [
                    [(a - scenario.start).total_seconds(), (b - scenario.start).total_seconds()]
                    for a, b in src.intervals
                ]
            )
            fraction[i] = _covered_s(_merged(spans), edges) / dt
        elif src.kind == "duty_cycle":
            on_s = np.diff(_duty_on_s(src, edges))
            fraction[i] = np.where(on_s > 1e-9, on_s, 0.0) / dt  # no rounding residue
    boxed = [i for i, s in enumerate(sources) if s.kind == "box"]
    if boxed:
        fraction[boxed] = _box_fraction(scenario, [sources[i] for i in boxed], edges, shadows)
    rate = np.array([s.rate_bps for s in sources], dtype=float)
    produced = rate[:, None] / 8.0 * np.clip(fraction, 0.0, 1.0) * dt[None, :]
    rows, initial = _rows(scenario, sources)
    out = np.zeros((len(rows), len(dt)))
    out[: len(sources)] = produced
    for j, fill in initial:
        out[j, 0] = fill
    return _dataset(scenario, rows, out, edges)


_NONE = np.empty((0, 2))


def _eclipses_s(eclipses: pd.DataFrame, scenario: Scenario) -> dict[str, np.ndarray]:
    """Eclipse intervals per node, ``[n, 2]`` seconds from the horizon start, sorted."""
    if eclipses.empty:
        return {}
    origin = pd.Timestamp(scenario.start)
    a = (eclipses["start"] - origin).dt.total_seconds().to_numpy()
    b = (eclipses["end"] - origin).dt.total_seconds().to_numpy()
    out = {}
    for node, rows in pd.Series(np.arange(len(a))).groupby(eclipses["node"].to_numpy()):
        idx = rows.to_numpy()
        out[str(node)] = _merged(np.column_stack([a[idx], b[idx]]))
    return out


def _merged(spans: np.ndarray) -> np.ndarray:
    """Union of intervals ``[n, 2]`` as sorted disjoint intervals."""
    if len(spans) == 0:
        return _NONE
    spans = spans[np.argsort(spans[:, 0])]
    out = [list(spans[0])]
    for a, b in spans[1:]:
        if a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return np.array(out, dtype=float)


def _covered_s(spans: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Seconds of each slot ``[edges[k], edges[k+1])`` inside the disjoint ``spans``, ``(K,)``."""
    if len(spans) == 0:
        return np.zeros(len(edges) - 1)
    out = np.zeros(len(edges) - 1)
    for a, b in spans:
        out += np.clip(np.minimum(b, edges[1:]) - np.maximum(a, edges[:-1]), 0.0, None)
    return out


def _duty_on_s(src: DataSource, t_s: np.ndarray) -> np.ndarray:
    """Cumulative on-time of a duty cycle at times ``t_s`` (any common origin), s."""
    assert src.duty_cycle is not None
    on, period = src.duty_cycle.on_s, src.duty_cycle.period_s
    shifted = t_s - src.duty_cycle.offset_s
    n = np.floor(shifted / period)
    return n * on + np.minimum(shifted - n * period, on)


def _inside(spans: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Whether each time lies in one of the sorted disjoint ``spans`` ``[a, b)``."""
    if len(spans) == 0:
        return np.zeros(t_s.shape, dtype=bool)
    i = np.searchsorted(spans[:, 0], t_s, side="right") - 1
    return (i >= 0) & (t_s < spans[np.maximum(i, 0), 1])


def _box_fraction(
    scenario: Scenario,
    sources: list[DataSource],
    edges: np.ndarray,
    eclipses: dict[str, np.ndarray],
) -> np.ndarray:
    """Share of sub-step midpoints of each slot at which each box source is active, ``(S, K)``."""
    nodes = list(dict.fromkeys(s.node for s in sources))
    row = {name: r for r, name in enumerate(nodes)}
    orbits = [orbit_source(scenario.node(name)) for name in nodes]
    n_sub = max(1, math.ceil(scenario.step_s / BOX_SAMPLE_S - 1e-9))
    dt = np.diff(edges)
    k_slots = len(dt)
    out = np.zeros((len(sources), k_slots))
    chunk = max(1, CHUNK_POSITIONS // (len(nodes) * n_sub))
    for k0 in range(0, k_slots, chunk):
        k1 = min(k_slots, k0 + chunk)
        t_s = (edges[k0:k1, None] + (np.arange(n_sub) + 0.5) / n_sub * dt[k0:k1, None]).ravel()
        lat, lon = subpoint_deg(positions_itrs(orbits, times_from(scenario.start, t_s)))
        for i, src in enumerate(sources):
            assert src.box is not None
            box = src.box
            la, lo = lat[row[src.node]], lon[row[src.node]]
            east = np.mod(lo - box.lon_min_deg, 360.0)
            active = (la >= box.lat_min_deg) & (la <= box.lat_max_deg)
            active &= east <= box.lon_max_deg - box.lon_min_deg
            if box.and_sunlit:
                active &= ~_inside(eclipses.get(src.node, _NONE), t_s)
            out[i, k0:k1] = active.reshape(k1 - k0, n_sub).mean(axis=1)
    return out


def _rows(
    scenario: Scenario, sources: list[DataSource]
) -> tuple[list[dict[str, object]], list[tuple[int, float]]]:
    """Coordinate rows of the sources, then one per non-zero initial fill (with its row index
    and bytes)."""
    rows: list[dict[str, object]] = [
        {
            "source": s.id,
            "node": s.node,
            "name": s.name,
            "priority": s.priority,
            "data_type": s.data_type or "",
            "on_full": s.on_full,
            "rate_bps": s.rate_bps,
        }
        for s in sources
    ]
    initial = []
    for node in scenario.nodes:
        rec = node.recorder
        if rec is not None and rec.initial_fill_bytes > 0:
            initial.append((len(rows), rec.initial_fill_bytes))
            rows.append(
                {
                    "source": f"{node.name}/{INITIAL_SOURCE}",
                    "node": node.name,
                    "name": INITIAL_SOURCE,
                    "priority": rec.initial_priority,
                    "data_type": "",
                    "on_full": "drop_new",
                    "rate_bps": 0.0,
                }
            )
    return rows, initial


def _dataset(
    scenario: Scenario, rows: list[dict[str, object]], produced: np.ndarray, edges: np.ndarray
) -> xr.Dataset:
    start = pd.Timestamp(scenario.start).tz_convert(None)
    coords: dict[str, object] = {
        "source": [r["source"] for r in rows],
        "slot": np.arange(len(edges) - 1),
        "slot_start": (
            "slot",
            (start + pd.to_timedelta(edges[:-1], unit="s")).values.astype("datetime64[ns]"),
        ),
        "slot_s": ("slot", np.diff(edges)),
    }
    for key in ("node", "name", "priority", "data_type", "on_full"):
        coords[key] = ("source", np.array([str(r[key]) for r in rows], dtype=object))
    coords["rank"] = ("source", np.array([PRIORITY_RANK[str(r["priority"])] for r in rows]))
    coords["rate_bps"] = ("source", np.array([float(r["rate_bps"]) for r in rows]))  # type: ignore[arg-type]
    ds = xr.Dataset(
        {"produced_bytes": (("source", "slot"), produced)},
        coords=coords,
        attrs={"start": scenario.start.isoformat(), "step_s": float(scenario.step_s)},
    )
    ds["produced_bytes"].attrs.update(units="byte", long_name="bytes produced in the slot")
    ds["slot_s"].attrs.update(units="s", long_name="slot length")
    ds["rate_bps"].attrs.update(units="bit/s", long_name="production rate while active")
    ds["rank"].attrs.update(long_name="priority class, 0 = critical .. 3 = low")
    return ds
