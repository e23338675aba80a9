"""Real workloads: small torch models trained on data that is already on the machine.

No downloads: the tabular and image data ship inside scikit-learn (``load_breast_cancer``,
``load_wine``, ``load_digits`` read CSV files bundled with the package), and the language
model's corpus is a pinned list of byte ranges of the running Python's standard-library
sources. Every run is deterministic on CPU: the split comes from a fixed NumPy seed, weights
and minibatches from a ``torch.Generator`` seeded by the run's seed, one torch thread.

Protocol (AlgoPerf's spirit, at the scale of two cores): each optimizer gets the same lr grid
(and, for the decoupled-decay family, a weight-decay grid); the point with the best final
validation metric on a tuning seed wins, ties broken by steps to target; the winner then runs
on every evaluation seed and is scored on the test split. Steps and time to target count to the
evaluation from which the test metric stays at or below the workload's target to the end of
the budget (``bench.steps_to_stay``); time counts training steps only, not evaluations.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import math
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from optcheck.reports import bench_result as br

# ---------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Split:
    """Train/validation/test arrays (float32 features, int64 labels) or byte streams."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int
    digest: str  # sha256 of the data as loaded, before splitting


# 60/20/20, the same permutation for every seed: the seed varies the training, not the data.
SPLIT_SEED = 0
SPLIT = (0.6, 0.2)


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def standardize(x: np.ndarray, train: np.ndarray, per_feature: bool = True) -> np.ndarray:
    """``x`` shifted and scaled by the training rows' mean and spread (held-out rows never
    enter the statistics); per feature, or one scalar for images."""
    axis = 0 if per_feature else None
    mean, std = train.mean(axis=axis), train.std(axis=axis)
    std = np.where(std > 0, std, 1.0)  # constant features (blank digit pixels) stay 0
    return (x - mean) / std


@functools.cache
def tabular(name: str, image: bool = False) -> Split:
    """A scikit-learn bundled data set, split and standardized with training statistics only:
    per feature for tables, one scalar for images (so the picture keeps its contrast)."""
    try:
        from sklearn import datasets
    except ImportError:
        raise RuntimeError(
            "the real-data workloads need scikit-learn: pip install 'optcheck[bench]'"
        ) from None
    loader = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine,
              "digits": datasets.load_digits}[name]  # fmt: skip
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    digest = _digest(x, y)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    n_tr, n_va = int(SPLIT[0] * len(y)), int(SPLIT[1] * len(y))
    parts = np.split(perm, [n_tr, n_tr + n_va])
    z_all = standardize(x, x[parts[0]], per_feature=not image)

    def xs(idx: np.ndarray) -> torch.Tensor:
        z = torch.from_numpy(z_all[idx].astype(np.float32))
        return z.reshape(-1, 1, 8, 8) if image else z

    return Split(
        *(t for idx in parts for t in (xs(idx), torch.from_numpy(y[idx]))),
        classes=int(y.max()) + 1,
        digest=digest,
    )


# The language model's corpus: (module, first byte, end byte) of standard-library sources that
# every CPython >= 3.10 ships; sorted, fixed. Ranges stop inside each file so a longer file in
# a later release still gives the same bytes where the start of the file did not change.
CORPUS_FILES: tuple[tuple[str, int, int], ...] = (
    ("bisect.py", 0, 3000),
    ("calendar.py", 0, 20000),
    ("cmd.py", 0, 14000),
    ("colorsys.py", 0, 4000),
    ("difflib.py", 0, 40000),
    ("fractions.py", 0, 20000),
    ("graphlib.py", 0, 9000),
    ("heapq.py", 0, 20000),
    ("numbers.py", 0, 10000),
    ("queue.py", 0, 10000),
    ("sched.py", 0, 6000),
    ("shlex.py", 0, 12000),
    ("string.py", 0, 10000),
    ("textwrap.py", 0, 18000),
)
# sha256 of the corpus on CPython 3.11 (the version checked); another version may differ in
# some of these bytes: the result records the hash and the report says when it is not this one.
CORPUS_SHA256 = "7f7a8d36ac6532cf1adc8a0aaa9792bdcb8e488a0d610ee8c959e9d662e09ba0"
CONTEXT = 32  # characters the model sees
VOCAB = 256  # bytes


class CorpusError(RuntimeError):
    """A corpus file is missing or shorter than its pinned range: one line, no traceback."""


