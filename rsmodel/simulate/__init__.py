"""Execution simulation: play a plan forward over a simulated clock, inject faults, re-plan.

See docs/simulation.md. Entry points: :class:`Simulator` (engine), :func:`load_faults_file`.
"""

from rsmodel.simulate.engine import Simulator
from rsmodel.simulate.faults import FaultPlan, load_faults_file, model_faults, resolve_faults

__all__ = ["FaultPlan", "Simulator", "load_faults_file", "model_faults", "resolve_faults"]
