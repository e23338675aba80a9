"""Adam written the way a foreach kernel is (tensors bucketed by dtype, processed in chunks,
complex parameters stepped as their view_as_real), and the bugs such code has that only
parameters of a certain kind, or a long run, expose.

``KindAdam`` is *correct*: cross-validation passes on it with every parameter kind drawn. Each
mutant passes the old cases (plain float tensors, a few per group, ≤ 12 steps) and is caught
by one new case kind (tests/test_param_kinds.py says which).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch.optim import Optimizer


class KindAdam(Optimizer):
    """Adam with L2 decay in the gradient (Kingma & Ba 2015, Alg. 1; torch.optim.Adam's
    arrangement), bucketed by dtype and chunked as foreach kernels are."""

    CHUNK = 16

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for where, bucket in self._buckets(params).items():
                for chunk in self._chunks(bucket):
                    for p in chunk:
                        self._update(p, group, *where)
        return None

    # the pieces mutants override ---------------------------------------------------------------

    def _buckets(self, params: list[torch.Tensor]) -> dict[tuple, list[torch.Tensor]]:
        """(dtype, device) -> the tensors stepped in that dtype on that device."""
        out: dict[tuple, list[torch.Tensor]] = {}
        for p in params:
            out.setdefault((p.dtype, p.device), []).append(p)
        return out

    def _chunks(self, params: list[torch.Tensor]) -> Iterator[list[torch.Tensor]]:
        for i in range(0, len(params), self.CHUNK):
            yield params[i : i + self.CHUNK]

    def _real(self, t: torch.Tensor) -> torch.Tensor:
        return torch.view_as_real(t) if t.is_complex() else t

    def _new_counter(self) -> Any:
        return 0

    def _count(self, counter: Any) -> float:
        return float(counter)

    def _write(self, p: torch.Tensor, m: torch.Tensor, denom: torch.Tensor, alpha: float) -> None:
        p.addcdiv_(m, denom, value=alpha)

    def _update(
        self, p: torch.Tensor, group: dict, dtype: torch.dtype, device: torch.device
    ) -> None:
        real_p = self._real(p)
        dtype = dtype.to_real()  # a complex bucket steps its view_as_real
        work = real_p.to(device=device, dtype=dtype)  # real_p itself where they match
        grad = p.grad if p.grad is not None else torch.zeros_like(p)  # a mutant's doing
        g = self._real(grad).to(device=work.device, dtype=work.dtype)
        state = self.state[p]
        if not state:
            state["step"] = self._new_counter()
            state["m"] = torch.zeros_like(work)
            state["v"] = torch.zeros_like(work)
        state["step"] += 1
        t = self._count(state["step"])
        beta1, beta2 = group["betas"]
        if group["weight_decay"]:
            g = g.add(work, alpha=group["weight_decay"])
        m = state["m"].mul_(beta1).add_(g, alpha=1 - beta1)
        v = state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
        bc1, bc2 = 1 - beta1**t, 1 - beta2**t
        denom = (v.sqrt() / math.sqrt(bc2)).add_(group["eps"])
        self._write(work, m, denom, -group["lr"] / bc1)
        if work is not real_p:
            real_p.copy_(work)


class AdamFlatCopy(KindAdam):
    """Writes the update through ``p.reshape(-1)``: a view of a contiguous tensor, but a copy
    of a transposed or channels_last one, so those never move."""

    def _write(self, p, m, denom, alpha):
        p.reshape(-1).addcdiv_(m.reshape(-1), denom.reshape(-1), value=alpha)


class AdamStorageOrder(KindAdam):
    """Writes the logically ordered update into the storage in memory order (as a kernel
    taking ``data_ptr()`` and ``numel()`` does): right for contiguous tensors only."""

    def _write(self, p, m, denom, alpha):
        flat = torch.as_strided(p, (p.numel(),), (1,), p.storage_offset())
        flat.addcdiv_(m.reshape(-1), denom.reshape(-1), value=alpha)


class AdamViewFlat(KindAdam):
    """Writes the update through ``p.view(-1)``, which raises on a transposed or channels_last
    tensor: a crash on those kinds, one finding (contract.param_kinds) however many checks
    would draw them."""

    def _write(self, p, m, denom, alpha):
        p.view(-1).addcdiv_(m.reshape(-1), denom.reshape(-1), value=alpha)


class AdamCopiesBackFlat(KindAdam):
    """Computes the new value out of place and copies it back through a flat view of the
    storage (as a kernel taking ``data_ptr()`` and ``numel()`` does): a transposed or
    channels_last tensor gets its values permuted, even when the update is zero. Every element
    moves, so contract.param_kinds sees nothing wrong; contract.zero_lr does."""

    def _write(self, p, m, denom, alpha):
        new = p.addcdiv(m, denom, value=alpha)
        torch.as_strided(p, (p.numel(),), (1,), p.storage_offset()).copy_(new.reshape(-1))


class AdamComplexRealPart(KindAdam):
    """Steps a complex parameter's real part only (``p.real``): the imaginary part never moves
    and its gradient is ignored."""

    def _real(self, t):
        return t.real if t.is_complex() else t


class AdamFirstDtype(KindAdam):
    """One bucket per group in the first tensor's dtype: a float64 tensor behind a float32 one
    is stepped in float32."""

    def _buckets(self, params):
        out = {}
        for p in params:
            out.setdefault((params[0].dtype, p.device), []).append(p)
        return out


class AdamCastPathStepsAll(KindAdam):
    """Tensors of the group's first dtype are stepped when they have a gradient; those of any
    other dtype go down a cast path that forgets the check and steps them all, a missing
    gradient taken as zero: with mixed dtypes a tensor without a gradient gets state, and
    moves once it has momentum."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            first = group["params"][0].dtype
            for p in group["params"]:
                if p.grad is not None or p.dtype != first:
                    self._update(p, group, p.dtype, p.device)
        return None


