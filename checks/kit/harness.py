"""Drive a torch optimizer open-loop: fixed gradients in, the trajectory out as float64 NumPy.

Every check and the cross-validation feed gradients through here, so the way a target is
driven (grads set on .grad, lr written to every group as a scheduler would) lives in one place.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from optcheck.reference.hessian import hessian_diagonal

MakeOptimizer = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]

DTYPES = {
    "float64": torch.float64,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


# How a parameter is held in memory (checks.kit.contract.PARAM_KINDS names the kinds). The
# arrays of a case hold the values; a layout only changes strides or the dtype's kind:
# "transposed": a 2-D array stored as the transpose of a contiguous tensor (a tied or
# transposed weight); "channels-last": a 4-D array in torch.channels_last; "complex": an
# array of shape S + (2,) is the view_as_real of a complex tensor of shape S, which is how
# torch.optim optimizes complex parameters.
LAYOUTS = ("plain", "transposed", "channels-last", "complex")
COMPLEX = {torch.float64: torch.complex128, torch.float32: torch.complex64}


def real_view(t: torch.Tensor) -> torch.Tensor:
    """A complex tensor as its view_as_real (how torch.optim steps it), any other as itself."""
    return torch.view_as_real(t) if t.is_complex() else t


def to_numpy(t: torch.Tensor) -> np.ndarray:
    if t.is_sparse:
        t = t.to_dense()
    return real_view(t).detach().to("cpu", torch.float64).numpy().copy()


def grad_array(t: torch.Tensor) -> np.ndarray:
    """A gradient as float64 NumPy; a sparse one NaN-encoded (absent entries NaN), the
    references' encoding (reference.sparse_adam)."""
    if not t.is_sparse:
        return to_numpy(t)
    t = t.coalesce()
    out = np.full(tuple(t.shape), np.nan)
    out[tuple(t.indices().cpu().numpy())] = to_numpy(t.values())
    return out


def sparse_coo(g: np.ndarray, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    """A NaN-encoded gradient (optcheck.reference.sparse_adam: NaN = not in the sparse
    tensor) as torch's COO tensor: whole rows present or absent give a hybrid tensor (one
    sparse dimension, as nn.Embedding(sparse=True) produces), other patterns one index per
    entry."""
    present = ~np.isnan(g)
    if g.ndim >= 1 and np.array_equal(
        present, np.broadcast_to(present.any(axis=tuple(range(1, g.ndim)), keepdims=True), g.shape)
    ):
        rows = np.flatnonzero(present.reshape(g.shape[0], -1).any(axis=1) if g.size else [])
        indices, values = rows[None, :], g[rows]
    else:
        indices = np.stack(np.nonzero(present)) if g.ndim else np.zeros((0, 1), dtype=np.int64)
        values = g[present]
    return torch.sparse_coo_tensor(
        torch.as_tensor(np.asarray(indices, dtype=np.int64)),
        torch.as_tensor(np.asarray(values), dtype=dtype),
        g.shape,
        device=device,
        check_invariants=False,  # built from unique, in-range indices above
    )


def laid_out(values: torch.Tensor, layout: str) -> torch.Tensor:
    """A new tensor holding ``values`` (real, of the array's shape) in ``layout``."""
    if layout == "plain":
        return values.clone()
    if layout == "transposed":
        return values.t().contiguous().t()
    if layout == "channels-last":
        return values.contiguous(memory_format=torch.channels_last)
    if layout == "complex":
        if values.dtype not in COMPLEX:
            raise ValueError(f"no complex dtype for {values.dtype}")
        return torch.complex(values[..., 0], values[..., 1])
    raise ValueError(f"unknown layout {layout!r}")


def make_params(
    params0: Sequence[np.ndarray],
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
    layouts: Sequence[str] = (),
    dtypes: Sequence[torch.dtype | None] = (),
    devices: Sequence[str | None] = (),
) -> list[torch.nn.Parameter]:
    """Parameters holding ``params0``; tensor i in ``layouts[i]``, ``dtypes[i]`` and on
    ``devices[i]`` where given (None or missing: ``dtype``, plain, ``device``)."""

    def one(i: int, p: np.ndarray) -> torch.nn.Parameter:
        dt = (dtypes[i] if i < len(dtypes) else None) or dtype
        layout = layouts[i] if i < len(layouts) else "plain"
        on = (devices[i] if i < len(devices) else None) or device
        values = torch.as_tensor(np.asarray(p), dtype=dt, device=on)
        return torch.nn.Parameter(laid_out(values, layout))

    return [one(i, p) for i, p in enumerate(params0)]


_SPARSE = contextvars.ContextVar("optcheck_sparse_gradients", default=False)


@contextlib.contextmanager
def _switched(var: contextvars.ContextVar[bool], on: bool) -> Iterator[None]:
    token = var.set(on)
    try:
        yield
    finally:
        var.reset(token)


def sparse_gradients(on: bool = True) -> contextlib.AbstractContextManager[None]:
    """Within the block every gradient is handed over as a sparse COO tensor (a record with
    sparse_grads: the runner enters this around its checks)."""
    return _switched(_SPARSE, on)


def sparse_from_now() -> None:
    """Sparse gradients for the rest of the running check (whose ``sparse_gradients`` block
    restores the setting when it ends): a check that found out the target needs them."""
    _SPARSE.set(True)


_GRAPH = contextvars.ContextVar("optcheck_graph_gradients", default=False)
_NO_SHAPE_KINDS: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "optcheck_shape_kinds_left_out", default=frozenset()
)


