"""The real-world corpus (tests/realworld.toml): each target's verdict and violated checks are
the ones recorded, and every recorded violation has a hand reproduction.

The verdict runs (``-m realworld``, selected with ``--realworld``; ``nox -s realworld``
installs the pinned packages first) validate each target as a user would, through
``optcheck.validate`` and its supervised worker: about 7 s each on 2 cores (heavyball's
torch.compile warm-up adds minutes; its entries give ``warmup``). An entry's ``hp`` is
``--hp``, ``warmup`` is ``--warmup``, ``create_graph`` is ``--create-graph``, no ``like`` means
the generic contract.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import optcheck

tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later

TESTS = Path(__file__).parent
CORPUS = tomllib.loads((TESTS / "realworld.toml").read_text())["target"]
CASES = [
    pytest.param(path, entry, id=path, marks=pytest.mark.realworld)
    for entry in CORPUS
    for path in entry["paths"]
]


def test_every_expected_violation_is_reproduced_by_a_test_that_exists():
    for entry in CORPUS:
        assert entry["verdict"] in ("CONFORMS", "DOES NOT CONFORM", "NOTHING CHECKED")
        assert (entry["verdict"] == "DOES NOT CONFORM") == bool(entry.get("violations"))
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", entry["package"])
        for check_id, test in entry.get("violations", {}).items():
            file, _, name = test.partition("::")
            assert f"def {name}(" in (TESTS.parent / file).read_text(), (check_id, test)


@pytest.mark.parametrize(("path", "entry"), CASES)
def test_verdict_is_the_recorded_one(path, entry):
    # The distribution, not the module: timm_by_path imports from anywhere, and the expected
    # verdicts hold for the pinned version only.
    dist, _, pinned = entry["package"].partition("==")
    try:
        installed = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{entry['package']} is not installed: run nox -s realworld")
    if installed.split("+")[0] != pinned:
        pytest.fail(f"{dist} {installed} is installed, the corpus pins {pinned}")
    like = entry.get("like")  # absent: the generic contract
    like = path.rpartition(":")[2] if like == "same" else like
    report = optcheck.validate(
        path,
        like=like,
        hp=entry.get("hp"),
        warmup=entry.get("warmup", 0.0),
        timeout=120.0,
        create_graph=entry.get("create_graph", False),
    )
    violated = sorted(r.id for r in report.results if r.verdict in ("violation", "error"))
    assert (report.verdict, violated) == (entry["verdict"], sorted(entry.get("violations", {})))


def test_the_readme_table_counts_the_corpus():
    """The README's corpus table: its rows add up to its totals row, and the totals are the
    corpus's (targets, and violations, one per violated check of each target)."""
    text = (TESTS.parent / "README.md").read_text()
    head = "| corpus (nox -s realworld) |"
    table = text[text.index(head) :].split("\n\n")[0].splitlines()[2:]
    cells = [[c.strip(" *") for c in row.strip("|").split("|")] for row in table]
    rows, total = cells[:-1], cells[-1]
    assert "all of" in total[0], total
    for column in (1, 2, 3, 4, 5):
        assert sum(int(r[column]) for r in rows) == int(total[column]), (column, rows, total)
    targets = sum(len(entry["paths"]) for entry in CORPUS)
    violations = sum(len(e.get("violations", {})) * len(e["paths"]) for e in CORPUS)
    assert (int(total[1]), int(total[3])) == (targets, violations)
