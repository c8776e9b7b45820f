"""``act-bench space ...``: count, show and list the functions of a search space."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import TYPE_CHECKING

from act_bench._io import atomic_write
from act_bench.cli._common import IntRange, check_output, emit
from act_bench.cli._options import add_expr, add_space
from act_bench.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from act_bench.space import OutputSummary

# act_bench.space.DEFAULT_SPACE_SCHEMA (a test checks they agree); act_bench.space is imported only by the commands
# that use it, so the other commands' start-up stays as light as before
DEFAULT_SCHEMA = "binary(unary(x),unary(x))"


def register(sub: argparse._SubParsersAction) -> None:
    space = sub.add_parser("space", help="search spaces: count, show and list activation functions",
                           description="Inspect activation-function search spaces defined by schemas such as "
                                       f"{DEFAULT_SCHEMA!r} (placeholders: unary, binary, n-ary).")
    ssub = space.add_subparsers(dest="space_command", metavar="SUBCOMMAND")
    ssub.required = True

    def common(p: argparse.ArgumentParser, space_help: str) -> None:
        add_space(p, help=space_help, schema_alias=True)
        p.add_argument("--extra-ops", action="store_true",
                       help="also use the optional unary operators elish, leakyrelu, mish, gelu")
        p.add_argument("--signed-zero", action="store_true",
                       help="tell -0.0 from 0.0 when comparing outputs (the reference code's string comparison); "
                            "default: -0 == 0")

    p = ssub.add_parser("count", help="count graphs and unique functions of schema(s)",
                        description="Count the computation graphs of one or more schemas and the equivalence "
                                    "classes of their union (identical float32 outputs on the standard inputs).")
    common(p, f"schema to enumerate; repeat for a union (default: {DEFAULT_SCHEMA})")
    p.add_argument("--max-graphs", type=IntRange(1, 10**13), default=200_000_000, metavar="N",
                   help="refuse schemas with more graphs than N, printing the estimated time (default: "
                        "%(default)s); above 1000000 graphs an estimate and a progress line are printed first")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_count)

    p = ssub.add_parser("show", help="canonical form, equivalence class and range of one function",
                        description="Parse EXPR, print its canonical form, its class representative within the "
                                    "space (the schema(s), default the paper's benchmark space plus the 8 baseline "
                                    "functions), whether it is finite on the standard inputs, and min/max outputs.")
    add_expr(p, help="activation function, e.g. 'max(relu(x),cosh(elu(x)))'")
    common(p, f"space to look the function up in; repeatable (default: {DEFAULT_SCHEMA} plus the baselines)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_show)

    p = ssub.add_parser("list", help="write the functions of schema(s) to a Parquet file",
                        description="Enumerate schema(s) and write a Parquet file: with --unique one row per "
                                    "equivalence class (representative, equivalents, outputs), else one row per "
                                    "graph (function, representative).")
    common(p, f"schema to enumerate; repeat for a union (default: {DEFAULT_SCHEMA})")
    p.add_argument("--unique", action="store_true", help="one row per equivalence class")
    p.add_argument("--max-graphs", type=IntRange(1, 10**13), default=200_000_000, metavar="N",
                   help="refuse schemas with more graphs than N, printing the estimated time (default: %(default)s)")
    p.add_argument("--out", required=True, metavar="FILE.parquet", help="output Parquet file (written atomically)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_list)


def _schemas(args: argparse.Namespace) -> list[str]:
    from act_bench.space import parse_schema

    schemas = args.space or [DEFAULT_SCHEMA]
    return [str(parse_schema(s)) for s in schemas]


#: Rough enumeration speed of count_unique on one core (measured: ~90,000 graphs/s for the 3- and 4-node schemas);
#: only used for the estimate printed before a long count.
_GRAPHS_PER_SECOND = 90_000
#: Counts of more graphs than this print an estimate and a progress line first.
_WARN_GRAPHS = 1_000_000


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


class _Ticker:
    """A progress line on stderr (elapsed / estimated time), redrawn every second while the count runs."""

    def __init__(self, estimate: float, enabled: bool) -> None:
        self.estimate, self.enabled = estimate, enabled
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.start = time.perf_counter()

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            sys.stderr.write(f"\r  counting: {_duration(time.perf_counter() - self.start)} elapsed of about "
                             f"{_duration(self.estimate)}   ")
            sys.stderr.flush()

    def __enter__(self) -> None:
        if self.enabled:
            self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.enabled:
            self.thread.join()
            sys.stderr.write("\n")


def _check_size(schemas: list[str], args: argparse.Namespace) -> tuple[int, float]:
    """Graphs of the schema(s) and the estimated seconds; refuses more than --max-graphs, warns above a million."""
    from act_bench.space import count_graphs

    graphs = count_graphs(schemas, extra_ops=args.extra_ops)
    estimate = graphs / _GRAPHS_PER_SECOND
    if graphs > args.max_graphs:
        raise InvalidInputError(f"the schema(s) have {graphs:,} graphs, more than --max-graphs {args.max_graphs:,} "
                                f"(enumerating them would take about {_duration(estimate)} on one core); raise "
                                f"--max-graphs to go ahead")
    if graphs > _WARN_GRAPHS and not args.json:
        sys.stderr.write(f"space {args.space_command}: {graphs:,} graphs to enumerate, about {_duration(estimate)} "
                         f"on one core (Ctrl-C stops)\n")
    return graphs, estimate


def _count(args: argparse.Namespace) -> int:
    from act_bench.space import count_unique

    schemas = _schemas(args)
    start = time.perf_counter()
    graphs, estimate = _check_size(schemas, args)
    with _Ticker(estimate, graphs > _WARN_GRAPHS and sys.stderr.isatty() and not args.json and not args.no_progress):
        unique = count_unique(schemas, extra_ops=args.extra_ops, signed_zero=args.signed_zero)
    seconds = time.perf_counter() - start
    result = {"schema": schemas[0] if len(schemas) == 1 else schemas, "graphs": graphs, "unique": unique,
              "seconds": round(seconds, 3)}
    human = (f"schema: {', '.join(schemas)}\ngraphs: {graphs:,}\nunique functions: {unique:,} "
             f"({'-0 != 0' if args.signed_zero else '-0 == 0'}, NaN == NaN)\nseconds: {seconds:.2f}")
    emit(result, args.json, human)
    return 0


def _show(args: argparse.Namespace) -> int:
    from act_bench.space import lookup_default_space, parse

    canonical = str(parse(args.expr))
    # the default space (no --space, no --extra-ops) is a shipped lookup: a member answers without torch
    entry = None if args.space or args.extra_ops else lookup_default_space(canonical, signed_zero=args.signed_zero)
    if entry is not None:
        rep, summary = entry.representative, entry.summary
    else:
        rep, summary = _show_by_evaluation(canonical, args)
    result = {"canonical": canonical, "unique_representative": rep, "finite": summary.finite, "min": summary.min,
              "max": summary.max}
    human = (f"canonical: {canonical}\nrepresentative: {rep if rep is not None else '(not in the space)'}"
             f"\nfinite on the standard inputs: {summary.finite}\nmin: {summary.min}\nmax: {summary.max}")
    emit(result, args.json, human)
    return 0


def _show_by_evaluation(canonical: str, args: argparse.Namespace) -> tuple[str | None, OutputSummary]:
    """Representative and output summary of ``canonical`` by evaluating it and enumerating the space (torch)."""
    from act_bench.space import (
        BASELINE_FUNCTIONS,
        equivalence_classes,
        find_equivalents,
        function_outputs,
        summarize_outputs,
    )

    summary = summarize_outputs(function_outputs(canonical))
    members = find_equivalents(canonical, _schemas(args), extra_ops=args.extra_ops, signed_zero=args.signed_zero)
    if not args.space:  # default space: the benchmark space plus the baselines
        baselines = equivalence_classes(BASELINE_FUNCTIONS, signed_zero=args.signed_zero)
        hit = baselines.representative_of(canonical)
        if hit is not None:
            members = [hit] + members
    return (members[0] if members else None), summary


def _list(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from act_bench.space import equivalence_classes

    check_output(args.out, "--out", folder=False)  # a symbolic link, a '~' left unexpanded
    out = os.path.abspath(args.out)
    folder = os.path.dirname(out)
    if not os.path.isdir(folder):
        raise InvalidInputError(f"--out {args.out!r}: folder {folder!r} does not exist")
    if not out.endswith(".parquet"):
        raise InvalidInputError(f"--out {args.out!r}: the file name must end with .parquet")
    schemas = _schemas(args)
    _check_size(schemas, args)
    classes = equivalence_classes(schemas=schemas, extra_ops=args.extra_ops, signed_zero=args.signed_zero)
    if args.unique:
        outputs = pa.FixedSizeListArray.from_arrays(pa.array(classes.outputs.reshape(-1), pa.float32()),
                                                    classes.outputs.shape[1])
        table = pa.table({"representative": classes.representatives,
                          "equivalents": pa.array(classes.equivalents, pa.list_(pa.string())),
                          "outputs": outputs})
    else:
        rows = [(m, rep) for rep, members in zip(classes.representatives, classes.equivalents) for m in members]
        table = pa.table({"function": [r[0] for r in rows], "representative": [r[1] for r in rows]})
    table = table.replace_schema_metadata({"act_bench.schemas": ";".join(schemas),
                                           "act_bench.signed_zero": str(args.signed_zero)})
    if os.path.isdir(out):
        raise InvalidInputError(f"--out {args.out!r} is a directory; give a .parquet file path")
    atomic_write(out, lambda tmp: pq.write_table(table, str(tmp), compression="zstd"))
    result = {"out": out, "rows": table.num_rows, "graphs": classes.n_graphs, "unique": len(classes)}
    emit(result, args.json, f"wrote {table.num_rows:,} rows to {out} ({classes.n_graphs:,} graphs, "
                            f"{len(classes):,} unique)")
    return 0
