"""Adam-family invariants: pass on torch.optim (every implementation), on the float64 reference
and on a correct third-party-style Adam; fail on the broken ones in tests/zoo."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import hypothesis
import numpy as np
import pytest
import torch
from zoo import optimizers_numeric as Z

from optcheck.checks.adam_checks import eps_effect, ratio_bound, sqrt_vhat_floor
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.target import OptimizerTarget
from optcheck.reference import adam
from optcheck.reference.trajectory import run

load_all()
TESTS = Path(__file__).parent
IMPLS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
COMMON = ["adam.first_step", "adam.constant_gradient", "adam.step_bound", "adam.scale_invariance"]
COMMON += ["amsgrad.monotone"]
BY_SPEC = {"Adam": COMMON, "AdamW": [*COMMON, "adamw.pure_decay"]}
# Which check catches which mutant (each check: at least one; see the closing note's table).
CAUGHT = {
    "adam.first_step": [
        ("Adam", Z.AdamNoBiasCorrection),
        ("Adam", Z.AdamBiasCorrectionStepMinusOne),
        ("Adam", Z.AdamKerasEpsHat),
        ("Adam", Z.AdamEpsInsideSqrt),
        ("Adam", Z.AdamMaximizeIgnored),
        ("Adam", Z.AdamWeightDecayIgnored),
        ("Adam", Z.AdamFloat32Internal),
        ("AdamW", Z.AdamWDecayAfterStep),
    ],
    "adam.constant_gradient": [
        ("Adam", Z.AdamBiasCorrectionOffByOne),
        ("Adam", Z.AdamSqrtOfBiasCorrectionMissing),
        ("Adam", Z.AdamLrCached),
        ("Adam", Z.AdamEpsAsFloor),
        ("AdamW", Z.AdamWCoupledDecay),
    ],
    "adam.step_bound": [
        ("Adam", Z.AdamNoBiasCorrection),
        ("Adam", Z.AdamEpsAsFloor),
        ("AdamW", Z.AdamWDecayWithoutLr),
    ],
    "adam.scale_invariance": [
        ("Adam", Z.AdamEpsInsideSqrt),
        ("Adam", Z.AdamKerasEpsHat),
        ("Adam", Z.AdamLrCached),
    ],
    "amsgrad.monotone": [("Adam", Z.AdamAmsgradIgnored), ("Adam", Z.AdamBetasSwapped)],
    "adamw.pure_decay": [
        ("AdamW", Z.AdamWCoupledDecay),
        ("AdamW", Z.AdamWDecayWithoutLr),
        ("AdamW", Z.AdamWLrCached),
    ],
}


def examples() -> int:
    return hypothesis.settings.default.max_examples


def verdict(check_id, target, spec_name):
    ctx = Context(target, OPTIMIZERS[spec_name], settings=Settings(max_examples=examples()))
    return execute(CHECKS[check_id], ctx)


def torch_target(name, impl):
    cls = getattr(torch.optim, name)
    return OptimizerTarget(f"{name}[{impl}]", cls, f"torch.optim:{name}", IMPLS[impl])


def zoo_target(cls):
    return OptimizerTarget(cls.__name__, cls, f"zoo.optimizers_numeric:{cls.__name__}")


# Every check on torch's forloop and fused; foreach (CPU's forloop arithmetic) with --thorough.
@pytest.mark.parametrize(
    "impl", [i if i != "foreach" else pytest.param(i, marks=pytest.mark.thorough) for i in IMPLS]
)
@pytest.mark.parametrize(
    ("spec_name", "check_id"), [(s, c) for s, ids in BY_SPEC.items() for c in ids]
)
def test_passes_on_torch(spec_name, check_id, impl):
    result = verdict(check_id, torch_target(spec_name, impl), spec_name)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize("source", ["reference", "zoo"])
@pytest.mark.parametrize(
    ("spec_name", "check_id"), [(s, c) for s, ids in BY_SPEC.items() for c in ids]
)
def test_passes_on_the_reference_and_a_correct_third_party_adam(spec_name, check_id, source):
    spec = OPTIMIZERS[spec_name]
    if source == "reference":
        target = OptimizerTarget("reference", reference_factory(spec))
    else:
        target = zoo_target(Z.CORRECT[spec_name])
    result = verdict(check_id, target, spec_name)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(
    ("check_id", "spec_name", "mutant"),
    # Every check against its first mutant and every second one after it by default; each
    # listed pair with --thorough.
    [
        pytest.param(c, s, m, marks=() if k % 2 == 0 else pytest.mark.thorough)
        for c, pairs in CAUGHT.items()
        for k, (s, m) in enumerate(pairs)
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_fails_on_mutant(check_id, spec_name, mutant):
    result = verdict(check_id, zoo_target(mutant), spec_name)
    assert result.verdict == "violation", result.detail
    ev = result.evidence
    assert ev.step >= 1 and ev.case and ev.snippet
    if "raised" not in ev.message:  # else the target raised: the snippet reproduces that
        assert ev.error_in_tol > 1 and ev.tolerance is not None
        assert ev.expected is not None and ev.got is not None


def test_pure_decay_does_not_apply_to_coupled_adam():
    result = verdict("adamw.pure_decay", torch_target("Adam", "forloop"), "Adam")
    assert result.verdict == "skip" and "couples" in result.detail


def test_amsgrad_check_skips_a_target_without_the_flag():
    class NoAmsgrad(torch.optim.Adam):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
            super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    result = verdict("amsgrad.monotone", OptimizerTarget("x", NoAmsgrad), "Adam")
    assert result.verdict == "skip" and "amsgrad" in result.detail


def test_evidence_snippet_reproduces_the_violation():
    result = verdict("adam.first_step", zoo_target(Z.AdamKerasEpsHat), "Adam")
    assert result.verdict == "violation"
    out = run_snippet(result.evidence.snippet)
    assert "REPRODUCED" in out and "expected" in out


def test_a_raising_target_gets_the_step_and_a_snippet_that_raises():
    result = verdict("adam.constant_gradient", zoo_target(Z.AdamBiasCorrectionStepMinusOne), "Adam")
    ev = result.evidence
    assert result.verdict == "violation" and "ZeroDivisionError" in ev.message
    assert ev.step == 1 and "at step 1" in ev.message
    out = run_snippet(ev.snippet)
    assert "target raised ZeroDivisionError" in out and "REPRODUCED" in out


def run_snippet(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# --- the derived bounds, against the reference -------------------------------------------


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.9, 0.99), (0.5, 0.9), (0.0, 0.999)])
@pytest.mark.parametrize("t", [1, 2, 5, 12])
def test_ratio_bound_is_attained(betas, t):
    """Gradients growing by β2/β1 per step reach C_t (Cauchy–Schwarz equality)."""
    b1, b2 = betas
    hp = {"lr": 1.0, "betas": betas, "eps": 1e-300}
    grads = [
        [np.array([(b1 / b2) ** (t - k) if b1 > 0 else float(k == t)])] for k in range(1, t + 1)
    ]
    traj = run(adam.adam_step, [np.zeros(1)], grads, hp)
    step = abs(float(traj[-1][0][0] - (traj[-2][0][0] if t > 1 else 0.0)))
    assert step == pytest.approx(ratio_bound(b1, b2, t), rel=1e-12)


def test_kingma_ba_bound_is_only_approximate():
    """§2.1's |Δ| ≤ η·max(1, (1−β1)/√(1−β2)) is exceeded by the attained C_t."""
    assert ratio_bound(0.9, 0.99, 2) > 1.0
    assert ratio_bound(0.9, 0.999, 300) > (1 - 0.9) / math.sqrt(1 - 0.999)
    assert ratio_bound(0.9, 0.999, 12) < (1 - 0.9) / math.sqrt(1 - 0.999)


