"""Hand reproductions of the verdicts tests/realworld.toml records for torch-optimizer 0.3.0,
transformers 5.23.0 and heavyball 3.2.1: each runs the package's class with torch alone, no
optcheck, so that a violation is believed only when plain torch shows it too. Marked
realworld (``--realworld``; ``nox -s realworld`` installs the pinned packages); a test whose
package is missing is skipped."""

from __future__ import annotations

import copy
import importlib
import io
import warnings

import pytest
import torch
from real_findings import deepcopy_step_error, grad_after_step

pytestmark = pytest.mark.realworld

G = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)


def _cls(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(pytest.importorskip(module), name)


# torch-optimizer 0.3.0: `grad = p.grad.data; grad.add_(p.data, alpha=weight_decay)` (or
# d_p.add_) writes the L2 term into the caller's p.grad, so a second step, gradient clipping
# or logging after step() sees g + λθ.
WEIGHT_DECAY_INTO_GRAD = [
    "torch_optimizer:AccSGD",
    "torch_optimizer:AggMo",
    "torch_optimizer:DiffGrad",
    "torch_optimizer:MADGRAD",
    "torch_optimizer:PID",
    "torch_optimizer:QHM",
    "torch_optimizer:QHAdam",
    "torch_optimizer:AdaBelief",
    "torch_optimizer:RangerQH",
    "torch_optimizer:Shampoo",
    "torch_optimizer:SWATS",
]


@pytest.mark.parametrize("path", WEIGHT_DECAY_INTO_GRAD)
def test_weight_decay_is_written_into_the_gradient(path):
    cls = _cls(path)
    assert torch.equal(grad_after_step(cls, G, lr=1e-2), G)  # without decay p.grad is kept
    got = grad_after_step(cls, G, lr=1e-2, weight_decay=0.1)
    assert torch.allclose(got, G + 0.1 * torch.ones_like(G)), got  # p = 1: g + λθ


def test_shampoo_raises_on_a_zero_size_parameter():
    """Shampoo reshapes each gradient to (dim, -1): a zero-size parameter (an empty
    embedding, a pruned layer) raises where torch's optimizers step it as a no-op."""
    p = torch.nn.Parameter(torch.zeros(0))
    opt = _cls("torch_optimizer:Shampoo")([p], lr=1e-2)
    p.grad = torch.zeros(0)
    with pytest.raises(RuntimeError, match="0 elements"):
        opt.step()


def test_novograd_normalizes_the_gradient_in_place():
    """NovoGrad divides grad by its norm in place (``grad.div_(denom)``), weight decay or not."""
    got = grad_after_step(_cls("torch_optimizer:NovoGrad"), G, lr=1e-2)
    assert not torch.equal(got, G)
    assert torch.allclose(got.norm(), torch.tensor(1.0, dtype=G.dtype), rtol=1e-3), got


def test_novograd_keeps_a_float32_norm_for_float64_parameters():
    """``exp_avg_sq`` starts as ``torch.zeros([])`` (float32) for a float64 parameter; a
    resume through state_dict casts it to float64 (Optimizer.load_state_dict casts state to
    the parameter's dtype), so the resumed run differs from the uninterrupted one at step 2."""
    cls = _cls("torch_optimizer:NovoGrad")
    grads = [G, torch.tensor([0.3, 0.1, -0.7], dtype=torch.float64)]

    def run(resume: bool) -> torch.Tensor:
        p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        opt = cls([p], lr=0.1)
        p.grad = grads[0].clone()
        opt.step()
        if resume:
            assert opt.state[p]["exp_avg_sq"].dtype == torch.float32
            buffer = io.BytesIO()
            torch.save(opt.state_dict(), buffer)
            buffer.seek(0)
            opt = cls([p], lr=0.1)
            opt.load_state_dict(torch.load(buffer))
            assert opt.state[p]["exp_avg_sq"].dtype == torch.float64
        p.grad = grads[1].clone()
        opt.step()
        return p.detach().clone()

    assert not torch.equal(run(False), run(True))


@pytest.mark.parametrize(
    ("path", "attribute"),
    [
        ("torch_optimizer:AdaBelief", "_weight_decouple"),
        ("torch_optimizer:Lamb", "debias"),
        ("torch_optimizer:AdaBound", "base_lrs"),
        ("torch_optimizer:Ranger", "radam_buffer"),
        ("torch_optimizer:RangerQH", "k"),
    ],
)
def test_deepcopy_loses_init_attributes(path, attribute):
    """Optimizer.__getstate__ keeps defaults, state and param_groups: what __init__ set on
    self is gone in a deep copy (or a pickled copy), whose step() raises AttributeError."""
    error = deepcopy_step_error(_cls(path), lr=1e-2)
    assert isinstance(error, AttributeError) and attribute in str(error), error


def test_transformers_adafactor_runs_the_closure_without_grad():
    """``Adafactor.step`` is decorated ``@torch.no_grad()`` and calls ``closure()`` without
    ``torch.enable_grad()`` (torch's optimizers re-enable it), so a closure that calls
    backward() raises."""
    cls = _cls("transformers.optimization:Adafactor")
    p = torch.nn.Parameter(torch.ones(3))
    opt = cls([p], lr=None, relative_step=True)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="does not require grad"):
        opt.step(closure)
    reference = torch.optim.SGD([torch.nn.Parameter(torch.ones(3))], lr=0.1)
    loss = reference.param_groups[0]["params"][0]

    def works() -> torch.Tensor:
        out = (loss**2).sum()
        out.backward()
        return out

    reference.step(works)  # the same closure shape works with torch's own optimizer


