"""Step time of one optimizer step: the float64 reference against torch's forloop, foreach
and fused implementations, on single tensors and on a real model's parameter list (many
tensors of mixed shapes), as seconds per step and as a fraction of memory bandwidth.

Two byte counts per row:

- **ideal**: what a single-pass kernel must move (each array read once, written once at
  most), from the algorithm's record (``bytes_per_element``: SGD 3 arrays, momentum 5,
  Adam 7, AMSGrad 9); ``tests/test_bench_speed.py`` checks it against the reads and writes
  of params, grads and every param-sized state tensor torch actually keeps;
- **moved**: what this implementation's kernels move, counted per aten op during one step
  (``count_traffic``: every tensor an op reads, every tensor it writes), so a forloop step's
  ten passes are ten passes.

A fraction of DRAM bandwidth only means something when the arrays cannot sit in the
last-level cache: it is reported only where the step's working set is ≥ 4× the LLC (read
from the machine, ``last_level_cache``) and the bandwidth is measured in the same run on
buffers of ≥ 4× the LLC. Smaller rows report time alone. On a 480 MiB-LLC machine the old
1e7-parameter rows (≤ 280 MB) ran from cache against a 512 MiB-buffer bandwidth: 146 %.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from optcheck.checks import catalog
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.reports import bench_result as br

IMPLEMENTATIONS = ("reference", "forloop", "foreach", "fused")
CACHE_MULTIPLE = br.CACHE_MULTIPLE
Shapes = tuple[tuple[int, ...], ...]


def last_level_cache(device: str = "cpu") -> int | None:
    """Bytes of the last-level cache: CUDA's L2, or the largest cache sysfs lists for
    cpu0, or glibc's sysconf; None when the machine does not say."""
    if device.startswith("cuda"):
        return int(torch.cuda.get_device_properties(device).L2_cache_size) or None
    sizes = []
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip()
            kind = (index / "type").read_text().strip()
        except OSError:
            continue
        if kind != "Instruction" and text:
            unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1], 1)
            sizes.append(int(text.rstrip("KMG")) * unit)
    if sizes:
        return max(sizes)
    for name in ("SC_LEVEL3_CACHE_SIZE", "SC_LEVEL2_CACHE_SIZE"):
        try:
            value = os.sysconf(name)
        except (ValueError, OSError):
            continue
        if value > 0:
            return int(value)
    return None


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None off Linux)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# Parameter shapes of real models, built with torch.nn on the meta device (no memory, no
# downloads): what an optimizer steps in practice is a list of tensors of mixed shapes.
def _resnet18() -> torch.nn.Module:
    nn = torch.nn

    def block(cin: int, cout: int, stride: int) -> nn.Module:
        down = (
            [nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)]
            if stride != 1 or cin != cout
            else []
        )
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
            *down,
        )

    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [block(cin, cout, stride), block(cout, cout, 1)]
        cin = cout
    return nn.Sequential(*layers, nn.Linear(512, 1000))


def _transformer_lm() -> torch.nn.Module:
    nn = torch.nn
    d, vocab, context = 256, 256, 256
    layer = nn.TransformerEncoderLayer(d, 4, 4 * d, batch_first=True)
    return nn.ModuleList(
        [
            nn.Embedding(vocab, d),
            nn.Embedding(context, d),
            nn.TransformerEncoder(layer, 4, enable_nested_tensor=False),
            nn.LayerNorm(d),
            nn.Linear(d, vocab),
        ]
    )


MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "resnet18": _resnet18,  # He et al. 2016's ResNet-18 for ImageNet: 11.7M, 62 tensors
    "transformer-lm": _transformer_lm,  # 4 layers, d=256, byte vocabulary: 3.3M, 52 tensors
}


def model_shapes(name: str) -> Shapes:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    with torch.device("meta"):
        model = MODELS[name]()
    return tuple(tuple(p.shape) for p in model.parameters())


