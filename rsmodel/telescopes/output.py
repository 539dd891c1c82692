"""Output files of the telescope commands: plan.json (``"telescopes"`` section), events.jsonl,
report.html — all written atomically through ``rsmodel.io``."""

from __future__ import annotations

from pathlib import Path

from rsmodel.io import write_text
from rsmodel.model.scenario import Scenario
from rsmodel.plan.events import write_events
from rsmodel.plan.plan import Plan, model_section
from rsmodel.telescopes.api import NetworkPlan
from rsmodel.timeutil import iso


def plan_document(scenario: Scenario, planned: NetworkPlan) -> Plan:
    """A plan.json document holding the telescope plan under ``"telescopes"``."""
    section = planned.plan
    unmet = [t for t in section["tasks"] if t["status"] != "complete"]
    warnings = [f"{t['id']}: {t['status']} — {t['reason']}" for t in unmet if t["class"] != "ssa"]
    return Plan(
        model=model_section(scenario),
        horizon={"start": iso(scenario.start), "end": iso(scenario.end), "step_s": scenario.step_s},
        stations=[],
        nodes=[],
        windows=[],
        operations=[],
        syncs=[],
        kpis={},
        solver=dict(section["solver"]),
        warnings=warnings,
        extra={"telescopes": section},
    )


def write_plan_outputs(
    scenario: Scenario, planned: NetworkPlan, out_dir: Path, events: list[dict] | None = None
) -> dict[str, Path]:
    """Write plan.json, report.html and (with ``events``) events.jsonl into ``out_dir``."""
    from rsmodel.report import render_plan

    doc = plan_document(scenario, planned)
    paths = {"plan.json": doc.save(out_dir / "plan.json")}
    if events is not None:
        paths["events.jsonl"] = write_events(out_dir / "events.jsonl", events)
    paths["report.html"] = write_text(
        out_dir / "report.html", render_plan(doc.to_dict(), None, events=events)
    )
    return paths
