"""Builder throughput, this code against a baseline in one run: seconds per training run, ratio, runs/hour/core.

The baseline is the source tree of a git ref (default ``881f6f3``, the code before the faster builder; extracted with
``git archive`` into a temporary folder) or a folder given with ``--baseline-path``. Two long-lived worker
subprocesses, one per side, on one torch thread each (``OMP_NUM_THREADS=1``), warmed up by one run, train the same
function one after the other (the side that goes first alternates), so both see the same machine load; several runs
per process, as a build worker does. Functions: relu, elu, ``sub(softplus(x),selu(x))`` and ``--random`` functions
drawn (seeded) from the shipped table's ``ok`` rows. Printed: per function the median seconds of each side and their
ratio, whether the two sides got identical metrics, and per recipe the median over all ``ok`` runs, its ratio, the
geometric mean of the per-function ratios and runs/hour/core; the load average before and after (the machine may
be shared).

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
print("ready", flush=True)
for line in sys.stdin:  # one function per line; one JSON line back per run
    f = line.strip()
    t = time.perf_counter()
    r = train_run(recipe, f, seed=spec["seed"], task=task)
    print(json.dumps({"function": f, "seconds": time.perf_counter() - t, "status": r.status,
                      "metrics": [getattr(r, m) for m in spec["metrics"]]}), flush=True)
"""


def _baseline_tree(ref: str, into: Path) -> Path:
    data = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref, "act_bench", "data_builders"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


class _Worker:
    """A long-lived worker process on one source tree: several runs per process, as a build worker does."""

    def __init__(self, tree: Path, recipe: str, seed: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        spec = json.dumps({"recipe": recipe, "seed": seed, "metrics": list(METRICS)})
        self.tree = tree
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, spec], env=env, cwd=tree, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"worker for {tree} failed to start")

    def run(self, function: str) -> dict:
        self.proc.stdin.write(function + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"worker for {self.tree} died")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


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
            workers = {"baseline": _Worker(base, recipe, args.seed), "current": _Worker(REPO, recipe, args.seed)}
            try:
                for k in range(args.rounds):  # run by run, alternating sides (and which side goes first)
                    for i, f in enumerate(functions):
                        order = ("baseline", "current") if (k + i) % 2 == 0 else ("current", "baseline")
                        for side in order:
                            rec = workers[side].run(f)
                            times[side][f].append(rec["seconds"])
                            results[side][f] = rec
            finally:
                for w in workers.values():
                    w.close()
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
        from data_builders.build import LegacyJournal

        j = LegacyJournal(journal.parent)
        j.load()
        print(f"shipped build journal: {len(j.runs())} runs")


if __name__ == "__main__":
    main()
