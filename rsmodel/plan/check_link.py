"""Exact bytes of operations on windows with a rate profile (link budgets, rate tables).

A window with a link model carries its rate profile in plan.json (``profile_t_s``, s from the
window start, and ``profile_rate_bps``): linear between the samples (docs/links.md). The
optimiser gives each (window, grid slot) the integral of that profile over the slot's part of
the window, and the timeline spreads it evenly over that part, so inside slot ``k`` of the
plan's grid (``horizon.step_s``) the rate an operation runs at is the profile's *mean* over the
slot's part of the window: piecewise constant per slot. An operation's bytes must equal the
integral of that rate over its [start, end], within 1 B + 2 us at the window's highest rate
(``executed``: at most that). Independent of the optimiser, like ``check.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rsmodel.timeutil import RESOLUTION_S, parse_time

BYTES_TOL = 1.0
MIN_SPAN_S = 1e-6  # a window part shorter than this carries nothing


def has_profile(window: Mapping[str, Any]) -> bool:
    """Whether a plan.json window carries a rate profile."""
    return bool(window.get("profile_t_s"))


def window_carries(window: Mapping[str, Any], a_s: float, b_s: float) -> bool:
    """Whether the window's link carries data somewhere in [a_s, b_s] (seconds from the horizon
    start, like the checker's ``window["t0"]``): false for a link that never closes
    (``max_rate_bps`` 0) or whose profile carries no byte there; true for a constant-rate
    window or one without a profile in the plan."""
    if window.get("max_rate_bps") is not None and float(window["max_rate_bps"]) <= 0.0:
        return False
    if not has_profile(window):
        return True
    knots_s = window["t0"] + np.asarray(window["profile_t_s"], dtype=float)
    rates_bps = np.asarray(window["profile_rate_bps"], dtype=float)
    return _integral_bits(knots_s, rates_bps, a_s, b_s) > 8.0 * BYTES_TOL


def check_link_rates(plan: Mapping[str, Any], *, executed: bool = False) -> list[str]:
    """One line per operation on a profiled window whose bytes differ from the integral of the
    window's per-slot rate over the operation (``executed``: exceed it)."""
    t0 = parse_time(plan["horizon"]["start"])
    windows = {w["id"]: w for w in plan["windows"] if has_profile(w)}
    out = []
    for i, op in enumerate(plan["operations"]):
        w = windows.get(op["window_id"])
        if w is None:
            continue
        a = (parse_time(op["start"]) - t0).total_seconds()
        b = (parse_time(op["end"]) - t0).total_seconds()
        expected = carried_bits(plan, w, a, b) / 8.0
        # both ends of the operation and of the window are written to the microsecond
        tol = BYTES_TOL + max(w["profile_rate_bps"]) / 8.0 * 2.0 * RESOLUTION_S
        got = float(op["bytes"])
        if got > expected + tol or (not executed and got < expected - tol):
            out.append(
                f"rate: operations[{i}] ({op['sync_id']} {op['node']}->{op['station']}) carries "
                f"{got:.0f} bytes in [{a:.6f}, {b:.6f}] s; window {w['id']}'s rate profile "
                f"gives {expected:.0f}"
            )
    return out


def carried_bits(
    plan: Mapping[str, Any], window: Mapping[str, Any], a_s: float, b_s: float
) -> float:
    """Bits a plan.json window's link carries in [a_s, b_s] (s from the horizon start) at the
    plan's rate: with a rate profile, its mean over each slot of the plan's grid; otherwise the
    constant ``bandwidth_bps``. Nothing outside the window (or the horizon)."""
    t0 = parse_time(plan["horizon"]["start"])
    w0 = (parse_time(window["start"]) - t0).total_seconds()
    w1 = (parse_time(window["end"]) - t0).total_seconds()
    if not has_profile(window):
        return float(window["bandwidth_bps"]) * max(0.0, min(b_s, w1) - max(a_s, w0))
    horizon_s = (parse_time(plan["horizon"]["end"]) - t0).total_seconds()
    step_s = float(plan["horizon"].get("step_s") or 60.0)
    knots_s = w0 + np.asarray(window["profile_t_s"], dtype=float)
    rates_bps = np.asarray(window["profile_rate_bps"], dtype=float)
    span = (max(w0, 0.0), min(w1, horizon_s))
    return _slot_rate_bits(knots_s, rates_bps, span, step_s, a_s, b_s)


def _slot_rate_bits(
    knots_s: np.ndarray,
    rates_bps: np.ndarray,
    span: tuple[float, float],
    step_s: float,
    a: float,
    b: float,
) -> float:
    """Bits in [a, b] at the per-slot mean rate of the linear profile (knots_s, rates_bps)
    over the window's ``span`` (s from the horizon start)."""
    bits = 0.0
    first = max(0, math.floor(max(a, span[0]) / step_s))
    for k in range(first, max(first, math.ceil(b / step_s - 1e-9))):
        s0, s1 = max(k * step_s, span[0]), min((k + 1) * step_s, span[1])
        overlap = min(b, s1) - max(a, s0)
        if s1 - s0 <= MIN_SPAN_S or overlap <= 0.0:
            continue
        bits += _integral_bits(knots_s, rates_bps, s0, s1) / (s1 - s0) * overlap
    return bits


def _integral_bits(knots_s: np.ndarray, rates_bps: np.ndarray, a: float, b: float) -> float:
    """Integral (bits) of the profile, linear between its knots, from ``a`` to ``b``."""
    t = np.concatenate(([a], knots_s[(knots_s > a) & (knots_s < b)], [b]))
    r = np.interp(t, knots_s, rates_bps)
    return float(np.sum(0.5 * (r[1:] + r[:-1]) * np.diff(t)))
