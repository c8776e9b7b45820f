"""``act-bench search run|status|export``: live search against real training, with a resumable journal."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from act_bench.cli._common import ArgumentParser, IntRange, check_output, emit, seed_int
from act_bench.cli._options import add_budget, add_space, add_workers
from act_bench.errors import InvalidInputError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search", help="live search: a searcher chooses which functions to train (resumable journal)",
        description="Run a searcher (e.g. knr:both) against real training runs of a recipe. Every result is "
                    "journaled in an SQLite file, so a killed search continues when the same command is run again.")
    s = p.add_subparsers(dest="search_command", metavar="SUBCOMMAND", parser_class=ArgumentParser)
    s.required = True

    r = s.add_parser("run", help="start or resume a live search",
                     description="Compute the candidates (equivalence classes of the spaces plus the 8 baselines), "
                                 "FIM features for --fim-warmup of them, then train the searcher's suggestions until "
                                 "--budget functions have a result (the baselines come first and count toward the "
                                 "budget). Rerun the same command to resume.")
    r.add_argument("--recipe", required=True, metavar="NAME|FILE.yaml",
                   help="recipe name (see 'act-bench recipes list') or a recipe YAML file")
    add_space(r, help="schema of the space; repeat for a union (default: binary(unary(x),unary(x)))")
    r.add_argument("--searcher", default="knr:both", metavar="NAME",
                   help="searcher name (see act_bench.search.list_searchers(); default knr:both)")
    add_budget(r, required=True, limit=10**7,
               help="function evaluations in total, baselines included (a resumed search continues to N)")
    r.add_argument("--fim-warmup", type=IntRange(0, 10**7), default=5000, metavar="M",
                   help="candidates with FIM features before the search starts (default 5000, as in the paper)")
    r.add_argument("--journal", required=True, metavar="FILE", help="SQLite journal (created or resumed)")
    add_workers(r, help="evaluations in flight: parallel training runs (one more worker computes missing FIM "
                        "features; default: %(default)s)")
    r.add_argument("--executor", choices=["local", "ray"], default="local", help="where runs execute")
    r.add_argument("--address", metavar="ADDR", help="Ray cluster address (with --executor ray)")
    r.add_argument("--seed", type=seed_int, default=0, metavar="S",
                   help="seed of the searcher, the feature order and the training runs (default 0)")
    r.add_argument("--epochs", type=IntRange(1, 100_000), metavar="N", help="override the recipe's epochs")
    r.add_argument("--retries", type=IntRange(0, 100), default=1, metavar="N",
                   help="retries of a run that raised before it is recorded as failed (default 1)")
    r.add_argument("--allow-code-change", action="store_true",
                   help="resume a journal written by other code (a different code digest); the change is recorded "
                        "in the journal and the exported table's metadata")
    r.add_argument("--no-baselines", action="store_true",
                   help="do not add and evaluate the 8 baseline functions first")
    r.add_argument("--no-background-features", action="store_true",
                   help="compute no FIM features during the search (only the warm-up)")
    r.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    r.set_defaults(func=_run)

    st = s.add_parser("status", help="counts and best result of a journal",
                      description="Read a live-search journal (without modifying it) and report candidates, unique "
                                  "functions, features, evaluated, running and failed runs and the best function.")
    st.add_argument("--journal", required=True, metavar="FILE", help="SQLite journal of a live search")
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=_status)

    ex = s.add_parser("export", help="write a journal's results as a benchmark table",
                      description="Write the evaluated functions of a journal as a benchmark table (the builders' "
                                  "schema; one run per function), e.g. for 'act-bench publish'.")
    ex.add_argument("--journal", required=True, metavar="FILE", help="SQLite journal of a live search")
    ex.add_argument("--out", required=True, metavar="DIR", help="table folder (must not exist or be empty)")
    ex.add_argument("--json", action="store_true", help="print a JSON summary")
    ex.set_defaults(func=_export)


def _run(args: argparse.Namespace) -> int:
    from act_bench.live import LiveSearch
    from data_builders.recipes import get_recipe

    if args.address and args.executor != "ray":
        raise InvalidInputError("--address needs --executor ray")
    recipe = get_recipe(args.recipe)
    if args.epochs is not None:
        recipe = recipe.with_overrides(epochs=args.epochs)
    journal = check_output(args.journal, "--journal", folder=False)
    search = LiveSearch(recipe=recipe, journal=journal, spaces=args.space, searcher=args.searcher,
                        seed=args.seed, baselines=not args.no_baselines, fim_warmup=args.fim_warmup,
                        background_features=not args.no_background_features, workers=args.workers,
                        executor=args.executor, address=args.address, retries=args.retries,
                        progress=not args.no_progress, allow_code_change=args.allow_code_change)
    summary = search.run(budget=args.budget).to_dict()
    best = summary["best"]
    best_text = f"; best {best['function']} (val_accuracy {best['val_accuracy']:.4f})" if best else ""
    emit(summary, args.json, f"{summary['evaluated']}/{summary['budget']} functions evaluated "
                             f"({summary['new']} in this session, stopped: {summary['stopped']}){best_text}; "
                             f"journal {summary['journal']}")
    return 0


def _corrupted(journal: str, exc: Exception) -> InvalidInputError:
    return InvalidInputError(f"journal {journal!r} is corrupted: {type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]}")


def _status(args: argparse.Namespace) -> int:
    from act_bench.live import journal_status

    try:
        st = journal_status(args.journal)
    except InvalidInputError:
        raise
    except (sqlite3.DatabaseError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # bad rows
        raise _corrupted(args.journal, exc) from None
    if args.json:
        emit(st, True)
        return 0
    best = st["best"]
    lines = [(f"journal {st['journal']}: searcher {st['searcher']} (seed {st['seed']}), recipe {st['recipe']}, "
              f"spaces {', '.join(st['spaces'] or [])}"),
             (f"candidates {st['candidates']} ({st['unique']} unique), FIM features {st['with_features']} "
              f"({st['valid_features']} valid)"),
             (f"evaluated {st['evaluated']}/{st['budget']}, running {st['running']}, failed {st['failed']}, "
              f"diverged {st['diverged']}, driver {'running' if st['driver_alive'] else 'not running'}"),
             (f"best: {best['function']} val_accuracy {best['val_accuracy']:.4f} test_accuracy "
              f"{best['test_accuracy']:.4f}") if best else "best: none yet"]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _export(args: argparse.Namespace) -> int:
    from act_bench.live import export_table

    check_output(args.out, "--out", folder=True)
    try:
        table = export_table(args.journal, args.out)
    except InvalidInputError:
        raise
    except (sqlite3.DatabaseError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # bad rows
        raise _corrupted(args.journal, exc) from None
    functions = table.to_pandas("functions")
    result = {"out": str(Path(args.out).resolve()), "functions": len(functions), "runs": len(functions)}
    emit(result, args.json, f"wrote {result['functions']} functions to {result['out']}")
    return 0