@functools.cache
def corpus(stdlib: str | None = None) -> tuple[bytes, str]:
    """(the corpus, its sha256), read from ``stdlib`` (default: the running Python's)."""
    root = Path(stdlib or sysconfig.get_paths()["stdlib"])
    chunks = []
    for name, start, end in CORPUS_FILES:
        path = root / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorpusError(
                f"the language-model corpus needs {path}: {exc.strerror or exc}"
            ) from None
        if len(data) < end:
            raise CorpusError(f"the language-model corpus needs {end} bytes of {path}, it has "
                              f"{len(data)}")  # fmt: skip
        chunks.append(data[start:end])
    text = b"".join(chunks)
    return text, hashlib.sha256(text).hexdigest()


@functools.cache
def text_split() -> Split:
    """Bytes 0..80 % train, then 10 % validation and 10 % test; evaluation windows are fixed,
    evenly spaced over each held-out part (so every run sees the same held-out text)."""
    text, digest = corpus()
    data = torch.frombuffer(bytearray(text), dtype=torch.uint8).long()
    n = len(data)
    a, b = int(0.8 * n), int(0.9 * n)

    def windows(lo: int, hi: int, count: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
        starts = np.linspace(lo, hi - CONTEXT - 1, count).astype(np.int64)
        idx = torch.from_numpy(starts)[:, None] + torch.arange(CONTEXT + 1)
        w = data[idx]
        return w[:, :-1], w[:, 1:]

    xv, yv = windows(a, b)
    xt, yt = windows(b, n)
    train = data[:a]
    return Split(train, train, xv, yv, xt, yt, classes=VOCAB, digest=digest)


# ---------------------------------------------------------------------------------------------
# Models


class CharTransformer(nn.Module):
    """A causal character-level transformer: byte embedding + learned positions, pre-norm
    encoder layers under a causal mask, a linear head over the 256 bytes."""

    def __init__(self, width: int = 48, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, width)
        self.pos = nn.Parameter(torch.zeros(CONTEXT, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCAB)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(CONTEXT))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.pos[: x.shape[1]]
        h = self.body(h, mask=self.mask, is_causal=True)
        return self.head(self.norm(h))


def build_model(kind: str, features: int, classes: int) -> nn.Module:
    if kind == "logistic":
        return nn.Linear(features, classes)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, classes))
    if kind == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(16 * 4 * 4, classes),
        )  # fmt: skip
    if kind == "transformer":
        return CharTransformer()
    raise ValueError(f"unknown model {kind!r}")


