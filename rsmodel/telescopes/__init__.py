"""Telescope network (seed 001): visibility, planners, handover simulation, reliability, stacking.

Entry points: :func:`rsmodel.telescopes.api.plan_network`, :func:`rsmodel.telescopes.simulate.simulate`.
"""