def test_packages_are_importable_when_installed():
    """A guard on the paths above: a renamed module fails here, not as a silent skip."""
    for module in ("torch_optimizer", "transformers.optimization"):
        if importlib.util.find_spec(module.split(".")[0]) is not None:
            importlib.import_module(module)


@pytest.mark.parametrize("path", ["torch_optimizer:Ranger", "torch_optimizer:RangerVA"])
def test_ranger_ignores_the_closure(path):
    """pytorch_ranger (torch-optimizer's Ranger, RangerVA) takes ``closure`` and never calls
    it (the call is commented out), returning None: a loss-recomputing loop gets nothing."""
    cls = _cls(path)
    p = torch.nn.Parameter(torch.ones(3))
    opt = cls([p], lr=1e-2)
    calls = []

    def closure() -> torch.Tensor:
        calls.append(1)
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    p.grad = torch.ones(3)
    assert opt.step(closure) is None and calls == []


def test_ranger_shares_one_radam_buffer_across_param_groups():
    """Ranger caches RAdam's (step, ρ_t, step size) in ``self.radam_buffer`` keyed by step
    only: a second param group with other betas reuses the first group's cached step size,
    so two groups differ from two separate optimizers."""
    cls = _cls("torch_optimizer:Ranger")
    hp_a, hp_b = {"lr": 1e-2}, {"lr": 1e-2, "betas": (0.5, 0.9)}

    def params() -> list[torch.nn.Parameter]:
        return [torch.nn.Parameter(torch.ones(3, dtype=torch.float64)) for _ in range(2)]

    together = params()
    opt = cls([{"params": [together[0]], **hp_a}, {"params": [together[1]], **hp_b}])
    apart = params()
    opts = [cls([apart[0]], **hp_a), cls([apart[1]], **hp_b)]
    for _ in range(6):  # RAdam's rectified phase starts after a few steps
        for p in (*together, *apart):
            p.grad = G.clone()
        opt.step()
        for o in opts:
            o.step()
    assert torch.equal(together[0], apart[0])
    assert not torch.allclose(together[1], apart[1])


def test_yogi_moves_zero_parameters_under_zero_gradients():
    """Yogi starts both moments at ``initial_accumulator`` (1e-6), not at m0 = 0 (Zaheer et
    al. 2018, Alg. 2), so with θ = 0 and g = 0 the first step moves θ by about -η·m̂/√v̂.
    Not a defect: the authors' own TensorFlow code does the same (jettify/pytorch-optimizer
    #77). contract.zero_params judges the step, not the start: with the state zeroed after
    the first step, θ stays at zero (below), so Yogi conforms in tests/realworld.toml."""
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = _cls("torch_optimizer:Yogi")([p], lr=1e-2)
    p.grad = torch.zeros(3, dtype=torch.float64)
    opt.step()
    assert (p.detach() < 0).all(), p
    with torch.no_grad():
        p.zero_()
        for key in ("exp_avg", "exp_avg_sq"):
            opt.state[p][key].zero_()
    opt.step()
    assert not p.detach().any(), p


