"""Broken NAdam, RAdam, ASGD and Adafactor for the invariants of tests/test_invariants_b.py.

Each is the float64 reference (reference/<algo>.py) with one slip, wrapped as an optimizer
(checks.reference_optimizer), so a mutant differs from a correct implementation by exactly
the slip its docstring names. The mutants of tests/zoo/optimizers_numeric.py are reused there.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import numpy as np

from optcheck.checks.algorithms.adafactor import ADAFACTOR
from optcheck.checks.algorithms.asgd import ASGD
from optcheck.checks.algorithms.nadam import NADAM
from optcheck.checks.algorithms.radam import RADAM
from optcheck.checks.records import OptimizerRecord
from optcheck.checks.reference_optimizer import ReferenceOptimizer, reference_factory
from optcheck.reference import adafactor, asgd, nadam, radam
from optcheck.reference.spec import StepFn


def _mutant(name: str, record: OptimizerRecord, step: StepFn, doc: str) -> type:
    """A ReferenceOptimizer subclass running ``step``, with the record's keywords."""

    def __init__(self: Any, params: Any, **hp: Any) -> None:
        ReferenceOptimizer.__init__(self, params, step, {**record.defaults, **hp})

    cls = type(name, (ReferenceOptimizer,), {"__init__": __init__, "__doc__": doc})
    cls.__signature__ = reference_factory(record).__signature__  # keywords read from it
    cls.__module__ = __name__
    return cls


def _decoupled_ignored(step: StepFn) -> StepFn:
    def slip(param, grad, state, hp, t):
        return step(param, grad, state, {**hp, "decoupled_weight_decay": False}, t)

    return slip


def _decay_without_lr(step: StepFn) -> StepFn:
    def slip(param, grad, state, hp, t):
        lam = hp.get("weight_decay", 0.0)
        if lam and hp.get("decoupled_weight_decay", False):
            return step(param * (1.0 - lam), grad, state, {**hp, "weight_decay": 0.0}, t)
        return step(param, grad, state, hp, t)

    return slip


# --- RAdam -------------------------------------------------------------------------------------

RAdamThreshold4 = _mutant(
    "RAdamThreshold4",
    RADAM,
    radam.threshold4_step,
    "The paper's test ρ_t > 4 (Liu et al. Alg. 2 line 8) instead of torch's ρ_t > 5: the "
    "rectified step starts at t = 5 for β2 = 0.999 (the 'threshold-4' variant).",
)
RAdamDecoupledIgnored = _mutant(
    "RAdamDecoupledIgnored",
    RADAM,
    _decoupled_ignored(radam.radam_step),
    "decoupled_weight_decay accepted but ignored: the decay is always coupled (L2).",
)
RAdamDecayWithoutLr = _mutant(
    "RAdamDecayWithoutLr",
    RADAM,
    _decay_without_lr(radam.radam_step),
    "Decoupled decay θ(1 − λ), not scaled by the learning rate.",
)

# --- NAdam -------------------------------------------------------------------------------------

NAdamKeras3Schedule = _mutant(
    "NAdamKeras3Schedule",
    NADAM,
    nadam.keras3_schedule_step,
    "Keras 3's μ_t = β1(1 − ½·0.96^t): momentum_decay ignored (fixed at 1).",
)
NAdamPaperNuHat = _mutant(
    "NAdamPaperNuHat",
    NADAM,
    nadam.paper_nu_hat_step,
    "Dozat's Alg. 2 line 8 as printed: n̂ = β2·n_t/(1 − β2^t), steps √(1/β2) larger.",
)
NAdamDecoupledIgnored = _mutant(
    "NAdamDecoupledIgnored",
    NADAM,
    _decoupled_ignored(nadam.nadam_step),
    "decoupled_weight_decay accepted but ignored: the decay is always coupled (L2).",
)
NAdamDecayWithoutLr = _mutant(
    "NAdamDecayWithoutLr",
    NADAM,
    _decay_without_lr(nadam.nadam_step),
    "Decoupled decay θ(1 − λ), not scaled by the learning rate.",
)

# --- ASGD --------------------------------------------------------------------------------------


