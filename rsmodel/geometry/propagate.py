"""Node positions from any orbit source: SGP4 element sets and OEM ephemerides, mixed.

A source is an ``sgp4`` ``Satrec`` (TLE or elements) or an
:class:`~rsmodel.model.oem.Ephemeris`. Each function splits its sources by kind, calls the
SGP4 path of :mod:`rsmodel.geometry.frames` or the interpolation of
:mod:`rsmodel.geometry.ephemeris`, and returns the arrays in source order, so the scan, window
and eclipse code treats every node alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sgp4.api import Satrec
from skyfield.timelib import Time

from rsmodel.geometry.ephemeris import ephemeris_itrs, ephemeris_teme
from rsmodel.geometry.frames import (
    propagate_itrs_hermite,
    propagate_pairs_itrs,
    propagate_pairs_teme,
)
from rsmodel.model.oem import Ephemeris
from rsmodel.model.orbits import Orbit
from rsmodel.model.scenario import OrbitalNode

Source = Satrec | Ephemeris


def orbit_source(node: OrbitalNode) -> Source:
    """The propagation source of a node with an orbit."""
    if isinstance(node.orbit, Orbit):
        return node.orbit.satrec
    assert node.orbit is not None, f"node {node.name} has no orbit"
    return node.orbit


def positions_itrs(sources: list[Source], t: Time) -> np.ndarray:
    """ITRS positions ``[nsat, ntime, 3]`` km of every source at every time (SGP4 sources via
    :func:`~rsmodel.geometry.frames.propagate_itrs_hermite`)."""
    out = np.empty((len(sources), len(np.atleast_1d(t.tt)), 3))
    sgp4 = [i for i, s in enumerate(sources) if isinstance(s, Satrec)]
    if sgp4:
        out[sgp4] = propagate_itrs_hermite([sources[i] for i in sgp4], t)
    for i, s in enumerate(sources):
        if isinstance(s, Ephemeris):
            out[i] = ephemeris_itrs(s, t)[0]
    return out


def pairs_itrs(sources: list[Source], index: np.ndarray, t: Time) -> tuple[np.ndarray, np.ndarray]:
    """ITRS state of source ``index[i]`` at time ``t[i]``: ``[n, 3]`` km and km/s."""
    return _pairs(sources, index, t, propagate_pairs_itrs, ephemeris_itrs)


def pairs_teme(sources: list[Source], index: np.ndarray, t: Time) -> tuple[np.ndarray, np.ndarray]:
    """TEME state of source ``index[i]`` at time ``t[i]``: ``[n, 3]`` km and km/s."""
    return _pairs(sources, index, t, propagate_pairs_teme, ephemeris_teme)


State = tuple[np.ndarray, np.ndarray]


def _pairs(
    sources: list[Source],
    index: np.ndarray,
    t: Time,
    sgp4_pairs: Callable[[list, np.ndarray, Time], State],
    ephemeris_state: Callable[[Ephemeris, Time], State],
) -> State:
    """States of ``sources[index[i]]`` at ``t[i]``: SGP4 rows in one call, each ephemeris in one."""
    index = np.asarray(index)
    if not any(isinstance(s, Ephemeris) for s in sources):
        return sgp4_pairs(sources, index, t)
    r, v = np.empty((len(index), 3)), np.empty((len(index), 3))
    is_sgp4 = np.array([isinstance(s, Satrec) for s in sources], dtype=bool)
    rows = np.flatnonzero(is_sgp4[index]) if len(index) else np.array([], dtype=int)
    if rows.size:
        satrec_of = np.cumsum(is_sgp4) - 1  # source index -> position among the Satrecs
        r[rows], v[rows] = sgp4_pairs(
            [s for s in sources if isinstance(s, Satrec)], satrec_of[index[rows]], t[rows]
        )
    for k in np.unique(index[~is_sgp4[index]]) if len(index) else ():
        rows = np.flatnonzero(index == k)
        r[rows], v[rows] = ephemeris_state(sources[int(k)], t[rows])
    return r, v
