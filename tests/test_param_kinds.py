"""Parameter kinds real models hold (checks.kit.kinds), drawn in cross-validation and probed by
contract.param_kinds, --shapes that restricts them, and the long open-loop run.

Each kind has a mutant in tests/zoo/kinds.py that the old cases (plain tensors, a few per
group, at most 12 steps) let through and the kind catches: shown with the kind left out (it
passes) and with the kind alone (it fails). By default one kind and the long run; every kind,
torch's classes on every kind and the 10,000-step runs with --thorough.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from zoo import kinds as Z

from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.crossval_checks import LONG_STEPS, LONG_STEPS_FACTOR
from optcheck.checks.kit.kinds import PARAM_KINDS, parse_shapes
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.target import OptimizerTarget
from optcheck.suites.cli import main

load_all()
ADAM = OPTIMIZERS["Adam"]


def zoo(cls: type) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.kinds:{cls.__name__}")


def verdict(target: OptimizerTarget, check_id: str, examples: int, kinds=None) -> object:
    settings = Settings(max_examples=examples, kinds=kinds)
    return execute(CHECKS[check_id], Context(target, ADAM, settings=settings))


# --- --shapes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "kinds", "matrices"),
    [
        ("all", tuple(PARAM_KINDS), False),
        ("plain", (), False),
        ("no-complex", tuple(k for k in PARAM_KINDS if k != "complex"), False),
        ("complex,0-d", ("0-d", "complex"), False),  # in the table's order
        ("matrices", tuple(PARAM_KINDS), True),
        ("matrices, plain", (), True),
        ("plain,many-tensors", ("many-tensors",), False),
        ("no-complex,no-0-d", tuple(k for k in PARAM_KINDS if k not in ("complex", "0-d")), False),
    ],
)
def test_shapes_words_read_left_to_right(words, kinds, matrices):
    assert parse_shapes(words) == (kinds, matrices)


@pytest.mark.parametrize("words", ["", "squares", "no-squares", "complex;0-d"])
def test_an_unknown_shapes_word_is_a_one_line_usage_error(words, capsys):
    assert main(["validate", "torch.optim:Adam", "--like", "Adam", "--shapes", words]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--shapes" in err, err


def test_shapes_help_names_every_kind(capsys):
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert all(k in out for k in [*PARAM_KINDS, "no-KIND", "matrices", "plain"]), out


# --- each kind catches its mutant ---------------------------------------------------------------

KIND_CASES = [
    pytest.param(
        kind, mutant, marks=() if (kind, mutant) == ("non-contiguous", Z.AdamFlatCopy) else
        pytest.mark.thorough, id=f"{kind}-{mutant.__name__}",
    )
    for kind, mutants in Z.KIND_MUTANTS.items()
    for mutant in mutants
]  # fmt: skip


@pytest.mark.parametrize(("kind", "mutant"), KIND_CASES)
def test_the_kind_catches_its_mutant(kind, mutant):
    caught = verdict(zoo(mutant), "crossval.trajectory", 10, kinds=(kind,))
    assert caught.verdict == "violation", caught.detail


@pytest.mark.thorough
@pytest.mark.parametrize(("kind", "mutant"), [p.values for p in KIND_CASES])
def test_without_the_kind_the_mutant_passes(kind, mutant):
    """The old cases let it through: every other kind drawn, this one not."""
    others = tuple(k for k in PARAM_KINDS if k != kind and (kind, k) not in _ALSO_CATCHES)
    result = verdict(zoo(mutant), "crossval.trajectory", 25, kinds=others)
    assert result.verdict == "pass", result.detail


# A layout bug shows on both layouts that are not contiguous.
_ALSO_CATCHES = {("non-contiguous", "channels-last"), ("channels-last", "non-contiguous")}


def test_the_correct_implementation_passes_with_every_kind():
    result = verdict(zoo(Z.KindAdam), "crossval.trajectory", 10)
    assert result.verdict == "pass", result.detail
    kinds = verdict(zoo(Z.KindAdam), "contract.param_kinds", 1)
    assert kinds.verdict == "pass" and "declines" not in kinds.detail, kinds.detail


TORCH_KINDS = [
    pytest.param(name, impl, marks=pytest.mark.thorough, id=f"{name}-{impl}")
    for name in ("Adam", "AdamW", "SGD", "Adagrad", "RMSprop", "NAdam", "RAdam", "Adamax",
                 "Adadelta", "ASGD", "Rprop")
    for impl in ("forloop", "foreach", "fused")
    if impl in OPTIMIZERS[name].implementations
]  # fmt: skip
IMPLS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


@pytest.mark.parametrize(("name", "impl"), TORCH_KINDS)
def test_torch_classes_pass_with_every_kind(name, impl):
    cls = getattr(torch.optim, name)
    keywords = {k: v for k, v in IMPLS[impl].items() if k in inspect.signature(cls).parameters}
    target = OptimizerTarget(name, cls, f"torch.optim:{name}", keywords)
    ctx = Context(target, OPTIMIZERS[name], settings=Settings(max_examples=25))
    default = torch.get_default_dtype()
    if name == "ASGD":  # its scalar state in the default dtype (tests/test_crossval.py)
        torch.set_default_dtype(torch.float64)
    try:
        result = execute(CHECKS["crossval.trajectory"], ctx)
    finally:
        torch.set_default_dtype(default)
    assert result.verdict == "pass", result.detail


# --- the long run -----------------------------------------------------------------------------


def test_the_long_run_is_ten_thousand_steps_at_the_default_examples():
    assert min(LONG_STEPS, LONG_STEPS_FACTOR * 25**2) >= 10_000


def test_a_capped_step_count_is_caught_by_the_long_run():
    """Capped at 1000: the long run (1024 steps at 8 examples) parts at step 1001."""
    result = verdict(zoo(Z.AdamStepCapped), "crossval.long_horizon", 8)
    assert result.verdict == "violation", result.detail
    assert result.evidence.step == 1001, result.evidence.step


@pytest.mark.thorough
@pytest.mark.parametrize("mutant", Z.LONG_RUN_MUTANTS, ids=lambda m: m.__name__)
def test_counter_bugs_pass_the_short_runs_and_fail_the_long_one(mutant):
    short = [verdict(zoo(mutant), c, 25) for c in ("crossval.trajectory", "crossval.scheduled_lr")]
    assert all(r.verdict == "pass" for r in short), [r.detail for r in short]
    long = verdict(zoo(mutant), "crossval.long_horizon", 25)
    assert long.verdict == "violation", long.detail
    assert long.evidence.step > 1000, long.evidence.step


@pytest.mark.thorough
@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD", "NAdam", "RAdam", "Adagrad", "RMSprop"])
def test_torch_classes_pass_the_long_run(name):
    target = OptimizerTarget(name, getattr(torch.optim, name), f"torch.optim:{name}")
    ctx = Context(target, OPTIMIZERS[name], settings=Settings(max_examples=25))
    result = execute(CHECKS["crossval.long_horizon"], ctx)
    assert result.verdict == "pass", result.detail
    assert result.detail.startswith(f"{LONG_STEPS} steps"), result.detail


# --- the contract, without --like ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutant", "kinds"),
    [
        (Z.AdamFlatCopy, ("non-contiguous", "channels-last")),
        (Z.AdamComplexRealPart, ("complex",)),
        (Z.AdamWComplexRealPart, ("complex",)),  # moved by decay alone: no gradient reaches it
        (Z.AdamDropsPastChunk, ("many-tensors",)),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "-".join(v),
)
def test_the_contract_finds_a_kind_that_never_moves(mutant, kinds):
    """No reference: a tensor of the kind must follow its gradient wherever the same values held
    as an ordinary tensor do (judged by the ends under g and −g differing, never by value)."""
    ctx = Context(zoo(mutant), None, settings=Settings(max_examples=1))
    result = execute(CHECKS["contract.param_kinds"], ctx)
    assert result.verdict == "violation", result.detail
    assert set(result.evidence.got) == set(kinds), result.detail
    assert "never move" in result.detail
    plain = execute(
        CHECKS["contract.param_kinds"],
        Context(zoo(mutant), None, settings=Settings(max_examples=1, kinds=("0-d", "zero-size"))),
    )
    assert plain.verdict == "pass", plain.detail


def test_a_complex_rule_other_than_torch_s_is_declined_not_failed():
    """lion-pytorch 0.2.5 takes the complex sign z/|z| (torch.sgn) of a complex tensor; torch
    steps its view_as_real. A convention, not a formula of the paper: said, and not drawn."""
    lion_pytorch = pytest.importorskip("lion_pytorch")
    z = torch.tensor([0.5 + 1.0j, -0.25 - 0.5j], dtype=torch.complex128)
    g = torch.tensor([1.0 - 2.0j, -3.0 + 0.5j], dtype=torch.complex128)
    as_complex = torch.nn.Parameter(z.clone())
    as_real = torch.nn.Parameter(torch.view_as_real(z).clone())
    for p, grad in ((as_complex, g.clone()), (as_real, torch.view_as_real(g).clone())):
        p.grad = grad
        lion_pytorch.Lion([p], lr=0.1).step()
    # By hand: the real view moves each part by ±lr, the complex tensor by lr·sgn(c).
    assert torch.allclose(as_real.detach(), torch.tensor([[0.4, 1.1], [-0.15, -0.6]]).double())
    assert not torch.allclose(torch.view_as_real(as_complex.detach()), as_real.detach())
    target = OptimizerTarget("Lion", lion_pytorch.Lion, "lion_pytorch:Lion")
    result = execute(CHECKS["contract.param_kinds"], Context(target, None, settings=Settings()))
    assert result.verdict == "pass" and "declines complex" in result.detail, result.detail


# --- every contract check draws the kinds -----------------------------------------------------

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
# By default the non-contiguous one (the mixed-dtypes violation shrinks for ~5 s); the rest
# with --thorough, the devices one on a CUDA machine (nox -s gpu).
CONTRACT_KIND_MARKS = {
    "non-contiguous": (),
    "mixed-dtypes": (pytest.mark.thorough,),
    "devices": (pytest.mark.cuda, CUDA),
}
CONTRACT_KIND_CASES = [
    pytest.param(
        kind, mutant, check_id, marks=CONTRACT_KIND_MARKS[kind],
        id=f"{kind}-{mutant.__name__}-{check_id}",
    )
    for kind, (mutant, check_id) in Z.CONTRACT_KIND_MUTANTS.items()
]  # fmt: skip


def _exec(source: str) -> None:
    exec(compile(source, "<snippet>", "exec"), {"__name__": "snippet"})


def _contract(mutant: type, check_id: str, kinds: tuple[str, ...]) -> object:
    settings = Settings(max_examples=10, kinds=kinds)
    return execute(CHECKS[check_id], Context(zoo(mutant), None, settings=settings))


@pytest.mark.parametrize(("kind", "mutant", "check_id"), CONTRACT_KIND_CASES)
def test_a_contract_check_beyond_param_kinds_catches_the_kind_s_mutant(kind, mutant, check_id):
    """The mutant passes contract.param_kinds (it neither raises nor leaves a tensor unmoved);
    with the kind drawn, ``check_id`` catches it, and its snippet rebuilds the kind: it fails
    on the mutant and passes on KindAdam, the same code without the bug."""
    probe = _contract(mutant, "contract.param_kinds", (kind,))
    assert probe.verdict == "pass", probe.detail
    caught = _contract(mutant, check_id, (kind,))
    assert caught.verdict == "violation", caught.detail
    source = caught.evidence.snippet
    assert source is not None and f"factory = {mutant.__name__}" in source
    with pytest.raises(AssertionError):
        _exec(source)
    control = source.replace(f"import {mutant.__name__}\n", "import KindAdam\n")
    _exec(control.replace(f"factory = {mutant.__name__}", "factory = KindAdam"))


@pytest.mark.thorough
@pytest.mark.parametrize(("kind", "mutant", "check_id"), CONTRACT_KIND_CASES)
def test_the_contract_s_old_cases_let_the_kind_s_mutant_through(kind, mutant, check_id):
    result = _contract(mutant, check_id, Z.OLD_CONTRACT_KINDS)
    assert result.verdict == "pass", result.detail


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("impl", ["forloop", "foreach"])
def test_torch_adam_steps_cpu_and_cuda_parameters_in_one_group(impl):
    """torch's foreach groups tensors by device and dtype: a group holding cpu and cuda
    parameters conforms on every contract check."""
    keywords = {"foreach": impl == "foreach"}
    target = OptimizerTarget("Adam", torch.optim.Adam, "torch.optim:Adam", keywords)
    settings = Settings(max_examples=10, kinds=("devices", "mixed-dtypes"))
    for check_id in sorted(i for i in CHECKS if i.startswith("contract.")):
        if CHECKS[check_id].kind != "optimizer":
            continue
        result = execute(CHECKS[check_id], Context(target, None, settings=settings))
        assert result.verdict in ("pass", "skip"), (check_id, result.detail)


@pytest.mark.parametrize("foreach", [False, True])
def test_torch_adam_resumes_every_kind_in_one_group_by_hand(foreach):
    """The contract's verdict on torch, by hand: one group holding a 0-d, an empty, a
    transposed float32, a channels_last and a complex tensor beside 20 ordinary ones resumes
    through torch.save bit-exactly, and step() leaves every p.grad as it was."""
    import io

    g = torch.Generator().manual_seed(0)
    values = [
        torch.randn((), dtype=torch.float64, generator=g),
        torch.randn(0, dtype=torch.float64, generator=g),
        torch.randn(4, 3, generator=g).t(),
        torch.randn(2, 3, 2, 2, dtype=torch.float64, generator=g).contiguous(
            memory_format=torch.channels_last
        ),
        torch.randn(3, dtype=torch.complex128, generator=g),
        *[torch.randn(2, dtype=torch.float64, generator=g) for _ in range(20)],
    ]
    grads = [[torch.randn_like(v) for v in values] for _ in range(3)]

    def run(split: int | None = None) -> list[torch.Tensor]:
        params = [torch.nn.Parameter(v.clone()) for v in values]
        opt = torch.optim.Adam(params, lr=0.1, weight_decay=0.01, foreach=foreach)
        for k, gs in enumerate(grads):
            if k == split:
                buffer = io.BytesIO()
                torch.save(opt.state_dict(), buffer)
                buffer.seek(0)
                params = [torch.nn.Parameter(p.detach().clone()) for p in params]
                opt = torch.optim.Adam(params, lr=0.1, weight_decay=0.01, foreach=foreach)
                opt.load_state_dict(torch.load(buffer, weights_only=True))
            for p, grad in zip(params, gs, strict=True):
                p.grad = grad.clone()
            opt.step()
            assert all(torch.equal(p.grad, grad) for p, grad in zip(params, gs, strict=True))
        assert params[2].stride() == values[2].stride()  # still transposed
        return [p.detach() for p in params]

    assert all(torch.equal(a, b) for a, b in zip(run(), run(split=2), strict=True))


def test_a_crash_on_a_layout_is_one_finding_and_the_other_checks_go_on():
    """AdamViewFlat raises on transposed and channels_last parameters: contract.param_kinds
    says so once; the other checks of the run (one Settings) draw neither, say so, and pass."""
    settings = Settings(max_examples=3)
    ids = ("contract.param_kinds", "contract.resume", "contract.zero_lr", "contract.dtype")
    results = []
    for check_id in ids:
        ctx = Context(zoo(Z.AdamViewFlat), None, settings=settings)
        results.append(execute(CHECKS[check_id], ctx))
    probe, *others = results
    assert probe.verdict == "violation", probe.detail
    assert "non-contiguous" in probe.detail and "channels-last" in probe.detail, probe.detail
    for result in others:
        assert result.verdict == "pass", (result.check_id, result.detail)
        assert "no non-contiguous or channels-last" in result.detail, result.detail


@pytest.mark.parametrize("kinds", [None, ()], ids=["all kinds", "--shapes plain"])
def test_a_crash_on_a_shape_kind_reaches_no_other_check(kinds):
    """AdamRefusesZeroDim raises on 0-d parameters: contract.param_kinds says so once, and the
    algorithm's invariants and cross-validation draw no 0-d tensor either (they drew the
    record's shapes whatever the probe found, or --shapes asked: four findings for one
    crash, and --shapes plain still drew 0-d tensors)."""
    settings = Settings(max_examples=4, kinds=kinds)
    ids = ["crossval.trajectory", "adam.first_step", "contract.resume"]
    ids += ["contract.param_kinds"] if kinds is None else []
    results = {
        check_id: execute(
            CHECKS[check_id], Context(zoo(Z.AdamRefusesZeroDim), ADAM, settings=settings)
        )
        for check_id in ids
    }
    failed = {i: r.detail for i, r in results.items() if r.verdict != "pass"}
    assert failed.keys() == ({"contract.param_kinds"} if kinds is None else set()), failed


def test_keywords_that_decline_complex_parameters_drop_the_kind_not_fail():
    """torch's fused=True takes no complex parameter (Adam at construction, SGD's kernel at
    step()): with those keywords a case holds ordinary parameters, or param_groups drops the
    case; with foreach=True the complex parameter is drawn. An unrelated crash stays."""
    from optcheck.checks.kit.contract import Problem, declines

    problem = Problem(shapes=((2, 2), (2,)), steps=1, seed=0, layouts=("complex", "plain"))
    for name in ("Adam", "SGD"):
        target = OptimizerTarget(name, getattr(torch.optim, name), f"torch.optim:{name}")
        ctx = Context(target, None, settings=Settings())
        assert declines(ctx, {"lr": 0.1, "fused": True}, problem)
        assert "complex parameters" in ctx.notes[-1], ctx.notes
        assert not declines(ctx, {"lr": 0.1, "foreach": True}, problem)
    raising = Context(zoo(Z.AdamViewFlat), None, settings=Settings())
    transposed = Problem(shapes=((3, 4), (2,)), steps=1, seed=0, layouts=("transposed", "plain"))
    assert not declines(raising, {"lr": 0.1}, transposed)  # a crash: the checks judge it


# --- kinds that crash only together -------------------------------------------------------------


# By default the probe and one of the checks that reported timm Lamb's crash before
# (tests/realworld.toml's row); the whole validation (about 5 s) with --thorough.
@pytest.mark.parametrize(
    "select",
    [pytest.param(("contract.param_kinds", "contract.determinism"), id="probe-and-determinism"),
     pytest.param((), id="whole", marks=pytest.mark.thorough)],
)  # fmt: skip
def test_a_crash_of_two_kinds_together_is_one_finding_and_the_other_checks_pass(select):
    """AdamZeroDimPromoted raises only on a 0-d float32 tensor beside a float64 one (as timm's
    Lamb): one violation, contract.param_kinds, naming the pair; its snippet rebuilds the pair
    and raises, and steps with KindAdam. Every other check draws no mixed dtypes and passes
    (before, each that drew the pair reported the crash again)."""
    import optcheck

    report = optcheck.validate(
        Z.AdamZeroDimPromoted, max_examples=2, in_process=True, select=select
    )
    failed = [r for r in report.results if r.verdict not in ("pass", "skip")]
    assert [r.id for r in failed] == ["contract.param_kinds"], [(r.id, r.detail) for r in failed]
    (probe,) = failed
    assert probe.evidence.got == [["0-d", "mixed-dtypes"]], probe.evidence.got
    assert "0-d parameters beside mixed dtypes" in probe.detail, probe.detail
    assert "expected dtype float for `end` but got dtype double" in probe.detail
    assert probe.evidence.case["dtypes"] == [None, "float32", None, "float32"]
    assert probe.evidence.case["shapes"] == [[2], [2], [], []]
    others = [r for r in report.results if r.verdict == "pass"]
    assert others and all("no mixed-dtypes parameters drawn" in r.detail for r in others)
    source = probe.evidence.snippet
    with pytest.raises(RuntimeError, match="expected dtype float for `end`"):
        _exec(source)
    _exec(source.replace("AdamZeroDimPromoted", "KindAdam"))


@pytest.mark.parametrize("kinds", [("0-d",), ("mixed-dtypes",)], ids="-".join)
def test_each_kind_of_the_pair_alone_steps(kinds):
    """The probe of one kind at a time (the check before this issue) lets the pair through."""
    result = verdict(zoo(Z.AdamZeroDimPromoted), "contract.param_kinds", 1, kinds=kinds)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize(
    "name", ["Adam", "AdamW", "SGD", "NAdam", "RAdam", "Adagrad", "RMSprop", "Adadelta",
             "Adamax", "ASGD", "Rprop"],
)  # fmt: skip
def test_torch_classes_step_every_kind_held_together(name):
    cls = getattr(torch.optim, name)
    target = OptimizerTarget(name, cls, f"torch.optim:{name}")
    result = execute(CHECKS["contract.param_kinds"], Context(target, None, settings=Settings()))
    assert result.verdict == "pass" and "alone and together" in result.detail, result.detail


@pytest.mark.parametrize(
    ("mutant", "first", "second"),
    [
        (Z.AdamFlatCopy, "contract.param_kinds", "contract.determinism"),
        pytest.param(
            Z.AdamZeroDimPromoted,
            "contract.param_kinds",
            "contract.determinism",
            marks=pytest.mark.thorough,
        ),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else v,
)
def test_what_a_check_draws_does_not_depend_on_the_order_of_checks(mutant, first, second):
    """One Settings per run, two checks in either order: the same verdicts, details and case
    counts. Before, a stalling kind (AdamFlatCopy's transposed tensors) was left out of the
    later checks only when contract.param_kinds happened to probe first."""

    def run(order: tuple[str, str]) -> dict[str, tuple]:
        settings = Settings(max_examples=2)
        out = {}
        for check_id in order:
            r = execute(CHECKS[check_id], Context(zoo(mutant), None, settings=settings))
            out[check_id] = (r.verdict, r.detail, r.examples)
        return out

    assert run((first, second)) == run((second, first))


def test_the_together_probe_costs_one_probe_when_nothing_raises(monkeypatch):
    """One extra probe for a target that steps every kind together (torch's SGD), and its twin
    under −g, which stands for the stall probes when every element follows its gradient. The
    pair mutant's probe is reduced, one probe per kind, to the pair; then the rest, without
    mixed dtypes, step together (one more, and its twin)."""
    from optcheck.checks.kit import contract

    calls = []
    probe = contract._probe
    monkeypatch.setattr(contract, "_probe", lambda *a, **k: calls.append(1) or probe(*a, **k))
    sgd = OptimizerTarget("SGD", torch.optim.SGD, "torch.optim:SGD")
    ctx = Context(sgd, None, settings=Settings())
    kinds = contract.probed_kinds(ctx)
    assert contract.kind_combinations(ctx, kinds) == ([], tuple(kinds))
    assert len(calls) == 2
    calls.clear()
    ctx = Context(zoo(Z.AdamZeroDimPromoted), None, settings=Settings())
    combinations, moving = contract.kind_combinations(ctx, kinds)
    assert [c.combination for c in combinations] == [("0-d", "mixed-dtypes")]
    assert moving == tuple(k for k in kinds if k != "mixed-dtypes")
    assert len(calls) == 1 + len(kinds) + 2


def test_every_kind_has_a_phrase_for_the_combination_finding():
    from optcheck.checks.kit.contract import KIND_PHRASES, left_out

    assert set(KIND_PHRASES) == set(PARAM_KINDS)
    assert left_out(("mixed-dtypes", "0-d")) == "mixed-dtypes"  # the group's arrangement goes
