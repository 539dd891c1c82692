"""plan.json, schema_version 1: the documented, versioned result of a run (docs/plan-format.md).

:func:`build_plan` turns a scenario, its geometry and the optimiser's operations into a
:class:`Plan`: every sync accounted for (complete | partial | unmet) with a reason computed
from the access windows alone (not from the solver), plus the KPIs. :meth:`Plan.from_json`
reads a plan back so reports re-render without re-solving.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from rsmodel.errors import ModelError
from rsmodel.geometry.link import PROFILE_COLUMNS, RATE_COLUMNS
from rsmodel.geometry.windows import WINDOW_COLUMNS
from rsmodel.io import write_json
from rsmodel.model.oem import Ephemeris
from rsmodel.model.orbits import Orbit
from rsmodel.model.recorder_schema import source_ranks
from rsmodel.model.scenario import OrbitalNode, Scenario, SyncRequest, station_entry
from rsmodel.model.vocabulary import PRIORITIES
from rsmodel.timeutil import iso, parse_time
from rsmodel.version import __version__

if TYPE_CHECKING:
    from rsmodel.geometry import Geometry

SCHEMA_VERSION = 1
OPERATION_COLUMNS = (
    "sync_id",
    "node",
    "station",
    "window_id",
    "start",
    "end",
    "bytes",
    "antenna",
)
REQUIRED_KEYS = (
    "schema_version",
    "horizon",
    "stations",
    "nodes",
    "windows",
    "operations",
    "syncs",
    "kpis",
    "solver",
)
# Bytes below which a sync counts as fully delivered / nothing delivered (LP round-off).
BYTES_TOLERANCE = 1.0


@dataclass
class Plan:
    """A plan as stored in plan.json (times ISO 8601 UTC strings, sizes in bytes)."""

    model: dict[str, Any]
    horizon: dict[str, Any]
    stations: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    windows: list[dict[str, Any]]
    operations: list[dict[str, Any]]
    syncs: list[dict[str, Any]]
    kpis: dict[str, Any]
    solver: dict[str, Any]
    eclipses: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    """Sections other layers add (``jobs``, ``soc``, ``telescopes`` ...), kept as given."""
    generated_at: str = field(default_factory=lambda: iso(datetime.now(UTC)))
    rsmodel_version: str = __version__
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The plan.json document (key order as documented)."""
        return {
            "schema_version": self.schema_version,
            "rsmodel_version": self.rsmodel_version,
            "generated_at": self.generated_at,
            "model": self.model,
            "horizon": self.horizon,
            "stations": self.stations,
            "nodes": self.nodes,
            "windows": self.windows,
            "eclipses": self.eclipses,
            "operations": self.operations,
            "syncs": self.syncs,
            "kpis": self.kpis,
            "solver": self.solver,
            **self.extra,
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, file: str | Path | None = None) -> Plan:
        """Read a plan.json document; a wrong version or missing section is a ModelError."""
        if not isinstance(data, Mapping):
            raise ModelError("expected a plan.json object", file=file)
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ModelError(
                f"unsupported schema_version {version!r}; expected {SCHEMA_VERSION}",
                file=file,
                field="schema_version",
            )
        for key in REQUIRED_KEYS:
            if key not in data:
                raise ModelError("required section is missing", file=file, field=key)
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(
            **{k: data[k] for k in known if k in data},
            extra={k: v for k, v in data.items() if k not in known},
        )

    @classmethod
    def from_json(cls, path: str | Path) -> Plan:
        """Load a plan.json file written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError("file not found; expected a plan.json", file=path) from None
        except json.JSONDecodeError as exc:
            raise ModelError(f"invalid JSON ({exc.msg})", file=path, line=exc.lineno) from None
        return cls.from_dict(data, file=path)

    def save(self, path: str | Path) -> Path:
        """Write plan.json atomically."""
        return write_json(path, self.to_dict())

    def sync(self, sync_id: str) -> dict[str, Any]:
        """The outcome entry of one sync."""
        return next(s for s in self.syncs if s["id"] == sync_id)


# --------------------------------------------------------------------------- building
def build_plan(
    scenario: Scenario,
    geometry: Geometry,
    operations: pd.DataFrame | Iterable[Mapping[str, Any]],
    solver: Mapping[str, Any],
    *,
    warnings: Sequence[str] = (),
    job_outputs: Sequence[SyncRequest] = (),
) -> Plan:
    """Assemble the plan of ``scenario`` from the optimiser's ``operations`` and solver stats.

    ``operations`` has the columns of :data:`OPERATION_COLUMNS` (times aware UTC, bytes).
    ``job_outputs``: compute-job outputs sent to ground as transfer demands (id
    ``job:<job>/<step>``); they are accounted for like syncs in ``job_downlinks``.
    """
    ops = operations_frame(operations)
    windows = geometry.windows
    explained = Outcomes(scenario, ops, windows, job_outputs)
    outcomes = [explained.outcome(s) for s in scenario.syncs]
    downlinks = [job_downlink_entry(explained.outcome(r)) for r in job_outputs]
    return Plan(
        model=model_section(scenario),
        horizon={"start": iso(scenario.start), "end": iso(scenario.end), "step_s": scenario.step_s},
        stations=[_station_entry(s) for s in scenario.stations],
        nodes=[_node_entry(n) for n in scenario.nodes],
        windows=_with_used_profiles(
            _records(windows, [*WINDOW_COLUMNS, *RATE_COLUMNS]), windows, ops
        ),
        eclipses=_records(
            getattr(geometry, "eclipses", None),
            ("node", "start", "end", "duration_s", "start_clipped", "end_clipped"),
        ),
        operations=_with_bands(_records(ops, OPERATION_COLUMNS), windows),
        syncs=outcomes,
        kpis=compute_kpis(outcomes, ops, windows, downlinks),
        solver=dict(solver),
        warnings=[*warnings, *outcome_warnings(outcomes), *downlink_warnings(downlinks)],
        extra={"job_downlinks": downlinks} if job_outputs else {},
    )


JOB_OUTPUT_PREFIX = "job:"


def job_output_id(job: str, step_id: str) -> str:
    """Transfer demand id of a job step's output: ``job:<job>/<step>``."""
    return f"{JOB_OUTPUT_PREFIX}{job}/{step_id}"


