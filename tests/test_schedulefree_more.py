"""Schedule-Free's Closure forms and Schedule-Free RAdam as catalog records: correct ports pass
every check, each invariant and the cross-validation fail on broken ports
(tests/zoo/schedulefree_more.py), and the real packages' verdicts are the ones their code
earns, each finding reproduced by hand below with torch and the package alone.

The Closure records' steps take and return x (the parameter between steps); their targets'
step() requires a closure, and the checks give it one that leaves the gradients they set
(``closure_step``): the gradient is the one "taken at y", open-loop.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from recordcheck import context, prepared, run, target
from sampling import first_mutant_each
from zoo import schedulefree_more as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.reference import schedulefree as sf
from optcheck.reference.trajectory import run as run_reference

CLOSURE_RECORDS = {
    Z.ZooSGDScheduleFreeClosure: "SGDScheduleFreeClosure",
    Z.ZooAdamWScheduleFreeClosure: "AdamWScheduleFreeClosure",
    Z.ZooRAdamScheduleFreeClosure: "RAdamScheduleFreeClosure",
    Z.ZooRAdamScheduleFree: "RAdamScheduleFree",
}
CROSSVAL = "crossval.trajectory"
DEFAULT = "schedulefree.closure_point"
CAUGHT = {
    "schedulefree.closure_point": [Z.ClosureAtX, Z.AdamWClosureWeightBeta],
    "schedulefree.silent_phase": [Z.ThresholdFive, Z.SilentPhaseSteps, Z.NoRectifier],
    CROSSVAL: [Z.UnrectifiedWeights, Z.ClosureAtX, Z.ClosureRAdamNoRectifier],
}


def record_of(cls: type):
    return OPTIMIZERS[next(n for c, n in CLOSURE_RECORDS.items() if issubclass(cls, c))]


def as_prepared(cls: type):
    """A zoo class as a target with what prepare adds from its record."""
    rec = record_of(cls)
    return dataclasses.replace(target(cls), setup=rec.setup, closure_step=rec.closure_step)


def test_every_invariant_has_a_mutant():
    ids = set().union(*(OPTIMIZERS[n].invariant_ids for n in CLOSURE_RECORDS.values()))
    assert ids - {"schedulefree.first_step", "schedulefree.eval_point"} | {CROSSVAL} == set(CAUGHT)


def _ports() -> list:
    """Each check on one correct port by default (the first), the rest with --thorough."""
    default = {
        ("schedulefree.closure_point", Z.ZooSGDScheduleFreeClosure),
        ("schedulefree.silent_phase", Z.ZooRAdamScheduleFree),
    }
    out = []
    for cls, name in CLOSURE_RECORDS.items():
        for c in sorted(OPTIMIZERS[name].invariant_ids | {CROSSVAL}):
            marks = [] if (c, cls) in default else [pytest.mark.thorough]
            out.append(pytest.param(c, cls, id=f"{c}-{cls.__name__}", marks=marks))
    return out


@pytest.mark.parametrize(("check_id", "cls"), _ports())
def test_correct_port_passes(check_id, cls):
    result = run(context(record_of(cls), as_prepared(cls)), check_id)
    assert result.verdict == "pass", result.detail


def _mutants() -> list:
    """closure_point's first mutant by default (a caught mutant costs a shrink: 1 s, 1.4 to
    1.9 s for silent_phase's, over the default run's budget), every other with --thorough."""
    return [
        pytest.param(*p.values, id=p.id, marks=[*p.marks, *_thorough(p.values[0] != DEFAULT)])
        for p in first_mutant_each(CAUGHT)
    ]


def _thorough(yes: bool) -> list:
    return [pytest.mark.thorough] if yes else []


# RAdam's rectified steps start at t = 5 (β2 ≥ 0.8): the generic cross-validation draws step
# counts of 1 to 12, so 10 examples may all stop short (silent_phase fixes 5 to 7 steps); and
# the weights follow γ·r_t only in a silent phase (else lr_max = γ from the SGD phase on).
CROSSVAL_EXAMPLES = 50


@pytest.mark.parametrize(("check_id", "mutant"), _mutants())
def test_mutant_is_caught(check_id, mutant):
    examples = CROSSVAL_EXAMPLES if check_id == CROSSVAL else 0
    ctx = context(record_of(mutant), as_prepared(mutant), examples=examples)
    if check_id == CROSSVAL and "silent_sgd_phase" in ctx.spec.defaults:
        ctx.settings.fixed_hp = {"silent_sgd_phase": True}  # as --hp silent_sgd_phase=True
    result = run(ctx, check_id)
    assert result.verdict == "violation", result.detail


def test_closure_reference_by_hand():
    """SGD Closure form, β = 1/2, γ = 1, λ = 0, from x = z = 1: step 1 (c = 1) gives
    x = z = 1 − g_1; step 2 (c = 1/2) evaluates at y = (x + z)/2 = 1 − g_1, z = 1 − g_1 − g_2,
    x = (x_2 + z_3)/2 = 1 − g_1 − g_2/2."""
    hp = {"lr": 1.0, "momentum": 0.5}
    traj = run_reference(sf.sgd_closure_step, [np.ones(1)], [[np.full(1, 0.25)]] * 2, hp)
    assert traj[0][0][0] == 0.75 and traj[1][0][0] == 1 - 0.25 - 0.125


def test_radam_reference_by_hand():
    """β2 = 0.9: ρ_t ≤ 4 for t ≤ 4, so the silent phase keeps θ; t = 5 is the first rectified
    step (ρ_5 = 4.58), c = 1: θ − γ r_5 g/(√v̂_5 + ε) with g constant, v̂ = g²."""
    hp = {"lr": 0.5, "betas": (0.9, 0.9), "eps": 0.0}
    traj = run_reference(sf.radam_step, [np.ones(1)], [[np.full(1, 2.0)]] * 5, hp)
    assert [t[0][0] for t in traj[:4]] == [1.0] * 4
    rho_inf = 2 / 0.1 - 1
    rho_5 = rho_inf - 10 * 0.9**5 / (1 - 0.9**5)
    r5 = np.sqrt((rho_5 - 4) * (rho_5 - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_5))
    assert traj[4][0][0] == pytest.approx(1 - 0.5 * r5, rel=1e-14)
    assert sf.first_rectified_step(0.9) == 5 and sf.first_rectified_step(0.6) is None


# --- the real packages -------------------------------------------------------------------------
# pytorch-optimizer is in the test extra: its finding is re-checked by every run.

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")


def test_real_package_finding_radam_sgd_phase_at_lr_one():
    """By hand: with silent_sgd_phase=False, RAdam's SGD phase (ρ_t ≤ 4) steps at γ (Alg. 2
    line 12; schedulefree: γ·float(not silent)); pytorch-optimizer 4.1.0 sets lr =
    float(not silent_sgd_phase) = 1.0 there, whatever γ: from θ = 0 with g = 1 and γ = 0.01
    the first step lands at −1, not −0.01."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = pytorch_optimizer.ScheduleFreeRAdam([p], lr=0.01, silent_sgd_phase=False)
    p.grad = torch.ones(1, dtype=torch.float64)
    opt.step()
    assert p.item() == -1.0


