"""The layers import downward only: entry points (CLI, pytest plugin, Python API) → suites →
reports → checks → reference. An upward import, even inside a function, fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FOLDERS = {"reference": "optcheck.reference", "checks": "optcheck.checks"}
FOLDERS |= {"reports": "optcheck.reports", "suites": "optcheck.suites", "api": "optcheck"}
RANK = {"reference": 0, "checks": 1, "reports": 2, "suites": 3, "entry": 4}
# The entry points: what a user runs or imports, sitting on top of the suites.
ENTRY = {"optcheck", "optcheck.__main__"}
ENTRY |= {
    f"optcheck.suites.{m}"
    for m in ("cli", "validate_cli", "identify_cli", "bench_cli", "pytest_plugin")
}


def modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts))
            out[name.removesuffix(".__init__")] = path
    return out


def layer(module: str) -> str | None:
    if module in ENTRY:
        return "entry"
    for name in ("reference", "checks", "reports", "suites"):
        if module == f"optcheck.{name}" or module.startswith(f"optcheck.{name}."):
            return name
    return None


def imported(path: Path, module: str) -> set[str]:
    """Every optcheck module ``path`` imports, at top level or inside functions."""
    out = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1]])
                base = f"{base}.{node.module}" if node.module else base
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return {m for m in out if m == "optcheck" or m.startswith("optcheck.")}


MODULES = modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_downward(module):
    here = layer(module)
    assert here is not None, module
    upward = []
    for target in imported(MODULES[module], module):
        there = layer(target)
        if there is None or target not in MODULES and there != "entry":
            continue  # a name imported from a module, not a module
        if RANK[there] > RANK[here]:
            upward.append(f"{target} ({there})")
    assert not upward, f"{module} ({here}) imports upward: {upward}"


def test_every_module_has_a_layer():
    assert MODULES and all(layer(m) for m in MODULES)


CHECK_MODULES = sorted(
    m for m in MODULES if m.startswith("optcheck.checks.") and m.endswith("_checks")
)


@pytest.mark.parametrize("module", CHECK_MODULES)
def test_check_modules_use_the_kit_not_each_other(module):
    """A check module imports the kit (optcheck.checks.kit) and never another check module."""
    others = {m for m in imported(MODULES[module], module) if m in CHECK_MODULES} - {module}
    assert not others, (
        f"{module} imports check modules {sorted(others)}: move what it needs to the kit"
    )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if ".checks.kit" in m))
def test_the_kit_imports_no_check_module(module):
    assert not set(imported(MODULES[module], module)) & set(CHECK_MODULES), module
