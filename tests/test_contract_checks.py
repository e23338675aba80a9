"""The generic optimizer contract: every check passes on torch.optim (forloop, foreach, fused)
and on the references, and fails on a deliberately broken optimizer from tests/zoo.

Where torch.optim itself breaks the contract, it is a finding (checks.findings): the
passing test runs it with the hyper-parameters that avoid the bug, and a finding test shows
the bug in plain torch and that the check reports it (it fails once torch fixes the bug).
"""

from __future__ import annotations

import inspect
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from zoo import kinds as kinds_zoo
from zoo import optimizers_contract as zoo

import optcheck
from optcheck.checks import catalog, profiles
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.findings import TORCH_FINDINGS, lookup, reproduced_by
from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute, load_all
from optcheck.checks.reference_optimizer import reference_factory
from optcheck.checks.result import CheckResult
from optcheck.checks.target import OptimizerTarget

load_all()
# The optimizer contract (schedule checks may share the "contract." prefix).
CONTRACT = sorted(
    i for i, c in CHECKS.items() if i.startswith("contract.") and c.kind == "optimizer"
)
EXAMPLES = profiles.EXAMPLES[profiles.default_profile()]
IMPLEMENTATIONS = {
    "forloop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
}


def _impl(cls: type, keywords: dict) -> dict:
    """The implementation's keywords the class takes (Muon, SparseAdam: none, one path)."""
    return {k: v for k, v in keywords.items() if k in inspect.signature(cls).parameters}


def torch_target(name: str, impl: str) -> OptimizerTarget:
    cls = getattr(torch.optim, name)
    return OptimizerTarget(
        f"{name}-{impl}", cls, f"torch.optim:{name}", _impl(cls, IMPLEMENTATIONS[impl])
    )


def zoo_target(name: str) -> OptimizerTarget:
    return OptimizerTarget(name, getattr(zoo, name), f"zoo.optimizers_contract:{name}")


def run_check(
    check_id: str,
    target: OptimizerTarget,
    spec_name: str | None = None,
    fixed_hp: dict[str, Any] | None = None,
    examples: int = EXAMPLES,
    skip_kinds: tuple[str, ...] | None = None,
    kinds: tuple[str, ...] | None = None,
) -> CheckResult:
    """``skip_kinds``: None probes the kinds the target declines, as a run does; ``kinds``:
    those drawn at all (None: every kind, as --shapes all)."""
    spec = OPTIMIZERS[spec_name] if spec_name else None
    settings = Settings(
        max_examples=examples, fixed_hp=dict(fixed_hp or {}), skip_kinds=skip_kinds, kinds=kinds
    )
    return execute(CHECKS[check_id], Context(target=target, spec=spec, settings=settings))


# --- passing on torch.optim and the references ----------------------------------------------

# By default: the core optimizers' forloop classes (every record's class is validated end to
# end by test_validate_e2e with --thorough and by nox -s validate), the first record's forloop
# class and its reference; every class x implementation and reference with --thorough.
_TORCH = catalog.torch_optimizers()
_CORE = {r.name for r in _TORCH if r.bench}


def _default(record: Any, impl: str) -> bool:
    return impl == "forloop" and (record is _TORCH[0] or record.name in _CORE)


CONFORMING: list[Any] = [
    *[
        pytest.param(
            torch_target(r.name, impl),
            r.name,
            marks=() if _default(r, impl) else pytest.mark.thorough,
            id=f"{r.name}-{impl}",
        )
        for r in _TORCH
        for impl in r.implementations
    ],
    *[
        pytest.param(
            OptimizerTarget(f"reference-{r.name}", reference_factory(r)),
            r.name,
            marks=() if r is _TORCH[0] else pytest.mark.thorough,
            id=f"reference-{r.name}",
        )
        for r in OPTIMIZERS.values()
    ],
    # Without a spec only lr is drawn and every property is assumed (lr = 0 freezes, ...).
    (torch_target("SGD", "forloop"), None),
    pytest.param(torch_target("AdamW", "foreach"), None, marks=pytest.mark.thorough),
    pytest.param(zoo_target("CorrectMomentumSGD"), None, marks=pytest.mark.thorough),
    (zoo_target("CorrectMomentumSGD"), "SGD"),
]


