"""The learning-rate schedule records: each closed form (reference/schedules.py) with its
torch counterpart, parameter space, invariants (the check functions of schedule_checks) and
what those checks need to know (bounds, landmarks, scope, period, ...). The catalog finds them
here as it finds the optimizer records beside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from optcheck.checks.plateau_checks import (
    monotone_floor,
    patience_cooldown,
    plateau_crossval,
    reduction_size,
    resume,
)
from optcheck.checks.records import ScheduleSpec
from optcheck.checks.schedule_checks import (
    bounded,
    cosine_landmarks,
    monotone_nonincreasing,
    nondecreasing_warmup,
    nonnegative,
    one_cycle_landmarks,
    periodic,
    restart_points,
    sequential_continuity,
    step_drops,
    swa_anneal,
)
from optcheck.reference import plateau as P
from optcheck.reference import schedules as R
from optcheck.reference.space import Children, Choice, Flag, Int, IntList, Real
from optcheck.reference.spec import Variant

_TORCH = "torch.optim.lr_scheduler."

# ---------------------------------------------------------------------------------------------
# Bounds and landmarks (paper values) for the invariant checks


def _bounds_between(*levels: float) -> tuple[float, float]:
    return (min(levels), max(levels))


def _cosine_landmarks(base_lr: float, p: Mapping[str, Any]) -> tuple[tuple[int, float], ...]:
    tm, em = p["T_max"], p.get("eta_min", 0.0)
    marks = [(0, base_lr), (tm, em), (2 * tm, base_lr)]  # SGDR eq. (5) at T_cur = 0, T_i
    if tm % 2 == 0:
        marks.append((tm // 2, (base_lr + em) / 2))
    return tuple(sorted(marks))


def _restart_points(
    base_lr: float, p: Mapping[str, Any], n: int = 6
) -> tuple[tuple[int, float], ...]:
    t0, m = p["T_0"], p.get("T_mult", 1)
    # SGDR sec. 3: restart i happens at sum_{j<i} T_0 T_mult^j, where the lr is base again.
    return tuple((t0 * (m**i - 1) // (m - 1) if m > 1 else t0 * i, base_lr) for i in range(n))


def _one_cycle_landmarks(_lr: float, p: Mapping[str, Any]) -> tuple[tuple[float, float], ...]:
    n = R.one_cycle_total(p.get("total_steps"), p.get("epochs"), p.get("steps_per_epoch"))
    initial = p["max_lr"] / p.get("div_factor", 25.0)
    peak = float(p.get("pct_start", 0.3) * n) - 1.0
    marks = [(n - 1, initial / p.get("final_div_factor", 1e4))]
    if peak >= 0:
        marks += [(0, initial), (peak, p["max_lr"])]
    if p.get("three_phase"):
        marks.append((float(2 * p.get("pct_start", 0.3) * n) - 2.0, initial))
    return tuple(sorted(marks))


def _step_landmarks(base_lr: float, p: Mapping[str, Any]) -> tuple[tuple[int, float], ...]:
    s, g = p["step_size"], p.get("gamma", 0.1)
    return tuple((k * s, base_lr * g**k) for k in range(6))


def _warmup_landmarks(base_lr: float, p: Mapping[str, Any]) -> tuple[tuple[int, float], ...]:
    w, tm, em = p["warmup_steps"], p["T_max"], p.get("eta_min", 0.0)
    marks = [(w, base_lr), (w + tm, em)]
    if w > 0:
        marks.append((0, base_lr * p["start_factor"]))
    return tuple(sorted(marks))


def _factor_bounds(base_lr: float, *factors: float) -> tuple[float, float]:
    return _bounds_between(*(base_lr * f for f in factors))


# ---------------------------------------------------------------------------------------------
# The table

_LAMBDAS = (
    R.lambda_inverse_sqrt,
    R.lambda_linear_to_zero_1000,
    R.lambda_halve_every_100,
    R.lambda_one,
    R.lambda_warmup_to_4x,
)
_FACTORS = (R.factor_0999, R.factor_halve_every_100, R.factor_slow_then_fast, R.factor_1001)
_ETA_MIN = Real("eta_min", 0.0, 1e-2, 0.0, special=(0.0,))
# torch takes any gamma for these (no check): above 1 the lr grows, and the decay invariants
# (monotone, bounded) no longer hold, so only the closed-form comparisons draw it.
_GAMMA_ANY = {"gamma": Real("gamma", 0.0, 1.5, 0.1, special=(0.0, 1.0, 1.5))}
# step(epoch) sets last_epoch to any number and these evaluate their closed form (or get_lr)
# there: crossval.schedule_epochs draws fractional epochs.
_FLOAT_EPOCHS = {"float_epochs": True}
# torch documents an int total_iters and takes a float; its get_lr then stops at the floor
# (the variant "torch" of each record that has one, a finding).
_FRACTIONAL_ITERS = {"accepted": {"total_iters": Int("total_iters", 0, 1000, 5, fractions=True)}}

_SEQ_CHILDREN = (
    (("LinearLR", {"start_factor": 0.1, "total_iters": 50}), ("CosineAnnealingLR", {"T_max": 950})),
    (("ConstantLR", {"factor": 0.5, "total_iters": 10}), ("ExponentialLR", {"gamma": 0.995})),
    (
        ("LinearLR", {"start_factor": 0.01, "total_iters": 100}),
        ("StepLR", {"step_size": 200, "gamma": 0.5}),
        ("CosineAnnealingWarmRestarts", {"T_0": 50, "T_mult": 2}),
    ),
)
_CHAINED_CHILDREN = (
    (("ConstantLR", {"factor": 0.25, "total_iters": 20}), ("ExponentialLR", {"gamma": 0.998})),
    (
        ("LinearLR", {"start_factor": 0.1, "total_iters": 100}),
        ("CosineAnnealingLR", {"T_max": 1000}),
    ),
    (
        ("StepLR", {"step_size": 100, "gamma": 0.5}),
        ("MultiStepLR", {"milestones": (150, 600), "gamma": 0.3}),
        ("PolynomialLR", {"total_iters": 900, "power": 0.5}),
    ),
)

_CHAINED_DRAWN = tuple(sorted(R.MULTIPLICATIVE - {"CosineAnnealingLR"}))

_CHAINABLE = {"chainable": True}

RECORDS = (
    ScheduleSpec(
        name="ConstantLR",
        closed_form=R.constant_lr,
        torch_class=_TORCH + "ConstantLR",
        space=(
            Real("factor", 0.0, 1.0, 1.0 / 3, special=(0.0, 1.0)),
            Int("total_iters", 0, 1000, 5),
        ),
        invariants=(nondecreasing_warmup, bounded, nonnegative),
        source="torch docs, ConstantLR",
        constraint=R.constraint_constant,
        variants=(
            Variant(
                "torch",
                R.constant_lr_torch,
                "total_iters=0 or fractional keeps base*factor forever (recursive get_lr)",
                "torch.optim.lr_scheduler.ConstantLR.get_lr",
            ),
        ),
        notes="torch quirk: total_iters=0 never undoes the factor (its own _get_closed_form_lr "
        "says base); factor=0 raises ZeroDivisionError at total_iters.",
        **_CHAINABLE,
        **_FLOAT_EPOCHS,
        **_FRACTIONAL_ITERS,
        bounds=lambda lr, p: _factor_bounds(lr, p.get("factor", 1 / 3), 1.0),
        landmarks=lambda lr, p: ((p["total_iters"], lr),),
    ),
    ScheduleSpec(
        name="StepLR",
        closed_form=R.step_lr,
        torch_class=_TORCH + "StepLR",
        space=(Int("step_size", 1, 1000, 30), Real("gamma", 0.0, 1.0, 0.1, special=(0.0, 1.0))),
        invariants=(monotone_nonincreasing, bounded, nonnegative, step_drops),
        source="torch docs, StepLR",
        constraint=R.constraint_step,
        **_CHAINABLE,
        **_FLOAT_EPOCHS,
        bounds=lambda lr, p: (0.0, lr),
        landmarks=_step_landmarks,
        # torch documents an int step_size and takes a float: get_lr drops where
        # t % step_size == 0, not at floor(t / step_size) (a finding, checks.findings).
        accepted={**_GAMMA_ANY, "step_size": Int("step_size", 1, 1000, 30, fractions=True)},
    ),
    ScheduleSpec(
        name="MultiStepLR",
        closed_form=R.multistep_lr,
        torch_class=_TORCH + "MultiStepLR",
        space=(
            # torch takes milestones in any order and counts repeats (a Counter).
            IntList("milestones", 0, 1000, (30, 80)),
            Real("gamma", 0.0, 1.0, 0.1, special=(0.0, 1.0)),
        ),
        invariants=(monotone_nonincreasing, bounded, nonnegative, step_drops),
        source="torch docs, MultiStepLR",
        constraint=R.constraint_multistep,
        notes="A milestone repeated k times drops by gamma^k; milestone 0 applies at t=0.",
        **_CHAINABLE,
        **_FLOAT_EPOCHS,
        # torch takes negative milestones; its get_lr never meets them, its closed form
        # counts them (a finding, checks.findings).
        accepted={**_GAMMA_ANY, "milestones": IntList("milestones", -3, 1000, (30, 80))},
        bounds=lambda lr, p: (0.0, lr),
        landmarks=lambda lr, p: tuple(
            (m, R.multistep_lr(m, lr, **p)) for m in sorted(set(p["milestones"]))
        ),
    ),
    ScheduleSpec(
        name="ExponentialLR",
        closed_form=R.exponential_lr,
        torch_class=_TORCH + "ExponentialLR",
        space=(Real("gamma", 0.0, 1.0, 0.95, special=(0.0, 1.0)),),
        invariants=(monotone_nonincreasing, bounded, nonnegative),
        source="torch docs, ExponentialLR",
        constraint=R.constraint_exponential,
        notes="gamma^t underflows past ~1000 steps for gamma=0.5; compare above the "
        "subnormal range.",
        **_CHAINABLE,
        **_FLOAT_EPOCHS,
        bounds=lambda lr, p: (0.0, lr),
        accepted={"gamma": replace(_GAMMA_ANY["gamma"], default=0.95)},
    ),
    ScheduleSpec(
        name="CosineAnnealingLR",
        closed_form=R.cosine_annealing_lr,
        torch_class=_TORCH + "CosineAnnealingLR",
        space=(Int("T_max", 1, 10000, 100), _ETA_MIN),
        invariants=(
            monotone_nonincreasing,
            bounded,
            nonnegative,
            cosine_landmarks,
            periodic,
        ),
        source="Loshchilov & Hutter 2017 (SGDR) eq. (5), no restarts",
        constraint=R.constraint_cosine,
        notes="Past T_max torch does not stop at eta_min: it keeps following the cosine and "
        "rises back to base_lr at 2*T_max (period 2*T_max); the paper restarts instead. "
        "torch's recursion evaluates 1+cos(pi t/T) naively, so near t = T_max (2k+1) "
        "its relative error grows like eps*T_max^2 (cancellation), not a bug. eta_min above "
        "the base lr is accepted: the cosine then rises to it (crossval draws it).",
        **_CHAINABLE,
        **_FLOAT_EPOCHS,
        bounds=lambda lr, p: _bounds_between(lr, p.get("eta_min", 0.0)),
        landmarks=_cosine_landmarks,
        period=lambda p: 2 * p["T_max"],
        scope={monotone_nonincreasing: lambda p: (0, p["T_max"])},
        ties_to_base_lr=("eta_min",),
        # torch documents an int T_max and takes a float (a finding, checks.findings).
        accepted={"T_max": Int("T_max", 1, 10000, 100, fractions=True)},
    ),
    ScheduleSpec(
        name="CosineAnnealingWarmRestarts",
        closed_form=R.cosine_annealing_warm_restarts,
        torch_class=_TORCH + "CosineAnnealingWarmRestarts",
        space=(Int("T_0", 1, 1000, 10), Int("T_mult", 1, 4, 1), _ETA_MIN),
        invariants=(bounded, nonnegative, restart_points, periodic),
        source="Loshchilov & Hutter 2017 (SGDR) eq. (5), sec. 3 (T_i = T_0 * T_mult^i)",
        constraint=R.constraint_restarts,
        variants=(
            Variant(
                "torch_epoch",
                R.cosine_annealing_warm_restarts_torch_epoch,
                "step(epoch): cycle index from a float log, can land one cycle short",
                "torch.optim.lr_scheduler.CosineAnnealingWarmRestarts.step",
            ),
        ),
        notes="Integer steps never reach eta_min: T_cur runs 0..T_i-1 and restarts at T_i "
        "(the paper's eta_min at T_cur = T_i is only reached by fractional epochs). "
        "torch's step(epoch) finds the cycle by int(math.log(x, T_mult)), which is one "
        "cycle short where the log rounds below an integer (e.g. T_0=1, T_mult=10, "
        "epoch=111 gives eta_min instead of a restart at base_lr).",
        bounds=lambda lr, p: _bounds_between(lr, p.get("eta_min", 0.0)),
        landmarks=_restart_points,
        period=lambda p: p["T_0"],
        scope={periodic: lambda p: (0, None) if p.get("T_mult", 1) == 1 else None},
        float_epochs=True,
        ties_to_base_lr=("eta_min",),
    ),
    ScheduleSpec(
        name="LinearLR",
        closed_form=R.linear_lr,
        torch_class=_TORCH + "LinearLR",
        space=(
            Real("start_factor", 1e-3, 1.0, 1.0 / 3, special=(1.0,)),
            Real("end_factor", 0.0, 1.0, 1.0, special=(0.0, 1.0)),
            Int("total_iters", 0, 1000, 5),
        ),
        invariants=(nondecreasing_warmup, monotone_nonincreasing, bounded, nonnegative),
        source="torch docs, LinearLR",
        constraint=R.constraint_linear,
        variants=(
            Variant(
                "torch",
                R.linear_lr_torch,
                "total_iters=0 holds base*start_factor forever, a fractional one stops at "
                "its floor (recursive get_lr)",
                "torch.optim.lr_scheduler.LinearLR.get_lr",
            ),
        ),
        notes="torch quirk: total_iters=0 keeps start_factor forever (the closed form "
        "_get_closed_form_lr divides by zero there).",
        **_CHAINABLE,
        **_FLOAT_EPOCHS,
        **_FRACTIONAL_ITERS,
        bounds=lambda lr, p: _factor_bounds(
            lr, p.get("start_factor", 1 / 3), p.get("end_factor", 1.0)
        ),
        scope={
            nondecreasing_warmup: lambda p: (
                (0, None) if p.get("start_factor", 1 / 3) <= p.get("end_factor", 1.0) else None
            ),
            monotone_nonincreasing: lambda p: (
                (0, None) if p.get("start_factor", 1 / 3) >= p.get("end_factor", 1.0) else None
            ),
        },
    ),
    ScheduleSpec(
        name="PolynomialLR",
        closed_form=R.polynomial_lr,
        torch_class=_TORCH + "PolynomialLR",
        space=(
            Int("total_iters", 0, 1000, 5),
            Real("power", 0.0, 5.0, 1.0, special=(0.0, 1.0, 2.0)),
        ),
        invariants=(monotone_nonincreasing, bounded, nonnegative),
        source="torch docs, PolynomialLR ('poly' policy of Chen et al. 2017, DeepLab)",
        constraint=R.constraint_polynomial,
        variants=(
            Variant(
                "torch",
                R.polynomial_lr_torch,
                "total_iters=0 keeps base_lr forever, a fractional one stops at its floor",
                "torch.optim.lr_scheduler.PolynomialLR.get_lr",
            ),
        ),
        notes="torch quirk: total_iters=0 keeps base_lr forever (its closed form divides by "
        "zero); the mathematical limit is 0 (decay already complete).",
        **_CHAINABLE,
        **_FLOAT_EPOCHS,
        **_FRACTIONAL_ITERS,
        bounds=lambda lr, p: (0.0, lr),
    ),
    ScheduleSpec(
        name="OneCycleLR",
        closed_form=R.one_cycle_lr,
        torch_class=_TORCH + "OneCycleLR",
        space=(
            Real("max_lr", 1e-4, 10.0, 0.1, log=True),
            Int("total_steps", 1, 10000, 1000),
            Real("pct_start", 0.0, 1.0, 0.3, special=(0.0, 0.5, 1.0)),
            Choice("anneal_strategy", ("cos", "linear"), "cos"),
            Flag("cycle_momentum", True),
            Real("base_momentum", 0.5, 0.99, 0.85),
            Real("max_momentum", 0.5, 0.999, 0.95),
            Real("div_factor", 1.0, 1e3, 25.0, log=True),
            Real("final_div_factor", 1.0, 1e5, 1e4, log=True),
            Flag("three_phase", False),
        ),
        invariants=(one_cycle_landmarks, bounded, nonnegative),
        source="Smith & Topin 2019 (arXiv:1708.07120) 1cycle; "
        "Smith 2018 (arXiv:1803.09820) momentum",
        constraint=R.constraint_one_cycle,
        momentum=R.one_cycle_momentum,
        variants=(
            Variant(
                "torch",
                R.one_cycle_lr_torch,
                "extrapolates the last phase at t = total_steps",
                "torch.optim.lr_scheduler.OneCycleLR.get_lr",
            ),
        ),
        notes="torch defaults to two phases and cosine annealing (fastai); the paper has three "
        "linear phases (three_phase=True, anneal_strategy='linear'). Peak at "
        "t = float(pct_start*N) - 1, exact only where that is an integer. torch accepts "
        "t = total_steps and extrapolates there (linear: below zero); raises past it. "
        "Momentum cycles inversely (betas[0] for Adam-family).",
        bounds=lambda _lr, p: _bounds_between(
            0.0, *(v for k, v in R.one_cycle_levels(p).items() if not k.endswith("_m"))
        ),
        per_group=("max_lr", "base_momentum", "max_momentum"),
        # torch takes any divisor: below 1 the start (and end) lie above max_lr.
        accepted={
            "div_factor": Real("div_factor", 0.1, 1e3, 25.0, log=True, special=(1.0,)),
            "final_div_factor": Real("final_div_factor", 0.1, 1e5, 1e4, log=True),
        },
        **_FLOAT_EPOCHS,
        landmarks=_one_cycle_landmarks,
        ignores_optimizer_lr=True,
        horizon=lambda p: R.one_cycle_total(
            p.get("total_steps"), p.get("epochs"), p.get("steps_per_epoch")
        ),
        scope={
            bounded: lambda p: (
                0,
                R.one_cycle_total(p.get("total_steps"), p.get("epochs"), p.get("steps_per_epoch"))
                - 1,
            ),
            nonnegative: lambda p: (
                0,
                R.one_cycle_total(p.get("total_steps"), p.get("epochs"), p.get("steps_per_epoch"))
                - 1,
            ),
        },
    ),
    ScheduleSpec(
        name="CyclicLR",
        closed_form=R.cyclic_lr,
        torch_class=_TORCH + "CyclicLR",
        space=(
            Real("base_lr", 1e-5, 1.0, 1e-3, log=True),
            Real("max_lr", 1e-5, 1.0, 1e-2, log=True),
            Int("step_size_up", 1, 5000, 2000),
            Choice("step_size_down", (None, 0, 1, 10, 500, 2000), None),
            Choice("mode", ("triangular", "triangular2", "exp_range"), "triangular"),
            Real("gamma", 0.99, 1.0, 1.0, special=(1.0,)),
            Choice("scale_fn", (None, R.scale_inverse_cycle, R.scale_exp_iterations), None),
            Choice("scale_mode", ("cycle", "iterations"), "cycle"),
            Flag("cycle_momentum", True),
            Real("base_momentum", 0.5, 0.99, 0.8),
            Real("max_momentum", 0.5, 0.999, 0.9),
        ),
        invariants=(bounded, nonnegative, periodic),
        source="Smith 2017 (cyclical learning rates) sec. 3.1; torch docs, CyclicLR",
        constraint=R.constraint_cyclic,
        momentum=R.cyclic_momentum,
        notes="mode's own scale_mode wins over the scale_mode keyword unless scale_fn is "
        "given. The optimizer's lr is overwritten by base_lr. Periodic only for "
        "'triangular' without scale_fn. Momentum cycles inversely (betas[0] for "
        "Adam-family, same closed form).",
        bounds=lambda _lr, p: _bounds_between(p["base_lr"], p["max_lr"]),
        per_group=("base_lr", "max_lr", "base_momentum", "max_momentum"),
        ignores_optimizer_lr=True,
        # torch converts both step sizes with float(): fractional ones are accepted.
        accepted={
            # exp_range with gamma > 1: the amplitude grows (bounded no longer holds).
            "gamma": Real("gamma", 0.99, 1.01, 1.0, special=(1.0,)),
            "step_size_up": Real("step_size_up", 1.0, 100.0, 20.0, log=True, special=(1.5,)),
            "step_size_down": Choice("step_size_down", (None, 0, 0.5, 1, 2.5, 10, 37.5), None),
        },
        **_FLOAT_EPOCHS,
        period=lambda p: (
            p.get("step_size_up", 2000)
            + (
                p.get("step_size_down")
                if p.get("step_size_down") is not None
                else p.get("step_size_up", 2000)
            )
        ),
        scope={
            periodic: lambda p: (
                (0, None)
                if p.get("scale_fn") is None and p.get("mode", "triangular") == "triangular"
                else None
            )
        },
    ),
    ScheduleSpec(
        name="LambdaLR",
        closed_form=R.lambda_lr,
        torch_class=_TORCH + "LambdaLR",
        space=(Choice("lr_lambda", _LAMBDAS, R.lambda_inverse_sqrt),),
        invariants=(nonnegative,),
        source="torch docs, LambdaLR",
        constraint=R.constraint_lambda,
        notes="Composite: the user's lr_lambda(t) is the whole schedule.",
        per_group=("lr_lambda",),
        **_FLOAT_EPOCHS,
    ),
    ScheduleSpec(
        name="MultiplicativeLR",
        closed_form=R.multiplicative_lr,
        torch_class=_TORCH + "MultiplicativeLR",
        space=(Choice("lr_lambda", _FACTORS, R.factor_0999),),
        invariants=(nonnegative,),
        source="torch docs, MultiplicativeLR",
        constraint=R.constraint_lambda,
        notes="lr_lambda(0) is never applied: t=0 is base_lr, then t multiplies by lr_lambda(t).",
        per_group=("lr_lambda",),
        **_CHAINABLE,
    ),
    ScheduleSpec(
        name="SequentialLR",
        closed_form=R.sequential_lr,
        torch_class=_TORCH + "SequentialLR",
        space=(
            Choice("schedulers", _SEQ_CHILDREN, _SEQ_CHILDREN[0]),
            Choice("milestones", ((50,), (100,), (0,), (100, 400), (100, 100)), (50,)),
        ),
        invariants=(nonnegative,),
        source="torch docs and source, SequentialLR.step",
        constraint=R.constraint_sequential,
        notes="Children are (name or spec, params). At milestone m_k torch calls "
        "child._update_lr(0), so child k's own t restarts at 0 from base_lr (its closed "
        "form where it has one). MultiplicativeLR after a milestone does not restart "
        "(multiplies the previous lr by lr_lambda(0)); OneCycleLR/CyclicLR overwrite "
        "initial_lr and are excluded. Repeated milestones skip a child; milestone 0 "
        "skips the first.",
        chainable=True,
        # Any restartable children with their own drawn parameters, milestones to match.
        accepted={
            "schedulers": Children(
                "schedulers", tuple(sorted(R.RESTARTABLE)), _SEQ_CHILDREN[0], milestones=True
            )
        },
    ),
    ScheduleSpec(
        name="ChainedScheduler",
        closed_form=R.chained_scheduler,
        torch_class=_TORCH + "ChainedScheduler",
        space=(Choice("schedulers", _CHAINED_CHILDREN, _CHAINED_CHILDREN[0]),),
        invariants=(nonnegative,),
        source="torch docs, ChainedScheduler",
        constraint=R.constraint_chained,
        notes="A product of factors only for multiplicative children. CosineAnnealingLR "
        "(eta_min=0) is a factor only up to T_max: past it torch adds "
        "base*(1-cos(pi/T_max))/2 and the product breaks. Non-chainable children "
        "(LambdaLR, CyclicLR, OneCycleLR, CAWR) overwrite the product.",
        chainable=True,
        scope={nonnegative: lambda p: (0, None)},
        # Children drawn with their own parameters; CosineAnnealingLR only in the fixed cases
        # (T_max beyond the run): past T_max it is additive, not a factor (notes).
        accepted={"schedulers": Children("schedulers", _CHAINED_DRAWN, _CHAINED_CHILDREN[0])},
    ),
    ScheduleSpec(
        name="WarmupCosine",
        closed_form=R.warmup_cosine,
        torch_class=_TORCH + "SequentialLR",
        space=(
            Real("start_factor", 1e-3, 1.0, 0.1, special=(1.0,)),
            Int("warmup_steps", 0, 1000, 100),
            Int("T_max", 1, 10000, 900),
            _ETA_MIN,
        ),
        invariants=(
            nondecreasing_warmup,
            sequential_continuity,
            cosine_landmarks,
            bounded,
            nonnegative,
        ),
        source="Goyal et al. 2017 sec. 2.2 warmup + Loshchilov & Hutter 2017 eq. (5)",
        constraint=R.constraint_warmup_cosine,
        notes="Named composite: torch SequentialLR([LinearLR(start_factor, 1.0, warmup_steps),"
        " CosineAnnealingLR(T_max, eta_min)], milestones=[warmup_steps]). Continuous at "
        "the milestone (the warmup ends at base_lr where the cosine starts).",
        chainable=True,
        recipe=R.warmup_cosine_recipe,
        bounds=lambda lr, p: _bounds_between(
            lr, p.get("eta_min", 0.0), lr * p.get("start_factor", 0.1)
        ),
        landmarks=_warmup_landmarks,
        scope={
            nondecreasing_warmup: lambda p: (0, p["warmup_steps"]),
            bounded: lambda p: (0, p["warmup_steps"] + p["T_max"]),
        },
    ),
    ScheduleSpec(
        name="SWALR",
        closed_form=R.swalr,
        torch_class="torch.optim.swa_utils.SWALR",
        space=(
            Real("swa_lr", 1e-4, 10.0, 0.05, log=True),
            Int("anneal_epochs", 0, 1000, 10),
            Choice("anneal_strategy", ("cos", "linear"), "cos"),
        ),
        invariants=(swa_anneal, bounded, nonnegative),
        source="torch docs, torch.optim.swa_utils.SWALR; Izmailov et al. 2018 "
        "(arXiv:1803.05407) sec. 3, the constant SWA lr",
        constraint=R.constraint_swalr,
        notes="torch's get_lr inverts the previous step's interpolation to recover the "
        "optimizer's lr (it keeps no base_lrs of its own) and counts epochs with _step_count, "
        "not last_epoch.",
        bounds=lambda lr, p: _bounds_between(lr, p.get("swa_lr", 0.05)),
        landmarks=lambda lr, p: ((p["anneal_epochs"], p["swa_lr"]),),
        per_group=("swa_lr",),
    ),
    ScheduleSpec(
        name="ReduceLROnPlateau",
        closed_form=P.plateau_lr,
        torch_class=_TORCH + "ReduceLROnPlateau",
        space=(
            Choice("mode", ("min", "max"), "min"),
            Real("factor", 0.0, 0.99, 0.1, special=(0.0, 0.5)),
            Int("patience", 0, 20, 10),
            Real("threshold", 0.0, 0.5, 1e-4, special=(0.0, 1e-4)),
            Choice("threshold_mode", ("rel", "abs"), "rel"),
            Int("cooldown", 0, 10, 0),
            Real("min_lr", 0.0, 1e-2, 0.0, special=(0.0,)),
            Real("eps", 0.0, 1.0, 1e-8, special=(0.0, 1e-8)),
        ),
        invariants=(plateau_crossval, monotone_floor, patience_cooldown, reduction_size, resume),
        source="torch docs, ReduceLROnPlateau (mode, threshold_mode, patience, cooldown, "
        "min_lr, eps)",
        constraint=P.constraint_plateau,
        notes="Metric-driven: step(metric) decides, so the checks draw metric sequences "
        "(checks/kit/plateau.py). In 'rel' mode with a negative best the threshold works the "
        "other way (best*(1-threshold) lies above best in 'min' mode), as the docs' formula "
        "says. min_lr may be a per-group list.",
        metric_driven=True,
    ),
)