def init_weights(model: nn.Module, gen: torch.Generator) -> None:
    """Every weight from ``gen`` (torch's own init draws from the global RNG): matrices and
    kernels U(-1/√fan_in, 1/√fan_in), biases and LayerNorm shifts 0, LayerNorm scales 1,
    learned positions N(0, 0.02²)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2 and name != "pos":
                bound = 1.0 / math.sqrt(p[0].numel())
                p.copy_(torch.rand(p.shape, generator=gen) * 2 * bound - bound)
            elif name == "pos":
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
            elif "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()


# ---------------------------------------------------------------------------------------------
# Workloads


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    data: str  # breast_cancer | wine | digits | stdlib
    model: str  # logistic | mlp | cnn | transformer
    steps: int
    batch: int
    eval_every: int
    # The held-out metric (test error = 1 - accuracy, or bits per character) at or below which
    # a run has reached the target, and how the value was chosen.
    target: float
    target_note: str

    @property
    def metric(self) -> str:
        return "bits per char" if self.model == "transformer" else "error rate"


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "logreg-breast-cancer", "logistic regression, Wisconsin breast cancer (30 features)",
            "breast_cancer", "logistic", 300, 32, 10, 0.035,
            "median of the six tuned torch lines' mean test error (0.032-0.041, 3 seeds), "
            "rounded to the test set's step: at most 4 of 115 wrong",
        ),
        Workload(
            "mlp-wine", "MLP 13-64-3 (ReLU), wine (13 features, 3 cultivars)",
            "wine", "mlp", 200, 16, 10, 0.082,
            "median of the six tuned torch lines' mean test error (0.072-0.090, 3 seeds), "
            "rounded to the test set's step: at most 3 of 37 wrong",
        ),
        Workload(
            "mlp-digits", "MLP 64-64-10 (ReLU), 8×8 handwritten digits",
            "digits", "mlp", 400, 64, 20, 0.0195,
            "median of the six tuned torch lines' mean test error (0.016-0.022, 3 seeds): "
            "at most 7 of 360 wrong",
        ),
        Workload(
            "cnn-digits", "CNN conv8-conv16-pool-linear (ReLU), 8×8 handwritten digits",
            "digits", "cnn", 300, 64, 30, 0.014,
            "median of the six tuned torch lines' mean test error (0.012-0.022, 3 seeds): "
            "at most 5 of 360 wrong",
        ),
        Workload(
            "charlm-stdlib", "char transformer (2 layers, width 48, 4 heads, context 32), "
            "Python standard-library sources", "stdlib", "transformer", 400, 16, 50, 3.41,
            "median of the six tuned torch lines' mean test bits per char (3.39-3.55, 3 "
            "seeds), rounded up to 0.01",
        ),
    )
}  # fmt: skip


def split_of(w: Workload) -> Split:
    if w.data == "stdlib":
        return text_split()
    return tabular(w.data, image=w.model == "cnn")


def describe(name: str) -> br.WorkloadRecord:
    """The workload as the report lists it: data, sizes, model, parameters, target."""
    w = WORKLOADS[name]
    s = split_of(w)
    features = s.x_train.shape[1] if s.x_train.dim() == 2 else 0
    model = build_model(w.model, features, s.classes)
    n_train = len(s.y_train) if w.data != "stdlib" else len(s.x_train)
    source = "Python standard library " if w.data == "stdlib" else "scikit-learn load_"
    return br.WorkloadRecord(
        name=w.name,
        title=w.title,
        data=source + (w.data if w.data != "stdlib" else f"({len(CORPUS_FILES)} files)"),
        model=w.model,
        parameters=sum(p.numel() for p in model.parameters()),
        n_train=n_train,
        n_val=len(s.y_val) * (CONTEXT if w.data == "stdlib" else 1),
        n_test=len(s.y_test) * (CONTEXT if w.data == "stdlib" else 1),
        steps=w.steps,
        batch=w.batch,
        eval_every=w.eval_every,
        metric=w.metric,
        target=w.target,
        target_note=w.target_note,
        data_sha256=s.digest,
        notes=_corpus_note(s.digest) if w.data == "stdlib" else "",
    )


def _corpus_note(digest: str) -> str:
    if digest == CORPUS_SHA256:
        return "corpus identical to the pinned one (CPython 3.11)"
    return "corpus differs from the pinned one: results compare only with runs of this hash"


# ---------------------------------------------------------------------------------------------
# One run


@dataclass
class Trained:
    steps: list[int]  # evaluation steps, 0 .. budget
    val_metric: list[float]
    test_metric: list[float]
    test_loss: list[float]  # held-out cross-entropy, nats per example or character
    train_time: list[float]  # seconds of training (evaluations excluded) at each evaluation
    diverged: bool
    state_bytes: int  # bytes of the tensors in the optimizer's state dict after the run
    parameters: int


def _evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lm: bool) -> tuple[float, float]:
    """(cross-entropy in nats, metric): error rate, or bits per character for the LM."""
    with torch.no_grad():
        logits = model(x)
        loss = float(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 y.reshape(-1)))  # fmt: skip
        if lm:
            return loss, loss / math.log(2)
        return loss, float((logits.argmax(-1) != y).double().mean())


def _batches(s: Split, w: Workload, gen: torch.Generator) -> Any:
    """Minibatches from ``gen`` forever: shuffled epochs for tables and images, random
    windows of the training text for the LM."""
    if w.data == "stdlib":
        text = s.x_train
        span = torch.arange(CONTEXT + 1)
        while True:
            starts = torch.randint(0, len(text) - CONTEXT - 1, (w.batch, 1), generator=gen)
            win = text[starts + span]
            yield win[:, :-1], win[:, 1:]
    n = len(s.y_train)
    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - w.batch + 1, w.batch):  # full batches only: one shape per step
            idx = perm[i : i + w.batch]
            yield s.x_train[idx], s.y_train[idx]


def state_bytes(opt: torch.optim.Optimizer) -> int:
    """Bytes of every tensor the optimizer's state dict holds (moments, step counters)."""
    total = 0
    for per_param in opt.state_dict()["state"].values():
        for v in per_param.values():
            if torch.is_tensor(v):
                total += v.numel() * v.element_size()
    return total


