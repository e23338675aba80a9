"""LAMB as a catalog record: a correct port passes every check, each invariant and the
cross-validation fail on broken ports (tests/zoo/lamb.py), variants are named, and the real
package's verdicts are the ones its code earns, each finding reproduced by hand below.

pytorch-optimizer 4.1.0's Lamb (pinned in the test extra) is not Alg. 2: with its defaults it
is the ``debiased-step`` variant (raw moments, decoupled decay, ε in the trust ratio's
denominator, step size η/(1−β1^t) after the ratio), so its first step is 1/(1−β1) = 10 times
the paper's length, though its docstring says "without bias correction"; its flags
weight_decouple=False and adam_debias=True are the variants ``debiased-step-ratio-decay`` and
``eps-in-ratio``. A deep copy loses
attributes set in __init__, and maximize=True or pre_norm=True write into p.grad.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from real_findings import assert_deepcopy_loses, grad_after_step
from recordcheck import context, named, prepared, run, target
from sampling import first_mutant_each
from zoo import lamb as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.reference import lamb

LAMB = OPTIMIZERS["LAMB"]
CAUGHT = {
    "lamb.trust_ratio": [
        Z.LambNoTrustRatio,
        Z.LambGradientNormRatio,
        Z.LambUnclamped,
        Z.LambDebiasedStep,
    ],
    "lamb.first_step": [
        Z.LambNoBiasCorrection,
        Z.LambNoTrustRatio,
        Z.LambGradientNormRatio,
        Z.LambUnclamped,
        Z.LambZeroNormFrozen,
        Z.LambMaximizeIgnored,
    ],
    "crossval.trajectory": [
        Z.LambDecoupledDecay,
        Z.LambNoTrustRatio,
        Z.LambGradientNormRatio,
        Z.LambNoBiasCorrection,
        Z.LambUnclamped,
        Z.LambDebiasedStep,
        Z.LambZeroNormFrozen,
        Z.LambMaximizeIgnored,
    ],
}
NAMED = {
    Z.LambNoBiasCorrection: ["no-bias-correction"],
    Z.LambDecoupledDecay: ["decoupled-decay"],
    # Its minimal case has β1 = 0 and λ = 0, where pytorch-optimizer's three forms coincide
    # (the drawn cases fail first and are shrunk; the flag plans run only if they all pass).
    Z.LambDebiasedStep: ["debiased-step", "debiased-step-ratio-decay", "eps-in-ratio"],
}


# φ's clamp shows only where ‖θ‖ > 10, which first_step's drawn params reach less often.
# (φ(z) = z alone, timm's Lamb with always_adapt=True, is not a named variant: on params of
# norm < 10 it coincides with Alg. 2; LAMB:nvlamb parts from it by skipping the ratio at λ = 0.)
HARD = {Z.LambUnclamped: 60}


def test_every_invariant_has_a_mutant():
    assert set(CAUGHT) == LAMB.invariant_ids | {"crossval.trajectory"}


def test_first_step_by_hand():
    """Alg. 2 at t = 1 with θ = (3, 4) (‖θ‖ = 5), g = (1, −1), ε = 0: r = (1, −1), ‖r‖ = √2,
    so θ_1 = θ − η·5·(1, −1)/√2; with θ = (30, 40) the ratio's φ stops at 10."""
    for theta, phi in (((3.0, 4.0), 5.0), ((30.0, 40.0), 10.0)):
        p = torch.nn.Parameter(torch.tensor(theta, dtype=torch.float64))
        p.grad = torch.tensor([1.0, -1.0], dtype=torch.float64)
        Z.ZooLamb([p], lr=0.1, eps=0.0).step()
        expected = np.array(theta) - 0.1 * phi * np.array([1.0, -1.0]) / np.sqrt(2.0)
        np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-14)
        got, _ = lamb.lamb_step(
            np.array(theta), np.array([1.0, -1.0]), {}, {"lr": 0.1, "eps": 0.0}, 1
        )
        np.testing.assert_allclose(got, expected, rtol=1e-14)


@pytest.mark.parametrize("check_id", sorted(CAUGHT))
def test_correct_port_passes(check_id):
    result = run(context(LAMB, target(Z.ZooLamb)), check_id)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(("check_id", "mutant"), first_mutant_each(CAUGHT))
def test_mutant_is_caught(check_id, mutant):
    result = run(context(LAMB, target(mutant), examples=HARD.get(mutant, 0)), check_id)
    assert result.verdict == "violation", result.detail


@pytest.mark.parametrize("mutant", list(NAMED), ids=lambda m: m.__name__)
def test_a_variant_port_is_named(mutant):
    assert named(context(LAMB, target(mutant), examples=HARD.get(mutant, 0))) == NAMED[mutant]


# --- NVLAMB (timm's Lamb): the nvlamb variant ----------------------------------------------


@pytest.mark.parametrize(
    ("port", "verdict"), [(Z.LambNvlamb, "pass"), (Z.NvlambAdaptsWithoutDecay, "violation")]
)
def test_nvlamb_variant_passes_its_port_and_catches_a_lost_always_adapt_gate(port, verdict):
    ctx = prepared(f"zoo.lamb:{port.__name__}", "LAMB:nvlamb")
    ctx.settings.max_examples = 3  # 0.3 s of CPU the pair
    assert run(ctx, "crossval.trajectory").verdict == verdict


# --- the real package ------------------------------------------------------------------------

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
PATH = "pytorch_optimizer:Lamb"


