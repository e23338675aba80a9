"""The report's figures and tables read right: legible SVG, one floor, one best, a
reference that coincides with torch stated once, Reddi's average regret over time."""

from __future__ import annotations

import numpy as np
import pytest

from optcheck.reports import bench_result as br
from optcheck.reports import bench_tables, plots, workload_plots
from optcheck.reports import figure_style as fs
from optcheck.suites import bench
from tests.test_workloads import _cell as workload_cell
from tests.test_workloads import _result as workload_result
from tests.zoo import reporting

FLOOR = 1e-12


def _cell(
    optimizer: str,
    problem: str = "p",
    final: float = 1e-20,
    steps: float = 50.0,
    lr: float = 1e-2,
    scale: float = 1.0,
) -> br.Cell:
    curve = [min(1.0, scale * 0.5**k) for k in range(0, 60, 6)]
    runs = [br.SeedRun(s, final, final, final, int(steps), 1e-3, 1e-2, False) for s in range(3)]
    est = float(np.log10(max(final, FLOOR)))
    return br.Cell(
        problem, optimizer, "constant", lr, [lr], [est], False, False, runs,
        br.Curve(list(range(0, 60, 6)), curve, curve, curve),
        br.Interval(est, est, est), br.Interval(steps, steps, steps), 1.0,
        br.Interval(1e-2, 1e-2, 1e-2), hp={"momentum": 0.9},
    )  # fmt: skip


def _result(**sections) -> br.BenchResult:
    config = {"floor": FLOOR, "problems": ["p", "q"], "schedules": ["constant"]}
    return br.BenchResult("now", 1.0, config, {}, **sections)


def test_ties_at_the_floor_are_broken_by_steps_to_target():
    # Three runs at the floor (the old rule marked all three) and one above it.
    cells = [_cell("torch:SGD", steps=80), _cell("torch:Momentum", steps=30),
             _cell("torch:Adam", steps=60), _cell("torch:Nesterov", final=1e-6)]  # fmt: skip
    (table,) = bench_tables.convergence_tables(cells, floor_value=FLOOR).values()
    best = [row[0] for row, mark in zip(table.rows, table.marks, strict=True) if mark == "best"]
    assert [b.split(" ")[0] for b in best] == ["torch:Momentum"]
    assert len(reporting.best_by_estimate_alone(cells)) == 3  # the mutant: the old rule


def test_a_coinciding_reference_is_one_row_with_its_agreement():
    torch_cell = _cell("torch:Adam", final=3e-9)
    same = _cell("ref:Adam", final=3e-9 + 3e-15)
    differs = _cell("ref:SGD", final=1e-3, scale=0.5)
    twin = _cell("torch:SGD", final=1e-3)
    (table,) = bench_tables.convergence_tables(
        [torch_cell, same, twin, differs], floor_value=FLOOR
    ).values()
    names = [row[0].split(" ")[0] for row in table.rows]
    assert names == ["torch:Adam", "torch:SGD", "ref:SGD"]  # ref:Adam folded into torch's
    assert "reference agrees to 3.0e-15" in table.rows[0][-1]
    assert "reference differs" in table.rows[2][-1]


def test_loss_figure_is_legible_svg_with_one_floor_and_one_line_per_agreeing_pair():
    cells = [
        _cell("torch:Adam", final=1e-20),
        _cell("ref:Adam", final=1e-20),
        _cell("torch:SGD", "q", final=1e-3),
        _cell("ref:SGD", "q", final=1e-3, scale=0.5),
    ]
    result = _result(cells=cells)
    assert bench_tables.floor(result) == FLOOR
    (table, _) = bench_tables.convergence_tables(cells, floor_value=FLOOR).values()
    assert table.rows[0][2] == "1.00e-12"  # the table floors where the figure does
    data = plots.loss_curves(result)
    svg = data.decode()
    assert data.startswith(b"<?xml") and "the floor 1e-12 (dotted)" in svg
    assert "ref ≡ torch: Adam 0e+00" in svg  # stated, not drawn
    assert "ref:SGD" in svg and "ref:Adam (" not in svg  # the differing reference is drawn
    assert "momentum=0.9" in svg  # the legend carries every keyword
    width, _, smallest = fs.svg_size_and_fonts(data)
    assert fs.legibility_problems(data) == [] and width <= 1296 and smallest >= 12
    assert bench_tables.floor(br.BenchResult("now", 1.0, {}, {})) == bench.FLOOR


