"""The report's figures as SVG bytes, drawn from a BenchResult alone.

How they look (fonts, size, legend outside the data, SVG output) lives in
``optcheck.reports.figure_style``; this module decides what each figure shows. matplotlib is
driven through Figure objects directly (no pyplot, no global backend state), so rendering
works headless and in worker threads.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from optcheck.reports import bench_result as br
from optcheck.reports import bench_tables, workload_plots
from optcheck.reports import figure_style as fs
from optcheck.reports.profiles import METRICS, performance_profile

SUBOPT = "(f − f*)/(f0 − f*)"


def _clip(values: list[float | None], floor: float) -> np.ndarray:
    v = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
    return np.where(np.isnan(v), np.nan, np.maximum(v, floor))


def _floor_line(ax, floor: float) -> None:
    """The floor as a dotted line, where the curves come within two decades of it (else
    it would squash them into the panel's top)."""
    low = min((np.nanmin(line.get_ydata()) for line in ax.get_lines()), default=np.inf)
    if low <= 100 * floor:
        ax.axhline(floor, color="0.35", linewidth=0.8, linestyle=(0, (1, 2)), zorder=1)
        ax.set_ylim(bottom=floor / 3)


def _curve_panel(ax, cells: list[br.Cell], style_of, floor: float) -> None:
    for c in cells:
        if not c.curve.median:
            continue
        st = style_of(c)
        x = np.asarray(c.curve.steps)
        ax.plot(x, _clip(c.curve.median, floor), **st)
        lo, hi = _clip(c.curve.q25, floor), _clip(c.curve.q75, floor)
        if np.any(hi > lo):
            ax.fill_between(x, lo, hi, color=st["color"], alpha=0.12, linewidth=0)
    fs.log_scale(ax)
    _floor_line(ax, floor)


def _agreement_note(ax, cells: list[br.Cell], floor: float) -> None:
    """The cross-validation result where a reference line would coincide with torch's."""
    agree = bench_tables.reference_agreement(cells, floor)
    same = [f"{r.partition(':')[2]} {bench_tables.sci(a.gap, 0)}" for (_, r), a in agree.items()]
    same = [s for s, a in zip(same, agree.values(), strict=True) if a.coincide]
    if same:
        # Wrapped to the panel: one long line pushed constrained layout past the figure.
        ax.text(
            0.98,
            0.97,
            fs.wrapped("ref ≡ torch: " + ", ".join(same), fs.PANEL_W - 0.9),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=fs.SMALLEST_FONT_PT,
            bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.85, "pad": 2},
        )


@fs.drawn
def loss_curves(result: br.BenchResult) -> Figure | None:
    cells = bench_tables.main_cells(result)
    problems = list(dict.fromkeys(c.problem for c in cells))
    if not problems:
        return None
    floor = bench_tables.floor(result)
    styles = fs.OptimizerStyles()
    fig, axes = fs.panels(len(problems))
    for ax, p in zip(axes, problems, strict=True):
        mine = [c for c in cells if c.problem == p]
        shown = bench_tables.shown_cells(mine, floor)
        _curve_panel(
            ax, shown, lambda c: {**styles(c.optimizer), "label": bench_tables.cell_label(c)}, floor
        )
        _agreement_note(ax, mine, floor)
        ax.set_title(p)
        ax.set_xlabel("step")
        ax.set_ylabel(SUBOPT)
    fig.suptitle(f"median over seeds, inter-quartile band; clipped at the floor {floor:g} (dotted)")
    fs.legend_outside(fig, axes)
    return fig


@fs.drawn
def schedule_study(result: br.BenchResult) -> Figure | None:
    cells = bench_tables.schedule_cells(result)
    panels = list(dict.fromkeys((c.problem, c.optimizer) for c in cells))
    if not panels:
        return None
    floor = bench_tables.floor(result)
    colors = dict(zip(result.config.get("schedules", []), fs.COLORS, strict=False))
    fig, axes = fs.panels(len(panels), ncols=3, w=4.2)

    def style_of(c: br.Cell) -> dict:
        return {"color": colors.get(c.schedule, "black"), "linestyle": "-", "label": c.schedule}

    for ax, (p, o) in zip(axes, panels, strict=True):
        _curve_panel(ax, [c for c in cells if (c.problem, c.optimizer) == (p, o)], style_of, floor)
        hp = next(c.hp for c in cells if (c.problem, c.optimizer) == (p, o))
        ax.set_title(fs.wrapped(f"{p}: {bench_tables.line_label(o, hp)}", 4.0))
        ax.set_xlabel("step")
        ax.set_ylabel(SUBOPT)
    fs.legend_outside(fig, axes)
    return fig


