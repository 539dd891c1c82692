"""Battery energy model on the time grid (docs/compute.md, "Energy model").

Slot ``k`` is ``[t_k, t_k+1)`` of the geometry grid; it is sunlit when the grid's ``sunlit``
flag at ``t_k`` is true. Per slot the battery gains ``solar_charge_w`` while sunlit, always
loses ``idle_w``, loses ``compute_w`` for the seconds a step runs in it and ``tx_power_w`` for the
seconds the transmitter is on (transfers and their ``tx_warmup_s`` warm-up, docs/recorder.md).
Charge beyond ``capacity_wh`` is spilled (clipped). Energies are Wh, powers W, times s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from rsmodel.model.scenario import OrbitalNode

if TYPE_CHECKING:
    import pyomo.core as pyo

    from rsmodel.optimize.gateway import ArrayRows

WH_PER_WS = 1.0 / 3600.0
FLOOR_TOL = 1e-6  # fraction of capacity: an idle-only SOC this close to the floor is not below it


@dataclass(frozen=True)
class NodeEnergy:
    """Energy figures of one node over the slots of the grid."""

    name: str
    capacity_wh: float
    initial_wh: float
    floor_soc: float
    solar_w: float
    idle_w: float
    compute_w: float
    sunlit: np.ndarray  # (K,) bool, per slot
    dt_s: np.ndarray  # (K,) slot lengths, s
    tx_power_w: float = 0.0  # drawn while the transmitter is on
    tx_warmup_s: float = 0.0  # transmitter on this long before each transmission
    planned_wh: np.ndarray | None = None  # (K,) Wh drawn by compute planned before (fixed)

    @property
    def charge_wh(self) -> np.ndarray:
        """Solar energy offered per slot, Wh."""
        return self.solar_w * self.sunlit * self.dt_s * WH_PER_WS

    @property
    def idle_wh(self) -> np.ndarray:
        """Bus energy drawn per slot (and compute planned before, ``planned_wh``), Wh."""
        fixed = 0.0 if self.planned_wh is None else self.planned_wh
        return self.idle_w * self.dt_s * WH_PER_WS + fixed

    def baseline_wh(self) -> np.ndarray:
        """State of charge (K+1,) with no compute at all, Wh."""
        return simulate_soc_wh(self.capacity_wh, self.initial_wh, self.charge_wh - self.idle_wh)

    def floor_wh(self) -> np.ndarray:
        """Lowest allowed state of charge (K+1,), Wh: ``floor_soc`` unless the idle bus alone goes lower."""
        return np.minimum(self.floor_soc * self.capacity_wh, self.baseline_wh())


def node_energy(node: OrbitalNode, sunlit: np.ndarray, dt_s: np.ndarray) -> NodeEnergy:
    """The energy figures of ``node`` for per-slot ``sunlit`` flags and slot lengths ``dt_s``."""
    battery, power = node.battery, node.power
    tx = (float(getattr(power, "tx_power_w", 0.0)), float(getattr(power, "tx_warmup_s", 0.0)))
    return NodeEnergy(
        node.name,
        float(battery.capacity_wh),
        float(battery.initial_soc * battery.capacity_wh),
        float(battery.min_soc),
        float(power.solar_charge_w),
        float(power.idle_w),
        float(power.compute_w),
        np.asarray(sunlit, dtype=bool),
        np.asarray(dt_s, dtype=float),
        *tx,
    )


def simulate_soc_wh(capacity_wh: float, initial_wh: float, net_wh: np.ndarray) -> np.ndarray:
    """Forward-integrate per-slot net energy (K,), clipping at capacity; returns (K+1,) Wh.

    Closed form of ``soc[k+1] = min(capacity, soc[k] + net[k])``: with ``S`` the cumulative
    net energy, ``soc[k] = S[k] + min(soc[0], min over 1 <= j <= k of capacity - S[j])``."""
    cum, low = soc_parts(capacity_wh, min(initial_wh, capacity_wh), 0.0, net_wh)
    return cum + low


def soc_parts(
    capacity_wh: float, low_wh: float, cum_wh: float, net_wh: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two terms of :func:`simulate_soc_wh` (SOC = their sum, Wh) at a slot edge and the
    edges after it, from their values there (``cum_wh``, ``low_wh``; at the horizon start 0 and
    the initial SOC) and the net energy (Wh) of the slots from it on: with the values of an
    earlier integration at edge k and the net of slots k.. the SOC from edge k on is computed
    bit for bit as from the start."""
    cum = np.asarray(net_wh, dtype=float)
    cum = np.cumsum(np.concatenate([[cum_wh], cum])) if cum_wh else np.r_[0.0, np.cumsum(cum)]
    heads = np.concatenate([[low_wh], capacity_wh - cum[1:]])
    return cum, np.minimum.accumulate(heads)


