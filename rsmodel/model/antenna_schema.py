"""Schema of a station's antenna slew (the turnaround between contacts of different nodes).

docs/links.md, "Antenna turnaround". A station's antenna that ends a contact with one node needs
``turnaround_s`` (fixed) or the slew to the next node's first pointing at ``slew``'s axis rates
plus ``reacquire_s`` before it starts a contact with another node. A ``maintenance[]`` entry with
``antenna`` takes only that antenna (1-based) down; without it the whole station.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from rsmodel.model.vocabulary import Strict, section_check

if TYPE_CHECKING:
    from rsmodel.model.scenario import Scenario


class Slew(Strict):
    """Antenna slew model: turnaround = max(|d az| / az_deg_s, |d el| / el_deg_s) + reacquire_s,
    azimuth the shorter way round."""

    az_deg_s: float = Field(gt=0, allow_inf_nan=False, description="Azimuth slew rate, deg/s.")
    el_deg_s: float = Field(gt=0, allow_inf_nan=False, description="Elevation slew rate, deg/s.")
    reacquire_s: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="Settle and re-acquire after the slew, s."
    )


@section_check
def check_setup_fits_a_slot(scenario: Scenario) -> None:
    """Warn about stations whose ``setup_s`` is not shorter than ``horizon.step_s``: planners
    pay a contact's setup inside its first grid slot, so such a station gets no contact that
    carries a byte (the windows still show their capacity after the setup)."""
    for station in scenario.model.ground_stations:
        if station.setup_s >= scenario.step_s:
            scenario.warnings.append(
                f"ground station {station.name}: setup_s {station.setup_s:g} s is not shorter "
                f"than the grid step horizon.step_s {scenario.step_s:g} s, so plans give it no "
                "contact (a contact pays its setup inside its first slot); use a longer step_s "
                "or a shorter setup"
            )
