"""``act-bench build``: train a search space into a benchmark table (resumable)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from act_bench.cli._common import IntRange, check_output, emit
from act_bench.cli._options import add_functions, add_jobs, add_space, add_train_seeds
from act_bench.errors import InvalidInputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build", help="train every unique function of a space into a benchmark table",
        description="Train each unique function of the space (default: the paper's binary(unary(x),unary(x)) plus "
                    "the 8 baselines) with a recipe, for several seeds; compute FIM features once per function; "
                    "write the table (medians over seeds) to --out. Finished jobs are journaled in an SQLite journal "
                    "in <out>.journal/ so a killed build continues with --resume without redoing or duplicating "
                    "runs (a JSON-lines journal of an earlier act-bench is converted once on --resume).")
    p.add_argument("--recipe", required=True, metavar="NAME|FILE.yaml",
                   help="recipe name (see 'act-bench recipes list') or a recipe YAML file")
    p.add_argument("--out", required=True, metavar="DIR", help="output table folder")
    add_space(p, help="schema of the space; repeat for a union (default: binary(unary(x),unary(x)))")
    add_functions(p, help="';'-separated activation functions to build instead of a space",
                  file_help="text file with one activation function per line (# comments) to build instead of a "
                            "space")
    add_train_seeds(p, dest="train_seeds", help="training seeds per function (default: the recipe's)")
    p.add_argument("--limit", type=IntRange(1, 10**9), metavar="N",
                   help="build only the first N functions of the build order (baselines first, then shuffled)")
    p.add_argument("--epochs", type=IntRange(1, 100_000), metavar="N", help="override the recipe's epochs")
    add_jobs(p, dest="jobs", workers_alias=True,
             help="parallel training runs: local processes with one thread each, or Ray CPUs for a local Ray "
                  "(default: %(default)s)")
    p.add_argument("--executor", choices=["local", "ray"], default="local", help="where runs execute")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster address (with --executor ray)")
    p.add_argument("--gpus-per-run", type=_gpus, metavar="G",
                   help="GPUs per training run, overriding the recipe's gpus_per_run: 0 (CPU), a fraction such as "
                        "0.25 (Ray packs several runs on one GPU) or a whole number; at most the executor's GPUs")
    p.add_argument("--resume", action="store_true", help="continue the journal of an earlier build of --out")
    p.add_argument("--allow-code-change", action="store_true",
                   help="with --resume: continue a journal written by other code (a different code digest); the "
                        "change is recorded in the journal and the table metadata")
    p.add_argument("--retries", type=IntRange(0, 100), default=1, metavar="N",
                   help="retries of a job that raised or lost its worker before it is recorded as failed (default 1)")
    p.add_argument("--retry-failed", action="store_true",
                   help="with --resume: run again the jobs recorded as failed (their errors stay in the journal), "
                        "each with --retries retries")
    p.add_argument("--max-jobs", type=IntRange(1, 10**9), metavar="N",
                   help="stop after N new jobs and write the table of the complete functions")
    p.add_argument("--snapshot", action="store_true",
                   help="run nothing: write the table of what the journal has completed so far (read-only on the "
                        "journal, safe while a build is running)")
    p.add_argument("--contenders", action="store_true",
                   help="extend the finished build of --out: retrain the runs an older labelling rule stored wrongly, "
                        "then train seeds 3-9 of every contender for the top 5 %% and every function whose seeds "
                        "disagree on status (docs/builders.md); resumable; then write the table")
    p.add_argument("--name", metavar="NAME", help="table name (default: the name of the --out folder)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_build)


def _gpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0; got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number >= 0; got {text!r}")
    return value


def _functions(args: argparse.Namespace) -> list[str] | None:
    """The functions of ``--functions 'F;G'`` or ``--functions-file PATH`` (None: build a space). An existing file
    given to ``--functions`` (its meaning before the vocabulary of issue 25) is read as one, with a warning."""
    from act_bench.space import parse

    if args.functions is not None and args.functions_file is not None:
        raise InvalidInputError("--functions and --functions-file exclude each other (a list, or a file)")
    if args.functions_file is not None:
        return _read_functions(args.functions_file, "--functions-file")
    if args.functions is None:
        return None
    if Path(args.functions).is_file():
        sys.stderr.write("act-bench build: warning: --functions FILE is deprecated and will be removed in the next "
                         "release; use --functions-file FILE\n")
        return _read_functions(args.functions, "--functions")
    out = []
    for text in (t.strip() for t in args.functions.split(";")):
        if text:
            try:
                out.append(str(parse(text)))
            except InvalidInputError as exc:
                raise InvalidInputError(f"--functions {text!r}: {exc} (a file of functions is given with "
                                        f"--functions-file)") from None
    if not out:
        raise InvalidInputError(f"--functions {args.functions!r} lists no function")
    return out


def _read_functions(path: str, option: str) -> list[str]:
    from act_bench.space import parse

    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"{option} {path!r}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{option} {path!r} is not UTF-8 text ({exc.reason} at byte {exc.start})"
                                ) from None
    out = []
    for i, line in enumerate(text.splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            try:
                out.append(str(parse(text)))
            except InvalidInputError as exc:
                raise InvalidInputError(f"{option} {path}, line {i}: {exc}") from None
    if not out:
        raise InvalidInputError(f"{option} {path!r} lists no function")
    return out


def _build(args: argparse.Namespace) -> int:
    from act_bench.space import parse_schema
    from data_builders.build import run_build
    from data_builders.recipes import get_recipe

    check_output(args.out, "--out", folder=True)
    recipe = get_recipe(args.recipe)
    if args.epochs is not None:
        recipe = recipe.with_overrides(epochs=args.epochs)
    if args.gpus_per_run is not None:
        recipe = recipe.with_overrides(gpus_per_run=args.gpus_per_run)
    if args.allow_code_change and not args.resume:
        raise InvalidInputError("--allow-code-change needs --resume (it lets a resumed build use other code)")
    if args.retry_failed and not args.resume:
        raise InvalidInputError("--retry-failed needs --resume (it retries the failed jobs of an earlier build)")
    if args.address and args.executor != "ray":
        raise InvalidInputError("--address needs --executor ray")
    space = [str(parse_schema(s)) for s in args.space] if args.space else None
    functions = _functions(args)
    start = time.perf_counter()
    if args.contenders:
        from data_builders.build import extend_build

        extend_build(recipe, args.out, jobs=args.jobs, progress=not args.no_progress, retries=args.retries)
        args.snapshot = True
    built = run_build(recipe, args.out, space=space, functions=functions, seeds=args.train_seeds, limit=args.limit,
                      jobs=args.jobs, executor=args.executor, address=args.address, resume=args.resume,
                      snapshot=args.snapshot, name=args.name, allow_code_change=args.allow_code_change,
                      retries=args.retries, retry_failed=args.retry_failed,
                      progress=not args.no_progress, max_jobs=args.max_jobs)
    table = built.table
    meta = table.metadata
    result = {"out": str(Path(args.out).resolve()), "functions": len(table.to_pandas("functions")),
              "runs": len(table.to_pandas("runs")), "complete": built.complete,
              "planned": meta["build"]["functions_planned"], "failed_runs": built.failed_runs,
              "failed_features": built.failed_features, "stopped": built.stopped, "retried": built.retried,
              "seconds": round(time.perf_counter() - start, 1)}
    partial = "" if meta["build"]["complete"] else " (partial: resume with --resume)"
    emit(result, args.json, f"wrote {result['functions']} functions ({result['runs']} runs) to {result['out']}"
                            f"{partial}")
    if built.failed_runs or built.failed_features:
        failed = " and ".join(f"{n} {what}{'s' if n > 1 else ''}" for n, what in
                              ((built.failed_runs, "run"), (built.failed_features, "feature job")) if n)
        sys.stderr.write(f"act-bench build: error: {failed} failed for good (errors in the journal's failures); "
                         f"run them again with --resume --retry-failed\n")
        return 1
    if built.stopped:
        sys.stderr.write("act-bench build: interrupted (the runs in flight were released; continue with "
                         "--resume)\n")
        return 130
    return 0
