"""Step time of one optimizer step: the float64 reference against torch's forloop, foreach
and fused implementations, as seconds per step and as a fraction of memory bandwidth.

Bytes per step are what an ideal single-pass kernel must move per parameter element (each
array read once and written once at most), times the element size; each algorithm's record
says how many (``bytes_per_element``: SGD 3 arrays, momentum 5, Adam 7, AMSGrad 9).

AdamW's decay and Adam's bias correction are scalar work folded into the same pass. A
fraction near 1 means the step is bandwidth-bound and as fast as the memory allows; the
forloop implementations make several passes, so they land well below. Up to ~1e6
parameters the arrays fit in cache and the fraction (of DRAM bandwidth) can exceed 1.

The bandwidth is measured in the same run, the best of large copies and in-place adds
(bytes read + written counted, as STREAM does; see measure_bandwidth).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from optcheck.checks import catalog
from optcheck.checks.catalog import OPTIMIZERS
from optcheck.reports import bench_result as br

IMPLEMENTATIONS = ("reference", "forloop", "foreach", "fused")


def bytes_per_step(family: str, size: int, itemsize: int) -> int:
    """From the algorithm's record (what an ideal single-pass kernel moves per element)."""
    return int(catalog.bench_lines()[family].bytes_per_element(itemsize) * size)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure_bandwidth(device: str = "cpu", nbytes: int = 1 << 28, reps: int = 7) -> float:
    """Best bandwidth in bytes/s over ``reps`` runs of two kernels on ``nbytes`` arrays:
    a copy (2 arrays counted) and an in-place add a += b (3 arrays counted).

    The in-place add matters: an optimizer step writes only arrays it has just read, so it
    pays no write-allocate traffic, while a copy's destination is read in behind the
    counter's back, which makes copy bandwidth understate what a step can reach.
    """
    n = nbytes // 4
    a = torch.ones(n, dtype=torch.float32, device=device)
    b = torch.empty_like(a).fill_(1e-8)
    best = 0.0
    for arrays, kernel in ((2, lambda: b.copy_(a)), (3, lambda: a.add_(b))):
        for _ in range(reps):
            _sync(device)
            t0 = time.perf_counter()
            kernel()
            _sync(device)
            best = max(best, arrays * n * 4 / (time.perf_counter() - t0))
    if device == "cpu":  # NumPy's single-threaded loops sometimes beat torch's
        x, y = a.numpy(), b.numpy()
        for arrays, kernel in ((2, lambda: np.copyto(y, x)), (3, lambda: np.add(x, y, out=x))):
            for _ in range(reps):
                t0 = time.perf_counter()
                kernel()
                best = max(best, arrays * n * 4 / (time.perf_counter() - t0))
    return best


def make_stepper(
    family: str,
    implementation: str,
    size: int,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> tuple[Callable[[], None], int]:
    """(a callable doing one optimizer step, element size in bytes); the callable's
    ``current()`` returns the parameters as float64 NumPy.

    The reference always runs in float64 NumPy on the CPU (that is what it is); torch runs
    in ``dtype`` on ``device``. The gradient is fixed: the step's cost does not depend on it.
    """
    fam = catalog.bench_lines()[family]
    gen = torch.Generator().manual_seed(seed)
    grad = torch.randn(size, generator=gen, dtype=torch.float64)
    if implementation == "reference":
        spec = OPTIMIZERS[fam.spec]
        hp = {**spec.defaults, **dict(fam.hp), "lr": 1e-6}
        box = {"p": torch.randn(size, generator=gen, dtype=torch.float64).numpy(), "s": {}, "t": 0}
        g = grad.numpy()

        def ref_step() -> None:
            box["t"] += 1
            box["p"], box["s"] = spec.step(box["p"], g, box["s"], hp, box["t"])

        ref_step.current = lambda: box["p"]  # type: ignore[attr-defined]
        return ref_step, 8
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}")
    flag = {"forloop": {"foreach": False}, "foreach": {"foreach": True}}.get(
        implementation, {"fused": True}
    )
    module, _, name = fam.torch_class.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    p = torch.nn.Parameter(torch.randn(size, generator=gen, dtype=torch.float64).to(device, dtype))
    p.grad = grad.to(device, dtype)
    opt = cls([p], lr=1e-6, **dict(fam.hp), **flag)
    opt.step()  # builds the state, and raises now if this combination is unsupported

    def torch_step() -> None:
        opt.step()
        _sync(device)

    torch_step.current = lambda: p.detach().to("cpu", torch.float64).numpy()  # type: ignore[attr-defined]
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


