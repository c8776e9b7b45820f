"""Throughput of the act-bench-mnist1d builder: runs/hour/core, FIM seconds per function, and the shipped build.

Trains a fixed sample of functions (baselines + random representatives) for one seed each on one torch thread,
repeats the FIM computation, and prints medians; then reads the wall time of the shipped table's build journal.
Usage: python benchmarks/bench_build.py [--functions 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--functions", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3, help="FIM repetitions per function")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from data_builders.build import compute_fim_record, plan_functions, train_run
    from data_builders.recipes import get_recipe
    from data_builders.tasks import create_task

    recipe = get_recipe("act-bench-mnist1d")
    task = create_task(recipe.task, **recipe.task_args)
    task.load("train")
    functions = plan_functions(limit=args.functions).functions
    run_s, fim_s = [], []
    for f in functions:
        t = time.perf_counter()
        r = train_run(recipe, f, seed=0, task=task)
        run_s.append(time.perf_counter() - t)
        for _ in range(args.repeats):
            t = time.perf_counter()
            compute_fim_record(recipe, f, task=task)
            fim_s.append(time.perf_counter() - t)
        print(f"{f:40s} {r.status:9s} val {r.val_accuracy:.3f}  {run_s[-1]:.2f} s")
    per_run = statistics.median(run_s)
    per_fim = statistics.median(fim_s)
    seeds = recipe.seeds
    per_function = seeds * per_run + per_fim
    print(f"\nmedian run {per_run:.2f} s (1 thread) -> {3600 / per_run:,.0f} runs/hour/core")
    print(f"median FIM features {per_fim:.3f} s per function")
    n = len(plan_functions().functions)
    print(f"projected full build: {n} functions x {seeds} seeds: {n * per_function / 3600:.2f} core-hours, "
          f"{n * per_function / 3600 / 2:.2f} h on 2 cores")
    journal = Path(__file__).resolve().parents[1] / "data" / "act-bench-mnist1d.journal" / "records.jsonl"
    if journal.exists():
        from data_builders.build import Journal

        j = Journal(journal.parent)
        j.load()
        runs = len(j.runs())
        print(f"shipped build journal: {runs} runs, {len(j.features())} FIM records, measured wall time "
              f"{j.wall_time() / 3600:.2f} h ({runs / max(j.wall_time(), 1e-9) * 3600:,.0f} runs/hour on the build "
              f"machine)")
    meta = journal.parents[1] / "act-bench-mnist1d" / "metadata.json"
    if meta.exists():
        build = json.loads(meta.read_text())["build"]
        print(f"shipped table metadata: wall_time_s={build.get('wall_time_s')} complete={build.get('complete')}")


if __name__ == "__main__":
    main()
