"""Learning-rate schedules as float64 closed forms, one per torch.optim.lr_scheduler class.

Every closed form has the signature ``f(t, base_lr, /, **params)``: ``t`` is the scheduler's
epoch (the number of ``scheduler.step()`` calls since construction, torch's ``last_epoch``;
t = 0 is the value right after construction), ``base_lr`` is the optimizer's lr at
construction and ``params`` are the scheduler's constructor keywords under torch's names.
The two leading arguments are positional-only so that CyclicLR's own ``base_lr`` keyword can
travel in ``params``. ``t`` may be a scalar (a float comes back) or a NumPy array (an array
comes back).

These are the mathematical forms, evaluated stably (1 + cos x as 2 sin^2 of the reduced
argument, ratios of integers formed before one division), not torch's recursive updates;
they differ from torch's chainable forms by round-off only, except where a spec's ``notes``
say torch differs on purpose or by accident (then a ``Variant`` reproduces torch).

The records (optcheck.checks.algorithms.schedules) hold these closed forms with what the
checks need to know about each schedule (optcheck.checks.records.ScheduleSpec).
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

TLike = Any  # int | float | np.ndarray
LR = Any  # float for scalar t, np.ndarray for array t

_TORCH = "torch.optim.lr_scheduler."


def _out(value: Any, t: TLike) -> LR:
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if np.ndim(t) == 0 else arr


def _pow(base: Any, exponent: Any) -> np.ndarray:
    """base**exponent element-wise through the C library's pow, once per distinct pair.

    NumPy's SIMD power loop and its scalar path may differ by an ulp (seen: AVX-512, 0.1**2),
    so np.power would make a closed form's value depend on whether it was called with a scalar
    or an array. One code path for both keeps piecewise-constant schedules bit-identical
    however they are evaluated, and exact where the power is representable (2.0**k).
    """
    b, e = np.broadcast_arrays(np.asarray(base, np.float64), np.asarray(exponent, np.float64))
    pairs, where = np.unique(np.stack([b.ravel(), e.ravel()]), axis=1, return_inverse=True)
    values = np.array([_c_pow(float(x), float(y)) for x, y in pairs.T], dtype=np.float64)
    return values[np.ravel(where)].reshape(b.shape)


def _c_pow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf
    except (ValueError, ZeroDivisionError):  # negative base to a fractional power; 0**-y
        return math.nan if x < 0 else math.inf


def _cos_half(num: Any, den: Any) -> np.ndarray:
    """(1 + cos(pi * num / den)) / 2, accurate to a few ulps relative everywhere.

    Written as sin^2(pi d / 2) with d = (den - (num mod 2 den)) / den, so the cancellation
    in 1 + cos near the bottom of the cosine never happens.
    """
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    d = (den - np.mod(num, 2.0 * den)) / den
    return np.sin(0.5 * np.pi * d) ** 2


def _pointwise(fn: Callable[[Any], float], t: TLike) -> np.ndarray:
    """Apply a user callable elementwise (torch calls it with Python numbers)."""
    ts = np.asarray(t)
    py = (lambda v: int(v)) if np.issubdtype(ts.dtype, np.integer) else (lambda v: float(v))
    return np.array([fn(py(v)) for v in ts.ravel()], dtype=np.float64).reshape(ts.shape)


# ---------------------------------------------------------------------------------------------
# Closed forms


def constant_lr(t: TLike, base_lr: float, /, factor: float = 1.0 / 3, total_iters: int = 5) -> LR:
    # torch docs, ConstantLR: eta_t = base * factor for t < total_iters, else base.
    t = np.asarray(t)
    return _out(base_lr * np.where(t < total_iters, factor, 1.0), t)


def _whole(total_iters: float) -> bool:
    return float(total_iters).is_integer()


def constant_lr_torch(
    t: TLike, base_lr: float, /, factor: float = 1.0 / 3, total_iters: int = 5
) -> LR:
    # torch's recursive get_lr tests "last_epoch == 0" before "== total_iters", so with
    # total_iters = 0 it never undoes the factor; nor where no epoch equals a fractional one.
    if total_iters == 0 or not _whole(total_iters):
        return _out(base_lr * factor * np.ones_like(np.asarray(t), dtype=np.float64), t)
    return constant_lr(t, base_lr, factor=factor, total_iters=total_iters)


def linear_lr(
    t: TLike,
    base_lr: float,
    /,
    start_factor: float = 1.0 / 3,
    end_factor: float = 1.0,
    total_iters: int = 5,
) -> LR:
    # torch docs, LinearLR: factor moves linearly start -> end over total_iters, then holds.
    t = np.asarray(t)
    if total_iters == 0:  # the ramp is already over at t = 0
        return _out(base_lr * end_factor * np.ones_like(t, dtype=np.float64), t)
    frac = np.minimum(t, total_iters) / total_iters
    return _out(base_lr * (start_factor + (end_factor - start_factor) * frac), t)


def linear_lr_torch(
    t: TLike,
    base_lr: float,
    /,
    start_factor: float = 1.0 / 3,
    end_factor: float = 1.0,
    total_iters: int = 5,
) -> LR:
    # torch, total_iters = 0: t = 0 applies start_factor and t > total_iters holds it forever.
    if total_iters == 0:
        return _out(base_lr * start_factor * np.ones_like(np.asarray(t), dtype=np.float64), t)
    # A fractional total_iters: the recursion stops past it, at its floor (never at the end).
    t = np.minimum(np.asarray(t), math.floor(total_iters))
    return linear_lr(
        t, base_lr, start_factor=start_factor, end_factor=end_factor, total_iters=total_iters
    )


def exponential_lr(t: TLike, base_lr: float, /, gamma: float = 0.95) -> LR:
    # torch docs, ExponentialLR: eta_t = base * gamma^t.
    t = np.asarray(t)
    return _out(base_lr * _pow(float(gamma), t), t)


def step_lr(t: TLike, base_lr: float, /, step_size: int = 30, gamma: float = 0.1) -> LR:
    # torch docs, StepLR: eta_t = base * gamma^floor(t / step_size).
    t = np.asarray(t)
    return _out(base_lr * _pow(float(gamma), t // step_size), t)


def multistep_lr(
    t: TLike, base_lr: float, /, milestones: Sequence[int] = (30, 80), gamma: float = 0.1
) -> LR:
    # torch docs, MultiStepLR: eta_t = base * gamma^#{milestones m <= t}; repeats count twice.
    t = np.asarray(t)
    count = np.zeros(t.shape, dtype=np.int64)
    for m in milestones:
        count = count + (t >= m)
    return _out(base_lr * _pow(float(gamma), count), t)


def polynomial_lr(t: TLike, base_lr: float, /, total_iters: int = 5, power: float = 1.0) -> LR:
    # torch docs, PolynomialLR: eta_t = base * (1 - min(t, T) / T)^power.
    t = np.asarray(t)
    if total_iters == 0:  # the decay is already complete at t = 0
        return _out(base_lr * _pow(0.0, power) * np.ones_like(t, dtype=np.float64), t)
    left = (total_iters - np.minimum(t, total_iters)) / total_iters
    return _out(base_lr * _pow(left, power), t)


def polynomial_lr_torch(
    t: TLike, base_lr: float, /, total_iters: int = 5, power: float = 1.0
) -> LR:
    # torch, total_iters = 0: the initial step keeps base and t > total_iters holds it.
    if total_iters == 0:
        return _out(base_lr * np.ones_like(np.asarray(t), dtype=np.float64), t)
    # A fractional total_iters: the recursion stops past it, at its floor (never at zero).
    t = np.minimum(np.asarray(t), math.floor(total_iters))
    return polynomial_lr(t, base_lr, total_iters=total_iters, power=power)


def cosine_annealing_lr(t: TLike, base_lr: float, /, T_max: int = 100, eta_min: float = 0.0) -> LR:
    # Loshchilov & Hutter 2017 (SGDR) eq. (5) with T_cur = t, T_i = T_max, no restart. torch
    # keeps following the cosine past T_max (rising again, period 2 T_max); so does this.
    t = np.asarray(t)
    return _out(eta_min + (base_lr - eta_min) * _cos_half(t, T_max), t)


def _restart_index(t: np.ndarray, T_0: int, T_mult: int) -> tuple[np.ndarray, np.ndarray]:
    """(T_cur, T_i) of SGDR at epoch t: cycle i starts at T_0 (T_mult^i - 1) / (T_mult - 1)."""
    t = np.asarray(t, dtype=np.float64)
    if T_mult == 1:
        n = np.floor(t / T_0)
        return t - n * T_0, np.full(t.shape, float(T_0))
    m = float(T_mult)
    n = np.floor(np.log(t * (m - 1.0) / T_0 + 1.0) / np.log(m))

    def start(k: np.ndarray) -> np.ndarray:  # exact in float64 for integer k, T_0
        return T_0 * (_pow(m, k) - 1.0) / (m - 1.0)

    # The log may land one off at a boundary; settle n with exact comparisons.
    n = np.where(start(n + 1.0) <= t, n + 1.0, n)
    n = np.where(start(n) > t, n - 1.0, n)
    return t - start(n), T_0 * _pow(m, n)


def cosine_annealing_warm_restarts(
    t: TLike, base_lr: float, /, T_0: int = 10, T_mult: int = 1, eta_min: float = 0.0
) -> LR:
    # Loshchilov & Hutter 2017 (SGDR) eq. (5), T_i = T_0 * T_mult^i (sec. 3); t may be
    # fractional, as torch's step(epoch) accepts.
    t_arr = np.asarray(t)
    t_cur, t_i = _restart_index(t_arr, T_0, T_mult)
    return _out(eta_min + (base_lr - eta_min) * _cos_half(t_cur, t_i), t_arr)


def cosine_annealing_warm_restarts_torch_epoch(
    t: TLike, base_lr: float, /, T_0: int = 10, T_mult: int = 1, eta_min: float = 0.0
) -> LR:
    """torch's step(epoch=t): the cycle index is int(math.log(t/T_0*(T_mult-1)+1, T_mult)),
    which rounds down one cycle where the log comes out a hair below an integer."""
    ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    out = np.empty(ts.shape)
    for j, e in enumerate(ts.ravel()):
        if e >= T_0 and T_mult != 1:
            n = int(math.log(e / T_0 * (T_mult - 1) + 1, T_mult))
            t_cur = e - T_0 * (T_mult**n - 1) / (T_mult - 1)
            t_i = T_0 * T_mult**n
        elif e >= T_0:
            t_cur, t_i = e % T_0, T_0
        else:
            t_cur, t_i = e, T_0
        out.ravel()[j] = eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
    return _out(out.reshape(np.shape(t)), t)


def swalr(
    t: TLike,
    base_lr: float,
    /,
    swa_lr: float = 0.05,
    anneal_epochs: int = 10,
    anneal_strategy: str = "cos",
) -> LR:
    # torch docs, torch.optim.swa_utils.SWALR: the lr moves from the optimizer's lr to swa_lr
    # over anneal_epochs (alpha = t/T linear, (1 - cos(pi t/T))/2 cosine), then holds it: the
    # constant SWA lr of Izmailov et al. 2018 (arXiv:1803.05407) sec. 3. anneal_epochs = 0
    # is swa_lr from t = 0. Written as swa + (base - swa)(1 - alpha), stable at both ends.
    t = np.asarray(t)
    if anneal_epochs == 0:
        return _out(swa_lr * np.ones_like(t, dtype=np.float64), t)
    done = np.minimum(t, anneal_epochs)
    if anneal_strategy == "cos":
        left = _cos_half(done, anneal_epochs)
    elif anneal_strategy == "linear":
        left = (anneal_epochs - done) / anneal_epochs
    else:
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
    return _out(swa_lr + (base_lr - swa_lr) * left, t)


def one_cycle_total(total_steps: int | None, epochs: int | None, spe: int | None) -> int:
    if total_steps is not None:
        return int(total_steps)
    if epochs is None or spe is None:
        raise ValueError("OneCycleLR needs total_steps or (epochs and steps_per_epoch)")
    return int(epochs) * int(spe)


def _one_cycle_ends(n_total: int, pct_start: float, three_phase: bool) -> list[float]:
    e1 = float(pct_start * n_total) - 1.0
    if three_phase:
        return [e1, float(2 * pct_start * n_total) - 2.0, n_total - 1.0]
    return [e1, n_total - 1.0]


# (start level, end level) of each phase, torch's _schedule_phases.
ONE_CYCLE_PHASES = {
    ("lr", False): (("initial", "max"), ("max", "min")),
    ("lr", True): (("initial", "max"), ("max", "initial"), ("initial", "min")),
    ("momentum", False): (("max_m", "base_m"), ("base_m", "max_m")),
    ("momentum", True): (("max_m", "base_m"), ("base_m", "max_m"), ("max_m", "max_m")),
}


def one_cycle_levels(p: Mapping[str, Any]) -> dict[str, float]:
    """The named levels of OneCycleLR, computed in torch's order (bit-identical)."""
    initial = float(p["max_lr"]) / p.get("div_factor", 25.0)
    return {
        "initial": initial,
        "max": float(p["max_lr"]),
        "min": initial / p.get("final_div_factor", 1e4),
        "max_m": p.get("max_momentum", 0.95),
        "base_m": p.get("base_momentum", 0.85),
    }


