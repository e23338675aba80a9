"""Render a validation Report for people: terminal table, Markdown and a self-contained HTML page.

Reads only the result model (optcheck.checks.result), so a saved JSON renders the same.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
from pathlib import Path

from optcheck.checks.result import CheckResult, Evidence, Report
from optcheck.reports import escape

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


def settings_line(report: Report) -> str:
    """Every setting that shapes the verdict, as the options that set it."""
    s = report.settings
    examples = s.get("max_examples")
    profile = s.get("profile")
    shown = [f"--dtype {s.get('dtype', '?')}", f"--device {s.get('device', '?')}"]
    if profile:
        shown.append(
            f"--profile {profile}" + (f" ({examples} examples per check)" if examples else "")
        )
    elif examples:
        shown.append(f"--max-examples {examples}")
    shown.append(f"--seed {s.get('seed', '?')}")
    timeout = s.get("timeout")
    shown.append(
        f"--timeout {timeout:g} s" if isinstance(timeout, (int, float)) else "no --timeout"
    )
    if s.get("warmup"):
        shown.append(f"--warmup {s['warmup']:g} s")
    hp = s.get("hp") or {}
    items = hp.items() if isinstance(hp, dict) else (str(h).partition("=")[::2] for h in hp)
    shown.append(" ".join(f"--hp {k}={_short(v)}" for k, v in items) or "no --hp")
    shapes = s.get("shapes") or (
        ",".join(s["kinds"]) or "plain" if s.get("kinds") is not None else None
    )
    if shapes:
        shown.append(f"--shapes {shapes}")
    select = s.get("select") or []
    shown.append(" ".join(f"--select {x}" for x in select) or "every check (no --select)")
    return "settings: " + ", ".join(shown)


def _fmt(value: object, limit: int = 160) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: object) -> str:
    """A value in brief: numbers to 4 significant digits, containers element-wise."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_short(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


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


# --- the short report: one line per failure, grouped by cause ------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|\binf\b|\bnan\b", re.I)
_OFF_BY = re.compile(r";\s*off by [^;]*× tolerance.*$")


def cause(r: CheckResult) -> tuple[str, str]:
    """What a failure's root cause is taken to be: its check family (``crossval`` of
    ``crossval.trajectory``) and the shape of its message, numbers left out."""
    return r.id.partition(".")[0], _NUMBER.sub("#", r.detail)


def group_by_cause(results: list[CheckResult]) -> list[list[CheckResult]]:
    groups: dict[tuple[str, str], list[CheckResult]] = {}
    for r in results:
        groups.setdefault(cause(r), []).append(r)
    return list(groups.values())


def _flat(value: object) -> list[float]:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


def how_far(e: Evidence) -> str:
    """How far off, in brief, at the worst element: the target's step against the
    reference's when the evidence has the parameter's start ("moved 1.41× the reference's
    step"),
    else what it gave against what was expected; and the error in tolerances."""
    got, expected = _flat(e.got), _flat(e.expected)
    start = _flat(e.start) if e.start is not None else []
    stepped = len(start) == len(got)
    if not stepped:
        start = [0.0] * len(got)
    parts = []
    if got and len(got) == len(expected):
        pairs = [
            (g, x, b) for g, x, b in zip(got, expected, start, strict=True) if math.isfinite(g - x)
        ]
        if pairs:
            g, x, b = max(pairs, key=lambda p: abs(p[0] - p[1]))
            what = "moved {:.3g}× the reference's step" if stepped else "{:.3g}× the expected value"
            if x != b and (g - b) / (x - b) > 0:
                parts.append(what.format((g - b) / (x - b)))
            else:
                parts.append(f"got {g:.6g}, expected {x:.6g}")
        else:
            parts.append("non-finite output")
    if e.error_in_tol is not None:
        parts.append(f"{e.error_in_tol:.2g} × tolerance")
    step = f"step {e.step}: " if e.step is not None else ""
    return step + ", ".join(parts) if parts else ""


def brief_case(case: object) -> str:
    """The shrunk case in brief: its hyper-parameters, tensor shapes and number of steps."""
    if not isinstance(case, dict):
        return ""
    runs = case.get("runs")
    base = runs[0] if isinstance(runs, list) and runs and isinstance(runs[0], dict) else case
    parts = []
    hp = base.get("hp")
    if isinstance(hp, dict):
        parts += [f"{k}={_short(v)}" for k, v in hp.items() if v is not False and v is not None]
    if runs is base or runs is None:
        extra = {}
    else:
        extra = {k: v for k, v in case.items() if k != "runs"}
    parts += [f"{k}={_short(v)}" for k, v in extra.items() if isinstance(v, (int, float, str))]
    shapes = base.get("shapes")
    if isinstance(shapes, list):
        shown = " ".join(_short(list(s)) if isinstance(s, list) else str(s) for s in shapes)
        parts.append(f"{len(shapes)} tensor{'s' if len(shapes) != 1 else ''} {shown}")
    steps = base.get("steps")
    if not isinstance(steps, int) and isinstance(base.get("grads"), list):
        steps = len(base["grads"])
    if isinstance(steps, int):
        parts.append(f"{steps} step{'s' if steps != 1 else ''}")
    return ", ".join(parts)


def _line(r: CheckResult, id_w: int, with_detail: bool) -> str:
    e = r.evidence
    brief = []
    if e is not None and not with_detail:
        brief = [how_far(e), f"case {brief_case(e.case)}" if brief_case(e.case) else ""]
    text = " · ".join(x for x in brief if x) or r.detail
    return f"{LABELS[r.verdict]:<9}  {r.id:<{id_w}}  {text}"


