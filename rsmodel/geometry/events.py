"""Intervals where a smooth function of time is >= 0, found on a grid and refined.

Shared by contact windows (elevation minus mask) and eclipses (depth in the Earth's shadow).
Rows are independent series (satellite x station pairs, or satellites). ``evaluate(rows, t_s)``
returns the function and its time derivative for ``rows[i]`` at ``t_s[i]`` (seconds from the
grid origin), so every refinement step is one vectorised call over all events.

Edges are sign changes between grid samples, refined by safeguarded Newton steps (bisection
when a step leaves the bracket). Peaks are roots of the derivative found by the secant method
from the vertex of the parabola through the three highest grid samples. A pass shorter than
the grid step falls between two samples; it shows up as a grid local maximum just below zero,
so those maxima are refined too and kept when the true maximum reaches zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np

Evaluate = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

MAX_ITER = 40


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


def newton_roots(
    evaluate: Evaluate,
    rows: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    fa: np.ndarray,
    fb: np.ndarray,
    *,
    tol_s: float = 1e-3,
) -> np.ndarray:
    """Roots of ``evaluate`` in brackets ``[a, b]`` (``fa``, ``fb`` of opposite sign), to ``tol_s``."""
    a, b, fa = (np.array(x, dtype=float) for x in (a, b, fa))
    fb = np.asarray(fb, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(fb != fa, a - fa * (b - a) / (fb - fa), 0.5 * (a + b))
    active = np.ones(len(x), dtype=bool)
    for _ in range(MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        f, rate = evaluate(rows[idx], x[idx])
        left = np.signbit(f) == np.signbit(fa[idx])
        a[idx] = np.where(left, x[idx], a[idx])
        fa[idx] = np.where(left, f, fa[idx])
        b[idx] = np.where(left, b[idx], x[idx])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x[idx] - f / rate
        lo, hi = np.minimum(a[idx], b[idx]), np.maximum(a[idx], b[idx])
        step = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
        active[idx] = (np.abs(step - x[idx]) > tol_s) & (f != 0)
        x[idx] = step
    return x


def refine_peaks(
    evaluate: Evaluate,
    rows: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    guess: np.ndarray,
    *,
    tol_s: float = 1e-2,
) -> tuple[np.ndarray, np.ndarray]:
    """Time and value of the maximum of each row in ``[lo, hi]``: a root of the rate or an end.

    Secant iterations on the rate from ``guess``, clamped to ``[lo, hi]``.
    """
    x0 = np.clip(guess, lo, hi)
    x1 = np.clip(np.where(x0 + 1.0 <= hi, x0 + 1.0, x0 - 1.0), lo, hi)
    n = len(rows)
    values, rates = evaluate(np.concatenate([rows, rows]), np.concatenate([x0, x1]))
    r0, r1, v1 = rates[:n], rates[n:], values[n:]
    active = np.ones(n, dtype=bool)
    for _ in range(MAX_ITER):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            x2 = x1[idx] - r1[idx] * (x1[idx] - x0[idx]) / (r1[idx] - r0[idx])
        x2 = np.clip(np.where(np.isfinite(x2), x2, x1[idx]), lo[idx], hi[idx])
        active[idx] = np.abs(x2 - x1[idx]) > tol_s
        x0[idx], r0[idx] = x1[idx], r1[idx]
        x1[idx] = x2
        v1[idx], r1[idx] = evaluate(rows[idx], x2)
    return x1, v1


def parabola_vertex(t: np.ndarray, f: np.ndarray, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Time of the vertex of the parabola through grid samples ``k-1, k, k+1`` (``t[k]`` at ends)."""
    nt = len(t)
    km, kp = np.maximum(k - 1, 0), np.minimum(k + 1, nt - 1)
    fm, f0, fp = f[rows, km], f[rows, k], f[rows, kp]
    h = 0.5 * (t[kp] - t[km])
    curv = fm - 2 * f0 + fp
    interior = (km < k) & (kp > k) & (curv < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(interior, 0.5 * h * (fm - fp) / curv, 0.0)
    return t[k] + np.clip(shift, -h, h)


def _edges(
    f: np.ndarray, up: np.ndarray, t: np.ndarray, evaluate: Evaluate, rising: bool, tol_s: float
) -> tuple[np.ndarray, ...]:
    """Refined sign changes (``up = f >= 0``): (row, time), row-major order."""
    change = (~up[:, :-1] & up[:, 1:]) if rising else (up[:, :-1] & ~up[:, 1:])
    rows, k = np.nonzero(change)
    return rows, newton_roots(
        evaluate, rows, t[k], t[k + 1], f[rows, k], f[rows, k + 1], tol_s=tol_s
    )


def find_intervals(
    f: np.ndarray,
    t: np.ndarray,
    evaluate: Evaluate,
    *,
    graze_threshold: float,
    with_peaks: bool = True,
    tol_s: float = 1e-2,
) -> Intervals:
    """Intervals where the function is >= 0, from grid values ``f [nrow, ntime]`` at times ``t``.

    ``graze_threshold``: grid local maxima within this much below zero are refined to catch
    intervals shorter than the grid step. Peaks (time and value of the maximum inside each
    interval) are refined when ``with_peaks``. Edges stop when a Newton step is below
    ``tol_s``; convergence is quadratic, so the edge is then good to ~1e-5 s.
    """
    up = f >= 0
    s_rows, s_time = _edges(f, up, t, evaluate, True, tol_s)
    e_rows, e_time = _edges(f, up, t, evaluate, False, tol_s)
    clip_s, clip_e = np.flatnonzero(up[:, 0]), np.flatnonzero(up[:, -1])
    # Row-major edge order is time order within a row; a row's clipped start comes first and
    # its clipped end last, so a stable sort by row pairs each start with its end.
    start_order = np.argsort(np.r_[clip_s, s_rows], kind="stable")
    end_order = np.argsort(np.r_[e_rows, clip_e], kind="stable")
    found = Intervals(
        np.r_[clip_s, s_rows][start_order],
        np.r_[np.full(len(clip_s), t[0]), s_time][start_order],
        np.r_[e_time, np.full(len(clip_e), t[-1])][end_order],
        np.r_[np.ones(len(clip_s), bool), np.zeros(len(s_rows), bool)][start_order],
        np.r_[np.zeros(len(e_rows), bool), np.ones(len(clip_e), bool)][end_order],
    )
    if with_peaks:
        found.peak_s, found.peak_value = _interval_peaks(f, up, t, evaluate, found)
    grazes = _grazing(f, t, evaluate, graze_threshold, tol_s)
    if not with_peaks:
        grazes.peak_s = grazes.peak_value = None
    return Intervals.concat([found, grazes])


def _interval_peaks(
    f: np.ndarray, up: np.ndarray, t: np.ndarray, evaluate: Evaluate, found: Intervals
) -> tuple[np.ndarray, ...]:
    """Refined maximum inside each interval, starting from its highest grid sample.

    Runs of samples >= 0 in row-major order are the intervals in ``found`` order.
    """
    rows, ks = np.nonzero(up)
    label = np.cumsum(np.r_[True, (np.diff(rows) != 0) | (np.diff(ks) != 1)]) - 1
    order = np.lexsort((-f[rows, ks], label))
    best = order[np.r_[0, np.flatnonzero(np.diff(label[order])) + 1]] if len(order) else order
    guess = parabola_vertex(t, f, rows[best], ks[best])
    return refine_peaks(evaluate, found.row, found.start_s, found.end_s, guess)


def _grid_maxima_below(f: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, index) of grid local maxima with ``-threshold < f < 0`` (ends count if higher than their neighbour)."""
    near = (f < 0) & (f > -threshold)
    inner = near[:, 1:-1] & (f[:, 1:-1] >= f[:, :-2]) & (f[:, 1:-1] > f[:, 2:])
    rows, k = np.nonzero(inner)
    first = np.flatnonzero(near[:, 0] & (f[:, 0] > f[:, 1]))
    last = np.flatnonzero(near[:, -1] & (f[:, -1] >= f[:, -2]))
    n = f.shape[1]
    return np.r_[rows, first, last], np.r_[
        k + 1, np.zeros(len(first), int), np.full(len(last), n - 1)
    ]


def _grazing(
    f: np.ndarray, t: np.ndarray, evaluate: Evaluate, threshold: float, tol_s: float
) -> Intervals:
    """Intervals between grid samples: grid local maxima just below zero whose true peak is >= 0."""
    nt = len(t)
    rows, k = _grid_maxima_below(f, threshold)
    lo, hi = t[np.maximum(k - 1, 0)], t[np.minimum(k + 1, nt - 1)]
    peak, value = refine_peaks(evaluate, rows, lo, hi, parabola_vertex(t, f, rows, k))
    keep = value >= 0
    rows, k, lo, hi, peak, value = rows[keep], k[keep], lo[keep], hi[keep], peak[keep], value[keep]
    f_lo, f_hi = f[rows, np.maximum(k - 1, 0)], f[rows, np.minimum(k + 1, nt - 1)]
    start = newton_roots(evaluate, rows, lo, peak, f_lo, value, tol_s=tol_s)
    end = newton_roots(evaluate, rows, peak, hi, value, f_hi, tol_s=tol_s)
    no = np.zeros(len(rows), bool)
    return Intervals(rows, start, end, no, no.copy(), peak, value)
