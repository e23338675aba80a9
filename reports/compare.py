"""Compare a bench result with an earlier one: regressions, warnings, improvements.

Only statistically separated changes count. A convergence regression needs the new 95 %
interval of log10 relative suboptimality to lie wholly above the old one and the estimate
to be worse by more than ``MARGIN_DECADES`` (intervals from 5 seeds are narrow on
deterministic problems, where any change in the trajectory would otherwise count). Claims
the benchmark checks itself (f*, theory rates, Reddi's outcome) regress when they held
before and fail now. Step times are noisy and machine-dependent: a slowdown beyond
``SLOWER`` is highlighted as a warning, never counted as a regression.
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


def _compare_cell(old: br.Cell, new: br.Cell, out: list[Change]) -> None:
    item = f"{new.problem} × {new.optimizer} ({new.schedule})"
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
    for key in ("lr_grid", "seeds", "tuning_seed", "tau", "floor"):
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
    missing = set(old_cells) - {(c.problem, c.optimizer, c.schedule) for c in new.cells}
    for key in sorted(missing):
        out.append(Change(NOTE, "convergence", " × ".join(key), "present", "absent", "not run"))
    old_p = {p.name: p for p in old.problems}
    for p in new.problems:
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
            (s.optimizer, s.implementation, s.size, s.dtype, s.device): s for s in old.speed.rows
        }
        for s in new.speed.rows:
            p = prev_rows.get((s.optimizer, s.implementation, s.size, s.dtype, s.device))
            if p is None or p.time_per_step is None or s.time_per_step is None:
                continue
            ratio = s.time_per_step / p.time_per_step
            item = f"{s.optimizer} {s.implementation} n={s.size:.0e} {s.device}"
            if ratio > SLOWER:
                out.append(
                    Change(
                        WARNING,
                        "step time",
                        item,
                        f"{p.time_per_step * 1e6:.1f} µs",
                        f"{s.time_per_step * 1e6:.1f} µs",
                        f"{ratio:.2f}× slower",
                    )
                )
            elif ratio < 1 / SLOWER:
                out.append(
                    Change(
                        IMPROVEMENT,
                        "step time",
                        item,
                        f"{p.time_per_step * 1e6:.1f} µs",
                        f"{s.time_per_step * 1e6:.1f} µs",
                        f"{1 / ratio:.2f}× faster",
                    )
                )
    order = {REGRESSION: 0, WARNING: 1, IMPROVEMENT: 2, NOTE: 3}
    out.sort(key=lambda c: order[c.severity])
    return cmp
