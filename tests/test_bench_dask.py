"""optcheck bench on Dask distributed (suites/dask_executor.py): the same Outcomes as the
supervised pool on a LocalCluster of worker processes (a task that raises or kills its worker
is a failure with its reason, the other results are kept), bench.json bit-identical to the
process pool's run timings aside, time limits, Ctrl-C, and a wrong --scheduler as one line,
exit 2, in seconds."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
from benchjson import results_of
from procs import gone, signal_when_marked
from zoo import tasks

from optcheck.suites import dask_executor
from optcheck.suites.cli import main
from optcheck.suites.dask_executor import WORKER_DIED, DaskExecutor

TESTS = Path(__file__).parent
# Small and stochastic: two tasks (an f* check, one cell), so each of two workers runs one.
TINY = ["bench", "--quick", "--problems", "logistic", "--optimizers", "ref:Adam",
        "--sections", "convergence", "--seeds", "3", "--steps", "60"]  # fmt: skip


def test_a_local_cluster_keeps_every_result_around_a_raise_an_exit_and_a_crash():
    """Two worker processes (processes=True): each task's Outcome in order, reported as it
    ends; a crash fails its own task only, and the cluster goes on with a new worker."""
    ended = []
    with DaskExecutor(workers=2) as local:
        assert local.describe() == "2 Dask worker processes (LocalCluster)"
        pids = {o.value for o in local.run([(tasks.pid, ())] * 4)}
        outcomes = local.run(
            [
                (tasks.square, (3,)),
                (tasks.raises, ()),
                (tasks.segfault, ()),
                (tasks.exits, ()),
                (tasks.square, (4,)),
            ],
            done=ended.append,
        )
        after = local.run([(tasks.square, (5,))] * 3)
    assert [o.ok for o in outcomes] == [True, False, False, False, True]
    assert outcomes[0].value == 9 and outcomes[4].value == 16
    assert outcomes[1].value.startswith("ValueError: bad input (")  # one line
    assert outcomes[2].value == WORKER_DIED
    assert outcomes[3].value.startswith("SystemExit: 3 (")
    assert sorted(o.index for o in ended) == [0, 1, 2, 3, 4]
    assert [o.value for o in after] == [25, 25, 25]
    assert len(pids) == 2, "the tasks did not spread over both worker processes"
    assert all(gone(pid) for pid in pids), "a worker outlived its cluster"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be between 1 and 512"),
        (["--dask", "--jobs", "2"], "--jobs sizes the process pool"),
        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers sizes a local"),
        (["--scheduler", "nonsense"], "'nonsense': missing port number"),
        (["--scheduler", "ucx://host:8786"], "scheme ucx:// is not supported"),
        (["--scheduler", "CLOSED"], "cannot connect (Connection refused); is `dask scheduler`"),
        (["--render-only", "x.json", "--dask"], "--render-only runs none"),
    ],
)
def test_dask_flag_mistakes_exit_2_with_one_line_at_once(args, message, tmp_path, capsys):
    args = [a.replace("CLOSED", f"127.0.0.1:{_closed_port()}") for a in args]
    out = tmp_path / "out"
    start = time.monotonic()
    code = main(["bench", "--quick", "--sections", "theory", "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert time.monotonic() - start < dask_executor.CONNECT_TIMEOUT
    assert not out.exists()


@pytest.mark.thorough
def test_a_port_that_never_answers_is_exit_2_within_the_connect_timeout(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        code = main(["bench", "--quick", "--out", str(tmp_path / "o"), "--scheduler", address])
        took = time.monotonic() - start
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no Dask scheduler answered within 1 s" in err, err
    assert len(err.splitlines()) == 1 and took < 30, (took, err)


@pytest.mark.thorough
def test_a_worker_s_address_is_not_taken_for_the_scheduler_s(tmp_path, capsys):
    with DaskExecutor(workers=1) as local:
        (worker,) = local.client.scheduler_info()["workers"]
        code = main(["bench", "--quick", "--out", str(tmp_path / "o"), "--scheduler", worker])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "that is a Dask Worker, not the scheduler" in err, err


@pytest.mark.thorough
def test_time_limits_on_a_local_cluster():
    with DaskExecutor(workers=2) as local:
        outcomes = local.run([(tasks.hang, ()), (tasks.square, (2,))], timeout=2)
        after = local.run([(tasks.square, (3,))] * 2)  # the hung worker was replaced
        whole = local.run([(tasks.hang, ()), (tasks.hang, ()), (tasks.square, (2,))], total=3)
    assert [(o.ok, o.value) for o in outcomes] == [
        (False, "timed out after 2 s (--timeout)"),
        (True, 4),
    ]
    assert [o.value for o in after] == [9, 9]
    limit = "the whole-run limit of 3 s (--total-timeout) was reached"
    assert [o.value for o in whole] == [limit, limit, f"not run: {limit}"]


@pytest.mark.thorough
def test_a_dask_sweep_writes_the_single_process_bench_json_timings_aside(tmp_path, capsys):
    """The comparison holds field by field: two bench.json files, timings removed."""
    assert main([*TINY, "--jobs", "1", "--quiet", "--out", str(tmp_path / "pool")]) == 0
    assert main([*TINY, "--dask", "--workers", "2", "--out", str(tmp_path / "dask")]) == 0
    err = capsys.readouterr().err
    assert "[1/2]" in err and "[2/2]" in err, err  # progress as tasks finish
    single, dask = (
        results_of(tmp_path / "pool" / "bench.json"),
        results_of(tmp_path / "dask" / "bench.json"),
    )
    assert dask["cells"][0]["runs"][0]["f_final"] is not None and dask["problems"]
    assert dask == single
    saved = json.loads((tmp_path / "dask" / "bench.json").read_text())
    assert saved["config"]["executor"] == "2 Dask worker processes (LocalCluster)"
    assert (
        "on 2 Dask worker processes (LocalCluster)" in (tmp_path / "dask" / "bench.md").read_text()
    )


@pytest.mark.thorough
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_ends_a_dask_sweep_with_130_no_files_and_no_process_left(tmp_path, signum):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "optcheck", "bench", "--quick", "--problems", "quad-diag2d"]
    command += ["--optimizers", "torch:SGD", "--sections", "convergence", "--quiet"]
    command += ["--target", "zoo.hostile:HangsAfterFirstStep", "--dask", "--workers", "2"]
    command += ["--out", str(tmp_path / "out")]
    done, worker, children = signal_when_marked(command, tmp_path / "worker.pid", signum, env)
    assert worker in children
    assert done.returncode == 130, done.stdout + done.stderr
    assert done.stderr.strip() == "optcheck: interrupted", done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker.pid"]
    left = [pid for pid in children if not gone(pid)]
    assert not left, f"processes outlived optcheck bench --dask: {left}"


def test_dask_is_optional_only_the_dask_executor_imports_it_inside_functions():
    """validate (and a bench without --dask) never imports Dask: no module imports it at
    its top level, and only suites/dask_executor.py imports it at all."""
    import ast

    root = TESTS.parent
    importers = set()
    for folder in ("api", "reference", "checks", "reports", "suites"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            if "dask" not in text and "distributed" not in text:
                continue
            tree = ast.parse(text)
            top = set(tree.body)
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                if any(n.split(".")[0] in ("dask", "distributed") for n in names):
                    assert node not in top, f"{path} imports Dask at its top level"
                    importers.add(path.relative_to(root).as_posix())
    assert importers == {"suites/dask_executor.py"}
