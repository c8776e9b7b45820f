"""``act-bench recipes ...``: list and show the training recipes (paper Table 4 as data files)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    recipes = sub.add_parser("recipes", help="training recipes: list and show",
                             description="Training recipes (one per benchmark table; the paper's Table 4 as YAML "
                                         "data files in data_builders/recipes/).")
    rsub = recipes.add_subparsers(dest="recipes_command", metavar="SUBCOMMAND")
    rsub.required = True

    p = rsub.add_parser("list", help="list the registered recipes",
                        description="List the registered recipes with their task, model, epochs and table.")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_list)

    p = rsub.add_parser("show", help="show one recipe in full",
                        description="Print every field of recipe NAME (a registered name or a path to a recipe "
                                    ".yaml file) as YAML, or as JSON with --json.")
    p.add_argument("name", metavar="NAME", help="recipe name (see 'act-bench recipes list') or a .yaml file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=_show)


def _list(args: argparse.Namespace) -> int:
    from act_bench.cli._common import emit
    from data_builders.recipes import get_recipe, list_recipes

    rows = []
    for name in list_recipes():
        r = get_recipe(name)
        rows.append({"name": r.name, "task": r.task, "model": r.model, "epochs": r.epochs,
                     "batch_size": r.batch_size, "optimizer": r.optimizer.name, "seeds": r.seeds,
                     "gpus_per_run": r.gpus_per_run, "table": r.table})
    header = ("name", "task", "model", "epochs", "optimizer", "seeds", "table")
    widths = [max(len(str(h)), *(len(str(row[h])) for row in rows)) for h in header]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(row[h]).ljust(w) for h, w in zip(header, widths)).rstrip() for row in rows]
    emit({"recipes": rows}, args.json, "\n".join(lines))
    return 0


def _show(args: argparse.Namespace) -> int:
    import yaml

    from act_bench.cli._common import emit
    from data_builders.recipes import get_recipe

    recipe = get_recipe(args.name)
    data = recipe.to_dict()
    emit(data, args.json, yaml.safe_dump(data, sort_keys=False))
    return 0
