"""The validator's fixed contract: exit codes, one-line errors, reports, the Python API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import optcheck
from optcheck.checks.result import Report
from optcheck.suites.cli import main

TESTS = Path(__file__).parent


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a subprocess, with tests/ importable (the zoo)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "optcheck", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("no_colon", [], "must be written module.path:Attr"),
        ("no_such_module_xyz:Adam", [], "cannot import 'no_such_module_xyz'"),
        ("torch.optim:NoSuchThing", [], "has no attribute 'NoSuchThing'"),
        ("torch:float32", [], "not an optimizer class"),
        ("collections:OrderedDict", [], "neither a torch.optim.Optimizer nor an LRScheduler"),
        ("torch.optim:Adam", ["--like", "NoSuchAlgorithm"], "unknown --like 'NoSuchAlgorithm'"),
        ("torch.optim:Adam", ["--like", "StepLR"], "is an optimizer but --like names a schedule"),
        ("torch.optim:Adam", ["--hp", "lr"], "must look like name=value"),
        ("torch.optim:Adam", ["--json", "/no/such/folder/r.json"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(target, extra, message, capsys):
    code = main(["validate", target, *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1, err


def test_usage_error_from_argparse_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["validate", "torch.optim:Adam", "--max-examples", "0"])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_module_raising_on_import_is_a_finding(tmp_path, capsys, monkeypatch):
    """The target's own code failing is the target's error: exit 1, a report, not a usage
    error (a module that is not there at all still is one, above)."""
    (tmp_path / "explodes.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["validate", "explodes:Opt"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION  construct  importing 'explodes' raised RuntimeError: boom at import" in out


def test_report_round_trips_through_json():
    report = Report(target="t", like=None, settings={"seed": 0})
    assert Report.from_dict(json.loads(report.to_json())) == report
    with pytest.raises(ValueError, match="schema"):
        Report.from_dict({**report.to_dict(), "schema": "other/9"})


def test_python_api_is_lazy_and_exposed():
    assert callable(optcheck.validate)
    with pytest.raises(AttributeError):
        optcheck.no_such_name  # noqa: B018


@pytest.mark.parametrize("module", ["optcheck", "optcheck.suites.cli"])
def test_module_entry_points_report_usage_errors_in_one_line(module):
    out = subprocess.run(
        [sys.executable, "-m", module, "validate", "torch.optim:Adam", "--like", "Nope"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "unknown --like 'Nope'" in out.stderr


def test_the_command_line_knows_the_harness_dtypes_without_importing_torch():
    from optcheck.checks.harness import DTYPES
    from optcheck.suites import validate_cli

    assert validate_cli.DTYPES == tuple(DTYPES)
