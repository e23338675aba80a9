"""The report's tables as plain data, shared by the Markdown and HTML renderers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optcheck.reports import bench_result as br
from optcheck.reports.compare import Comparison


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    # Per row: None, "best", "bad", "good", "warn" (the HTML colours them, Markdown marks them).
    marks: list[str | None] = field(default_factory=list)

    def add(self, row: list[str], mark: str | None = None) -> None:
        self.rows.append(row)
        self.marks.append(mark)


def sci(v: float | None, digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.{digits}e}"


def pow10(i: br.Interval) -> str:
    """A log10 interval shown as the geometric mean and its interval."""
    if i.estimate is None:
        return "n/a"
    if i.low is None or i.high is None or i.low == i.high:
        return f"{10**i.estimate:.2e}"
    return f"{10**i.estimate:.2e} [{10**i.low:.1e}, {10**i.high:.1e}]"


def plain(i: br.Interval, scale: float = 1.0, fmt: str = ".0f") -> str:
    if i.estimate is None:
        return "—"
    est = format(i.estimate * scale, fmt)
    if i.low is None or i.high is None or i.low == i.high:
        return est
    return f"{est} [{format(i.low * scale, fmt)}, {format(i.high * scale, fmt)}]"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def summary(result: br.BenchResult) -> list[tuple[str, str]]:
    c, m = result.config, result.machine
    steps = c.get("steps", {})
    budgets = ", ".join(f"{k} {v}" for k, v in sorted(steps.items()))
    grid = c.get("lr_grid", [])
    checks = []
    if result.problems:
        ok = sum(p.check_ok for p in result.problems)
        checks.append(f"f* confirmed independently {ok}/{len(result.problems)}")
    if result.theory:
        ok = sum(r.ok for r in result.theory)
        checks.append(f"theory rates within 1 % {ok}/{len(result.theory)}")
    if result.reddi:
        ok = sum(r.ok for r in result.reddi)
        checks.append(f"Reddi et al. reproduced {ok}/{len(result.reddi)}")
    return [
        ("Created", f"{result.created} (schema {result.schema} v{result.schema_version})"),
        (
            "Duration",
            f"{result.duration_s:.0f} s on "
            + (c.get("executor") or f"{c.get('jobs')} worker processes")
            + (" — quick mode" if c.get("quick") else ""),
        ),
        (
            "Machine",
            f"{m.get('processor')}, {m.get('cpu_count')} CPUs; {m.get('platform')}; "
            f"torch {m.get('torch')}, numpy {m.get('numpy')}, scipy {m.get('scipy')}"
            + (f"; CUDA {m['cuda']}" if m.get("cuda") else ""),
        ),
        ("Seeds", f"evaluation {c.get('seeds')}, lr tuned on seed {c.get('tuning_seed')}"),
        (
            "lr grid",
            f"{len(grid)} values, {sci(min(grid, default=None), 0)} … "
            f"{sci(max(grid, default=None), 1)} (log-spaced), same for every optimizer",
        ),
        (
            "Target",
            f"f − f* ≤ τ (f(x0) − f*), τ = {c.get('tau')}; steps and time to target "
            "are to the step from which the run stays below it to the end of the budget "
            "(AlgoPerf's rule), not to its first crossing; suboptimality floored at "
            f"{c.get('floor')} relative for statistics and tuning",
        ),
        ("Budgets (steps)", budgets),
        ("Checks", "; ".join(checks) or "none run"),
    ]


def keywords(hp: dict) -> str:
    """Every keyword of an optimizer line, as Python would spell the call."""
    return ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in hp.items())


def line_label(name: str, hp: dict) -> str:
    """An optimizer's name with every keyword it ran with (lr aside: it is tuned)."""
    return f"{name} ({keywords(hp)})" if hp else name


def cell_label(c: br.Cell) -> str:
    """``line_label``, and for a --target that fails optcheck validate, a mark saying so."""
    label = line_label(c.optimizer, c.hp)
    return f"{label} ⚠ fails optcheck validate" if c.fails_validation else label


