"""``act-bench replay`` (searchers against a table) and ``act-bench plot map|eigenvalues`` (figures)."""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from act_bench.cli._common import ArgumentParser, IntRange, check_output, emit, seed_int
from act_bench.cli._options import add_budget, add_functions, add_jobs, add_seeds, add_table, add_workers
from act_bench.errors import InvalidInputError

__all__ = ["register"]

_int_at_least_2 = IntRange(2, 1000)


def _load(table: str):
    from act_bench.interop import load_table

    return load_table(table)


def _table_name(table, arg: str) -> str:
    return getattr(table, "name", None) or arg


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))


def _ci_text(block: dict) -> str:
    return f"{_fmt(block['median'])} [{_fmt(block['ci95'][0])}, {_fmt(block['ci95'][1])}]"


def _setup_line(summary: dict, budget: str) -> str:
    """Seeds, budget, workers, what the searchers observe and what they are scored on."""
    observe = summary.get("observe", "median")
    told = "the median of the paper's seeds" if observe == "median" else "one run per function, drawn per seed"
    return (f"{summary['seeds']} seeds x {budget}, {summary['workers']} worker(s); searchers observe {observe} "
            f"({told}); scored on each function's best estimate (mean of all runs of its twin group)")


def _human(summary: dict) -> str:
    ref = summary["reference"]
    head = (f"table {summary['table']}: {summary['n_functions']} functions, best val_accuracy "
            f"{ref['best_val_accuracy']:.4f}, top-1% threshold {ref['top1pct_threshold']:.4f}, "
            f"best of the {ref.get('n_baselines', 0)} baselines {_fmt(ref.get('best_baseline_val_accuracy'))}, "
            f"ReLU {_fmt(ref['relu_val_accuracy'])}")
    cols = (f"{'algorithm':<34}{'top-1%: median [95% CI]':<26}{'found':>7}{'beat base: median [CI]':>26}"
            f"{'final val':>11}{'final test':>12}{'seconds':>9}  CI over")
    lines = [head, _setup_line(summary, f"{summary['evals']} evaluations"), cols]
    baselines = set(summary.get("baselines", []))
    for name, a in summary["algorithms"].items():
        t1 = a["evals_to_top1pct"]
        label = name + (" (baseline)" if name in baselines else "")
        ci = a.get("ci", {})
        unit = {"run": "runs", "map": f"{ci.get('maps')} maps", "runs-on-one-map": "runs, 1 map"}.get(
            ci.get("unit"), "-")
        lines.append(f"{label:<34}{_ci_text(t1):<26}{t1['found_fraction']:>7.2f}"
                     f"{_ci_text(a['evals_to_beat_baselines']):>26}{a['final_val_accuracy']:>11.4f}"
                     f"{a['final_test_accuracy']:>12.4f}{a['seconds']:>9.1f}  {unit}")
    exact = summary.get("exact_random") or {}
    if exact:
        lines.append("exact random search (order statistics, baselines first): top-1% median [2.5%, 97.5% "
                     "quantiles], mean, P(found within the budget); beat base median")
        for name, e in exact.items():
            t1, q = e["evals_to_top1pct"], e["evals_to_top1pct"]["quantiles"]
            bb = e.get("evals_to_beat_baselines", {}).get("median")
            lines.append(f"  {name:<32}{_fmt(t1['median'])} [{_fmt(q['2.5%'])}, {_fmt(q['97.5%'])}], mean "
                         f"{_fmt(t1['mean'])}, P(found) {t1['found_within_budget']:.2f}; beat base {_fmt(bb)}")
    lines.append("('-': not reached within the budget in enough runs, or too few seeds for a 95% bound; 'beat "
                 "base': evaluations after the baselines until the best baseline is beaten; CI over: the "
                 "independent unit of the CI, see docs/searchers.md)")
    return "\n".join(lines)


