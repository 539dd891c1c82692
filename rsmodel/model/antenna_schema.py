"""Schema of a station's antenna slew (the turnaround between contacts of different nodes).

docs/links.md, "Antenna turnaround". A station's antenna that ends a contact with one node needs
``turnaround_s`` (fixed) or the slew to the next node's first pointing at ``slew``'s axis rates
plus ``reacquire_s`` before it starts a contact with another node. A ``maintenance[]`` entry with
``antenna`` takes only that antenna (1-based) down; without it the whole station.
"""

from __future__ import annotations

from pydantic import Field

from rsmodel.model.vocabulary import Strict


class Slew(Strict):
    """Antenna slew model: turnaround = max(|d az| / az_deg_s, |d el| / el_deg_s) + reacquire_s,
    azimuth the shorter way round."""

    az_deg_s: float = Field(gt=0, allow_inf_nan=False, description="Azimuth slew rate, deg/s.")
    el_deg_s: float = Field(gt=0, allow_inf_nan=False, description="Elevation slew rate, deg/s.")
    reacquire_s: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Settle and re-acquire after the slew, s."
    )
