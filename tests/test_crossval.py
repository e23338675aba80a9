"""Cross-validation against the float64 reference, the tolerance model behind it, and the
"behaves like <variant>" diagnosis.

CUDA: the parametrizations with device "cuda" carry the ``cuda`` marker and skip without a
device; on a GPU machine run ``pytest tests/test_crossval.py -m cuda``.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
import pytest
import torch
from sampling import every_nth
from zoo import optimizers_numeric as Z

from optcheck.checks import catalog
from optcheck.checks import tolerance as T
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import behaves_like, compare, evidence_case
from optcheck.checks.kit.evidence import Observation, excess_ratio
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.target import OptimizerTarget

load_all()
TESTS = Path(__file__).parent
IMPLS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
# Records with a torch counterpart and an error model: cross-validated against torch.
CROSSVALIDATED = [r.name for r in catalog.torch_optimizers() if r.error_model is not None]
DTYPES = ["float64", "float32", "bfloat16", "float16"]
# Muon's model emulates torch's bfloat16 Newton-Schulz: a float16 input lies within its error
# of a bf16 rounding boundary in most cases (2^-11 against 2^-8 spacing, per entry), which the
# model rightly puts outside its domain; its cross-validation is meant for float64/float32.
EMULATES_BFLOAT16 = {"Muon"}
CROSSVAL = ["crossval.trajectory", "crossval.scheduled_lr"]
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
        ],
    ),
]


def settings(**kw) -> Settings:
    return Settings(max_examples=hypothesis.settings.default.max_examples, **kw)


def _impl(cls: type, keywords: dict) -> dict:
    """The implementation's keywords the class takes (Muon, SparseAdam: none, one path)."""
    return {k: v for k, v in keywords.items() if k in inspect.signature(cls).parameters}


def torch_target(name: str, impl: str) -> OptimizerTarget:
    cls = getattr(torch.optim, name)
    return OptimizerTarget(f"{name}[{impl}]", cls, f"torch.optim:{name}", _impl(cls, IMPLS[impl]))


def zoo_target(cls) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.optimizers_numeric:{cls.__name__}")


def _exhaustive(name: str, impl: str, dtype: str, check_id: str) -> bool:
    """By default, the core optimizers (the records with benchmark presets) in every dtype of
    forloop and float32 of their other implementations with the constant lr; every other
    record in forloop float64 with the constant lr. The rest with --thorough (CUDA runs
    everything it has)."""
    if OPTIMIZERS[name].bench:
        return impl != "forloop" and (dtype != "float32" or check_id != CROSSVAL[0])
    return impl != "forloop" or dtype != "float64" or check_id != CROSSVAL[0]


CROSSVAL_CASES = [
    pytest.param(
        name,
        impl,
        dtype,
        check_id,
        device.values[0],
        marks=[*device.marks]
        or ([pytest.mark.thorough] if _exhaustive(name, impl, dtype, check_id) else []),
        id=f"{name}-{impl}-{dtype}-{check_id}-{device.values[0]}",
    )
    for name in CROSSVALIDATED
    for impl in OPTIMIZERS[name].implementations
    for dtype in DTYPES
    for check_id in CROSSVAL
    for device in (pytest.param(d) if isinstance(d, str) else d for d in DEVICES)
]


# torch classes that keep per-tensor scalar state (η, μ) in torch's default dtype: float32
# unless torch.get_default_dtype() is float64. A float64 run under the float32 default rounds
# that state to float32 — a torch finding (tests/test_crossval_records_b.py), not round-off of
# a float64 algorithm — so their float64 cases run with the default dtype float64, where torch
# keeps the state in float64 and the float64 model applies unchanged.
SCALAR_STATE_IN_DEFAULT_DTYPE = {"ASGD"}


