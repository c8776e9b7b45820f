"""One training run: (recipe, activation function, seed) -> metrics, learning curve, runtime and status.

The loop is written for throughput and for accelerators (measured in ``benchmarks/bench_build.py``):

* every split lives on the run's device for the whole run (cached per process, so the runs of one worker share
  it); 1-D (float) inputs are normalised once, and without training augmentation an epoch's batches are slices
  of one gathered copy in the epoch's order (pre-batched); otherwise (images stay ``uint8``) each batch is
  gathered and transformed on the device, the random parameters of its augmentations drawn from the run's seeded
  CPU generator (so results do not depend on the device);
* no host synchronisation per step: every step's loss goes into a device buffer, which is read every
  :data:`DIVERGENCE_CHECK_STEPS` steps (more often in the first steps) and at the end of each epoch to detect
  divergence (the first non-finite
  step is named exactly) and to give the epoch's training loss;
* with an SGD recipe, one optimiser step (clipping included) on a flat parameter buffer (:class:`_FlatSGD`);
* evaluation reads each split's summed loss and correct count once (one synchronisation per split).

The arithmetic is the one of the per-batch loop it replaced (same batches, same order of random draws, the same
evaluation batches summed in the same order), so the metrics of a recipe without augmentation are unchanged.
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from act_bench.errors import InvalidInputError
from act_bench.space import as_expr, fast_kernels
from act_bench.tables import CURVE_COLUMNS, METRICS, RunRecord, RunStatus
from data_builders._augment import _to_device

__all__ = ["CURVES", "DIVERGENCE_CHECK_STEPS", "METRICS", "RunResult", "RunStatus", "resolve_device", "train_run"]

#: Per-epoch learning-curve fields of a run (one value per finished epoch): validation accuracy and loss after the
#: epoch, mean training loss over the epoch's steps, training seconds since the start of the run (evaluation
#: excluded). The same names as the table's ``runs`` columns.
CURVES = CURVE_COLUMNS

#: Steps between two divergence checks once past the start (each check reads the loss buffer: one host
#: synchronisation). Checks come after steps 1, 2, 4, 8, ... (most diverging runs fail in their first steps), then
#: every ``DIVERGENCE_CHECK_STEPS`` steps, and at the end of every epoch.
DIVERGENCE_CHECK_STEPS = 64

#: Batch size of the evaluation passes.
EVAL_BATCH_SIZE = 1024


#: The outcome of one run: one record type for training, the job engine's journal and the table writer.
RunResult = RunRecord


def resolve_device(recipe, device: str | torch.device | None = None) -> torch.device:
    """``device`` if given; else CUDA when available and the recipe asks for GPUs, else CPU."""
    if device is not None:
        return torch.device(device)
    if recipe.gpus_per_run > 0 and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def _chance(function: str, seed: int, num_classes: int, runtime: float, status: RunStatus, error: str | None,
            epochs: int, device: str, curves: dict[str, list[float]] | None = None) -> RunResult:
    acc, loss = 1.0 / num_classes, math.log(num_classes)
    return RunResult(function, seed, acc, acc, acc, loss, loss, loss, runtime, status.value, error, epochs, device,
                     **(curves or {}))


# ------------------------------------------------------------------------------------------ device-resident data

@dataclass(frozen=True)
class _Split:
    """One split on the run's device: ``x`` normalised float inputs (``ready``) or raw inputs to transform."""

    x: torch.Tensor
    y: torch.Tensor
    ready: bool


_RESIDENT: OrderedDict[tuple[Any, ...], tuple[Any, _Split]] = OrderedDict()
_RESIDENT_MAX = 8


