"""The executable transfer timeline derived from the slot-level solution.

The optimiser decides bytes per (demand, candidate) — a candidate is one window x one grid slot
(``rsmodel.optimize.problem``). :func:`timeline` lays those bytes out as operations with exact
start/end instants:

- a *contact* is a run of consecutive link-on candidates of one window; its first ``setup_s``
  carries no data; every contact gets one antenna of its station for its slots and its
  turnaround, and every chosen track one antenna of each of its stations for the slots it
  occupies (interval colouring of both together: the slot model never has more nodes
  holding an antenna + tracks than antennas in service in a slot, so they suffice;
  :func:`track_antennas`, rsmodel.optimize.turnaround);
- inside a candidate the demands sharing it follow one another at the link's rate: constant
  (``cand_bytes / usable seconds``), or on a window with a rate profile along the curve, each
  piece ending where the integral of the rate reaches its bytes (:func:`_spans`; docs/links.md);
  either way the bytes of an operation are the integral of the rate over it; the demand that
  continued from the previous slot goes first, the one that continues into the next slot goes
  last, right-aligned to the slot end, the others by priority, deadline and id in between;
- touching pieces of one demand on one link and antenna are merged into one operation;
- *dust* — a piece shorter than the timestamp resolution (1 us: a byte or two of round-off or
  of a source's last fraction at a fast link), which would be a 0 s operation no operator can
  execute — is folded into the nearest piece of the same demand in the contact, or, when the
  demand has none, widened to 1 us; the time is made by moving neighbouring pieces by that
  fraction of a microsecond (their bytes and durations unchanged), so byte totals stay exact
  and every operation lasts at least 1 us (:func:`absorb_dust`).

Per link, per antenna and per node no two operations overlap, and each operation's bytes are the
integral of the rate over [start, end] (docs/plan-format.md, "operations[]").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from rsmodel.optimize.problem import Problem
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.turnaround import antenna_down_slots
from rsmodel.timeutil import RESOLUTION_S

EPS_BYTES = 0.5  # pair bytes below this are LP round-off, not a transfer
_TOUCH_S = 1e-9


@dataclass(frozen=True)
class Operation:
    """``bytes`` of demand ``sync_id`` sent from ``node`` to ``station`` on antenna ``antenna``
    (0-based) in [start, end] (aware UTC, exact instants: bytes = the integral of the rate)."""

    sync_id: str
    node: str
    station: str
    window_id: str
    start: datetime
    end: datetime
    bytes: float
    antenna: int


@dataclass
class _Piece:
    demand: int
    t0_s: float
    t1_s: float
    bytes: float


def timeline(state: LinkState) -> list[Operation]:
    """Operations of ``state`` as an exact, non-overlapping timeline, sorted by (start, node,
    station, sync_id)."""
    p = state.problem
    used = np.flatnonzero(state.pair_bytes > EPS_BYTES)
    if len(used) == 0:
        return []
    by_cand: dict[int, list[int]] = {}
    for q in used[np.argsort(p.pair_cand[used], kind="stable")]:
        by_cand.setdefault(int(p.pair_cand[q]), []).append(int(q))
    runs = _contacts(state, by_cand)
    antenna = _antennas(p, _intervals(state, runs))[: len(runs)]
    window_ids = p.windows["id"].to_numpy()
    ops: list[Operation] = []
    for run, ant in zip(runs, antenna, strict=True):
        w = int(p.cand_window[run[0]])
        station = p.stations[int(p.cand_station[run[0]])]
        ready = float(p.cand_t0_s[run[0]]) + station.setup_s
        for piece in absorb_dust(_merge(_lay_out(state, run, by_cand, station.setup_s)), ready):
            demand = p.demands[piece.demand]
            ops.append(
                Operation(
                    sync_id=demand.id,
                    node=demand.node,
                    station=station.name,
                    window_id=str(window_ids[w]),
                    start=p.time_at(piece.t0_s),
                    end=p.time_at(piece.t1_s),
                    bytes=piece.bytes,
                    antenna=ant,
                )
            )
    ops.sort(key=lambda o: (o.start, o.node, o.station, o.sync_id))
    return ops


def _contacts(state: LinkState, by_cand: dict[int, list[int]]) -> list[list[int]]:
    """Runs of consecutive link-on candidates of one window (a carrying candidate counts as on),
    in time order, keeping only runs that carry bytes."""
    p = state.problem
    on = state.on.copy()
    on[list(by_cand)] = True
    cands = np.flatnonzero(on)
    cands = cands[np.lexsort((p.cand_slot[cands], p.cand_window[cands]))]
    prev = p.cand_prev[cands]
    starts = np.flatnonzero(~((prev >= 0) & np.r_[False, cands[:-1] == prev[1:]]))
    runs = np.split(cands, starts[1:])
    return [[int(c) for c in run] for run in runs if any(int(c) in by_cand for c in run)]


def track_antennas(state: LinkState) -> dict[int, tuple[int, ...]]:
    """Per chosen track option: the antenna of each of its stations (the colouring
    :func:`timeline` uses, so syncs and tracks never share an antenna at a time)."""
    p = state.problem
    used = np.flatnonzero(state.pair_bytes > EPS_BYTES)
    by_cand = {int(c): [] for c in p.pair_cand[used]}
    runs = _contacts(state, by_cand) if len(used) else []
    antenna = _antennas(p, _intervals(state, runs))[len(runs) :]
    out: dict[int, tuple[int, ...]] = {}
    k = 0
    for o in np.flatnonzero(state.track_on):
        n = len(p.tracks.requests[p.tracks.opt_request[o]].alternatives[p.tracks.opt_alt[o]])
        out[int(o)] = tuple(antenna[k : k + n])
        k += n
    return out


def _intervals(state: LinkState, runs: list[list[int]]) -> list[tuple[int, int, int, int, int]]:
    """(station, first slot, last slot, last slot held, holder) of each contact (held through
    its turnaround; holder its node), then of each chosen track option's occupation of each of
    its stations (in option order, stations in alternative order; holder -1 - option)."""
    p, ts = state.problem, state.problem.tracks
    out = [
        (
            int(p.cand_station[r[0]]),
            int(p.cand_slot[r[0]]),
            int(p.cand_slot[r[-1]]),
            int(p.cand_cover_last[r[-1]]),
            int(p.cand_node[r[0]]),
        )
        for r in runs
    ]
    for o in np.flatnonzero(state.track_on):
        k = slice(ts.occ_ptr[o], ts.occ_ptr[o + 1])
        stations, slots = ts.occ_station[k], ts.occ_slot[k]
        for st in dict.fromkeys(stations.tolist()):
            mine = slots[stations == st]
            first, last = int(mine.min()), int(mine.max())
            out.append((int(st), first, last, last, -1 - int(o)))
    return out


def _antennas(p: Problem, intervals: list[tuple[int, int, int, int, int]]) -> list[int]:
    """Antenna index per (station, first, last, held, holder) interval: per station, by first
    slot, each on an antenna free since before its first slot (one antenna for all its slots).

    An antenna stays taken through the interval's last held slot (a contact's turnaround,
    rsmodel.optimize.turnaround) for other holders; the same node may continue on it, and a
    track (its slots include the turnaround before it, rsmodel.optimize.tracks) may start right
    after the last slot used. Antennas
    in maintenance over the interval are skipped; among the others the lowest index."""
    out = [0] * len(intervals)
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][1], i))
    n_slots = max(p.n_slots, 1)
    down = [antenna_down_slots(s, p.start, p.step_s, n_slots) for s in p.stations]
    # station -> per antenna: (first slot free for its holder, first slot free for others, holder)
    free_from: dict[int, list[tuple[int, int, int]]] = {}
    for i in order:
        s, first, last, hold, node = intervals[i]
        slots = free_from.setdefault(s, [(0, 0, -1)] * p.stations[s].antennas)
        free = [  # a track's slots include its turnarounds: it needs the last slot used only
            a
            for a, (mine, others, who) in enumerate(slots)
            if (mine if who == node or node < 0 else others) <= first
        ]
        ok = [a for a in free if _in_service(down[s].get(a, ([], [])), first, hold)]
        ant = (ok or free or [int(np.argmin([t[1] for t in slots]))])[0]  # else: the checker says
        slots[ant] = (last + 1, hold + 1, node)
        out[i] = ant
    return out


def _in_service(down: tuple[list[int], list[int]], first: int, last: int) -> bool:
    """No maintenance span (first slots, last slots) of an antenna meets slots first..last."""
    return all(b < first or a > last for a, b in zip(*down, strict=True))


def _lay_out(
    state: LinkState, run: list[int], by_cand: dict[int, list[int]], setup_s: float
) -> Iterator[_Piece]:
    """Pieces of one contact, slot by slot, in time order (module docstring)."""
    p = state.problem
    ready = float(p.cand_t0_s[run[0]]) + setup_s  # the contact's setup ends
    previous = -1  # demand of the piece that ends at the previous slot's end
    for k, c in enumerate(run):
        t0, t1 = float(p.cand_t0_s[c]), float(p.cand_t1_s[c])
        sent = {int(p.pair_demand[q]): float(state.pair_bytes[q]) for q in by_cand.get(c, [])}
        if not sent:
            previous = -1
            continue
        nxt = (
            {int(p.pair_demand[q]) for q in by_cand.get(run[k + 1], [])}
            if k + 1 < len(run)
            else set()
        )
        first = previous if previous in sent else None
        others = [d for d in sent if d != first]
        carry = [d for d in others if d in nxt]
        tail = min(carry, key=lambda d: _rank_key(p, d)) if carry else None
        order = [first] if first is not None else []
        order += sorted((d for d in others if d != tail), key=lambda d: _rank_key(p, d))
        order += [tail] if tail is not None else []
        begin = min(max(t0, ready), t1)
        starts, ends = _spans(p, c, begin, [sent[d] for d in order], tail is not None)
        for d, a, b in zip(order, starts, ends, strict=True):
            yield _Piece(d, a, b, sent[d])
        previous = order[-1] if tail is not None or ends[-1] >= t1 - _TOUCH_S else -1


def _spans(
    p: Problem, c: int, begin: float, sizes: list[float], tail: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end instants (s) of pieces of ``sizes`` bytes that follow one another in
    candidate ``c`` from ``begin``, the last right-aligned to the slot end when ``tail``: each
    piece's bytes are the integral of the rate over it (a constant rate: ``cand_bytes`` over
    the slot's seconds; a rate profile: :meth:`WindowCurves.instant_of_bytes`). Solver
    round-off that overfills the slot shrinks the pieces to fit."""
    t0, t1 = float(p.cand_t0_s[c]), float(p.cand_t1_s[c])
    w = p.cand_window[c : c + 1]
    if not p.curves.profiled(w)[0]:
        rate = p.cand_bytes[c] / (t1 - t0)  # bytes/s in this slot
        durations = np.array(sizes) / rate
        durations *= min(1.0, (t1 - begin) / durations.sum())
        edges = np.cumsum(np.r_[begin, durations])
        starts, ends = edges[:-1].copy(), edges[1:].copy()
        if tail:
            starts[-1], ends[-1] = t1 - durations[-1], t1
        return starts, ends
    room = float(p.curve_bytes(np.array([c]), begin, t1)[0])
    sizes_b = np.array(sizes) * min(1.0, room / sum(sizes))
    n = len(sizes_b)
    edges = np.r_[
        begin,
        p.curves.instant_of_bytes(np.repeat(w, n), np.full(n, begin), np.cumsum(sizes_b)),
    ]
    starts, ends = edges[:-1].copy(), edges[1:].copy()
    if tail:  # the last piece ends at the slot end: the latest start that carries its bytes
        starts[-1] = p.curves.instant_of_bytes(w, np.array([t1]), -sizes_b[-1:])[0]
        ends[-1] = t1
    return starts, ends


