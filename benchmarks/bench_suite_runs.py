"""Cost of one training run and one FIM record per recipe of the MNIST-1D suite, and the projected build time.

For each recipe (the CNN one is the peer), ``--reps`` repetitions of the baselines are trained in interleaved order
(recipe A, B, C, A, B, C, ...) so that load from other processes hits every recipe alike. Printed per recipe: the
median process CPU seconds and wall seconds of one run (one thread) and of one FIM record, the ratio of the run's
CPU time to the CNN recipe's, and the projected wall hours of a full table on 2 cores
(``functions x seeds`` runs plus one FIM record per function, perfectly spread over the cores).

Run::

    OMP_NUM_THREADS=1 python benchmarks/bench_suite_runs.py --reps 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from act_bench.space import BASELINE_FUNCTIONS
from data_builders.build import compute_fim_record, train_run
from data_builders.recipes import get_recipe
from data_builders.tasks import create_task

RECIPES = ("act-bench-mnist1d", "act-bench-mnist1d-resnet", "act-bench-mnist1d-vit")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=2, help="passes over the 8 baselines per recipe")
    p.add_argument("--functions", type=int, default=2902)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--json", default=None, help="also write the rows as JSON (benchmarks/results/bench_suite_runs.json "
                                                "is rendered into docs/recipes.md by tune_recipe.py --write-docs)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    recipes = [get_recipe(n) for n in RECIPES]
    task = create_task("mnist1d")
    task.load("train")
    run_cpu = {r.name: [] for r in recipes}
    run_wall = {r.name: [] for r in recipes}
    fim_cpu = {r.name: [] for r in recipes}
    for rep in range(args.reps):
        for fn in BASELINE_FUNCTIONS:
            for r in recipes:
                c0, w0 = time.process_time(), time.perf_counter()
                train_run(r, fn, rep, task=task)
                run_cpu[r.name].append(time.process_time() - c0)
                run_wall[r.name].append(time.perf_counter() - w0)
                if rep == 0:
                    c0 = time.process_time()
                    compute_fim_record(r, fn, task=task)
                    fim_cpu[r.name].append(time.process_time() - c0)
    peer = statistics.median(run_cpu[RECIPES[0]])
    print(f"{args.reps} x {len(BASELINE_FUNCTIONS)} runs per recipe, interleaved; 1 thread")
    print("| recipe | epochs | CPU s/run | wall s/run | ratio to CNN (CPU) | CPU s/FIM | projected build, h on "
          f"{args.cores} cores |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for r in recipes:
        c, w, f = (statistics.median(run_cpu[r.name]), statistics.median(run_wall[r.name]),
                   statistics.median(fim_cpu[r.name]))
        hours = (args.functions * r.seeds * c + args.functions * f) / args.cores / 3600
        print(f"| {r.name} | {r.epochs} | {c:.2f} | {w:.2f} | {c / peer:.2f} | {f:.2f} | {hours:.2f} |")
        rows.append({"recipe": r.name, "epochs": r.epochs, "cpu_seconds_per_run": c, "wall_seconds_per_run": w,
                     "ratio_to_cnn": c / peer, "cpu_seconds_per_fim": f, "projected_build_hours": hours})
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"load average at the end: {load}")
    if args.json:
        Path(args.json).write_text(json.dumps({"reps": args.reps, "functions": args.functions, "cores": args.cores,
                                               "load_average_end": load, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