def _resident(data, device: torch.device, *, normalize: bool, ready: bool, augment, image_size) -> _Split:
    """``data`` (a TaskData) on ``device``, cached per process (the TaskData object is kept alive by the cache).

    ``ready``: apply the evaluation transform once to the whole split (used when no training augmentation needs the
    raw inputs); else keep the raw inputs (``uint8`` images stay ``uint8``: four times less device memory).
    """
    from data_builders.augment import eval_batch

    key = (id(data), str(device), normalize, ready)
    hit = _RESIDENT.get(key)
    if hit is not None and hit[0] is data:
        _RESIDENT.move_to_end(key)
        return hit[1]
    x = data.x.to(device)
    if ready:
        mean, std = (data.mean, data.std) if normalize else (None, None)
        x = torch.cat([eval_batch(x[s:s + EVAL_BATCH_SIZE], augment, image_size=image_size, mean=mean, std=std)
                       for s in range(0, len(data), EVAL_BATCH_SIZE)]) if len(data) else x.float()
    split = _Split(x, data.y.to(device), ready)
    _RESIDENT[key] = (data, split)
    while len(_RESIDENT) > _RESIDENT_MAX:
        _RESIDENT.popitem(last=False)
    return split


@torch.no_grad()
def _evaluate(model, split: _Split, recipe, mean, std) -> tuple[float, float]:
    """Accuracy and mean loss of ``model`` on ``split``: one host synchronisation for the whole split."""
    from data_builders.augment import eval_batch

    model.eval()
    n = int(split.y.shape[0])
    losses, hits = [], []
    for start in range(0, n, EVAL_BATCH_SIZE):
        xb = split.x[start:start + EVAL_BATCH_SIZE]
        if not split.ready:
            xb = eval_batch(xb, recipe.augment, image_size=recipe.image_size, mean=mean, std=std)
        yb = split.y[start:start + EVAL_BATCH_SIZE]
        logits = model(xb).float()
        losses.append(F.cross_entropy(logits, yb, reduction="sum"))
        # a row whose largest logit is not finite (NaN, which argmax picks, or +inf) is a wrong prediction; a row
        # of a run with finite losses has no such logit, so its count is the plain argmax count
        hits.append(((logits.argmax(1) == yb) & torch.isfinite(logits.amax(1))).sum())
    if not losses:
        return math.nan, math.nan
    # the one synchronisation; float32 sums and integer counts are exact in float64
    loss_values, hit_values = torch.stack([torch.stack(losses).double(), torch.stack(hits).double()]).tolist()
    correct = int(sum(hit_values))
    total = 0.0
    for v in loss_values:  # summed in batch order in double precision
        total += v
    return correct / n, total / n


class _FlatSGD:
    """The recipe's SGD step with gradient-norm clipping, on one flat parameter buffer (a few kernels per step).

    The parameters become views of one contiguous buffer; each step clips the gradients as
    ``torch.nn.utils.clip_grad_norm_`` does (the norm of the per-tensor norms, coefficient
    ``min(max_norm / (norm + 1e-6), 1)``), concatenates them and applies ``torch.optim.SGD``'s update (L2 weight decay,
    momentum, Nesterov) to the whole buffer at once: the same elementwise arithmetic as the per-tensor
    implementations, in about ten operations instead of several per parameter tensor plus their Python overhead.
    """

    def __init__(self, params: list[torch.Tensor], recipe) -> None:
        self.params = params
        opt = recipe.optimizer
        self.weight_decay, self.momentum, self.nesterov = opt.weight_decay, opt.momentum, opt.nesterov
        self.clip = recipe.grad_clip_norm
        with torch.no_grad():
            self.flat = torch.cat([p.detach().reshape(-1) for p in params])
            offset = 0
            for p in params:
                p.data = self.flat[offset:offset + p.numel()].view_as(p)
                offset += p.numel()
        self.buf: torch.Tensor | None = None

    @staticmethod
    def supports(params: list[torch.Tensor], recipe) -> bool:
        return (recipe.optimizer.name == "sgd" and len(params) > 0
                and len({(p.device, p.dtype) for p in params}) == 1)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float) -> None:
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            raise RuntimeError("a parameter of the model received no gradient; the flat SGD step needs all of them")
        if self.clip is not None:
            total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
            coef = torch.clamp(self.clip / (total + 1e-6), max=1.0)
        grad = torch.cat([g.reshape(-1) for g in grads])
        if self.clip is not None:
            grad.mul_(coef)
        if self.weight_decay != 0:
            grad = grad.add(self.flat, alpha=self.weight_decay)
        if self.momentum != 0:
            if self.buf is None:
                self.buf = grad.detach().clone()
            else:
                self.buf.mul_(self.momentum).add_(grad, alpha=1.0)
            grad = grad.add(self.buf, alpha=self.momentum) if self.nesterov else self.buf
        self.flat.add_(grad, alpha=-lr)


