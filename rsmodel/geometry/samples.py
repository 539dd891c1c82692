"""Node positions a scan computed around some windows, kept for later look-ups.

The scan propagates every node at every detection time (<= 60 s apart) to find windows; rate
profiles (:mod:`rsmodel.geometry.link`) need positions every 20 s inside the windows of
stations with a link model. :class:`Samples` keeps the scan's positions from two detection
times before each such window to two after, and :meth:`Samples.at` interpolates them (cubic
Lagrange on the four detection times around an instant: error ~3 m for LEO at 60 s, on top of
the scan's own ~6 m) instead of propagating the nodes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

STENCIL = 4  # detection times per interpolation (cubic, on a uniform grid)
GAP = 1.5  # consecutive samples further apart than this x the detection step: a new run


@dataclass(frozen=True)
class Samples:
    """ITRS positions ``xyz_km [n, 3]`` of node ``node[i]`` at ``t_s[i]`` (s from the scan
    start), sorted by node then time, on a uniform detection grid of ``step_s``."""

    node: np.ndarray
    t_s: np.ndarray
    xyz_km: np.ndarray
    step_s: float

    @classmethod
    def empty(cls, step_s: float) -> Samples:
        """No samples."""
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros((0, 3)), step_s)

    @classmethod
    def around(
        cls,
        positions_km: np.ndarray,
        t_s: np.ndarray,
        node: np.ndarray,
        start_s: np.ndarray,
        end_s: np.ndarray,
        step_s: float,
    ) -> Samples:
        """From positions ``[node, time, 3]`` at detection times ``t_s`` (the first
        ``len(t_s)`` times), the samples from two detection times before ``start_s[i]`` to two
        after ``end_s[i]`` of node ``node[i]``."""
        n_node, n_t = positions_km.shape[0], len(t_s)
        if not len(node) or not n_t:
            return cls.empty(step_s)
        k0 = np.maximum(np.searchsorted(t_s, start_s, side="right") - STENCIL // 2, 0)
        k1 = np.minimum(np.searchsorted(t_s, end_s, side="left") + STENCIL // 2, n_t)
        size = n_node * (n_t + 1)
        mark = np.bincount(node * (n_t + 1) + k0, minlength=size) - np.bincount(
            node * (n_t + 1) + k1, minlength=size
        )
        keep = np.cumsum(mark.reshape(n_node, n_t + 1)[:, :n_t], axis=1) > 0
        i, k = np.nonzero(keep)
        flat = positions_km.reshape(-1, 3)  # a view: positions_km is contiguous
        xyz = np.take(flat, i * positions_km.shape[1] + k, axis=0)
        return cls(i.astype(np.int64), t_s[k], xyz, step_s)

    def shifted(self, node_offset: int, t_offset_s: float) -> Samples:
        """The same samples for nodes ``node + node_offset`` at times ``t_s + t_offset_s``."""
        return Samples(self.node + node_offset, self.t_s + t_offset_s, self.xyz_km, self.step_s)

    @classmethod
    def concat(cls, parts: list[Samples], step_s: float) -> Samples:
        """All samples of ``parts``, sorted, each (node, time) once (time blocks share edges)."""
        if not parts:
            return cls.empty(step_s)
        node = np.concatenate([p.node for p in parts])
        t_s = np.concatenate([p.t_s for p in parts])
        xyz = np.concatenate([p.xyz_km for p in parts])
        ascending = (node[1:] > node[:-1]) | ((node[1:] == node[:-1]) & (t_s[1:] > t_s[:-1]))
        if ascending.all():  # chunks of nodes, in order
            return cls(node, t_s, xyz, step_s)
        order = np.lexsort((t_s, node))
        node, t_s, xyz = node[order], t_s[order], xyz[order]
        new = np.r_[True, (node[1:] != node[:-1]) | (np.diff(t_s) > 1e-6)][: len(node)]
        return cls(node[new], t_s[new], xyz[new], step_s)

    def at(self, node: np.ndarray, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (km) of ``node[i]`` at ``t_s[i]`` interpolated from the samples, and whether
        each could be (four consecutive samples around it; NaN where not)."""
        node, t_s = np.asarray(node, dtype=np.int64), np.asarray(t_s, dtype=float)
        if len(self.node) < STENCIL or not len(node):
            return np.full((len(node), 3), np.nan), np.zeros(len(node), dtype=bool)
        look = self._lookup
        j = np.searchsorted(look.keys, node * look.span + t_s, side="right") - 1
        j = np.clip(j, 0, len(self.node) - 1)
        ok = (self.node[j] == node) & (t_s >= look.start_s[j]) & (t_s <= look.end_s[j])
        first = look.first[j]
        # Lagrange weights of the samples at u = -1, 0, 1, 2 steps from the second one
        u = (t_s - self.t_s[first]) / self.step_s - 1.0
        a, c, e = u + 1.0, u - 1.0, u - 2.0
        ce, au = c * e, a * u
        w0, w1, w2, w3 = -u * ce / 6.0, a * ce / 2.0, -au * e / 2.0, au * c / 6.0
        i1, i2, i3 = first + 1, first + 2, first + 3
        out = np.empty((len(node), 3))
        for axis, x in enumerate(look.xyz_km):
            out[:, axis] = w0 * x[first] + w1 * x[i1] + w2 * x[i2] + w3 * x[i3]
        out[~ok] = np.nan
        return out, ok

    @cached_property
    def _lookup(self) -> _Lookup:
        n = len(self.node)
        new_run = np.r_[
            True, (self.node[1:] != self.node[:-1]) | (np.diff(self.t_s) > GAP * self.step_s)
        ]
        heads = np.flatnonzero(new_run)
        length = np.diff(np.r_[heads, n])
        lo = np.repeat(heads, length)
        hi = lo + np.repeat(length - 1, length)
        first = np.minimum(np.maximum(np.arange(n) - 1, lo), hi - (STENCIL - 1))
        span = float(np.max(self.t_s)) + 1.0
        return _Lookup(
            self.node * span + self.t_s,
            span,
            np.minimum(np.maximum(first, 0), n - STENCIL),
            self.t_s[lo] - 1e-9,
            np.where(hi - lo >= STENCIL - 1, self.t_s[hi] + 1e-9, -np.inf),
            tuple(np.ascontiguousarray(self.xyz_km[:, axis]) for axis in range(3)),
        )


@dataclass(frozen=True)
class _Lookup:
    """What :meth:`Samples.at` needs per sample ``j`` of a query between it and the next one:
    the sort key ``node * span + t_s``, the first of the four samples to interpolate from, and
    the times its run covers (``end_s`` -inf: too short a run); positions per axis."""

    keys: np.ndarray
    span: float
    first: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    xyz_km: tuple[np.ndarray, ...]