@pytest.mark.parametrize(("name", "impl", "dtype", "check_id", "device"), CROSSVAL_CASES)
def test_torch_matches_the_reference(name, impl, dtype, check_id, device):
    ctx = Context(
        torch_target(name, impl), OPTIMIZERS[name], settings=settings(dtype=dtype, device=device)
    )
    default = torch.get_default_dtype()
    if dtype == "float64" and name in SCALAR_STATE_IN_DEFAULT_DTYPE:
        torch.set_default_dtype(torch.float64)
    try:
        result = execute(CHECKS[check_id], ctx)
    finally:
        torch.set_default_dtype(default)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        # By default each record in float64 and in one low-precision dtype, taken in turn so
        # that each dtype meets a third of the records; structured records only with
        # --thorough (Muon in bf16/float16: most drawn cases leave its model, EMULATES_BFLOAT16;
        # in float64, cases of 20+ matrices take 8 s, and its reference meets torch under a
        # scheduler in test_interplay by default). Every record in every dtype with --thorough.
        pytest.param(n, d, marks=pytest.mark.thorough)
        if OPTIMIZERS[n].structured or (d != "float64" and (i % 2 or d != DTYPES[1 + i // 2 % 3]))
        else (n, d)
        for i, n in enumerate(CROSSVALIDATED)
        for d in DTYPES
    ],
)
def test_the_reference_optimizer_matches_itself_in_every_dtype(name, dtype):
    spec = OPTIMIZERS[name]
    ctx = Context(
        OptimizerTarget("ref", reference_factory(spec)), spec, settings=settings(dtype=dtype)
    )
    for check_id in CROSSVAL:
        result = execute(CHECKS[check_id], ctx)
        assert result.verdict == "pass", result.detail


MUTANTS = (
    [("Adam", m) for m in Z.ADAM_MUTANTS["Adam"]]
    + [("AdamW", m) for m in Z.ADAM_MUTANTS["AdamW"]]
    + [("SGD", m) for m in Z.SGD_MUTANTS]
)


# Every variant mutant is caught (and named) by the naming test below; of the others every
# second by default, all with --thorough.
@pytest.mark.parametrize(
    ("name", "mutant"),
    [
        p if m[1] not in Z.VARIANT_OF else pytest.param(*m, marks=pytest.mark.thorough)
        for m, p in zip(
            MUTANTS, every_nth(MUTANTS, 2, ids=lambda v: f"{v[0]}-{v[1].__name__}"), strict=True
        )
    ],
)
def test_every_mutant_parts_from_the_reference_in_float64(name, mutant):
    ctx = Context(zoo_target(mutant), OPTIMIZERS[name], settings=settings())
    results = [execute(CHECKS[c], ctx) for c in CROSSVAL]
    failed = [r for r in results if r.verdict == "violation"]
    assert failed, [r.detail for r in results]
    assert all(r.verdict in ("pass", "violation") for r in results)


def _naming_cases() -> list[Any]:
    """Every mutant that implements a named variant, and the first mutant of each spec that
    implements none; the other no-variant mutants with --thorough."""
    out, first = [], set()
    for name, mutant in MUTANTS:
        default = mutant in Z.VARIANT_OF or name not in first
        if mutant not in Z.VARIANT_OF:
            first.add(name)
        marks = () if default else pytest.mark.thorough
        out.append(pytest.param(name, mutant, marks=marks, id=f"{name}-{mutant.__name__}"))
    return out


@pytest.mark.parametrize(("name", "mutant"), _naming_cases())
def test_a_mutant_is_named_as_the_variant_it_implements_and_no_other(name, mutant):
    """The diagnosis: a mutant that implements a named variant is recognised as it, no other;
    one that implements none is named as nothing."""
    ctx = Context(zoo_target(mutant), OPTIMIZERS[name], settings=settings())
    failed = execute(CHECKS[CROSSVAL[0]], ctx)
    if failed.verdict != "violation":
        failed = execute(CHECKS[CROSSVAL[1]], ctx)
    assert failed.verdict == "violation", failed.detail
    matches = behaves_like(ctx, evidence_case(failed))
    expected = Z.VARIANT_OF.get(mutant)
    assert matches == ([expected] if expected else []), failed.detail


def test_correct_third_party_optimizers_pass_crossval():
    for name, cls in Z.CORRECT.items():
        ctx = Context(zoo_target(cls), OPTIMIZERS[name], settings=settings())
        for check_id in CROSSVAL:
            result = execute(CHECKS[check_id], ctx)
            assert result.verdict == "pass", (name, result.detail)


def test_like_a_variant_compares_against_it_and_the_snippet_needs_torch_only():
    """torch's Adam against --like keras-eps-hat: parts, is recognised as Adam itself, and the
    evidence snippet (importing torch.optim only) reproduces the discrepancy."""
    spec = OPTIMIZERS["Adam"]
    ctx = Context(torch_target("Adam", "forloop"), spec, spec.variant("keras-eps-hat"), settings())
    result = execute(CHECKS["crossval.trajectory"], ctx)
    assert result.verdict == "violation"
    assert "keras-eps-hat" in result.detail and "tolerance" in result.detail
    assert behaves_like(ctx, result.evidence.case) == ["Adam"]
    snippet = result.evidence.snippet
    assert "from torch.optim import Adam as Target" in snippet and "zoo" not in snippet
    proc = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "REPRODUCED" in proc.stdout


def test_mutant_snippet_reproduces_in_a_fresh_interpreter():
    ctx = Context(zoo_target(Z.SGDDampenedStart), OPTIMIZERS["SGD"], settings=settings())
    result = execute(CHECKS["crossval.trajectory"], ctx)
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.run(
        [sys.executable, "-c", result.evidence.snippet],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "REPRODUCED" in proc.stdout and "got:" in proc.stdout


def test_compare_names_the_first_step_over_tolerance():
    ref = [[np.array([1.0, 2.0])] for _ in range(4)]
    got = [[r[0].copy()] for r in ref]
    got[2][0][1] += 3e-3
    got[3][0][0] += 1.0
    tol = T.Tolerance("float64", [[np.full(2, 1e-3)] for _ in range(4)], [])
    first, overall = compare(got, ref, tol)
    assert first.step == 3 and first.tensor == 0 and first.ratio == pytest.approx(3.0)
    assert overall >= first.ratio


def test_excess_ratio_counts_nan_as_a_violation_and_zero_tolerance_as_exact():
    obs = Observation(
        "x", np.array([np.nan, 1.0, 2.0]), np.array([0.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0])
    )
    r = excess_ratio(obs)
    assert np.isinf(r[0]) and r[1] == 0 and np.isinf(r[2])


# --- the tolerance model -------------------------------------------------------------------


def test_unit_roundoffs():
    assert [T.precision(d).u for d in DTYPES] == [2.0**-53, 2.0**-24, 2.0**-8, 2.0**-11]
    assert T.hyper_precision(T.precision("bfloat16")).u == 2.0**-24


def test_table_is_derived_and_tight_enough_to_see_slips():
    rows = {r["dtype"]: r for r in T.table()}
    assert set(rows) == set(DTYPES)
    # float64: ε-placement and off-by-one slips change a step by far more than 1e-10 of it.
    assert rows["float64"]["Adam_tol_per_displacement"] < 1e-10
    assert rows["float32"]["Adam_tol_per_displacement"] < 1e-3
    # Parameters stored in bfloat16 round every update: Σ u·|θ| swamps small displacements.
    assert rows["bfloat16"]["SGD_tol_per_displacement"] > 1
    assert rows["bfloat16"]["Adam_tol_near_lr_per_displacement"] < 1
    assert "tol_t" in T.format_table()


def test_float16_scalars_are_rounded_to_float16_by_torch():
    """The finding the scalar-operand term of the model covers: on CPU, float16 SGD rounds the
    lr to float16 (``add_(d, alpha=-lr)``); lr = 1.24e-5 is a float16 subnormal and the step
    is 0.19 % off (3.9 u), more than a model charging u per product and sum allows."""
    lr, g = 1.2437035289077371e-05, 19.0
    p = torch.zeros(1, dtype=torch.float16)
    p.add_(torch.tensor([g], dtype=torch.float16), alpha=-lr)
    exact = -lr * g
    u = 2.0**-11
    assert abs(p.item() - exact) > 2 * u * abs(exact)
    tol = T.tolerance(
        OPTIMIZERS["SGD"].error_model,
        [np.zeros(1)],
        [[np.array([g])]],
        [{"lr": lr}],
        None,
        "float16",
    )
    assert abs(p.item() - exact) <= float(tol.theta[0][0][0])


def test_cases_outside_the_model_are_named():
    big = T.tolerance(
        OPTIMIZERS["Adam"].error_model,
        [np.zeros(1)],
        [[np.array([1e3])]],
        [{"lr": 0.1}],
        None,
        "float16",
    )
    assert big.outside and "overflow" in big.outside
    alone = T.tolerance(
        OPTIMIZERS["Adam"].error_model,
        [np.zeros(1)],
        [[np.array([0.0])]],
        [{"lr": 0.1, "eps": 1e-8}],
        None,
        "float16",
    )
    assert alone.outside and "denominator" in alone.outside
    ok = T.tolerance(
        OPTIMIZERS["Adam"].error_model, [np.ones(3)], [[np.ones(3)]], [{"lr": 0.1}], None, "float16"
    )
    assert ok.outside is None


def test_float16_adam_turns_a_zero_first_gradient_into_nan():
    """Finding: with v = 0 the denominator is ε alone, and ε = 1e-8 rounds to 0 in float16:
    forloop and foreach Adam compute 0/0 = NaN; fused (float32 opmath) keeps 0. The model
    classifies the case as outside its domain (test above), so it is not compared."""
    out = {}
    for impl, kw in IMPLS.items():
        p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float16))
        opt = torch.optim.Adam([p], lr=0.1, eps=1e-8, **kw)
        p.grad = torch.zeros(2, dtype=torch.float16)
        opt.step()
        out[impl] = p.detach().float()
    assert torch.isnan(out["forloop"]).all() and torch.isnan(out["foreach"]).all()
    assert (out["fused"] == 0).all()


@pytest.mark.parametrize(
    "name", every_nth([n for n in CROSSVALIDATED if n not in EMULATES_BFLOAT16], 5)
)
def test_low_precision_cases_mostly_lie_inside_the_model(name):
    spec = OPTIMIZERS[name]
    ctx = Context(torch_target(name, "forloop"), spec, settings=settings(dtype="float16"))
    from optcheck.checks.crossval_checks import case_strategy

    model = spec.error_model
    inside = []

    # A statement about the case strategy, not a property: one fixed random sample, or it is a
    # coin toss near the threshold. hypothesis's first draws are its simplest, so a short sample
    # over-counts corner cases: with the parameter kinds, 40 draws gave 0.65 for Adam where 100
    # give 0.86-0.97 (seeds 0-2; 300 draws: 0.91). Not derandomize: that mode front-loads
    # boundary cases, which are not what it counts.
    @hypothesis.seed(0)
    @hypothesis.settings(max_examples=100, database=None, deadline=None)
    @hypothesis.given(case_strategy(ctx, spec, "float16", ("constant",), 3))
    def count(case):
        inside.append(T.case_tolerance(model, case.rounded("float16"), "float16").outside is None)

    count()
    assert np.mean(inside) > 0.7
