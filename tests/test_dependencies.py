"""Every package that rsmodel, its tests, benchmarks and tools import is declared in pyproject.toml.

A package that merely happens to be installed on the machine hid a missing declaration once
(scipy): the README's install command then failed on a fresh machine. This test walks the
imports with ``ast`` (function-local imports included) and maps each top-level module to the
distributions that provide it (``importlib.metadata.packages_distributions``). A module passes
when it is standard library, a module of this repository (rsmodel, benchmarks/child.py, ...), or
provided by a *declared* distribution: one named in ``[project] dependencies`` or an optional
group, or one that an extra asked for there brings in (``dask[distributed]`` -> ``distributed``).
What a declared package happens to require is not counted: what we import, we declare.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("rsmodel", "tests", "benchmarks", "tools")


def normalise(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name_and_extras(req: str) -> tuple[str, set[str]]:
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?", req)
    assert match, f"unparsable requirement {req!r}"
    extras = {normalise(e) for e in (match.group(2) or "").split(",") if e.strip()}
    return normalise(match.group(1)), extras


def declared_distributions(pyproject: dict) -> set[str]:
    """Distributions declared directly, plus those that a requested extra adds."""
    project = pyproject["project"]
    reqs = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        reqs += group
    declared: set[str] = set()
    for req in reqs:
        name, extras = requirement_name_and_extras(req)
        declared.add(name)
        if not extras:
            continue
        try:
            sub_requirements = requires(name) or []
        except PackageNotFoundError:
            continue
        for sub in sub_requirements:
            wanted = set(re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", sub))
            if {normalise(e) for e in wanted} & extras:
                declared.add(requirement_name_and_extras(sub)[0])
    return declared


def imported_modules(folder: Path) -> dict[str, str]:
    """Top-level module -> first ``file:line`` importing it, for absolute imports under folder."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def local_modules(folder: Path) -> set[str]:
    """Modules of the repository a script can import as siblings (benchmarks/child.py,
    tests/fixtures/synth_plan.py, ...)."""
    return {p.stem for p in folder.rglob("*.py")} | {
        p.name for p in folder.rglob("*") if p.is_dir()
    }


def undeclared_imports(pyproject: dict, root: Path = ROOT) -> list[str]:
    """One line per imported module that no declared distribution provides."""
    declared = declared_distributions(pyproject)
    providers = packages_distributions()
    folders = [root / name for name in SCANNED if (root / name).is_dir()]
    project_modules = set().union(*(local_modules(folder) for folder in folders))
    problems = []
    for folder in folders:
        for module, where in imported_modules(folder).items():
            if module in sys.stdlib_module_names or module in {"__future__", *SCANNED}:
                continue
            if module in project_modules:
                continue
            dists = {normalise(d) for d in providers.get(module, [])}
            if not dists:
                problems.append(f"{module} (imported at {where}): not installed, not declared")
            elif not dists & declared:
                problems.append(
                    f"{module} (imported at {where}): provided by {', '.join(sorted(dists))}, "
                    "which pyproject.toml does not declare"
                )
    return problems


def load_pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_import_is_a_declared_dependency():
    assert undeclared_imports(load_pyproject()) == []


def test_a_removed_declaration_is_reported():
    """The check is not vacuous: drop scipy (bound.py imports it) and it is named."""
    pyproject = load_pyproject()
    deps = pyproject["project"]["dependencies"]
    pyproject["project"]["dependencies"] = [
        d for d in deps if requirement_name_and_extras(d)[0] != "scipy"
    ]
    assert len(pyproject["project"]["dependencies"]) == len(deps) - 1
    problems = undeclared_imports(pyproject)
    assert any(p.startswith("scipy (imported at rsmodel/") for p in problems), problems


def test_runtime_code_needs_no_test_only_package():
    """What rsmodel/ itself imports must be in [project] dependencies, not only in an extra:
    `pip install rsmodel` without extras has to run every command."""
    pyproject = load_pyproject()
    runtime_only = {"project": {"dependencies": pyproject["project"]["dependencies"]}}
    problems = [p for p in undeclared_imports(runtime_only) if "(imported at rsmodel/" in p]
    optional_ok = {"astropy"}  # FITS only, imported lazily behind a clear error (extra "fits")
    assert [p for p in problems if p.split(" ")[0] not in optional_ok] == []
