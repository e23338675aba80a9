"""hypothesis profiles, registered in one place (design card).

dev: fast local iteration. ci: derandomized, no example database (loaded when CI is set).
thorough: many examples, for release checks and hunting rare failures.
"""

from __future__ import annotations

import os

EXAMPLES = {"dev": 10, "ci": 25, "thorough": 300}


def register() -> None:
    import hypothesis  # here, not at the top: the command line reads EXAMPLES without it

    common = dict(deadline=None, print_blob=True)
    hypothesis.settings.register_profile("dev", max_examples=EXAMPLES["dev"], **common)
    hypothesis.settings.register_profile(
        "ci", max_examples=EXAMPLES["ci"], derandomize=True, database=None, **common
    )
    hypothesis.settings.register_profile("thorough", max_examples=EXAMPLES["thorough"], **common)


def default_profile() -> str:
    return os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")


def load(name: str | None = None) -> str:
    import hypothesis

    register()
    name = name or default_profile()
    hypothesis.settings.load_profile(name)
    return name
