"""Prodigy as a catalog record: the reference against the authors' arithmetic (one d for every
tensor), a correct port passes every check, each invariant and the cross-validation fail on
broken ports (tests/zoo/prodigy.py), variants are named.

The real packages (prodigyopt 1.1.2, pytorch-optimizer 4.1.0) are checked by hand in
``test_real_*`` (marked realworld: prodigyopt is not in the test extra)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recordcheck import context, named, prepared, run, target
from sampling import first_mutant_each
from zoo import prodigy as Z

from optcheck.checks import crossval_checks as CV
from optcheck.checks import errorprop as EP
from optcheck.checks import tolerance as T
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import evidence_case
from optcheck.checks.kit import strategies as S
from optcheck.reference import prodigy as P
from optcheck.reference.trajectory import run as reference_run

PRODIGY = OPTIMIZERS["Prodigy"]
CAUGHT = {
    "prodigy.first_step": [Z.ProdigyMomentsWithoutD, Z.ProdigyDecayUnscaled],
    "prodigy.d_never_decreases": [Z.ProdigyDCanFall],
    "prodigy.zero_gradient": [Z.ProdigyDecaysOnZeroGradient],
    "crossval.trajectory": [
        Z.ProdigyStepsWithNewD,
        Z.ProdigyEpsOldD,
        Z.ProdigyDCanFall,
        Z.ProdigyDPerTensor,
        Z.ProdigyDPerGroup,
    ],
}
NAMED = {Z.ProdigyEpsOldD: ["eps-old-d"]}
HPS = [
    {},
    {"weight_decay": 0.1, "d0": 1e-2},
    {"use_bias_correction": True, "growth_rate": 1.02},
    {"safeguard_warmup": True, "d0": 1e-3, "lr": 0.5},
    {"betas": (0.0, 0.99), "d0": 1e-2},
    {"weight_decay": 0.1, "decouple": False},
    {"slice_p": 2, "d_coef": 2.0},
]


def _draw(seed: int = 0, steps: int = 8):
    rng = np.random.default_rng(seed)
    shapes = [(5,), (3, 2)]
    p0 = [rng.normal(size=s) for s in shapes]
    return p0, [[rng.normal(size=s) for s in shapes] for _ in range(steps)]


def drive(cls: type, p0, grads, **hp) -> tuple[list[list[np.ndarray]], list[float]]:
    """Params after each step and d after each step, float64, one group."""
    ps = [torch.nn.Parameter(torch.tensor(p, dtype=torch.float64)) for p in p0]
    opt = cls(ps, **hp)
    out, ds = [], []
    for gs in grads:
        for p, g in zip(ps, gs, strict=True):
            p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
        ds.append(float(opt.param_groups[0]["d"]))
    return out, ds


def gap(a, b) -> float:
    return max(
        float(np.max(np.abs(x - y)))
        for xs, ys in zip(a, b, strict=True)
        for x, y in zip(xs, ys, strict=True)
    )


def test_every_invariant_has_a_mutant():
    assert set(CAUGHT) == PRODIGY.invariant_ids | {"crossval.trajectory"}


@pytest.mark.parametrize("hp", HPS, ids=lambda hp: ",".join(hp) or "defaults")
def test_two_tensors_share_one_d(hp):
    """The joint reference (sums over both tensors) is the zoo port to the last bits (same
    operation order, so within a few u of the parameters)."""
    p0, grads = _draw()
    got, _ = drive(Z.ZooProdigy, p0, grads, **hp)
    ref = P.run_joint(p0, grads, {"lr": 1.0, **hp})
    assert gap(ref, got) <= 8 * np.finfo(float).eps * max(np.max(np.abs(p)) for p in p0)


def test_each_tensor_alone_is_another_optimizer():
    """Gradients of other sizes per tensor (one near 1, one near 10): run tensor by tensor,
    each gets its own d, and the trajectories part by far more than round-off."""
    rng = np.random.default_rng(0)
    p0 = [rng.normal(size=5), rng.normal(size=(3, 2))]
    grads = [[1 + 0.1 * rng.normal(size=5), 10 * rng.normal(size=(3, 2))] for _ in range(8)]
    ref = P.run_joint(p0, grads, {"lr": 1.0})
    alone = reference_run(P.prodigy_step, p0, grads, {**PRODIGY.defaults, "lr": 1.0})
    moved = max(float(np.max(np.abs(r - x))) for r, x in zip(ref[-1], p0, strict=True))
    assert gap(alone, ref) > 1e-3 * moved


def test_one_tensor_is_the_whole_optimizer():
    p0, grads = _draw(1)
    single = [[g[0]] for g in grads]
    hp = {**PRODIGY.defaults, "lr": 1.0}
    assert (
        gap(reference_run(P.prodigy_step, [p0[0]], single, hp), P.run_joint([p0[0]], single, hp))
        == 0
    )


def test_the_first_step_by_hand():
    """x0 = 0, g = 1, lr 1, d0 0.01, ε 0: d̂ = 0 keeps d = d0, m = 0.1·d0, √v = √0.001·d0:
    x1 = −d0·0.1/√0.001."""
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    p.grad = torch.ones(1, dtype=torch.float64)
    opt = Z.ZooProdigy([p], d0=0.01, eps=1e-300)
    opt.step()
    assert p.item() == pytest.approx(-0.01 * 0.1 / np.sqrt(0.001), rel=1e-14)
    assert opt.param_groups[0]["d"] == 0.01


def test_leading_zero_gradients_are_skipped_steps():
    """While every gradient so far is 0 a step returns early (‖s‖₁ = 0) and is not counted:
    under bias correction, two leading zero steps then the run is the run alone; the variant
    counts-skipped-steps counts them (its bias correction starts at k = 3)."""
    p0, grads = _draw(2, steps=4)
    zeros = [[np.zeros_like(g) for g in grads[0]]] * 2
    hp = {**PRODIGY.defaults, "lr": 1.0, "use_bias_correction": True}
    assert gap(P.run_joint(p0, zeros + grads, hp)[2:], P.run_joint(p0, grads, hp)) == 0
    counted = P.run_joint(p0, zeros + grads, hp, variant="counts-skipped-steps")[2:]
    # steps of about d0 = 1e-6: the other bias correction moves them by ~10 %
    assert gap(counted, P.run_joint(p0, grads, hp)) > 1e-8


def test_growth_rate_one_freezes_d_after_its_first_jump():
    """growth_rate = 1: d = min(d_max, 1·max(d0, d̂)) jumps once, at the first d̂ > d0, then
    stays: from there Prodigy is Adam at lr·d with moments scaled by d (derived in
    reference.prodigy)."""
    p0, grads = _draw(2, steps=20)
    _, ds = drive(Z.ZooProdigy, p0, grads, growth_rate=1.0, d0=1e-4)
    jumps = [k for k in range(1, len(ds)) if ds[k] != ds[k - 1]]
    assert len(jumps) <= 1 and ds[-1] >= 1e-4


# --- one d over every tensor and group: the drawn comparison's own mechanism -----------------


def joint_case(dtype: str = "float64", steps: int = 6) -> S.Case:
    """Three tensors of other sizes in two groups (the second with its own ε, λ, safeguard and
    slice_p), tensor 2 without a gradient at step 3: d grows from d0 within a few steps."""
    rng = np.random.default_rng(3)
    shapes = [(5,), (3, 2), (4,)]
    grads = tuple(
        tuple(None if (k, i) == (2, 2) else rng.normal(size=s) for i, s in enumerate(shapes))
        for k in range(steps)
    )
    case = S.Case(
        hp={"lr": 1.0, "d0": 1e-3, "eps": 1e-6, "weight_decay": 0.1},
        params0=tuple(rng.normal(size=s) for s in shapes),
        grads=grads,
        groups=((0, 1), (2,)),
        group_hp=({}, {"eps": 1e-4, "weight_decay": 0.0, "safeguard_warmup": True, "slice_p": 2}),
    )
    return case.rounded(dtype)


def joint_ratio(cls: type, dtype: str) -> float:
    """Worst |target − reference| / tolerance over the joint case, as crossval compares."""
    case = joint_case(dtype)
    tol = T.case_tolerance(PRODIGY.error_model, case, dtype)
    assert tol.outside is None, tol.outside
    got = case.run_target(target(cls), dtype)
    _, ratio = CV.compare(got, case.run_reference(PRODIGY.step), tol)
    return ratio


def test_joint_case_is_what_the_package_arrangement_computes():
    """The joint reference moves every tensor and d grows (the case says something), and a
    missing gradient leaves its tensor where it was."""
    case = joint_case()
    ref = case.run_reference(PRODIGY.step)
    assert np.array_equal(ref[2][2], ref[1][2]) and not np.array_equal(ref[3][2], ref[2][2])
    ds: list[float] = []
    case.run_target(
        target(Z.ZooProdigy), on_step=lambda opt, _: ds.append(opt.param_groups[0]["d"])
    )
    assert ds[-1] > 2 * 1e-3


def test_tolerance_engine_steps_the_joint_case_as_the_reference_does():
    """The engine's tracked run of the joint case (every tensor through one joint step) has
    the reference's own values, bit for bit, and a bound for every tensor and step."""
    case, vals = joint_case(), []
    hps = [case.tensor_hp(i) for i in range(3)]
    bound = EP.propagate(PRODIGY.error_model, case.params0, case.grads, hps, None, EP.FLOAT32,
                         values=vals)  # fmt: skip
    ref = case.run_reference(PRODIGY.step)
    pairs = [(v, r) for vs, rs in zip(vals, ref, strict=True) for v, r in zip(vs, rs, strict=True)]
    assert all(np.array_equal(v, r) for v, r in pairs)
    assert all(np.all(e > 0) for es in bound.theta for e in es)


