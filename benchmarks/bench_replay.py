"""Speed of the replay grid: 10 algorithms (random; knr, rfr, svr x fim, outputs, both) x 100 seeds x 100 evaluations.

Target (issue 6): the full grid in <= 60 s wall-clock on 2 cores once the embeddings are cached.

Prints
- the one-off embedding time (UMAP, then read from the cache),
- per regressor, the cost of one surrogate step (fit on 100 points + predict every candidate) of our fast path and of
  the plain scikit-learn estimator on the same data, and their ratio (median of several repetitions),
- the grid's wall-clock time (median over ``--repeats``) and each algorithm's CPU seconds.

Usage: python benchmarks/bench_replay.py [--table PATH] [--seeds 100] [--budget 100] [--jobs 2] [--repeats 3]
Without --table a synthetic table over the 2,902 unique functions of binary(unary(x),unary(x)) is used
(evaluation._synthetic; real functions, made-up accuracies). One UMAP map per feature set is shared by all seeds
(``embedding_seed=0``); per-seed maps (the default of ``act-bench replay``) only add a cache read per run.

Cold and warm grid with a distinct map per seed (issue 23, the default of ``act-bench replay``), this checkout against
a reference checkout (e.g. the issue's starting commit c2643e7), each in fresh processes of the CLI (cold twice: as
the first run after an install, numba's compile cache emptied, and as a later cold run):

    git archive c2643e7 act_bench evaluation data_builders | tar -x -C /tmp/ref-c2643e7
    python benchmarks/bench_replay.py --cli-grid --ref /tmp/ref-c2643e7 --table data/act-bench-mnist1d --jobs 2
    python benchmarks/bench_replay.py --cli-grid --ref /tmp/ref-c2643e7 --suite --jobs 2

``--cli-grid`` times ``act-bench replay --table T --algorithms <the 11> --seeds 100 --budget 100 --jobs N`` from an
empty cache (cold: every map computed) and again on the filled cache (warm), for each checkout; ``--suite`` times the
three-table suite (``--table A,B,C``) cold. Targets (issue 23, 2 cores): cold grid <= 3 min, warm <= 60 s, cold
suite <= 10 min.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GRID = ["random"] + [f"{r}:{f}" for r in ("knr", "rfr", "svr") for f in ("fim", "outputs", "both")]
#: The 11 algorithms of the issue-23 grid (the CLI adds the fair random baselines).
CLI_GRID = ["random", "evolution"] + GRID[1:]
SUITE = ["act-bench-mnist1d", "act-bench-mnist1d-resnet", "act-bench-mnist1d-vit"]
ROOT = Path(__file__).resolve().parents[1]

_CLI = r"""
import sys
# an editable install maps act_bench to its own folder ahead of sys.path: drop that finder, import from PYTHONPATH
sys.meta_path = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
                 and not getattr(f, "__name__", "").startswith("__editable__")]
from act_bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _timed_cli(checkout: Path, argv: list[str]) -> float:
    """Wall-clock seconds of ``act-bench <argv>`` run from ``checkout`` in a fresh process."""
    import subprocess
    import tempfile

    env = dict(os.environ, PYTHONPATH=str(checkout), TQDM_DISABLE="1")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", _CLI, *argv], env=env, check=True, cwd=tempfile.gettempdir(),
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _clear_numba_cache(checkout: Path) -> int:
    """Delete numba's on-disk compiled code of the checkout's kernels and of umap-learn's (``*.nbi``/``*.nbc`` in
    their ``__pycache__``): the next run compiles as the first run after an install does. Returns the files deleted."""
    import umap

    n = 0
    for folder in (checkout / "act_bench", Path(umap.__file__).parent):
        for f in [*folder.rglob("*.nbi"), *folder.rglob("*.nbc")]:
            f.unlink(missing_ok=True)
            n += 1
    return n


