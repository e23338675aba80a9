"""Cross-validation catches a broken copy of each torch optimizer catalogued with an error model
beyond SGD and Adam (Adagrad, RMSprop, Adadelta, Adamax, NAdam, RAdam), and names the variant
when the copy implements one of the record's named variants (tests/zoo/optimizers_numeric.py,
RECORD_MUTANTS)."""

from __future__ import annotations

import hypothesis
import pytest
from sampling import every_nth
from zoo import optimizers_numeric as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import behaves_like, evidence_case
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.target import OptimizerTarget

load_all()
CROSSVAL = ["crossval.trajectory", "crossval.scheduled_lr"]
MUTANTS = [(name, m) for name, ms in Z.RECORD_MUTANTS.items() for m in ms]
# Variants equal to each other in exact arithmetic on part of the space (reference docstrings):
# a case there cannot tell them apart, so either may be named with the other.
COINCIDE = {
    "eps-inside-sqrt": (
        "eps-seeded-accumulator",
        lambda hp: hp.get("initial_accumulator_value", 0.0) == 0,
    ),
}


def zoo_target(cls) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.optimizers_numeric:{cls.__name__}")


def test_every_catalogued_record_here_has_an_error_model_and_mutants():
    for name in Z.RECORD_MUTANTS:
        assert OPTIMIZERS[name].error_model is not None, name


# One mutant per algorithm by default (they come in pairs), both with --thorough.
@pytest.mark.parametrize(
    ("name", "mutant"), every_nth(MUTANTS, 2, ids=lambda v: f"{v[0]}-{v[1].__name__}")
)
def test_mutant_parts_from_the_reference_in_float64(name, mutant):
    settings = Settings(max_examples=hypothesis.settings.default.max_examples)
    ctx = Context(zoo_target(mutant), OPTIMIZERS[name], settings=settings)
    results = [execute(CHECKS[c], ctx) for c in CROSSVAL]
    failed = [r for r in results if r.verdict == "violation"]
    assert failed, [r.detail for r in results]
    assert all(r.verdict in ("pass", "violation") for r in results)
    case = evidence_case(failed[0])
    matches = behaves_like(ctx, case)
    expected = Z.VARIANT_OF.get(mutant)
    if expected in COINCIDE and matches != [expected]:
        other, where = COINCIDE[expected]
        hps = [case.hp, *({**case.hp, **g} for g in case.group_hp)]
        assert sorted(matches) == sorted([expected, other]), failed[0].detail
        assert all(where(hp) for hp in hps), (case.hp, case.group_hp)
    else:
        assert matches == ([expected] if expected else []), failed[0].detail
