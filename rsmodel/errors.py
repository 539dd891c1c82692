"""User-facing errors.

Every problem with user input is raised as :class:`ModelError`. The CLI prints its
one-line message and exits with status 2, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class RsmodelError(Exception):
    """Base class of every error rsmodel raises on purpose."""


class ModelError(RsmodelError):
    """A model file (or request/faults file) is wrong.

    The message names the file, the field path (``ground_stations[2].lat_deg``), the line
    where it is known and what is expected.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.field = field
        self.line = line
        self.detail = message
        super().__init__(self.format())

    def format(self) -> str:
        where = self.file or "<model>"
        if self.line is not None:
            where += f":{self.line}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.detail}"


class SolverError(RsmodelError):
    """The optimisation layer could not produce any plan (not even greedy)."""
