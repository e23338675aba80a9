"""The report's figures as PNG bytes, drawn from a BenchResult alone.

matplotlib is driven through its Agg canvas directly (no pyplot, no global backend state),
so rendering works headless and in worker threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from optcheck.reports import bench_result as br
from optcheck.reports import bench_tables
from optcheck.reports.profiles import METRICS, performance_profile

# Relative suboptimality is drawn down to here; below is clipped (the quadratics reach 1e-300).
PLOT_FLOOR = 1e-16
FAMILY_COLORS = {
    "SGD": "tab:blue",
    "Momentum": "tab:orange",
    "Nesterov": "tab:green",
    "Adam": "tab:red",
    "AMSGrad": "tab:purple",
    "AdamW": "tab:brown",
}
EXTRA_COLORS = ["tab:pink", "tab:gray", "tab:olive", "tab:cyan", "black"]
DPI = 80


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


class _Styles:
    """torch solid, reference dashed, in the family's colour; targets get their own colours."""

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
        width = 1.3 if kind == "ref" else 1.7
        return {"color": color, "linestyle": style, "linewidth": width}


def _clip(values: Sequence[float | None]) -> np.ndarray:
    v = np.array([np.nan if x is None else x for x in values], dtype=np.float64)
    return np.where(np.isnan(v), np.nan, np.maximum(v, PLOT_FLOOR))


