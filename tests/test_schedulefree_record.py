"""Schedule-Free AdamW and SGD as catalog records: correct ports pass every check, each
invariant and the cross-validation fail on broken ports (tests/zoo/schedulefree.py), variants
are named, the set-up call ``train()`` reaches every check (issue 11), and the real packages'
verdicts are the ones their code earns, each finding reproduced by hand below.

Real packages. schedulefree 1.4.1 (realworld corpus only: not in the test extra) computes
Alg. 1 as the record does (AdamWScheduleFree, SGDScheduleFree and their Reference classes;
AdamWScheduleFreePaper is the ``lr-bias-correction`` variant), but its step divides p.grad in
place by the Adam denominator (and adds λy to it), and its Reference classes move θ by a
rounding at lr = 0. pytorch-optimizer 4.1.0 (in the test extra) adds a fixed 1e-15 under the
square root (the ``sqrt-floor`` variant), writes into p.grad, and a deep copy loses
``foreach``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from real_findings import assert_deepcopy_loses, deepcopy_step_error, grad_after_step
from recordcheck import context, named, prepared, run, target
from sampling import first_mutant_each
from zoo import schedulefree as Z

import optcheck
from optcheck.checks.catalog import OPTIMIZERS

TESTS = str(Path(__file__).parent)
ADAMW, SGD = OPTIMIZERS["AdamWScheduleFree"], OPTIMIZERS["SGDScheduleFree"]
# The first mutant of each check runs by default (SGD's: the cheapest to shrink).
CAUGHT = {
    "schedulefree.first_step": [
        Z.SGDWarmupOffByOne,
        Z.WarmupOffByOne,
        Z.FirstWeightNotOne,
        Z.NoSecondMomentCorrection,
    ],
    "schedulefree.eval_point": [Z.SGDEvalWithTrainWeight, Z.EvalWithTrainWeight, Z.EvalNoOp],
    "crossval.trajectory": [
        Z.SGDDecayAtZ,
        Z.UniformAverage,
        Z.MomentumOnY,
        Z.DecayAtZ,
        Z.LrBiasCorrection,
        Z.WarmupOffByOne,
        Z.FirstWeightNotOne,
        Z.NoSecondMomentCorrection,
    ],
}
CROSSVAL, EVAL = "crossval.trajectory", "schedulefree.eval_point"
NAMED = {Z.LrBiasCorrection: ["lr-bias-correction"], Z.DecayAtZ: ["decay-at-z"]}


def record_of(cls: type):
    return ADAMW if issubclass(cls, Z.ZooAdamWScheduleFree) else SGD


def trained(cls: type):
    """A zoo class as a target with the records' set-up call, as prepare makes it."""
    return dataclasses.replace(target(cls), setup=ADAMW.setup)


def test_every_invariant_has_a_mutant():
    assert set(CAUGHT) == ADAMW.invariant_ids | {"crossval.trajectory"}
    assert ADAMW.invariant_ids == SGD.invariant_ids


def _ports() -> list:
    """Both ports under every check; by default each invariant on one port (cross-validation,
    generic and run on the references by the catalog-wide tests, with --thorough)."""
    default = {("schedulefree.first_step", Z.ZooSGDScheduleFree), (EVAL, Z.ZooAdamWScheduleFree)}
    return [
        pytest.param(c, cls, id=f"{c}-{cls.__name__}", marks=_thorough_if((c, cls) not in default))
        for c in sorted(CAUGHT)
        for cls in (Z.ZooAdamWScheduleFree, Z.ZooSGDScheduleFree)
    ]


def _thorough_if(slow: bool) -> list:
    return [pytest.mark.thorough] if slow else []


@pytest.mark.parametrize(("check_id", "cls"), _ports())
def test_correct_port_passes(check_id, cls):
    result = run(context(record_of(cls), trained(cls)), check_id)
    assert result.verdict == "pass", result.detail


