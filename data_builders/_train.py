"""One training run: (recipe, activation function, seed) -> metrics, runtime and status."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F

from act_bench.errors import InvalidInputError
from act_bench.space import as_expr

__all__ = ["METRICS", "RunResult", "RunStatus", "resolve_device", "train_run"]

METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss")


class RunStatus(str, Enum):
    OK = "ok"
    DIVERGED = "diverged"
    FAILED = "failed"


@dataclass
class RunResult:
    """Outcome of one (function, seed) run; ``diverged`` runs carry chance-level metrics."""

    function: str
    seed: int
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    train_loss: float
    val_loss: float
    test_loss: float
    runtime: float
    status: str = RunStatus.OK.value
    error: str | None = None
    epochs: int = 0
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(recipe, device: str | torch.device | None = None) -> torch.device:
    """``device`` if given; else CUDA when available and the recipe asks for GPUs, else CPU."""
    if device is not None:
        return torch.device(device)
    if recipe.gpus_per_run > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _chance(function: str, seed: int, num_classes: int, runtime: float, status: RunStatus, error: str | None,
            epochs: int, device: str) -> RunResult:
    acc, loss = 1.0 / num_classes, math.log(num_classes)
    return RunResult(function, seed, acc, acc, acc, loss, loss, loss, runtime, status.value, error, epochs, device)


@torch.no_grad()
def _evaluate(model, data, recipe, device, batch_size: int = 1024) -> tuple[float, float]:
    from data_builders.augment import eval_batch

    model.eval()
    total_loss, correct, n = 0.0, 0, len(data)
    mean, std = (data.mean, data.std) if recipe.normalize else (None, None)
    for start in range(0, n, batch_size):
        xb = eval_batch(data.x[start:start + batch_size], recipe.augment, image_size=recipe.image_size,
                        mean=mean, std=std).to(device)
        yb = data.y[start:start + batch_size].to(device)
        logits = model(xb).float()
        total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return correct / n, total_loss / n


def train_run(recipe, function: str, seed: int, *, task=None, device: str | torch.device | None = None,
              amp: bool = False, model_kwargs: dict[str, Any] | None = None, model_fn=None) -> RunResult:
    """Train the recipe's model with activation ``function`` and return its metrics.

    Deterministic given ``seed`` on CPU: the weights (AutoInit or PyTorch default), the batch order, dropout and
    augmentations all come from generators seeded with ``seed``; the global RNG state is restored afterwards.
    A non-finite training loss stops the run with status ``diverged`` and chance-level metrics; so does an
    activation whose AutoInit moments are not finite.

    Parameters
    ----------
    recipe : data_builders.recipes.Recipe
    function : str
        Activation expression.
    seed : int
    task : Task, optional
        Defaults to ``create_task(recipe.task, **recipe.task_args)``.
    device : str, optional
        Defaults to :func:`resolve_device`.
    amp : bool
        bf16 autocast on CUDA.
    model_fn : callable, optional
        ``model_fn(activation_module_factory) -> nn.Module`` to train a user's own network instead of the recipe's.

    Examples
    --------
    >>> from data_builders.recipes import create_recipe
    >>> r = train_run(create_recipe("act-bench-mnist1d", epochs=1), "relu(x)", seed=0)
    >>> r.status, 0.0 <= r.val_accuracy <= 1.0
    ('ok', True)
    """
    from data_builders.augment import train_batch
    from data_builders.autoinit import initialize
    from data_builders.models import create_model
    from data_builders.models._registry import activation_factory
    from data_builders.schedules import build_optimizer, build_scheduler
    from data_builders.tasks import create_task

    function = str(as_expr(function))
    dev = resolve_device(recipe, device)
    if task is None:
        task = create_task(recipe.task, **recipe.task_args)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
        torch.manual_seed(seed)  # only inside fork_rng: the caller's RNG state is restored on exit
        if model_fn is not None:
            model = model_fn(activation_factory(function))
        else:
            kwargs = dict(model_kwargs or {})
            if recipe.dropout and "dropout" not in kwargs and recipe.model in ("all-cnn-c",):
                kwargs["dropout"] = recipe.dropout
            model = create_model(recipe.model, function, num_classes=task.num_classes, **kwargs)
        try:
            initialize(model, recipe.init, seed=seed)
        except InvalidInputError as exc:
            return _chance(function, seed, task.num_classes, time.perf_counter() - start, RunStatus.DIVERGED,
                           str(exc), 0, dev.type)
        model.to(dev)
        train, val, test = task.load("train"), task.load("val"), task.load("test")
        mean, std = (train.mean, train.std) if recipe.normalize else (None, None)
        n = len(train)
        steps_per_epoch = max(1, n // recipe.batch_size)  # drop the last partial batch
        optimizer = build_optimizer(model.parameters(), recipe)
        scheduler = build_scheduler(optimizer, recipe, steps_per_epoch)
        gen = torch.Generator().manual_seed(seed)
        use_amp = amp and dev.type == "cuda"
        for epoch in range(recipe.epochs):
            model.train()
            order = torch.randperm(n, generator=gen)
            for step in range(steps_per_epoch):
                idx = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
                xb, target = train_batch(train.x[idx], train.y[idx], recipe.augment, gen,
                                         num_classes=task.num_classes, image_size=recipe.image_size,
                                         mean=mean, std=std)
                xb, target = xb.to(dev, non_blocking=True), target.to(dev, non_blocking=True)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                    logits = model(xb)
                loss = F.cross_entropy(logits.float(), target)
                if not torch.isfinite(loss):
                    return _chance(function, seed, task.num_classes, time.perf_counter() - start,
                                   RunStatus.DIVERGED, f"non-finite training loss at epoch {epoch + 1}, step {step + 1}",
                                   epoch, dev.type)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if recipe.grad_clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip_norm)
                optimizer.step()
                scheduler.step()
        train_acc, train_loss = _evaluate(model, train, recipe, dev)
        val_acc, val_loss = _evaluate(model, val, recipe, dev)
        test_acc, test_loss = _evaluate(model, test, recipe, dev)
    runtime = time.perf_counter() - start
    if not all(math.isfinite(v) for v in (train_loss, val_loss, test_loss)):
        return _chance(function, seed, task.num_classes, runtime, RunStatus.DIVERGED,
                       "non-finite evaluation loss after training", recipe.epochs, dev.type)
    return RunResult(function, seed, train_acc, val_acc, test_acc, train_loss, val_loss, test_loss, runtime,
                     RunStatus.OK.value, None, recipe.epochs, dev.type)
