"""ReduceLROnPlateau as a float64 reference that consumes the metric sequence.

The rule (torch docs, ReduceLROnPlateau): a metric is *better* than the best so far when, in
mode 'min', it lies below best (1 - threshold) ('rel') or best - threshold ('abs'); in mode
'max', above best (1 + threshold) or best + threshold. Every epoch that is not better counts
as bad; an epoch inside the cooldown counts none (the count is zeroed). When more than
``patience`` bad epochs have accumulated, each group's lr becomes max(lr factor, min_lr),
unless that changes it by eps or less, and the cooldown starts. The best starts at +inf
('min') or -inf ('max'), so the first epoch is always better.

Each arithmetic step is the documented one in the documented order (1 - threshold formed
first, then multiplied by best; lr times factor, then the floor), so an implementation that
follows the docs matches bit for bit. ``PlateauRun.closest`` is how near any decision came
to its boundary, relative to the quantities compared: a decision within round-off of its
boundary could go either way in a correct implementation, and the checks do not draw it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULTS: dict[str, Any] = {
    "mode": "min",
    "factor": 0.1,
    "patience": 10,
    "threshold": 1e-4,
    "threshold_mode": "rel",
    "cooldown": 0,
    "min_lr": 0.0,
    "eps": 1e-8,
}


@dataclass(frozen=True)
class PlateauRun:
    lrs: np.ndarray  # (len(metrics) + 1, groups): lrs[t] after t steps
    reductions: tuple[int, ...]  # the epochs t (1-based step count) where a reduction fired
    closest: float  # the smallest relative distance of any decision from its boundary


def _relative_gap(a: float, b: float) -> float:
    if math.isinf(b) or math.isinf(a):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def improvement_boundary(best: float, mode: str, threshold: float, threshold_mode: str) -> float:
    """The value a metric must pass (below in 'min', above in 'max') to count as better."""
    if threshold_mode == "rel":
        rel = 1.0 - threshold if mode == "min" else threshold + 1.0
        return best * rel
    return best - threshold if mode == "min" else best + threshold


def is_better(a: float, best: float, mode: str, threshold: float, threshold_mode: str) -> bool:
    edge = improvement_boundary(best, mode, threshold, threshold_mode)
    return a < edge if mode == "min" else a > edge


def reduce_on_plateau(
    metrics: Sequence[float], base_lrs: Sequence[float], **params: Any
) -> PlateauRun:
    """The lrs of every group after each ``step(metric)`` (module note)."""
    p = {**DEFAULTS, **params}
    mode, factor, patience = p["mode"], float(p["factor"]), int(p["patience"])
    threshold, threshold_mode = float(p["threshold"]), p["threshold_mode"]
    cooldown, eps = int(p["cooldown"]), float(p["eps"])
    groups = len(base_lrs)
    floors = p["min_lr"] if isinstance(p["min_lr"], (list, tuple)) else [p["min_lr"]] * groups
    lrs = [float(x) for x in base_lrs]
    out = [list(lrs)]
    best = math.inf if mode == "min" else -math.inf
    bad = cool = 0
    reductions: list[int] = []
    closest = math.inf
    for t, value in enumerate(metrics, start=1):
        a = float(value)
        edge = improvement_boundary(best, mode, threshold, threshold_mode)
        if edge != best:  # with no threshold, "equal is not better" is exact
            closest = min(closest, _relative_gap(a, edge))
        if is_better(a, best, mode, threshold, threshold_mode):
            best, bad = a, 0
        else:
            bad += 1
        if cool > 0:
            cool -= 1
            bad = 0  # bad epochs inside the cooldown are ignored
        if bad > patience:
            for i, old in enumerate(lrs):
                new = max(old * factor, float(floors[i]))
                closest = min(closest, _relative_gap(old - new, eps) if eps > 0 else math.inf)
                if old - new > eps:
                    lrs[i] = new
            reductions.append(t)
            cool, bad = cooldown, 0
        out.append(list(lrs))
    return PlateauRun(np.array(out, dtype=np.float64), tuple(reductions), closest)


def plateau_lr(
    t: Any, base_lr: float, /, metrics: Sequence[float] = (), **params: Any
) -> float | np.ndarray:
    """The single-group lr at epoch(s) t (the catalog's closed-form signature): t may not
    exceed the number of metrics given."""
    return _at(reduce_on_plateau(metrics, [base_lr], **params), t)


def _at(run: PlateauRun, t: Any) -> float | np.ndarray:
    """The single group's lr at epoch(s) t."""
    lrs = run.lrs[:, 0]
    t_arr = np.asarray(t, dtype=np.int64)
    return float(lrs[int(t_arr)]) if t_arr.ndim == 0 else lrs[t_arr]


def constraint_plateau(p: Mapping[str, Any]) -> str | None:
    q = {**DEFAULTS, **p}
    if not q["factor"] < 1.0:
        return "factor must be < 1.0 (torch raises)"
    if q["factor"] < 0.0:
        return "factor must be >= 0 (a negative factor makes the lr negative)"
    if q["mode"] not in ("min", "max"):
        return "mode must be 'min' or 'max'"
    if q["threshold_mode"] not in ("rel", "abs"):
        return "threshold_mode must be 'rel' or 'abs'"
    if q["patience"] < 0 or q["cooldown"] < 0:
        return "patience and cooldown must be >= 0"
    floors = q["min_lr"] if isinstance(q["min_lr"], (list, tuple)) else [q["min_lr"]]
    if any(f < 0 for f in floors) or q["eps"] < 0 or q["threshold"] < 0:
        return "min_lr, eps and threshold must be >= 0"
    return None


# timm's PlateauLRScheduler (timm.scheduler.plateau_lr): torch's rule under timm's names,
# mode 'max' by default, threshold_mode 'rel' and eps 1e-8 fixed (not keywords).
TIMM_DEFAULTS: dict[str, Any] = {
    "decay_rate": 0.1,
    "patience_t": 10,
    "threshold": 1e-4,
    "cooldown_t": 0,
    "lr_min": 0.0,
    "mode": "max",
    "warmup_t": 0,
    "warmup_lr_init": 0.0,
}
TIMM_TO_TORCH = {
    "decay_rate": "factor",
    "patience_t": "patience",
    "cooldown_t": "cooldown",
    "lr_min": "min_lr",
    "mode": "mode",
    "threshold": "threshold",
}


def timm_plateau(metrics: Sequence[float], base_lrs: Sequence[float], **params: Any) -> PlateauRun:
    """timm's documented plateau schedule with noise off, t the count its train loop passes
    to step(t, metric) (1, 2, ...): the base lr at construction, or warmup_lr_init with a
    warm-up; for t <= warmup_t, warmup_lr_init + t (base - warmup_lr_init)/warmup_t, the
    metric ignored; after it, torch's rule (``reduce_on_plateau``) on the later metrics from
    the lr the warm-up reached."""
    p = {**TIMM_DEFAULTS, **params}
    w, init = int(p["warmup_t"]), float(p["warmup_lr_init"])
    rows: list[list[float]] = [[float(b) for b in base_lrs]]
    start = rows[0]
    if w > 0:
        slopes = [(float(b) - init) / w for b in base_lrs]
        rows = [[init] * len(base_lrs)]
        rows += [[init + t * s for s in slopes] for t in range(1, min(w, len(metrics)) + 1)]
        start = [init + w * s for s in slopes]
    rest = reduce_on_plateau(
        metrics[w:], start, **{TIMM_TO_TORCH[k]: v for k, v in p.items() if k in TIMM_TO_TORCH}
    )
    lrs = np.array(rows + rest.lrs[1:].tolist(), dtype=np.float64)
    return PlateauRun(lrs, tuple(t + w for t in rest.reductions), rest.closest)


def timm_plateau_lr(
    t: Any, base_lr: float, /, metrics: Sequence[float] = (), **params: Any
) -> float | np.ndarray:
    """``plateau_lr`` for timm's scheduler (the catalog's closed-form signature)."""
    return _at(timm_plateau(metrics, [base_lr], **params), t)


def constraint_timm_plateau(p: Mapping[str, Any]) -> str | None:
    q = {**TIMM_DEFAULTS, **p}
    if q["warmup_t"] < 0 or q["warmup_lr_init"] < 0:
        return "warmup_t and warmup_lr_init must be >= 0"
    return constraint_plateau({TIMM_TO_TORCH[k]: v for k, v in q.items() if k in TIMM_TO_TORCH})
