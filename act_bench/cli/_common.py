"""Shared CLI helpers: one-line errors with exit code 2 (did-you-mean for a mistyped option or choice), deprecated
option spellings that still work and warn, JSON/human output."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from act_bench._io import refuse_symlink, to_jsonable
from act_bench._validation import MAX_SEED
from act_bench.errors import InvalidInputError

__all__ = ["COMMON_OPTIONS", "MAX_SEED", "NO_PROGRESS_HELP", "ArgumentParser", "DeprecatedAlias", "IntRange",
           "check_output", "emit", "nonnegative_int", "positive_int", "seed_int"]


def __getattr__(name: str) -> Any:
    if name == "UsageError":  # an alias that only widened the API; removed in the next release
        warnings.warn("act_bench.cli._common.UsageError is deprecated and will be removed in the next release; use "
                      "act_bench.errors.InvalidInputError", DeprecationWarning, stacklevel=2)
        return InvalidInputError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: A token argparse reads as a negative number (a value), not as an option.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


NO_PROGRESS_HELP = "no progress bars or progress lines on stderr (every command takes it)"


def _no_progress_parent() -> argparse.ArgumentParser:
    """The options every command and command group takes (``parents=``): ``--no-progress``. Its default is left
    out of each parser's namespace so that a group's value (``act-bench --no-progress replay ...``) is not reset by
    its subcommand's default; the top-level parser of :func:`act_bench.cli.build_parser` has its own, False."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--no-progress", action="store_true", default=argparse.SUPPRESS,
                        help=NO_PROGRESS_HELP)
    return parent


COMMON_OPTIONS = _no_progress_parent()


class _SubParsers(argparse._SubParsersAction):
    """Subcommands that inherit the options every command takes (``--no-progress``)."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs["parents"] = [*kwargs.get("parents", ()), COMMON_OPTIONS]
        return super().add_parser(name, **kwargs)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error message on stderr and exit code 2 (no usage dump, no traceback).

    An option whose ``type`` is an :class:`IntRange` gets its valid range appended to its help text. A mistyped
    option is named before any other error (``unrecognized option '--tabel'; did you mean '--table'?``), and an
    invalid choice or subcommand gets the closest valid one. An old spelling added with ``action=DeprecatedAlias``
    stores into its replacement's ``dest``, warns on stderr and is hidden from ``--help``; a required option that
    such an alias may stand for is checked after the parse (given either way).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubParsers)
        self._warned: set[str] = set()
        self._relaxed: list[argparse.Action] = []

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        kind = kwargs.get("type")
        if isinstance(kind, IntRange) and kwargs.get("help") not in (None, argparse.SUPPRESS):
            kwargs["help"] = f"{kwargs['help']}; {kind.text}"
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)

    def warn(self, message: str) -> None:
        """One warning line on stderr, prefixed like the command's errors; each message once per parse."""
        if message not in self._warned:
            self._warned.add(message)
            sys.stderr.write(f"{self.prog}: warning: {message}\n")

    # -- parsing ------------------------------------------------------------------------------------------------
    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        args = sys.argv[1:] if args is None else list(args)
        self._warned = set()
        self._check_options(args)
        aliased = {a.dest for a in self._actions if isinstance(a, DeprecatedAlias)}
        relaxed = [a for a in self._actions if a.required and a.dest in aliased]
        self._relaxed = relaxed
        for action in relaxed:  # given by its old spelling or its new one: checked below
            action.required = False
        try:
            parsed, extras = super().parse_known_args(args, namespace)
        finally:
            for action in relaxed:
                action.required = True
            self._relaxed = []
        missing = [_name(a) for a in relaxed if getattr(parsed, a.dest, None) is None]
        if missing:
            self.error(f"the following arguments are required: {', '.join(missing)}")
        return parsed, extras

    def format_usage(self) -> str:
        with self._required_shown():
            return super().format_usage()

    def format_help(self) -> str:
        with self._required_shown():
            return super().format_help()

    @contextlib.contextmanager
    def _required_shown(self) -> Iterator[None]:
        """``--help`` during a parse shows the options relaxed for their aliases as required."""
        relaxed = getattr(self, "_relaxed", [])
        for action in relaxed:
            action.required = True
        try:
            yield
        finally:
            for action in relaxed:
                action.required = False

    def _check_options(self, args: list[str]) -> None:
        """Name a mistyped option before argparse reports anything else (a missing required option, say). Tokens
        after a subcommand belong to its own parser, which checks them."""
        has_commands = any(isinstance(a, argparse._SubParsersAction) for a in self._actions)
        known = list(self._option_string_actions)
        for token in args:
            if token == "--":
                return
            if not token.startswith("-") or token == "-" or " " in token or (
                    _NEGATIVE_NUMBER.match(token) and not self._has_negative_number_optionals):
                if has_commands:
                    return
                continue
            option = token.split("=", 1)[0]
            if option in known or (option.startswith("--") and any(k.startswith(option) for k in known)):
                continue
            if not option.startswith("--") and any(option[:2] == k for k in known):
                continue  # -hx: a short option with its value attached
            visible = [k for k in known if self._option_string_actions[k].help is not argparse.SUPPRESS]
            close = difflib.get_close_matches(option, visible, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.error(f"unrecognized option {option!r}{hint}")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        choices = [str(c) for c in action.choices]
        close = difflib.get_close_matches(str(value), choices, n=1)
        shown = str(value) if len(str(value)) <= 40 else str(value)[:40] + "…"
        hint = f"; did you mean {close[0]!r}?" if close else f"; choose from {', '.join(map(repr, choices))}"
        raise argparse.ArgumentError(None, f"invalid choice {shown!r} for {_name(action)}{hint}")


def _name(action: argparse.Action) -> str:
    """How the user names an option: its longest option string, else a positional's metavar."""
    if action.option_strings:
        return max(action.option_strings, key=len)
    return str(action.metavar or action.dest).upper() if not isinstance(action, argparse._SubParsersAction) \
        else "COMMAND"


class DeprecatedAlias(argparse.Action):
    """An old spelling kept for one release: stores into ``dest`` like the new spelling ``new`` (``append=True``
    appends, for a repeatable option), prints one warning line and is hidden from ``--help``. Give the new
    option's ``type`` so that a value is checked the same way. A positional old spelling (the old ``TABLE``) takes
    ``nargs='?'`` and is left out of the namespace when absent.

    Examples
    --------
    >>> p = ArgumentParser(prog="act-bench replay")
    >>> _ = p.add_argument("--budget", type=int)
    >>> _ = p.add_argument("--evals", dest="budget", type=int, action=DeprecatedAlias, new="--budget")
    >>> p.parse_args(["--evals", "3"]).budget  # doctest: +SKIP
    3
    """

    def __init__(self, option_strings: list[str], dest: str, *, new: str, append: bool = False,
                 **kwargs: Any) -> None:
        kwargs["help"] = argparse.SUPPRESS
        kwargs["default"] = argparse.SUPPRESS
        super().__init__(option_strings, dest, **kwargs)
        self.new, self.append = new, append

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        old = option_string or f"a positional {self.metavar or self.dest.upper()}"
        message = f"{old} is deprecated and will be removed in the next release; use {self.new}"
        if isinstance(parser, ArgumentParser):
            parser.warn(message)
        else:  # pragma: no cover - every act-bench parser is an ArgumentParser
            sys.stderr.write(f"{parser.prog}: warning: {message}\n")
        if self.append:
            values = [*(getattr(namespace, self.dest, None) or []), values]
        setattr(namespace, self.dest, values)


@dataclass(frozen=True)
class IntRange:
    """An argparse ``type``: an integer in [``min_value``, ``max_value``]; the range is shown in ``--help``.

    Every numeric option of the CLI uses one of these, so no option accepts an unbounded value (``--budget 1e20``).

    Examples
    --------
    >>> IntRange(1, 100)("7")
    7
    """

    min_value: int
    max_value: int

    @property
    def text(self) -> str:
        return f"an integer >= {self.min_value} and <= {self.max_value}"

    def __call__(self, text: str) -> int:
        shown = text if len(text) <= 40 else text[:40] + "…"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.text}; got {shown!r}") from None
        if not self.min_value <= value <= self.max_value:
            raise argparse.ArgumentTypeError(f"expected {self.text}; got {shown!r}")
        return value


