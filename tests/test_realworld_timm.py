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


# --- timm.optim (loaded by path as well) ------------------------------------------------------

G = torch.tensor([[0.3, -1.2, 2.0], [0.7, -0.4, 1.5], [-0.9, 0.8, 0.1], [0.2, 0.6, -1.1]])
THETA = torch.tensor([0.5, -0.25, 1.0], dtype=torch.float64)


def _run(cls: type, steps: int = 4, theta: torch.Tensor = THETA, **hp: object) -> list:
    """θ after each step on the fixed float64 gradients G."""
    p = torch.nn.Parameter(theta.clone())
    opt, out = cls([p], **hp), []
    for g in G[:steps]:
        p.grad = g.to(torch.float64).clone()
        opt.step()
        out.append(p.detach().clone())
    return out


def _torch_in_float64(cls: type, **hp: object) -> list:
    """torch's class run under a float64 default dtype: torch keeps step counts and
    NAdam's mu_product in the default dtype (float32: 3e-9 relative), timm in Python floats."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return _run(cls, **hp)
    finally:
        torch.set_default_dtype(default)


def test_timm_lion_is_chen_et_al_algorithm_2():
    lr, b1, b2, wd = 0.1, 0.9, 0.99, 0.5
    theta, m, want = THETA.clone(), torch.zeros(3, dtype=torch.float64), []
    for g in G.to(torch.float64):
        theta = theta * (1 - lr * wd) - lr * torch.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
        want.append(theta)
    got = _run(_timm("Lion"), lr=lr, betas=(b1, b2), weight_decay=wd)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-15)


def test_timm_adan_is_xie_et_al_algorithm_1():
    # Alg. 1 with bias-corrected moments (the authors' code), proximal decay, the first
    # gradient difference 0; betas as timm names them (weights of the old moments).
    lr, (b1, b2, b3), eps, wd = 0.05, (0.98, 0.92, 0.99), 1e-8, 0.02
    theta, want = THETA.clone(), []
    m, d, n, prev = (torch.zeros(3, dtype=torch.float64) for _ in range(4))
    for k, g in enumerate(G.to(torch.float64), start=1):
        diff = g - prev if k > 1 else torch.zeros_like(g)
        m, d = b1 * m + (1 - b1) * g, b2 * d + (1 - b2) * diff
        n = b3 * n + (1 - b3) * (g + b2 * diff) ** 2
        c1, c2, c3 = 1 - b1**k, 1 - b2**k, 1 - b3**k
        step = (m / c1 + b2 * d / c2) / ((n / c3).sqrt() + eps)
        theta = (theta - lr * step) / (1 + lr * wd)
        prev = g
        want.append(theta)
    got = _run(_timm("Adan"), lr=lr, betas=(b1, b2, b3), eps=eps, weight_decay=wd)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=0)


def test_timm_adamw_legacy_is_torchs_adamw():
    hp = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-8, "weight_decay": 0.1}
    got = _run(_timm("AdamWLegacy"), **hp)
    want = _run(torch.optim.AdamW, **hp, foreach=False)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-15, atol=0)


def test_timm_radam_legacy_computes_in_float32_for_float64_parameters():
    """Finding: RAdamLegacy steps p.float() and copies back, so a float64 parameter carries
    float32 rounding (1e-8 relative off torch's RAdam) and even lr = 0 moves it."""
    cls = _timm("RAdamLegacy")
    (still,) = _run(cls, steps=1, theta=torch.tensor([0.1], dtype=torch.float64)[[0, 0, 0]], lr=0.0)
    assert still[0].item() == float(torch.tensor(0.1, dtype=torch.float32)) != 0.1
    got, want = _run(cls, lr=0.05), _torch_in_float64(torch.optim.RAdam, lr=0.05)
    rel = ((got[-1] - want[-1]).abs() / want[-1].abs()).max().item()
    assert 1e-10 < rel < 1e-6  # float32's rounding, not an algorithmic difference


def test_timm_adabelief_without_rectify_is_zhuang_et_al_algorithm_2():
    # Alg. 2 with decoupled decay (timm's default) and bias correction; timm's default
    # rectify=True is the RAdam-rectified variant, not Alg. 2, so the corpus passes
    # rectify=False.
    lr, b1, b2, eps, wd = 0.05, 0.9, 0.999, 1e-8, 0.1
    theta, want = THETA.clone(), []
    m, s = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for k, g in enumerate(G.to(torch.float64), start=1):
        theta = theta * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        c1, c2 = 1 - b1**k, 1 - b2**k
        theta = theta - lr * (m / c1) / ((s / c2).sqrt() + eps)
        want.append(theta)
    got = _run(_timm("AdaBelief"), lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, rectify=False)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=0)


