"""Invariants of Adagrad, RMSprop, Adadelta, Adamax and Rprop (issue 15, part a): each passes on
torch.optim (every implementation the record lists) and on the float64 reference, and fails
on the broken ones in tests/zoo.

The default run keeps torch's forloop path per invariant and a sample of the mutant table
(DEFAULT_RUN); --thorough runs every implementation, the reference and every pair."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hypothesis
import numpy as np
import pytest
import torch
from zoo import mutants_invariants_a as M
from zoo import optimizers_numeric as Z

from optcheck.checks.adamax_checks import step_constant
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.rmsprop_checks import constant_steps
from optcheck.checks.rprop_checks import flips
from optcheck.checks.target import OptimizerTarget
from optcheck.reference import adamax, rmsprop, rprop
from optcheck.reference.trajectory import run

load_all()
IMPLS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
ALGORITHMS = ("Adagrad", "RMSprop", "Adadelta", "Adamax", "Rprop")
# check id -> the mutants it must catch (the record is the id's prefix).
CAUGHT = {
    "adagrad.first_step": [
        Z.AdagradLrDecayOffByOne,
        Z.AdagradEpsInsideSqrt,
        M.AdagradLeakyAccumulator,
        M.AdagradAccumulateAfterStep,
    ],
    "adagrad.accumulator_monotone": [
        M.AdagradLeakyAccumulator,
        M.AdagradLrDecayIgnored,
        Z.AdagradLrDecayOffByOne,
    ],
    "adagrad.step_bound": [
        M.AdagradLrDecayIgnored,
        M.AdagradAccumulateAfterStep,
        M.AdagradLeakyAccumulator,
        Z.AdagradEpsInsideSqrt,
    ],
    "rmsprop.first_step": [
        Z.RMSpropKeras,
        M.RMSpropCenteredPlusMean,
        M.RMSpropCenteredStaleMean,
    ],
    "rmsprop.constant_gradient": [
        Z.RMSpropKeras,
        Z.RMSpropMomentumBeforeScaling,
        M.RMSpropCenteredPlusMean,
        M.RMSpropCenteredStaleMean,
    ],
    "rmsprop.centered_dominates": [M.RMSpropCenteredPlusMean],
    "adadelta.first_step": [Z.AdadeltaZeiler, Z.AdadeltaDeltaAccumulatedFirst],
    "adadelta.step_bound": [Z.AdadeltaZeiler, Z.AdadeltaDeltaAccumulatedFirst],
    "adadelta.lr_scale": [Z.AdadeltaZeiler, M.AdadeltaLrInAccumulator],
    "adamax.first_step": [Z.AdamaxNoBiasCorrection, M.AdamaxMaxWithoutAbs],
    "adamax.step_bound": [M.AdamaxMaxWithoutAbs],
    "adamax.impulse_response": [
        Z.AdamaxNoBiasCorrection,
        Z.AdamaxEpsOutsideMax,
        M.AdamaxMaxWithoutAbs,
    ],
    "rprop.step_sizes": [M.RpropNoClamp, M.RpropGradientTimesStep],
    "rprop.sign_only": [M.RpropGradientTimesStep],
    "rprop.flip_skips": [Z.RpropNoGradZeroing],
}
SPEC_OF = {name.lower(): name for name in ALGORITHMS}


def verdict(check_id: str, target: OptimizerTarget):
    spec = OPTIMIZERS[SPEC_OF[check_id.split(".")[0]]]
    settings = Settings(max_examples=hypothesis.settings.default.max_examples)
    return execute(CHECKS[check_id], Context(target, spec, settings=settings))


def _passing() -> list[tuple[str, str]]:
    """(check id, source): torch's forloop first, so the default run keeps one per check."""
    out = []
    for name in ALGORITHMS:
        record = OPTIMIZERS[name]
        sources = [*record.implementations, "reference"]
        out += [(cid, src) for cid in sorted(record.invariant_ids) for src in sources]
    return out


PASSING = _passing()


@pytest.mark.parametrize(
    ("check_id", "source"),
    [
        pytest.param(c, s, marks=() if s == "forloop" else pytest.mark.thorough, id=f"{c}-{s}")
        for c, s in PASSING
    ],
)
def test_passes_on_torch_and_the_reference(check_id, source):
    spec = OPTIMIZERS[SPEC_OF[check_id.split(".")[0]]]
    if source == "reference":
        target = OptimizerTarget("reference", reference_factory(spec))
    else:
        cls = getattr(torch.optim, spec.name)
        target = OptimizerTarget(f"{spec.name}[{source}]", cls, "", IMPLS[source])
    result = verdict(check_id, target)
    assert result.verdict == "pass", result.detail


