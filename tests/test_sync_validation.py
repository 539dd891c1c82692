"""Bad syncs:/objectives:/solver: input: one clear line naming file, field and line; exit 2; no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MODELS

SEED = (MODELS / "seed_sync.yaml").read_text()
LAST_SYNC = (
    "  - {id: grad-5, node: sat-5, data_size: 100.0e6, priority: high, data_type: gradients}"
)
assert LAST_SYNC in SEED


def sync_line(**fields: str) -> str:
    inner = ", ".join(
        f"{k}: {v}"
        for k, v in {"id": "grad-5", "node": "sat-5", "data_size": "100.0e6", **fields}.items()
    )
    return "  - {" + inner + "}"


def objectives(
    latency: str = "0.5", throughput: str = "0.3", balance: str = "0.2", extra: str = ""
) -> str:
    block = f"objectives:\n  minimize_latency: {latency}\n  maximize_throughput: {throughput}\n  balance_load: {balance}\n{extra}"
    return SEED.split("objectives:")[0] + block + "solver:" + SEED.split("solver:")[1]


def with_sync(**fields: str) -> str:
    return SEED.replace(LAST_SYNC, sync_line(**fields))


SYNC_LINE = SEED.splitlines().index(LAST_SYNC) + 1
OBJ_LINE = SEED.splitlines().index("objectives:") + 1

CASES = {
    "unknown node": (
        with_sync(node="sat-9"),
        f"{SYNC_LINE}: syncs[4].node: unknown node 'sat-9'; did you mean 'sat-5'?",
    ),
    "zero data_size": (
        with_sync(data_size="0"),
        f"{SYNC_LINE}: syncs[4].data_size: Input should be greater than 0",
    ),
    "negative data_size": (
        with_sync(data_size="-1.0e6"),
        "syncs[4].data_size: Input should be greater than 0",
    ),
    "boolean data_size": (
        with_sync(data_size="true"),
        "syncs[4].data_size: expected a number, not a boolean",
    ),
    "infinite data_size": (
        with_sync(data_size=".inf"),
        "syncs[4].data_size: Input should be a finite number",
    ),
    "unknown priority": (
        with_sync(priority="urgent"),
        "syncs[4].priority: Input should be 'critical', 'high', 'normal' or 'low' (got 'urgent')",
    ),
    "deadline before release": (
        with_sync(release="+3h", deadline="+2h"),
        "syncs[4].deadline: deadline 2026-05-30T02:00:00Z must be after the release 2026-05-30T03:00:00Z",
    ),
    "deadline before horizon": (
        with_sync(deadline="2026-05-29T12:00:00Z"),
        "syncs[4].deadline: deadline 2026-05-29T12:00:00Z is not after the horizon start",
    ),
    "unparseable deadline": (
        with_sync(deadline="tomorrow"),
        "syncs[4].deadline: expected an ISO 8601 UTC time",
    ),
    "release after horizon": (
        with_sync(release="+25h"),
        "syncs[4].release: release 2026-05-31T01:00:00Z is not before the horizon end",
    ),
    "duplicate id": (
        SEED.replace("id: grad-5", "id: grad-4"),
        "syncs[4].id: duplicate sync id 'grad-4'",
    ),
    "negative weight": (
        objectives(balance="-0.2"),
        f"{OBJ_LINE + 3}: objectives.balance_load: Input should be greater than or equal to 0 (got -0.2)",
    ),
    "all-zero weights": (
        objectives("0", "0", "0"),
        f"{OBJ_LINE}: objectives: at least one objective weight must be positive",
    ),
    "unknown objective": (
        objectives(extra="  minimize_cost: 0.1\n"),
        "objectives.minimize_cost: unknown field 'minimize_cost'; did you mean 'minimize_latency'? "
        "Expected one of: minimize_latency, maximize_throughput, balance_load",
    ),
    "unknown solver method": (
        SEED.replace("method: milp", "method: simplex"),
        "solver.method: Input should be 'milp' or 'greedy' (got 'simplex')",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_sync_input_is_one_line_exit_2(case: str, cli, tmp_path: Path) -> None:
    text, expected = CASES[case]
    model = tmp_path / "bad.yaml"
    model.write_text(text.replace("../data/", f"{MODELS.parent}/data/"))
    result = cli("run", str(model), "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {model}:")
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()  # nothing half-written
