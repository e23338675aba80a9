"""``optcheck identify``: which algorithm of the catalog does a black-box optimizer implement?

The target is built with its own constructor defaults (plus any ``--hp``) and driven open-loop
on drawn gradient sequences: ``CASES`` runs of ``STEPS`` steps mixing random, spiky,
sign-flipping, sparse and near-ε gradients on a vector, a matrix and a scalar. Every record
with an error model, and each of its named variants, is then run on the same gradients with
the target's defaults mapped by keyword name (the record's own defaults for the rest), and
ranked by its worst distance to the target in units of the record's derived float64 tolerance
(checks.tolerance): ≤ 1 is a match, the same test ``validate`` applies. Besides its defaults
the target is run with weight decay and momentum switched on (where they default to 0) and
with each algorithm flag of the catalog it has (amsgrad, nesterov, centered, maximize, ...)
flipped, where variants that coincide at the defaults part.

Records whose cases need structure (Muon: matrices; SparseAdam: sparse gradients; LBFGS: a
closure) are not tried, and the result says so. The target runs in a child process: an exit,
a crash or a hang there ends as a finding, not as identify's own exit.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import math
import multiprocessing
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

STEPS = 12
CASES = 6
SWITCH_ON = {"weight_decay": 0.05, "momentum": 0.9}
# One recipe per case: (kinds of the vector, matrix and scalar tensors, gradient exponent).
RECIPES = (
    (("random", "random", "random"), 0),
    (("spike", "sign_flip", "ramp"), 0),
    (("sparse", "mixed", "random"), -2),
    (("near_eps", "near_sqrt_eps", "random"), 0),
    (("ramp", "spike", "sign_flip"), 1),
    (("mixed", "random", "sparse"), -3),
)
SHAPES = ((8,), (3, 4), ())


@dataclass
class Candidate:
    """One formula tried: a record (``Adam``) or one of its variants (``Adam:keras-eps-hat``)."""

    name: str
    description: str
    ratio: float = math.inf  # worst |target - formula| / tolerance over every compared case
    # worst |target - formula| / the run's largest displacement: how far, for the closest
    relative: float = math.inf
    compared: int = 0
    why_not: str = ""  # set when the formula could not be compared at all


@dataclass
class Identification:
    target: str
    defaults: dict[str, Any]
    probes: list[dict[str, Any]]
    candidates: list[Candidate]
    not_tried: dict[str, str]
    seconds: float = 0.0
    failure: str = ""  # the target raised, exited or hung: nothing was identified
    unloadable: bool = False  # TARGET names nothing importable: a usage error
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> list[Candidate]:
        return [c for c in self.candidates if c.compared and c.ratio <= 1.0]

    @property
    def summary(self) -> str:
        """The one-line answer: what it matches, or the closest formulas."""
        if self.failure:
            return f"nothing identified: {self.failure}"
        ranked = [c for c in self.candidates if c.compared]
        if not ranked:
            return "nothing identified: no formula of the catalog could be compared"
        matches = self.matches
        rest = [c for c in ranked if c not in matches][:2]
        nxt = ", ".join(
            f"{c.name} ({c.ratio:.2g} × tolerance, {c.relative:.2g} of the displacement)"
            for c in rest
        )
        if matches:
            head = ", ".join(f"{c.name} (worst {c.ratio:.2g} of tolerance)" for c in matches)
            tie = " — indistinguishable on these runs" if len(matches) > 1 else ""
            return f"matches {head}{tie}" + (f"; next: {nxt}" if nxt else "")
        return f"matches nothing in the catalog; closest: {nxt}"

    @property
    def hint(self) -> str:
        """``validate``'s line without --like: "looks like: X (worst …); next: …"."""
        summary = self.summary
        if self.matches and summary.startswith("matches "):
            return "looks like: " + summary.removeprefix("matches ")
        return f"identification: {summary}"

    def asdict(self) -> dict[str, Any]:
        out = asdict(self)
        out["summary"] = self.summary
        out["hint"] = self.hint
        out["matches"] = [c.name for c in self.matches]
        for c in out["candidates"]:
            for key in ("ratio", "relative"):
                c[key] = None if math.isinf(c[key]) else c[key]
        return out


