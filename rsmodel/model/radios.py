"""Which node/station pairs share a band, and the radios a contact between them uses.

A node without ``transmitters`` has one radio any station receives; a station without
``bands`` receives any band. Otherwise a pair is a contact only on a shared band: the first of
the station's bands (its order is its preference) the node transmits. A station with a link
budget needs the transmitter's EIRP, frequency and symbol rate, so it makes no contacts with a
node without transmitters. docs/links.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from rsmodel.model.scenario import OrbitalNode, Scenario, Station
from rsmodel.model.schema import Node, NodeGroup, StationBand, Transmitter
from rsmodel.model.vocabulary import FieldError, section_check

BUDGET_FIELDS = ("frequency_hz", "eirp_dbw", "symbol_rate_baud")
MAX_NAMED_PAIRS = 5


@dataclass(frozen=True)
class Radio:
    """The radios of one contact: ``band`` None when neither side names one."""

    band: str | None
    transmitter: Transmitter | None
    receiver: StationBand | None


def pair_radio(node: OrbitalNode, station: Station) -> Radio | None:
    """The radios node and station use for a contact, or None when they share no band."""
    budget = station.link is not None and station.link.budget is not None
    if not node.transmitters:
        if budget:
            return None
        return Radio(station.bands[0].band if station.bands else None, None, None)
    if not station.bands:
        tx = node.transmitters[0]
        return Radio(tx.band, tx, None)
    for receiver in station.bands:
        tx = next((t for t in node.transmitters if t.band == receiver.band), None)
        if tx is not None:
            return Radio(receiver.band, tx, receiver)
    return None


@section_check
def check_radios(scenario: Scenario) -> None:
    """Budget stations need EIRP, frequency and symbol rate of every transmitter in their bands
    (raises FieldError); pairs without a shared band get one warning naming them."""
    budget_bands = {
        b.band
        for s in scenario.stations
        if s.link is not None and s.link.budget is not None
        for b in s.bands
    }
    for i, entry in enumerate(scenario.model.nodes):
        assert isinstance(entry, Node | NodeGroup)
        for j, tx in enumerate(entry.transmitters):
            missing = [f for f in BUDGET_FIELDS if getattr(tx, f) is None]
            if tx.band in budget_bands and missing:
                raise FieldError(
                    ("nodes", i, "transmitters", j, missing[0]),
                    f"a station computes a link budget in band {tx.band}: expected "
                    + ", ".join(missing),
                )
    pairs = [
        (n.name, s.name)
        for s in scenario.stations
        for n in scenario.nodes
        if pair_radio(n, s) is None
    ]
    if pairs:
        named = "; ".join(f"{n} / {s}" for n, s in pairs[:MAX_NAMED_PAIRS])
        more = f" and {len(pairs) - MAX_NAMED_PAIRS} more" if len(pairs) > MAX_NAMED_PAIRS else ""
        scenario.warnings.append(
            f"{len(pairs)} node/station pair(s) share no band the station receives, so they "
            f"get no contact windows: {named}{more} (check nodes[].transmitters and "
            "ground_stations[].bands; a link budget needs a transmitter)"
        )
