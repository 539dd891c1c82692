"""Plans: plan.json v1 (:mod:`rsmodel.plan.plan`) and plan.nc (:mod:`rsmodel.plan.dataset`)."""

from rsmodel.plan.dataset import plan_dataset
from rsmodel.plan.plan import SCHEMA_VERSION, Plan, build_plan

__all__ = ["SCHEMA_VERSION", "Plan", "build_plan", "plan_dataset"]
