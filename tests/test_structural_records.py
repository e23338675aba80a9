"""Muon and SparseAdam as catalog records: torch passes every check that applies, each
invariant fails on a broken implementation (tests/zoo/mutants_structural.py), and their
references are their own error models (tracked evaluation is the reference, bit for bit).

Default run: the invariants on torch, one mutant per invariant, the cheap reference tests;
everything else (the whole contract on torch, every mutant, the correct zoo ports) with
--thorough.
"""

from __future__ import annotations

import hypothesis
import numpy as np
import pytest
import torch
from sampling import every_nth
from zoo import mutants_structural as Z

from optcheck.checks import errorprop as EP
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.findings import known_finding
from optcheck.checks.kit import registry
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute
from optcheck.checks.target import OptimizerTarget
from optcheck.reference import muon, sparse_adam
from optcheck.reference.spec import ErrorModel
from optcheck.reference.trajectory import run

registry.load_all()
NAMES = ("Muon", "SparseAdam")
INVARIANTS = {name: sorted(OPTIMIZERS[name].invariant_ids) for name in NAMES}
# Which check catches which mutant (every invariant at least one).
CAUGHT = {
    "muon.singular_values": [
        Z.MuonNoOrthogonalization,
        Z.MuonWrongCoefficients,
        Z.MuonUnnormalized,
        Z.MuonAdjustLrIgnored,
    ],
    "muon.scale_invariance": [Z.MuonNoOrthogonalization, Z.MuonUnnormalized],
    "sparse_adam.untouched_rows": [Z.SparseAdamDenseUpdate, Z.SparseAdamDenseDecay],
    "sparse_adam.touched_rows_dense": [Z.SparseAdamAdamEpsilon],
    "crossval.trajectory": [
        Z.MuonNoOrthogonalization,
        Z.MuonWrongCoefficients,
        Z.MuonUnnormalized,
        Z.MuonAdjustLrIgnored,
        Z.SparseAdamDenseUpdate,
        Z.SparseAdamDenseDecay,
        Z.SparseAdamAdamEpsilon,
    ],
}
RECORD_OF = {"muon": "Muon", "sparse_adam": "SparseAdam"}


def examples() -> int:
    return hypothesis.settings.default.max_examples


def verdict(check_id: str, target: OptimizerTarget, name: str):
    ctx = Context(target, OPTIMIZERS[name], settings=Settings(max_examples=examples()))
    return execute(CHECKS[check_id], ctx)


def torch_target(name: str) -> OptimizerTarget:
    return OptimizerTarget(name, getattr(torch.optim, name), f"torch.optim:{name}")


def zoo_target(cls: type) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.mutants_structural:{cls.__name__}")


def _record_of(cls: type) -> str:
    return "Muon" if issubclass(cls, Z.ZooMuon) else "SparseAdam"


def _applicable(name: str) -> list[str]:
    return [c.id for c in registry.applicable("optimizer", OPTIMIZERS[name])]


TORCH_CASES = [
    pytest.param(name, check_id, marks=() if check_id in INVARIANTS[name] else pytest.mark.thorough)
    for name in NAMES
    for check_id in _applicable(name)
]


@pytest.mark.parametrize(("name", "check_id"), TORCH_CASES)
def test_torch_passes(name, check_id):
    """Every check that applies passes on torch (or is skipped with a reason, or is a known
    torch finding): the invariants by default, the contract and comparisons with --thorough."""
    result = verdict(check_id, torch_target(name), name)
    if result.verdict == "violation":
        assert known_finding(torch_target(name), check_id, {}, "cpu", result.detail), result.detail
    assert result.verdict in ("pass", "skip"), result.detail
    if result.verdict == "skip":
        assert result.detail  # skipped with a reason, never silently