def test_adamp_sgdp_swats_raise_on_a_transposed_weight():
    """``x.view(x.size(0), -1)`` on the gradient (AdamP's and SGDP's projection, SWATS's
    flattening): a non-contiguous parameter, such as a transposed weight, gets a gradient of
    the same strides from autograd, and step() raises."""
    for path in ("torch_optimizer:AdamP", "torch_optimizer:SGDP", "torch_optimizer:SWATS"):
        w = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.float64).t())
        (w * torch.arange(6.0, dtype=torch.float64).view(3, 2)).sum().backward()
        assert not w.grad.is_contiguous()
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            _cls(path)([w], lr=1e-2).step()


def test_apollo_state_joins_the_autograd_graph_and_a_checkpoint_does_not_resume():
    """Apollo's step() runs without torch.no_grad(); with weight_decay > 0, ``grad.add(p)``
    tracks p, so state['exp_avg_grad'] becomes a tensor with a graph that grows every step.
    Saved with torch.save and loaded, it is a leaf that requires grad, and the next step's
    in-place update raises; the uninterrupted run steps on."""
    cls = _cls("torch_optimizer:Apollo")

    def fresh() -> tuple[torch.nn.Parameter, torch.optim.Optimizer]:
        p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
        return p, cls([p], lr=1e-2, weight_decay=0.1)

    p, opt = fresh()
    p.grad = G.clone()
    opt.step()
    assert opt.state[p]["exp_avg_grad"].grad_fn is not None
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    q, resumed = fresh()
    resumed.load_state_dict(torch.load(buffer))
    q.grad = G.clone()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        resumed.step()
    opt.step()  # the uninterrupted run


def test_radam_computes_in_float32_for_float64_parameters():
    """torch-optimizer's RAdam takes ``p.grad.data.float()`` and ``p.data.float()``: its
    moments are float32 and a float64 parameter moves by a float32-rounded step, about 1e-8
    relative away from torch's RAdam (the same formula in float64) at the defaults."""
    cls = _cls("torch_optimizer:RAdam")
    p, q = (torch.nn.Parameter(torch.ones(3, dtype=torch.float64)) for _ in range(2))
    opt, ref = cls([p], lr=0.1), torch.optim.RAdam([q], lr=0.1)
    for g in (G, 0.37 * G):
        p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    assert opt.state[p]["exp_avg"].dtype == torch.float32
    moved = (q.detach() - 1).abs().max()
    relative = ((p.detach() - q.detach()).abs().max() / moved).item()
    assert 1e-10 < relative < 1e-5, relative


