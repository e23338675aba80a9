"""Dolan & Moré (2002) performance profiles over the benchmark problems.

For problem p and solver s let t_ps be the cost to reach the target (median over seeds, inf
when the median seed fails). The ratio r_ps = t_ps / min_s t_ps, and the profile
rho_s(tau) = |{p : r_ps <= tau}| / n_p is the fraction of problems s solves within a factor
tau of the best. rho_s(1) is how often s is fastest; rho_s(inf) how often it solves at all.
Problems no solver solves carry no information about relative speed and are dropped (listed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from optcheck.reports import bench_result as br

METRICS = {"steps": "steps to target", "time": "wall time to target"}


@dataclass
class Profile:
    metric: str
    solvers: list[str]
    problems: list[str]
    dropped: list[str]
    ratios: dict[str, list[float]]  # solver -> r_ps per problem (inf: failed)

    def rho(self, solver: str, tau: float) -> float:
        r = self.ratios[solver]
        return sum(v <= tau for v in r) / len(r) if r else 0.0


def _median(values: Sequence[float]) -> float:
    v = sorted(values)
    n = len(v)
    if n == 0:
        return math.inf
    mid = v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])
    return mid


def cost(cell: br.Cell, metric: str) -> float:
    if cell.error or not cell.runs:
        return math.inf
    if metric == "steps":
        vals = [
            math.inf if r.steps_to_target is None else float(r.steps_to_target) for r in cell.runs
        ]
    else:
        vals = [math.inf if r.time_to_target is None else r.time_to_target for r in cell.runs]
    return _median(vals)


def performance_profile(
    cells: Sequence[br.Cell], metric: str = "steps", schedule: str = "constant"
) -> Profile:
    chosen = [c for c in cells if c.schedule == schedule]
    solvers = list(dict.fromkeys(c.optimizer for c in chosen))
    problems_all = list(dict.fromkeys(c.problem for c in chosen))
    table = {(c.problem, c.optimizer): cost(c, metric) for c in chosen}
    problems, dropped = [], []
    for p in problems_all:
        best = min((table.get((p, s), math.inf) for s in solvers), default=math.inf)
        (problems if math.isfinite(best) and best > 0 else dropped).append(p)
    ratios: dict[str, list[float]] = {s: [] for s in solvers}
    for p in problems:
        costs = {s: table.get((p, s), math.inf) for s in solvers}
        best = min(costs.values())
        for s in solvers:
            ratios[s].append(costs[s] / best)
    return Profile(metric, solvers, problems, dropped, ratios)
