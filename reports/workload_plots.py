"""Figures of the real workloads as vector SVG: held-out loss against steps and against
training wall-clock, and the lr-sensitivity curves (final validation metric against lr).

One panel per workload, one line per optimizer (median over seeds, inter-quartile band), the
legend in its own column right of the panels, never over data. Sizes: the figure is drawn at
its displayed size (``WIDTH_IN`` inches at 96 px per inch), text at ≥ 10 pt (13 px). Text
stays text in the SVG (``svg.fonttype: none``), so it scales and can be searched.
"""

from __future__ import annotations

import io
import math

from matplotlib import rc_context
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from optcheck.reports import bench_result as br

FONT_PT = 10
WIDTH_IN = 13.0  # 1248 px at 96 px/in: inside the HTML page's 1500 px column, so not shrunk
PANEL_H_IN = 3.2
_STYLE = {"svg.fonttype": "none", "font.size": FONT_PT, "axes.titlesize": FONT_PT + 1,
          "legend.fontsize": FONT_PT, "xtick.labelsize": FONT_PT, "ytick.labelsize": FONT_PT,
          "axes.labelsize": FONT_PT}  # fmt: skip
_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22"]  # fmt: skip
_STYLES = ["-", "--", "-.", ":"]
_PLAIN = FuncFormatter(lambda v, _: f"{v:g}")
_TWO_FIVE = FuncFormatter(
    lambda v, _: f"{v:g}" if v > 0 and f"{v:.0e}"[0] in "25" else ""
)


def _svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None})  # no date: reproducible bytes
    return buf.getvalue()


def _label(c: br.WorkloadCell) -> str:
    return f"{c.optimizer} ⚠ fails optcheck validate" if c.fails_validation else c.optimizer


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 3)
    return math.ceil(n / cols), cols


def _panels(
    result: br.BenchResult,
    draw: object,
    xlabel: str,
    ylabel: str,
    xlog: bool,
    ylog: object = lambda metric: True,
) -> bytes | None:
    groups: dict[str, list[br.WorkloadCell]] = {}
    for c in result.workload_cells:
        if c.error is None:
            groups.setdefault(c.workload, []).append(c)
    if not groups:
        return None
    opts = list(dict.fromkeys(c.optimizer for c in result.workload_cells))
    style = {o: (_COLORS[i % len(_COLORS)], _STYLES[i // len(_COLORS) % 4])
             for i, o in enumerate(opts)}  # fmt: skip
    metric = {w.name: w.metric for w in result.workloads}
    rows, cols = _grid(len(groups))
    with rc_context(_STYLE):
        # The last column of the grid spec is the legend's, so it never covers a panel.
        fig = Figure(figsize=(WIDTH_IN, PANEL_H_IN * rows + 0.4), layout="constrained")
        spec = fig.add_gridspec(rows, cols + 1, width_ratios=[1] * cols + [0.55])
        handles: dict[str, object] = {}
        for k, (name, cells) in enumerate(groups.items()):
            ax = fig.add_subplot(spec[k // cols, k % cols])
            for c in cells:
                color, ls = style[c.optimizer]
                for h in draw(ax, c, color, ls):  # type: ignore[operator]
                    handles.setdefault(_label(c), h)
            ax.set_title(name)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel.format(metric=metric.get(name, "metric")))
            if xlog:
                ax.set_xscale("log")
            if ylog(metric.get(name, "")):  # type: ignore[operator]
                ax.set_yscale("log")
            for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
                if axis.get_scale() == "log":  # plain "0.001", not 10^x with 7 pt exponents
                    axis.set_major_formatter(_PLAIN)
                    # Few major ticks when under two decades are shown: label minor ones too,
                    # all under one decade, 2× and 5× under two (more would overlap).
                    span = math.log10(hi / lo) if lo > 0 else math.inf
                    minor = _PLAIN if span < 1 else _TWO_FIVE if span < 2 else NullFormatter()
                    axis.set_minor_formatter(minor)
            ax.grid(True, alpha=0.3)
        lax = fig.add_subplot(spec[:, cols])
        lax.axis("off")
        lax.legend(list(handles.values()), list(handles), loc="upper left", frameon=False)
        return _svg(fig)


def _loss_vs(x_of: str) -> object:
    def draw(ax: object, c: br.WorkloadCell, color: str, ls: str) -> list[object]:
        xs = c.curve_steps if x_of == "steps" else c.curve_time
        pts = [(x, m, lo, hi) for x, m, lo, hi in
               zip(xs, c.curve_loss.median, c.curve_loss.q25, c.curve_loss.q75, strict=True)
               if x is not None and m is not None and (x_of == "steps" or x > 0)]  # fmt: skip
        if not pts:
            return []
        x, m, lo, hi = zip(*pts, strict=True)
        (line,) = ax.plot(x, m, color=color, ls=ls, lw=1.6)  # type: ignore[attr-defined]
        if None not in lo and None not in hi:
            ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)  # type: ignore[attr-defined]
        return [line]

    return draw


def _sensitivity(ax: object, c: br.WorkloadCell, color: str, ls: str) -> list[object]:
    best: dict[float, float] = {}
    diverged = []
    for g in c.grid:
        if g.val_metric is None:
            diverged.append(g.lr)
        elif g.lr not in best or g.val_metric < best[g.lr]:
            best[g.lr] = g.val_metric
    if not best:
        return []
    xs = sorted(best)
    (line,) = ax.plot(xs, [best[x] for x in xs], color=color, ls=ls, marker="o", ms=4)  # type: ignore[attr-defined]
    if diverged:  # at the top edge: a grid point that diverged has no metric to plot
        ax.plot(diverged, [0.98] * len(diverged), marker="x", ms=7, color=color, ls="none",
                transform=ax.get_xaxis_transform(), clip_on=False)  # type: ignore[attr-defined]  # fmt: skip
    if c.lr is not None and c.lr in best:
        ax.plot([c.lr], [best[c.lr]], marker="*", ms=13, color=color, ls="none")  # type: ignore[attr-defined]
    return [line]


def figures(result: br.BenchResult) -> dict[str, bytes]:
    """name -> SVG bytes, for the workloads the result holds (none: an empty dict)."""
    out = {}
    for name, fig in (
        ("workload_loss_steps", _panels(result, _loss_vs("steps"), "step",
                                        "held-out loss (nats)", False)),
        ("workload_loss_time", _panels(result, _loss_vs("time"), "training time (s)",
                                       "held-out loss (nats)", True)),
        # Log y for bits per character (a diverged lr reaches hundreds); linear for error
        # rates, which can be 0.
        ("workload_lr_sensitivity", _panels(result, _sensitivity, "learning rate",
                                            "final validation {metric}", True,
                                            lambda metric: metric == "bits per char")),
    ):  # fmt: skip
        if fig is not None:
            out[name] = fig
    return out