#: Default bounds of the generic types (kept for options added elsewhere; prefer an explicit IntRange).
positive_int = IntRange(1, 2**31 - 1)
nonnegative_int = IntRange(0, 2**31 - 1)
seed_int = IntRange(0, MAX_SEED)


def check_output(path: str | os.PathLike[str], option: str, *, folder: bool) -> Path:
    """Refuse an output path before any work is done: a file where a folder is expected (``folder=True``) or the
    reverse, a path whose nearest existing ancestor is not a writable folder (e.g. a path under a regular file), a
    symbolic link (act-bench never writes through one), or a path starting with a '~' the shell did not expand
    (``'~nosuchuser/x'``; ``./~x`` names a folder called ``~x``).
    """
    p = refuse_symlink(path, option)
    if p.parts and p.parts[0].startswith("~"):
        raise InvalidInputError(f"{option} {str(path)!r} starts with '~', which was not expanded to a home folder "
                                f"(no such user, or quoted); give the full path, or ./{path} for a folder "
                                f"named so")
    if folder and p.exists() and not p.is_dir():
        raise InvalidInputError(f"{option} must be a directory; {str(path)!r} is a file")
    if not folder and p.is_dir():
        raise InvalidInputError(f"{option} {str(path)!r} is a folder; give a file path")
    ancestor = p.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidInputError(f"{option} {str(path)!r}: {str(ancestor)!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InvalidInputError(f"{option} {str(path)!r}: folder {str(ancestor)!r} is not writable")
    return p


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 seed``, ``3 seeds``, ``6 fidelities``: a number and its noun, in the right number."""
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def emit(result: dict[str, Any], as_json: bool, human: str | None = None) -> None:
    """Print ``result`` as one JSON document (``--json``) or the human-readable text ``human``."""
    if as_json:
        sys.stdout.write(json.dumps(to_jsonable(result), allow_nan=False) + "\n")
    else:
        if human is None:
            human = "\n".join(f"{k}: {v}" for k, v in to_jsonable(result).items())
        sys.stdout.write(human.rstrip("\n") + "\n")