@pytest.mark.thorough
@pytest.mark.parametrize(
    ("cls", "check_id"),
    [(cls, c) for cls in (Z.ZooMuon, Z.ZooSparseAdam) for c in INVARIANTS[_record_of(cls)]],
)
def test_correct_third_party_ports_pass(cls, check_id):
    result = verdict(check_id, zoo_target(cls), _record_of(cls))
    assert result.verdict == "pass", result.detail


MUTANT_CASES = [(check_id, cls) for check_id, mutants in CAUGHT.items() for cls in mutants]
# By default one mutant per record, caught by an invariant; every pair with --thorough.
DEFAULT_MUTANTS = {
    ("muon.singular_values", Z.MuonNoOrthogonalization),
    ("sparse_adam.untouched_rows", Z.SparseAdamDenseDecay),
}


@pytest.mark.parametrize(
    ("check_id", "cls"),
    [
        pytest.param(
            c,
            m,
            marks=() if (c, m) in DEFAULT_MUTANTS else pytest.mark.thorough,
            id=f"{c}-{m.__name__}",
        )
        for c, m in MUTANT_CASES
    ],
)
def test_mutant_is_caught(check_id, cls):
    result = verdict(check_id, zoo_target(cls), _record_of(cls))
    assert result.verdict == "violation", (cls.__name__, result.verdict, result.detail)
    assert result.evidence is not None and result.evidence.snippet


def test_every_invariant_catches_a_mutant():
    for name in NAMES:
        for check_id in INVARIANTS[name]:
            assert CAUGHT.get(check_id), check_id


# --- the references are their own error models -------------------------------------------


def _matrices(seed: int, steps: int = 6):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4, 3), (1, 5)]
    params0 = [rng.normal(size=s) for s in shapes]
    grads = [
        [10.0 ** rng.uniform(-2, 1) * rng.normal(size=s) for s in shapes] for _ in range(steps)
    ]
    return params0, grads


def _sparse(seed: int, steps: int = 6):
    rng = np.random.default_rng(seed)
    shapes = [(5, 3), (4,)]
    params0 = [rng.normal(size=s) for s in shapes]
    grads = [
        [
            sparse_adam.sparse_grad(
                rng.normal(size=s), (rng.uniform(size=(s[0],) + (1,) * (len(s) - 1)) < 0.6)
            )
            for s in shapes
        ]
        for _ in range(steps)
    ]
    return params0, grads


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_tracked_evaluation_is_the_reference_bit_for_bit(name, dtype):
    """As tests/test_errorprop.py for the dense records, on matrices and sparse gradients."""
    spec = OPTIMIZERS[name]
    params0, grads = (_matrices if name == "Muon" else _sparse)(0)
    hp = {**spec.defaults, "lr": 0.05}
    model = ErrorModel("probe", spec.step, lambda hp, e: 1.0)
    values: list = []
    hps = [hp] * len(params0)
    EP.propagate(model, params0, grads, hps, None, EP.precision(dtype), values=values)
    for ref_k, got_k in zip(run(spec.step, params0, grads, hp), values, strict=True):
        for r, g in zip(ref_k, got_k, strict=True):
            assert np.array_equal(r, g)


def test_muon_record_variants_differ_from_its_step():
    """The record's step is torch's computation (bf16 NS); its variants, the float64
    algorithm among them, must each be told apart from it."""
    spec = OPTIMIZERS["Muon"]
    params0, grads = _matrices(1, steps=10)
    hp = {**spec.defaults, "lr": 0.02}
    base = run(spec.step, params0, grads, hp)
    for variant in spec.variants:
        other = run(variant.fn, params0, grads, hp)
        apart = max(
            float(np.max(np.abs(b - o)))
            for bk, ok in zip(base, other, strict=True)
            for b, o in zip(bk, ok, strict=True)
        )
        assert apart > 1e-6 * 0.02, variant.name


