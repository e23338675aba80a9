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