@pytest.mark.thorough
def test_real_package_radam_sgd_phase_is_found():
    ctx = prepared("pytorch_optimizer:ScheduleFreeRAdam", "RAdamScheduleFree")
    assert run(ctx, CROSSVAL).verdict == "violation"


# schedulefree is in the realworld corpus only (nox -s realworld installs it).


def _schedulefree():
    return pytest.importorskip("schedulefree")


@pytest.mark.realworld
@pytest.mark.parametrize(
    ("cls", "hp"),
    [
        ("SGDScheduleFreeClosure", {"momentum": 0.5}),
        ("AdamWScheduleFreeClosure", {"betas": (0.5, 0.999)}),
        ("RAdamScheduleFreeClosure", {"betas": (0.5, 0.999), "silent_sgd_phase": False}),
    ],
)
def test_schedulefree_finding_closure_forms_leave_a_gradless_parameter_at_y(cls, hp):
    """By hand: step(closure) moves every parameter to y = lerp(x, z, 1−β) before the closure
    but back only those that got a gradient. Parameter b never has a gradient at step 1 yet
    gets state z; it has one at step 2 (x_b ≠ z_b after it, c = 1/2); at step 3 its gradient
    is None (a frozen layer) and it is left at y_b = x_b + (1−β)(z_b − x_b), not at x_b."""
    sf_ = _schedulefree()
    a = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = getattr(sf_, cls)([a, b], lr=1.0, **hp)
    a.grad = torch.ones(1, dtype=torch.float64)
    opt.step(lambda: None)
    assert "z" in opt.state[b]  # state for a parameter that never had a gradient
    b.grad = torch.ones(1, dtype=torch.float64)  # b trained once: x_b = z_b = 1 − u
    a.grad = torch.ones(1, dtype=torch.float64)
    opt.step(lambda: None)
    x_b, z_b = b.item(), opt.state[b]["z"].item()
    b.grad = None  # b frozen from now on: it must stay at x_b
    opt.step(lambda: None)
    beta = hp.get("momentum", hp.get("betas", (0,))[0])
    assert x_b != z_b and b.item() == pytest.approx(x_b + (1 - beta) * (z_b - x_b), rel=1e-15)


@pytest.mark.realworld
def test_schedulefree_radam_matches_the_record_by_hand():
    """By hand: RAdamScheduleFree and its Closure form against the record's steps written out
    (silent phase, first rectified step with c = 1), β2 = 0.9, constant g = 2, θ = 1, γ = 0.5,
    ε = 0: θ stays 1 for four steps, then 1 − 0.5·r_5 (RAdamScheduleFree holds y = x there)."""
    sf_ = _schedulefree()
    rho_inf = 2 / 0.1 - 1
    rho_5 = rho_inf - 10 * 0.9**5 / (1 - 0.9**5)
    r5 = np.sqrt((rho_5 - 4) * (rho_5 - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_5))
    for name in ("RAdamScheduleFree", "RAdamScheduleFreeClosure"):
        p = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
        opt = getattr(sf_, name)([p], lr=0.5, betas=(0.9, 0.9), eps=0.0)
        if hasattr(opt, "train"):
            opt.train()
        seen = []
        for _ in range(5):
            p.grad = torch.full((1,), 2.0, dtype=torch.float64)
            opt.step(lambda: None)
            seen.append(p.item())
        assert seen[:4] == [1.0] * 4, (name, seen)
        assert seen[4] == pytest.approx(1 - 0.5 * r5, rel=1e-14), (name, seen)
