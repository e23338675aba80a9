"""NAdam, RAdam, ASGD and Adafactor invariants: they pass on torch.optim (every implementation
the record lists) and on the float64 reference, and fail on the broken ones in tests/zoo.

The default run keeps a spread-out sample (tests/sampling.py); --thorough runs the product.
"""

from __future__ import annotations

import contextlib
import math

import hypothesis
import numpy as np
import pytest
import torch
from sampling import every_nth
from zoo import mutants_invariants_b as ZB
from zoo import optimizers_numeric as Z

from optcheck.checks.adafactor_checks import predicted_step, rank_one
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.findings import known_finding
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.nadam_checks import constant_gradient_factor
from optcheck.checks.radam_checks import rectification
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.target import OptimizerTarget
from optcheck.reference import adafactor, nadam, radam
from optcheck.reference.trajectory import run
from optcheck.suites.runner import mark_known

load_all()
ALGOS = ("RAdam", "NAdam", "ASGD", "Adafactor")
IMPLS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
INVARIANTS = [(a, c) for a in ALGOS for c in sorted(OPTIMIZERS[a].invariant_ids)]
# torch keeps η in float32 under its default dtype (a finding, checks.findings): these run
# torch under the float64 default, and test_asgd_eta_is_a_known_finding covers the other.
FLOAT64_DEFAULT = {("ASGD", "asgd.first_step"), ("ASGD", "asgd.eta_schedule")}
# Which check catches which mutant; test_catch_counts has the full product.
CAUGHT = {
    "radam.sgd_phase": [
        ("RAdam", Z.RAdamNoSgdFallback),
        ("RAdam", ZB.RAdamDecoupledIgnored),
        ("RAdam", ZB.RAdamDecayWithoutLr),
    ],
    "radam.constant_gradient": [
        ("RAdam", Z.RAdamNoSgdFallback),
        ("RAdam", Z.RAdamRectificationNotRooted),
        ("RAdam", ZB.RAdamThreshold4),
    ],
    "nadam.first_step": [
        ("NAdam", Z.NAdamConstantMu),
        ("NAdam", Z.NAdamScheduleOffByOne),
        ("NAdam", ZB.NAdamKeras3Schedule),
        ("NAdam", ZB.NAdamPaperNuHat),
    ],
    "nadam.constant_gradient": [
        ("NAdam", Z.NAdamConstantMu),
        ("NAdam", ZB.NAdamDecoupledIgnored),
        ("NAdam", ZB.NAdamDecayWithoutLr),
    ],
    "asgd.first_step": [
        ("ASGD", Z.ASGDDecayIgnored),
        ("ASGD", ZB.ASGDEtaOneStepEarly),
        ("ASGD", ZB.ASGDDecayTwice),
    ],
    "asgd.eta_schedule": [("ASGD", ZB.ASGDEtaOneStepEarly), ("ASGD", ZB.ASGDAverageInParams)],
    "asgd.average_is_state": [("ASGD", ZB.ASGDAverageInParams)],
    "adafactor.rank_one": [
        ("Adafactor", ZB.AdafactorFactorNotNormalised),
        ("Adafactor", ZB.AdafactorAbsoluteStep),
        ("Adafactor", ZB.AdafactorLrIgnored),
    ],
    "adafactor.relative_step": [
        ("Adafactor", ZB.AdafactorAbsoluteStep),
        ("Adafactor", ZB.AdafactorShazeerStern),
    ],
    "decay.decoupled_pure": [
        ("RAdam", ZB.RAdamDecoupledIgnored),
        ("RAdam", ZB.RAdamDecayWithoutLr),
        ("NAdam", ZB.NAdamDecoupledIgnored),
        ("NAdam", ZB.NAdamDecayWithoutLr),
        ("Adafactor", ZB.AdafactorLrIgnored),
    ],
}


def verdict(check_id, target, spec_name):
    settings = Settings(max_examples=hypothesis.settings.default.max_examples)
    return execute(CHECKS[check_id], Context(target, OPTIMIZERS[spec_name], settings=settings))


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def torch_target(name, impl):
    cls = getattr(torch.optim, name)
    return OptimizerTarget(f"{name}[{impl}]", cls, f"torch.optim:{name}", IMPLS[impl])


def zoo_target(cls):
    module = "zoo.optimizers_numeric" if hasattr(Z, cls.__name__) else ZB.__name__
    return OptimizerTarget(cls.__name__, cls, f"{module}:{cls.__name__}")


def _rotated(xs: tuple, j: int) -> tuple:
    return xs[j % len(xs) :] + xs[: j % len(xs)]


# Each invariant's implementations rotated, so the default run's sample (every 2nd) keeps one
# implementation per invariant and alternates them.
TORCH_CASES = [
    (a, c, impl)
    for j, (a, c) in enumerate(INVARIANTS)
    for impl in _rotated(OPTIMIZERS[a].implementations, j)
]


@pytest.mark.parametrize(
    ("spec_name", "check_id", "impl"), every_nth(TORCH_CASES, 2, ids=lambda v: "-".join(v))
)
def test_passes_on_torch(spec_name, check_id, impl):
    dtype = torch.float64 if (spec_name, check_id) in FLOAT64_DEFAULT else torch.float32
    with default_dtype(dtype):
        result = verdict(check_id, torch_target(spec_name, impl), spec_name)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(
    ("spec_name", "check_id"), every_nth(INVARIANTS, 6, ids=lambda v: "-".join(v))
)
def test_passes_on_the_reference(spec_name, check_id):
    target = OptimizerTarget("reference", reference_factory(OPTIMIZERS[spec_name]))
    result = verdict(check_id, target, spec_name)
    assert result.verdict == "pass", result.detail


