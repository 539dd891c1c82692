"""Benchmark of cold start: `rsmodel --help`, importing what `rsmodel plan` needs, `rsmodel plan` per request.

    python benchmarks/bench_startup.py [--repeat 3] [--quick]

Every row is a fresh Python process (wall time seen by the caller, interpreter start included),
the median of ``--repeat`` runs. Baseline rows measured in the same run: the interpreter alone
(``python -c pass``: the ``/ pass`` column divides by it) and importing the third-party packages
``rsmodel plan`` cannot do without (numpy, skyfield, pydantic, yaml, Pyomo's core, HiGHS; not
pandas, which the geometry's DataFrames need only for plan.json, reports and the sync
optimiser, nor SciPy's sparse matrices, which plain Pyomo would follow with scipy.stats): the
``/ deps`` column divides by the latter. Targets (issue 18): ``--help`` and the plan imports <= 1.0 s, ``rsmodel plan`` end to
end <= 2.5 s. Then the ``python -X importtime`` top 10 cumulative entries of ``rsmodel plan``
on the first request, and the load average (the machine may be shared). ``--quick``: one run of
each row, the first request only, no ``rsmodel run``.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from child import ROOT, bench_parser

REQUESTS = sorted((ROOT / "models" / "requests").glob("*.json"))
DEPENDENCIES = "import numpy, skyfield.api, pydantic, yaml, pyomo.core, highspy"
# What `rsmodel plan` imports before its first solve (cmd_plan, load_request, plan_jobs; the
# command modules `main` registers are the --help row's). A node whose greedy plan is not within
# the gap of its bound then imports Pyomo's model and the gateway (HiGHS, SciPy) in its solve
# (multi_pass_collection.json): that is in the `rsmodel plan` rows, not in this one.
PLAN_IMPORTS = (
    "from rsmodel.cli import main; from rsmodel.compute import plan_jobs; "
    "from rsmodel.compute.request import load_request; from rsmodel.model.loader import load_model_dict; "
    "from rsmodel.geometry import compute_geometry; from rsmodel.compute.report import jobs_report; "
    "from rsmodel.optimize.compute_auto import solve_compute_auto"
)
RUN_MODEL = "models/compute_mixed.yaml"
TARGETS_S = {"rsmodel --help": 1.0, "import what `rsmodel plan` needs": 1.0, "plan": 2.5}


def wall_s(argv: list[str], repeat: int) -> float:
    """Median wall seconds of ``python *argv`` in fresh processes (the command must succeed)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            env={**os.environ, "CI": "true"},
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def importtime_top(argv: list[str], n: int = 10) -> list[tuple[float, float, int, str]]:
    """The ``n`` largest cumulative entries of ``python -X importtime *argv``:
    (cumulative ms, self ms, nesting depth, module)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *argv],
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m[2]) / 1e3, int(m[1]) / 1e3, len(m[3]) // 2, m[4]))
    return sorted(rows, reverse=True)[:n]


def main() -> None:
    parser = bench_parser(__doc__, "one run per row, the first request only, no `rsmodel run`")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (median; default 3)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    requests = REQUESTS[:1] if args.quick else REQUESTS
    load_before = os.getloadavg()
    out = tempfile.TemporaryDirectory(prefix="bench-startup-")
    rows = [
        ("python -c pass (interpreter)", ["-c", "pass"], None),
        ("import the dependencies (deps)", ["-c", DEPENDENCIES], None),
        ("rsmodel --help", ["-m", "rsmodel", "--help"], TARGETS_S["rsmodel --help"]),
        ("import what `rsmodel plan` needs", ["-c", PLAN_IMPORTS], TARGETS_S["import what `rsmodel plan` needs"]),
        *((f"rsmodel plan {r.name}", ["-m", "rsmodel", "plan", str(r)], TARGETS_S["plan"]) for r in requests),
        *(() if args.quick else [(f"rsmodel run {Path(RUN_MODEL).name}", ["-m", "rsmodel", "run", RUN_MODEL, "-o", out.name], None)]),
    ]  # fmt: skip
    with out:
        results = [(name, wall_s(argv, repeat), target) for name, argv, target in rows]
    interpreter, deps = results[0][1], results[1][1]
    head = (
        f"{'command (fresh process)':44} {'wall s':>7} {'/ pass':>7} {'/ deps':>7} "
        f"{'target s':>9} {'':>5}"
    )
    print(head)
    print("-" * len(head))
    for name, wall, target in results:
        verdict = "" if target is None else ("ok" if wall <= target else "over")
        shown = "" if target is None else f"{target:.1f}"
        print(
            f"{name:44} {wall:>7.2f} {wall / interpreter:>6.1f}x {wall / deps:>6.2f}x "
            f"{shown:>9} {verdict:>5}"
        )
    top = importtime_top(["-m", "rsmodel", "plan", str(requests[0])])
    print(f"\npython -X importtime -m rsmodel plan {requests[0].name}: top 10 cumulative")
    print(f"{'cumulative ms':>13} {'self ms':>8}  module (indent = nesting)")
    for cumulative, own, depth, module in top:
        print(f"{cumulative:>13.1f} {own:>8.1f}  {'  ' * depth}{module}")
    load_after = os.getloadavg()
    print(
        f"\nload average (1/5/15 min): before {load_before[0]:.2f}/{load_before[1]:.2f}/"
        f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f} "
        f"on {os.cpu_count()} cores; {repeat} run(s) per row, median"
    )
    if sys.dont_write_bytecode:  # inherited by the runs: an installed package has its .pyc
        print("PYTHONDONTWRITEBYTECODE is set: every run compiles rsmodel's sources")


if __name__ == "__main__":
    main()
