"""What-if studies: run many variants of one model file and compare their KPIs.

``run_study(model, out_dir)`` expands the model's ``study:`` section (or command-line
overrides) into variants, runs them on local worker processes or a Dask cluster with
geometry reused across variants, resumes killed runs, and returns one ``xarray.Dataset``.
See docs/studies.md.
"""

from rsmodel.studies.runner import StudyRun, run_study

__all__ = ["StudyRun", "run_study"]
