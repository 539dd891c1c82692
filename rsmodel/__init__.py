"""rsmodel: declare a space-operations scenario, get an optimised, checkable plan."""

__version__ = "0.1.0"

__all__ = ["__version__"]
