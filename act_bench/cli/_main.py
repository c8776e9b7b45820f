"""Entry point of the ``act-bench`` command."""

from __future__ import annotations

import importlib
import re
import sqlite3
import sys

from act_bench._version import __version__
from act_bench.cli._common import ArgumentParser
from act_bench.errors import ActBenchError, InvalidInputError, OptionalDependencyError

_LONG_LITERAL = re.compile(r"""(['"])([^'"]{81,})\1""")

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


def _one_line(message: object, limit: int = 80) -> str:
    """The message on one line, every quoted literal longer than ``limit`` characters cut to ``limit`` + '…'."""
    text = " ".join(str(message).split())
    text = _LONG_LITERAL.sub(lambda m: m.group(1) + m.group(2)[:limit] + "…" + m.group(1), text)
    return text if len(text) <= 4 * limit + 400 else text[: 4 * limit + 400] + "…"


def _os_error(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    return f"{where!r}: {reason}" if where else reason


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code.

    0 ok; 2 usage or input error, including a file or folder that cannot be read or written (missing, a directory
    where a file is expected or the reverse, no permission, read-only or full file system, corrupted Parquet, JSON or
    SQLite); 1 other failures (network, training); 130 interrupted. Errors are one line on stderr, never a traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    name = args.command
    for sub in ("table_command", "space_command", "search_command", "models_command", "recipes_command",
                "plot_command"):
        if getattr(args, sub, None):
            name = f"{name} {getattr(args, sub)}"
    code, message = 0, None
    try:
        code = int(args.func(args) or 0)
    except (InvalidInputError, OptionalDependencyError) as exc:
        code, message = 2, str(exc)
    except FileNotFoundError as exc:
        code, message = 2, f"no such file or folder: {exc.filename or exc}"
    except OSError as exc:  # permissions, read-only or full file system, a folder where a file is expected, ...
        code, message = 2, f"cannot read or write {_os_error(exc)}"
    except UnicodeDecodeError as exc:
        code, message = 2, f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    except sqlite3.DatabaseError as exc:
        code, message = 2, f"an SQLite file is corrupted or not a database: {exc}"
    except RecursionError:
        code, message = 2, "input nested too deeply"
    except KeyboardInterrupt:
        sys.stderr.write("act-bench: interrupted\n")
        return 130
    except MemoryError:
        code, message = 1, "out of memory"
    except ActBenchError as exc:
        code, message = 1, str(exc)
    if message is not None:
        sys.stderr.write(f"act-bench {name}: error: {_one_line(message)}\n")
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
