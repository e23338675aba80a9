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


# The floor when a result does not state its own (suites.bench.FLOOR writes config["floor"]):
# figures and tables both read ``floor(result)``, so they clip at the same value.
DEFAULT_FLOOR = 1e-12
# Two curves closer than this in log10 on every drawn point look like one line.
COINCIDE_DECADES = 0.01


def floor(result: br.BenchResult) -> float:
    return float(result.config.get("floor") or DEFAULT_FLOOR)


@dataclass(frozen=True)
class Agreement:
    """A float64 reference line against its torch counterpart on one problem."""

    torch_name: str
    gap: float | None  # max over seeds |Δ final relative suboptimality|; None: not comparable
    coincide: bool  # same lr and every drawn point within COINCIDE_DECADES

    def text(self) -> str:
        return (
            f"reference agrees to {sci(self.gap, 1)}"
            if self.coincide
            else (f"reference differs (max |Δ| {sci(self.gap, 1)})")
        )


def reference_agreement(
    cells: list[br.Cell], floor_value: float
) -> dict[tuple[str, str], Agreement]:
    """(problem, ref:X) -> how ref:X compares with torch:X under the same schedule, for
    every reference cell that has a torch counterpart: a coinciding pair is shown as this
    result (one line, one row) instead of twice."""
    by_key = {(c.problem, c.optimizer, c.schedule): c for c in cells}
    out = {}
    for c in cells:
        kind, _, fam = c.optimizer.partition(":")
        twin = by_key.get((c.problem, f"torch:{fam}", c.schedule))
        if kind != "ref" or twin is None:
            continue
        pairs = [
            (a.rel_subopt, b.rel_subopt)
            for a, b in zip(c.runs, twin.runs, strict=False)
            if a.seed == b.seed and a.rel_subopt is not None and b.rel_subopt is not None
        ]
        gap = max((abs(a - b) for a, b in pairs), default=None)
        logs = [
            (math.log10(max(a, floor_value)), math.log10(max(b, floor_value)))
            for a, b in zip(c.curve.median, twin.curve.median, strict=False)
            if a is not None and b is not None
        ]
        coincide = (
            c.lr == twin.lr
            and gap is not None
            and len(logs) == len(c.curve.median)
            and all(abs(a - b) <= COINCIDE_DECADES for a, b in logs)
        )
        out[(c.problem, c.optimizer)] = Agreement(twin.optimizer, gap, coincide)
    return out


def shown_cells(cells: list[br.Cell], floor_value: float) -> list[br.Cell]:
    """The cells drawn and tabled: a reference that coincides with torch is left out (its
    agreement is stated on the torch line)."""
    agree = reference_agreement(cells, floor_value)
    return [
        c
        for c in cells
        if not (agree.get((c.problem, c.optimizer)) and agree[(c.problem, c.optimizer)].coincide)
    ]


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


def cell_label(c: br.Cell | br.WorkloadCell) -> str:
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


def best_key(c: br.Cell) -> tuple[float, float]:
    """What "best" ranks by: the floored geometric mean (rounded off below 1e-9 decades),
    then, among ties (several at the floor), mean steps to target, as the lr tuning does."""
    est = c.log10_subopt.estimate
    steps = c.steps_to_target.estimate
    return (
        math.inf if est is None else round(est, 9),
        math.inf if steps is None else steps,
    )


def convergence_tables(
    cells: list[br.Cell], with_schedule: bool = False, floor_value: float = DEFAULT_FLOOR
) -> dict[str, Table]:
    """One table per problem, rows in the order given; the best is marked (``best_key``); a
    reference that coincides with torch is a note on torch's row, not a row of its own."""
    out: dict[str, Table] = {}
    groups: dict[str, list[br.Cell]] = {}
    agree = reference_agreement(cells, floor_value)
    on_torch = {
        (p, a.torch_name, next(c.schedule for c in cells if (c.problem, c.optimizer) == (p, r))): a
        for (p, r), a in agree.items()
    }
    for c in shown_cells(cells, floor_value):
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
        eligible = [
            best_key(c)
            for c in group
            if c.log10_subopt.estimate is not None and not c.fails_validation and not c.error
        ]
        best = min(eligible) if eligible else None
        for c in group:
            notes = []
            if (c.problem, c.optimizer, c.schedule) in on_torch:
                notes.append(on_torch[(c.problem, c.optimizer, c.schedule)].text())
            elif (c.problem, c.optimizer) in agree:
                notes.append(agree[(c.problem, c.optimizer)].text())
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
            mark = "bad" if c.error or c.fails_validation else None  # never "best"
            if mark is None and best is not None and best_key(c) == best:
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


