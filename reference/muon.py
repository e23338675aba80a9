"""Muon in float64: torch.optim.Muon (torch 2.13), Keller Jordan's form, the exact polar factor.

torch's algorithm (torch/optim/_muon.py, _single_tensor_muon), one 2-D tensor θ (A × B):
    B_t = lerp(B_{t-1}, g, 1-μ) = μ B_{t-1} + (1-μ) g        state 'momentum_buffer', B_0 = 0
    B̃_t = lerp(g, B_t, μ) = (1-μ) g + μ B_t  if nesterov  else  B_t
    O_t = NS_k^{(a,b,c)}(B̃_t; ε)
    θ <- θ (1 - γλ);   θ <- θ - γ' O_t,   γ' = AdjustLR(γ; A, B)
with NS_k (Keller Jordan 2024, "Muon: An optimizer for hidden layers in neural networks";
torch's _zeropower_via_newtonschulz): transpose X so that rows ≤ columns, then
    X_0 = X / max(‖X‖_F, ε)
    X_{j+1} = a X_j + (b A_j + c A_j²) X_j,   A_j = X_j X_jᵀ          (j = 0 .. k-1)
and AdjustLR: None or "original": γ √max(1, A/B) (Keller Jordan's scale); "match_rms_adamw":
0.2 γ √max(A, B) (Liu et al. 2025, "Muon is Scalable for LLM Training").

NS acts on each singular value of X_0 separately: σ -> p(σ) = aσ + bσ³ + cσ⁵. With torch's
(a, b, c) = (3.4445, -4.7750, 2.0315) and k = 5, σ_i/‖X‖_F = x maps to p⁵(x) ∈ [0.6818, 1.1344]
for x ≥ 0.01 (the band p maps into itself), up to 1.2024 for x ∈ [0.0015, 0.01], and 488·x
(slope a⁵) for tiny x: O_t is U S' Vᵀ with S' ≈ 0.68-1.13, not the polar factor U Vᵀ.

Differences from torch's documentation (the docs' math block): the docs write B_t = μB + g and
B̃ = g + μB_t; the code's buffer is (1-μ) times that. NS divides by ‖X‖_F, so the two agree
for 0 ≤ μ < 1 except through ε (the clamp acts when ‖B̃‖ < ε/(1-μ) in docs' terms); at μ = 1
the code's buffer stays 0 and O = 0, and for μ > 1 (accepted by the constructor) O flips sign.

Precision: torch runs NS in bfloat16 whatever θ's dtype (grad.bfloat16() in
_zeropower_via_newtonschulz, as Keller Jordan's code does), then adds the bfloat16 O to θ in
θ's dtype. ``muon_step`` is the algorithm in float64; ``bfloat16_ns_step`` reproduces torch's
rounding points (round-to-nearest-even after every bf16 op, float32-or-better accumulation)
and matches torch bit for bit except where float32 accumulation order flips a bf16 rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from optcheck.reference import ops
from optcheck.reference.space import Choice, Flag, Int, Real
from optcheck.reference.spec import Array, Hyper, State, Variant

SOURCE = (
    "Keller Jordan 2024, 'Muon: An optimizer for hidden layers in neural networks' (blog and "
    "github.com/KellerJordan/Muon muon.py); Liu et al. 2025 'Muon is Scalable for LLM "
    "Training'; torch.optim.Muon docs and torch/optim/_muon.py (torch 2.13)"
)
STATE_KEYS = ("momentum_buffer",)
# torch 2.13: Muon's constructor has neither `foreach` nor `fused`; muon() raises for
# foreach=True and always runs _single_tensor_muon.
IMPLEMENTATIONS = ("forloop",)
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
# The classical cubic Newton-Schulz step X <- 1.5X - 0.5 X XᵀX (Higham 2008, Functions of
# Matrices, ch. 8): converges to the polar factor (singular values -> 1), slowly from small σ.
CUBIC_NS_COEFFICIENTS = (1.5, -0.5, 0.0)
SPACE = (
    Real("lr", 1e-6, 1.0, 1e-3, log=True),
    Real("weight_decay", 0.0, 0.5, 0.1, special=(0.0, 0.1)),
    Real("momentum", 0.0, 0.999, 0.95, special=(0.0, 0.95)),
    Flag("nesterov", default=True),
    Choice("ns_coefficients", (NS_COEFFICIENTS, CUBIC_NS_COEFFICIENTS), NS_COEFFICIENTS),
    Real("eps", 1e-12, 1e-3, 1e-7, log=True),
    Int("ns_steps", 1, 10, 5),
    Choice("adjust_lr_fn", (None, "original", "match_rms_adamw"), None),
)

Orthogonalizer = Callable[[Array, Hyper], Array]


# --- the orthogonalizations ------------------------------------------------------------------


def _wide(x: Array) -> tuple[Array, bool]:
    tall = x.shape[0] > x.shape[1]
    return (x.T if tall else x), tall


def newton_schulz(
    x: Array, coefficients=NS_COEFFICIENTS, steps: int = 5, eps: float = 1e-7
) -> Array:
    """torch's NS_k in float64 (same transposition, normalization and association)."""
    a, b, c = coefficients
    y, tall = _wide(np.asarray(x, dtype=np.float64))
    y = y / max(float(np.linalg.norm(y)), eps)
    for _ in range(steps):
        gram = y @ y.T
        y = a * y + (b * gram + c * (gram @ gram)) @ y
    return y.T if tall else y