def _rank_key(p: Problem, d: int) -> tuple:
    demand = p.demands[d]
    deadline = p.seconds(demand.deadline) if demand.deadline is not None else np.inf
    return (demand.rank, deadline, demand.id)


def _merge(pieces: Iterable[_Piece]) -> list[_Piece]:
    """Touching pieces of one demand merged (pieces come in time order per slot)."""
    out: list[_Piece] = []
    open_by_demand: dict[int, _Piece] = {}
    for piece in pieces:
        prev = open_by_demand.get(piece.demand)
        if prev is not None and abs(piece.t0_s - prev.t1_s) <= _TOUCH_S:
            prev.t1_s = piece.t1_s
            prev.bytes += piece.bytes
            continue
        open_by_demand[piece.demand] = piece
        out.append(piece)
    return out


def absorb_dust(pieces: list[_Piece], ready_s: float) -> list[_Piece]:
    """A contact's pieces (time order) without dust (module docstring): a piece shorter than
    ``RESOLUTION_S`` goes into the nearest longer piece of its demand, else is widened to
    ``RESOLUTION_S``; pieces move (never before ``ready_s``, the setup's end) to make the time."""
    out = list(pieces)
    k = 0
    while k < len(out):
        dust = out[k]
        short_s = dust.t1_s - dust.t0_s
        if short_s >= RESOLUTION_S:
            k += 1
            continue
        same = [
            j
            for j, q in enumerate(out)
            if q.demand == dust.demand and q.t1_s - q.t0_s >= RESOLUTION_S
        ]
        if not same:  # the demand's only bytes here: one 1 us operation
            _widen(out, k, RESOLUTION_S - short_s, ready_s, before_first=False)
            k += 1
            continue
        j = min(same, key=lambda j: abs(j - k))
        del out[k]
        j -= int(j > k)
        out[j].bytes += dust.bytes
        _widen(out, j, short_s, ready_s, before_first=j >= k)  # into the freed time first
    return out


