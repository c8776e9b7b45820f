"""Tune an MNIST-1D recipe on the eight baseline activations: a small grid, one table printed.

Every grid point overrides the recipe (``Recipe.with_overrides``), trains the 8 baselines
(``act_bench.space.BASELINE_FUNCTIONS``) with ``--seeds`` seeds each through the real training loop
(``data_builders.build.train_run``, one thread) and reports mean / min validation accuracy over the baselines, the
diverged runs, the median process CPU seconds of one run, and the CPU hours a full 3-seed build of the benchmark space
(``--functions`` functions) would take. The choice rule (stated in the recipes and ``docs/recipes.md``): the highest
mean validation accuracy with no diverged baseline among the points whose full build fits ``--max-cpu-hours``.

Run::

    OMP_NUM_THREADS=1 python benchmarks/tune_recipe.py --recipe act-bench-mnist1d-resnet
    OMP_NUM_THREADS=1 python benchmarks/tune_recipe.py --recipe act-bench-mnist1d-vit --seeds 1

Grids (``GRIDS`` below) are lr x weight decay x epochs with the recipe's optimizer (SGD with momentum 0.9, warmup
one epoch, linear decay, gradient clipping 1.0, as ``act-bench-mnist1d``), plus AdamW points for the transformer
(decoupled weight decay 0.05, PyTorch's default betas).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time

import torch

from act_bench.space import BASELINE_FUNCTIONS
from data_builders.build import train_run
from data_builders.recipes import get_recipe
from data_builders.tasks import create_task

#: Grid per recipe: a list of (label, overrides) built from the axes below.
_SGD_AXES = {"lr": (0.03, 0.1, 0.3), "weight_decay": (5.0e-4, 5.0e-5), "epochs": (4, 6)}
_ADAMW_AXES = {"lr": (1.0e-3, 3.0e-3, 1.0e-2), "weight_decay": (0.05,), "epochs": (4, 6)}


def _points(optimizer: str, axes: dict) -> list[tuple[str, dict]]:
    out = []
    for lr, wd, ep in itertools.product(axes["lr"], axes["weight_decay"], axes["epochs"]):
        over = {"epochs": ep, "schedule": {"peak_lr": lr},
                "optimizer": {"name": optimizer, "weight_decay": wd}}
        out.append((f"{optimizer} lr={lr:g} wd={wd:g} ep={ep}", over))
    return out


# The transformer's grid drops the SGD weight-decay axis (it moved the ResNet's mean accuracy by < 0.005 at every
# lr and epochs) to make room for AdamW on the 2 shared cores.
GRIDS = {
    "act-bench-mnist1d-resnet": _points("sgd", _SGD_AXES),
    "act-bench-mnist1d-vit": _points("sgd", {**_SGD_AXES, "weight_decay": (5.0e-4,)}) + _points("adamw", _ADAMW_AXES),
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", required=True, choices=sorted(GRIDS))
    p.add_argument("--seeds", type=int, default=1, help="seeds per baseline and grid point")
    p.add_argument("--functions", type=int, default=2902, help="functions of the full table (for the cost column)")
    p.add_argument("--max-cpu-hours", type=float, default=4.0,
                   help="CPU-hour cap of a full 3-seed build (2 cores x 2 h of training)")
    p.add_argument("--only", default=None, help="run only grid points whose label contains this text")
    p.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    base = get_recipe(args.recipe)
    task = create_task(base.task, **base.task_args)
    task.load("train")
    rows = []
    print(f"recipe {args.recipe}, model {base.model}, {len(BASELINE_FUNCTIONS)} baselines x {args.seeds} seed(s)")
    print("| grid point | mean val acc | min val acc | diverged | CPU s/run | full build CPU h |")
    print("|---|---|---|---|---|---|")
    for label, over in GRIDS[args.recipe]:
        if args.only and args.only not in label:
            continue
        recipe = base.with_overrides(**over)
        accs, cpu, diverged = [], [], 0
        for fn in BASELINE_FUNCTIONS:
            for seed in range(args.seeds):
                t0 = time.process_time()
                r = train_run(recipe, fn, seed, task=task)
                cpu.append(time.process_time() - t0)
                accs.append(r.val_accuracy)
                diverged += r.status != "ok"
        run_s = statistics.median(cpu)
        row = {"point": label, "overrides": over, "mean_val_accuracy": statistics.fmean(accs),
               "min_val_accuracy": min(accs), "diverged": diverged, "cpu_seconds_per_run": run_s,
               "full_build_cpu_hours": run_s * args.functions * 3 / 3600}
        rows.append(row)
        print(f"| {label} | {row['mean_val_accuracy']:.4f} | {row['min_val_accuracy']:.4f} | {diverged} | "
              f"{run_s:.2f} | {row['full_build_cpu_hours']:.2f} |", flush=True)
    ok = [r for r in rows if r["diverged"] == 0 and r["full_build_cpu_hours"] <= args.max_cpu_hours]
    if ok:
        best = max(ok, key=lambda r: r["mean_val_accuracy"])
        print(f"choice (highest mean val acc, no divergence, full build <= {args.max_cpu_hours:g} CPU h): "
              f"{best['point']}")
    else:
        print("no grid point satisfies the choice rule")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