def _mutants() -> list:
    """first_mutant_each, with only eval_point's first mutant in the default run (a caught
    mutant costs a shrink: about a second)."""
    return [
        pytest.param(*p.values, id=p.id, marks=[*p.marks, *_thorough_if(p.values[0] != EVAL)])
        for p in first_mutant_each(CAUGHT)
    ]


@pytest.mark.parametrize(("check_id", "mutant"), _mutants())
def test_mutant_is_caught(check_id, mutant):
    result = run(context(record_of(mutant), trained(mutant)), check_id)
    assert result.verdict == "violation", result.detail


@pytest.mark.thorough
@pytest.mark.parametrize("mutant", list(NAMED), ids=lambda m: m.__name__)
def test_a_variant_port_is_named(mutant):
    assert named(context(ADAMW, trained(mutant))) == NAMED[mutant]


def test_the_first_steps_by_hand():
    """c_2 = 1: y_2 = z_2 = θ − γ_1(g/(|g|+ε) + λθ); with T_warmup = 4, γ_1 = γ/4. Then at
    t = 2 (c_3 = 1/2 with constant γ, p = 2): y_3 = y_2 + γ(β/2 − 1)u_2 (lerp(y_2, z_2, 1/2)
    = y_2 since y_2 = z_2) and eval() gives x_3 = (z_2 + z_3)/2."""
    p = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    opt = Z.ZooAdamWScheduleFree([p], lr=0.4, eps=0.5, weight_decay=0.25, warmup_steps=4)
    opt.train()
    p.grad = torch.full((1,), 0.5, dtype=torch.float64)
    opt.step()
    z2 = 1 - 0.1 * (0.5 / 1.0 + 0.25)
    assert p.item() == pytest.approx(z2, rel=1e-15)
    opt.param_groups[0]["warmup_steps"] = 0  # γ_2 = γ = 0.4, c_3 = γ²/(γ_1² + γ²)
    p.grad = torch.full((1,), 0.5, dtype=torch.float64)
    opt.step()
    c3 = 0.4**2 / (0.1**2 + 0.4**2)
    u2 = 0.5 / (0.5 + 0.5) + 0.25 * z2  # v̂_2 = g², so |g|/√v̂ = 1
    z3 = z2 - 0.4 * u2
    x3 = (1 - c3) * z2 + c3 * z3
    assert p.item() == pytest.approx(0.9 * x3 + 0.1 * z3, rel=1e-14)
    opt.eval()
    assert p.item() == pytest.approx(x3, rel=1e-14)


# --- set-up calls (issue 11) ---------------------------------------------------------------

STAND_IN = "zoo.schedulefree:ZooAdamWScheduleFree"
CONTRACT = ["contract.lr_change"]


@pytest.mark.thorough
def test_without_train_a_schedule_free_stand_in_gets_false_violations():
    """Like schedulefree's classes, the stand-in refuses step() until train(): without the
    set-up call the generic contract reports violations that are not defects."""
    report = optcheck.validate(STAND_IN, select=CONTRACT, max_examples=3, in_process=True)
    assert report.verdict == "DOES NOT CONFORM"
    assert all("train()" in r.detail for r in report.results if r.verdict == "violation")


@pytest.mark.parametrize(
    "setup", ["train", pytest.param(["train"], marks=pytest.mark.thorough)], ids=["str", "list"]
)
def test_setup_train_ends_the_false_violations(setup):
    report = optcheck.validate(
        STAND_IN, select=CONTRACT, max_examples=1, in_process=True, setup=setup
    )
    assert report.verdict == "CONFORMS", [r.detail for r in report.results]
    assert any("train() called on the optimizer once built" in n for n in report.notes)


def test_a_record_declares_its_setup_call():
    prep = optcheck.suites.prepare.prepare(STAND_IN, "AdamWScheduleFree", max_examples=2)
    assert prep.target.setup == ("train",)
    assert any("the AdamWScheduleFree record" in n for n in prep.notes)


