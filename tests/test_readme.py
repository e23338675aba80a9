"""The README's set-up commands are the ones CI runs: they must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Set-up: two commands.*?```bash\n(.*?)```", text, re.S)
    assert block, "README lost its set-up block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    commands = setup_commands()
    assert len(commands) == 2
    assert "optcheck validate" in commands[0]
    assert "pytest" in commands[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci_lines


def test_readme_lists_every_algorithm_of_the_catalog():
    from optcheck.checks import catalog

    text = (ROOT / "README.md").read_text()
    table = re.search(r"### Algorithms in the catalog\n\n.*?\n\n(\|.*?)\n\n", text, re.S)
    assert table, "README lost its table of algorithms"
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]] for line in table.group(1).splitlines()[2:]
    ]
    assert [row[0] for row in rows] == list(catalog.OPTIMIZERS)
    for name, _paths, _dtypes, invariants, variants in rows:
        record = catalog.OPTIMIZERS[name]
        assert invariants == _code_list(f.check_id for f in record.invariants), name
        assert variants == _code_list(v.name for v in record.variants), name


def _code_list(names) -> str:
    return ", ".join(f"`{n}`" for n in names) or "—"


def _nox_recipe() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"In a third party's `noxfile.py`.*?```python\n(.*?)```", text, re.S)
    assert block, "README lost its nox recipe"
    return block.group(1)


class _Session:
    """What a nox session is asked to do, recorded instead of done."""

    def __init__(self) -> None:
        self.installs: list[tuple[str, ...]] = []
        self.runs: list[tuple[str, ...]] = []

    def install(self, *args: str) -> None:
        self.installs.append(args)

    def run(self, *args: str) -> None:
        self.runs.append(args)


def test_the_nox_recipe_runs_as_copied(monkeypatch):
    """Pasted into a noxfile, the recipe defines its session with nothing undefined, installs
    optcheck from OPTCHECK next to the pinned torch, and runs a command optcheck accepts."""
    import sys
    import types

    from optcheck.suites.cli import build_parser

    sessions = []
    fake_nox = types.ModuleType("nox")
    fake_nox.session = lambda fn: sessions.append(fn) or fn
    monkeypatch.setitem(sys.modules, "nox", fake_nox)
    monkeypatch.setenv("OPTCHECK", "/src/optcheck")
    exec(compile(_nox_recipe(), "noxfile.py", "exec"), {"__name__": "noxfile"})
    assert len(sessions) == 1
    session = _Session()
    sessions[0](session)
    assert session.installs == [("torch==2.13.0", "-e", ".", "/src/optcheck")]
    (command,) = session.runs
    assert command[0] == "optcheck"
    args = build_parser().parse_args(list(command[1:]))
    assert args.command == "validate" and args.like == "Adam" and args.profile == "ci"


def test_readme_names_the_extra_bench_needs():
    text = " ".join((ROOT / "README.md").read_text().split())
    assert (
        "`optcheck bench` needs the `bench` extra, `pip install torch==2.13.0 -e '.[bench]'`"
        in text
    )
    extra = re.search(r"^bench = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.M)
    assert extra and '"matplotlib' in extra.group(1)
