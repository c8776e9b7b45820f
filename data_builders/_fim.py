"""FIM features of one function for a recipe's model at initialisation (the job the builder runs per function)."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import torch

from act_bench.errors import InvalidInputError
from act_bench.features import compute_fim_features
from data_builders.augment import eval_batch
from data_builders.autoinit import initialize
from data_builders.models import activation_factory, create_model
from data_builders.recipes import Recipe
from data_builders.tasks import Task, create_task

__all__ = ["FIM_SEED", "compute_fim_record", "task_for"]

FIM_SEED = 0  # weights and batch of the FIM features: fixed, one per function

#: Tasks built in this process (a worker keeps its data across jobs).
_TASKS: dict[str, Any] = {}


def task_for(recipe: Recipe) -> Task:
    """The task ``recipe`` trains on, built once per process (a worker keeps its data across jobs).

    Examples
    --------
    >>> from data_builders.recipes import get_recipe
    >>> task_for(get_recipe("act-bench-mnist1d")) is task_for(get_recipe("act-bench-mnist1d"))
    True
    """
    key = json.dumps([recipe.task, recipe.task_args], sort_keys=True)
    if key not in _TASKS:
        _TASKS[key] = create_task(recipe.task, **recipe.task_args)
    return _TASKS[key]


def compute_fim_record(recipe: Recipe, function: str, *, task=None, model_fn=None, device=None) -> dict[str, Any]:
    """FIM features of ``function`` for the recipe's model at initialisation: one batch, fixed seed.

    The model is initialised as the recipe says (AutoInit by default) with seed ``FIM_SEED``; the batch is the
    first ``fim_batch_size`` training examples of a permutation seeded with ``FIM_SEED``, transformed as for
    evaluation; the Fisher is the empirical one (true labels). TF32 is switched off while computing.
    ``model_fn(activation_module_factory) -> nn.Module`` replaces the recipe's model (as in ``train_run``).
    """
    start = time.perf_counter()
    task = task if task is not None else task_for(recipe)
    record: dict[str, Any] = {"type": "features", "function": function}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FIM_SEED)
        if model_fn is not None:
            model = model_fn(activation_factory(function))
        else:
            model = create_model(recipe.model, function, num_classes=task.num_classes)
        try:
            initialize(model, recipe.init, seed=FIM_SEED)
        except InvalidInputError as exc:
            return {**record, "fim_valid": False, "fim_reason": f"initialisation failed: {exc}",
                    "fim_cdf": None, "seconds": time.perf_counter() - start}
        train = task.load("train")
        gen = torch.Generator().manual_seed(FIM_SEED)
        idx = torch.randperm(len(train), generator=gen)[: recipe.fim_batch_size]
        mean, std = (train.mean, train.std) if recipe.normalize else (None, None)
        x = eval_batch(train.x[idx], recipe.augment, image_size=recipe.image_size, mean=mean, std=std)
        y = train.y[idx]
        if device is not None:
            model, x, y = model.to(device), x.to(device), y.to(device)
        tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            result = compute_fim_features(model, x, y, seed=FIM_SEED)
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    vector = None if result.features is None else np.asarray(result.features, dtype=np.float32)
    valid = bool(result.valid) and vector is not None and bool(np.isfinite(vector).all())
    return {**record, "fim_valid": valid, "fim_reason": None if valid else (result.reason or "non-finite CDF"),
            "fim_cdf": vector.tolist() if valid else None, "seconds": time.perf_counter() - start}
