"""Plans: plan.json v1 (:mod:`rsmodel.plan.plan`) and plan.nc (:mod:`rsmodel.plan.dataset`).

The names below are loaded on first use (PEP 562): ``rsmodel.plan.events`` alone (a compute
request's events) does not load the plan, its optimiser types or xarray.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rsmodel.plan.dataset import plan_dataset
    from rsmodel.plan.plan import SCHEMA_VERSION, Plan, build_plan

_HOME = {"SCHEMA_VERSION": "plan", "Plan": "plan", "build_plan": "plan", "plan_dataset": "dataset"}
__all__ = ["SCHEMA_VERSION", "Plan", "build_plan", "plan_dataset"]


def __getattr__(name: str) -> Any:
    """The public name ``name`` from its module (imported on first use)."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