def _label(value: Any) -> str:
    return value.label if isinstance(value, OptimizerTarget) else str(value)


@pytest.mark.parametrize("check_id", CONTRACT)
@pytest.mark.parametrize(("target", "spec_name"), CONFORMING, ids=_label)
def test_contract_holds_for_conforming_optimizers(target, spec_name, check_id):
    name, _, impl = target.label.partition("-")  # torch_target's label
    finding = lookup(name, impl, check_id) if impl in IMPLEMENTATIONS else None
    avoid = finding.avoid if finding else None
    skip = ("zero-size",) if finding and finding.empty_tensor else None
    result = run_check(check_id, target, spec_name, avoid, skip_kinds=skip)
    # contract.param_kinds meets an empty-tensor crash whatever the run skips.
    skipped = finding and finding.empty_tensor and check_id != "contract.param_kinds"
    if finding and not finding.avoid and not skipped:
        # No keyword avoids it (torch's scalar state in its default dtype, a crash on a kind):
        # the check must pass or report exactly the finding, which validate marks "known".
        assert result.verdict == "pass" or finding.message in result.detail, result.detail
    elif spec_name and OPTIMIZERS[spec_name].not_applicable(check_id):  # couples tensors
        assert result.verdict == "skip", result.detail
        return
    else:
        assert result.verdict == "pass", (result.detail, result.evidence)
    assert result.examples > 0


def _one_case_per_finding() -> list[Any]:
    """Each finding once by default (its first class-implementation/check); every other place
    it shows (Adafactor's empty-tensor bug meets 13 checks in 2 implementations) with --thorough."""
    seen: set[str] = set()
    cases = []
    test = "tests/test_contract_checks.py::test_torch_finding_is_reported"
    for (name, check_id), finding in reproduced_by(test).items():
        for impl in finding.implementations or ():
            first = finding.why not in seen
            seen.add(finding.why)
            marks = () if first else pytest.mark.thorough
            cases.append(
                pytest.param(name, impl, check_id, id=f"{name}-{impl}/{check_id}", marks=marks)
            )
    return cases


@pytest.mark.parametrize(("name", "impl", "check_id"), _one_case_per_finding())
def test_torch_finding_is_reported(name, impl, check_id):
    finding = TORCH_FINDINGS[name, check_id]
    if name not in OPTIMIZERS:
        pytest.skip(f"{name}'s record is not in this catalog (the torch-only test reproduces it)")
    # Every kind drawn (no probe): a kind-crash finding shows in each check that meets it.
    target = torch_target(name, impl)
    result = run_check(check_id, target, name, finding.trigger, examples=25, skip_kinds=())
    assert result.verdict == "violation", (finding.why, result.detail)
    assert finding.message in result.detail
    assert result.evidence.case is not None


def test_a_finding_on_a_drawn_code_path_is_known():
    """Without --like foreach and fused are drawn per case: torch SGD's foreach finding, hit by
    a case that drew foreach=True, is known although the run fixes no code path."""
    from optcheck.checks.result import Evidence
    from optcheck.suites.runner import mark_known

    def violation(hp: dict) -> CheckResult:
        evidence = Evidence("modified p.grad", case={"hp": hp})
        return CheckResult("contract.grad_unchanged", "t", "violation", "modified p.grad", evidence)

    ctx = Context(OptimizerTarget("torch.optim:SGD", torch.optim.SGD), settings=Settings())
    drawn = {"lr": 0.1, "momentum": 0.9, "nesterov": True, "foreach": True}
    assert mark_known(violation(drawn), ctx).verdict == "known"
    assert mark_known(violation({**drawn, "foreach": False}), ctx).verdict == "violation"


def test_every_finding_names_the_test_that_reproduces_it():
    root = Path(__file__).parents[1]
    for key, finding in TORCH_FINDINGS.items():
        path, _, name = finding.test.partition("::")
        assert f"def {name}(" in (root / path).read_text(), (key, finding.test)


