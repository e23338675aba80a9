"""Stand-ins for false alarms the real-world corpus found (tests/realworld.toml): each fails
without its fix and needs no real package.

- heavyball compiles its update on the first step() of each new optimizer (3-80 s on 2
  cores): without an allowance every check timed out, "the target hangs". ``--warmup``
  grants each first step up to that many seconds outside ``--timeout``.
"""

from __future__ import annotations

import pytest

import optcheck
from optcheck.suites import supervise, worker

CHECK = ("contract.zero_lr", "lr = 0 leaves parameters unchanged")


class _Clock:
    now = 1000.0

    def monotonic(self) -> float:
        return self.now


class _ScriptedWorker:
    """A worker whose messages arrive after scripted delays on a fake clock: (seconds, message)
    pairs; a message due after the parent's deadline is a "timeout" instead."""

    script: list[tuple[float, dict]] = []
    clock = _Clock()

    def __init__(self, payload: dict):
        self.items = list(self.script)

    def next(self, deadline: float | None):
        if not self.items:
            return None
        delay, msg = self.items[0]
        if deadline is not None and self.clock.now + delay > deadline:
            self.clock.now = deadline
            return "timeout"
        self.clock.now += delay
        self.items.pop(0)
        return msg

    def send(self, message: dict) -> None:
        pass

    def ended(self) -> str:
        return "was killed by SIGKILL"

    def last_output(self) -> str:
        return ""

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass


def _run(monkeypatch, steps: list[tuple[float, dict]], warmup: float) -> list:
    prepared = {
        "t": "prepared", "target": "zoo:X", "like": None, "settings": {}, "environment": {},
        "notes": [], "checks": [list(CHECK)], "failure": None,
    }  # fmt: skip
    result = {"id": CHECK[0], "title": CHECK[1], "verdict": "pass", "detail": ""}
    _ScriptedWorker.script = [
        (0.0, {"t": "ready"}),
        (0.0, prepared),
        (0.0, {"t": "want"}),
        (0.0, {"t": "start", "id": CHECK[0]}),
        *steps,
        (0.1, {"t": "result", "result": result}),
        (0.0, {"t": "want"}),
        (0.0, {"t": "done"}),
    ]
    monkeypatch.setattr(supervise, "_Worker", _ScriptedWorker)
    monkeypatch.setattr(supervise.time, "monotonic", _ScriptedWorker.clock.monotonic)
    config = supervise.Config(target="zoo:X", timeout=2.0, warmup=warmup)
    report = supervise.run(config)
    return [(r.id, r.verdict, r.detail) for r in report.results]


WARM_FIRST_STEP = [(0.0, {"t": "warm", "on": True}), (5.0, {"t": "warm", "on": False})]


def test_a_slow_first_step_is_a_hang_without_warmup_and_allowed_with_it(monkeypatch):
    (without,) = _run(monkeypatch, WARM_FIRST_STEP, warmup=0.0)
    assert without[1] == "violation" and "timed out after 2 s" in without[2]
    assert _run(monkeypatch, WARM_FIRST_STEP, warmup=10.0) == [(CHECK[0], "pass", "")]


def test_warmup_covers_first_steps_only_a_later_hang_is_still_timed_out(monkeypatch):
    # Warm-up allowed (5 s of 10), then 2.5 s more of ordinary steps: past the 2 s timeout.
    (hung,) = _run(monkeypatch, [*WARM_FIRST_STEP, (2.5, {"t": "tick"})], warmup=10.0)
    assert hung[1] == "violation" and "up to 10 s more each" in hung[2]
    # A first step longer than the allowance is a hang too.
    (long,) = _run(monkeypatch, WARM_FIRST_STEP, warmup=3.0)
    assert long[1] == "violation"


def test_the_worker_reports_the_first_step_of_each_optimizer_once(monkeypatch):
    import torch
    from zoo.standins import RelativeStep  # a plain Optimizer: no torch.optim step machinery

    sent: list[dict] = []
    monkeypatch.setattr(worker, "_send", sent.append)
    handles = worker._time_first_steps()
    try:
        for _ in range(2):
            p = torch.nn.Parameter(torch.ones(2))
            opt = RelativeStep([p])
            for _ in range(3):
                p.grad = torch.ones(2)
                opt.step()
    finally:
        for handle in handles:
            handle.remove()
    assert sent == [{"t": "warm", "on": True}, {"t": "warm", "on": False}] * 2


