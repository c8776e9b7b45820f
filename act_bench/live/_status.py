"""Reading a live-search journal: a status summary and the export of its results to a benchmark table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from act_bench.engine import Journal, effort
from act_bench.errors import InvalidInputError
from act_bench.live._summary import best_result
from act_bench.tables import RUNS_COLUMNS, BenchmarkTable

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
    not computed get ``fim_valid=False``), outputs and equivalents come from the candidates. The metadata follows the
    builders' tables (``recipe``, ``fim_layout``, ``build``) with ``source="act-bench search"``, so the table can be
    loaded, replayed and published like a built one.

    Examples
    --------
    >>> table = export_table("search.sqlite", "my-table")   # doctest: +SKIP
    """
    with Journal.open(journal, readonly=True) as j:
        config = j.config()
        names, eqs, outputs, _ = j.candidates()
        results = sorted(j.results(), key=lambda r: r.row)
        feats = j.features()
        work = effort(j)
    if not results:
        raise InvalidInputError(f"journal {str(journal)!r} has no results yet; nothing to export")
    cols = list(RUNS_COLUMNS)  # learning curves included
    runs = pd.DataFrame([{c: getattr(r.record, c) for c in cols} for r in results], columns=cols)
    runs["runtime"] = runs["runtime"].fillna(0.0)
    features = {}
    for r in results:
        f = feats.get(r.row)
        features[r.record.function] = {
            "equivalents": eqs[r.row], "outputs": np.asarray(outputs[r.row], dtype=np.float32),
            "fim_valid": bool(f and f["fim_valid"]),
            "fim_reason": None if f and f["fim_valid"] else (f["fim_reason"] if f else "no FIM features"),
            "fim_cdf": None if not f or f["fim_cdf"] is None else f["fim_cdf"],
        }
    recipe = config.get("recipe") or {}
    meta = {
        "name": f"live-{recipe.get('name', 'search')}",
        "task": recipe.get("task") if config.get("task") == "recipe" else config.get("task"),
        "model": recipe.get("model") if config.get("model") == "recipe" else config.get("model"),
        "recipe": recipe,
        "fim_layout": config.get("fim_layout") or [],
        "fim_cdf_layout": "act-bench",
        "build": {**work, "complete": False, "functions_planned": len(names),
                  "functions_complete": len(results), "seeds": [int(config.get("train_seed", 0))],
                  "space": config.get("spaces"), "journal": Path(journal).name,
                  "search": {"searcher": config.get("searcher"), "searcher_kwargs": config.get("searcher_kwargs"),
                             "seed": config.get("seed"), "budget": config.get("budget"),
                             "order": [r.record.function for r in sorted(results, key=lambda r: r.seq)]}},
        "source": "act-bench search",
    }
    table = BenchmarkTable.from_runs(runs, features=features, metadata=meta)
    if out is not None:
        table.save(out, overwrite=overwrite)
    return table