def ns_singular_value_map(x, coefficients=NS_COEFFICIENTS, steps: int = 5):
    """p^k(x): where NS_k sends a singular value x = σ_i/‖X‖_F (exact-arithmetic NS)."""
    a, b, c = coefficients
    y = np.asarray(x, dtype=np.float64)
    for _ in range(steps):
        y = a * y + b * y**3 + c * y**5
    return y


def polar_factor(x: Array) -> Array:
    """U Vᵀ from the thin SVD x = U S Vᵀ: what NS approximates (all singular values 1)."""
    u, _, vt = np.linalg.svd(np.asarray(x, dtype=np.float64), full_matrices=False)
    return u @ vt


def round_bfloat16(x) -> Array:
    """float64 -> bfloat16 -> float64 as torch converts: to float32 (RNE), then RNE to the
    top 16 bits (c10::BFloat16's round_to_nearest_even); NaN/inf not handled."""
    bits = np.asarray(x, dtype=np.float64).astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def newton_schulz_bfloat16(
    x: Array, coefficients=NS_COEFFICIENTS, steps: int = 5, eps: float = 1e-7
) -> Array:
    """torch's NS in bfloat16, emulated: each bf16 op (conversion, norm, clamp, division, the
    three matmuls) computes its result exactly (float64 holds these short sums of bf16
    products) and rounds it once to bfloat16, round-to-nearest-even; torch's CPU kernels
    accumulate in float32 and round once. The two agree bit for bit unless float32
    accumulation error moves a value across a bf16 rounding boundary: with these short inner
    dimensions that happens in well under 1% of NS calls (measured: none for shapes up to
    8 × 8 in 1200 calls, ~5% of calls for 16 × 32), and then one entry differs by one ulp.
    """
    a, b, c = coefficients
    y, tall = _wide(round_bfloat16(np.asarray(x, dtype=np.float64)))
    norm = round_bfloat16(math.sqrt(float(np.sum(y * y))))
    y = round_bfloat16(y / round_bfloat16(max(float(norm), eps)))
    for _ in range(steps):
        gram = round_bfloat16(y @ y.T)
        upd = round_bfloat16(b * gram + c * (gram @ gram))
        y = round_bfloat16(a * y + upd @ y)
    return y.T if tall else y


U_FLOAT32 = 2.0**-24


def _straddles(exact: Array, bound: Array) -> bool:
    """Could a value within ``bound`` of ``exact`` round to another bfloat16?"""
    return bool(np.any(round_bfloat16(exact - bound) != round_bfloat16(exact + bound)))


def _granularity_log2(v: Array) -> Array:
    """log2 of the spacing a bfloat16 value is a multiple of (8 significant bits); +inf for 0."""
    with np.errstate(divide="ignore"):
        return np.where(v == 0, np.inf, np.floor(np.log2(np.abs(v))) - 7)


