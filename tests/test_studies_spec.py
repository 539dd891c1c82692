"""Study specs -> variants, without running them: values, order, coordinates, checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rsmodel.errors import ModelError
from rsmodel.model.study_schema import Study
from rsmodel.studies.paths import PathError, check_path, parse_path
from rsmodel.studies.runner import prepare
from rsmodel.studies.spec import expand

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "study_seed_sync.yaml"


def base() -> dict:
    return yaml.safe_load(MODEL.read_text(encoding="utf-8"))


def test_grid_is_the_cartesian_product_in_row_major_order() -> None:
    study = Study.model_validate(
        {
            "vary": [
                {"path": "solver.time_limit_s", "values": [10, 20, 30]},
                {
                    "path": "nodes.sat-1.battery.capacity_wh",
                    "name": "cap",
                    "range": [50, 200],
                    "num": 4,
                },
            ]
        }
    )
    plan = expand(study, base())
    assert plan.dims == ["solver.time_limit_s", "cap"] and plan.shape == (3, 4)
    assert plan.coords["cap"] == [50.0, 100.0, 150.0, 200.0]
    assert [v.id for v in plan.variants][:2] == ["v0001", "v0002"] and len(plan.variants) == 12
    v = plan.variants[5]  # row 1, column 1
    assert v.index == (1, 1)
    assert v.data["solver"]["time_limit_s"] == 20
    assert v.data["nodes"][0]["battery"] == {"capacity_wh": 100.0}
    assert "battery" not in v.data["nodes"][1] and "study" not in v.data
    assert len({x.digest for x in plan.variants}) == 12


def test_log_and_integer_ranges() -> None:
    axis = {
        "path": "solver.time_limit_s",
        "range": [1, 1000],
        "num": 4,
        "log": True,
        "integer": True,
    }
    plan = expand(Study.model_validate({"vary": [axis]}), base())
    assert plan.coords["solver.time_limit_s"] == [1, 10, 100, 1000]


def test_zip_pairs_values_and_random_is_seeded_and_in_range() -> None:
    zipped = Study.model_validate(
        {
            "mode": "zip",
            "vary": [
                {"path": "solver.method", "values": ["greedy", "milp"]},
                {"path": "solver.time_limit_s", "values": [5, 50]},
            ],
        }
    )
    plan = expand(zipped, base())
    assert plan.dims == ["solver.method"]
    assert [
        (v.data["solver"]["method"], v.data["solver"]["time_limit_s"]) for v in plan.variants
    ] == [
        ("greedy", 5),
        ("milp", 50),
    ]
    spec = {
        "mode": "random",
        "samples": 50,
        "seed": 11,
        "vary": [
            {
                "path": "nodes.*.battery.capacity_wh",
                "name": "cap",
                "range": [10, 1000],
                "log": True,
            },
            {"path": "solver.method", "values": ["greedy", "milp"]},
        ],
    }
    one, two = (
        expand(Study.model_validate(spec), base()),
        expand(Study.model_validate(spec), base()),
    )
    caps = one.coords["cap"]
    assert caps == two.coords["cap"] and len(set(caps)) == 50
    assert all(10 <= c <= 1000 for c in caps)
    assert sum(c < 100 for c in caps) > 15  # log-uniform: about half below the geometric midpoint
    assert set(one.coords["solver.method"]) == {"greedy", "milp"}
    assert all(n["battery"]["capacity_wh"] == caps[3] for n in one.variants[3].data["nodes"])
    other = expand(Study.model_validate({**spec, "seed": 12}), base())
    assert other.coords["cap"] != caps


def test_yaml_1_1_number_strings_become_numeric_coordinates() -> None:
    plan = expand(
        Study.model_validate(
            {"vary": [{"path": "ground_stations.svalbard.bandwidth_bps", "values": ["5e8", 1e9]}]}
        ),
        base(),
    )
    assert plan.coords["ground_stations.svalbard.bandwidth_bps"] == [5e8, 1e9]


def test_item_sets_label_by_name() -> None:
    axis = {
        "path": "ground_stations",
        "values": [
            ["chile"],
            ["svalbard", {"name": "hbk", "station": "hartebeesthoek", "bandwidth_bps": 1e6}],
        ],
    }
    plan = expand(Study.model_validate({"vary": [axis]}), base())
    assert plan.coords["ground_stations"] == ["chile", "svalbard+hbk"]
    assert [g["name"] for g in plan.variants[1].data["ground_stations"]] == ["svalbard", "hbk"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "horizon.lenght",
            "unknown field 'lenght' in horizon; expected one of: start, hours, end, step_s",
        ),
        (
            "nodes.sat-7.memory_mb",
            "no item 'sat-7' in nodes; expected one of: sat-1, sat-2, sat-3, sat-4, sat-5",
        ),
        ("solver.method.name", "solver.method is a single value; it has no field 'name'"),
        ("syncs.grad-1.priorty", "unknown field 'priorty' in syncs.grad-1"),
        ("nodes..memory_mb", "cannot parse field path"),
    ],
)
def test_path_errors_name_what_is_expected(path: str, message: str) -> None:
    with pytest.raises(PathError, match=message.replace(".", r"\.").replace("(", r"\(")):
        check_path(path, base())


def test_paths_accept_indices_wildcards_quoted_names_and_free_form_sections() -> None:
    data = base()
    for path in (
        "nodes.0.tle.norad",
        "syncs.*.deadline",
        "nodes[sat-1].power.idle_w",
        "solver.threads",
    ):
        check_path(path, data)
    assert parse_path("nodes[NOAA 20 (JPSS-1)].battery") == ["nodes", "NOAA 20 (JPSS-1)", "battery"]
    group = {**data, "nodes": [{"from_tle": {"file": "../data/leo_snapshot.tle", "limit": 3}}]}
    check_path("nodes.0.from_tle.limit", group)
    with pytest.raises(PathError, match="unknown field 'limt'"):
        check_path("nodes.0.from_tle.limt", group)


def test_prepare_reports_bad_specs_with_file_and_line(tmp_path: Path) -> None:
    data = base()
    for node in data["nodes"]:
        node["tle"]["file"] = str(ROOT / "data" / "leo_snapshot.tle")
    data["study"] = {
        "mode": "zip",
        "vary": [
            {"path": "solver.method", "values": ["greedy"]},
            {"path": "solver.mip_gap", "values": [0.1, 0.2]},
        ],
    }
    model = tmp_path / "zip.yaml"
    model.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ModelError) as err:
        prepare(model)
    assert str(err.value).startswith(f"{model}:")
    assert "study: zip mode needs value lists of equal length" in str(err.value)
    line = int(str(err.value).split(":")[1])
    assert model.read_text().splitlines()[line - 1].startswith("study:")
    data["study"] = {
        "vary": [{"path": "solver.method", "values": ["greedy"]}],
        "kpis": ["avg_wait_minutes", "wait"],
    }
    model.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ModelError, match=r"study\.kpis\.1|study.kpis\[1\]"):
        prepare(model)