class AdamFirstDevice(KindAdam):
    """One bucket per group on the first tensor's device (a foreach grouping that forgets
    the device): a cuda tensor behind a cpu one is stepped, and keeps its state, on cpu."""

    def _buckets(self, params):
        out = {}
        for p in params:
            out.setdefault((p.dtype, params[0].device), []).append(p)
        return out


class AdamDropsPastChunk(KindAdam):
    """Only the first chunk of each bucket is stepped: tensors past the 16th never move."""

    def _chunks(self, params):
        yield params[: self.CHUNK]


class AdamZeroDimPromoted(KindAdam):
    """Divides each gradient by a 0-d factor in the widest dtype of the step (1.0, as timm 1.0.31's
    Lamb divides by its global gradient norm) and averages the result into a buffer with
    ``lerp_``. A 0-d float32 gradient over a 0-d float64 factor becomes float64 (0-d operands
    promote each other, a vector keeps its dtype), which ``lerp_`` refuses: step() raises on a
    0-d float32 tensor beside a float64 one, and on nothing else."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:  # evaluated once, as torch's optimizers do
            with torch.enable_grad():
                loss = closure()
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        ones = [torch.ones((), dtype=g.dtype.to_real(), device=g.device) for g in grads]
        self._factor = torch.stack(ones).amax() if ones else None
        super().step()
        return loss

    def _update(self, p, group, dtype, device):
        super()._update(p, group, dtype, device)
        scaled = p.grad / self._factor
        self.state[p].setdefault("g_avg", torch.zeros_like(p)).lerp_(scaled, 0.5)


class AdamStepCapped(KindAdam):
    """Caps the bias-correction step count at 1000 (a "it has converged by then" shortcut)."""

    def _count(self, counter):
        return float(min(counter, 1000))


class AdamWComplexRealPart(AdamComplexRealPart):
    """The same, with decoupled weight decay on by default: the imaginary part moves by decay
    alone, never with its gradient. heavyball 3.2.1's AdamW and LaProp do this (the complex
    update cast to real); with decay it had passed as "declines complex"."""

    def __init__(self, params: Any, lr: float = 1e-3, decay: float = 1e-2):
        Optimizer.__init__(self, params, dict(lr=lr, betas=(0.9, 0.999), eps=1e-8, decay=decay))
        for group in self.param_groups:
            group["weight_decay"] = 0.0  # KindAdam's L2 off: the decay here is decoupled

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.mul_(1 - group["lr"] * group["decay"])
        return super().step(closure)


class AdamFloat16Step(KindAdam):
    """Keeps the step count in a float16 tensor: exact up to 2048, where t + 1 rounds back to
    2048 and the bias correction stops advancing."""

    def _new_counter(self):
        return torch.tensor(0.0, dtype=torch.float16)

    def _count(self, counter):
        return float(counter)


# Caught by cross-validation with the kind drawn. A complex tensor stepped by another rule
# than its view_as_real's (its imaginary part never moving, here) is caught by
# contract.param_kinds instead, and cross-validation then draws no complex tensor.
KIND_MUTANTS: dict[str, tuple[type[KindAdam], ...]] = {
    "non-contiguous": (AdamFlatCopy, AdamStorageOrder),
    "channels-last": (AdamStorageOrder, AdamFlatCopy),
    "mixed-dtypes": (AdamFirstDtype,),
    "many-tensors": (AdamDropsPastChunk,),
}
LONG_RUN_MUTANTS = (AdamStepCapped, AdamFloat16Step)
# The contract's cases before every check drew every parameter kind: 0-d and zero-size tensors
# among ordinary ones.
OLD_CONTRACT_KINDS = ("0-d", "zero-size")
# Caught by a contract check other than contract.param_kinds (whose probe they pass: they
# neither raise nor leave a tensor unmoved) once the contract draws the kind, and let through
# by the contract's plain cases: kind -> (mutant, the check that catches it).
CONTRACT_KIND_MUTANTS: dict[str, tuple[type[KindAdam], str]] = {
    "non-contiguous": (AdamCopiesBackFlat, "contract.zero_lr"),
    "mixed-dtypes": (AdamCastPathStepsAll, "contract.grad_none"),
    "devices": (AdamFirstDevice, "contract.dtype"),
}


class AdamFirstDeviceOnly(KindAdam):
    """Steps only the tensors on the group's first tensor's device (a foreach path that takes
    that device's bucket for the whole group): a cuda tensor behind a cpu one never moves.
    Cross-validation with the devices kind catches it (tests/test_param_devices.py), on a
    machine with CUDA only: with one device every tensor is in the first one's bucket."""

    def _buckets(self, params):
        first = params[0].device if params else None
        return {k: v for k, v in super()._buckets(params).items() if k[1] == first}


class AdamRefusesZeroDim(KindAdam):
    """Raises on a 0-d parameter (a learned temperature) and steps every other kind: one
    finding, contract.param_kinds, whichever check draws a 0-d tensor."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        if any(p.dim() == 0 for g in self.param_groups for p in g["params"]):
            raise RuntimeError("0-d parameters are not supported")
        return super().step(closure)
