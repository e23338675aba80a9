"""How every report figure looks, in one place: fonts, size, legend placement, output.

Use it for a new figure (reports/workload_plots.py, ...)::

    from optcheck.reports import figure_style as fs

    @fs.drawn
    def my_figure(result) -> Figure | None:
        fig, axes = fs.panels(n_panels)          # one panel per problem/workload
        styles = fs.OptimizerStyles()
        ...                                       # ax.plot(..., **styles(optimizer))
        fs.legend_outside(fig, axes)
        return fig

``my_figure(result)`` then returns SVG bytes (text kept as text, no timestamp), shown inline
in the HTML at its natural size: labels are ≥ 12 px on screen (9 pt × 4/3), no figure is
wider than MAX_WIDTH_IN, so the page never scales it down, and no legend covers a panel
(``checked`` says which of these a figure breaks; tests/test_figures.py checks every figure).
"""

from __future__ import annotations

import functools
import io
import math
import re
import textwrap
from collections.abc import Callable
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, FuncFormatter, NullFormatter

# The HTML page is 1500 px wide; 1 pt = 4/3 px, so 13.5 in = 1296 px leaves its margins.
MAX_WIDTH_IN = 13.5
FORMAT = "svg"  # what a drawn figure returns: its files' extension
PANEL_W, PANEL_H = 3.3, 2.6
SMALLEST_FONT_PT = 9.0  # ticks and legends: 12 px at the size shown
RC: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": SMALLEST_FONT_PT,
    "ytick.labelsize": SMALLEST_FONT_PT,
    "legend.fontsize": SMALLEST_FONT_PT,
    "legend.frameon": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.fonttype": "none",  # text stays text: crisp at any zoom, searchable
    "svg.hashsalt": "optcheck",  # stable ids: the same result renders the same bytes
    "lines.linewidth": 1.6,
}
COLORS = [
    "tab:blue",
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
    "black",
]
# An optimizer family has one colour in every figure; other lines take the remaining ones.
FAMILY_COLORS = dict(
    zip(("SGD", "Momentum", "Nesterov", "Adam", "AMSGrad", "AdamW"), COLORS, strict=False)
)
EXTRA_COLORS = COLORS[len(FAMILY_COLORS) :]


class OptimizerStyles:
    """torch solid, a reference that differs from torch dashed, in the family's colour;
    targets get their own colours, dotted."""

    def __init__(self) -> None:
        self.extra: dict[str, str] = {}

    def __call__(self, optimizer: str) -> dict:
        kind, _, fam = optimizer.partition(":")
        if kind in ("torch", "ref") and fam in FAMILY_COLORS:
            color = FAMILY_COLORS[fam]
        else:
            if optimizer not in self.extra:
                self.extra[optimizer] = EXTRA_COLORS[len(self.extra) % len(EXTRA_COLORS)]
            color = self.extra[optimizer]
        style = {"ref": "--", "torch": "-"}.get(kind, ":")
        return {"color": color, "linestyle": style, "linewidth": 1.3 if kind == "ref" else 1.7}


def drawn(build: Callable[..., Figure | None]) -> Callable[..., bytes | None]:
    """Wrap a function building a Figure (or None: nothing to draw) so that it draws under
    RC and returns the figure as SVG bytes."""

    @functools.wraps(build)
    def render(*args: Any, **kwargs: Any) -> bytes | None:
        with matplotlib.rc_context(RC):
            fig = build(*args, **kwargs)
            if fig is None:
                return None
            return svg(fig, salt=build.__name__)

    render.build = build  # type: ignore[attr-defined]
    return render


def as_png(figure_fn: Callable[..., bytes | None], *args: Any, scale: float = 2.0) -> bytes | None:
    """A ``drawn`` figure as PNG at ``scale`` × its natural size (to look at it without a
    browser)."""
    with matplotlib.rc_context(RC):
        fig = figure_fn.build(*args)  # type: ignore[attr-defined]
        return None if fig is None else png(fig, scale)


def log_scale(ax: Any, axis: str = "y", base: float = 10) -> None:
    """A log axis labelled 1e-12 and 0.01 rather than 10 with a superscript −12: a superscript
    is set at 70 % of the tick size, under MIN_LABEL_PX."""
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log", base=base)
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))  # as the minor labels
    target.set_minor_formatter(_FewDecadeLabels() if base == 10 else NullFormatter())


class _FewDecadeLabels(Formatter):
    """Minor tick labels where the axis shows too few decades for its major ticks to read a
    value off: all under one decade, 2× and 5× under two, none beyond (they would overlap).
    Decided at draw time, from the limits the data set."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        lo, hi = sorted(self.axis.get_view_interval())
        span = math.log10(hi / lo) if lo > 0 else math.inf
        leading = f"{x:.0e}"[0]
        return f"{x:g}" if span < 1 or (span < 2 and leading in "25") else ""


def svg(fig: Figure, salt: str = "") -> bytes:
    """The figure as standalone SVG (no date: reproducible bytes)."""
    FigureCanvasSVG(fig)
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": f"optcheck-{salt}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def png(fig: Figure, scale: float = 2.0) -> bytes:
    """The figure as PNG at ``scale`` × 72 dpi (2×: sharp on a high-density screen)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72 * scale)
    return buf.getvalue()