def speed_explanation(s: br.SpeedSection) -> str:
    """What the step-time numbers mean, said once for the HTML and the Markdown."""
    llc = f"{s.llc_bytes / 2**20:.0f} MiB" if s.llc_bytes else "not known"
    return (
        f"Last-level cache {llc} (read from the machine). A fraction of bandwidth is shown "
        f"only where the step's working set (params, grads, state) is ≥ {br.CACHE_MULTIPLE} × "
        "the LLC, so the arrays stream from memory; smaller rows give time alone (they run "
        "from cache). Two fractions: ideal bytes (a single pass: "
        + "; ".join(f"{k}: {v}" for k, v in s.byte_counts.items())
        + ") and the bytes this implementation's kernels move (counted per aten op in one "
        "step). Model rows step the parameter list of a real network (many tensors of mixed "
        "shapes). The reference is float64 NumPy on the CPU."
    )


def speed_table(result: br.BenchResult) -> Table | None:
    s = result.speed
    if s is None:
        return None
    impls = list(dict.fromkeys(r.implementation for r in s.rows))
    t = Table(
        ["Optimizer", "Parameters"] + [f"{i}: time · % of bandwidth, ideal / moved" for i in impls]
    )
    keyed = {(r.optimizer, r.layout, r.size, r.implementation): r for r in s.rows}
    for opt in dict.fromkeys(r.optimizer for r in s.rows):
        shapes = dict.fromkeys((r.layout, r.size) for r in s.rows if r.optimizer == opt)
        order = sorted(shapes, key=lambda k: (k[0] != "tensor", k[0], k[1]))
        for layout, size in order:
            tensors = next(
                r.tensors for r in s.rows if (r.optimizer, r.layout, r.size) == (opt, layout, size)
            )
            where = (
                f"{size:.2g}"
                if layout == "tensor"
                else f"{layout}: {size:.3g} in {tensors} tensors"
            )
            row = [line_label(opt, s.hp.get(opt, {})), where]
            for impl in impls:
                r = keyed.get((opt, layout, size, impl))
                if r is None:
                    row.append("—")
                elif r.time_per_step is None:
                    row.append(f"n/a ({r.error})")
                elif r.bandwidth_fraction is None:
                    row.append(f"{duration(r.time_per_step)} · in cache")
                else:
                    moved = (
                        f" / {100 * r.moved_fraction:.0f} %" if r.moved_fraction is not None else ""
                    )
                    row.append(
                        f"{duration(r.time_per_step)} · {100 * r.bandwidth_fraction:.0f} %{moved}"
                    )
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


# ---------------------------------------------------------------------------------------------
# Real workloads


def workloads_table(result: br.BenchResult) -> Table:
    t = Table(
        ["Workload", "Model", "Data", "Train / val / test", "Parameters", "Steps × batch",
         "Held-out metric", "Target", "Target chosen from", "Data sha256"]
    )  # fmt: skip
    for w in result.workloads:
        t.add(
            [
                w.name,
                w.title,
                w.data + (f" — {w.notes}" if w.notes else ""),
                f"{w.n_train} / {w.n_val} / {w.n_test}",
                str(w.parameters),
                f"{w.steps} × {w.batch} (evaluated every {w.eval_every})",
                w.metric,
                f"≤ {w.target:g}",
                w.target_note,
                w.data_sha256[:16] + "…",
            ]
        )
    return t


def _metric(i: br.Interval, digits: int = 4) -> str:
    return plain(i, 1.0, f".{digits}f")


def _mark_best(cells: list[br.WorkloadCell], key: object) -> dict[int, str | None]:  # index -> mark
    """ "bad" for failed cells and --targets failing validation (never best); "best" for the
    lowest key among the rest."""
    marks: dict[int, str | None] = {}
    ranked = []
    for i, c in enumerate(cells):
        if c.error or c.fails_validation:
            marks[i] = "bad"
        else:
            marks[i] = None
            k = key(c)  # type: ignore[operator]
            if k is not None:
                ranked.append((k, i))
    if ranked:
        best = min(k for k, _ in ranked)
        for k, i in ranked:
            if k == best:
                marks[i] = "best"
    return marks


