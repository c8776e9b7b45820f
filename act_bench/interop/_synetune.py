"""Export a table as a Syne Tune tabular blackbox (the on-disk layout of ``syne_tune.blackbox_repository``).

Syne Tune (``syne_tune/blackbox_repository/blackbox_tabular.py``, ``serialize``/``deserialize``) stores a tabular
blackbox as a folder of five files, which :func:`export_synetune` writes without importing Syne Tune:

* ``hyperparameters.parquet`` - one row per configuration; here one column ``activation`` (the function, canonical
  string), one row per unique function of the table;
* ``configspace.json`` - the search space as ``syne_tune.config_space.config_space_to_json_dict`` writes it:
  ``{"activation": {"domain_cls": "Categorical", "domain_kwargs": {"categories": [...]}, "sampler_cls": "Uniform",
  "sampler_kwargs": {}}}``;
* ``fidelityspace.json`` - the fidelity space, ``{"epoch": Integer(lower, upper)}`` in the same encoding;
* ``objectives_evaluations.npy`` - float32 array of shape ``(tasks, configurations, seeds, fidelities,
  objectives)``; one task (the table), the table's seeds (its ``runs``; a table without runs, such as an upstream
  import, has one "seed" holding the medians) and the fidelities: epochs ``1 .. E`` when the runs carry learning
  curves (``CURVE_COLUMNS``), else one fidelity, the final epoch. Per epoch, ``val_accuracy``, ``val_loss`` and
  ``train_loss`` come from the curves and ``runtime`` is the cumulative training seconds (Syne Tune's elapsed-time
  convention); the test and train accuracies and the test loss are measured after the last epoch only, so they are
  NaN at earlier epochs, and a diverged run's epochs after its divergence are NaN;
* ``fidelities_values.npy`` - the fidelity values (``[1, ..., E]``, or ``[epochs]``);
* ``metadata.json`` - ``objectives_names`` and ``task_names`` (what ``deserialize`` reads) plus act-bench's notes.

``syne_tune.blackbox_repository.blackbox_tabular.deserialize(DIR)`` returns ``{table name: BlackboxTabular}``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from act_bench._io import make_temp_dir
from act_bench.errors import InvalidInputError
from act_bench.tables import BenchmarkTable

__all__ = ["SYNETUNE_FILES", "SYNETUNE_OBJECTIVES", "export_synetune"]

#: Objectives in the order of the last axis of ``objectives_evaluations.npy``.
SYNETUNE_OBJECTIVES = ("val_accuracy", "test_accuracy", "train_accuracy", "val_loss", "test_loss", "train_loss",
                       "runtime")
#: Files of a Syne Tune tabular blackbox folder.
SYNETUNE_FILES = ("hyperparameters.parquet", "configspace.json", "fidelityspace.json", "objectives_evaluations.npy",
                  "fidelities_values.npy", "metadata.json")


def _domain(cls: str, **kwargs: Any) -> dict[str, Any]:
    """One entry of a Syne Tune config-space JSON (``syne_tune.config_space.to_dict``), uniform sampler."""
    return {"domain_cls": cls, "domain_kwargs": kwargs, "sampler_cls": "Uniform", "sampler_kwargs": {}}


#: Objectives read per epoch from a run's learning curve (``runtime``: cumulative training seconds).
_CURVE_OF = {"val_accuracy": "curve_val_accuracy", "val_loss": "curve_val_loss", "train_loss": "curve_train_loss",
             "runtime": "curve_seconds"}


def _curve_epochs(table: BenchmarkTable) -> int:
    """Epochs of the longest learning curve of the table's runs (0: the table keeps no curves)."""
    runs = table.runs
    if len(runs) == 0 or "curve_val_accuracy" not in runs:
        return 0
    return int(max((len(c) for c in runs["curve_val_accuracy"]), default=0))


