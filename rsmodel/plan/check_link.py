"""Exact bytes of operations on windows with a rate profile (link budgets, rate tables).

A window with a link model carries its rate profile in plan.json (``profile_t_s``, s from the
window start, and ``profile_rate_bps``): linear between the samples (docs/links.md). Inside a
contact an operation's bytes are the integral of that rate over its [start, end] (the
timeline places each piece on the rate curve). Checked here from plan.json alone, independent
of the optimiser and its timeline (like ``check.py``): the integral of the piecewise-linear
profile (trapezoids on the knots) over each operation, which must equal its bytes (``executed``:
be at least its bytes) within ``BYTES_TOL`` + ``REL_TOL`` of the bytes + what the window's
highest rate carries in ``2 x RESOLUTION_S`` (plan.json writes both ends to the microsecond:
at 300 Mbit/s a microsecond is 37.5 bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rsmodel.timeutil import RESOLUTION_S, parse_time

BYTES_TOL = 1.0
REL_TOL = 1e-9


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
    window's rate profile over the operation (``executed``: exceed it)."""
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
        got = float(op["bytes"])
        tol = BYTES_TOL + REL_TOL * got + max(w["profile_rate_bps"]) / 8.0 * 2.0 * RESOLUTION_S
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
    """Bits a plan.json window's link carries in [a_s, b_s] (s from the horizon start): the
    integral of its rate profile, else the constant ``bandwidth_bps``. Nothing outside the
    window (or the horizon)."""
    t0 = parse_time(plan["horizon"]["start"])
    w0 = (parse_time(window["start"]) - t0).total_seconds()
    w1 = (parse_time(window["end"]) - t0).total_seconds()
    if not has_profile(window):
        return float(window["bandwidth_bps"]) * max(0.0, min(b_s, w1) - max(a_s, w0))
    horizon_s = (parse_time(plan["horizon"]["end"]) - t0).total_seconds()
    a, b = max(a_s, w0, 0.0), min(b_s, w1, horizon_s)
    if b <= a:
        return 0.0
    knots_s = w0 + np.asarray(window["profile_t_s"], dtype=float)
    rates_bps = np.asarray(window["profile_rate_bps"], dtype=float)
    return _integral_bits(knots_s, rates_bps, a, b)


def _integral_bits(knots_s: np.ndarray, rates_bps: np.ndarray, a: float, b: float) -> float:
    """Integral (bits) of the profile, linear between its knots, from ``a`` to ``b``
    (trapezoids on the knots inside and the interpolated ends)."""
    t = np.concatenate(([a], knots_s[(knots_s > a) & (knots_s < b)], [b]))
    r = np.interp(t, knots_s, rates_bps)
    return float(np.trapezoid(r, t))
