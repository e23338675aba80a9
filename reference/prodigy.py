"""Prodigy in float64 (Mishchenko & Defazio 2024, "Prodigy: An Expeditiously Adaptive
Parameter-Free Learner", ICML, arXiv:2306.06101, Algorithm 3 "Prodigy (Adam version)"), as its
authors' package prodigyopt 1.1.2 runs it, with the variants real packages implement.

Prodigy is Adam whose step size is lr·d_k, with d_k an estimate of the distance ‖x0 − x*‖ that
only grows. It builds on D-Adaptation (Defazio & Mishchenko 2023, Alg. 1/§3: d̂ = r/‖s‖₁ from a
weighted sum of ⟨g, x0 − x⟩ and of the gradients); Prodigy weights both sums by d_k² (§3, eq. for
r_{k+1} and s_{k+1}). In the package's terms, with β3 = √β2 unless given, η_k = lr·c_k where
c_k = √(1−β2^k)/(1−β1^k) under bias correction (else 1), and dlr = d_k·η_k:
    r_k = β3 r_{k−1} + (d_k/d0)·dlr·⟨g_k, x0 − x_k⟩
    s_k = β3 s_{k−1} + (d_k/d0)·dlr·g_k          (safeguard_warmup: (d_k/d0)·d_k·g_k)
    m_k = β1 m_{k−1} + (1−β1) d_k g_k,   v_k = β2 v_{k−1} + (1−β2) d_k² g_k²
    d̂ = d_coef·r_k/‖s_k‖₁;  d_max = max(d_max, d̂);  d_{k+1} = min(d_max, γ·d'), where
    d' = max(d_k, d̂) while d_k = d0 (the first estimate may jump), else d_k; γ = growth_rate
    x_{k+1} = x_k(1 − λ·dlr) − dlr·m_k/(√v_k + d_{k+1}·ε)     (decoupled decay, the default)
The paper writes (1−√β2) in r and s and η_k d_k² for the weights: constant factors of both sums,
which cancel in d̂ = r/‖s‖₁ (d0 likewise). Coupled decay (decouple=False) adds λx to g first.
With β1 = 0 the package keeps no m and steps dlr·d_{k+1}·g/(√v + d_{k+1}ε): d_{k+1}, not the
d_k of Alg. 3's m_{k+1} = d_k g_k (the variant "momentless-old-d", as pytorch-optimizer has it).

d, d_max and r are per optimizer, not per tensor: the sums run over every coordinate of every
parameter (prodigyopt sums over all param groups). ``prodigy_step`` takes the concatenation of
every parameter (one tensor is the whole optimizer); ``run_joint`` runs several tensors so.
slice_p = p keeps every p-th coordinate of each tensor in s and x0 (the package's memory saver).

A step whose ‖s‖₁ is 0 (every gradient so far 0) returns early in both packages: nothing moves,
the decoupled decay included. prodigyopt then leaves its bias-correction count k where it was,
and so does the reference (state "k": the steps that progressed); pytorch-optimizer counts the
skipped steps too (the variant "counts-skipped-steps"). They differ only under bias correction
after leading zero gradients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from optcheck.reference.ops import ema, emulated, update
from optcheck.reference.space import Flag, Int, Pair, Real
from optcheck.reference.spec import Array, ErrorModel, Hyper, State, Variant

SOURCE = (
    "Mishchenko & Defazio 2024, Prodigy, Alg. 3 (Adam version), in the arrangement of the "
    "authors' prodigyopt 1.1.2 (D-Adaptation lineage: Defazio & Mishchenko 2023, Alg. 1)"
)
STATE_KEYS = ("exp_avg", "exp_avg_sq", "s", "p0")
IMPLEMENTATIONS = ("forloop",)  # no torch.optim counterpart: the target's own code paths
DEFAULT_BETAS = (0.9, 0.999)
INF = math.inf

SPACE = (
    Real("lr", 1e-3, 1.0, 1.0, log=True, special=(1.0,)),
    # β1 = 0 is its own branch in prodigyopt (no m kept): a special value.
    Pair(
        "betas",
        Real("beta1", 0.0, 0.99, 0.9, special=(0.9, 0.0)),
        Real("beta2", 0.5, 0.9999, 0.999, special=(0.999,)),
    ),
    # d0 and d_coef centred (log) on their defaults: a sweep over every corner holds one value.
    Real("eps", 1e-8, 1e-2, 1e-8, log=True),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("decouple", default=True),
    Flag("use_bias_correction"),
    Flag("safeguard_warmup"),
    Real("d0", 1e-9, 1e-3, 1e-6, log=True),
    Real("d_coef", 0.1, 10.0, 1.0, log=True),
    Real("growth_rate", 1.0, 2.0, INF, special=(INF,)),
    Int("slice_p", 1, 3, 1),
    Flag("maximize"),  # pytorch-optimizer's; prodigyopt has none (its checks are skipped)
)


def _group(
    params: Sequence[Array],
    grads: Sequence[Array],
    state: State,
    hp: Hyper,
    t: int,
    *,
    eps_old_d: bool = False,
    coupled_decay_ignored: bool = False,
    momentless_old_d: bool = False,
    counts_skipped_steps: bool = False,
) -> tuple[list[Array], dict]:
    """One step of every tensor of the optimizer: per-tensor state under ``state["tensors"]``,
    the optimizer's d, d_max and r beside it."""
    lr, eps = hp["lr"], hp.get("eps", 1e-8)
    wd = hp.get("weight_decay", 0.0)
    b1, b2 = hp.get("betas", DEFAULT_BETAS)
    b3 = hp.get("beta3")
    b3 = np.sqrt(b2) if b3 is None else b3
    d0, d_coef = hp.get("d0", 1e-6), hp.get("d_coef", 1.0)
    growth, sp = hp.get("growth_rate", INF), int(hp.get("slice_p", 1))
    decouple = hp.get("decouple", True)
    d, d_max = state.get("d", d0), state.get("d_max", d0)
    k = t if counts_skipped_steps else state.get("k", 0) + 1  # this step's count
    bc = np.sqrt(1.0 - b2**k) / (1.0 - b1**k) if hp.get("use_bias_correction", False) else 1.0
    dlr = d * lr * bc
    weight = (d / d0) * dlr
    s_weight = (d / d0) * d if hp.get("safeguard_warmup", False) else weight
    r, norm = b3 * state.get("d_numerator", 0.0), 0.0
    olds = state.get("tensors") or [{} for _ in params]
    gs, news = [], []
    for param, grad, old in zip(params, grads, olds, strict=True):
        g = -grad if hp.get("maximize", False) else grad
        if wd != 0 and not decouple and not coupled_decay_ignored:
            g = g + wd * param
        sliced = g.reshape(-1)[::sp]
        p0 = old.get("p0", param.reshape(-1)[::sp])
        r = r + weight * np.sum(sliced * (p0 - param.reshape(-1)[::sp]))
        m = ema(old.get("exp_avg", np.zeros_like(param)), d * g, b1)
        v = ema(old.get("exp_avg_sq", np.zeros_like(param)), (d * d) * (g * g), b2)
        s = b3 * old.get("s", np.zeros_like(sliced)) + s_weight * sliced
        norm = norm + np.sum(np.abs(s))
        gs.append(g)
        news.append({"exp_avg": m, "exp_avg_sq": v, "s": s, "p0": p0})
    progressed = norm > 0.0
    d_hat = d_coef * r / np.where(progressed, norm, 1.0)
    jumped = np.where(d <= d0, np.maximum(d, d_hat), d)  # the first estimate may jump
    new_max = np.maximum(d_max, d_hat)
    new_d = new_max if growth == INF else np.minimum(new_max, jumped * growth)
    new_d = np.where(progressed, new_d, d)
    new_max = np.where(progressed, new_max, d_max)
    moved = []
    for param, g, new in zip(params, gs, news, strict=True):
        x = param
        if wd != 0 and decouple:
            x = update(x, (wd * dlr) * x)
        denom = np.sqrt(new["exp_avg_sq"]) + (d if eps_old_d else new_d) * eps
        if b1 == 0 and not momentless_old_d:  # no m kept: the raw gradient, times the new d
            x = update(x, (dlr * new_d) * (g / denom))
        else:
            x = update(x, dlr * (new["exp_avg"] / denom))
        moved.append(np.where(progressed, x, param))
    # The count is structure (whether any gradient so far was nonzero), not rounded arithmetic.
    counted = k if bool(emulated(np.greater, norm, 0.0)) else k - 1
    return moved, {"tensors": news, "d": new_d, "d_max": new_max, "d_numerator": r, "k": counted}


