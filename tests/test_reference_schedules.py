"""The schedule closed forms against torch.optim.lr_scheduler (float64) and against the papers.

Tolerance model. torch's chainable schedulers update the lr recursively (lr_t = lr_{t-1} *
r_t, or eta_min + ratio * (lr_{t-1} - eta_min)), the others evaluate a closed form naively;
the references evaluate the mathematical closed form stably. Each scheduler gets a
first-order running bound on |torch - exact| built from torch's own operation sequence: every
rounding costs eps (twice the unit round-off, a factor-2 margin) times the size of its result,
and errors made earlier are carried forward by the recursion's ratios. Two effects dominate:
  * recursion: ~ (ops per step) * t * eps relative (ExponentialLR: t; LinearLR: ~5 t);
  * cancellation: torch forms 1 + cos(x) naively, whose relative error near a trough is
    ~ eps / (1 + cos x) ~ 4 T^2 / pi^2 eps (T = T_max or T_i) — round-off, not a bug.
The bound is checked step by step; the largest relative error per scheduler is reported.
Where the exact value is 0 the error is measured relative to the schedule's scale.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as L

from optcheck.checks.algorithms import schedules as records
from optcheck.checks.catalog import SCHEDULES, stepped_schedules
from optcheck.reference import schedules as S
from optcheck.reference.space import Choice, Flag, Int, IntList

EPS = float(np.finfo(np.float64).eps)
INVARIANTS = {
    "monotone_nonincreasing",
    "nondecreasing_warmup",
    "bounded",
    "nonnegative",
    "cosine_landmarks",
    "restart_points",
    "one_cycle_landmarks",
    "step_drops",
    "periodic",
    "sequential_continuity",
    "swa_anneal",
}


# ---------------------------------------------------------------------------------------------
# Driving torch


def make_optimizer(base_lr: float, kind: str = "sgd") -> torch.optim.Optimizer:
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    if kind == "adam":
        return torch.optim.Adam([p], lr=base_lr, betas=(0.9, 0.999))
    return torch.optim.SGD([p], lr=base_lr, momentum=0.9)


def build(name: str, opt: torch.optim.Optimizer, params: dict[str, Any]) -> L.LRScheduler:
    spec = SCHEDULES[name]
    if spec.recipe is not None:
        return build("SequentialLR", opt, spec.recipe(params))
    if name in ("SequentialLR", "ChainedScheduler"):
        children = []
        for child, child_params in params["schedulers"]:
            child_name = child if isinstance(child, str) else child.name
            children.append(build(child_name, opt, dict(child_params)))
        if name == "SequentialLR":
            return L.SequentialLR(opt, children, milestones=list(params["milestones"]))
        return L.ChainedScheduler(children, optimizer=opt)
    kw = dict(params)
    if "milestones" in kw:
        kw["milestones"] = list(kw["milestones"])
    module, _, cls = spec.torch_class.rpartition(".")
    return getattr(importlib.import_module(module), cls)(opt, **kw)


def variant(name: str, which: str) -> Callable[..., Any]:
    # ScheduleSpec has no variant() lookup (OptimizerRecord does); the same by hand.
    return next(v.fn for v in SCHEDULES[name].variants if v.name == which)


def momentum_of(opt: torch.optim.Optimizer) -> float:
    group = opt.param_groups[0]
    return group["betas"][0] if "betas" in group else group["momentum"]


def drive(
    name: str, params: dict[str, Any], n_steps: int, base_lr: float, kind: str = "sgd"
) -> tuple[np.ndarray, np.ndarray]:
    """lr and momentum at t = 0..n_steps; optimizer.step() first, as torch asks."""
    opt = make_optimizer(base_lr, kind)
    sched = build(name, opt, params)
    lrs, moms = [opt.param_groups[0]["lr"]], [momentum_of(opt)]
    for _ in range(n_steps):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(momentum_of(opt))
    return np.array(lrs, dtype=np.float64), np.array(moms, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Round-off bounds (absolute, per step) of torch's evaluation


def _naive_cos_err(
    amp: Any, lr: np.ndarray, h: np.ndarray, x: np.ndarray, dx: np.ndarray
) -> np.ndarray:
    """floor + amp * (1 + cos x) / 2 evaluated naively, x known to within dx."""
    amp = np.abs(amp)
    return amp * (0.5 * np.abs(np.sin(x)) * dx + EPS + 2 * EPS * h) + EPS * np.abs(lr)


def _bound_cosine(p: dict, base: float, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    # torch: eta_min + c_t/c_{t-1} (lr - eta_min), c = 1 + cos(pi t/T); at t = T+1 (mod 2T)
    # it adds A (1 - cos(pi/T))/2 instead. The c's telescope (the same float appears as
    # numerator then denominator), leaving the naive error of c_t and of c at the last reset.
    tm, em = p["T_max"], p.get("eta_min", 0.0)
    amp = base - em
    h = S.cosine_annealing_lr(t, 1.0, T_max=tm)
    u = amp * h
    x = np.pi * t / tm
    c = 2 * h
    with np.errstate(divide="ignore", invalid="ignore"):
        eps_c = np.where(c > 0, (np.abs(np.sin(x)) * 2 * EPS * x + 1.5 * EPS) / c, 0.0)
    err = np.zeros(len(t))
    anchor = np.zeros(len(t))
    for k in range(1, len(t)):
        if (t[k] - 1 - tm) % (2 * tm) == 0:
            err[k] = err[k - 1] + EPS * (abs(amp) / 2 + 2 * abs(u[k]) + abs(ref[k]))
            anchor[k] = eps_c[k]
        else:
            rho = h[k] / h[k - 1]
            err[k] = rho * err[k - 1] + EPS * (3 * abs(u[k]) + abs(ref[k]))
            anchor[k] = anchor[k - 1]
    telescoped = np.abs(u) * (eps_c + anchor)
    return err + telescoped + EPS * (8 * np.abs(u) + 2 * np.abs(ref))


def _bound_restarts(p: dict, base: float, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    # torch evaluates eta_min + A (1 + cos(pi T_cur/T_i))/2 naively each step.
    em = p.get("eta_min", 0.0)
    t_cur, t_i = S._restart_index(np.asarray(t, dtype=np.float64), p["T_0"], p.get("T_mult", 1))
    x = np.pi * t_cur / t_i
    dx = 2 * EPS * x + np.pi * EPS * np.abs(t) / t_i  # fractional epochs: T_cur = t - start
    h = S._cos_half(t_cur, t_i)
    return _naive_cos_err(base - em, ref, h, x, dx) + EPS * (8 * np.abs(ref - em) + 2 * abs(em))


def _bound_linear(p: dict, base: float, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    # torch: lr_s = lr_{s-1} (1 + q_s), q_s = (e - f) / (T f + (s-1)(e - f)), s <= T.
    f, e, n = p.get("start_factor", 1 / 3), p.get("end_factor", 1.0), p.get("total_iters", 5)
    err = np.zeros(len(t))
    err[0] = EPS * abs(ref[0])
    for k in range(1, len(t)):
        s = t[k]
        if s > n:
            err[k] = err[k - 1]
            continue
        d = n * f + (s - 1) * (e - f)
        dd = EPS * (n * f + 3 * (s - 1) * abs(e - f) + abs(d))
        q = (e - f) / d
        r = 1 + q
        dr = abs(q) * (dd / abs(d) + 2 * EPS) + EPS * abs(r)
        err[k] = abs(r) * err[k - 1] + abs(ref[k - 1]) * dr + EPS * abs(ref[k])
    return err + 4 * EPS * (np.abs(ref) + base * abs(e - f))


def _bound_polynomial(p: dict, base: float, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    # torch: lr_s = lr_{s-1} (N_s / N_{s-1})^p, N_s = 1 - s/T; the N's telescope, leaving
    # ~ (p + 3) eps per step plus p times the relative error of N_t itself.
    n, pw = p.get("total_iters", 5), p.get("power", 1.0)
    if n == 0:
        return 2 * EPS * np.abs(ref)
    s = np.minimum(t, n)
    left = (n - s) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_n = np.where(left > 0, (s / n) / left, 0.0)
    return EPS * ((pw + 3) * s + pw * rel_n + 2 * pw + 3) * np.abs(ref)


def _one_cycle_bound(p: dict, t: np.ndarray, ref: np.ndarray, key: str) -> np.ndarray:
    # torch evaluates each phase's anneal naively at pct = (t - start)/(end - start).
    n_total = S.one_cycle_total(p.get("total_steps"), p.get("epochs"), p.get("steps_per_epoch"))
    masks, fracs = S._one_cycle_phases(
        t, n_total, p.get("pct_start", 0.3), bool(p.get("three_phase")), True
    )
    lv = S.one_cycle_levels(p)
    ends = S.ONE_CYCLE_PHASES[(key, bool(p.get("three_phase")))]
    out = np.zeros(len(t))
    for (a, b), mask, frac in zip(ends, masks, fracs, strict=True):
        amp = lv[a] - lv[b]
        if p.get("anneal_strategy", "cos") == "cos":
            x = np.pi * frac
            h = S._cos_half(frac, 1.0)
            e = _naive_cos_err(amp, ref, h, x, 4 * EPS * np.abs(x))
        else:
            e = EPS * (4 * abs(amp) * np.abs(frac) + np.abs(ref))
        out = np.where(mask, e, out)
    return out + EPS * 4 * (np.abs(ref) + abs(lv["max"]) + abs(lv["max_m"]))


def _cyclic_bound(p: dict, t: np.ndarray, ref: np.ndarray, amp: float) -> np.ndarray:
    # torch: x = 1 + t/total - cycle (abs error ~ eps (2 + t/total)), divided by the ratio.
    up = float(p.get("step_size_up", 2000))
    down = up if p.get("step_size_down") is None else float(p["step_size_down"])
    total = up + down
    ratio = up / total
    tri, scale = S._cyclic_scale(t, p)
    dx = EPS * (2 + 2 * t / total)
    # Near the peak torch may take either branch (x vs step_ratio compared after rounding),
    # so both slopes count; with step_size_down = 0 only the rising branch exists.
    slope = 1 / ratio if down == 0 else 1 / min(ratio, 1 - ratio)
    dsf = (dx + EPS) * slope + EPS * tri
    return abs(amp) * (dsf * np.abs(scale) + 6 * EPS * tri * np.abs(scale)) + 4 * EPS * np.abs(ref)


def _rel(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda p, base, t, ref: fn(t) * EPS * np.abs(ref)


def _multistep_drops(p: dict, t: np.ndarray) -> np.ndarray:
    ms = sorted(set(p.get("milestones", ())))
    return np.array([sum(1 for m in ms if m <= v) for v in t])


def _bound_sequential(p: dict, base: float, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    ms = list(p["milestones"])
    ks = np.array([np.searchsorted(ms, v, side="right") for v in t])
    out = np.zeros(len(t))
    for k in np.unique(ks):
        name, params = S._child(p["schedulers"][k])
        mask = ks == k
        offset = ms[k - 1] if k > 0 else 0
        out[mask] = BOUNDS[name](dict(params), base, t[mask] - offset, ref[mask])
    return out


def _bound_chained(p: dict, base: float, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    # A product of factors: the children's relative errors add.
    rel = np.full(len(t), len(p["schedulers"]) * EPS)
    for entry in p["schedulers"]:
        name, params = S._child(entry)
        f = np.asarray(S.CLOSED_FORMS[name](t, 1.0, **params))
        b = BOUNDS[name](dict(params), 1.0, t, f)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = rel + np.where(f != 0, b / np.abs(f), 0.0)
    return rel * np.abs(ref)


def _bound_warmup_cosine(p: dict, base: float, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return _bound_sequential(SCHEDULES["WarmupCosine"].recipe(p), base, t, ref)


def _bound_swalr(p: dict, base: float, t: np.ndarray, ref: np.ndarray) -> np.ndarray:
    # torch recovers the previous step's start lr x = (lr - a' swa)/(1 - a') and returns
    # swa a + x (1 - a): the error carried in lr is scaled by (1 - a)/(1 - a') <= 1 and each
    # step adds a few eps of |base| + |swa| (a, a' naive to eps absolute). From a = 1 on,
    # torch returns swa exactly.
    ae, swa = p.get("anneal_epochs", 10), p["swa_lr"]
    return 8 * EPS * (np.minimum(t, ae) + 1) * (abs(base) + abs(swa))


BOUNDS: dict[str, Callable[..., np.ndarray]] = {
    "ConstantLR": _rel(lambda t: np.full(len(t), 4.0)),  # * factor, * (1/factor)
    "StepLR": lambda p, base, t, ref: (t // p["step_size"] + 3) * EPS * np.abs(ref),
    "MultiStepLR": lambda p, base, t, ref: (2 * _multistep_drops(p, t) + 3) * EPS * np.abs(ref),
    "ExponentialLR": _rel(lambda t: t + 3.0),  # one multiply per step; pow in the reference
    "MultiplicativeLR": _rel(lambda t: 2.0 * t + 2),  # torch and cumprod: t multiplies each
    "LambdaLR": _rel(lambda t: np.full(len(t), 2.0)),
    "PolynomialLR": _bound_polynomial,
    "LinearLR": _bound_linear,
    "CosineAnnealingLR": _bound_cosine,
    "CosineAnnealingWarmRestarts": _bound_restarts,
    "OneCycleLR": lambda p, base, t, ref: _one_cycle_bound(p, t, ref, "lr"),
    "CyclicLR": lambda p, base, t, ref: _cyclic_bound(p, t, ref, p["max_lr"] - p["base_lr"]),
    "SequentialLR": _bound_sequential,
    "ChainedScheduler": _bound_chained,
    "WarmupCosine": _bound_warmup_cosine,
    "SWALR": _bound_swalr,
}
MOMENTUM_BOUNDS: dict[str, Callable[..., np.ndarray]] = {
    "OneCycleLR": lambda p, t, ref: _one_cycle_bound(p, t, ref, "momentum"),
    "CyclicLR": lambda p, t, ref: _cyclic_bound(
        p, t, ref, p.get("max_momentum", 0.9) - p.get("base_momentum", 0.8)
    ),
}


# ---------------------------------------------------------------------------------------------
# Cases: every scheduler, several parameter sets, >= 1000 steps


@dataclass(frozen=True)
class Case:
    name: str
    params: dict[str, Any] = field(hash=False)
    n_steps: int = 1000
    base_lr: float = 0.1
    variant: str | None = None  # compare against this torch-behaviour variant instead
    optimizer: str = "sgd"

    @property
    def id(self) -> str:
        shown = ",".join(
            f"{k}={getattr(v, '__name__', v)}" for k, v in self.params.items() if k != "schedulers"
        )
        return f"{self.name}[{shown}]" + (f"~{self.variant}" if self.variant else "")


_ONE_CYCLE = dict(max_lr=0.5, total_steps=1001)
CASES: list[Case] = [
    # Boundary values torch accepts (issue 11): a floor equal to the base (a flat schedule),
    # gamma = 0, OneCycleLR without division (initial = max = min).
    Case("CosineAnnealingLR", dict(T_max=10, eta_min=0.1), n_steps=50),
    Case("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.1), n_steps=50),
    Case("ExponentialLR", dict(gamma=0.0), n_steps=20),
    Case(
        "OneCycleLR",
        dict(max_lr=0.5, total_steps=50, div_factor=1.0, final_div_factor=1.0),
        n_steps=49,
    ),
    Case("SWALR", dict(swa_lr=0.05, anneal_epochs=10, anneal_strategy="cos")),
    Case("SWALR", dict(swa_lr=0.5, anneal_epochs=999, anneal_strategy="cos")),
    Case("SWALR", dict(swa_lr=1e-3, anneal_epochs=300, anneal_strategy="linear")),
    Case("SWALR", dict(swa_lr=0.05, anneal_epochs=0, anneal_strategy="cos")),
    Case("ConstantLR", dict(factor=0.3, total_iters=10)),
    Case("ConstantLR", dict(factor=1.0 / 3, total_iters=1000)),
    Case("ConstantLR", dict(factor=1.0, total_iters=5)),
    Case("ConstantLR", dict(factor=0.5, total_iters=0), variant="torch"),
    Case("ConstantLR", dict(factor=0.0, total_iters=0), variant="torch"),
    Case("StepLR", dict(step_size=1, gamma=0.999)),
    Case("StepLR", dict(step_size=10, gamma=0.9)),
    Case("StepLR", dict(step_size=300, gamma=0.1)),
    Case("StepLR", dict(step_size=500, gamma=0.0)),
    Case("MultiStepLR", dict(milestones=(30, 80), gamma=0.1)),
    Case("MultiStepLR", dict(milestones=(0,), gamma=0.5)),
    Case("MultiStepLR", dict(milestones=(5, 5, 20), gamma=0.5)),
    Case("MultiStepLR", dict(milestones=(), gamma=0.5)),
    Case("MultiStepLR", dict(milestones=(100, 300, 600, 900), gamma=0.3)),
    Case("ExponentialLR", dict(gamma=0.99)),
    Case("ExponentialLR", dict(gamma=0.95)),
    Case("ExponentialLR", dict(gamma=1.0)),
    Case("CosineAnnealingLR", dict(T_max=1, eta_min=0.0)),
    Case("CosineAnnealingLR", dict(T_max=7, eta_min=0.0)),
    Case("CosineAnnealingLR", dict(T_max=10, eta_min=1e-3), n_steps=2000),
    Case("CosineAnnealingLR", dict(T_max=100, eta_min=0.0)),
    Case("CosineAnnealingLR", dict(T_max=1000, eta_min=0.0), n_steps=3000),
    Case("CosineAnnealingLR", dict(T_max=1000, eta_min=1e-3), n_steps=3000),
    Case("CosineAnnealingLR", dict(T_max=300, eta_min=0.2)),  # eta_min above base: rises
    Case("CosineAnnealingWarmRestarts", dict(T_0=10, T_mult=2, eta_min=0.0)),
    Case("CosineAnnealingWarmRestarts", dict(T_0=1, T_mult=1, eta_min=0.0)),
    Case("CosineAnnealingWarmRestarts", dict(T_0=7, T_mult=3, eta_min=1e-3)),
    Case("CosineAnnealingWarmRestarts", dict(T_0=1000, T_mult=1, eta_min=0.0)),
    Case("CosineAnnealingWarmRestarts", dict(T_0=50, T_mult=1, eta_min=1e-2)),
    Case("LinearLR", dict(start_factor=0.01, end_factor=1.0, total_iters=1000)),
    Case("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=1000)),
    Case("LinearLR", dict(start_factor=1.0, end_factor=0.001, total_iters=700)),
    Case("LinearLR", dict(start_factor=1.0 / 3, end_factor=1.0, total_iters=5)),
    Case("LinearLR", dict(start_factor=0.25, end_factor=0.75, total_iters=1)),
    Case("LinearLR", dict(start_factor=0.5, end_factor=1.0, total_iters=0), variant="torch"),
    Case("PolynomialLR", dict(total_iters=1000, power=2.0)),
    Case("PolynomialLR", dict(total_iters=1000, power=0.5)),
    Case("PolynomialLR", dict(total_iters=5, power=1.0)),
    Case("PolynomialLR", dict(total_iters=1, power=3.0)),
    Case("PolynomialLR", dict(total_iters=500, power=0.0)),
    Case("PolynomialLR", dict(total_iters=0, power=1.0), variant="torch"),
    # OneCycleLR: t runs to N - 1 here; t = N (torch's extrapolation) has its own test.
    Case("OneCycleLR", dict(_ONE_CYCLE), n_steps=1000),
    Case("OneCycleLR", dict(_ONE_CYCLE, anneal_strategy="linear"), n_steps=1000),
    Case("OneCycleLR", dict(_ONE_CYCLE, three_phase=True), n_steps=1000),
    Case("OneCycleLR", dict(_ONE_CYCLE, three_phase=True, anneal_strategy="linear"), n_steps=1000),
    Case("OneCycleLR", dict(max_lr=1.0, total_steps=1200, pct_start=0.0), n_steps=1199),
    Case(
        "OneCycleLR",
        dict(
            max_lr=2.0,
            epochs=10,
            steps_per_epoch=137,
            pct_start=0.25,
            div_factor=1.0,
            final_div_factor=1e5,
        ),
        n_steps=1369,
    ),
    Case(
        "OneCycleLR",
        dict(_ONE_CYCLE, base_momentum=0.8, max_momentum=0.99),
        n_steps=1000,
        optimizer="adam",
    ),
    Case("CyclicLR", dict(base_lr=1e-3, max_lr=1e-1, step_size_up=200)),
    Case(
        "CyclicLR",
        dict(base_lr=1e-3, max_lr=1e-1, step_size_up=100, step_size_down=50, mode="triangular2"),
    ),
    Case(
        "CyclicLR", dict(base_lr=1e-4, max_lr=1e-2, step_size_up=150, mode="exp_range", gamma=0.999)
    ),
    Case("CyclicLR", dict(base_lr=1e-3, max_lr=1e-2, step_size_up=3, step_size_down=0)),
    Case(
        "CyclicLR",
        dict(
            base_lr=1e-3,
            max_lr=1e-2,
            step_size_up=70,
            scale_fn=S.scale_inverse_cycle,
            scale_mode="cycle",
        ),
    ),
    Case(
        "CyclicLR",
        dict(
            base_lr=1e-3,
            max_lr=1e-2,
            step_size_up=70,
            step_size_down=30,
            scale_fn=S.scale_exp_iterations,
            scale_mode="iterations",
        ),
    ),
    Case(
        "CyclicLR",
        dict(base_lr=1e-3, max_lr=1e-1, step_size_up=40, base_momentum=0.85, max_momentum=0.95),
        optimizer="adam",
    ),
    *[Case("LambdaLR", dict(lr_lambda=f)) for f in records._LAMBDAS],
    *[Case("MultiplicativeLR", dict(lr_lambda=f)) for f in records._FACTORS],
    *[
        Case("SequentialLR", dict(schedulers=c, milestones=m))
        for c, m in [
            (records._SEQ_CHILDREN[0], (50,)),
            (records._SEQ_CHILDREN[1], (100,)),
            (records._SEQ_CHILDREN[1], (0,)),  # milestone 0: the first child never runs
            (records._SEQ_CHILDREN[2], (100, 400)),
            # repeated milestone: the middle child is skipped
            (records._SEQ_CHILDREN[2], (100, 100)),
        ]
    ],
    *[Case("ChainedScheduler", dict(schedulers=c)) for c in records._CHAINED_CHILDREN],
    Case("WarmupCosine", dict(start_factor=0.1, warmup_steps=100, T_max=900, eta_min=0.0)),
    Case("WarmupCosine", dict(start_factor=0.01, warmup_steps=0, T_max=1000, eta_min=1e-4)),
    Case("WarmupCosine", dict(start_factor=0.5, warmup_steps=1000, T_max=10, eta_min=0.0)),
    Case("WarmupCosine", dict(start_factor=1.0, warmup_steps=50, T_max=400, eta_min=1e-3)),
]


@dataclass
class Result:
    max_rel: float  # largest |torch - ref| / |ref| over the run
    max_ratio: float  # largest |torch - ref| / bound
    worst_t: int
    got: np.ndarray
    ref: np.ndarray
    bound: np.ndarray


def _measure(got: np.ndarray, ref: np.ndarray, bound: np.ndarray, scale: float) -> Result:
    err = np.abs(got - ref)
    denom = np.where(ref != 0, np.abs(ref), scale)
    rel = err / denom
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)
    k = int(np.argmax(ratio))
    return Result(float(rel.max()), float(ratio.max()), k, got, ref, bound)


@functools.cache
def lr_result(case: Case) -> Result:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any scheduler warning is a driving mistake here
        got, _ = drive(case.name, case.params, case.n_steps, case.base_lr, case.optimizer)
    spec = SCHEDULES[case.name]
    fn = variant(case.name, case.variant) if case.variant else spec.closed_form
    t = np.arange(case.n_steps + 1)
    ref = np.asarray(fn(t, case.base_lr, **case.params))
    bound = BOUNDS[case.name](case.params, case.base_lr, t, ref)
    return _measure(got, ref, bound, scale=case.base_lr)


@functools.cache
def momentum_result(case: Case) -> Result:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, got = drive(case.name, case.params, case.n_steps, case.base_lr, case.optimizer)
    t = np.arange(case.n_steps + 1)
    ref = np.asarray(SCHEDULES[case.name].momentum(t, case.base_lr, **case.params))
    bound = MOMENTUM_BOUNDS[case.name](case.params, t, ref)
    return _measure(got, ref, bound, scale=1.0)


MOMENTUM_CASES = [c for c in CASES if SCHEDULES[c.name].momentum is not None]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_closed_form_matches_torch(case: Case) -> None:
    assert SCHEDULES[case.name].check_params(case.params) is None
    r = lr_result(case)
    assert r.max_ratio <= 1.0, (
        f"t={r.worst_t}: torch {r.got[r.worst_t]!r} vs reference {r.ref[r.worst_t]!r}, "
        f"error {abs(r.got[r.worst_t] - r.ref[r.worst_t]):.3g} > bound {r.bound[r.worst_t]:.3g}"
    )


@pytest.mark.parametrize("case", MOMENTUM_CASES, ids=lambda c: c.id)
def test_momentum_matches_torch(case: Case) -> None:
    # SGD's param_groups[0]['momentum'] or Adam's betas[0]: the same closed form.
    r = momentum_result(case)
    assert r.max_ratio <= 1.0, f"t={r.worst_t}: {r.got[r.worst_t]!r} vs {r.ref[r.worst_t]!r}"


def test_max_relative_error_per_scheduler() -> None:
    """The largest relative error vs torch per scheduler, each below its derived bound."""
    table: dict[str, tuple[float, float]] = {}
    for case in CASES:
        r = lr_result(case)
        rel, ratio = table.get(case.name, (0.0, 0.0))
        table[case.name] = (max(rel, r.max_rel), max(ratio, r.max_ratio))
    for case in MOMENTUM_CASES:
        r = momentum_result(case)
        key = case.name + " (momentum)"
        rel, ratio = table.get(key, (0.0, 0.0))
        table[key] = (max(rel, r.max_rel), max(ratio, r.max_ratio))
    lines = [f"{'scheduler':34s} {'max rel err':>12s} {'(eps)':>9s} {'err/bound':>10s}"]
    for name, (rel, ratio) in table.items():
        lines.append(f"{name:34s} {rel:12.3e} {rel / EPS:9.1f} {ratio:10.3f}")
    print("\n" + "\n".join(lines))
    assert set(stepped_schedules()) <= set(table)
    assert all(ratio <= 1.0 for _, ratio in table.values()), "\n".join(lines)
    # Nothing anywhere near a formula error: the worst is cancellation at a cosine trough.
    assert max(rel for rel, _ in table.values()) < 1e-9, "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Paper values and torch's conventions


def test_sgdr_restarts_at_10_30_70_150() -> None:
    # SGDR sec. 3 with T_0=10, T_mult=2: cycles of 10, 20, 40, 80 epochs.
    p = dict(T_0=10, T_mult=2, eta_min=0.0)
    t = np.arange(0, 200)
    ref = S.cosine_annealing_warm_restarts(t, 1.0, **p)
    restarts = [int(v) for v in t[1:][ref[1:] > ref[:-1]]]  # where the lr jumps back up
    assert restarts == [10, 30, 70, 150]
    assert all(ref[r] == 1.0 for r in [0, *restarts])
    got, _ = drive("CosineAnnealingWarmRestarts", p, 199, 1.0)
    assert all(got[r] == 1.0 for r in restarts)
    assert [int(tt) for tt, _ in records._restart_points(1.0, p, 5)] == [0, 10, 30, 70, 150]


def test_sgdr_never_reaches_eta_min_at_integer_epochs() -> None:
    # Paper: eta_min at T_cur = T_i. torch: T_cur runs 0..T_i-1, so the lowest lr of a cycle
    # is eta_min + A (1 - cos(pi/T_i))/2 > eta_min; fractional epochs approach eta_min.
    p = dict(T_0=10, T_mult=2, eta_min=0.01)
    got, _ = drive("CosineAnnealingWarmRestarts", p, 200, 1.0)
    assert got.min() > 0.01
    assert got[9] == pytest.approx(0.01 + 0.99 * (1 - math.cos(math.pi / 10)) / 2, rel=1e-14)
    near = S.cosine_annealing_warm_restarts(np.array([10 - 1e-6, 30 - 1e-6]), 1.0, **p)
    assert near == pytest.approx([0.01, 0.01], abs=1e-12)


def test_sgdr_fractional_epochs_match_torch() -> None:
    # torch's step(epoch) accepts floats (the "per batch" SGDR of the paper, sec. 3).
    for p in (dict(T_0=10, T_mult=2, eta_min=1e-3), dict(T_0=7, T_mult=1, eta_min=0.0)):
        opt = make_optimizer(1.0)
        sched = L.CosineAnnealingWarmRestarts(opt, **p)
        epochs = np.round(np.arange(0, 160, 0.37), 2)
        got = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # step(epoch) is deprecated; still the API here
            for e in epochs:
                opt.step()
                sched.step(float(e))
                got.append(opt.param_groups[0]["lr"])
        ref = S.cosine_annealing_warm_restarts(epochs, 1.0, **p)
        bound = _bound_restarts(p, 1.0, epochs, ref)
        assert np.all(np.abs(np.array(got) - ref) <= bound)


def test_torch_sgdr_step_epoch_lands_one_cycle_short() -> None:
    # torch quirk (step(epoch), T_mult > 1): n = int(math.log(x, T_mult)) rounds
    # log(1000, 10) = 2.9999999999999996 down, so epoch 111 (T_0=1, T_mult=10) is put at the
    # end of cycle 2 (lr = eta_min) instead of the restart of cycle 3 (lr = base).
    assert math.log(1000, 10) < 3
    p = dict(T_0=1, T_mult=10, eta_min=0.0)
    opt = make_optimizer(1.0)
    sched = L.CosineAnnealingWarmRestarts(opt, **p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.step()
        sched.step(111)
    assert opt.param_groups[0]["lr"] == 0.0
    assert S.cosine_annealing_warm_restarts(111, 1.0, **p) == 1.0
    assert variant("CosineAnnealingWarmRestarts", "torch_epoch")(111, 1.0, **p) == 0.0
    # Stepping one epoch at a time (integer T_cur bookkeeping) gets it right.
    got, _ = drive("CosineAnnealingWarmRestarts", p, 111, 1.0)
    assert got[111] == 1.0


def test_cosine_landmarks() -> None:
    # SGDR eq. (5): (eta_0 + eta_min)/2 at T_max/2, eta_min at T_max.
    for tm, em in [(100, 0.0), (1000, 1e-3), (2, 0.05)]:
        p = dict(T_max=tm, eta_min=em)
        got, _ = drive("CosineAnnealingLR", p, 2 * tm, 0.1)
        for t, value in records._cosine_landmarks(0.1, p):
            assert S.cosine_annealing_lr(t, 0.1, **p) == pytest.approx(value, rel=4 * EPS, abs=0)
            assert got[t] == pytest.approx(value, rel=1e-12, abs=1e-15)
        assert got[tm] == em  # torch hits eta_min exactly: 1 + cos(pi) == 0 in float64


def test_cosine_past_t_max_rises_again() -> None:
    # torch keeps the cosine past T_max (mirror image, period 2 T_max); the paper's SGDR
    # would restart at T_max instead, and a "clamp at eta_min" reading would stay flat.
    tm = 50
    got, _ = drive("CosineAnnealingLR", dict(T_max=tm, eta_min=0.0), 4 * tm, 1.0)
    k = np.arange(1, tm)
    assert np.allclose(got[tm + k], got[tm - k], rtol=1e-12, atol=0)
    assert got[2 * tm] == pytest.approx(1.0, rel=1e-12) and got[4 * tm] == pytest.approx(1.0)
    assert got[tm + 1] > got[tm] == 0.0


def test_one_cycle_landmarks_and_torch_peak_convention() -> None:
    # Starts at max_lr/div_factor, peaks at t = pct_start*N - 1 (torch's convention: phase 1
    # ends at float(pct_start*N) - 1), ends at initial_lr/final_div_factor at t = N - 1.
    for three in (False, True):
        for strategy in ("cos", "linear"):
            p = dict(
                max_lr=0.5,
                total_steps=1000,
                pct_start=0.3,
                anneal_strategy=strategy,
                three_phase=three,
            )
            got, _ = drive("OneCycleLR", p, 999, 0.1)
            assert got[0] == pytest.approx(0.5 / 25, rel=1e-14)
            assert int(np.argmax(got)) == 299 and got[299] == 0.5
            assert got[999] == pytest.approx(0.5 / 25 / 1e4, rel=1e-12)
            if three:  # back at initial_lr at 2*pct*N - 2
                assert got[598] == pytest.approx(0.5 / 25, rel=1e-12)
            for t, value in records._one_cycle_landmarks(0.1, p):
                assert S.one_cycle_lr(t, 0.1, **p) == pytest.approx(value, rel=4 * EPS)


def test_one_cycle_momentum_landmarks() -> None:
    # Smith 2018 (arXiv:1803.09820): momentum max at the start, base at the lr peak, max at
    # the end.
    p = dict(max_lr=0.5, total_steps=1000, pct_start=0.3)
    m = S.one_cycle_momentum(np.array([0, 299, 999]), 0.1, **p)
    assert m == pytest.approx([0.95, 0.85, 0.95], rel=4 * EPS)
    _, got = drive("OneCycleLR", p, 999, 0.1, "adam")
    assert got[[0, 299, 999]] == pytest.approx([0.95, 0.85, 0.95], rel=1e-14)


def test_torch_one_cycle_final_step_extrapolates() -> None:
    # torch accepts t = total_steps (the step() after the last batch) and extrapolates the
    # last phase there: linear annealing goes below zero; the reference ends at min_lr.
    for strategy in ("linear", "cos"):
        p = dict(max_lr=1.0, total_steps=100, anneal_strategy=strategy)
        got, _ = drive("OneCycleLR", p, 100, 0.1)
        torch_form = variant("OneCycleLR", "torch")
        assert got[100] == pytest.approx(torch_form(100, 0.1, **p), rel=1e-12)
        assert S.one_cycle_lr(100, 0.1, **p) == pytest.approx(1.0 / 25 / 1e4, rel=1e-12)
        if strategy == "linear":
            assert got[100] < 0.0 < S.one_cycle_lr(100, 0.1, **p)
    opt = make_optimizer(0.1)
    sched = L.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    for _ in range(10):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step"):
        opt.step()
        sched.step()


def test_one_cycle_default_two_phase_vs_paper_three_phase() -> None:
    # torch's default (fastai) anneals straight from max_lr to min_lr; the paper's three
    # phases come back to initial_lr at 2*pct*N - 2 and only then annihilate.
    base = dict(max_lr=1.0, total_steps=1000, pct_start=0.3, anneal_strategy="linear")
    two = S.one_cycle_lr(598, 0.0, **base)
    three = S.one_cycle_lr(598, 0.0, **base, three_phase=True)
    assert three == pytest.approx(1.0 / 25, rel=1e-12) and two > 0.3


def test_step_lr_drops_exactly_at_multiples() -> None:
    for step_size, gamma in [(1, 0.5), (7, 0.9), (300, 0.1)]:
        got, _ = drive("StepLR", dict(step_size=step_size, gamma=gamma), 1000, 0.1)
        t = np.arange(1, 1001)
        drops = t[got[1:] != got[:-1]]
        assert np.array_equal(drops, t[t % step_size == 0])
        assert np.allclose(got[drops] / got[drops - 1], gamma, rtol=4 * EPS)
        marks = records._step_landmarks(0.1, dict(step_size=step_size, gamma=gamma))
        for k, value in marks:
            if k <= 1000:
                assert got[k] == pytest.approx(value, rel=(k // step_size + 2) * EPS)


def test_warmup_cosine_equals_torch_sequential_and_is_continuous() -> None:
    p = dict(start_factor=0.1, warmup_steps=100, T_max=900, eta_min=0.0)
    t = np.arange(0, 1001)
    ref = S.warmup_cosine(t, 0.1, **p)
    assert ref[0] == pytest.approx(0.01) and ref[100] == 0.1 and ref[1000] == 0.0
    assert np.all(np.diff(ref[:101]) > 0) and np.all(np.diff(ref[100:]) < 0)
    jump = abs(ref[100] - ref[99])
    assert jump == pytest.approx(0.1 * 0.9 / 100, rel=1e-12)  # one warmup increment
    assert lr_result(Case("WarmupCosine", p)).max_ratio <= 1.0


# ---------------------------------------------------------------------------------------------
# torch quirks: where torch differs from the mathematical form, with evidence


@pytest.mark.parametrize(
    "name,params,math_value,torch_value",
    [
        # ConstantLR: get_lr tests last_epoch == 0 before == total_iters, never undoes it.
        ("ConstantLR", dict(factor=0.5, total_iters=0), 0.1, 0.05),
        # LinearLR: start_factor at t=0, then "last_epoch > total_iters" holds it forever.
        ("LinearLR", dict(start_factor=0.5, end_factor=1.0, total_iters=0), 0.1, 0.05),
        # PolynomialLR: the decay is over before it starts, but torch keeps base_lr.
        ("PolynomialLR", dict(total_iters=0, power=1.0), 0.0, 0.1),
    ],
)
def test_torch_total_iters_zero(
    name: str, params: dict, math_value: float, torch_value: float
) -> None:
    got, _ = drive(name, params, 5, 0.1)
    assert np.all(got == torch_value)
    assert SCHEDULES[name].closed_form(3, 0.1, **params) == pytest.approx(math_value)
    assert variant(name, "torch")(3, 0.1, **params) == pytest.approx(torch_value)


@pytest.mark.parametrize(
    "name,params,steps,error",
    [
        ("ConstantLR", dict(factor=0.0, total_iters=3), 5, ZeroDivisionError),
        ("StepLR", dict(step_size=0), 2, ZeroDivisionError),
        ("OneCycleLR", dict(max_lr=1.0, total_steps=10, pct_start=0.1), 0, ZeroDivisionError),
        ("OneCycleLR", dict(max_lr=1.0, total_steps=10, pct_start=1.0), 10, ZeroDivisionError),
        ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=0), 0, ZeroDivisionError),
        ("CosineAnnealingWarmRestarts", dict(T_0=0), 0, ValueError),
        ("CosineAnnealingLR", dict(T_max=0), 1, ZeroDivisionError),
    ],
)
def test_constraint_rejects_what_torch_cannot_run(
    name: str, params: dict, steps: int, error: type[Exception]
) -> None:
    assert SCHEDULES[name].check_params(params)
    opt = make_optimizer(0.1)
    with pytest.raises(error):
        sched = build(name, opt, params)
        for _ in range(steps):
            opt.step()
            sched.step()


def test_torch_sequential_multiplicative_child_does_not_restart() -> None:
    # At a milestone torch calls child._update_lr(0); MultiplicativeLR has no closed form, so
    # it multiplies the previous child's lr by lr_lambda(0) rather than restarting at base.
    p = dict(
        schedulers=(
            ("ExponentialLR", {"gamma": 0.5}),
            ("MultiplicativeLR", {"lr_lambda": S.factor_0999}),
        ),
        milestones=(3,),
    )
    got, _ = drive("SequentialLR", p, 5, 0.1)
    assert got[3] == pytest.approx(0.1 * 0.5**2 * 0.999)  # not 0.1
    assert "MultiplicativeLR" in SCHEDULES["SequentialLR"].check_params(p)


def test_torch_chained_cosine_past_t_max_is_not_a_product() -> None:
    # CosineAnnealingLR's rising branch adds base*(1 - cos(pi/T))/2: an absolute amount that
    # ignores the other factors, so the chain stops being a product after T_max.
    p = dict(schedulers=(("ExponentialLR", {"gamma": 0.9}), ("CosineAnnealingLR", {"T_max": 4})))
    got, _ = drive("ChainedScheduler", p, 8, 0.1)
    ref = S.chained_scheduler(np.arange(9), 0.1, **p)
    assert np.allclose(got[:5], ref[:5], rtol=1e-13)
    assert got[5] == pytest.approx(0.1 * (1 - math.cos(math.pi / 4)) / 2)
    assert not np.isclose(got[5], ref[5])


# ---------------------------------------------------------------------------------------------
# The table itself


def test_specs_are_well_formed() -> None:
    names = {
        "ConstantLR",
        "StepLR",
        "MultiStepLR",
        "ExponentialLR",
        "CosineAnnealingLR",
        "CosineAnnealingWarmRestarts",
        "LinearLR",
        "PolynomialLR",
        "OneCycleLR",
        "CyclicLR",
        "LambdaLR",
        "MultiplicativeLR",
        "SequentialLR",
        "ChainedScheduler",
        "WarmupCosine",
        "SWALR",
        "ReduceLROnPlateau",
        "ConstantWithWarmup",
        "LinearWithWarmup",
        "CosineWithWarmup",
        "CosineHardRestartsWithWarmup",
        "PolynomialDecayWithWarmup",
        "InverseSqrtWithWarmup",
        "WarmupStableDecay",
        "TimmCosine",
        "TimmPoly",
        "TimmTanh",
        "TimmStep",
        "TimmMultiStep",
        "TimmPlateau",
    }
    assert set(SCHEDULES) == names
    for key, spec in SCHEDULES.items():
        invariants = {fn.check_id.removeprefix("schedule.") for fn in spec.invariants}
        # Metric-driven records list the plateau checks (tests/test_plateau.py).
        assert spec.name == key and spec.source and (spec.metric_driven or invariants <= INVARIANTS)
        assert set(spec.scope) <= set(spec.invariants)
        assert spec.check_params(spec.defaults) is None, key
        # The extra callables the checks will call all work at the defaults.
        for fn_name in ("bounds", "landmarks"):
            if getattr(spec, fn_name) is not None:
                assert getattr(spec, fn_name)(0.1, spec.defaults) is not None
        for fn_name in ("period", "horizon", "recipe"):
            if getattr(spec, fn_name) is not None:
                assert getattr(spec, fn_name)(spec.defaults)
        for scope in spec.scope.values():
            scope(spec.defaults)
        if key == "WarmupCosine" or spec.torch_class is None:  # factories: test_warmup_factories
            continue
        module, _, cls = spec.torch_class.rpartition(".")
        sig = inspect.signature(getattr(importlib.import_module(module), cls).__init__).parameters
        for dim in spec.space:
            assert dim.name in sig, (key, dim.name)
            default = sig[dim.name].default
            # torch's None there means "derive it" (step_size_down, total_steps from epochs).
            if default not in (inspect.Parameter.empty, None):
                assert dim.default == default, (key, dim.name)


@pytest.mark.parametrize("name", sorted(stepped_schedules()))
def test_defaults_match_torch_and_vectorize(name: str) -> None:
    spec = SCHEDULES[name]
    params = spec.defaults
    n = 300 if name != "OneCycleLR" else 999
    if name == "CyclicLR":
        params = dict(params, step_size_up=40)
    t = np.arange(n + 1)
    vec = np.asarray(spec.closed_form(t, 0.1, **params))
    scalar = np.array([spec.closed_form(int(k), 0.1, **params) for k in t[::37]])
    # NumPy's SIMD loops (np.sin, np.log) and its scalar path may differ by an ulp, so the two
    # evaluations agree within the round-off model of the closed form, not bit for bit (bit
    # equality holds only where one code path is guaranteed: test_integer_powers_are_exact).
    ref = vec[::37]
    assert np.all(np.abs(scalar - ref) <= BOUNDS[name](params, 0.1, t[::37], ref))
    assert isinstance(spec.closed_form(3, 0.1, **params), float)
    got, _ = drive(name, params, n, 0.1)
    bound = BOUNDS[name](params, 0.1, t, vec)
    assert np.all(np.abs(got - vec) <= bound)
    if spec.bounds is not None:
        lo, hi = spec.bounds(0.1, params)
        assert np.all((vec >= lo * (1 - 4 * EPS)) & (vec <= hi * (1 + 4 * EPS)))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("StepLR", dict(step_size=30, gamma=0.1)),
        ("MultiStepLR", dict(milestones=(30, 60, 60, 90), gamma=0.1)),
        ("ExponentialLR", dict(gamma=0.9)),
        ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2)),
    ],
)
def test_integer_powers_are_exact(name: str, params: dict) -> None:
    # gamma**k goes through one scalar pow per distinct k: a plateau has the same bits whether
    # the closed form is evaluated on a scalar, a strided array or a contiguous one.
    spec = SCHEDULES[name]
    t = np.arange(400)
    vec = np.asarray(spec.closed_form(t, 0.1, **params))
    strided = np.asarray(spec.closed_form(t[::7], 0.1, **params))
    scalar = np.array([spec.closed_form(int(k), 0.1, **params) for k in t])
    assert np.array_equal(vec, scalar) and np.array_equal(vec[::7], strided)
    if name == "CosineAnnealingWarmRestarts":  # restarts at 3 (2^k - 1), exactly
        assert [int(k) for k in t[1:] if spec.closed_form(int(k), 0.1, **params) == 0.1] == [
            3,
            9,
            21,
            45,
            93,
            189,
            381,
        ]
    else:
        assert vec[0] == 0.1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bound_is_not_vacuous(case: Case) -> None:
    # The same run against the schedule one step late must break the bound somewhere (unless
    # the schedule is flat): the tolerance leaves no room for an off-by-one.
    r = lr_result(case)
    spec = SCHEDULES[case.name]
    fn = variant(case.name, case.variant) if case.variant else spec.closed_form
    late = np.asarray(fn(np.arange(case.n_steps + 1) + 1, case.base_lr, **case.params))
    if np.array_equal(late, r.ref):
        pytest.skip("flat schedule: a shift changes nothing")
    assert np.any(np.abs(r.got - late) > r.bound)


def _draw(dim: Any, rng: np.random.Generator) -> Any:
    """A plain draw from a space dimension, edges and special values first-class."""
    if isinstance(dim, Choice):
        return dim.values[rng.integers(len(dim.values))]
    if isinstance(dim, Flag):
        return bool(rng.integers(2))
    if isinstance(dim, IntList):  # a few of the edges and an interior value, repeats, shuffled
        pool = [dim.low, dim.low + 1, int(rng.integers(dim.low, 300))]
        return tuple(int(v) for v in rng.choice(pool, size=int(rng.integers(0, 5))))
    if isinstance(dim, Int):
        if rng.random() < 0.3:
            return int(rng.choice([dim.low, dim.high, dim.default]))
        return int(np.exp(rng.uniform(np.log(dim.low + 1), np.log(dim.high + 1)))) - 1
    if dim.special and rng.random() < 0.3:
        return float(rng.choice(dim.special))
    if dim.log:
        return float(np.exp(rng.uniform(np.log(dim.low), np.log(dim.high))))
    return float(rng.uniform(dim.low, dim.high))


@pytest.mark.parametrize("name", sorted(stepped_schedules()))
def test_space_draws_match_torch(name: str) -> None:
    # Points from each spec's own space (T_max=1, total_iters=0, milestone 0, ...), 300 steps.
    spec = SCHEDULES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    torch_form = next((v.fn for v in spec.variants if v.name == "torch"), spec.closed_form)
    drawn = 0
    for _ in range(200):
        params = {d.name: _draw(d, rng) for d in spec.space}
        if spec.check_params(params) is not None:
            continue
        n = 300
        if spec.horizon is not None:
            n = min(n, spec.horizon(params) - 1)
        t = np.arange(n + 1)
        got, _ = drive(name, params, n, 0.1)
        ref = np.asarray(torch_form(t, 0.1, **params))
        bound = BOUNDS[name](params, 0.1, t, ref)
        bad = np.abs(got - ref) > bound
        assert not bad.any(), (params, int(np.argmax(bad)))
        drawn += 1
        if drawn == 8:
            break
    assert drawn == 8


def test_swalr_anneals_to_swa_lr_as_torch_documents() -> None:
    # torch docs, SWALR: alpha = t/T (linear) or (1 - cos(pi t/T))/2 (cos), lr = swa alpha +
    # base (1 - alpha), swa_lr from t = T on; anneal_epochs = 0 is swa_lr at once.
    lin = S.swalr(np.arange(6), 1.0, swa_lr=0.2, anneal_epochs=4, anneal_strategy="linear")
    np.testing.assert_allclose(lin, [1.0, 0.8, 0.6, 0.4, 0.2, 0.2], rtol=1e-15)
    cos = S.swalr(1, 1.0, swa_lr=0.2, anneal_epochs=4, anneal_strategy="cos")
    assert cos == pytest.approx(0.2 + 0.8 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-15)
    assert S.swalr(0, 1.0, swa_lr=0.2, anneal_epochs=0) == 0.2
    assert S.constraint_swalr({"swa_lr": 0.1, "anneal_epochs": 2.0}) is not None


def test_torch_swalr_per_group_swa_lr_matches_the_closed_form_per_group() -> None:
    # swa_lr as a list (one per group), each group annealing from its own lr (issue 11).
    groups = [
        {"params": [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], "lr": lr}
        for lr in (0.1, 2.0)
    ]
    opt = torch.optim.SGD(groups)
    sched = torch.optim.swa_utils.SWALR(opt, swa_lr=[0.5, 0.01], anneal_epochs=7)
    got = [[g["lr"] for g in opt.param_groups]]
    for _ in range(12):
        opt.step()
        sched.step()
        got.append([g["lr"] for g in opt.param_groups])
    t = np.arange(13)
    for g, (base, swa) in enumerate([(0.1, 0.5), (2.0, 0.01)]):
        want = S.swalr(t, base, swa_lr=swa, anneal_epochs=7)
        bound = _bound_swalr({"swa_lr": swa, "anneal_epochs": 7}, base, t, want)
        assert np.all(np.abs(np.array(got)[:, g] - want) <= bound), g
