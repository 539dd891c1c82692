"""The independent plan checker catches hand-made violations and accepts valid plans."""

from __future__ import annotations

import copy

import pytest

from rsmodel.plan.check import check_plan

BW = 8e6  # 1 MB/s


def t(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    return f"2026-05-30T00:{minutes:02d}:{sec:02d}Z"


def base_plan() -> dict:
    """Two nodes, one station (1 antenna); node a downloads 100 MB in [0, 120] s."""
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
        "operations": [
            {
                "sync_id": "s1",
                "node": "a",
                "station": "gs",
                "window_id": "w1",
                "start": t(0),
                "end": t(120),
                "bytes": 100e6,
            }
        ],
        "syncs": [_sync("s1", "a", "high", 100e6, "complete", 100e6, t(120))],
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
        (lambda p: p["operations"][0].update(bytes=130e6), "capacity"),
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


def test_setup_time_reduces_capacity():
    plan = base_plan()
    plan["operations"][0]["bytes"] = 115e6  # fits 120 s, not 120 s minus 10 s setup
    plan["syncs"][0].update(data_size_bytes=115e6, delivered_bytes=115e6)
    assert check_plan(plan) == []
    plan["stations"][0]["setup_s"] = 10.0
    assert any("capacity" in line for line in check_plan(plan))


def test_capacity_checked_on_sub_intervals_of_a_contact():
    plan = base_plan()
    # two operations of one contact: together they fit 300 s, but s2 alone is squeezed into 60 s
    plan["operations"] = [
        {
            "sync_id": "s1",
            "node": "a",
            "station": "gs",
            "window_id": "w1",
            "start": t(0),
            "end": t(300),
            "bytes": 100e6,
        },
        {
            "sync_id": "s2",
            "node": "a",
            "station": "gs",
            "window_id": "w1",
            "start": t(120),
            "end": t(180),
            "bytes": 90e6,
        },
    ]
    plan["syncs"] = [
        _sync("s1", "a", "high", 100e6, "complete", 100e6, t(300)),
        _sync("s2", "a", "high", 90e6, "complete", 90e6, t(180)),
    ]
    assert any("capacity" in line for line in check_plan(plan))


def _two_node_plan(antennas: int) -> dict:
    plan = base_plan()
    plan["stations"][0]["antennas"] = antennas
    plan["operations"].append(
        {
            "sync_id": "s2",
            "node": "b",
            "station": "gs",
            "window_id": "w2",
            "start": t(60),
            "end": t(180),
            "bytes": 50e6,
        }
    )
    plan["syncs"].append(_sync("s2", "b", "high", 50e6, "complete", 50e6, t(180)))
    return plan


def test_antenna_exclusivity():
    assert any("exclusivity: station gs" in line for line in check_plan(_two_node_plan(1)))
    assert check_plan(_two_node_plan(2)) == []


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
    plan["operations"].append(
        {
            "sync_id": "s1",
            "node": "a",
            "station": "gs2",
            "window_id": "w3",
            "start": t(60),
            "end": t(120),
            "bytes": 10e6,
        }
    )
    plan["syncs"][0].update(data_size_bytes=110e6, delivered_bytes=110e6)
    assert any("exclusivity: node a" in line for line in check_plan(plan))


def test_priority_inversion_on_the_same_node():
    """Node a sends low data while its own critical sync waits."""
    plan = base_plan()
    plan["syncs"] = [
        _sync("s1", "a", "low", 100e6, "complete", 100e6, t(120)),
        _sync("crit", "a", "critical", 50e6, "complete", 50e6, t(240)),
    ]
    plan["operations"].append(
        {
            "sync_id": "crit",
            "node": "a",
            "station": "gs",
            "window_id": "w1",
            "start": t(120),
            "end": t(240),
            "bytes": 50e6,
        }
    )
    assert any(
        "priority: low sync s1" in line and "critical sync crit" in line
        for line in check_plan(plan)
    )
    fixed = copy.deepcopy(plan)
    fixed["syncs"][1]["release"] = t(120)  # critical only released after the low transfer
    assert check_plan(fixed) == []


def test_priority_inversion_on_a_full_station():
    """Node b's normal data takes the only antenna while node a's high sync waits, idle."""
    plan = base_plan()
    plan["operations"] = [
        {
            "sync_id": "n1",
            "node": "b",
            "station": "gs",
            "window_id": "w2",
            "start": t(0),
            "end": t(120),
            "bytes": 100e6,
        },
        {
            "sync_id": "h1",
            "node": "a",
            "station": "gs",
            "window_id": "w1",
            "start": t(120),
            "end": t(180),
            "bytes": 50e6,
        },
    ]
    plan["syncs"] = [
        _sync("n1", "b", "normal", 100e6, "complete", 100e6, t(120)),
        _sync("h1", "a", "high", 50e6, "complete", 50e6, t(180)),
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
