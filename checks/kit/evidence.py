"""Evidence for a failed check: the minimal case, the step, expected vs got, the error in units
of the tolerance, and a standalone snippet (torch + numpy, plus the target's own import) that
reproduces the discrepancy.

A check states what it observed as an ``Observation``: a Python expression over the target's
trajectories (``traj[run][k][i]`` is tensor i after k steps of run ``run``, k = 0 the initial
params; ``states[run][k][i]`` a state tensor when ``state_key`` is set), the value the check
computed for it, what it expected, the tolerance and the relation (equal, at most, at least).
The snippet recomputes the expression from a fresh run of the target and prints it next to the
expected values, which are embedded as literals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from optcheck.checks.kit.contract import param_source
from optcheck.checks.kit.registry import Context, Violation
from optcheck.checks.kit.strategies import TargetRaised
from optcheck.checks.result import Evidence
from optcheck.checks.target import OptimizerTarget, import_name

Relation = Literal["equal", "at_most", "at_least"]
_WORDS = {"equal": "equal within tolerance", "at_most": "at most", "at_least": "at least"}


@dataclass
class Observation:
    expr: str  # how the snippet computes `got` from traj / states
    got: np.ndarray
    expected: np.ndarray
    tolerance: np.ndarray
    relation: Relation = "equal"


def excess_ratio(obs: Observation) -> np.ndarray:
    """Per element: how far beyond the expected value, in tolerances (≤ 1 is fine); NaN in
    the target's output counts as infinitely far."""
    got = np.asarray(obs.got, dtype=np.float64)
    exp = np.asarray(obs.expected, dtype=np.float64)
    tol = np.broadcast_to(np.asarray(obs.tolerance, dtype=np.float64), got.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        if obs.relation == "equal":
            excess = np.abs(got - exp)
        elif obs.relation == "at_most":
            excess = got - exp
        else:
            excess = exp - got
        excess = np.where(np.isnan(excess), np.inf, excess)
        pos = excess > 0
        safe_tol = np.where(tol > 0, tol, 1.0)
        return np.where(pos, np.where(tol > 0, excess / safe_tol, np.inf), 0.0)


def worst(obs: Observation) -> tuple[float, tuple[int, ...]]:
    r = excess_ratio(obs)
    if r.size == 0:
        return 0.0, ()
    idx = np.unravel_index(int(np.argmax(r)), r.shape)
    return float(r[idx]), tuple(int(j) for j in idx)


def require(
    ctx: Context,
    obs: Observation,
    *,
    what: str,
    runs: Sequence[Any],
    step: int,
    dtype: str = "float64",
    tensor: int | None = None,
    state_key: str | None = None,
    scalars: dict[str, Any] | None = None,
) -> float:
    """Raise Violation with full evidence when ``obs`` is beyond tolerance; else note the
    ratio in ``ctx.worst`` (a pass says how close it came) and return it. ``runs`` are
    strategies.Case objects."""
    ratio, idx = worst(obs)
    if ratio <= 1.0:
        return ctx.worst.note(ratio)
    got = np.asarray(obs.got)
    exp = np.asarray(obs.expected)
    tol = np.broadcast_to(np.asarray(obs.tolerance, dtype=np.float64), got.shape)
    where = f"tensor {tensor}, " if tensor is not None else ""
    bound = {"equal": "", "at_most": "at most ", "at_least": "at least "}[obs.relation]
    message = (
        f"{what} at step {step} ({where}element {list(idx)}): got {_num(got[idx])}, "
        f"expected {bound}{_num(exp[idx])}; off by {_num(ratio)} × tolerance ({_num(tol[idx])})"
    )
    case = _describe(runs, scalars)
    raise Violation(
        Evidence(
            message=message,
            case=case,
            step=step,
            expected=np.asarray(exp).tolist(),
            got=np.asarray(got).tolist(),
            tolerance=float(tol[idx]),
            error_in_tol=ratio,
            start=_start(obs.expr, runs, step),
            snippet=make_snippet(
                ctx,
                message=message,
                runs=runs,
                step=step,
                obs=obs,
                dtype=dtype,
                state_key=state_key,
            ),
        )
    )


_FIRST_STEP = re.compile(r"traj\[(\d+)\]\[(STEP|1)\]\[(\d+)\]")


def _start(expr: str, runs: Sequence[Any], step: int) -> Any:
    """θ_0 of the observed tensor when ``expr`` is its value after step 1 (the step shrunk
    cases usually fail at), so that a report can say "step 1.41× the reference's"."""
    m = _FIRST_STEP.fullmatch(expr)
    if m is None or (m.group(2) == "STEP" and step != 1):
        return None
    run, i = int(m.group(1)), int(m.group(3))
    params0 = getattr(runs[run], "params0", None) if run < len(runs) else None
    return None if params0 is None else np.asarray(params0[i], dtype=np.float64).tolist()


def _describe(runs: Sequence[Any], scalars: dict[str, Any] | None) -> dict[str, Any]:
    if len(runs) == 1 and not scalars:
        return runs[0].describe()
    return {"runs": [r.describe() for r in runs], **(scalars or {})}


def _num(x: Any) -> str:
    x = float(x)
    return f"{x:.6g}" if math.isfinite(x) else str(x)


def literal(value: Any) -> str:
    """Python source that evaluates (with numpy as np) to ``value``, floats exactly."""
    if isinstance(value, np.ndarray):
        body = literal(value.astype(np.float64).tolist())
        return f"np.array({body}, dtype=np.float64).reshape({tuple(value.shape)!r})"
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "float('nan')"
        if math.isinf(v):
            return "float('inf')" if v > 0 else "-float('inf')"
        return repr(v)
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if value is None or isinstance(value, str):
        return repr(value)
    raise TypeError(f"no literal for {type(value).__name__}")


def docstring_text(text: str) -> str:
    """``text`` for the inside of a generated module's docstring: backslashes (a Windows path
    ``C:\\Users``), quotes and control characters of a target's message escaped, so that the
    snippet stays valid Python and its docstring reads back as ``text``."""
    out = []
    for ch in text:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable() or ch == "\n":
            out.append(ch)
        else:  # repr's escape (\x1b, \u200e, \U0001xxxx) is valid inside a docstring
            out.append(repr(ch)[1:-1])
    return "".join(out)


def import_lines(target: OptimizerTarget) -> tuple[str, str]:
    """(import statement binding `Target`, what the snippet needs beyond torch and numpy)."""
    path = target.import_path or import_name(target.factory)
    if path is None:
        return (
            "Target = None  # optcheck cannot name this target: put its factory here",
            "the target's factory",
        )
    module, _, attr = path.partition(":")
    head, _, rest = attr.partition(".")
    if rest:
        return f"from {module} import {head}\nTarget = {attr}", module
    return f"from {module} import {attr} as Target", module


_TEMPLATE = '''\
"""optcheck evidence, {check_id}: {message}

Standalone: torch + numpy{plus}. Feeds the gradient sequence below to the target open-loop
and prints what optcheck observed next to what it expected.
"""
import numpy as np
import torch

{import_line}

DTYPE = torch.{dtype}
DEVICE = {device}
HP = {hp}
FIXED = {fixed}
GROUPS = {groups}  # tensor indices per param group
GROUP_HP = {group_hp}  # per-group overrides of HP
STEP = {step}
STATE_KEY = {state_key}
SETUP = {setup}  # methods called on the optimizer once built (--setup)
CLOSURE_STEP = {closure_step}  # step() requires a closure: one that leaves the gradients set
PARAMS0 = []  # the run's initial values (run() sets them)
RUNS = [
{runs}
]


def as_sparse_grad(p, g):
    t = torch.tensor(g, dtype=p.dtype, device=p.device)
    if torch.isnan(t).any():  # NaN: an entry absent from a sparse gradient
        keep = ~torch.isnan(t)
        return torch.sparse_coo_tensor(keep.nonzero().T, t[keep], t.shape)
    return as_grad(p, g)
{param_source}

def run(params0, grads, lrs):
    PARAMS0[:] = params0
    params = make_params()
    if len(GROUPS) == 1 and not GROUP_HP[0]:
        groups = params
    else:
        groups = [{{"params": [params[i] for i in g], **h}} for g, h in zip(GROUPS, GROUP_HP)]
    opt = Target(groups, **HP, **FIXED)
    for name in SETUP:
        getattr(opt, name)()
    if CLOSURE_STEP:  # a closure that leaves the gradients set; a subclass survives deepcopy
        cls = type(opt)
        step = lambda self, closure=None: cls.step(self, closure or (lambda: None))
        opt.__class__ = type(cls.__name__, (cls,), {{"step": step}})
    real = lambda t: torch.view_as_real(t) if t.is_complex() else t
    numpy = lambda t: real(t).detach().to("cpu", torch.float64).numpy().copy()
    traj, states = [[numpy(p) for p in params]], [[None] * len(params)]
    for k in range(STEP):
        if lrs is not None:  # as a scheduler writes it
            for group in opt.param_groups:
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(lrs[k])
                else:
                    group["lr"] = lrs[k]
        for p, g in zip(params, grads[k]):
            p.grad = None if g is None else as_sparse_grad(p, g)
        opt.step()
        traj.append([numpy(p) for p in params])
        if STATE_KEY:
            states.append([numpy(opt.state[p][STATE_KEY]) for p in params])
    return traj, states


{tail}
'''

# The tails of the template: compare an observation, or reproduce an exception. They are
# format() values, so their braces stay literal.
_COMPARE = """\
results = [run(**r) for r in RUNS]
traj, states = [r[0] for r in results], [r[1] for r in results]
got = np.asarray(EXPR, dtype=np.float64)
expected = EXPECTED
tolerance = TOLERANCE
excess = EXCESS
excess = np.where(np.isnan(excess), np.inf, excess)
with np.errstate(divide="ignore", invalid="ignore"):
    ratio = np.where(excess > 0, excess / tolerance, 0.0)
np.set_printoptions(precision=17)
print("got:     ", got)
print("expected:", expected, "(RELATION)")
print("tolerance:", tolerance)
print("worst excess: %.6g tolerances" % (float(np.max(ratio)) if ratio.size else 0.0))
print("REPRODUCED" if ratio.size and float(np.max(ratio)) > 1 else "not reproduced")
"""

_RAISES = """\
try:
    results = [run(**r) for r in RUNS]
except Exception as exc:
    print(f"target raised {type(exc).__name__}: {exc}")
    print("REPRODUCED")
else:
    print("not reproduced: the target did not raise")
"""

EXCESS_EXPR = {
    "equal": "np.abs(got - expected)",
    "at_most": "got - expected",
    "at_least": "expected - got",
}


def make_snippet(
    ctx: Context,
    *,
    message: str,
    runs: Sequence[Any],
    step: int,
    obs: Observation | None,
    dtype: str = "float64",
    state_key: str | None = None,
) -> str:
    """Standalone Python reproducing ``obs`` (see the module docstring), or, with
    ``obs=None``, reproducing an exception the target raised at ``step``."""
    first, target, device = runs[0], ctx.target, ctx.settings.device
    import_line, needs = import_lines(target)
    plus = "" if needs in ("torch", "torch.optim") else f", plus {needs}"
    run_lines = []
    for r in runs:
        grads = [list(gs) for gs in r.grads[:step]]
        lrs = None if r.lrs is None else list(r.lrs[:step])
        run_lines.append(
            "    dict(\n"
            f"        params0={literal(list(r.params0))},\n"
            f"        grads={literal(grads)},\n"
            f"        lrs={literal(lrs)},\n"
            "    ),"
        )
    if obs is None:
        tail = _RAISES
    else:
        tol = np.broadcast_to(np.asarray(obs.tolerance, dtype=np.float64), np.shape(obs.got))
        tail = (
            _COMPARE.replace("EXPR", obs.expr)
            .replace("EXPECTED", literal(np.asarray(obs.expected, dtype=np.float64)))
            .replace("TOLERANCE", literal(np.array(tol)))
            .replace("EXCESS", EXCESS_EXPR[obs.relation])
            .replace("RELATION", _WORDS[obs.relation])
        )
    return _TEMPLATE.format(
        check_id=ctx.check_id,
        message=docstring_text(message),
        plus=plus,
        import_line=import_line,
        dtype=dtype,
        device=literal(device),
        hp=literal(dict(first.hp)),
        fixed=literal(dict(target.fixed)),
        groups=literal([list(g) for g in first.groups]),
        group_hp=literal([dict(g) for g in first.group_hp]),
        step=step,
        state_key=literal(state_key),
        setup=literal(list(getattr(target, "setup", ()))),
        closure_step=literal(bool(getattr(target, "closure_step", False))),
        runs="\n".join(run_lines),
        param_source=param_source(first.layouts, first.dtypes, first.devices),
        tail=tail,  # inserted verbatim: its braces stay literal
    )


def trajectory(
    ctx: Context, case: Any, dtype: str = "float64", on_step: Any = None
) -> list[list[np.ndarray]]:
    """[θ_0, θ after step 1, ...] of ``ctx.target`` on ``case`` (see ``run_target``)."""
    return [list(case.params0), *run_target(ctx, case, dtype, on_step)]


def run_target(
    ctx: Context, case: Any, dtype: str = "float64", on_step: Any = None
) -> list[list[np.ndarray]]:
    """``case.run_target`` with an exception from the target turned into a Violation whose
    evidence names the step and carries a snippet that reproduces the exception."""
    try:
        return case.run_target(ctx.target, dtype, ctx.settings.device, on_step=on_step)
    except TargetRaised as exc:
        where = f"at step {exc.step}" if exc.step else "while being constructed"
        message = f"target raised {exc} {where}"
        snippet = make_snippet(
            ctx, message=message, runs=[case], step=max(exc.step, 1), obs=None, dtype=dtype
        )
        raise Violation(
            Evidence(message=message, case=case.describe(), step=exc.step, snippet=snippet)
        ) from exc
