"""``--hp NAME=VALUE``: parsing the user's keywords, light enough for the command line to
do before any work (no torch): a malformed or impossible value is a usage error at once."""

from __future__ import annotations

import argparse
import ast
import math
from collections.abc import Iterable
from typing import Any

# optcheck.checks.kit.harness.DTYPES's names (tests/test_validate_cli.py holds them equal),
# written out so that the command line and the pytest plugin need not import torch.
DTYPE_NAMES = ("float64", "float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda")
MAX_SECONDS = 1e6  # a time limit past 11 days is a typo (and overflows the wait calls)


class ConfigError(ValueError):
    """A usage mistake in the configuration (--like, --hp, settings): one line, exit code 2."""


class Word(str):
    """An --hp value that is no Python literal, taken as text (``anneal_strategy=cos``)."""

    __slots__ = ()


def parse_hp(items: Iterable[str], source: str = "--hp") -> dict[str, Any]:
    """``name=value`` pairs; values are Python literals (0.9, (0.9, 0.99), True) or strings.

    A value that opens a literal (a bracket or a quote) but is not one is a mistake, not a
    string: ``betas=(0.9,`` must not reach the target as the text "(0.9,"."""
    hp: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name.isidentifier():
            raise ConfigError(f"{source} {item!r} must look like name=value")
        try:
            hp[name] = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            if raw[:1] in "([{'\"" and raw:
                raise ConfigError(
                    f"{source} {item!r}: {raw!r} is not a Python literal (a tuple is written "
                    "'(0.9, 0.99)', quoted for the shell)"
                ) from None
            hp[name] = Word(raw)
            continue
        if not _finite(hp[name]):
            raise ConfigError(f"{source} {item!r}: {raw} is not a finite number")
    return hp


def _finite(value: Any) -> bool:
    """False for a float literal out of range (1e400 reads as inf) anywhere in the value."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, complex):
        return math.isfinite(value.real) and math.isfinite(value.imag)
    if isinstance(value, (tuple, list, set, frozenset)):
        return all(map(_finite, value))
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    return True


def seconds(text: str) -> float:
    """An argparse type for a time limit: a finite number of seconds, 0 (none) up to
    MAX_SECONDS."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(
            f"{text!r} must be between 0 (no limit) and {MAX_SECONDS:g} seconds"
        )
    return value
