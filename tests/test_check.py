"""The independent plan checker catches hand-made violations and accepts valid plans."""

from __future__ import annotations

import copy

import pytest

from rsmodel.plan.check import check_plan

BW = 8e6  # 1 MB/s


def t(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    return f"2026-05-30T00:{minutes:02d}:{sec:02d}Z"


def op(sid: str, node: str, window: str, a: float, b: float, antenna: int = 0, station="gs"):
    """An operation sending at the full 1 MB/s rate from ``a`` to ``b`` seconds."""
    return {
        "sync_id": sid,
        "node": node,
        "station": station,
        "window_id": window,
        "start": t(a),
        "end": t(b),
        "bytes": BW / 8 * (b - a),
        "antenna": antenna,
    }


def base_plan() -> dict:
    """Two nodes, one station (1 antenna); node a downloads 100 MB in [0, 100] s."""
    return {
        "horizon": {"start": t(0), "end": "2026-05-30T01:00:00Z", "step_s": 60},
        "stations": [{"name": "gs", "antennas": 1, "setup_s": 0.0}],
        "windows": [
            {
                "id": "w1",
                "node": "a",
                "station": "gs",
                "start": t(0),
                "end": t(300),
                "bandwidth_bps": BW,
            },
            {
                "id": "w2",
                "node": "b",
                "station": "gs",
                "start": t(0),
                "end": t(300),
                "bandwidth_bps": BW,
            },
        ],
        "operations": [op("s1", "a", "w1", 0, 100)],
        "syncs": [_sync("s1", "a", "high", 100e6, "complete", 100e6, t(100))],
    }


def _sync(
    sid, node, priority, size, status, delivered, done=None, release=None, deadline=None
) -> dict:
    return {
        "id": sid,
        "node": node,
        "priority": priority,
        "data_size_bytes": size,
        "release": release or t(0),
        "deadline": deadline,
        "status": status,
        "delivered_bytes": delivered,
        "completed_at": done,
        "reason": "" if status == "complete" else "capacity",
    }


def test_valid_plan_has_no_violation():
    assert check_plan(base_plan()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p["operations"][0].update(end=t(400)), "outside window"),
        (lambda p: p["syncs"][0].update(release=t(60)), "before the sync's release"),
        (lambda p: p["operations"][0].update(bytes=130e6), "rate"),
        (lambda p: p["operations"][0].update(antenna=1), "antenna 1 not in 0..0"),
        (
            lambda p: p["syncs"][0].update(
                delivered_bytes=90e6, status="partial", completed_at=None
            ),
            "bytes",
        ),
        (lambda p: p["syncs"][0].update(status="partial"), "status"),
        (lambda p: p["syncs"][0].update(completed_at=t(200)), "completed_at"),
        (lambda p: p["operations"][0].update(window_id="w2"), "node/station differ"),
    ],
)
def test_checker_catches_basic_violations(change, expected):
    plan = base_plan()
    change(plan)
    problems = check_plan(plan)
    assert any(expected in line for line in problems), problems


def test_bytes_are_the_rate_times_the_duration_unless_executed():
    """A planned operation is an exact timeline; a simulated one may have run slower."""
    plan = base_plan()
    plan["operations"][0]["bytes"] = 90e6
    plan["syncs"][0].update(data_size_bytes=90e6, delivered_bytes=90e6)
    assert any(line.startswith("rate:") for line in check_plan(plan))
    assert check_plan(plan, executed=True) == []


def test_microsecond_instants_keep_bytes_exact():
    """75.123456 s at 1 MB/s: the serialised instants carry the bytes to the byte."""
    plan = base_plan()
    plan["operations"][0].update(end="2026-05-30T00:01:15.123456Z", bytes=75_123_456.0)
    plan["syncs"][0].update(
        data_size_bytes=75_123_456.0, delivered_bytes=75_123_456.0, completed_at=t(75)
    )
    assert check_plan(plan) == []
    plan["operations"][0]["end"] = "2026-05-30T00:01:15.123Z"  # rounded to the millisecond
    assert any(line.startswith("rate:") for line in check_plan(plan))


def test_a_contact_starts_after_the_setup():
    plan = base_plan()
    plan["stations"][0]["setup_s"] = 10.0
    assert any(line.startswith("setup:") for line in check_plan(plan))
    plan["operations"] = [op("s1", "a", "w1", 10, 60), op("s1", "a", "w1", 60, 110)]
    plan["syncs"][0]["completed_at"] = t(110)
    assert check_plan(plan) == []  # one contact: one setup
    # node b takes the antenna in between: a's second operation is a new contact
    plan["operations"].insert(1, op("s2", "b", "w2", 80, 90))
    plan["operations"][2] = op("s1", "a", "w1", 90, 140)
    plan["syncs"][0]["completed_at"] = t(140)
    plan["syncs"].append(_sync("s2", "b", "high", 10e6, "complete", 10e6, t(90)))
    setup = [line for line in check_plan(plan) if line.startswith("setup:")]
    assert len(setup) == 1 and "operations[2] (s1" in setup[0], setup  # a right after b
    plan["operations"][1:] = [op("s2", "b", "w2", 70, 80), op("s1", "a", "w1", 90, 140)]
    plan["syncs"][1]["completed_at"] = t(80)
    assert check_plan(plan) == []


