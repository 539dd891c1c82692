"""Schema of the sync scheduler sections: ``syncs``, ``objectives``, ``solver``.

A ``syncs:`` entry (:class:`Sync`) is also the shape of a sync that arrives during a simulated
run (``faults.arrivals[].sync``, :mod:`rsmodel.model.faults_schema`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rsmodel.model.vocabulary import DEFAULT_OBJECTIVE_WEIGHTS, Priority, Strict


def not_bool(value: Any) -> Any:
    """Reject YAML booleans where a number is expected (pydantic would read `true` as 1)."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    return value


class Sync(Strict):
    """A request to bring `data_size` bytes from a node down to any ground station."""

    id: str | None = Field(None, description="Unique id (default: sync-<n>).")
    node: str
    data_size: float = Field(gt=0, allow_inf_nan=False, description="Bytes to transfer.")
    priority: Priority = "normal"
    release: datetime | str | None = Field(
        None, description="Earliest start (UTC or +offset); default horizon start."
    )
    deadline: datetime | str | None = Field(
        None, description="Latest completion (UTC or +offset); default none."
    )
    data_type: str | None = None

    @field_validator("data_size", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return not_bool(value)


class Objectives(Strict):
    """Weights of the normalised objective terms (see docs/optimisation.md)."""

    minimize_latency: float = Field(
        DEFAULT_OBJECTIVE_WEIGHTS["minimize_latency"], ge=0, allow_inf_nan=False
    )
    maximize_throughput: float = Field(
        DEFAULT_OBJECTIVE_WEIGHTS["maximize_throughput"], ge=0, allow_inf_nan=False
    )
    balance_load: float = Field(
        DEFAULT_OBJECTIVE_WEIGHTS["balance_load"], ge=0, allow_inf_nan=False
    )
    tracked_time: float = Field(
        DEFAULT_OBJECTIVE_WEIGHTS["tracked_time"],
        ge=0,
        allow_inf_nan=False,
        description="Tracks: weight of the unscheduled fraction of requested time (docs/tracks.md).",
    )
    fairness: float = Field(
        DEFAULT_OBJECTIVE_WEIGHTS["fairness"],
        ge=0,
        allow_inf_nan=False,
        description="Tracks: weight of the worst (then mean-square) unsatisfied mission fraction.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return not_bool(value)

    @model_validator(mode="after")
    def _not_all_zero(self) -> Objectives:
        if self.minimize_latency + self.maximize_throughput + self.balance_load <= 0:
            raise ValueError("at least one objective weight must be positive")
        return self


class Solver(Strict):
    """How plans are computed."""

    method: Literal["milp", "greedy"] = "milp"
    time_limit_s: float = Field(60.0, gt=0, allow_inf_nan=False)
    mip_gap: float = Field(1e-3, ge=0, le=1, description="Relative MIP gap at which HiGHS stops.")
    threads: int = Field(1, ge=1)
    strategy: Literal["auto", "monolithic", "rolling"] = "auto"
    compute_downlink: Literal["decomposed", "joint"] = Field(
        "decomposed",
        description="Nodes with compute jobs: place compute first, then downlinks (decomposed), "
        "or both in one model per class stage sharing battery and recorder (joint; docs/compute.md).",
    )
