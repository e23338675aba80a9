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
parameter of every param group. ``prodigy_step`` is a reference.spec.CoupledStep: its joint step
(``_group``) takes all tensors, each with its group's keywords, and every driver (cross-
validation's reference runs, the tolerance engine, identify) steps them together; called on one
tensor it is the optimizer of that tensor. ``run_joint`` runs several tensors of one group.
slice_p = p keeps every p-th coordinate of each tensor in s and x0 (the package's memory saver).

Error model (checks.errorprop runs ``_group`` on tracked values; its rules, applied here):
    r_k      per tensor the dot product Σ g·(x0 − x) over its n_i coordinates, in its dtype:
             γ_{n_i−1}Σ|g(x0 − x)| plus |g|·E_x (x's own accumulated error enters x0 − x
             undamped; Higham §4.2); the tensors' results and β3·r added as scalars in h,
             the hyper precision (prodigyopt adds them in Python floats, finer;
             pytorch-optimizer in a tensor of torch's default dtype: float32 is h in a
             float32 run, and in a float64 run it is the recorded finding); weight (d/d0)·dlr.
    ‖s‖₁     Σ|s| likewise; s = β3·s + w·g, each product and the sum rounded.
    d̂        r/‖s‖₁ by the division rule, ‖s‖₁'s relative uncertainty recorded: above 1/4 the
             case leaves the domain (first order no longer holds).
    d        max(d_max, d̂), min(·, γ·d): exact operations; where d̂ lies within the errors of
             d_max (or of d·γ) the choice is uncertain and the larger error is carried.
    the step d's error reaches dlr, m (d·g), v (d²g²) and dε of every tensor alike.
Where the displacement x − x0 is below θ's resolution (u·|θ|), x0 − x is rounding noise, r
and d̂ are uncertain to more than themselves, and √v + dε with them: such cases lie outside the
domain (measured: 30 % of float32 draws, a property of Prodigy in low precision). A case mixing
dtypes is bounded in its coarsest one for every tensor (checks.tolerance.case_tolerance): d
carries the coarsest tensor's rounding to all.

A step whose ‖s‖₁ is 0 (every gradient so far 0 or missing) returns early in both packages:
nothing moves, the decoupled decay included. prodigyopt then leaves its bias-correction count k
where it was, and so does the reference (state "k": the steps that moved; the driver's t is not
used); pytorch-optimizer counts every step (the variant "counts-skipped-steps"; seen only under
bias correction after such steps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np

from optcheck.reference.ops import ema, emulated, update
from optcheck.reference.space import Flag, Int, Pair, Real
from optcheck.reference.spec import Array, CoupledStep, ErrorModel, Hyper, State, Variant
from optcheck.reference.trajectory import run_optimizer

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
    grads: Sequence[Array | None],
    state: State,
    hps: Sequence[Hyper],
    t: int,
    *,
    eps_old_d: bool = False,
    coupled_decay_ignored: bool = False,
    momentless_old_d: bool = False,
    counts_skipped_steps: bool = False,
) -> tuple[list[Array], dict]:
    """One step of every tensor of the optimizer: per-tensor state under ``state["tensors"]``,
    the optimizer's d, d_max and r beside it. A tensor whose gradient is None is left out of
    the sums and not stepped. Read per group (``hps[i]``), as both packages do: eps,
    weight_decay, safeguard_warmup, slice_p; the optimizer's own (the first group's, as
    prodigyopt reads them): lr, betas, beta3, d0, d_coef, growth_rate, decouple,
    use_bias_correction, maximize. (prodigyopt takes the largest group lr and refuses other
    nonzero ones; pytorch-optimizer takes the first group's: one lr for all either way.)"""
    first = hps[0]
    lr = first["lr"]
    b1, b2 = first.get("betas", DEFAULT_BETAS)
    b3 = first.get("beta3")
    b3 = np.sqrt(b2) if b3 is None else b3
    d0, d_coef = first.get("d0", 1e-6), first.get("d_coef", 1.0)
    growth = first.get("growth_rate", INF)
    decouple, maximize = first.get("decouple", True), first.get("maximize", False)
    d, d_max = state.get("d", d0), state.get("d_max", d0)
    # prodigyopt's k counts the steps that moved (a step with ‖s‖₁ = 0 returns before it), so
    # leading all-zero or missing gradients do not count for the bias correction
    k = t if counts_skipped_steps else int(state.get("k", 0)) + 1
    bc = np.sqrt(1.0 - b2**k) / (1.0 - b1**k) if first.get("use_bias_correction", False) else 1.0
    dlr = d * lr * bc
    weight = (d / d0) * dlr
    r, norm = b3 * state.get("d_numerator", 0.0), 0.0
    olds = state.get("tensors") or [{} for _ in params]
    gs, news = [], []
    for param, grad, old, hp in zip(params, grads, olds, hps, strict=True):
        if grad is None:
            gs.append(None)
            news.append(old)
            continue
        wd, sp = hp.get("weight_decay", 0.0), int(hp.get("slice_p", 1))
        g = -grad if maximize else grad
        if wd != 0 and not decouple and not coupled_decay_ignored:
            g = g + wd * param
        sliced = g.reshape(-1)[::sp]
        p0 = old.get("p0", param.reshape(-1)[::sp].copy())  # x0 kept, not a view of x
        r = r + weight * np.sum(sliced * (p0 - param.reshape(-1)[::sp]))
        m = ema(old.get("exp_avg", np.zeros_like(param)), d * g, b1)
        v = ema(old.get("exp_avg_sq", np.zeros_like(param)), (d * d) * (g * g), b2)
        s_weight = (d / d0) * d if hp.get("safeguard_warmup", False) else weight
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
    for i, (param, g, new, hp) in enumerate(zip(params, gs, news, hps, strict=True)):
        if g is None:
            moved.append(param)
            continue
        x, wd = param, hp.get("weight_decay", 0.0)
        if wd != 0 and decouple:
            # θ(1 − λ·dlr): its bound covers prodigyopt's θ − (λ·dlr)θ and pytorch-optimizer's
            # θ·fl(1 − λ·dlr), whose scalar, cast to the dtype, errs by up to u itself.
            x = x * (1.0 - wd * dlr)
        eps = hp.get("eps", 1e-8)
        denom = np.sqrt(new["exp_avg_sq"]) + (d if eps_old_d else new_d) * eps
        if b1 == 0 and not momentless_old_d:  # no m kept: the raw gradient, times the new d
            x = update(x, (dlr * new_d) * (g / denom), tensor=i)
        else:
            x = update(x, dlr * (new["exp_avg"] / denom), tensor=i)
        moved.append(np.where(progressed, x, param))
    # an exact read: ‖s‖₁ is exactly 0 only where every summand is (then it carries no error)
    counted = int(bool(emulated(lambda n: n > 0.0, norm, grid=lambda n: n > 0.0)))
    new = {"tensors": news, "d": new_d, "d_max": new_max, "d_numerator": r, "k": k - 1 + counted}
    return moved, new


prodigy_step = CoupledStep(_group, STATE_KEYS)
"""Prodigy, Alg. 3, as prodigyopt 1.1.2 arranges it (module docstring)."""

eps_old_d_step = CoupledStep(partial(_group, eps_old_d=True), STATE_KEYS)
"""Alg. 3 as printed: ε scaled by d_k, the estimate the step was taken with."""

coupled_decay_ignored_step = CoupledStep(partial(_group, coupled_decay_ignored=True), STATE_KEYS)
"""decouple=False whose λx reaches p.grad only after the moments and sums were taken: the
decay has no effect on the step (pytorch-optimizer 4.1.0, weight_decouple=False)."""

momentless_old_d_step = CoupledStep(partial(_group, momentless_old_d=True), STATE_KEYS)
"""β1 = 0 as Alg. 3 writes it: m = d_k·g, so the step is dlr·d_k·g/(√v + d_{k+1}ε)."""

counts_skipped_steps_step = CoupledStep(partial(_group, counts_skipped_steps=True), STATE_KEYS)
"""Bias correction counts every step, the early-returning ones (‖s‖₁ = 0) included."""


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
    grads: Sequence[Sequence[Array | None]],
    hp: Hyper,
    variant: str | None = None,
) -> list[list[Array]]:
    """Several tensors of one optimizer, one param group (one d for all): params after each
    step, per tensor. ``variant`` names one of VARIANTS."""
    step = prodigy_step if variant is None else next(v.fn for v in VARIANTS if v.name == variant)
    return run_optimizer(step, params0, grads, [hp] * len(params0))


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Read p, g, m, v, s, x0; write m, v, s, p (two passes over p: the sums, then the step)."""
    return 11 * itemsize


def update_scale(hp: Hyper, exponent: int) -> float:
    """|m|/(√v + dε) is of order 1, so a step is about lr·d; d grows from d0 to the distance
    travelled, which in a drawn run stays below the parameters' own scale (about 1)."""
    return float(hp.get("lr", 1.0)) * float(hp.get("d0", 1e-6))


PRODIGY_ERROR_MODEL = ErrorModel("Prodigy", prodigy_step, update_scale)
