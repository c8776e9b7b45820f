"""Record the reference fingerprints with the replay functions of 0e10007 (run from a checkout of that commit):
``python tests/data/record_replay_golden.py tests/data/replay_golden.json``. Kept as it ran (the old API)."""
# ruff: noqa: F401, I001, SIM115
import json, sys, tempfile
import numpy as np
sys.path.insert(0, "tests")
from _replay_golden import result_print, summary_print, tables
from evaluation import (compare, compare_multifidelity, replay, replay_grid, replay_multifidelity,
                        warm_start_replay, average_ranks, per_seed_scores, seed_clusters, same_pools, TableOracle,
                        TableReference)
from act_bench.search import CandidateSet
from act_bench.space import BASELINE_FUNCTIONS

if __name__ == "__main__":
    t = tables()
    cache = tempfile.mkdtemp()
    kw = {"knr:outputs": {"cache_dir": cache, "n_maps": 2}}
    g = {}
    for a in ("random", "evolution"):
        g[f"single/{a}"] = result_print(replay(a, t["plain"], 30, 4, 2))
    g["single/knr:outputs"] = result_print(replay("knr:outputs", t["plain"], 30, 3, searcher_kwargs=kw["knr:outputs"],
                                                  checkpoints=(10, 25)))
    g["single/warm_tuple"] = result_print(replay("evolution", t["plain"], 25, [1, 4], warm_start=(
        ["relu(x)", "tanh(x)"], [0.5, 0.2])))
    grid = replay_grid(["random", "evolution", "knr:outputs"], t["plain"], 25, 4, 3, n_jobs=2, searcher_kwargs=kw)
    for a, r in grid.items():
        g[f"grid_jobs2/{a}"] = result_print(r)
    for sched, extra in (("asha", {"evals": 30}), ("sh", {"time_budget": 700.0}), ("none", {"evals": 20})):
        r = replay_multifidelity("random", t["curves"], scheduler=sched, seeds=3, workers=2, **extra)
        g[f"mf/{sched}"] = result_print(r)
    s, rs = compare(t["plain"], ["random", "knr:outputs"], evals=20, seeds=3, workers=2, searcher_kwargs=kw,
                    table_name="plain")
    g["compare/summary"] = summary_print(s)
    for a, r in rs.items():
        g[f"compare/{a}"] = result_print(r)
    s, rs = compare(t["plain"], ["evolution"], evals=15, seeds=2, baselines=False)
    g["compare_nobase/summary"] = summary_print(s)
    s, rs = compare_multifidelity(t["curves"], ["random", "evolution"], scheduler="asha", evals=25, seeds=3,
                                  workers=3, table_name="curves")
    g["compare_mf/summary"] = summary_print(s)
    for a, r in rs.items():
        g[f"compare_mf/{a}"] = result_print(r)
    w = warm_start_replay(t["source"], t["plain"], ["random", "evolution"], top_n=10, evals=30, seeds=4)
    g["warm/summary"] = summary_print(w)
    w = warm_start_replay(t["source"], t["plain"], ["evolution"], evals=20, seeds=3, n_jobs=2)
    g["warm_all_jobs2/summary"] = summary_print(w)
    # the suite over two tables, as `act-bench replay --table A,B --scheduler asha` ranks them
    scores, clusters, cands = {}, {}, []
    for name in ("curves", "curves_b"):
        s, rs = compare_multifidelity(t[name], ["random", "evolution"], scheduler="asha", evals=25, seeds=4,
                                      workers=2, table_name=name)
        g[f"suite/{name}/summary"] = summary_print(s)
        c = CandidateSet.from_table(t[name])
        cands.append(c)
        ref = TableReference.from_oracle(TableOracle.from_table(t[name]), c.index_of("relu(x)"),
                                         c.indices_of(BASELINE_FUNCTIONS))
        scores[name] = {a: per_seed_scores(rs[a], ref, "evals_to_top1pct") for a in s["algorithms"]}
        clusters[name] = seed_clusters(rs)
    aliases = same_pools(cands, list(next(iter(scores.values()))))
    scores = {k: {a: v for a, v in sc.items() if a not in aliases} for k, sc in scores.items()}
    ranks = average_ranks(scores, n_boot=200, clusters=clusters)
    ranks["same_pool"] = aliases
    g["suite/ranks"] = summary_print(ranks)
    json.dump(g, open(sys.argv[1], "w"), indent=1, sort_keys=True)
    print(len(g), "fingerprints")
