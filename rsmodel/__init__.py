"""rsmodel: declare a space-operations scenario, get an optimised, checkable plan."""

from __future__ import annotations

from typing import Any

from rsmodel.version import __version__

__all__ = ["GroundStation", "SyncScheduler", "__version__"]

_API = {"GroundStation", "SyncScheduler"}


def __getattr__(name: str) -> Any:
    """Import the Python API lazily so ``rsmodel --help`` stays fast."""
    if name in _API:
        from rsmodel import api

        return getattr(api, name)
    raise AttributeError(f"module 'rsmodel' has no attribute {name!r}")