def test_timm_nadam_legacy_is_torchs_nadam():
    # schedule_decay is torch's momentum_decay (Dozat's μ_t = β1(1 − 0.96^(tψ)/2)); coupled
    # L2 decay, as torch's default.
    got = _run(_timm("NAdamLegacy"), lr=0.05, weight_decay=0.1, schedule_decay=4e-3)
    want = _torch_in_float64(torch.optim.NAdam, lr=0.05, weight_decay=0.1, momentum_decay=4e-3)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=0)


def test_timm_lamb_is_nvlamb_not_lamb_algorithm_2():
    """Documented design, not a defect: timm's Lamb is NVIDIA's NVLAMB (its docstring). The
    step's length is η·‖θ‖ (Alg. 2: η·min(‖θ‖, 10)), the ratio is 1 where ‖θ‖ = 0 (Alg. 2
    does not move there), and by default it adapts only with weight decay and clips the
    global gradient norm at 1."""
    cls, g = _timm("Lamb"), torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    for theta, length in (
        (torch.full((3,), 20.0, dtype=torch.float64), 0.1 * 20 * 3**0.5),
        (torch.zeros(3, dtype=torch.float64), None),
    ):
        p = torch.nn.Parameter(theta.clone())
        opt = cls([p], lr=0.1, always_adapt=True, max_grad_norm=None)
        p.grad = g.clone()
        opt.step()
        moved = (p.detach() - theta).norm().item()
        if length is None:
            assert moved > 0  # Alg. 2: φ(0) = 0, no move
        else:
            assert moved == pytest.approx(length, rel=1e-12)  # Alg. 2: 0.1 · 10


def _reference_run(step, steps: int = 4, theta: torch.Tensor = THETA, **hp: object) -> list:
    """θ after each step of a float64 reference step function on the same gradients G."""
    theta_np, state, out = theta.numpy().copy(), {}, []
    for t, g in enumerate(G[:steps].to(torch.float64).numpy(), start=1):
        theta_np, state = step(theta_np, g, state, hp, t)
        out.append(torch.from_numpy(theta_np.copy()))
    return out


@pytest.mark.parametrize(
    ("flags", "variant"),
    [
        ({}, "nvlamb"),
        ({"weight_decay": 0.0}, "nvlamb"),
        ({"trust_clip": True}, "nvlamb-trust-clip"),
    ],
    ids=["decay", "no-decay", "trust-clip"],
)
def test_timm_lamb_without_its_global_clip_is_the_nvlamb_variant(flags, variant):
    """timm's Lamb with max_grad_norm=None follows LAMB:nvlamb (and :nvlamb-trust-clip):
    ratio ‖θ‖/‖r + λθ‖ unclamped, a plain Adam step where λ = 0. θ of norm 20 puts φ's
    clamp of Alg. 2 out of play, so the variants part from it."""
    from optcheck.checks.catalog import OPTIMIZERS

    record = OPTIMIZERS["LAMB"]
    hp = {"lr": 0.05, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1, **flags}
    ref_hp = {k: v for k, v in hp.items() if k != "trust_clip"}  # the variant says it
    theta = THETA * 20
    got = _run(_timm("Lamb"), theta=theta, max_grad_norm=None, **hp)
    want = _reference_run(record.variant(variant).fn, theta=theta, **ref_hp)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=0)
    alg2 = _reference_run(record.step, theta=theta, **ref_hp)
    assert (got[-1] - alg2[-1]).abs().max() > 1e-3


def test_timm_lamb_param_groups_share_one_global_gradient_norm():
    """contract.param_groups on timm's Lamb, reproduced: by design (NVLAMB, its docstring's
    "clip global grad norm") every gradient is divided by max(1, ‖G‖/max_grad_norm), ‖G‖ over
    all tensors of all param groups, so two groups are not two optimizers once ‖G‖ exceeds
    max_grad_norm; max_grad_norm is read from the constructor only (a group's own value is
    ignored). With max_grad_norm=None, or ‖G‖ below it, groups and optimizers agree."""
    cls = _timm("Lamb")
    grads = [torch.tensor([g], dtype=torch.float64) for g in (-9.18, -9.67)]

    def grouped(scale: float, groups: tuple[dict, dict] = ({}, {}), **hp: object) -> list:
        ps = [torch.nn.Parameter(torch.tensor([2.7], dtype=torch.float64)) for _ in grads]
        opt = cls([{"params": [p], **o} for p, o in zip(ps, groups, strict=True)], **hp)
        for _ in range(2):
            for p, g in zip(ps, grads, strict=True):
                p.grad = g * scale
            opt.step()
        return [p.item() for p in ps]

    def alone(scale: float, **hp: object) -> list:
        out = []
        for g in grads:
            p = torch.nn.Parameter(torch.tensor([2.7], dtype=torch.float64))
            opt = cls([p], **hp)
            for _ in range(2):
                p.grad = g * scale
                opt.step()
            out.append(p.item())
        return out

    hp = {"lr": 0.1, "weight_decay": 0.0}  # no trust ratio: the clip alone shapes the step
    assert grouped(1.0, **hp) != alone(1.0, **hp)  # ‖G‖ = 13.3 > 1: clipped together
    assert grouped(1.0, max_grad_norm=None, **hp) == alone(1.0, max_grad_norm=None, **hp)
    assert grouped(0.05, **hp) == alone(0.05, **hp)  # ‖G‖ = 0.67 < 1: no clip
    # a group's own max_grad_norm is not read: 100 in both groups still clips at 1
    big = ({"max_grad_norm": 100.0}, {"max_grad_norm": 100.0})
    assert grouped(1.0, big, **hp) == grouped(1.0, **hp) != grouped(1.0, max_grad_norm=100.0, **hp)


