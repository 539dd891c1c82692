"""Intervals where a smooth function of time is >= 0, found on a grid and refined.

Shared by contact windows (elevation minus mask) and eclipses (depth in the Earth's shadow).
Rows are independent series (satellite x station pairs, or satellites). ``evaluate(rows, t_s)``
returns the function for ``rows[i]`` at ``t_s[i]`` (seconds from the grid origin), so all
refinement is vectorised over every event at once.

Edges are sign changes between grid samples refined by the Illinois (modified regula-falsi)
method. A pass shorter than the grid step can fall between two samples; it shows up as a grid
local maximum just below zero, so those maxima are refined too and kept when the true maximum
reaches zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np

Evaluate = Callable[[np.ndarray, np.ndarray], np.ndarray]

DERIVATIVE_STEP_S = 0.05


@dataclass
class Intervals:
    """Intervals found per row; times in seconds from the grid origin."""

    row: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    start_clipped: np.ndarray
    end_clipped: np.ndarray
    peak_s: np.ndarray | None = None
    peak_value: np.ndarray | None = None

    @classmethod
    def concat(cls, parts: list[Intervals]) -> Intervals:
        """All intervals of ``parts`` (peaks kept only if every part has them)."""

        def joined(name: str) -> np.ndarray | None:
            values = [getattr(p, name) for p in parts]
            return None if any(v is None for v in values) else np.concatenate(values)

        return cls(**{f.name: joined(f.name) for f in fields(cls)})

    def with_row_offset(self, offset: int) -> Intervals:
        """The same intervals with ``offset`` added to every row index."""
        return replace(self, row=self.row + offset)


def illinois_roots(
    evaluate: Evaluate,
    rows: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    fa: np.ndarray,
    fb: np.ndarray,
    *,
    tol_s: float = 1e-3,
    max_iter: int = 60,
) -> np.ndarray:
    """Roots of ``evaluate(rows, t)`` in brackets ``[a, b]`` with ``fa`` and ``fb`` of opposite sign."""
    a, b, fa, fb = (np.array(x, dtype=float) for x in (a, b, fa, fb))
    active = np.abs(b - a) > tol_s
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        denom = fb[idx] - fa[idx]
        c = np.where(
            denom != 0, (a[idx] * fb[idx] - b[idx] * fa[idx]) / np.where(denom != 0, denom, 1), 0
        )
        c = np.where(denom != 0, c, 0.5 * (a[idx] + b[idx]))
        fc = evaluate(rows[idx], c)
        flip = np.signbit(fc) != np.signbit(fb[idx])
        a[idx] = np.where(flip, b[idx], a[idx])
        fa[idx] = np.where(flip, fb[idx], 0.5 * fa[idx])
        b[idx], fb[idx] = c, fc
        active[idx] = (np.abs(b[idx] - a[idx]) > tol_s) & (fc != 0)
    return b


def _derivative(evaluate: Evaluate, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Central-difference time derivative of ``evaluate``."""
    n = len(rows)
    values = evaluate(
        np.concatenate([rows, rows]), np.concatenate([t - DERIVATIVE_STEP_S, t + DERIVATIVE_STEP_S])
    )
    return (values[n:] - values[:n]) / (2 * DERIVATIVE_STEP_S)


