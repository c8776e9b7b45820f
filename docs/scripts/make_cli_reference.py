"""Generate docs/cli.md from the argparse parser of ``act-bench`` (run: python docs/scripts/make_cli_reference.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from act_bench.cli import VOCABULARY, build_parser

OUT = Path(__file__).resolve().parents[1] / "cli.md"


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def walk(parser: argparse.ArgumentParser, prefix: str = "act-bench"):
    """Yield (command path, parser) for every command and subcommand, depth first, in --help order."""
    yield prefix, parser
    for name, sub in _subparsers(parser):
        yield from walk(sub, f"{prefix} {name}")


def render() -> str:
    parts = ["# Command-line reference", "",
             ("Generated from the parser by `docs/scripts/make_cli_reference.py`; `tests/test_cli_docs.py` checks it "
             "is current. Every command takes `--help`; usage and input errors print one line on stderr and exit "
             "with code 2, as do files or folders that cannot be read or written (missing, a folder where a file is "
             "expected or the reverse, no permission, a read-only or full file system, corrupted Parquet, JSON or "
             "SQLite); other failures (network, training) exit with 1, an interrupt with 130. Numeric options "
             "state their valid range; a command that fails leaves no output behind."), "",
             "## Vocabulary", "",
             ("One name per concept in every command (generated from `act_bench/cli/_options.py`, where each shared "
              "option is defined once). A mistyped option or choice gets a did-you-mean; an old spelling still "
              "works for one release, is hidden from `--help` and prints one warning line on stderr."), "",
             "| concept | option | meaning | replaces (deprecated, warns) |", "|---|---|---|---|"]
    parts += [f"| {t.concept} | `{t.option}` | {t.meaning} | {t.replaces or '-'} |" for t in VOCABULARY]
    parts.append("")
    for path, parser in walk(build_parser()):
        if any(True for _ in _subparsers(parser)) and path != "act-bench":
            continue  # group commands only dispatch
        parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100, max_help_position=36)
        parts += [f"## `{path}`", "", "```text", parser.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.exists() and OUT.read_text(encoding="utf-8") == text else 1)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
