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


@pytest.mark.parametrize(
    "module", ["optcheck", pytest.param("optcheck.suites.cli", marks=pytest.mark.thorough)]
)
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
    from optcheck.checks.kit.harness import DTYPES
    from optcheck.suites.hp import DTYPE_NAMES

    assert DTYPE_NAMES == tuple(DTYPES)


def _usage(args: list[str], capsys) -> str:
    """main(args) is a usage error: exit 2 and one line on stderr (returned)."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own checks end here
        code = exc.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hp", "betas=(0.9,"], "'(0.9,' is not a Python literal"),
        (["--hp", "lr=1e400"], "1e400 is not a finite number"),
        (["--hp", "lr=-1"], "--hp lr=-1: lr takes a number ≥ 0"),
        (["--hp", "weight_decay=-0.5"], "weight_decay takes a number ≥ 0"),
        (["--hp", "nosuch=1"], "does not take 'nosuch'"),
        (["--timeout", "-1"], "must be between 0 (no limit) and 1e+06 seconds"),
        (["--timeout", "inf"], "must be between 0"),
        (["--timeout", "nan"], "must be between 0"),
        (["--timeout", "1e300"], "must be between 0"),
        (["--total-timeout", "-5"], "must be between 0"),
        (["--max-examples", "0"], "must be at least 1"),
        (["--dtype", "nonsense"], "invalid choice: 'nonsense'"),
        (["--device", "xyz"], "invalid choice: 'xyz'"),
    ],
)
def test_impossible_settings_are_usage_errors(extra, message, tmp_path, capsys):
    report = ["--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "rep")]
    args = ["validate", "torch.optim:Adam", "--like", "Adam", *report, *extra]
    assert message in _usage(args, capsys)
    assert list(tmp_path.iterdir()) == []  # stopped before any work: nothing written


def test_cuda_without_a_cuda_device_is_a_usage_error(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert "no CUDA device is available" in _usage(
        ["validate", "torch.optim:Adam", "--device", "cuda"], capsys
    )


def test_every_output_path_is_checked_before_any_work(tmp_path, capsys):
    (tmp_path / "owned.txt").write_text("mine")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "to-null").symlink_to("/dev/null")
    cases = [
        (["--json", "/etc/passwd/x"], "/etc/passwd is not a directory"),
        (["--json", str(tmp_path / "owned.txt" / "r.json")], "owned.txt is not a directory"),
        (["--json", str(tmp_path / "folder")], "is a directory; give a file path"),
        (["--report", str(tmp_path / "owned.txt")], "owned.txt is not a directory"),
        (["--json", "/dev/null"], "/dev/null is not a regular file"),
        (["--json", str(tmp_path / "fifo")], "fifo is not a regular file"),
        (["--json", str(tmp_path / "to-null")], "to-null is not a regular file"),
    ]
    for extra, message in cases:
        assert message in _usage(["validate", "torch.optim:Adam", *extra], capsys), extra
    assert (tmp_path / "owned.txt").read_text() == "mine"


def test_report_files_are_written_atomically_and_only_as_regular_files(tmp_path):
    from optcheck.reports.io import write_atomic

    real = tmp_path / "real.json"
    real.write_text("old")
    (tmp_path / "link.json").symlink_to(real)
    write_atomic(tmp_path / "link.json", "new")  # written through the link, link kept
    assert (tmp_path / "link.json").is_symlink() and real.read_text() == "new"
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        write_atomic(tmp_path / "fifo", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link.json", "real.json"]