@pytest.mark.parametrize("seed", range(20))
def test_eps_effect_bounds_the_reference(seed):
    """|r(g) − r(c·g)| ≤ η·C_t·h(max(floor, ε/√c)) on random sequences near the ε scale."""
    rng = np.random.default_rng(seed)
    b1, b2 = rng.choice([0.0, 0.5, 0.9]), rng.choice([0.9, 0.999])
    eps, c = 10.0 ** rng.uniform(-8, -3), 2.0 ** rng.integers(-10, 11)
    hp = {"lr": 1.0, "betas": (b1, b2), "eps": eps}
    grads = [[rng.normal(size=16) * 10.0 ** rng.uniform(-6, 0)] for _ in range(8)]
    a = run(adam.adam_step, [np.zeros(16)], grads, hp)
    b = run(adam.adam_step, [np.zeros(16)], [[c * g[0]] for g in grads], hp)
    prev_a, prev_b = np.zeros(16), np.zeros(16)
    for k in range(8):
        diff = np.abs((a[k][0] - prev_a) - (b[k][0] - prev_b))
        floor = sqrt_vhat_floor([g[0] for g in grads[: k + 1]], b2)
        allowed = eps_effect(c, eps, floor, ratio_bound(b1, b2, k + 1))
        assert np.all(diff <= allowed * (1 + 1e-9) + 1e-13)  # + float64 round-off
        prev_a, prev_b = a[k][0], b[k][0]
