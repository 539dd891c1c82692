"""The rsmodel version (a leaf: plans, reports and caches record it without importing the API)."""

__version__ = "0.1.0"