@fs.drawn
def lr_schedules(result: br.BenchResult) -> Figure | None:
    if not result.schedules:
        return None
    fig, axes = fs.panels(1, w=8.0, h=3.4, extra_h=0.0)
    ax = axes[0]
    for i, s in enumerate(result.schedules):
        color = fs.COLORS[i % len(fs.COLORS)]
        lr = [np.nan if v is None else v for v in s.lr_torch]
        ax.plot(s.steps, lr, color=color, linewidth=2.2, alpha=0.6, label=f"{s.name} (torch)")
        if s.lr_closed_form is not None:
            closed = [np.nan if v is None else v for v in s.lr_closed_form]
            ax.plot(s.steps, closed, color="black", linestyle=":", linewidth=1.0)
    ax.plot([], [], color="black", linestyle=":", linewidth=1.0, label="reference closed form")
    ax.set_xlabel("step")
    ax.set_ylabel("lr / base lr")
    fs.legend_outside(fig, axes, "right upper")
    return fig


@fs.drawn
def profiles(result: br.BenchResult) -> Figure | None:
    cells = bench_tables.main_cells(result)
    if not cells:
        return None
    # A reference coinciding with torch would double every step of torch's profile.
    cells = bench_tables.shown_cells(cells, bench_tables.floor(result))
    styles = fs.OptimizerStyles()
    fig, axes = fs.panels(len(METRICS), ncols=3, w=4.2, h=3.0)
    cell_of = {c.optimizer: c for c in cells}
    for ax, metric in zip(axes, METRICS, strict=True):
        prof = performance_profile(cells, metric)
        if not prof.problems:  # no solver has a finite cost on any problem (failed cells)
            ax.text(0.5, 0.5, "no solver reached any problem", ha="center", transform=ax.transAxes)
            ax.set_title(METRICS[metric])
            continue
        finite = [r for rs in prof.ratios.values() for r in rs if math.isfinite(r)]
        top = max(finite + [2.0]) * 1.5
        for s in prof.solvers:
            r = np.sort([v for v in prof.ratios[s] if math.isfinite(v)])
            n = len(prof.problems)
            xs = np.concatenate([[1.0], r, [top]])
            ys = np.concatenate(
                [[np.sum(r <= 1.0) / n], np.arange(1, len(r) + 1) / n, [len(r) / n]]
            )
            label = bench_tables.cell_label(cell_of[s]) if s in cell_of else s
            ax.step(xs, ys, where="post", label=label, **styles(s))
        fs.log_scale(ax, "x", 2)
        ax.set_xlim(1, top)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("τ (within a factor τ of the best)")
        ax.set_ylabel("fraction of problems ρ(τ)")
        dropped = f"\nno solver reached: {', '.join(prof.dropped)}" if prof.dropped else ""
        ax.set_title(f"{METRICS[metric]} ({len(prof.problems)} problems){dropped}")
    fs.legend_outside(fig, axes)
    return fig