def _one(param: Array, grad: Array, state: State, hp: Hyper, t: int, **kw: bool):
    """The optimizer of one tensor (the step signature every record has; its state flat)."""
    own = {k: v for k, v in state.items() if k in STATE_KEYS}
    shared = {k: v for k, v in state.items() if k not in STATE_KEYS}
    (x,), new = _group([param], [grad], {**shared, "tensors": [own] if own else None}, hp, t, **kw)
    (mine,) = new.pop("tensors")
    return x, {**mine, **new}


def prodigy_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """Prodigy, Alg. 3, as prodigyopt 1.1.2 arranges it (module docstring)."""
    return _one(param, grad, state, hp, t)


def eps_old_d_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Alg. 3 as printed: ε scaled by d_k, the estimate the step was taken with."""
    return _one(param, grad, state, hp, t, eps_old_d=True)


def coupled_decay_ignored_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """decouple=False whose λx reaches p.grad only after the moments and sums were taken:
    the decay has no effect on the step (pytorch-optimizer 4.1.0, weight_decouple=False)."""
    return _one(param, grad, state, hp, t, coupled_decay_ignored=True)


def momentless_old_d_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """β1 = 0 as Alg. 3 writes it: m = d_k·g, so the step is dlr·d_k·g/(√v + d_{k+1}ε)."""
    return _one(param, grad, state, hp, t, momentless_old_d=True)


def counts_skipped_steps_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """Bias correction counts every step, the early-returning ones (‖s‖₁ = 0) included."""
    return _one(param, grad, state, hp, t, counts_skipped_steps=True)


VARIANTS = (
    Variant(
        "eps-old-d",
        eps_old_d_step,
        "ε scaled by d_k (the step's own estimate) instead of the updated d_{k+1}",
        "Mishchenko & Defazio 2024, Alg. 3 as printed",
    ),
    Variant(
        "coupled-decay-ignored",
        coupled_decay_ignored_step,
        "decouple=False adds λx to the gradient after the moments are taken: no decay at all",
        "pytorch-optimizer 4.1.0 Prodigy(weight_decouple=False)",
    ),
    Variant(
        "momentless-old-d",
        momentless_old_d_step,
        "with β1 = 0 the step is dlr·d_k·g/(√v+d_{k+1}ε) (m = d_k g), not dlr·d_{k+1}·g/(…)",
        "Mishchenko & Defazio 2024, Alg. 3 at β1 = 0; pytorch-optimizer 4.1.0 Prodigy",
    ),
    Variant(
        "counts-skipped-steps",
        counts_skipped_steps_step,
        "bias correction counts the steps skipped while every gradient so far was 0",
        "pytorch-optimizer 4.1.0 Prodigy(bias_correction=True)",
    ),
)


def constraint(hp: Hyper) -> str | None:
    """What prodigyopt accepts (d0 > 0, lr > 0, ε > 0, β1, β2 in [0, 1)), and growth ≥ 1 (d
    never falls, §3)."""
    b1, b2 = hp.get("betas", DEFAULT_BETAS)
    if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
        return "betas must lie in [0, 1)"
    if not (hp.get("lr", 1.0) > 0 and hp.get("d0", 1e-6) > 0 and hp.get("eps", 1e-8) > 0):
        return "lr, d0 and eps must be positive"
    if hp.get("weight_decay", 0.0) < 0 or hp.get("growth_rate", INF) < 1:
        return "weight_decay must be non-negative and growth_rate at least 1"
    if int(hp.get("slice_p", 1)) < 1:
        return "slice_p must be at least 1"
    return None


def run_joint(
    params0: Sequence[Array],
    grads: Sequence[Sequence[Array]],
    hp: Hyper,
    variant: str | None = None,
) -> list[list[Array]]:
    """Several tensors of one optimizer (one d for all): params after each step, per tensor.
    ``variant`` names one of VARIANTS."""
    kw = {
        "eps-old-d": {"eps_old_d": True},
        "coupled-decay-ignored": {"coupled_decay_ignored": True},
        "momentless-old-d": {"momentless_old_d": True},
        "counts-skipped-steps": {"counts_skipped_steps": True},
    }
    params = [np.asarray(p, dtype=np.float64) for p in params0]
    state: dict = {}
    out = []
    for t, gs in enumerate(grads, start=1):
        gs64 = [np.asarray(g, dtype=np.float64) for g in gs]
        params, state = _group(params, gs64, state, hp, t, **kw.get(variant or "", {}))
        out.append([p.copy() for p in params])
    return out


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Read p, g, m, v, s, x0; write m, v, s, p (two passes over p: the sums, then the step)."""
    return 11 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """|m|/(√v + dε) is of order 1, so a step is about lr·d; d grows from d0 to the distance
    travelled, which in a drawn run stays below the parameters' own scale (about 1)."""
    return float(hp.get("lr", 1.0)) * float(hp.get("d0", 1e-6))


PRODIGY_ERROR_MODEL = ErrorModel("Prodigy", prodigy_step, update_scale)