def refine_peaks(
    evaluate: Evaluate, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, tol_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Time and value of the maximum of each row in ``[lo, hi]`` (interior root of d/dt or an end)."""
    d_lo = _derivative(evaluate, rows, lo)
    d_hi = _derivative(evaluate, rows, hi)
    interior = (d_lo > 0) & (d_hi < 0)
    peak = np.where(d_lo <= 0, lo, hi)
    if interior.any():

        def slope(r: np.ndarray, t: np.ndarray) -> np.ndarray:
            return _derivative(evaluate, r, t)

        peak[interior] = illinois_roots(
            slope,
            rows[interior],
            lo[interior],
            hi[interior],
            d_lo[interior],
            d_hi[interior],
            tol_s=tol_s,
        )
    return peak, evaluate(rows, peak)


def _edges(
    f: np.ndarray, t: np.ndarray, evaluate: Evaluate, rising: bool, tol_s: float
) -> tuple[np.ndarray, ...]:
    """Refined sign changes: (row, index of the first/last sample >= 0, time), row-major order."""
    up = f >= 0
    change = (~up[:, :-1] & up[:, 1:]) if rising else (up[:, :-1] & ~up[:, 1:])
    rows, k = np.nonzero(change)
    times = illinois_roots(evaluate, rows, t[k], t[k + 1], f[rows, k], f[rows, k + 1], tol_s=tol_s)
    return rows, (k + 1 if rising else k), times


def find_intervals(
    f: np.ndarray,
    t: np.ndarray,
    evaluate: Evaluate,
    *,
    graze_threshold: float,
    with_peaks: bool = True,
    tol_s: float = 1e-3,
) -> Intervals:
    """Intervals where the function is >= 0, from grid values ``f [nrow, ntime]`` at times ``t``.

    ``graze_threshold``: grid local maxima within this much below zero are refined to catch
    intervals shorter than the grid step. Peaks (time and value of the maximum inside each
    interval) are refined when ``with_peaks``.
    """
    nt = len(t)
    up = f >= 0
    s_rows, s_first, s_time = _edges(f, t, evaluate, True, tol_s)
    e_rows, e_last, e_time = _edges(f, t, evaluate, False, tol_s)
    clip_s = np.flatnonzero(up[:, 0])
    clip_e = np.flatnonzero(up[:, -1])
    start_order = np.lexsort((np.r_[np.zeros(len(clip_s), int), s_first], np.r_[clip_s, s_rows]))
    end_order = np.lexsort((np.r_[e_last, np.full(len(clip_e), nt - 1)], np.r_[e_rows, clip_e]))
    row = np.r_[clip_s, s_rows][start_order]
    start = np.r_[np.full(len(clip_s), t[0]), s_time][start_order]
    start_clipped = np.r_[np.ones(len(clip_s), bool), np.zeros(len(s_rows), bool)][start_order]
    end = np.r_[e_time, np.full(len(clip_e), t[-1])][end_order]
    end_clipped = np.r_[np.zeros(len(e_rows), bool), np.ones(len(clip_e), bool)][end_order]
    found = Intervals(row, start, end, start_clipped, end_clipped)
    if with_peaks:
        found.peak_s, found.peak_value = _window_peaks(f, t, evaluate, found, tol_s)
    grazes = _grazing(f, t, evaluate, graze_threshold, tol_s)
    if not with_peaks:
        grazes.peak_s = grazes.peak_value = None
    return Intervals.concat([found, grazes])


def _window_peaks(
    f: np.ndarray, t: np.ndarray, evaluate: Evaluate, found: Intervals, tol_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Refined maximum inside each interval, starting from its highest grid sample.

    Runs of samples >= 0 in row-major order are the intervals in ``found`` order.
    """
    nt = len(t)
    rows, ks = np.nonzero(f >= 0)
    values = f[rows, ks]
    is_first = np.r_[True, (np.diff(rows) != 0) | (np.diff(ks) != 1)]
    label = np.cumsum(is_first) - 1
    order = np.lexsort((-values, label))
    best = order[np.r_[0, np.flatnonzero(np.diff(label[order])) + 1]] if len(order) else order
    k = ks[best]
    lo = np.maximum(t[np.maximum(k - 1, 0)], found.start_s)
    hi = np.minimum(t[np.minimum(k + 1, nt - 1)], found.end_s)
    return refine_peaks(evaluate, found.row, lo, hi, tol_s)


def _grazing(
    f: np.ndarray, t: np.ndarray, evaluate: Evaluate, threshold: float, tol_s: float
) -> Intervals:
    """Intervals between grid samples: grid local maxima just below zero whose true peak is >= 0."""
    nt = len(t)
    left = np.concatenate([np.full((len(f), 1), -np.inf), f[:, :-1]], axis=1)
    right = np.concatenate([f[:, 1:], np.full((len(f), 1), -np.inf)], axis=1)
    rows, k = np.nonzero((f < 0) & (f > -threshold) & (f >= left) & (f > right))
    lo, hi = t[np.maximum(k - 1, 0)], t[np.minimum(k + 1, nt - 1)]
    peak, value = refine_peaks(evaluate, rows, lo, hi, tol_s)
    keep = value >= 0
    rows, lo, hi, peak, value = rows[keep], lo[keep], hi[keep], peak[keep], value[keep]
    f_lo, f_hi = evaluate(rows, lo), evaluate(rows, hi)
    start = illinois_roots(evaluate, rows, lo, peak, f_lo, value, tol_s=tol_s)
    end = illinois_roots(evaluate, rows, peak, hi, value, f_hi, tol_s=tol_s)
    no = np.zeros(len(rows), bool)
    return Intervals(rows, start, end, no, no.copy(), peak, value)
