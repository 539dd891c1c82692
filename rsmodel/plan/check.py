"""Independent feasibility checker for plan.json-like dicts (does not import the optimiser).

``check_plan(plan) -> list[str]``: one line per violation, empty when the plan is valid. It
reads only ``horizon``, ``stations``, ``windows``, ``operations``, ``syncs`` and
``job_downlinks`` (compute-job outputs sent to ground, checked exactly like syncs; their deadline
misses against ``kpis.job_downlinks``) (and ``kpis`` when present) and verifies:

- operations: known sync/window, node and station as in the window, inside the window, after
  the sync's release, positive bytes and a positive duration (no zero-length operation);
- the timeline is exact (operations are the executable timeline, docs/plan-format.md): each
  operation's bytes equal ``bandwidth_bps / 8 x (end - start)`` within one timestamp resolution
  (1 us) at the rate (``executed=True``: at most that, a simulated execution may run slower);
  on a window with a rate profile, the integral of its per-slot rate (``check_link.py``);
  per link, per antenna (``antenna`` of the operation, ``0 .. antennas - 1``) and per node no two
  operations overlap (per node and band for a node with ``simultaneous_bands``); a contact — the operations one antenna carries for one link without another
  link or another station of the node in between — starts ``setup_s`` after the window opens and
  after the antenna's and the node's previous operations end;
- exclusivity: at most ``antennas`` nodes in contact with a station at once;
- bytes conserved and statuses consistent: operations of a sync add up to its
  ``delivered_bytes`` (<= size); complete / partial / unmet and ``completed_at`` agree; deadline
  misses are counted in ``kpis.deadline_misses``;
- priority (seed 000), judged per slot of the plan's grid (``horizon.step_s``): no lower-class
  bytes at a station in a slot while a higher-class sync of a node that sees the station in that
  slot (for more than ``setup_s`` + 1 s) is released by the slot start, incomplete then, and its
  node sends nothing of that class or higher in the slot, when the capacity taken was the
  lower-class data's own link (same node) or the station's last free antenna held by a contact
  carrying only classes below the waiting sync's (at a station with a turnaround, the waiting
  node must see it while the low contact's slot delays the antenna's release by the station's
  longest turnaround, at the slot model's resolution, ``_delayed``);
- antennas: turnaround between nodes and per-antenna maintenance (``check_antennas.py``).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rsmodel.plan.check_antennas import Turnarounds, check_antennas
from rsmodel.plan.check_link import check_link_rates, has_profile, window_carries
from rsmodel.plan.check_recorder import check_recorder, source_ids
from rsmodel.plan.check_tracks import check_tracks
from rsmodel.timeutil import RESOLUTION_S, parse_time

if TYPE_CHECKING:
    from rsmodel.model.scenario import Scenario

# The checker's own copy of the priority order, on purpose: it checks plans independently of the
# code that made them, so it does not import rsmodel.model.vocabulary (the one table).
RANK = {"critical": 0, "high": 1, "normal": 2, "low": 3}
TIME_TOL_S = 0.01
EXACT_TOL_S = RESOLUTION_S  # timestamps are serialised to the microsecond
BYTES_TOL = 1.0
MIN_INVERSION_S = 1.0


@dataclass(frozen=True)
class _Op:
    index: int
    sync_id: str
    node: str
    station: str
    window_id: str
    start: float
    end: float
    bytes: float
    antenna: int | None
    radio: str  # the node, or node/band for a node with simultaneous_bands (one link at a time)


def check_plan(
    plan: Mapping[str, Any], *, executed: bool = False, scenario: Scenario | None = None
) -> list[str]:
    """All violations found in ``plan`` (plan.json v1 layout); ``[]`` means valid.

    ``executed``: the operations are a record of simulated transfers, which may have run below
    the link rate (degraded links), so their bytes need only fit the rate. Recorders and SOC:
    :func:`rsmodel.plan.check_recorder.check_recorder` (``scenario``: the plan's model, else
    loaded from the plan)."""
    t0 = parse_time(plan["horizon"]["start"])

    def sec(value: Any) -> float | None:
        return None if value is None else (parse_time(value) - t0).total_seconds()

    stations = {s["name"]: s for s in plan["stations"]}
    windows = {w["id"]: {**w, "t0": sec(w["start"]), "t1": sec(w["end"])} for w in plan["windows"]}
    syncs = {
        s["id"]: {
            **s,
            "rel": sec(s.get("release")) or 0.0,
            "dl": sec(s.get("deadline")),
            "done": sec(s.get("completed_at")),
        }
        for s in [*plan["syncs"], *plan.get("job_downlinks", [])]
    }
    multi = {n["name"] for n in plan.get("nodes", []) if n.get("simultaneous_bands")}
    ops = [
        _Op(
            i,
            o["sync_id"],
            o["node"],
            o["station"],
            o["window_id"],
            sec(o["start"]),
            sec(o["end"]),
            float(o["bytes"]),
            o.get("antenna"),
            o["node"]
            + (f"/{windows.get(o['window_id'], {}).get('band')}" if o["node"] in multi else ""),
        )
        for i, o in enumerate(plan["operations"])
    ]
    sources = source_ids(plan)  # source data: checked against production by check_recorder
    problems = _check_operations(ops, windows, {**syncs, **sources}, stations)
    if problems:  # later checks assume well-formed operations
        return problems
    sync_ops = [o for o in ops if o.sync_id not in sources]
    problems += _check_rate(ops, windows, executed)
    problems += check_link_rates(plan, executed=executed)  # rate profiles (check_link.py)
    problems += _check_overlaps(ops)
    problems += _check_setup(ops, windows, stations)
    problems += _check_exclusivity(_contacts(ops), stations)
    problems += _check_bytes_and_status(sync_ops, syncs, plan.get("kpis"))
    step_s = float(plan["horizon"].get("step_s") or 60.0)
    horizon_s = sec(plan["horizon"]["end"])
    turns = Turnarounds(plan)
    problems += _check_priority(sync_ops, windows, syncs, stations, step_s, horizon_s, turns)
    problems += check_antennas(plan, turns)
    problems += check_tracks(plan)  # antenna-time requests (rsmodel/plan/check_tracks.py)
    return problems + check_recorder(plan, scenario)


# --------------------------------------------------------------------------- operations
def _check_operations(ops: Sequence[_Op], windows: dict, syncs: dict, stations: dict) -> list[str]:
    out = []
    for op in ops:
        where = f"operations[{op.index}] ({op.sync_id} {op.node}->{op.station})"
        w, s = windows.get(op.window_id), syncs.get(op.sync_id)
        if s is None:
            out.append(f"{where}: unknown sync {op.sync_id!r}")
            continue
        if w is None:
            out.append(f"{where}: unknown window {op.window_id!r}")
            continue
        if op.station not in stations:
            out.append(f"{where}: unknown station {op.station!r}")
        if (w["node"], w["station"]) != (op.node, op.station) or s["node"] != op.node:
            out.append(
                f"{where}: node/station differ from window {op.window_id} or sync {op.sync_id}"
            )
        if op.start < w["t0"] - TIME_TOL_S or op.end > w["t1"] + TIME_TOL_S:
            out.append(f"{where}: outside window {op.window_id}")
        if op.end <= op.start:
            out.append(
                f"{where}: lasts {op.end - op.start:.6f} s; expected end after start (a zero-"
                "length operation cannot be executed)"
            )
        if op.bytes <= 0:
            out.append(f"{where}: non-positive bytes {op.bytes}")
        if op.start < s["rel"] - TIME_TOL_S:
            out.append(f"{where}: starts before the sync's release")
        antennas = int(stations.get(op.station, {}).get("antennas", 1) or 1)
        if op.antenna is not None and not 0 <= int(op.antenna) < antennas:
            out.append(f"{where}: antenna {op.antenna} not in 0..{antennas - 1}")
    return out


def _contacts(ops: Sequence[_Op]) -> list[list[_Op]]:
    """Maximal runs of touching/overlapping operations of one node at one station."""
    by_link: dict[tuple[str, str], list[_Op]] = defaultdict(list)
    for op in ops:
        by_link[(op.node, op.station)].append(op)
    contacts = []
    for link_ops in by_link.values():
        link_ops.sort(key=lambda o: o.start)
        current, end = [link_ops[0]], link_ops[0].end
        for op in link_ops[1:]:
            if op.start <= end + TIME_TOL_S:
                current.append(op)
                end = max(end, op.end)
            else:
                contacts.append(current)
                current, end = [op], op.end
        contacts.append(current)
    return contacts


# --------------------------------------------------------------------------- timeline
def _check_rate(ops: Sequence[_Op], windows: dict, executed: bool) -> list[str]:
    """Bytes = rate x duration (executed: <=), within one timestamp resolution at the rate.

    Windows with a rate profile (a link budget or rate table) are checked by
    :func:`rsmodel.plan.check_link.check_link_rates`."""
    out = []
    for op in ops:
        window = windows[op.window_id]
        if has_profile(window):
            continue
        rate = float(window["bandwidth_bps"]) / 8.0
        duration_s = op.end - op.start
        tol = BYTES_TOL + rate * EXACT_TOL_S
        if op.bytes > rate * duration_s + tol or (
            not executed and op.bytes < rate * duration_s - tol
        ):
            out.append(
                f"rate: operations[{op.index}] ({op.sync_id} {op.node}->{op.station}) carries "
                f"{op.bytes:.0f} bytes in {duration_s:.6f} s; the link rate gives "
                f"{rate * duration_s:.0f}"
            )
    return out


def _check_overlaps(ops: Sequence[_Op]) -> list[str]:
    """No two operations at once on one link, one antenna (when given) or one node."""
    groups: dict[tuple, list[_Op]] = defaultdict(list)
    for op in ops:
        groups[("link", f"{op.node}->{op.station}")].append(op)
        groups[("node", op.radio)].append(op)
        if op.antenna is not None:
            groups[("antenna", f"{op.station}#{op.antenna}")].append(op)
    out = []
    for (kind, name), items in groups.items():
        items = sorted(items, key=lambda o: (o.start, o.end))
        busy = items[0]
        for op in items[1:]:
            if op.start < busy.end - EXACT_TOL_S:
                out.append(
                    f"overlap: {kind} {name}: operations[{busy.index}] ({busy.sync_id}) and "
                    f"operations[{op.index}] ({op.sync_id}) both run at {op.start:.6f} s"
                )
            if op.end > busy.end:
                busy = op
    return out


def _check_setup(ops: Sequence[_Op], windows: dict, stations: dict) -> list[str]:
    """Each contact starts ``setup_s`` after its window opens and after the previous operation
    of its antenna (or link, when operations name no antenna) and of its node ends."""
    by_node: dict[str, list[_Op]] = defaultdict(list)
    by_antenna: dict[tuple, list[_Op]] = defaultdict(list)
    for op in sorted(ops, key=lambda o: (o.start, o.end)):
        by_node[op.radio].append(op)
        key = (op.station, op.antenna) if op.antenna is not None else (op.station, op.node)
        by_antenna[key].append(op)
    prev_of_node = {
        op.index: (items[k - 1] if k else None)
        for items in by_node.values()
        for k, op in enumerate(items)
    }
    out = []
    for items in by_antenna.values():
        for k, op in enumerate(items):
            before = items[k - 1] if k else None
            node_before = prev_of_node[op.index]
            same_contact = (
                before is not None
                and before.window_id == op.window_id
                and node_before is not None
                and node_before.station == op.station
            )
            if same_contact:
                continue
            ready = op.start - float(stations[op.station].get("setup_s", 0.0) or 0.0)
            late = [windows[op.window_id]["t0"]] + [
                o.end for o in (before, node_before) if o is not None
            ]
            if ready < max(late) - EXACT_TOL_S:
                out.append(
                    f"setup: operations[{op.index}] ({op.sync_id} {op.node}->{op.station}) starts "
                    f"a contact at {op.start:.6f} s without its station's setup_s before it"
                )
    return out


# --------------------------------------------------------------------------- exclusivity
def _check_exclusivity(contacts: list[list[_Op]], stations: dict) -> list[str]:
    spans = [
        (c[0].node, c[0].station, min(o.start for o in c), max(o.end for o in c)) for c in contacts
    ]
    out = []
    by_station: dict[str, list] = defaultdict(list)
    for span in spans:
        by_station[span[1]].append(span)
    for name, items in by_station.items():
        antennas = int(stations[name].get("antennas", 1) or 1)
        peak, when = _peak_overlap(items)
        if peak > antennas:
            out.append(
                f"exclusivity: station {name} serves {peak} nodes at once near {when:.1f}s (antennas {antennas})"
            )
    return out


def _peak_overlap(spans: list[tuple]) -> tuple[int, float]:
    """Most spans open at one instant (spans touching within the tolerance do not overlap)."""
    events = sorted(
        [(s[2] + TIME_TOL_S, 1) for s in spans] + [(s[3] - TIME_TOL_S, -1) for s in spans]
    )
    level, peak, when = 0, 0, 0.0
    for t, step in sorted(events, key=lambda e: (e[0], e[1])):
        level += step
        if level > peak:
            peak, when = level, t
    return peak, when


# --------------------------------------------------------------------------- bytes and status
def _check_bytes_and_status(
    ops: Sequence[_Op], syncs: dict, kpis: Mapping[str, Any] | None
) -> list[str]:
    out = []
    moved: dict[str, float] = defaultdict(float)
    last: dict[str, float] = {}
    for op in ops:
        moved[op.sync_id] += op.bytes
        last[op.sync_id] = max(op.end, last.get(op.sync_id, op.end))
    misses: dict[str, int] = defaultdict(int)
    for sid, s in syncs.items():
        size, got = float(s["data_size_bytes"]), float(s["delivered_bytes"])
        tol = max(BYTES_TOL, 1e-9 * size)
        if abs(moved[sid] - got) > tol:
            out.append(
                f"bytes: sync {sid} operations move {moved[sid]:.0f} bytes, delivered_bytes says {got:.0f}"
            )
        if got > size + tol:
            out.append(
                f"bytes: sync {sid} delivers {got:.0f} of {size:.0f} bytes (more than its size)"
            )
        expected = "complete" if got >= size - tol else ("partial" if got > tol else "unmet")
        if s["status"] != expected:
            out.append(
                f"status: sync {sid} is {s['status']!r} but delivered {got:.0f} of {size:.0f} bytes"
            )
        if expected == "complete" and (
            s["done"] is None or abs(s["done"] - last.get(sid, -1e18)) > 1.0
        ):
            out.append(
                f"status: sync {sid} completed_at differs from the end of its last operation"
            )
        if expected != "complete" and s["done"] is not None:
            out.append(f"status: sync {sid} is not complete but has completed_at")
        if expected != "complete" and not s.get("reason"):
            out.append(f"status: sync {sid} is {expected} without a reason")
        if s["dl"] is not None and (s["done"] is None or s["done"] > s["dl"] + TIME_TOL_S):
            misses[s.get("kind", "sync")] += 1
    counted = {"sync": kpis, "job_output": (kpis or {}).get("job_downlinks")}
    for kind, section in counted.items():
        if (
            section
            and "deadline_misses" in section
            and int(section["deadline_misses"]) != misses[kind]
        ):
            out.append(
                f"kpis: {kind} deadline_misses is {section['deadline_misses']} but "
                f"{misses[kind]} {kind}s miss their deadline"
            )
    return out


# --------------------------------------------------------------------------- priority
def _check_priority(
    ops: Sequence[_Op],
    windows: dict,
    syncs: dict,
    stations: dict,
    step_s: float,
    horizon_s: float,
    turns: Turnarounds,
) -> list[str]:
    """Slot by slot on the plan's grid (see the module docstring)."""
    by_station_slot = _by_slot(ops, lambda o: o.station, step_s, horizon_s)
    by_node_slot = _by_slot(ops, lambda o: o.node, step_s, horizon_s)
    windows_by_station: dict[str, list[dict]] = defaultdict(list)
    for w in windows.values():
        windows_by_station[w["station"]].append(w)
    syncs_of_node: dict[str, list[dict]] = defaultdict(list)
    for sync in sorted(syncs.values(), key=lambda x: RANK[x["priority"]]):
        syncs_of_node[sync["node"]].append(sync)
    delivered_by = _delivered_by(ops)
    out: list[str] = []
    for (name, k), active in sorted(by_station_slot.items()):
        t0, t1 = k * step_s, min((k + 1) * step_s, horizon_s)
        setup = float(stations[name].get("setup_s", 0.0) or 0.0)
        full = len({o.node for o in active}) >= int(stations[name].get("antennas", 1) or 1)
        seen = [
            w
            for w in windows_by_station[name]
            if min(w["t1"], t1) - max(w["t0"], t0) > setup + MIN_INVERSION_S
            and window_carries(w, max(w["t0"], t0), min(w["t1"], t1))
        ]
        visible = {w["node"] for w in seen}
        turn = turns.most_s(name)
        best_at_station = {}
        for o in active:
            rank = RANK[syncs[o.sync_id]["priority"]]
            best_at_station[o.node] = min(rank, best_at_station.get(o.node, rank))
        for low in active:
            low_rank = RANK[syncs[low.sync_id]["priority"]]
            for m in sorted(visible):
                if m != low.node and not full:
                    continue
                if m != low.node and not _delayed(seen, m, low, t0, t1, turn, step_s, setup):
                    continue
                # another node's contact only displaces m if everything it sends ranks below m's sync
                bound = low_rank if m == low.node else best_at_station[low.node]
                sending = {RANK[syncs[o.sync_id]["priority"]] for o in by_node_slot.get((m, k), [])}
                waiting = _waiting_higher(syncs_of_node[m], bound, t0, sending, delivered_by)
                if waiting is not None:
                    out.append(
                        f"priority: {syncs[low.sync_id]['priority']} sync {low.sync_id} ({low.node}) uses "
                        f"{name} in slot [{t0:.0f}s, {t1:.0f}s] while {waiting['priority']} sync "
                        f"{waiting['id']} of {m} waits and could use it"
                    )
                    break
    return out


