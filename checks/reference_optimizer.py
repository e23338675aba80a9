"""A float64 NumPy reference wrapped as a torch.optim.Optimizer.

This makes the reference a target like any other, so the contract checks and the validator
run against it too (they must pass on the oracle itself).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from optcheck.checks.kit.harness import grad_array
from optcheck.checks.kit.registry import reference_side
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.spec import CoupledStep, StepFn


class ReferenceOptimizer(torch.optim.Optimizer):
    """Runs ``step_fn`` per tensor in float64; state is kept as tensors so it serialises."""

    def __init__(self, params: Any, step_fn: StepFn, defaults: dict[str, Any]):
        self._step_fn = step_fn
        super().__init__(params, defaults)

    def __getstate__(self) -> dict[str, Any]:
        # torch's Optimizer pickles only defaults/state/param_groups: copy.deepcopy (and pickle)
        # would drop the step function (contract.resume, deepcopy mode).
        return {**super().__getstate__(), "_step_fn": self._step_fn}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's loader casts floating state to each parameter's dtype; the reference's state
        is float64 by design (a float32 parameter's too), so it is restored as saved."""
        super().load_state_dict(state_dict)
        saved = state_dict["state"]
        for group, saved_group in zip(self.param_groups, state_dict["param_groups"], strict=True):
            for p, index in zip(group["params"], saved_group["params"], strict=True):
                for key, value in saved.get(index, {}).items():
                    if key != "step" and isinstance(value, torch.Tensor):
                        self.state[p][key] = value.detach().to(torch.float64).clone()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if isinstance(self._step_fn, CoupledStep):
            self._joint_step()
            return loss
        for group in self.param_groups:
            hp = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                t = int(state.get("step", 0)) + 1
                np_state = {k: v.double().cpu().numpy() for k, v in state.items() if k != "step"}
                # torch's semantics for a complex parameter: it is optimized as its real view
                real, grad = _real(p), _real(p.grad)
                param = real.detach().double().cpu().numpy()
                with reference_side():  # the oracle raising is optcheck's error
                    new_param, new_state = self._step_fn(param, grad_array(grad), np_state, hp, t)
                real.copy_(torch.from_numpy(np.asarray(new_param, dtype=np.float64)).to(real))
                state.clear()
                state["step"] = torch.tensor(float(t))
                for k, v in new_state.items():
                    state[k] = torch.from_numpy(np.array(v, dtype=np.float64))
        return loss

    def _joint_step(self) -> None:
        """A step whose state couples every tensor (spec.CoupledStep): one joint call over all
        of them, each with its group's keywords; the shared state (Prodigy's d) kept in every
        param group, as the packages keep it, with the optimizer's step count."""
        first = self.param_groups[0]
        shared = dict(first.get("shared", {}))
        members = [(g, p) for g in self.param_groups for p in g["params"]]
        hps = [{k: v for k, v in g.items() if k not in ("params", "shared")} for g, _ in members]
        tensors = [
            {k: v.double().cpu().numpy() for k, v in self.state[p].items()} for _, p in members
        ]
        params = [_real(p).detach().double().cpu().numpy() for _, p in members]
        grads = [None if p.grad is None else grad_array(_real(p.grad)) for _, p in members]
        t = int(first.get("joint_step", 0)) + 1
        state = {**shared, "tensors": tensors} if shared else {}
        with reference_side():
            new_params, new_state = self._step_fn.joint(params, grads, state, hps, t)
        # states first: they may view a parameter's memory (p0 = x0.reshape(-1)[::p])
        owns = [
            {k: torch.from_numpy(np.array(v, dtype=np.float64)) for k, v in own.items()}
            for own in new_state.pop("tensors")
        ]
        for (_, p), x, own in zip(members, new_params, owns, strict=True):
            _real(p).copy_(torch.from_numpy(np.asarray(x, dtype=np.float64)).to(p.real.dtype))
            self.state[p] = own
        for g in self.param_groups:
            g["shared"] = {k: float(v) for k, v in new_state.items()}
            g["joint_step"] = t
            g.update(g["shared"])  # read where the packages keep them (Prodigy's d)


def _real(x: torch.Tensor) -> torch.Tensor:
    """torch's semantics for a complex tensor: it is optimized as its real view."""
    return torch.view_as_real(x) if x.is_complex() else x


def reference_factory(spec: OptimizerRecord, step_fn: StepFn | None = None) -> Any:
    """``factory(params, **hp)`` building a ReferenceOptimizer with the spec's defaults."""
    fn = step_fn or spec.step

    def factory(params: Any, **hp: Any) -> ReferenceOptimizer:
        unknown = set(hp) - set(spec.defaults)
        if unknown:
            raise TypeError(f"unexpected keyword(s) {sorted(unknown)} for {spec.name}")
        return ReferenceOptimizer(params, fn, {**spec.defaults, **hp})

    factory.__signature__ = _signature(spec)  # keyword support is read from the signature
    return factory


def _signature(spec: OptimizerRecord) -> Any:
    import inspect

    params = [inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in spec.defaults.items()
    ]
    return inspect.Signature(params)