def _one_cycle_phases(
    t: np.ndarray, n_total: int, pct_start: float, three_phase: bool, extrapolate: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Masks and fractions of each phase, with torch's phase ends (float(pct*N) - 1, ...)."""
    ends = _one_cycle_ends(n_total, pct_start, three_phase)
    t = np.asarray(t, dtype=np.float64)
    taken = np.zeros(t.shape, dtype=bool)
    masks, fracs = [], []
    start = 0.0
    for i, end in enumerate(ends):
        last = i == len(ends) - 1
        mask = ~taken if last else (~taken & (t <= end))
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = (t - start) / (end - start)
        if not (last and extrapolate):
            frac = np.clip(frac, 0.0, 1.0)
        masks.append(mask)
        fracs.append(frac)
        taken |= mask
        start = end
    return masks, fracs


def _anneal(start: float, end: float, frac: np.ndarray, strategy: str) -> np.ndarray:
    if strategy == "cos":  # Smith & Topin 2019 use linear; torch (after fastai) defaults to cos
        return end + (start - end) * _cos_half(frac, 1.0)
    if strategy == "linear":
        return start + (end - start) * frac
    raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {strategy!r}")


def _one_cycle(t: TLike, key: str, extrapolate: bool, p: Mapping[str, Any]) -> LR:
    n_total = one_cycle_total(p.get("total_steps"), p.get("epochs"), p.get("steps_per_epoch"))
    levels = one_cycle_levels(p)
    three = bool(p.get("three_phase", False))
    ends = ONE_CYCLE_PHASES[(key, three)]
    t_arr = np.asarray(t)
    masks, fracs = _one_cycle_phases(t_arr, n_total, p.get("pct_start", 0.3), three, extrapolate)
    out = np.zeros(t_arr.shape)
    strategy = p.get("anneal_strategy", "cos")
    for (a, b), mask, frac in zip(ends, masks, fracs, strict=True):
        if np.any(mask):
            out = np.where(mask, _anneal(levels[a], levels[b], frac, strategy), out)
    return _out(out, t_arr)


def one_cycle_lr(t: TLike, optimizer_lr: float = 0.0, /, **params: Any) -> LR:
    # Smith & Topin 2019 (super-convergence, arXiv:1708.07120) 1cycle policy, with torch's
    # phase ends: phase 1 ends at float(pct_start*N) - 1, three-phase phase 2 at
    # 2*pct_start*N - 2, the last at N - 1; past N - 1 the schedule is over and stays at
    # min_lr. optimizer_lr is unused: torch sets initial_lr = max_lr / div_factor itself.
    return _one_cycle(t, "lr", False, params)


def one_cycle_lr_torch(t: TLike, optimizer_lr: float = 0.0, /, **params: Any) -> LR:
    # torch at t = N (the step after the last batch, still accepted) extrapolates the last
    # phase: linear annealing gives min_lr - (max_lr - min_lr)/L, below zero.
    return _one_cycle(t, "lr", True, params)


def one_cycle_momentum(t: TLike, optimizer_lr: float = 0.0, /, **params: Any) -> LR:
    # Smith 2018 (arXiv:1803.09820, cyclical momentum): momentum mirrors the lr,
    # max_momentum -> base_momentum -> max_momentum; same phases and anneal as the lr.
    # Applies to SGD's momentum and to Adam-family betas[0] alike.
    if not params.get("cycle_momentum", True):
        raise ValueError("momentum is not cycled with cycle_momentum=False")
    return _one_cycle(t, "momentum", False, params)


def _cyclic_scale(t: np.ndarray, p: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(position in the triangle in [0, 1], amplitude scale) at epoch t."""
    up = float(p.get("step_size_up", 2000))
    down = p.get("step_size_down")
    down = up if down is None else float(down)
    total = up + down
    t_in = np.asarray(t)
    t = t_in.astype(np.float64)
    cycle = np.floor(t / total) + 1.0
    pos = t - (cycle - 1.0) * total  # exact for integer t
    with np.errstate(divide="ignore", invalid="ignore"):
        tri = np.where(pos <= up, pos / up, (total - pos) / down)
    fn = p.get("scale_fn")
    mode = p.get("mode", "triangular")
    if fn is not None:
        # torch passes Python ints (the cycle, or last_epoch) to a custom scale_fn.
        arg = cycle.astype(np.int64) if p.get("scale_mode", "cycle") == "cycle" else t_in
        scale = _pointwise(fn, arg)
    elif mode == "triangular":
        scale = np.ones(t.shape)
    elif mode == "triangular2":
        scale = _pow(0.5, cycle - 1.0)
    elif mode == "exp_range":
        scale = _pow(float(p.get("gamma", 1.0)), t)
    else:
        raise ValueError(f"unknown CyclicLR mode {mode!r}")
    return tri, scale


def cyclic_lr(t: TLike, optimizer_lr: float = 0.0, /, **params: Any) -> LR:
    # Smith 2017 (cyclical learning rates) sec. 3.1: triangular policy, triangular2 halves the
    # amplitude each cycle, exp_range scales it by gamma^t; torch allows step_size_up !=
    # step_size_down. optimizer_lr is unused: torch sets the lr to base_lr.
    tri, scale = _cyclic_scale(np.asarray(t), params)
    base = float(params["base_lr"])
    return _out(base + (float(params["max_lr"]) - base) * tri * scale, t)


def cyclic_momentum(t: TLike, optimizer_lr: float = 0.0, /, **params: Any) -> LR:
    # Smith 2018 (arXiv:1803.09820) / torch docs: momentum cycles inversely, max_momentum
    # at the lr's trough, base_momentum at its peak (SGD momentum or Adam betas[0]).
    if not params.get("cycle_momentum", True):
        raise ValueError("momentum is not cycled with cycle_momentum=False")
    tri, scale = _cyclic_scale(np.asarray(t), params)
    top = float(params.get("max_momentum", 0.9))
    return _out(top - (top - float(params.get("base_momentum", 0.8))) * tri * scale, t)


def lambda_lr(t: TLike, base_lr: float, /, lr_lambda: Callable[[int], float]) -> LR:
    # torch docs, LambdaLR: eta_t = base * lr_lambda(t).
    return _out(base_lr * _pointwise(lr_lambda, t), t)


def multiplicative_lr(t: TLike, base_lr: float, /, lr_lambda: Callable[[int], float]) -> LR:
    # torch docs, MultiplicativeLR: eta_t = base * prod_{s=1..t} lr_lambda(s); t = 0 is base.
    t_arr = np.asarray(t)
    top = int(np.max(t_arr)) if t_arr.size else 0
    factors = np.array([1.0] + [float(lr_lambda(s)) for s in range(1, top + 1)])
    return _out(base_lr * np.cumprod(factors)[t_arr.astype(np.int64)], t)


def _child(entry: Any) -> tuple[str, Mapping[str, Any]]:
    """A child's torch class name (it is named, or a record) and its parameters."""
    child, params = entry
    return child if isinstance(child, str) else child.name, dict(params)


def sequential_lr(
    t: TLike, base_lr: float, /, schedulers: Sequence[Any], milestones: Sequence[int]
) -> LR:
    # torch docs/source, SequentialLR: child k = bisect_right(milestones, t) runs on its own
    # clock, restarted at milestone m_k (torch calls child._update_lr(0) there) from base_lr.
    t_arr = np.asarray(t)
    ks = np.array([bisect_right(list(milestones), v) for v in t_arr.ravel()]).reshape(t_arr.shape)
    out = np.zeros(t_arr.shape)
    for k in np.unique(ks):
        name, params = _child(schedulers[k])
        offset = milestones[k - 1] if k > 0 else 0
        mask = ks == k
        vals = CLOSED_FORMS[name](t_arr[mask] - offset, base_lr, **params)
        out[mask] = vals
    return _out(out, t_arr)


def chained_scheduler(t: TLike, base_lr: float, /, schedulers: Sequence[Any]) -> LR:
    # torch docs, ChainedScheduler: every chainable child multiplies the current lr by its
    # own ratio, so eta_t = base * prod_k f_k(t) / base (multiplicative children only).
    t_arr = np.asarray(t)
    out = np.full(t_arr.shape, float(base_lr))
    for entry in schedulers:
        name, params = _child(entry)
        out = out * np.asarray(CLOSED_FORMS[name](t_arr, 1.0, **params))
    return _out(out, t_arr)


def warmup_cosine(
    t: TLike,
    base_lr: float,
    /,
    start_factor: float = 0.1,
    warmup_steps: int = 100,
    T_max: int = 900,
    eta_min: float = 0.0,
) -> LR:
    # Goyal et al. 2017 sec. 2.2 (gradual linear warmup) then SGDR eq. (5) without restart;
    # as torch SequentialLR([LinearLR(start_factor, 1, warmup), CosineAnnealingLR(T_max,
    # eta_min)], milestones=[warmup]).
    t = np.asarray(t)
    warm = linear_lr(
        t, base_lr, start_factor=start_factor, end_factor=1.0, total_iters=max(warmup_steps, 1)
    )
    cos = cosine_annealing_lr(t - warmup_steps, base_lr, T_max=T_max, eta_min=eta_min)
    return _out(np.where(t < warmup_steps, warm, cos), t)


def warmup_cosine_recipe(p: Mapping[str, Any]) -> dict[str, Any]:
    q = {"start_factor": 0.1, "warmup_steps": 100, "T_max": 900, "eta_min": 0.0, **p}
    warm = {"start_factor": q["start_factor"], "end_factor": 1.0, "total_iters": q["warmup_steps"]}
    cos = {"T_max": q["T_max"], "eta_min": q["eta_min"]}
    return {
        "schedulers": [("LinearLR", warm), ("CosineAnnealingLR", cos)],
        "milestones": [q["warmup_steps"]],
    }


# ---------------------------------------------------------------------------------------------
# Named callables for the spaces of LambdaLR, MultiplicativeLR and CyclicLR's scale_fn.


def lambda_inverse_sqrt(epoch: int) -> float:
    """1 / sqrt(1 + epoch): the inverse square-root decay (Vaswani et al. 2017 sec. 5.3)."""
    return 1.0 / math.sqrt(1.0 + epoch)


def lambda_linear_to_zero_1000(epoch: int) -> float:
    return max(0.0, 1.0 - epoch / 1000.0)


def lambda_halve_every_100(epoch: int) -> float:
    return 0.5 ** (epoch // 100)


def lambda_one(epoch: int) -> float:
    return 1.0


def lambda_warmup_to_4x(epoch: int) -> float:
    """A factor above 1 (torch takes any): linear warm-up to 4x the base lr over 75 epochs."""
    return min(4.0, 1.0 + epoch / 25.0)


def factor_0999(epoch: int) -> float:
    return 0.999


def factor_1001(epoch: int) -> float:
    """A factor above 1: the lr grows by 0.1 % a step."""
    return 1.001


def factor_halve_every_100(epoch: int) -> float:
    return 0.5 if epoch % 100 == 0 else 1.0


def factor_slow_then_fast(epoch: int) -> float:
    return 0.9995 if epoch < 500 else 0.995


def scale_inverse_cycle(x: float) -> float:
    """A custom CyclicLR scale_fn in [0, 1] for x >= 0 (cycle numbers or iterations)."""
    return 1.0 / max(x, 1.0)


def scale_exp_iterations(x: float) -> float:
    return 0.999**x


# ---------------------------------------------------------------------------------------------
# Constraints (None: torch accepts and runs; else why not)


def constraint_constant(p: Mapping[str, Any]) -> str | None:
    f, n = p.get("factor", 1.0 / 3), p.get("total_iters", 5)
    if not 0.0 <= f <= 1.0:
        return "factor must lie in [0, 1]"
    if f == 0.0 and n > 0:
        return "factor=0 makes torch divide by zero at total_iters"
    return None if n >= 0 else "total_iters must be >= 0"


def constraint_linear(p: Mapping[str, Any]) -> str | None:
    if not 0.0 < p.get("start_factor", 1.0 / 3) <= 1.0:
        return "start_factor must lie in (0, 1]"
    if not 0.0 <= p.get("end_factor", 1.0) <= 1.0:
        return "end_factor must lie in [0, 1]"
    return None if p.get("total_iters", 5) >= 0 else "total_iters must be >= 0"


def constraint_step(p: Mapping[str, Any]) -> str | None:
    return None if p.get("step_size", 30) >= 1 else "step_size must be >= 1 (torch takes t % 0)"


def constraint_multistep(p: Mapping[str, Any]) -> str | None:
    # torch takes any ints, negative ones too (m <= t from the start: counted at t = 0).
    return None


def constraint_exponential(p: Mapping[str, Any]) -> str | None:
    return None if p.get("gamma", 0.95) >= 0 else "gamma must be >= 0"


def constraint_polynomial(p: Mapping[str, Any]) -> str | None:
    if p.get("total_iters", 5) < 0:
        return "total_iters must be >= 0"
    return None if p.get("power", 1.0) >= 0 else "power must be >= 0"


def constraint_cosine(p: Mapping[str, Any]) -> str | None:
    return None if p.get("T_max", 100) >= 1 else "T_max must be >= 1 (torch divides by T_max)"


def constraint_restarts(p: Mapping[str, Any]) -> str | None:
    if p.get("T_0", 10) < 1:
        return "T_0 must be a positive integer"
    return None if p.get("T_mult", 1) >= 1 else "T_mult must be an integer >= 1"


def constraint_one_cycle(p: Mapping[str, Any]) -> str | None:
    try:
        n = one_cycle_total(p.get("total_steps"), p.get("epochs"), p.get("steps_per_epoch"))
    except ValueError as e:
        return str(e)
    if n <= 0:
        return "total_steps must be positive"
    pct = p.get("pct_start", 0.3)
    if not (isinstance(pct, float) and 0.0 <= pct <= 1.0):
        return "pct_start must be a float in [0, 1]"
    if p.get("anneal_strategy", "cos") not in ("cos", "linear"):
        return "anneal_strategy must be 'cos' or 'linear'"
    ends = _one_cycle_ends(n, pct, bool(p.get("three_phase")))
    if ends[0] == 0.0:
        return "pct_start*total_steps == 1: torch divides 0/0 at t=0 (empty first phase)"
    if ends[-1] == ends[-2]:
        return "the last phase is empty: torch divides by zero at its final step t=total_steps"
    if p.get("three_phase") and ends[1] > ends[2]:
        return "three_phase with pct_start > ~0.5: phase 2 overruns the end, phase 3 never runs"
    return None


def constraint_cyclic(p: Mapping[str, Any]) -> str | None:
    if p.get("step_size_up", 2000) < 1:
        return "step_size_up must be >= 1 (torch divides 0/0 at t=0)"
    down = p.get("step_size_down")
    if down is not None and down < 0:
        return "step_size_down must be >= 0"
    if p.get("scale_fn") is None and p.get("mode", "triangular") not in (
        "triangular",
        "triangular2",
        "exp_range",
    ):
        return "mode is invalid and scale_fn is None"
    return None


def constraint_swalr(p: Mapping[str, Any]) -> str | None:
    ae = p.get("anneal_epochs", 10)
    if not isinstance(ae, int) or isinstance(ae, bool) or ae < 0:
        return "anneal_epochs must be an int >= 0 (torch raises otherwise)"
    if p.get("anneal_strategy", "cos") not in ("cos", "linear"):
        return "anneal_strategy must be 'cos' or 'linear'"
    return None if p.get("swa_lr", 0.05) >= 0 else "swa_lr must be >= 0"


def constraint_lambda(p: Mapping[str, Any]) -> str | None:
    return None if callable(p.get("lr_lambda")) else "lr_lambda must be callable"


# Children whose torch step multiplies the current lr by a ratio of its own closed form.
MULTIPLICATIVE = {
    "ConstantLR",
    "LinearLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "PolynomialLR",
    "MultiplicativeLR",
    "CosineAnnealingLR",
}
# Children that restart cleanly at a SequentialLR milestone (torch's _update_lr(0)).
RESTARTABLE = MULTIPLICATIVE | {"LambdaLR", "CosineAnnealingWarmRestarts"}


def _children_reason(children: Sequence[Any], allowed: set[str]) -> str | None:
    if len(children) < 1:
        return "needs at least one child scheduler"
    for i, entry in enumerate(children):
        name, params = _child(entry)
        if name not in allowed:
            return f"child {i} ({name}) cannot be composed this way"
        if params.get("total_iters", 1) == 0:
            return f"child {i} has total_iters=0, where torch's recursive and closed forms split"
        if name == "ConstantLR" and 0.0 < params.get("factor", 1.0) < sys.float_info.min:
            return f"child {i}: a subnormal factor, whose 1/factor torch overflows"
        reason = CONSTRAINTS[name](params)
        if reason:
            return f"child {i}: {reason}"
    return None


def constraint_sequential(p: Mapping[str, Any]) -> str | None:
    children, ms = p.get("schedulers", ()), list(p.get("milestones", ()))
    if len(ms) != len(children) - 1:
        return "needs exactly one milestone fewer than schedulers"
    if ms != sorted(ms) or any(m < 0 for m in ms):
        return "milestones must be non-negative and sorted"
    for i, entry in enumerate(children[1:], start=1):
        if _child(entry)[0] == "MultiplicativeLR":
            return (
                f"child {i} is MultiplicativeLR: at its milestone torch multiplies the "
                "previous child's lr by lr_lambda(0) instead of restarting"
            )
    return _children_reason(children, RESTARTABLE)


def constraint_chained(p: Mapping[str, Any]) -> str | None:
    children = p.get("schedulers", ())
    for i, entry in enumerate(children):
        name, params = _child(entry)
        if name == "CosineAnnealingLR" and params.get("eta_min", 0.0) != 0.0:
            return f"child {i}: CosineAnnealingLR with eta_min != 0 is affine, not a factor"
    return _children_reason(children, MULTIPLICATIVE)


def constraint_warmup_cosine(p: Mapping[str, Any]) -> str | None:
    if not 0.0 < p.get("start_factor", 0.1) <= 1.0:
        return "start_factor must lie in (0, 1] (torch's LinearLR)"
    if p.get("warmup_steps", 100) < 0:
        return "warmup_steps must be >= 0"
    return None if p.get("T_max", 900) >= 1 else "T_max must be >= 1"


# Every closed form by torch's class name (composites name their children so).
CLOSED_FORMS: dict[str, Callable[..., Any]] = {
    "ConstantLR": constant_lr,
    "StepLR": step_lr,
    "MultiStepLR": multistep_lr,
    "ExponentialLR": exponential_lr,
    "CosineAnnealingLR": cosine_annealing_lr,
    "CosineAnnealingWarmRestarts": cosine_annealing_warm_restarts,
    "LinearLR": linear_lr,
    "PolynomialLR": polynomial_lr,
    "OneCycleLR": one_cycle_lr,
    "CyclicLR": cyclic_lr,
    "LambdaLR": lambda_lr,
    "MultiplicativeLR": multiplicative_lr,
    "SequentialLR": sequential_lr,
    "ChainedScheduler": chained_scheduler,
    "WarmupCosine": warmup_cosine,
    "SWALR": swalr,
}
# Every schedule's constraint by name: a composite checks its children with these.
CONSTRAINTS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "ConstantLR": constraint_constant,
    "StepLR": constraint_step,
    "MultiStepLR": constraint_multistep,
    "ExponentialLR": constraint_exponential,
    "CosineAnnealingLR": constraint_cosine,
    "CosineAnnealingWarmRestarts": constraint_restarts,
    "LinearLR": constraint_linear,
    "PolynomialLR": constraint_polynomial,
    "OneCycleLR": constraint_one_cycle,
    "CyclicLR": constraint_cyclic,
    "LambdaLR": constraint_lambda,
    "MultiplicativeLR": constraint_lambda,
    "SequentialLR": constraint_sequential,
    "ChainedScheduler": constraint_chained,
    "WarmupCosine": constraint_warmup_cosine,
    "SWALR": constraint_swalr,
}