def test_radam_param_groups_share_one_step_size_buffer():
    """``buffer`` is a list in RAdam's ``defaults``: every param group gets the same list
    object, so a second group reuses the step size (lr included) that the first group
    cached for that step."""
    cls = _cls("torch_optimizer:RAdam")
    a, b, c = (torch.nn.Parameter(torch.ones(3, dtype=torch.float64)) for _ in range(3))
    opt = cls([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert opt.param_groups[0]["buffer"] is opt.param_groups[1]["buffer"]
    alone = cls([c], lr=0.5)
    for p in (a, b, c):
        p.grad = G.clone()
    opt.step()
    alone.step()
    assert not torch.allclose(b, c)  # group 2 stepped with group 1's lr 0.1


def test_sgdw_decays_by_a_constant_not_by_theta():
    """SGDW's decay is ``p.data.add_(weight_decay, alpha=-lr)``: every coordinate moves by the
    constant -ηλ, not by -ηλθ (Loshchilov & Hutter's decoupled decay), so a zero parameter
    under a zero gradient moves, and θ = 2 decays exactly as θ = 0 does."""
    cls = _cls("torch_optimizer:SGDW")
    moved = []
    for start in (0.0, 2.0):
        p = torch.nn.Parameter(torch.full((3,), start, dtype=torch.float64))
        opt = cls([p], lr=0.1, weight_decay=0.1)
        p.grad = torch.zeros(3, dtype=torch.float64)
        opt.step()
        moved.append(p.detach() - start)
    assert torch.allclose(moved[0], torch.full((3,), -0.01, dtype=torch.float64))
    assert torch.allclose(moved[1], moved[0], rtol=0, atol=1e-15)  # decoupled: 0 and -0.02


def _heavyball_eager() -> object:
    """heavyball with torch.compile off (its module switch): the same arithmetic, without
    a minute of compilation per new shape in a hand reproduction."""
    heavyball = pytest.importorskip("heavyball")
    heavyball.utils.compile_mode = None
    return heavyball


def test_heavyball_adamw_floors_the_denominator_at_eps():
    """heavyball's Adam update divides by max(√v̂, ε) (``eps_sqrt``: ``sqrt().clamp(min=eps)``)
    where AdamW (Loshchilov & Hutter, Alg. 2, the source its docstring cites) divides by
    √v̂ + ε: with ε = 0.5 and g = 1, step 1 moves θ by η, not η/1.5."""
    heavyball = _heavyball_eager()
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = heavyball.AdamW([p], lr=1.0, eps=0.5, betas=(0.9, 0.99))
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    assert torch.allclose(p.detach(), torch.full((3,), -1.0, dtype=torch.float64), atol=1e-6)
    q = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    ref = torch.optim.AdamW([q], lr=1.0, eps=0.5, betas=(0.9, 0.99), weight_decay=0.0)
    q.grad = torch.ones(3, dtype=torch.float64)
    ref.step()
    assert torch.allclose(q.detach(), torch.full((3,), -1 / 1.5, dtype=torch.float64))


def test_heavyball_sets_the_gradient_to_none_and_keeps_float32_state():
    """After step(), heavyball sets ``p.grad = None`` (torch's optimizers leave it); and its
    moments are float32 for a float64 parameter (``storage_dtype="float32"`` by default)."""
    heavyball = _heavyball_eager()
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = heavyball.AdamW([p], lr=1e-2)
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    assert p.grad is None
    tensors = [v for s in opt.state.values() for v in _tensors(s)]
    assert any(t.dtype == torch.float32 and t.numel() == 3 for t in tensors), tensors


def test_heavyball_resume_casts_its_float32_moments_to_float64():
    """torch's ``load_state_dict`` casts floating state to the parameter's dtype; heavyball's
    post-load hook (``_restore_ecc_dtypes``) restores dtypes only under ECC, so the float32
    moments of a float64 parameter come back float64 and the resumed run leaves the
    uninterrupted one by float32 rounding (2e-9 here), through ``torch.save`` as through a
    plain ``state_dict``."""
    heavyball = _heavyball_eager()
    grads = [torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64) * (k + 1) for k in range(4)]

    def run(opt: torch.optim.Optimizer, p: torch.nn.Parameter, steps: range) -> list:
        out = []
        for k in steps:
            p.grad = grads[k].clone()
            opt.step()
            out.append(p.detach().clone())
        return out

    def fresh() -> torch.nn.Parameter:
        return torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))

    p = fresh()
    expected = run(heavyball.AdamW([p], lr=0.1), p, range(4))
    p = fresh()
    opt = heavyball.AdamW([p], lr=0.1)
    run(opt, p, range(2))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    p2 = torch.nn.Parameter(p.detach().clone())
    opt2 = heavyball.AdamW([p2], lr=0.1)
    opt2.load_state_dict(torch.load(buffer, weights_only=True))
    assert {t.dtype for t in _tensors(opt.state[p]) if t.is_floating_point()} == {torch.float32}
    assert {t.dtype for t in _tensors(opt2.state[p2]) if t.is_floating_point()} == {torch.float64}
    got = run(opt2, p2, range(2, 4))
    gap = max((e - g).abs().max().item() for e, g in zip(expected[2:], got, strict=True))
    assert 1e-10 < gap < 1e-7, gap


