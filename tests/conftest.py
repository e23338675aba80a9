"""Project-wide pytest set-up: hypothesis profiles and the zoo of broken implementations."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path

import pytest
import torch

from optcheck.checks import profiles

profiles.load()
# tests/zoo holds deliberately broken optimizers and schedules, importable as `zoo.*`
# (also by the CLI tests, which put this folder on PYTHONPATH).
TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))


def _import_everything() -> None:
    """hypothesis mixes literal constants of the loaded local modules into its draws, so a
    derandomized run would depend on which tests ran before in the same process (xdist).
    Loading every project module up front makes that pool the same in every worker."""
    import optcheck

    layers = ("optcheck.reference", "optcheck.checks", "optcheck.suites", "optcheck.reports")
    for package in (*layers, "zoo"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, f"{package}."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    assert optcheck


_import_everything()

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One intra-op thread per worker: -n auto already fills the cores, and torch's default
    # (a thread per core in every worker) oversubscribes them. Children (CLI runs, snippets) too.
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# Markers whose tests run only when their option is given.
OPT_IN = {
    "thorough": "also run the exhaustive tests (marker 'thorough'; nox -s thorough)",
    "realworld": "also validate the real-world corpus (marker 'realworld'; nox -s realworld)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    for marker, help_text in OPT_IN.items():
        parser.addoption(f"--{marker}", action="store_true", help=help_text)


# Families whose default run keeps every second case (in collection order) of what is left
# after their own sampling: a spread-out half of each family (all of it with --thorough).
# Listed here, one place, to keep the test command within its 4 minutes.
HALVED = (
    "tests/test_crossval.py::test_torch_matches_the_reference",
    "tests/test_crossval.py::test_every_mutant_parts_from_the_reference_in_float64",
    "tests/test_crossval.py::test_a_mutant_is_named_as_the_variant_it_implements_and_no_other",
    "tests/test_crossval_records.py::test_mutant_parts_from_the_reference_in_float64",
    "tests/test_validate_e2e.py::test_broken_targets_exit_1_naming_the_check",
    "tests/test_sgd_checks.py::test_fails_on_mutant",
    "tests/test_contract_checks.py::test_contract_check_catches_mutant",
    "tests/test_adam_checks.py::test_passes_on_the_reference_and_a_correct_third_party_adam",
    "tests/test_adam_checks.py::test_passes_on_torch",
    "tests/test_schedule_checks.py::test_closed_form_keeps_the_invariant",
    "tests/test_schedule_checks.py::test_mutant_is_caught",
    "tests/test_problems.py::test_rates_match_theory",
    "tests/test_contract_checks.py::test_contract_holds_for_conforming_optimizers",
    "tests/test_interplay.py::test_reference_optimizer_passes",
    "tests/test_tolerance_vs_hand.py::test_generic_bound_against_the_hand_derived_one",
    "tests/test_adam_checks.py::test_fails_on_mutant",
    "tests/test_crossval.py::test_the_reference_optimizer_matches_itself_in_every_dtype",
    "tests/test_lion_record.py::test_a_variant_port_is_named",
    "tests/test_schedule_crossval.py::test_torch_passes",
    "tests/test_schedule_checks.py::test_torch_keeps_the_invariant",
    "tests/test_contract_checks.py::test_torch_finding_is_reported",
    "tests/test_reference_optimizers.py::test_every_variant_differs_from_its_spec",
    "tests/test_errorprop.py::test_tracked_evaluation_is_the_reference_bit_for_bit",
    "tests/test_reference_optimizers.py::test_reference_matches_torch_float64",
    "tests/test_schedule_crossval.py::test_closed_form_passes",
    "tests/test_invariants_a.py::test_passes_on_torch_and_the_reference",
    "tests/test_sgd_checks.py::test_passes_on_torch",
    "tests/test_invariants_b.py::test_passes_on_torch",
    "tests/test_interplay.py::test_torch_schedule_is_applied_as_published",
    "tests/test_interplay.py::test_closed_form_is_applied_as_published",
    "tests/test_adabelief_record.py::test_a_variant_port_is_named",
    "tests/test_lamb_record.py::test_a_variant_port_is_named",
)


def _halved(items: list[pytest.Item]) -> list[pytest.Item]:
    seen: dict[str, int] = {}
    out = []
    for item in items:
        family = item.nodeid.split("[")[0]
        if family in HALVED:
            seen[family] = seen.get(family, -1) + 1
            if seen[family] % 2:
                out.append(item)
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The default run keeps one fast case of each exhaustive family; --thorough runs them all.
    # Deselected rather than skipped: thousands of skip reports cost the xdist controller
    # more than the sample itself.
    for marker in OPT_IN:
        if not config.getoption(f"--{marker}"):
            # By marker, not keyword: keywords hold folder names (a checkout in "thorough/").
            _deselect(config, items, [i for i in items if i.get_closest_marker(marker)])
    if not config.getoption("--thorough"):
        _deselect(config, items, _halved(items))


def _deselect(config: pytest.Config, items: list[pytest.Item], left_out: list[pytest.Item]) -> None:
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        dropped = set(map(id, left_out))
        items[:] = [item for item in items if id(item) not in dropped]


def pytest_report_header(config: pytest.Config) -> list[str]:
    # Results may depend on NumPy's SIMD loops (an ulp here and there): say which ones ran.
    import numpy
    import torch

    try:
        from numpy._core import _multiarray_umath as umath

        found = [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]
    except (ImportError, AttributeError):  # NumPy's private names moved: report nothing
        found = ["?"]
    return [
        f"optcheck: numpy {numpy.__version__} (SIMD found: {', '.join(found) or 'none'}), "
        f"torch {torch.__version__}, hypothesis profile {profiles.default_profile()}"
    ]
