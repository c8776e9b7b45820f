"""Small CLI papercuts a new user met: help text, early output checks, the names an error shows."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from act_bench.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _walk(parser: argparse.ArgumentParser, prefix: str = "act-bench"):
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{prefix} {name}")


def test_every_command_has_a_description_in_its_help():
    missing = [path for path, p in _walk(build_parser()) if not (p.description or "").strip()]
    assert not missing, missing


def test_replay_help_and_the_cli_reference_show_single_percent_signs(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    text = capsys.readouterr().out
    assert "%%" not in text and "top 1%/5%" in " ".join(text.split()) and "s % N" in " ".join(text.split())
    assert "%%" not in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("figure", [["map"], ["eigenvalues"]])
def test_plot_rejects_a_non_png_output_before_loading_the_table(figure, tmp_path, capsys):
    # the table does not exist: the output path is what the error must be about, so it was checked first
    code = main(["plot", *figure, "--table", str(tmp_path / "no-such-table"), "--out", str(tmp_path / "x.jpg")])
    err = capsys.readouterr().err
    assert code == 2 and "must end in .png" in err and "no-such-table" not in err


@pytest.mark.parametrize("argv,option", [(["fim", "--model", "resnet56", "--fn", "relu(x)"], "--model 'resnet56'"),
                                         (["models", "describe", "resnet56"], "NAME 'resnet56'")])
def test_unknown_model_names_the_option_the_user_typed(argv, option, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert option in err and "resnet-56" in err and "create_model" not in err and len(err.splitlines()) == 1
