"""nox sessions: tests, thorough, latest, lint, crossval, gpu, validate, realworld, bench, report.

Every session installs torch 2.13.0 first: an unpinned torch resolves to a multi-GB CUDA
build, while 2.13.0 is the CPU wheel this project is developed and tested against. Sessions
install with .ci/constraints.txt (the versions CI is known to pass with) except ``latest``,
which takes the newest releases so that drift is seen there before it reaches main.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
TORCH = "torch==2.13.0"
CONSTRAINTS = ".ci/constraints.txt"
# Which algorithms exist is the catalog's business: sessions ask it (after installing).
CATALOG = "from optcheck.checks import catalog; print(' '.join({}))"


def _install(session: nox.Session, extras: str = "test", *, pinned: bool = True) -> None:
    pins = ("-c", CONSTRAINTS) if pinned else ("--upgrade", "--upgrade-strategy", "eager")
    session.install(TORCH, *pins, "-e", f".[{extras}]")


def _pytest(session: nox.Session, *args: str) -> None:
    """The README's test command (both cores, worksteal) with ``args`` and the posargs."""
    session.run(
        "python", "-m", "pytest", "-n", "auto", "--dist", "worksteal", *args, *session.posargs
    )


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite as CI runs it (pinned versions, both cores)."""
    _install(session)
    _pytest(session)


@nox.session
def thorough(session: nox.Session) -> None:
    """Every exhaustive case too: all flags x implementations x dtypes, long horizons.
    (HYPOTHESIS_PROFILE=thorough nox -s thorough also draws 300 examples per property.)"""
    _install(session)
    _pytest(session, "--thorough")


@nox.session
def latest(session: nox.Session) -> None:
    """The tests against the newest releases of every dependency (torch stays 2.13.0): a
    failure here is drift to fix, then to record in .ci/constraints.txt."""
    _install(session, pinned=False)
    session.run("python", "-m", "pip", "freeze")
    _pytest(session)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def crossval(session: nox.Session) -> None:
    """References vs torch.optim on the CPU: every implementation and dtype, every scheduler."""
    _install(session)
    session.run(
        "python",
        "-m",
        "pytest",
        "-n",
        "auto",
        "--thorough",  # every implementation x dtype x flag combination, not the default sample
        "-m",
        "not cuda",
        "tests/test_crossval.py",
        "tests/test_reference_optimizers.py",
        "tests/test_reference_elementwise.py",
        "tests/test_reference_adaptive.py",
        "tests/test_reference_structural.py",
        "tests/test_reference_schedules.py",
        "tests/test_schedule_crossval.py",
        *session.posargs,
    )


@nox.session
def gpu(session: nox.Session) -> None:
    """Cross-validation on CUDA: forloop/foreach/fused in every dtype, and the contract on cpu
    and cuda parameters in one group. Needs a CUDA device."""
    _install(session)
    has_cuda = session.run(
        "python", "-c", "import torch; print(torch.cuda.is_available())", silent=True
    )
    if "True" not in (has_cuda or ""):
        session.error("no CUDA device here: the gpu session needs one (on CPU: nox -s crossval)")
    session.run(
        "python", "-m", "pytest", "-m", "cuda", "tests/test_crossval.py",
        "tests/test_param_kinds.py", "tests/test_param_devices.py", *session.posargs,
    )  # fmt: skip


@nox.session
def validate(session: nox.Session) -> None:
    """The validator against torch.optim itself: every optimizer and scheduler must conform."""
    _install(session, "bench")
    optimizers = _catalog(session, "r.name for r in catalog.torch_optimizers()")
    for like in optimizers:
        session.run("optcheck", "validate", f"torch.optim:{like}", "--like", like, "--quiet")
    paths = "catalog.SCHEDULES[n].torch_class.rpartition('.')[0] + ':' + n"
    for target in _catalog(session, f"{paths} for n in catalog.torch_schedulers()"):
        like = target.partition(":")[2]
        session.run("optcheck", "validate", target, "--like", like, "--quiet")


def _catalog(session: nox.Session, expression: str) -> list[str]:
    out = session.run("python", "-c", CATALOG.format(expression), silent=True)
    return str(out or "").split()


@nox.session
def realworld(session: nox.Session) -> None:
    """Real optimizer packages at pinned versions (tests/realworld.toml): each verdict must be
    the recorded one, every recorded violation reproduced by hand in the tests."""
    import tomllib

    corpus = tomllib.loads(Path("tests/realworld.toml").read_text())["target"]
    packages = sorted({e["package"] for e in corpus} - {TORCH})
    session.install(TORCH, "-c", CONSTRAINTS, "-e", ".[test]", *packages)
    # with the hand reproductions of packages kept out of the test extra (schedulefree)
    sf = "tests/test_schedulefree_record.py::test_schedulefree_finding_"
    reproductions = [sf + "writes_into_the_gradient", sf + "reference_classes_move_at_lr_zero"]
    reproductions.append("tests/test_adahessian_record.py")  # torch-optimizer against Alg. 1
    _pytest(
        session,
        "--realworld",
        "tests/test_realworld.py",
        "tests/test_realworld_repros.py",
        "tests/test_warmup_factories.py",
        "tests/test_realworld_timm.py",
        *reproductions,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Step-time benchmarks (pytest-benchmark) and the speed report, in build/bench."""
    _install(session)
    Path("build/bench").mkdir(parents=True, exist_ok=True)
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/benchmarks",
        "--benchmark-only",
        "-p",
        "no:cacheprovider",
        "--benchmark-json=build/bench/step-time.json",
        *session.posargs,
    )
    session.run("optcheck", "bench", "--sections", "speed", "crossval", "--out", "build/bench")


@nox.session
def report(session: nox.Session) -> None:
    """The standard convergence report: build/report/bench.{json,md,html}."""
    _install(session, "bench")
    session.run("optcheck", "bench", "--out", "build/report", *session.posargs)
