"""Known upstream findings: where torch itself breaks a check, and why. One table.

Each ``Finding`` names the test that reproduces it (which also fails once torch fixes it) and
the torch issue where one exists. The runner asks one question here: is this violation, on
this target, a known torch finding? Then the report says "known" with the reason instead of
failing torch's own classes for torch's bugs. A third party's class that behaves the same way
still gets a violation: the bug is theirs to ship.

A finding no check reaches, because an error model leaves its inputs out of its domain (and
says why): torch's Muon raises ZeroDivisionError for a zero-column matrix (_adjust_lr divides
by the column count; Muon's ErrorModel.no_empty_tensors, tests/test_structural_records.py).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from optcheck.checks.target import OptimizerTarget, ScheduleTarget
from optcheck.reference.space import Dimension, Int, IntList, Real


@dataclass(frozen=True)
class Finding:
    why: str
    test: str  # "tests/<file>.py::<test>" that reproduces it
    issue: str | None = None  # the torch issue or pull request, pytorch/pytorch#N
    # Keywords that trigger it, and (optimizers) that avoid it.
    trigger: Mapping[str, Any] = field(default_factory=dict)
    avoid: Mapping[str, Any] = field(default_factory=dict)
    # A restriction of the spec's space (dimension replacements) inside which torch passes.
    outside: Mapping[str, Dimension] | None = None
    # The torch code paths that have it (None: every one, or not an optimizer).
    implementations: tuple[str, ...] | None = None
    # Part of the violation's message: known only where the violation says it (another
    # violation of the same check stays one).
    message: str = ""
    # Triggered by a zero-size parameter, whatever the keywords: contract.param_kinds meets it
    # (and the run then draws no empty tensors, Settings.skip_kinds).
    empty_tensor: bool = False
    dtype: str | None = None  # known only in runs of this dtype (None: any)
    # Avoided by running torch under this default dtype (torch.set_default_dtype): a class
    # that keeps state in the default dtype, validated in float64, is then checked, not
    # excused (suites.prepare sets it for torch's own class and says so).
    default_dtype: str | None = None


_BOTH = ("forloop", "foreach")
_CONTRACT_TEST = "tests/test_contract_checks.py::test_torch_finding_is_reported"
_SCHEDULE_TEST = "tests/test_schedule_crossval.py::test_torch_finding_reproduces"
_ISSUE = "pytorch/pytorch#"  # GitHub's reference to an issue or pull request

# Adafactor's α = max(ε2, RMS(θ))·ρ_t divides ‖θ‖ by √numel as Python floats: a zero-size
# parameter raises ZeroDivisionError in step() (forloop and foreach), where every other
# torch.optim class steps over it. Every check that draws contract problems meets it
# (contract.dtype reports a raising step as "dtype not supported", not as a violation).
_ADAFACTOR_EMPTY = Finding(
    "torch.optim.Adafactor computes RMS(θ) = ‖θ‖/√numel as Python floats "
    "(param.norm(2).item() / param.numel() ** 0.5): a zero-size parameter raises "
    "ZeroDivisionError in step(); every other torch.optim class steps over it",
    _CONTRACT_TEST,
    implementations=_BOTH,
    message="ZeroDivisionError",
    empty_tensor=True,
)
_EMPTY_TENSOR_CHECKS = (
    "contract.param_kinds",
    "contract.resume",
    "contract.grad_none",
    "contract.param_groups",
    "contract.lr_change",
    "contract.grad_unchanged",
    "contract.closure",
    "contract.maximize",
    "contract.zero_params",
    "contract.zero_lr",
    "contract.finite",
    "contract.determinism",
    "interplay.optimizer_lr",
    "interplay.optimizer_lr_reference",
)

_NORMAL_FACTOR = {"factor": Real("factor", 1e-300, 1.0, 1.0 / 3, special=(1.0,))}
_TOTAL_ITERS_POSITIVE = {"total_iters": Int("total_iters", 1, 1000, 5)}
# total_iters=0: torch's forms hold their start value where the closed form has ended.
_ZERO_ITERS = {
    "ConstantLR": Finding(
        "total_iters=0 keeps base*factor for ever; torch's own closed form gives base "
        "(spec variant ConstantLR:torch); so does a fractional total_iters (no epoch equals it)",
        _SCHEDULE_TEST,
        _ISSUE + "192655",
        trigger={"factor": 0.5, "total_iters": 0},
        outside={**_TOTAL_ITERS_POSITIVE, **_NORMAL_FACTOR},
    ),
    "LinearLR": Finding(
        "total_iters=0 holds base*start_factor for ever instead of end_factor, a fractional "
        "total_iters stops at its floor short of end_factor (spec variant LinearLR:torch)",
        _SCHEDULE_TEST,
        trigger={"start_factor": 0.5, "end_factor": 1.0, "total_iters": 0},
        outside=_TOTAL_ITERS_POSITIVE,
    ),
    "PolynomialLR": Finding(
        "total_iters=0 keeps base_lr for ever; the decay is complete at t=0, so the limit is 0; "
        "a fractional total_iters stops at its floor, short of 0 (spec variant PolynomialLR:torch)",
        _SCHEDULE_TEST,
        trigger={"total_iters": 0, "power": 1.0},
        outside=_TOTAL_ITERS_POSITIVE,
    ),
}
# step(epoch) evaluates torch's _get_closed_form_lr, which divides by total_iters.
_ZERO_ITERS_EPOCH = Finding(
    "step(epoch) with total_iters=0 raises ZeroDivisionError: _get_closed_form_lr divides "
    "by total_iters (step() without an epoch holds the start value, the total_iters=0 finding)",
    _SCHEDULE_TEST,
    trigger={"total_iters": 0},
    outside=_TOTAL_ITERS_POSITIVE,
)
# Accepted inputs outside the documented types (records' ``accepted``), where torch's step()
# (its recursive get_lr) departs from the formula its own _get_closed_form_lr computes.
_FLOAT_STEP_SIZE = Finding(
    "a fractional step_size (documented int, accepted): get_lr drops only where "
    "t % step_size == 0 (never, or at multiples), the documented gamma^floor(t / step_size) "
    "drops at every crossing; step(epoch) uses the closed form and agrees with it",
    _SCHEDULE_TEST,
    trigger={"step_size": 1.5, "gamma": 0.5},
    outside={"step_size": Int("step_size", 1, 1000, 30)},
)
_NEGATIVE_MILESTONE = Finding(
    "a negative milestone (accepted): get_lr looks last_epoch up in the milestones and never "
    "meets it, while torch's own _get_closed_form_lr (bisect_right) counts it from t = 0",
    _SCHEDULE_TEST,
    trigger={"milestones": (-1, 3), "gamma": 0.5},
    outside={"milestones": IntList("milestones", 0, 1000, (30, 80))},
)
_FLOAT_T_MAX = Finding(
    "a fractional T_max (documented int, accepted) whose odd multiple is an integer "
    "(T_max = 4/3: 4 = 3 T_max): the step after the trough divides by 1 + cos(3 pi) = 0, "
    "ZeroDivisionError; the special case torch added for that (#19180) tests the trough "
    "with an exact float modulo, which a rounded T_max misses",
    _SCHEDULE_TEST,
    _ISSUE + "17913",
    trigger={"T_max": 4 / 3},
    outside={"T_max": Int("T_max", 1, 10000, 100)},
)
_TINY_FACTOR = Finding(
    "factor below ~5.6e-309 (subnormal): at total_iters torch multiplies by 1/factor, which "
    "overflows, and the lr becomes inf (or NaN where base*factor underflowed to 0)",
    _SCHEDULE_TEST,
    trigger={"factor": 5e-324, "total_iters": 1},
    outside=_NORMAL_FACTOR,
)
_SEQUENTIAL_LAST_EPOCH = _ISSUE + "162591"
_SGDR_LOG_CYCLE = Finding(
    "step(epoch) finds the cycle by int(math.log(epoch / T_0 * (T_mult - 1) + 1, T_mult)); "
    "math.log(243, 3) = 4.999999999999999, so epoch 121 (T_0=1, T_mult=3), a restart, gets "
    "eta_min (spec variant CosineAnnealingWarmRestarts:torch_epoch); the only such epoch "
    "up to 192 for T_mult <= 4",
    _SCHEDULE_TEST,
    trigger={"T_0": 1, "T_mult": 3},
    outside={"T_0": Int("T_0", 2, 1000, 10)},
)

# (torch class name, check id) -> the finding.
TORCH_FINDINGS: dict[tuple[str, str], Finding] = {
    # --- optimizers: the contract ---
    ("SGD", "contract.grad_unchanged"): Finding(
        "_multi_tensor_sgd adds momentum·buf into p.grad in place (torch._foreach_add_ on "
        "device_grads) when nesterov=True, weight_decay=0 and maximize=False; the forloop and "
        "fused implementations do not",
        _CONTRACT_TEST,
        trigger={"momentum": 0.9, "dampening": 0.0, "nesterov": True, "weight_decay": 0.0},
        avoid={"nesterov": False},
        implementations=("foreach",),
        message="modified p.grad",
    ),
    ("SGD", "contract.grad_none"): Finding(
        "_fused_sgd passes the momentum buffers as a list; a parameter whose first gradient "
        "arrives after the others have buffers contributes None and the kernel raises TypeError",
        _CONTRACT_TEST,
        trigger={"momentum": 0.9},
        avoid={"momentum": 0.0},
        implementations=("fused",),
        message="expected Tensor as element 1",
    ),
    # NAdam keeps mu_product (Π μ_k, the momentum bias correction) in a 0-d tensor of the
    # default dtype (float32) and multiplies it in float32 (mu_product *= mu).
    ("NAdam", "contract.dtype"): Finding(
        "NAdam keeps mu_product as a 0-d tensor of torch's default dtype (float32) and "
        "updates it in float32 arithmetic, so float64 parameters get a float32 bias "
        "correction (the float64 trajectory moves by ~1e-10 against a float64 product)",
        _CONTRACT_TEST,
        implementations=_BOTH,
        message="state['mu_product']",
    ),
    ("NAdam", "contract.resume"): Finding(
        "load_state_dict casts NAdam's float32 mu_product to the parameter's dtype "
        "(float64), so a resumed run continues its bias correction in float64 while the "
        "uninterrupted run keeps float32: the trajectories part after resuming",
        _CONTRACT_TEST,
        implementations=_BOTH,
        message="differs from the uninterrupted run",
    ),
    # ASGD keeps η, μ as 0-d float32 tensors, but their storage changes nothing (η is
    # recomputed in float32 each step: widened, the run is the same), so contract.dtype passes;
    # the float32 η itself parts the float64 trajectory from the reference (below).
    **{
        ("ASGD", check_id): Finding(
            "float64 ASGD steps with fl32(η): torch keeps eta in its default dtype "
            "(float32), a relative error ~6e-8 of every step, far above float64 round-off; "
            "with torch.set_default_dtype(torch.float64) torch follows the float64 reference",
            _CONTRACT_TEST,
            implementations=_BOTH,
            message="trajectory parts from ASGD",
            dtype="float64",
            default_dtype="float64",
        )
        for check_id in ("crossval.trajectory", "crossval.scheduled_lr")
    },
    # Without --like the contract assumes lr = 0 freezes; with --like Rprop the reference
    # (which clamps Δ_0 as torch does) decides, and the check passes.
    ("Rprop", "contract.zero_lr"): Finding(
        "documented behaviour: lr is only Rprop's initial step size Δ_0, clamped into "
        "step_sizes on the first step, so lr = 0 still moves every parameter by "
        "step_sizes[0] (1e-6 by default)",
        "tests/test_contract_checks.py::test_torch_finding_rprop_moves_at_lr_zero",
        implementations=_BOTH,
        message="lr is 0",
    ),
    ("Adagrad", "contract.param_groups"): Finding(
        "Adagrad initialises every state_sum in __init__ from the constructor's "
        "initial_accumulator_value (self.defaults), so a param group overriding "
        "initial_accumulator_value is ignored",
        _CONTRACT_TEST,
        avoid={"initial_accumulator_value": 0.0},
        implementations=(*_BOTH, "fused"),  # __init__ fills the state whatever the path
        message="differ from two separate optimizers",
    ),
    **{("Adafactor", check_id): _ADAFACTOR_EMPTY for check_id in _EMPTY_TENSOR_CHECKS},
    **{
        ("ASGD", check_id): Finding(
            "torch.optim.ASGD keeps eta in a 0-d tensor of torch's default dtype (float32): "
            "float64 parameters step with fl32(η), a relative error ~6e-8 of every step, far "
            "above float64 round-off; with torch.set_default_dtype(torch.float64) the check passes",
            "tests/test_invariants_b.py::test_asgd_eta_is_a_known_finding",
        )
        for check_id in ("asgd.first_step", "asgd.eta_schedule")
    },
    **{
        ("LBFGS", check_id): Finding(
            "torch's strong-Wolfe zoom calls _cubic_interpolate on a bracket whose ends "
            "coincide (x1 == x2 as Python floats) and raises ZeroDivisionError; in float16 "
            "a 1-D quadratic reaches it in the first step (a guard was proposed in 2020 and "
            "not merged)",
            "tests/test_lbfgs_record.py::test_torch_finding_zoom_divides_by_zero",
            _ISSUE + "42093",
            trigger={"line_search_fn": "strong_wolfe"},
            message="ZeroDivisionError",
            dtype="float16",
        )
        for check_id in ("lbfgs.sufficient_decrease", "crossval.closure_trajectory")
    },
    # --- optimizers under a scheduler ---
    ("ASGD", "interplay.optimizer_lr"): Finding(
        "finding: steps with state['eta'], computed from group['lr'] after the previous step, "
        "so a scheduler's lr takes effect one step late (open)",
        "tests/test_interplay.py::test_torch_optimizer_finding_reproduces",
        _ISSUE + "74884",
    ),
    ("ASGD", "interplay.optimizer_lr_reference"): Finding(
        "finding: torch keeps eta in its default dtype (float32), so float64 parameters step "
        "with fl32(η), ~6e-8 of every step off the float64 reference (as ASGD contract.dtype)",
        "tests/test_interplay.py::"
        "test_torch_asgd_finding_float32_eta_parts_from_the_reference_under_a_scheduler",
    ),
    ("Rprop", "interplay.optimizer_lr"): Finding(
        "documented behaviour: lr only initialises the per-element step sizes (torch docs, "
        "Rprop algorithm: eta_0 <- lr), so a scheduler has no effect after the first step",
        "tests/test_interplay.py::test_torch_optimizer_finding_reproduces",
    ),
    # --- schedulers ---
    ("CosineAnnealingWarmRestarts", "crossval.schedule_epochs"): _SGDR_LOG_CYCLE,
    ("LinearLR", "crossval.schedule_epochs"): _ZERO_ITERS_EPOCH,
    **{
        (name, check_id): finding
        for name, finding in (
            ("StepLR", _FLOAT_STEP_SIZE),
            ("MultiStepLR", _NEGATIVE_MILESTONE),
            ("CosineAnnealingLR", _FLOAT_T_MAX),
        )
        for check_id in ("crossval.schedule", "crossval.schedule_groups")
    },
    ("PolynomialLR", "crossval.schedule_epochs"): _ZERO_ITERS_EPOCH,
    **{
        (name, check_id): finding
        for name, finding in _ZERO_ITERS.items()
        for check_id in (
            "crossval.schedule",
            "crossval.schedule_groups",
            "interplay.schedule_applied_lr",
        )
    },
    **{
        ("ConstantLR", check_id): _TINY_FACTOR
        for check_id in (
            "schedule.bounded",
            "schedule.nonnegative",
            "schedule.nondecreasing_warmup",
        )
    },
    ("StepLR", "contract.schedule_last_epoch"): Finding(
        "rebuilt at a drop epoch on the restored optimizer, the constructor's step multiplies "
        "by gamma again: StepLR.get_lr lacks the _is_initial guard ExponentialLR has (the "
        "recursion trusts group['lr'])",
        _SCHEDULE_TEST,
        _ISSUE + "29697",
        trigger={"step_size": 3, "gamma": 0.5},
    ),
    ("MultiStepLR", "contract.schedule_last_epoch"): Finding(
        "as StepLR, at a milestone",
        _SCHEDULE_TEST,
        trigger={"milestones": (5, 5, 20), "gamma": 0.5},
    ),
    ("ConstantLR", "contract.schedule_last_epoch"): Finding(
        "rebuilt at total_iters, the constructor's step divides by factor again (2x base)",
        _SCHEDULE_TEST,
        trigger={"factor": 0.5, "total_iters": 4},
    ),
    ("CosineAnnealingWarmRestarts", "contract.schedule_last_epoch"): Finding(
        "the constructor resets T_i to T_0: past the first restart with T_mult > 1 the cycle "
        "length is wrong (fix PR #110497 closed unmerged)",
        _SCHEDULE_TEST,
        _ISSUE + "88791",
        trigger={"T_0": 2, "T_mult": 2},
        outside={"T_mult": Int("T_mult", 1, 1, 1)},
    ),
    ("SequentialLR", "contract.schedule_last_epoch"): Finding(
        "last_epoch only moves SequentialLR's own counter; the children start from scratch",
        _SCHEDULE_TEST,
        _SEQUENTIAL_LAST_EPOCH,
    ),
    ("WarmupCosine", "contract.schedule_last_epoch"): Finding(
        "a SequentialLR: as SequentialLR",
        _SCHEDULE_TEST,
        _SEQUENTIAL_LAST_EPOCH,
        trigger={"warmup_steps": 5},
    ),
    ("SWALR", "contract.schedule_last_epoch"): Finding(
        "SWALR counts its anneal with _step_count, which every constructor starts at 0, and "
        "recovers the start lr from group['lr']: rebuilt with last_epoch=k-1 mid-anneal, it "
        "anneals again from the lr it finds, over anneal_epochs more steps (no torch issue found)",
        _SCHEDULE_TEST,
        trigger={"anneal_epochs": 6, "anneal_strategy": "linear"},
    ),
}


def reproduced_by(test: str) -> dict[tuple[str, str], Finding]:
    """The findings ``test`` (``tests/<file>.py::<name>``) reproduces."""
    return {key: f for key, f in TORCH_FINDINGS.items() if f.test == test}


def lookup(name: str, impl: str, check_id: str) -> Finding | None:
    """The finding of torch's class ``name`` in code path ``impl`` for ``check_id``."""
    f = TORCH_FINDINGS.get((name, check_id))
    if f is None or (f.implementations is not None and impl not in f.implementations):
        return None
    return f


