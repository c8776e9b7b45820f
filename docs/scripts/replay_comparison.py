"""Replay comparison on the shipped table with the fair baselines, under both observation models; writes docs/data/replay_comparison.json and the
marked blocks of docs/searchers.md and docs/fidelity.md (every number there comes from this script).

Usage: python docs/scripts/replay_comparison.py [--jobs N] [--seeds 100] [--budget 100] [--maps 10]

All registry algorithms except ``gpr:*`` (a scikit-learn GP with hyperparameter fitting at every step, about 40x
slower) are replayed, plus the fair baselines (random search over all functions and within each surrogate's pool) and
the exact order-statistics values of random search. ``--check`` recomputes only the exact values and the markdown
from the committed JSON and fails if the docs differ (what ``tests/test_docs_replay_comparison.py`` runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from act_bench.search import list_searchers, searcher_info
from act_bench.space import BASELINE_FUNCTIONS
from act_bench.tables import load_table
from evaluation import (
    TableOracle,
    TableReference,
    exact_random_baselines,
    fair_verdicts,
    replay,
    write_summary,
)

TABLE = ROOT / "data" / "act-bench-mnist1d"
JSON_PATH = ROOT / "docs" / "data" / "replay_comparison.json"
DOCS = {"searchers": ROOT / "docs" / "searchers.md", "fidelity": ROOT / "docs" / "fidelity.md"}
BEGIN = "<!-- BEGIN replay_comparison (written by docs/scripts/replay_comparison.py; do not edit) -->"
END = "<!-- END replay_comparison -->"


def algorithms() -> list[str]:
    """``random``, ``evolution`` and the knr/rfr/svr surrogates on every feature set (registry order)."""
    names = [n for n in list_searchers() if searcher_info(n).kind in ("random", "evolution", "knr", "rfr", "svr")]
    return [n for n in names if not (searcher_info(n).kind == "random" and searcher_info(n).features)]


def _fmt(v) -> str:
    if v is None:
        return "–"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _ci(block: dict) -> str:
    return f"{_fmt(block['median'])} [{_fmt(block['ci95'][0])}, {_fmt(block['ci95'][1])}]"


def exact_block(summary: dict) -> dict:
    """The exact values, recomputed from the table (cheap: no replay)."""
    table = load_table(TABLE)
    from act_bench.search import CandidateSet

    cands = CandidateSet.from_table(table)
    oracle = TableOracle.from_table(table)
    ref = TableReference.from_oracle(oracle, cands.index_of("relu(x)"), cands.indices_of(BASELINE_FUNCTIONS))
    pools = [None] + [f for f in ("fim", "outputs", "both")
                      if any(searcher_info(a).features == f for a in summary["algorithms"])]
    return exact_random_baselines(cands, oracle, ref, pools, int(summary["evals"]))


def _protocol_table(summary: dict, algos: dict, observe: str) -> list[str]:
    """One protocol's table and its verdicts against the fair baselines."""
    lines = ["| algorithm | to top 1% | found | to beat the best baseline | found | final test | distinct trajectories |",
             "|---|---|---|---|---|---|---|"]
    for name, a in algos.items():
        t1, bb = a["evals_to_top1pct"], a["evals_to_beat_baselines"]
        label = f"{name} (fair baseline)" if name in summary["baselines"] or name == "random" else name
        lines.append(f"| {label} | {_ci(t1)} | {t1['found_fraction']:.2f} | {_ci(bb)} | {bb['found_fraction']:.2f} "
                     f"| {a['final_test_accuracy']:.4f} | {a['ci']['distinct_trajectories']} |")
    return lines + ["", verdict_text(algos, f"`{summary['table']}` under `--observe {observe}`")]


def markdown(summary: dict) -> str:
    ref = summary["reference"]
    algos = summary["algorithms"]
    maps = summary["embedding"]["n_maps"]
    any_ci = next(a["ci"] for a in algos.values() if a["ci"]["maps"])
    lines = [
        (f"Replay on the shipped `{summary['table']}` ({summary['n_functions']:,} functions, "
        f"{ref['n_finite']:,} with a finite accuracy; top 1% = validation accuracy ≥ {ref['top1pct_threshold']:g}; "
        f"best of the {ref['n_baselines']} baselines {ref['best_baseline_val_accuracy']:g}; ReLU "
        f"{ref['relu_val_accuracy']:g}), {summary['seeds']} seeds × {summary['evals']} evaluations, "
        f"{maps} UMAP maps per feature set (run s uses map s mod {maps}). Evaluations to the top 1% and, after the "
        f"{ref['n_baselines']} baselines, to beat the best baseline: median [95% CI] (fraction of runs that got "
        f"there). CIs of the surrogates: {any_ci['method']}; of the random searches and evolution: over the "
        f"{summary['seeds']} independent runs. Written by `docs/scripts/replay_comparison.py` "
        f"({summary['wall_seconds']:.0f} s wall-clock, `--jobs {summary['jobs']}`)."),
        "", ("Under `--observe median` (the paper's protocol: each evaluation tells the searcher the median validation "
             "accuracy of the paper's seeds; every score is the best estimate by twin group):"), "",
    ]
    lines += _protocol_table(summary, algos, "median")
    run = summary.get("observe_run")
    if run is not None:
        lines += ["", (f"The same replay under `--observe run` (the realistic protocol: each evaluation tells the "
                       f"searcher one run of the function, drawn per replay seed from all its runs, contender seeds "
                       f"included; scored on the same best estimates; {run['wall_seconds']:.0f} s wall-clock):"), ""]
        lines += _protocol_table(summary, run["algorithms"], "run")
    lines += ["", ("Exact random search (order statistics: the baselines first, then uniform sampling without "
              "replacement from the pool; no simulation): median [2.5%, 97.5% quantiles], mean, probability of "
              f"getting there within {summary['evals']} evaluations."), "",
              ("| random search | pool (after the baselines) | to top 1% | mean | P(found) | to beat the best baseline "
              "| mean | P(found) |"), "|---|---|---|---|---|---|---|---|"]
    for name, e in summary["exact_random"].items():
        t1, bb = e["evals_to_top1pct"], e["evals_to_beat_baselines"]
        q, qb = t1["quantiles"], bb["quantiles"]
        lines.append(f"| {name} | {t1['pool_size']:,} ({t1['hits_in_pool']} in the top 1%) | {_fmt(t1['median'])} "
                     f"[{_fmt(q['2.5%'])}, {_fmt(q['97.5%'])}] | {t1['mean']:.1f} | {t1['found_within_budget']:.2f} "
                     f"| {_fmt(bb['median'])} [{_fmt(qb['2.5%'])}, {_fmt(qb['97.5%'])}] | {bb['mean']:.1f} | "
                     f"{bb['found_within_budget']:.2f} |")
    return "\n".join(lines)