def test_torch_finding_foreach_sgd_nesterov_writes_into_grad():
    """The finding in plain torch: the same step, three implementations."""
    changed = {}
    for impl, kw in IMPLEMENTATIONS.items():
        p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        p.grad = torch.tensor([0.5, 0.25])
        torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, **kw).step()
        changed[impl] = not torch.equal(p.grad, torch.tensor([0.5, 0.25]))
    assert changed == {"forloop": False, "foreach": True, "fused": False}


def test_torch_finding_fused_sgd_rejects_a_late_first_gradient():
    """The finding in plain torch: b gets its first gradient at step 2 (a layer unfrozen)."""
    outcome = {}
    for impl, kw in IMPLEMENTATIONS.items():
        a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
        opt = torch.optim.SGD([a, b], lr=0.1, momentum=0.9, **kw)
        a.grad = torch.ones(2)
        opt.step()
        b.grad = torch.ones(2)
        try:
            opt.step()
            outcome[impl] = "ok"
        except TypeError:
            outcome[impl] = "TypeError"
    assert outcome == {"forloop": "ok", "foreach": "ok", "fused": "TypeError"}


@pytest.mark.parametrize("foreach", [False, True])
def test_torch_finding_adafactor_raises_on_an_empty_parameter(foreach):
    """The finding in plain torch: RMS(θ) = ‖θ‖/√numel as Python floats divides by zero for a
    zero-size parameter; Adam (like every other torch.optim class) steps over it."""
    for cls, raises in ((torch.optim.Adafactor, True), (torch.optim.Adam, False)):
        empty, full = torch.nn.Parameter(torch.ones(0)), torch.nn.Parameter(torch.ones(3))
        opt = cls([empty, full], foreach=foreach)
        empty.grad, full.grad = torch.ones(0), torch.ones(3)
        if raises:
            with pytest.raises(ZeroDivisionError):
                opt.step()
        else:
            opt.step()


def test_torch_finding_nadam_keeps_mu_product_in_float32():
    """The finding in plain torch: float64 NAdam's mu_product is a float32 0-d tensor updated
    in float32; under the default dtype float64 the same run moves by ~1e-10; resuming from a
    state_dict casts it to float64, so the resumed run leaves the uninterrupted one."""

    def run(default, resume=False):
        before = torch.get_default_dtype()
        torch.set_default_dtype(default)
        try:
            gen = torch.Generator().manual_seed(0)
            p = torch.nn.Parameter(torch.randn(5, dtype=torch.float64, generator=gen))
            gs = [torch.randn(5, dtype=torch.float64, generator=gen) for _ in range(6)]
            opt = torch.optim.NAdam([p], lr=0.01, foreach=False)
            for k, g in enumerate(gs):
                p.grad = g
                opt.step()
                if k == 1:
                    dtype = opt.state[p]["mu_product"].dtype
                if resume and k == 1:
                    state = opt.state_dict()
                    opt = torch.optim.NAdam([p], lr=0.01, foreach=False)
                    opt.load_state_dict(state)
            return p.detach().clone(), dtype
        finally:
            torch.set_default_dtype(before)

    f32, dtype32 = run(torch.float32)
    f64, dtype64 = run(torch.float64)
    resumed, _ = run(torch.float32, resume=True)
    assert dtype32 == torch.float32 and dtype64 == torch.float64
    assert (f32 - f64).abs().max() > 1e-12  # the float32 product's effect is not nil
    assert not torch.equal(resumed, f32)


def test_torch_finding_asgd_keeps_eta_in_float32():
    """The finding in plain torch: float64 ASGD computes eta in torch's default dtype, and the
    float64 trajectory differs from the one under the default dtype float64 (the crossval
    finding: tests/test_crossval_records_b.py measures it against the float64 reference). Its
    storage is not the cause: eta widened to float64 after every step, the run is the same
    (eta is recomputed in float32 each step), which is why contract.dtype passes ASGD."""
    outs = {}
    widened = []
    for widen in (False, True):
        p = torch.nn.Parameter(torch.linspace(-1, 1, 4, dtype=torch.float64))
        opt = torch.optim.ASGD([p], lr=0.0123, lambd=0.01, foreach=False)
        for k in range(4):
            p.grad = torch.full_like(p, 0.3 * (k + 1))
            opt.step()
            if widen:
                opt.state[p]["eta"] = opt.state[p]["eta"].double()
        widened.append(p.detach().clone())
    assert torch.equal(*widened)
    for default in (torch.float32, torch.float64):
        before = torch.get_default_dtype()
        torch.set_default_dtype(default)
        try:
            p = torch.nn.Parameter(torch.linspace(-1, 1, 4, dtype=torch.float64))
            opt = torch.optim.ASGD([p], lr=0.0123, lambd=0.01, foreach=False)
            for k in range(4):
                p.grad = torch.full_like(p, 0.3 * (k + 1))
                opt.step()
            outs[default] = (p.detach().clone(), opt.state[p]["eta"].dtype)
        finally:
            torch.set_default_dtype(before)
    assert outs[torch.float32][1] == torch.float32
    assert not torch.equal(outs[torch.float32][0], outs[torch.float64][0])