def _first_bad(buffer: torch.Tensor) -> int | None:
    """Index of the first non-finite value of ``buffer`` (one synchronisation), or None."""
    bad = ~torch.isfinite(buffer)
    if not bool(bad.any()):
        return None
    return int(bad.nonzero()[0, 0])


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


@contextmanager
def _deterministic_kernels(dev: torch.device) -> Iterator[None]:
    """Deterministic kernels for one run on CUDA (cuDNN without autotuning, cuBLAS with a fixed workspace, torch's
    deterministic algorithms, e.g. sort-based index backward instead of atomics); the previous settings are restored
    afterwards. CPU kernels are deterministic already, so on the CPU this does nothing."""
    if dev.type != "cuda":
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS creates its handle
    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark, torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    cudnn.deterministic, cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved[0], saved[1]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])


def train_run(recipe, function: str, seed: int, *, task=None, device: str | torch.device | None = None,
              amp: bool = False, model_kwargs: dict[str, Any] | None = None, model_fn=None) -> RunResult:
    """Train the recipe's model with activation ``function`` and return its metrics and learning curve.

    Deterministic given ``seed`` on one device: the weights (AutoInit or PyTorch default), the batch order, dropout
    and augmentations all come from generators seeded with ``seed``; the global RNG state is restored afterwards.
    A non-finite training loss stops the run with status ``diverged`` and chance-level metrics (checked every
    :data:`DIVERGENCE_CHECK_STEPS` steps and at each epoch's end; the error names the first non-finite step and the
    curve keeps the epochs finished before it); so does an activation whose AutoInit moments are not finite.

    A run that completes training is ``ok`` with its real accuracies, whatever its evaluation losses: a row whose
    largest logit is not finite counts as a wrong prediction, a non-finite evaluation loss is stored as NaN and
    ``eval_loss_nonfinite`` is set.

    After each epoch the validation split is evaluated; the curve fields (:data:`CURVES`) record it, the epoch's
    mean training loss and the training seconds so far. The run's ``val_accuracy``/``val_loss`` are those of the
    last epoch.

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
    >>> r.status, 0.0 <= r.val_accuracy <= 1.0, r.curve_val_accuracy == [r.val_accuracy]
    ('ok', True, True)
    """
    from data_builders.augment import train_batch
    from data_builders.autoinit import initialize
    from data_builders.models import activation_factory, create_model
    from data_builders.schedules import build_optimizer, build_scheduler, learning_rates
    from data_builders.tasks import create_task

    function = str(as_expr(function))
    dev = resolve_device(recipe, device)
    if task is None:
        task = create_task(recipe.task, **recipe.task_args)
    start = time.perf_counter()
    curves: dict[str, list[float]] = {c: [] for c in CURVES}
    with (_deterministic_kernels(dev), fast_kernels(dev.type == "cpu"),
          torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else [])):
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
                           str(exc), 0, dev.type, curves)
        model.to(dev)
        raw = {s: task.load(s) for s in ("train", "val", "test")}
        stats = raw["train"]
        mean = torch.tensor(stats.mean, dtype=torch.float32, device=dev) if recipe.normalize else None
        std = torch.tensor(stats.std, dtype=torch.float32, device=dev) if recipe.normalize else None
        common = {"normalize": recipe.normalize, "augment": recipe.augment, "image_size": recipe.image_size}
        # 1-D (float) inputs are normalised once; images stay uint8 and are transformed batch by batch
        float_inputs = stats.x.is_floating_point()
        augmenting = not (float_inputs and not recipe.augment.enabled)
        train = _resident(raw["train"], dev, ready=not augmenting, **common)
        val = _resident(raw["val"], dev, ready=float_inputs, **common)
        test = _resident(raw["test"], dev, ready=float_inputs, **common)
        n = len(raw["train"])
        bs = recipe.batch_size
        steps_per_epoch = max(1, n // bs)  # drop the last partial batch
        params = [p for p in model.parameters() if p.requires_grad]  # listed once, not walked every step
        flat = _FlatSGD(params, recipe) if model_fn is None and _FlatSGD.supports(params, recipe) else None
        if flat is None:
            optimizer = build_optimizer(model.parameters(), recipe)
            scheduler = build_scheduler(optimizer, recipe, steps_per_epoch)
        lrs = learning_rates(recipe, steps_per_epoch).tolist()
        gen = torch.Generator().manual_seed(seed)
        use_amp = amp and dev.type == "cuda"
        losses = torch.empty(steps_per_epoch, device=dev)
        train_seconds = 0.0
        done_steps, next_check = 0, 1  # checks after steps 1, 2, 4, ..., then every DIVERGENCE_CHECK_STEPS steps
        for epoch in range(recipe.epochs):
            epoch_start = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=gen)
            if not augmenting:  # pre-batched: one gather per epoch, batches are slices of it
                order_dev = _to_device(order[:steps_per_epoch * bs], dev)
                xs, ys = train.x[order_dev], train.y[order_dev]
            else:
                order_dev = _to_device(order, dev)
            checked = 0
            for step in range(steps_per_epoch):
                if not augmenting:
                    xb, target = xs[step * bs:(step + 1) * bs], ys[step * bs:(step + 1) * bs]
                else:
                    idx = order_dev[step * bs:(step + 1) * bs]
                    xb, target = train_batch(train.x[idx], train.y[idx], recipe.augment, gen,
                                             num_classes=task.num_classes, image_size=recipe.image_size,
                                             mean=mean, std=std)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                    logits = model(xb)
                loss = F.cross_entropy(logits.float(), target)
                losses[step] = loss.detach()
                if flat is not None:
                    flat.zero_grad()
                    loss.backward()
                    flat.step(lrs[done_steps])
                else:
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if recipe.grad_clip_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip_norm)
                    optimizer.step()
                    scheduler.step()
                done_steps += 1
                if done_steps == next_check or step + 1 == steps_per_epoch:
                    next_check = done_steps + min(done_steps, DIVERGENCE_CHECK_STEPS)
                    bad = _first_bad(losses[checked:step + 1])
                    if bad is not None:
                        return _chance(function, seed, task.num_classes, time.perf_counter() - start,
                                       RunStatus.DIVERGED, f"non-finite training loss at epoch {epoch + 1}, step "
                                       f"{checked + bad + 1}", epoch, dev.type, curves)
                    checked = step + 1
            train_loss_epoch = float(losses.double().mean())
            _sync(dev)
            train_seconds += time.perf_counter() - epoch_start
            val_acc, val_loss = _evaluate(model, val, recipe, mean, std)
            curves["curve_val_accuracy"].append(val_acc)
            curves["curve_val_loss"].append(val_loss)
            curves["curve_train_loss"].append(train_loss_epoch)
            curves["curve_seconds"].append(round(train_seconds, 4))
        train_acc, train_loss = _evaluate(model, train, recipe, mean, std)
        test_acc, test_loss = _evaluate(model, test, recipe, mean, std)
    runtime = time.perf_counter() - start
    # training completed: the run is ok with its real accuracies; a non-finite evaluation loss is stored as NaN and
    # flagged (``diverged`` means a non-finite training loss, nothing else)
    final = [v if math.isfinite(v) else math.nan for v in (train_loss, val_loss, test_loss)]
    return RunResult(function, seed, train_acc, val_acc, test_acc, *final, runtime, RunStatus.OK.value, None,
                     recipe.epochs, dev.type, **curves, eval_loss_nonfinite=any(math.isnan(v) for v in final))
