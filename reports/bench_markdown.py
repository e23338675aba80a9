"""The benchmark report as Markdown; figures are SVG files next to it (``image_dir``)."""

from __future__ import annotations

from optcheck.reports import bench_result as br
from optcheck.reports import bench_tables as bt
from optcheck.reports import escape, workload_report
from optcheck.reports import figure_style as fs
from optcheck.reports.compare import Comparison

_MARK = {"bad": "❌ ", "best": "**", "good": "✅ ", "warn": "⚠️ "}


_cell = escape.markdown  # names and messages from --target optimizers included


def table(t: bt.Table) -> str:
    lines = [
        "| " + " | ".join(_cell(h) for h in t.headers) + " |",
        "|" + "|".join("---" for _ in t.headers) + "|",
    ]
    for row, mark in zip(t.rows, t.marks, strict=True):
        cells = [_cell(c) for c in row]
        if mark == "best":
            cells[0] = f"**{cells[0]}**"
        elif mark in _MARK:
            cells[0] = _MARK[mark] + cells[0]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_markdown(
    result: br.BenchResult,
    figures: dict[str, bytes] | None = None,
    comparison: Comparison | None = None,
    image_dir: str = "bench_files",
) -> str:
    figs = figures or {}

    def img(name: str, alt: str) -> str:
        return f"![{alt}]({image_dir}/{name}.{fs.FORMAT})\n" if name in figs else ""

    out = ["# optcheck convergence and speed benchmark", ""]
    for k, v in bt.summary(result):
        out.append(f"- **{_cell(k)}:** {_cell(v)}")
    out.append("")
    violations = result.violations()
    if violations:
        out += (
            ["**Claims that did not hold:**", ""] + [f"- ❌ {_cell(v)}" for v in violations] + [""]
        )
    if comparison is not None:
        out += [f"## Comparison with the run of {comparison.baseline}", ""]
        n = len(comparison.regressions)
        out.append(
            f"{n} regression(s), {comparison.count('warning')} warning(s), "
            f"{comparison.count('improvement')} improvement(s); compared "
            f"{comparison.summary()}.\n"
        )
        if comparison.changes:
            out += [table(bt.comparison_table(comparison)), ""]
    if result.problems:
        out += ["## Problems and their optima", "", table(bt.problems_table(result)), ""]
    main = bt.main_cells(result)
    if main:
        out += [
            "## Convergence (constant learning rate, tuned per optimizer × problem)",
            "",
            img("loss_curves", "loss curves"),
            "Median over seeds (line) and inter-quartile band; torch solid, a reference that "
            "differs from torch dashed (one that coincides is stated, not drawn twice); "
            f"relative suboptimality floored at {bt.floor(result):g} in figures and tables. "
            "Intervals: 95 % percentile bootstrap over seeds. **Bold**: best geometric mean, "
            "ties (runs at the floor) broken by steps to target.",
            "",
        ]
        for problem, t in bt.convergence_tables(main, floor_value=bt.floor(result)).items():
            out += [f"### {problem}", "", table(t), ""]
        out += ["## Performance profiles (Dolan & Moré)", "", img("profiles", "profiles"), ""]
    if result.schedules:
        out += [
            "## Learning-rate schedules",
            "",
            img("lr_schedules", "lr schedules"),
            table(bt.schedules_table(result)),
            "",
        ]
        study = bt.schedule_cells(result)
        if study:
            out += ["### Schedule study", "", img("schedule_study", "schedule study")]
            for problem, t in bt.convergence_tables(study, True, bt.floor(result)).items():
                out += [f"#### {problem}", "", table(t), ""]
    if result.theory:
        out += [
            "## Rates on the quadratics against theory",
            "",
            img("theory", "theory"),
            table(bt.theory_table(result)),
            "",
        ]
    if result.reddi:
        out += [
            "## Reddi, Kale & Kumar's counterexample",
            "",
            img("reddi", "reddi"),
            table(bt.reddi_table(result)),
            "",
        ]
    speed = bt.speed_table(result)
    if speed is not None and result.speed is not None:
        s = result.speed
        out += [
            "## Step time",
            "",
            f"Device {s.device}; bandwidth {s.bandwidth / 1e9:.1f} GB/s ({s.bandwidth_method})"
            + (
                f"; CPU {s.cpu_bandwidth / 1e9:.1f} GB/s for the reference"
                if s.cpu_bandwidth and s.device != "cpu"
                else ""
            )
            + ".",
            "",
            bt.speed_explanation(s),
            "",
            img("speed", "step time"),
            table(speed),
            "",
        ]
    if result.crossval:
        out += [
            "## Cross-validation against the references (open loop)",
            "",
            table(bt.crossval_table(result)),
            "",
        ]
    out += workload_report.markdown(result, img, table)
    if result.failures:
        out += ["## Failed tasks", ""] + [f"- {escape.markdown(f)}" for f in result.failures] + [""]
    if result.notes:
        out += ["## Notes", ""] + [f"- {_cell(n)}" for n in result.notes] + [""]
    return "\n".join(out).rstrip() + "\n"
