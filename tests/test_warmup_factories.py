"""Warm-up schedule factories (transformers' ``optimization`` module): the closed forms by
hand, stand-ins written from the documented formulas (tests/zoo/factories.py) validated
as conforming, a broken copy of each caught, and (``--realworld``) transformers 5.23.0's own
functions reproduced by hand, outside optcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optcheck.checks import profiles
from optcheck.checks.catalog import SCHEDULES
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import Context, Settings, execute
from optcheck.checks.kit.schedules import reference_schedule_target
from optcheck.checks.result import CheckResult
from optcheck.checks.target import ScheduleTarget
from optcheck.reference import warmup_factories as W

CHECKS = registry.load_all()
# record -> (transformers' function, the broken copy in tests/zoo/factories.py)
FACTORIES = {
    "ConstantWithWarmup": ("get_constant_schedule_with_warmup", "constant_warmup_one_ahead"),
    "LinearWithWarmup": ("get_linear_schedule_with_warmup", "linear_decays_past_the_end"),
    "CosineWithWarmup": ("get_cosine_schedule_with_warmup", "cosine_full_cycle_default"),
    "CosineHardRestartsWithWarmup": (
        "get_cosine_with_hard_restarts_schedule_with_warmup",
        "hard_restarts_never_restart",
    ),
    "PolynomialDecayWithWarmup": (
        "get_polynomial_decay_schedule_with_warmup",
        "polynomial_ignores_lr_end",
    ),
    "InverseSqrtWithWarmup": ("get_inverse_sqrt_schedule", "inverse_sqrt_unshifted"),
    "WarmupStableDecay": ("get_wsd_schedule", "wsd_ends_at_zero"),
}
# The default run holds one stand-in and one mutant; --thorough all of them.
DEFAULT = "CosineWithWarmup"


def run(target: ScheduleTarget, like: str, check_id: str, **fixed: object) -> CheckResult:
    examples = profiles.EXAMPLES[profiles.default_profile()]
    settings = Settings(max_examples=examples, fixed_hp=fixed)
    return execute(CHECKS[check_id], Context(target, SCHEDULES[like], settings=settings))


def zoo(name: str) -> ScheduleTarget:
    from zoo import factories

    return ScheduleTarget(name, getattr(factories, name), import_path=f"zoo.factories:{name}")


def sampled(names):
    return [n if n == DEFAULT else pytest.param(n, marks=pytest.mark.thorough) for n in names]


def test_closed_forms_by_hand():
    t = np.arange(7)
    # Warm-up from 0 over 2 steps, then linear to 0 at 6.
    got = W.linear_with_warmup(t, 1.0, num_warmup_steps=2, num_training_steps=6)
    np.testing.assert_allclose(got, [0, 0.5, 1, 0.75, 0.5, 0.25, 0], atol=1e-16)
    # Half a cosine over 4 steps after the warm-up: 1/2 at the middle.
    cos = W.cosine_with_warmup(4, 1.0, num_warmup_steps=2, num_training_steps=6)
    assert cos == pytest.approx(0.5, rel=1e-15)
    # Two hard restarts in 8 steps: back at the top at t = w + 4, 0 at the end.
    hard = W.cosine_with_hard_restarts(
        np.array([2, 4, 6, 10]), 1.0, num_warmup_steps=2, num_training_steps=10, num_cycles=2
    )
    np.testing.assert_allclose(hard, [1.0, 0.5, 1.0, 0.0], atol=1e-15)
    poly = W.polynomial_decay_with_warmup(
        [4, 9], 1.0, num_warmup_steps=0, num_training_steps=8, lr_end=0.1, power=2.0
    )
    np.testing.assert_allclose(poly, [0.9 * 0.25 + 0.1, 0.1], rtol=1e-15)
    inv = W.inverse_sqrt_with_warmup(12, 1.0, num_warmup_steps=4, timescale=None)
    assert inv == pytest.approx(1 / math.sqrt(3.0), rel=1e-15)
    assert W.constraint_polynomial_decay({"num_warmup_steps": 5, "num_training_steps": 5})


def test_warmup_stable_decay_by_hand():
    # r = 0.2: warm-up 0.2 -> 1 over 2 steps, 1 for 2, decay over 4, then 0.2.
    kw = {"num_warmup_steps": 2, "num_decay_steps": 4, "min_lr_ratio": 0.2}
    t = np.arange(10)
    lin = W.warmup_stable_decay(
        t, 1.0, **kw, num_stable_steps=2, warmup_type="linear", decay_type="linear"
    )
    np.testing.assert_allclose(lin, [0.2, 0.6, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0.2], atol=1e-15)
    # The num_training_steps form: stable = T - w - d.
    total = W.warmup_stable_decay(
        t, 1.0, **kw, num_training_steps=8, num_stable_steps=None, decay_type="linear"
    )
    np.testing.assert_array_equal(total, lin)
    # Cosine warm-up: half way up at t = w/2; 1-sqrt decay: 1 - sqrt(1/4) at a quarter.
    cos = W.warmup_stable_decay(1, 1.0, **{**kw, "min_lr_ratio": 0.0}, warmup_type="cosine")
    assert cos == pytest.approx(0.5, rel=1e-15)
    sqrt = W.warmup_stable_decay(
        5, 1.0, **kw, num_stable_steps=2, decay_type="1-sqrt", warmup_type="1-sqrt"
    )
    assert sqrt == pytest.approx(0.2 + 0.8 * 0.5, rel=1e-15)
    # A whole cosine cycle (num_cycles 1): half way down at a quarter, the floor at a half.
    full = W.warmup_stable_decay([3, 4], 1.0, **kw, num_stable_steps=0, num_cycles=1.0)
    np.testing.assert_allclose(full, [0.6, 0.2], rtol=1e-15)
    assert W.constraint_warmup_stable_decay({"num_stable_steps": None})
    assert W.constraint_warmup_stable_decay({"warmup_type": "exp"})


STAND_IN_CASES = [
    (like, check_id)
    for like in FACTORIES
    for check_id in ("crossval.schedule", *sorted(SCHEDULES[like].invariant_ids))
]


@pytest.mark.parametrize(
    ("like", "check_id"),
    [
        c if c == (DEFAULT, "crossval.schedule") else pytest.param(*c, marks=pytest.mark.thorough)
        for c in STAND_IN_CASES
    ],
)
def test_stand_in_conforms(like, check_id, request):
    # The default run's case keeps the run short (the drawn lengths reach 500 steps).
    short = {} if request.config.getoption("--thorough") else {"num_training_steps": 60}
    result = run(zoo(FACTORIES[like][0]), like, check_id, **short)
    assert result.verdict == "pass", (check_id, result.detail)


@pytest.mark.thorough  # the oracle against its own invariants; the stand-ins run them too
@pytest.mark.parametrize(
    ("like", "check_id"), [c for c in STAND_IN_CASES if c[1] != "crossval.schedule"]
)
def test_closed_form_keeps_the_invariant(like, check_id):
    result = run(reference_schedule_target(like), like, check_id)
    assert result.verdict == "pass", (check_id, result.detail)


@pytest.mark.parametrize("like", sampled(FACTORIES))
def test_broken_copy_is_caught(like):
    result = run(zoo(FACTORIES[like][1]), like, "crossval.schedule")
    assert result.verdict == "violation", result.detail
    assert result.evidence.snippet and "zoo.factories import" in result.evidence.snippet


# --- transformers itself (--realworld: nox -s realworld installs it) -------------------------


@pytest.mark.realworld
def test_transformers_factories_match_the_documented_formulas_by_hand():
    """Each of transformers 5.23.0's factories, driven with torch alone, against values
    worked out by hand from its documented formula."""
    import torch
    from transformers import optimization as O

    def lrs(fn, n, **kw):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(()))], lr=1.0)
        sched = getattr(O, fn)(opt, **kw)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(n):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
        return out

    half = (1 + math.cos(math.pi / 4)) / 2
    assert lrs("get_constant_schedule_with_warmup", 3, num_warmup_steps=2) == [0, 0.5, 1, 1]
    linear = lrs("get_linear_schedule_with_warmup", 7, num_warmup_steps=2, num_training_steps=6)
    assert linear == pytest.approx([0, 0.5, 1, 0.75, 0.5, 0.25, 0, 0], abs=1e-15)
    cos = lrs("get_cosine_schedule_with_warmup", 4, num_warmup_steps=2, num_training_steps=6)
    assert cos == pytest.approx([0, 0.5, 1, half, 0.5], abs=1e-15)
    hard = lrs(
        "get_cosine_with_hard_restarts_schedule_with_warmup",
        10,
        num_warmup_steps=2,
        num_training_steps=10,
        num_cycles=2,
    )
    assert hard[2] == 1.0 and hard[6] == pytest.approx(1.0) and hard[10] == 0.0
    poly = lrs(
        "get_polynomial_decay_schedule_with_warmup",
        9,
        num_warmup_steps=0,
        num_training_steps=8,
        lr_end=0.1,
        power=2.0,
    )
    assert poly[4] == pytest.approx(0.9 * 0.25 + 0.1) and poly[9] == pytest.approx(0.1)
    inv = lrs("get_inverse_sqrt_schedule", 12, num_warmup_steps=4)
    assert inv[12] == pytest.approx(1 / math.sqrt(3.0))
    # Warm-up-stable-decay: from min_lr_ratio up, flat, down, flat at min_lr_ratio.
    wsd = dict(num_warmup_steps=2, num_decay_steps=4, min_lr_ratio=0.2, decay_type="linear")
    stable = lrs("get_wsd_schedule", 9, **wsd, num_stable_steps=2)
    assert stable == pytest.approx([0.2, 0.6, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0.2], abs=1e-15)
    assert lrs("get_wsd_schedule", 9, **wsd, num_training_steps=8) == stable
    shapes = lrs(
        "get_wsd_schedule",
        6,
        num_warmup_steps=2,
        num_decay_steps=4,
        num_stable_steps=0,
        warmup_type="cosine",
        decay_type="1-sqrt",
    )
    assert shapes[1] == pytest.approx(0.5) and shapes[3] == pytest.approx(0.5)
    cycle = lrs(
        "get_wsd_schedule",
        4,
        num_warmup_steps=0,
        num_decay_steps=4,
        num_stable_steps=0,
        num_cycles=1.0,
    )
    assert cycle == pytest.approx([1, 0.5, 0, 0.5, 0], abs=1e-15)


@pytest.mark.realworld
def test_transformers_polynomial_decay_scales_every_group_by_one_multiplier():
    """transformers 5.23.0 forms lr_init from optimizer.defaults['lr'], so a group whose lr
    differs ends at lr_end * lr / lr_init, not at lr_end (the record's one_multiplier)."""
    import torch
    from transformers import optimization as O

    ps = [torch.nn.Parameter(torch.zeros(())) for _ in range(2)]
    opt = torch.optim.SGD([{"params": [ps[0]]}, {"params": [ps[1]], "lr": 2.0}], lr=1.0)
    sched = O.get_polynomial_decay_schedule_with_warmup(opt, 0, 4, lr_end=0.1)
    for _ in range(5):
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.2])


@pytest.mark.realworld
def test_transformers_polynomial_decay_without_decay_phase_divides_by_zero():
    """Finding (transformers 5.23.0): num_training_steps == num_warmup_steps raises
    ZeroDivisionError at t = num_warmup_steps (the other factories take max(1, T - w)); with
    both 0 the constructor itself raises. The record's constraint leaves it out of the draws."""
    import torch
    from transformers import optimization as O

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(()))], lr=1.0)
    with pytest.raises(ZeroDivisionError):
        O.get_polynomial_decay_schedule_with_warmup(opt, 0, 0)
    sched = O.get_polynomial_decay_schedule_with_warmup(opt, 3, 3)
    with pytest.raises(ZeroDivisionError):
        for _ in range(3):
            opt.step()
            sched.step()