def idle_floor_warning(energy: NodeEnergy, times: Sequence[str]) -> str | None:
    """One line if the idle bus alone (nothing scheduled, no compute planned before) takes the
    battery of ``energy`` below ``floor_soc``, else None: the first slot edge below, the lowest
    SOC and when (``times``, the K+1 slot edges). Plans cannot avoid such a dip; their floor
    there is the idle-only SOC (:meth:`NodeEnergy.floor_wh`)."""
    cap = energy.capacity_wh
    floor_wh = energy.floor_soc * cap
    base = replace(energy, planned_wh=None).baseline_wh()
    below = np.flatnonzero(base < floor_wh - FLOOR_TOL * cap)
    if not len(below):
        return None
    low = int(np.argmin(base))
    empty = np.flatnonzero(base < -FLOOR_TOL * cap)
    flat = f" (battery empty from {times[empty[0]]})" if len(empty) else ""
    return (
        f"battery: {energy.name}'s idle load alone ({energy.idle_w:g} W, solar "
        f"{energy.solar_w:g} W while sunlit) takes its state of charge below min_soc "
        f"{energy.floor_soc:g} from {times[below[0]]}, lowest {base[low] / cap:.3f} "
        f"({base[low] - floor_wh:+.1f} Wh) at {times[low]}{flat}, with nothing scheduled: unavoidable "
        "with the model's power figures; the plan draws nothing beyond the idle bus that would "
        'take it lower (docs/compute.md, "Energy model")'
    )