def test_heavyball_applies_a_float32_learning_rate_to_float64_parameters():
    """heavyball holds the learning rate as a float32 tensor, so a float64 parameter moves by
    float32(η): under g = 0 with decoupled decay θ₁ = θ₀(1 − λ·float32(η)), 1.5e-10 relative
    off θ₀(1 − ηλ) where float64's rounding is 1e-16 (adamw.pure_decay, and the long run's
    first step, crossval.long_horizon)."""
    heavyball = _heavyball_eager()
    theta0 = 0.345584192064786
    p = torch.nn.Parameter(torch.tensor([theta0], dtype=torch.float64))
    opt = heavyball.AdamW([p], lr=0.1, betas=(0.0, 0.999), eps=1e-3, weight_decay=0.1)
    p.grad = torch.zeros(1, dtype=torch.float64)
    opt.step()
    lr32 = torch.tensor(0.1, dtype=torch.float32).item()
    assert p.item() == pytest.approx(theta0 * (1 - 0.1 * lr32), rel=1e-15, abs=0)
    assert abs(p.item() - theta0 * (1 - 0.1 * 0.1)) > 1e-11


def test_heavyball_adamw_scale_invariance_breaks_at_the_eps_floor():
    """Where √v̂ < ε, max(√v̂, ε) makes the step linear in g: scaling g by c = 16 changes the
    first step by 0.883 (η = 1, ε = 1e-3, g = 5.9e-5), where Adam's √v̂ + ε changes it by
    0.429, inside the ε effect adam.scale_invariance allows (0.6): the same ε floor."""
    heavyball = _heavyball_eager()
    g, theta0 = 5.885545395196437e-05, 0.345584192064786

    def first_step(make: object, c: float) -> float:
        p = torch.nn.Parameter(torch.tensor([theta0], dtype=torch.float64))
        opt = make([p], lr=1.0, betas=(0.0, 0.999), eps=1e-3, weight_decay=0.0)
        p.grad = torch.tensor([c * g], dtype=torch.float64)
        opt.step()
        return p.item() - theta0

    heavy = first_step(heavyball.AdamW, 1.0) - first_step(heavyball.AdamW, 16.0)
    adam = first_step(torch.optim.AdamW, 1.0) - first_step(torch.optim.AdamW, 16.0)
    assert heavy == pytest.approx(15 * g / 1e-3, rel=1e-6)
    assert adam == pytest.approx(16 * g / (16 * g + 1e-3) - g / (g + 1e-3), rel=1e-12)
    assert adam < 0.6 < heavy


HEAVYBALL_CLASSES = ["SGD", "NAdam", "RMSprop", "LaProp", "AdamW"]


@pytest.mark.parametrize("name", HEAVYBALL_CLASSES)
def test_heavyball_classes_share_the_gradient_state_and_resume_defects(name):
    """The base class (ChainOpt) behind every heavyball optimizer: p.grad is None after
    step(), float32 state for a float64 parameter, and a resume through load_state_dict
    that comes back with float64 state and leaves the uninterrupted run."""
    heavyball = _heavyball_eager()
    cls = getattr(heavyball, name)
    grads = [torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64) * (k + 1) for k in range(3)]

    def fresh() -> torch.nn.Parameter:
        return torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))

    def run(opt: torch.optim.Optimizer, p: torch.nn.Parameter, steps: range) -> list:
        out = []
        for k in steps:
            p.grad = grads[k].clone()
            opt.step()
            assert p.grad is None
            out.append(p.detach().clone())
        return out

    p = fresh()
    expected = run(cls([p], lr=0.1), p, range(3))
    p = fresh()
    opt = cls([p], lr=0.1)
    run(opt, p, range(2))
    assert {t.dtype for t in _tensors(opt.state[p]) if t.is_floating_point()} == {torch.float32}
    p2 = torch.nn.Parameter(p.detach().clone())
    opt2 = cls([p2], lr=0.1)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert {t.dtype for t in _tensors(opt2.state[p2]) if t.is_floating_point()} == {torch.float64}
    (got,) = run(opt2, p2, range(2, 3))
    assert 0 < (got - expected[2]).abs().max().item() < 1e-6


@pytest.mark.parametrize("name", HEAVYBALL_CLASSES[:4])
def test_heavyball_takes_mars_from_the_constructor_not_from_a_param_group(name):
    """A param group's own ``mars`` is ignored: constructed with mars=True, a group that
    says mars=False steps with MARS's correction and vice versa (contract.param_groups)."""
    heavyball = _heavyball_eager()
    g, theta0 = -9.669447289429417, -4.604265724722594
    base = {"lr": 1e-4, "weight_decay": 0, "mars_gamma": 0.0025}

    def step(constructor_mars: bool, group_mars: bool | None) -> float:
        p = torch.nn.Parameter(torch.tensor(theta0, dtype=torch.float64))
        group = {"params": [p]} if group_mars is None else {"params": [p], "mars": group_mars}
        opt = getattr(heavyball, name)([group], **base, mars=constructor_mars)
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        return p.item()

    with_mars, without = step(True, None), step(False, None)
    assert with_mars != without
    assert step(True, False) == with_mars
    assert step(False, True) == without


