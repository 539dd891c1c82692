"""Recorders, data sources and transmitter power in the sync optimiser (docs/recorder.md).

Hand-built instances (one node, one station, 60 s slots, 1 MB/s links) solved with real HiGHS;
recorder fill and SOC are re-integrated here with numpy from the plan's operations, the
sources' production and the reported losses, not with the optimiser's code.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from rsmodel.optimize import SolverSettings, StationSpec, build_problem, solve_problem
from rsmodel.optimize.auto import solve_auto
from rsmodel.optimize.energy import NodeEnergy
from rsmodel.optimize.onboard import Onboard, Source
from rsmodel.optimize.problem import source_demands
from rsmodel.plan.check import check_plan
from tests.test_optimize import MB, T0, demand, windows_table

K = 60  # one hour of 60 s slots
STEP = 60.0
PASSES = [("sat", "gs", 600, 1200), ("sat", "gs", 2400, 3000)]  # 600 MB each at 1 MB/s


def energy(sunlit: np.ndarray, **kw) -> NodeEnergy:
    figures = dict(capacity_wh=50.0, initial_wh=50.0, floor_soc=0.5, solar_w=60.0, idle_w=15.0)
    figures.update(kw)
    return NodeEnergy(
        "sat",
        figures["capacity_wh"],
        figures["initial_wh"],
        figures["floor_soc"],
        figures["solar_w"],
        figures["idle_w"],
        0.0,
        sunlit,
        np.full(K, STEP),
        tx_power_w=figures.get("tx_power_w", 0.0),
        tx_warmup_s=figures.get("tx_warmup_s", 0.0),
    )


def instance(onboard: Onboard, syncs=(), *, method="milp", passes=PASSES):
    demands = [*syncs, *source_demands(onboard, T0, STEP)]
    return build_problem(
        start=T0,
        end=T0 + timedelta(seconds=K * STEP),
        step_s=STEP,
        nodes=["sat"],
        stations=[StationSpec("gs")],
        windows=windows_table(list(passes)),
        demands=demands,
        settings=SolverSettings(method=method, time_limit_s=30.0),
        onboard=onboard,
    )


def seconds(t) -> float:
    return (t - T0).total_seconds()


def sent_per_slot(schedule, sync_id: str | None = None) -> np.ndarray:
    """Bytes downlinked per slot from the operations (pro rata of each operation's time)."""
    out = np.zeros(K)
    edges = np.arange(K + 1) * STEP
    for op in schedule.operations:
        if sync_id is not None and op.sync_id != sync_id:
            continue
        a, b = seconds(op.start), seconds(op.end)
        overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0, None)
        out += op.bytes * overlap / (b - a)
    return out


