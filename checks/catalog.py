"""The catalog: every algorithm record and schedule spec optcheck knows, found, not listed.

Optimizer records and schedule specs come from ``optcheck.checks.algorithms.*`` (each
module's ``RECORDS``; the schedules' are in ``algorithms/schedules.py``). Tests, nox sessions,
.ci/gpu, the validator and the benchmarks iterate ``OPTIMIZERS`` and ``SCHEDULES``; no other
list of algorithm names exists. ``registered`` adds a record for a while (a test's toy algorithm).
"""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from optcheck.checks import algorithms
from optcheck.checks.records import OptimizerRecord, ScheduleSpec
from optcheck.reference.spec import Variant


def _discover() -> tuple[dict[str, OptimizerRecord], dict[str, ScheduleSpec]]:
    optimizers: dict[str, OptimizerRecord] = {}
    schedules: dict[str, ScheduleSpec] = {}
    for info in sorted(pkgutil.iter_modules(algorithms.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{algorithms.__name__}.{info.name}")
        for record in module.RECORDS:
            found = optimizers if isinstance(record, OptimizerRecord) else schedules
            if record.name in found:
                raise ValueError(f"two records named {record.name!r}")
            found[record.name] = record
    return optimizers, schedules


OPTIMIZERS, SCHEDULES = _discover()


@contextlib.contextmanager
def registered(record: OptimizerRecord) -> Iterator[OptimizerRecord]:
    """The catalog with ``record`` in it, for the duration of the block."""
    if record.name in OPTIMIZERS:
        raise ValueError(f"the catalog already has {record.name!r}")
    OPTIMIZERS[record.name] = record
    try:
        yield record
    finally:
        del OPTIMIZERS[record.name]


def torch_optimizers() -> list[OptimizerRecord]:
    """Records with a torch.optim counterpart (cross-validated against torch)."""
    return [r for r in OPTIMIZERS.values() if r.torch_class is not None]


@dataclass(frozen=True)
class BenchLine:
    """One benchmark line: a record's torch class and reference with preset keywords."""

    label: str
    record: OptimizerRecord
    hp: tuple[tuple[str, Any], ...] = ()

    @property
    def torch_class(self) -> str:
        return str(self.record.torch_class)

    @property
    def spec(self) -> str:
        return self.record.name

    def bytes_per_element(self, itemsize: int) -> float:
        """Bytes one ideal single-pass step moves per parameter element (from the record)."""
        fn = self.record.bytes_per_element
        if fn is None:
            raise ValueError(f"{self.record.name}'s record gives no bytes per step")
        return fn({**self.record.defaults, **dict(self.hp)}, itemsize)


def bench_lines() -> dict[str, BenchLine]:
    """Every benchmark line of the catalog: each record's presets, by label."""
    return {
        preset.label: BenchLine(preset.label, record, tuple(preset.hp.items()))
        for record in OPTIMIZERS.values()
        if record.torch_class is not None
        for preset in record.bench
    }


def torch_schedulers() -> list[str]:
    """torch's scheduler classes whose parameters default to literals (numbers, strings,
    tuples of them), so ``optcheck validate CLASS --like CLASS`` runs as a user would type it;
    the ones that need a function or scheduler instances are validated by the tests."""
    return [
        name
        for name, spec in SCHEDULES.items()
        if (spec.torch_class or "").endswith(f".{name}")
        and all(map(_literal_dimension, spec.space))
    ]


def _literal_dimension(dim: Any) -> bool:
    return _literal(dim.default)


def _literal(value: Any) -> bool:
    if isinstance(value, tuple | list):
        return all(map(_literal, value))
    return value is None or isinstance(value, bool | int | float | str)


def find(name: str) -> tuple[OptimizerRecord | ScheduleSpec, Variant | None]:
    """Look up a record by torch class name or variant name, case-insensitively.

    Variants are named ``Name:variant`` (``Adam:keras-eps-hat``) or by the variant alone
    when that is unambiguous.
    """
    key = name.strip().lower()
    tables = (OPTIMIZERS, SCHEDULES)
    for table in tables:
        for spec_name, spec in table.items():
            if spec_name.lower() == key:
                return spec, None
    base, _, var = key.partition(":")
    matches = []
    for table in tables:
        for spec_name, spec in table.items():
            for v in spec.variants:
                if v.name.lower() == (var or base) and (not var or spec_name.lower() == base):
                    matches.append((spec, v))
    if len(matches) >= 1 and (var or len({id(m[1]) for m in matches}) == 1):
        return matches[0]
    known = ", ".join([*OPTIMIZERS, *SCHEDULES])
    raise KeyError(f"unknown algorithm {name!r}; known: {known}")


def names() -> list[str]:
    """Every name ``find`` accepts, for help texts and error messages."""
    out = [*OPTIMIZERS, *SCHEDULES]
    for table in (OPTIMIZERS, SCHEDULES):
        for spec_name, spec in table.items():
            out += [f"{spec_name}:{v.name}" for v in spec.variants]
    return out


def stepped_schedules() -> dict[str, ScheduleSpec]:
    """The schedules torch ships that step() alone drives (the t-driven checks against
    torch); metric-driven ones (ReduceLROnPlateau) have their own (plateau_checks), and
    library factories (torch_class None) are checked on their implementations."""
    return {
        name: s
        for name, s in SCHEDULES.items()
        if not s.metric_driven and s.torch_class is not None
    }


def declared_setup() -> list[str]:
    """Every set-up method a record declares (schedulefree's ``train``), once each."""
    return list(dict.fromkeys(m for r in OPTIMIZERS.values() for m in r.setup))
