"""``act-bench demo``: the shipped MNIST-1D table, a summary, random vs surrogate search, figures and a report."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from act_bench._io import atomic_write_text
from act_bench.cli._common import check_output, emit
from act_bench.cli._options import add_budget, add_seeds, add_table
from act_bench.errors import InvalidInputError

DEFAULT_TABLE = "act-bench-mnist1d"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="tour of the shipped table: summary, random vs surrogate search, figures, report",
        description="Load the shipped act-bench-mnist1d table (no network, no GPU), print a summary (best function, "
                    "ReLU, accuracy distribution), replay random search against the paper's surrogate search "
                    "(KNR on the union UMAP of FIM eigenvalues and function outputs), and write Fig. 4/5/7-style "
                    "PNGs and a markdown report to --out. The report ends with the MNIST-1D suite (CNN, ResNet and ViT "
                    "tables): which are built here and the command that replays searchers across them.")
    add_table(p, required=False, default=DEFAULT_TABLE, help="table name, folder or Hub id (default: %(default)s)")
    p.add_argument("--out", default="act-bench-demo", help="output folder (default: ./%(default)s)")
    p.add_argument("--algorithms", default="random,knr:both",
                   help="comma-separated searchers to compare (default: %(default)s)")
    add_seeds(p, default=20, help="replayed searches per searcher, seeds 0..N-1 (default: %(default)s)")
    add_budget(p, dest="budget", default=50, evals_alias=True,
               help="function evaluations per replayed search (default: %(default)s)")
    p.add_argument("--observe", choices=("both", "median", "run"), default="both",
                   help="what an evaluation tells the searchers: the median of the paper's seeds (the paper's "
                        "protocol), one drawn run (what a real search sees), or both side by side (default: "
                        "%(default)s); scores are the table's best estimates either way")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_demo)


def suite_text(table_name: str, built: set[str] | None = None) -> str:
    """What the demo says about the MNIST-1D suite: its three tables, which are built here (``built``, default: the
    shipped tables found by :func:`act_bench.tables.list_tables`) and the cross-table replay."""
    from act_bench.tables import SUITE_TABLES, list_tables

    built = set(list_tables()) if built is None else set(built)
    families = dict(zip(SUITE_TABLES, ("CNN", "ResNet", "ViT"), strict=True))
    listed = ", ".join(f"`{n}` ({families[n]}{'' if n in built else ', not built here'})" for n in SUITE_TABLES)
    where = "one of" if table_name in SUITE_TABLES else "not one of"
    text = (f"This table is {where} the three tables of the MNIST-1D suite, the paper's three architecture families "
            f"at MNIST-1D scale: {listed}. ")
    if built >= set(SUITE_TABLES):
        text += ("Replay searchers on all three and rank them across tables (average rank with a 95 % CI): "
                 f"`act-bench replay --table {','.join(SUITE_TABLES)} --algorithms random,knr:both`.")
    else:
        missing = [n for n in SUITE_TABLES if n not in built]
        text += ("Build the missing ones with " + "; ".join(f"`act-bench build --recipe {n} --out data/{n} "
                                                           "--jobs 2`" for n in missing)
                 + f", then replay searchers across the suite: `act-bench replay --table {','.join(SUITE_TABLES)}`.")
    return text + " The cross-architecture study is in docs/suite.md."


def _summary(table) -> dict:
    from act_bench.tables import SUITE_TABLES, best_groups, group_ranking, list_tables

    shipped = set(list_tables())
    df = table.to_pandas("functions")
    val = df["val_accuracy"].to_numpy(dtype=float)
    ok = np.isfinite(val)
    ranking = group_ranking(table)  # twin groups counted once, ties shown
    top = best_groups(ranking)
    best = df.iloc[table.index_of(top.functions[0])]
    try:
        relu = table.query("relu(x)")
        relu_block = {"function": str(relu["function"]), "val_accuracy": float(relu["val_accuracy"]),
                      "test_accuracy": float(relu["test_accuracy"])}
        group = int(df["twin_group"].iloc[table.index_of("relu(x)")])
        relu_block["rank"] = int(ranking.loc[ranking["twin_group"] == group, "rank"].iloc[0])
    except InvalidInputError:
        relu_block = None
    q = np.quantile(val[ok], [0.1, 0.25, 0.5, 0.75, 0.9]) if ok.any() else [np.nan] * 5
    return {
        "table": table.name, "functions": len(df), "runs": len(table.to_pandas("runs")),
        "complete": bool(table.metadata.get("build", {}).get("complete", True)),
        "best": {"function": str(best["function"]), "val_accuracy": float(top.value),
                 "test_accuracy": float(best["test_accuracy"]), "ties": top.ties, "tied": list(top.functions)},
        "twin_groups": len(ranking),
        "relu": relu_block,
        "val_accuracy_quantiles": {"p10": float(q[0]), "p25": float(q[1]), "median": float(q[2]),
                                   "p75": float(q[3]), "p90": float(q[4])},
        "diverged_fraction": float((df["status"] == "diverged").mean()),
        "fim_valid_fraction": float(df["fim_valid"].mean()),
        "suite": {"tables": list(SUITE_TABLES), "built": [n for n in SUITE_TABLES if n in shipped]},
    }


def _best_text(best: dict, *, code: bool = True) -> str:
    """``f`` or ``one of 17 tied: f, g, h, ...`` (markdown code spans with ``code``)."""
    q = (lambda f: f"`{f}`") if code else (lambda f: f)
    if best["ties"] == 1:
        return q(best["function"])
    return (f"one of {best['ties']} tied: " + ", ".join(map(q, best["tied"][:3]))
            + (", ..." if best["ties"] > 3 else ""))


#: What each observation model tells the searchers (the report's section headings).
OBSERVE_TEXT = {"median": "the paper's protocol: each evaluation tells the searcher the median of the paper's seeds",
                "run": "what a real search sees: each evaluation tells the searcher one run of the function"}


def _protocols(args: argparse.Namespace) -> tuple[str, ...]:
    return ("median", "run") if args.observe == "both" else (args.observe,)


def _report(summary: dict, replays: dict[str, dict], figures: dict[str, str], seconds: float) -> str:
    s = summary
    lines = [f"# act-bench demo: {s['table']}", "",
             (f"{s['functions']} unique activation functions ({s['runs']} training runs"
             f"{'' if s['complete'] else '; the shipped build is partial, a uniform sample of the space'})."), "",
             "## The table", "",
             (f"* best (twin groups counted once): {_best_text(s['best'])} — validation accuracy "
              f"{s['best']['val_accuracy']:.4f}, test {s['best']['test_accuracy']:.4f}")]
    if s["relu"]:
        lines.append(f"* ReLU (`{s['relu']['function']}`): validation {s['relu']['val_accuracy']:.4f}, test "
                     f"{s['relu']['test_accuracy']:.4f}, rank {s['relu']['rank']} of {s['twin_groups']} twin groups")
    q = s["val_accuracy_quantiles"]
    lines += [(f"* validation accuracy quantiles: 10% {q['p10']:.3f}, 25% {q['p25']:.3f}, median {q['median']:.3f}, "
              f"75% {q['p75']:.3f}, 90% {q['p90']:.3f}"),
              (f"* diverged: {100 * s['diverged_fraction']:.1f}% of functions; valid FIM features: "
              f"{100 * s['fim_valid_fraction']:.1f}%")]
    def fmt(v, missing: str = "–") -> str:
        return missing if v is None else f"{v:g}"

    from evaluation import fair_verdicts

    for observe, replay in replays.items():
        lines += ["", (f"## Search replayed against the table, `--observe {observe}` ({replay['seeds']} seeds x "
                       f"{replay['evals']} evaluations)"), "",
                  (f"{OBSERVE_TEXT[observe][0].upper()}{OBSERVE_TEXT[observe][1:]}; every score is the table's "
                   "best estimate (the all-run mean of the function's twin group)."), "",
                  ("| searcher | evaluations to top-1% (median [95% CI]) | found | after the baselines, to beat the "
                   "best one | final val | final test |"),
                  "|---|---|---|---|---|---|"]
        baselines = set(replay.get("baselines", []))
        for name, a in replay["algorithms"].items():
            t1, bb = a["evals_to_top1pct"], a["evals_to_beat_baselines"]
            label = f"{name} (fair baseline)" if name in baselines else name
            lines.append(f"| {label} | {fmt(t1['median'], 'not reached')} [{fmt(t1['ci95'][0])}, "
                         f"{fmt(t1['ci95'][1])}] | {t1['found_fraction']:.2f} | {fmt(bb['median'], 'not reached')} | "
                         f"{a['final_val_accuracy']:.4f} | {a['final_test_accuracy']:.4f} |")
        v = fair_verdicts(replay["algorithms"])
        names = lambda xs: ", ".join(f"`{x}`" for x in xs) or "none"
        lines += ["", (f"Against its fair baseline (random search over the same pool), 95 % CIs disjoint: better "
                       f"{names(v['beats'])}; worse {names(v['loses'])}; not resolved {names(v['unresolved'])}.")]
    replay = next(iter(replays.values()))
    exact = replay.get("exact_random") or {}
    if exact:
        lines += ["", ("Exact random search (order statistics: the baselines first, then uniform sampling without "
                  "replacement from the pool), evaluations to top-1%:"), "",
                  "| random search | median [2.5%, 97.5% quantiles] | mean | P(found within budget) |", "|---|---|---|---|"]
        for name, e in exact.items():
            t1 = e["evals_to_top1pct"]
            lines.append(f"| {name} | {fmt(t1['median'])} [{fmt(t1['quantiles']['2.5%'])}, "
                         f"{fmt(t1['quantiles']['97.5%'])}] | {t1['mean']:.1f} | {t1['found_within_budget']:.2f} |")
    cis = sorted({f"{n}: {a['ci']['method']}" for n, a in replay["algorithms"].items() if a["ci"]["maps"]})
    lines += ["", ("\"evaluations to top-1%\": evaluations until the best validation accuracy found reaches the table's "
              "top 1% (median over seeds, \"not reached\" when most seeds did not get there within the budget); a CI "
              "bound is \"–\" when too few seeds reached it, or there are too few seeds, for a 95% bound. The 8 "
              "baseline functions are evaluated first by every searcher. `random:fim-valid` etc. choose only among "
              "the functions the surrogates on that feature set may choose (the fair comparison).")]
    if cis:
        lines += ["", "Confidence intervals: " + "; ".join(cis) + "."]
    lines += ["", "## The MNIST-1D suite", "", suite_text(s["table"], s["suite"]["built"]), ""]
    lines += ["## Figures", ""]
    for title, path in figures.items():
        lines += [f"### {title}", "", f"![{title}]({Path(path).name})", ""]
    lines.append(f"Made by `act-bench demo` in {seconds:.0f} s.")
    return "\n".join(lines) + "\n"


def _demo(args: argparse.Namespace) -> int:
    from act_bench.interop import load_table
    from act_bench.search import searcher_info

    start = time.perf_counter()
    out = Path(args.out)
    check_output(out, "--out", folder=True)
    algos = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    if not algos:
        raise InvalidInputError("--algorithms lists no searcher")
    for a in algos:  # before anything is loaded or written
        try:
            searcher_info(a)
        except InvalidInputError as exc:
            raise InvalidInputError(f"--algorithms: {exc}") from None
    table = load_table(args.table)
    summary = _summary(table)
    def say(text: str) -> None:  # the summary is the command's output: stdout (with --json, the JSON is)
        if not args.json:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    s = summary
    say(f"{s['table']}: {s['functions']} functions, {s['runs']} runs{'' if s['complete'] else ' (partial build)'}")
    say(f"best: {_best_text(s['best'], code=False)}  val {s['best']['val_accuracy']:.4f}  "
        f"test {s['best']['test_accuracy']:.4f}")
    if s["relu"]:
        say(f"ReLU: val {s['relu']['val_accuracy']:.4f}  test {s['relu']['test_accuracy']:.4f}  "
            f"(rank {s['relu']['rank']} of {s['twin_groups']} twin groups)")
    q = s["val_accuracy_quantiles"]
    say(f"val accuracy: 10% {q['p10']:.3f} | 25% {q['p25']:.3f} | median {q['median']:.3f} | 75% {q['p75']:.3f} "
        f"| 90% {q['p90']:.3f}; diverged {100 * s['diverged_fraction']:.1f}%")
    say(suite_text(s["table"], s["suite"]["built"]).replace("`", ""))
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _demo_into(args, out, table, algos, summary, start)
    except BaseException:
        if created:  # nothing half-written: a folder this run created goes when it fails
            shutil.rmtree(out, ignore_errors=True)
        raise


def _demo_into(args: argparse.Namespace, out: Path, table, algos: list[str], summary: dict, start: float) -> int:
    from act_bench._cache import default_cache_dir
    from act_bench._progress import progress_bar
    from act_bench.search import searcher_info
    from evaluation import eigenvalue_figure, fair_baselines, map_figure, replay, write_summary

    s = summary
    added = [b for b in fair_baselines(algos) if b not in algos]
    kwargs = {a: {"embedding_seed": 0} for a in algos if searcher_info(a).uses_map}
    if kwargs:
        sys.stderr.write(f"UMAP maps of the table are cached in {default_cache_dir() / 'embeddings'} (the first run "
                         f"computes them; set ACT_BENCH_CACHE to move the cache)\n")
    protocols = _protocols(args)
    steps = progress_bar(total=len(protocols) * (len(algos) + len(added)) + 2, desc="demo", unit="step")
    replays: dict[str, dict] = {}
    figures = {}
    for observe in protocols:
        def progress(name, res, observe=observe):
            steps.update(1)
            steps.set_postfix_str(f"{name} (observe {observe})")

        suffix = "" if observe == "median" else f"_observe_{observe}"
        run = replay({s["table"]: table}, algos, budget=args.budget, seeds=args.seeds, searcher_kwargs=kwargs,
                     baselines=True, progress=progress, observe=observe)
        replays[observe] = run.summary()
        run.write_figures(out, stem=f"search_curves{suffix}")
        write_summary(replays[observe], out / f"summary{suffix}.json")
        figures[f"Search curves, observe {observe} (Fig. 7 style)"] = str(out / f"search_curves{suffix}.png")
    path, _ = map_figure(table, "all", out / "umap_maps.png", seed=0)
    figures["UMAP maps coloured by validation accuracy (Fig. 4 style)"] = str(path)
    steps.update(1)
    path, _ = eigenvalue_figure(table, out / "eigenvalues.png")
    figures["FIM eigenvalue distributions (Fig. 5 style)"] = str(path)
    steps.update(1)
    steps.close()
    seconds = time.perf_counter() - start
    report = out / "report.md"
    atomic_write_text(report, _report(summary, replays, figures, seconds))
    result = {**summary, "replay": {observe: {name: {"evals_to_top1pct": a["evals_to_top1pct"],
                                                     "evals_to_beat_baselines": a["evals_to_beat_baselines"],
                                                     "final_test_accuracy": a["final_test_accuracy"],
                                                     "ci": a["ci"]["method"]}
                                              for name, a in replay["algorithms"].items()}
                                    for observe, replay in replays.items()},
              "exact_random": next(iter(replays.values())).get("exact_random"),
              "out": str(out.resolve()), "report": str(report.resolve()), "figures": list(figures.values()),
              "seconds": round(seconds, 1)}
    emit(result, args.json, f"wrote {report} and {len(figures)} figures to {out.resolve()}/ in {seconds:.0f} s")
    return 0