# One fast mutant per algorithm and one for the shared decay check in the default run (a caught
# mutant pays hypothesis' shrinking, ~1 s); --thorough runs all of CAUGHT.
DEFAULT_MUTANTS = {
    ("radam.constant_gradient", Z.RAdamNoSgdFallback),
    ("nadam.first_step", ZB.NAdamPaperNuHat),
    ("decay.decoupled_pure", ZB.RAdamDecayWithoutLr),
    ("asgd.average_is_state", ZB.ASGDAverageInParams),
    ("adafactor.rank_one", ZB.AdafactorAbsoluteStep),
}
MUTANT_CASES = [
    pytest.param(
        c,
        s,
        m,
        marks=() if (c, m) in DEFAULT_MUTANTS else pytest.mark.thorough,
        id=f"{c}-{s}-{m.__name__}",
    )
    for c, pairs in CAUGHT.items()
    for s, m in pairs
]


@pytest.mark.parametrize(("check_id", "spec_name", "mutant"), MUTANT_CASES)
def test_fails_on_mutant(check_id, spec_name, mutant):
    result = verdict(check_id, zoo_target(mutant), spec_name)
    assert result.verdict == "violation", result.detail
    ev = result.evidence
    assert ev.step >= 1 and ev.case and ev.snippet
    assert ev.error_in_tol > 1 and ev.tolerance is not None


def test_every_invariant_catches_a_mutant():
    assert {c for _, c in INVARIANTS} == set(CAUGHT)


@pytest.mark.thorough
def test_catch_counts():
    """Every invariant against every mutant of its algorithm: CAUGHT is a subset of what is
    caught (the counts are in the closing note)."""
    for spec_name, check_id in INVARIANTS:
        mutants = [
            *Z.RECORD_MUTANTS.get(spec_name, []),
            *getattr(Z, f"{spec_name.upper()}_MUTANTS", []),
            *ZB.MUTANTS[spec_name],
        ]
        caught = {
            m for m in mutants if verdict(check_id, zoo_target(m), spec_name).verdict == "violation"
        }
        assert {m for s, m in CAUGHT[check_id] if s == spec_name} <= caught, check_id


def test_asgd_eta_findings_name_torch_only():
    for check_id in ("asgd.first_step", "asgd.eta_schedule"):
        assert known_finding(torch_target("ASGD", "forloop"), check_id, {}, "cpu") is not None
        assert known_finding(zoo_target(Z.ASGDDecayIgnored), check_id, {}, "cpu") is None


@pytest.mark.thorough
def test_asgd_eta_is_a_known_finding():
    """Under torch's float32 default dtype ASGD steps with fl32(η): the closed forms see it
    (10^5 float64 tolerances and more) and the runner reports it as the known finding."""
    target = torch_target("ASGD", "forloop")
    ctx = Context(target, OPTIMIZERS["ASGD"], settings=Settings(max_examples=5))
    with default_dtype(torch.float32):
        result = execute(CHECKS["asgd.first_step"], ctx)
    assert result.verdict == "violation" and result.evidence.error_in_tol > 1e3
    assert mark_known(result, ctx).verdict == "known"


# --- the closed forms against the reference ----------------------------------------------


@pytest.mark.parametrize("psi", [0.0, 4e-3, 1.0])
def test_nadam_constant_gradient_factor_is_the_reference(psi):
    hp = {"lr": 1.0, "betas": (0.9, 0.999), "eps": 0.0, "momentum_decay": psi}
    traj = run(nadam.nadam_step, [np.zeros(1)], [[np.ones(1)]] * 6, hp)
    prev = 0.0
    for t, (theta,) in enumerate(traj, start=1):
        c, rel = constant_gradient_factor(0.9, psi, t)
        # reference.nadam rounds Π_t to float32 (torch's default dtype): 2^-24 of Π_t, times
        # the 1/(1 − Π) amplification of the two bias corrections.
        assert prev - float(theta[0]) == pytest.approx(c, rel=rel + 1e-6)
        prev = float(theta[0])


def test_radam_rectification_is_the_reference_step():
    hp = {"lr": 1.0, "betas": (0.0, 0.999), "eps": 0.0}
    traj = run(radam.radam_step, [np.zeros(1)], [[np.ones(1)]] * 8, hp)
    assert float(traj[4][0][0] - traj[3][0][0]) == -1.0  # t = 5: ρ_5 ≤ 5, SGD
    r6, rel = rectification(0.999, 6)
    assert float(traj[4][0][0] - traj[5][0][0]) == pytest.approx(r6, rel=rel + 1e-15)
    assert 0 < r6 < 1 and math.isfinite(r6)


def test_adafactor_rank_one_closed_form_is_the_reference():
    rng = np.random.default_rng(3)
    p = rank_one(rng.normal(size=(2, 3, 4)))
    scales = [1.0, -2.0, 0.5, 4.0]
    hp = {**OPTIMIZERS["Adafactor"].defaults, "lr": 0.3, "weight_decay": 0.1}
    theta0 = rng.normal(size=p.shape)
    traj = run(adafactor.adafactor_step, [theta0], [[s * p] for s in scales], hp)
    prev = theta0
    for t in range(1, len(scales) + 1):
        expected, err = predicted_step(hp, prev, p, scales, t, 0.3)
        assert np.all(np.abs(traj[t - 1][0] - expected) <= err + 64 * 2**-53 * np.abs(expected))
        prev = traj[t - 1][0]