@pytest.mark.parametrize("foreach", [False, True])
def test_torch_finding_rprop_moves_at_lr_zero(foreach):
    """The finding in plain torch: Rprop built with lr = 0 moves by step_sizes[0] at its first
    step (Δ_0 = lr is clamped into step_sizes). Without --like, contract.zero_lr assumes lr = 0
    freezes, so validate reports the documented behaviour as known, not as a violation."""
    from optcheck.suites.runner import mark_known

    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = torch.optim.Rprop([p], lr=0.0, foreach=foreach)
    p.grad = torch.tensor([0.5, -0.25], dtype=torch.float64)
    opt.step()
    assert torch.equal(p.detach(), torch.tensor([1.0 - 1e-6, -2.0 + 1e-6], dtype=torch.float64))
    target = torch_target("Rprop", "foreach" if foreach else "forloop")
    result = run_check("contract.zero_lr", target, examples=3)
    assert result.verdict == "violation" and "lr is 0" in result.detail, result.detail
    ctx = Context(target, settings=Settings())
    assert mark_known(result, ctx).verdict == "known"
    assert run_check("contract.zero_lr", target, "Rprop", examples=3).verdict == "pass"


def test_torch_finding_adagrad_ignores_a_groups_initial_accumulator_value():
    """The finding in plain torch: a second group's initial_accumulator_value is ignored (state
    is initialised in __init__ from the constructor's value)."""
    a = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    grouped = torch.optim.Adagrad(
        [{"params": [a]}, {"params": [b], "initial_accumulator_value": 4.0}], lr=0.1
    )
    alone = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    separate = torch.optim.Adagrad([alone], lr=0.1, initial_accumulator_value=4.0)
    for p in (a, b, alone):
        p.grad = torch.ones(2, dtype=torch.float64)
    grouped.step()
    separate.step()
    assert torch.equal(grouped.state[b]["sum"], torch.ones(2, dtype=torch.float64))
    assert not torch.equal(b, alone)


# --- failing on broken optimizers -----------------------------------------------------------


@dataclass(frozen=True)
class Catch:
    mutant: str
    message: str  # part of the violation's message: the check failed for the mutant's bug
    spec: str | None = None
    snippet_passes_on_control: bool = True  # CorrectMomentumSGD takes the mutant's keywords
    snippet_raises: type[Exception] = AssertionError