@pytest.mark.parametrize(
    ("flags", "variant"),
    [
        ({}, lamb.debiased_step_step),
        ({"weight_decouple": False}, lamb.debiased_step_ratio_decay_step),
        ({"adam_debias": True}, lamb.eps_in_ratio_step),
    ],
    ids=["defaults", "weight_decouple=False", "adam_debias=True"],
)
def test_real_package_is_a_named_variant(flags, variant):
    """The validator's verdict: not Alg. 2, and the variants it names include the one each
    setting implements (its minimal case has β1 = 0 and λ = 0, where the three pytorch-optimizer
    variants coincide, so it names all three). By hand: the package's trajectory over five
    steps (two tensors, one past φ's bound, decay on, both code paths) is that variant's
    formula to float64 round-off. (Cross-validating against a variant with ``--like
    LAMB:debiased-step`` bounds its round-off with the paper's error model, whose steps are
    up to 1−β1^t times shorter: a rounding-level miss can show there.)"""
    ctx = prepared(PATH, "LAMB", flags)
    assert run(ctx, "crossval.trajectory").verdict == "violation"
    assert variant.__name__.removesuffix("_step").replace("_", "-") in named(ctx)
    rng = np.random.default_rng(0)
    theta0 = [rng.normal(size=6), 30 * rng.normal(size=(2, 3))]
    grads = [[rng.normal(size=t.shape) for t in theta0] for _ in range(5)]
    hp = {"lr": 0.01, "betas": (0.9, 0.99), "eps": 1e-6, "weight_decay": 0.1}
    for foreach in (None, False):
        params = [torch.nn.Parameter(torch.tensor(t)) for t in theta0]
        opt = pytorch_optimizer.Lamb(params, foreach=foreach, **hp, **flags)
        ref, states = [t.copy() for t in theta0], [{}, {}]
        for k, gs in enumerate(grads):
            for p, g in zip(params, gs, strict=True):
                p.grad = torch.tensor(g)
            opt.step()
            for i, g in enumerate(gs):
                ref[i], states[i] = variant(ref[i], g, states[i], hp, k + 1)
                np.testing.assert_allclose(params[i].detach().numpy(), ref[i], rtol=1e-13)


def test_real_package_finding_first_step_ten_times_the_papers():
    """By hand: θ = (1, 1, 1, 1) (‖θ‖ = 2), g = (1, −2, 3, −4), defaults (η = 1e-3, β1 = 0.9):
    Alg. 2 moves θ by η·φ(‖θ‖) = 0.002; pytorch-optimizer's Lamb by 0.02 (its step size is
    η/(1−β1^t) after the ratio). With adam_debias=True it moves 0.002·‖u‖/(‖u‖+ε), ε = 1e-6
    in the ratio's denominator: short of the paper's by ε/‖u‖. lamb.trust_ratio finds both."""
    g = torch.tensor([1.0, -2.0, 3.0, -4.0], dtype=torch.float64)
    moved = {}
    for debias in (False, True):
        p = torch.nn.Parameter(torch.ones(4, dtype=torch.float64))
        p.grad = g.clone()
        pytorch_optimizer.Lamb([p], adam_debias=debias).step()
        moved[debias] = torch.linalg.vector_norm(p.detach() - 1).item()
    assert moved[False] == pytest.approx(0.02, rel=1e-6)
    u = np.linalg.norm(0.1 * g.numpy() / (np.sqrt(0.001) * np.abs(g.numpy()) + 1e-6))
    assert moved[True] == pytest.approx(0.002 * u / (u + 1e-6), rel=1e-12)
    assert abs(moved[True] - 0.002) > 1e-10
    ref, _ = lamb.lamb_step(np.ones(4), g.numpy(), {}, {"lr": 1e-3}, 1)
    assert np.linalg.norm(ref - 1) == pytest.approx(0.002, rel=1e-12)
    for hp in ({"betas": (0.9, 0.999)}, {"adam_debias": True}):
        assert run(prepared(PATH, "LAMB", hp), "lamb.trust_ratio").verdict == "violation"


def test_real_package_finding_deepcopy_loses_init_attributes():
    """A deep-copied Lamb has lost pre_norm (and maximize, degenerated_to_sgd,
    n_sma_threshold, foreach), set on self in __init__."""
    assert_deepcopy_loses(pytorch_optimizer.Lamb, PATH, "LAMB", "pre_norm")


@pytest.mark.parametrize("foreach", [None, False], ids=["foreach", "forloop"])
@pytest.mark.parametrize(
    ("hp", "written"),
    [
        ({"maximize": True}, lambda g: -g),
        ({"pre_norm": True}, lambda g: g / (torch.linalg.vector_norm(g) + 1e-6)),
    ],
    ids=["maximize", "pre_norm"],
)
def test_real_package_finding_step_writes_into_the_gradient(foreach, hp, written):
    """By hand: maximize=True negates p.grad in place (grad.neg_()) and pre_norm=True scales
    it by max_grad_norm/(‖g‖+ε) ≤ 1 in place (grad.mul_), in both code paths;
    contract.grad_unchanged finds each."""
    g = torch.tensor([1.0, -2.0, 3.0])
    after = grad_after_step(pytorch_optimizer.Lamb, g, lr=1e-3, foreach=foreach, **hp)
    torch.testing.assert_close(after, written(g))
    result = run(prepared(PATH, "LAMB", {"maximize": False, **hp}), "contract.grad_unchanged")
    assert result.verdict == "violation"