def bytes_per_step(family: str, size: int, itemsize: int) -> int:
    """Ideal bytes from the algorithm's record (what a single-pass kernel moves per element)."""
    return int(catalog.bench_lines()[family].bytes_per_element(itemsize) * size)


# Ops that write their destination without reading it.
_OVERWRITES = frozenset(
    ("aten::copy_", "aten::fill_", "aten::zero_", "aten::_foreach_copy_", "aten::_foreach_zero_")
)


class _Traffic(TorchDispatchMode):
    """Bytes read and written by each aten op: every tensor argument is read, every
    argument the op's schema marks as written and every fresh output is written; views
    move nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func.is_view or func._schema.name in ("aten::detach", "aten::alias"):
            return out
        schema = func._schema
        named = dict(zip((a.name for a in schema.arguments), args, strict=False)) | kwargs
        overwrites = schema.name in _OVERWRITES
        for arg in schema.arguments:
            n = _nbytes(named.get(arg.name))
            written = arg.alias_info is not None and arg.alias_info.is_write
            if arg.name == "grads" and named.get("grad_scale") is None:
                written = False  # fused kernels write grads only to unscale them
            if not (written and (overwrites or arg.name == "out")):
                self.bytes += n  # read (an overwritten destination's old value is not)
            if written:
                self.bytes += n
        fresh = [
            r
            for r, ret in zip(_as_tuple(out), schema.returns, strict=False)
            if ret.alias_info is None
        ]
        self.bytes += sum(_nbytes(r) for r in fresh)
        return out


def _as_tuple(value: object) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _nbytes(value: object) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


def count_traffic(step: Callable[[], None]) -> int:
    """Bytes one call of ``step`` moves, summed over the aten ops it runs (see _Traffic)."""
    with _Traffic() as mode:
        step()
    return mode.bytes


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_bandwidth(
    device: str = "cpu", nbytes: int | None = None, reps: int = 7
) -> tuple[float, float, int]:
    """(best bandwidth in bytes/s, its spread best/median − 1, buffer bytes) over ``reps``
    runs of two kernels: a copy (2 arrays counted) and an in-place add a += b (3 arrays).

    The two buffers hold ``nbytes`` together, by default CACHE_MULTIPLE × the last-level
    cache (256 MiB at least), so a pass cannot run from cache. The in-place add matters: an
    optimizer step writes only arrays it has just read, so it pays no write-allocate
    traffic, while a copy's destination is read in behind the counter's back.
    """
    if nbytes is None:
        nbytes = max(CACHE_MULTIPLE * (last_level_cache(device) or 0), 1 << 28)
    n = nbytes // 8  # two float32 arrays
    a = torch.ones(n, dtype=torch.float32, device=device)
    b = torch.empty_like(a).fill_(1e-8)
    kernels: list[tuple[int, Callable[[], object]]] = [
        (2, lambda: b.copy_(a)),
        (3, lambda: a.add_(b)),
    ]
    if device == "cpu":  # NumPy's single-threaded loops sometimes beat torch's
        x, y = a.numpy(), b.numpy()
        kernels += [(2, lambda: np.copyto(y, x)), (3, lambda: np.add(x, y, out=x))]
    best, spread = 0.0, 0.0
    for arrays, kernel in kernels:
        rates = []
        for _ in range(reps):
            _sync(device)
            t0 = time.perf_counter()
            kernel()
            _sync(device)
            rates.append(arrays * n * 4 / (time.perf_counter() - t0))
        if max(rates) > best:
            best, spread = max(rates), max(rates) / float(np.median(rates)) - 1
    return best, spread, 2 * n * 4


def make_stepper(
    family: str,
    implementation: str,
    size: int,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    shapes: Shapes | None = None,
) -> tuple[Callable[[], None], int]:
    """(a callable doing one optimizer step, element size in bytes) on one tensor of
    ``size`` elements, or on one tensor per shape in ``shapes`` (a model's parameter list).

    The callable's ``current()`` returns the parameters as one float64 NumPy vector, its
    ``working_set()`` the bytes of params, grads and state it keeps. The reference always
    runs in float64 NumPy on the CPU (that is what it is); torch runs in ``dtype`` on
    ``device``. The gradients are fixed: the step's cost does not depend on them.
    """
    fam = catalog.bench_lines()[family]
    shapes = shapes or ((size,),)
    gen = torch.Generator().manual_seed(seed)
    grads = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    starts = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
    if implementation == "reference":
        spec = OPTIMIZERS[fam.spec]
        hp = {**spec.defaults, **dict(fam.hp), "lr": 1e-6}
        params = [p.numpy() for p in starts]
        states: list[dict] = [{} for _ in shapes]
        gs = [g.numpy() for g in grads]
        clock = [0]

        def ref_step() -> None:
            clock[0] += 1
            for i, g in enumerate(gs):
                params[i], states[i] = spec.step(params[i], g, states[i], hp, clock[0])

        def ref_bytes() -> int:
            arrays = [*params, *gs, *(v for s in states for v in s.values())]
            return sum(int(np.asarray(v).nbytes) for v in arrays)

        ref_step.current = lambda: np.concatenate([p.ravel() for p in params])  # type: ignore[attr-defined]
        ref_step.working_set = ref_bytes  # type: ignore[attr-defined]
        return ref_step, 8
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}")
    flag = {"forloop": {"foreach": False}, "foreach": {"foreach": True}}.get(
        implementation, {"fused": True}
    )
    module, _, name = fam.torch_class.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    ps = [torch.nn.Parameter(p.to(device, dtype)) for p in starts]
    for p, g in zip(ps, grads, strict=True):
        p.grad = g.to(device, dtype)
    opt = cls(ps, lr=1e-6, **dict(fam.hp), **flag)
    opt.step()  # builds the state, and raises now if this combination is unsupported

    def torch_step() -> None:
        opt.step()
        _sync(device)

    def torch_bytes() -> int:
        state = [v for p in ps for v in opt.state[p].values() if isinstance(v, torch.Tensor)]
        return sum(_nbytes(t) for t in (*ps, *(p.grad for p in ps), *state))

    torch_step.current = lambda: np.concatenate(  # type: ignore[attr-defined]
        [p.detach().to("cpu", torch.float64).numpy().ravel() for p in ps]
    )
    torch_step.working_set = torch_bytes  # type: ignore[attr-defined]
    return torch_step, torch.finfo(dtype).bits // 8


def time_stepper(
    step: Callable[[], None], min_time: float = 0.1, min_reps: int = 3, max_reps: int = 2000
) -> list[float]:
    """Per-call seconds after a warm-up call; stops after min_time and min_reps."""
    step()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_reps and (
        len(times) < min_reps or time.perf_counter() - start < min_time
    ):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def beyond_cache_size(family: str, itemsize: int, llc: int) -> int:
    """The smallest round size (two significant digits) whose working set (params, grads
    and each param-sized state tensor, from the record's ideal reads + writes: 2 + 1 + 2k
    accesses for 2 + k arrays) is at least CACHE_MULTIPLE × ``llc``."""
    per_element = (catalog.bench_lines()[family].bytes_per_element(itemsize) + itemsize) / 2
    n = CACHE_MULTIPLE * llc / per_element
    scale = 10 ** max(0, int(math.log10(n)) - 1)
    return int(math.ceil(n / scale) * scale)


def run_speed(
    families: Sequence[str] = ("SGD", "Momentum", "Adam", "AMSGrad", "AdamW"),
    sizes: Sequence[int] = (10**3, 10**4, 10**5, 10**6, 10**7),
    implementations: Sequence[str] = IMPLEMENTATIONS,
    device: str = "auto",
    dtype: str = "float32",
    min_time: float = 0.05,
    bandwidth_bytes: int | None = None,
    threads: int = 1,
    models: Sequence[str] = (),
    beyond_cache: Sequence[str] = (),
) -> br.SpeedSection:
    """Every row, then the section: each family on single tensors of ``sizes`` (plus, for
    the families in ``beyond_cache``, one size whose working set is CACHE_MULTIPLE × the
    LLC: the rows whose fraction of bandwidth means something) and on the
    parameter lists of ``models``. CPU work runs on ``threads`` torch threads (default 1:
    the reference is single-threaded NumPy, and on a small shared machine OpenMP barriers
    make multi-threaded step times mostly scheduling noise)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    for m in models:
        model_shapes(m)  # an unknown name fails before any measurement
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_speed(
            families,
            sizes,
            implementations,
            device,
            dtype,
            min_time,
            bandwidth_bytes,
            threads,
            models,
            beyond_cache,
        )
    finally:
        torch.set_num_threads(saved)


def _run_speed(
    families: Sequence[str],
    sizes: Sequence[int],
    implementations: Sequence[str],
    device: str,
    dtype: str,
    min_time: float,
    bandwidth_bytes: int | None,
    threads: int,
    models: Sequence[str],
    beyond_cache: Sequence[str],
) -> br.SpeedSection:
    tdtype = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}[dtype]
    titemsize = torch.finfo(tdtype).bits // 8
    llc = {d: last_level_cache(d) for d in {device, "cpu"}}
    # Every bandwidth measurement of the run, per device; fractions are of the best one. On
    # a shared machine consecutive measurements differ by up to 75 % (measured: 4.5 and
    # 7.9 GB/s seconds apart), so each step past the cache is bracketed by measurements.
    seen: dict[str, list[tuple[float, float]]] = {}

    def measure(on: str, reps: int = 7) -> int:
        best, spread, nbytes = measure_bandwidth(on, bandwidth_bytes, reps)
        seen.setdefault(on, []).append((best, spread))
        return nbytes

    buffers = measure(device)
    if device != "cpu":  # the reference runs on the CPU: its fraction is of the CPU's
        measure("cpu")
    layouts: list[tuple[str, int, Shapes | None]] = [("tensor", n, None) for n in sizes]
    layouts += [(m, 0, model_shapes(m)) for m in models]
    memory = available_memory()
    rows = []
    for family in families:
        extra = []
        if family in beyond_cache and llc[device]:
            extra = [("tensor", beyond_cache_size(family, titemsize, llc[device]), None)]
        for layout, size, shapes in layouts + extra:
            if shapes is not None:
                size = sum(math.prod(s) for s in shapes)
            past = (layout, size, shapes) in extra
            for impl in implementations:
                on = "cpu" if impl == "reference" else device
                itemsize = 8 if impl == "reference" else titemsize
                row = br.SpeedRow(
                    optimizer=family,
                    implementation=impl,
                    size=size,
                    dtype="float64" if impl == "reference" else dtype,
                    device=on,
                    time_per_step=None,
                    time_q25=None,
                    time_q75=None,
                    reps=0,
                    bytes_per_step=bytes_per_step(family, size, itemsize),
                    bandwidth_fraction=None,
                    layout=layout,
                    tensors=len(shapes or ((size,),)),
                )
                rows.append(row)
                if past and impl == "reference":
                    row.error = (
                        "not run: the float64 reference is timed below the cache only "
                        "(seconds a step here, and NumPy's temporaries)"
                    )
                    continue
                # The working set ((ideal bytes + grads) / 2, as in beyond_cache_size), and
                # temporaries (foreach's, NumPy's) of up to about twice it.
                need = 3 * (row.bytes_per_step + size * itemsize) // 2
                if memory is not None and need > memory // 2:
                    row.error = (
                        f"not run: needs ~{need / 1e9:.1f} GB of memory, "
                        f"{memory / 1e9:.1f} GB available"
                    )
                    continue
                try:
                    step, _ = make_stepper(family, impl, size, device, tdtype, shapes=shapes)
                    times = np.asarray(time_stepper(step, min_time=min_time))
                    moved = None if impl == "reference" else count_traffic(step)
                except Exception as exc:  # noqa: BLE001 - e.g. fused unsupported: a row says so
                    row.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    continue
                row.working_set = step.working_set()  # type: ignore[attr-defined]
                row.moved_bytes_per_step = moved
                med = float(np.median(times))
                row.time_per_step = med
                row.time_q25 = float(np.percentile(times, 25))
                row.time_q75 = float(np.percentile(times, 75))
                row.reps = len(times)
                cache = llc[on]
                if cache and row.working_set >= CACHE_MULTIPLE * cache:
                    measure(on, reps=3)  # the bracket's other side
                del step
    # (bandwidth, its noise): the best measurement, and as noise the larger of its spread
    # over repetitions and the drift between the run's measurements (best / worst − 1). On
    # this shared machine the drift is real: SGD's fused step, the forloop add, torch's add_
    # and NumPy's add interleaved on 2 GB all measured 5.3-6.8 GB/s, none faster throughout.
    best = {on: (max(m)[0], max(max(m)[1], max(m)[0] / min(m)[0] - 1)) for on, m in seen.items()}
    for row in rows:
        cache = llc[row.device]
        if row.time_per_step and cache and (row.working_set or 0) >= CACHE_MULTIPLE * cache:
            bw = best[row.device][0]
            row.bandwidth_fraction = row.bytes_per_step / row.time_per_step / bw
            if row.moved_bytes_per_step is not None:
                row.moved_fraction = row.moved_bytes_per_step / row.time_per_step / bw
    cpu = best.get("cpu", best[device])
    return br.SpeedSection(
        device=device,
        bandwidth=best[device][0],
        cpu_bandwidth=cpu[0],
        bandwidth_method=f"best of {len(seen[device])} measurements in the run (one at the "
        "start, one after each step past the cache), each the best of repeated copies and "
        f"in-place adds of {buffers >> 20} MiB of buffers on {device} (bytes read + written "
        f"counted; {threads} CPU thread{'s' if threads > 1 else ''}); they ranged "
        f"{min(seen[device])[0] / 1e9:.1f}–{best[device][0] / 1e9:.1f} GB/s",
        byte_counts={
            f: f"{catalog.bench_lines()[f].bytes_per_element(1):g} element-sized arrays read "
            "or written (the record's bytes_per_element)"
            for f in families
        },
        rows=rows,
        threads=threads,
        llc_bytes=llc[device],
        cpu_llc_bytes=llc["cpu"],
        bandwidth_spread=best[device][1],
        cpu_bandwidth_spread=cpu[1],
    )


