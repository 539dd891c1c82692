"""Turn chosen blocks into the telescope plan: assignments with primary, backup and handover
windows, every task accounted for (complete / partial / unmet + reason), and KPIs.

The dict returned by :func:`plan_dict` is what plan.json holds under ``"telescopes"``
(structure in docs/telescopes.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from rsmodel.telescopes.families import family_table
from rsmodel.telescopes.tasks import CLASS_RANK, Block, Instance
from rsmodel.timeutil import iso


@dataclass(frozen=True)
class Handover:
    """Overlap where a second telescope also sees the target during a track (s from the start)."""

    telescope: int
    start_s: float
    end_s: float


@dataclass
class Assignment:
    """One chosen block; SSA tracks carry a backup and the handover windows."""

    block: int
    task: int
    telescope: int
    start_s: float
    end_s: float
    frames: int = 0
    backup: int | None = None
    handovers: list[Handover] = field(default_factory=list)


def handover_windows(
    inst: Instance, target: int, primary: int, start_s: float, end_s: float
) -> list[Handover]:
    """Visibility of ``target`` by every other telescope overlapping ``[start_s, end_s]``."""
    out = []
    for w in inst.windows:
        if w.target == target and w.telescope != primary:
            lo, hi = max(start_s, w.start_s), min(end_s, w.end_s)
            if hi > lo:
                out.append(Handover(w.telescope, lo, hi))
    return sorted(out, key=lambda h: (h.start_s, h.telescope))


def _critical_busy(
    inst: Instance, chosen: list[int], telescope: int, start_s: float, end_s: float
) -> bool:
    """Whether ``telescope`` has a chosen ToO/SSA block overlapping the interval."""
    for i in chosen:
        b = inst.blocks[i]
        if b.telescope == telescope and inst.tasks[b.task].cls != "deep_sky":
            b0, b1 = inst.block_times(b)
            if b0 < end_s and start_s < b1:
                return True
    return False


def pick_backup(inst: Instance, chosen: list[int], handovers: list[Handover]) -> int | None:
    """Most reliable telescope with a handover window, not busy with ToO/SSA work there and
    meeting the SSA minimum reliability (longest overlap, then name, on ties)."""
    min_rel = inst.net.settings.min_reliability.ssa
    ok = [
        h
        for h in handovers
        if inst.reliability[h.telescope] >= min_rel
        and not _critical_busy(inst, chosen, h.telescope, h.start_s, h.end_s)
    ]
    if not ok:
        return None
    best = min(
        ok,
        key=lambda h: (
            -inst.reliability[h.telescope],
            -(h.end_s - h.start_s),
            inst.net.telescopes[h.telescope].name,
        ),
    )
    return best.telescope


def assignments(inst: Instance, chosen: list[int]) -> list[Assignment]:
    """Assignments of the chosen blocks, SSA tracks with backup and handover windows."""
    out = []
    for i in sorted(
        chosen, key=lambda i: (inst.block_times(inst.blocks[i])[0], inst.blocks[i].telescope)
    ):
        b = inst.blocks[i]
        start_s, end_s = inst.block_times(b)
        a = Assignment(i, b.task, b.telescope, start_s, end_s, b.frames)
        if inst.tasks[b.task].cls == "ssa":
            a.handovers = handover_windows(
                inst, inst.tasks[b.task].target, b.telescope, start_s, end_s
            )
            a.backup = pick_backup(inst, chosen, a.handovers)
        out.append(a)
    return out


def _unmet_reason(inst: Instance, t: int, chosen: list[int]) -> str:
    task = inst.tasks[t]
    cands = [b for b in inst.blocks if b.task == t]
    if not cands:
        seen = [
            w
            for w in inst.windows
            if w.target == task.target and w.end_s > task.release_s and w.start_s < task.due_s
        ]
        if not seen:
            return (
                "not observable: no telescope sees the target in darkness above its altitude limit"
                + (
                    " while it is sunlit"
                    if task.cls != "deep_sky" and inst.net.targets[task.target].is_satellite
                    else ""
                )
            )
        floor = getattr(inst.net.settings.min_reliability, task.cls)
        if all(inst.reliability[w.telescope] < floor for w in seen):
            return f"only telescopes below min_reliability.{task.cls} = {floor:g} see the target"
        return f"no visibility window is long enough for {task.required_s:g} s plus overhead in whole {inst.slot_s:g} s slots"
    blockers = _blockers(inst, cands, chosen)
    if not blockers:
        return "not chosen by the planner"
    top = min(blockers, key=lambda tid: (inst.tasks[tid].rank, tid))
    cls = inst.tasks[top].cls
    verb = "pre-empted by" if CLASS_RANK[cls] < task.rank else "candidate telescopes busy with"
    ids = ", ".join(sorted(inst.tasks[x].id for x in blockers if inst.tasks[x].cls == cls)[:3])
    return f"{verb} {cls} work ({ids})"


def _blockers(inst: Instance, cands: list[Block], chosen: list[int]) -> set[int]:
    """Tasks whose chosen blocks overlap a candidate block on the same telescope."""
    out = set()
    for i in chosen:
        b = inst.blocks[i]
        if any(c.telescope == b.telescope and c.first < b.last and b.first < c.last for c in cands):
            out.add(b.task)
    return out


def task_rows(inst: Instance, plan: list[Assignment], chosen: list[int]) -> list[dict]:
    """Every task with status complete / partial / unmet and a reason."""
    t0 = inst.net.start
    rows = []
    for t, task in enumerate(inst.tasks):
        mine = [a for a in plan if a.task == t]
        row = {
            "id": task.id,
            "class": task.cls,
            "target": inst.net.targets[task.target].name,
            "release": iso(t0 + timedelta(seconds=task.release_s)),
            "due": iso(t0 + timedelta(seconds=task.due_s)),
            "required_s": task.required_s,
        }
        if task.cls == "deep_sky":
            frames = sum(a.frames for a in mine)
            row |= {"frames_wanted": task.frames, "frames_planned": min(frames, task.frames)}
            row["family"] = inst.family[mine[0].telescope] if mine else None
            status = "complete" if frames >= task.frames else "partial" if frames else "unmet"
            reason = None if status == "complete" else f"{frames} of {task.frames} frames scheduled"
            if status == "unmet":
                reason = _unmet_reason(inst, t, chosen)
        else:
            status = "complete" if mine else "unmet"
            reason = None if mine else _unmet_reason(inst, t, chosen)
            if mine:
                row["completed_at"] = iso(t0 + timedelta(seconds=mine[0].end_s))
        rows.append(row | {"status": status, "reason": reason})
    return rows


def plan_dict(inst: Instance, chosen: list[int], solver: dict) -> dict:
    """The telescope plan for plan.json (``"telescopes"`` key)."""
    net, t0 = inst.net, inst.net.start

    def at(s: float) -> str:
        return iso(t0 + timedelta(seconds=float(s)))

    plan = assignments(inst, chosen)
    tasks = task_rows(inst, plan, chosen)
    return {
        "schema_version": 1,
        "planner": solver["method"],
        "horizon": {"start": iso(net.start), "end": iso(net.end), "slot_s": inst.slot_s},
        "sun_altitude_max_deg": net.settings.sun_altitude_max_deg,
        "telescopes": [
            {
                "name": t.name,
                "observatory": t.observatory,
                "lat_deg": t.lat_deg,
                "lon_deg": t.lon_deg,
                "alt_m": t.alt_m,
                "aperture_m": t.aperture_m,
                "fov_deg": t.fov_deg,
                "pixel_scale_arcsec": t.pixel_scale_arcsec,
                "altitude_limit_deg": t.altitude_limit_deg,
                "overhead_s": t.overhead_s,
                "operator": t.operator,
                "reliability": round(float(r), 6),
                "family": fam,
            }
            for t, r, fam in zip(net.telescopes, inst.reliability, inst.family, strict=True)
        ],
        "families": family_table(net.telescopes, inst.family),
        "windows": [
            {
                "target": net.targets[w.target].name,
                "telescope": net.telescopes[w.telescope].name,
                "start": at(w.start_s),
                "end": at(w.end_s),
                "duration_s": round(w.end_s - w.start_s, 3),
                "max_altitude_deg": round(w.max_altitude_deg, 3),
            }
            for w in inst.windows
        ],
        "tasks": tasks,
        "assignments": [
            {
                "task_id": inst.tasks[a.task].id,
                "class": inst.tasks[a.task].cls,
                "target": net.targets[inst.tasks[a.task].target].name,
                "telescope": net.telescopes[a.telescope].name,
                "family": inst.family[a.telescope],
                "setup_start": at(inst.blocks[a.block].first * inst.slot_s),
                "start": at(a.start_s),
                "end": at(a.end_s),
                "frames": a.frames,
                "backup": None if a.backup is None else net.telescopes[a.backup].name,
                "handover_windows": [
                    {
                        "telescope": net.telescopes[h.telescope].name,
                        "start": at(h.start_s),
                        "end": at(h.end_s),
                    }
                    for h in a.handovers
                ],
            }
            for a in plan
        ],
        "kpis": kpis(inst, plan, tasks),
        "solver": solver,
    }


def kpis(inst: Instance, plan: list[Assignment], tasks: list[dict]) -> dict:
    """Coverage per class and reliability-weighted expected completions."""
    out: dict = {}
    for cls in ("too", "ssa", "deep_sky"):
        rows = [t for t in tasks if t["class"] == cls]
        out[f"{cls}_tasks"] = len(rows)
        out[f"{cls}_complete"] = sum(t["status"] == "complete" for t in rows)
    out["deep_sky_frames_planned"] = sum(t.get("frames_planned", 0) for t in tasks)
    out["deep_sky_frames_wanted"] = sum(t.get("frames_wanted", 0) for t in tasks)
    rel = inst.reliability
    out["expected_too"] = round(
        float(sum(rel[a.telescope] for a in plan if inst.tasks[a.task].cls == "too")), 4
    )
    out["expected_ssa"] = round(
        float(sum(rel[a.telescope] for a in plan if inst.tasks[a.task].cls == "ssa")), 4
    )
    ssa = [a for a in plan if inst.tasks[a.task].cls == "ssa"]
    out["ssa_with_backup"] = sum(a.backup is not None for a in ssa)
    busy_s = sum(a.end_s - a.start_s for a in plan)
    out["busy_fraction"] = round(
        busy_s / max(1.0, inst.net.duration_s * len(inst.net.telescopes)), 4
    )
    return out