def verdicts(algos: dict, *, metric: str = "evals_to_top1pct") -> dict[str, list[str]]:
    """Which surrogates beat their fair baseline: :func:`evaluation.fair_verdicts` (one definition)."""
    return fair_verdicts(algos, metric=metric)


def verdict_text(algos: dict, where: str) -> str:
    """One sentence per outcome of :func:`verdicts` (written by the script: no hand-typed claim)."""
    v = verdicts(algos)
    fmt = lambda names: ", ".join(f"`{n}`" for n in names) or "none"
    return (f"Against their fair baseline (random search over the same pool: `random:fim-valid` for `fim`, "
            f"`random:both-valid` for `both`, `random:finite-outputs` for `outputs`), evaluations to the top 1 % on "
            f"{where}, 95 % CIs disjoint: better {fmt(v['beats'])}; worse {fmt(v['loses'])}; not resolved (CIs "
            f"overlap) {fmt(v['unresolved'])}.")


def rewrite(path: Path, block: str) -> str:
    text = path.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--budget", dest="evals", type=int, default=100)
    p.add_argument("--maps", type=int, default=10)
    p.add_argument("--check", action="store_true", help="only check that the docs match the committed JSON")
    p.add_argument("--render", action="store_true", help="only rewrite the docs blocks from the committed JSON")
    args = p.parse_args(argv)
    if args.render:
        block = markdown(json.loads(JSON_PATH.read_text()))
        for path in DOCS.values():
            path.write_text(rewrite(path, block), encoding="utf-8")
        return 0
    if args.check:
        summary = json.loads(JSON_PATH.read_text())
        if exact_block(summary) != summary["exact_random"]:
            print(f"{JSON_PATH}: the exact random-search values differ from the table's; rerun this script")
            return 1
        block = markdown(summary)
        stale = [str(path) for path in DOCS.values() if rewrite(path, block) != path.read_text(encoding="utf-8")]
        if stale:
            print(f"stale replay_comparison block in {', '.join(stale)}; rerun docs/scripts/replay_comparison.py")
            return 1
        return 0
    table = load_table(TABLE)
    algos = algorithms()
    kwargs = {a: {"n_maps": args.maps} for a in algos if searcher_info(a).uses_map}
    t0 = time.perf_counter()
    summary = replay({"act-bench-mnist1d": table}, algos, budget=args.evals, seeds=args.seeds, jobs=args.jobs,
                     searcher_kwargs=kwargs, baselines=True,
                     progress=lambda n, r: print(f"  {n}: {r.seconds:.1f} s", file=sys.stderr)).summary()
    summary["embedding"] = {"shared_seed": None, "n_maps": args.maps, "per_run_seed": False}
    summary["wall_seconds"] = round(time.perf_counter() - t0, 1)
    summary["jobs"] = args.jobs
    t1 = time.perf_counter()
    run = replay({"act-bench-mnist1d": table}, algos, budget=args.evals, seeds=args.seeds, jobs=args.jobs,
                 searcher_kwargs=kwargs, baselines=True, observe="run",
                 progress=lambda n, r: print(f"  {n} (observe run): {r.seconds:.1f} s", file=sys.stderr)).summary()
    summary["observe_run"] = {"observe": run["observe"], "algorithms": run["algorithms"],
                              "wall_seconds": round(time.perf_counter() - t1, 1)}
    for a in [*summary["algorithms"].values(), *run["algorithms"].values()]:   # keep the committed JSON small
        for key in ("mean_best", "ci95", "mean_regret"):
            a.pop(key, None)
    write_summary(summary, JSON_PATH)
    block = markdown(json.loads(JSON_PATH.read_text()))
    for path in DOCS.values():
        path.write_text(rewrite(path, block), encoding="utf-8")
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
