"""Device check (needs CUDA): host synchronisations per training run, and seconds per run on the GPU.

Runs ``train_run`` of a recipe on ``cuda`` under ``torch.cuda.set_sync_debug_mode("warn")`` and counts the
synchronisation warnings: the loop should synchronise only at its divergence checks (after steps 1, 2, 4, ... 32, then
every 64 steps and at each epoch's end), once per evaluated split and once per epoch for the timing, not per step.
Prints steps, synchronisations and their ratio, then the median seconds of a few runs without the debug mode.
Usage: python benchmarks/check_gpu_sync.py [--recipe act-bench-mnist1d] [--function relu(x)] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from data_builders.build import train_run
from data_builders.recipes import get_recipe
from data_builders.tasks import create_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="act-bench-mnist1d")
    parser.add_argument("--function", default="relu(x)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("check_gpu_sync.py needs a CUDA device")
    recipe = get_recipe(args.recipe)
    task = create_task(recipe.task, **recipe.task_args)
    n = len(task.load("train"))
    steps = recipe.epochs * max(1, n // recipe.batch_size)
    train_run(recipe, args.function, seed=0, task=task, device="cuda")  # warm-up: data on the device, kernels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            r = train_run(recipe, args.function, seed=0, task=task, device="cuda")
        finally:
            torch.cuda.set_sync_debug_mode(0)
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    print(f"{recipe.name} {args.function}: status {r.status}, {steps} steps, {syncs} host synchronisations "
          f"({syncs / steps:.3f} per step), val_accuracy {r.val_accuracy:.4f}")
    times = []
    for seed in range(args.runs):
        torch.cuda.synchronize()
        t = time.perf_counter()
        train_run(recipe, args.function, seed=seed, task=task, device="cuda")
        times.append(time.perf_counter() - t)
    print(f"median {statistics.median(times):.3f} s per run on {torch.cuda.get_device_name(0)} "
          f"({3600 / statistics.median(times):,.0f} runs/hour for one process)")


if __name__ == "__main__":
    main()
