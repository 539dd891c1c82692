"""The ``rsmodel`` command line.

Each sub-command lives in its own module under ``rsmodel.cli`` exposing
``register(subparsers)``; heavy imports happen inside the command functions so that
``rsmodel --help`` stays fast. A :class:`~rsmodel.errors.ModelError` becomes one line on
stderr and exit status 2. Only commands that set ``uses_dask`` (``rsmodel study``) see Dask
(:func:`dask_hidden`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from rsmodel.errors import ModelError, RsmodelError
from rsmodel.version import __version__

COMMAND_MODULES = [
    "rsmodel.cli.model_cmds",  # schema, validate
    "rsmodel.cli.geometry_cmds",  # windows, grid
    "rsmodel.cli.run_cmds",  # run
    "rsmodel.cli.simulate_cmds",  # simulate
    "rsmodel.cli.report_cmds",  # report
    "rsmodel.cli.export_cmds",  # export (contact schedules: CSV, iCalendar, ION)
    "rsmodel.cli.study_cmds",  # study
    "rsmodel.cli.compute_cmds",  # plan (seed 002 compute requests)
    "rsmodel.cli.telescope_cmds",  # telescopes status|plan|simulate (seed 001)
    "rsmodel.cli.serve_cmds",  # serve (HTTP service: seed 002 /v1/plan, seed 000 scheduler)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rsmodel",
        description="Declare a space-operations scenario in a model file; get an optimised, checkable plan.",
    )
    parser.add_argument("--version", action="version", version=f"rsmodel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rsmodel`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="skyfield_data")
    try:
        with dask_hidden(not getattr(args, "uses_dask", False)):
            return int(args.func(args) or 0)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RsmodelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `rsmodel schema | head`
        sys.stderr.close()
        return 0


@contextmanager
def dask_hidden(hide: bool) -> Iterator[None]:
    """Run a command that makes no Dask arrays with Dask marked absent (``hide``).

    xarray imports Dask (and Dask's array stack: ~0.5 s) on its first array only to ask whether
    it is a Dask array, and before writing NetCDF for Dask's scheduler (distributed)
    (docs/ARCHITECTURE.md, "Cold start"). Only before
    xarray's first import (xarray caches whether Dask is there); the mark is removed when the
    command returns.
    """
    hidden = hide and "dask" not in sys.modules and "xarray" not in sys.modules
    if hidden:
        sys.modules["dask"] = None  # type: ignore[assignment]  # import dask -> ModuleNotFoundError
    try:
        yield
    finally:
        if hidden and "dask" in sys.modules and sys.modules["dask"] is None:
            del sys.modules["dask"]


if __name__ == "__main__":
    sys.exit(main())
