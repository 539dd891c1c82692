"""The model vocabulary: words every layer shares, each defined once.

A leaf module (it imports nothing from rsmodel at run time), so schema modules, the loader and
every layer above can import it without cycles:

- :class:`Strict`, the base of every model-file section (unknown keys are errors);
- :class:`FieldError` and :data:`FieldPath`, a problem at a field path of the model file;
  :class:`ItemError`, a validator's problem at an item below the field it validates;
- :func:`section_check` / :data:`SECTION_CHECKS`, cross-section checks that register themselves
  and that the loader runs on every resolved scenario;
- :data:`Priority` / :data:`PRIORITIES` / :data:`PRIORITY_RANK`, the transfer classes;
- :data:`ObjectiveName` / :data:`OBJECTIVE_NAMES` / :data:`DEFAULT_OBJECTIVE_WEIGHTS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from rsmodel.model.scenario import Scenario


class Strict(BaseModel):
    """Base for every section: unknown keys are errors (typos never pass silently)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- field errors
FieldPath = tuple[str | int, ...]


class FieldError(Exception):
    """A problem at a field path of the model file (the loader turns it into a ModelError
    naming the file, the line and the field)."""

    def __init__(self, path: FieldPath, message: str) -> None:
        super().__init__(message)
        self.path = tuple(path)
        self.message = message


class ItemError(ValueError):
    """A field validator's problem at ``path`` below the field it validates (e.g. a list index):
    the loader reports it at that deeper path, so the line is the item's, not the field's."""

    def __init__(self, path: FieldPath, message: str) -> None:
        super().__init__(message)
        self.path = tuple(path)


def check_unique(names: list[str], path_of: Callable[[int], FieldPath], what: str) -> None:
    """Raise a FieldError at ``path_of(i)`` for the first repeated name."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise FieldError(path_of(i), f"duplicate {what} name {name!r}; names must be unique")
        seen.add(name)


# --------------------------------------------------------------------------- section checks
SectionCheck = Callable[["Scenario"], None]

# Cross-section checks (jobs, faults, telescopes, ...), in registration order. The loader runs
# each on every resolved scenario; a check raises FieldError for the first problem it finds.
SECTION_CHECKS: list[SectionCheck] = []


def section_check(check: SectionCheck) -> SectionCheck:
    """Register ``check`` with the loader (use as a decorator in the section's module)."""
    SECTION_CHECKS.append(check)
    return check


# --------------------------------------------------------------------------- priorities
Priority = Literal["critical", "high", "normal", "low"]
# Transfer classes, most urgent first: a class's rank is its index (0 = critical .. 3 = low).
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
PRIORITY_RANK: dict[str, int] = {p: rank for rank, p in enumerate(PRIORITIES)}


# --------------------------------------------------------------------------- objectives
ObjectiveName = Literal[
    "minimize_latency", "maximize_throughput", "balance_load", "tracked_time", "fairness"
]
OBJECTIVE_NAMES: tuple[ObjectiveName, ...] = get_args(ObjectiveName)
# The sync terms (normalised to sum 1 among themselves) and the track terms (docs/tracks.md).
SYNC_OBJECTIVE_NAMES: tuple[ObjectiveName, ...] = OBJECTIVE_NAMES[:3]
TRACK_OBJECTIVE_NAMES: tuple[ObjectiveName, ...] = OBJECTIVE_NAMES[3:]
# Weights of the normalised objective terms when a model gives none (docs/optimisation.md).
DEFAULT_OBJECTIVE_WEIGHTS: dict[str, float] = {
    "minimize_latency": 0.5,
    "maximize_throughput": 0.3,
    "balance_load": 0.2,
    "tracked_time": 1.0,
    "fairness": 0.5,
}
