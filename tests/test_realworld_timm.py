"""timm 1.0.31's schedulers by hand, outside optcheck (``--realworld``): torch and timm's
scheduler files alone. timm itself does not import here (tests/timm_by_path.py says why and
loads timm.scheduler without it). Each verdict tests/realworld.toml records for timm is
reproduced here: the conforming classes equal the closed forms on hand-picked cases, and
each finding is shown on plain torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from optcheck.reference import timm_schedules as T

pytestmark = pytest.mark.realworld


def _timm(name: str) -> type:
    try:
        import timm_by_path
    except ImportError as exc:
        pytest.skip(str(exc))
    return getattr(timm_by_path, name)


def _lrs(cls: type, steps: int, base: float = 0.1, **kw: object) -> list[float]:
    """The lr after construction, then after each step(t), t = 0 .. steps - 1."""
    opt = torch.optim.SGD([torch.zeros(1)], lr=base)
    sched, out = cls(opt, **kw), [opt.param_groups[0]["lr"]]
    for t in range(steps):
        sched.step(t)
        out.append(opt.param_groups[0]["lr"])
    return out


CASES = [
    ("CosineLRScheduler", T.cosine, {"t_initial": 10}),
    (
        "CosineLRScheduler",
        T.cosine,
        {
            "t_initial": 7,
            "lr_min": 1e-6,
            "cycle_mul": 1.5,
            "cycle_decay": 0.5,
            "cycle_limit": 4,
            "k_decay": 1.7,
        },
    ),
    (
        "CosineLRScheduler",
        T.cosine,
        {"t_initial": 5, "warmup_t": 3, "warmup_lr_init": 1e-6, "warmup_prefix": True},
    ),
    ("PolyLRScheduler", T.poly, {"t_initial": 9, "power": 2.0, "warmup_t": 4, "cycle_limit": 3}),
    ("TanhLRScheduler", T.tanh, {"t_initial": 9, "warmup_t": 4, "cycle_limit": 2}),
    ("StepLRScheduler", T.step, {"decay_t": 7.5, "decay_rate": 0.5, "warmup_t": 3}),
    (
        "MultiStepLRScheduler",
        T.multistep,
        {"decay_t": [10, 25], "decay_rate": 0.3, "warmup_t": 2, "warmup_prefix": False},
    ),
]


@pytest.mark.parametrize(("name", "form", "kw"), CASES, ids=[c[0] for c in CASES])
def test_timm_scheduler_is_the_closed_form(name, form, kw):
    got = _lrs(_timm(name), 60, **kw)[1:]  # after step(t)
    np.testing.assert_allclose(got, form(np.arange(60), 0.1, **kw), rtol=0, atol=1e-15)


def test_timm_tanh_starts_at_the_base_lr_not_at_its_curve():
    """Finding: without warm-up, TanhLRScheduler leaves the optimizer's lr at base until the
    first step(t); its curve at t = 0 is base (1 - tanh(lb)) / 2. timm's train loop calls
    step(epoch) only at the end of an epoch, so epoch 0 runs at base: 8.3e-7 relative high
    at lb = -7, 12 % at lb = -1."""
    cls = _timm("TanhLRScheduler")
    for lb, ratio in ((-7.0, 0.5 * (1 - math.tanh(-7.0))), (-1.0, 0.5 * (1 - math.tanh(-1.0)))):
        before, after = _lrs(cls, 1, base=1.0, t_initial=10, lb=lb)
        assert before == 1.0
        assert after == pytest.approx(ratio, rel=1e-15) and after < 1.0


def test_timm_multistep_milestone_one_is_missed_before_the_first_step():
    """Same root cause: decay_t = [1] applies from t = 0 (timm's documented t + 1
    convention), yet the constructor leaves the base lr in place until step(0)."""
    before, after = _lrs(_timm("MultiStepLRScheduler"), 1, base=1.0, decay_t=[1], decay_rate=0.5)
    assert (before, after) == (1.0, 0.5)


def test_timm_cosine_misses_a_restart_where_its_log_rounds_down():
    """Finding: the cycle index is floor(log(1 - t/T0 (1 - m), m)); with m = 3, T0 = 1 the
    sixth cycle starts at t = 121, where math.log(243, 3) = 4.999999999999999, so timm puts
    t = 121 at the end of cycle 4 (lr_min) instead of the start of cycle 5 (the peak)."""
    assert math.log(243, 3) < 5
    lrs = _lrs(_timm("CosineLRScheduler"), 123, t_initial=1, cycle_mul=3.0, cycle_limit=9)[1:]
    assert lrs[40] == pytest.approx(0.1)  # log(81, 3) is exact: that restart is found
    assert lrs[121] == 0.0
    assert T.cosine(121, 0.1, t_initial=1, cycle_mul=3.0, cycle_limit=9) == pytest.approx(0.1)
