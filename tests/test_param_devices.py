"""The devices kind (checks.kit.kinds): parameters on cpu and cuda in one group, drawn in
cross-validation as in the contract (torch's foreach kernels bucket tensors by device).

Without CUDA the kind is not drawn (contract.other_device is None). The plumbing is tested on
one device through two seams: ``cpu_as_other_device`` names cpu as the second device, so that
cross-validation draws the kind and runs it; and the "meta" device, on which a tensor's
placement shows (it cannot be stepped). A target's own device slip needs two real devices:
those tests carry the ``cuda`` marker and skip without one (nox -s gpu, .ci/gpu).
"""

from __future__ import annotations

import json
import sys

import hypothesis
import numpy as np
import pytest
import torch
from hypothesis.errors import NoSuchExample
from zoo import kinds as Z

from optcheck.checks import crossval_checks
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.checks.kit import contract, harness
from optcheck.checks.kit import strategies as S
from optcheck.checks.kit.evidence import Observation, require
from optcheck.checks.kit.kinds import PARAM_KINDS
from optcheck.checks.kit.registry import CHECKS, Context, Settings, Violation, execute, load_all
from optcheck.checks.records import IMPLEMENTATION_KEYWORDS
from optcheck.checks.target import OptimizerTarget

load_all()
ADAM = OPTIMIZERS["Adam"]
TRAJECTORY = CHECKS["crossval.trajectory"]
CUDA = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


def zoo(cls: type) -> OptimizerTarget:
    return OptimizerTarget(cls.__name__, cls, f"zoo.kinds:{cls.__name__}")


def context(target: OptimizerTarget, **settings) -> Context:
    return Context(target, ADAM, settings=Settings(**settings), check=TRAJECTORY)


@pytest.fixture
def cpu_as_other_device(monkeypatch):
    """contract.other_device names cpu, in every module that imported it."""
    original = contract.other_device
    for name, module in list(sys.modules.items()):
        if name.startswith("optcheck") and getattr(module, "other_device", None) is original:
            monkeypatch.setattr(module, "other_device", lambda ctx: "cpu")


# The first drawn example that fits, no shrinking (a shrink costs seconds): deterministic.
FIRST_FIT = hypothesis.settings(
    database=None, max_examples=40, derandomize=True, phases=[hypothesis.Phase.generate]
)


def two_tensor_case(devices: list[str | None]) -> S.Case:
    recipe = {"seed": 0, "steps": 2, "shapes": [[2], [3]], "kinds": ["random"] * 2,
              "exponent": 0, "devices": devices}  # fmt: skip
    return S.build_case({"lr": 0.1}, recipe)


# --- on one device --------------------------------------------------------------------------


def test_cross_validation_draws_devices_and_the_recipe_keeps_them(cpu_as_other_device):
    """The draw holds devices; describe (through JSON), from_description and a reseeded
    rebuild (shrinking and the behaves-like probes) keep them."""
    ctx = context(zoo(Z.KindAdam), kinds=("devices",))
    assert crossval_checks.drawn_kinds(ctx) == ("devices",)
    strategy = crossval_checks.case_strategy(ctx, ADAM, "float64", ("constant",), 3)
    case = hypothesis.find(strategy, lambda c: set(c.devices) == {None, "cpu"}, settings=FIRST_FIT)
    again = S.Case.from_description(json.loads(json.dumps(case.describe())))
    assert again.devices == case.devices
    assert all(np.array_equal(a, b) for a, b in zip(again.params0, case.params0, strict=True))
    assert S.reseeded(case, case.recipe["seed"] + 1).devices == case.devices


def test_no_devices_are_drawn_where_the_run_leaves_the_kind_out(cpu_as_other_device):
    """--shapes no-devices: cross-validation draws none (the case strategy is searched)."""
    others = tuple(k for k in PARAM_KINDS if k != "devices")
    ctx = context(zoo(Z.KindAdam), kinds=others)
    assert "devices" not in crossval_checks.drawn_kinds(ctx)
    strategy = crossval_checks.case_strategy(ctx, ADAM, "float64", ("constant",), 3)
    with pytest.raises(NoSuchExample):
        hypothesis.find(strategy, lambda c: any(c.devices), settings=FIRST_FIT)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available")
