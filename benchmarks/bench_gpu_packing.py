"""Device benchmark (needs CUDA): runs/hour of a recipe on one GPU with 1, 2, 4 ... processes packed on it.

This is what fractional ``gpus_per_run`` buys: with ``gpus_per_run: 0.25`` the Ray executor places four runs on one
GPU at once. Each process trains ``--runs`` runs of ``--function`` (seeds 0, 1, ...) on ``cuda`` through the real
training loop; the script prints, per packing level, the wall time, the runs/hour of the whole GPU and the ratio to
one process, plus whether two trainings of the same (function, seed) on the GPU gave identical metrics and curves.

Usage: python benchmarks/bench_gpu_packing.py [--recipe act-bench-mnist1d] [--function relu(x)] [--runs 6]
       [--levels 1,2,4,8]
       [--determinism act-bench-mnist1d,act-bench-mnist1d-resnet]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time

import torch


def _worker(recipe_name: str, function: str, runs: int, offset: int, queue) -> None:
    from data_builders.build import train_run
    from data_builders.recipes import get_recipe
    from data_builders.tasks import create_task

    torch.set_num_threads(1)
    recipe = get_recipe(recipe_name)
    task = create_task(recipe.task, **recipe.task_args)
    train_run(recipe, function, seed=offset, task=task, device="cuda")  # warm-up: data resident, kernels loaded
    queue.put(("ready", offset))
    t0 = time.perf_counter()
    for i in range(runs):
        train_run(recipe, function, seed=offset + i, task=task, device="cuda")
    torch.cuda.synchronize()
    queue.put(("done", time.perf_counter() - t0))


def _level(recipe: str, function: str, runs: int, k: int) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(recipe, function, runs, 1000 * i, queue)) for i in range(k)]
    for p in procs:
        p.start()
    seconds = []
    while len(seconds) < k:
        kind, value = queue.get()
        if kind == "done":
            seconds.append(value)
    for p in procs:
        p.join()
    # all processes warm up first, then train; the busiest process bounds the wall time of the k * runs runs
    return max(seconds)


def _determinism(recipe_name: str, function: str) -> list[str]:
    """The fields (metrics, curves) that differ between two trainings of one (function, seed) on the GPU."""
    from data_builders.build import train_run
    from data_builders.recipes import get_recipe
    from data_builders.tasks import create_task

    recipe = get_recipe(recipe_name)
    task = create_task(recipe.task, **recipe.task_args)
    a, b = (train_run(recipe, function, seed=3, task=task, device="cuda").to_dict() for _ in range(2))
    for r in (a, b):
        r.pop("runtime"), r.pop("curve_seconds")  # wall-clock times differ by nature
    return sorted(k for k in a if a[k] != b[k])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="act-bench-mnist1d")
    parser.add_argument("--function", default="relu(x)")
    parser.add_argument("--runs", type=int, default=6, help="runs per process")
    parser.add_argument("--levels", default="1,2,4,8", help="processes packed on the GPU")
    parser.add_argument("--determinism", default=None,
                        help="comma-separated recipes whose (function, seed 3) is trained twice (default --recipe)")
    args = parser.parse_args()
    args.determinism = args.determinism or args.recipe
    if not torch.cuda.is_available():
        sys.exit("bench_gpu_packing.py needs a CUDA device")
    for recipe in args.determinism.split(","):
        differ = _determinism(recipe, args.function)
        print(f"{recipe} {args.function} on {torch.cuda.get_device_name(0)}, trained twice: "
              f"{'identical metrics and curves' if not differ else 'differs in ' + ', '.join(differ)}", flush=True)
    base = None
    for k in (int(v) for v in args.levels.split(",")):
        wall = _level(args.recipe, args.function, args.runs, k)
        rate = k * args.runs * 3600 / wall
        base = base or rate
        print(f"{k} process(es) x {args.runs} runs: {wall:.1f} s, {rate:,.0f} runs/hour per GPU "
              f"(x{rate / base:.2f} vs 1 process)", flush=True)


if __name__ == "__main__":
    main()