class _Phases:
    """The progress bars of one table's replay on stderr, one per phase, labelled with it: ``maps <table>`` (the
    UMAP maps computed before the replays, counted in maps) then ``replay <table>`` (algorithms done); ``prefix``
    numbers the table in a multi-table replay. tqdm's ETAs come from the measured rates. Each bar shows after 1 s,
    so an argument error caught at once leaves one line and no bar."""

    def __init__(self, table: str, n_algorithms: int, prefix: str = "") -> None:
        self.table, self.n_algorithms, self.prefix = table, n_algorithms, prefix
        self.maps_bar = self.replay_bar = None

    def maps(self, done: int, total: int) -> None:
        from act_bench._progress import progress_bar

        if self.maps_bar is None:
            self.maps_bar = progress_bar(total=total, desc=f"{self.prefix}maps {self.table}", unit="map", delay=1.0)
        self.maps_bar.update(done - self.maps_bar.n)
        if done >= total:
            self.maps_bar.close()

    def algorithm(self, name: str, res) -> None:
        from act_bench._progress import progress_bar

        if self.replay_bar is None:
            if self.maps_bar is not None:
                self.maps_bar.close()
            self.replay_bar = progress_bar(total=self.n_algorithms, desc=f"{self.prefix}replay {self.table}",
                                           unit="algorithm", delay=1.0)
        self.replay_bar.update(1)
        self.replay_bar.set_postfix_str(f"{name} {res.seconds:.1f} s")

    def close(self) -> None:
        for bar in (self.maps_bar, self.replay_bar):
            if bar is not None:
                bar.close()


def _cmd_replay(args: argparse.Namespace) -> int:
    if args.budget is not None and args.time_budget is not None:
        raise InvalidInputError("--budget and --time-budget exclude each other (a budget in evaluations, or in "
                                "simulated seconds)")
    if args.budget is None and args.time_budget is None:
        args.budget = 100
    if args.scheduler is not None or args.time_budget is not None or "," in args.table:
        return _cmd_replay_suite(args)
    return _cmd_replay_one(args)


def _cmd_replay_one(args: argparse.Namespace) -> int:
    from act_bench.search import list_searchers, searcher_info
    from evaluation import fair_baselines, replay, write_summary

    algos = [a.strip() for a in args.algorithms.split(",")]
    if args.maps is not None and args.embedding_seed is not None:
        raise InvalidInputError("--maps and --embedding-seed exclude each other (one shared map, or N maps)")
    out = Path(args.out) if args.out else None
    if out is not None:
        check_output(out, "--out", folder=True)
    table = _load(args.table)
    kwargs = {}
    for a in algos:
        if a in list_searchers() and searcher_info(a).uses_map:
            kwargs[a] = {"embedding_seed": args.embedding_seed, "n_maps": args.maps, "cache_dir": args.cache_dir}

    n_baselines = len([b for b in fair_baselines([a for a in algos if a in list_searchers()]) if b not in algos])
    phases = _Phases(_table_name(table, args.table), len(algos) + n_baselines)
    try:
        run = replay({_table_name(table, args.table): table}, algos, budget=args.budget, seeds=args.seeds,
                     workers=args.workers, jobs=args.jobs, searcher_kwargs=kwargs, baselines=True,
                     progress=phases.algorithm, observe=args.observe, map_progress=phases.maps)
        summary = run.summary()
        if out is not None:
            run.write_figures(out)
    finally:
        phases.close()
    summary["embedding"] = {"shared_seed": args.embedding_seed, "n_maps": args.maps,
                            "per_run_seed": args.embedding_seed is None and args.maps is None}
    if out is not None:
        write_summary(summary, out / "summary.json")
    emit(summary, args.json, _human(summary))
    return 0


def _check_png(out: str) -> None:
    """Refuse a non-PNG output path before any table is loaded."""
    if not out.lower().endswith(".png"):
        raise InvalidInputError(f"--out {out!r}: plots are written as PNG; the file name must end in .png")


_SAFE = re.compile(r"^[\w.-]+$")


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0 and <= 1e12, got {text[:40]!r}") from None
    if not (math.isfinite(value) and 0 < value <= 1e12):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0 and <= 1e12, got {text[:40]!r}")
    return value


