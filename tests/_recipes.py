"""The tiny recipe of the tests: act-bench-mnist1d on 1,000 examples (100 of them for validation), ``epochs`` epochs
and a FIM batch of 32, so that build, live-search and provenance tests train for real in well under a second per run.
"""

from __future__ import annotations

from pathlib import Path

from data_builders.recipes import Recipe, get_recipe, save_recipe


def tiny_recipe(epochs: int = 1) -> Recipe:
    return get_recipe("act-bench-mnist1d").with_overrides(
        epochs=epochs, task_args={"num_samples": 1000, "val_size": 100}, fim_batch_size=32)


def save_tiny_recipe(folder: Path, epochs: int = 1) -> Path:
    """:func:`tiny_recipe` written as ``folder/tiny-mnist1d.yaml`` (for the CLI's ``--recipe``)."""
    path = Path(folder) / "tiny-mnist1d.yaml"
    save_recipe(tiny_recipe(epochs), path)
    return path
