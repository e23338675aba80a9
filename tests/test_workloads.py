"""The real workloads (optcheck.suites.workloads): data without downloads and without leaks,
deterministic runs, AlgoPerf's steps to target, state memory from the state dict, the tables
and figures, --compare, and bad input. Each guard also runs against a broken piece in
tests/zoo/workloads.py, which it must catch."""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest
import torch

from optcheck.reports import bench_result as br
from optcheck.reports import bench_tables as bt
from optcheck.reports.compare import compare
from optcheck.suites import bench
from optcheck.suites import workloads as wl
from optcheck.suites.cli import main
from tests.zoo import workloads as zoo

ADAM = bench.torch_config("Adam")


def _leaks(standardize) -> bool:
    """Whether changing held-out rows changes the standardized training rows."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)) * [1.0, 5.0, 0.0] + 2.0
    train = np.arange(25)
    moved = x.copy()
    moved[25:] *= 100.0
    a = standardize(x, x[train])[train]
    b = standardize(moved, moved[train])[train]
    return not np.array_equal(a, b)


def test_standardization_uses_training_rows_only():
    assert not _leaks(wl.standardize)
    assert _leaks(zoo.standardize_with_all_rows)  # the broken one is caught
    s = wl.tabular("breast_cancer")
    assert abs(float(s.x_train.mean())) < 1e-6 and float(s.x_val.mean()) != 0.0
    n = len(s.y_train) + len(s.y_val) + len(s.y_test)
    assert n == 569 and s.classes == 2  # scikit-learn's bundled copy, all rows used once


def _curve(values: list[float]) -> wl.Trained:
    steps = list(range(0, 10 * len(values), 10))
    return wl.Trained(steps, values, values, values, [0.0] * len(values), False, 0, 1)


def test_steps_to_target_is_where_the_metric_stays_below():
    dip = [0.9, 0.04, 0.2, 0.1, 0.04, 0.03]  # reached at 10, lost, reached again at 40
    assert wl.reached_at(_curve(dip), dip, 0.05) == 4
    assert zoo.first_crossing(dip, 0.05) == 1  # the transient the rule rejects
    assert wl.reached_at(_curve([0.9, 0.01, 0.2]), [0.9, 0.01, 0.2], 0.05) is None


def test_state_bytes_are_measured_from_the_state_dict():
    p = [torch.nn.Parameter(torch.zeros(10)), torch.nn.Parameter(torch.zeros(3, 2))]
    for q in p:
        q.grad = torch.ones_like(q)

    def measured(cls, **kw):
        opt = cls(p, lr=1e-3, **kw)
        opt.step()
        return wl.state_bytes(opt)

    # Adam: two float32 moments per element and a float32 step counter per tensor.
    assert measured(torch.optim.Adam) == 2 * 4 * 16 + 2 * 4
    assert measured(torch.optim.SGD) == 0
    assert measured(torch.optim.SGD, momentum=0.9) == 4 * 16
    assert measured(zoo.AdamWithHiddenCopy) == measured(torch.optim.Adam) + 4 * 16


def test_runs_are_deterministic_and_seeded_by_their_generator(monkeypatch):
    a = wl.train("logreg-breast-cancer", ADAM, 1e-2, seed=3, steps=20)
    torch.manual_seed(12345)  # the global RNG must not matter
    b = wl.train("logreg-breast-cancer", ADAM, 1e-2, seed=3, steps=20)
    c = wl.train("logreg-breast-cancer", ADAM, 1e-2, seed=4, steps=20)
    assert a.test_loss == b.test_loss and a.test_loss != c.test_loss
    monkeypatch.setattr(wl, "init_weights", zoo.init_from_global_rng)
    d = wl.train("logreg-breast-cancer", ADAM, 1e-2, seed=3, steps=20)
    e = wl.train("logreg-breast-cancer", ADAM, 1e-2, seed=3, steps=20)
    assert d.test_loss != e.test_loss  # the broken init is caught by the same comparison


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the pin was measured on 3.11")
def test_corpus_is_the_pinned_one():
    text, digest = wl.corpus()
    assert digest == wl.CORPUS_SHA256
    assert len(text) == sum(end - start for _, start, end in wl.CORPUS_FILES)


def test_a_missing_corpus_file_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(wl, "CORPUS_FILES", (("no_such_module.py", 0, 10),))
    wl.corpus.cache_clear()
    wl.text_split.cache_clear()
    try:
        code = main(["bench", "--quick", "--workloads", "charlm-stdlib", "--sections",
                     "workloads", "--out", str(tmp_path / "out")])  # fmt: skip
    finally:
        wl.corpus.cache_clear()
        wl.text_split.cache_clear()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no_such_module.py" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workloads", "imagenet"], "unknown workload 'imagenet'; known: logreg-breast-cancer"),
        (["--quick", "--suite", "full"], "--quick and --suite full: choose one"),
    ],
)
def test_bad_workload_arguments_are_one_line_exit_2(tmp_path, capsys, args, message):
    code = main(["bench", *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err


def _cell(optimizer: str, metric: float, steps: float, validation: str | None = None):
    i = br.Interval
    grid = [br.GridPoint(1e-3, None, metric + 0.01, None), br.GridPoint(1e-2, None, metric, 20),
            br.GridPoint(1e-1, None, None, None)]  # fmt: skip
    run = br.WorkloadRun(0, metric, 0.1, int(steps), 0.5, 1.0, False)
    curve = br.Curve([0, 10, 20], [1.0, 0.5, 0.1], [1.0, 0.4, 0.1], [1.0, 0.6, 0.2])
    return br.WorkloadCell(
        "logreg-breast-cancer", optimizer, 1e-2, None, grid, False, [run], [0, 10, 20], curve,
        [0.5, 0.1, metric], [0.0, 0.2, 0.4], i(metric, metric - 0.01, metric + 0.01),
        i(0.1, 0.1, 0.1), i(steps, steps, steps), i(0.5, 0.5, 0.5), 1.0, 520, 62,
        hp={"betas": (0.9, 0.999), "weight_decay": 0.1}, validation=validation,
    )  # fmt: skip


def _result(cells):
    record = br.WorkloadRecord("logreg-breast-cancer", "t", "d", "logistic", 62, 341, 113, 115,
                               300, 32, 10, "error rate", 0.05, "n", "ab" * 32)  # fmt: skip
    return br.BenchResult("now", 1.0, {"steps": {}}, {}, workloads=[record], workload_cells=cells)


def test_tables_mark_a_target_failing_validation_and_break_ties_by_steps():
    fails = "DOES NOT CONFORM (optcheck validate --like Adam: 1 violations, 0 errors, 9 passed)"
    result = br.loads(br.dumps(_result([
        _cell("torch:Adam", 0.03, 40), _cell("torch:SGD", 0.03, 20),
        _cell("target:x:Adam", 0.01, 10, fails),
    ])))  # fmt: skip
    (table,) = bt.workload_tables(result).values()
    assert table.marks == [None, "best", "bad"]  # the tie goes to fewer steps; target never best
    assert (
        "weight_decay=0.1" in table.rows[0][0] and "⚠ fails optcheck validate" in table.rows[2][0]
    )
    assert table.rows[0][7] == f"{520 / 62:.2f}"
    sens, memory = bt.sensitivity_table(result), bt.memory_table(result)
    assert sens.marks[2] == "bad" and "⚠ fails optcheck validate" in sens.rows[2][1]
    assert memory.marks[2] == "bad" and "⚠ fails optcheck validate" in memory.rows[2][0]
    assert sens.rows[0][2:] == ["0.0400", "0.0300", "diverged"]


def test_compare_catches_a_worse_test_metric_and_a_failing_cell():
    old = _result([_cell("torch:Adam", 0.03, 40), _cell("torch:SGD", 0.03, 20)])
    assert not compare(old, copy.deepcopy(old)).regressions
    new = copy.deepcopy(old)
    new.workload_cells[0] = _cell("torch:Adam", 0.2, 40)
    new.workload_cells[1].error = "RuntimeError: boom"
    kinds = sorted(c.kind for c in compare(old, new).regressions)
    assert kinds == ["test metric", "workload"]
    other = copy.deepcopy(old)
    other.workloads[0].data_sha256 = "cd" * 32  # another corpus or data: nothing compared
    assert compare(old, other).unshared == ["workload cells"]


def test_a_workload_cell_tunes_then_runs_every_seed():
    settings = wl.WorkloadSettings(seeds=(0, 1), lr_grid=(1e-3, 1e-1), wd_grid=(0.01, 1.0),
                                   steps=(("logreg-breast-cancer", 30),))  # fmt: skip
    cell = wl.workload_task("logreg-breast-cancer", bench.torch_config("AdamW"), settings)
    assert cell.error is None and len(cell.grid) == 4 and len(cell.runs) == 2
    assert cell.weight_decay in (0.01, 1.0) and cell.hp["weight_decay"] == cell.weight_decay
    assert cell.curve_steps[0] == 0 and cell.curve_steps[-1] == 30
    assert cell.state_bytes == 2 * 4 * 62 + 2 * 4  # Adam's moments and two step counters
    (back,) = br.loads(br.dumps(_result([cell]))).workload_cells
    assert br.to_dict(_result([back])) == br.to_dict(_result([cell]))


def test_missing_scikit_learn_is_one_line_exit_2_before_any_work(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a)
    )
    code = main(["bench", "--quick", "--sections", "workloads", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "needs scikit-learn" in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.thorough
def test_quick_workloads_end_to_end_render_only_and_compare(tmp_path, capsys):
    """Through the CLI and the worker pool: bench.json holds the workload, the HTML inlines
    the three SVGs, --render-only re-renders it and --compare against itself is clean."""
    out = tmp_path / "run"
    args = ["bench", "--quick", "--sections", "workloads", "--seeds", "2", "--jobs", "2", "-q"]
    assert main([*args, "--out", str(out)]) == 0, capsys.readouterr().err
    result = br.loads((out / "bench.json").read_text())
    assert [w.name for w in result.workloads] == ["logreg-breast-cancer"]
    assert {c.optimizer for c in result.workload_cells} == {"torch:SGD", "torch:AdamW"}
    assert all(c.error is None and len(c.runs) == 2 for c in result.workload_cells)
    page = (out / "bench.html").read_text()
    assert page.count('<figure role="img" aria-label="held-out loss against') == 2
    assert "data:image" not in page  # every figure inline SVG, one path
    again = tmp_path / "again"
    code = main(["bench", "--render-only", str(out / "bench.json"), "--out", str(again), "-q"])
    assert code == 0 and (again / "bench_files" / "workload_lr_sensitivity.svg").exists()
    code = main(["bench", "--render-only", str(out / "bench.json"), "--compare",
                 str(out / "bench.json"), "--out", str(tmp_path / "cmp")])  # fmt: skip
    assert code == 0 and "compared: 2 workload cells" in capsys.readouterr().out


def test_a_targets_workload_cells_carry_its_verdict_and_a_crashed_target_fails_its_cells():
    good, crashed = bench.target_config("torch.optim:Adam"), bench.target_config("pkg:Broken")
    verdict = "DOES NOT CONFORM (optcheck validate --like Adam: 1 violations, 0 errors, 9 passed)"
    plan = bench.Plan(problems=[], optimizers=[], workloads=["logreg-breast-cancer"])
    plan.workload_optimizers = [ADAM, good]
    plan.failed_targets = [(crashed, "building and stepping it once failed: segfault")]
    plan.validation = {"torch.optim:Adam": verdict, "pkg:Broken": "not validated"}
    cells = [wl.failed_workload_cell("logreg-breast-cancer", c, "x") for c in (good, ADAM)]
    records, cells = bench._workload_results(plan, cells)
    assert [c.optimizer for c in cells] == ["torch:Adam", "target:torch.optim:Adam",
                                            "target:pkg:Broken"]  # fmt: skip
    assert cells[0].validation is None and cells[1].fails_validation
    assert cells[2].error.startswith("building and stepping it once failed")
    assert records[0].n_train + records[0].n_val + records[0].n_test == 569