def _delayed(
    seen: list[dict],
    m: str,
    low: _Op,
    t0: float,
    t1: float,
    turn_s: float,
    step_s: float,
    setup_s: float,
) -> bool:
    """Node ``m`` could have used the station while the low contact's slot kept it: without a
    turnaround, in the slot; with one (the station's longest, ``turn_s``), between the slot
    boundaries the antenna is free again after the slot's start and after ``low`` ends in the
    slot (the slot model's resolution)."""
    a, b = t0, t1
    if turn_s > 0:
        a = math.ceil((t0 + turn_s) / step_s - 1e-9) * step_s
        b = math.ceil((min(low.end, t1) + turn_s) / step_s - 1e-9) * step_s
    return any(
        w["node"] == m and min(w["t1"], b) - max(w["t0"], a) > setup_s + MIN_INVERSION_S
        for w in seen
    )


def _by_slot(
    ops: Sequence[_Op], key, step_s: float, horizon_s: float
) -> dict[tuple[str, int], list[_Op]]:
    """Operations per (key, grid slot) they overlap by more than the time tolerance."""
    out: dict[tuple[str, int], list[_Op]] = defaultdict(list)
    n_slots = max(1, math.ceil(horizon_s / step_s - 1e-9))
    for op in ops:
        first = max(0, math.floor((op.start + TIME_TOL_S) / step_s))
        last = min(n_slots - 1, math.ceil((op.end - TIME_TOL_S) / step_s) - 1)
        for k in range(first, last + 1):
            out[(key(op), k)].append(op)
    return out


def _delivered_by(ops: Sequence[_Op]) -> dict[str, tuple[list[float], list[float]]]:
    """Per sync: operation end times (sorted) and cumulative bytes delivered by each."""
    ends: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for op in ops:
        ends[op.sync_id].append((op.end, op.bytes))
    out = {}
    for sid, items in ends.items():
        items.sort()
        total, cum = 0.0, []
        for _, b in items:
            total += b
            cum.append(total)
        out[sid] = ([e for e, _ in items], cum)
    return out


def _waiting_higher(
    node_syncs: list[dict], rank: int, t0: float, sending: set[int], delivered_by: dict
) -> dict | None:
    """A sync of the node ranked above ``rank``, released by ``t0`` and incomplete then, while the
    node sends nothing of its class or higher in the slot; or None."""
    for s in node_syncs:
        r = RANK[s["priority"]]
        if r >= rank:
            break
        if s["rel"] > t0 + TIME_TOL_S or any(x <= r for x in sending):
            continue
        ends, cum = delivered_by.get(s["id"], ([], []))
        k = bisect.bisect_right(ends, t0 + TIME_TOL_S)
        if (cum[k - 1] if k else 0.0) < float(s["data_size_bytes"]) - BYTES_TOL:
            return s
    return None
