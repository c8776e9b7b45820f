"""Load time of a full-size benchmark table: 2,913 functions, 13,692 FIM CDF values and 1,000 outputs each.

Builds a table the size of Act-Bench-CNN once (functions: the unique functions of the paper's three-node space,
real outputs; runs: 3 made-up seeds each; FIM CDFs: per-layer normal CDFs at the bin edges, made up but shaped like
real ones - runs of exact 0 and 1 - with the All-CNN-C dimensionality of the paper), saves it with
``BenchmarkTable.save`` and times ``load_table`` (median of --repeats, goal <= 1 s) against the peer
``pandas.read_parquet`` of the same two Parquet files (which yields per-row arrays, not matrices).

With ``--upstream N`` it instead writes an upstream-format Act-Bench JSON file of N records with 13,692-value CDFs
(about 0.27 MB per record, so N=500 gives a ~140 MB file like the published ones) and times ``import_upstream``
(streaming read + validation + outputs), reporting MB/s and the growth of peak RSS during the import.

Usage: python benchmarks/bench_tables.py [--repeats 5] [--dir DIR] [--upstream N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FIM_DIMS = 13_692  # All-CNN-C, paper appendix D
N_FUNCTIONS = 2_913  # Act-Bench-CNN, paper appendix B


def _layout() -> list[dict]:
    # a made-up 9-layer layout whose floor(w/100) bins add up to 13,692
    weights = [2_592, 82_944, 82_944, 165_888, 331_776, 331_776, 331_776, 36_864, 1_920]
    bins = [w // 100 for w in weights]
    weights[-1] += (FIM_DIMS - sum(bins)) * 100
    return [{"layer": f"layer{i}", "weights": w} for i, w in enumerate(weights)]


def build(path: Path, seed: int = 0) -> float:
    from scipy.special import ndtr

    from act_bench.space import PAPER_THREE_NODE_SCHEMA, equivalence_classes
    from act_bench.tables import BenchmarkTable, layout_entries, normalize_layout

    rng = np.random.default_rng(seed)
    # the paper's three-node space has 2,913 unique functions counting -0 != 0; with -0 == 0 (our convention) it has
    # fewer, so unique functions of a second schema fill the table up to the paper's 2,913 rows
    classes = equivalence_classes(schemas=[PAPER_THREE_NODE_SCHEMA, "unary(binary(x,x))"])
    keep = np.sort(np.random.default_rng(seed).permutation(len(classes))[:N_FUNCTIONS])
    names = [classes.representatives[i] for i in keep]
    equivalents = [classes.equivalents[i] for i in keep]
    outputs = classes.outputs[keep]
    n = len(names)
    layers = layout_entries(normalize_layout(_layout()), "act-bench")
    cdfs = np.empty((n, FIM_DIMS), dtype=np.float32)
    start = 0
    for layer in layers:
        edges = np.linspace(-100, 100, layer["bins"] + 1)[1:]
        mu = rng.uniform(-40, 0, size=(n, 1))
        sigma = rng.uniform(2, 10, size=(n, 1))
        cdfs[:, start:start + layer["bins"]] = ndtr((edges[None, :] - mu) / sigma)
        start += layer["bins"]
    seeds = 3
    acc = rng.uniform(0.1, 0.9, size=(n, seeds))
    runs = pd.DataFrame({
        "function": np.repeat(names, seeds), "seed": np.tile(np.arange(seeds), n),
        "train_accuracy": (acc + 0.05).ravel(), "val_accuracy": acc.ravel(), "test_accuracy": (acc - 0.01).ravel(),
        "train_loss": (1 - acc).ravel(), "val_loss": (1.1 - acc).ravel(), "test_loss": (1.1 - acc).ravel(),
        "runtime": rng.uniform(100, 200, size=n * seeds), "status": "ok"})
    features = {name: {"equivalents": equivalents[i], "fim_cdf": cdfs[i], "outputs": outputs[i]}
                for i, name in enumerate(names)}
    t0 = time.perf_counter()
    table = BenchmarkTable.from_runs(runs, features=features,
                                     metadata={"name": "bench-table", "fim_layout": layers, "task": "made-up",
                                               "model": "made-up"})
    t1 = time.perf_counter()
    table.save(path)
    return t1 - t0, time.perf_counter() - t1


def bench_upstream(n_records: int, seed: int = 0) -> None:
    import json
    import resource

    from act_bench.interop import import_upstream, iter_json_object
    from act_bench.space import PAPER_THREE_NODE_SCHEMA, equivalence_classes

    rng = np.random.default_rng(seed)
    classes = equivalence_classes(schemas=PAPER_THREE_NODE_SCHEMA)
    names = classes.representatives[:n_records]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "act-bench-big.json"
        with open(path, "w") as fh:
            fh.write("{")
            for i, name in enumerate(names):
                cdf = np.sort(rng.uniform(0, 1, FIM_DIMS)).tolist()
                rec = {"Train Accuracy": 0.5, "Validation Accuracy": 0.5, "Train Loss": 1.0, "Validation Loss": 1.0,
                       "Test Accuracy": 0.5, "Test Loss": 1.0, "Equivalent Activation Functions":
                       classes.equivalents[i][1:], "Fisher log eigenvalue CDF": cdf, "Runtime (s)": 100.0}
                fh.write(("," if i else "") + json.dumps(name) + ": " + json.dumps(rec))
            fh.write("}")
        size = path.stat().st_size / 1e6
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        table = import_upstream(path, layout=_layout(), cdf_layout="act-bench")
        seconds = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"upstream import: {len(table)} records, {size:.0f} MB in {seconds:.2f} s ({size / seconds:.0f} MB/s); "
              f"peak RSS grew by {rss1 - rss0:.0f} MB (CDF matrix alone: {table.fim_matrix().nbytes / 1e6:.0f} MB)")
        del table
        t0 = time.perf_counter()
        for _ in iter_json_object(path):
            pass
        stream = time.perf_counter() - t0
        t0 = time.perf_counter()
        with open(path) as fh:
            json.load(fh)
        peer = time.perf_counter() - t0
        rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"streaming reader alone: {stream:.2f} s; peer json.load (whole file in memory): {peer:.2f} s, "
              f"ratio {stream / peer:.2f}; peak RSS grew by {rss2 - rss1:.0f} MB during json.load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", help="reuse/keep the table in this folder (default: a temporary one)")
    parser.add_argument("--upstream", type=int, metavar="N", help="benchmark import_upstream on N records instead")
    args = parser.parse_args()
    if args.upstream:
        bench_upstream(args.upstream)
        return
    from act_bench.interop import load_table

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.dir) if args.dir else Path(tmp) / "bench-table"
        if not (path / "metadata.json").is_file():
            build_s, save_s = build(path)
            print(f"built with from_runs in {build_s:.2f} s, saved in {save_s:.2f} s")
        sizes = {p.name: p.stat().st_size for p in path.iterdir()}
        print("files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())))
        ours, peer = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            table = load_table(path)
            fim, out = table.fim_matrix(), table.outputs_matrix()
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            pd.read_parquet(path / "functions.parquet")
            pd.read_parquet(path / "runs.parquet")
            peer.append(time.perf_counter() - t0)
        print(f"table: {len(table)} functions, {len(table.runs)} runs, fim {fim.shape}, outputs {out.shape}")
        print(f"load_table: median {statistics.median(ours):.3f} s over {args.repeats} "
              f"(min {min(ours):.3f}, max {max(ours):.3f}; goal <= 1 s)")
        print(f"peer pandas.read_parquet (both files): median {statistics.median(peer):.3f} s; "
              f"ratio load_table / peer = {statistics.median(ours) / statistics.median(peer):.2f}")
        if hasattr(table, "validate"):  # the validation layer every load runs (fast checks), and the deep check
            fast, deep = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                table.validate()
                fast.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                table.validate(deep=True)
                deep.append(time.perf_counter() - t0)
            print(f"validation inside load_table: median {statistics.median(fast):.3f} s "
                  f"({statistics.median(fast) / statistics.median(ours):.1%} of the load); deep check (--verify): "
                  f"median {statistics.median(deep):.3f} s")


if __name__ == "__main__":
    main()
