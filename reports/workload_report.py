"""The real-workload section of the benchmark report, in Markdown and in HTML. Its figures
(optcheck.reports.workload_plots) are placed by the caller's ``figure(name, alt)``, the one
the report's other figures go through."""

from __future__ import annotations

import html
from collections.abc import Callable

from optcheck.reports import bench_result as br
from optcheck.reports import bench_tables as bt

TITLE = "Real workloads (held-out metrics, tuned lr and weight decay)"
FIGURES = (
    ("workload_loss_steps", "held-out loss against steps"),
    ("workload_loss_time", "held-out loss against training wall-clock"),
    ("workload_lr_sensitivity", "lr sensitivity: final validation metric against lr"),
)


def protocol(result: br.BenchResult) -> str:
    c = result.config
    wd = c.get("workload_wd_grid", [])
    return (
        "torch models trained with torch autograd on data that ships with scikit-learn and on "
        "the running Python's standard-library sources (no downloads; seeded torch.Generator "
        "for weights and minibatches). Data split 60/20/20, standardized with training "
        f"statistics. Every optimizer gets the same lr grid ({len(c.get('workload_lr_grid', []))} "
        "values, log-spaced"
        + (
            f"; weight decay {', '.join(f'{v:g}' for v in wd)} for the decoupled family"
            if wd
            else ""
        )
        + f") on tuning seed {c.get('workload_tuning_seed')}: the best final validation metric "
        "wins, ties broken by steps to target; the winner runs on evaluation seeds "
        f"{c.get('workload_seeds')} and is scored on the test split. Steps and time to target: "
        "from the evaluation where the test metric stays at or below the target to the end "
        "(AlgoPerf's rule); time counts training steps, not evaluations. State bytes: the "
        "tensors of the optimizer's state dict after the run. Bold: best mean test metric "
        "(ties: fewer steps to target); a --target failing optcheck validate is never best. "
        "Figures: median over seeds, inter-quartile band; sensitivity on the tuning seed "
        "(× at the top: diverged), the chosen lr starred."
    )


def markdown(
    result: br.BenchResult,
    figure: Callable[[str, str], str],
    table: Callable[[bt.Table], str],
) -> list[str]:
    if not result.workload_cells:
        return []
    out = [f"## {TITLE}", "", protocol(result), "", table(bt.workloads_table(result)), ""]
    out += [figure(name, alt) for name, alt in FIGURES]
    for name, t in bt.workload_tables(result).items():
        out += [f"### {name}", "", table(t), ""]
    out += ["### lr sensitivity (final validation metric, tuning seed)", "",
            table(bt.sensitivity_table(result)), "",
            "### Optimizer state memory", "", table(bt.memory_table(result)), ""]  # fmt: skip
    return out


def html_section(
    result: br.BenchResult,
    figure: Callable[[str, str], str],
    table: Callable[[bt.Table], str],
) -> list[str]:
    if not result.workload_cells:
        return []
    e = html.escape
    out = [f"<h2>{e(TITLE)}</h2>", f'<p class="muted">{e(protocol(result))}</p>',
           table(bt.workloads_table(result))]  # fmt: skip
    out += [figure(name, alt) for name, alt in FIGURES]
    for name, t in bt.workload_tables(result).items():
        out += [f"<h3>{e(name)}</h3>", table(t)]
    out += ["<h3>lr sensitivity (final validation metric, tuning seed)</h3>",
            table(bt.sensitivity_table(result)),
            "<h3>Optimizer state memory</h3>", table(bt.memory_table(result))]  # fmt: skip
    return out
