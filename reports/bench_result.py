"""The benchmark result model: plain dataclasses and their versioned JSON form.

A leaf module: it imports nothing of the project, so optcheck.reports can render a report
from a JSON file alone. Non-finite floats are written as null (strict JSON); the meaning of
null is given per field (diverged, not reached, not measured).

Schema history: version 1 (this one; ``failures``, ``workloads`` and ``workload_cells`` were
added later and may be absent: a reader of either age reads the other's files).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

SCHEMA = "optcheck.bench"
SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """A JSON document that is not a bench result this version can read."""


@dataclass
class Interval:
    """A point estimate with its 95 % bootstrap confidence interval (null: no data)."""

    estimate: float | None
    low: float | None
    high: float | None


@dataclass
class SeedRun:
    seed: int
    f_final: float | None  # null: diverged
    subopt: float | None  # f_final - f*
    rel_subopt: float | None  # (f_final - f*) / (f(x0) - f*)
    steps_to_target: int | None  # null: target not reached within the budget
    time_to_target: float | None  # seconds; null: not reached
    wall_time: float  # seconds for the whole run (gradient evaluations included)
    diverged: bool


@dataclass
class Curve:
    """Relative suboptimality (f - f*)/(f(x0) - f*) over seeds at selected steps."""

    steps: list[int]
    median: list[float | None]
    q25: list[float | None]
    q75: list[float | None]


@dataclass
class Cell:
    """One optimizer on one problem under one schedule: lr tuning, then the seeded runs."""

    problem: str
    optimizer: str
    schedule: str
    lr: float | None  # the tuned base learning rate; null when every grid value diverged
    lr_grid: list[float]
    grid_scores: list[float | None]  # tuning score per grid lr (log10 rel. subopt.); null: diverged
    at_grid_edge: bool
    replicated: bool  # deterministic problem: one run stands for every seed
    runs: list[SeedRun]
    curve: Curve
    log10_subopt: Interval  # mean over seeds of log10(max(rel_subopt, floor))
    steps_to_target: Interval  # mean over the seeds that reached the target
    reached: float  # fraction of seeds that reached the target
    wall_time: Interval
    error: str | None = None  # the run raised (a broken target): the message
    # Every keyword the optimizer ran with, lr aside (tuned: ``lr``); absent in older files.
    hp: dict[str, Any] = field(default_factory=dict)
    # A --target's optcheck validate verdict line ("DOES NOT CONFORM (...)", "CONFORMS (...)",
    # "not validated"); null for torch.optim and the references. Absent in older files.
    validation: str | None = None

    @property
    def fails_validation(self) -> bool:
        return failed_validation(self.validation)


def failed_validation(verdict: str | None) -> bool:
    """A --target whose optcheck validate verdict is a failure (never marked best)."""
    return verdict is not None and verdict.startswith("DOES NOT CONFORM")


@dataclass
class ProblemRecord:
    name: str
    title: str
    dim: int
    steps: int
    stochastic: bool
    seeded: bool
    f_star_method: str
    f_star: float  # seed 0
    check_method: str
    check_value: float | None
    check_error: float | None  # check_value - f_star
    check_tolerance: float
    notes: str = ""

    @property
    def check_ok(self) -> bool:
        return self.check_error is not None and abs(self.check_error) <= self.check_tolerance


@dataclass
class TheoryRow:
    problem: str
    method: str  # gradient descent | heavy ball | nesterov
    implementation: str  # torch | reference
    lr: float
    momentum: float
    formula: str
    theory_rate: float
    measured_rate: float | None
    rel_error: float | None
    window: list[int]  # [t1, t2] of the fit
    tolerance: float
    curve_steps: list[int]
    curve_log10_error: list[float | None]  # log10 |x_t - x*|

    @property
    def ok(self) -> bool:
        return self.rel_error is not None and abs(self.rel_error) <= self.tolerance


@dataclass
class ReddiRun:
    optimizer: str
    alpha: float
    steps: int
    x0: float
    final_x: float | None
    avg_regret: float | None  # R_T / T against x* = -1
    expected: float  # the end point the paper predicts (+1 for Adam, -1 for AMSGrad)
    curve_steps: list[int]
    curve_x: list[float | None]
    hp: dict[str, Any] = field(default_factory=dict)  # as Cell.hp, the run's betas included
    # Average regret R_t / t at curve_steps (null at t = 0); absent in older files.
    curve_avg_regret: list[float | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.final_x is not None and abs(self.final_x - self.expected) <= 0.05


@dataclass
class ScheduleInfo:
    name: str
    torch_class: str
    params: dict[str, Any]
    steps: list[int]
    lr_torch: list[float | None]  # relative to base_lr
    lr_closed_form: list[float | None] | None
    closed_form_source: str
    max_rel_diff: float | None


# A speed row's fraction of bandwidth is reported only when its working set is at least this
# many last-level caches, and the bandwidth buffers are as large: at most 1/4 of what streams
# through can then come from cache.
CACHE_MULTIPLE = 4


@dataclass
class SpeedRow:
    optimizer: str
    implementation: str  # reference | forloop | foreach | fused
    size: int
    dtype: str
    device: str
    time_per_step: float | None  # median seconds; null: not run (see error)
    time_q25: float | None
    time_q75: float | None
    reps: int
    bytes_per_step: int  # ideal: a single pass, from the record (itemsize of dtype)
    # Of the measured bandwidth; null where the working set may sit in the last-level cache
    # (below CACHE_MULTIPLE × LLC: time alone means something there) or not run.
    bandwidth_fraction: float | None
    error: str | None = None
    layout: str = "tensor"  # one tensor of ``size``, or the named model's parameter list
    tensors: int = 1
    working_set: int | None = None  # bytes of params, grads and state held
    moved_bytes_per_step: int | None = None  # counted per aten op (torch rows)
    moved_fraction: float | None = None  # moved bytes ÷ time ÷ bandwidth, as above

    def over_bandwidth(self, spread: float) -> float | None:
        """The largest fraction this row claims, when it exceeds 1 beyond the noise: the
        bandwidth's own spread (best/median − 1) and this row's timing spread (IQR/median).
        None: within what memory allows."""
        if self.bandwidth_fraction is None or not self.time_per_step:
            return None
        worst = max(self.bandwidth_fraction, self.moved_fraction or 0.0)
        q25, q75 = self.time_q25 or self.time_per_step, self.time_q75 or self.time_per_step
        iqr = (q75 - q25) / self.time_per_step
        return worst if worst > (1 + spread) * (1 + iqr) else None


@dataclass
class SpeedSection:
    device: str
    bandwidth: float  # bytes/s, the best copy measured in the same run
    bandwidth_method: str
    byte_counts: dict[str, str]  # optimizer -> what one step must move, per element
    rows: list[SpeedRow]
    cpu_bandwidth: float | None = None  # bytes/s; the reference's rows are fractions of this
    threads: int = 1  # torch CPU threads during the measurements
    # optimizer -> every keyword its steps ran with (lr aside: 1e-6, immaterial to the time)
    hp: dict[str, dict[str, Any]] = field(default_factory=dict)
    llc_bytes: int | None = None  # the device's last-level cache, as read from the machine
    cpu_llc_bytes: int | None = None
    # The bandwidth's noise: the larger of best / median − 1 over its repetitions and
    # best / worst − 1 over the run's measurements (drift on a shared machine).
    bandwidth_spread: float = 0.0
    cpu_bandwidth_spread: float = 0.0

    def over_bandwidth(self) -> list[tuple[SpeedRow, float]]:
        """Rows claiming more than the measured bandwidth beyond its noise: a bug in the
        bytes model or the cache threshold, never a result."""
        out = []
        for r in self.rows:
            on_cpu = r.device != self.device
            worst = r.over_bandwidth(self.cpu_bandwidth_spread if on_cpu else self.bandwidth_spread)
            if worst is not None:
                out.append((r, worst))
        return out


@dataclass
class CrossvalRow:
    optimizer: str
    implementation: str
    dtype: str
    steps: int
    max_error: float | None  # max |ref - torch| / max displacement
    bound: float | None  # the worst error in units of the derived tolerance (<= 1: agreement)
    error: str | None = None
    hp: dict[str, Any] = field(default_factory=dict)  # every keyword, the fixed lr included

    @property
    def ok(self) -> bool:
        return self.bound is not None and self.bound <= 1.0


@dataclass
class WorkloadRecord:
    """A real workload: the data it reads, the model, the budget and the target."""

    name: str
    title: str
    data: str
    model: str
    parameters: int
    n_train: int  # examples (bytes of text for the language model)
    n_val: int  # held-out examples (predicted characters for the language model)
    n_test: int
    steps: int
    batch: int
    eval_every: int
    metric: str  # "error rate" (1 - accuracy) or "bits per char", on held-out data
    target: float  # the metric at or below which a run has reached the target
    target_note: str  # how the target was chosen
    data_sha256: str  # of the data as loaded (the corpus bytes for the language model)
    notes: str = ""


@dataclass
class GridPoint:
    """One tuning run: its final validation metric and steps to target (null: diverged or
    not reached)."""

    lr: float
    weight_decay: float | None  # null: not tuned (the optimizer's own value, in Cell.hp)
    val_metric: float | None
    steps_to_target: int | None


@dataclass
class WorkloadRun:
    seed: int
    test_metric: float | None  # null: diverged
    test_loss: float | None  # held-out cross-entropy (nats)
    steps_to_target: int | None  # null: not reached, or not staying reached to the end
    time_to_target: float | None  # seconds of training, evaluations excluded
    train_time: float
    diverged: bool


@dataclass
class WorkloadCell:
    """One optimizer on one real workload: the lr (and weight-decay) grid on the tuning seed,
    then the chosen point on every evaluation seed."""

    workload: str
    optimizer: str
    lr: float | None  # null: every grid point diverged
    weight_decay: float | None  # the tuned weight decay; null: not tuned
    grid: list[GridPoint]
    at_grid_edge: bool
    runs: list[WorkloadRun]
    curve_steps: list[int]
    curve_loss: Curve  # held-out loss (nats) over seeds at curve_steps
    curve_metric: list[float | None]  # median held-out metric
    curve_time: list[float | None]  # median seconds of training at curve_steps
    test_metric: Interval
    test_loss: Interval
    steps_to_target: Interval
    time_to_target: Interval
    reached: float
    state_bytes: int  # optimizer state dict tensors after the run
    parameters: int
    hp: dict[str, Any] = field(default_factory=dict)  # every keyword, the tuned decay included
    validation: str | None = None  # as Cell.validation
    error: str | None = None

    @property
    def fails_validation(self) -> bool:
        return failed_validation(self.validation)


@dataclass
class BenchResult:
    created: str
    duration_s: float
    config: dict[str, Any]
    machine: dict[str, Any]
    problems: list[ProblemRecord] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)
    theory: list[TheoryRow] = field(default_factory=list)
    reddi: list[ReddiRun] = field(default_factory=list)
    schedules: list[ScheduleInfo] = field(default_factory=list)
    speed: SpeedSection | None = None
    crossval: list[CrossvalRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Tasks of the sections without cells (f*, theory, Reddi, cross-validation) that raised,
    # crashed or hung, with why; a failed run is a failed cell. Absent in older files.
    failures: list[str] = field(default_factory=list)
    # Real workloads (optcheck.suites.workloads); absent in older files.
    workloads: list[WorkloadRecord] = field(default_factory=list)
    workload_cells: list[WorkloadCell] = field(default_factory=list)
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION

    def cell(self, problem: str, optimizer: str, schedule: str = "constant") -> Cell | None:
        for c in self.cells:
            if (c.problem, c.optimizer, c.schedule) == (problem, optimizer, schedule):
                return c
        return None

    def violations(self) -> list[str]:
        """The benchmark's own claims that did not hold (f*, theory rates, Reddi), and runs
        that raised: a broken target must not pass as a completed benchmark."""
        out = [
            f"{c.optimizer} on {c.problem} ({c.schedule}) raised: {c.error}"
            for c in self.cells
            if c.error
        ]
        out += [
            f"f* of {p.name} not confirmed ({p.check_method})"
            for p in self.problems
            if not p.check_ok
        ]
        out += [
            f"{r.method} ({r.implementation}) on {r.problem}: rate off theory by "
            f"{_pct(r.rel_error)}"
            for r in self.theory
            if not r.ok
        ]
        out += [
            f"Reddi counterexample: {r.optimizer} ended at {r.final_x}, expected {r.expected:+g}"
            for r in self.reddi
            if not r.ok
        ]
        out += [
            f"step time: {r.optimizer} {r.implementation} n={r.size:.2g} ({r.layout}) claims "
            f"{100 * worst:.0f} % of the measured bandwidth: the bytes model or the cache "
            "threshold is wrong"
            for r, worst in (self.speed.over_bandwidth() if self.speed else [])
        ]
        out += [
            f"{c.optimizer} on {c.workload} raised: {c.error}"
            for c in self.workload_cells
            if c.error
        ]
        out += [f"task failed: {f}" for f in self.failures]
        return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:+.2f} %"


# ---------------------------------------------------------------------------------------------
# JSON


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # a NumPy scalar slipped through
        return _clean(value.item())
    return value


def to_dict(result: BenchResult) -> dict[str, Any]:
    return _clean(dataclasses.asdict(result))


def dumps(result: BenchResult) -> str:
    return json.dumps(to_dict(result), indent=1, allow_nan=False) + "\n"


def loads(text: str) -> BenchResult:
    """Parse and validate; every problem is a one-line SchemaError naming the field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    return from_dict(data)