def inline_svg(data: bytes) -> str:
    """SVG bytes as an element for an HTML page (prolog and doctype dropped)."""
    text = data.decode("utf-8")
    return text[text.index("<svg") :]


def svg_size_and_fonts(data: bytes) -> tuple[float, float, float]:
    """(width in px at its natural size, height in px, smallest font in px) of an SVG this
    module wrote: what a reader sees, for the legibility tests."""
    text = data.decode("utf-8")
    m = re.search(r'<svg[^>]*width="([\d.]+)pt"[^>]*height="([\d.]+)pt"', text)
    if m is None:
        raise ValueError("not an SVG written by figure_style.svg")
    width, height = (float(v) * 4 / 3 for v in m.groups())
    sizes = [float(s) for s in re.findall(r"font-size:\s*([\d.]+)px", text)]
    sizes += [float(s) for s in re.findall(r"font:[^;\"']*?([\d.]+)px", text)]
    return width, height, (min(sizes) * 4 / 3 if sizes else math.inf)


LEGEND_ROOM = 0.9  # inches panels() leaves below the panels for the legend


def panels(
    n: int, ncols: int = 4, w: float = PANEL_W, h: float = PANEL_H, extra_h: float = LEGEND_ROOM
) -> tuple[Figure, list]:
    """A figure of ``n`` panels in rows of ``ncols`` (room below for the legend), no wider
    than MAX_WIDTH_IN."""
    ncols = max(1, min(ncols, n, int(MAX_WIDTH_IN // w)))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(min(w * ncols, MAX_WIDTH_IN), h * nrows + extra_h), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def legend_outside(fig: Figure, axes: list, where: str = "lower center") -> None:
    """One legend for the figure, outside every panel (below by default, or "right upper"),
    each label once, as many columns as the labels fit in the figure's width."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if not lab.startswith("_"):
                handles.setdefault(lab, h)
    if not handles:
        return
    ncol, width = 1, 3.0
    if where.endswith("center"):
        # Labels carry every keyword: wrapped to the figure's width, then as many columns
        # as fit (plus the line sample, ~0.6 in).
        width = fig.get_figwidth() - 0.8
        longest = min(max(len(lab) for lab in handles), int(width * CHARS_PER_INCH))
        ncol = max(
            1, min(len(handles), int(fig.get_figwidth() // (longest / CHARS_PER_INCH + 0.6)))
        )
    labels = [wrapped(lab, width) for lab in handles]
    fig.legend(list(handles.values()), labels, loc=f"outside {where}", ncol=ncol)
    if where.endswith("center"):
        # Taller than the room panels() left below: grow the figure, or constrained layout
        # shrinks the panels under the legend (it gave up on the standard report's 12).
        fig.set_figheight(fig.get_figheight() + max(0.0, legend_height(labels, ncol) - LEGEND_ROOM))


def legend_height(labels: list[str], ncol: int) -> float:
    """Inches a legend of these (wrapped) labels takes in ``ncol`` columns, filled column by
    column as matplotlib does: each row as tall as its tallest label, 0.5 em between rows."""
    nrows = math.ceil(len(labels) / ncol)
    lines = [0] * nrows
    for i, label in enumerate(labels):
        lines[i % nrows] = max(lines[i % nrows], label.count("\n") + 1)
    em = SMALLEST_FONT_PT / 72
    return (sum(lines) * 1.25 + 0.5 * (nrows - 1)) * em + 0.3


# Characters of 9-10 pt text per inch (DejaVu Sans averages ~0.55 em a character).
CHARS_PER_INCH = 13


def wrapped(text: str, inches: float) -> str:
    """``text`` broken at spaces into lines that fit ``inches`` (titles, legend labels)."""
    return textwrap.fill(text, max(12, int(inches * CHARS_PER_INCH)), break_long_words=False)


MIN_LABEL_PX = 10.0


def legend_problems(fig: Figure) -> list[str]:
    """Legends that cover a panel holding data (a legend in an axis-less panel of its own, or
    outside every panel, is fine)."""
    FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # lays the figure out: extents are final
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    out = []
    for legend in legends:
        box = legend.get_window_extent()
        for ax in panels:
            if box.overlaps(ax.get_window_extent()):
                out.append(f"the legend covers the panel {ax.get_title()!r}")
    return out


def checked(figure_fn: Callable[..., bytes | None], *args: Any) -> tuple[bytes | None, list[str]]:
    """A ``drawn`` figure's SVG (None: nothing to draw) and everything that keeps a reader
    from reading it: its legibility at the size the page shows it, a legend over the data."""
    with matplotlib.rc_context(RC):
        fig = figure_fn.build(*args)  # type: ignore[attr-defined]
        if fig is None:
            return None, []
        data = svg(fig, figure_fn.__name__)
        return data, legend_problems(fig) + legibility_problems(data)


def legibility_problems(data: bytes) -> list[str]:
    """Why a reader could not read this SVG at the size the page shows it (empty: fine):
    wider than the page's figure width (it would be scaled down), or text under
    MIN_LABEL_PX."""
    width, _, smallest = svg_size_and_fonts(data)
    out = []
    if width > MAX_WIDTH_IN * 96 + 0.5:
        out.append(f"{width:.0f} px wide: the page shrinks it below its natural size")
    if smallest < MIN_LABEL_PX:
        out.append(f"text of {smallest:.1f} px, under {MIN_LABEL_PX:g} px")
    return out
