"""Builder throughput, this code against a baseline in one run: seconds per training run, ratio, runs/hour/core.

The baseline is the source tree of a git ref (default ``881f6f3``, the code before the faster builder; extracted with
``git archive`` into a temporary folder) or a folder given with ``--baseline-path``. Both run in subprocesses on one
torch thread (``OMP_NUM_THREADS=1``), each training every function once per round after a warm-up run, several
runs per process as a build worker does; the rounds alternate baseline/current so that both see the same machine
load. Functions: relu, elu, ``sub(softplus(x),selu(x))`` and ``--random`` functions drawn (seeded) from the shipped
table's ``ok`` rows. Printed: per function the median seconds of each side and their ratio, whether the two sides
got identical metrics, and per recipe the median over all ``ok`` runs, its ratio, the geometric mean of the
per-function ratios and runs/hour/core; the load average before and after (the machine may be shared).

Usage: python benchmarks/bench_build.py [--recipe act-bench-mnist1d] [--random 5] [--rounds 3]
       [--baseline-ref 881f6f3 | --baseline-path DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
FIXED = ("relu(x)", "elu(x)", "sub(softplus(x),selu(x))")
METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss")

WORKER = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
from data_builders.build import train_run
from data_builders.recipes import get_recipe
from data_builders.tasks import create_task
spec = json.loads(sys.argv[1])
recipe = get_recipe(spec["recipe"])
task = create_task(recipe.task, **recipe.task_args)
task.load("train")
train_run(recipe, "relu(x)", seed=1, task=task)  # warm-up (data, allocator, lazy imports); not timed
out = []
for f in spec["functions"]:
    t = time.perf_counter()
    r = train_run(recipe, f, seed=spec["seed"], task=task)
    out.append({"function": f, "seconds": time.perf_counter() - t, "status": r.status,
                "metrics": [getattr(r, m) for m in spec["metrics"]]})
print(json.dumps(out))
"""


def _baseline_tree(ref: str, into: Path) -> Path:
    data = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref, "act_bench", "data_builders"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def _run(tree: Path, recipe: str, functions: list[str], seed: int) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    spec = json.dumps({"recipe": recipe, "functions": functions, "seed": seed, "metrics": list(METRICS)})
    proc = subprocess.run([sys.executable, "-c", WORKER, spec], env=env, cwd=tree, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"worker for {tree} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _sample(count: int, seed: int) -> list[str]:
    table = pq.read_table(REPO / "data" / "act-bench-mnist1d" / "functions.parquet", columns=["function", "status"])
    names = [f for f, s in zip(table.column("function").to_pylist(), table.column("status").to_pylist())
             if s == "ok" and f not in FIXED]
    rng = np.random.default_rng(seed)
    return [names[i] for i in sorted(rng.choice(len(names), size=count, replace=False))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", action="append", help="recipe(s) to measure (default: act-bench-mnist1d)")
    parser.add_argument("--random", type=int, default=5, help="random functions from the shipped table")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each function on each side")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every run and sampling seed")
    parser.add_argument("--baseline-ref", default="881f6f3", help="git ref of the baseline code")
    parser.add_argument("--baseline-path", help="folder holding the baseline act_bench/ and data_builders/")
    args = parser.parse_args()
    recipes = args.recipe or ["act-bench-mnist1d"]
    functions = list(FIXED) + _sample(args.random, args.seed)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="bench-build-baseline-") as tmp:
        if args.baseline_path:
            base, label = Path(args.baseline_path).resolve(), str(args.baseline_path)
        else:
            base, label = _baseline_tree(args.baseline_ref, Path(tmp)), f"git {args.baseline_ref}"
        print(f"baseline: {label}; current: {REPO}; 1 torch thread; {args.rounds} rounds (alternating)")
        for recipe in recipes:
            times = {"baseline": {f: [] for f in functions}, "current": {f: [] for f in functions}}
            results = {"baseline": {}, "current": {}}
            for _ in range(args.rounds):
                for side, tree in (("baseline", base), ("current", REPO)):
                    for rec in _run(tree, recipe, functions, args.seed):
                        times[side][rec["function"]].append(rec["seconds"])
                        results[side][rec["function"]] = rec
            print(f"\n{recipe}")
            print(f"{'function':44s} {'status':9s} {'baseline s':>10s} {'current s':>10s} {'ratio':>6s}  metrics")
            ok_base, ok_cur, log_ratios = [], [], []
            for f in functions:
                b, c = statistics.median(times["baseline"][f]), statistics.median(times["current"][f])
                rb, rc = results["baseline"][f], results["current"][f]
                same = "identical" if (rb["metrics"], rb["status"]) == (rc["metrics"], rc["status"]) else "differ"
                print(f"{f:44s} {rc['status']:9s} {b:10.3f} {c:10.3f} {c / b:6.2f}  {same}")
                log_ratios.append(np.log(c / b))
                if rb["status"] == "ok":
                    ok_base.extend(times["baseline"][f])
                if rc["status"] == "ok":
                    ok_cur.extend(times["current"][f])
            mb, mc = statistics.median(ok_base), statistics.median(ok_cur)
            print(f"{'median ok run (all ok runs pooled)':44s} {'':9s} {mb:10.3f} {mc:10.3f} {mc / mb:6.2f}")
            print(f"{'geometric mean of the per-function ratios':44s} {'':9s} {'':10s} {'':10s} "
                  f"{float(np.exp(np.mean(log_ratios))):6.2f}")
            print(f"runs/hour/core: baseline {3600 / mb:,.0f}, current {3600 / mc:,.0f} (x{mb / mc:.2f})")
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    journal = REPO / "data" / "act-bench-mnist1d.journal" / "records.jsonl"
    if journal.exists():
        sys.path.insert(0, str(REPO))
        from data_builders.build import Journal

        j = Journal(journal.parent)
        j.load(repair=False)
        print(f"shipped build journal: {len(j.runs())} runs, measured wall time {j.wall_time() / 3600:.2f} h")


if __name__ == "__main__":
    main()
