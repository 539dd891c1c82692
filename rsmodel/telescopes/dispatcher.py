"""The fast priority-queue dispatcher (the seed's recommended scheduler).

Tasks are taken in priority order (ToO, then SSA tracks, then deep sky; earlier release first).
A ToO or SSA task gets the free candidate block of the most reliable telescope (earliest start
on ties). A deep-sky stack is filled from one family only: the family whose free blocks give the
most reliability-weighted frames. It runs in milliseconds (instant re-planning after a
fault or a reliability change) and warm-starts the MILP.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from rsmodel.telescopes.tasks import Block, Instance


class Timeline:
    """Occupied slots per telescope, ``busy [ntelescope, nslot]``."""

    def __init__(self, busy: np.ndarray) -> None:
        self.busy = busy

    def copy(self) -> Timeline:
        return Timeline(self.busy.copy())

    def free(self, b: Block) -> bool:
        return not self.busy[b.telescope, b.first : b.last].any()

    def take(self, b: Block) -> None:
        self.busy[b.telescope, b.first : b.last] = True


def _blocks_by_task(inst: Instance) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for i, b in enumerate(inst.blocks):
        out[b.task].append(i)
    return out


def _best_timed(inst: Instance, candidates: list[int], timeline: Timeline) -> int | None:
    """The free block of the most reliable telescope, earliest first on ties."""
    free = [i for i in candidates if timeline.free(inst.blocks[i])]
    if not free:
        return None
    return min(
        free,
        key=lambda i: (
            -inst.reliability[inst.blocks[i].telescope],
            inst.blocks[i].first,
            inst.blocks[i].telescope,
        ),
    )


def _fill_family(
    inst: Instance, candidates: list[int], frames_wanted: int, timeline: Timeline
) -> tuple[float, list[int]]:
    """Greedy deep-sky fill from ``candidates`` (one family): (expected frames, chosen blocks)."""
    trial = timeline.copy()
    order = sorted(
        candidates,
        key=lambda i: (
            -inst.reliability[inst.blocks[i].telescope] * inst.blocks[i].frames,
            inst.blocks[i].first,
        ),
    )
    chosen, frames, expected = [], 0, 0.0
    for i in order:
        if frames >= frames_wanted:
            break
        b = inst.blocks[i]
        if trial.free(b):
            trial.take(b)
            chosen.append(i)
            frames += b.frames
            expected += inst.reliability[b.telescope] * min(
                b.frames, frames_wanted - frames + b.frames
            )
    return expected, chosen


def dispatch(inst: Instance) -> list[int]:
    """Chosen block indices (into ``inst.blocks``), tasks in priority order."""
    timeline = Timeline(np.zeros((len(inst.net.telescopes), inst.nslots), dtype=bool))
    by_task = _blocks_by_task(inst)
    order = sorted(
        range(len(inst.tasks)), key=lambda t: (inst.tasks[t].rank, inst.tasks[t].release_s, t)
    )
    chosen: list[int] = []
    for t in order:
        task = inst.tasks[t]
        if task.cls == "deep_sky":
            best: tuple[float, list[int]] = (0.0, [])
            for fam in sorted(set(inst.family)):
                cands = [i for i in by_task[t] if inst.family[inst.blocks[i].telescope] == fam]
                trial = _fill_family(inst, cands, task.frames, timeline)
                if trial[0] > best[0]:
                    best = trial
            picks = best[1]
        else:
            pick = _best_timed(inst, by_task[t], timeline)
            picks = [] if pick is None else [pick]
        for i in picks:
            timeline.take(inst.blocks[i])
        chosen.extend(picks)
    return chosen
