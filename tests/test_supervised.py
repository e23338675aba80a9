"""The target runs supervised: whatever it does (exit, crash, hang, raise BaseException, lie
about being torch's class, shadow the stdlib), the verdict, the report and the exit code stay
optcheck's. The hostile targets are in tests/zoo/hostile.py.

Process behaviour goes through the real CLI in a subprocess; the rest calls ``main`` in this
process, whose worker still is a process of its own (forked from a forkserver this test
process shares, so each costs a fork).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from procs import gone, signal_when_marked

from optcheck.checks.findings import known_finding
from optcheck.checks.target import ScheduleTarget
from optcheck.suites.cli import main

TESTS = Path(__file__).parent


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def _verdicts(path: Path) -> dict[str, tuple[str, str]]:
    data = json.loads(path.read_text())
    return {r["id"]: (r["verdict"], r["detail"]) for r in data["results"]}


def test_a_target_that_exits_crashes_raises_and_hangs_gets_a_saved_report(tmp_path):
    """One run of the real CLI: zoo.hostile.Chaos ends each check differently; the checks
    around them still run and pass, the report is written, the exit code is 1. The target is
    a module in the current directory (importable), beside a statistics.py that must not run
    in place of the standard library's."""
    (tmp_path / "statistics.py").write_text("open('STATISTICS_RAN', 'w').close()\n")
    (tmp_path / "mytarget.py").write_text("from zoo.hostile import Chaos\n")
    select = ["contract.dtype", "contract.finite"] + list(_chaos())
    args = [a for s in select for a in ("--select", s)]
    out = subprocess.run(
        [sys.executable, "-m", "optcheck", "validate", "mytarget:Chaos", *args]
        + ["--timeout", "5", "--max-examples", "3", "--json", "r.json", "--report", "rep"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=600,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert not (tmp_path / "STATISTICS_RAN").exists(), "the current directory shadowed the stdlib"
    got = _verdicts(tmp_path / "r.json")
    assert got["contract.dtype"][0] == got["contract.finite"][0] == "pass", got
    expected = {
        "contract.grad_unchanged": "the target raised SystemExit: 0 during the check",
        "contract.closure": "the target raised KeyboardInterrupt during the check",
        "contract.maximize": "the target raised BaseException: chaos during the check",
        "contract.zero_params": "the target ended the worker process: it exited with code 0",
        "contract.zero_lr": "the target ended the worker process: it was killed by SIGSEGV",
        "contract.determinism": "timed out after 5 s (the target hangs)",
    }
    for check_id, detail in expected.items():
        assert got[check_id] == ("violation", detail), (check_id, got[check_id])
    assert "DOES NOT CONFORM — 2 passed, 6 violations" in out.stdout
    assert (tmp_path / "rep" / "validation.html").is_file()


def _chaos() -> dict[str, str]:
    from zoo.hostile import CHAOS

    return CHAOS


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, pytest.param(signal.SIGTERM, marks=pytest.mark.thorough)]
)
def test_interrupt_kills_the_worker_exits_130_and_writes_nothing(tmp_path, signum):
    command = [sys.executable, "-m", "optcheck", "validate", "zoo.hostile:HangsInConstructor"]
    command += ["--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "rep")]
    done, worker, _ = signal_when_marked(command, tmp_path / "worker.pid", signum, _env())
    assert done.returncode == 130, done.stdout + done.stderr
    assert done.stderr.strip() == "optcheck: interrupted", done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker.pid"]
    assert gone(worker), "the worker outlived optcheck"


def test_a_target_that_exits_at_import_is_a_finding_in_a_saved_report(tmp_path, monkeypatch):
    (tmp_path / "exits_at_import.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["validate", "exits_at_import:Opt", "--json", str(tmp_path / "r.json")]) == 1
    verdict, detail = _verdicts(tmp_path / "r.json")["construct"]
    assert verdict == "violation"
    assert detail == "the target raised SystemExit: 0 while being imported or constructed"


@pytest.mark.parametrize(
    ("target", "detail"),
    [
        (
            "zoo.hostile:ExitsInConstructor",
            "the target raised SystemExit: 0 while being imported or constructed",
        ),
        (
            "zoo.hostile:HangsInConstructor",
            "importing or constructing the target: timed out after 2 s (the target hangs)",
        ),
    ],
)
def test_a_target_that_exits_or_hangs_while_built_is_a_finding(target, detail, tmp_path):
    assert main(["validate", target, "--timeout", "2", "--json", str(tmp_path / "r.json")]) == 1
    assert _verdicts(tmp_path / "r.json") == {"construct": ("violation", detail)}


def test_the_whole_run_has_a_time_limit(tmp_path):
    """Two workers each hang in a check when the limit comes: both are violations, and the
    check no worker reached is an error (not run)."""
    start = time.monotonic()
    select = ["contract.finite", "contract.determinism", "contract.zero_lr"]
    code = main(
        ["validate", "zoo.hostile:HangsInEveryStep", "--timeout", "0", "--total-timeout", "3"]
        + [a for s in select for a in ("--select", s)]
        + ["--jobs", "2", "--json", str(tmp_path / "r.json")]
    )
    assert code == 1
    assert time.monotonic() - start < 60
    limit = "the whole-run limit of 3 s (--total-timeout) was reached"
    got = sorted(_verdicts(tmp_path / "r.json").values())
    assert got == [("error", f"not run: {limit}")] + [("violation", limit)] * 2


@pytest.mark.thorough
def test_a_target_that_hangs_while_its_variant_is_named_is_a_finding(capsys):
    code = main(
        ["validate", "zoo.hostile:AdamHangsWhenNamed", "--like", "Adam", "--timeout", "30"]
        + ["--select", "crossval.trajectory", "--max-examples", "5"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "VIOLATION  variants" in out and "timed out after 30 s (the target hangs)" in out


def test_np_seterr_left_behind_by_a_target_is_not_optcheck_s(capsys):
    code = main(
        ["validate", "zoo.hostile:LeavesSeterrRaise", "--like", "SGD", "--max-examples", "3"]
        + ["--select", "contract.zero_lr", "--select", "sgd.linearity"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.out
    assert "Traceback" not in captured.out + captured.err


def test_torch_s_own_class_is_decided_by_identity_not_by_name():
    import torch
    from zoo.hostile import StepLR

    check = "contract.schedule_last_epoch"
    real = ScheduleTarget("torch", torch.optim.lr_scheduler.StepLR)
    assert known_finding(real, check, {}, "cpu") is not None
    assert StepLR.__module__ == "torch.optim.lr_scheduler" and StepLR.__name__ == "StepLR"
    assert known_finding(ScheduleTarget("impostor", StepLR), check, {}, "cpu") is None


def test_help_states_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in (
        "0 every applicable check passed",
        "1 at least one violation",
        "2 usage",
        "3 nothing checked",
    ):
        assert words in text
    assert "130 interrupted" in text and "--total-timeout" in text


@pytest.mark.thorough
def test_a_module_is_not_imported_in_optcheck_s_own_process(tmp_path):
    """The parent imports neither the target nor torch (the worker does both)."""
    script = textwrap.dedent("""
        import sys
        from optcheck.suites.cli import main
        code = main(["validate", "zoo.hostile:ExitsInConstructor", "--timeout", "30"])
        assert code == 1, code
        loaded = [m for m in ("torch", "zoo.hostile") if m in sys.modules]
        assert not loaded, loaded
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=_env(), timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_two_workers_give_the_report_one_gives():
    """Checks run side by side in two workers (each asks for the next check left) and the
    variant is named once all are in: the report is the one a single worker gives, in the
    same order, failures, evidence and named variant included."""
    import optcheck

    run = dict(
        like="Adam",
        max_examples=4,
        select=["crossval.trajectory", "adam.first_step", "contract.zero_lr", "contract.resume"],
    )
    one = optcheck.validate("zoo.optimizers_numeric:AdamKerasEpsHat", jobs=1, **run)
    two = optcheck.validate("zoo.optimizers_numeric:AdamKerasEpsHat", jobs=2, **run)
    assert one.verdict == "DOES NOT CONFORM" and one.matches, one.results
    assert [(r.id, r.verdict, r.detail, r.evidence) for r in two.results] == [
        (r.id, r.verdict, r.detail, r.evidence) for r in one.results
    ]
    assert two.matches == one.matches
