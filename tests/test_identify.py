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


# --- validate without --like: the identification as a hint ---------------------------------


def _args(**kw):
    import argparse

    base = {"like": None, "no_identify": False, "select": [], "total_timeout": 1800.0}
    base["create_graph"] = False
    return argparse.Namespace(**{**base, **kw}, target="tests.zoo.lion:ZooLion")


def _report(*verdicts):
    from optcheck.checks.result import CheckResult, Report

    return Report("t", None, {}, [CheckResult(f"c{i}", "t", v, "") for i, v in enumerate(verdicts)])


def test_validate_hint_runs_only_where_it_can_say_something(monkeypatch):
    """Run after a generic contract that ran the target; not with --like, --no-identify,
    --select, an error result (the target crashed or hung) or no check passed (its
    constructor raised, or nothing was checked)."""
    import time

    from optcheck.suites import identify as I
    from optcheck.suites import validate_cli

    asked = []
    monkeypatch.setattr(I, "identify", lambda path, hp, **kw: asked.append(kw) or _lion())
    ok, now = _report("pass", "violation"), time.perf_counter()
    hint = validate_cli._identification(_args(), ok, {}, now)
    assert hint["hint"].startswith("looks like: Lion (worst 0.1 of tolerance); next: ")
    assert asked == [{"timeout": I.HINT_LIMIT, "cases": I.HINT_CASES, "create_graph": False}]
    for args, report in [
        (_args(like="Lion"), ok),
        (_args(no_identify=True), ok),
        (_args(select=["contract."]), ok),
        (_args(), _report("pass", "error")),
        (_args(), _report("skip")),
        (_args(), _report("violation", "skip")),
    ]:
        assert validate_cli._identification(args, report, {}, now) is None
    # What is left of --total-timeout bounds it; under HINT_FLOOR it is not started.
    validate_cli._identification(_args(total_timeout=30.0), ok, {}, now)
    assert 0 < asked[-1]["timeout"] <= 30.0
    late = validate_cli._identification(_args(total_timeout=5.0), ok, {}, now)
    assert late["hint"].startswith("identification skipped: ") and len(asked) == 2


def _closure_skips():
    from optcheck.checks.result import CheckResult, Report

    why = "Zoo.step() requires a closure: the generic contract sets .grad and calls step() …"
    results = [CheckResult("contract.resume", "t", "skip", why)]
    results.append(CheckResult("contract.maximize", "t", "skip", "target does not accept it"))
    return Report("t", None, {}, results)


def test_a_step_requiring_a_closure_is_told_the_record_to_rerun_with(monkeypatch):
    """Nothing checked because step() requires a closure: identify runs anyway (it passes
    one) and the hint says why nothing was checked and which --like drives the target; where
    identify matches no closure-taking record, the catalog's closure-taking records."""
    import time

    from optcheck.suites import identify as I
    from optcheck.suites import validate_cli

    sf = I.Candidate("SGDScheduleFreeClosure", "", 0.03, 1e-16, 2)
    found = I.Identification("t", {}, [{}], [sf, I.Candidate("SGD", "", 7e14, 0.9, 2)], {})
    monkeypatch.setattr(I, "identify", lambda path, hp, **kw: found)
    hint = validate_cli._identification(_args(), _closure_skips(), {}, time.perf_counter())
    assert hint["hint"].startswith("step() requires a closure, which the generic contract ")
    told = "; rerun with --like SGDScheduleFreeClosure (looks like: SGDScheduleFreeClosure"
    assert told in hint["hint"], hint["hint"]
    monkeypatch.setattr(I, "identify", lambda path, hp, **kw: _lion())
    hint = validate_cli._identification(_args(), _closure_skips(), {}, time.perf_counter())["hint"]
    assert "records that pass one: --like" in hint and "--like LBFGS" in hint, hint
    assert "--like SGDScheduleFreeClosure" in hint and "rerun with" not in hint


@pytest.mark.thorough  # (a validate run and a child identify: about 15 s)
def test_validate_names_the_closure_record_for_a_schedulefree_closure_class(capsys):
    code = main(["validate", "tests.zoo.schedulefree_more:ZooSGDScheduleFreeClosure"])
    text = capsys.readouterr().out
    assert code == 3 and "NOTHING CHECKED" in text, text
    assert "rerun with --like SGDScheduleFreeClosure (looks like: SGDScheduleFreeClosure" in text


def test_validate_hint_is_printed_and_kept_in_the_json(tmp_path):
    from optcheck.checks.result import Report
    from optcheck.reports import validation

    report = _report("pass")
    report.identification = _lion().asdict()
    assert "\nlooks like: Lion (worst 0.1" in validation.terminal(report)
    assert "looks like: Lion" in validation.markdown(report)
    again = Report.from_dict(report.to_dict())
    assert again.identification["matches"] == ["Lion"]
    nothing = _lion(ratio=3e5).hint
    assert nothing.startswith("identification: matches nothing in the catalog; closest: Lion")


def _lion(ratio: float = 0.1):
    from optcheck.suites.identify import Candidate, Identification

    cands = [Candidate("Lion", "", ratio, 1e-3, 2), Candidate("SignSGD", "", 9e9, 0.5, 2)]
    return Identification("tests.zoo.lion:ZooLion", {}, [{}], cands, {})


@pytest.mark.thorough  # (a validate run and a child identify: about 15 s)
def test_validate_without_like_prints_what_the_target_looks_like(tmp_path, capsys):
    out = tmp_path / "v.json"
    code = main(["validate", "tests.zoo.lion:ZooLion", "--max-examples", "3", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "looks like: Lion (worst " in text, text
    assert json.loads(out.read_text())["identification"]["matches"] == ["Lion"]


@pytest.mark.thorough  # (about 2 s on an idle machine: every record's formulas)
def test_a_keyword_no_record_knows_goes_to_the_target_only():
    """``--hp max_grad_norm=None`` on timm's Lamb: a user's keyword that no record has left
    every record uncompared ("nothing identified"); as in validate it now reaches the target
    alone (here torch's AdamW told differentiable=False, its default)."""
    result = identify_here("torch.optim:AdamW", {"differentiable": False}, cases=1)
    assert [c.name for c in result.matches] == ["AdamW"], result.summary