def comparison_table(cmp: Comparison) -> Table:
    t = Table(["", "What", "Item", "Before", "Now", "Why"])
    marks = {"regression": "bad", "warning": "warn", "improvement": "good", "note": None}
    for c in cmp.changes:
        t.add([c.severity, c.kind, c.item, c.old, c.new, c.message], marks[c.severity])
    return t


def problems_table(result: br.BenchResult) -> Table:
    t = Table(
        [
            "Problem",
            "Description",
            "d",
            "Steps",
            "Gradients",
            "f* (seed 0)",
            "f* from",
            "Independent check",
            "Check − f*",
            "Tolerance",
            "",
        ]
    )
    for p in result.problems:
        grads = "stochastic" if p.stochastic else "exact"
        t.add(
            [
                p.name,
                p.title + (f" — {p.notes}" if p.notes else ""),
                str(p.dim),
                str(p.steps),
                grads,
                f"{p.f_star:.12g}",
                p.f_star_method,
                p.check_method,
                sci(p.check_error),
                sci(p.check_tolerance, 0),
                "✓" if p.check_ok else "✗",
            ],
            None if p.check_ok else "bad",
        )
    return t


def convergence_tables(cells: list[br.Cell], with_schedule: bool = False) -> dict[str, Table]:
    """One table per problem, rows in the order given; the best geometric mean is marked."""
    out: dict[str, Table] = {}
    groups: dict[str, list[br.Cell]] = {}
    for c in cells:
        groups.setdefault(c.problem, []).append(c)
    for problem, group in groups.items():
        t = Table(
            (["Schedule"] if with_schedule else [])
            + [
                "Optimizer",
                "Tuned lr",
                "Final (f−f*)/(f0−f*): geo-mean [95 % CI]",
                "Reached",
                "Steps to target [95 % CI]",
                "Wall time per run [95 % CI]",
                "Notes",
            ]
        )
        finite = [
            c.log10_subopt.estimate
            for c in group
            if c.log10_subopt.estimate is not None and not c.fails_validation
        ]
        best = min(finite) if finite else None
        for c in group:
            notes = []
            if c.validation:
                notes.append(c.validation)
            if c.error:
                notes.append(c.error)
            if c.at_grid_edge:
                notes.append("lr at grid edge")
            if c.replicated:
                notes.append("deterministic: one run for all seeds")
            div = sum(r.diverged for r in c.runs)
            if div:
                notes.append(f"{div} seed(s) diverged")
            wall = c.wall_time
            row = ([c.schedule] if with_schedule else []) + [
                cell_label(c),
                sci(c.lr, 1) if c.lr is not None else "—",
                pow10(c.log10_subopt),
                f"{c.reached:.0%}",
                plain(c.steps_to_target),
                plain(wall, 1e3, ".1f") + " ms" if wall.estimate is not None else "—",
                "; ".join(notes),
            ]
            est = c.log10_subopt.estimate
            mark = "bad" if c.error or c.fails_validation else None  # never "best"
            if mark is None and best is not None and est is not None and est <= best + 1e-9:
                mark = "best"
            t.add(row, mark)
        out[problem] = t
    return out


def main_cells(result: br.BenchResult) -> list[br.Cell]:
    return [
        c
        for c in result.cells
        if c.schedule == "constant" and c.problem in result.config.get("problems", [])
    ]


def schedule_cells(result: br.BenchResult) -> list[br.Cell]:
    probs = result.config.get("schedule_problems", [])
    opts = result.config.get("schedule_optimizers", [])
    order = {s: i for i, s in enumerate(result.config.get("schedules", []))}
    chosen = [
        c
        for c in result.cells
        if c.problem in probs and c.optimizer in opts and c.schedule in order
    ]
    return sorted(
        chosen, key=lambda c: (probs.index(c.problem), opts.index(c.optimizer), order[c.schedule])
    )


