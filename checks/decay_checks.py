"""Decoupled weight decay, for every record that has it (Loshchilov & Hutter 2019).

One check serves the algorithms whose decay is decoupled always (Adafactor) or behind torch's
``decoupled_weight_decay`` flag (NAdam, RAdam): with zero gradients their moment or
second-moment estimates stay 0, the adaptive step is 0 and only θ ← θ(1 − η_tλ) acts.
(AdamW's adamw.pure_decay checks the same relation: both run kit.deltas.pure_decay.)
"""

from __future__ import annotations

from optcheck.checks.kit import deltas
from optcheck.checks.kit.registry import CheckResult, Context, NotApplicable, check
from optcheck.checks.records import OptimizerRecord

FLAG = "decoupled_weight_decay"


@check(
    "decay.decoupled_pure",
    "with decoupled decay and zero gradients θ_t = Π(1−η_kλ)·θ_0: the decay acts alone",
    invariant=True,
)
def decoupled_pure(ctx: Context) -> CheckResult:
    """Loshchilov & Hutter 2019, Alg. 2 line 12 with g = 0: the decay θ ← (1 − η_tλ)θ is
    outside the adaptive step, which is 0 for a zero gradient history (NAdam, RAdam:
    m = v = 0, steps 0/(0+ε) or η·0; Adafactor: V̂ = 0, U = 0·rsqrt(max(0, ε1²)) = 0), so
    θ_t = Π_k(1 − η_kλ)·θ_0 (torch.optim.NAdam/RAdam docs, decoupled_weight_decay=True;
    torch.optim.Adafactor docs, θ ← θ(1 − γλ)). Decay coupled into the gradient instead
    would feed λθ to the moments and step by about η·sign(θ).

    Tolerance: as deltas.pure_decay says."""
    spec = ctx.spec
    if not isinstance(spec, OptimizerRecord) or spec.error_model is None:
        raise NotApplicable("needs --like to name an optimizer with an error model")
    model = spec.error_model
    if spec.decay == "decoupled":
        fixed = {}
    elif FLAG in spec.defaults:
        if ctx.target.missing((FLAG,)):
            raise NotApplicable(f"target does not accept {FLAG!r}")
        fixed = {FLAG: True}
    else:
        raise NotApplicable(f"{spec.name} has no decoupled weight decay")
    return deltas.pure_decay(ctx, spec, model, fixed=fixed, steps=(1, 10))