CATCHES: dict[str, list[Catch]] = {
    "contract.param_kinds": [
        Catch("SGDRowsOnly", "raises on a 0-d parameter", snippet_raises=IndexError)
    ],
    "contract.resume": [
        Catch("SGDBufferOutsideState", "resuming via torch.save after step"),
        Catch("SGDNumpyState", "weights_only=True", snippet_raises=pickle.UnpicklingError),
        Catch("SGDFloat32Buffer", "resuming via torch.save"),
    ],
    "contract.grad_none": [Catch("SGDStepsGradNone", "created state for tensor")],
    "contract.param_groups": [Catch("SGDLearningRateFromDefaults", "separate optimizers")],
    "contract.lr_change": [
        Catch("SGDLearningRateFromDefaults", "does not use group['lr']"),
        Catch("SGDLearningRateCachedAtFirstStep", "did not take effect", spec="SGD"),
    ],
    "contract.dtype": [
        Catch("SGDUpcastsParams", "into torch.float32"),
        Catch("SGDFloat32Buffer", "state['momentum_buffer']"),
        Catch("AdamHalfMoments", "torch.float16", snippet_passes_on_control=False),
        Catch("SGDFloat32Warmup", "state['decay']", snippet_passes_on_control=False),
        # Nested state: state['buffers'][0], a float32 buffer inside a list.
        Catch("SGDNestedFloat32Buffer", "state['buffers'][0]", snippet_passes_on_control=False),
    ],
    "contract.grad_unchanged": [
        Catch("SGDInPlaceWeightDecay", "modified p.grad"),
        # Only with a keyword off its default: found without --hp by exploring the constructor.
        Catch("SGDDecayIntoGradWhenOn", "modified p.grad"),
        Catch("SGDNegatesGradWhenMaximizing", "modified p.grad"),
    ],
    "contract.closure": [Catch("SGDClosureTwice", "called the closure 2 times")],
    "contract.maximize": [Catch("SGDIgnoresMaximize", "maximize=True differs")],
    "contract.zero_params": [
        Catch("AdamNoEps", "all zero", snippet_passes_on_control=False),
        Catch("SGDNoisy", "all zero"),
    ],
    "contract.zero_lr": [Catch("SGDDecayWithoutLR", "lr is 0")],
    "contract.finite": [
        Catch("AdamHalfMoments", "non-finite", snippet_passes_on_control=False),
        Catch("AdamNoEps", "non-finite", snippet_passes_on_control=False),
    ],
    "contract.determinism": [Catch("SGDNoisy", "two identical runs differ")],
}
CATCH_CASES = [(check_id, c) for check_id, catches in CATCHES.items() for c in catches]


def test_every_contract_check_has_a_mutant():
    assert sorted(CATCHES) == CONTRACT


def _exec(source: str) -> None:
    exec(compile(source, "<snippet>", "exec"), {"__name__": "snippet"})


@pytest.mark.parametrize(
    ("check_id", "catch"), CATCH_CASES, ids=[f"{i}-{c.mutant}" for i, c in CATCH_CASES]
)
def test_contract_check_catches_mutant(check_id, catch, request):
    """A violation for the mutant's own bug, with the minimal case and a snippet that fails on
    the mutant and, swapped to the unbroken base class with the same keywords, passes: the
    snippet tests the contract, not something that always fails. These bugs are of no
    parameter kind: by default the old cases (0-d and zero-size among ordinary tensors, ~2 s
    less in all), every kind with --thorough (tests/test_param_kinds.py catches the kinds')."""
    kinds = None if request.config.getoption("--thorough") else kinds_zoo.OLD_CONTRACT_KINDS
    _assert_caught(check_id, catch, kinds)


def test_grad_none_reproduces_a_step_that_raises():
    """A step() that reads a None grad raises: the violation names the step and the tensor and
    carries a snippet that raises the same way (kept out of CATCHES: that family is halved)."""
    catch = Catch("SGDRaisesOnGradNone", "with tensor", snippet_raises=AttributeError)
    _assert_caught("contract.grad_none", catch, kinds_zoo.OLD_CONTRACT_KINDS)


def _assert_caught(check_id: str, catch: Catch, kinds: Any) -> None:
    result = run_check(check_id, zoo_target(catch.mutant), catch.spec, kinds=kinds)
    assert result.verdict == "violation", result.detail
    assert catch.message in result.detail
    evidence = result.evidence
    assert evidence.case is not None and evidence.snippet is not None
    source = evidence.snippet
    assert "optcheck" not in source.split('"""', 2)[2]  # torch alone, no project import
    with pytest.raises(catch.snippet_raises):
        _exec(source)
    if catch.snippet_passes_on_control:
        fixed = source.replace(
            f"factory = {catch.mutant}",
            "from zoo.optimizers_contract import CorrectMomentumSGD\n\n"
            "factory = CorrectMomentumSGD",
        )
        assert fixed != source
        _exec(fixed)


