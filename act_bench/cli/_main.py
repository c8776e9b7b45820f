"""Entry point of the ``act-bench`` command."""

from __future__ import annotations

import importlib
import sys

from act_bench._version import __version__
from act_bench.cli._common import ArgumentParser
from act_bench.errors import ActBenchError, InvalidInputError, OptionalDependencyError

# Each module act_bench.cli._<name> defines register(subparsers); the order here is the order in --help.
_COMMAND_MODULES = [
    "demo",
    "space",
    "tables",
    "fetch",
    "recipes",
    "build",
    "replay",
    "features",
    "live",
]


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="act-bench",
        description="Activation-function search with surrogate models: search spaces, FIM features, benchmark "
                    "tables, replay of searchers and live search.",
    )
    parser.add_argument("--version", action="version", version=f"act-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(f"act_bench.cli._{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 usage/input error, 1 other failure)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except (InvalidInputError, OptionalDependencyError) as exc:
        sys.stderr.write(f"act-bench {args.command}: error: {exc}\n")
        return 2
    except FileNotFoundError as exc:
        sys.stderr.write(f"act-bench {args.command}: error: no such file: {exc.filename or exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("act-bench: interrupted\n")
        return 130
    except ActBenchError as exc:
        sys.stderr.write(f"act-bench {args.command}: error: {exc}\n")
        return 1
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
