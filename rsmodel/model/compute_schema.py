"""Schema of onboard compute jobs (seed 002 ``custom_job``). Owned by the compute-primitives work."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Job(BaseModel):
    """Placeholder until the compute-primitives schema lands."""

    model_config = ConfigDict(extra="allow")
    name: str
    steps: list[dict[str, Any]] = []
    policy: dict[str, Any] = {}