def test_without_cuda_the_kind_is_not_drawn_and_asked_for_it_is_said():
    ctx = context(zoo(Z.KindAdam))
    assert contract.other_device(ctx) is None
    assert "devices" not in crossval_checks.drawn_kinds(ctx)
    assert not any("devices" in note for note in ctx.notes), ctx.notes  # not asked for
    asked = context(zoo(Z.KindAdam), kinds=("devices", "0-d"))
    assert crossval_checks.drawn_kinds(asked) == ("0-d",)
    assert any("no devices parameters drawn" in note for note in asked.notes), asked.notes


def placements(case: S.Case) -> list[str]:
    """The device of each tensor the target is built on (it raises once it has seen them)."""
    seen: list[list[str]] = []

    def recorder(params, **hp):
        seen.append([p.device.type for p in params])
        raise RuntimeError("placements recorded")

    with pytest.raises(S.TargetRaised) as raised:
        case.run_target(OptimizerTarget("recorder", recorder))
    assert raised.value.step == 0
    return seen[0]


@pytest.mark.parametrize("plumbing", ["as built", "drops devices"])
def test_the_target_gets_each_tensor_on_the_device_the_case_names(plumbing, monkeypatch):
    """On "meta" a placement shows; a run_target that drops the devices (the mutant of the
    plumbing) is caught."""
    if plumbing == "drops devices":
        monkeypatch.setattr(
            S, "run_torch", lambda *a, devices=(), **kw: harness.run_torch(*a, **kw)
        )
    placed = placements(two_tensor_case(["meta", None]))
    assert (placed == ["meta", "cpu"]) == (plumbing == "as built"), placed


def test_the_snippet_rebuilds_each_tensor_on_its_device(capsys):
    """A violation's snippet names the devices, replays the case (on cpu here) and, given
    "meta" for tensor 0, builds it there."""
    case = two_tensor_case(["cpu", None])
    ctx = context(zoo(Z.KindAdam))
    after = case.run_target(ctx.target)[0][0]
    obs = Observation("traj[0][STEP][0]", after, after + 1.0, np.full(after.shape, 1e-9))
    with pytest.raises(Violation) as violation:
        require(ctx, obs, what="a made-up departure", runs=[case], step=1)
    source = violation.value.evidence.snippet
    assert "DEVICES = ['cpu', None]" in source
    assert violation.value.evidence.case["devices"] == ["cpu", None]
    namespace = {"__name__": "snippet"}
    exec(compile(source, "<snippet>", "exec"), namespace)
    assert "REPRODUCED" in capsys.readouterr().out
    namespace["DEVICES"][0] = "meta"
    assert [p.device.type for p in namespace["make_params"]()] == ["meta", "cpu"]


def test_cross_validation_runs_the_devices_cases_end_to_end(cpu_as_other_device, monkeypatch):
    """crossval.trajectory hands run_torch the drawn devices, and a correct target passes."""
    handed: list[tuple] = []

    def spy(*args, devices=(), **kw):
        handed.append(tuple(devices))
        return harness.run_torch(*args, devices=devices, **kw)

    monkeypatch.setattr(S, "run_torch", spy)
    result = execute(TRAJECTORY, context(zoo(Z.KindAdam), kinds=("devices",), max_examples=10))
    assert result.verdict == "pass", result.detail
    assert any("cpu" in d for d in handed), handed


# --- on two devices (CUDA) ------------------------------------------------------------------


def _snippet_says(source: str, capsys) -> str:
    exec(compile(source, "<snippet>", "exec"), {"__name__": "snippet"})
    return capsys.readouterr().out


