"""Live activation-function search: the searchers of :mod:`act_bench.search` driving real training runs.

A :class:`LiveSearch` trains the functions its searcher suggests on the job engine (:mod:`act_bench.engine`: local
processes or Ray, one SQLite journal with claims, heartbeats and bounded retries, the same as a table build), so a
killed search resumes with the same command, and exports its results as a benchmark table. See ``docs/live.md``.

Examples
--------
>>> from act_bench.live import LiveSearch, export_table, journal_status
>>> search = LiveSearch(recipe="act-bench-mnist1d", journal="search.sqlite", searcher="knr:both",
...                     fim_warmup=500, workers=2)        # doctest: +SKIP
>>> search.run(budget=100).best                            # doctest: +SKIP
>>> journal_status("search.sqlite")["evaluated"]           # doctest: +SKIP
100
"""

from __future__ import annotations

import warnings
from typing import Any

from act_bench.engine import SCHEMA_VERSION, Journal, JournalBusyError
from act_bench.live._search import IDENTITY_KEYS, LiveSearch
from act_bench.live._status import export_table, journal_status
from act_bench.live._summary import LiveSummary

__all__ = ["IDENTITY_KEYS", "SCHEMA_VERSION", "JournalBusyError", "LiveSearch", "LiveSummary", "export_table",
           "journal_status"]


def __getattr__(name: str) -> Any:
    if name == "LiveJournal":  # the journal of a live search is the job engine's journal
        warnings.warn("act_bench.live.LiveJournal is deprecated and will be removed in the next release; use "
                      "act_bench.engine.Journal", DeprecationWarning, stacklevel=2)
        return Journal
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
