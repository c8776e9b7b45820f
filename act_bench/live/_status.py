"""Reading a live-search journal: a status summary and the export of its results to a benchmark table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from act_bench.engine import Journal
from act_bench.errors import InvalidInputError
from act_bench.live._summary import best_result
from data_builders.build import journal_to_table

__all__ = ["export_table", "journal_status"]


def journal_status(journal: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts and best result of a journal, read without modifying it.

    Returns
    -------
    dict
        ``candidates`` (functions of the space, all spellings), ``unique`` (equivalence classes), ``with_features``,
        ``valid_features``, ``evaluated`` (final results), ``running`` (runs claimed by a live driver), ``failed``,
        ``diverged``, ``failed_attempts``, ``driver_alive``, ``budget``, ``searcher``, ``seed``, ``recipe`` (name),
        ``spaces``, ``sessions`` and ``best`` (``function``, ``val_accuracy``, ``test_accuracy``, ``status``,
        ``seq``; ``None`` before any result).

    Examples
    --------
    >>> journal_status("search.sqlite")["evaluated"]   # doctest: +SKIP
    6
    """
    with Journal.open(journal, readonly=True) as j:
        counts = j.counts()
        config = j.config()
        alive = j.driver_alive()
        return {
            "journal": str(Path(journal)),
            "candidates": counts["spellings"],
            "unique": counts["unique"],
            "with_features": counts["with_features"],
            "valid_features": counts["valid_features"],
            "evaluated": counts["evaluated"],
            "running": counts["running"] if alive else 0,
            "stale_claims": 0 if alive else counts["running"],
            "failed": counts["failed"],
            "diverged": counts["diverged"],
            "failed_attempts": counts["failed_attempts"],
            "driver_alive": alive,
            "budget": config.get("budget"),
            "searcher": config.get("searcher"),
            "seed": config.get("seed"),
            "recipe": (config.get("recipe") or {}).get("name"),
            "spaces": config.get("spaces"),
            "sessions": len(j.sessions()),
            "best": best_result(j.results()),
        }


def export_table(journal: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *,
                 overwrite: bool = False):
    """The journal's results as a :class:`~act_bench.tables.BenchmarkTable` (written to ``out`` if given).

    One run per evaluated function (the search's training seed), so the ``functions`` medians equal the runs; rows
    follow the candidate order of the journal. Features are the journal's FIM CDFs (functions whose features were
    not computed get ``fim_valid=False``), equivalents come from the candidates. It is the builders' assembler
    (:func:`data_builders.build.journal_to_table`), so the metadata is a built table's (``recipe``, ``fim_layout``,
    ``build``, the ``code`` version the journal was written with) with ``source="act-bench search"``: the table can
    be loaded, replayed and published like a built one.

    Examples
    --------
    >>> table = export_table("search.sqlite", "my-table")   # doctest: +SKIP
    """
    with Journal.open(journal, readonly=True) as j:
        if j.n_results() == 0:
            raise InvalidInputError(f"journal {str(journal)!r} has no results yet; nothing to export")
        config = j.config()
        recipe = config.get("recipe") or {}
        order = [r.record.function for r in sorted(j.results(), key=lambda r: r.seq)]
        table = journal_to_table(
            j, name=f"live-{recipe.get('name', 'search')}", recipe=recipe, fim_layout=config.get("fim_layout") or [],
            source="act-bench search", space=config.get("spaces"), seeds=[int(config.get("train_seed", 0))],
            task=recipe.get("task") if config.get("task") == "recipe" else config.get("task"),
            model=recipe.get("model") if config.get("model") == "recipe" else config.get("model"),
            journal_folder=Path(journal).name,
            search={"searcher": config.get("searcher"), "searcher_kwargs": config.get("searcher_kwargs"),
                    "seed": config.get("seed"), "budget": config.get("budget"), "order": order})
    if out is not None:
        table.save(out, overwrite=overwrite)
    return table