def test_dtype_judges_coarse_state_by_its_effect():
    """A 0-d float32 counter beside float64 parameters changes nothing (widened, the run is the
    same): a pass that names it. A float32 running product changes the run: a violation that
    says from which step (its catch above proves the snippet). torch's ASGD keeps eta and mu
    float32 but recomputes eta in float32 each step: nil effect, a pass, not a finding."""
    counter = run_check("contract.dtype", zoo_target("SGDFloat32Counter"))
    assert counter.verdict == "pass", counter.detail
    assert "without effect" in counter.detail and "count" in counter.detail
    warmup = run_check("contract.dtype", zoo_target("SGDFloat32Warmup"))
    assert warmup.verdict == "violation" and "differs from step" in warmup.detail
    asgd = run_check("contract.dtype", torch_target("ASGD", "forloop"))
    assert asgd.verdict == "pass" and "'eta'" in asgd.detail, asgd.detail
    assert ("ASGD", "contract.dtype") not in TORCH_FINDINGS


def test_without_a_spec_the_constructor_is_explored():
    """torch's Adam: flags both ways, foreach/fused among None/False/True, weight_decay switched
    on, betas and eps perturbed around their defaults; capturable and differentiable held (True
    needs CUDA graphs or autograd through step()); what the run fixes is not drawn."""
    from hypothesis import find

    from optcheck.checks.kit.contract import explored, hp_strategy

    ctx = Context(torch_target("Adam", "forloop"), settings=Settings(fixed_hp={"eps": 1e-6}))
    drawn = explored(ctx)
    assert {"amsgrad", "maximize", "fused", "weight_decay", "betas"} <= set(drawn)
    assert not {"capturable", "differentiable", "foreach", "eps", "lr"} & set(drawn)
    strategy = hp_strategy(ctx)
    assert find(strategy, lambda hp: hp["weight_decay"] > 0 and hp["maximize"])["eps"] == 1e-6
    b1, b2 = find(strategy, lambda hp: hp["betas"] != (0.9, 0.999))["betas"]
    assert 0 < b1 < 1 and 0 < b2 < 1
    # SGD: nesterov needs momentum > 0 and no dampening; rejected combinations are not drawn.
    sgd = hp_strategy(Context(torch_target("SGD", "forloop")))
    assert find(sgd, lambda hp: hp["nesterov"])["momentum"] > 0


def test_a_crash_on_one_parameter_kind_is_one_finding_and_the_rest_is_still_checked():
    """SGDRowsOnly raises on 0-d parameters and ignores group['lr']. Before, every contract
    check drew 0-d tensors, failed on the IndexError and hid the lr bug; now the crash is one
    finding (contract.param_kinds) and the checks without 0-d tensors find the lr bug."""
    select = ("contract.param_kinds", "contract.resume", "contract.lr_change", "contract.finite")
    report = optcheck.validate(zoo_target("SGDRowsOnly"), max_examples=2, select=select)
    crashed = [r.id for r in report.results if "IndexError" in r.detail]
    assert crashed == ["contract.param_kinds"], crashed
    assert "0-d" in report.results[0].detail
    failed = {r.id for r in report.results if r.failed}
    assert failed == {"contract.param_kinds", "contract.lr_change"}, failed
    assert "no 0-d parameters drawn" in report.results[1].detail  # contract.resume
    control = optcheck.validate(zoo_target("CorrectMomentumSGD"), select=("contract.param_k",))
    assert control.verdict == "CONFORMS"


BROKEN = ["NotAnOptimizer", "RaisingConstructor", "RaisingStep"]
BROKEN_MESSAGE = {
    "NotAnOptimizer": "not a torch.optim.Optimizer",
    "RaisingConstructor": "constructor raised RuntimeError: RaisingConstructor needs CUDA",
    "RaisingStep": "RuntimeError: RaisingStep: kernel not implemented",
}


@pytest.mark.parametrize("name", BROKEN)
def test_broken_target_gives_violations_never_errors(name):
    for check_id in CONTRACT:
        result = run_check(check_id, zoo_target(name), examples=3)
        if result.verdict == "skip":
            assert "does not accept 'maximize'" in result.detail
            continue
        assert result.verdict == "violation", (check_id, result.verdict, result.detail)
        assert BROKEN_MESSAGE[name] in result.detail, (check_id, result.detail)


# --- skips and notes ------------------------------------------------------------------------


class NoClosureSGD(torch.optim.Optimizer):
    """A valid optimizer whose step() takes no closure (allowed: the closure is optional)."""

    def __init__(self, params: Any, lr: float = 1e-2):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])