def test_every_invariant_is_listed_and_has_a_mutant():
    ids = {cid for name in ALGORITHMS for cid in OPTIMIZERS[name].invariant_ids}
    assert ids == set(CAUGHT) and all(CAUGHT.values())


# The default run keeps one pair per algorithm plus one more, picked by measured cost
# (each pass and the shrink of its counterexample: 0.25-0.8 CPU-s); --thorough runs them all.
DEFAULT_RUN = {
    ("adagrad.accumulator_monotone", M.AdagradLeakyAccumulator),
    ("rmsprop.centered_dominates", M.RMSpropCenteredPlusMean),
    ("adadelta.step_bound", Z.AdadeltaZeiler),
    ("adamax.step_bound", M.AdamaxMaxWithoutAbs),
    ("rprop.flip_skips", Z.RpropNoGradZeroing),
    ("rprop.sign_only", M.RpropGradientTimesStep),
}


@pytest.mark.parametrize(
    ("check_id", "mutant"),
    [
        pytest.param(
            c,
            m,
            marks=() if (c, m) in DEFAULT_RUN else pytest.mark.thorough,
            id=f"{c}-{m.__name__}",
        )
        for c, ms in CAUGHT.items()
        for m in ms
    ],
)
def test_fails_on_mutant(check_id, mutant):
    target = OptimizerTarget(mutant.__name__, mutant, f"zoo:{mutant.__name__}")
    result = verdict(check_id, target)
    assert result.verdict == "violation", result.detail
    ev = result.evidence
    assert ev.step >= 1 and ev.case and ev.snippet
    # A target's inf makes the tolerance (scaled by |θ|) inf too: the ratio is then NaN.
    assert not ev.error_in_tol <= 1 and ev.expected is not None and ev.got is not None


# --- the derived closed forms and bounds, against the float64 references ----------------


def _deltas(step, grads, hp):
    traj = run(step, [np.zeros_like(grads[0])], [[g] for g in grads], hp)
    return np.diff(np.stack([np.zeros_like(grads[0])] + [p[0] for p in traj]), axis=0)


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.9), (0.0, 0.999), (0.9, 0.95)])
@pytest.mark.parametrize("t", [1, 2, 5, 12])
def test_adamax_step_constant_is_attained(betas, t):
    """Gradients shrinking by β2 per step (ε = 0) keep every term of u's max equal: η·C_t."""
    b1, b2 = betas
    grads = [np.array([b2**k]) for k in range(1, t + 1)]
    hp = {"lr": 1.0, "betas": betas, "eps": 0.0}
    step = abs(float(_deltas(adamax.adamax_step, grads, hp)[-1][0]))
    assert step == pytest.approx(step_constant(b1, b2, t), rel=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_rmsprop_constant_steps_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    hp = {
        "lr": 1.0,
        "alpha": float(rng.choice([0.5, 0.9, 0.99])),
        "eps": 10.0 ** rng.uniform(-10, -3),
        "momentum": float(rng.choice([0.0, 0.9])),
        "centered": bool(seed % 2),
    }
    g = rng.normal(size=6) * 10.0 ** rng.uniform(-5, 2)
    want = _deltas(rmsprop.rmsprop_step, [g] * 12, hp)
    got = constant_steps(g, hp, [1.0] * 12)
    np.testing.assert_allclose(np.stack(got), want, rtol=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_rprop_flip_masks_match_the_reference(seed):
    """Where ``flips`` says skip, the reference does not move; elsewhere it moves."""
    rng = np.random.default_rng(seed)
    grads = [rng.choice([-1.0, 0.0, 1.0], size=16) for _ in range(10)]
    moved = _deltas(rprop.rprop_step, grads, {"lr": 0.1}) != 0
    for k, flip in enumerate(flips(grads)):
        np.testing.assert_array_equal(moved[k], ~flip & (grads[k] != 0))


@pytest.mark.thorough
@pytest.mark.parametrize(
    ("check_id", "mutant"),
    [
        ("rmsprop.centered_dominates", M.RMSpropCenteredPlusMean),
        ("adadelta.lr_scale", M.AdadeltaLrInAccumulator),
        ("rprop.flip_skips", Z.RpropNoGradZeroing),
    ],
    ids=lambda v: getattr(v, "__name__", v),
)
def test_evidence_snippet_reproduces_the_violation(check_id, mutant):
    """Two-sided checks keep both sides in what the snippet replays (one run, or per-run lrs)."""
    module = mutant.__module__
    result = verdict(
        check_id, OptimizerTarget(mutant.__name__, mutant, f"{module}:{mutant.__name__}")
    )
    assert result.verdict == "violation", result.detail
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run(
        [sys.executable, "-c", result.evidence.snippet],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0 and "REPRODUCED" in proc.stdout, proc.stdout + proc.stderr
