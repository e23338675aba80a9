"""``optcheck bench --compare`` cannot lie: an unchanged rerun compares clean, runs that share
nothing are exit 2, thresholds come from the measured noise, and a real regression is caught."""

from __future__ import annotations

import copy

import pytest

from optcheck.reports import bench_result as br
from optcheck.reports.compare import SLOWER, WARNING, compare
from optcheck.reports.io import load_result
from optcheck.suites.cli import main

# Small and stochastic (seeded gradient noise, so wall times have a spread over seeds).
TINY = ["bench", "--quick", "--problems", "logistic", "--optimizers", "ref:Adam",
        "--sections", "convergence", "--seeds", "3", "--steps", "60", "--jobs", "1",
        "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cmp")
    for name in ("a", "b"):
        assert main([*TINY, "--out", str(base / name)]) == 0
    return load_result(base / "a" / "bench.json"), load_result(base / "b" / "bench.json"), base


def test_an_unchanged_rerun_compares_clean(two_runs):
    old, new, _ = two_runs
    cmp = compare(old, new)
    assert cmp.regressions == [] and cmp.unshared == []
    assert cmp.compared["convergence cells"] == 1 and cmp.compared["f* checks"] == 1
    assert "1 convergence cells" in cmp.summary()


def test_a_run_sharing_no_cells_is_exit_2_after_saving(two_runs, capsys):
    _, _, base = two_runs
    out = base / "other"
    other = ["--problems", "quad-diag2d", "--seeds", "1"]
    code = main([*TINY, *other, "--out", str(out), "--compare", str(base / "a" / "bench.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--compare: nothing to compare: the runs share no convergence cells" in err
    assert load_result(out / "bench.json").cells  # the run itself is kept
    assert not (out / "bench.html").exists()


def test_same_cells_under_other_budgets_are_nothing_to_compare(two_runs):
    old, new, _ = two_runs
    shorter = copy.deepcopy(new)
    shorter.config["steps"] = {k: v // 2 for k, v in new.config["steps"].items()}
    assert compare(old, shorter).unshared == ["convergence cells"]


def test_injected_regressions_are_still_caught(two_runs):
    old, new, _ = two_runs
    worse = copy.deepcopy(new)
    (cell,) = worse.cells
    for attr in ("estimate", "low", "high"):
        setattr(cell.log10_subopt, attr, getattr(cell.log10_subopt, attr) + 3.0)
    w, o = cell.wall_time, old.cells[0].wall_time
    assert w.low < w.high and o.low < o.high  # three seeds: a measured spread
    # Twice what separates the runs: past the old run's whole interval (a loaded machine can
    # put one run's interval above the other's) and past SLOWER.
    k = 2 * max(SLOWER * o.estimate / w.estimate, o.high / w.low)
    cell.wall_time = br.Interval(w.estimate * k, w.low * k, w.high * k)
    cmp = compare(old, worse)
    assert [c.kind for c in cmp.regressions] == ["final suboptimality"]
    assert [c.kind for c in cmp.changes if c.severity == WARNING] == ["wall time per run"]


def _speed(median: float, q25: float, q75: float) -> br.SpeedSection:
    row = br.SpeedRow("Adam", "foreach", 1000, "float32", "cpu", median, q25, q75, 50, 1, None)
    return br.SpeedSection("cpu", 1e10, "copy", {}, [row])


@pytest.mark.parametrize(
    ("new", "flagged"),
    [
        ((13e-6, 9.5e-6, 16e-6), False),  # 1.3x the median, but within the noise
        ((10.5e-6, 10.4e-6, 10.6e-6), False),  # separated, but well under SLOWER
        ((20e-6, 19e-6, 21e-6), True),  # 2x, interquartile ranges apart
    ],
)
def test_step_time_changes_count_only_beyond_the_measured_noise(new, flagged):
    old = br.BenchResult("then", 0.0, {}, {}, speed=_speed(10e-6, 9e-6, 11e-6))
    now = br.BenchResult("now", 0.0, {}, {}, speed=_speed(*new))
    cmp = compare(old, now)
    assert cmp.compared["step times"] == 1 and cmp.unshared == []
    assert [c.kind for c in cmp.changes if c.severity == WARNING] == (
        ["step time"] if flagged else []
    )