def run_speed(
    families: Sequence[str] = ("SGD", "Momentum", "Adam", "AMSGrad", "AdamW"),
    sizes: Sequence[int] = (10**3, 10**4, 10**5, 10**6, 10**7),
    implementations: Sequence[str] = IMPLEMENTATIONS,
    device: str = "auto",
    dtype: str = "float32",
    min_time: float = 0.05,
    bandwidth_bytes: int = 1 << 28,
    threads: int = 1,
) -> br.SpeedSection:
    """Every row, then the section. CPU work runs on ``threads`` torch threads (default 1:
    the reference is single-threaded NumPy, and on a small shared machine OpenMP barriers
    make multi-threaded step times mostly scheduling noise)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run_speed(
            families, sizes, implementations, device, dtype, min_time, bandwidth_bytes, threads
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
    bandwidth_bytes: int,
    threads: int,
) -> br.SpeedSection:
    tdtype = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}[dtype]
    bandwidth = measure_bandwidth(device, bandwidth_bytes)
    # The reference runs on the CPU: its fraction is of the CPU's bandwidth.
    cpu_bandwidth = bandwidth if device == "cpu" else measure_bandwidth("cpu", bandwidth_bytes)
    rows = []
    for family in families:
        for size in sizes:
            for impl in implementations:
                on = "cpu" if impl == "reference" else device
                dname = "float64" if impl == "reference" else dtype
                try:
                    step, itemsize = make_stepper(family, impl, size, device, tdtype)
                    times = np.asarray(time_stepper(step, min_time=min_time))
                except Exception as exc:  # noqa: BLE001 - e.g. fused unsupported: a row says so
                    itemsize = 8 if impl == "reference" else torch.finfo(tdtype).bits // 8
                    rows.append(
                        br.SpeedRow(
                            family,
                            impl,
                            size,
                            dname,
                            on,
                            None,
                            None,
                            None,
                            0,
                            bytes_per_step(family, size, itemsize),
                            None,
                            f"{type(exc).__name__}: {exc}".splitlines()[0],
                        )
                    )
                    continue
                nbytes = bytes_per_step(family, size, itemsize)
                med = float(np.median(times))
                bw = bandwidth if on == device else cpu_bandwidth
                rows.append(
                    br.SpeedRow(
                        optimizer=family,
                        implementation=impl,
                        size=size,
                        dtype=dname,
                        device=on,
                        time_per_step=med,
                        time_q25=float(np.percentile(times, 25)),
                        time_q75=float(np.percentile(times, 75)),
                        reps=len(times),
                        bytes_per_step=nbytes,
                        bandwidth_fraction=nbytes / med / bw,
                    )
                )
                del step
    return br.SpeedSection(
        device=device,
        bandwidth=bandwidth,
        cpu_bandwidth=cpu_bandwidth,
        bandwidth_method=f"best of 7 copies and 7 in-place adds of {bandwidth_bytes >> 20} MiB "
        f"on {device} (bytes read + written counted; {threads} CPU "
        f"thread{'s' if threads > 1 else ''})",
        byte_counts={
            f: f"{catalog.bench_lines()[f].bytes_per_element(1):g} element-sized arrays read "
            "or written (the record's bytes_per_element)"
            for f in families
        },
        rows=rows,
        threads=threads,
    )