@pytest.mark.parametrize(
    ("setup", "message"),
    [("trian", "has no method trian()"), ("train()", "not a method name")],
)
def test_a_setup_call_the_target_lacks_is_a_usage_error(setup, message):
    with pytest.raises(optcheck.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        optcheck.suites.prepare.prepare(STAND_IN, setup=setup, max_examples=2)


def test_cli_and_plugin_take_setup():
    from optcheck.suites.cli import build_parser
    from optcheck.suites.pytest_plugin import _LISTS, _OPTIONS

    args = build_parser().parse_args(["validate", STAND_IN, "--setup", "train", "--setup", "b"])
    assert args.setup == ["train", "b"]
    assert "setup" in _OPTIONS and "setup" in _LISTS


@pytest.mark.thorough
def test_cli_setup_reaches_the_worker_and_a_bad_one_is_exit_2(tmp_path):
    """--setup travels CLI → supervised worker → prepare; a misspelt method is one line,
    exit 2, before any check."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "v.json"
    base = [sys.executable, "-m", "optcheck", "validate", STAND_IN, "--max-examples", "2"]
    ok = subprocess.run(
        [*base, "--setup", "train", "--select", "contract.lr_change", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert any("train()" in n for n in json.loads(out.read_text())["notes"])
    bad = subprocess.run(
        [*base, "--setup", "trian"], capture_output=True, text=True, env=env, timeout=300
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "has no method trian()" in bad.stderr and "Traceback" not in bad.stderr


# --- the real packages -------------------------------------------------------------------------
# pytorch-optimizer is in the test extra: its findings are re-checked by every run.

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
PO_ADAMW, PO_SGD = "pytorch_optimizer:ScheduleFreeAdamW", "pytorch_optimizer:ScheduleFreeSGD"


def _first_step(cls: type, g: float, **hp) -> float:
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = cls([p], **hp)
    if hasattr(opt, "train"):
        opt.train()
    p.grad = torch.full((1,), g, dtype=torch.float64)
    opt.step()
    return p.item()


def test_real_package_finding_sqrt_floor():
    """By hand: Alg. 1's first step is −γ·g/(|g| + ε) = −0.5 for g = ε = 1e-8, γ = 1 (the
    zoo port agrees); pytorch-optimizer's ScheduleFreeAdamW takes √(g² + 1e-15) + ε, so
    −1e-8/(3.317e-8 + 1e-8) = −0.2317."""
    assert _first_step(Z.ZooAdamWScheduleFree, 1e-8, lr=1.0) == pytest.approx(-0.5, rel=1e-12)
    got = _first_step(pytorch_optimizer.ScheduleFreeAdamW, 1e-8, lr=1.0)
    assert got == pytest.approx(-1e-8 / ((1e-16 + 1e-15) ** 0.5 + 1e-8), rel=1e-12)


@pytest.mark.thorough
def test_real_package_sqrt_floor_is_found_and_named():
    ctx = prepared(PO_ADAMW, "AdamWScheduleFree")
    assert run(ctx, "crossval.trajectory").verdict == "violation"
    assert named(ctx) == ["sqrt-floor"]
    assert (
        run(prepared(PO_ADAMW, "AdamWScheduleFree:sqrt-floor"), "crossval.trajectory").verdict
        == "pass"
    )


GRAD_FINDINGS = [
    ("ScheduleFreeAdamW", {}, "g/(√v̂+ε)"),
    ("ScheduleFreeSGD", {"maximize": True}, "-g"),
    ("ScheduleFreeSGD", {"weight_decay": 0.5}, "g+λθ"),
]


@pytest.mark.parametrize(("cls", "hp", "left"), GRAD_FINDINGS)
def test_real_package_finding_writes_into_the_gradient(cls, hp, left):
    """By hand: after one step from θ = 1, p.grad is no longer g (both code paths)."""
    g = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    want = {"g/(√v̂+ε)": g / (g.abs() + 1e-8), "-g": -g, "g+λθ": g + 0.5}[left]
    for foreach in (None, False):
        got = grad_after_step(getattr(pytorch_optimizer, cls), g, lr=0.1, foreach=foreach, **hp)
        assert torch.allclose(got, want, rtol=1e-12), (foreach, got)


@pytest.mark.thorough
@pytest.mark.parametrize(("cls", "hp", "left"), GRAD_FINDINGS)
def test_real_package_writes_into_the_gradient_is_found(cls, hp, left):
    like = "AdamWScheduleFree" if "Adam" in cls else "SGDScheduleFree"
    ctx = prepared(f"pytorch_optimizer:{cls}", like, hp)
    assert run(ctx, "contract.grad_unchanged").verdict == "violation"


@pytest.mark.parametrize("cls", ["ScheduleFreeAdamW", "ScheduleFreeSGD"])
def test_real_package_finding_deepcopy_loses_foreach(cls):
    error = deepcopy_step_error(getattr(pytorch_optimizer, cls), lr=1e-3)
    assert isinstance(error, AttributeError) and "foreach" in str(error), error


@pytest.mark.thorough
@pytest.mark.parametrize(
    ("path", "like"), [(PO_ADAMW, "AdamWScheduleFree"), (PO_SGD, "SGDScheduleFree")]
)
def test_real_package_deepcopy_finding_is_found(path, like):
    assert_deepcopy_loses(getattr(pytorch_optimizer, path.partition(":")[2]), path, like, "foreach")


# schedulefree is in the realworld corpus only (nox -s realworld installs it): these hand
# reproductions run with --realworld.

SF_X0 = [0.1, 0.3, 0.7, 1.3]


def _schedulefree():
    return pytest.importorskip("schedulefree")


@pytest.mark.realworld
@pytest.mark.parametrize(
    ("cls", "hp", "left"),
    [
        ("AdamWScheduleFree", {}, "g/(√v̂+ε)"),
        ("AdamWScheduleFreePaper", {}, "g/(√v+ε)"),
        ("SGDScheduleFree", {"weight_decay": 0.5}, "g+λθ"),
        ("SGDScheduleFreeReference", {"weight_decay": 0.5}, "g+λθ"),
    ],
)
def test_schedulefree_finding_writes_into_the_gradient(cls, hp, left):
    """By hand: after train() and one step from θ = 1, p.grad is no longer g: the step divides
    it in place by the Adam denominator (grad.div_(denom)) and adds λy to it (both code paths
    of the classes that take foreach)."""
    sf = _schedulefree()
    g = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    want = {
        "g/(√v̂+ε)": g / (g.abs() + 1e-8),
        "g/(√v+ε)": g / ((0.001 * g * g).sqrt() + 1e-8),
        "g+λθ": g + 0.5,
    }[left]
    for foreach in (True, False):
        p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        opt = getattr(sf, cls)([p], lr=0.1, foreach=foreach, **hp)
        opt.train()
        p.grad = g.clone()
        opt.step()
        assert torch.allclose(p.grad, want, rtol=1e-12), (foreach, p.grad)


@pytest.mark.realworld
@pytest.mark.parametrize(
    ("cls", "hp"),
    [
        ("AdamWScheduleFreeReference", {"betas": (0.45, 0.999)}),
        ("SGDScheduleFreeReference", {"momentum": 0.45}),
    ],
)
def test_schedulefree_finding_reference_classes_move_at_lr_zero(cls, hp):
    """By hand: with lr = 0 the Reference classes still recompute y = βx + (1−β)z from x = z =
    θ, which rounds: θ = 0.1 and 1.3 move by one ulp at β = 0.45 (AdamWScheduleFree, which
    moves y in place, keeps every θ)."""
    sf = _schedulefree()
    x = torch.tensor(SF_X0, dtype=torch.float64)
    rounded = x.mul(hp.get("momentum", hp.get("betas", (0,))[0])).add_(x, alpha=0.55)
    moved = []
    for name in (cls, "AdamWScheduleFree"):
        p = torch.nn.Parameter(x.clone())
        opt = getattr(sf, name)([p], lr=0.0, **({} if name == "AdamWScheduleFree" else hp))
        opt.train()
        p.grad = torch.ones(4, dtype=torch.float64)
        opt.step()
        moved.append(p.detach().clone())
    assert torch.equal(moved[0], rounded) and not torch.equal(moved[0], x)
    assert torch.equal(moved[1], x)


@pytest.mark.thorough
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("cls", [Z.ZooAdamWScheduleFree, Z.ZooSGDScheduleFree])
def test_correct_port_cross_validates_in_low_precision(cls, dtype):
    """The error model (the reference run on tracked values) bounds the lerps and in-place
    updates of the authors' arrangement in every dtype."""
    result = run(context(record_of(cls), trained(cls), dtype=dtype), CROSSVAL)
    assert result.verdict == "pass", result.detail


