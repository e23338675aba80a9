"""Prodigy written the way a port is written (one d for the whole optimizer, kept in the param
groups as the authors' prodigyopt keeps it), and broken copies.

``ZooProdigy`` is *correct*: every check must pass on it. Each mutant overrides one method the
way the slip is usually written; tests/test_prodigy_record.py says which check catches which.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim import Optimizer


class ZooProdigy(Optimizer):
    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decouple: bool = True,
        use_bias_correction: bool = False,
        safeguard_warmup: bool = False,
        d0: float = 1e-6,
        d_coef: float = 1.0,
        growth_rate: float = math.inf,
        slice_p: int = 1,
    ):
        if not (lr > 0 and d0 > 0 and eps > 0 and all(0 <= b < 1 for b in betas)):
            raise ValueError("invalid hyper-parameter")
        hp = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decouple=decouple)
        hp.update(use_bias_correction=use_bias_correction, safeguard_warmup=safeguard_warmup)
        hp.update(d0=d0, d_coef=d_coef, growth_rate=growth_rate, slice_p=slice_p)
        hp.update(d=d0, d_max=d0, d_numerator=0.0, k=0)
        super().__init__(params, hp)

    def _next_d(self, d: float, d_max: float, d_hat: float, group: dict) -> tuple[float, float]:
        if d == group["d0"]:
            d = max(d, d_hat)
        d_max = max(d_max, d_hat)
        return min(d_max, d * group["growth_rate"]), d_max

    def _moment_scale(self, d: float) -> float:
        return d

    def _decay(self, p: torch.Tensor, group: dict, dlr: float) -> None:
        p.mul_(1 - group["weight_decay"] * dlr)

    def _step_d(self, d: float, new_d: float) -> float:
        return d  # the step is taken with the estimate the sums were weighted by

    def _eps_d(self, d: float, new_d: float) -> float:
        return new_d

    def _nothing_to_do(self, norm: float) -> bool:
        return norm == 0

    def _units(self) -> list[tuple[dict, list[tuple[dict, torch.Tensor]]]]:
        """(where d, d_max, r and k live, the tensors their sums cover): one d for the whole
        optimizer, kept in the first group and copied to the others."""
        members = [(g, p) for g in self.param_groups for p in g["params"]]
        return [(self.param_groups[0], members)]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for home, members in self._units():
            if self._step_unit(home, members) and home is self.param_groups[0]:
                for group in self.param_groups[1:]:
                    group.update({k: home[k] for k in ("d", "d_max", "d_numerator", "k")})
        return loss

    def _step_unit(self, home: dict, members: list[tuple[dict, torch.Tensor]]) -> bool:
        """One step of the tensors ``members``, d from ``home``; False: nothing moved."""
        first = self.param_groups[0]
        b1, b2 = first["betas"]
        b3 = math.sqrt(b2)
        d, d_max, d0, k = home["d"], home["d_max"], first["d0"], home["k"]
        lr = max(g["lr"] for g in self.param_groups)
        bc = math.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1))
        dlr = d * lr * (bc if first["use_bias_correction"] else 1.0)
        r, norm = home["d_numerator"] * b3, 0.0
        live = []
        for group, p in members:
            if p.grad is None:
                continue
            sp = group["slice_p"]
            g = p.grad.clone()
            if group["weight_decay"] and not first["decouple"]:
                g.add_(p, alpha=group["weight_decay"])
            state = self.state[p]
            if "p0" not in state:
                state["p0"] = p.flatten()[::sp].clone()
                state["s"] = torch.zeros_like(state["p0"])
                state["exp_avg"] = torch.zeros_like(p)
                state["exp_avg_sq"] = torch.zeros_like(p)
            flat = g.flatten()[::sp]
            r += (d / d0) * dlr * torch.dot(flat, state["p0"] - p.flatten()[::sp]).item()
            state["exp_avg"].mul_(b1).add_(g, alpha=self._moment_scale(d) * (1 - b1))
            state["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=d * d * (1 - b2))
            w = d if group["safeguard_warmup"] else dlr
            state["s"].mul_(b3).add_(flat, alpha=self._sum_weight(d / d0 * w))
            norm += state["s"].abs().sum().item()
            live.append((group, p, g))
        if self._nothing_to_do(norm):
            return False
        new_d, d_max = self._next_d(d, d_max, first["d_coef"] * r / max(norm, 1e-300), first)
        home.update(d=new_d, d_max=d_max, d_numerator=r, k=k + 1)
        step_dlr = dlr * self._step_d(d, new_d) / d
        for group, p, g in live:
            state = self.state[p]
            denom = state["exp_avg_sq"].sqrt().add_(self._eps_d(d, new_d) * group["eps"])
            if group["weight_decay"] and first["decouple"]:
                self._decay(p, group, step_dlr)
            if b1 > 0:
                p.addcdiv_(state["exp_avg"], denom, value=-step_dlr)
            else:
                p.addcdiv_(g, denom, value=-step_dlr * new_d)
        return True

    def _sum_weight(self, w: float) -> float:
        return w


class ProdigyDCanFall(ZooProdigy):
    """d = d̂ at every step: the estimate follows r/‖s‖₁ down as well as up."""

    def _next_d(self, d, d_max, d_hat, group):
        return max(min(d_hat, d * group["growth_rate"]), 1e-300), max(d_max, d_hat)


class ProdigyMomentsWithoutD(ZooProdigy):
    """m accumulates (1−β1)g, not (1−β1)·d·g: the step loses its factor d."""

    def _moment_scale(self, d):
        return 1.0


class ProdigyDecayUnscaled(ZooProdigy):
    """Decoupled decay θ(1 − λ·lr), AdamW's, without the distance estimate."""

    def _decay(self, p, group, dlr):
        p.mul_(1 - group["weight_decay"] * group["lr"])


class ProdigyStepsWithNewD(ZooProdigy):
    """The step taken with the updated d_{k+1} instead of the d_k the moments were built with."""

    def _step_d(self, d, new_d):
        return new_d


class ProdigyEpsOldD(ZooProdigy):
    """ε scaled by d_k, as Alg. 3 is printed (the variant eps-old-d)."""

    def _eps_d(self, d, new_d):
        return d


class ProdigyDecaysOnZeroGradient(ZooProdigy):
    """No early return when ‖s‖₁ = 0: the decoupled decay acts on a step that does nothing."""

    def _nothing_to_do(self, norm):
        return False


class ProdigyDPerTensor(ZooProdigy):
    """Each tensor its own d, from sums over its own coordinates only (the per-tensor reading
    of Alg. 3): right for one tensor, wrong for several."""

    def _units(self):
        out = []
        for g in self.param_groups:
            for p in g["params"]:
                home = self.state.setdefault(p, {}).setdefault("unit", _fresh(g))
                out.append((home, [(g, p)]))
        return out


class ProdigyDPerGroup(ZooProdigy):
    """Each param group its own d (sums over the group's tensors): right for one group."""

    def _units(self):
        return [(g, [(g, p) for p in g["params"]]) for g in self.param_groups]


class ProdigySumsInBfloat16(ZooProdigy):
    """s accumulated with its weight rounded to bfloat16 (to save memory a port keeps the
    scale in half precision): d drifts by ~2^-9 relative, far beyond float32 rounding."""

    def _sum_weight(self, w):
        return float(torch.tensor(w, dtype=torch.bfloat16))


def _fresh(group: dict) -> dict:
    return {"d": group["d0"], "d_max": group["d0"], "d_numerator": 0.0, "k": 0}