def test_bias_correction_counts_only_steps_that_moved():
    """Tensor 0's gradient 0, tensor 1's missing at step 1: ‖s_1‖₁ = 0 and the step returns
    early, its count k unchanged (prodigyopt's, the zoo's); counting it would move the bias
    correction c_k (2.6e-4 apart on tensor 1 at step 2, measured against prodigyopt)."""
    rng = np.random.default_rng(0)
    grads = tuple((np.zeros(3), None if k == 0 else rng.normal(size=2)) for k in range(4))
    p0 = (rng.normal(size=3), rng.normal(size=2))
    case = S.Case(hp={"lr": 1.0, "d0": 1e-3, "use_bias_correction": True}, params0=p0, grads=grads)
    got = case.run_target(target(Z.ZooProdigy))
    assert gap(got, case.run_reference(PRODIGY.step)) <= 16 * U * np.max(np.abs(p0[1]))


# bfloat16 and float16 need params near the updates (drawn so by crossval: --thorough below).
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_correct_port_is_within_the_joint_bound(dtype):
    assert joint_ratio(Z.ZooProdigy, dtype) <= 1.0


@pytest.mark.parametrize(
    ("mutant", "dtype"),
    [
        (Z.ProdigyDPerTensor, "float64"),
        (Z.ProdigyDPerGroup, "float64"),
        (Z.ProdigyDPerTensor, "float32"),
        (Z.ProdigySumsInBfloat16, "float32"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_a_d_kept_apart_or_drifting_fails_the_joint_bound(mutant, dtype):
    assert joint_ratio(mutant, dtype) > 1.0


# Each drives the port through hypothesis (1.7 to 6 s on 2 cores): --thorough, but for the
# cheapest pass (0.15 s), so the default run still sees the record's checks run.
CHEAP = ("prodigy.zero_gradient",)


@pytest.mark.parametrize(
    "check_id",
    [pytest.param(c, marks=() if c in CHEAP else pytest.mark.thorough) for c in sorted(CAUGHT)],
)
def test_correct_port_passes(check_id):
    result = run(context(PRODIGY, target(Z.ZooProdigy)), check_id)
    assert result.verdict == "pass", result.detail


@pytest.mark.thorough
@pytest.mark.parametrize(("check_id", "mutant"), first_mutant_each(CAUGHT))
def test_mutant_is_caught(check_id, mutant):
    result = run(context(PRODIGY, target(mutant)), check_id)
    assert result.verdict == "violation", result.detail


@pytest.mark.thorough
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_correct_port_passes_in_low_precision(dtype):
    result = run(context(PRODIGY, target(Z.ZooProdigy), dtype=dtype), "crossval.trajectory")
    assert result.verdict == "pass", result.detail


@pytest.mark.thorough
def test_sums_drifting_past_the_float32_bound_are_caught():
    ctx = context(PRODIGY, target(Z.ProdigySumsInBfloat16), dtype="float32")
    assert run(ctx, "crossval.trajectory").verdict == "violation"


@pytest.mark.thorough
@pytest.mark.parametrize("mutant", list(NAMED), ids=lambda m: m.__name__)
def test_a_variant_port_is_named(mutant):
    assert named(context(PRODIGY, target(mutant))) == NAMED[mutant]


# --- the real packages (prodigyopt is not in the test extra: nox -s realworld installs it) ----

X0, G = [0.345584192064786], [0.588554539519644]  # the validator's shrunk case


def _three_steps(cls: type, default: torch.dtype, **hp) -> tuple[float, float, object]:
    """θ and d after three steps of a float64 parameter, under torch's default dtype."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(default)
    try:
        p = torch.nn.Parameter(torch.tensor(X0, dtype=torch.float64))
        opt = cls([p], lr=1.0, eps=0.01, **hp)
        for _ in range(3):
            p.grad = torch.tensor(G, dtype=torch.float64)
            opt.step()
        return p.item(), opt.param_groups[0]["d"], opt.param_groups[0].get("d_numerator")
    finally:
        torch.set_default_dtype(before)


@pytest.mark.realworld
@pytest.mark.parametrize("hp", HPS, ids=lambda hp: ",".join(hp) or "defaults")
def test_real_prodigyopt_is_the_reference_to_the_last_bit(hp):
    """By hand: prodigyopt 1.1.2 on two tensors (one d) is reference.prodigy.run_joint, to
    a few u of the parameters (same operations; decay written θ − λ·dlr·θ there)."""
    prodigyopt = pytest.importorskip("prodigyopt")
    p0, grads = _draw()
    got, _ = drive(prodigyopt.Prodigy, p0, grads, **hp)
    ref = P.run_joint(p0, grads, {"lr": 1.0, **hp})
    assert gap(ref, got) <= 8 * np.finfo(float).eps * max(np.max(np.abs(p)) for p in p0)


@pytest.mark.realworld
def test_real_packages_count_skipped_steps_differently():
    """By hand, two leading zero gradients under bias correction: prodigyopt leaves its k at 0
    (the reference), pytorch-optimizer 4.1.0 counts them (the variant counts-skipped-steps).
    validate's crossval.scheduled_lr drew such a case on prodigyopt when the reference still
    counted every step."""
    prodigyopt = pytest.importorskip("prodigyopt")
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    p0, grads = _draw(2, steps=3)
    grads = [[np.zeros_like(g) for g in grads[0]]] * 2 + grads
    hp = {"lr": 1.0, "use_bias_correction": True}
    ours, _ = drive(prodigyopt.Prodigy, p0, grads, use_bias_correction=True)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # its d in the default dtype: a separate finding
    try:
        theirs, _ = drive(pytorch_optimizer.Prodigy, p0, grads, bias_correction=True)
    finally:
        torch.set_default_dtype(before)
    bound = 8 * np.finfo(float).eps * max(np.max(np.abs(p)) for p in p0)
    assert gap(P.run_joint(p0, grads, hp), ours) <= bound
    assert gap(P.run_joint(p0, grads, hp, variant="counts-skipped-steps"), theirs) <= bound
    assert gap(ours, theirs) > 1e6 * bound  # steps of about d0 = 1e-6, moved by ~10 %


@pytest.mark.realworld
def test_real_prodigyopt_finding_coupled_decay_writes_into_the_gradient():
    """By hand: decouple=False adds λθ to p.grad itself (grad.add_(p.data, alpha=decay));
    ``optcheck validate prodigyopt:Prodigy --like Prodigy`` says so (contract.grad_unchanged)."""
    prodigyopt = pytest.importorskip("prodigyopt")
    from real_findings import grad_after_step

    g = torch.tensor([1.0, -2.0, 3.0])
    left = grad_after_step(prodigyopt.Prodigy, g, weight_decay=0.5, decouple=False)
    assert torch.equal(left, g + 0.5)  # p = 1
    ctx = prepared("prodigyopt:Prodigy", "Prodigy")
    assert run(ctx, "contract.grad_unchanged").verdict == "violation"
    assert run(ctx, "crossval.trajectory").verdict == "pass"


@pytest.mark.realworld
def test_real_pytorch_optimizer_finding_d_in_float32():
    """By hand: pytorch-optimizer 4.1.0 keeps r and ‖s‖₁ in torch.tensor([0.0]), the default
    dtype: with float64 parameters and the default float32, d carries float32 rounding
    (2e-8 relative after 3 steps) and θ differs from prodigyopt's float64 arithmetic; under
    a float64 default both agree to the bit. Found by hand: the validator's drawn cases meet
    it only where d has grown enough for the rounding to pass the float64 tolerance (one
    draw of the space did, 36 × tolerance; the recorded seed's draws do not)."""
    prodigyopt = pytest.importorskip("prodigyopt")
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    ours = _three_steps(prodigyopt.Prodigy, torch.float32)
    f32 = _three_steps(pytorch_optimizer.Prodigy, torch.float32)
    f64 = _three_steps(pytorch_optimizer.Prodigy, torch.float64)
    assert f32[2].dtype == torch.float32 and f64[2].dtype == torch.float64
    assert f64[:2] == ours[:2]
    assert 1e-9 < abs(f32[1] / ours[1] - 1) < 1e-6 and f32[0] != ours[0]


@pytest.mark.realworld
def test_real_pytorch_optimizer_finding_maximize_negates_the_gradient_in_place():
    """By hand: maximize=True negates p.grad itself (maximize_gradient on p.grad); the
    validator reports it (contract.grad_unchanged) and the arithmetic passes."""
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    from real_findings import grad_after_step

    g = torch.tensor([1.0, -2.0, 3.0])
    assert torch.equal(grad_after_step(pytorch_optimizer.Prodigy, g, maximize=True), -g)
    ctx = prepared("pytorch_optimizer:Prodigy", "Prodigy")
    assert run(ctx, "contract.grad_unchanged").verdict == "violation"
    assert run(ctx, "prodigy.first_step").verdict == "pass"


@pytest.mark.realworld
def test_real_pytorch_optimizer_finding_coupled_decay_is_ignored():
    """By hand: weight_decouple=False adds λθ to p.grad only after the moments and sums were
    taken (apply_weight_decay in the update loop): the parameters move exactly as with λ = 0,
    and p.grad is left as g + λθ. prodigyopt's decouple=False does decay. The validator names
    the variant coupled-decay-ignored."""
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    out = []
    for wd in (0.0, 0.5):
        p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
        opt = pytorch_optimizer.Prodigy([p], d0=0.1, weight_decay=wd, weight_decouple=False)
        for _ in range(3):
            p.grad = torch.tensor([0.5, 0.25], dtype=torch.float64)
            opt.step()
        out.append((p.detach().clone(), p.grad.clone()))
    g = torch.tensor([0.5, 0.25], dtype=torch.float64)
    assert torch.equal(out[0][0], out[1][0])  # λ = 0.5 moved θ exactly as λ = 0
    assert torch.equal(out[0][1], g) and not torch.equal(out[1][1], g)  # p.grad rewritten
    hp = {"weight_decouple": False, "weight_decay": 0.5}
    ctx = prepared("pytorch_optimizer:Prodigy", "Prodigy", hp=hp)
    result = run(ctx, "prodigy.first_step")
    assert result.verdict == "violation", result.detail


@pytest.mark.realworld
def test_real_pytorch_optimizer_finding_deepcopy_loses_maximize():
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    from real_findings import assert_deepcopy_loses

    assert_deepcopy_loses(
        pytorch_optimizer.Prodigy, "pytorch_optimizer:Prodigy", "Prodigy", "maximize"
    )


# --- one d over groups, and lower precisions: the real packages by hand ------------------------


def _groups_run(cls: type, dtype: torch.dtype, **hp) -> tuple[list[torch.Tensor], list[dict]]:
    """The joint case (two groups, a missing gradient) driven by hand in ``dtype``."""
    case = joint_case()
    ps = [torch.nn.Parameter(torch.tensor(p, dtype=dtype)) for p in case.params0]
    groups = [
        {"params": [ps[i] for i in idx], **ghp}
        for idx, ghp in zip(case.groups, case.group_hp, strict=True)
    ]
    opt = cls(groups, **{**case.hp, **hp})
    for gs in case.grads:
        for p, g in zip(ps, gs, strict=True):
            p.grad = None if g is None else torch.tensor(g, dtype=dtype)
        opt.step()
    return [p.detach().double() for p in ps], opt.param_groups


@pytest.mark.realworld
@pytest.mark.parametrize("path", ["prodigyopt:Prodigy", "pytorch_optimizer:Prodigy"])
def test_real_package_keeps_one_d_over_groups_and_missing_gradients(path):
    """By hand: both packages keep one d for both groups, and at step 2 (r_1 = 0 kept d = d0)
    it is max(d0, r_2/‖s_2‖₁) with the sums over every tensor of both groups, from the
    package's own x1 (s_k = β3 s_{k−1} + d0·lr·g_k, r_2 = d0·lr·Σ⟨g_2, x0 − x1⟩; the second
    group's safeguard_warmup weighs its s by d0 instead of d0·lr: lr = 1 here)."""
    module, _, name = path.partition(":")
    cls = getattr(pytest.importorskip(module), name)
    case = joint_case(steps=2)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # pytorch-optimizer's r lives in the default dtype
    try:
        ps = [torch.nn.Parameter(torch.tensor(p)) for p in case.params0]
        opt = cls([{"params": ps[:2]}, {"params": ps[2:], "eps": 1e-4}], **case.hp)
        for p, g in zip(ps, case.grads[0], strict=True):
            p.grad = torch.tensor(g)
        opt.step()
        x1 = [p.detach().numpy().copy() for p in ps]
        for p, g in zip(ps, case.grads[1], strict=True):
            p.grad = torch.tensor(g)
        opt.step()
    finally:
        torch.set_default_dtype(before)
    d0, b3 = 1e-3, np.sqrt(0.999)
    g1, g2 = case.grads
    # decoupled decay λ = 0.1 moved x1 as well: r uses the package's own x1
    r2 = d0 * sum(
        float(np.sum(g * (x0 - x))) for g, x0, x in zip(g2, case.params0, x1, strict=True)
    )
    s2 = [b3 * d0 * a + d0 * b for a, b in zip(g1, g2, strict=True)]
    d_hand = max(d0, r2 / sum(float(np.sum(np.abs(s))) for s in s2))
    assert opt.param_groups[0]["d"] == opt.param_groups[1]["d"]
    assert opt.param_groups[0]["d"] == pytest.approx(d_hand, rel=1e-12)


@pytest.mark.realworld
def test_real_prodigyopt_groups_and_missing_gradient_are_the_reference():
    """By hand: prodigyopt 1.1.2 on the joint case (per-group ε, λ, safeguard_warmup, slice_p,
    a missing gradient) is reference.prodigy's joint run to a few u of the parameters."""
    prodigyopt = pytest.importorskip("prodigyopt")
    got, _ = _groups_run(prodigyopt.Prodigy, torch.float64)
    ref = joint_case().run_reference(PRODIGY.step)[-1]
    scale = max(float(np.max(np.abs(p))) for p in ref)
    assert (
        max(float(np.max(np.abs(g.numpy() - r))) for g, r in zip(got, ref, strict=True))
        <= 16 * U * scale
    )


U = np.finfo(float).eps / 2


@pytest.mark.realworld
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_real_prodigyopt_conforms_in_low_precision(dtype):
    """prodigyopt in float32, bfloat16 and float16: the validator's drawn cases (several
    tensors, groups, missing gradients) stay within the derived bound; by hand, d after the
    joint case in float32 is float64's to float32 rounding (no drift of the sums)."""
    prodigyopt = pytest.importorskip("prodigyopt")
    result = run(prepared("prodigyopt:Prodigy", "Prodigy", dtype=dtype), "crossval.trajectory")
    assert result.verdict == "pass", result.detail
    if dtype == "float32":
        _, g32 = _groups_run(prodigyopt.Prodigy, torch.float32)
        _, g64 = _groups_run(prodigyopt.Prodigy, torch.float64)
        assert abs(g32[0]["d"] / g64[0]["d"] - 1) < 1e-4


@pytest.mark.realworld
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_real_pytorch_optimizer_finding_beta1_zero_steps_with_the_old_d(dtype):
    """By hand: with β1 = 0, pytorch-optimizer 4.1.0 keeps m = d_k·g and steps
    dlr·m/(√v + d_{k+1}ε), where prodigyopt steps dlr·d_{k+1}·g/(…): at a step where d
    grew, its step is d_k/d_{k+1} times prodigyopt's. The validator meets it in every dtype
    and names momentless-old-d; with β1 = 0.9 cross-validation passes in that dtype, but for
    float32 runs' float64 tensors, where d is held in float32 (the finding above)."""
    prodigyopt = pytest.importorskip("prodigyopt")
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    if dtype == "float32":
        moves = []
        for cls in (prodigyopt.Prodigy, pytorch_optimizer.Prodigy):
            p = torch.nn.Parameter(torch.tensor([0.5, -1.0]))
            opt = cls([p], lr=1.0, d0=1e-3, betas=(0.0, 0.999))
            xs, ds = [], []
            for g in ([1.0, -0.5], [1.0, -0.5], [1.0, -0.5]):
                xs.append(p.detach().clone())
                p.grad = torch.tensor(g)
                opt.step()
                ds.append(opt.param_groups[0]["d"])
            moves.append((p.detach() - xs[-1], ds))
        (ours, ds), (theirs, _) = moves
        assert ds[-1] > ds[-2]  # d grew at the last step
        assert torch.allclose(theirs / ours, torch.tensor(ds[-2] / ds[-1]), rtol=1e-4)
    hp = {"betas": (0.0, 0.999)}
    ctx = prepared("pytorch_optimizer:Prodigy", "Prodigy", hp=hp, dtype=dtype)
    assert named(ctx) == ["momentless-old-d"]
    ctx = prepared("pytorch_optimizer:Prodigy", "Prodigy", hp={"betas": (0.9, 0.999)}, dtype=dtype)
    result = run(ctx, "crossval.trajectory")
    if result.verdict == "violation":  # float32 runs draw float64 tensors too: d in float32
        case = evidence_case(result)
        held = [case.dtype_of(i, dtype) for i in range(len(case.params0))]
        assert dtype == "float32" and set(held) == {"float64"}, result.detail
        return
    assert result.verdict == "pass", result.detail


@pytest.mark.realworld
def test_real_prodigyopt_finding_a_group_at_lr_zero_still_moves():
    """By hand (the validator does not draw it: one lr per optimizer): prodigyopt 1.1.2 allows
    a group's lr only at the others' or at 0, the way to freeze a group; such a group keeps no
    moments (its sums are skipped) but is still stepped with the optimizer's dlr. With β1 = 0
    its step is dlr·d·g/(√0 + d·ε) = dlr·g/ε: from θ = (2, 3), three steps reach (−890, −443);
    with β1 = 0.9 the decoupled decay alone moves it (2 → 1.9999992)."""
    prodigyopt = pytest.importorskip("prodigyopt")
    moved = {}
    for b1 in (0.9, 0.0):
        a = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
        frozen = torch.nn.Parameter(torch.tensor([2.0, 3.0]))
        groups = [{"params": [a]}, {"params": [frozen], "lr": 0.0}]
        opt = prodigyopt.Prodigy(groups, lr=1.0, betas=(b1, 0.999), weight_decay=0.1)
        for _ in range(3):
            a.grad, frozen.grad = torch.tensor([0.5, 0.25]), torch.tensor([0.5, 0.25])
            opt.step()
        moved[b1] = frozen.detach()
    assert torch.all(moved[0.0].abs() > 100)
    assert torch.all(moved[0.9] < torch.tensor([2.0, 3.0]))


@pytest.mark.realworld
def test_real_pytorch_optimizer_finding_group_lr_is_ignored():
    """By hand (not drawn: one lr per optimizer): pytorch-optimizer 4.1.0 steps every group
    with the first group's lr; a second group at lr 0 or 0.1 moves exactly as at lr 1
    (prodigyopt refuses a group lr other than the largest or 0)."""
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    moved = []
    for lr in (1.0, 0.0, 0.1):
        a = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
        b = torch.nn.Parameter(torch.tensor([2.0, 3.0]))
        opt = pytorch_optimizer.Prodigy([{"params": [a]}, {"params": [b], "lr": lr}], lr=1.0)
        for _ in range(3):
            a.grad, b.grad = torch.tensor([0.5, 0.25]), torch.tensor([0.5, 0.25])
            opt.step()
        moved.append(b.detach())
    assert not torch.equal(moved[0], torch.tensor([2.0, 3.0]))
    assert torch.equal(moved[0], moved[1]) and torch.equal(moved[0], moved[2])