def from_dict(data: Any) -> BenchResult:
    if not isinstance(data, dict):
        raise SchemaError("not a bench result (top level is not an object)")
    if data.get("schema") != SCHEMA:
        raise SchemaError(f"not a bench result (schema is {data.get('schema')!r}, not {SCHEMA!r})")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"bench schema version {version!r}; this optcheck reads version {SCHEMA_VERSION}"
        )
    result = _decode(BenchResult, data, "")
    _check_meaning(result)
    return result


def _check_meaning(result: BenchResult) -> None:
    """What the types allow but no run writes, and the comparison and the rendering would
    trip over (a hand-edited or foreign file): a SchemaError naming the field."""
    steps = result.config.get("steps", {})
    if not isinstance(steps, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in steps.values()
    ):
        raise SchemaError("config.steps: expected an object of integers (steps per problem)")
    for i, c in enumerate(result.cells):
        if c.error is None and not c.runs:
            raise SchemaError(f"cells[{i}].runs: empty, in a cell without an error")
        if c.error is None and c.lr is None:
            raise SchemaError(f"cells[{i}].lr: null, in a cell without an error")
        for v in dataclasses.astuple(c.log10_subopt):
            if v is not None and not abs(v) <= 300:  # NaN too
                raise SchemaError(f"cells[{i}].log10_subopt: {v!r} is no log10 of a suboptimality")
    for i, row in enumerate(result.speed.rows if result.speed else []):
        if row.time_per_step is not None and not row.time_per_step > 0:
            raise SchemaError(f"speed.rows[{i}].time_per_step: {row.time_per_step!r} is not > 0")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    where = path or "document"
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise SchemaError(f"{where}: null where a value is required")
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value, path)
    if origin is list:
        if not isinstance(value, list):
            raise SchemaError(f"{where}: expected a list, got {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_decode(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {type(value).__name__}")
        kwargs = {}
        hints = _hints(tp)
        for f in dataclasses.fields(tp):
            sub = f"{path}.{f.name}" if path else f.name
            if f.name not in value:
                has_default = (
                    f.default is not dataclasses.MISSING
                    or f.default_factory is not dataclasses.MISSING
                )
                if has_default:
                    continue
                raise SchemaError(f"{sub}: missing")
            kwargs[f.name] = _decode(hints[f.name], value[f.name], sub)
        return tp(**kwargs)
    if value is None:
        raise SchemaError(f"{where}: null where a value is required")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"{where}: expected a number, got {value!r:.40}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{where}: expected an integer, got {value!r:.40}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise SchemaError(f"{where}: expected true/false, got {value!r:.40}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise SchemaError(f"{where}: expected a string, got {value!r:.40}")
        return value
    raise SchemaError(f"{where}: unsupported type {tp!r}")  # a bug in this module
