"""Live activation-function search: the searchers of :mod:`act_bench.search` driving real training runs.

A :class:`LiveSearch` trains the functions its searcher suggests (local processes or Ray, via
``data_builders.executors``), records everything in a crash-safe SQLite journal (:class:`LiveJournal`) so that a
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

from act_bench.live._driver import IDENTITY_KEYS, LiveSearch, LiveSummary
from act_bench.live._journal import SCHEMA_VERSION, JournalBusyError, JournalResult, LiveJournal
from act_bench.live._status import export_table, journal_status

__all__ = ["IDENTITY_KEYS", "SCHEMA_VERSION", "JournalBusyError", "JournalResult", "LiveJournal", "LiveSearch",
           "LiveSummary", "export_table", "journal_status"]
