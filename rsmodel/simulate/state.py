"""What the simulator knows about each request and each running transfer."""

from __future__ import annotations

from dataclasses import dataclass

from rsmodel.model.scenario import SyncRequest
from rsmodel.simulate.residual import PlannedTransfer

# A request counts as delivered when less than one byte is missing (float rounding; the plan
# checker's tolerance too).
BYTE_TOLERANCE = 1.0

WAITING, QUEUED, ACTIVE, HELD, COMPLETED, FAILED = (
    "waiting",
    "queued",
    "active",
    "held",
    "completed",
    "failed",
)
FINAL = frozenset({COMPLETED, FAILED})


@dataclass
class SyncState:
    """A request during the run. ``data_size``, ``id`` and ``priority`` follow seed 000's names.

    Status: waiting (not yet arrived), queued, active (a transfer is running), held (failed
    and waiting for ``reschedule``), completed, failed (final, with ``reason``).
    """

    request: SyncRequest
    release_s: float
    deadline_s: float
    status: str = QUEUED
    delivered_bytes: float = 0.0
    reason: str | None = None
    completed_s: float | None = None
    attempts: int = 0
    failures: int = 0
    last_error: str | None = None
    retry_after_s: float = 0.0
    last_failure_s: float | None = None

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def node(self) -> str:
        return self.request.node

    @property
    def priority(self) -> str:
        return self.request.priority

    @property
    def data_size(self) -> float:
        """Size in bytes."""
        return self.request.data_size_bytes

    @property
    def remaining_bytes(self) -> float:
        return max(0.0, self.request.data_size_bytes - self.delivered_bytes)

    @property
    def done(self) -> bool:
        return self.remaining_bytes <= BYTE_TOLERANCE


@dataclass
class Transfer:
    """An operation being executed: bytes moved so far at the current rate (bytes/s)."""

    key: int
    op: PlannedTransfer
    rate_Bps: float = 0.0
    moved_bytes: float = 0.0
    last_s: float = 0.0

    def advance(self, t_s: float) -> None:
        """Move bytes at the current rate up to ``t_s``."""
        if t_s > self.last_s:
            self.moved_bytes += self.rate_Bps * (t_s - self.last_s)
            self.last_s = t_s


@dataclass(frozen=True)
class Segment:
    """Bytes that reached the ground: one executed (possibly interrupted) transfer."""

    sync_id: str
    node: str
    station: str
    window_id: str
    start_s: float
    end_s: float
    bytes: float
    outcome: str  # "completed" (ran to its planned end) or "interrupted"
    error: str | None = None
    antenna: int | None = None  # 0-based antenna of the station it ran on
