"""What the planner can know at the current simulated time: the access windows and the faults
that have started so far (each known with its end), and the usable link time they leave."""

from __future__ import annotations

import bisect
import itertools
import math

import numpy as np
import pandas as pd

from rsmodel.geometry.link import profiles_of
from rsmodel.model.scenario import Scenario
from rsmodel.simulate.faults import Degradation, Outage
from rsmodel.simulate.residual import Link, subtract

_ROW_COLUMNS = ("id", "node", "station", "start_s", "end_s", "rate_Bps", "setup_s")


class Windows:
    """The geometry's access windows on the simulated clock (s from the horizon start).

    ``table``: indexed by window id; columns id, node, station, start_s, end_s, rate_Bps
    (bytes/s), setup_s.
    """

    def __init__(self, windows: pd.DataFrame, scenario: Scenario) -> None:
        self.table = _window_table(windows, scenario)
        w = self.table
        self.rows = sorted(
            zip(*(w[c].tolist() for c in _ROW_COLUMNS), strict=True), key=lambda r: r[4]
        )
        self._ends = [r[4] for r in self.rows]
        self.bounds = dict(zip(w.index, zip(w.start_s, w.end_s, strict=True), strict=True))
        self.rates = dict(zip(w.index, w.rate_Bps, strict=True))
        bands = windows["band"] if "band" in windows else pd.Series(None, index=windows.index)
        self.band: dict[str, str | None] = dict(zip(w.index, bands.tolist(), strict=True))
        self.step_s = scenario.step_s
        self.horizon_s = scenario.duration_s
        rows, self._profiles = profiles_of(windows)
        ids = windows["id"].to_numpy()[rows].tolist()
        self._profile_of = dict(zip(ids, range(len(rows)), strict=True))
        self._knots: dict[str, list[float]] = {}  # window id -> profile knots, s (horizon)
        if self._profiles is not None:
            p = self._profiles
            for wid, a, b in zip(ids, p.first.tolist(), (p.last + 1).tolist(), strict=True):
                self._knots[wid] = (self.bounds[wid][0] + p.t_s[a:b]).tolist()

    def __len__(self) -> int:
        return len(self.table)

    def rate_at(self, window_id: str, t_s: float, a_s: float, b_s: float) -> float:
        """Rate (bytes/s) of the window at ``t_s`` for a transfer over [a_s, b_s]: for a window
        with a rate profile, the profile's mean over the piece of [a_s, b_s] between two of its
        knots that holds ``t_s`` (so whole pieces carry exactly the integral of the rate,
        docs/links.md); else its constant rate."""
        knots = self._knots.get(window_id)
        if knots is None:
            return self.rates[window_id]
        k = bisect.bisect_right(knots, t_s)
        lo = max(a_s, knots[k - 1]) if k > 0 else a_s
        hi = min(b_s, knots[k]) if k < len(knots) else b_s
        if hi - lo <= 1e-9:
            return 0.0
        return self.mean_rate(window_id, lo, hi)

    def carried_bytes(self, window_id: str, a_s: float, b_s: float) -> float:
        """Bytes the window carries from ``a_s`` to ``b_s``: the integral of its rate profile
        (linear between knots), else its constant rate x the seconds."""
        if window_id not in self._knots:
            return self.rates[window_id] * (b_s - a_s)
        assert self._profiles is not None
        w0 = self.bounds[window_id][0]
        i = np.array([self._profile_of[window_id]])
        bits = self._profiles.integral_bits(i, np.array([a_s - w0]), np.array([b_s - w0]))
        return float(bits[0]) / 8.0

    def mean_rate(self, window_id: str, a_s: float, b_s: float) -> float:
        """Mean rate (bytes/s) of the window over [a_s, b_s]: its constant rate, or the
        integral of its rate profile over the seconds."""
        if window_id not in self._knots or b_s - a_s <= 1e-9:
            return self.rates[window_id]
        return self.carried_bytes(window_id, a_s, b_s) / (b_s - a_s)

    def rate_steps_s(self, window_id: str, a_s: float, b_s: float) -> list[float]:
        """Instants in (a_s, b_s) where :meth:`rate_at` may change (the knots of a window's
        rate profile)."""
        knots = self._knots.get(window_id)
        if knots is None:
            return []
        return knots[bisect.bisect_right(knots, a_s) : bisect.bisect_left(knots, b_s)]

    def slot_edges_s(self, window_id: str, a_s: float, b_s: float) -> list[float]:
        """Grid slot edges in (a_s, b_s) of a window with a rate profile (none for a constant
        rate)."""
        if window_id not in self._knots:
            return []
        first = math.floor(a_s / self.step_s + 1e-9) + 1
        return [k * self.step_s for k in range(first, math.ceil(b_s / self.step_s - 1e-9))]

    def rows_ending_after(self, t_s: float) -> list[tuple]:
        """Rows (id, node, station, start_s, end_s, rate_Bps, setup_s) of windows not over at ``t_s``."""
        return self.rows[bisect.bisect_right(self._ends, t_s) :]

    def stations_in_view(self, node: str, t_s: float) -> set[str]:
        """Stations ``node`` sees at ``t_s``."""
        w = self.table
        return set(w[(w.node == node) & (w.start_s <= t_s) & (w.end_s > t_s)].station)


