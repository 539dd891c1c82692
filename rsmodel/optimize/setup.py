"""Contact setup on the slot grid, over as many slots as it takes (docs/optimisation.md, "Setup").

A contact is a run of consecutive link-on candidates of one window; its first ``setup_s``
(the station's) carries no data but holds the antenna and the node's radio. A setup longer than
what is left of the start slot runs on into the next slots of the window: those are on and
carry nothing (or, in the slot where the setup ends, only after it). Candidate ``c`` starting a
contact pays ``cand_setup_bytes[c]`` of its own capacity (the setup inside its slot) and
:func:`spill_bytes` of each later candidate the setup reaches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rsmodel.optimize.problem import Problem

_EPS_S = 1e-6


def spill_bytes(p: Problem, start: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Bytes of candidate ``c`` the setup of a contact starting at candidate ``start`` (same
    window, not later) takes: its own ``cand_setup_bytes`` when ``c`` is the start, else what
    ``c`` carries (:meth:`Problem.curve_bytes`) in the part of its slot before the setup ends."""
    start, c = np.asarray(start, dtype=int), np.asarray(c, dtype=int)
    t0, t1 = p.cand_t0_s[c], p.cand_t1_s[c]
    ends = p.cand_t0_s[start] + p.cand_setup_s[start]
    part = p.curve_bytes(c, t0, np.clip(ends, t0, t1))
    return np.where(start == c, p.cand_setup_bytes[c], part)


def carry_of(t0: np.ndarray, t1: np.ndarray, prev: np.ndarray, setup: np.ndarray) -> np.ndarray:
    """Per candidate (slot edges ``t0``/``t1`` s, previous slot of its window ``prev``, setup s):
    the candidate of its window in which the setup of a contact starting there ends (the first
    that carries), -1 when the setup outlasts the window."""
    n = len(t0)
    out = np.arange(n)
    ends = t0 + setup
    long = np.flatnonzero(ends > t1 - _EPS_S)
    if len(long) == 0:
        return out
    nxt = np.full(n, -1, dtype=int)
    has = prev >= 0
    nxt[prev[has]] = np.flatnonzero(has)
    for j in long:
        k = j
        while k >= 0 and ends[j] > t1[k] - _EPS_S:
            k = nxt[k]
        out[j] = k
    return out


def setup_from(carry: np.ndarray) -> np.ndarray:
    """Per candidate: the latest candidate whose contact's setup ends in it (-1: none)."""
    out = np.full(len(carry), -1, dtype=int)
    ok = carry >= 0
    np.maximum.at(out, carry[ok], np.flatnonzero(ok))
    return out


def contact_starts(p: Problem, on: np.ndarray) -> np.ndarray:
    """Per candidate: the start of its contact when ``on`` or when its previous slot is on (it
    would continue that contact), else itself (it would start one). Candidates of a window are
    consecutive indices in slot order."""
    idx = np.arange(len(on))
    prev = p.cand_prev
    prev_on = np.where(prev >= 0, on[np.maximum(prev, 0)], False)
    starts = np.where(on & ~prev_on, idx, -1)
    start_of = np.maximum.accumulate(starts) if len(starts) else starts
    return np.where(on | prev_on, start_of, idx)


def setup_paid(p: Problem, on: np.ndarray) -> np.ndarray:
    """Per candidate: the setup bytes it pays (:func:`contact_starts`: in its contact, or the
    one it would continue or start)."""
    if not len(on):
        return np.zeros(0)
    return spill_bytes(p, contact_starts(p, on), np.arange(len(on)))