@fs.drawn
def theory(result: br.BenchResult) -> Figure | None:
    """Measured rate ÷ predicted rate per problem and method: 1 is theory; the band is the
    bound the check applies."""
    if not result.theory:
        return None
    problems = list(dict.fromkeys(r.problem for r in result.theory))
    methods = list(dict.fromkeys(r.method for r in result.theory))
    fig, axes = fs.panels(len(problems), ncols=3, w=4.0, h=2.8)
    # Side by side, so that a reference agreeing with torch does not hide under it.
    marks = {"torch": ("o", "tab:blue", -0.12), "reference": ("D", "tab:orange", 0.12)}
    for ax, p in zip(axes, problems, strict=True):
        rows = [r for r in result.theory if r.problem == p]
        tol = max(r.tolerance for r in rows)
        ax.axhspan(1 - tol, 1 + tol, color="0.88", zorder=0, label=f"bound ±{tol:.0%}")
        ax.axhline(1.0, color="0.4", linewidth=0.8, zorder=1)
        for r in rows:
            if r.measured_rate is None:
                continue
            marker, color, dx = marks.get(r.implementation, ("s", "black", 0.0))
            ax.plot(
                methods.index(r.method) + dx,
                r.measured_rate / r.theory_rate,
                marker=marker,
                color=color,
                linestyle="none",
                markersize=8,
                label=f"measured ({r.implementation})",
                zorder=3,
            )
        ax.set_xticks(range(len(methods)), methods)
        ax.set_xlim(-0.5, len(methods) - 0.5)
        ax.set_ylim(1 - 2.5 * tol, 1 + 2.5 * tol)
        ax.set_title(p)
        ax.set_ylabel("measured / predicted rate")
        ax.tick_params(axis="x", labelrotation=15)
    fs.legend_outside(fig, axes)
    return fig


@fs.drawn
def reddi(result: br.BenchResult) -> Figure | None:
    if not result.reddi:
        return None
    styles = fs.OptimizerStyles()
    fig, (left, right) = fs.panels(2, ncols=2, w=5.2, h=3.2)
    shown, same = _reddi_lines(result.reddi)
    for r in shown:
        label = f"{bench_tables.line_label(r.optimizer, r.hp)}: x_T = {r.final_x:+.3f}"
        st = styles(r.optimizer)
        left.plot(r.curve_steps, [np.nan if v is None else v for v in r.curve_x], **st)
        if r.curve_avg_regret:
            avg = [np.nan if v is None or v <= 0 else v for v in r.curve_avg_regret]
            right.plot(r.curve_steps, avg, label=label, **st)
        else:  # a file from before R_t/t was recorded: the final value alone
            right.plot([r.steps], [r.avg_regret], marker="o", label=label, **st)
    left.axhline(-1, color="black", linewidth=0.8)
    fs.log_scale(left, "x")
    left.set_ylim(-1.1, 1.1)
    left.set_xlabel("t")
    left.set_ylabel("x_t  (optimum x* = −1)")
    left.set_title("iterate")
    fs.log_scale(right, "x")
    fs.log_scale(right)
    # At x = +1 each 101-step period adds 1010·2 − 100·10·2 = 20 to the regret.
    right.axhline(
        20 / 101,
        color="tab:red",
        linewidth=0.8,
        linestyle=":",
        label="R_t / t at x = +1 for ever: 20/101",
    )
    right.set_xlabel("t")
    right.set_ylabel("average regret R_t / t")
    right.set_title("average regret: → 0 at the optimum")
    if same:
        right.plot([], [], " ", label="ref ≡ torch: " + ", ".join(same))
    fig.suptitle(
        "Reddi, Kale & Kumar 2018: f_t = 1010x if t mod 101 = 1 else −10x on [−1, 1], "
        "β1 = 0.9, β2 = 0.99, α_t = α/√t"
    )
    fs.legend_outside(fig, [right])
    return fig


def _reddi_lines(runs: list[br.ReddiRun]) -> tuple[list[br.ReddiRun], list[str]]:
    """The runs to draw, and "Adam 0e+00"-style notes for references that coincide with
    torch (max |Δx_t| over the drawn points below 1e-6 of the domain) and are left out."""
    by_name = {r.optimizer: r for r in runs}
    shown, same = [], []
    for r in runs:
        kind, _, fam = r.optimizer.partition(":")
        twin = by_name.get(f"torch:{fam}")
        if kind == "ref" and twin is not None and r.curve_steps == twin.curve_steps:
            gaps = [
                abs(a - b)
                for a, b in zip(r.curve_x, twin.curve_x, strict=True)
                if a is not None and b is not None
            ]
            if gaps and max(gaps) < 1e-6:
                same.append(f"{fam} {bench_tables.sci(max(gaps), 0)}")
                continue
        shown.append(r)
    return shown, same


