"""One CLI vocabulary (issue 25 item 4): every old spelling parses to the same arguments as its new one and prints
one warning line; a mistyped option or choice gets a did-you-mean in every command (iterated from the parser, so a
new command is covered); every command takes --no-progress; --help hides the old spellings."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

from act_bench.cli import build_parser, main
from act_bench.cli._common import DeprecatedAlias

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "tests" / "data" / "tiny-table")


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(argv prefix, parser) of the top level, every command group and every command."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


PARSERS = list(_walk(build_parser()))


def _parse(argv: list[str]) -> tuple[dict, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        ns = build_parser().parse_args(argv)
    return vars(ns), err.getvalue()


def _warning(command: str, old: str, new: str) -> str:
    return f"act-bench {command}: warning: {old} is deprecated and will be removed in the next release; use {new}\n"


# (command, old argv, new argv, old spelling, new spelling as the warning names it)
ALIASES = [
    ("replay", ["replay", "--table", "t", "--evals", "7"], ["replay", "--table", "t", "--budget", "7"],
     "--evals", "--budget"),
    ("demo", ["demo", "--evals", "7"], ["demo", "--budget", "7"], "--evals", "--budget"),
    ("space count", ["space", "count", "--schema", "unary(x)", "--schema", "binary(x,x)"],
     ["space", "count", "--space", "unary(x)", "--space", "binary(x,x)"], "--schema", "--space"),
    ("space show", ["space", "show", "relu(x)", "--schema", "unary(x)"],
     ["space", "show", "relu(x)", "--space", "unary(x)"], "--schema", "--space"),
    ("space list", ["space", "list", "--schema", "unary(x)", "--out", "o.parquet"],
     ["space", "list", "--space", "unary(x)", "--out", "o.parquet"], "--schema", "--space"),
    ("build", ["build", "--recipe", "r", "--out", "o", "--seeds", "2"],
     ["build", "--recipe", "r", "--out", "o", "--train-seeds", "2"], "--seeds", "--train-seeds"),
    ("build", ["build", "--recipe", "r", "--out", "o", "--workers", "3"],
     ["build", "--recipe", "r", "--out", "o", "--jobs", "3"], "--workers", "--jobs"),
    ("fim", ["fim", "--model", "m", "--fn", "relu(x)"], ["fim", "--model", "m", "relu(x)"],
     "--fn", "a positional EXPR"),
    ("export-hf", ["export-hf", "t", "--out", "o"], ["export-hf", "--table", "t", "--out", "o"],
     "a positional TABLE", "--table NAME_OR_PATH"),
    ("export-synetune", ["export-synetune", "t", "--out", "o"], ["export-synetune", "--table", "t", "--out", "o"],
     "a positional TABLE", "--table NAME_OR_PATH"),
    ("publish", ["publish", "t", "--repo-id", "a/b"], ["publish", "--table", "t", "--repo-id", "a/b"],
     "a positional TABLE", "--table NAME_OR_PATH"),
    ("table info", ["table", "info", "t"], ["table", "info", "--table", "t"], "a positional TABLE",
     "--table NAME_OR_PATH"),
    ("table query", ["table", "query", "t", "relu(x)"], ["table", "query", "--table", "t", "relu(x)"],
     "a positional TABLE", "--table NAME_OR_PATH"),
]


@pytest.mark.parametrize("command,old,new,old_name,new_name", ALIASES, ids=[f"{a[0]} {a[3]}" for a in ALIASES])
def test_an_old_spelling_parses_as_the_new_one_and_warns_once(command, old, new, old_name, new_name):
    old_args, old_err = _parse(old)
    new_args, new_err = _parse(new)
    assert old_args == new_args
    assert new_err == ""
    assert old_err == _warning(command, old_name, new_name)  # one line, even for a repeated --schema


def test_every_alias_in_the_parser_is_tested():
    """A new DeprecatedAlias without a case above fails here."""
    tested = {(c, o) for c, _, _, o, _ in ALIASES}
    found = set()
    for path, parser in PARSERS:
        for action in parser._actions:
            if isinstance(action, DeprecatedAlias):
                name = action.option_strings[0] if action.option_strings else "a positional TABLE"
                found.add((" ".join(path), name))
    assert found == tested


def test_an_old_spelling_still_runs_the_command(capsys):
    assert main(["table", "info", "--table", TINY, "--json"]) == 0
    new_out, new_err = capsys.readouterr()
    assert main(["table", "info", TINY, "--json"]) == 0
    old_out, old_err = capsys.readouterr()
    assert old_out == new_out and new_err == ""
    assert old_err == _warning("table info", "a positional TABLE", "--table NAME_OR_PATH")


def test_build_functions_file_is_read_as_a_file_with_a_warning(tmp_path, capsys):
    from act_bench.cli._build import _functions
    from act_bench.space import parse

    listed = tmp_path / "f.txt"
    listed.write_text("relu(x)\n# a comment\ntanh(x)\n", encoding="utf-8")
    expected = [str(parse("relu(x)")), str(parse("tanh(x)"))]
    args = build_parser().parse_args(["build", "--recipe", "r", "--out", "o", "--functions-file", str(listed)])
    assert _functions(args) == expected and capsys.readouterr().err == ""
    args = build_parser().parse_args(["build", "--recipe", "r", "--out", "o", "--functions", "relu(x); tanh(x)"])
    assert _functions(args) == expected and capsys.readouterr().err == ""
    args = build_parser().parse_args(["build", "--recipe", "r", "--out", "o", "--functions", str(listed)])
    assert _functions(args) == expected
    assert capsys.readouterr().err == _warning("build", "--functions FILE", "--functions-file FILE")


def _one_error(argv: list[str], capsys) -> str:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (argv, out, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _typo(option: str) -> str:
    """Two letters after the dashes swapped: '--table' -> '--atble'."""
    return option[:2] + option[3] + option[2] + option[4:]


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) or "act-bench" for p, _ in PARSERS])
def test_a_mistyped_option_is_named_before_anything_else(path, parser, capsys):
    """No required option is given: the typo must be reported first, with the option meant."""
    visible = [o for a in parser._actions if a.help is not argparse.SUPPRESS for o in a.option_strings
               if o.startswith("--") and o != "--help"]
    option = max(visible, key=len)
    typo = _typo(option)
    err = _one_error([*path, typo, "x"], capsys)
    prog = " ".join(("act-bench", *path))
    assert err == (f"{prog}: error: unrecognized option {typo!r}; did you mean {option!r}? "
                   f"(see '{prog} --help')\n")


def test_the_issue_typo(capsys):
    assert _one_error(["replay", "--tabel", "x"], capsys) == (
        "act-bench replay: error: unrecognized option '--tabel'; did you mean '--table'? (see 'act-bench replay "
        "--help')\n")


CHOICES = [(path, action) for path, parser in PARSERS for action in parser._actions
           if action.choices is not None and not isinstance(action, DeprecatedAlias)]


@pytest.mark.parametrize("path,action", CHOICES,
                         ids=[" ".join((*p, a.option_strings[0] if a.option_strings else a.metavar or a.dest))
                              for p, a in CHOICES])
def test_an_invalid_choice_gets_the_closest_valid_one(path, action, capsys):
    choice = min(action.choices)
    wrong = choice + "x"
    argv = [*path, action.option_strings[0], wrong] if action.option_strings else [*path, wrong]
    err = _one_error(argv, capsys)
    name = max(action.option_strings, key=len) if action.option_strings else (
        "COMMAND" if isinstance(action, argparse._SubParsersAction) else action.metavar)
    assert f"error: invalid choice {wrong!r} for {name}; did you mean {choice!r}?" in err


def test_an_invalid_choice_without_a_close_one_lists_the_choices(capsys):
    err = _one_error(["replay", "--table", "t", "--observe", "zzz"], capsys)
    assert "invalid choice 'zzz' for --observe; choose from 'median', 'run'" in err


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) or "act-bench" for p, _ in PARSERS])
def test_every_command_takes_no_progress(path, parser, capsys):
    assert "--no-progress" in parser._option_string_actions
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([*path, "--no-progress", "--help"])
    assert exc.value.code == 0 and "--no-progress" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["replay", "--table", "t"], ["replay", "--table", "t", "--no-progress"],
                                  ["--no-progress", "replay", "--table", "t"], ["space", "--no-progress", "count"],
                                  ["space", "count"], ["table", "info", "--table", "t", "--no-progress"]])
def test_no_progress_is_read_wherever_it_is_given(argv):
    assert build_parser().parse_args(argv).no_progress is ("--no-progress" in argv)


def test_no_progress_silences_every_progress_bar():
    from act_bench._progress import no_progress, progress_bar

    with no_progress():
        with no_progress(False):  # an inner block does not turn the bars back on
            assert progress_bar(total=1).disable
        assert progress_bar(total=1).disable
    assert not progress_bar(total=1).disable


@pytest.mark.parametrize("path,parser", PARSERS, ids=[" ".join(p) or "act-bench" for p, _ in PARSERS])
def test_help_hides_the_old_spellings(path, parser):
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, DeprecatedAlias):
            for option in action.option_strings:
                assert not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (path, option)
            if not action.option_strings:
                assert not re.search(r"\bTABLE\b", parser.format_usage()), path


def test_a_required_option_with_an_alias_is_shown_and_checked_as_required(capsys):
    usage = dict(PARSERS)[("export-hf",)].format_usage()
    assert "--table NAME_OR_PATH" in usage and "[--table" not in usage
    err = _one_error(["export-hf", "--out", "o"], capsys)
    assert "the following arguments are required: --table" in err


def test_usage_error_is_deprecated():
    import act_bench.cli._common as common
    from act_bench.errors import InvalidInputError

    assert "UsageError" not in common.__all__
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert common.UsageError is InvalidInputError
    assert [w.category for w in caught] == [DeprecationWarning]
