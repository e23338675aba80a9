"""Stand-ins for torch-optimizer 0.3.0's open false alarms and its miss (tests/realworld.toml):
each fails without its fix and needs no real package."""

from __future__ import annotations

from optcheck.checks.kit.registry import CHECKS, execute
from optcheck.suites.prepare import prepare


def _run(path: str, check_id: str, **settings):
    ctx = prepare(path, **settings).context
    return execute(CHECKS[check_id], ctx)


def test_coupled_decay_into_grad_is_found_without_hp_in_every_run():
    """QHAdam writes coupled weight decay into p.grad: only weight_decay > 0 with the default
    decouple_weight_decay=False shows it. Left to random draws it was missed; the switch
    plans put every switch both ways in every check, so even 2 cases find it."""
    result = _run("zoo.standins:CoupledDecayIntoGrad", "contract.grad_unchanged", max_examples=2)
    assert result.verdict == "violation", result.detail
    assert "modified p.grad" in result.evidence.message


def test_a_moment_that_starts_nonzero_by_design_is_not_a_zero_params_violation():
    """Yogi starts its moments at 1e-6: θ = 0 with g = 0 moves, by the authors' design. The
    step keeps zero at zero once the state is zero, which is what the check claims."""
    result = _run("zoo.standins:MomentStartsNonzero", "contract.zero_params", max_examples=3)
    assert result.verdict == "pass", result.detail
    assert "state['exp_avg']" in result.detail


def test_a_target_that_needs_create_graph_is_not_applicable_with_the_reason():
    """Adahessian refuses p.grad without an autograd graph: every check raised at step 1."""
    result = _run("zoo.standins:NeedsCreateGraph", "contract.zero_params", max_examples=2)
    assert result.verdict == "skip", result.detail
    assert "create_graph=True" in result.detail


def test_a_final_lr_relative_to_the_constructor_lr_is_not_an_lr_change_violation():
    """AdaBound keeps its constructor lr as the unit of final_lr: two constructions with the
    same group['lr'] schedule differ by design, and a change of group['lr'] does take effect.
    Reading self.defaults['lr'] instead (zoo SGDLearningRateFromDefaults) is still caught by
    tests/test_contract_checks.py."""
    result = _run("zoo.standins:FinalLrRelativeToInitial", "contract.lr_change", max_examples=4)
    assert result.verdict == "pass", result.detail
    assert "depends on the constructor lr" in result.detail


def _variant_run(variant: str, check_id: str):
    from optcheck.checks.catalog import OPTIMIZERS
    from optcheck.checks.kit.registry import Context, Settings
    from optcheck.checks.reference_optimizer import reference_factory
    from optcheck.checks.target import OptimizerTarget

    record = OPTIMIZERS["AdaBelief"]
    chosen = record.variant(variant)
    target = OptimizerTarget(variant, reference_factory(record, chosen.fn))
    ctx = Context(target=target, spec=record, variant=chosen, settings=Settings(max_examples=3))
    return execute(CHECKS[check_id], ctx)


def test_a_variant_keeps_only_the_invariants_its_own_formula_satisfies():
    """--like AdaBelief:coupled-decay applied decay.decoupled_pure (and the closed forms
    written for decoupled decay) to a target that is exactly the variant: three violations.
    A variant carries what it keeps in its formula: an invariant its reference fails is
    skipped with that reason; one it keeps still runs (eps-outside-s keeps decoupled decay)."""
    broken = _variant_run("coupled-decay", "decay.decoupled_pure")
    assert broken.verdict == "skip", broken.detail
    assert "does not keep this invariant" in broken.detail
    kept = _variant_run("eps-outside-s", "decay.decoupled_pure")
    assert kept.verdict == "pass", kept.detail


def test_a_variants_tolerance_is_derived_from_the_variants_formula():
    """torch-optimizer's Lamb --like LAMB:no-bias-correction, shrunk case: β1 = 0, η = 1 and
    a 0-d θ0 = 0.3456 land step 1 within round-off of θ = 0 (reference exactly 0, target
    -1.3e-17), so step 2 takes the other side of the ‖θ‖ > 0 branch (22.4 apart). The engine
    widens an undecidable branch, but the bound was run on LAMB's own step, where the two
    sides lie 1.0 apart: tolerance 2, a violation. Run on the variant's step it covers it."""
    import numpy as np

    from optcheck.checks import tolerance
    from optcheck.checks.catalog import OPTIMIZERS
    from optcheck.checks.kit.registry import Context
    from optcheck.checks.target import OptimizerTarget

    record = OPTIMIZERS["LAMB"]
    ctx = Context(
        target=OptimizerTarget("x", lambda params, **hp: None),
        spec=record,
        variant=record.variant("no-bias-correction"),
    )
    model = ctx.error_model
    hp = {"lr": 1.0, "betas": (0.0, 0.999), "eps": 1e-6, "weight_decay": 0.0, "maximize": False}
    g = np.array(0.588554539519644)
    got = [[np.array(-1.0e-17)], [np.array(-1.29623e-17)]]  # the target's θ after each step
    tol = tolerance.tolerance(
        model, [np.array(0.345584192064786)], [[g], [g]], [hp], None, "float64", observed=got
    )
    assert tol.outside is None
    assert tol.theta[1][0] > 22.3654 + 1.3e-17