class KnownFaults:
    """Faults known so far: an outage, node fault or degradation from its start (with its end),
    a dropped pass from the pass start."""

    def __init__(self, windows: Windows) -> None:
        self.windows = windows
        self.station_outages: list[Outage] = []
        self.node_faults: list[Outage] = []
        self.degradations: list[Degradation] = []
        self.dropped: set[str] = set()

    def factor(self, station: str, t_s: float) -> float:
        """Bandwidth factor of ``station`` at ``t_s`` (product of the known degradations)."""
        f = 1.0
        for d in self.degradations:
            if (d.station is None or d.station == station) and d.start_s <= t_s < d.end_s:
                f *= d.factor
        return f

    def node_down(self, node: str, t_s: float) -> bool:
        return any(o.name == node and o.start_s <= t_s < o.end_s for o in self.node_faults)

    def links(self, t_s: float) -> list[Link]:
        """Usable pieces of every window from ``t_s`` on, after the faults known now, cut where
        the rate changes (degradations; grid slot edges of a window with a rate profile, each
        piece at the profile's mean over it: docs/links.md, known limits).

        A piece that starts when an outage ends pays the station's setup time again.
        """
        cuts_station: dict[str, list[tuple[float, float]]] = {}
        for o in self.station_outages:
            cuts_station.setdefault(o.name, []).append((o.start_s, o.end_s))
        cuts_node: dict[str, list[tuple[float, float]]] = {}
        for o in self.node_faults:
            cuts_node.setdefault(o.name, []).append((o.start_s, o.end_s))
        edges = sorted({x for d in self.degradations for x in (d.start_s, d.end_s)})
        links: list[Link] = []
        for wid, node, station, w0, w1, _rate, setup in self.windows.rows_ending_after(t_s):
            if wid in self.dropped:
                continue
            pieces = [(max(w0 + setup, t_s), w1)]
            cuts = cuts_station.get(station, []) + cuts_node.get(node, [])
            if cuts:
                ends = {c1 for _, c1 in cuts}
                pieces = [
                    (a + setup if a in ends and a > t_s else a, b)
                    for a, b in subtract(pieces, cuts)
                ]
            for a, b in pieces:
                if b <= a:
                    continue
                steps = self.windows.slot_edges_s(wid, a, b)
                if not edges and not steps:
                    mean = self.windows.mean_rate(wid, a, b)
                    links.append(Link(wid, node, station, a, b, mean, self.windows.band[wid]))
                    continue
                marks = sorted({a, b, *steps, *(e for e in edges if a < e < b)})
                links += [
                    Link(
                        wid,
                        node,
                        station,
                        c0,
                        c1,
                        self.windows.mean_rate(wid, c0, c1) * self.factor(station, c0),
                        self.windows.band[wid],
                    )
                    for c0, c1 in itertools.pairwise(marks)
                ]
        return links


def _window_table(windows: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Windows indexed by id with start/end in seconds, rate in bytes/s and setup time."""
    start = pd.Timestamp(scenario.start)
    setup = {s.name: s.setup_s for s in scenario.stations}
    return pd.DataFrame(
        {
            "id": windows["id"].to_numpy(),
            "node": windows["node"].to_numpy(),
            "station": windows["station"].to_numpy(),
            "start_s": (windows["start"] - start).dt.total_seconds().to_numpy(),
            "end_s": (windows["end"] - start).dt.total_seconds().to_numpy(),
            "rate_Bps": windows["bandwidth_bps"].to_numpy(dtype=float) / 8.0,
            "setup_s": windows["station"].map(setup).fillna(0.0).to_numpy(),
        },
        index=pd.Index(windows["id"].to_numpy(), name="window_id"),
    )
