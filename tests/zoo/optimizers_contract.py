"""Deliberately broken optimizers, written as a third party would write them (torch-style
constructor ``Cls(params, lr=..., ...)``, own ``step``), each breaking one part of the generic
contract (optcheck.checks.contract_checks). The tests show each contract check failing on at
least one of these and passing on torch.optim and the references.

Most are SGD with momentum; every bug is marked ``# BUG:``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.optim import Optimizer


class _MomentumSGD(Optimizer):
    """A correct SGD (torch's convention: b_1 = g, b = μb + g; θ -= η b) the mutants build on."""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ):
        super().__init__(
            params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, maximize=maximize)
        )

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        g = -p.grad if group["maximize"] else p.grad
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        return g

    def buffer(self, p: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = g.clone()
        else:
            state["momentum_buffer"].mul_(group["momentum"]).add_(g)
        return state["momentum_buffer"]

    def lr(self, group: dict[str, Any]) -> float:
        return group["lr"]

    @staticmethod
    def evaluate(closure: Any) -> Any:
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = self.evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = self.direction(p, group)
                if group["momentum"] != 0:
                    d = self.buffer(p, d, group)
                p.add_(d, alpha=-self.lr(group))
        return loss


class CorrectMomentumSGD(_MomentumSGD):
    """The base, unbroken: it must pass the whole contract (a control for the zoo itself)."""


class SGDBufferOutsideState(_MomentumSGD):
    """Keeps the momentum buffers in a dict of its own, so state_dict() loses them."""

    def __init__(self, params: Any, lr: float = 1e-2, momentum: float = 0.9):
        super().__init__(params, lr=lr, momentum=momentum)
        self.buffers: dict[torch.Tensor, torch.Tensor] = {}  # BUG: not in self.state

    def buffer(self, p: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        if p not in self.buffers:
            self.buffers[p] = g.clone()
        else:
            self.buffers[p].mul_(group["momentum"]).add_(g)
        return self.buffers[p]


class SGDNumpyState(_MomentumSGD):
    """Stores the momentum buffer as a NumPy array: torch.load(weights_only=True) refuses it."""

    def buffer(self, p: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        state = self.state[p]
        g_np = g.detach().cpu().numpy()
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = g_np.copy()  # BUG: a numpy array in optimizer state
        else:
            state["momentum_buffer"] = group["momentum"] * state["momentum_buffer"] + g_np
        return torch.from_numpy(np.asarray(state["momentum_buffer"])).to(p)


class SGDStepsGradNone(_MomentumSGD):
    """Treats a missing gradient as zero: creates state for it and lets momentum move it."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)  # BUG: should skip the parameter
        loss = super().step(closure)
        return loss


class SGDRaisesOnGradNone(_MomentumSGD):
    """Reads every parameter's gradient: a frozen layer (grad None) makes step() raise."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad.abs()  # BUG: should skip a parameter whose grad is None
        return super().step(closure)


class SGDLearningRateFromDefaults(_MomentumSGD):
    """Reads lr from self.defaults: per-group lr and scheduler changes are ignored."""

    def lr(self, group: dict[str, Any]) -> float:
        return self.defaults["lr"]  # BUG: should be group["lr"]


class SGDLearningRateCachedAtFirstStep(_MomentumSGD):
    """Copies group['lr'] into the state on the first step and uses that copy ever after."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = self.evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state.setdefault("lr", float(group["lr"]))  # BUG: later changes never land
                p.add_(self.direction(p, group), alpha=-state["lr"])
        return loss


class SGDInPlaceWeightDecay(_MomentumSGD):
    """Adds weight decay to p.grad in place: the caller's gradient changes under it."""

    def __init__(self, params: Any, lr: float = 1e-2, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=weight_decay)

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        return p.grad.add_(p, alpha=group["weight_decay"])  # BUG: in place on p.grad


class SGDClosureTwice(_MomentumSGD):
    """Evaluates the closure twice, once for the loss and once 'for fresh gradients'."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
                closure()  # BUG: a second forward/backward per step
        super().step()
        return loss


class SGDUpcastsParams(_MomentumSGD):
    """Computes in at least float32 (bfloat16 'is too coarse for updates') and assigns the result
    to p.data: bfloat16 and float16 parameters silently become float32."""

    def __init__(self, params: Any, lr: float = 1e-2, maximize: bool = False):
        super().__init__(params, lr=lr, momentum=0.0, maximize=maximize)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = self.evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    wide = torch.promote_types(p.dtype, torch.float32)
                    d = self.direction(p, group).to(wide)
                    p.data = p.data.to(wide) - group["lr"] * d  # BUG: p.data takes wide's dtype
        return loss


class SGDFloat32Buffer(_MomentumSGD):
    """Allocates the momentum buffer with torch.zeros(p.shape): float32 whatever p's dtype."""

    def buffer(self, p: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros(p.shape)  # BUG: default dtype and device
            state["momentum_buffer"].add_(g)
        else:
            state["momentum_buffer"].mul_(group["momentum"]).add_(g)
        return state["momentum_buffer"].to(p)


class SGDNoisy(_MomentumSGD):
    """Adds 'exploration noise' from the global RNG: no two runs agree."""

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        noise = torch.rand(p.shape, dtype=p.dtype, device=p.device)  # BUG: no generator
        return super().direction(p, group) + 1e-3 * noise


class SGDIgnoresMaximize(_MomentumSGD):
    """Accepts maximize and stores it, but always descends."""

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        return p.grad  # BUG: group["maximize"] never read


class SGDDecayWithoutLR(_MomentumSGD):
    """Decoupled weight decay θ(1 - λ), not scaled by lr: parameters shrink even at lr = 0."""

    def __init__(self, params: Any, lr: float = 1e-2, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=weight_decay)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = _MomentumSGD.evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.mul_(1.0 - group["weight_decay"])  # BUG: should be 1 - lr·λ
                    p.add_(p.grad, alpha=-group["lr"])
        return loss


class AdamNoEps(Optimizer):
    """Adam without ε: m̂/√v̂ is 0/0 = NaN wherever the gradient has been exactly zero."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999)):
        super().__init__(params, dict(lr=lr, betas=betas))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = _MomentumSGD.evaluate(closure)
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                state["exp_avg"].lerp_(p.grad, 1 - b1)
                state["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                m_hat = state["exp_avg"] / (1 - b1**t)
                v_hat = state["exp_avg_sq"] / (1 - b2**t)
                p.sub_(group["lr"] * m_hat / v_hat.sqrt())  # BUG: no ε
        return loss


class AdamHalfMoments(Optimizer):
    """Keeps both moments in float16 'to halve optimizer memory': |g| > 65504 overflows to inf,
    and m/√v becomes inf/inf = NaN. (A careless g**4 would not do: at |g| <= 1e6 it is 1e24,
    well inside float32's range; low-precision state is how finite gradients really overflow.)"""

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = _MomentumSGD.evaluate(closure)
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    # BUG: float16 state, whatever the parameter's dtype
                    state["exp_avg"] = torch.zeros_like(p, dtype=torch.float16)
                    state["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float16)
                state["step"] += 1
                t = float(state["step"])
                g = p.grad.to(torch.float16)
                state["exp_avg"].mul_(b1).add_(g, alpha=1 - b1)
                state["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
                m_hat = state["exp_avg"].to(p.dtype) / (1 - b1**t)
                v_hat = state["exp_avg_sq"].to(p.dtype) / (1 - b2**t)
                p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))
        return loss


class NotAnOptimizer:
    """SGD with the right constructor and step(), but not a torch.optim.Optimizer: no
    param_groups, state_dict or load_state_dict."""

    def __init__(self, params: Any, lr: float = 1e-2):
        self.params = list(params)
        self.lr = lr

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for p in self.params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-self.lr)


class RaisingConstructor(_MomentumSGD):
    """Rejects every construction (e.g. a CUDA-only optimizer on a CPU tensor)."""

    def __init__(self, params: Any, lr: float = 1e-2, momentum: float = 0.9):
        raise RuntimeError("RaisingConstructor needs CUDA parameters")


class RaisingStep(_MomentumSGD):
    """Constructs fine, then fails on every step."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        raise RuntimeError("RaisingStep: kernel not implemented for this device")


class StepNeedsClosure(_MomentumSGD):
    """A correct SGD whose step() demands a closure, as line-search optimizers do: the generic
    contract (which sets .grad and calls step()) applies to none of it. Not a bug: the run
    must say that nothing was checked, not that it conforms."""

    @torch.no_grad()
    def step(self, closure: Any) -> Any:
        return super().step(closure)


class SGDRowsOnly(_MomentumSGD):
    """Normalises per row (p.shape[0]), so a 0-d parameter raises IndexError; and reads lr from
    self.defaults. Two defects: the crash must be told once, the lr bug still found."""

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        rows = p.shape[0]  # BUG: a 0-d parameter has no rows
        return super().direction(p, group) * (rows / max(rows, 1))

    def lr(self, group: dict[str, Any]) -> float:
        return self.defaults["lr"]  # BUG: should be group["lr"]


class SGDFloat32Counter(_MomentumSGD):
    """Counts its steps in a 0-d float32 tensor (as torch keeps 'step') under another name and
    reads it back as an integer: coarser than float64 parameters, yet without any effect (the
    count is exact in float32). Not a bug: contract.dtype must pass it."""

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        state = self.state[p]
        state["count"] = state.get("count", torch.zeros(())) + 1  # float32, on purpose
        warmup = 1.0 - 0.5 ** int(state["count"].item())
        return super().direction(p, group) * warmup


class SGDFloat32Warmup(_MomentumSGD):
    """Keeps a warm-up factor 1 - 0.9^t as a running product in a 0-d float32 tensor: for
    float64 parameters every step is scaled by a float32-rounded factor, and a resumed run
    (load_state_dict widens it) leaves the uninterrupted one."""

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        state = self.state[p]
        state["decay"] = state.get("decay", torch.ones(())) * 0.9  # BUG: float32 product
        return super().direction(p, group) * (1.0 - state["decay"]).to(p.dtype)


class SGDDecayIntoGradWhenOn(_MomentumSGD):
    """Adds weight decay into p.grad in place, only when weight_decay > 0 (default 0): a run
    that varies only lr never sees it."""

    def __init__(self, params: Any, lr: float = 1e-2, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=weight_decay)

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        if group["weight_decay"] > 0:
            return p.grad.add_(p, alpha=group["weight_decay"])  # BUG: in place on p.grad
        return p.grad


class SGDNegatesGradWhenMaximizing(_MomentumSGD):
    """Negates p.grad in place when maximize=True (default False), as pytorch-optimizer's
    Lion does: the caller's gradient is flipped under it."""

    def __init__(self, params: Any, lr: float = 1e-2, maximize: bool = False):
        super().__init__(params, lr=lr, momentum=0.0, maximize=maximize)

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        if group["maximize"]:
            p.grad.neg_()  # BUG: in place on p.grad
        return p.grad


class SGDNestedFloat32Buffer(_MomentumSGD):
    """Keeps its momentum buffer inside a list in the state (state['buffers'][0]), allocated in
    float32 whatever the parameter's dtype: a check reading only top-level tensors misses it."""

    def buffer(self, p: torch.Tensor, g: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        state = self.state[p]
        if "buffers" not in state:
            state["buffers"] = [g.to(torch.float32)]  # BUG: float32, nested in a list
        else:
            state["buffers"][0].mul_(group["momentum"]).add_(g.to(torch.float32))
        return state["buffers"][0].to(p)


class MatricesOnlyGradWriter(_MomentumSGD):
    """Takes matrices only (raises on any other rank, as torch's Muon does) and adds the
    weight decay into p.grad in place: the contract, drawing matrices, must still see it."""

    def __init__(self, params: Any, lr: float = 1e-2, weight_decay: float = 0.0):
        params = list(params)
        tensors = [t for g in params for t in (g["params"] if isinstance(g, dict) else [g])]
        if any(p.ndim != 2 for p in tensors):
            raise ValueError("MatricesOnlyGradWriter only supports 2D parameters")
        super().__init__(params, lr=lr, momentum=0.0, weight_decay=weight_decay)

    def direction(self, p: torch.Tensor, group: dict[str, Any]) -> torch.Tensor:
        if group["weight_decay"] > 0:
            return p.grad.add_(p, alpha=group["weight_decay"])  # BUG: in place on p.grad
        return p.grad
