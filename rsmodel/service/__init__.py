"""``rsmodel serve``: the seed 002 planner and the seed 000 scheduler as a local HTTP service.

The top layer (like the CLI): it calls the planner, the API and the simulator, nothing imports
it. :mod:`~rsmodel.service.app` (routes, guard), :mod:`~rsmodel.service.scheduler` (the
scheduler as a replayable operation log), :mod:`~rsmodel.service.store` (SQLite),
:mod:`~rsmodel.service.work` (bounded worker pool). docs/service.md.
"""