@pytest.mark.parametrize("name", ["LaProp", "AdamW"])
def test_heavyball_freezes_the_imaginary_part_of_a_complex_parameter(name):
    """A complex parameter's update is cast to a real dtype (the imaginary part discarded):
    imaginary parts never move and real parts jump by 2e6 at lr 0.01, where torch's rule
    steps the view_as_real."""
    heavyball = _heavyball_eager()
    z0 = torch.tensor([[1 + 2j, 3 - 1j], [0.5 + 0.5j, -1 + 1j]], dtype=torch.complex128)
    z = torch.nn.Parameter(z0.clone())
    opt = getattr(heavyball, name)([z], lr=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Casting complex values to real discards ..."
        for _ in range(2):
            z.grad = torch.tensor([[1 + 1j, -1 + 2j], [2 - 1j, 1 + 1j]], dtype=torch.complex128)
            opt.step()
    moved = torch.view_as_real(z.detach()) - torch.view_as_real(z0)
    assert torch.equal(moved[..., 1], torch.zeros(2, 2, dtype=torch.float64))
    assert moved[..., 0].abs().max().item() > 1e5


def test_heavyball_compiled_resume_of_float64_parameters_steps_to_zero(monkeypatch):
    """With torch.compile on (heavyball's default), a float64 AdamW resumed through
    torch.save/load_state_dict (float64 moments, see above) sets θ to 0.0 at its next step,
    where the eager run gives 2.29964; float32 parameters resume exactly. Whether heavyball's
    compiled functions or inductor's recompilation for the new dtype is at fault is not
    isolated. About a minute of compilation on 2 cores."""
    heavyball = pytest.importorskip("heavyball")
    monkeypatch.setattr(heavyball.utils, "compile_mode", "max-autotune-no-cudagraphs")
    grads = [torch.tensor(3.0, dtype=torch.float64), torch.tensor(-7.0, dtype=torch.float64)]

    def make(p: torch.nn.Parameter) -> torch.optim.Optimizer:
        return heavyball.AdamW([p], lr=1.0, betas=(0.0, 0.999), eps=1e-3)

    p = torch.nn.Parameter(torch.tensor(2.0, dtype=torch.float64))
    opt = make(p)
    p.grad = grads[0].clone()
    opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    p2 = torch.nn.Parameter(p.detach().clone())
    opt2 = make(p2)
    opt2.load_state_dict(torch.load(buffer, weights_only=True))
    p2.grad = grads[1].clone()
    opt2.step()
    assert p2.item() == 0.0  # eager, the same state: 2.2996431980645786


def _tensors(state: object) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for v in state.values() for t in _tensors(v)]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in _tensors(v)]
    return []


def test_adafactor_raises_on_a_four_dimensional_parameter():
    """torch-optimizer's Adafactor factors the second moment of a ≥ 2-D parameter but joins
    the column factor with ``unsqueeze(0)``, right only for 2-D: a conv weight (channels-last,
    the kind contract.param_kinds draws, or contiguous) makes step() raise."""
    for fmt in (torch.contiguous_format, torch.channels_last):
        w = torch.nn.Parameter(torch.ones(2, 3, 2, 3, dtype=torch.float64))
        w = torch.nn.Parameter(w.detach().to(memory_format=fmt))
        (w * torch.arange(36.0, dtype=torch.float64).view(2, 3, 2, 3)).sum().backward()
        with pytest.raises(RuntimeError, match="must match the size"):
            _cls("torch_optimizer:Adafactor")([w], lr=None, relative_step=True).step()


