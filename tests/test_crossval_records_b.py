"""Cross-validation of ASGD, Rprop and Adafactor (records-b): mutants part from the reference in
float64, and the torch findings that keep torch's own classes off the float64 model."""

from __future__ import annotations

import hypothesis
import numpy as np
import pytest
import torch
from zoo import optimizers_numeric as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.target import OptimizerTarget
from optcheck.reference import asgd
from optcheck.reference.trajectory import run

load_all()
CROSSVAL = ["crossval.trajectory", "crossval.scheduled_lr"]
MUTANTS = (
    [("ASGD", m) for m in Z.ASGD_MUTANTS]
    + [("Rprop", m) for m in Z.RPROP_MUTANTS]
    + [("Adafactor", m) for m in Z.ADAFACTOR_MUTANTS]
)


def _settings(**kw) -> Settings:
    return Settings(max_examples=hypothesis.settings.default.max_examples, **kw)


def _zoo(cls) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.optimizers_numeric:{cls.__name__}")


@pytest.mark.parametrize(("name", "mutant"), MUTANTS, ids=lambda v: getattr(v, "__name__", v))
def test_mutant_parts_from_the_reference_in_float64(name, mutant):
    ctx = Context(_zoo(mutant), OPTIMIZERS[name], settings=_settings())
    results = [execute(CHECKS[c], ctx) for c in CROSSVAL]
    failed = [r for r in results if r.verdict == "violation"]
    assert failed, [r.detail for r in results]
    expected = Z.VARIANT_OF.get(mutant)
    assert behaves_like(ctx, evidence_case(failed[0])) == ([expected] if expected else [])


def test_torch_finding_asgd_keeps_eta_in_the_default_dtype():
    """Finding: torch.optim.ASGD stores η (and μ) as 0-d tensors of torch's default dtype,
    float32 unless set otherwise, so float64 parameters take steps with fl32(η): a relative
    error ~2^-24 of every step, 10^8 float64 round-offs. Under the default dtype float64 the
    same run follows the float64 reference to round-off (tests/test_crossval.py runs the
    float64 cases that way; the model keeps η in float64, which would miss η-schedule slips of
    relative size λ·lr·α if it charged float32)."""
    hp = {**OPTIMIZERS["ASGD"].defaults, "lr": 0.0123, "lambd": 0.01}
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=4)
    gs = [[rng.normal(size=4)] for _ in range(5)]
    ref = run(asgd.asgd_step, [p0], gs, hp)

    def torch_run(default):
        before = torch.get_default_dtype()
        torch.set_default_dtype(default)
        try:
            p = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float64))
            opt = torch.optim.ASGD([p], foreach=False, **hp)
            out = []
            for (g,) in gs:
                p.grad = torch.tensor(g, dtype=torch.float64)
                opt.step()
                out.append(p.detach().numpy().copy())
            return out, opt.state[p]["eta"].dtype
        finally:
            torch.set_default_dtype(before)

    f32, eta32 = torch_run(torch.float32)
    f64, eta64 = torch_run(torch.float64)
    assert eta32 == torch.float32 and eta64 == torch.float64
    off32 = max(np.max(np.abs(a - r[0]) / np.abs(r[0] - p0)) for a, r in zip(f32, ref, strict=True))
    off64 = max(np.max(np.abs(a - r[0]) / np.abs(r[0] - p0)) for a, r in zip(f64, ref, strict=True))
    assert off32 > 1e-9 and off64 < 1e-13, (off32, off64)
    # The float32 run is the reference with η, μ held in float32 (reference/asgd.py).
    f32_ref = run(asgd.float32_scalars_step, [p0], gs, hp)
    assert max(np.max(np.abs(a - r[0])) for a, r in zip(f32, f32_ref, strict=True)) < 1e-14
    # And cross-validation in float64 reports it under the float32 default dtype.
    target = OptimizerTarget("ASGD", torch.optim.ASGD, "torch.optim:ASGD", {"foreach": False})
    result = execute(
        CHECKS["crossval.trajectory"], Context(target, OPTIMIZERS["ASGD"], settings=_settings())
    )
    assert result.verdict == "violation" and "parts from ASGD" in result.detail


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_adafactor_eps1_none_is_the_targets_own_eps_and_the_model_knows(dtype):
    """machine_eps (reference.ops): torch resolves ε1 = None as finfo(param.dtype).eps, 2u of
    the target's dtype, not the float64 reference's 2^-52. Where ε1 decides the clamp of V̂
    (gradients of size ~√ε1) the model's divisor is uncertain and the case is outside its
    domain; with ordinary gradients the clamp is certain and torch lies inside the bound."""
    from optcheck.checks import tolerance as T

    model = OPTIMIZERS["Adafactor"].error_model
    hp = {**OPTIMIZERS["Adafactor"].defaults, "lr": 0.1}
    torch_dtype = getattr(torch, dtype)
    eps = float(torch.finfo(torch_dtype).eps)
    rounded = lambda x: torch.as_tensor(x).to(torch_dtype).double().numpy()  # noqa: E731
    p0 = [rounded(np.linspace(-1, 1, 6) * 1e-2)]
    for scale, inside in ((1.0, True), (eps, False)):
        gs = [[rounded(np.linspace(0.5, 1.5, 6) * scale * (-1) ** k)] for k in range(3)]
        tol = T.tolerance(model, p0, gs, [hp], None, dtype)
        assert (tol.outside is None) == inside, tol.outside
        if inside:
            p = torch.nn.Parameter(torch.as_tensor(p0[0]).to(torch_dtype))
            opt = torch.optim.Adafactor([p], foreach=False, **hp)
            ref = run(OPTIMIZERS["Adafactor"].step, p0, gs, hp)
            for k, (g,) in enumerate(gs):
                p.grad = torch.as_tensor(g).to(torch_dtype)
                opt.step()
                err = np.abs(p.detach().double().numpy() - ref[k][0])
                assert (err <= tol.theta[k][0]).all()