def cli_grid(tables: list[str], jobs: int, ref: str | None, seeds: int, evals: int, warm: bool) -> None:
    """Grid timings of this checkout and of ``ref``, on the same machine, in turn: cold (an empty act-bench cache)
    as the first run after an install (numba's compile cache emptied too) and as any later cold run (numba's cache
    as the previous run left it), then warm (the act-bench cache filled)."""
    import tempfile

    paths = [str(Path(t).resolve()) if Path(t).exists() else str(ROOT / "data" / t) for t in tables]
    checkouts = [("this checkout", ROOT)] + ([("reference " + ref, Path(ref))] if ref else [])
    print(f"{len(CLI_GRID)} algorithms x {seeds} seeds x {evals} evaluations on {', '.join(tables)}; --jobs {jobs}; "
          f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    for label, checkout in checkouts:
        parts = []
        for first in (True, False) if warm else (True,):
            with tempfile.TemporaryDirectory() as cache:
                argv = ["replay", "--table", ",".join(paths), "--algorithms", ",".join(CLI_GRID), "--seeds",
                        str(seeds), "--budget", str(evals), "--jobs", str(jobs), "--cache-dir", cache, "--json"]
                if first:
                    _clear_numba_cache(checkout)
                parts.append(f"cold{' (first run: numba cache empty)' if first else ''} "
                             f"{_timed_cli(checkout, argv):.1f} s")
                if warm and not first:
                    parts.append(f"warm {_timed_cli(checkout, argv):.1f} s")
        print(f"{label}: " + ", ".join(parts), flush=True)


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peer_ratios(candidates, cache_dir, repeats: int = 5, steps: int = 20) -> None:
    """Per-step cost of the searchers' regressors vs scikit-learn's public estimators on the same 2-D data."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.svm import SVR

    from act_bench.search import embed_candidates
    from act_bench.search._forest import fit_predict_forest
    from act_bench.search._surrogate import _KNN, _SVR

    emb = embed_candidates(candidates, "both", seed=0, cache_dir=cache_dir)
    P = np.ascontiguousarray(emb.coords)
    rng = np.random.default_rng(0)
    train = rng.choice(P.shape[0], 100, replace=False)
    y = rng.random(100)
    knn = _KNN(P, 3)
    svr = _SVR(P, 1.0, 0.1)
    for i, pos in enumerate(train):
        knn.add(int(pos), i)
        svr.add(int(pos), i)
    ours = {
        "knr (incremental update + predict)": lambda: [(knn.add(int(train[0]), 0), knn.predict(train, y, rng))
                                                       for _ in range(steps)],
        "rfr (20 trees, numba)": lambda: [fit_predict_forest(P[train], y, P, n_estimators=20, rng=rng)
                                          for _ in range(steps)],
        "svr (libsvm fit + cached-distance predict)": lambda: [svr.predict(train, y, rng) for _ in range(steps)],
    }
    peers = [
        lambda: [KNeighborsRegressor(n_neighbors=3).fit(P[train], y).predict(P) for _ in range(steps)],
        lambda: [RandomForestRegressor(n_estimators=20, random_state=0).fit(P[train], y).predict(P)
                 for _ in range(steps)],
        lambda: [SVR().fit(P[train], y).predict(P) for _ in range(steps)],
    ]
    print(f"per surrogate step ({P.shape[0]} candidates, 100 training points; median of {repeats}):")
    for (label, fn), peer in zip(ours.items(), peers):
        fn()
        a = _median_time(fn, repeats) / steps * 1e3
        b = _median_time(peer, repeats) / steps * 1e3
        print(f"  {label:<44} {a:8.3f} ms   scikit-learn {b:8.3f} ms   speed-up x{b / a:6.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=None)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--budget", dest="evals", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--algorithms", default=",".join(GRID))
    parser.add_argument("--cli-grid", action="store_true",
                        help="time the CLI's cold and warm grid with a map per seed (see the module docstring)")
    parser.add_argument("--suite", action="store_true", help="with --cli-grid: the three tables of the suite, cold")
    parser.add_argument("--ref", default=None, help="with --cli-grid: a reference checkout to time beside this one")
    args = parser.parse_args(argv)
    if args.cli_grid:
        tables = SUITE if args.suite else [args.table or "act-bench-mnist1d"]
        cli_grid(tables, args.jobs, args.ref, args.seeds, args.evals, warm=not args.suite)
        return 0

    from act_bench.search import CandidateSet, embed_candidates, searcher_info
    from evaluation import TableOracle, TableReference, replay, summarize

    if args.table:
        from act_bench.interop import load_table

        table = load_table(args.table)
    else:
        from evaluation._synthetic import synthetic_table

        table = synthetic_table(None, seed=0)
    algos = [a for a in args.algorithms.split(",") if a]
    candidates = CandidateSet.from_table(table)
    print(f"table: {args.table or 'synthetic (binary(unary(x),unary(x)))'}, {len(candidates)} functions; "
          f"{len(algos)} algorithms x {args.seeds} seeds x {args.evals} evaluations, {args.jobs} processes, "
          f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    for feats in ("fim", "outputs", "both"):
        t0 = time.perf_counter()
        emb = embed_candidates(candidates, feats, seed=0, cache_dir=args.cache_dir)
        first = time.perf_counter() - t0
        from act_bench.search import _embedding

        _embedding._MEMORY.clear()
        t0 = time.perf_counter()
        embed_candidates(candidates, feats, seed=0, cache_dir=args.cache_dir)
        print(f"embedding {feats:<8} {emb.rows.size:5d} rows: first call {first:6.1f} s, from the disk cache "
              f"{(time.perf_counter() - t0) * 1e3:6.1f} ms")
    peer_ratios(candidates, args.cache_dir)

    kwargs = {a: {"embedding_seed": 0, "cache_dir": args.cache_dir} for a in algos if searcher_info(a).uses_map}
    walls, cpu = [], {a: [] for a in algos}
    results = None
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        results = replay({"": table}, algos, budget=args.evals, seeds=args.seeds, searcher_kwargs=kwargs,
                         jobs=args.jobs).results[""]
        walls.append(time.perf_counter() - t0)
        for a in algos:
            cpu[a].append(results[a].seconds)
        print(f"grid run {rep + 1}/{args.repeats}: {walls[-1]:.1f} s wall-clock")
    ref = TableReference.from_oracle(TableOracle.from_table(table), candidates.index_of("relu(x)"))
    print(f"\nfull grid: median {statistics.median(walls):.1f} s wall-clock over {args.repeats} run(s) "
          f"(target <= 60 s on 2 cores)")
    print(f"{'algorithm':<13}{'CPU s (median)':>15}{'ms/step':>9}   evals to top-1%: median [95% CI], found")
    for a in algos:
        s = summarize(results[a], ref)["evals_to_top1pct"]
        c = statistics.median(cpu[a])
        print(f"{a:<13}{c:>15.2f}{c / (args.seeds * args.evals) * 1e3:>9.3f}   {s['median']} "
              f"[{s['ci95'][0]}, {s['ci95'][1]}], {s['found_fraction']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