def default_dtype_finding(target: OptimizerTarget | ScheduleTarget) -> Finding | None:
    """torch's own class's known finding that the default dtype avoids, if it has one."""
    name = _torch_name(target)
    found = (f for (cls, _), f in TORCH_FINDINGS.items() if cls == name and f.default_dtype)
    return next(found, None) if name is not None else None


def _torch_name(target: OptimizerTarget | ScheduleTarget) -> str | None:
    """The class name when the target is torch's own optimizer or scheduler class: the very
    class object torch exports under that name, not one that only says it is torch's (a
    ``__module__`` of ``torch.optim...`` is a string anyone can set)."""
    factory = target.factory
    module = getattr(factory, "__module__", "") or ""
    if not isinstance(factory, type) or not module.startswith("torch.optim"):
        return None
    name = factory.__name__
    homes = (sys.modules.get(module), sys.modules.get("torch.optim"))
    homes += (sys.modules.get("torch.optim.lr_scheduler"),)
    if not any(home is not None and getattr(home, name, None) is factory for home in homes):
        return None
    return name


def implementation(keywords: Mapping[str, Any], device: str) -> str:
    """Which torch code path runs: fused, foreach (the CUDA default) or forloop."""
    if keywords.get("fused"):
        return "fused"
    foreach = keywords.get("foreach")
    if foreach or (foreach is None and device.startswith("cuda")):
        return "foreach"
    return "forloop"


def known_finding(
    target: OptimizerTarget | ScheduleTarget,
    check_id: str,
    fixed_hp: Mapping[str, Any],
    device: str,
    detail: str | None = None,
    dtype: str | None = None,
) -> str | None:
    """The reason (and issue) when this violation is a known finding of torch's own class."""
    name = _torch_name(target)
    if name is None:
        return None
    f = lookup(name, implementation({**target.fixed, **fixed_hp}, device), check_id)
    if f is None or f.dtype not in (None, dtype):
        return None
    if f.message and (detail is None or f.message not in detail):
        return None  # another violation of the same check stays one
    return f"{f.why} ({f.issue})" if f.issue else f.why