def job_downlink_entry(outcome: dict[str, Any]) -> dict[str, Any]:
    """A ``job_downlinks[]`` entry: the sync outcome fields plus kind, job and step_id."""
    job, _, step_id = outcome["id"].removeprefix(JOB_OUTPUT_PREFIX).rpartition("/")
    return {**outcome, "kind": "job_output", "data_type": "job_output", "job": job,
            "step_id": step_id}  # fmt: skip


def downlink_warnings(downlinks: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per job output not downlinked in full or after its job deadline."""
    return [
        f"job output {d['id']} {_status_class(d)}: {d['reason']}"
        for d in downlinks
        if _status_class(d) != "complete"
    ]


def operations_frame(operations: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Operations as a DataFrame sorted by (start, node), times as UTC Timestamps."""
    rows = (
        operations if isinstance(operations, pd.DataFrame) else [_as_mapping(o) for o in operations]
    )
    frame = pd.DataFrame(rows, columns=list(OPERATION_COLUMNS))
    for col in ("start", "end"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    frame["bytes"] = frame["bytes"].astype(float)
    frame["antenna"] = frame["antenna"].astype("Int64")  # missing (hand-made): null
    frame = frame[frame["bytes"] > 0]
    return frame.sort_values(["start", "node", "station", "sync_id"], kind="stable").reset_index(
        drop=True
    )


def _with_bands(records: list[dict[str, Any]], windows: pd.DataFrame) -> list[dict[str, Any]]:
    """Each operation with ``band``, its window's (docs/links.md); no key where the window has
    no band (stations and nodes without radios)."""
    if "band" not in windows:
        return records
    bands = dict(zip(windows["id"], windows["band"], strict=True))
    for record in records:
        band = bands.get(record["window_id"])
        if isinstance(band, str):
            record["band"] = band
    return records


def _as_mapping(row: Any) -> Mapping[str, Any]:
    """An operation given as a mapping or as a dataclass (``rsmodel.optimize.Operation``)."""
    return {c: getattr(row, c) for c in OPERATION_COLUMNS} if is_dataclass(row) else row


def model_section(scenario: Scenario) -> dict[str, Any]:
    """plan.json ``model``: name, file and the model file's text (as given)."""
    file = scenario.file
    if file is not None and Path(file).is_file():
        text = Path(file).read_text(encoding="utf-8")
    else:
        data = (
            scenario.source.data
            if scenario.source is not None
            else scenario.model.model_dump(mode="json")
        )
        text = yaml.safe_dump(data, sort_keys=False)
    return {"name": scenario.name, "file": None if file is None else str(file), "text": text}


def _with_used_profiles(
    records: list[dict[str, Any]], windows: pd.DataFrame, ops: pd.DataFrame
) -> list[dict[str, Any]]:
    """Window records plus the rate profile (``profile_t_s``, ``profile_rate_bps``; docs/links.md)
    of the windows operations use (reports draw them, the checker integrates them) and of the
    windows whose link does not close all along (``min_rate_bps`` 0: the checker needs to know
    when they could carry data), where the station has a link model."""
    if not records or "profile_t_s" not in windows:
        return records
    used = set(ops["window_id"]) if not ops.empty else set()
    closes = windows["min_rate_bps"].fillna(1.0) <= 0 if "min_rate_bps" in windows else False
    profiles = windows.loc[windows["id"].isin(used) | closes, ["id", *PROFILE_COLUMNS]]
    by_id = {
        row.id: (
            np.asarray(row.profile_t_s, float).tolist(),
            np.asarray(row.profile_rate_bps, float).tolist(),
        )
        for row in profiles.itertuples()
        if row.profile_t_s is not None
    }
    for record in records:
        if record["id"] in by_id:
            record["profile_t_s"], record["profile_rate_bps"] = by_id[record["id"]]
    return records


def _station_entry(station: Any) -> dict[str, Any]:
    keys = (
        "name",
        "lat_deg",
        "lon_deg",
        "alt_m",
        "bandwidth_bps",
        "elevation_min_deg",
        "antennas",
    )
    entry = {**{k: getattr(station, k) for k in keys}, **station_entry(station)}
    if station.maintenance:  # antenna-time requests check against it (check_tracks.py)
        entry["maintenance"] = [{"start": iso(a), "end": iso(b)} for a, b in station.maintenance]
    if station.terrain_mask:  # the report's sky plots draw it
        entry["terrain_mask"] = [[float(az), float(el)] for az, el in station.terrain_mask]
    return entry


def _node_entry(node: OrbitalNode) -> dict[str, Any]:
    """A node of plan.json: its TLE lines (SGP4), OEM file (ephemeris) or neither (imported view
    periods only), and its period (None without an orbit); ``simultaneous_bands`` when set."""
    orbit = node.orbit
    bands = {"simultaneous_bands": True} if node.simultaneous_bands else {}
    if isinstance(orbit, Orbit):
        tle = [orbit.line1, orbit.line2]
        return {"name": node.name, "tle": tle, "period_s": orbit.period_s, **bands}
    if isinstance(orbit, Ephemeris):
        oem = {"file": orbit.file.name, "object_name": orbit.object_name, "sha256": orbit.digest}
        return {"name": node.name, "oem": oem, "period_s": orbit.period_s, **bands}
    return {"name": node.name, "period_s": None, **bands}


def _records(frame: pd.DataFrame | None, columns: Sequence[str]) -> list[dict[str, Any]]:
    """JSON-ready rows: timestamps as ISO UTC strings (as :func:`iso`), numbers as Python's."""
    if frame is None or len(frame) == 0:
        return []
    frame = frame[[c for c in columns if c in frame]].copy()
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
            frame[col] = _iso_column(frame[col])
        elif isinstance(frame[col].dtype, pd.Int64Dtype):
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame.to_dict("records")


def _iso_column(times: pd.Series) -> pd.Series:
    """Vectorised :func:`rsmodel.timeutil.iso`: whole seconds, milliseconds or microseconds
    (rounded to the nearest, as instants computed in float seconds are)."""
    times = times.dt.tz_convert("UTC").dt.round("us")
    us = times.dt.microsecond
    text = times.dt.strftime("%Y-%m-%dT%H:%M:%S")
    ms_text = text + "." + (us // 1000).astype(str).str.zfill(3) + "Z"
    us_text = text + "." + us.astype(str).str.zfill(6) + "Z"
    return (text + "Z").where(us == 0, ms_text.where(us % 1000 == 0, us_text))


# --------------------------------------------------------------------------- outcomes
@dataclass(frozen=True)
class Contacts:
    """A node's access windows (seconds since the horizon start) with rates and setup times."""

    start_s: np.ndarray
    end_s: np.ndarray
    bytes_per_s: np.ndarray
    station: np.ndarray  # station index
    setup_s: np.ndarray

    def usable(self, t0_s: float, t1_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Per window, the span in [t0, t1] that can carry data: one contact opened at
        max(AOS, t0) spends the station's setup first."""
        return np.maximum(self.start_s, t0_s) + self.setup_s, np.minimum(self.end_s, t1_s)

    def capacity_bytes(self, t0_s: float, t1_s: float) -> float:
        """Most bytes the node can send in [t0, t1]: one station at a time, the fastest visible."""
        start, end = self.usable(t0_s, t1_s)
        keep = end > start
        if not keep.any():
            return 0.0
        start, end, rate = start[keep], end[keep], self.bytes_per_s[keep]
        edges = np.unique(np.concatenate([start, end]))
        mids = (edges[:-1] + edges[1:]) / 2
        covering = (start[None, :] <= mids[:, None]) & (mids[:, None] < end[None, :])
        best = np.where(covering, rate[None, :], 0.0).max(axis=1)
        return float((best * np.diff(edges)).sum())

    def first_start_after(self, t_s: float) -> float | None:
        """Earliest moment >= t at which the node can transmit, or None."""
        start, end = self.usable(t_s, np.inf)
        reachable = end > start
        return float(start[reachable].min()) if reachable.any() else None


class Outcomes:
    """Outcomes of the syncs of one plan: operations and windows indexed once (seconds since
    the horizon start)."""

    def __init__(
        self,
        scenario: Scenario,
        ops: pd.DataFrame,
        windows: pd.DataFrame,
        job_outputs: Sequence[SyncRequest] = (),
    ) -> None:
        self.scenario = scenario
        self.ops = ops
        self.op_start_s = _seconds(ops["start"], scenario.start)
        self.op_end_s = _seconds(ops["end"], scenario.start)
        rank = {s.id: s.rank for s in [*scenario.syncs, *job_outputs]}
        rank.update(source_ranks(scenario.nodes))  # recorder source downlinks (docs/recorder.md)
        self.op_rank = np.array([rank[s] for s in ops["sync_id"]], dtype=int)
        self.op_rows = ops.groupby("sync_id").indices
        self.station_index = {s.name: i for i, s in enumerate(scenario.stations)}
        self.op_sync = ops["sync_id"].to_numpy(str)
        self.op_node = ops["node"].to_numpy(str)
        self.op_station = ops["station"].map(self.station_index).to_numpy(int)
        self.op_bytes = ops["bytes"].to_numpy(float)
        self.contacts = _contacts_by_node(windows, scenario, self.station_index)
        empty = np.empty(0)
        self.no_contacts = Contacts(empty, empty, empty, np.empty(0, dtype=int), empty)

    def outcome(self, sync: SyncRequest) -> dict[str, Any]:
        """Status, delivered bytes, completion time and reason of one sync."""
        rows = self.op_rows.get(sync.id, np.empty(0, dtype=int))
        rows = rows[np.argsort(self.op_end_s[rows], kind="stable")]
        cumulative = np.cumsum(self.op_bytes[rows])
        delivered = float(cumulative[-1]) if len(rows) else 0.0
        status = _status(delivered, sync.data_size_bytes)
        completed_at = None
        if status == "complete":
            done = min(
                int(np.searchsorted(cumulative, sync.data_size_bytes - BYTES_TOLERANCE)),
                len(rows) - 1,
            )
            completed_at = self.ops["end"].iloc[rows[done]].to_pydatetime(warn=False)
        return {
            "id": sync.id,
            "node": sync.node,
            "priority": sync.priority,
            "data_type": sync.data_type,
            "data_size_bytes": sync.data_size_bytes,
            "release": iso(sync.release),
            "deadline": None if sync.deadline is None else iso(sync.deadline),
            "status": status,
            "delivered_bytes": delivered,
            "completed_at": None if completed_at is None else iso(completed_at),
            "reason": self.explain(sync, status, delivered, completed_at),
        }

    def explain(
        self, sync: SyncRequest, status: str, delivered: float, completed_at: datetime | None
    ) -> str | None:
        """Why a sync is not complete on time, from the windows and the other syncs' operations:
        a physical limit of the node's passes, other syncs using capacity it could have used, or
        both. None when it completes by its deadline (or has none).
        """
        contacts = self.contacts.get(sync.node, self.no_contacts)
        release_s = (sync.release - self.scenario.start).total_seconds()
        end_s = self.scenario.duration_s
        parts: list[str] = []
        if status != "complete":
            limit = _physical_limit(sync, contacts, release_s, end_s, deadline=False)
            parts += [limit] if limit else []
            reachable = min(contacts.capacity_bytes(release_s, end_s), sync.data_size_bytes)
            if delivered < reachable - BYTES_TOLERANCE:
                parts.append(self.contention(sync, contacts, release_s, end_s))
        if sync.deadline is None or (completed_at is not None and completed_at <= sync.deadline):
            return "; ".join(parts) or None
        deadline_s = (sync.deadline - self.scenario.start).total_seconds()
        if completed_at is not None:
            late_s = (completed_at - sync.deadline).total_seconds()
            parts.append(f"delivered after deadline by {_minutes(late_s)}")
        limit = _physical_limit(sync, contacts, release_s, min(deadline_s, end_s), deadline=True)
        if limit is not None and limit not in parts:
            parts.append(limit)
        elif limit is None and completed_at is not None:
            parts.append(self.contention(sync, contacts, release_s, deadline_s))
        return "; ".join(parts)

    def contention(self, sync: SyncRequest, contacts: Contacts, t0_s: float, t1_s: float) -> str:
        """Which other syncs used the link time this sync could have used in [t0, t1]."""
        reachable = contacts.capacity_bytes(t0_s, t1_s)
        used = self.competing_bytes(sync, contacts, t0_s, t1_s)
        higher, equal, lower = used[: sync.rank].sum(), used[sync.rank], used[sync.rank + 1 :].sum()
        of = f"they used {_bytes(higher + equal + lower)} of the {_bytes(reachable)} this sync could reach"
        if higher > 0 and higher >= equal:
            return f"capacity taken by higher-priority syncs ({of})"
        if equal > 0:
            return f"capacity shared with equal-priority syncs ({of})"
        if lower > 0:
            return f"capacity used by lower-priority syncs ({of})"
        return (
            f"left unscheduled by the optimiser although {_bytes(reachable)} of capacity was free"
        )

    def stations_seen(self, contacts: Contacts) -> np.ndarray:
        """Mask over station indices: stations the node has a window with."""
        seen = np.zeros(len(self.station_index), dtype=bool)
        seen[contacts.station] = True
        return seen

    def competing_bytes(
        self, sync: SyncRequest, contacts: Contacts, t0_s: float, t1_s: float
    ) -> np.ndarray:
        """Bytes of other syncs sent in this sync's usable link time, by priority rank (0-3).

        Counts transfers from the same node and transfers of other nodes through a station this
        node could see at that moment (pro rata to the time overlap).
        """
        same_node = self.op_node == sync.node
        rows = np.flatnonzero(
            (self.op_sync != sync.id)
            & (same_node | self.stations_seen(contacts)[self.op_station])
            & (self.op_end_s > t0_s)
            & (self.op_start_s < t1_s)
        )
        lo = np.maximum(self.op_start_s[rows], t0_s)[:, None]
        hi = np.minimum(self.op_end_s[rows], t1_s)[:, None]
        overlap = np.minimum(contacts.end_s[None, :], hi) - np.maximum(
            contacts.start_s[None, :], lo
        )
        usable = same_node[rows, None] | (self.op_station[rows, None] == contacts.station[None, :])
        seen_s = np.minimum(
            np.where(usable, np.clip(overlap, 0, None), 0).sum(axis=1), hi[:, 0] - lo[:, 0]
        )
        length_s = np.maximum(self.op_end_s[rows] - self.op_start_s[rows], 1e-9)
        shares = seen_s / length_s * self.op_bytes[rows]
        return np.bincount(self.op_rank[rows], weights=shares, minlength=len(PRIORITIES))


def _contacts_by_node(
    windows: pd.DataFrame, scenario: Scenario, station_index: dict[str, int]
) -> dict[str, Contacts]:
    """Each node's windows, rates and station setup times."""
    setup_s = windows["station"].map({s.name: s.setup_s for s in scenario.stations}).to_numpy(float)
    start_s = _seconds(windows["start"], scenario.start)
    end_s = _seconds(windows["end"], scenario.start)
    rate = windows["bandwidth_bps"].to_numpy(float) / 8.0
    station = windows["station"].map(station_index).to_numpy(int)
    return {
        node: Contacts(start_s[rows], end_s[rows], rate[rows], station[rows], setup_s[rows])
        for node, rows in windows.groupby("node").indices.items()
    }


def _seconds(times: pd.Series, origin: datetime) -> np.ndarray:
    return (
        (pd.to_datetime(times, utc=True) - pd.Timestamp(origin)).dt.total_seconds().to_numpy(float)
    )


def _status(delivered: float, size: float) -> str:
    if delivered >= size - BYTES_TOLERANCE:
        return "complete"
    return "partial" if delivered > BYTES_TOLERANCE else "unmet"


def _physical_limit(
    sync: SyncRequest, contacts: Contacts, release_s: float, cutoff_s: float, *, deadline: bool
) -> str | None:
    """A reason the node's passes alone cannot carry the sync by ``cutoff_s``, or None."""
    first = contacts.first_start_after(release_s)
    if first is None:
        return "no contact window after release"
    if first >= cutoff_s:
        if deadline:
            late = _minutes(first - cutoff_s)
            return (
                f"deadline before the first reachable pass (first pass {late} after the deadline)"
            )
        return "no contact window after release before the horizon end"
    capacity = contacts.capacity_bytes(release_s, cutoff_s)
    if capacity < sync.data_size_bytes - BYTES_TOLERANCE:
        what = "deadline too tight" if deadline else "horizon too short"
        span = "between release and deadline" if deadline else "after release"
        return f"{what}: {_bytes(capacity)} of capacity {span} vs {_bytes(sync.data_size_bytes)} requested"
    return None


def _bytes(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


# --------------------------------------------------------------------------- KPIs
def compute_kpis(
    outcomes: Sequence[Mapping[str, Any]],
    ops: pd.DataFrame,
    windows: pd.DataFrame,
    downlinks: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Plan-level figures (definitions in docs/plan-format.md); byte figures include the job
    downlinks, counts and waits are of syncs (``job_downlinks`` has the jobs' own counts)."""
    delivered = float(ops["bytes"].sum())
    capacity = windows.set_index("id")["capacity_bytes"] if len(windows) else pd.Series(dtype=float)
    used_ids = ops["window_id"].unique()
    capacity_used = float(capacity.reindex(used_ids).fillna(0).sum())
    complete = [s for s in outcomes if s["status"] == "complete"]
    waits = [
        (parse_time(s["completed_at"]) - parse_time(s["release"])).total_seconds() / 60
        for s in complete
    ]
    return {
        "total_data_mb": delivered / 1e6,
        "requested_data_mb": sum(s["data_size_bytes"] for s in [*outcomes, *downlinks]) / 1e6,
        "utilization": delivered / capacity_used if capacity_used > 0 else 0.0,
        "utilization_all_passes": delivered / float(capacity.sum()) if capacity.sum() > 0 else 0.0,
        "avg_wait_minutes": float(np.mean(waits)) if waits else None,
        "passes_used": len(used_ids),
        "operations": len(ops),
        "latest_completion": max(
            (s["completed_at"] for s in complete), key=parse_time, default=None
        ),
        "delivered_bytes_by_priority": {
            p: sum(
                (s["delivered_bytes"] for s in [*outcomes, *downlinks] if s["priority"] == p), 0.0
            )
            for p in PRIORITIES
        },
        **_counts(outcomes),
        **({"job_downlinks": _counts(downlinks)} if downlinks else {}),
    }


def _counts(outcomes: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    return {
        "complete_count": sum(s["status"] == "complete" for s in outcomes),
        "partial_count": sum(s["status"] == "partial" for s in outcomes),
        "unmet_count": sum(s["status"] == "unmet" for s in outcomes),
        "deadline_misses": sum(_missed_deadline(s) for s in outcomes),
    }


def _missed_deadline(outcome: Mapping[str, Any]) -> bool:
    if outcome["deadline"] is None:
        return False
    return outcome["completed_at"] is None or parse_time(outcome["completed_at"]) > parse_time(
        outcome["deadline"]
    )


def outcome_warnings(outcomes: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per (priority, status) class of syncs that are not complete or missed their
    deadline; the reason is quoted when the class has one sync (details per sync in plan.json)."""
    lines = []
    for priority in PRIORITIES:
        for status in ("unmet", "partial", "late"):
            group = [
                s for s in outcomes if s["priority"] == priority and _status_class(s) == status
            ]
            if not group:
                continue
            ids = ", ".join(s["id"] for s in group[:5]) + (", ..." if len(group) > 5 else "")
            what = "delivered after their deadline" if status == "late" else status
            detail = (
                f": {group[0]['reason']}" if len(group) == 1 else " (reasons per sync in plan.json)"
            )
            lines.append(f"{len(group)} {priority} sync(s) {what} ({ids}){detail}")
    return lines


def _status_class(outcome: Mapping[str, Any]) -> str:
    if outcome["status"] != "complete":
        return str(outcome["status"])
    deadline, done = outcome.get("deadline"), outcome.get("completed_at")
    late = deadline and done and parse_time(done) > parse_time(deadline)
    return "late" if late else "complete"
