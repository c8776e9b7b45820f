"""CI widths before and after clustering by map: the suite replay's 95 % CIs computed as if every replay seed were
independent (the seeds resampled one by one) and over the independent unit (the clusters of seeds that share a UMAP
map resampled whole, what act-bench reports), on the same replays.

Usage: python benchmarks/ci_widths.py [--tables A,B,C] [--seeds 100] [--budget 100] [--maps 10] [--jobs 2]
                                      [--observe median|run]

Prints, per table, the width of each map-using surrogate's CI of evaluations to the top 1 % (binomial order-statistic
CI over seeds vs cluster bootstrap over maps; a bound not reached within the budget is shown as "–" and the width as
"inf"), and the width of every algorithm's average-rank CI across the tables (seed bootstrap vs cluster bootstrap).
The ratio is clustered / per seed: > 1 means the per-seed interval was too narrow.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from act_bench.interop import load_table
from act_bench.search import CandidateSet, list_searchers, searcher_info
from act_bench.space import BASELINE_FUNCTIONS
from act_bench.tables import SUITE_TABLES
from evaluation import (
    TableOracle,
    TableReference,
    average_ranks,
    per_seed_scores,
    replay,
    same_pools,
    seed_clusters,
)
from evaluation._metrics import ci_design, median_ci, unit_median_ci


def _width(ci) -> float:
    lo, hi = ((math.inf if v is None else v) for v in ci)
    lo = -math.inf if ci[0] is None else lo
    return hi - lo if math.isfinite(hi - lo) else math.inf


def _algorithms() -> list[str]:
    names = [n for n in list_searchers() if searcher_info(n).kind in ("random", "evolution", "knr", "rfr", "svr")]
    return [n for n in names if not (searcher_info(n).kind == "random" and searcher_info(n).features)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", default=",".join(SUITE_TABLES))
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--budget", dest="evals", type=int, default=100)
    p.add_argument("--maps", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--observe", choices=("median", "run"), default="median")
    args = p.parse_args(argv)
    algos = _algorithms()
    kwargs = {a: {"n_maps": args.maps} for a in algos if searcher_info(a).uses_map}
    scores, clusters, cand_sets = {}, {}, []
    for name in args.tables.split(","):
        table = load_table(name)
        run = replay({name: table}, algos, budget=args.evals, seeds=args.seeds, jobs=args.jobs,
                     searcher_kwargs=kwargs, observe=args.observe, baselines=True)
        summary, results = run.summary(), run.results[name]
        cands = CandidateSet.from_table(table)
        cand_sets.append(cands)
        ref = TableReference.from_oracle(TableOracle.from_table(table), cands.index_of("relu(x)"),
                                         cands.indices_of(BASELINE_FUNCTIONS))
        scores[name] = {a: per_seed_scores(results[a], ref, "evals_to_top1pct") for a in summary["algorithms"]}
        clusters[name] = seed_clusters(results)
        print(f"\n{name} (--observe {args.observe}): evaluations to the top 1 %, 95 % CI width "
              "(per seed -> clustered by map)")
        print(f"  {'algorithm':<14}{'per seed':>22}{'clustered':>22}{'ratio':>8}")
        for a, res in results.items():
            if ci_design(res.map_seeds, len(res.seeds))["unit"] != "map":   # no map shared: nothing to cluster
                continue
            x = scores[name][a]
            naive, clustered = median_ci(x), unit_median_ci(x, res.map_seeds)
            wn, wc = _width(naive["ci95"]), _width(clustered["ci95"])
            fmt = lambda c: f"[{'–' if c[0] is None else f'{c[0]:g}'}, {'–' if c[1] is None else f'{c[1]:g}'}]"
            ratio = wc / wn if math.isfinite(wn) and math.isfinite(wc) and wn > 0 else math.nan
            print(f"  {a:<22}{fmt(naive['ci95']):>14}{fmt(clustered['ci95']):>22}{ratio:>8.2f}")
    aliases = same_pools(cand_sets, list(next(iter(scores.values()))))
    scores = {t: {a: v for a, v in sc.items() if a not in aliases} for t, sc in scores.items()}
    by_seed = average_ranks(scores, higher_is_better=False)
    by_map = average_ranks(scores, higher_is_better=False, clusters=clusters)
    print(f"\naverage rank over {len(scores)} table(s), 95 % CI width (seeds resampled -> {by_map.get('ci_over', 'clusters')})")
    ratios = []
    for a, r in sorted(by_map["algorithms"].items(), key=lambda kv: kv[1]["mean_rank"]):
        ws = by_seed["algorithms"][a]["ci95"][1] - by_seed["algorithms"][a]["ci95"][0]
        wm = r["ci95"][1] - r["ci95"][0]
        ratios.append(wm / ws if ws > 0 else math.nan)
        print(f"  {a:<24}{r['mean_rank']:>6.2f}{ws:>10.2f}{wm:>10.2f}{ratios[-1]:>8.2f}")
    print(f"median ratio {np.nanmedian(ratios):.2f} (min {np.nanmin(ratios):.2f}, max {np.nanmax(ratios):.2f}); "
          f"ranked once as the same pool: {aliases or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