def bytes_model_error(
    family: str,
    implementation: str,
    bytes_per_element: Callable[[dict, int], float] | None = None,
) -> str | None:
    """Why the record's ideal bytes per step (or ``bytes_per_element``, for a mutant) is not
    what this implementation's state implies, or None when it is.

    Ideal = each array torch holds (params, grads, every param-sized state tensor) read once
    and written once, grads read only: 2 × working set − grads. Scalar state (a step count)
    is immaterial and left out. For the fused kernel the bytes its op moves must also equal
    the ideal (it is the single pass the ideal describes).
    """
    size = 4096
    step, itemsize = make_stepper(family, implementation, size)
    step()
    line = catalog.bench_lines()[family]
    hp = {**line.record.defaults, **dict(line.hp)}
    fn = bytes_per_element or line.record.bytes_per_element
    assert fn is not None
    ideal = fn(hp, itemsize) * size
    held = step.working_set()  # type: ignore[attr-defined]
    held -= held % (size * itemsize)  # scalar state left out
    implied = 2 * held - size * itemsize
    if ideal != implied:
        return (
            f"{family} {implementation}: the record says {ideal / size:g} bytes per element, "
            f"its {held // (size * itemsize)} held arrays imply {implied / size:g}"
        )
    if implementation == "fused":
        moved = count_traffic(step)
        if abs(moved - ideal) > 64:  # a scalar step count's read and write at most
            return (
                f"{family} fused: its kernel moves {moved / size:g} bytes per element, "
                f"the record says {ideal / size:g}"
            )
    return None
