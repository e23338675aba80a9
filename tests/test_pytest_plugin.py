"""The pytest plugin as an optimizer author meets it: checks are collected in the collection
phase, every option can live in the ini file, a target in the ini file does not hijack a run
of one test, and bad options are usage errors. Each case is one fresh pytest process; none
runs a check (``--collect-only`` or a usage error), so they stay cheap. Running the checks
as items (pass, xfail) is tests/test_validate_e2e.py's test_pytest_plugin_turns_checks_into_items.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

UNIT = "def test_x():\n    pass\n"
# Dumps what the plugin read and prepared, at the end of collection.
DUMP = textwrap.dedent("""
    import json, pytest

    def pytest_collection_finish(session):
        nodes = [n for n in session.items if n.nodeid.startswith("optcheck[")]
        target = nodes[0].parent
        settings = target.prepared.settings
        marks = {n.name: [m.name for m in n.iter_markers()] for n in nodes}
        with open("seen.json", "w") as fh:
            json.dump({"ids": [n.nodeid for n in nodes], "options": vars(target.options),
                       "settings": vars(settings),
                       "marks": marks, "profile": target.prepared.profile}, fh,
                      default=repr)
""")


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(cwd), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_checks_are_collected_and_every_option_is_read_from_the_ini_file(tmp_path):
    (tmp_path / "test_unit.py").write_text(UNIT)
    (tmp_path / "conftest.py").write_text(DUMP)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "skips.txt").write_text("contract.resume  # a comment\n")
    (tmp_path / "lists" / "xfails.txt").write_text("sgd.\n")
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent("""
            [pytest]
            optcheck_target = torch.optim:SGD
            optcheck_like = SGD
            optcheck_hp =
                momentum=0.5
                nesterov=True
            optcheck_dtype = float32
            optcheck_device = cpu
            optcheck_profile = thorough
            optcheck_max_examples = 3
            optcheck_seed = 7
            optcheck_timeout = 9
            optcheck_skips = lists/skips.txt
            optcheck_xfails = lists/xfails.txt
            optcheck_create_graph = true
        """)
    )
    out = _pytest(tmp_path, "--collect-only")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    seen = json.loads((tmp_path / "seen.json").read_text())
    listed = [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("<")]
    checks = [line for line in listed if line.startswith("<OptcheckItem ")]
    # Collected, counted and listed like any test: pytest's own count includes them.
    assert f"collected {len(checks) + 1} items" in out.stdout
    assert "<OptcheckTarget optcheck[torch.optim:SGD]>" in listed
    assert "<OptcheckItem contract.resume>" in checks and "<OptcheckItem sgd.linearity>" in checks
    assert len(seen["marks"]) == len(checks) > 10
    options = seen["options"]
    assert options["hp"] == ["momentum=0.5", "nesterov=True"]
    assert (options["dtype"], options["seed"], options["timeout"]) == ("float32", 7, 9.0)
    assert options["profile"] == seen["profile"] == "thorough"
    settings = seen["settings"]
    assert (settings["dtype"], settings["max_examples"], settings["seed"]) == ("float32", 3, 7)
    assert settings["fixed_hp"] == {"momentum": 0.5, "nesterov": True}
    assert settings["timeout"] == 9.0
    assert options["create_graph"] is settings["create_graph"] is True
    # The id files are found relative to the ini file, not the current directory.
    assert seen["marks"]["contract.resume"] == ["skip"]
    assert seen["marks"]["sgd.linearity"] == ["xfail"]
    assert seen["marks"]["contract.dtype"] == []
    # Node ids start at the target (no leading "::"), as -k, --deselect and reports use them.
    assert "optcheck[torch.optim:SGD]::contract.resume" in seen["ids"]
    assert all(i.startswith("optcheck[torch.optim:SGD]::") for i in seen["ids"]), seen["ids"]


def test_an_ini_target_does_not_hijack_a_run_of_one_test(tmp_path):
    (tmp_path / "test_unit.py").write_text(UNIT)
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\noptcheck_target = no_such_module_xyz:Opt\noptcheck_dtype = nonsense\n"
    )
    out = _pytest(tmp_path, "test_unit.py::test_x", "-q")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout and "optcheck" not in out.stdout + out.stderr
    # Without paths it runs (and here the ini file's dtype is a usage error).
    whole = _pytest(tmp_path, "-q")
    assert whole.returncode == 4, whole.stdout + whole.stderr
    assert "ini option optcheck_dtype 'nonsense': unknown dtype" in whole.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optcheck-dtype", "nonsense"], "--optcheck-dtype 'nonsense': unknown dtype; known: "),
        (["--optcheck-device", "xyz"], "--optcheck-device 'xyz': unknown device"),
        (["--optcheck-max-examples", "0"], "--optcheck-max-examples '0': must be between 1"),
        (["--optcheck-timeout", "nan"], "--optcheck-timeout 'nan': must be between 0"),
        (["--optcheck-seed", "x"], "--optcheck-seed 'x': not an integer"),
        (["--optcheck-profile", "fast"], "--optcheck-profile 'fast': unknown profile; known: "),
        (["--optcheck-hp", "lr=1e400"], "--optcheck-hp 'lr=1e400': 1e400 is not a finite number"),
        # Under pytest-xdist too: met only in the workers, it was lost ("no tests ran", 0).
        (["-n", "2", "--optcheck-dtype", "nonsense"], "--optcheck-dtype 'nonsense': unknown"),
        (["-n", "2", "--optcheck-hp", "betas=1"], "--optcheck-hp betas: torch.optim:SGD does"),
        pytest.param(
            ["--optcheck-device", "cuda"],
            "device cuda: no CUDA device is available here",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available"),
        ),
    ],
)
def test_a_bad_option_is_a_one_line_usage_error(tmp_path, capsys, args, message):
    """In this process (pytest.main): a usage error ends before any item runs."""
    (tmp_path / "test_unit.py").write_text(UNIT)
    base = ["-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)]
    base += [] if "-n" in args else ["-p", "no:xdist"]
    code = pytest.main([*base, "--optcheck", "torch.optim:SGD", *args])
    captured = capsys.readouterr()
    assert code == pytest.ExitCode.USAGE_ERROR, captured.out[-2000:] + captured.err[-2000:]
    err = captured.err.strip()
    assert err.startswith(f"ERROR: optcheck: {message}") and len(err.splitlines()) == 1, err
    assert "passed" not in captured.out and "failed" not in captured.out


@pytest.mark.parametrize(
    ("flag", "ini", "verdict"),
    [
        # 1-3 s each (a pytest session in this process, its gc passes included): by default
        # the ini option is read in the collect-only test above
        pytest.param(["--optcheck-create-graph"], "", "1 passed", marks=pytest.mark.thorough),
        pytest.param([], "optcheck_create_graph = true", "1 passed", marks=pytest.mark.thorough),
        pytest.param([], "", "1 skipped", marks=pytest.mark.thorough),
    ],
)
def test_create_graph_reaches_the_checks(tmp_path, capsys, flag, ini, verdict):
    """As the CLI's --create-graph: a target that refuses a gradient without a graph (as
    Adahessian does) is checked with the flag or the ini option, and skipped, saying why,
    without them. No test file: in one process, a second test_unit.py would clash."""
    (tmp_path / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    base = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:benchmark"]
    base += ["--rootdir", str(tmp_path), str(tmp_path)]
    target = ["--optcheck", "zoo.standins:NeedsCreateGraph", "--optcheck-max-examples", "1"]
    target += ["--optcheck-shapes", "plain"]  # no kind probe: the flag is the subject
    code = pytest.main([*base, *target, *flag, "-k", "contract.zero_params", "-q", "-rs"])
    out = capsys.readouterr().out
    assert code == pytest.ExitCode.OK and verdict in out, out[-2000:]
    if verdict == "1 skipped":
        assert "create_graph=True" in out, out[-2000:]