def test_emulated_input_near_a_rounding_boundary_leaves_the_domain():
    """An NS input within its error bound of a bf16 rounding boundary could round either way:
    the case is outside the model, not compared."""
    spec = OPTIMIZERS["Muon"]
    x = np.array([[1.0 + 2.0**-8, 0.5], [0.25, 1.0]])  # 1 + 2^-8: a bf16 midpoint
    hp = {**spec.defaults, "momentum": 0.0, "nesterov": False, "lr": 0.1}
    from optcheck.checks.tolerance import tolerance

    assert tolerance(spec.error_model, [np.zeros((2, 2))], [[x]], [hp], None, "float32").outside
    assert not tolerance(
        spec.error_model, [np.zeros((2, 2))], [[x + 0.1]], [hp], None, "float64"
    ).outside


def test_records_say_what_cases_hold():
    from optcheck.checks.kit import strategies as S

    assert S.fit_shapes(OPTIMIZERS["Muon"], S.SHAPES) and all(
        len(s) == 2 for s in S.fit_shapes(OPTIMIZERS["Muon"], S.SHAPES)
    )
    assert S.fit_shape(OPTIMIZERS["Muon"], (3,)) == (3, 1)
    assert S.fit_shape(OPTIMIZERS["SparseAdam"], ()) == (1,)
    why = OPTIMIZERS["SparseAdam"].not_applicable("contract.closure")
    assert why and "sparse" in why
    assert OPTIMIZERS["Muon"].not_applicable("contract.closure") is None


def test_torch_finding_muon_zero_column_matrix_raises():
    """Finding (not drawn: Muon's error model excludes empty tensors, saying why): torch's
    _adjust_lr computes √max(1, A/B) with B the column count, so a (2, 0) parameter raises
    ZeroDivisionError in step(); (0, 2) steps (A/B = 0). Every other torch.optim class steps
    over empty tensors."""
    for shape, raises in (((2, 0), True), ((0, 2), False)):
        p = torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64))
        opt = torch.optim.Muon([p])
        p.grad = torch.zeros(shape, dtype=torch.float64)
        if raises:
            with pytest.raises(ZeroDivisionError):
                opt.step()
        else:
            opt.step()
    assert "ZeroDivisionError" in OPTIMIZERS["Muon"].error_model.no_empty_tensors


@pytest.mark.parametrize("name", every_nth(list(NAMES), 1))
def test_sparse_gradients_reach_torch_as_coo(name):
    """Inside a sparse record's checks every gradient is a COO tensor; rows left out of it
    keep their value (the harness, not the check, does the conversion)."""
    from optcheck.checks.kit.harness import run_torch, sparse_gradients

    p0 = np.arange(6.0).reshape(3, 2)
    g = sparse_adam.sparse_grad(np.ones((3, 2)), np.array([[True], [False], [True]]))
    with sparse_gradients(True):
        got = run_torch(
            lambda ps: torch.optim.SparseAdam(ps, lr=0.1), [p0], [[g], [np.ones((3, 2))]]
        )
    assert np.array_equal(got[0][0][1], p0[1]) and not np.array_equal(got[1][0][1], p0[1])


@pytest.mark.thorough
def test_every_bf16_rounding_flip_is_flagged_uncertain():
    """torch's float32 accumulation can round a bf16 result the other way than the exact
    emulation: every call where torch's NS differs from it must be flagged, so the error model
    puts the case outside its domain instead of failing torch (measured over 1500 calls of
    up to 5x5: 3 differ, 72 flagged, none missed)."""
    from torch.optim._muon import _zeropower_via_newtonschulz

    rng = np.random.default_rng(7)
    torch.set_num_threads(1)
    differ = 0
    for _ in range(500):
        for shape in [(3, 4), (4, 3), (5, 5)]:
            x = 10 ** rng.uniform(-3, 2) * rng.normal(size=shape)
            theirs = _zeropower_via_newtonschulz(torch.tensor(x), muon.NS_COEFFICIENTS, 5, 1e-7)
            if np.any(theirs.double().numpy() != muon.newton_schulz_bfloat16(x)):
                differ += 1
                assert muon.newton_schulz_bfloat16_uncertain(x)
    assert differ > 0  # the case this guards against does occur
