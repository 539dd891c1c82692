"""No zero-length operations (issue 15, from issue 16): a byte or two of a demand in a slot, at
a fast link, lasts less than the plan's 1 us resolution and would be a 0 s operation an operator
cannot execute. The timeline folds such dust into the same transfer or widens it to 1 us,
keeping every demand's bytes exact (docs/optimisation.md, "From slots to the executable
timeline"). References: the slot decisions set by hand here and the independent checker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from rsmodel.optimize import StationSpec, build_problem
from rsmodel.optimize.problem import SolverSettings
from rsmodel.optimize.state import LinkState
from rsmodel.optimize.timeline import timeline
from rsmodel.timeutil import iso, parse_time
from tests.test_optimize import T0, demand, windows_table

RATE_BPS = 8.0e8  # 100 MB/s: 1 us carries 100 bytes
BYTES_PER_S = RATE_BPS / 8
PRIORITY = {"A": "normal", "B": "normal", "C": "low"}


def test_dust_bytes_become_no_zero_length_operation() -> None:
    """Slot 1: 1.5 bytes of A (whose real transfer is in slot 3) and 3 GB of B continuing
    into slot 2; slot 3: 1 GB of A and 2 bytes of C (all C has). Every operation lasts at
    least 1 us once written to the microsecond, A's dust goes into A's transfer, C is one
    1 us operation, and each demand's bytes are exactly what the slots decided."""
    demands = [demand(sid, "sat", 1e4, PRIORITY[sid]) for sid in "ABC"]
    p = build_problem(
        start=T0,
        end=T0 + timedelta(hours=1),
        step_s=60.0,
        nodes=["sat"],
        stations=[StationSpec("gs")],
        windows=windows_table([("sat", "gs", 0, 600)], bandwidth_bps=RATE_BPS),
        demands=demands,
        settings=SolverSettings(method="greedy"),
    )
    state = LinkState.empty(p)
    decided = {("A", 1): 1.5, ("B", 1): 3e9, ("B", 2): 6e9, ("A", 3): 1e9, ("C", 3): 2.0}
    ids = [d.id for d in p.demands]
    for q, (c, d) in enumerate(zip(p.pair_cand, p.pair_demand, strict=True)):
        amount = decided.get((ids[d], int(p.cand_slot[c])), 0.0)
        if amount:
            state.open(int(c))
            state.pair_bytes[q] = amount
    ops = timeline(state)

    def written(t) -> float:  # seconds from the start as plan.json gives them (1 us)
        return (parse_time(iso(t)) - T0).total_seconds()

    spans = sorted((written(o.start), written(o.end), o.sync_id, o.bytes) for o in ops)
    assert all(b - a >= 1e-6 - 1e-9 for a, b, _, _ in spans), spans
    for (_, b0, *_), (a1, *_) in zip(spans, spans[1:], strict=False):
        assert a1 >= b0 - 1e-6  # no overlap on the link
    for a, b, _, sent in spans:  # bytes = rate x duration within a byte + 1 us at the rate
        assert abs(sent - BYTES_PER_S * (b - a)) <= 1 + BYTES_PER_S * 1e-6
    totals = {sid: sum(o.bytes for o in ops if o.sync_id == sid) for sid in "ABC"}
    assert totals == pytest.approx({"A": 1e9 + 1.5, "B": 9e9, "C": 2.0}, rel=0, abs=1e-6)
    assert sum(o.sync_id == "A" for o in ops) == 1 and sum(o.sync_id == "C" for o in ops) == 1
    (c_op,) = [o for o in ops if o.sync_id == "C"]
    assert (c_op.end - c_op.start).total_seconds() == pytest.approx(1e-6, abs=1e-9)
