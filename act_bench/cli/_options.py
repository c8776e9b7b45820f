"""The CLI's vocabulary: every option that names a concept shared by several commands is defined here once, with
the old spellings it replaces kept one release as hidden aliases that warn (:class:`DeprecatedAlias`).

``--no-progress`` is on every command through the parent parser :data:`COMMON_OPTIONS` (``parents=``);
:data:`VOCABULARY` is the table at the top of docs/cli.md (generated, so it cannot drift from the parser).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from act_bench.cli._common import DeprecatedAlias, IntRange

__all__ = ["VOCABULARY", "Term", "add_budget", "add_expr", "add_functions", "add_jobs", "add_seeds", "add_space",
           "add_table", "add_train_seeds", "add_workers"]

TABLE_HELP = "table name, folder or Hub id"
_BUDGET = IntRange(1, 1_000_000)
_SEEDS = IntRange(1, 100_000)
_PARALLEL = IntRange(1, 1024)


@dataclass(frozen=True)
class Term:
    """One row of the vocabulary: the concept, its option and what the option means wherever it appears."""

    concept: str
    option: str
    meaning: str
    replaces: str = ""


VOCABULARY: tuple[Term, ...] = (
    Term("benchmark table", "--table NAME_OR_PATH",
         "a table given by shipped or fetched name, folder or Hub id, in every command that reads one",
         "a positional TABLE (export-hf, export-synetune, publish, table info, table query)"),
    Term("search space", "--space SCHEMA",
         "a schema such as binary(unary(x),unary(x)); repeat for a union", "--schema (space count/show/list)"),
    Term("one activation function", "EXPR (positional)", "an expression such as 'max(x,zero(x))'",
         "--fn (fim)"),
    Term("several activation functions", "--functions 'F;G;...'", "';'-separated expressions",
         "a file given to build --functions"),
    Term("a file of activation functions", "--functions-file PATH",
         "one expression per line, '#' starts a comment", ""),
    Term("search budget", "--budget N", "function evaluations of one search (replayed or live)",
         "--evals (replay, demo)"),
    Term("search repetitions", "--seeds N", "replayed searches per searcher, with searcher seeds 0..N-1", ""),
    Term("training seeds", "--train-seeds N", "training runs per function of a build", "--seeds (build)"),
    Term("evaluations in flight", "--workers N",
         "parallel evaluations of a search: simulated from the table's runtimes in replay, real training runs in "
         "search run", ""),
    Term("local processes", "--jobs N",
         "processes a command computes with: training runs of a build, maps and seeds of a replay",
         "--workers (build)"),
    Term("progress display", "--no-progress", "no progress bars or progress lines on stderr; every command takes it",
         ""),
)


def add_table(p: argparse.ArgumentParser, *, help: str = TABLE_HELP, required: bool = True,
              default: str | None = None, positional_alias: bool = False) -> None:
    """``--table NAME_OR_PATH``; ``positional_alias``: the old positional ``TABLE`` still works and warns."""
    p.add_argument("--table", required=required, default=default, metavar="NAME_OR_PATH", help=help)
    if positional_alias:
        p.add_argument("table", nargs="?", metavar="TABLE", action=DeprecatedAlias, new="--table NAME_OR_PATH")


def add_space(p: argparse.ArgumentParser, *, help: str, schema_alias: bool = False) -> None:
    """``--space SCHEMA`` (repeatable: a union); ``schema_alias``: the old ``--schema``."""
    p.add_argument("--space", action="append", metavar="SCHEMA", help=help)
    if schema_alias:
        p.add_argument("--schema", dest="space", metavar="SCHEMA", action=DeprecatedAlias, new="--space",
                       append=True)


def add_budget(p: argparse.ArgumentParser, *, help: str, default: int | None = None, required: bool = False,
               limit: int = _BUDGET.max_value, dest: str = "budget", evals_alias: bool = False) -> None:
    """``--budget N``: function evaluations of one search; ``evals_alias``: the old ``--evals``."""
    kind = IntRange(1, limit)
    p.add_argument("--budget", dest=dest, type=kind, default=default, required=required, metavar="N", help=help)
    if evals_alias:
        p.add_argument("--evals", dest=dest, type=kind, metavar="N", action=DeprecatedAlias, new="--budget")


def add_seeds(p: argparse.ArgumentParser, *, help: str, default: int) -> None:
    """``--seeds N``: replayed searches per searcher (seeds 0..N-1)."""
    p.add_argument("--seeds", type=_SEEDS, default=default, metavar="N", help=help)


def add_train_seeds(p: argparse.ArgumentParser, *, help: str, dest: str = "train_seeds") -> None:
    """``--train-seeds N``: training runs per function; the old ``--seeds`` of ``build`` still works and warns."""
    kind = IntRange(1, 1000)
    p.add_argument("--train-seeds", dest=dest, type=kind, metavar="N", help=help)
    p.add_argument("--seeds", dest=dest, type=kind, metavar="N", action=DeprecatedAlias, new="--train-seeds")


def add_workers(p: argparse.ArgumentParser, *, help: str, default: int = 1) -> None:
    """``--workers N``: evaluations of a search in flight."""
    p.add_argument("--workers", type=_PARALLEL, default=default, metavar="N", help=help)


def add_jobs(p: argparse.ArgumentParser, *, help: str, default: int = 1, dest: str = "jobs",
             workers_alias: bool = False) -> None:
    """``--jobs N``: local processes; ``workers_alias``: the old ``--workers`` of ``build``."""
    p.add_argument("--jobs", dest=dest, type=_PARALLEL, default=default, metavar="N", help=help)
    if workers_alias:
        p.add_argument("--workers", dest=dest, type=_PARALLEL, metavar="N", action=DeprecatedAlias, new="--jobs")


def add_functions(p: argparse.ArgumentParser, *, help: str, file_help: str | None = None) -> None:
    """``--functions 'F;G'`` (a list); with ``file_help`` also ``--functions-file PATH``."""
    p.add_argument("--functions", metavar="'F;G;...'", help=help)
    if file_help is not None:
        p.add_argument("--functions-file", metavar="PATH", help=file_help)


def add_expr(p: argparse.ArgumentParser, *, help: str, dest: str = "expr", fn_alias: bool = False) -> None:
    """The positional ``EXPR``, one activation function; ``fn_alias``: the old ``--fn EXPR`` of ``fim``."""
    p.add_argument(dest, metavar="EXPR", help=help)
    if fn_alias:
        p.add_argument("--fn", dest=dest, metavar="EXPR", action=DeprecatedAlias, new="a positional EXPR")
