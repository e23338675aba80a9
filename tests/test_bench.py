"""``optcheck bench`` end to end: a small run over two worker processes, the JSON schema,
rendering from a saved file, --compare, and bad input (exit 2, one line, nothing written)."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import sys

import numpy as np
import pytest
from filelock import FileLock

from optcheck.reports import bench_result as br
from optcheck.reports.compare import compare
from optcheck.reports.io import load_result, write_atomic
from optcheck.reports.profiles import performance_profile
from optcheck.suites import bench
from optcheck.suites.cli import main

SMALL = [
    "bench", "--quick", "--problems", "quad-diag2d", "logistic",
    "--optimizers", "torch:SGD", "torch:Adam", "ref:Adam",
    "--target", "torch.optim:Adagrad",
    "--schedules", "constant", "cosine",
    "--sections", "convergence", "schedules", "theory", "crossval",
    "--jobs", "2", "--quiet",
]  # fmt: skip


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, worker_id):
    """One benchmark run per test session, made by whichever xdist worker asks first; the others
    wait on the lock and read it (the tests only read it). xdist's own grouping cannot be relied
    on: --dist loadgroup silently stops grouping on pytest 9.2 (pytest-xdist issue #1386)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # one folder per session
    out, done = shared / "bench-run", shared / "bench-run.done"
    with FileLock(str(shared / "bench-run.lock")):
        if not done.exists():
            assert main([*SMALL, "--out", str(out)]) == 0
            done.touch()
    return out


def test_run_writes_json_markdown_html(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"bench.json", "bench.md", "bench.html", "bench_files"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    result = load_result(run_dir / "bench.json")
    assert result.schema == "optcheck.bench" and result.schema_version == br.SCHEMA_VERSION
    got = {(c.problem, c.optimizer, c.schedule) for c in result.cells}
    for p in ("quad-diag2d", "logistic"):
        for o in ("torch:SGD", "torch:Adam", "ref:Adam", "target:torch.optim:Adagrad"):
            assert (p, o, "constant") in got
    # The schedule study's non-constant schedule ran on its problem.
    assert ("least-squares", "torch:Momentum", "cosine") in got
    assert all(r.ok for r in result.theory) and len(result.theory) == 3
    assert all(p.check_ok for p in result.problems)
    # torch.optim (three implementations, two dtypes) agrees with the references open-loop.
    assert {(r.optimizer, r.dtype) for r in result.crossval} >= {("Adam", "float32")}
    assert all(r.ok for r in result.crossval)
    assert result.speed is None and result.reddi == []


def test_cells_are_consistent(run_dir):
    result = load_result(run_dir / "bench.json")
    for c in result.cells:
        assert c.error is None, c.error
        assert len(c.runs) == 5 and c.lr in c.lr_grid
        if c.replicated:  # deterministic problem: one run stands for every seed
            assert len({r.f_final for r in c.runs}) == 1
        est, lo, hi = c.log10_subopt.estimate, c.log10_subopt.low, c.log10_subopt.high
        assert lo <= est <= hi
        logs = [math.log10(max(r.rel_subopt, bench.FLOOR)) for r in c.runs]
        assert est == pytest.approx(np.mean(logs))
    # torch.optim.Adam and the float64 reference follow the same closed loop.
    t = result.cell("logistic", "torch:Adam")
    r = result.cell("logistic", "ref:Adam")
    assert t.lr == r.lr
    for a, b in zip(t.runs, r.runs, strict=True):
        assert a.f_final == pytest.approx(b.f_final, rel=1e-12)


def test_json_round_trip_is_exact(run_dir):
    text = (run_dir / "bench.json").read_text()
    assert br.dumps(br.loads(text)) == text
    data = json.loads(text)
    assert data["schema_version"] == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(schema_version=2), "schema version 2"),
        (lambda d: d.update(schema="something.else"), "not a bench result"),
        (lambda d: d["cells"][0].pop("lr_grid"), "cells[0].lr_grid: missing"),
        (lambda d: d["cells"][1].update(reached="most"), "cells[1].reached: expected a number"),
        (lambda d: d["problems"][0].update(dim=None), "problems[0].dim: null"),
    ],
)
def test_schema_errors_name_the_field(run_dir, edit, message):
    data = json.loads((run_dir / "bench.json").read_text())
    edit(data)
    with pytest.raises(br.SchemaError, match=re.escape(message)):
        br.from_dict(data)


def _svgs(page: str) -> list[str]:
    return re.findall(r"<figure [^>]*><svg.*?</svg>", page, flags=re.S)