def train(
    workload: str, cfg: Any, lr: float, seed: int, weight_decay: float | None = None,
    steps: int | None = None,
) -> Trained:  # fmt: skip
    """One training run of ``cfg`` (a bench OptimizerConfig) at ``lr`` (and ``weight_decay``
    when tuned) with weights and minibatches from ``seed``."""
    from optcheck.suites.bench import make_torch_optimizer

    torch.set_num_threads(1)
    w = WORKLOADS[workload]
    budget = steps or w.steps
    s = split_of(w)
    lm = w.data == "stdlib"
    gen = torch.Generator().manual_seed(seed)
    features = s.x_train.shape[1] if s.x_train.dim() == 2 and not lm else 0
    model = build_model(w.model, features, s.classes)
    init_weights(model, gen)
    params = list(model.parameters())
    opt = make_torch_optimizer(with_decay(cfg, weight_decay), params, lr)
    out = Trained([], [], [], [], [], False, 0, sum(p.numel() for p in params))
    batches = _batches(s, w, gen)
    elapsed = 0.0

    def evaluate(k: int) -> bool:
        model.eval()
        _, vm = _evaluate(model, s.x_val, s.y_val, lm)
        tl, tm = _evaluate(model, s.x_test, s.y_test, lm)
        model.train()
        if not (math.isfinite(tl) and math.isfinite(vm)):
            return False
        out.steps.append(k)
        out.val_metric.append(vm)
        out.test_metric.append(tm)
        out.test_loss.append(tl)
        out.train_time.append(elapsed)
        return True

    evaluate(0)
    for k in range(1, budget + 1):
        xb, yb = next(batches)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(xb)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), yb.reshape(-1))
        if not torch.isfinite(loss):
            out.diverged = True
            break
        loss.backward()
        opt.step()
        elapsed += time.perf_counter() - t0
        if (k % w.eval_every == 0 or k == budget) and not evaluate(k):
            out.diverged = True
            break
    out.state_bytes = state_bytes(opt)
    return out


def reached_at(tr: Trained, metric: list[float], target: float) -> int | None:
    """Index of the evaluation from which ``metric`` stays at or below ``target`` (AlgoPerf's
    rule, bench.steps_to_stay); None when it does not hold at the end or the run diverged."""
    from optcheck.suites.bench import steps_to_stay

    if tr.diverged:
        return None
    return steps_to_stay(np.asarray(metric), target)


# ---------------------------------------------------------------------------------------------
# The protocol: tune on the grid, then the seeds (a task: a plain picklable function)


@dataclass(frozen=True)
class WorkloadSettings:
    seeds: tuple[int, ...] = (0, 1, 2)
    tuning_seed: int = 1000
    # Decades 1e-4 .. 1: Adam-type methods tune low on these models, SGD high (decades, not
    # half-decades: the transformer's cell is ~1 minute a run-point on a shared core).
    lr_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    # Decoupled decay θ ← θ(1 − ηλ): torch's default 1e-2 and a decade either side up to 1,
    # where a few hundred steps at the tuned η shrink the weights by a visible fraction.
    wd_grid: tuple[float, ...] = (0.01, 0.1, 1.0)
    steps: tuple[tuple[str, int], ...] = ()  # per-workload overrides of the budget

    def budget(self, workload: str) -> int:
        return dict(self.steps).get(workload, WORKLOADS[workload].steps)


def with_decay(cfg: Any, weight_decay: float | None) -> Any:
    """``cfg`` with its weight_decay keyword set (None: unchanged)."""
    if weight_decay is None:
        return cfg
    hp = (*((k, v) for k, v in cfg.hp if k != "weight_decay"), ("weight_decay", weight_decay))
    return dataclasses.replace(cfg, hp=hp)


def tunes_decay(cfg: Any) -> bool:
    """Weight decay is tuned for torch lines of the decoupled family (AdamW): there λ is a
    hyper-parameter of the method, not of the loss. A --target keeps the keywords given."""
    from optcheck.checks import catalog

    if cfg.kind != "torch":
        return False
    return catalog.bench_lines()[cfg.family].record.decay == "decoupled"


def _metric_key(tr: Trained, target: float) -> tuple[float, float]:
    if tr.diverged or not tr.val_metric:
        return (math.inf, math.inf)
    hit = reached_at(tr, tr.val_metric, target)
    return (round(tr.val_metric[-1], 9), math.inf if hit is None else tr.steps[hit])


def workload_task(workload: str, cfg: Any, settings: WorkloadSettings) -> br.WorkloadCell:
    """The tuning grid, then every evaluation seed; a raise is a failed cell, not a lost run."""
    try:
        return _workload_cell(workload, cfg, settings)
    except Exception as exc:  # noqa: BLE001 - a broken target must not sink the whole run
        return failed_workload_cell(workload, cfg, f"{type(exc).__name__}: {exc}")


def failed_workload_cell(workload: str, cfg: Any, why: str) -> br.WorkloadCell:
    empty = br.Interval(None, None, None)
    return br.WorkloadCell(
        workload, cfg.name, None, None, [], False, [], [], br.Curve([], [], [], []), [], [],
        empty, empty, empty, empty, 0.0, 0, 0, hp=dict(cfg.hp), error=why.splitlines()[0],
    )  # fmt: skip