def _numeric(r: CheckResult) -> bool:
    return r.evidence is not None and r.evidence.got is not None


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def variants_line(report: Report) -> str | None:
    """What the variant matcher found; it is asked when a trajectory comparison failed
    with a case, and says so when no named variant matches either."""
    if report.matches:
        return "behaves like: " + "; ".join(report.matches)
    asked = any(r.id.startswith("crossval.") and r.failed and _numeric(r) for r in report.results)
    if asked and report.like:
        return (
            f"behaves like: no named variant of {report.like.partition(':')[0]} "
            "(the trajectory matches none of the formulas optcheck knows)"
        )
    return None


def terminal(
    report: Report,
    width: int | None = None,
    *,
    verbose: bool = False,
    evidence_at: str | None = None,
) -> str:
    """The terminal report. Short by default: one line per failure (check, how far off, the
    shrunk case), grouped by cause; ``verbose`` adds every check and the full evidence with
    reproduction snippets. The target's strings are escaped (no terminal control)."""
    t = escape.terminal
    width = width or shutil.get_terminal_size((120, 20)).columns
    id_w = max([len(r.id) for r in report.results] + [5])
    out = [
        t(f"optcheck validate {report.target}" + (f" --like {report.like}" if report.like else ""))
    ]
    out.append(t(settings_line(report)))
    out += [t(f"note: {n}") for n in report.notes]
    out.append("")
    failed = [r for r in report.results if r.failed]
    if verbose:
        out += [_fit(t(_line(r, id_w, True)), width) for r in report.results]
    else:
        others = [r for r in report.results if r.verdict in ("known", "skip")]
        out += [_fit(t(_line(r, id_w, True)), width) for r in others]
        passed = sum(r.verdict == "pass" for r in report.results)
        if passed:
            checks = "check" if passed == 1 else "checks"
            out.append(f"{LABELS['pass']:<9}  {passed} {checks} (-v lists them)")
        groups = group_by_cause(failed)
        fail_w = max([len(r.id) for r in failed] + [5])
        if failed:
            out += ["", f"{len(failed)} failed checks, {len(groups)} distinct causes:"]
        for group in groups:
            if len(group) > 1 or _numeric(group[0]):
                out.append(_fit(t("── " + _OFF_BY.sub("", group[0].detail)), width))
            out += [t(_line(r, fail_w, not _numeric(r))) for r in group]
    if verbose:
        for r in detailed(report):
            out += ["", t(f"── {r.id}: {r.title}"), t(f"   {r.detail}")]
            out += [t(f"   {line}") for line in _evidence_lines(r)]
            if r.evidence and r.evidence.snippet:
                out += ["   reproduce (python):"]
                out += [f"     {t(line)}" for line in r.evidence.snippet.rstrip().splitlines()]
    variants = variants_line(report)
    if variants:
        out += ["", t(variants)]
    if report.identification:
        out += ["", t(report.identification["hint"])]
    if not verbose and any(r.evidence for r in failed):
        where = evidence_at or "-v, or --report DIR (snippets/: runnable files) / --json PATH"
        out += ["", t(f"evidence and reproduction snippets: {where}")]
    out += ["", t(summary(report))]
    return "\n".join(out) + "\n"


def markdown(report: Report) -> str:
    md, code = escape.markdown, escape.markdown_code
    out = [f"# optcheck validation: {code(report.target)}", "", f"**{md(summary(report))}**", ""]
    out += [md(settings_line(report)), ""]
    variants = variants_line(report)
    if variants:
        out += [md(variants), ""]
    if report.identification:
        out += [md(report.identification["hint"]), ""]
    out += [f"Note: {md(n)}" for n in report.notes] + ([""] if report.notes else [])
    out += ["| check | verdict | evidence |", "| --- | --- | --- |"]
    for r in report.results:
        out.append(f"| {code(r.id)} | {LABELS[r.verdict]} | {md(r.detail)} |")
    for r in detailed(report):
        out += ["", f"## {md(r.id)}: {md(r.title)}", "", md(r.detail), ""]
        out += [f"- {md(line)}" for line in _evidence_lines(r)]
        if r.evidence and r.evidence.snippet:
            out += ["", escape.markdown_block(r.evidence.snippet, "python")]
    env = ", ".join(f"{k} {v}" for k, v in report.environment.items())
    out += [
        "",
        f"Settings: {code(json.dumps(report.settings, default=repr))}",
        "",
        f"Environment: {md(env)}",
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
    variants = variants_line(report)
    matches = f"<p>{e(settings_line(report))}</p>"
    matches += f"<p>{e(variants)}</p>" if variants else ""
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
        written += _write_snippets(report, report_dir / SNIPPETS)
    return written


SNIPPETS = "snippets"  # --report DIR/snippets/<check>.py: one runnable reproduction per failure
_GENERATED = "# optcheck reproduction of "


def _write_snippets(report: Report, folder: Path) -> list[Path]:
    """Each failure's snippet as a file; the previous run's files there go first, so that
    the folder holds this run's failures only."""
    from optcheck.reports.io import write_atomic

    if folder.is_dir():
        for old in folder.glob("*.py"):
            if old.is_symlink() or not old.is_file():
                continue  # only regular files this function wrote
            with old.open(encoding="utf-8", errors="replace") as fh:
                if fh.readline().startswith(_GENERATED):
                    old.unlink()
    written = []
    for r in detailed(report):
        if r.evidence and r.evidence.snippet:
            path = folder / f"{r.id.replace('.', '_')}.py"
            head = escape.terminal(f"{_GENERATED}{r.id} on {report.target}")
            write_atomic(path, f"{head}\n{r.evidence.snippet.rstrip()}\n")
            written.append(path)
    return written