@pytest.mark.parametrize("device", [pytest.param(d, marks=CUDA) for d in ("cpu", "cuda")])
def test_a_group_stepped_on_its_first_device_only_is_caught(device, capsys):
    """AdamFirstDeviceOnly never moves a tensor off its group's first device: caught with the
    devices kind; its snippet reproduces it, and the same snippet on KindAdam does not."""
    caught = execute(
        TRAJECTORY, context(zoo(Z.AdamFirstDeviceOnly), kinds=("devices",), device=device)
    )
    assert caught.verdict == "violation", caught.detail
    assert len(set(caught.evidence.case["devices"])) == 2, caught.evidence.case
    source = caught.evidence.snippet
    assert "REPRODUCED" in _snippet_says(source, capsys)
    control = source.replace("import AdamFirstDeviceOnly as", "import KindAdam as")
    assert "not reproduced" in _snippet_says(control, capsys)


@pytest.mark.parametrize("device", [pytest.param(d, marks=CUDA) for d in ("cpu", "cuda")])
def test_on_one_device_the_first_device_slip_passes(device):
    """The old cases (every kind but devices) let it through."""
    others = tuple(k for k in PARAM_KINDS if k != "devices")
    result = execute(TRAJECTORY, context(zoo(Z.AdamFirstDeviceOnly), kinds=others, device=device))
    assert result.verdict == "pass", result.detail


TORCH_DEVICES = [
    pytest.param(name, impl, device, marks=CUDA, id=f"{name}-{impl}-{device}")
    for name in ("Adam", "AdamW", "SGD")
    for impl in ("forloop", "foreach", "fused")
    for device in ("cpu", "cuda")
]


@pytest.mark.parametrize(("name", "impl", "device"), TORCH_DEVICES)
def test_torch_steps_a_group_spanning_cpu_and_cuda_like_the_reference(name, impl, device):
    """torch groups a step's tensors by device and dtype: each tensor is stepped as on its own
    device, within the same error model (tolerance.case_tolerance)."""
    cls = getattr(torch.optim, name)
    target = OptimizerTarget(name, cls, f"torch.optim:{name}", IMPLEMENTATION_KEYWORDS[impl])
    ctx = Context(target, OPTIMIZERS[name], settings=Settings(kinds=("devices",), device=device))
    result = execute(TRAJECTORY, ctx)
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize("device", [pytest.param(d, marks=CUDA) for d in ("cpu", "cuda")])
def test_the_correct_implementation_passes_with_devices(device):
    result = execute(TRAJECTORY, context(zoo(Z.KindAdam), kinds=("devices",), device=device))
    assert result.verdict == "pass", result.detail


@pytest.mark.parametrize("impl", [pytest.param(i, marks=CUDA) for i in IMPLEMENTATION_KEYWORDS])
def test_torch_adam_steps_a_two_device_group_as_each_device_alone_by_hand(impl):
    """The cross-validation verdict on torch, by hand: in a group holding a cpu and a cuda
    tensor, each is stepped bit for bit as in a group of its own (torch runs one kernel call
    per device either way)."""
    g = torch.Generator().manual_seed(0)
    values = [torch.randn(5, dtype=torch.float64, generator=g) for _ in range(2)]
    grads = [[torch.randn(5, dtype=torch.float64, generator=g) for _ in range(2)] for _ in range(3)]
    devices = ("cpu", "cuda")

    def run(indices: list[int]) -> list[torch.Tensor]:
        params = [torch.nn.Parameter(values[i].to(devices[i])) for i in indices]
        keywords = IMPLEMENTATION_KEYWORDS[impl]
        opt = torch.optim.Adam(params, lr=0.1, weight_decay=0.01, **keywords)
        for gs in grads:
            for p, i in zip(params, indices, strict=True):
                p.grad = gs[i].to(devices[i])
            opt.step()
        return [p.detach().cpu() for p in params]

    together = run([0, 1])
    assert torch.equal(together[0], run([0])[0]) and torch.equal(together[1], run([1])[0])