def _one_table_suite(table, name: str, args: argparse.Namespace, algos: list[str], kwargs: dict,
                     out: Path | None, phases: _Phases) -> tuple[dict, dict]:
    """One table of ``replay --scheduler/--time-budget/--table A,B``: the plain replay for ``--scheduler none``
    with ``--budget`` (so results equal ``replay`` without these options), the scheduled replay otherwise."""
    from evaluation import replay, simulated_seconds

    scheduler = args.scheduler or "none"
    full = scheduler == "none" and args.time_budget is None
    run = replay({name: table}, algos, budget=args.budget, seeds=args.seeds, workers=args.workers, jobs=args.jobs,
                 scheduler=None if full else scheduler, time_budget=args.time_budget, eta=args.eta,
                 min_epochs=args.min_epochs, searcher_kwargs=kwargs, baselines=True, progress=phases.algorithm,
                 observe=args.observe, map_progress=phases.maps)
    summary, results = run.summary(), run.results[name]
    if out is not None:
        run.write_figures(out)
    if full:
        summary["scheduler"] = {"name": "none", "eta": args.eta, "min_epochs": args.min_epochs}
        summary["time_budget"] = None
        for a, res in results.items():
            summary["algorithms"][a]["simulated_seconds"] = simulated_seconds(res)
    return summary, results


def _human_suite(summary: dict) -> str:
    lines = []
    for s in summary["tables"].values():
        text = _human(dict(s, evals=s["evals"] or 0)).split("\n")
        if s["evals"] is None:
            text[1] = _setup_line(s, f"{s['time_budget']:g} simulated seconds")
        lines.extend(text)
        sched = s["scheduler"]
        if sched["name"] != "none" or s["evals"] is None:   # a scheduler or a time budget was asked for
            lines.append(f"scheduler {sched['name']} (eta {sched['eta']}, min epochs {sched['min_epochs']}); "
                         "simulated seconds used per run (mean / max):")
            for a, blk in s["algorithms"].items():
                sec = blk["simulated_seconds"]
                lines.append(f"  {a:<32}{sec['mean']:>12.1f}{sec['max']:>12.1f}")
        lines.append("")
    ranks = summary["ranks"]
    lines.append(f"average rank over {len(summary['tables'])} table(s) by {summary['rank_by']} "
                 f"(95% bootstrap CI over {ranks.get('ci_over', 'seeds')}, {ranks['n_boot']} resamples):")
    for a, r in sorted(ranks["algorithms"].items(), key=lambda kv: kv[1]["mean_rank"]):
        lines.append(f"  {a:<32}{r['mean_rank']:>7.2f}  [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]")
    for dup, kept in (ranks.get("same_pool") or {}).items():
        lines.append(f"  ({dup} draws from the same functions as {kept} on every table: ranked once, as {kept})")
    return "\n".join(lines)


def _cmd_replay_suite(args: argparse.Namespace) -> int:
    """``replay`` over one or several tables (``--table A,B,C``) with a scheduler or a simulated-time budget; reports
    per-table results and each algorithm's average rank across the tables."""
    from act_bench.search import CandidateSet, list_searchers, searcher_info
    from act_bench.space import BASELINE_FUNCTIONS
    from evaluation import (
        RANK_METRICS,
        TableOracle,
        TableReference,
        average_ranks,
        fair_baselines,
        learning_curves,
        per_seed_scores,
        same_pools,
        seed_clusters,
        write_summary,
    )

    algos = [a.strip() for a in args.algorithms.split(",")]
    if args.maps is not None and args.embedding_seed is not None:
        raise InvalidInputError("--maps and --embedding-seed exclude each other (one shared map, or N maps)")
    names = [t.strip() for t in args.table.split(",")]
    if any(not t for t in names) or len(set(names)) != len(names):
        raise InvalidInputError(f"--table must list distinct tables separated by commas; got {args.table!r}")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out must be a directory; {str(out)!r} is a file")
    tables = [_load(t) for t in names]  # every table is checked before any replay starts
    if args.scheduler in ("sh", "asha"):
        for arg, table in zip(names, tables):
            try:
                learning_curves(table)
            except InvalidInputError as exc:
                raise InvalidInputError(f"table {_table_name(table, arg)!r}: {exc}") from None
    kwargs = {a: {"embedding_seed": args.embedding_seed, "n_maps": args.maps, "cache_dir": args.cache_dir}
              for a in algos if a in list_searchers() and searcher_info(a).uses_map}

    per_table: dict[str, dict] = {}
    scores: dict[str, dict] = {}
    clusters: dict[str, object] = {}
    candidate_sets = []
    for i, (arg, table) in enumerate(zip(names, tables)):
        label = _table_name(table, arg)
        if label in per_table:
            label = f"{label} ({arg})"
        sub = None
        if out is not None:
            sub = out / (label if _SAFE.match(label) and len(tables) > 1 else f"table-{i}") if len(tables) > 1 \
                else out
        known = [a for a in algos if a in list_searchers()]   # replay() names unknown ones in its error
        n_algos = len(algos) + len([b for b in fair_baselines(known) if b not in algos])
        phases = _Phases(label, n_algos, prefix=f"[{i + 1}/{len(tables)}] " if len(tables) > 1 else "")
        try:
            summary, results = _one_table_suite(table, label, args, algos, kwargs, sub, phases)
        finally:
            phases.close()
        per_table[label] = summary
        cands = CandidateSet.from_table(table)
        candidate_sets.append(cands)
        ref = TableReference.from_oracle(TableOracle.from_table(table), cands.index_of("relu(x)"),
                                         cands.indices_of(BASELINE_FUNCTIONS))
        scores[label] = {a: per_seed_scores(results[a], ref, args.rank_by) for a in summary["algorithms"]}
        clusters[label] = seed_clusters(results)
    # a pool that is the same functions as another's on every table is one baseline: ranked once
    aliases = same_pools(candidate_sets, list(next(iter(scores.values()))))
    scores = {t: {a: v for a, v in sc.items() if a not in aliases} for t, sc in scores.items()}
    ranks = average_ranks(scores, higher_is_better=RANK_METRICS[args.rank_by], n_boot=args.bootstrap,
                          clusters=clusters)
    ranks["same_pool"] = aliases
    summary = {"tables": per_table, "rank_by": args.rank_by, "ranks": ranks,
               "embedding": {"shared_seed": args.embedding_seed, "n_maps": args.maps,
                             "per_run_seed": args.embedding_seed is None and args.maps is None}}
    if out is not None:
        write_summary(summary, out / "summary.json")
    emit(summary, args.json, _human_suite(summary))
    return 0