def test_operations_of_one_link_do_not_overlap():
    plan = base_plan()
    plan["operations"].append(op("s2", "a", "w1", 50, 110))
    plan["syncs"].append(_sync("s2", "a", "high", 60e6, "complete", 60e6, t(110)))
    problems = check_plan(plan)
    assert any(line.startswith("overlap: link a->gs") for line in problems), problems
    plan["operations"][1] = op("s2", "a", "w1", 100, 160)
    plan["syncs"][1]["completed_at"] = t(160)
    assert check_plan(plan) == []


def _two_node_plan(antennas: int, antenna_b: int) -> dict:
    plan = base_plan()
    plan["stations"][0]["antennas"] = antennas
    plan["operations"].append(op("s2", "b", "w2", 60, 110, antenna=antenna_b))
    plan["syncs"].append(_sync("s2", "b", "high", 50e6, "complete", 50e6, t(110)))
    return plan


def test_antenna_exclusivity():
    problems = check_plan(_two_node_plan(1, 0))
    assert any("exclusivity: station gs" in line for line in problems)
    assert any(line.startswith("overlap: antenna gs#0") for line in problems)
    assert check_plan(_two_node_plan(2, 1)) == []
    assert any(
        line.startswith("overlap: antenna gs#0") for line in check_plan(_two_node_plan(2, 0))
    )


def test_node_talks_to_one_station_at_a_time():
    plan = base_plan()
    plan["stations"].append({"name": "gs2", "antennas": 1, "setup_s": 0.0})
    plan["windows"].append(
        {
            "id": "w3",
            "node": "a",
            "station": "gs2",
            "start": t(0),
            "end": t(300),
            "bandwidth_bps": BW,
        }
    )
    plan["operations"].append(op("s1", "a", "w3", 60, 70, station="gs2"))
    plan["syncs"][0].update(data_size_bytes=110e6, delivered_bytes=110e6)
    assert any(line.startswith("overlap: node a") for line in check_plan(plan))


def test_priority_inversion_on_the_same_node():
    """Node a sends low data while its own critical sync waits."""
    plan = base_plan()
    plan["syncs"] = [
        _sync("s1", "a", "low", 100e6, "complete", 100e6, t(100)),
        _sync("crit", "a", "critical", 50e6, "complete", 50e6, t(150)),
    ]
    plan["operations"].append(op("crit", "a", "w1", 100, 150))
    assert any(
        "priority: low sync s1" in line and "critical sync crit" in line
        for line in check_plan(plan)
    )
    fixed = copy.deepcopy(plan)
    fixed["syncs"][1]["release"] = t(100)  # critical only released after the low transfer
    assert check_plan(fixed) == []


def test_priority_inversion_on_a_full_station():
    """Node b's normal data takes the only antenna while node a's high sync waits, idle."""
    plan = base_plan()
    plan["operations"] = [op("n1", "b", "w2", 0, 100), op("h1", "a", "w1", 100, 150)]
    plan["syncs"] = [
        _sync("n1", "b", "normal", 100e6, "complete", 100e6, t(100)),
        _sync("h1", "a", "high", 50e6, "complete", 50e6, t(150)),
    ]
    assert any("priority: normal sync n1" in line for line in check_plan(plan))
    two_antennas = copy.deepcopy(plan)
    two_antennas["stations"][0]["antennas"] = 2  # a could have used the free antenna: no inversion
    assert check_plan(two_antennas) == []
    same_class = copy.deepcopy(plan)
    same_class["syncs"][1]["priority"] = "normal"
    assert check_plan(same_class) == []


def test_unmet_sync_needs_a_reason_and_missed_deadlines_are_counted():
    plan = base_plan()
    plan["syncs"].append(_sync("s9", "b", "low", 10e6, "unmet", 0.0))
    plan["syncs"][-1]["reason"] = ""
    assert any("without a reason" in line for line in check_plan(plan))
    plan = base_plan()
    plan["syncs"][0]["deadline"] = t(60)
    plan["kpis"] = {"deadline_misses": 0}
    assert any("deadline_misses" in line for line in check_plan(plan))
    plan["kpis"] = {"deadline_misses": 1}
    assert check_plan(plan) == []