def _workload_cell(workload: str, cfg: Any, settings: WorkloadSettings) -> br.WorkloadCell:
    from optcheck.suites.bench import _round, bootstrap, run_keywords

    w = WORKLOADS[workload]
    steps = settings.budget(workload)
    decays: tuple[float | None, ...] = settings.wd_grid if tunes_decay(cfg) else (None,)
    grid, keys = [], []
    for lr in settings.lr_grid:
        for wd in decays:
            tr = train(workload, cfg, lr, settings.tuning_seed, wd, steps)
            key = _metric_key(tr, w.target)
            keys.append((key, lr, wd))
            grid.append(
                br.GridPoint(
                    lr, wd,
                    None if math.isinf(key[0]) else tr.val_metric[-1],
                    None if math.isinf(key[1]) else int(key[1]),
                )
            )  # fmt: skip
    (best_key, lr, wd) = min(keys, key=lambda k: (k[0], k[1], k[2] or 0.0))
    hp = run_keywords(with_decay(cfg, wd))
    if math.isinf(best_key[0]):
        cell = failed_workload_cell(workload, cfg, "diverged at every point of the grid")
        cell.grid, cell.hp = grid, hp
        return cell
    runs, trained = [], []
    for seed in settings.seeds:
        tr = train(workload, cfg, lr, seed, wd, steps)
        trained.append(tr)
        hit = reached_at(tr, tr.test_metric, w.target)
        runs.append(
            br.WorkloadRun(
                seed=seed,
                test_metric=None if tr.diverged else tr.test_metric[-1],
                test_loss=None if tr.diverged else tr.test_loss[-1],
                steps_to_target=None if hit is None else tr.steps[hit],
                time_to_target=None if hit is None else tr.train_time[hit],
                train_time=tr.train_time[-1] if tr.train_time else 0.0,
                diverged=tr.diverged,
            )
        )
    idx = trained[0].steps if not trained[0].diverged else []
    full = [t for t in trained if not t.diverged and t.steps == idx]

    def quartiles(name: str, qs: tuple[int, ...]) -> list[list[float | None]]:
        if not full:
            return [[] for _ in qs]
        arr = np.percentile(np.array([getattr(t, name) for t in full]), qs, axis=0)
        return [[_round(float(v)) for v in row] for row in arr]

    loss_q25, loss_med, loss_q75 = quartiles("test_loss", (25, 50, 75))
    (metric_med,) = quartiles("test_metric", (50,))
    (time_med,) = quartiles("train_time", (50,))
    finite = [r for r in runs if not r.diverged]
    reached = [r for r in runs if r.steps_to_target is not None]
    lr_at = [i for i, v in enumerate(settings.lr_grid) if v == lr][0]
    return br.WorkloadCell(
        workload=workload,
        optimizer=cfg.name,
        lr=lr,
        weight_decay=wd,
        grid=grid,
        at_grid_edge=lr_at in (0, len(settings.lr_grid) - 1),
        runs=runs,
        curve_steps=list(idx),
        curve_loss=br.Curve(list(idx), loss_med, loss_q25, loss_q75),
        curve_metric=metric_med,
        curve_time=time_med,
        test_metric=bootstrap([r.test_metric for r in finite], 1),
        test_loss=bootstrap([r.test_loss for r in finite], 2),
        steps_to_target=bootstrap([r.steps_to_target for r in reached], 3),
        time_to_target=bootstrap([r.time_to_target for r in reached], 4),
        reached=len(reached) / len(runs),
        state_bytes=max(t.state_bytes for t in trained),
        parameters=trained[0].parameters,
        hp=hp,
    )


def check_available(names: list[str]) -> None:
    """Fail now, with one line, where a worker would fail later: scikit-learn missing (found,
    not imported: that takes a second) or a corpus file missing (read: milliseconds)."""
    for name in names:
        if WORKLOADS[name].data == "stdlib":
            corpus()
        elif importlib.util.find_spec("sklearn") is None:
            raise RuntimeError(f"{name} needs scikit-learn: pip install 'optcheck[bench]'")


# Seconds per training step on one core (torch 2.13, measured), for ordering the queue only.
STEP_SECONDS = {"logistic": 1e-4, "mlp": 2e-4, "cnn": 1e-3, "transformer": 1e-2}


def task_cost(workload: str, cfg: Any, settings: WorkloadSettings) -> float:
    w = WORKLOADS[workload]
    runs = len(settings.lr_grid) * (len(settings.wd_grid) if tunes_decay(cfg) else 1)
    runs += len(settings.seeds)
    return runs * settings.budget(workload) * STEP_SECONDS[w.model]
