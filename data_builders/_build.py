"""What a table build trains: the plan (every unique function of a space, in build order), the worker entry points
of its jobs (one training run, the FIM features of one function) and the check that a recipe can be built.

The job engine (:mod:`act_bench.engine`) runs these jobs, journals them and assembles the table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.features import FeatureLayout, fim_layout
from act_bench.space import BASELINE_FUNCTIONS, PAPER_THREE_NODE_SCHEMA, as_expr, equivalence_classes
from data_builders._fim import compute_fim_record, task_for
from data_builders._train import train_run
from data_builders.models import activation_factory, create_model, get_model_spec
from data_builders.recipes import Recipe
from data_builders.tasks import ImageTask, Task

__all__ = [
    "BuildPlan",
    "check_buildable",
    "check_task_loads",
    "compute_fim_record",
    "fim_model_layout",
    "plan_functions",
    "run_fim_job",
    "run_train_job",
]


# ------------------------------------------------------------------------------------------------ jobs (in workers)

def run_train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: one training run (``job``: recipe dict, function, seed); the run record as a dict.

    A user's task object (``job["task"]``) or network (``job["model_fn"]``, picklable) replace the recipe's.
    """
    recipe = Recipe.from_dict(job["recipe"], source="journal recipe")
    task = job.get("task") if job.get("task") is not None else task_for(recipe)
    result = train_run(recipe, job["function"], int(job["seed"]), task=task, model_fn=job.get("model_fn"))
    return result.to_dict()


def run_fim_job(job: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: FIM features of one function (``job``: recipe dict, function[, task, model_fn])."""
    recipe = Recipe.from_dict(job["recipe"], source="journal recipe")
    return compute_fim_record(recipe, job["function"], task=job.get("task"), model_fn=job.get("model_fn"))


def fim_model_layout(recipe, *, task: Any = None, model_fn: Any = None) -> FeatureLayout:
    """The FIM layout of the network a FIM job of ``recipe`` measures: the recipe's model with the task's class count
    (``task``, default: the recipe's task), or ``model_fn``'s network; its bins add up to the length of the
    ``fim_cdf`` vectors of the jobs."""
    if model_fn is not None:
        return fim_layout(model_fn(activation_factory("relu(x)")))
    task = task if task is not None else task_for(recipe)
    return fim_layout(create_model(recipe.model, "relu(x)", num_classes=task.num_classes))


# ------------------------------------------------------------------------------------------------------ plan

@dataclass
class BuildPlan:
    """The functions to build, in build order (baselines first, then a seeded shuffle), with their classes."""

    functions: list[str]
    equivalents: dict[str, list[str]]
    space: list[str]

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.space).encode()).hexdigest()[:16]


def plan_functions(space: Sequence[str] | None = None, *, functions: Iterable[str] | None = None,
                   limit: int | None = None, include_baselines: bool = True, order_seed: int = 0) -> BuildPlan:
    """Unique functions to train: the classes of ``space`` (schemas) and/or explicit ``functions``.

    The 8 baseline functions are added (and represent their classes) unless ``include_baselines=False``; they come
    first, the rest follow in an order shuffled with ``order_seed`` so that a partial build is a uniform sample.
    """
    schemas = list(space) if space else ([] if functions is not None else [PAPER_THREE_NODE_SCHEMA])
    extra = [str(as_expr(f)) for f in functions] if functions is not None else []
    base = list(BASELINE_FUNCTIONS) if include_baselines else []
    classes = equivalence_classes(base + extra, schemas=schemas or None) if (base or extra or schemas) else None
    if classes is None or len(classes) == 0:
        raise InvalidInputError("nothing to build: give a space (schemas) or functions")
    reps = list(classes.representatives)
    equivalents = {r: list(m) for r, m in zip(reps, classes.equivalents)}
    first = [b for b in base if b in equivalents]
    rest = [r for r in reps if r not in set(first)]
    order = np.random.default_rng(order_seed).permutation(len(rest))
    ordered = first + [rest[i] for i in order]
    if limit is not None:
        ordered = ordered[:limit]
    return BuildPlan(ordered, {f: equivalents[f] for f in ordered}, schemas + ([f"functions:{len(extra)}"]
                                                                              if extra else []))


def check_buildable(recipe) -> None:
    """Check before a build starts that its jobs can run: the recipe's task (name and arguments) and model exist
    and fit together, and the task's data load; raises :class:`~act_bench.errors.InvalidInputError` naming the
    recipe otherwise. Builds the task object, one model, and reads the data (see :func:`check_task_loads`)."""
    where = f"recipe {recipe.name!r} cannot be built"
    try:
        task = task_for(recipe)
    except TypeError as exc:  # an argument the task does not take
        raise InvalidInputError(f"{where}: task_args {sorted(recipe.task_args)} do not fit task {recipe.task!r} "
                                f"({exc})") from None
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    try:
        spec = get_model_spec(recipe.model)
        create_model(recipe.model, "relu(x)", num_classes=task.num_classes)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    ours, theirs = tuple(task.input_shape), spec.input_shape
    if len(ours) != len(theirs) or ours[:1] != theirs[:1]:  # rank and channels (sizes may differ: pooling heads)
        raise InvalidInputError(f"{where}: task {recipe.task!r} gives inputs of shape {ours} but model "
                                f"{recipe.model!r} takes inputs of shape {theirs}")
    check_task_loads(task, where=where)


def check_task_loads(task: Task, *, where: str) -> None:
    """Read ``task``'s data as its jobs will, so that data that cannot be loaded (a dataset that is missing, offline
    or malformed) stops a build or live search before any job is queued, not in every job.

    An image task reads the first batch of each source split (the whole split is read by the jobs); any other task
    loads its three splits. Raises :class:`~act_bench.errors.InvalidInputError` (``where``: what cannot run).
    """
    for split in ("train", "val", "test"):
        try:
            if isinstance(task, ImageTask):
                source = {"test": task.source_test}.get(split, task.source_train)
                batches = task._iter_source(source)
                try:
                    next(batches, None)
                finally:
                    batches.close()
            else:
                task.load(split)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a dataset that cannot be read, whatever the reader raises
            name = getattr(task, "name", type(task).__name__)
            raise InvalidInputError(f"{where}: the data of task {name!r} (split {split!r}) cannot be loaded: "
                                    f"{type(exc).__name__}: {exc}") from None