def _objectives(table: BenchmarkTable, curve_epochs: int) -> tuple[np.ndarray, list[int] | None]:
    """``(configurations, seeds, fidelities, objectives)`` float32 and the seeds (``None``: one axis entry of medians).

    Without curves (``curve_epochs == 0``) one fidelity holds the final metrics; with curves, ``curve_epochs``
    fidelities hold the curves' per-epoch values and the final-only metrics at the last epoch.
    """
    functions = table.functions
    names = list(functions["function"])
    runs = table.runs
    if len(runs) == 0:
        values = np.stack([functions[c].to_numpy(dtype=np.float64) for c in SYNETUNE_OBJECTIVES], axis=-1)
        return values[:, None, None, :].astype(np.float32), None
    seeds = sorted(int(s) for s in runs["seed"].unique())
    row = {n: i for i, n in enumerate(names)}
    col = {s: j for j, s in enumerate(seeds)}
    out = np.full((len(names), len(seeds), max(curve_epochs, 1), len(SYNETUNE_OBJECTIVES)), np.nan, dtype=np.float32)
    if not curve_epochs:
        r = runs["function"].map(row).to_numpy()
        s = runs["seed"].map(col).to_numpy()
        for k, c in enumerate(SYNETUNE_OBJECTIVES):
            out[r, s, 0, k] = runs[c].to_numpy(dtype=np.float64)
        return out, seeds
    for run in runs.itertuples(index=False):
        i, j = row[run.function], col[int(run.seed)]
        n = len(run.curve_val_accuracy)
        for k, metric in enumerate(SYNETUNE_OBJECTIVES):
            curve = _CURVE_OF.get(metric)
            if curve is not None and n:
                out[i, j, :n, k] = np.asarray(getattr(run, curve), dtype=np.float64)[:n]
            elif n == curve_epochs:  # measured after the last epoch only
                out[i, j, curve_epochs - 1, k] = getattr(run, metric)
    return out, seeds


def export_synetune(table: BenchmarkTable, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` as a Syne Tune tabular blackbox folder at ``path`` (must not exist or be empty).

    Parameters
    ----------
    table : BenchmarkTable
        The table; its name becomes the blackbox's task name.
    path : path
        Output folder, written atomically (temporary folder, then rename).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from act_bench.tables import load_table
    >>> out = export_synetune(load_table("tests/data/tiny-table"), "bb")           # doctest: +SKIP
    >>> from syne_tune.blackbox_repository.blackbox_tabular import deserialize     # doctest: +SKIP
    >>> deserialize(out)["tiny-table"].objectives_evaluations.shape                # doctest: +SKIP
    (6, 3, 1, 7)
    """
    if not isinstance(table, BenchmarkTable):
        raise InvalidInputError(f"parameter table of export_synetune must be a BenchmarkTable; got "
                                f"{type(table).__name__}")
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInputError(f"output path {str(target)!r} exists and is not an empty directory; choose a new path")
    names = [str(n) for n in table.functions["function"]]
    recipe = table.metadata.get("recipe") or {}
    epochs = recipe.get("epochs") if isinstance(recipe.get("epochs"), int) and recipe.get("epochs") > 0 else None
    curve_epochs = _curve_epochs(table)
    objectives, seeds = _objectives(table, curve_epochs)
    if curve_epochs:
        fidelities = list(range(1, curve_epochs + 1))
        fidelity_note = (f"epochs 1..{curve_epochs} from the runs' learning curves: val_accuracy, val_loss, "
                         "train_loss per epoch, runtime = cumulative training seconds; test/train accuracy and "
                         "test loss only after the last epoch (NaN before); NaN after a run's divergence")
    else:
        fidelities = [epochs or 1]
        fidelity_note = ("one fidelity: the metrics after the final epoch"
                         + (f" ({epochs})" if epochs else " (number of epochs not recorded in the table)")
                         + "; the table keeps no learning curves")
    metadata = {
        "objectives_names": list(SYNETUNE_OBJECTIVES),
        "task_names": [table.name],
        "metric_default": "val_accuracy",
        "mode": "max",
        "metric_elapsed_time": "runtime",
        "hyperparameter": "activation",
        "seeds": seeds if seeds is not None else ["median"],
        "fidelity": "epoch",
        "fidelity_note": fidelity_note,
        "seed_note": ("one entry per training seed of the table's runs; NaN where a function lacks that seed"
                      if seeds is not None else "the table has no per-seed runs: one entry holding the medians"),
        "source": {"act_bench_table": table.name, "source": table.metadata.get("source"),
                   "task": table.metadata.get("task"), "model": table.metadata.get("model"),
                   "license": table.metadata.get("license_name") or table.metadata.get("license")},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target)
    try:
        pq.write_table(pa.table({"activation": pa.array(names, pa.string())}), tmp / "hyperparameters.parquet")
        (tmp / "configspace.json").write_text(
            json.dumps({"activation": _domain("Categorical", categories=names)}), encoding="utf-8")
        (tmp / "fidelityspace.json").write_text(
            json.dumps({"epoch": _domain("Integer", lower=1, upper=fidelities[-1])}), encoding="utf-8")
        with open(tmp / "objectives_evaluations.npy", "wb") as fh:
            np.save(fh, objectives[None], allow_pickle=False)
        with open(tmp / "fidelities_values.npy", "wb") as fh:
            np.save(fh, np.array(fidelities, dtype=np.int64), allow_pickle=False)
        (tmp / "metadata.json").write_text(json.dumps(metadata, indent=1), encoding="utf-8")
        if target.is_dir():
            os.rmdir(target)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
