"""Compare a bench result with an earlier one: regressions, warnings, improvements.

Only statistically separated changes count. A convergence regression needs the new 95 %
interval of log10 relative suboptimality to lie wholly above the old one and the estimate
to be worse by more than ``MARGIN_DECADES`` (intervals from 5 seeds are narrow on
deterministic problems, where any change in the trajectory would otherwise count). Claims
the benchmark checks itself (f*, theory rates, Reddi's outcome) regress when they held
before and fail now. Step times and wall times are noisy and machine-dependent: a change
counts only where the measured noise separates the runs (the interquartile ranges of the
in-run repeated step timings, the 95 % intervals of the per-seed wall times) and the median
moved by more than ``SLOWER``; it is highlighted as a warning, never counted as a regression.
Wall times measured once (a deterministic problem) carry no noise and are not compared.

A comparison says what it compared per section; sections both runs hold that share nothing
comparable (other problems, optimizers, sizes or step budgets) are ``unshared``: the command
treats them as a usage error ("nothing to compare") instead of reporting them green.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from optcheck.reports import bench_result as br

MARGIN_DECADES = 0.3  # a factor of 2 in suboptimality
STEPS_FACTOR = 1.10
SLOWER = 1.25
REGRESSION, WARNING, IMPROVEMENT, NOTE = "regression", "warning", "improvement", "note"


@dataclass
class Change:
    severity: str
    kind: str
    item: str
    old: str
    new: str
    message: str


@dataclass
class Comparison:
    baseline: str  # the old run's creation time
    changes: list[Change] = field(default_factory=list)
    compared: dict[str, int] = field(default_factory=dict)  # section -> items compared
    held: list[str] = field(default_factory=list)  # sections both runs hold

    @property
    def unshared(self) -> list[str]:
        """Sections both runs hold with nothing compared; every section when none is shared."""
        if not any(self.compared.values()):
            return self.held or ["every section (the runs hold no section in common)"]
        return [s for s in self.held if not self.compared.get(s)]

    def summary(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in self.compared.items() if n)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.severity == REGRESSION]

    def count(self, severity: str) -> int:
        return sum(c.severity == severity for c in self.changes)


def _sci(v: float | None) -> str:
    return "n/a" if v is None else f"{10**v:.2e}"


def _interval_log(i: br.Interval) -> str:
    if i.estimate is None:
        return "n/a"
    return f"{10**i.estimate:.2e} [{_sci(i.low)}, {_sci(i.high)}]"


def _diverged(cell: br.Cell) -> int:
    return sum(r.diverged for r in cell.runs)


def _separated_slower(
    item: str, kind: str, old: tuple[float, float, float], new: tuple[float, float, float]
) -> Change | None:
    """(estimate, low, high) seconds of each run: a warning or improvement when the noise
    ranges do not overlap and the estimate moved by more than SLOWER, else None."""
    (o, o_lo, o_hi), (n, n_lo, n_hi) = old, new
    if n_lo > o_hi and n > SLOWER * o:
        severity, why = WARNING, f"{n / o:.2f}× slower, beyond the measured noise"
    elif n_hi < o_lo and n * SLOWER < o:
        severity, why = IMPROVEMENT, f"{o / n:.2f}× faster, beyond the measured noise"
    else:
        return None
    return Change(severity, kind, item, _seconds(o, o_lo, o_hi), _seconds(n, n_lo, n_hi), why)


def _seconds(est: float, lo: float, hi: float) -> str:
    return f"{est * 1e6:.1f} µs [{lo * 1e6:.1f}, {hi * 1e6:.1f}]"


def _noise(i: br.Interval) -> tuple[float, float, float] | None:
    """A wall-time interval with a measured spread, or None (one run: no noise known)."""
    if None in (i.estimate, i.low, i.high) or not i.low < i.high:
        return None
    return (i.estimate, i.low, i.high)


def _compare_cell(old: br.Cell, new: br.Cell, out: list[Change]) -> None:
    item = f"{new.problem} × {new.optimizer} ({new.schedule})"
    ow, nw = _noise(old.wall_time), _noise(new.wall_time)
    if ow and nw and (change := _separated_slower(item, "wall time per run", ow, nw)):
        out.append(change)
    if new.error and not old.error:
        out.append(Change(REGRESSION, "convergence", item, "ran", new.error, "now fails"))
        return
    if old.error or new.error:
        return
    o, n = old.log10_subopt, new.log10_subopt
    if None not in (o.estimate, o.high, o.low, n.estimate, n.low, n.high):
        if n.low > o.high and n.estimate - o.estimate > MARGIN_DECADES:
            out.append(
                Change(
                    REGRESSION,
                    "final suboptimality",
                    item,
                    _interval_log(o),
                    _interval_log(n),
                    "worse, intervals separated",
                )
            )
        elif n.high < o.low and o.estimate - n.estimate > MARGIN_DECADES:
            out.append(
                Change(
                    IMPROVEMENT,
                    "final suboptimality",
                    item,
                    _interval_log(o),
                    _interval_log(n),
                    "better, intervals separated",
                )
            )
    if _diverged(new) > _diverged(old):
        out.append(
            Change(
                REGRESSION,
                "divergence",
                item,
                f"{_diverged(old)} seeds",
                f"{_diverged(new)} seeds",
                "more seeds diverge",
            )
        )
    seeds = max(len(new.runs), 1)
    if new.reached + 1.5 / seeds < old.reached:  # lost at least two seeds' worth
        out.append(
            Change(
                REGRESSION,
                "target reached",
                item,
                f"{old.reached:.0%}",
                f"{new.reached:.0%}",
                "fewer seeds reach the target",
            )
        )
    os_, ns = old.steps_to_target, new.steps_to_target
    if None not in (os_.high, ns.low, ns.estimate, os_.estimate) and (
        ns.low > os_.high and ns.estimate > STEPS_FACTOR * os_.estimate
    ):
        out.append(
            Change(
                REGRESSION,
                "steps to target",
                item,
                f"{os_.estimate:.0f}",
                f"{ns.estimate:.0f}",
                "slower to the target, intervals separated",
            )
        )


def compare(old: br.BenchResult, new: br.BenchResult) -> Comparison:
    cmp = Comparison(baseline=old.created)
    out = cmp.changes
    workload_keys = ("workload_lr_grid", "workload_wd_grid", "workload_seeds")
    for key in ("lr_grid", "seeds", "tuning_seed", "tau", "floor", *workload_keys):
        if key in workload_keys and not (key in old.config and key in new.config):
            continue  # a run without workloads: nothing to note
        if old.config.get(key) != new.config.get(key):
            out.append(
                Change(
                    NOTE,
                    "configuration",
                    key,
                    str(old.config.get(key)),
                    str(new.config.get(key)),
                    "differs: changes may come from it",
                )
            )
    n = cmp.compared
    both = {
        "convergence cells": (old.cells, new.cells),
        "f* checks": (old.problems, new.problems),
        "theory rates": (old.theory, new.theory),
        "Reddi runs": (old.reddi, new.reddi),
        "step times": (old.speed and old.speed.rows, new.speed and new.speed.rows),
        "workload cells": (old.workload_cells, new.workload_cells),
    }
    cmp.held = [k for k, (a, b) in both.items() if a and b]
    n.update(dict.fromkeys(both, 0))
    old_steps, new_steps = old.config.get("steps", {}), new.config.get("steps", {})
    old_cells = {(c.problem, c.optimizer, c.schedule): c for c in old.cells}
    noted: set[str] = set()
    for c in new.cells:
        key = (c.problem, c.optimizer, c.schedule)
        if key not in old_cells:
            continue
        if old_steps.get(c.problem) != new_steps.get(c.problem):
            if c.problem in noted:
                continue
            noted.add(c.problem)
            out.append(
                Change(
                    NOTE,
                    "convergence",
                    f"{c.problem}",
                    str(old_steps.get(c.problem)),
                    str(new_steps.get(c.problem)),
                    "different step budget: not compared",
                )
            )
            continue
        _compare_cell(old_cells[key], c, out)
        n["convergence cells"] += 1
    missing = set(old_cells) - {(c.problem, c.optimizer, c.schedule) for c in new.cells}
    for key in sorted(missing):
        out.append(Change(NOTE, "convergence", " × ".join(key), "present", "absent", "not run"))
    old_p = {p.name: p for p in old.problems}
    for p in new.problems:
        n["f* checks"] += p.name in old_p
        if p.name in old_p and old_p[p.name].check_ok and not p.check_ok:
            out.append(
                Change(
                    REGRESSION,
                    "f* check",
                    p.name,
                    "confirmed",
                    f"error {p.check_error}",
                    "f* no longer confirmed",
                )
            )
    old_t = {(r.problem, r.method, r.implementation): r for r in old.theory}
    for r in new.theory:
        prev = old_t.get((r.problem, r.method, r.implementation))
        n["theory rates"] += prev is not None
        if prev is not None and prev.ok and not r.ok:
            out.append(
                Change(
                    REGRESSION,
                    "theory rate",
                    f"{r.problem} {r.method} {r.implementation}",
                    f"{prev.measured_rate}",
                    f"{r.measured_rate}",
                    f"now off theory {r.theory_rate:.6f} by more than 1 %",
                )
            )
    old_r = {r.optimizer: r for r in old.reddi}
    for r in new.reddi:
        prev = old_r.get(r.optimizer)
        n["Reddi runs"] += prev is not None
        if prev is not None and prev.ok and not r.ok:
            out.append(
                Change(
                    REGRESSION,
                    "Reddi",
                    r.optimizer,
                    f"{prev.final_x:+.3f}",
                    f"{r.final_x}",
                    "counterexample outcome changed",
                )
            )
    if old.speed and new.speed:
        prev_rows = {
            (s.optimizer, s.implementation, s.size, s.dtype, s.device, s.layout): s
            for s in old.speed.rows
        }
        for s in new.speed.rows:
            p = prev_rows.get((s.optimizer, s.implementation, s.size, s.dtype, s.device, s.layout))
            if p is None or p.time_per_step is None or s.time_per_step is None:
                continue
            n["step times"] += 1
            noise = [(r.time_per_step, r.time_q25, r.time_q75) for r in (p, s)]
            if any(None in t for t in noise):
                continue
            item = f"{s.optimizer} {s.implementation} n={s.size:.0e} {s.layout} {s.device}"
            if change := _separated_slower(item, "step time", *noise):
                out.append(change)
    n["workload cells"] = _compare_workloads(old, new, out)
    order = {REGRESSION: 0, WARNING: 1, IMPROVEMENT: 2, NOTE: 3}
    out.sort(key=lambda c: order[c.severity])
    return cmp


def _compare_workloads(old: br.BenchResult, new: br.BenchResult, out: list[Change]) -> int:
    """Real workloads: same budget and same data (hash) or not compared. A regression is a
    cell that now fails, or a test metric whose 95 % interval lies wholly above the old one
    (the seeds' spread is the noise model), or two seeds' worth fewer reaching the target."""
    same = {
        w.name
        for w in new.workloads
        for v in old.workloads
        if (w.name, w.steps, w.batch, w.data_sha256) == (v.name, v.steps, v.batch, v.data_sha256)
    }
    for w in {w.name for w in new.workloads} & {w.name for w in old.workloads} - same:
        out.append(Change(NOTE, "workload", w, "", "", "other budget or data: not compared"))
    prev = {(c.workload, c.optimizer): c for c in old.workload_cells}
    compared = 0
    for c in new.workload_cells:
        o = prev.get((c.workload, c.optimizer))
        if o is None or c.workload not in same:
            continue
        compared += 1
        item = f"{c.workload} × {c.optimizer}"
        if c.error and not o.error:
            out.append(Change(REGRESSION, "workload", item, "ran", c.error, "now fails"))
            continue
        a, b = o.test_metric, c.test_metric
        if None not in (a.high, a.low, b.high, b.low) and (b.low > a.high or b.high < a.low):
            worse = b.low > a.high
            out.append(
                Change(
                    REGRESSION if worse else IMPROVEMENT,
                    "test metric",
                    item,
                    f"{a.estimate:.4g} [{a.low:.4g}, {a.high:.4g}]",
                    f"{b.estimate:.4g} [{b.low:.4g}, {b.high:.4g}]",
                    f"{'worse' if worse else 'better'}, intervals separated",
                )
            )
        if c.reached + 1.5 / max(len(c.runs), 1) < o.reached:
            out.append(
                Change(REGRESSION, "target reached", item, f"{o.reached:.0%}",
                       f"{c.reached:.0%}", "fewer seeds reach the target")
            )  # fmt: skip
    return compared