class PositiveLRSGD(NoClosureSGD):
    """Rejects lr = 0 in the constructor, as some libraries do."""

    def __init__(self, params: Any, lr: float = 1e-2):
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        super().__init__(params, lr)


class Float64OnlySGD(NoClosureSGD):
    """Refuses anything but float64 parameters, with an error: a dtype it does not support."""

    def __init__(self, params: Any, lr: float = 1e-2):
        params = list(params)
        if any(p.dtype != torch.float64 for p in params):
            raise TypeError("Float64OnlySGD supports float64 parameters only")
        super().__init__(params, lr)


def local_target(cls: type) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"{__name__}:{cls.__name__}")


def test_step_without_closure_is_skipped_with_the_reason():
    result = run_check("contract.closure", local_target(NoClosureSGD))
    assert result.verdict == "skip"
    assert "takes no closure" in result.detail


def test_constructor_refusing_lr_zero_is_skipped_with_the_reason():
    result = run_check("contract.zero_lr", local_target(PositiveLRSGD))
    assert result.verdict == "skip"
    assert "rejects lr = 0" in result.detail


def test_target_without_maximize_is_skipped():
    result = run_check("contract.maximize", local_target(NoClosureSGD))
    assert result.verdict == "skip"
    assert "maximize" in result.detail


def test_maximize_fixed_by_settings_is_skipped():
    target = torch_target("SGD", "forloop")
    result = run_check("contract.maximize", target, "SGD", {"maximize": False})
    assert result.verdict == "skip"


def test_unsupported_dtype_is_noted_not_failed():
    result = run_check("contract.dtype", local_target(Float64OnlySGD))
    assert result.verdict == "pass", result.detail
    assert "bfloat16 not supported" in result.detail


def test_line_search_optimizer_is_skipped_with_the_reason():
    result = run_check("contract.resume", OptimizerTarget("LBFGS", torch.optim.LBFGS))
    assert result.verdict == "skip"
    assert "requires a closure" in result.detail


def test_the_reference_resumes_a_float32_parameter_bit_exactly():
    """The reference keeps float64 state for every parameter; torch's load_state_dict casts
    floating state to the parameter's dtype, so a float32 parameter (a mixed-dtypes case)
    resumed off its uninterrupted run (seed 19: step 3) until the adapter restored it."""
    import io

    step = reference_factory(OPTIMIZERS["Adadelta"])
    g = torch.Generator().manual_seed(19)
    p0 = torch.randn(4, generator=g, dtype=torch.float32)
    grads = [torch.randn(4, generator=g) * 10 for _ in range(3)]

    def run(split: int | None = None) -> torch.Tensor:
        p = torch.nn.Parameter(p0.clone())
        opt = step([p], lr=1.0)
        for k, grad in enumerate(grads):
            if k == split:
                buffer = io.BytesIO()
                torch.save(opt.state_dict(), buffer)
                buffer.seek(0)
                p = torch.nn.Parameter(p.detach().clone())
                opt = step([p], lr=1.0)
                opt.load_state_dict(torch.load(buffer, weights_only=True))
            p.grad = grad.clone()
            opt.step()
        return p.detach()

    assert torch.equal(run(), run(split=1))


def test_state_made_in_the_constructor_is_allowed():
    """torch's Adagrad allocates state for every parameter at construction (by design);
    grad_none only forbids step() creating or changing state for a tensor without gradient."""
    result = run_check("contract.grad_none", torch_target("Adagrad", "forloop"))
    assert result.verdict == "pass", result.detail


def test_lr_change_says_what_it_did_not_check_without_a_spec():
    result = run_check("contract.lr_change", torch_target("SGD", "forloop"))
    assert result.verdict == "pass"
    assert "not checked without a spec" in result.detail


def test_contract_checks_are_generic_and_registered():
    for check_id in CONTRACT:
        c = CHECKS[check_id]
        assert not c.invariant and c.kind == "optimizer" and not c.needs_reference
    assert len(CONTRACT) == 13
    assert inspect.getmodule(CHECKS["contract.resume"].fn).__name__.endswith("contract_checks")
