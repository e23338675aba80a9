"""``optcheck.validate`` from Python: strings, classes and factories; importable ones run in a
supervised worker, the others in this process, and the report says which. One check and
two examples per call: what is under test is where the target runs, not the checks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from zoo import configured, hostile

import optcheck
from optcheck.suites.hp import ConfigError
from optcheck.suites.target import TargetError

TESTS = Path(__file__).parent
IN_PROCESS = "ran in this process, not in a supervised worker"


def _in_process(report: optcheck.Report) -> bool:
    return any(n.startswith(IN_PROCESS) for n in report.notes)


def test_an_importable_class_runs_supervised():
    """Chaos segfaults in contract.zero_lr: in this process that would end the test run."""
    report = optcheck.validate(
        hostile.Chaos, select=["contract.zero_lr", "contract.dtype"], max_examples=2
    )
    got = {r.id: (r.verdict, r.detail) for r in report.results}
    assert got["contract.zero_lr"] == (
        "violation",
        "the target ended the worker process: it was killed by SIGSEGV",
    )
    assert got["contract.dtype"][0] == "pass"
    assert report.target == "zoo.hostile:Chaos" and not _in_process(report)


def test_an_importable_factory_runs_supervised_by_its_name():
    report = optcheck.validate(
        configured.kwargs_adam, like="Adam", select="adam.first_step", max_examples=2
    )
    assert report.ok and [r.verdict for r in report.results] == ["pass"]
    assert report.target == "zoo.configured:kwargs_adam" and not _in_process(report)


def test_what_cannot_be_imported_by_name_runs_here_and_says_so():
    class LocalSGD(torch.optim.SGD):
        pass

    def factory(params, **hp):
        return torch.optim.SGD(params, **hp)

    for target in (LocalSGD, factory, lambda params, **hp: torch.optim.SGD(params, **hp)):
        report = optcheck.validate(target, like="SGD", select=["sgd.linearity"], max_examples=2)
        assert [r.verdict for r in report.results] == ["pass"], report.results
        assert _in_process(report), report.notes
        assert "cannot be imported by name in another process" in report.notes[0]
    # Asked for: an importable target in this process too.
    here = optcheck.validate(
        torch.optim.SGD, like="SGD", select=["sgd.linearity"], max_examples=2, in_process=True
    )
    assert here.ok and _in_process(here) and "(in_process=True)" in here.notes[0]


def test_a_class_claiming_torchs_name_is_not_run_as_torchs():
    """zoo.hostile.StepLR says it is torch.optim.lr_scheduler.StepLR: it is not imported (or
    excused) by that name, but run as itself, here, and its resume bug is a violation."""
    report = optcheck.validate(
        hostile.StepLR,
        like="StepLR",
        select=["contract.schedule_last_epoch"],
        max_examples=25,
    )
    assert _in_process(report)
    assert [r.verdict for r in report.results] == ["violation"], report.results


@pytest.mark.parametrize(
    ("target", "kwargs", "error", "message"),
    [
        (torch.optim.Adam, {"like": "Adam", "hp": {"betas": 0.9}}, ConfigError, "betas takes"),
        ("no_such_module_xyz:Opt", {}, TargetError, "cannot import 'no_such_module_xyz'"),
        (42, {}, TargetError, "is a int, not an optimizer class"),
        (torch.optim.SGD, {"max_examples": 0}, ConfigError, "at least 1"),
        (torch.optim.SGD, {"total_timeout": float("nan")}, ConfigError, "total_timeout"),
        (torch.optim.SGD, {"total_timeout": 1e300}, ConfigError, "total_timeout must be"),
    ],
)
def test_usage_mistakes_raise_one_line_before_any_check(target, kwargs, error, message):
    with pytest.raises(error, match=message) as exc:
        optcheck.validate(target, **kwargs)
    assert "\n" not in str(exc.value)


def test_import_is_cheap_dir_shows_the_api_and_a_script_is_not_run_again(tmp_path):
    """A script calling validate without an ``if __name__ == "__main__"`` guard: the worker
    must not run it again (multiprocessing re-imports the main script in its children)."""
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent("""
            import sys
            import optcheck
            assert "torch" not in sys.modules, "import optcheck imported torch"
            print("API", *[n for n in dir(optcheck) if not n.startswith("_")])
            print("RAN")
            report = optcheck.validate(
                "torch.optim:SGD", like="SGD", select=["sgd.linearity"], max_examples=2
            )
            print("OK", report.ok, len(report.results))
        """)
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines.count("RAN") == 1, out.stdout
    assert "OK True 1" in lines
    api = next(line for line in lines if line.startswith("API")).split()[1:]
    assert {"validate", "Report", "CheckResult", "ConfigError", "TargetError"} <= set(api)
    assert not {"importlib", "version", "Any", "annotations"} & set(api)
    for name in api:  # each one it shows resolves
        assert getattr(optcheck, name) is not None


def test_import_name_is_the_name_a_fresh_process_imports_this_very_object_by(tmp_path):
    import importlib.util

    from optcheck.checks.target import import_name

    assert import_name(torch.optim.Adam) == "torch.optim.adam:Adam"
    assert import_name(configured.kwargs_adam) == "zoo.configured:kwargs_adam"
    assert import_name(hostile.StepLR) is None  # claims torch's name: that is another class
    assert import_name(lambda params: None) is None
    (tmp_path / "by_hand_xyz.py").write_text("class Opt:\n    pass\n")
    spec = importlib.util.spec_from_file_location("by_hand_xyz", tmp_path / "by_hand_xyz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["by_hand_xyz"] = module
    try:
        spec.loader.exec_module(module)
        assert import_name(module.Opt) is None  # not on any import path
    finally:
        del sys.modules["by_hand_xyz"]
