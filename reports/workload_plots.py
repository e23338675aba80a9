"""Figures of the real workloads: held-out loss against steps and against training
wall-clock, and the lr-sensitivity curves (final validation metric against lr).

One panel per workload, one line per optimizer (median over seeds, inter-quartile band). How
they look (fonts, sizes, colours, panel grid, legend outside the panels, SVG) is
``optcheck.reports.figure_style``'s, as for every other report figure.
"""

from __future__ import annotations

from collections.abc import Callable

from matplotlib.figure import Figure

from optcheck.reports import bench_result as br
from optcheck.reports import figure_style as fs

# Draws one cell's line(s) on a panel in the given style.
Draw = Callable[[object, br.WorkloadCell, dict], None]


def _label(c: br.WorkloadCell) -> str:
    return f"{c.optimizer} ⚠ fails optcheck validate" if c.fails_validation else c.optimizer


def _panels(
    result: br.BenchResult,
    draw: Draw,
    xlabel: str,
    ylabel: str,
    xlog: bool,
    ylog: Callable[[str], bool] = lambda metric: True,
) -> Figure | None:
    groups: dict[str, list[br.WorkloadCell]] = {}
    for c in result.workload_cells:
        if c.error is None:
            groups.setdefault(c.workload, []).append(c)
    if not groups:
        return None
    styles = fs.OptimizerStyles()
    metric = {w.name: w.metric for w in result.workloads}
    fig, axes = fs.panels(len(groups))
    for ax, (name, cells) in zip(axes, groups.items(), strict=True):
        for c in cells:
            draw(ax, c, {**styles(c.optimizer), "label": _label(c)})
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel.format(metric=metric.get(name, "metric")))
        if xlog:
            fs.log_scale(ax, "x")
        if ylog(metric.get(name, "")):
            fs.log_scale(ax)
    fs.legend_outside(fig, axes)
    return fig


def _loss_vs(x_of: str) -> Draw:
    def draw(ax, c: br.WorkloadCell, style: dict) -> None:
        xs = c.curve_steps if x_of == "steps" else c.curve_time
        pts = [(x, m, lo, hi) for x, m, lo, hi in
               zip(xs, c.curve_loss.median, c.curve_loss.q25, c.curve_loss.q75, strict=True)
               if x is not None and m is not None and (x_of == "steps" or x > 0)]  # fmt: skip
        if not pts:
            return
        x, m, lo, hi = zip(*pts, strict=True)
        ax.plot(x, m, **style)
        if None not in lo and None not in hi:
            ax.fill_between(x, lo, hi, color=style["color"], alpha=0.15, lw=0)

    return draw


def _sensitivity(ax, c: br.WorkloadCell, style: dict) -> None:
    best: dict[float, float] = {}
    diverged = []
    for g in c.grid:
        if g.val_metric is None:
            diverged.append(g.lr)
        elif g.lr not in best or g.val_metric < best[g.lr]:
            best[g.lr] = g.val_metric
    if not best:
        return
    xs = sorted(best)
    ax.plot(xs, [best[x] for x in xs], marker="o", ms=4, **style)
    color = style["color"]
    if diverged:  # at the top edge: a grid point that diverged has no metric to plot
        ax.plot(diverged, [0.98] * len(diverged), marker="x", ms=7, color=color, ls="none",
                transform=ax.get_xaxis_transform(), clip_on=False)  # fmt: skip
    if c.lr is not None and c.lr in best:
        ax.plot([c.lr], [best[c.lr]], marker="*", ms=13, color=color, ls="none")


@fs.drawn
def loss_steps(result: br.BenchResult) -> Figure | None:
    return _panels(result, _loss_vs("steps"), "step", "held-out loss (nats)", False)


@fs.drawn
def loss_time(result: br.BenchResult) -> Figure | None:
    return _panels(result, _loss_vs("time"), "training time (s)", "held-out loss (nats)", True)


@fs.drawn
def lr_sensitivity(result: br.BenchResult) -> Figure | None:
    # Log y for bits per character (a diverged lr reaches hundreds); linear for error rates,
    # which can be 0.
    return _panels(result, _sensitivity, "learning rate", "final validation {metric}", True,
                   lambda metric: metric == "bits per char")  # fmt: skip


FIGURES = {
    "workload_loss_steps": loss_steps,
    "workload_loss_time": loss_time,
    "workload_lr_sensitivity": lr_sensitivity,
}
