"""Render a bench result as bench.md (+ bench_files/*.svg) and bench.html (bench.json is
optcheck.reports.io.write_json, written first)."""

from __future__ import annotations

import os
from pathlib import Path

from optcheck.reports import bench_result as br
from optcheck.reports import figure_style as fs
from optcheck.reports import plots
from optcheck.reports.bench_markdown import render_markdown
from optcheck.reports.compare import Comparison
from optcheck.reports.html import render_html
from optcheck.reports.io import write_atomic

MD_NAME, HTML_NAME, FILES_DIR = "bench.md", "bench.html", "bench_files"


def write_report(
    out_dir: str | os.PathLike[str],
    result: br.BenchResult,
    comparison: Comparison | None = None,
) -> list[Path]:
    """Render and write the Markdown (with its SVG figures) and the self-contained HTML page.

    Everything is rendered in memory first, so a rendering error writes nothing.
    """
    out = Path(out_dir)
    figs = plots.figures(result)
    md = render_markdown(result, figs, comparison, image_dir=FILES_DIR)
    page = render_html(result, figs, comparison)
    written = []
    for name, data in figs.items():
        path = out / FILES_DIR / f"{name}.{fs.FORMAT}"
        write_atomic(path, data)
        written.append(path)
    for name, text in ((MD_NAME, md), (HTML_NAME, page)):
        write_atomic(out / name, text)
        written.append(out / name)
    return written