def _accumulation_bound(a: Array, b: Array) -> Array:
    """Bound on |float32 accumulation of a @ b - exact| for bf16 a, b, any summation order:
    0 where every partial sum is a multiple of the products' common granularity below 2^24 of
    it (then float32 holds each exactly), else γ_k u_32 Σ|a||b| (Higham §3.5)."""
    total = np.abs(a) @ np.abs(b)
    k = a.shape[1]
    if not total.size or not k:
        return np.zeros_like(total)
    gran = np.min(_granularity_log2(a)[:, :, None] + _granularity_log2(b)[None, :, :], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        exact = total < np.exp2(gran + 24)
    return np.where(exact, 0.0, k * U_FLOAT32 / (1 - k * U_FLOAT32) * total)


def newton_schulz_bfloat16_uncertain(
    x: Array, coefficients=NS_COEFFICIENTS, steps: int = 5, eps: float = 1e-7
) -> bool:
    """Whether torch's bf16 NS may differ from ``newton_schulz_bfloat16`` on ``x``: torch
    computes each op in float32 (products of bf16 values exact, sums exact or within
    ``_accumulation_bound``, α, β and the final add each rounded to float32) before its one
    bf16 rounding, so where an exact result lies within that error of a bf16 rounding
    boundary, torch may round the other way (measured: every differing call flagged)."""
    a, b, c = coefficients
    u = U_FLOAT32
    y, _ = _wide(round_bfloat16(np.asarray(x, dtype=np.float64)))
    flat = y.reshape(1, -1)
    norm = math.sqrt(float(np.sum(y * y)))
    sum_error = float(_accumulation_bound(flat, flat.T).sum()) if y.size else 0.0
    norm_error = sum_error / max(2 * norm, 1e-300) + u * norm
    if _straddles(np.array(norm), np.array(norm_error)):
        return True
    q = y / max(float(round_bfloat16(norm)), eps)
    if _straddles(q, u * np.abs(q)):
        return True
    y = round_bfloat16(q)
    for _ in range(steps):
        gram = y @ y.T
        if _straddles(gram, _accumulation_bound(y, y.T)):  # α = 1: the accumulator itself
            return True
        gram = round_bfloat16(gram)
        square = gram @ gram
        upd = b * gram + c * square
        spread = abs(c) * (_accumulation_bound(gram, gram) + u * np.abs(square))
        spread = spread + u * abs(b * gram) + u * np.abs(upd)
        if _straddles(upd, spread):
            return True
        upd = round_bfloat16(upd)
        prod = upd @ y
        new = a * y + prod
        spread = _accumulation_bound(upd, y) + u * np.abs(a * y) + u * np.abs(new)
        if _straddles(new, spread):
            return True
        y = round_bfloat16(new)
    return False


# --- the step --------------------------------------------------------------------------------


def adjusted_lr(lr: float, adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """torch's _adjust_lr: γ √max(1, A/B) (None, "original") or 0.2 γ √max(A, B)."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr


def _lerp(start: Array, end: Array, weight: float) -> Array:
    """torch.lerp's formula (two branches, as in ATen's lerp)."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


def _ns(x: Array, hp: Hyper) -> Array:
    return newton_schulz(
        x, hp.get("ns_coefficients", NS_COEFFICIENTS), hp.get("ns_steps", 5), hp.get("eps", 1e-7)
    )


def _ns_bf16(x: Array, hp: Hyper) -> Array:
    # emulated: bit for bit torch's bf16 rounding, so the error model charges only the float
    # operations around NS (reference.ops)
    return ops.emulated(
        newton_schulz_bfloat16,
        x,
        hp.get("ns_coefficients", NS_COEFFICIENTS),
        hp.get("ns_steps", 5),
        hp.get("eps", 1e-7),
        grid=round_bfloat16,
        uncertain=newton_schulz_bfloat16_uncertain,
    )


def _muon(
    param: Array, grad: Array, state: State, hp: Hyper, orthogonalize: Orthogonalizer
) -> tuple[Array, dict]:
    if param.ndim != 2:
        raise ValueError("Muon only supports 2-D parameters")
    lr, wd = hp.get("lr", 1e-3), hp.get("weight_decay", 0.1)
    mu = hp.get("momentum", 0.95)
    buf = _lerp(state.get("momentum_buffer", np.zeros_like(grad)), grad, 1 - mu)
    update = _lerp(grad, buf, mu) if hp.get("nesterov", True) else buf
    ortho = orthogonalize(update, hp)
    step = adjusted_lr(lr, hp.get("adjust_lr_fn"), param.shape)
    return param * (1 - lr * wd) + (-step) * ortho, {"momentum_buffer": buf}


def muon_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """torch.optim.Muon with NS in float64 (the algorithm; torch's own NS runs in bf16)."""
    return _muon(param, grad, state, hp, _ns)


def bfloat16_ns_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """torch.optim.Muon as torch 2.13 computes it: NS in bfloat16 (emulated), the rest in
    float64. Bit-for-bit torch's update except for rare one-ulp bf16 rounding flips."""
    return _muon(param, grad, state, hp, _ns_bf16)


def polar_step(param: Array, grad: Array, state: State, hp: Hyper, t: int) -> tuple[Array, dict]:
    """NS replaced by its limit, the exact polar factor U Vᵀ (all singular values 1)."""
    return _muon(param, grad, state, hp, lambda x, _hp: polar_factor(x))


def keller_jordan_step(
    param: Array, grad: Array, state: State, hp: Hyper, t: int
) -> tuple[Array, dict]:
    """github.com/KellerJordan/Muon muon.py (muon_update + SingleDeviceMuon.step), float64.

    Same momentum/Nesterov lerps and decay θ(1 - γλ) as torch; differs only in
    X_0 = X/(‖X‖_F + 1e-7) (torch: max(‖X‖_F, ε)) and in always scaling by √max(1, A/B)
    (torch's adjust_lr_fn=None/"original"), so with those it agrees with torch to
    O(1e-7/‖B̃‖_F). (Keller Jordan's code also steps tensors whose grad is None, as zeros.)
    """
    a, b, c = hp.get("ns_coefficients", NS_COEFFICIENTS)

    def ns_plus_eps(x: Array, hp: Hyper) -> Array:
        y, tall = _wide(x)
        y = y / (float(np.linalg.norm(y)) + 1e-7)
        for _ in range(hp.get("ns_steps", 5)):
            gram = y @ y.T
            y = a * y + (b * gram + c * (gram @ gram)) @ y
        return y.T if tall else y

    return _muon(param, grad, state, {**hp, "adjust_lr_fn": "original"}, ns_plus_eps)


def constraint(hp: Hyper) -> str | None:
    """torch.optim.Muon's ValueErrors (constructor, and _zeropower_via_newtonschulz's)."""
    if not hp.get("lr", 1e-3) >= 0:
        return "lr must be >= 0"
    if not hp.get("momentum", 0.95) >= 0:
        return "momentum must be >= 0"
    if not hp.get("weight_decay", 0.1) >= 0:
        return "weight_decay must be >= 0"
    if hp.get("adjust_lr_fn") not in (None, "original", "match_rms_adamw"):
        return "adjust_lr_fn must be None, 'original' or 'match_rms_adamw'"
    if hp.get("ns_steps", 5) >= 100:
        return "ns_steps must be < 100"
    if len(hp.get("ns_coefficients", NS_COEFFICIENTS)) != 3:
        return "ns_coefficients must be 3 values"
    return None


VARIANTS = (
    Variant(
        "bfloat16-ns",
        bfloat16_ns_step,
        "Newton-Schulz carried out in bfloat16 (torch 2.13 and Keller Jordan's code do this "
        "whatever the parameter dtype): O differs from float64 NS by ~1e-2 relative",
        "torch/optim/_muon.py _zeropower_via_newtonschulz (grad.bfloat16())",
    ),
    Variant(
        "polar-factor",
        polar_step,
        "the exact polar factor U Vᵀ (SVD) instead of 5 quintic NS steps, whose singular "
        "values land in [0.68, 1.13], not at 1",
        "Keller Jordan 2024 (NS approximates U Vᵀ); Higham 2008, Functions of Matrices, ch. 8",
    ),
    Variant(
        "keller-jordan",
        keller_jordan_step,
        "Keller Jordan's muon.py: X/(‖X‖+1e-7) and always √max(1, A/B); ignores adjust_lr_fn",
        "github.com/KellerJordan/Muon muon.py",
    ),
)


def bytes_per_element(hp: Hyper, itemsize: int) -> int:
    """Bytes per parameter element that one torch step moves (an ideal implementation).

    Element-wise part (one fused pass): read θ, g, B; write B, θ -> 5 itemsize. NS in bf16:
    write the bf16 copy of B̃ and read it back (2 + 2 bytes), and per NS step read X twice
    and write it once (6 bytes); A_j, B_j are m × m with m = min(A, B), O(m/n) per element.
    Muon is compute-bound rather than memory-bound: see flops_per_element_step.
    """
    return 5 * itemsize + 4 + 6 * int(hp.get("ns_steps", 5))


def flops_per_element_step(rows: int, cols: int, ns_steps: int = 5) -> float:
    """NS flops per element of an A × B tensor: per step X Xᵀ and B X cost 2m each and A_j²
    2m³/(mn), m = min(A, B), n = max(A, B)."""
    m, n = min(rows, cols), max(rows, cols)
    return ns_steps * (4 * m + 2 * m * m / n)
