"""Adam, AMSGrad (a flag of Adam) and AdamW, in torch's arrangement."""

from __future__ import annotations

from optcheck.checks import adam_checks as inv
from optcheck.checks.records import BenchPreset, OptimizerRecord
from optcheck.reference import adam
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import Hyper, Variant


def _space(weight_decay_default: float) -> tuple:
    return (
        Real("lr", 1e-6, 1.0, 1e-3, log=True),
        Pair(
            "betas",
            Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
            Real("beta2", 0.0, 0.99999, 0.999, special=(0.999,)),
        ),
        Real("eps", 1e-12, 1e-3, 1e-8, log=True),
        Real("weight_decay", 0.0, 0.5, weight_decay_default, special=(0.0,)),
        Flag("amsgrad"),
        Flag("maximize"),
    )


def _bytes_per_element(hp: Hyper, itemsize: int) -> float:
    # read p, g, m, v; write m, v, p — plus read and write v_max under AMSGrad.
    return (7 + (2 if hp.get("amsgrad", False) else 0)) * itemsize


_VARIANTS = (
    Variant(
        "keras-eps-hat",
        adam.keras_eps_hat_step,
        "Keras/TF Adam: bias correction folded into the step size, ε added to √v (ε-hat)",
        "Kingma & Ba 2015, §2 final paragraph",
    ),
    Variant(
        "amsgrad-vhat",
        adam.amsgrad_vhat_step,
        "AMSGrad with the max over bias-corrected v̂ instead of raw v",
        "Reddi, Kale & Kumar 2018, Alg. 2 with Adam's §3 correction",
    ),
    Variant(
        "no-bias-correction",
        adam.no_bias_correction_step,
        "Adam without bias correction of m and v",
        "Kingma & Ba 2015, §3 (what the correction removes)",
    ),
    Variant(
        "eps-inside-sqrt",
        adam.eps_inside_sqrt_step,
        "ε under the square root: η·m̂/√(v̂+ε)",
        "common implementation slip",
    ),
)
_INVARIANTS = (
    inv.first_step,
    inv.constant_gradient,
    inv.step_bound,
    inv.scale_invariance,
    inv.amsgrad_monotone,
)

ADAM = OptimizerRecord(
    name="Adam",
    step=adam.adam_step,
    source="Kingma & Ba 2015, Alg. 1 and §3; torch.optim.Adam docs",
    space=_space(0.0),
    state_keys=("step", "exp_avg", "exp_avg_sq"),
    torch_class="torch.optim.Adam",
    implementations=("forloop", "foreach", "fused"),
    constraint=adam.adam_constraint,
    variants=_VARIANTS,
    error_model=adam.ADAM_ERROR_MODEL,
    invariants=_INVARIANTS,
    decay="coupled",
    bytes_per_element=_bytes_per_element,
    bench=(BenchPreset("Adam"), BenchPreset("AMSGrad", {"amsgrad": True})),
)

ADAMW = OptimizerRecord(
    name="AdamW",
    step=adam.adamw_step,
    source="Loshchilov & Hutter 2019, Alg. 2; torch.optim.AdamW docs",
    space=_space(1e-2),
    state_keys=("step", "exp_avg", "exp_avg_sq"),
    torch_class="torch.optim.AdamW",
    implementations=("forloop", "foreach", "fused"),
    constraint=adam.adam_constraint,
    variants=(
        Variant(
            "coupled-decay",
            adam.adamw_coupled_step,
            "weight decay added to the gradient (Adam with L2), not decoupled",
            "Loshchilov & Hutter 2019, §2 (what AdamW fixes)",
        ),
        Variant(
            "decay-without-lr",
            adam.adamw_decay_without_lr_step,
            "decoupled decay θ(1-λ) not scaled by the learning rate",
            "Loshchilov & Hutter 2019, Alg. 2 line 12 with η_t = 1",
        ),
        *_VARIANTS,
    ),
    error_model=adam.ADAMW_ERROR_MODEL,
    invariants=(*_INVARIANTS, inv.pure_decay),
    decay="decoupled",
    bytes_per_element=_bytes_per_element,
    # The decay the benchmark runs is the record's default (1e-2), shown with the results.
    bench=(BenchPreset("AdamW", {"weight_decay": 1e-2}),),
)

RECORDS = (ADAM, ADAMW)
