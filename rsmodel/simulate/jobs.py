"""Compute-job steps during a simulation: the plan's seed 002 events replayed at their planned
times on the job's node; a step whose node is faulted is deferred and does not complete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rsmodel.plan.events import event_type

Emit = Callable[..., None]


class JobSteps:
    """Which planned steps are running now and which were deferred by a node fault.

    ``job_nodes``: job name -> node; ``emit(name, node=, job=, step_id=, **details)`` writes
    an event; ``node_down(node)`` says whether a node is faulted now.
    """

    def __init__(
        self, job_nodes: dict[str, str], emit: Emit, node_down: Callable[[str], bool]
    ) -> None:
        self.job_nodes = dict(job_nodes)
        self.emit = emit
        self.node_down = node_down
        self.running: dict[tuple[str, str], tuple[str, str]] = {}  # -> (node, step type)
        self.deferred: set[tuple[str, str]] = set()

    def replay(self, ev: dict[str, Any]) -> None:
        """Replay a planned compute event (seed 002 names); a step whose node is down is deferred."""
        key = (ev["job"], ev["step_id"])
        node = self.job_nodes.get(ev["job"], "")
        name = event_type(ev)
        if name.endswith("started"):
            self.deferred.discard(key)
            if self.node_down(node):
                self._defer(key, node, name.split(".")[0], f"node {node} fault")
                return
            self.running[key] = (node, name.split(".")[0])
        elif key in self.deferred:
            return  # the rest of a deferred step (segment) does not happen
        if name.endswith("completed"):
            self.running.pop(key, None)
        self.emit(
            name, node=node or None, job=ev["job"], step_id=ev["step_id"], **ev.get("details", {})
        )

    def node_fault(self, node: str) -> None:
        """A fault of ``node`` starts: the steps running on it are deferred."""
        for key, (on, step_type) in list(self.running.items()):
            if on == node:
                self._defer(key, on, step_type, f"node {node} fault")

    def _defer(self, key: tuple[str, str], node: str, step_type: str, reason: str) -> None:
        """``<type>.deferred`` (seed 002): the step (or pass segment) does not run or complete."""
        self.running.pop(key, None)
        self.deferred.add(key)
        self.emit(f"{step_type}.deferred", node=node, job=key[0], step_id=key[1], reason=reason)