def test_switch_plans_meet_every_switch_both_ways_and_alone_where_it_constructs():
    """torch's SGD: nesterov needs momentum, and fused with foreach is refused, so neither
    fits every plan; each still meets both of its values in some plan the constructor takes."""
    import torch

    from optcheck.checks.kit.contract import switch_plans
    from optcheck.checks.kit.registry import Context
    from optcheck.checks.target import OptimizerTarget

    plans = switch_plans(Context(OptimizerTarget("SGD", torch.optim.SGD)))
    assert plans[0]["weight_decay"] == 0 and plans[0]["nesterov"] is False
    for name in ("momentum", "weight_decay", "nesterov", "maximize", "foreach", "fused"):
        values = {repr(plan[name]) for plan in plans if name in plan}
        assert len(values) >= 2, (name, values)
    assert {**plans[0], "weight_decay": 1e-2} in plans  # decay on alone, coupled as by default
    assert not any(p["nesterov"] and not p.get("momentum") for p in plans)


def test_graph_gradients_equal_the_drawn_values_and_carry_the_known_hessian():
    """--create-graph: p.grad is g bit for bit in every dtype, and its Hessian-vector product
    with a Rademacher z is h·z, so Hutchinson's |Hz| is |h| whatever z is drawn."""
    import numpy as np
    import torch

    from optcheck.checks.kit.harness import graph_gradients, make_params, set_grads
    from optcheck.reference.hessian import hessian_diagonal

    g = np.array([[0.1, -3.0, 7.5], [1e-30, 0.0, -2.0]])
    h = hessian_diagonal(g.shape)
    assert h.ravel().tolist() == [0.5, -1.0, 1.5, -2.0, 0.5, -1.0]
    z = torch.tensor([[1.0, -1.0, -1.0], [1.0, 1.0, -1.0]], dtype=torch.float64)
    for dtype in (torch.float64, torch.float32, torch.bfloat16):
        (p,) = make_params([np.ones_like(g)], dtype)
        with graph_gradients():
            set_grads([p], [g])
        assert p.grad.grad_fn is not None
        assert torch.equal(p.grad, torch.as_tensor(g, dtype=dtype))
        (hz,) = torch.autograd.grad(p.grad, p, grad_outputs=z.to(dtype))
        assert torch.equal(hz, torch.as_tensor(h, dtype=dtype) * z.to(dtype))
    (p,) = make_params([np.ones_like(g)])
    set_grads([p], [g])
    assert p.grad.grad_fn is None  # outside the block: plain gradients, as before


def test_create_graph_lets_a_hessian_optimizer_be_checked_closure_included():
    """With --create-graph the stand-in that refuses a gradient without a graph is checked;
    the closure backpropagates a loss with the same gradient and create_graph=True (it called
    loss.backward() and the target refused: a false violation)."""
    for check_id in ("contract.closure", "contract.grad_unchanged"):
        result = _run("zoo.standins:NeedsCreateGraph", check_id, max_examples=2, create_graph=True)
        assert result.verdict == "pass", (check_id, result.detail)
    result = _run("zoo.standins:NeedsCreateGraph", "contract.closure", max_examples=2)
    assert result.verdict == "skip" and "--create-graph" in result.detail, result.detail


def test_evidence_snippets_hand_over_the_same_graph_gradients():
    """A snippet from a --create-graph run builds p.grad as the harness does: the same
    values, a graph, and the same Hessian (its hessian() is reference.hessian's)."""
    import numpy as np
    import torch

    from optcheck.checks.kit.contract import param_source
    from optcheck.checks.kit.harness import graph_gradients
    from optcheck.reference.hessian import hessian_diagonal

    with graph_gradients():
        source = param_source([], [])
    space = {"torch": torch, "DTYPE": torch.float64, "DEVICE": "cpu", "PARAMS0": [[1.0] * 5]}
    exec(source, space)
    assert space["GRAPH"] is True
    assert np.array_equal(space["hessian"]((5,)).numpy(), hessian_diagonal((5,)))
    (p,) = space["make_params"]()
    grad = space["as_grad"](p, [0.5, -1.0, 2.0, 0.0, 3.0])
    (hz,) = torch.autograd.grad(grad, p, grad_outputs=torch.ones(5, dtype=torch.float64))
    assert grad.tolist() == [0.5, -1.0, 2.0, 0.0, 3.0]
    assert hz.tolist() == hessian_diagonal((5,)).tolist()


def test_create_graph_with_a_sparse_gradient_record_is_a_usage_error():
    import pytest

    from optcheck.suites.prepare import ConfigError

    with pytest.raises(ConfigError, match="sparse gradients, which carry no graph"):
        prepare("torch.optim:SparseAdam", "SparseAdam", create_graph=True)
