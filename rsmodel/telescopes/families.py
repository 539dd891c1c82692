"""Telescope families: telescopes whose images stack together (similar FoV and pixel scale).

Deterministic rule (docs/telescopes.md): telescopes are taken in order of (pixel scale, FoV,
name); each joins the first existing family whose *founder* is within the relative tolerance
``tol`` in both pixel scale and FoV (``|x / x_founder - 1| <= tol``), otherwise it founds a new
family. Families are named ``F1``, ``F2``... in founding order; an explicit ``family:`` on a
telescope overrides the rule.
"""

from __future__ import annotations

from rsmodel.model.telescope_network import TelescopeSite


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a / b - 1.0) <= tol


def assign_families(telescopes: list[TelescopeSite], tol: float) -> list[str]:
    """Family name of each telescope (same order as ``telescopes``)."""
    founders: list[TelescopeSite] = []
    by_name: dict[str, str] = {}
    order = sorted(telescopes, key=lambda t: (t.pixel_scale_arcsec, t.fov_deg, t.name))
    for tel in order:
        if tel.family is not None:
            by_name[tel.name] = tel.family
            continue
        for k, founder in enumerate(founders):
            if _close(tel.pixel_scale_arcsec, founder.pixel_scale_arcsec, tol) and _close(
                tel.fov_deg, founder.fov_deg, tol
            ):
                by_name[tel.name] = f"F{k + 1}"
                break
        else:
            founders.append(tel)
            by_name[tel.name] = f"F{len(founders)}"
    return [by_name[t.name] for t in telescopes]


def family_table(telescopes: list[TelescopeSite], family: list[str]) -> list[dict]:
    """Families for plan.json: name, members, and the FoV / pixel-scale range of the members."""
    out = []
    for fam in sorted(set(family), key=lambda f: (len(f), f)):
        members = [t for t, f in zip(telescopes, family, strict=True) if f == fam]
        out.append(
            {
                "family": fam,
                "telescopes": [t.name for t in members],
                "fov_deg": [min(t.fov_deg for t in members), max(t.fov_deg for t in members)],
                "pixel_scale_arcsec": [
                    min(t.pixel_scale_arcsec for t in members),
                    max(t.pixel_scale_arcsec for t in members),
                ],
            }
        )
    return out
