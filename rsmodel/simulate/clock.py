"""The simulated clock and the events still to happen, in time order."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

Handler = Callable[[Any], None]

# Order of events that fall on the same instant: ends before rate steps (a window's rate
# changes at a grid slot edge) before faults before starts.
END, RATE_STEP, FAIL, FAULT_END, DEADLINE, FAULT_START, DROPOUT, ARRIVAL, START, HORIZON = range(10)


class EventQueue:
    """A simulated clock (``now_s``: seconds from ``start``) and its pending events.

    Events at the same time run in ``order`` (the constants above), then in the order they were
    pushed. Never wall-clock time.
    """

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now_s = 0.0
        self._heap: list[tuple[float, int, int, Handler, Any]] = []
        self._seq = itertools.count()

    def push(self, t_s: float, order: int, handler: Handler, payload: Any) -> None:
        """Call ``handler(payload)`` when the clock reaches ``t_s``."""
        heapq.heappush(self._heap, (t_s, order, next(self._seq), handler, payload))

    def pop_due(self, t_s: float) -> tuple[Handler, Any] | None:
        """The next event at or before ``t_s``, with the clock moved to it; None when none is."""
        if not self._heap or self._heap[0][0] > t_s:
            return None
        t, _, _, handler, payload = heapq.heappop(self._heap)
        self.now_s = t
        return handler, payload

    def advance_to(self, t_s: float) -> None:
        """Move the clock forward to ``t_s`` (never back)."""
        self.now_s = max(self.now_s, t_s)

    def time_of(self, t_s: float) -> datetime:
        """The aware UTC time ``t_s`` seconds after the start."""
        return self.start + timedelta(seconds=t_s)

    def seconds(self, t: datetime) -> float:
        """Seconds from the start to ``t``."""
        return (t - self.start).total_seconds()