def test_render_only_from_saved_json(run_dir, tmp_path):
    out = tmp_path / "rendered"
    code = main(["bench", "--render-only", str(run_dir / "bench.json"), "--out", str(out)])
    assert code == 0
    page = (out / "bench.html").read_text()
    assert len(_svgs(page)) >= 5
    # Self-contained: nothing is fetched from elsewhere.
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # '#': an SVG's own defs
    for heading in (
        "Problems and their optima",
        "Performance profiles",
        "against theory",
        "Learning-rate schedules",
        "Cross-validation",
    ):
        assert heading in page
    md = (out / "bench.md").read_text()
    for name in re.findall(r"\]\((bench_files/[^)]+)\)", md):
        assert (out / name).read_bytes().startswith(b"<?xml")
    # Copied beside the report, byte for byte.
    assert (out / "bench.json").read_text() == (run_dir / "bench.json").read_text()


def test_compare_detects_an_injected_regression(run_dir, tmp_path, capsys):
    old = load_result(run_dir / "bench.json")
    assert compare(old, old).regressions == []
    new = copy.deepcopy(old)
    cell = new.cell("logistic", "torch:Adam")
    shift = 3.0  # a thousand times worse, far outside the interval
    for attr in ("estimate", "low", "high"):
        setattr(cell.log10_subopt, attr, getattr(cell.log10_subopt, attr) + shift)
    new_path = tmp_path / "new.json"
    write_atomic(new_path, br.dumps(new))
    code = main(
        [
            "bench",
            "--render-only",
            str(new_path),
            "--compare",
            str(run_dir / "bench.json"),
            "--out",
            str(tmp_path / "cmp"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "regression: final suboptimality: logistic × torch:Adam (constant)" in err
    page = (tmp_path / "cmp" / "bench.html").read_text()
    # What was compared, so an empty comparison cannot pass as green.
    assert "compared 10 convergence cells, 2 f* checks, 3 theory rates" in page
    assert re.search(
        r'<tr class="bad"><td>regression</td><td>final suboptimality</td>'
        r"<td>logistic × torch:Adam",
        page,
    )


def _set_every_cell(**values):
    return lambda d: [c.update(values) for c in d["cells"]]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["config"].update(steps="many"), "config.steps: expected an object of"),
        (lambda d: d["config"].update(steps={"logistic": "x"}), "config.steps: expected an"),
        (_set_every_cell(runs=[]), "cells[0].runs: empty, in a cell without an error"),
        (_set_every_cell(lr=None), "cells[0].lr: null, in a cell without an error"),
        (
            lambda d: d["cells"][1]["log10_subopt"].update(estimate=1e300),
            "cells[1].log10_subopt: 1e+300 is no log10 of a suboptimality",
        ),
        (lambda d: d["cells"][0].pop("runs"), "cells[0].runs: missing"),
        (lambda d: d["cells"][0].update(reached="all"), "cells[0].reached: expected a number"),
    ],
)
def test_compare_with_wrong_but_schema_shaped_json_is_one_line_exit_2(
    run_dir, tmp_path, capsys, edit, message
):
    """Before any work (here --render-only, which runs nothing): nothing written."""
    data = json.loads((run_dir / "bench.json").read_text())
    edit(data)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    out = tmp_path / "out"
    code = main(["bench", "--render-only", str(run_dir / "bench.json"), "--compare", str(old)]
                + ["--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith(f"optcheck bench: error: --compare: {old}: ") and message in err, err
    assert len(err.splitlines()) == 1, err
    assert not out.exists()


def test_a_comparison_that_fails_after_the_run_keeps_the_results(
    run_dir, tmp_path, capsys, monkeypatch
):
    from optcheck.reports import compare as compare_module

    def trips(old, new):
        if old is not new:  # the check of the baseline alone passes; this run trips it
            raise KeyError("speed")
        return compare(old, new)

    monkeypatch.setattr(compare_module, "compare", trips)
    out = tmp_path / "out"
    code = main(["bench", "--render-only", str(run_dir / "bench.json")]
                + ["--compare", str(run_dir / "bench.json"), "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--compare: cannot compare with this run: KeyError: 'speed'" in err
    assert f"the results are in {out / 'bench.json'}" in err
    assert (out / "bench.json").read_text() == (run_dir / "bench.json").read_text()


def _fail_render(monkeypatch):
    from optcheck.reports import plots

    def raises(result):
        raise RuntimeError("renderer broke")

    monkeypatch.setitem(plots.FIGURES, "loss_curves", raises)


def _no_renderer(monkeypatch):
    # An import that fails (matplotlib broken after the start-up check): None in sys.modules.
    monkeypatch.setitem(sys.modules, "optcheck.reports.bench_report", None)


@pytest.mark.parametrize("breakage", [_fail_render, _no_renderer])
def test_results_survive_a_failing_renderer(run_dir, tmp_path, capsys, monkeypatch, breakage):
    """The run's bench.json is complete before any renderer is imported or called; the failure
    is one line and a non-zero exit, and no half-written report is left."""
    saved = load_result(run_dir / "bench.json")
    monkeypatch.setattr(bench, "run_bench", lambda plan, **kw: saved)  # the run, done
    breakage(monkeypatch)
    out = tmp_path / "out"
    code = main([*SMALL, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "rendering failed" in err and f"the results are in {out / 'bench.json'}" in err
    assert (out / "bench.json").read_text() == (run_dir / "bench.json").read_text()
    assert sorted(p.name for p in out.iterdir()) == ["bench.json"]


def test_compare_with_itself_is_clean(run_dir):
    result = load_result(run_dir / "bench.json")
    cmp = compare(result, result)
    assert cmp.regressions == [] and cmp.count("improvement") == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--problems", "nope"], "unknown problem 'nope'"),
        (["--optimizers", "torch:Adamax"], "unknown optimizer 'torch:Adamax'"),
        (["--target", "no_such_module_xyz:Opt"], "cannot import 'no_such_module_xyz'"),
        # --target goes through the validator's loader and probe (suites/prepare.py).
        (["--target", "math:pi"], "is a float, not an optimizer class"),
        (["--target", "collections:OrderedDict"], "neither a torch.optim.Optimizer"),
        (["--target", "zoo.optimizers_contract:RaisingConstructor"], "target raised RuntimeError"),
        (["--target", "zoo.optimizers_contract:RaisingStep"], ".step() raised"),
        (["--seeds", "0"], "--seeds must be between 1 and 1000"),
        (["--tau", "2"], "--tau must lie in (0, 1)"),
        (["--schedules", "exponential"], "unknown schedule 'exponential'"),
        (["--compare", "/no/such/old.json"], "cannot read /no/such/old.json"),
        (["--jobs", "0"], "--jobs must be between 1 and 512"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["bench", "--quick", "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1, err
    assert not out.exists()


def test_bad_saved_json_and_bad_out_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "optcheck.bench", "schema_version": 1, "created": 3}')
    code = main(["bench", "--render-only", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "created: expected a string" in err and len(err.splitlines()) == 1
    afile = tmp_path / "file"
    afile.write_text("x")
    code = main(["bench", "--quick", "--out", str(afile)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "is not a directory" in err
    assert afile.read_text() == "x"


@pytest.mark.parametrize(
    "args", [["--seeds", "many"], ["--timeout", "-1"], ["--total-timeout", "nan"]]
)
def test_argparse_errors_are_one_line_exit_2(capsys, args):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and args[0] in err, err


# ---------------------------------------------------------------------------------------------
# Pieces


def test_write_atomic_keeps_old_content_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "r.txt"
    write_atomic(path, "old")
    write_atomic(path, b"new bytes")
    assert path.read_bytes() == b"new bytes"

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(path, "partial")
    assert path.read_bytes() == b"new bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["r.txt"]


def test_bootstrap_interval():
    assert bench.bootstrap([2.0] * 5) == br.Interval(2.0, 2.0, 2.0)
    iv = bench.bootstrap([1.0, 2.0, 3.0, 4.0, 10.0])
    assert iv.low < iv.estimate == 4.0 < iv.high
    assert 1.0 <= iv.low and iv.high <= 10.0
    assert bench.bootstrap([]) == br.Interval(None, None, None)


def _cell(problem: str, optimizer: str, steps: list[int | None]) -> br.Cell:
    runs = [
        br.SeedRun(i, 0.0, 0.0, 0.0, s, None if s is None else s * 1e-3, 1.0, False)
        for i, s in enumerate(steps)
    ]
    iv = br.Interval(None, None, None)
    return br.Cell(
        problem,
        optimizer,
        "constant",
        1e-2,
        [1e-2],
        [0.0],
        False,
        False,
        runs,
        br.Curve([], [], [], []),
        iv,
        iv,
        1.0,
        iv,
    )


def test_performance_profile_ratios():
    cells = [
        _cell("p1", "a", [10, 10, 10]), _cell("p1", "b", [20, 20, 20]),
        _cell("p2", "a", [None, None, 5]), _cell("p2", "b", [40, 40, 40]),
        _cell("p3", "a", [None] * 3), _cell("p3", "b", [None] * 3),
    ]  # fmt: skip
    prof = performance_profile(cells, "steps")
    assert prof.dropped == ["p3"]
    assert prof.ratios == {"a": [1.0, math.inf], "b": [2.0, 1.0]}
    assert prof.rho("a", 1.0) == 0.5 and prof.rho("b", 1.0) == 0.5
    assert prof.rho("b", 2.0) == 1.0 and prof.rho("a", 1e9) == 0.5


def test_schedules_closed_form_matches_torch():
    for name in bench.SCHEDULE_NAMES:
        info = bench.schedule_info(name, 1000)
        if info.max_rel_diff is not None:
            # Closed form vs torch's recursion: round-off that grows with t (chainable forms).
            assert info.max_rel_diff < 1e-9, (name, info.max_rel_diff)
