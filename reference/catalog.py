"""The one table of algorithms: every consumer (checks, validator, benchmarks) reads it.

Adding an optimizer is one entry here plus one reference function.
"""

from __future__ import annotations

from optcheck.reference import adam, sgd
from optcheck.reference.schedules import SCHEDULES
from optcheck.reference.space import Flag, Pair, Real
from optcheck.reference.spec import OptimizerSpec, ScheduleSpec, Variant

_LR = Real("lr", 1e-6, 1.0, 1e-3, log=True)
_MAXIMIZE = Flag("maximize")
_SGD_SPACE = (
    Real("lr", 1e-6, 1.0, 1e-3, log=True),
    Real("momentum", 0.0, 0.999, 0.0, special=(0.0, 0.9)),
    Real("dampening", 0.0, 0.99, 0.0, special=(0.0,)),
    Real("weight_decay", 0.0, 0.5, 0.0, special=(0.0,)),
    Flag("nesterov"),
    _MAXIMIZE,
)


def _adam_space(weight_decay_default: float) -> tuple:
    return (
        _LR,
        Pair(
            "betas",
            Real("beta1", 0.0, 0.999, 0.9, special=(0.0, 0.9)),
            Real("beta2", 0.0, 0.99999, 0.999, special=(0.999,)),
        ),
        Real("eps", 1e-12, 1e-3, 1e-8, log=True),
        Real("weight_decay", 0.0, 0.5, weight_decay_default, special=(0.0,)),
        Flag("amsgrad"),
        _MAXIMIZE,
    )


_ADAM_SOURCE = "Kingma & Ba 2015, Alg. 1 and §3; torch.optim.Adam docs"
_ADAM_VARIANTS = (
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

OPTIMIZERS: dict[str, OptimizerSpec] = {
    "SGD": OptimizerSpec(
        name="SGD",
        step=sgd.sgd_step,
        torch_class="torch.optim.SGD",
        space=_SGD_SPACE,
        invariants=(
            "sgd_linearity",
            "sgd_buffer_closed_form",
            "sgd_classic_equivalence",
            "nesterov_relation",
        ),
        source="torch.optim.SGD docs; Polyak 1964; Sutskever et al. 2013",
        state_keys=("momentum_buffer",),
        constraint=sgd.sgd_constraint,
        variants=(
            Variant(
                "classic-momentum",
                sgd.classic_momentum_step,
                "lr inside the momentum buffer (v = μv + ηg; θ -= v): equals SGD only at "
                "constant lr",
                "Polyak 1964 eq. 9; Sutskever et al. 2013 eq. 1",
            ),
            Variant(
                "dampened-start",
                sgd.dampened_start_step,
                "momentum buffer started at (1-τ)·g (an EMA from zero) instead of g",
                "common implementation variant",
            ),
        ),
        implementations=("forloop", "foreach", "fused"),
    ),
    "Adam": OptimizerSpec(
        name="Adam",
        step=adam.adam_step,
        torch_class="torch.optim.Adam",
        space=_adam_space(0.0),
        invariants=(
            "adam_first_step",
            "adam_constant_gradient",
            "adam_step_bound",
            "adam_scale_invariance",
            "amsgrad_monotone",
        ),
        source=_ADAM_SOURCE,
        state_keys=("step", "exp_avg", "exp_avg_sq"),
        constraint=adam.adam_constraint,
        variants=_ADAM_VARIANTS,
        implementations=("forloop", "foreach", "fused"),
    ),
    "AdamW": OptimizerSpec(
        name="AdamW",
        step=adam.adamw_step,
        torch_class="torch.optim.AdamW",
        space=_adam_space(1e-2),
        invariants=(
            "adam_first_step",
            "adam_constant_gradient",
            "adam_step_bound",
            "adam_scale_invariance",
            "amsgrad_monotone",
            "adamw_pure_decay",
        ),
        source="Loshchilov & Hutter 2019, Alg. 2; torch.optim.AdamW docs",
        state_keys=("step", "exp_avg", "exp_avg_sq"),
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
            *_ADAM_VARIANTS,
        ),
        implementations=("forloop", "foreach", "fused"),
    ),
}


def find(name: str) -> tuple[OptimizerSpec | ScheduleSpec, Variant | None]:
    """Look up a spec by torch class name or variant name, case-insensitively.

    Variants are named ``Spec:variant`` (``Adam:keras-eps-hat``) or by the variant alone
    when that is unambiguous.
    """
    key = name.strip().lower()
    for table in (OPTIMIZERS, SCHEDULES):
        for spec_name, spec in table.items():
            if spec_name.lower() == key:
                return spec, None
    base, _, var = key.partition(":")
    matches = []
    for table in (OPTIMIZERS, SCHEDULES):
        for spec_name, spec in table.items():
            for v in spec.variants:
                if v.name.lower() == (var or base) and (not var or spec_name.lower() == base):
                    matches.append((spec, v))
    if len(matches) >= 1 and (var or len({id(m[1]) for m in matches}) == 1):
        return matches[0]
    known = ", ".join([*OPTIMIZERS, *SCHEDULES])
    raise KeyError(f"unknown algorithm {name!r}; known: {known}")


def names() -> list[str]:
    """Every name ``find`` accepts, for help texts and error messages."""
    out = [*OPTIMIZERS, *SCHEDULES]
    for table in (OPTIMIZERS, SCHEDULES):
        for spec_name, spec in table.items():
            out += [f"{spec_name}:{v.name}" for v in spec.variants]
    return out
