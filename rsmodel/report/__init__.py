"""HTML reports: one self-contained page per plan, event log or study (Jinja2, autoescape on)."""

from __future__ import annotations

from typing import Any

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("rsmodel", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_plan(plan: dict[str, Any], dataset: Any = None) -> str:
    """Render a plan (plan.json v1 dict) as one self-contained HTML page."""
    return _ENV.get_template("plan.html.j2").render(plan=plan)


__all__ = ["render_plan"]
