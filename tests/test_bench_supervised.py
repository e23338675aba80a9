"""optcheck bench runs every task supervised (suites/pool.py): a task that crashes, exits,
raises or hangs is a failure with its reason, every other result is kept and saved, the run
has time limits, and neither SIGTERM nor the end of a run leaves a worker behind. The pool's
tasks are the light functions of tests/zoo/tasks.py; the hostile optimizers are in
tests/zoo/hostile.py."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from procs import gone, signal_when_marked
from zoo import tasks

from optcheck.suites import pool
from optcheck.suites.cli import main
from optcheck.suites.dask_executor import WORKER_DIED

TESTS = Path(__file__).parent


def test_the_pool_keeps_every_result_around_a_crash_an_exit_a_hang_and_a_raise():
    outcomes = pool.run(
        [
            (tasks.square, (3,)),
            (tasks.segfault, ()),
            (tasks.exits, ()),
            (tasks.hang, ()),
            (tasks.raises, ()),
            (tasks.square, (4,)),
        ],
        jobs=2,
        timeout=3,
    )
    assert [o.ok for o in outcomes] == [True, False, False, False, False, True]
    assert outcomes[0].value == 9 and outcomes[5].value == 16
    assert outcomes[1].value == "the worker process running it was killed by SIGSEGV"
    assert outcomes[2].value.startswith("SystemExit: 3 (")
    assert outcomes[3].value == "timed out after 3 s (--timeout)"
    assert outcomes[4].value.startswith("ValueError: bad input (")  # one line


def test_a_worker_that_dies_between_tasks_is_replaced_and_the_next_task_runs():
    outcomes = pool.run(
        [(tasks.exits_soon, ()), (tasks.square, (5,))],
        jobs=1,
        done=lambda outcome: time.sleep(1.0),  # the worker ends while idle
    )
    assert [(o.ok, o.value) for o in outcomes] == [(True, 1), (True, 25)]


def test_the_pool_has_a_whole_run_limit_and_leaves_no_worker_behind():
    [pid] = [o.value for o in pool.run([(tasks.pid, ())], jobs=1)]
    assert gone(pid), "a worker outlived its pool"
    outcomes = pool.run([(tasks.hang, ()), (tasks.square, (2,))], jobs=1, total=2)
    assert [o.ok for o in outcomes] == [False, False]
    limit = "the whole-run limit of 2 s (--total-timeout) was reached"
    assert outcomes[0].value == limit and outcomes[1].value == f"not run: {limit}"


@pytest.mark.thorough  # (the pool test above probes the same crash, exit and hang in 3 s)
@pytest.mark.parametrize(
    ("hangs", "executor", "crash", "hang"),
    [
        (  # hangs in its first build-and-step, in a pool worker before the run
            "HangsInEveryStep",
            ["--jobs", "1"],
            "the worker process running it was killed by SIGSEGV",
            "building and stepping it once failed: timed out after 5 s (--timeout)",
        ),
        (  # hangs in its cell, on the Dask cluster
            "HangsAfterFirstStep",
            ["--dask", "--workers", "2"],
            WORKER_DIED,
            "timed out after 5 s (--timeout)",
        ),
    ],
)
def test_a_crashing_and_a_hanging_target_are_failed_cells_in_a_saved_report(
    hangs, executor, crash, hang, tmp_path, capsys
):
    """CrashesAfterFirstStep passes the first build-and-step of a --target and segfaults in
    its cells; torch's SGD beside it and the hanging target is benchmarked, on the process pool
    (one job: the crash is the last task) and on a local Dask cluster."""
    out = tmp_path / "out"
    code = main(
        ["bench", "--quick", "--problems", "quad-diag2d", "--optimizers", "torch:SGD"]
        + ["--target", "zoo.hostile:CrashesAfterFirstStep"]
        + ["--target", f"zoo.hostile:{hangs}"]
        + ["--sections", "convergence", "--timeout", "5", *executor, "--quiet"]
        + ["--out", str(out)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    cells = {c["optimizer"]: c for c in json.loads((out / "bench.json").read_text())["cells"]}
    assert cells["torch:SGD"]["error"] is None and cells["torch:SGD"]["runs"]
    assert cells["target:zoo.hostile:CrashesAfterFirstStep"]["error"] == crash
    assert cells[f"target:zoo.hostile:{hangs}"]["error"] == hang
    assert "violation: target:zoo.hostile:CrashesAfterFirstStep on quad-diag2d" in err
    assert (out / "bench.html").is_file()


def test_sigterm_ends_bench_with_130_no_files_and_no_worker_left(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "optcheck", "bench", "--quick", "--problems", "quad-diag2d"]
    command += ["--optimizers", "torch:SGD", "--sections", "convergence", "--quiet"]
    command += ["--target", "zoo.hostile:HangsInConstructor", "--out", str(tmp_path / "out")]
    done, worker, children = signal_when_marked(
        command, tmp_path / "worker.pid", signal.SIGTERM, env
    )
    assert worker in children
    assert done.returncode == 130, done.stdout + done.stderr
    assert done.stderr.strip() == "optcheck: interrupted", done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker.pid"]
    left = [pid for pid in children if not gone(pid)]
    assert not left, f"processes outlived optcheck bench: {left}"