@pytest.mark.thorough
def test_evidence_snippet_calls_train_and_reproduces():
    """The snippet builds the target as the checks do, set-up call included: without
    train() the stand-in would raise instead of showing the warm-up slip."""
    result = run(context(ADAMW, trained(Z.WarmupOffByOne)), "schedulefree.first_step")
    assert result.verdict == "violation"
    assert "SETUP = ['train']" in result.evidence.snippet
    env = {**os.environ, "PYTHONPATH": TESTS}
    proc = subprocess.run(
        [sys.executable, "-c", result.evidence.snippet],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0 and "REPRODUCED" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.thorough
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (STAND_IN, ["AdamWScheduleFree"]),
        ("zoo.schedulefree:ZooSGDScheduleFree", ["SGDScheduleFree"]),
        (PO_ADAMW, ["AdamWScheduleFree:sqrt-floor"]),
    ],
)
def test_identify_names_schedule_free(path, expected):
    """identify calls the declared set-up train() (the stand-ins refuse step() without it)."""
    from optcheck.suites.identify import identify_here

    found = identify_here(path)
    assert [c.name for c in found.matches] == expected, found.summary
    assert any("train()" in n for n in found.notes)


@pytest.mark.thorough
def test_pytest_plugin_takes_setup(tmp_path):
    """--optcheck-setup (or optcheck_setup in the ini file) reaches every check item; a method
    the target lacks is a usage error, exit 4, before any test runs."""
    (tmp_path / "test_unit.py").write_text("def test_x():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")])}
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    base += ["--optcheck", STAND_IN, "--optcheck-max-examples", "2"]
    ok = subprocess.run(
        [*base, "--optcheck-setup", "train", "-k", "lr_change or grad_unchanged"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0 and "2 passed" in ok.stdout, ok.stdout[-2000:] + ok.stderr[-2000:]
    bad = subprocess.run(
        [*base, "--optcheck-setup", "trian"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 4 and "has no method trian()" in bad.stderr, bad.stderr[-2000:]


def test_a_record_setup_the_target_lacks_is_left_out_with_a_note():
    """A record's declared call is what its algorithm usually needs, not a user's demand: a
    target without the method (schedulefree's Closure classes) is validated without it."""
    prep = optcheck.suites.prepare.prepare("torch.optim:SGD", "SGDScheduleFree", max_examples=2)
    assert prep.target.setup == ()
    assert any("train() not called" in n for n in prep.notes), prep.notes


def test_without_setup_or_like_a_train_method_gets_a_hint():
    prep = optcheck.suites.prepare.prepare(STAND_IN, max_examples=2)
    assert prep.target.setup == ()
    assert any("--setup train" in n for n in prep.notes), prep.notes
