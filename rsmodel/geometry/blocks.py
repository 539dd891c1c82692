"""Geometry one time block at a time: memory bounded by the block, not the horizon.

Each block ``[t_k, t_k+1]`` is scanned on its own without the dense (node, station, time)
elevation grid, and its arrays are dropped before the next block. Block edges are samples of
the whole-horizon grid (a block is an even number of grid steps, so the interpolation knots of
:func:`rsmodel.geometry.frames.propagate_itrs_hermite` are the whole-horizon ones too).
Windows and eclipses cut at a block edge (a piece ending clipped where the same row's next
piece starts clipped) are joined again: start of the first piece, end of the last, culmination
of the piece with the highest maximum (a pass has one culmination, and the other pieces peak at
their block edge, below it). Sunlit samples are concatenated, each block edge once.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np

from rsmodel.geometry.events import Intervals
from rsmodel.geometry.link import apply_link_models
from rsmodel.geometry.outages import cut_outages
from rsmodel.geometry.samples import Samples
from rsmodel.geometry.scan import Scan, scan
from rsmodel.geometry.windows import Table, window_table
from rsmodel.model.scenario import OrbitalNode, Station
from rsmodel.progress import bar
from rsmodel.timeutil import as_utc

DEFAULT_BLOCK_S = 12 * 3600.0
EDGE_MATCH_S = 1e-6  # two pieces meet at a block edge if their clipped ends are this close


def block_edges_s(duration_s: float, step_s: float, block_s: float) -> np.ndarray:
    """Block edges, s from the horizon start: every ``block_s`` rounded down to an even number of
    grid steps (at least two), then the horizon end."""
    steps = max(2, 2 * math.floor(block_s / (2 * step_s) + 1e-9))
    inner = np.arange(0.0, duration_s - EDGE_MATCH_S, steps * step_s)
    return np.append(inner, duration_s)


def scan_by_block(
    nodes: list[OrbitalNode],
    stations: list[Station],
    start: datetime,
    end: datetime,
    step_s: float,
    block_s: float = DEFAULT_BLOCK_S,
    skip_pairs: np.ndarray | None = None,
) -> Scan:
    """The whole-horizon :class:`Scan` (without elevation grid), computed one block at a time
    (``skip_pairs`` as in :func:`~rsmodel.geometry.scan.scan`)."""
    start, end = as_utc(start), as_utc(end)
    duration_s = (end - start).total_seconds()
    edges = block_edges_s(duration_s, step_s, block_s)
    contacts, shadows, sunlit, grid_t_s, samples = [], [], [], [], []
    with bar(len(nodes) * (len(edges) - 1), desc="geometry") as progress:
        for i, (b0, b1) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
            t0, t1 = start + timedelta(seconds=float(b0)), start + timedelta(seconds=float(b1))
            part = scan(
                nodes,
                stations,
                t0,
                t1,
                step_s,
                dense=False,
                skip_pairs=skip_pairs,
                on_nodes_done=progress.update,
            )
            last = i == len(edges) - 2
            keep = slice(None) if last else slice(0, -1)  # the next block starts with this edge
            contacts.append(_shifted(part.contacts, b0))
            shadows.append(_shifted(part.shadows, b0))
            sunlit.append(part.sunlit[:, keep])
            grid_t_s.append(part.t_s[keep] + b0)
            if part.samples is not None:
                samples.append(part.samples.shifted(0, b0))
    return Scan(
        np.concatenate(grid_t_s),
        join_at_block_edges(Intervals.concat(contacts), duration_s),
        join_at_block_edges(Intervals.concat(shadows), duration_s),
        np.concatenate(sunlit, axis=1),
        None,
        samples=Samples.concat(samples, samples[0].step_s) if samples else None,
    )


def windows_by_block(
    nodes: list[OrbitalNode],
    stations: list[Station],
    start: datetime,
    end: datetime,
    step_s: float,
    block_s: float = DEFAULT_BLOCK_S,
) -> Table:
    """The geometry contract's windows table, computed one time block at a time."""
    found = scan_by_block(nodes, stations, start, end, step_s, block_s)
    start = as_utc(start)
    windows = window_table(found.contacts, [n.name for n in nodes], stations, start)
    return apply_link_models(
        cut_outages(windows, nodes, stations), nodes, stations, start, step_s, found.samples
    )


def _shifted(found: Intervals, offset_s: float) -> Intervals:
    """``found`` with ``offset_s`` added to every time."""
    peak_s = None if found.peak_s is None else found.peak_s + offset_s
    return replace(
        found, start_s=found.start_s + offset_s, end_s=found.end_s + offset_s, peak_s=peak_s
    )


def join_at_block_edges(found: Intervals, duration_s: float) -> Intervals:
    """One interval per chain of pieces of a row that meet at block edges (times in s from the
    horizon start, ``duration_s`` its end); peaks from the piece with the highest peak value."""
    order = np.lexsort((found.start_s, found.row))
    row, start_s, end_s = found.row[order], found.start_s[order], found.end_s[order]
    start_clipped, end_clipped = found.start_clipped[order], found.end_clipped[order]
    meets = (
        (row[1:] == row[:-1])
        & end_clipped[:-1]
        & start_clipped[1:]
        & (np.abs(start_s[1:] - end_s[:-1]) < EDGE_MATCH_S)
    )
    first = np.r_[True, ~meets][: len(row)]  # this piece starts an interval
    heads = np.flatnonzero(first)
    tails = np.r_[heads[1:] - 1, len(row) - 1][: len(heads)]
    joined = Intervals(
        row[heads],
        start_s[heads],
        end_s[tails],
        start_clipped[heads] & (start_s[heads] <= EDGE_MATCH_S),
        end_clipped[tails] & (end_s[tails] >= duration_s - EDGE_MATCH_S),
    )
    if found.peak_s is not None:
        group = np.cumsum(first) - 1
        peak_value = found.peak_value[order]
        best = np.lexsort((-peak_value, group))  # by interval, highest peak first
        best = best[np.r_[True, group[best][1:] != group[best][:-1]][: len(best)]]
        joined.peak_s, joined.peak_value = found.peak_s[order][best], peak_value[best]
    return joined