def reintegrate_fill(schedule, onboard: Onboard, capacity: float, syncs=()):
    """The recorder replayed from the operations: fill (K+1,) clipped at ``capacity`` (what
    does not fit is lost when it arrives: the least any plan with these downlinks loses) and
    the bytes lost per slot (K,)."""
    net = -sent_per_slot(schedule)
    for s in onboard.sources:
        net += s.produced_bytes
    for d in syncs:
        net[int(seconds(d.release) // STEP)] += d.size_bytes
    fill = [sum(s.initial_bytes for s in onboard.sources)]
    lost = np.zeros(K)
    for k in range(K):
        level = fill[-1] + net[k]
        lost[k] = max(level - capacity, 0.0)
        fill.append(level - lost[k])
    return np.array(fill), lost


def assert_losses_reported(schedule, onboard: Onboard, capacity: float, syncs=()) -> None:
    """The plan's fill curve is the recorder without losses minus a loss that never shrinks,
    starts no earlier than the first reported loss and adds up to the reported losses; the
    curve stays within [0, capacity]."""
    no_loss, _ = reintegrate_fill(schedule, onboard, np.inf, syncs)
    curve = np.array(schedule.onboard["recorders"][0]["fill_bytes"])
    implied = no_loss - curve
    reported = schedule.onboard["losses"]
    assert np.all(implied >= -1.0) and np.all(np.diff(implied) >= -1.0)
    assert implied[-1] == pytest.approx(sum(x["lost_bytes"] for x in reported), abs=2.0)
    assert np.all(curve >= -1.0) and np.all(curve <= capacity + 1.0)
    if reported:
        first = min(seconds_iso(x["first_time"]) for x in reported)
        assert np.all(implied[np.arange(K + 1) * STEP <= first] <= 1.0)
        assert all(x["reason"] == "recorder full" for x in reported)


def seconds_iso(text: str) -> float:
    from rsmodel.timeutil import parse_time

    return seconds(parse_time(text))


def reintegrate_soc(schedule, e: NodeEnergy) -> np.ndarray:
    """SOC (K+1,) Wh: solar while sunlit, idle always, tx_power_w during each operation and its
    warm-up before it (kept on across gaps shorter than the warm-up), clipped at capacity."""
    spans = sorted((seconds(o.start), seconds(o.end)) for o in schedule.operations)
    on = []
    for a, b in spans:
        if on and a - on[-1][1] <= e.tx_warmup_s:
            on[-1][1] = b
        else:
            on.append([a - e.tx_warmup_s, b])
    soc = [e.initial_wh]
    for k in range(K):
        t0, t1 = k * STEP, (k + 1) * STEP
        tx_s = sum(max(0.0, min(t1, b) - max(t0, a)) for a, b in on)
        net = (e.solar_w * e.sunlit[k] * STEP - e.idle_w * STEP - e.tx_power_w * tx_s) / 3600
        soc.append(min(e.capacity_wh, soc[-1] + net))
    return np.array(soc)


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_production_faster_than_downlink_loses_data_and_reports_it(method):
    produced = np.zeros(K)
    produced[:30] = 120 * MB  # 2 MB/s for 30 min: 3.6 GB against 1.2 GB of passes
    imager = Source("sat/imager", "sat", 2, produced, initial_bytes=100 * MB)
    onboard = Onboard({"sat": 1000 * MB}, [imager], {})
    sync = demand("s1", "sat", 50, "critical")
    schedule = solve_problem(instance(onboard, [sync], method=method))
    src = schedule.onboard["sources"][0]
    # the two passes carry 1200 MB, 50 MB of it the critical sync
    assert src["delivered_bytes"] == pytest.approx(1150 * MB, rel=1e-6)
    assert schedule.outcomes["s1"].status == "complete"
    _, least = reintegrate_fill(schedule, onboard, 1000 * MB, [sync])
    assert least.sum() > 2000 * MB  # lost even if nothing is dropped before the recorder is full
    assert src["lost_bytes"] == pytest.approx(least.sum(), rel=1e-6)
    assert src["produced_bytes"] == pytest.approx(
        src["delivered_bytes"] + src["lost_bytes"] + src["onboard_end_bytes"]
    )
    assert_losses_reported(schedule, onboard, 1000 * MB, [sync])
    curve = schedule.onboard["recorders"][0]["fill_bytes"]
    assert np.allclose(schedule.grid["recorder_fill_bytes"].sel(node="sat"), curve[:-1], atol=1.0)
    assert check_plan(schedule.plan_dict()) == []


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_no_byte_leaves_before_it_is_produced(method):
    produced = np.zeros(K)
    produced[12:14] = 30 * MB  # 60 MB produced in slots 12-13, inside the first pass
    onboard = Onboard({"sat": 1e12}, [Source("sat/late", "sat", 1, produced)], {})
    schedule = solve_problem(instance(onboard, method=method))
    assert schedule.outcomes["sat/late"].status == "complete"
    # bytes sent by the end of slot k (operations run at the link rate) <= bytes produced
    # before slot k starts
    made_before = np.cumsum(produced) - produced
    sent_through = np.cumsum(sent_per_slot(schedule, "sat/late"))
    assert np.all(sent_through <= made_before + 1.0)


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_critical_data_keeps_recorder_room_low_data_is_lost(method):
    produced = np.full(K, 20 * MB)  # the survey alone overflows the 300 MB recorder
    sources = [
        Source("sat/alarm", "sat", 0, produced / 10, on_full="drop_new"),  # 120 MB in all
        Source("sat/survey", "sat", 3, produced, on_full="overwrite_oldest"),
    ]
    onboard = Onboard({"sat": 300 * MB}, sources, {})
    schedule = solve_problem(instance(onboard, method=method, passes=[PASSES[1]]))
    lost = {s["id"]: s["lost_bytes"] for s in schedule.onboard["sources"]}
    assert lost["sat/alarm"] == pytest.approx(0.0, abs=1.0)
    assert schedule.outcomes["sat/alarm"].status == "partial"  # produced after the pass, too
    assert lost["sat/survey"] > 400 * MB  # 1200 produced, ~520 sent, <= 300 kept
    assert_losses_reported(schedule, onboard, 300 * MB)


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_critical_data_keeps_room_from_lower_data_that_cannot_be_overwritten(method):
    """A high-class imager (drop_new: its recorded bytes stay until downlinked) would fill the
    recorder before a pass; critical housekeeping produced after the imager stops must still
    fit: the plan records less of the imager, earlier, and loses no housekeeping."""
    imager = np.zeros(K)
    imager[:20] = 30 * MB  # 600 MB in the first 20 min into a 400 MB recorder
    sources = [
        Source("sat/hk", "sat", 0, np.r_[np.zeros(20), np.full(K - 20, 2 * MB)]),
        Source("sat/imager", "sat", 1, imager, on_full="drop_new"),
    ]
    onboard = Onboard({"sat": 400 * MB}, sources, {})
    schedule = solve_problem(instance(onboard, method=method, passes=[PASSES[1]]))
    lost = {s["id"]: s["lost_bytes"] for s in schedule.onboard["sources"]}
    assert lost["sat/hk"] == pytest.approx(0.0, abs=1.0)
    # 600 MB + 40 MB of hk before the pass (slot 40) in a 400 MB recorder
    assert lost["sat/imager"] >= 240 * MB - 1.0
    assert_losses_reported(schedule, onboard, 400 * MB)
    assert check_plan(schedule.plan_dict()) == []


def test_bound_knows_bytes_produced_after_the_last_pass_cannot_go_down():
    """A source that makes 10 MB at the start and 80 MB after the last pass can deliver only
    the 10 MB: the stated bound equals the plan's objective (a bound that let bytes go down
    before they exist would be far lower)."""
    produced = np.zeros(K)
    produced[0] = 10 * MB
    produced[52:] = 10 * MB
    onboard = Onboard({"sat": 1e12}, [Source("sat/late", "sat", 1, produced)], {})
    schedule = solve_auto(instance(onboard))
    s = schedule.solver
    assert schedule.outcomes["sat/late"].delivered_bytes == pytest.approx(10 * MB)
    assert s.bound == pytest.approx(s.objective, rel=1e-6)


@pytest.mark.parametrize("method", ["greedy", "milp"])
def test_eclipse_pass_is_shortened_to_keep_the_soc_floor_sunlit_pass_used(method):
    """The same 10-minute pass at 100 W: in sunlight it is used in full; in eclipse the plan
    stops early enough that the SOC (re-integrated here) never goes below the floor."""
    delivered = {}
    for eclipse in (False, True):
        sunlit = np.ones(K, dtype=bool)
        sunlit[30:] = not eclipse
        e = energy(sunlit, tx_power_w=100.0, tx_warmup_s=60.0)
        onboard = Onboard({}, [], {"sat": e})
        schedule = solve_problem(
            instance(
                onboard, [demand("s1", "sat", 1000, "normal")], method=method, passes=[PASSES[1]]
            )
        )
        soc = reintegrate_soc(schedule, e)
        assert soc.min() >= e.floor_soc * e.capacity_wh - 1e-6
        plan_soc = np.array(schedule.onboard["soc"]["sat"]["soc"]) * e.capacity_wh
        assert np.allclose(plan_soc, soc, atol=1e-4)
        delivered[eclipse] = schedule.outcomes["s1"].delivered_bytes
    assert delivered[False] == pytest.approx(600 * MB)
    assert 0 < delivered[True] < delivered[False]


def test_bound_brackets_the_optimum_with_a_recorder():
    produced = np.zeros(K)
    produced[:30] = 40 * MB
    onboard = Onboard(
        {"sat": 500 * MB},
        [Source("sat/imager", "sat", 2, produced)],
        {"sat": energy(np.ones(K, dtype=bool), tx_power_w=20.0)},
    )
    problem = instance(onboard, [demand("s1", "sat", 200, "high", release_s=300)])
    schedule = solve_auto(problem)
    s = schedule.solver
    assert s.strategy == "monolithic"
    assert s.bound is not None and s.bound <= s.objective + 1e-9


def test_compute_then_downlinks_share_one_soc_curve_and_the_recorder():
    """Jobs are planned first; their draw is fixed in the sync model next to the transmitter:
    the plan's one SOC curve equals a numpy re-integration of solar, idle, the compute
    placements and transmitting, never below the floor; the job output sits in the recorder
    from its step's end until downlinked."""
    import yaml

    from rsmodel.model.loader import load_model_dict
    from rsmodel.pipeline import run
    from rsmodel.timeutil import parse_time
    from tests.conftest import ROOT

    data = yaml.safe_load((ROOT / "models" / "compute_mixed.yaml").read_text())
    node = data["nodes"][0]
    node["power"].update(tx_power_w=40.0, tx_warmup_s=60.0)
    node["recorder"] = {"capacity_bytes": 2.0e9}
    scenario = load_model_dict(data, base_dir=ROOT / "models")
    plan = run(scenario).plan.to_dict()
    t0, step = scenario.start, scenario.step_s
    k = int(np.ceil(scenario.duration_s / step))
    edges = np.minimum(np.arange(k + 1) * step, scenario.duration_s)

    def secs(text):
        return (parse_time(text) - t0).total_seconds()

    def spread(a, b, amount):
        overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0, None)
        return amount * overlap / max(b - a, 1e-9)

    bat, power = scenario.nodes[0].battery, scenario.nodes[0].power
    sunlit = np.ones(k, dtype=bool)
    for e in plan["eclipses"]:
        sunlit &= ~((edges[:-1] >= secs(e["start"])) & (edges[:-1] < secs(e["end"])))
    compute = np.zeros(k)
    for d in [d for j in plan["jobs"] for d in j["placement_decisions"]]:
        if d["status"] == "placed" and d.get("location") != "ground" and d["start"]:
            for part in d.get("segments") or [d]:
                compute += spread(secs(part["start"]), secs(part["end"]), part["energy_wh"])
    spans, on = sorted((secs(o["start"]), secs(o["end"])) for o in plan["operations"]), []
    for a, b in spans:
        if on and a - on[-1][1] <= power.tx_warmup_s:
            on[-1][1] = b
        else:
            on.append([a - power.tx_warmup_s, b])
    tx_s = sum((spread(a, b, b - a) for a, b in on), np.zeros(k))
    dt = np.diff(edges)
    net = (power.solar_charge_w * sunlit * dt - power.idle_w * dt - power.tx_power_w * tx_s) / 3600
    net -= compute
    cap = bat.capacity_wh
    soc = [bat.initial_soc * cap]
    idle_only = [bat.initial_soc * cap]
    base_net = (power.solar_charge_w * sunlit * dt - power.idle_w * dt) / 3600
    for n, base in zip(net, base_net, strict=True):
        soc.append(min(cap, soc[-1] + n))
        idle_only.append(min(cap, idle_only[-1] + base))
    soc, idle_only = np.array(soc), np.array(idle_only)
    curve = np.array(plan["soc"]["iss"]["soc"]) * cap
    assert tx_s.sum() > 0 and compute.sum() > 0
    assert np.allclose(curve, soc, atol=1e-3 * cap)
    assert np.all(soc >= np.minimum(bat.min_soc * cap, idle_only) - 1e-6)
    # the job output enters the recorder at its step's end and leaves with its downlinks
    out = next(d for d in plan["job_downlinks"])
    fill = np.array(plan["recorders"][0]["fill_bytes"])
    release = int(secs(out["release"]) // step)
    assert fill[release + 1] - fill[release] == pytest.approx(out["data_size_bytes"], rel=1e-6)
    assert out["status"] == "complete" and fill[-1] == pytest.approx(0.0, abs=1.0)
