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
from real_findings import deepcopy_step_error, grad_after_step
from recordcheck import context, named, prepared, run, target
from sampling import first_mutant_each
from zoo import schedulefree_more as Z

import optcheck
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


def test_a_closure_step_target_gets_a_closure_that_keeps_the_gradients():
    """closure_step: a plain step() hands the class's step a closure that leaves .grad; the
    built object stays the target's class by name, a deep copy keeps the closure, and a
    closure given is the one called (once)."""
    import copy

    tgt = as_prepared(Z.ZooSGDScheduleFreeClosure)
    p = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = tgt.make([p], {"lr": 0.5})
    assert type(opt).__name__ == "ZooSGDScheduleFreeClosure"
    p.grad = torch.ones(1, dtype=torch.float64)
    opt.step()
    assert p.item() == 0.5  # c = 1: x = z = 1 − 0.5·1
    twin = copy.deepcopy(opt)
    twin.param_groups[0]["params"][0].grad = torch.ones(1, dtype=torch.float64)
    twin.step()
    calls = []
    assert opt.step(lambda: calls.append(1) or 7.0) == 7.0 and calls == [1]


def test_prepare_gives_a_closure_record_its_closure_and_says_so():
    prep = optcheck.suites.prepare.prepare(
        "zoo.schedulefree_more:ZooSGDScheduleFreeClosure", "SGDScheduleFreeClosure"
    )
    assert prep.target.closure_step and prep.target.setup == ()
    assert any("closure that leaves the gradients set" in n for n in prep.notes), prep.notes


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


def test_real_package_finding_radam_deepcopy_and_gradient():
    """By hand, as for pytorch-optimizer's other Schedule-Free classes: a deep copy loses
    ``foreach`` (set on self), and maximize=True negates p.grad in place."""
    error = deepcopy_step_error(pytorch_optimizer.ScheduleFreeRAdam, lr=1e-3)
    assert isinstance(error, AttributeError) and "foreach" in str(error), error
    g = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    got = grad_after_step(pytorch_optimizer.ScheduleFreeRAdam, g, lr=0.1, maximize=True)
    assert torch.equal(got, -g), got


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


@pytest.mark.realworld
@pytest.mark.parametrize(
    "cls",
    [
        "AdamWScheduleFree",
        "AdamWScheduleFreeClosure",
        "RAdamScheduleFree",
        "RAdamScheduleFreeClosure",
    ],
)
def test_schedulefree_finding_complex_parameters_square_the_gradient(cls):
    """By hand: torch's optimizers step a complex parameter as its real view (torch.optim docs,
    "complex numbers"); schedulefree's Adam forms accumulate v from g·g, the complex square,
    so the imaginary part takes a vanishing step. θ = 1 + 2i, g = 0.5 − 1i, lr 0.1 (β2 = 0.9
    for RAdam, rectified from t = 5), five steps: the real view's imaginary part moves by
    0.3 or more, the complex parameter's by under 1e-8."""
    sf_ = _schedulefree()
    hp = {"betas": (0.9, 0.9)} if "RAdam" in cls else {}
    moved = []
    for complex_ in (True, False):
        t = torch.tensor([1.0 + 2.0j]) if complex_ else torch.tensor([[1.0, 2.0]])
        p = torch.nn.Parameter(t.to(torch.complex128 if complex_ else torch.float64))
        opt = getattr(sf_, cls)([p], lr=0.1, **hp)
        if hasattr(opt, "train"):
            opt.train()
        for _ in range(5):
            g = torch.tensor([0.5 - 1.0j]) if complex_ else torch.tensor([[0.5, -1.0]])
            p.grad = g.to(p.dtype)
            opt.step(lambda: None)
        real = torch.view_as_real(p.detach()) if complex_ else p.detach()
        moved.append(abs(real[0, 1].item() - 2.0))
    assert moved[0] < 1e-8 and moved[1] > 0.01, moved


