"""Antenna-time requests (tracks) in the class-staged sync model (docs/tracks.md).

A track *option* is (request instance, alternative, view period, start, length): the transmit
interval ``[start, end]`` lies inside one view period of the node over every station of the
alternative and inside ``[release, due]``; ``[setup_start, teardown_end]`` lies inside the
horizon and outside the stations' maintenance. Starts: the view period's start, its end minus
the length, and up to :data:`MAX_STARTS` points of the slot grid between (so exact, off-grid
instants at AOS/LOS), in the first :data:`MAX_PERIODS` view periods (per alternative) that are
long enough after the release. Lengths are discrete: the longest that fits (<= ``duration_s``) and
``min_duration_s``; a request that may be split gets segment options of ``min_segment_s``,
its multiples and the longest fit, and may use several non-overlapping segments: whole-period
segments in later view periods too (:data:`SPLIT_COVER`), the latest cut back in the plan so
that they add up to ``duration_s`` (:func:`trimmed_ends`).

An option occupies one antenna of each of its stations in every slot that
``[setup_start - T, teardown_end + T]`` touches (``T`` the longest antenna turnaround of its
stations, rsmodel.optimize.turnaround: the antenna turns from a contact or track before the
setup and to the next after the teardown), counted with the sync links of the slot against the
station's antennas (so a tracked antenna is busy for syncs, and an array takes all its
stations at once). :func:`add_tracks` is the constraint block, :func:`place_tracks` the greedy
(earliest due first), :class:`TrackSet` the options (no Pyomo).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyomo.core as pyo

from rsmodel.model.track_schema import TrackRequest

if TYPE_CHECKING:
    from rsmodel.optimize.problem import Problem

MAX_STARTS = 6  # start instants per (view period, length)
MAX_PERIODS = 8  # view periods per (request, alternative): the earliest after the release
SPLIT_COVER = 3.0  # a split request also gets whole-period segments until this x duration_s
MAX_LENGTHS = 6  # segment lengths per view period of a split request
RMS_WEIGHT = 0.5  # weight of the mean-square mission term against the worst mission
SQUARE_POINTS = (0.25, 0.5, 0.75, 1.0)  # tangents of u^2 (and u^2 >= 0)
_EPS_S = 1e-6

NO_VIEW_PERIOD = "no view period >= min_duration_s on any alternative between release and due"
MAINTENANCE = "maintenance: every view period that fits overlaps station maintenance"
OUTSIDE = "setup/teardown do not fit inside the horizon around any view period that fits"


@dataclass
class TrackSet:
    """The options of all request instances (seconds from the horizon start).

    Option ``o`` occupies ``(occ_station[k], occ_slot[k])`` for ``k`` in
    ``occ_ptr[o]:occ_ptr[o+1]`` (one antenna each)."""

    requests: list[TrackRequest]
    opt_request: np.ndarray
    opt_alt: np.ndarray
    opt_setup_s: np.ndarray
    opt_start_s: np.ndarray
    opt_end_s: np.ndarray
    opt_teardown_s: np.ndarray
    occ_ptr: np.ndarray
    occ_station: np.ndarray
    occ_slot: np.ndarray
    no_option_reason: list[str | None]

    @classmethod
    def empty(cls) -> TrackSet:
        i, f = np.zeros(0, dtype=int), np.zeros(0)
        return cls([], i, i, f, f, f, f, np.zeros(1, dtype=int), i, i, [])

    def __len__(self) -> int:
        return len(self.opt_request)

    @property
    def duration_s(self) -> np.ndarray:
        """Transmit seconds per option."""
        return self.opt_end_s - self.opt_start_s

    @property
    def request_rank(self) -> np.ndarray:
        return np.array([r.rank for r in self.requests], dtype=int)

    @property
    def requested_s(self) -> np.ndarray:
        return np.array([r.duration_s for r in self.requests], dtype=float)

    @property
    def occ_option(self) -> np.ndarray:
        """Option of each occupation entry."""
        return np.repeat(np.arange(len(self)), np.diff(self.occ_ptr))

    def split(self, i: int) -> bool:
        return self.requests[i].min_segment_s is not None

    def subset(
        self,
        keep: np.ndarray,
        requests: list[TrackRequest],
        request_of: np.ndarray,
        slots: int,
        step_s: float,
    ) -> TrackSet:
        """Options ``keep`` as a set over ``requests`` (``request_of``: new request index per
        kept option), on a time axis starting ``slots`` slots of ``step_s`` later (a rolling
        block's start)."""
        shift = slots * step_s
        entries = [np.arange(self.occ_ptr[o], self.occ_ptr[o + 1]) for o in keep]
        flat = np.concatenate(entries) if entries else np.zeros(0, dtype=int)
        return TrackSet(
            requests=requests,
            opt_request=np.asarray(request_of, dtype=int),
            opt_alt=self.opt_alt[keep],
            opt_setup_s=self.opt_setup_s[keep] - shift,
            opt_start_s=self.opt_start_s[keep] - shift,
            opt_end_s=self.opt_end_s[keep] - shift,
            opt_teardown_s=self.opt_teardown_s[keep] - shift,
            occ_ptr=np.r_[0, np.cumsum([len(e) for e in entries])].astype(int),
            occ_station=self.occ_station[flat],
            occ_slot=self.occ_slot[flat] - slots,
            no_option_reason=[None] * len(requests),
        )


def build_track_set(
    requests: Sequence[TrackRequest],
    windows: pd.DataFrame,
    stations: Sequence[str],
    maintenance: Mapping[str, Sequence[tuple[float, float]]],
    start: datetime,
    horizon_s: float,
    step_s: float,
    turnaround_s: Mapping[str, float] | None = None,
) -> TrackSet:
    """Options of every request over the ``windows`` table (node, station, start, end);
    ``maintenance``: per station, (start, end) seconds from ``start`` without antenna use;
    ``turnaround_s``: per station, the longest antenna turnaround (an option occupies its
    antennas that much before its setup and after its teardown too)."""
    if not requests:
        return TrackSet.empty()
    t0 = pd.Timestamp(start)
    periods = _periods_by_pair(windows, horizon_s, t0)
    index = {s: i for i, s in enumerate(stations)}
    rows: list[tuple[int, int, float, float, float, float]] = []
    reasons: list[str | None] = []
    for i, r in enumerate(requests):
        release = (pd.Timestamp(r.release) - t0).total_seconds()
        due = (pd.Timestamp(r.due) - t0).total_seconds()
        before = len(rows)
        shortest = r.min_segment_s if r.min_segment_s is not None else r.min_duration_s
        fits = kept = 0
        for j, alt in enumerate(r.alternatives):
            common = [(release, due)]
            for station in alt:
                common = _intersect(common, periods.get((r.node, station), []))
            long_enough = [(a, b) for a, b in common if b - a >= shortest - _EPS_S]
            for k, (a, b) in enumerate(long_enough[: _period_count(r, long_enough)]):
                intervals = (
                    _starts(r, a, b, step_s)
                    if k < MAX_PERIODS
                    else [(a, a + min(r.duration_s, b - a))]
                )
                for start, end in intervals:
                    fits += 1
                    s0, s1 = start - r.setup_s, end + r.teardown_s
                    if s0 < -_EPS_S or s1 > horizon_s + _EPS_S:
                        continue
                    if any(_overlaps(maintenance.get(st, ()), s0, s1) for st in alt):
                        kept += 1  # fits the horizon, not the maintenance
                        continue
                    rows.append((i, j, s0, start, end, s1))
        reason = NO_VIEW_PERIOD if not fits else MAINTENANCE if kept else OUTSIDE
        reasons.append(None if len(rows) > before else reason)
    arr = np.array(rows, dtype=float).reshape(-1, 6)
    opt_request, opt_alt = arr[:, 0].astype(int), arr[:, 1].astype(int)
    alts = [requests[i].alternatives[j] for i, j in zip(opt_request, opt_alt, strict=True)]
    turn = np.array([max((turnaround_s or {}).get(st, 0.0) for st in a) for a in alts])
    n_slots = max(int(np.ceil(horizon_s / step_s - 1e-9)), 1)
    first = np.maximum(np.floor((arr[:, 2] - turn) / step_s + 1e-9).astype(int), 0)
    last = np.ceil((arr[:, 5] + turn) / step_s - 1e-9).astype(int) - 1
    last = np.maximum(np.minimum(last, n_slots - 1), first)
    counts = np.array([len(a) for a in alts], dtype=int) * (last - first + 1)
    occ_ptr = np.r_[0, np.cumsum(counts)]
    occ_station = np.concatenate(
        [np.repeat([index[s] for s in a], n + 1) for a, n in zip(alts, last - first, strict=True)]
        or [np.zeros(0, dtype=int)]
    ).astype(int)
    occ_slot = np.concatenate(
        [np.tile(np.arange(f, g + 1), len(a)) for a, f, g in zip(alts, first, last, strict=True)]
        or [np.zeros(0, dtype=int)]
    ).astype(int)
    return TrackSet(
        requests=list(requests),
        opt_request=opt_request,
        opt_alt=opt_alt,
        opt_setup_s=arr[:, 2],
        opt_start_s=arr[:, 3],
        opt_end_s=arr[:, 4],
        opt_teardown_s=arr[:, 5],
        occ_ptr=occ_ptr,
        occ_station=occ_station,
        occ_slot=occ_slot,
        no_option_reason=reasons,
    )


def _periods_by_pair(
    windows: pd.DataFrame, horizon_s: float, start: pd.Timestamp
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(node, station) -> sorted view periods in seconds from ``start``, clipped to the horizon."""
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    if not len(windows):
        return out
    a = (pd.to_datetime(windows["start"], utc=True) - start).dt.total_seconds().to_numpy()
    b = (pd.to_datetime(windows["end"], utc=True) - start).dt.total_seconds().to_numpy()
    for node, station, s, e in zip(windows["node"], windows["station"], a, b, strict=True):
        out.setdefault((str(node), str(station)), []).append(
            (max(float(s), 0.0), min(float(e), horizon_s))
        )
    for v in out.values():
        v.sort()
    return out


def _intersect(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Intersection of two sorted interval lists."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi - lo > _EPS_S:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _overlaps(intervals: Sequence[tuple[float, float]], s0: float, s1: float) -> bool:
    return any(a < s1 - _EPS_S and b > s0 + _EPS_S for a, b in intervals)


def _period_count(r: TrackRequest, periods: list[tuple[float, float]]) -> int:
    """How many of the ``periods`` (in time order) get options: :data:`MAX_PERIODS`, and for a
    split request as many more (whole-period segments only) as it takes to offer
    :data:`SPLIT_COVER` x ``duration_s``."""
    if r.min_segment_s is None:
        return MAX_PERIODS
    cover = np.cumsum([b - a for a, b in periods])
    return max(MAX_PERIODS, int(np.searchsorted(cover, SPLIT_COVER * r.duration_s)) + 1)


def _lengths(r: TrackRequest, available: float) -> list[float]:
    """Transmit lengths tried in a view period of ``available`` seconds."""
    longest = min(r.duration_s, available)
    if r.min_segment_s is None:
        return sorted({longest, r.min_duration_s} if r.min_duration_s < longest else {longest})
    seg = r.min_segment_s
    multiples = [k * seg for k in range(1, int(longest // seg) + 1) if k * seg < longest - _EPS_S]
    if len(multiples) > MAX_LENGTHS - 1:
        pick = np.linspace(0, len(multiples) - 1, MAX_LENGTHS - 1).round().astype(int)
        multiples = [multiples[k] for k in sorted(set(pick))]
    return [*multiples, longest]


def _starts(r: TrackRequest, a: float, b: float, step_s: float) -> list[tuple[float, float]]:
    """(start, end) transmit intervals of ``r`` inside [a, b] (module docstring)."""
    out = []
    for length in _lengths(r, b - a):
        hi = b - length
        grid = np.arange(np.ceil(a / step_s) * step_s, hi, step_s)
        grid = grid[(grid > a + _EPS_S) & (grid < hi - _EPS_S)]
        if len(grid) > MAX_STARTS - 2:
            grid = grid[np.linspace(0, len(grid) - 1, MAX_STARTS - 2).round().astype(int)]
        for s in sorted({a, hi, *grid.tolist()}):
            out.append((s, s + length))
    return out


# --------------------------------------------------------------------------- the block
def add_tracks(m: pyo.ConcreteModel, problem: Problem, idx) -> None:
    """Binary t per stage option; per request one option (or non-overlapping segments of
    total in [min_duration_s, duration_s]); antennas shared with the links x; objective terms
    tracked_time and fairness (docs/tracks.md)."""
    opts = idx.track_options
    if len(opts) == 0:
        return
    ts = problem.tracks
    n_slots = max(problem.n_slots, 1)
    m.TRACKS = pyo.RangeSet(0, len(opts) - 1)
    m.t = pyo.Var(m.TRACKS, domain=pyo.Binary)
    t = list(m.t.values())
    req = ts.opt_request[opts]
    dur = ts.duration_s[opts]
    requests, inverse = np.unique(req, return_inverse=True)
    groups = [np.flatnonzero(inverse == g) for g in range(len(requests))]
    split = [g for g, i in enumerate(requests) if ts.split(int(i))]
    single = [g for g, i in enumerate(requests) if not ts.split(int(i)) and len(groups[g]) > 1]
    m.one_option = pyo.Constraint(
        range(len(single)), rule=lambda m, k: pyo.quicksum(t[o] for o in groups[single[k]]) <= 1
    )
    m.SPLIT = pyo.Set(initialize=split, ordered=True)
    m.u = pyo.Var(m.SPLIT, domain=pyo.Binary)

    def sched(g: int):
        return pyo.quicksum(float(dur[o]) * t[o] for o in groups[g])

    def request(g: int) -> TrackRequest:
        return ts.requests[int(requests[g])]

    m.split_got = pyo.Var(m.SPLIT, bounds=lambda m, g: (0, request(g).duration_s))
    m.split_min = pyo.Constraint(
        m.SPLIT, rule=lambda m, g: sched(g) >= request(g).min_duration_s * m.u[g]
    )
    m.split_capped = pyo.Constraint(m.SPLIT, rule=lambda m, g: m.split_got[g] <= sched(g))
    m.split_trimmable = pyo.Constraint(
        m.SPLIT,
        rule=lambda m, g: (
            request(g).min_segment_s * pyo.quicksum(t[o] for o in groups[g])
            <= request(g).duration_s
        ),
    )
    m.split_used = pyo.Constraint(
        m.SPLIT, rule=lambda m, g: pyo.quicksum(t[o] for o in groups[g]) <= len(groups[g]) * m.u[g]
    )
    _no_overlap(m, problem, opts, inverse, split, t)
    _antennas(m, problem, idx, opts, t, n_slots)
    _objective_terms(m, problem, _scheduled(m, problem, opts, requests, inverse, dur, t))


def _scheduled(m, problem: Problem, opts, requests, inverse, dur, t: list) -> list:
    """(request index, seconds, expression) terms of the stage's scheduled seconds: one per
    option of an unsplit request, ``split_got`` (the segments' sum capped at ``duration_s``)
    per split request."""
    ts = problem.tracks
    out = [
        (int(requests[inverse[k]]), float(dur[k]), t[k])
        for k in range(len(opts))
        if not ts.split(int(requests[inverse[k]]))
    ]
    return out + [(int(requests[g]), 1.0, m.split_got[g]) for g in m.SPLIT]


def _no_overlap(m, problem: Problem, opts, inverse, split: list[int], t: list) -> None:
    """Segments of one split request: at most one transmitting per slot."""
    ts = problem.tracks
    keys: list[int] = []
    members: list[int] = []
    for k, o in enumerate(opts):
        if inverse[k] not in split:
            continue
        slots = tx_slots(ts, int(o), problem.step_s)
        keys += [int(inverse[k]) * (problem.n_slots + 1) + s for s in slots]
        members += [k] * len(slots)
    if not keys:
        return
    key_arr, mem = np.array(keys), np.array(members)
    uniq, inv = np.unique(key_arr, return_inverse=True)
    rows = [mem[inv == g] for g in range(len(uniq))]
    rows = [r for r in rows if len(r) > 1]
    m.segments_apart = pyo.Constraint(
        range(len(rows)), rule=lambda m, k: pyo.quicksum(t[o] for o in rows[k]) <= 1
    )


def _antennas(m, problem: Problem, idx, opts, t: list, n_slots: int) -> None:
    """Per (station, slot) an option touches: links on + options <= free antennas."""
    ts = problem.tracks
    counts = np.diff(ts.occ_ptr)[opts]
    entries = np.concatenate([np.arange(ts.occ_ptr[o], ts.occ_ptr[o + 1]) for o in opts])
    member = np.repeat(np.arange(len(opts)), counts)
    key = ts.occ_station[entries] * n_slots + ts.occ_slot[entries]
    link_key = problem.cand_station[idx.links] * n_slots + problem.cand_slot[idx.links]
    lk_order = np.argsort(link_key, kind="stable")
    lk_sorted = link_key[lk_order]
    # Only where the count can rise: an option's first slot, a link, or fewer free antennas
    # than in the slot before (between such points the options covering a slot all cover the
    # last such point before it too).
    free_all = idx.track_free.reshape(-1)
    first = ts.occ_slot[entries] == ts.occ_slot[ts.occ_ptr[opts]][member]
    starts = np.unique(key[first])
    drop = (key % n_slots > 0) & (free_all[key] >= free_all[key - 1])
    check = np.isin(key, starts) | np.isin(key, link_key) | ~drop
    key, member = key[check], member[check]
    uniq, inv = np.unique(key, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds_ = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
    lo, hi = np.searchsorted(lk_sorted, uniq), np.searchsorted(lk_sorted, uniq, side="right")
    free = free_all[uniq]
    xs = list(m.x.values()) if hasattr(m, "x") else []
    rows = []
    for g in range(len(uniq)):
        opt_members = member[order[bounds_[g] : bounds_[g + 1]]]
        links = lk_order[lo[g] : hi[g]]
        if len(opt_members) + len(links) > free[g]:
            rows.append((opt_members, links, float(free[g])))
    m.track_antennas = pyo.Constraint(
        range(len(rows)),
        rule=lambda m, k: (
            None,
            pyo.quicksum([t[o] for o in rows[k][0]]) + pyo.quicksum([xs[i] for i in rows[k][1]]),
            rows[k][2],
        ),
    )


def _objective_terms(m, problem: Problem, scheduled: list) -> None:
    """tracked_time: mean unscheduled fraction of the stage's requests; fairness: worst
    mission's unscheduled fraction + RMS_WEIGHT x mean square of the missions' fractions.
    ``scheduled``: (request, seconds, expression) terms (:func:`_scheduled`)."""
    ts = problem.tracks
    rank = ts.requests[scheduled[0][0]].rank
    in_class = [i for i, r in enumerate(ts.requests) if r.rank == rank]
    requested = ts.requested_s
    n = len(in_class)
    tracked = 1.0 - pyo.quicksum(sec / requested[i] / n * x for i, sec, x in scheduled)
    m.objective_terms.append((float(problem.weights.get("tracked_time", 0.0)), tracked))
    missions = sorted({ts.requests[i].mission for i in in_class})
    total = dict.fromkeys(missions, 0.0)
    for i in in_class:
        total[ts.requests[i].mission] += requested[i]
    position = {mi: k for k, mi in enumerate(missions)}
    of = np.array([position[ts.requests[i].mission] for i, _, _ in scheduled])
    members = [np.flatnonzero(of == k) for k in range(len(missions))]
    m.MISSIONS = pyo.RangeSet(0, len(missions) - 1)
    m.mission_unsat = pyo.Var(m.MISSIONS, bounds=(0, 1))
    m.mission_peak = pyo.Var(bounds=(0, 1))
    m.mission_square = pyo.Var(m.MISSIONS, bounds=(0, 1))
    m.mission_share = pyo.Constraint(
        m.MISSIONS,
        rule=lambda m, k: (
            m.mission_unsat[k]
            + pyo.quicksum(
                scheduled[j][1] / total[missions[k]] * scheduled[j][2] for j in members[k]
            )
            == 1.0
        ),
    )
    m.mission_worst = pyo.Constraint(
        m.MISSIONS, rule=lambda m, k: m.mission_peak >= m.mission_unsat[k]
    )
    m.mission_tangent = pyo.Constraint(
        m.MISSIONS,
        range(len(SQUARE_POINTS)),
        rule=lambda m, k, j: (
            m.mission_square[k] >= 2 * SQUARE_POINTS[j] * m.mission_unsat[k] - SQUARE_POINTS[j] ** 2
        ),
    )
    fairness = m.mission_peak + RMS_WEIGHT / len(missions) * pyo.quicksum(m.mission_square.values())
    m.objective_terms.append((float(problem.weights.get("fairness", 0.0)), fairness))


def start_values(m: pyo.ConcreteModel, problem: Problem, on: np.ndarray) -> tuple[list, np.ndarray]:
    """Track variables of ``m`` and their values for options ``on`` (a MIP start)."""
    opts = m.stage.track_options
    if len(opts) == 0 or not hasattr(m, "t"):
        return [], np.zeros(0)
    ts = problem.tracks
    t = on[opts].astype(float)
    variables, values = list(m.t.values()), [t]
    req = ts.opt_request[opts]
    requests = np.unique(req)
    for g in m.SPLIT:
        mine = req == requests[g]
        got = min(float(t[mine] @ ts.duration_s[opts][mine]), ts.requests[requests[g]].duration_s)
        variables += [m.u[g], m.split_got[g]]
        values.append(np.array([float(t[mine].any()), got]))
    rank = ts.requests[int(requests[0])].rank
    in_class = [i for i, r in enumerate(ts.requests) if r.rank == rank]
    got = np.minimum(
        np.bincount(req, weights=t * ts.duration_s[opts], minlength=len(ts.requests)),
        ts.requested_s,
    )
    missions = sorted({ts.requests[i].mission for i in in_class})
    u = np.array(
        [
            1.0
            - sum(got[i] for i in in_class if ts.requests[i].mission == mi)
            / sum(ts.requests[i].duration_s for i in in_class if ts.requests[i].mission == mi)
            for mi in missions
        ]
    )
    variables += [*m.mission_unsat.values(), m.mission_peak]
    values += [u, np.array([u.max()])]
    squares = np.max([np.zeros_like(u)] + [2 * a * u - a * a for a in SQUARE_POINTS], axis=0)
    variables += list(m.mission_square.values())
    values.append(squares)
    return variables, np.concatenate(values)


# --------------------------------------------------------------------------- greedy
def place_tracks(state) -> None:
    """Greedy tracks of the current stage's class: requests by (due, release, id), each the
    longest, then earliest option whose antennas are free; split requests take
    non-overlapping segments in time order until the requested time is reached (the last ones
    trimmed in the plan, :func:`trimmed_ends`)."""
    p = state.problem
    ts: TrackSet = p.tracks
    if len(ts) == 0:
        return
    opts = state.stage_track_options()
    if len(opts) == 0:
        return
    dur = ts.duration_s
    order_req = sorted(
        set(ts.opt_request[opts].tolist()),
        key=lambda i: (ts.requests[i].due, ts.requests[i].release, ts.requests[i].id),
    )
    by_req = {i: opts[ts.opt_request[opts] == i] for i in order_req}
    for i in order_req:
        r = ts.requests[i]
        cand = by_req[i]
        if not ts.split(i):
            for o in cand[np.lexsort((ts.opt_start_s[cand], -dur[cand]))]:
                if state.track_fits(int(o)):
                    state.place_track(int(o))
                    break
            continue
        chosen: list[int] = []
        busy: set[int] = set()
        total = 0.0
        for o in cand[np.lexsort((-dur[cand], ts.opt_start_s[cand]))]:
            slots = set(tx_slots(ts, int(o), p.step_s))
            if total >= r.duration_s - _EPS_S:
                break
            if (len(chosen) + 1) * r.min_segment_s > r.duration_s + _EPS_S or slots & busy:
                continue
            if state.track_fits(int(o)):
                state.place_track(int(o))
                chosen.append(int(o))
                busy |= slots
                total += dur[o]
        if total < r.min_duration_s - _EPS_S:
            for o in chosen:
                state.remove_track(o)


def trimmed_ends(ts: TrackSet, track_on: np.ndarray) -> np.ndarray:
    """Transmit end per option: ``opt_end_s``, earlier for the last segments of a split
    request whose chosen segments add up to more than ``duration_s`` (each cut back to at
    least ``min_segment_s``, latest first, until the sum is ``duration_s``; the MILP's
    ``split_trimmable`` row and the greedy keep that possible). The option's antenna slots
    stay booked."""
    end = ts.opt_end_s.copy()
    chosen = np.flatnonzero(track_on)
    excess = (
        np.bincount(
            ts.opt_request[chosen], weights=ts.duration_s[chosen], minlength=len(ts.requests)
        )
        - ts.requested_s
    )
    for o in chosen[np.argsort(-ts.opt_start_s[chosen], kind="stable")]:
        i = int(ts.opt_request[o])
        if excess[i] <= _EPS_S or not ts.split(i):
            continue
        cut = min(excess[i], ts.duration_s[o] - ts.requests[i].min_segment_s)
        end[o] -= cut
        excess[i] -= cut
    return end


def tx_slots(ts: TrackSet, o: int, step_s: float) -> range:
    """Slots the transmit interval of option ``o`` touches."""
    a = int(np.floor(ts.opt_start_s[o] / step_s + 1e-9))
    return range(a, max(int(np.ceil(ts.opt_end_s[o] / step_s - 1e-9)), a + 1))


# --------------------------------------------------------------------------- scores and bound
def track_score(problem: Problem, track_on: np.ndarray, rank: int) -> float:
    """The track terms of class ``rank``'s stage objective (``tracked_time`` and ``fairness``
    with their weights, as :func:`add_tracks` states them) for the chosen options ``track_on``;
    0 for a class without requests."""
    ts = problem.tracks
    got = np.bincount(
        ts.opt_request[track_on], weights=ts.duration_s[track_on], minlength=len(ts.requests)
    )
    return _weighted_terms(problem, rank, got)


def track_bound(problem: Problem, rank: int) -> float:
    """A lower bound of :func:`track_score` of class ``rank`` over every plan.

    Per request ``i`` an upper bound ``M_i`` of its scheduled seconds, ignoring every other
    request and sync (antenna contention): one option's longest transmit time, or for a split
    request the measure of the union of its options' transmit intervals capped at
    ``duration_s`` (its segments never overlap and never add up beyond ``duration_s``). Valid
    because both terms are non-increasing in every ``S_i``: ``tracked_time`` is linear with
    negative coefficients, and every ``U_m`` falls as ``S_i`` rises while ``max`` and the
    tangents of ``U_m^2`` (``U_m >= 0``) are non-decreasing in ``U_m``; so ``S_i <= M_i`` for all
    ``i`` gives ``score(S) >= score(M)``."""
    ts = problem.tracks
    most = np.zeros(len(ts.requests))
    for i in np.unique(ts.opt_request):
        mine = np.flatnonzero(ts.opt_request == i)
        if not ts.split(int(i)):
            most[i] = ts.duration_s[mine].max()
            continue
        covered, reach = 0.0, -np.inf
        for a, b in sorted(zip(ts.opt_start_s[mine], ts.opt_end_s[mine], strict=True)):
            covered += max(b - max(a, reach), 0.0)
            reach = max(reach, b)
        most[i] = min(covered, ts.requests[int(i)].duration_s)
    return _weighted_terms(problem, rank, most)


def _weighted_terms(problem: Problem, rank: int, got: np.ndarray) -> float:
    """weights x (tracked_time + fairness) of class ``rank`` for scheduled seconds ``got`` per
    request (the MILP's terms: U_m^2 by its tangents)."""
    ts = problem.tracks
    in_class = [i for i, r in enumerate(ts.requests) if r.rank == rank]
    if not in_class:
        return 0.0
    requested = ts.requested_s[in_class]
    share = np.minimum(got[in_class], requested) / requested
    tracked = 1.0 - float(share.mean())
    missions = [ts.requests[i].mission for i in in_class]
    names, of = np.unique(missions, return_inverse=True)
    total = np.bincount(of, weights=requested, minlength=len(names))
    unsat = 1.0 - np.bincount(of, weights=share * requested, minlength=len(names)) / total
    squares = np.max([np.zeros_like(unsat)] + [2 * a * unsat - a * a for a in SQUARE_POINTS], 0)
    fairness = float(unsat.max() + RMS_WEIGHT * squares.mean())
    weights = problem.weights
    return (
        float(weights.get("tracked_time", 0.0)) * tracked
        + float(weights.get("fairness", 0.0)) * fairness
    )