def add_battery(
    block: pyo.Block,
    energy: NodeEnergy,
    compute_s_in_slot: dict[int, pyo.Expression],
    *,
    window: tuple[int, int] | None = None,
    initial_wh: float | None = None,
    fixed_compute_s: np.ndarray | None = None,
    tx_wh_in_slot: dict[int, pyo.Expression] | None = None,
    fixed_tx_wh: np.ndarray | None = None,
) -> None:
    """SOC variables and balance rows of one node on ``block``.

    ``compute_s_in_slot[k]`` is the linear expression of compute seconds run in slot ``k``.
    Adds ``block.soc[k]`` (Wh, k=k0..k1, within [floor, capacity]) and ``block.spill[k]`` (Wh of
    charge clipped at full battery; at most the slot's solar energy). ``window = (k0, k1)``
    (default the whole grid) starts at ``initial_wh`` (default the node's initial charge);
    ``fixed_compute_s`` (K,) is compute already committed (a rolling block), drawn as a constant.
    ``tx_wh_in_slot[k]`` is the linear expression of transmitter energy (Wh) in slot ``k``,
    ``fixed_tx_wh`` (K,) transmitter energy already committed (earlier class stages).
    The floor is ``min(floor_soc x capacity, SOC with no further compute or transmission)``.
    """
    import pyomo.core as pyo  # only the MILPs need it: greedy plans use the arrays above

    from rsmodel.optimize.gateway import ArrayRows, add_rows, linear_terms

    k0, k1 = window or (0, len(energy.dt_s))
    start_wh = min(energy.initial_wh if initial_wh is None else initial_wh, energy.capacity_wh)
    fixed = np.zeros(len(energy.dt_s)) if fixed_compute_s is None else fixed_compute_s
    draw_wh = energy.compute_w * WH_PER_WS
    fixed_tx = np.zeros(len(energy.dt_s)) if fixed_tx_wh is None else fixed_tx_wh
    tx = tx_wh_in_slot or {}
    net = (energy.charge_wh - energy.idle_wh - draw_wh * fixed - fixed_tx)[k0:k1]
    floor = soc_floor_wh(energy, start_wh, net)
    charge = energy.charge_wh
    block.k = pyo.RangeSet(k0, k1)
    block.slot = pyo.RangeSet(k0, k1 - 1)
    block.soc = pyo.Var(block.k, bounds=lambda b, k: (float(floor[k - k0]), energy.capacity_wh))
    block.spill = pyo.Var(block.slot, bounds=lambda b, k: (0.0, float(charge[k])))
    block.soc[k0].fix(start_wh)

    # soc[k + 1] - soc[k] + draw x compute s + tx Wh + spill[k] = net[k], one array row per slot
    variables, row, coef = [], [], []
    for r, k in enumerate(range(k0, k1)):
        terms = [(1.0, block.soc[k + 1]), (-1.0, block.soc[k]), (1.0, block.spill[k])]
        terms += linear_terms(compute_s_in_slot.get(k, 0.0), draw_wh)
        terms += linear_terms(tx.get(k, 0.0), 1.0)
        variables += [v for _, v in terms]
        coef += [c for c, _ in terms]
        row += [r] * len(terms)
    add_rows(
        block,
        "balance",
        ArrayRows.from_triplets(variables, row, np.arange(len(variables)), coef, net, net),
    )


def soc_floor_wh(energy: NodeEnergy, start_wh: float, net_wh: np.ndarray) -> np.ndarray:
    """The SOC floor (len(net_wh) + 1,) Wh of a battery starting at ``start_wh`` with the fixed
    net energy ``net_wh`` per slot: ``floor_soc`` x capacity, or lower where the fixed draws
    alone go lower."""
    soc = simulate_soc_wh(energy.capacity_wh, start_wh, net_wh)
    return np.minimum(energy.floor_soc * energy.capacity_wh, soc)


def balance_with_tx(
    balance: ArrayRows,
    energy: NodeEnergy,
    k0: int,
    start_wh: float,
    tx_wh_in_slot: dict[int, pyo.Expression],
    fixed_tx_wh: np.ndarray,
) -> tuple[ArrayRows, np.ndarray]:
    """The balance rows of a battery :func:`add_battery` built without transmitter (window
    from grid point ``k0``, SOC ``start_wh`` there) with the transmitter drawn too:
    ``tx_wh_in_slot`` (linear expressions, Wh per grid slot) and ``fixed_tx_wh`` (K,) Wh. Returns
    the rows and the SOC floor (one per SOC variable, Wh) that goes with them."""
    from rsmodel.optimize.gateway import ArrayRows, linear_terms

    k1 = k0 + len(balance)
    row = np.repeat(np.arange(len(balance)), np.diff(balance.start))
    variables, rows, cols, coefs = list(balance.variables), [row], [balance.index], [balance.value]
    for k, expr in tx_wh_in_slot.items():
        if not k0 <= k < k1:
            continue
        terms = linear_terms(expr, 1.0)
        rows.append(np.full(len(terms), k - k0))
        cols.append(np.arange(len(variables), len(variables) + len(terms)))
        coefs.append(np.array([c for c, _ in terms], dtype=float))
        variables += [v for _, v in terms]
    net = balance.lower - fixed_tx_wh[k0:k1]
    triplets = (np.concatenate(rows), np.concatenate(cols), np.concatenate(coefs))
    return ArrayRows.from_triplets(variables, *triplets, net, net), soc_floor_wh(
        energy, start_wh, net
    )
