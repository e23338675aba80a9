"""The benchmark report as one self-contained HTML page (SVG figures inline)."""

from __future__ import annotations

import html

from optcheck.reports import bench_result as br
from optcheck.reports import bench_tables as bt
from optcheck.reports import workload_report
from optcheck.reports.compare import Comparison
from optcheck.reports.figure_style import inline_svg

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 1.5em auto;
       max-width: 1500px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr.best td { font-weight: 600; background: #eef6ff; }
tr.bad td { background: #fde2e2; color: #8a1010; font-weight: 600; }
tr.good td { background: #e3f5e1; }
tr.warn td { background: #fff3d6; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; }
dl.summary dt { font-weight: 600; }
img, figure svg { max-width: 100%; height: auto; }
figure { margin: 0.6em 0; }
.violation { color: #8a1010; font-weight: 600; }
.muted { color: #666; font-size: 0.9em; }
"""


def _table(t: bt.Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
    body = []
    for row, mark in zip(t.rows, t.marks, strict=True):
        cls = f' class="{mark}"' if mark else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(figs: dict[str, bytes], name: str, alt: str) -> str:
    """The figure inline, as vector SVG at its natural size (figure_style keeps it narrower
    than the page)."""
    if name not in figs:
        return ""
    return f'<figure role="img" aria-label="{html.escape(alt)}">{inline_svg(figs[name])}</figure>'


def render_html(
    result: br.BenchResult,
    figures: dict[str, bytes] | None = None,
    comparison: Comparison | None = None,
) -> str:
    figs = figures or {}
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>optcheck benchmark</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>optcheck convergence and speed benchmark</h1>",
        '<dl class="summary">',
    ]
    for k, v in bt.summary(result):
        parts.append(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>")
    parts.append("</dl>")
    violations = result.violations()
    if violations:
        parts.append('<p class="violation">Claims that did not hold:</p><ul>')
        parts += [f'<li class="violation">{e(v)}</li>' for v in violations]
        parts.append("</ul>")
    if comparison is not None:
        n = len(comparison.regressions)
        parts.append(f"<h2>Comparison with the run of {e(comparison.baseline)}</h2>")
        parts.append(
            f'<p class="{"violation" if n else "muted"}">{n} regression(s), '
            f"{comparison.count('warning')} warning(s), "
            f"{comparison.count('improvement')} improvement(s); compared "
            f"{e(comparison.summary())}.</p>"
        )
        if comparison.changes:
            parts.append(_table(bt.comparison_table(comparison)))
    if result.problems:
        parts += [
            "<h2>Problems and their optima</h2>",
            '<p class="muted">f* is computed as named, then re-derived independently with '
            "scipy.optimize; the tolerance is round-off plus |g|²/2μ at scipy's stop.</p>",
            _table(bt.problems_table(result)),
        ]
    main = bt.main_cells(result)
    if main:
        parts += [
            "<h2>Convergence (constant learning rate, tuned per optimizer × problem)</h2>",
            '<p class="muted">Every optimizer gets the same lr grid and step budget; the lr '
            "with the best final suboptimality on the tuning seed is run on every "
            "evaluation seed. Intervals are 95 % percentile-bootstrap intervals over seeds. "
            "Highlighted: the best geometric mean per problem, ties (runs at the floor) "
            "broken by steps to target. A float64 reference that coincides with torch is "
            "one line and one row, with the agreement stated. Figure: median over seeds (line) "
            "and inter-quartile band; torch solid, a differing reference dashed; relative "
            f"suboptimality floored at {bt.floor(result):g} in figures and tables alike.</p>",
            _img(figs, "loss_curves", "loss curves"),
        ]
        for problem, t in bt.convergence_tables(main, floor_value=bt.floor(result)).items():
            parts += [f"<h3>{e(problem)}</h3>", _table(t)]
        parts += [
            "<h2>Performance profiles (Dolan &amp; Moré 2002)</h2>",
            '<p class="muted">Fraction of problems on which an optimizer reaches the '
            "target within a factor τ of the best optimizer (median seed).</p>",
            _img(figs, "profiles", "performance profiles"),
        ]
    if result.schedules:
        parts += [
            "<h2>Learning-rate schedules</h2>",
            _img(figs, "lr_schedules", "schedules"),
            _table(bt.schedules_table(result)),
        ]
        study = bt.schedule_cells(result)
        if study:
            parts += ["<h3>Schedule study</h3>", _img(figs, "schedule_study", "schedule study")]
            tables = bt.convergence_tables(study, True, bt.floor(result))
            for problem, t in tables.items():
                parts += [f"<h4>{e(problem)}</h4>", _table(t)]
    if result.theory:
        parts += [
            "<h2>Rates on the quadratics against theory</h2>",
            '<p class="muted">Measured rate ÷ the rate theory predicts (Polyak 1964, '
            "Nesterov 2004): the slope of log|x_t − x*| fitted over the window in the table, "
            "with x* = 0 so the decay can be followed over hundreds of decades. 1 is theory; "
            "the grey band is the 1 % bound.</p>",
            _img(figs, "theory", "theory"),
            _table(bt.theory_table(result)),
        ]
    if result.reddi:
        parts += [
            "<h2>Reddi, Kale &amp; Kumar's counterexample</h2>",
            _img(figs, "reddi", "reddi"),
            _table(bt.reddi_table(result)),
        ]
    speed = bt.speed_table(result)
    if speed is not None and result.speed is not None:
        s = result.speed
        cpu = (
            f"; CPU {s.cpu_bandwidth / 1e9:.1f} GB/s for the reference"
            if s.cpu_bandwidth and s.device != "cpu"
            else ""
        )
        parts += [
            "<h2>Step time</h2>",
            f'<p class="muted">Device {e(s.device)}; bandwidth '
            f"{s.bandwidth / 1e9:.1f} GB/s ({e(s.bandwidth_method)}){e(cpu)}. "
            + e(bt.speed_explanation(s))
            + "</p>",
            _img(figs, "speed", "step time"),
            _table(speed),
        ]
    if result.crossval:
        parts += [
            "<h2>Cross-validation against the references (open loop)</h2>",
            '<p class="muted">The same seeded gradient sequence, rounded to the dtype, fed '
            "to torch.optim and to the float64 reference; error relative to the largest "
            "displacement, and in parentheses in units of the tolerance the validator's "
            "cross-validation derives (optcheck.checks.tolerance; ≤ 1 agrees).</p>",
            _table(bt.crossval_table(result)),
        ]
    parts += workload_report.html_section(result, lambda n, a: _img(figs, n, a), _table)
    if result.failures:
        parts += ["<h2>Failed tasks</h2><ul>", *(f"<li>{e(f)}</li>" for f in result.failures)]
        parts.append("</ul>")
    if result.notes:
        parts += ["<h2>Notes</h2><ul>"] + [f"<li>{e(n)}</li>" for n in result.notes] + ["</ul>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
