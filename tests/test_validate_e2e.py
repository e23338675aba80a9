"""The validator end to end: torch.optim and torch's schedulers conform; broken optimizers and
schedules are caught by the right check; robustness against targets that hang or crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import optcheck
from optcheck.checks import catalog
from optcheck.checks.kit import registry
from optcheck.suites.cli import main

TESTS = Path(__file__).parent
EXAMPLES = 8  # per check: enough to hit every flag combination the zoo breaks; CI-friendly


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it, with tests/ importable (the zoo)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "optcheck", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def failing_ids(report) -> set[str]:
    return {r.id for r in report.results if r.failed}


def runnable_checks(record) -> list[str]:
    """The checks validate runs on ``record``'s torch class that can pass: every applicable
    one (the contract, the record's invariants, its comparisons) but the comparisons a record
    without an error model skips."""
    return [
        c.id
        for c in registry.applicable("optimizer", record)
        if record.error_model is not None or not c.needs_reference or c.invariant
    ]


def _core_first(names: list[str], core: set[str]) -> list:
    """The default run validates the core end to end; every other one runs with --thorough
    (and in nox -s validate, which validates the whole catalog)."""
    return [n if n in core else pytest.param(n, marks=pytest.mark.thorough) for n in names]


# Adam end to end by default (SGD's whole run is the plugin test's conforming target; every
# check also runs on torch's classes in its own test module); every record with --thorough.
CORE_OPTIMIZERS = {"Adam"}
CORE_SCHEDULERS = {"StepLR", "OneCycleLR"}  # a drop and a cycle (annealing inside OneCycleLR)


@pytest.mark.parametrize(
    "name", _core_first([r.name for r in catalog.torch_optimizers()], CORE_OPTIMIZERS)
)
def test_torch_optimizers_conform(name):
    report = optcheck.validate(f"torch.optim:{name}", like=name, max_examples=EXAMPLES)
    assert report.ok, failing_ids(report)
    # Every runnable check passes, or is a documented torch finding ("known").
    runnable = runnable_checks(catalog.OPTIMIZERS[name])
    assert report.counts["pass"] >= len(runnable) - report.counts["known"] > 0, report.counts


@pytest.mark.parametrize("name", _core_first(catalog.torch_schedulers(), CORE_SCHEDULERS))
def test_torch_schedulers_conform(name):
    module = catalog.SCHEDULES[name].torch_class.rpartition(".")[0]  # swa_utils: SWALR
    report = optcheck.validate(f"{module}:{name}", like=name, max_examples=EXAMPLES)
    assert report.ok, [(r.id, r.detail) for r in report.results if r.failed]
    assert report.counts["pass"] >= 3


def test_cli_exit_0_json_and_html_for_a_conforming_target(tmp_path):
    out = cli(
        "validate",
        "torch.optim:SGD",
        "--like",
        "SGD",
        "--max-examples",
        "5",
        "--json",
        str(tmp_path / "r.json"),
        "--report",
        str(tmp_path / "html"),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "CONFORMS" in out.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["schema"].startswith("optcheck.validation/")
    assert all(r["verdict"] in ("pass", "skip") for r in data["results"])
    assert "<table>" in (tmp_path / "html" / "validation.html").read_text()
    assert not [p for p in tmp_path.rglob("*.tmp*")], "a temporary file was left behind"


def test_a_run_that_checked_nothing_is_not_a_pass(tmp_path, capsys):
    """Every check skipped (a step that demands a closure): NOTHING CHECKED, exit 3, not
    CONFORMS with exit 0; the report still says why each check was skipped."""
    target = "zoo.optimizers_contract:StepNeedsClosure"
    # --no-identify: its hint (a child identify, ~10 s) is tests/test_identify.py's subject
    code = main(["validate", target, "--json", str(tmp_path / "r.json"), "--no-identify"])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "NOTHING CHECKED" in out and "CONFORMS" not in out
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert results and all(r["verdict"] == "skip" and r["detail"] for r in results)


def test_the_verdict_counts_only_checks_that_ran():
    from optcheck.checks.result import CheckResult, Report

    def report(*verdicts: str) -> Report:
        results = [CheckResult(f"c{i}", "t", v, "why") for i, v in enumerate(verdicts)]
        return Report("t", None, {}, results)

    assert (report().verdict, report().exit_code) == ("NOTHING CHECKED", 3)
    assert report("skip", "skip").exit_code == 3
    assert (report("skip", "pass").verdict, report("skip", "pass").exit_code) == ("CONFORMS", 0)
    assert report("skip", "known").exit_code == 0
    assert (report("skip", "violation").verdict, report("skip", "error").exit_code) == (
        "DOES NOT CONFORM",
        1,
    )


@pytest.mark.parametrize(
    ("target", "like", "check_prefix"),
    [
        ("zoo.optimizers_contract:SGDBufferOutsideState", "SGD", "contract.resume"),
        ("zoo.optimizers_contract:SGDLearningRateFromDefaults", "SGD", "contract.param_groups"),
        ("zoo.optimizers_contract:SGDInPlaceWeightDecay", None, "contract.grad_unchanged"),
        ("zoo.optimizers_contract:SGDClosureTwice", None, "contract.closure"),
        ("zoo.optimizers_contract:SGDIgnoresMaximize", "SGD", "contract.maximize"),
        ("zoo.schedules:StepLROffByOne", "StepLR", "schedule."),
        ("zoo.schedules:CosineIgnoresEtaMin", "CosineAnnealingLR", "schedule."),
        ("zoo.optimizers_numeric:AdamBiasCorrectionOffByOne", "Adam", "adam.first_step"),
        ("zoo.optimizers_numeric:AdamEpsInsideSqrt", "Adam", "adam.first_step"),
        ("zoo.optimizers_numeric:AdamAmsgradIgnored", "Adam", "amsgrad.monotone"),
        ("zoo.optimizers_numeric:SGDNesterovIgnored", "SGD", "nesterov.relation"),
        ("zoo.optimizers_numeric:AdamFloat32Internal", "Adam", "crossval.trajectory"),
    ],
)
@pytest.mark.parametrize(
    "scope", ["selected", pytest.param("all checks", marks=pytest.mark.thorough)]
)
def test_broken_targets_exit_1_naming_the_check(target, like, check_prefix, scope, capsys):
    args = ["validate", target, "--max-examples", str(EXAMPLES), "--timeout", "120"]
    if scope == "selected":  # the whole run (every check) is the --thorough case
        args += ["--select", check_prefix]
    code = main(args + (["--like", like] if like else []))
    out = capsys.readouterr().out
    assert code == 1, out
    flagged = [
        line.split()[1] for line in out.splitlines() if line.startswith(("VIOLATION", "ERROR"))
    ]
    assert any(f.startswith(check_prefix) for f in flagged), out


def test_constructor_that_raises_is_a_violation_not_a_crash(capsys):
    code = main(["validate", "zoo.optimizers_contract:RaisingConstructor", "--max-examples", "3"])
    out = capsys.readouterr().out
    assert code == 1
    assert "constructing the target raised" in out


def test_hanging_target_times_out_as_a_violation(tmp_path, monkeypatch, capsys):
    (tmp_path / "hangs.py").write_text(
        textwrap.dedent("""
        import time, torch
        class Hangs(torch.optim.SGD):
            def step(self, closure=None):
                while True:
                    time.sleep(0.05)
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code = main(
        [
            "validate",
            "hangs:Hangs",
            "--select",
            "contract.determinism",
            "--timeout",
            "1",
            "--max-examples",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "timed out after 1 s" in out


def test_factory_returning_a_non_optimizer_is_a_target_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "badfactory.py").write_text("def make(params, **hp):\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["validate", "badfactory:make", "--like", "SGD"]) == 2
    assert "returned int, not an Optimizer" in capsys.readouterr().err


@pytest.mark.thorough  # a subprocess pytest over SGD's whole run (15 s); the plugin's collection
# and options are tested by default in test_pytest_plugin.py
def test_pytest_plugin_turns_checks_into_items(tmp_path):
    (tmp_path / "xfails.txt").write_text(
        "# the zoo optimizer loses its buffer on resume\ncontract.resume\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    base = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        "--optcheck-max-examples",
        "2",  # the plugin's mechanics (items, xfails), not SGD, are under test here
    ]
    good = subprocess.run(
        base + ["--optcheck", "torch.optim:SGD", "--optcheck-like", "SGD"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert good.returncode == 0, good.stdout[-2000:]
    assert " passed" in good.stdout
    # The broken target's check fails as an item: listed in the xfails file (strict: an
    # unexpected pass would fail the run), it is reported xfailed and the run exits 0.
    broken = base + ["--optcheck", "zoo.optimizers_contract:SGDBufferOutsideState", "-rx"]
    xfailed = subprocess.run(
        broken + ["--optcheck-xfails", str(tmp_path / "xfails.txt")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert xfailed.returncode == 0, xfailed.stdout[-2000:]
    assert "contract.resume" in xfailed.stdout
    assert "xfailed" in xfailed.stdout


def test_scheduler_needing_constructor_arguments_asks_for_them(capsys):
    assert main(["validate", "torch.optim.lr_scheduler:StepLR"]) == 2
    err = capsys.readouterr().err
    assert "requires step_size: give a value with --hp NAME=VALUE" in err


def test_known_torch_finding_is_shown_not_failed_but_a_subclass_is_not_excused(
    tmp_path, monkeypatch
):
    """StepLR's last_epoch resume bug: 'known' on torch's class, a violation on a copy of it."""
    (tmp_path / "mysched.py").write_text(
        "from torch.optim.lr_scheduler import StepLR\n\nclass MyStepLR(StepLR):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    select = ["contract.schedule_last_epoch"]
    torch_report = optcheck.validate(
        "torch.optim.lr_scheduler:StepLR", like="StepLR", select=select, max_examples=25
    )
    [result] = torch_report.results
    assert result.verdict == "known" and "pytorch/pytorch#29697" in result.detail
    assert torch_report.exit_code == 0
    ours = optcheck.validate("mysched:MyStepLR", like="StepLR", select=select, max_examples=25)
    assert [r.verdict for r in ours.results] == ["violation"]
    assert ours.exit_code == 1


@pytest.mark.parametrize(
    ("target", "like", "variant"),
    [
        # In-process, test_crossval names every variant mutant and test_prepare's plugin test
        # prints "behaves like"; the CLI end to end runs with --thorough.
        pytest.param(
            "zoo.optimizers_numeric:AdamKerasEpsHat",
            "Adam",
            "Adam:keras-eps-hat",
            marks=pytest.mark.thorough,
        ),
        pytest.param(
            "zoo.optimizers_numeric:SGDLrInsideBuffer",
            "SGD",
            "SGD:classic-momentum",
            marks=pytest.mark.thorough,
        ),
        pytest.param(
            "zoo.optimizers_numeric:AdamWCoupledDecay",
            "AdamW",
            "AdamW:coupled-decay",
            marks=pytest.mark.thorough,
        ),
    ],
)
def test_failed_comparison_names_the_variant_the_target_matches(target, like, variant, capsys):
    code = main(["validate", target, "--like", like, "--max-examples", str(EXAMPLES)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"behaves like: {variant} — " in out