def _cmd_plot_map(args: argparse.Namespace) -> int:
    from evaluation import map_figure

    _check_png(args.out)
    check_output(args.out, "--out", folder=False)
    path, points = map_figure(_load(args.table), args.features, args.out, seed=args.seed, cache_dir=args.cache_dir)
    feats = ["fim", "outputs", "both"] if args.features == "all" else [args.features]
    emit({"out": str(path), "features": feats, "points": points}, args.json, f"wrote {path}")
    return 0


def _cmd_plot_eigen(args: argparse.Namespace) -> int:
    from evaluation import eigenvalue_figure

    _check_png(args.out)
    names = [f.strip() for f in args.functions.split(";") if f.strip()] if args.functions else None
    check_output(args.out, "--out", folder=False)
    path, functions = eigenvalue_figure(_load(args.table), args.out, names)
    emit({"out": str(path), "functions": functions}, args.json, f"wrote {path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("replay", help="replay searchers against a benchmark table (the table is the oracle)",
                              description="Replay search algorithms against a benchmark table for many seeds and "
                                          "report best-so-far curves, evaluations to the top 1%/5% and, after "
                                          "the baselines, to beat the best baseline, and surrogate quality. "
                                          "Algorithms: random, evolution, and REGRESSOR:FEATURES with REGRESSOR in "
                                          "knr, rfr, svr, gpr and FEATURES in fim, outputs, both (e.g. knr:both). "
                                          "The fair baselines are always added: random search over all functions "
                                          "and within each pool a surrogate chooses from (random:fim-valid, "
                                          "random:finite-outputs, random:both-valid), with the exact "
                                          "order-statistics values of random search beside the simulated ones.")
    add_table(p, help="table name, folder or Hub id; several separated by commas (e.g. the MNIST-1D suite "
                      "act-bench-mnist1d,act-bench-mnist1d-resnet,act-bench-mnist1d-vit) run the same algorithms "
                      "on each and add average ranks")
    p.add_argument("--algorithms", default="random,knr:both,rfr:both,svr:both",
                   help="comma-separated searcher names (default: %(default)s)")
    add_budget(p, dest="budget", evals_alias=True,
               help="function evaluations per search (default: 100 unless --time-budget is given)")
    add_seeds(p, default=100, help="replayed searches per algorithm, seeds 0..N-1 (default: %(default)s)")
    add_workers(p, help="evaluations in flight, simulated from the table's runtimes (default: %(default)s)")
    add_jobs(p, help="local processes for the UMAP maps and the seeds (default: %(default)s); with --scheduler "
                     "sh|asha or --time-budget the maps are computed over them and the scheduled replays run in "
                     "one process")
    p.add_argument("--embedding-seed", type=seed_int, default=None,
                   help="one UMAP seed shared by all runs (default: each run's seed, i.e. one map per seed, "
                        "computed once and cached)")
    p.add_argument("--maps", type=IntRange(1, 10_000), default=None,
                   help="without --embedding-seed: only N distinct UMAP maps, run s uses map s %% N")
    p.add_argument("--cache-dir", default=None, help="embedding cache (default: $ACT_BENCH_CACHE or "
                                                     "~/.cache/act-bench)")
    p.add_argument("--out", default=None, help="directory for summary.json and the PNG figures")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--scheduler", choices=("none", "sh", "asha"), default=None,
                   help="multi-fidelity scheduler applied to every algorithm, stopping runs early on the table's "
                        "recorded per-epoch curves: sh (synchronous successive halving), asha (asynchronous), none "
                        "(every run trains all epochs); the summary then gives each algorithm's simulated seconds")
    p.add_argument("--time-budget", type=_positive_seconds, default=None, metavar="SECONDS",
                   help="simulated seconds per search, from the recorded training times (instead of --budget); a number > 0 "
                        "and <= 1e12")
    p.add_argument("--eta", type=_int_at_least_2, default=3,
                   help="successive-halving reduction factor (default: %(default)s)")
    p.add_argument("--min-epochs", type=IntRange(1, 100_000), default=1,
                   help="epochs of the lowest rung (default: %(default)s)")
    p.add_argument("--observe", choices=("median", "run"), default="median",
                   help="what an evaluation tells the searcher: median (the paper's protocol: the median of the "
                        "paper's seeds) or run (one run of the function, drawn per replay seed and function from all "
                        "its runs, as a real search sees it; multi-fidelity replays observe its curve); scores are "
                        "always each function's best estimate, the mean of all runs of its twin group "
                        "(default: %(default)s)")
    p.add_argument("--rank-by", choices=("evals_to_top1pct", "final_val_accuracy"), default="evals_to_top1pct",
                   help="per-seed score ranking the algorithms on each table (default: %(default)s)")
    p.add_argument("--bootstrap", type=IntRange(1, 1_000_000), default=1000,
                   help="bootstrap resamples of the average-rank CIs (default: %(default)s)")
    p.set_defaults(func=_cmd_replay)

    plot = subparsers.add_parser("plot", help="figures of a benchmark table (UMAP maps, eigenvalue distributions)",
                                 description="Draw a figure of a benchmark table as a PNG file: 'map' (2-D UMAP "
                                             "maps coloured by validation accuracy, paper Fig. 4) or 'eigenvalues' "
                                             "(FIM log-eigenvalue distributions, paper Fig. 5).")
    psub = plot.add_subparsers(dest="plot_command", metavar="FIGURE", parser_class=ArgumentParser)
    psub.required = True
    m = psub.add_parser("map", help="2-D UMAP map coloured by validation accuracy (paper Fig. 4)",
                        description="Embed the table's functions with UMAP (FIM CDFs: manhattan, n_neighbors=3; "
                                    "outputs: euclidean, n_neighbors=15; both: their union) and colour each point by "
                                    "its median validation accuracy; ReLU, Swish and the best function are marked.")
    add_table(m)
    m.add_argument("--features", choices=("fim", "outputs", "both", "all"), default="both",
                   help="which embedding to draw; 'all' draws the three side by side (default: %(default)s)")
    m.add_argument("--seed", type=seed_int, default=0, help="UMAP seed (default: %(default)s)")
    m.add_argument("--cache-dir", default=None,
                   help="embedding cache (default: $ACT_BENCH_CACHE or ~/.cache/act-bench)")
    m.add_argument("--out", required=True, help="output PNG file")
    m.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    m.set_defaults(func=_cmd_plot_map)
    e = psub.add_parser("eigenvalues", help="FIM eigenvalue distributions from the CDF features (paper Fig. 5)",
                        description="Draw the per-layer FIM log-eigenvalue densities recovered from the table's CDF "
                                    "features for a few functions.")
    add_table(e)
    add_functions(e, help="';'-separated functions (default: the 3 best, relu(x) and tanh(x))")
    e.add_argument("--out", required=True, help="output PNG file")
    e.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    e.set_defaults(func=_cmd_plot_eigen)