def constructor_defaults(factory: Any) -> dict[str, Any]:
    """Keyword defaults of ``factory(params, ...)`` that are plain values."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return {}
    out = {}
    for p in list(sig.parameters.values())[1:]:
        if p.default is p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if _plain(p.default):
            out[p.name] = p.default
    return out


def _plain(value: Any) -> bool:
    if isinstance(value, tuple | list):
        return all(map(_plain, value))
    return value is None or isinstance(value, bool | int | float | str)


def identify(
    path: str,
    hp: Mapping[str, Any] | None = None,
    *,
    timeout: float = 120.0,
    cases: int = CASES,
    create_graph: bool = False,
) -> Identification:
    """Identify the target ``module:Attr`` in a child process (module docstring);
    ``create_graph``: gradients carry a graph (--create-graph)."""
    from optcheck.suites.target import cwd_importable

    start = time.perf_counter()
    top = path.partition(":")[0].split(".")[0]
    cwd_importable()  # where the child, and validate's worker, import the target from
    if not top or importlib.util.find_spec(top) is None:  # imports nothing of the target
        return Identification(
            path, {}, [], [], {}, failure=f"cannot import {top!r}", unloadable=True
        )
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    args = (child, path, dict(hp or {}), cases, create_graph)
    proc = ctx.Process(target=_child, args=args, daemon=True)
    proc.start()
    child.close()
    result: Identification | None = None
    if parent.poll(timeout):
        try:
            result = parent.recv()
        except EOFError:
            result = None
    proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()
        failure = f"the target ran past {timeout:g} s (it hangs, or is too slow)"
    elif result is None:
        failure = f"the target ended the process (exit code {proc.exitcode})"
    else:
        failure = ""
    if result is None:
        result = Identification(path, {}, [], [], {}, failure=failure)
    result.seconds = time.perf_counter() - start
    return result


HINT_LIMIT = 60.0  # seconds validate gives the identification at most (issue 12: ≤ 60 s)
HINT_FLOOR = 10.0  # less time left than this: not started (a 2-case run takes about 5 s)
HINT_CASES = 2  # of the 6 recipes: enough to tell the catalog apart (tests/test_identify.py)


def hint(
    path: str, hp: Mapping[str, Any], left: float | None, create_graph: bool = False
) -> dict[str, Any]:
    """The identification ``validate`` prints without --like, within ``left`` seconds of the
    run's --total-timeout (None: no limit); ``{"hint": why not}`` when it does not fit."""
    budget = HINT_LIMIT if left is None else min(HINT_LIMIT, left)
    if budget < HINT_FLOOR:
        return {
            "hint": f"identification skipped: {max(left or 0.0, 0.0):.0f} s left of "
            "--total-timeout (optcheck identify TARGET runs it alone)"
        }
    found = identify(path, hp, timeout=budget, cases=HINT_CASES, create_graph=create_graph)
    return found.asdict()


def needs_closure(report: Any) -> bool:
    """Nothing was checked because step() requires a closure the generic contract never
    passes (schedulefree's Closure forms, LBFGS): only a record can drive such a target."""
    from optcheck.checks.kit.contract import REQUIRES_CLOSURE

    skips = [r for r in report.results if r.verdict == "skip"]
    return report.nothing_checked and any(REQUIRES_CLOSURE in r.detail for r in skips)


def closure_advice(found: dict[str, Any]) -> dict[str, Any]:
    """``found`` (``hint``'s answer) with a hint that names the record to rerun with: the
    closure-taking record identify matched, else every closure-taking record of the catalog."""
    from optcheck.checks import catalog

    takes_closure = [
        name for name, r in catalog.OPTIMIZERS.items() if r.closure_step or r.closure_driven
    ]
    fits = [m for m in found.get("matches", []) if m.split(":")[0] in takes_closure]
    if fits:
        advice = f"rerun with --like {fits[0]}"
    else:
        advice = "the catalog's records that pass one: " + ", ".join(
            f"--like {name}" for name in takes_closure
        )
    head = "step() requires a closure, which the generic contract does not pass, so nothing "
    return {**found, "hint": f"{head}was checked; {advice} ({found['hint']})"}


def _child(conn: Any, path: str, hp: dict[str, Any], cases: int, create_graph: bool) -> None:
    from optcheck.suites.target import TargetError, TargetRaised

    try:
        out = identify_here(path, hp, cases=cases, create_graph=create_graph)
    except BaseException as exc:  # noqa: BLE001 - anything the target does is a finding
        unloadable = isinstance(exc, TargetError) and not isinstance(exc, TargetRaised)
        failure = str(exc) if unloadable else _first_line(exc)
        out = Identification(path, {}, [], [], {}, failure=failure, unloadable=unloadable)
    conn.send(out)
    conn.close()