@pytest.mark.realworld
@pytest.mark.parametrize(
    "cls",
    [
        "SGDScheduleFreeClosure",
        "AdamWScheduleFreeClosure",
        "RAdamScheduleFreeClosure",
        "RAdamScheduleFree",
    ],
)
def test_schedulefree_finding_more_forms_write_into_the_gradient(cls):
    """By hand: from θ = 1 with g = (1, −2, 3) and weight_decay 0.5, one step leaves p.grad =
    g + 0.5·y (divided first by the Adam denominator in AdamW's; RAdam's first step is its SGD
    phase), as the forms in tests/test_schedulefree_record.py do."""
    sf_ = _schedulefree()
    g = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = getattr(sf_, cls)([p], lr=0.1, weight_decay=0.5)
    if hasattr(opt, "train"):
        opt.train()
    p.grad = g.clone()
    opt.step(lambda: None)
    want = (g / (g.abs() + 1e-8) if cls.startswith("AdamW") else g) + 0.5
    assert torch.allclose(p.grad, want, rtol=1e-12), p.grad


# --- the wrappers (tests/sf_wrappers.py: factories over a torch base) ---------------------------


@pytest.mark.realworld
@pytest.mark.parametrize("wrapper", ["ScheduleFreeWrapper", "ScheduleFreeWrapperReference"])
@pytest.mark.parametrize("base", ["Adam", "AdamW", "RMSprop"])
def test_schedulefree_finding_wrappers_cannot_wrap_adam_or_rmsprop(wrapper, base):
    """By hand: the wrapper stores z in the base optimizer's own state before base.step();
    torch's Adam, AdamW and RMSprop initialise their state only when it is empty, so the first
    step raises KeyError ('exp_avg', 'square_avg') — RMSprop is the wrappers' docstring example.
    The same error was reported downstream (kohya-ss/sd-scripts#1605)."""
    sf_ = _schedulefree()
    p = torch.nn.Parameter(torch.ones(2))
    opt = getattr(sf_, wrapper)(getattr(torch.optim, base)([p], lr=0.0025), momentum=0.9)
    opt.train()
    p.grad = torch.ones(2)
    with pytest.raises(KeyError):
        opt.step()


@pytest.mark.realworld
@pytest.mark.parametrize("wrapper", ["ScheduleFreeWrapper", "ScheduleFreeWrapperReference"])
def test_schedulefree_finding_wrappers_divide_by_zero_at_lr_zero(wrapper):
    """By hand: ckp1 = weight/weight_sum has no guard (the optimizers' classes have one): with
    lr = 0 every weight is 0^2 = 0 and the first step raises ZeroDivisionError."""
    sf_ = _schedulefree()
    p = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = getattr(sf_, wrapper)(torch.optim.SGD([p], lr=0.0), momentum=0.9)
    opt.train()
    p.grad = torch.ones(2, dtype=torch.float64)
    with pytest.raises(ZeroDivisionError):
        opt.step()


@pytest.mark.realworld
@pytest.mark.parametrize("factory", ["schedulefree_sgd", "schedulefree_reference_sgd"])
def test_schedulefree_wrappers_over_sgd_are_sgd_schedule_free_by_hand(factory):
    """By hand: ScheduleFreeWrapper(SGD(momentum=0), momentum=β, weight_decay_at_y=λ) follows
    schedulefree's own SGDScheduleFree(momentum=β, weight_decay=λ) to 1e-15 over six steps."""
    import sf_wrappers

    sf_ = _schedulefree()
    assert _sgd_pair(getattr(sf_wrappers, factory), sf_.SGDScheduleFree) < 1e-15


