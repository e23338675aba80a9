"""optcheck identify: a black box is named by the formula it follows (its own defaults, mapped
by keyword name), a slip matches nothing and names the closest formula, and whatever the
target does ends as a finding of the child process, not as identify's own exit."""

from __future__ import annotations

import json

import pytest

from optcheck.suites.cli import main
from optcheck.suites.identify import identify, identify_here

CASES = 2  # of the 6 recipes: enough to tell the catalog apart, cheap in the default run


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("torch.optim:AdamW", ["AdamW"]),
        ("tests.zoo.lion:LionCoupledDecay", ["Lion:coupled-decay"]),
        pytest.param("torch.optim:Rprop", ["Rprop"], marks=pytest.mark.thorough),
        pytest.param("torch.optim:Adagrad", ["Adagrad"], marks=pytest.mark.thorough),
    ],
)
def test_a_black_box_is_named_by_its_formula(path, expected):
    result = identify_here(path, cases=CASES)
    assert [c.name for c in result.matches] == expected, result.summary
    assert result.summary.startswith(f"matches {expected[0]} (worst ")


def test_a_slip_matches_nothing_and_names_the_closest_formula():
    """Adam with an off-by-one bias correction: no formula within tolerance; the closest are
    Adam's (a tenth of the displacement off), not an unrelated family's."""
    result = identify_here("tests.zoo.optimizers_numeric:AdamBiasCorrectionOffByOne", cases=CASES)
    assert not result.matches
    closest = [c for c in result.candidates if c.compared][0]
    assert closest.name.split(":")[0] in ("Adam", "AdamW") and closest.relative < 0.5
    assert result.summary.startswith("matches nothing in the catalog; closest: ")


@pytest.mark.thorough  # (2.5 s; the slip test shows the ranking by default)
def test_ties_are_said_to_be_ties():
    """torch's Adam at its defaults is also AdamW:coupled-decay (Adam with L2 decay)."""
    result = identify_here("torch.optim:Adam", cases=CASES)
    assert [c.name for c in result.matches][:1] == ["Adam"]
    assert "indistinguishable" in result.summary


@pytest.mark.thorough  # (a child process; validate's supervised probes cover exits by default)
def test_a_target_that_exits_is_a_finding_of_the_child():
    result = identify("tests.zoo.hostile:ExitsInConstructor", cases=1, timeout=60)
    assert result.failure and not result.matches and not result.unloadable


def test_cli_exit_codes_and_json(tmp_path, capsys):
    out = tmp_path / "id.json"
    assert (
        main(["identify", "tests.zoo.lion:ZooLion", "--json", str(out), "-q", "--cases", "2"]) == 0
    )
    data = json.loads(out.read_text())
    assert data["matches"] == ["Lion"] and data["summary"] in capsys.readouterr().out
    assert main(["identify", "no_such_module:Thing"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_the_python_api_offers_identify():
    import optcheck

    assert optcheck.identify is identify and "identify" in dir(optcheck)
