"""What the command line prints and writes: the target's strings escaped in every format,
snippets that stay Python, the short failure report, and what people expect of a CLI
(--version, -q/-v, exit codes in --help, light --help, helpful errors)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import pytest
from zoo.hostile import HOSTILE_MESSAGE as HOSTILE

from optcheck.checks.result import CheckResult, Evidence, Report
from optcheck.reports import escape, validation
from optcheck.suites.cli import build_parser, main


def test_terminal_escape_shows_control_characters_instead_of_sending_them():
    assert escape.terminal("a\x1b[2Jb\x07\r\u202e") == "a\\x1b[2Jb\\x07\\x0d\\u202e"
    assert escape.terminal("plain −η·g/(|g|+ε) ×") == "plain −η·g/(|g|+ε) ×"
    assert escape.terminal("two\nlines\x1b", keep="\n") == "two\nlines\\x1b"


def test_markdown_escape_keeps_html_and_markdown_syntax_literal():
    text = escape.markdown("<script>x</script> `code` *b* | [l](u)\nnext")
    assert "<" not in text and ">" not in text and "\n" not in text
    assert re.search(r"(?<!\\)[`*|\[\]]", text) is None, text  # every one escaped
    assert escape.markdown_code("a ``` b") == "````a ``` b````"
    assert escape.markdown_code("`x") == "`` `x ``"  # a space keeps the fence apart
    block = escape.markdown_block("x = '```'\n", "python")
    assert block.startswith("````python\n") and block.endswith("\n````")


def _hostile_report() -> Report:
    snippet = f'"""{HOSTILE}"""\nprint("```")\n'
    bad = CheckResult(
        "adam.first_step",
        HOSTILE,
        "violation",
        f"target raised RuntimeError: {HOSTILE} at step 1",
        evidence=Evidence(message=HOSTILE, case={"hp": {"lr": HOSTILE}}, step=1, snippet=snippet),
    )
    return Report(
        target=f"evil:{HOSTILE}",
        like="Adam",
        settings={"dtype": "float64", "hp": {"x": HOSTILE}, "select": [HOSTILE]},
        results=[bad, CheckResult("contract.resume", "t", "skip", HOSTILE)],
        notes=[HOSTILE],
        matches=[HOSTILE],
    )


@pytest.mark.parametrize("verbose", [False, True])
def test_terminal_report_never_carries_a_control_character(verbose):
    text = validation.terminal(_hostile_report(), verbose=verbose)
    assert not [c for c in text if not c.isprintable() and c != "\n"], repr(text)
    assert "\\x1b[2J" in text  # shown, not sent


def test_markdown_report_carries_the_target_s_strings_inert():
    text = validation.markdown(_hostile_report())
    assert "\x1b" not in text and "\r" not in text
    # Outside code (where Markdown shows HTML as written) no tag survives.
    prose = re.sub(r"^(`{3,})python\n.*?^\1$", "", text, flags=re.M | re.S)
    prose = re.sub(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", "", prose)
    assert "<" not in prose and "&lt;script&gt;" in prose
    for line in text.splitlines():
        if line.startswith("| "):  # a table row keeps its three cells
            assert len(re.findall(r"(?<!\\)\|", line)) == 4, line
    # The snippet's fence is longer than the backtick runs inside it: it stays one block.
    fence = re.search(r"^(`{4,})python$", text, re.M)
    assert fence and text.splitlines().count(fence.group(1)) == 1  # its closing line


def test_snippets_stay_python_whatever_the_target_raises():
    """A Windows path, triple quotes and escape sequences in an exception message: each
    snippet compiles, and its docstring reads back the message as it was."""
    import optcheck

    report = optcheck.validate(
        "zoo.hostile:RaisesHostileMessage",
        like="SGD",
        max_examples=2,
        select=["crossval.trajectory", "sgd.linearity"],
    )
    snippets = [r.evidence.snippet for r in report.results if r.evidence and r.evidence.snippet]
    assert len(snippets) == 2, [r.detail for r in report.results]
    for snippet in snippets:
        doc = ast.get_docstring(ast.parse(snippet), clean=False)
        assert HOSTILE.split("\r")[0] in doc
        compile(snippet, "<snippet>", "exec")


def test_numpy_raising_left_behind_by_a_target_does_not_fail_a_correct_one():
    """torch's Adam, setting np.seterr(all="raise") when built and in every step: the
    reference's and the tolerance's arithmetic must not raise (it did, as "target raised
    FloatingPointError", and the variant naming crashed with a traceback)."""
    import numpy as np

    import optcheck

    before = np.geterr()
    report = optcheck.validate(
        "zoo.hostile:AdamLeavesSeterrRaise",
        like="Adam",
        max_examples=10,
        select=["adam.first_step", "adam.scale_invariance", "crossval.trajectory"],
    )
    assert report.ok, [(r.id, r.detail) for r in report.results]
    assert np.geterr() == before


def test_a_failing_target_gets_a_short_report_grouped_by_cause(tmp_path, capsys):
    code = main(
        ["validate", "zoo.optimizers_numeric:AdamBiasCorrectionOffByOne", "--like", "Adam"]
        # crossval.long_horizon left out: one cause shared by two drawn comparisons is the point
        + ["--select", "crossval.trajectory", "--select", "crossval.scheduled_lr"]
        + ["--select", "adam.first_step", "--select", "contract.dtype"]
        + ["--max-examples", "5", "--hp", "eps=0.001", "--report", str(tmp_path / "rep")]
        + ["--json", str(tmp_path / "r.json")]
    )
    out = capsys.readouterr().out
    assert code == 1, out
    lines = out.splitlines()
    assert len(lines) < 20, out
    header = lines[1]
    for setting in ("--dtype float64", "--device cpu", "--hp eps=0.001", "--select crossval.t"):
        assert setting in header, header
    assert "(5 examples per check)" in header
    violations = [line for line in lines if line.startswith("VIOLATION")]
    assert [v.split()[1] for v in violations] == [
        "crossval.trajectory",
        "crossval.scheduled_lr",
        "adam.first_step",
    ]
    for line in violations:  # how far off, and the shrunk case in brief
        # the off-by-one bias correction makes the first step √2 too long
        assert re.search(r"step 1: moved 1\.41× the reference's step, [\d.e+]+ × tolerance", line)
        assert "case lr=" in line and "eps=0.001" in line
    # crossval's two comparisons share one cause; adam.first_step is another
    assert "3 failed checks, 2 distinct causes:" in out
    assert "behaves like: no named variant of Adam" in out
    assert "reproduce (python)" not in out and "pass       1 check (-v lists them)" in out
    # -v (rendered from the saved report) shows every check and the full evidence
    saved = Report.from_dict(json.loads((tmp_path / "r.json").read_text()))
    verbose = validation.terminal(saved, verbose=True)
    assert verbose.count("reproduce (python):") == 3 and "contract.dtype" in verbose
    files = sorted((tmp_path / "rep" / "snippets").glob("*.py"))
    assert [f.stem for f in files] == [
        "adam_first_step",
        "crossval_scheduled_lr",
        "crossval_trajectory",
    ]
    for f in files:
        compile(f.read_text(), str(f), "exec")


def test_version_and_the_same_loudness_options_on_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert re.fullmatch(r"optcheck \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # noqa: SLF001
    assert set(commands) >= {"validate", "bench"}
    for name, command in commands.items():
        options = command._option_string_actions  # noqa: SLF001
        assert {"-q", "--quiet", "-v", "--verbose"} <= set(options), name
        assert "exit codes: 0" in command.format_help(), name
    assert "exit codes: 0" in parser.format_help()


def test_errors_name_the_command_once(capsys):
    for argv, prog in ((["nope"], "optcheck"), (["validate"], "optcheck validate")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2
        assert err.startswith(f"{prog}: error: ") and f"(see {prog} --help)" in err, err
        assert "optcheck optcheck" not in err


def test_unknown_like_names_a_few_close_matches_not_the_catalog(capsys):
    assert main(["validate", "torch.optim:Adam", "--like", "Adamm"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown --like 'Adamm'; did you mean Adam" in err
    assert len(err.splitlines()) == 1 and err.count(",") <= 2 and "StepLR" not in err
    assert main(["validate", "torch.optim:Adam", "--like", "Zzzzz"]) == 2
    assert "no close match" in capsys.readouterr().err


def test_help_imports_neither_torch_nor_hypothesis():
    script = (
        "import sys\n"
        "from optcheck.suites.cli import main\n"
        "for argv in (['--help'], ['validate', '--help'], ['bench', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('torch', 'hypothesis', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-500:]


def test_bench_markdown_carries_the_target_s_strings_inert():
    from optcheck.reports.bench_markdown import render_markdown
    from optcheck.reports.bench_result import BenchResult

    result = BenchResult(
        created="now", duration_s=0.0, config={"targets": [HOSTILE]}, machine={}, notes=[HOSTILE]
    )
    text = render_markdown(result)
    assert "<script>" not in text and "\x1b" not in text and "&lt;script&gt;" in text


def test_bench_without_its_extra_is_a_usage_error_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert main(["bench", "--quick", "--out", str(tmp_path / "b")]) == 2
    assert "pip install 'optcheck[bench]'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_how_far_compares_steps_when_the_start_is_known():
    e = Evidence(message="", step=1, got=[1.0, 3.0], expected=[1.0, 2.0], error_in_tol=5.0)
    assert validation.how_far(e) == "step 1: 1.5× the expected value, 5 × tolerance"
    e.start = [0.0, 1.5]  # the steps: 1.5 against 0.5
    assert validation.how_far(e) == "step 1: moved 3× the reference's step, 5 × tolerance"
    e.got = [float("nan"), float("nan")]
    assert validation.how_far(e).startswith("step 1: non-finite output")


def test_usage_errors_carry_the_target_s_strings_escaped(tmp_path, monkeypatch, capsys):
    (tmp_path / "evilfactory.py").write_text(
        "def make(params, **hp):\n    return type('Evil\\x1b[2J', (), {})()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["validate", "evilfactory:make", "--like", "SGD"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "Evil\\x1b[2J" in err, err


def test_snippet_files_are_this_run_s_only(tmp_path):
    ours, mine = tmp_path / "snippets" / "old_check.py", tmp_path / "snippets" / "mine.py"
    ours.parent.mkdir()
    ours.write_text("# optcheck reproduction of old.check on t\nprint()\n")
    mine.write_text("print('not optcheck s')\n")
    validation.write(_hostile_report(), report_dir=tmp_path)
    files = sorted(p.name for p in (tmp_path / "snippets").iterdir())
    assert files == ["adam_first_step.py", "mine.py"]
