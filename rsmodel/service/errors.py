"""JSON error bodies of the service: one shape, the wording of model-file errors.

``{"error": {"status": 422, "message": "body:9: custom_job.steps[0].type: ...", "file": "body",
"line": 9, "field": "custom_job.steps[0].type", "detail": "..."}}``; ``message`` is exactly the
line ``rsmodel`` prints for the same mistake in a file (with the file called ``body``).
"""

from __future__ import annotations

from typing import Any

from rsmodel.errors import ModelError

BODY_FILE = "body"  # what error messages call the request body


class ApiError(Exception):
    """An HTTP error with a JSON body; ``headers`` e.g. ``Retry-After``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"status": self.status, "message": self.message, "field": self.field}}


def model_error_body(exc: ModelError, status: int = 422) -> dict[str, Any]:
    """The JSON error body of a :class:`ModelError` (bad input: 422, invalid JSON: 400)."""
    return {
        "error": {
            "status": status,
            "message": str(exc),
            "file": exc.file,
            "line": exc.line,
            "field": exc.field,
            "detail": exc.detail,
        }
    }