def _by_workload(result: br.BenchResult) -> dict[str, list[br.WorkloadCell]]:
    groups: dict[str, list[br.WorkloadCell]] = {}
    for c in result.workload_cells:
        groups.setdefault(c.workload, []).append(c)
    return groups


def workload_tables(result: br.BenchResult) -> dict[str, Table]:
    """Per workload: tuned point, held-out metric and loss, target, state memory. Best: the
    lowest mean test metric, ties broken by mean steps to target (the protocol's order)."""
    records = {w.name: w for w in result.workloads}
    out = {}
    for name, cells in _by_workload(result).items():
        metric = records[name].metric if name in records else "metric"
        t = Table(
            ["Optimizer (every keyword; weight_decay tuned where a grid is shown)", "Tuned lr",
             f"Test {metric} [95 % CI]", "Test loss (nats) [95 % CI]", "Reached",
             "Steps to target [95 % CI]", "Time to target (s) [95 % CI]",
             "State bytes / parameter", "Notes"]
        )  # fmt: skip

        def key(c: br.WorkloadCell) -> tuple[float, float] | None:
            if c.test_metric.estimate is None:
                return None
            steps = c.steps_to_target.estimate
            return (round(c.test_metric.estimate, 9), math.inf if steps is None else steps)

        marks = _mark_best(cells, key)
        for i, c in enumerate(cells):
            notes = [n for n in (c.validation, c.error) if n]
            if c.at_grid_edge:
                notes.append("lr at grid edge")
            div = sum(r.diverged for r in c.runs)
            if div:
                notes.append(f"{div} seed(s) diverged")
            t.add(
                [
                    cell_label(c),
                    sci(c.lr, 1) if c.lr is not None else "—",
                    _metric(c.test_metric),
                    _metric(c.test_loss, 3),
                    f"{c.reached:.0%}",
                    plain(c.steps_to_target),
                    plain(c.time_to_target, 1.0, ".2f"),
                    f"{c.state_bytes / max(c.parameters, 1):.2f}" if c.parameters else "—",
                    "; ".join(notes),
                ],
                marks[i],
            )
        out[name] = t
    return out


def sensitivity_table(result: br.BenchResult) -> Table:
    """Final validation metric on the tuning seed at every grid lr (for a tuned weight decay,
    the best over it): the numbers behind the lr-sensitivity figure."""
    lrs = sorted({g.lr for c in result.workload_cells for g in c.grid})
    t = Table(["Workload", "Optimizer"] + [f"lr {v:.0e}" for v in lrs])
    for c in result.workload_cells:
        best: dict[float, float | None] = {}
        for g in c.grid:
            old = best.get(g.lr)
            if g.val_metric is not None and (old is None or g.val_metric < old):
                best[g.lr] = g.val_metric
            else:
                best.setdefault(g.lr, None)
        label = cell_label(c)
        if c.weight_decay is not None:
            label += " — at each lr the best of the weight-decay grid"
        row = [c.workload, label]
        row += ["—" if lr not in best else "diverged" if best[lr] is None else f"{best[lr]:.4f}"
                for lr in lrs]  # fmt: skip
        t.add(row, "bad" if c.error or c.fails_validation else None)
    return t


def memory_table(result: br.BenchResult) -> Table:
    """Optimizer state measured from the state dict after the run, per model parameter."""
    names = [w.name for w in result.workloads] or list(_by_workload(result))
    t = Table(["Optimizer"] + [f"{n} (bytes / parameter · total)" for n in names])
    keyed = {(c.optimizer, c.workload): c for c in result.workload_cells}
    for opt in dict.fromkeys(c.optimizer for c in result.workload_cells):
        cells = [keyed.get((opt, n)) for n in names]
        any_cell = next(c for c in cells if c is not None)
        # The name alone: keywords (a tuned weight decay) differ per workload, see its table.
        row = [f"{opt} ⚠ fails optcheck validate" if any_cell.fails_validation else opt]
        for c in cells:
            if c is None or not c.parameters:
                row.append("—")
            else:
                row.append(f"{c.state_bytes / c.parameters:.2f} · {c.state_bytes} B")
        t.add(row, "bad" if any_cell.fails_validation else None)
    return t