@pytest.mark.thorough
def test_a_slow_first_step_end_to_end():
    """Through the real supervised worker: zoo CompilesOnFirstStep sleeps 0.6 s in each new
    optimizer's first step; a check builds several, so 1 s is too short without --warmup."""
    run = dict(like=None, select="contract.zero_lr", max_examples=3, timeout=1.0)
    hung = optcheck.validate("zoo.standins:CompilesOnFirstStep", **run)
    assert hung.verdict == "DOES NOT CONFORM", hung.results
    assert "timed out" in hung.results[0].detail
    warm = optcheck.validate("zoo.standins:CompilesOnFirstStep", warmup=5.0, **run)
    assert warm.verdict == "CONFORMS", [r.detail for r in warm.results]


def test_a_target_without_lr_skips_what_sets_lr_and_runs_the_rest():
    """transformers' Adafactor refuses an lr with its default relative_step=True: with
    ``--hp lr=None`` the checks that set or schedule group['lr'] are skipped with the reason
    (interplay.optimizer_lr raised TypeError on None before), the others run. The flag that
    selects the lr-free mode is pinned too: drawn off, it would need the lr not given."""
    from optcheck.checks.kit.registry import CHECKS, WITHOUT_LR, execute
    from optcheck.suites.prepare import prepare

    ctx = prepare(
        "zoo.standins:RelativeStep", hp={"lr": None, "relative_step": True}, max_examples=2
    ).context
    for check_id in ("interplay.optimizer_lr", "contract.lr_change", "contract.zero_lr"):
        result = execute(CHECKS[check_id], ctx)
        assert (result.verdict, result.detail) == ("skip", WITHOUT_LR), check_id
    assert execute(CHECKS["contract.grad_unchanged"], ctx).verdict == "pass"


def test_a_kwargs_target_that_refuses_a_keyword_skips_the_check_that_needs_it():
    """heavyball takes **kwargs and raises TypeError on keywords it does not know: handing it
    maximize (contract.maximize) or amsgrad (amsgrad.monotone) was a violation; it is a
    target that does not take them, as one without them in its signature."""
    from optcheck.checks.kit.registry import CHECKS, execute
    from optcheck.suites.prepare import prepare

    ctx = prepare("zoo.standins:RefusesUnknownKeywords", max_examples=2).context
    result = execute(CHECKS["contract.maximize"], ctx)
    assert result.verdict == "skip", result.detail
    assert "refuses 'maximize'" in result.detail


def test_identify_keeps_the_records_value_where_the_target_defaults_to_none():
    """transformers' Adafactor defaults lr=None; identify mapped it onto every record and the
    first record's constraint raised TypeError comparing None < 0: nothing was identified."""
    from optcheck.suites.identify import mapped_defaults

    own = {"lr": 1e-3, "eps": 1e-8, "betas": (0.9, 0.999)}
    got = mapped_defaults(own, {"lr": None, "eps": 1e-6, "betas": (0.8, 0.9), "other": 1})
    assert got == {"eps": 1e-6, "betas": (0.8, 0.9)}
    pair = mapped_defaults({"eps": (1e-30, 1e-3)}, {"eps": (None, 1e-3)})
    assert pair == {"eps": (None, 1e-3)}  # None inside a pair keeps its meaning


@pytest.mark.thorough
def test_identify_runs_on_a_target_without_lr():
    from optcheck.suites.identify import identify_here

    result = identify_here("zoo.standins:RelativeStep", cases=1)
    assert not result.failure and result.candidates, result.summary


def test_nadam_constant_gradient_draws_decay_only_where_it_can_be_decoupled():
    """timm's NAdamLegacy has no decoupled_weight_decay keyword: the check's decoupled branch
    (λ > 0) reached it as coupled decay, so g' varied from step 2 on and the constant-gradient
    form was a false alarm. λ > 0 is drawn only where the target can be told to decouple."""
    from zoo.standins import CoupledOnlyNAdam

    from optcheck.checks.catalog import OPTIMIZERS
    from optcheck.checks.kit.registry import CHECKS, Context, Settings, execute
    from optcheck.checks.target import OptimizerTarget

    target = OptimizerTarget("CoupledOnlyNAdam", CoupledOnlyNAdam)
    ctx = Context(target, OPTIMIZERS["NAdam"], settings=Settings(max_examples=6))
    result = execute(CHECKS["nadam.constant_gradient"], ctx)
    assert result.verdict == "pass", result.evidence
