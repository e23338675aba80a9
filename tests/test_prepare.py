"""One configuration path (suites/prepare.py): the user's hyper-parameters reach the target in
every check and never the reference where it does not know them; usage mistakes stop
everything before a check runs; the probe and per-group draws follow the target. The CLI,
the Python API, the pytest plugin and bench's --target all go through ``prepare``.

The stand-ins in tests/zoo/configured.py reproduce real packages' constructors (see there).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings

import optcheck
from optcheck.checks.crossval_checks import case_strategy
from optcheck.checks.kit import registry
from optcheck.suites import bench
from optcheck.suites.cli import main
from optcheck.suites.prepare import ConfigError, prepare
from optcheck.suites.runner import run

TESTS = Path(__file__).parent
FEW = 5  # examples per check: each point here shows on the first cases
# The checks that draw cases from the spec's space and compare numbers.
NUMERIC = ["crossval.", "sgd.", "nesterov."]


def failing(report) -> list[tuple[str, str]]:
    return [(r.id, r.detail) for r in report.results if r.failed]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
    }


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The plugin as an optimizer author runs it, in a fresh pytest process."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        + ["--rootdir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(),
        timeout=600,
    )


# --- 1. the user's --hp reaches the target in every check, numeric ones included -------------


def test_keyword_unknown_to_the_reference_reaches_every_numeric_check():
    """pytorch_optimizer's SGDW with weight_decouple=False is torch's SGD: it must conform.
    (Dropping the keyword in the numeric checks left decoupled decay on: false violations.)"""
    report = optcheck.validate(
        "zoo.configured:SGDWeightDecouple",
        like="SGD",
        hp={"weight_decouple": False},
        select=NUMERIC,
        max_examples=FEW,
    )
    assert report.ok, failing(report)
    assert {r.id for r in report.results} >= {"crossval.trajectory", "sgd.buffer_closed_form"}
    assert any("weight_decouple=False: passed to the target" in n for n in report.notes)


def test_keyword_that_changes_the_update_fails_cross_validation():
    """timm's caution=True changes every step: cross-validation must see it (it used to run the
    plain optimizer and pass)."""
    report = optcheck.validate(
        "zoo.configured:AdamCaution",
        like="Adam",
        hp={"caution": True},
        select=["crossval.trajectory"],
        max_examples=FEW,
    )
    assert [r.verdict for r in report.results] == ["violation"]
    plain = optcheck.validate(
        "zoo.configured:AdamCaution", like="Adam", select=["crossval."], max_examples=FEW
    )
    assert plain.ok, failing(plain)


def test_a_checks_premise_against_the_users_value_is_a_skip_not_an_override():
    """sgd.buffer_closed_form needs weight_decay = 0: with --hp weight_decay=0.1 it does not
    apply (it used to run with 0, not the configuration asked for)."""
    report = optcheck.validate(
        "torch.optim:SGD",
        like="SGD",
        hp={"weight_decay": 0.1, "momentum": 0.9},
        select=["sgd.buffer_closed_form", "crossval.trajectory"],
        max_examples=FEW,
    )
    verdicts = {r.id: (r.verdict, r.detail) for r in report.results}
    assert verdicts["sgd.buffer_closed_form"][0] == "skip"
    assert "weight_decay=0.0" in verdicts["sgd.buffer_closed_form"][1]
    assert verdicts["crossval.trajectory"][0] == "pass"


# --- 2. the reference never gets what it does not know; mistakes are usage errors ------------


def test_reference_is_never_handed_a_keyword_it_does_not_know():
    # caution=False: the keyword is as unknown to the reference, and passing checks do not
    # shrink (test_keyword_that_changes_the_update_fails_cross_validation runs caution=True).
    prepared = prepare("zoo.configured:AdamCaution", "Adam", {"caution": False}, max_examples=3)
    assert prepared.settings.fixed_hp == {}
    assert dict(prepared.target.fixed) == {"caution": False}
    seen: list[set[str]] = []
    spec = prepared.spec

    def spy(param, grad, state, hp, t):
        seen.append(set(hp))
        return spec.step(param, grad, state, hp, t)

    model = dataclasses.replace(spec.error_model, step=spy)
    prepared.context.spec = dataclasses.replace(spec, step=spy, error_model=model)
    # Every check that runs the reference: the comparisons, the invariants' tolerance models.
    run(prepared, select=("crossval.", "adam.", "amsgrad.", "interplay."))
    assert seen, "the reference never ran"
    assert not [keys for keys in seen if "caution" in keys]


BAD_HP = [
    ("torch.optim:Adam", "Adam", ["betas=0.9"], "betas takes a pair of numbers"),
    ("torch.optim:Adam", "Adam", ["betas=(0.9,"], "is not a Python literal"),
    ("torch.optim:Adam", "Adam", ["eps=tiny"], "eps takes a number"),
    ("torch.optim:Adam", "Adam", ["amsgrad=1"], "amsgrad takes True or False"),
    ("torch.optim:Adam", "Adam", ["caution=True"], "does not take 'caution'"),
    ("zoo.configured:AdamCaution", "Adam", ["caution=ture"], "caution takes True or False"),
    ("torch.optim:SGD", "SGD", ["nesterov=True"], "nesterov requires momentum > 0"),
    # outside what torch takes: t % 0 (a fractional step_size it takes: below)
    ("torch.optim.lr_scheduler:StepLR", "StepLR", ["step_size=0"], "step_size must be >= 1"),
    ("torch.optim.lr_scheduler:StepLR", "StepLR", ["step_size=two"], "step_size takes a number"),
    (
        "torch.optim.lr_scheduler:MultiStepLR",
        "MultiStepLR",
        ["milestones=5"],
        "milestones takes a list of integers",
    ),
]


def test_a_value_torch_accepts_outside_the_documented_space_is_taken_and_checked():
    """StepLR documents an int step_size and takes a float; gamma > 1 raises the lr. Both are
    in the record's accepted space: pinned, they reach the closed-form comparison (torch's
    fractional step_size is a known finding there: a violation before marking), the resume
    runs, and the invariants stated on the documented space (monotone, step drops) do not
    apply, saying so (gamma=1.2 was reported violating them: torch was right)."""
    from optcheck.suites.runner import mark_known

    target = "torch.optim.lr_scheduler:StepLR"
    prepared = prepare(target, "StepLR", ["step_size=2.5"], max_examples=5)
    ctx = prepared.context
    assert ctx.settings.fixed_hp["step_size"] == 2.5
    registry.load_all()
    compared = mark_known(registry.execute(registry.CHECKS["crossval.schedule"], ctx), ctx)
    assert compared.verdict == "known" and "fractional step_size" in compared.detail
    assert compared.evidence.case["params"]["step_size"] == 2.5
    by_id = {r.id: r for r in run(prepared, select=("schedule.",)).results}
    for check_id in ("schedule.step_drops", "schedule.monotone_nonincreasing"):
        assert by_id[check_id].verdict == "skip", by_id[check_id].detail
        assert "--hp step_size=2.5 is accepted by torch but outside" in by_id[check_id].detail
    steep = prepare(target, "StepLR", ["gamma=1.2"], max_examples=5)
    result = run(steep, select=("schedule.monotone_nonincreasing",)).results[0]
    assert result.verdict == "skip" and "--hp gamma=1.2" in result.detail, result.detail


@pytest.mark.parametrize(("target", "like", "hp", "message"), BAD_HP)
def test_bad_hp_is_one_usage_line_before_any_check(target, like, hp, message, capsys, monkeypatch):
    def no_check(*args, **kwargs):
        raise AssertionError("a check ran")

    monkeypatch.setattr(registry, "execute", no_check)
    args = ["validate", target, "--like", like]
    for item in hp:
        args += ["--hp", item]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1, err


def test_python_api_raises_a_value_error_with_the_clis_line(capsys):
    assert main(["validate", "torch.optim:Adam", "--like", "Adam", "--hp", "betas=0.9"]) == 2
    line = capsys.readouterr().err.strip()
    with pytest.raises(ValueError) as exc:
        optcheck.validate("torch.optim:Adam", like="Adam", hp={"betas": 0.9})
    assert isinstance(exc.value, ConfigError)
    assert line == f"optcheck validate: error: {exc.value}"
    assert "\n" not in str(exc.value)


def test_plugin_bad_hp_is_a_usage_error(tmp_path):
    out = _pytest(
        tmp_path, "--optcheck", "torch.optim:Adam", "--optcheck-like", "Adam", "--optcheck-hp",
        "betas=0.9",
    )  # fmt: skip
    assert out.returncode == 4, out.stdout[-2000:] + out.stderr[-2000:]
    assert "optcheck: --optcheck-hp betas=0.9: betas takes a pair of numbers" in out.stderr


# --- 3. the probe builds the target with the spec's defaults plus --hp -----------------------


def test_schedule_probe_merges_the_specs_defaults_with_hp(capsys):
    """torch's CosineAnnealingLR with --hp eta_min=0.0 used to fail its own probe (no T_max)."""
    code = main(
        [
            "validate",
            "torch.optim.lr_scheduler:CosineAnnealingLR",
            "--like",
            "CosineAnnealingLR",
            "--hp",
            "eta_min=0.0",
            "--max-examples",
            "3",
            "--select",
            "schedule.",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "construct" not in out


# --- 4. only declared keywords; per-group draws only for per-group keywords ------------------


def test_kwargs_target_is_handed_only_lr_the_users_keywords_and_a_checks_needs():
    from zoo import configured

    configured.HANDED.clear()
    report = optcheck.validate(
        "zoo.configured:kwargs_adam",
        like="Adam",
        hp={"eps": 1e-6},
        select=["crossval.trajectory", "adam.first_step"],
        max_examples=FEW,
        in_process=True,  # HANDED is read here: the target must run in this process
    )
    assert report.ok, failing(report)
    assert configured.HANDED == {"lr", "eps"}
    note = next(n for n in report.notes if "takes **kwargs" in n)
    assert "it is handed lr, eps; in a check" in note and "amsgrad in amsgrad.monotone" in note
    assert "weight_decay=0.0, amsgrad=False, maximize=False stay at its own defaults" in note
    monotone = optcheck.validate(
        "zoo.configured:kwargs_adam",
        like="Adam",
        select=["amsgrad."],
        max_examples=FEW,
        in_process=True,
    )
    assert [r.verdict for r in monotone.results] == ["pass"]  # handed amsgrad there
    assert "amsgrad" in configured.HANDED and "maximize" not in configured.HANDED


def test_kwargs_target_keeps_its_defaults_and_the_reference_takes_the_specs():
    """AdamW's default weight_decay is 1e-2: not handing it must not compare against 0."""
    report = optcheck.validate(
        "zoo.configured:kwargs_adamw", like="AdamW", select=["crossval.", "adam"], max_examples=FEW
    )
    assert report.ok, failing(report)


@pytest.mark.parametrize("target", ["SGDWeightDecouple", "sgd_weight_decouple"])
def test_per_group_keywords_are_read_off_the_built_optimizer(target):
    """SGDW keeps maximize on the optimizer: a per-group maximize is never drawn for it (the
    factory is inspected through what it builds)."""
    prepared = prepare(f"zoo.configured:{target}", "SGD", {"weight_decouple": False})
    per_group = prepared.target.per_group
    assert per_group is not None and "momentum" in per_group and "maximize" not in per_group
    # The factory takes **kwargs: it is handed maximize where a check needs it (here, always).
    ctx = dataclasses.replace(prepared.context, target=prepared.target.allowing(["maximize"]))
    assert ctx.target.accepts("maximize")
    if target == "SGDWeightDecouple":
        assert any("maximize: not kept per param group" in n for n in prepared.notes)

    @settings(max_examples=30, database=None, deadline=None)
    @given(case_strategy(ctx, prepared.spec, "float64", ("constant",), max_groups=3))
    def groups_have_no_maximize(case):
        assert not [g for g in case.group_hp if "maximize" in g]

    groups_have_no_maximize()


def test_per_group_draws_follow_the_target_in_the_numeric_checks():
    report = optcheck.validate(
        "zoo.configured:sgd_weight_decouple",
        like="SGD",
        select=["sgd.buffer_closed_form", "nesterov.relation"],
        max_examples=FEW,
    )
    assert report.ok, failing(report)


# --- 5. torch's SGD at momentum 0: tests/test_sgd_checks.py
# (test_buffer_closed_form_at_momentum_zero_is_minus_lr_g)


# --- 6. every entry point goes through prepare --------------------------------------------------


@pytest.mark.thorough  # a subprocess pytest (11 s); prepare() is the one path, tested in-process
def test_plugin_gets_the_probe_and_the_variant_naming(tmp_path):
    broken = _pytest(tmp_path, "--optcheck", "zoo.optimizers_contract:RaisingConstructor")
    assert broken.returncode == 1, broken.stdout[-2000:]
    assert "::construct" in broken.stdout and "constructing the target raised" in broken.stdout
    assert "1 failed" in broken.stdout  # one item, not one per check
    keras = _pytest(
        tmp_path, "--optcheck", "zoo.optimizers_numeric:AdamKerasEpsHat", "--optcheck-like",
        "Adam", "--optcheck-max-examples", "8", "-k", "crossval and trajectory",
    )  # fmt: skip
    assert keras.returncode == 1, keras.stdout[-2000:]
    assert "behaves like: Adam:keras-eps-hat — " in keras.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "torch.optim:Adam", "--hp", "caution=True"], "does not take 'caution'"),
        (["--target", "torch.optim:Adam", "--hp", "lr=0.1"], "tunes every optimizer's lr"),
        (["--target", "torch.optim:Adam", "--hp", "betas=(0.9,"], "is not a Python literal"),
        (["--hp", "momentum=0.9"], "give --target too"),
    ],
)
def test_bench_target_hp_mistakes_exit_2_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["bench", "--quick", "--out", str(out), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_bench_target_is_built_with_the_users_keywords():
    cfg = bench.check_target("zoo.configured:SGDWeightDecouple", ["weight_decouple=False"])
    assert dict(cfg.hp) == {"weight_decouple": False}
    import torch

    p = torch.nn.Parameter(torch.zeros(2))
    opt = bench.make_torch_optimizer(cfg, [p], 0.1)
    assert opt.param_groups[0]["weight_decouple"] is False and opt.param_groups[0]["lr"] == 0.1


# --- a known crash on zero-size parameters does not hide the rest of the contract ------------


class AdafactorSubclass(torch.optim.Adafactor):
    """A third party shipping torch's Adafactor unchanged: its crash is not excused."""


def test_an_empty_tensor_crash_is_told_once_and_called_known_only_for_torch_s_own_class():
    """The first check probes the parameter kinds (not prepare, which never steps the target):
    torch's Adafactor raising on a zero-size parameter is one known finding, a third party
    shipping the same code gets the violation, and either way the next check draws none."""
    select = ("contract.param_kinds", "contract.resume")
    for target, verdict in (
        ("torch.optim:Adafactor", "known"),
        (f"{__name__}:AdafactorSubclass", "violation"),
    ):
        prepared = prepare(target, "Adafactor", max_examples=3)
        assert prepared.settings.skip_kinds is None  # not probed by the set-up
        kinds, resume = run(prepared, select=select).results
        assert kinds.verdict == verdict and "ZeroDivisionError" in kinds.detail, kinds.detail
        assert resume.verdict == "pass", resume.detail
        assert "no zero-size parameters drawn" in resume.detail
        # complex: declined, not a finding (Adafactor raises on complex parameters)
        assert prepared.settings.skip_kinds == ("zero-size", "complex")
    adam = run(prepare("torch.optim:Adam", "Adam", max_examples=3), select=select)
    assert adam.verdict == "CONFORMS" and "not drawn" not in adam.results[1].detail


def test_torch_s_adafactor_is_checked_on_the_whole_contract():
    """Before: every contract check stopped at the known crash, contract.dtype failed."""
    prepared = prepare("torch.optim:Adafactor", "Adafactor", max_examples=3)
    report = run(prepared, select=("contract.dtype", "contract.resume"))
    assert {r.verdict for r in report.results} == {"pass"}
