"""A float64 NumPy reference wrapped as a torch.optim.Optimizer.

This makes the reference a target like any other, so the contract checks and the validator
run against it too (they must pass on the oracle itself).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from optcheck.checks.kit.harness import grad_array
from optcheck.checks.records import OptimizerRecord
from optcheck.reference.spec import StepFn


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
        for group in self.param_groups:
            hp = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                t = int(state.get("step", 0)) + 1
                np_state = {k: v.double().cpu().numpy() for k, v in state.items() if k != "step"}
                # torch's semantics for a complex parameter: it is optimized as its real view
                real = torch.view_as_real(p) if p.is_complex() else p
                grad = p.grad
                grad = torch.view_as_real(grad) if grad.is_complex() else grad
                param = real.detach().double().cpu().numpy()
                new_param, new_state = self._step_fn(param, grad_array(grad), np_state, hp, t)
                real.copy_(torch.from_numpy(np.asarray(new_param, dtype=np.float64)).to(real))
                state.clear()
                state["step"] = torch.tensor(float(t))
                for k, v in new_state.items():
                    state[k] = torch.from_numpy(np.array(v, dtype=np.float64))
        return loss


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
