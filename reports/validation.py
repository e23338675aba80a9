"""Render a validation Report for people: terminal table, Markdown and a self-contained HTML page.

Reads only the result model (optcheck.checks.result), so a saved JSON renders the same.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from optcheck.checks.result import CheckResult, Report

LABELS = {
    "pass": "pass",
    "violation": "VIOLATION",
    "known": "known",
    "skip": "skipped",
    "error": "ERROR",
}


def summary(report: Report) -> str:
    c = report.counts
    parts = [f"{c['pass']} passed", f"{c['violation']} violations", f"{c['skip']} skipped"]
    if c["known"]:
        parts.append(f"{c['known']} known torch findings")
    if c["error"]:
        parts.append(f"{c['error']} errors")
    like = f" (like {report.like})" if report.like else " (generic contract)"
    return f"{report.target}{like}: {report.verdict} — {', '.join(parts)} in {report.seconds:.1f} s"


def _fmt(value: object, limit: int = 160) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _evidence_lines(r: CheckResult) -> list[str]:
    e = r.evidence
    if e is None:
        return []
    lines = []
    if e.step is not None:
        lines.append(f"step: {e.step}")
    if e.expected is not None or e.got is not None:
        lines.append(f"expected: {_fmt(e.expected)}")
        lines.append(f"got:      {_fmt(e.got)}")
    if e.error_in_tol is not None:
        tol = f" (tolerance {e.tolerance:.3g})" if e.tolerance is not None else ""
        lines.append(f"error: {e.error_in_tol:.3g} × tolerance{tol}")
    if e.case:
        lines.append(f"minimal case: {_fmt(e.case, 400)}")
    return lines


def detailed(report: Report) -> list[CheckResult]:
    """Results whose evidence is shown in full: violations, errors and known findings."""
    return [r for r in report.results if r.failed or r.verdict == "known"]


def terminal(report: Report, width: int | None = None) -> str:
    width = width or shutil.get_terminal_size((120, 20)).columns
    id_w = max([len(r.id) for r in report.results] + [5])
    out = [f"optcheck validate {report.target}" + (f" --like {report.like}" if report.like else "")]
    out += [f"note: {n}" for n in report.notes]
    out.append("")
    for r in report.results:
        head = f"{LABELS[r.verdict]:<9}  {r.id:<{id_w}}  "
        room = max(width - len(head), 20)
        detail = r.detail if len(r.detail) <= room else r.detail[: room - 1] + "…"
        out.append(head + detail)
    for r in detailed(report):
        out += ["", f"── {r.id}: {r.title}", f"   {r.detail}"]
        out += [f"   {line}" for line in _evidence_lines(r)]
        if r.evidence and r.evidence.snippet:
            out += ["   reproduce (python):"]
            out += [f"     {line}" for line in r.evidence.snippet.rstrip().splitlines()]
    if report.matches:
        out += ["", "behaves like: " + "; ".join(report.matches)]
    out += ["", summary(report)]
    return "\n".join(out) + "\n"


def markdown(report: Report) -> str:
    out = [f"# optcheck validation: `{report.target}`", "", f"**{summary(report)}**", ""]
    if report.matches:
        out += ["Behaves like: " + "; ".join(f"`{m}`" for m in report.matches), ""]
    out += [f"Note: {n}" for n in report.notes] + ([""] if report.notes else [])
    out += ["| check | verdict | evidence |", "| --- | --- | --- |"]
    for r in report.results:
        detail = r.detail.replace("|", "\\|")
        out.append(f"| `{r.id}` | {LABELS[r.verdict]} | {detail} |")
    for r in detailed(report):
        out += ["", f"## {r.id}: {r.title}", "", r.detail, ""]
        out += [f"- {line}" for line in _evidence_lines(r)]
        if r.evidence and r.evidence.snippet:
            out += ["", "```python", r.evidence.snippet.rstrip(), "```"]
    env = ", ".join(f"{k} {v}" for k, v in report.environment.items())
    out += [
        "",
        f"Settings: `{json.dumps(report.settings, default=repr)}`",
        "",
        f"Environment: {env}",
        "",
    ]
    return "\n".join(out)


_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}code,pre{font-family:ui-monospace,monospace;font-size:12.5px}
pre{background:#f6f6f6;padding:10px;overflow-x:auto}.pass{color:#17702b}.violation,.error
{color:#b00020;font-weight:600}.known{color:#a05a00}.skip{color:#777}.banner{padding:10px;border-radius:4px}
.ok{background:#e7f5ea}.bad{background:#fbe9eb}
"""


def html_page(report: Report) -> str:
    e = html.escape
    rows = "\n".join(
        f"<tr><td><code>{e(r.id)}</code></td><td class='{r.verdict}'>{LABELS[r.verdict]}</td>"
        f"<td>{e(r.detail)}</td><td>{r.seconds:.2f} s</td></tr>"
        for r in report.results
    )
    details = []
    for r in detailed(report):
        items = "".join(f"<li>{e(line)}</li>" for line in _evidence_lines(r))
        snippet = (
            f"<p>Reproduce:</p><pre>{e(r.evidence.snippet)}</pre>"
            if r.evidence and r.evidence.snippet
            else ""
        )
        details.append(
            f"<h3 id='{e(r.id)}'><code>{e(r.id)}</code> — {e(r.title)}</h3>"
            f"<p>{e(r.detail)}</p><ul>{items}</ul>{snippet}"
        )
    matches = (
        f"<p>Behaves like: {'; '.join(f'<code>{e(m)}</code>' for m in report.matches)}</p>"
        if report.matches
        else ""
    )
    matches += "".join(f"<p>Note: {e(n)}</p>" for n in report.notes)
    env = ", ".join(f"{e(k)} {e(v)}" for k, v in report.environment.items())
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>optcheck: {e(report.target)}</title><style>{_CSS}</style></head><body>
<h1>optcheck validation: <code>{e(report.target)}</code></h1>
<p class="banner {"ok" if report.exit_code == 0 else "bad"}">{e(summary(report))}</p>{matches}
<table><tr><th>check</th><th>verdict</th><th>evidence</th><th>time</th></tr>{rows}</table>
{"<h2>Evidence</h2>" if details else ""}{"".join(details)}
<p><small>Settings: <code>{e(json.dumps(report.settings, default=repr))}</code><br>
Environment: {env}</small></p></body></html>
"""


def write(
    report: Report, *, json_path: Path | None = None, report_dir: Path | None = None
) -> list[Path]:
    """Write the requested files atomically; returns what was written."""
    from optcheck.reports.io import write_atomic

    written = []
    if json_path is not None:
        write_atomic(json_path, report.to_json())
        written.append(json_path)
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        for name, text in (
            ("validation.md", markdown(report)),
            ("validation.html", html_page(report)),
        ):
            write_atomic(report_dir / name, text)
            written.append(report_dir / name)
    return written
