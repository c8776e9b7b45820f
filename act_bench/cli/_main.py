"""Entry point of the ``act-bench`` command."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sqlite3
import sys
import warnings

from act_bench._cache import CacheWarning
from act_bench._version import __version__
from act_bench.cli._common import NO_PROGRESS_HELP, ArgumentParser
from act_bench.errors import ActBenchError, InvalidInputError, OptionalDependencyError, ParseError

_MAX_MESSAGE = 1000

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
    # the top level's own --no-progress (not the shared parent's action, whose default stays out of the namespace)
    parser.add_argument("--no-progress", action="store_true", default=False,
                        help=NO_PROGRESS_HELP)
    parser.add_argument("--version", action="version", version=f"act-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(f"act_bench.cli._{name}").register(sub)
    return parser


def _one_line(exc: BaseException | None, message: object, limit: int = 80) -> str:
    """The message on one line: an echoed input (the text of a ``ParseError`` anywhere in the exception's chain)
    longer than ``limit`` characters is cut to ``limit`` + '…', and the whole line to 1,000 characters."""
    text = str(message)
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        echoed = getattr(exc, "text", None) if isinstance(exc, ParseError) else None
        if isinstance(echoed, str) and len(echoed) > limit:
            text = text.replace(repr(echoed), repr(echoed[:limit])[:-1] + "…" + repr(echoed)[-1])
        exc = exc.__cause__ or exc.__context__
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


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
    if sys.stdout is None or sys.stdout.closed:  # fd 1 closed: a file opened later would get it and our output
        if sys.stderr is not None and not sys.stderr.closed:
            sys.stderr.write("act-bench: error: standard output is closed; run it with stdout open (e.g. "
                             ">/dev/null)\n")
        return 2
    _escape_unencodable()
    parser = build_parser()
    args = parser.parse_args(argv)
    name = args.command
    for sub in ("table_command", "space_command", "search_command", "models_command", "recipes_command",
                "plot_command", "cache_command"):
        if getattr(args, sub, None):
            name = f"{name} {getattr(args, sub)}"
    try:
        with warnings.catch_warnings(), _progress_off(args.no_progress):
            warnings.showwarning = _one_line_cache_warning(name, warnings.showwarning)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("act-bench: interrupted\n")
        if argv is None and _is_program():  # the command itself, not a caller in Python: end now
            _exit_now(130)
        return 130
    except (ActBenchError, OSError, UnicodeError, sqlite3.DatabaseError, RecursionError, MemoryError) as exc:
        if isinstance(exc, BrokenPipeError):
            _silence_stdout()
        code, message = _classify(exc)
        sys.stderr.write(f"act-bench {name}: error: {_one_line(exc, message)}\n")
        return code


def _progress_off(no_progress: bool):
    """``--no-progress``: every progress bar of the command is off (tqdm is imported only then)."""
    if not no_progress:
        return contextlib.nullcontext()
    from act_bench._progress import no_progress as off

    return off()


def _one_line_cache_warning(name: str, default):
    """``warnings.showwarning`` printing a :class:`CacheWarning` as one line (the others as before)."""
    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CacheWarning):
            sys.stderr.write(f"act-bench {name}: warning: {_one_line(None, message)}\n")
        else:
            default(message, category, filename, lineno, file, line)
    return show


def _escape_unencodable() -> None:
    """Print what the terminal's encoding cannot show (a non-UTF-8 file name, a lone surrogate) as backslash escapes
    instead of failing after the work is done; the C locale included."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")


def _silence_stdout() -> None:
    """The reader of stdout went away (``| head``): send what is left to /dev/null so that the final flush at exit
    does not fail again."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _is_program() -> bool:
    """Whether this process is the ``act-bench`` command (its script, or ``python -m act_bench.cli._main``)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    return os.path.basename(main_file) in ("act-bench", "act-bench.exe", "_main.py")


def _exit_now(code: int) -> None:
    """Run the exit handlers (temporary folders, worker pools), flush, and end the process without the teardown of
    the interpreter's heap, which after a replay or a build takes many seconds on a busy machine: an interrupted
    command is gone at once."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _classify(exc: BaseException) -> tuple[int, str]:
    """Exit code and message of an error that ends a command."""
    if isinstance(exc, (InvalidInputError, OptionalDependencyError)):
        return 2, str(exc)
    if isinstance(exc, BrokenPipeError):
        return 2, "standard output was closed by its reader (broken pipe); output left unwritten"
    if isinstance(exc, FileNotFoundError):
        return 2, f"no such file or folder: {exc.filename or exc}"
    if isinstance(exc, OSError):  # permissions, read-only or full file system, a folder where a file is expected
        return 2, f"cannot read or write {_os_error(exc)}"
    if isinstance(exc, UnicodeDecodeError):
        return 2, f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, UnicodeEncodeError) and all("\udc80" <= c <= "\udcff" for c in exc.object[exc.start:exc.end]):
        return 2, (f"a file name that is not valid UTF-8 ({exc.object[exc.start:exc.end]!r} in {exc.object[:200]!r}) "
                   f"cannot be used (the Parquet library needs UTF-8 paths); rename it")
    if isinstance(exc, UnicodeError):  # a lone surrogate in text to be written
        return 2, f"text that is not valid Unicode cannot be written ({exc.reason}); fix the input that holds it"
    if isinstance(exc, sqlite3.DatabaseError):
        return 2, f"an SQLite file is corrupted or not a database: {exc}"
    if isinstance(exc, RecursionError):
        return 2, "input nested too deeply"
    if isinstance(exc, MemoryError):
        return 1, "out of memory"
    return 1, str(exc)  # ActBenchError: network, training, ...


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