def test_adahessian_raises_when_no_parameter_has_a_gradient():
    """Adahessian takes Hutchinson's Hessian-vector products over the parameters that have a
    gradient; at a step where none has one (every layer frozen, or a step taken before any
    backward), ``torch.autograd.grad([], [])`` raises, where torch's optimizers do nothing."""
    adahessian = _cls("torch_optimizer:Adahessian")
    p, q = (torch.nn.Parameter(torch.ones(3, dtype=torch.float64)) for _ in range(2))
    opt = adahessian([p, q])
    loss = (G * p).sum() + 0.5 * ((p - p.detach()) ** 2).sum()
    loss.backward(create_graph=True)
    opt.step()  # one tensor with a gradient: fine
    p.grad = None
    with pytest.raises(RuntimeError, match="cannot be empty"):
        opt.step()
    torch.optim.Adam([p, q]).step()  # no gradient anywhere: a no-op


def _hessian_gradients(params: list, curvatures: list) -> None:
    """p.grad = 1 with a graph whose Hessian is diag(curvature), as backward(create_graph=True)
    leaves it."""
    loss = sum(
        p.sum() + 0.5 * (h * (p - p.detach()) ** 2).sum()
        for p, h in zip(params, curvatures, strict=True)
    )
    loss.backward(create_graph=True)


def test_adahessian_raises_on_a_three_dimensional_parameter_or_reuses_the_previous_trace():
    """Adahessian's Hutchinson trace handles 0/1/2-D and 4-D tensors only: a 3-D weight (a conv1d
    kernel) alone raises UnboundLocalError; after a 2-D one it silently takes that tensor's
    |Hz| (the loop variable of the previous iteration): curvature 4 is stepped as curvature 1,
    −1 instead of −0.25 (η = 1, β1 = 0, k = 1)."""
    adahessian = _cls("torch_optimizer:Adahessian")
    w = torch.nn.Parameter(torch.zeros(4, 2, 3, dtype=torch.float64))
    opt = adahessian([w], lr=1.0)
    _hessian_gradients([w], [torch.ones(4, 2, 3, dtype=torch.float64)])
    with pytest.raises(UnboundLocalError):
        opt.step()
    a = torch.nn.Parameter(torch.zeros(2, 3, dtype=torch.float64))
    w = torch.nn.Parameter(torch.zeros(4, 2, 3, dtype=torch.float64))
    opt = adahessian([a, w], lr=1.0, betas=(0.0, 0.999), hessian_power=1.0)
    _hessian_gradients([a, w], [torch.ones(2, 3), torch.full((4, 2, 3), 4.0)])
    opt.step()
    assert torch.allclose(w.detach(), torch.full_like(w, -1.0), atol=1e-3)  # Alg. 1: -0.25
    assert torch.allclose(a.detach(), torch.full_like(a, -1.0), atol=1e-3)


@pytest.mark.parametrize(
    "path", ["torch_optimizer:RAdam", "torch_optimizer:Ranger", "timm_by_path:RAdamLegacy"]
)
def test_float32_copy_zeroes_the_imaginary_part_of_a_complex_parameter(path):
    """``p.data.float()`` of a complex parameter keeps its real part (PyTorch warns that the
    imaginary part is discarded), and the copy back writes 0 into the imaginary part: after
    two steps it is 0 under g and under −g alike, where the same values as a real tensor (its
    view_as_real, torch's rule) end apart. The real part still follows its gradient."""
    cls = _cls(path)
    z0 = torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex128)
    g = torch.tensor([1 + 1j, -1 + 2j], dtype=torch.complex128)

    def ends(sign: float, as_complex: bool) -> torch.Tensor:
        p = torch.nn.Parameter(z0.clone() if as_complex else torch.view_as_real(z0).clone())
        opt = cls([p], lr=0.01)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Casting complex values to real discards ..."
            for _ in range(2):
                p.grad = sign * (g if as_complex else torch.view_as_real(g)).clone()
                opt.step()
        return torch.view_as_real(p.detach()) if as_complex else p.detach()

    plus, minus = ends(1.0, True), ends(-1.0, True)
    assert torch.equal(plus[:, 1], torch.zeros(2, dtype=torch.float64))
    assert torch.equal(minus[:, 1], plus[:, 1]) and not torch.equal(minus[:, 0], plus[:, 0])
    real_plus, real_minus = ends(1.0, False), ends(-1.0, False)
    assert not torch.equal(real_plus[:, 1], real_minus[:, 1])