def _sgd_pair(factory, reference_cls) -> float:
    """Largest difference of six steps of ``factory`` and ``reference_cls`` (β = 0.7, λ = 0.2,
    lr 0.1, from θ = (0.3, −1.2))."""
    hp = {"lr": 0.1, "momentum": 0.7, "weight_decay": 0.2}
    out = []
    for make in (factory, reference_cls):
        p = torch.nn.Parameter(torch.tensor([0.3, -1.2], dtype=torch.float64))
        opt = make([p], **hp)
        opt.train()
        for k in range(6):
            p.grad = torch.tensor([np.sin(k + 1.0), np.cos(k + 1.0)], dtype=torch.float64)
            opt.step()
        out.append(p.detach().clone())
    return float((out[0] - out[1]).abs().max())


def test_real_package_finding_wrapper_decays_z_by_z():
    """By hand: pytorch-optimizer 4.1.0's ScheduleFreeWrapper(SGD(momentum=0), momentum=β,
    weight_decay=λ) decays z by γλz and y by γλ(1−β)y (apply_weight_decay on each), where
    schedulefree's wrapper and Alg. 1 take z ← z − γλy: x = (y − (1−β)z)/β then moves by
    −γλ(1−β)(x − z) besides the average. Against schedulefree-free ground truth, the record's
    reference: over six steps it is 4e-3 off (identical at λ = 0)."""
    import sf_wrappers

    hp = {"lr": 0.1, "momentum": 0.7, "weight_decay": 0.2}
    gs = [np.array([np.sin(k + 1.0), np.cos(k + 1.0)]) for k in range(6)]
    ref = run_reference(sf.sgd_step, [np.array([0.3, -1.2])], [[g] for g in gs], hp)[-1][0]
    for decay, off in ((0.2, 1e-3), (0.0, None)):
        p = torch.nn.Parameter(torch.tensor([0.3, -1.2], dtype=torch.float64))
        opt = sf_wrappers.pytorch_optimizer_sgd([p], **{**hp, "weight_decay": decay})
        opt.train()
        for g in gs:
            p.grad = torch.tensor(g)
            opt.step()
        if off is None:
            want = run_reference(
                sf.sgd_step, [np.array([0.3, -1.2])], [[g] for g in gs], {**hp, "weight_decay": 0}
            )[-1][0]
            assert np.abs(p.detach().numpy() - want).max() < 1e-15
        else:
            assert np.abs(p.detach().numpy() - ref).max() > off


def test_real_package_finding_wrapper_cannot_be_deep_copied():
    """By hand: pytorch-optimizer 4.1.0's ScheduleFreeWrapper.__getstate__ keeps state and the
    base optimizer only; torch's Optimizer.__setstate__ then reads self.defaults, so
    copy.deepcopy of a wrapper that has stepped raises AttributeError."""
    import copy

    p = torch.nn.Parameter(torch.ones(2))
    opt = pytorch_optimizer.ScheduleFreeWrapper(torch.optim.SGD([p], lr=0.1), momentum=0.9)
    opt.train()
    p.grad = torch.ones(2)
    opt.step()
    with pytest.raises(AttributeError, match="defaults"):
        copy.deepcopy(opt)


@pytest.mark.thorough
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("cls", list(CLOSURE_RECORDS), ids=lambda c: c.__name__)
def test_correct_port_cross_validates_in_low_precision(cls, dtype):
    """The error model (the reference run on tracked values, in the packages' arithmetic:
    x recomputed from y by lerp(y, z, 1−1/β)) bounds the ports in every dtype."""
    result = run(context(record_of(cls), as_prepared(cls), dtype=dtype), CROSSVAL)
    assert result.verdict == "pass", result.detail


@pytest.mark.thorough
def test_real_package_radam_unit_sgd_lr_is_named():
    """validate names the variant pytorch-optimizer's ScheduleFreeRAdam runs, and passes the
    cross-validation against it (its other findings are not about the formula)."""
    ctx = prepared("pytorch_optimizer:ScheduleFreeRAdam", "RAdamScheduleFree")
    assert named(ctx) == ["unit-sgd-lr"]
    like = prepared("pytorch_optimizer:ScheduleFreeRAdam", "RAdamScheduleFree:unit-sgd-lr")
    assert run(like, CROSSVAL).verdict == "pass"