def test_timm_nadamw_is_adamw_with_the_nesterov_mix():
    # Choi et al. 2019 Table 1's NAdam with decoupled decay: θ(1 - ηλ), Adam's moments, a
    # step along β1 m_t + (1 - β1) g over 1 - β1^t (NAdam:nesterov-adamw). Not torch's NAdam
    # (Dozat's μ schedule) nor NAdam:constant-mu (m_t over 1 - β1^(t+1)).
    lr, b1, b2, eps, wd = 0.05, 0.8, 0.95, 1e-8, 0.1
    theta, want = THETA.clone(), []
    m, v = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for k, g in enumerate(G.to(torch.float64), start=1):
        theta = theta * (1 - lr * wd)
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        mixed = b1 * m + (1 - b1) * g
        theta = theta - lr / (1 - b1**k) * mixed / ((v / (1 - b2**k)).sqrt() + eps)
        want.append(theta)
    for foreach in (False, True):
        got = _run(
            _timm("NAdamW"), lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, foreach=foreach
        )
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-14, atol=0)


def test_timm_plateau_is_torchs_rule_after_a_warm_up_that_ignores_metrics():
    """TimmPlateau's reference by hand: timm's PlateauLRScheduler told t = 1, 2, ... with a
    metric gives warmup_lr_init + t (base - warmup_lr_init)/warmup_t for t <= warmup_t (the
    metrics then ignored), afterwards torch's ReduceLROnPlateau fed the later metrics from the
    lr the warm-up reached. With noise on, each lr is that lr times 1 + n_t, |n_t| <
    noise_pct, and the next decision starts from the noiseless lr (timm restores it)."""
    cls = _timm("PlateauLRScheduler")
    metrics = [5.0, 1.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0]
    kw = {"decay_rate": 0.5, "patience_t": 1, "mode": "min", "warmup_t": 2, "lr_min": 0.01}

    def lrs(**extra: object) -> list[float]:
        opt = torch.optim.SGD([torch.zeros(1)], lr=0.1)
        with pytest.warns(FutureWarning):  # timm deprecates the class, says why
            sched, out = cls(opt, **kw, warmup_lr_init=0.02, **extra), [opt.param_groups[0]["lr"]]
        for t, m in enumerate(metrics, start=1):
            sched.step(t, m)
            out.append(opt.param_groups[0]["lr"])
        return out

    got = lrs()
    slope = (0.1 - 0.02) / 2
    want = [0.02, 0.02 + slope, 0.02 + 2 * slope]
    opt = torch.optim.SGD([torch.zeros(1)], lr=want[-1])
    torch_rule = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.5, patience=1, min_lr=0.01
    )
    for m in metrics[2:]:
        torch_rule.step(m)
        want.append(opt.param_groups[0]["lr"])
    assert got == want
    assert got[5] == pytest.approx(0.05) and got[-1] == pytest.approx(0.025)  # two reductions
    noisy = lrs(noise_range_t=3, noise_pct=0.5)
    assert noisy[:3] == got[:3]  # noise from t = 3 on
    assert all(abs(n / g - 1) < 0.5 for n, g in zip(noisy[3:], got[3:], strict=True))
    assert all(n != g for n, g in zip(noisy[3:], got[3:], strict=True))


def test_timm_lamb_crashes_on_a_0d_float32_tensor_beside_a_float64_one():
    """By hand: a param group holding a 0-d float32 tensor and a float64 tensor raises at the
    first step (torch.optim steps such groups); vectors of both dtypes, or one dtype, step.
    The generic contract meets it in every check that draws 0-d tensors of mixed dtypes."""
    lamb = _timm("Lamb")

    def step(*tensors: tuple[tuple[int, ...], torch.dtype]) -> None:
        ps = [torch.nn.Parameter(torch.ones(shape, dtype=dtype)) for shape, dtype in tensors]
        for p in ps:
            p.grad = torch.ones_like(p)
        lamb(ps, lr=0.1).step()

    f32, f64 = torch.float32, torch.float64
    step(((3,), f32), ((2,), f64))
    step(((), f64), ((), f64))
    step(((3,), f32), ((), f64))
    with pytest.raises(RuntimeError, match="expected dtype float for `end` but got dtype double"):
        step(((3,), f64), ((), f32))