def schedules_table(result: br.BenchResult) -> Table:
    t = Table(["Schedule", "torch", "Parameters", "Closed form", "max |torch − closed form| / lr"])
    for s in result.schedules:
        params = ", ".join(f"{k}={v}" for k, v in s.params.items()) or "—"
        t.add([s.name, s.torch_class, params, s.closed_form_source, sci(s.max_rel_diff, 1)])
    return t


def theory_table(result: br.BenchResult) -> Table:
    t = Table(
        [
            "Problem",
            "Method",
            "Implementation",
            "lr",
            "Momentum",
            "Theory",
            "Theory rate",
            "Measured rate",
            "Relative error",
            "Fit window",
            "",
        ]
    )
    for r in result.theory:
        t.add(
            [
                r.problem,
                r.method,
                r.implementation,
                f"{r.lr:.6g}",
                f"{r.momentum:.6g}",
                r.formula,
                f"{r.theory_rate:.6f}",
                f"{r.measured_rate:.6f}" if r.measured_rate is not None else "n/a",
                f"{100 * r.rel_error:+.3f} %" if r.rel_error is not None else "n/a",
                f"t = {r.window[0]}…{r.window[1]}",
                "✓" if r.ok else "✗",
            ],
            None if r.ok else "bad",
        )
    return t


def reddi_table(result: br.BenchResult) -> Table:
    t = Table(["Optimizer", "α (α_t = α/√t)", "Steps", "x0", "Final x", "Expected", "R_T / T", ""])
    for r in result.reddi:
        t.add(
            [
                line_label(r.optimizer, r.hp),
                f"{r.alpha:g}",
                str(r.steps),
                f"{r.x0:g}",
                f"{r.final_x:+.4f}" if r.final_x is not None else "n/a",
                f"{r.expected:+g}",
                f"{r.avg_regret:.4f}" if r.avg_regret is not None else "n/a",
                "✓" if r.ok else "✗",
            ],
            None if r.ok else "bad",
        )
    return t


def speed_table(result: br.BenchResult) -> Table | None:
    s = result.speed
    if s is None:
        return None
    impls = list(dict.fromkeys(r.implementation for r in s.rows))
    t = Table(["Optimizer", "Parameters"] + [f"{i} (time · % of bandwidth)" for i in impls])
    keyed = {(r.optimizer, r.size, r.implementation): r for r in s.rows}
    for opt in dict.fromkeys(r.optimizer for r in s.rows):
        for size in sorted({r.size for r in s.rows if r.optimizer == opt}):
            row = [line_label(opt, s.hp.get(opt, {})), f"{size:.0e}"]
            for impl in impls:
                r = keyed.get((opt, size, impl))
                if r is None:
                    row.append("—")
                elif r.time_per_step is None:
                    row.append(f"n/a ({r.error})")
                else:
                    row.append(f"{duration(r.time_per_step)} · {100 * r.bandwidth_fraction:.1f} %")
            t.add(row)
    return t


def crossval_table(result: br.BenchResult) -> Table:
    impls = list(dict.fromkeys(r.implementation for r in result.crossval))
    t = Table(
        ["Optimizer", "dtype", "Steps"]
        + [f"{i}: max |ref − torch| / displacement (÷ tolerance)" for i in impls]
        + [""]
    )
    keyed = {(r.optimizer, r.dtype, r.implementation): r for r in result.crossval}
    for opt, dtype in dict.fromkeys((r.optimizer, r.dtype) for r in result.crossval):
        rows = [keyed.get((opt, dtype, i)) for i in impls]
        cells = []
        for r in rows:
            if r is None:
                cells.append("—")
            elif r.error is not None:
                cells.append(f"n/a ({r.error})")
            else:
                cells.append(f"{sci(r.max_error)} ({r.bound:.2f})")
        ran = [r for r in rows if r is not None and r.error is None]
        ok = all(r.ok for r in ran)
        steps = str(ran[0].steps) if ran else "—"
        label = line_label(opt, next((r.hp for r in rows if r is not None), {}))
        t.add([label, dtype, steps, *cells, "✓" if ok else "✗"], None if ok else "bad")
    return t
