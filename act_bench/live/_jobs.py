"""Worker entry points of the live search (module-level, so executors can send them to processes or Ray tasks).

Jobs take one plain dict: ``recipe`` (``Recipe.to_dict()``), ``function``, ``seed`` and, for a user's own task and
network (Python API), ``task`` (a task object, shipped with the job) and ``model_fn`` (a picklable callable). Without
them the builders' own entry points (:func:`data_builders.build.run_train_job` and ``run_fim_job``) do the work, so a
live search trains exactly what a table build would.
"""

from __future__ import annotations

from typing import Any

__all__ = ["fim_job", "train_job"]


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """One training run; returns the builder's run record (metrics, runtime, status ok/diverged, error)."""
    from data_builders.build import run_train_job

    if job.get("task") is None and job.get("model_fn") is None:
        return run_train_job(job)
    from data_builders.build import task_for as _task_for
    from data_builders.build import train_run
    from data_builders.recipes import Recipe

    recipe = Recipe.from_dict(job["recipe"], source="journal recipe")
    task = job.get("task") if job.get("task") is not None else _task_for(recipe)
    result = train_run(recipe, job["function"], int(job["seed"]), task=task, model_fn=job.get("model_fn"))
    return {"type": "run", **result.to_dict()}


def fim_job(job: dict[str, Any]) -> dict[str, Any]:
    """FIM features of one function at initialisation (the builder's fixed seed and batch)."""
    from data_builders.build import run_fim_job

    if job.get("task") is None and job.get("model_fn") is None:
        return run_fim_job(job)
    from data_builders.build import compute_fim_record
    from data_builders.recipes import Recipe

    recipe = Recipe.from_dict(job["recipe"], source="journal recipe")
    return compute_fim_record(recipe, job["function"], task=job.get("task"), model_fn=job.get("model_fn"))