def _widen(out: list[_Piece], i: int, extra_s: float, ready_s: float, before_first: bool) -> None:
    """Lengthen ``out[i]`` by ``extra_s``: earlier (pieces before it move earlier into the
    gaps, not before ``ready_s``) when ``before_first`` and that fits, else later (pieces after
    it move later)."""
    if before_first and _push_before(out, i, extra_s, ready_s):
        out[i].t0_s -= extra_s
        return
    end = out[i].t1_s + extra_s
    for q in out[i + 1 :]:
        if q.t0_s >= end - _TOUCH_S:
            break
        shift = end - q.t0_s
        q.t0_s, q.t1_s = q.t0_s + shift, q.t1_s + shift
        end = q.t1_s
    out[i].t1_s += extra_s


def _push_before(out: list[_Piece], i: int, extra_s: float, ready_s: float) -> bool:
    """Move the pieces before ``out[i]`` earlier so that it can start ``extra_s`` earlier;
    False (nothing moved) when that would reach before ``ready_s``."""
    start = out[i].t0_s - extra_s
    moves = []
    for j in range(i - 1, -1, -1):
        if out[j].t1_s <= start + _TOUCH_S:
            break
        shift = out[j].t1_s - start
        moves.append((j, shift))
        start = out[j].t0_s - shift
    if start < ready_s - _TOUCH_S:
        return False
    for j, shift in moves:
        out[j].t0_s, out[j].t1_s = out[j].t0_s - shift, out[j].t1_s - shift
    return True