@contextlib.contextmanager
def shape_kinds_left_out(kinds: frozenset[str]) -> Iterator[None]:
    """Within the block drawn cases hold no tensor of these shape kinds ("0-d": shape (),
    "zero-size": a 0 in the shape): the run's --shapes leaves them out, or step() raises on
    them (contract.param_kinds told it once). The runner enters it around each check."""
    token = _NO_SHAPE_KINDS.set(kinds)
    try:
        yield
    finally:
        _NO_SHAPE_KINDS.reset(token)


def kind_of(shape: tuple[int, ...]) -> str | None:
    """The shape kind of a drawn shape: "0-d", "zero-size", or None (an ordinary tensor)."""
    if len(shape) == 0:
        return "0-d"
    return "zero-size" if 0 in shape else None


def shape_drawn(shape: tuple[int, ...]) -> bool:
    """Whether a case may hold a tensor of ``shape`` here (``shape_kinds_left_out``)."""
    left = _NO_SHAPE_KINDS.get()
    return not left or kind_of(shape) not in left


def graph_gradients(on: bool = True) -> contextlib.AbstractContextManager[None]:
    """Within the block every gradient carries an autograd graph (``graph_grad``): what
    ``loss.backward(create_graph=True)`` leaves (--create-graph, a record's create_graph)."""
    return _switched(_GRAPH, on)


def graph_on() -> bool:
    """Whether gradients carry a graph here (inside ``graph_gradients``)."""
    return _GRAPH.get()


def graph_loss(p: torch.nn.Parameter, g: np.ndarray | torch.Tensor) -> torch.Tensor:
    """L = Σ g·θ + ½ Σ h·(θ − θ.detach())² at θ = p: its gradient is g exactly (the second
    term's is h·0) and its Hessian diag(h), h = reference.hessian.hessian_diagonal. A complex
    parameter is its view_as_real. Call under torch.enable_grad()."""
    x = torch.view_as_real(p) if p.is_complex() else p
    gt = torch.as_tensor(np.asarray(g), dtype=x.dtype, device=p.device)
    h = torch.as_tensor(hessian_diagonal(tuple(x.shape)), dtype=x.dtype, device=p.device)
    d = x - x.detach()
    return (gt * x).sum() + 0.5 * (h * d * d).sum()


def graph_grad(p: torch.nn.Parameter, g: np.ndarray) -> torch.Tensor:
    """g, exactly, as ``graph_loss``'s gradient, with its graph."""
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(graph_loss(p, g), p, create_graph=True)
    return grad


def set_grads(params: Sequence[torch.nn.Parameter], grads: Sequence[np.ndarray | None]) -> None:
    """Gradients onto ``.grad``; a sparse one (inside ``sparse_gradients``, or holding NaN:
    drawn only for records with sparse_grads) as a COO tensor (``sparse_coo``); inside
    ``graph_gradients`` with a graph (``graph_grad``)."""
    sparse, graph = _SPARSE.get(), _GRAPH.get()
    for p, g in zip(params, grads, strict=True):
        if g is None:
            p.grad = None
        elif graph:
            p.grad = graph_grad(p, g)
        elif sparse or np.isnan(np.asarray(g)).any():
            p.grad = sparse_coo(np.asarray(g, dtype=np.float64), p.dtype, p.device)
        elif p.is_complex() or not p.is_contiguous():
            # As autograd lays a gradient out: the parameter's strides (and kind).
            grad = torch.empty_like(p)
            real = real_view(grad)
            real.copy_(torch.as_tensor(np.asarray(g), dtype=real.dtype, device=p.device))
            p.grad = grad
        else:
            p.grad = torch.as_tensor(np.asarray(g), dtype=p.dtype, device=p.device).clone()


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def run_torch(
    make_opt: MakeOptimizer,
    params0: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]],
    *,
    dtype: torch.dtype = torch.float64,
    device: str = "cpu",
    lrs: Sequence[float] | None = None,
    layouts: Sequence[str] = (),
    dtypes: Sequence[torch.dtype | None] = (),
    devices: Sequence[str | None] = (),
) -> list[list[np.ndarray]]:
    """Params after each step, as float64 arrays; mirrors optcheck.reference.trajectory.run.
    ``layouts``, ``dtypes`` and ``devices``: per tensor, as ``make_params``."""
    params = make_params(params0, dtype, device, layouts, dtypes, devices)
    opt = make_opt(params)
    out = []
    for k, gs in enumerate(grads):
        if lrs is not None:
            set_lr(opt, float(lrs[k]))
        set_grads(params, gs)
        opt.step()
        out.append([to_numpy(p) for p in params])
    return out