def _grid(n: int, ncols: int, w: float, h: float) -> tuple[Figure, list]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(w * ncols, h * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _legend(fig: Figure, axes: list, ncol: int = 6) -> None:
    handles, labels = {}, []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if handles:
        # Labels carry every keyword: as many columns as fit the figure's width (~11 chars/in).
        fit = int(fig.get_figwidth() * 11 // max(len(lab) for lab in labels))
        ncol = max(1, min(ncol, fit))
        fig.legend(
            [handles[k] for k in labels],
            labels,
            loc="outside upper center",
            ncol=min(ncol, len(labels)),
            fontsize=9,
            frameon=False,
        )


def _curve_panel(ax, cells: list[br.Cell], label_of, styles: _Styles) -> None:
    for c in cells:
        if not c.curve.median:
            continue
        st = styles(c.optimizer) if label_of is None else label_of(c)
        x = np.asarray(c.curve.steps)
        med = _clip(c.curve.median)
        label = bench_tables.cell_label(c) if label_of is None else st.pop("label")
        ax.plot(x, med, label=label, **st)
        lo, hi = _clip(c.curve.q25), _clip(c.curve.q75)
        if np.any(hi > lo):
            ax.fill_between(x, lo, hi, color=st["color"], alpha=0.12, linewidth=0)
    ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)


def loss_curves(result: br.BenchResult) -> bytes | None:
    cells = bench_tables.main_cells(result)
    problems = list(dict.fromkeys(c.problem for c in cells))
    if not problems:
        return None
    styles = _Styles()
    fig, axes = _grid(len(problems), 4, 4.2, 3.1)
    for ax, p in zip(axes, problems, strict=True):
        _curve_panel(ax, [c for c in cells if c.problem == p], None, styles)
        ax.set_title(p, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("(f − f*)/(f0 − f*)", fontsize=8)
        ax.tick_params(labelsize=8)
    _legend(fig, axes)
    return _png(fig)


def schedule_study(result: br.BenchResult) -> bytes | None:
    cells = bench_tables.schedule_cells(result)
    panels = list(dict.fromkeys((c.problem, c.optimizer) for c in cells))
    if not panels:
        return None
    colors = dict(
        zip(
            result.config.get("schedules", []),
            ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"],
            strict=False,
        )
    )
    fig, axes = _grid(len(panels), 4, 4.2, 3.1)
    styles = _Styles()

    def label_of(c: br.Cell) -> dict:
        return {
            "color": colors.get(c.schedule, "black"),
            "linestyle": "-",
            "linewidth": 1.6,
            "label": c.schedule,
        }

    for ax, (p, o) in zip(axes, panels, strict=True):
        _curve_panel(ax, [c for c in cells if (c.problem, c.optimizer) == (p, o)], label_of, styles)
        hp = next(c.hp for c in cells if (c.problem, c.optimizer) == (p, o))
        ax.set_title(f"{p} — {bench_tables.line_label(o, hp)}", fontsize=10, wrap=True)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("(f − f*)/(f0 − f*)", fontsize=8)
        ax.tick_params(labelsize=8)
    _legend(fig, axes)
    return _png(fig)


def lr_schedules(result: br.BenchResult) -> bytes | None:
    if not result.schedules:
        return None
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for i, s in enumerate(result.schedules):
        color = f"C{i}"
        ax.plot(
            s.steps,
            [np.nan if v is None else v for v in s.lr_torch],
            color=color,
            linewidth=2.2,
            alpha=0.6,
            label=f"{s.name} (torch)",
        )
        if s.lr_closed_form is not None:
            ax.plot(
                s.steps,
                [np.nan if v is None else v for v in s.lr_closed_form],
                color="black",
                linestyle=":",
                linewidth=1.0,
            )
    ax.plot([], [], color="black", linestyle=":", linewidth=1.0, label="reference closed form")
    ax.set_xlabel("step")
    ax.set_ylabel("lr / base lr")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return _png(fig)


def profiles(result: br.BenchResult) -> bytes | None:
    cells = bench_tables.main_cells(result)
    if not cells:
        return None
    styles = _Styles()
    fig = Figure(figsize=(12, 4.2), layout="constrained")
    axes = fig.subplots(1, len(METRICS), squeeze=False).ravel().tolist()
    cell_of = {c.optimizer: c for c in cells}
    for ax, metric in zip(axes, METRICS, strict=True):
        prof = performance_profile(cells, metric)
        if not prof.problems:  # no solver has a finite cost on any problem (failed cells)
            ax.text(0.5, 0.5, "no solver reached any problem", ha="center", transform=ax.transAxes)
            ax.set_title(METRICS[metric], fontsize=9)
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
        ax.set_xscale("log", base=2)
        ax.set_xlim(1, top)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("τ (within a factor τ of the best)")
        ax.set_ylabel("fraction of problems ρ(τ)")
        dropped = f"; no solver reached: {', '.join(prof.dropped)}" if prof.dropped else ""
        ax.set_title(f"{METRICS[metric]} ({len(prof.problems)} problems{dropped})", fontsize=9)
        ax.grid(True, alpha=0.3)
    _legend(fig, axes)
    return _png(fig)


def theory(result: br.BenchResult) -> bytes | None:
    if not result.theory:
        return None
    problems = list(dict.fromkeys(r.problem for r in result.theory))
    methods = list(dict.fromkeys(r.method for r in result.theory))
    fig = Figure(figsize=(4.2 * len(methods), 3.0 * len(problems) + 0.6), layout="constrained")
    axes = fig.subplots(len(problems), len(methods), squeeze=False)
    for i, p in enumerate(problems):
        for j, m in enumerate(methods):
            ax = axes[i][j]
            rows = [r for r in result.theory if r.problem == p and r.method == m]
            for r in rows:
                ls = "-" if r.implementation == "torch" else "--"
                y = [np.nan if v is None else v for v in r.curve_log10_error]
                ax.plot(
                    r.curve_steps,
                    y,
                    linestyle=ls,
                    color="tab:blue" if ls == "-" else "tab:orange",
                    label=f"measured ({r.implementation})",
                    zorder=3,
                )
            if rows:
                r = rows[0]
                t1, t2 = r.window
                k = int(np.searchsorted(r.curve_steps, t1))
                y0 = r.curve_log10_error[min(k, len(r.curve_steps) - 1)]
                if y0 is not None:
                    ts = np.array([r.curve_steps[k], t2])
                    # Wide and pale underneath: the measured lines sit on it where they agree.
                    ax.plot(
                        ts,
                        y0 + (ts - ts[0]) * math.log10(r.theory_rate),
                        color="0.55",
                        linewidth=6,
                        alpha=0.5,
                        zorder=1,
                        label="theory rate from t1",
                    )
                ax.axvspan(t1, t2, color="0.9", zorder=0)
                ax.set_title(
                    f"{p}: {m}\nrate {r.theory_rate:.4f} theory, "
                    f"{r.measured_rate or float('nan'):.4f} measured",
                    fontsize=9,
                )
            ax.set_xlabel("step", fontsize=8)
            ax.set_ylabel("log10 |x_t − x*|", fontsize=8)
            ax.tick_params(labelsize=8)
            ax.grid(True, alpha=0.3)
    _legend(fig, axes.ravel().tolist())
    return _png(fig)


def reddi(result: br.BenchResult) -> bytes | None:
    if not result.reddi:
        return None
    styles = _Styles()
    fig = Figure(figsize=(8, 3.4), layout="constrained")
    ax = fig.subplots()
    for r in result.reddi:
        ax.plot(
            r.curve_steps,
            [np.nan if v is None else v for v in r.curve_x],
            label=f"{bench_tables.line_label(r.optimizer, r.hp)} (final {r.final_x:+.3f})",
            **styles(r.optimizer),
        )
    ax.axhline(-1, color="black", linewidth=0.8)
    ax.axhline(1, color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_ylim(-1.1, 1.1)
    ax.set_xlabel("t")
    ax.set_ylabel("x_t  (optimum x* = −1)")
    ax.set_title(
        "Reddi, Kale & Kumar 2018: f_t = 1010x if t mod 101 = 1 else −10x on [−1, 1], "
        "β1 = 0.9, β2 = 0.99, α_t = α/√t",
        fontsize=9,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="center left")
    return _png(fig)


def speed(result: br.BenchResult) -> bytes | None:
    s = result.speed
    if s is None or not s.rows:
        return None
    families = list(dict.fromkeys(r.optimizer for r in s.rows))
    impls = list(dict.fromkeys(r.implementation for r in s.rows))
    fig = Figure(figsize=(3.6 * len(families), 6.0), layout="constrained")
    axes = fig.subplots(2, len(families), squeeze=False)
    for j, fam in enumerate(families):
        for i_impl, impl in enumerate(impls):
            rows = sorted(
                (
                    r
                    for r in s.rows
                    if r.optimizer == fam
                    and r.implementation == impl
                    and r.time_per_step is not None
                ),
                key=lambda r: r.size,
            )
            if not rows:
                continue
            sizes = [r.size for r in rows]
            kw = {"color": f"C{i_impl}", "marker": "o", "markersize": 3, "label": impl}
            axes[0][j].plot(sizes, [r.time_per_step for r in rows], **kw)
            axes[1][j].plot(sizes, [100 * r.bandwidth_fraction for r in rows], **kw)
        axes[0][j].set_title(bench_tables.line_label(fam, s.hp.get(fam, {})), fontsize=8, wrap=True)
        for ax in (axes[0][j], axes[1][j]):
            ax.set_xscale("log")
            ax.grid(True, alpha=0.3)
            ax.tick_params(labelsize=8)
        axes[0][j].set_yscale("log")
        axes[0][j].set_ylabel("seconds per step", fontsize=8)
        axes[1][j].set_ylabel("% of measured bandwidth", fontsize=8)
        axes[1][j].set_xlabel("parameters", fontsize=8)
    _legend(fig, axes.ravel().tolist())
    return _png(fig)


FIGURES = {
    "loss_curves": loss_curves,
    "profiles": profiles,
    "lr_schedules": lr_schedules,
    "schedule_study": schedule_study,
    "theory": theory,
    "reddi": reddi,
    "speed": speed,
}


def figures(result: br.BenchResult) -> dict[str, bytes]:
    out = {}
    for name, fn in FIGURES.items():
        png = fn(result)
        if png is not None:
            out[name] = png
    return out
