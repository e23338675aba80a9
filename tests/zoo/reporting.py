"""Deliberately broken pieces of the report and the step-time model, each caught by a
check in tests/test_bench_speed.py or tests/test_figures.py."""

from __future__ import annotations

import dataclasses

from matplotlib.figure import Figure

from optcheck.reference.spec import Hyper
from optcheck.reports import bench_result as br
from optcheck.reports import figure_style as fs
from optcheck.reports import workload_plots


def amsgrad_bytes_without_vmax(hp: Hyper, itemsize: int) -> float:
    """AMSGrad's bytes as Adam's: forgets reading and writing max_exp_avg_sq."""
    return 7 * itemsize


def fraction_on_every_row(section: br.SpeedSection) -> br.SpeedSection:
    """The old rule: a fraction of DRAM bandwidth for every row, in cache or not."""
    rows = [
        dataclasses.replace(
            r, bandwidth_fraction=r.bytes_per_step / r.time_per_step / section.bandwidth
        )
        if r.time_per_step
        else r
        for r in section.rows
    ]
    return dataclasses.replace(section, rows=rows)


def best_by_estimate_alone(cells: list[br.Cell]) -> list[str]:
    """The old best-marking: every row at the lowest (floored) geometric mean."""
    low = min(c.log10_subopt.estimate for c in cells)
    return [c.optimizer for c in cells if c.log10_subopt.estimate <= low + 1e-9]


@fs.drawn
def tiny_labels(result: br.BenchResult) -> Figure:
    """A figure whose tick labels are 6 pt (8 px): too small to read."""
    fig, (ax,) = fs.panels(1)
    ax.plot([1, 2], [1, 2])
    ax.tick_params(labelsize=6)
    return fig


@fs.drawn
def too_wide(result: br.BenchResult) -> Figure:
    """20 inches wide: the page scales it down, and its labels with it."""
    fig = Figure(figsize=(20, 3))
    fig.subplots().plot([1, 2], [1, 2])
    return fig


@fs.drawn
def workload_legend_in_a_panel(result: br.BenchResult) -> Figure:
    """The workload loss figure with its legend moved over the first panel's data."""
    fig = workload_plots.loss_steps.build(result)
    fig.legends.clear()
    fig.axes[0].legend(loc="center")
    return fig