@pytest.mark.thorough
def test_the_legibility_check_catches_small_text_and_wide_figures():
    assert "under 10 px" in fs.legibility_problems(reporting.tiny_labels(None))[0]
    assert "shrinks" in fs.legibility_problems(reporting.too_wide(None))[0]


@pytest.mark.thorough
def test_the_html_inlines_the_svg():
    from optcheck.reports.html import render_html

    result = _result(cells=[_cell("torch:SGD")])
    page = render_html(result, plots.figures(result))
    assert '<figure role="img" aria-label="loss curves"><svg' in page and "<?xml" not in page


def test_reddi_records_average_regret_along_the_way():
    (cfg,) = bench.parse_optimizers(["ref:Adam"])
    run = bench.reddi_task(cfg, 300)
    assert run.curve_avg_regret[0] is None and run.curve_steps[0] == 0
    assert run.curve_avg_regret[-1] == pytest.approx(run.avg_regret, rel=1e-5)
    # Step 1 is the 1010x round at x0 = 0 against x* = -1: R_1 = 1010.
    k = run.curve_steps.index(1)
    assert run.curve_avg_regret[k] == pytest.approx(1010.0)
    again = br.loads(br.dumps(_result(reddi=[run]))).reddi[0]
    assert again.curve_avg_regret == run.curve_avg_regret


@pytest.mark.thorough
def test_reddi_figure_shows_average_regret():
    (cfg,) = bench.parse_optimizers(["ref:Adam"])
    svg = plots.reddi(_result(reddi=[bench.reddi_task(cfg, 300)]))
    assert "average regret R_t / t" in svg.decode() and fs.legibility_problems(svg) == []


@pytest.mark.thorough
def test_theory_is_drawn_as_measured_over_predicted():
    row = br.TheoryRow("quad", "heavy ball", "torch", 0.1, 0.9, "f", 0.5, 0.5025, 0.005,
                       [10, 20], 0.01, [0], [0.0])  # fmt: skip
    svg = plots.theory(_result(theory=[row])).decode()
    assert "measured / predicted rate" in svg and "bound ±1%" in svg


def _workloads() -> br.BenchResult:
    fails = "DOES NOT CONFORM (optcheck validate --like Adam: 1 violations, 0 errors, 9 passed)"
    cells = [workload_cell("torch:Adam", 0.03, 40), workload_cell("torch:SGD", 0.02, 20),
             workload_cell("target:x:Adam", 0.01, 10, fails)]  # fmt: skip
    return workload_result(cells)


def test_workload_figures_pass_the_same_legibility_checks_as_every_figure():
    result = _workloads()
    assert set(workload_plots.FIGURES) <= set(plots.FIGURES)  # one figure path
    for name, figure in workload_plots.FIGURES.items():
        data, problems = fs.checked(figure, result)
        assert problems == [], name  # label size, width, legend outside the panels
        svg = data.decode()
        assert "torch:SGD" in svg  # text stays text
        assert "⚠ fails optcheck" in svg  # a target failing validation says so in the legend


@pytest.mark.thorough
def test_the_legend_check_catches_a_legend_over_the_data():
    _, problems = fs.checked(reporting.workload_legend_in_a_panel, _workloads())
    assert problems == ["the legend covers the panel 'logreg-breast-cancer'"]


@pytest.mark.thorough
def test_many_coinciding_references_keep_the_legend_below_the_panels():
    # The standard report's case: every family's reference coincides with torch; the note
    # on one line pushed constrained layout past the figure and the legend over 4 panels.
    families = ["SGD", "Momentum", "Nesterov", "Adam", "AMSGrad", "AdamW"]
    cells = [_cell(f"{kind}:{f}", p) for f in families for kind in ("torch", "ref")
             for p in ("p", "q", "r", "s", "t")]  # fmt: skip
    assert fs.checked(plots.loss_curves, _result(cells=cells))[1] == []