def _asgd_eta_early(param, grad, state, hp, t):
    lr, lam, alpha = hp["lr"], hp.get("lambd", 1e-4), hp.get("alpha", 0.75)
    return asgd.asgd_step(param, grad, {**state, "eta": lr / (1 + lam * lr * t) ** alpha}, hp, t)


def _asgd_average_in_params(param, grad, state, hp, t):
    _, new_state = asgd.asgd_step(param, grad, state, hp, t)
    return new_state["ax"].copy(), new_state


def _asgd_decay_twice(param, grad, state, hp, t):
    eta = state.get("eta", hp["lr"])
    new_param, new_state = asgd.asgd_step(param, grad, state, hp, t)
    return new_param * (1.0 - hp.get("lambd", 1e-4) * eta), new_state


ASGDEtaOneStepEarly = _mutant(
    "ASGDEtaOneStepEarly",
    ASGD,
    _asgd_eta_early,
    "Step t uses lr/(1 + λ·lr·t)^α, the next step's η (the schedule counted from t = 1, not "
    "from the end of the previous step): even the first step is decayed.",
)
ASGDAverageInParams = _mutant(
    "ASGDAverageInParams",
    ASGD,
    _asgd_average_in_params,
    "The Polyak average written back into the parameters (θ ← ax) once averaging starts.",
)
ASGDDecayTwice = _mutant(
    "ASGDDecayTwice",
    ASGD,
    _asgd_decay_twice,
    "The decay term applied twice: θ(1 − λη)² − η·g'(1 − λη) (the shrink done again after "
    "the SGD step).",
)

# --- Adafactor ---------------------------------------------------------------------------------


def _adafactor_not_normalised(param, grad, state, hp, t):
    # V̂ = R·C: the outer product of the factors without dividing by mean(R).
    with mock.patch.object(adafactor, "factored_second_moment", lambda r, c, e: r @ c):
        return adafactor.adafactor_step(param, grad, state, hp, t)


def _adafactor_absolute_step(param, grad, state, hp, t):
    new_param, new_state = adafactor.adafactor_step(param, grad, state, hp, t)
    decayed = param * (1.0 - hp.get("lr", 1e-2) * hp.get("weight_decay", 0.0))
    scale = max(hp.get("eps", (None, 1e-3))[1], float(np.sqrt(np.mean(param * param))))
    return decayed - (decayed - new_param) / scale, new_state


def _adafactor_lr_ignored(param, grad, state, hp, t):
    # ρ_t = 1/√t whatever lr (the relative step without torch's min with lr).
    return adafactor.adafactor_step(param, grad, state, {**hp, "lr": 1.0}, t)


AdafactorFactorNotNormalised = _mutant(
    "AdafactorFactorNotNormalised",
    ADAFACTOR,
    _adafactor_not_normalised,
    "Factored second moment R_t C_t without the division by mean_i R_t (Alg. 4's 1ᵀR).",
)
AdafactorAbsoluteStep = _mutant(
    "AdafactorAbsoluteStep",
    ADAFACTOR,
    _adafactor_absolute_step,
    "α_t = ρ_t: the step not scaled by max(ε2, RMS(θ)) (transformers' scale_parameter=False).",
)
AdafactorLrIgnored = _mutant(
    "AdafactorLrIgnored",
    ADAFACTOR,
    _adafactor_lr_ignored,
    "ρ_t = 1/√t and the decay θ(1 − λ): lr read as 1 throughout.",
)
AdafactorShazeerStern = _mutant(
    "AdafactorShazeerStern",
    ADAFACTOR,
    adafactor.shazeer_stern_step,
    "The paper's form (the 'shazeer-stern' variant): ρ_t = min(1e-2, 1/√t) whatever lr, ε1 "
    "added to G² before the means, decay θ(1 − λα_t).",
)

MUTANTS = {
    "RAdam": [RAdamThreshold4, RAdamDecoupledIgnored, RAdamDecayWithoutLr],
    "NAdam": [NAdamKeras3Schedule, NAdamPaperNuHat, NAdamDecoupledIgnored, NAdamDecayWithoutLr],
    "ASGD": [ASGDEtaOneStepEarly, ASGDAverageInParams, ASGDDecayTwice],
    "Adafactor": [
        AdafactorFactorNotNormalised,
        AdafactorAbsoluteStep,
        AdafactorLrIgnored,
        AdafactorShazeerStern,
    ],
}
