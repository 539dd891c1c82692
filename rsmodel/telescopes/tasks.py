"""The planning instance: tasks (ToO, SSA tracks, deep-sky stacks) and their candidate blocks.

Time is cut into slots of ``slot_s``. A *block* is one telescope observing one task over
consecutive slots that all lie inside a visibility window; its length includes the telescope's
acquisition overhead (setup + slew). Both planners choose blocks from the same sparse set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rsmodel.model.telescope_network import Network
from rsmodel.telescopes.visibility import Window

CLASS_RANK = {"too": 0, "ssa": 1, "deep_sky": 2}  # task classes, most urgent first


@dataclass(frozen=True)
class Task:
    """Something to observe: ``cls`` is ``too``, ``ssa`` or ``deep_sky``; times in s from the start."""

    id: str
    cls: str
    target: int
    release_s: float
    due_s: float
    required_s: float  # observation time (ToO duration, SSA track length, frames x exposure)
    frames: int = 0
    exposure_s: float = 0.0

    @property
    def rank(self) -> int:
        return CLASS_RANK[self.cls]


@dataclass(frozen=True)
class Block:
    """Telescope ``telescope`` observes task ``task`` over slots ``[first, first + n)``."""

    task: int
    telescope: int
    first: int
    n: int  # slots including the setup slots
    setup: int = 0  # leading slots of acquisition overhead
    frames: int = 0

    @property
    def last(self) -> int:
        return self.first + self.n


@dataclass
class Instance:
    """Tasks, candidate blocks and the network state a planner works on."""

    net: Network
    windows: list[Window]
    tasks: list[Task]
    blocks: list[Block]
    slot_s: float
    nslots: int
    reliability: np.ndarray  # per telescope, 0-1 (from the reliability store)
    family: list[str]  # per telescope

    def block_times(self, b: Block) -> tuple[float, float]:
        """Start and end of a block's observation (after setup), seconds from the horizon start."""
        return (b.first + b.setup) * self.slot_s, b.last * self.slot_s


def ssa_tracks(net: Network, windows: list[Window]) -> list[Task]:
    """One SSA task per pass of a satellite over the network (overlapping windows merged)."""
    tasks: list[Task] = []
    track_s = net.settings.ssa_track_s
    for target in net.ssa:
        spans = sorted((w.start_s, w.end_s) for w in windows if w.target == target)
        merged: list[list[float]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        name = net.targets[target].name
        for k, (start, end) in enumerate(merged, 1):
            tasks.append(Task(f"ssa:{name}#{k}", "ssa", target, start, end, track_s))
    return tasks


def build_tasks(net: Network, windows: list[Window]) -> list[Task]:
    """Every task of the network, ToO first, then SSA tracks, then deep-sky stacks."""
    start = net.start
    too = [
        Task(
            f"too:{net.targets[a.target].name}",
            "too",
            a.target,
            (a.arrival - start).total_seconds(),
            (a.deadline - start).total_seconds(),
            a.duration_s,
        )
        for a in net.too
    ]
    deep = [
        Task(
            f"deep:{net.targets[d.target].name}",
            "deep_sky",
            d.target,
            0.0,
            net.duration_s,
            d.frames * d.exposure_s,
            d.frames,
            d.exposure_s,
        )
        for d in net.deep_sky
    ]
    return too + ssa_tracks(net, windows) + deep


def slot_visibility(net: Network, windows: list[Window], slot_s: float, nslots: int) -> np.ndarray:
    """``[ntarget, ntelescope, nslot]``: the slot lies entirely inside a visibility window."""
    vis = np.zeros((len(net.targets), len(net.telescopes), nslots), dtype=bool)
    for w in windows:
        first = math.ceil(w.start_s / slot_s - 1e-9)
        last = min(math.floor(w.end_s / slot_s + 1e-9), nslots)
        if last > first:
            vis[w.target, w.telescope, first:last] = True
    return vis


def _feasible_starts(visible: np.ndarray, lo: int, hi: int, setup: int, n: int) -> np.ndarray:
    """Start slots ``k >= lo`` of blocks ``setup + n`` slots long ending by ``hi`` whose last
    ``n`` (observing) slots are all visible; the setup slots need not be."""
    first_obs = max(lo + setup, setup)
    if hi - first_obs < n:
        return np.empty(0, dtype=int)
    run = np.r_[0, np.cumsum(visible[first_obs:hi])]
    ok = (run[n:] - run[:-n]) == n
    return first_obs + np.flatnonzero(ok) - setup


def _deep_starts(starts: np.ndarray, n: int) -> np.ndarray:
    """Deep-sky block starts: every half block inside each feasible run, plus each run's first."""
    if starts.size == 0:
        return starts
    step = max(1, n // 2)
    run_first = np.r_[True, np.diff(starts) > 1]
    anchor = np.maximum.accumulate(np.where(run_first, starts, 0))
    return starts[run_first | ((starts - anchor) % step == 0)]


def candidate_blocks(
    net: Network, tasks: list[Task], vis: np.ndarray, slot_s: float, reliability: np.ndarray
) -> list[Block]:
    """Every block a planner may choose, honouring visibility and minimum reliability per class.

    A block is the telescope's acquisition overhead (setup + slew, whole slots, may run before
    the target is visible but not before a ToO arrives) followed by the observing slots.
    """
    min_rel = net.settings.min_reliability
    session = max(1, round(net.settings.deep_sky_session_s / slot_s))
    blocks: list[Block] = []
    for ti, task in enumerate(tasks):
        lo = math.ceil(task.release_s / slot_s - 1e-9) if task.cls == "too" else 0
        first_obs = math.ceil(task.release_s / slot_s - 1e-9)
        hi = min(math.floor(task.due_s / slot_s + 1e-9), vis.shape[2])
        for j, tel in enumerate(net.telescopes):
            if reliability[j] < getattr(min_rel, task.cls):
                continue
            setup = math.ceil(tel.overhead_s / slot_s - 1e-9)
            if task.cls == "deep_sky":
                n = session
                frames = int(n * slot_s // task.exposure_s)
                starts = _deep_starts(_feasible_starts(vis[task.target, j], lo, hi, setup, n), n)
            else:
                n = math.ceil(task.required_s / slot_s - 1e-9)
                frames = 0
                starts = _feasible_starts(
                    vis[task.target, j], max(lo, first_obs - setup), hi, setup, n
                )
            blocks.extend(Block(ti, j, int(k), setup + n, setup, frames) for k in starts)
    return blocks


def build_instance(
    net: Network, windows: list[Window], reliability: np.ndarray, family: list[str]
) -> Instance:
    """The planning instance of a network with the given reliability scores and families."""
    slot_s = net.settings.slot_s
    nslots = int(net.duration_s // slot_s)
    tasks = build_tasks(net, windows)
    vis = slot_visibility(net, windows, slot_s, nslots)
    blocks = candidate_blocks(net, tasks, vis, slot_s, reliability)
    return Instance(net, windows, tasks, blocks, slot_s, nslots, reliability, family)