def _built_once(factory: Any) -> Any:
    """What a factory function builds at its defaults (None for a class, or if it raises)."""
    if inspect.isclass(factory):
        return None
    import torch

    try:
        return factory([torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))])
    except Exception:  # noqa: BLE001 - no set-up calls found then; the runs report the error
        return None


def _requires_closure_arg(factory: Any) -> bool:
    """Whether the class's step() has a closure parameter without a default."""
    step = getattr(factory, "step", None)
    try:
        closure = inspect.signature(step).parameters.get("closure") if step else None
    except (TypeError, ValueError):
        return False
    return closure is not None and closure.default is inspect.Parameter.empty


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def identify_here(
    path: str,
    hp: Mapping[str, Any] | None = None,
    *,
    cases: int = CASES,
    create_graph: bool = False,
) -> Identification:
    """``identify`` in this process (the child's body; tests call it directly)."""
    from optcheck.checks.kit.harness import graph_gradients
    from optcheck.checks.kit.registry import default_dtype, one_thread

    # Which formula, not which precision (validate judges that): state a class keeps in
    # torch's default dtype (ASGD's η) must not hide the formula from float64 runs.
    with default_dtype("float64"), one_thread(), graph_gradients(create_graph):
        return _identify(path, hp, cases)


def _identify(path: str, hp: Mapping[str, Any] | None, cases: int) -> Identification:
    from optcheck.checks import catalog
    from optcheck.checks import tolerance as T
    from optcheck.checks.kit import strategies as S
    from optcheck.reference.space import Flag
    from optcheck.suites.target import load

    target = load(path, "optimizer")
    defaults = {**constructor_defaults(target.factory), **dict(hp or {})}
    user = dict(hp or {})
    probes = [user]
    # Decay and momentum switched on where the target defaults them to 0 (coupled and
    # decoupled decay, momentum forms part there), then each algorithm flag of the catalog
    # (amsgrad, nesterov, centered, ...) the target has, flipped on top: variants that
    # coincide under one setting part under the other.
    on = {k: v for k, v in SWITCH_ON.items() if k not in user and defaults.get(k) == 0}
    if on:
        probes.append({**user, **on})
    flags = {d.name for r in catalog.OPTIMIZERS.values() for d in r.space if isinstance(d, Flag)}
    for name in sorted(flags - set(user)):
        if isinstance(defaults.get(name), bool):
            probes.append({**user, **on, name: not defaults[name]})
    eps = defaults.get("eps")
    notes: list[str] = []
    # Set-up calls the catalog's records declare (schedulefree's train()) that the target has:
    # without them it may refuse to step, or step from the wrong point.
    built = _built_once(target.factory)  # a factory function's optimizer has the methods
    setup = tuple(
        m
        for m in catalog.declared_setup()
        if callable(getattr(target.factory, m, None)) or callable(getattr(built, m, None))
    )
    if setup:
        target = dataclasses.replace(target, setup=setup)
        calls = ", ".join(f"{m}()" for m in setup)
        notes.append(f"{calls} called once built, as the catalog's records that declare it do")
    if _requires_closure_arg(target.factory):  # the Closure forms: open loop all the same
        target = dataclasses.replace(target, closure_step=True)
        notes.append("step() given a closure that leaves the gradients set (it requires one)")
    runs = []  # (probe, case, target trajectory)
    for j, probe in enumerate(probes):
        # the defaults get every recipe, each other probe half of them
        for seed, (kinds, exponent) in enumerate(RECIPES[: cases if j == 0 else -(-cases // 2)]):
            recipe = {
                "seed": seed,
                "shapes": [list(s) for s in SHAPES],
                "kinds": list(kinds),
                "exponent": exponent,
                "steps": STEPS,
                "param_exponent": 0,
            }
            seq_hp = {**probe, **({"eps": eps} if isinstance(eps, float) else {})}
            if isinstance(defaults.get("lr"), float):
                seq_hp.setdefault("lr", defaults["lr"])
            if seed % 2:  # half the runs under a scheduler (the lr written before each step)
                recipe["schedule"] = "cosine"
            case = S.build_case(seq_hp, recipe).replace(hp=dict(probe))
            try:
                got = case.run_target(target)
            except S.TargetRaised as exc:
                where = f"in step {exc.step}" if exc.step else "while being built"
                if probe is not user:  # the extra probe only: identify without it
                    notes.append(f"{_describe(probe)} dropped: the target raised {exc} {where}")
                    break
                return Identification(
                    path, defaults, probes, [], {}, failure=f"the target raised {exc} {where}"
                )
            runs.append((probe, case, got))

    candidates, not_tried = [], {}
    for name, record in catalog.OPTIMIZERS.items():
        if record.structured:
            not_tried[name] = (
                "closure-driven"
                if record.closure_driven
                else "sparse gradients"
                if record.sparse_grads
                else "matrices only"
            )
            continue
        if record.error_model is None:
            not_tried[name] = "no error model"
            continue
        formulas = [(name, record.step, f"the {name} reference")]
        formulas += [(f"{name}:{v.name}", v.fn, v.description) for v in record.variants]
        judged, why_not = _record_runs(record, defaults, runs, T, user)
        for label, fn, description in formulas:
            candidates.append(_score(label, fn, description, judged, why_not))
    # Matches first (a record before its variants: a tie is reported as a tie), then the
    # rest by how far they are relative to the run's displacement.
    candidates.sort(
        key=lambda c: (not c.compared, c.ratio > 1, c.ratio <= 1 and ":" in c.name, c.relative)
    )
    probes = [p for p in probes if any(p is q for q, _, _ in runs)]
    return Identification(path, defaults, probes, candidates, not_tried, notes=notes)


def mapped_defaults(own: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The target's defaults a record takes: by name, where the value has the record's kind
    (a scalar eps is not Adafactor's pair). A None where the record has a number means "none
    given" (transformers' Adafactor: lr=None, it sets its own step size): the record keeps
    its own value rather than be run on None."""
    return {
        k: v
        for k, v in defaults.items()
        if k in own and _same_kind(v, own[k]) and not (v is None and own[k] is not None)
    }


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, tuple | list) or isinstance(b, tuple | list):
        return (
            isinstance(a, tuple | list)
            and isinstance(b, tuple | list)
            and len(a) == len(b)
            and all(map(_same_kind, a, b))
        )
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return a is None or b is None or type(a) is type(b)


def _describe(probe: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in probe.items()) or "the defaults"


def _record_runs(record, defaults, runs, T, user) -> tuple[list[tuple[Any, Any, Any]], str]:
    """The runs a record can be judged on, each (case with the record's keywords, the
    target's trajectory, the record's tolerance), computed once for all its formulas; or why
    none can be (the target's keywords lie outside its space). A keyword the user gave
    (``--hp``) that the record does not know goes to the target only, as with validate:
    timm's Lamb is compared with LAMB under ``--hp max_grad_norm=None``."""
    own = record.defaults
    known = set(own) | set(user)
    mapped = mapped_defaults(own, defaults)
    judged = []
    for probe, case, got in runs:
        if set(probe) - known:
            continue  # the target does something the record cannot express: not its test
        hp = {**own, **mapped, **{k: v for k, v in probe.items() if k in own}}
        if (why := record.check_hp(hp)) is not None:
            return [], f"the target's keywords are outside {record.name}'s space: {why}"
        run = case.replace(hp=hp, defaults={})
        with np.errstate(all="ignore"):
            tol = T.case_tolerance(record.error_model, run, "float64", observed=got)
        if not tol.outside:
            judged.append((run, got, tol))
    return judged, "" if judged else "every case lies outside its error model"


def _score(label, fn, description, judged, why_not) -> Candidate:
    from optcheck.checks.kit.evidence import Observation
    from optcheck.checks.kit.evidence import worst as distance

    cand = Candidate(label, description, why_not=why_not)
    worst, relative = 0.0, 0.0
    for run, got, tol in judged:
        with np.errstate(all="ignore"):
            ref = run.run_reference(fn)
        moved = max(
            (
                float(np.max(np.abs(r - p0), initial=0.0))
                for rs in ref
                for r, p0 in zip(rs, run.params0, strict=True)
            ),
            default=0.0,
        )
        for k, (g_step, r_step) in enumerate(zip(got, ref, strict=True)):
            for i, (g, r) in enumerate(zip(g_step, r_step, strict=True)):
                worst = max(worst, distance(Observation("", g, r, tol.theta[k][i]))[0])
                gap = float(np.nan_to_num(np.max(np.abs(g - r), initial=0.0), nan=np.inf))
                relative = max(relative, gap / moved if moved > 0 else (np.inf if gap else 0.0))
        cand.compared += 1
    cand.ratio = worst if cand.compared else math.inf
    cand.relative = relative if cand.compared else math.inf
    return cand