@fs.drawn
def speed(result: br.BenchResult) -> Figure | None:
    s = result.speed
    if s is None or not s.rows:
        return None
    families = list(dict.fromkeys(r.optimizer for r in s.rows))
    impls = list(dict.fromkeys(r.implementation for r in s.rows))
    ncols = min(len(families), 4)
    nrows = 2 * math.ceil(len(families) / ncols)
    fig = Figure(
        figsize=(min(3.3 * ncols, fs.MAX_WIDTH_IN), 2.5 * nrows + 0.9), layout="constrained"
    )
    grid = fig.subplots(nrows, ncols, squeeze=False)
    used = []
    llc = f"{s.llc_bytes / 2**20:.0f} MiB" if s.llc_bytes else "unknown"
    for j, fam in enumerate(families):
        top, bottom = grid[2 * (j // ncols)][j % ncols], grid[2 * (j // ncols) + 1][j % ncols]
        used += [top, bottom]
        any_fraction = False
        for i_impl, impl in enumerate(impls):
            color = fs.COLORS[i_impl % len(fs.COLORS)]
            rows = [
                r
                for r in s.rows
                if r.optimizer == fam and r.implementation == impl and r.time_per_step
            ]
            tensors = sorted((r for r in rows if r.layout == "tensor"), key=lambda r: r.size)
            top.plot(
                [r.size for r in tensors],
                [r.time_per_step for r in tensors],
                color=color,
                marker="o",
                markersize=3,
                label=impl,
            )
            for r in rows:
                if r.layout != "tensor":
                    top.plot(r.size, r.time_per_step, color=color, marker="*", markersize=10)
            frac = [r for r in tensors if r.bandwidth_fraction is not None]
            if frac:
                any_fraction = True
                xs = [r.size for r in frac]
                bottom.plot(xs, [100 * r.bandwidth_fraction for r in frac], color=color, marker="o")
                moved = [(r.size, r.moved_fraction) for r in frac if r.moved_fraction]
                if moved:
                    bottom.plot(
                        *zip(*[(x, 100 * f) for x, f in moved], strict=True),
                        color=color,
                        marker="^",
                        linestyle="--",
                    )
        top.set_title(fs.wrapped(bench_tables.line_label(fam, s.hp.get(fam, {})), 2.8))
        bottom.sharex(top)
        fs.log_scale(top, "x")
        fs.log_scale(top)
        top.set_ylabel("seconds per step")
        fs.log_scale(bottom, "x")
        bottom.set_xlabel("parameters")
        bottom.set_ylabel("% of bandwidth")
        bottom.axhline(100, color="black", linewidth=0.8)
        # Never clip: a fraction above 100 % is a violation the reader must see.
        shown = [
            100 * (r.moved_fraction or r.bandwidth_fraction or 0)
            for r in s.rows
            if r.optimizer == fam
        ]
        bottom.set_ylim(0, max([110.0, *(1.1 * v for v in shown)]))
        if not any_fraction:
            bottom.text(
                0.5,
                0.5,
                fs.wrapped(
                    f"every working set < {br.CACHE_MULTIPLE} × LLC ({llc}): in cache, time only",
                    2.6,
                ),
                ha="center",
                va="center",
                transform=bottom.transAxes,
                fontsize=fs.SMALLEST_FONT_PT,
            )
    for ax in grid.ravel():
        if ax not in used:
            ax.set_visible(False)
    top = grid[0][0]
    models = dict.fromkeys(
        f"{r.layout} ({r.tensors} tensors)" for r in s.rows if r.layout != "tensor"
    )
    if models:
        label = "model parameter list: " + ", ".join(models)
        top.plot([], [], color="0.4", marker="*", linestyle="none", markersize=10, label=label)
    bottom = grid[1][0]
    bottom.plot([], [], color="0.4", marker="o", label="ideal bytes (record)")
    bottom.plot([], [], color="0.4", marker="^", linestyle="--", label="bytes its kernels move")
    fs.legend_outside(fig, used)
    return fig


FIGURES = {
    "loss_curves": loss_curves,
    "profiles": profiles,
    "lr_schedules": lr_schedules,
    "schedule_study": schedule_study,
    "theory": theory,
    "reddi": reddi,
    "speed": speed,
    **workload_plots.FIGURES,
}


def figures(result: br.BenchResult) -> dict[str, bytes]:
    """Every figure that has data, as SVG bytes by name."""
    out = {}
    for name, fn in FIGURES.items():
        data = fn(result)
        if data is not None:
            out[name] = data
    return out
