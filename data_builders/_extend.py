"""Extend a built table in place: retrain the runs an older labelling rule got wrong, and train extra seeds for the
functions a benchmark is scored on (contenders for its top and functions whose seeds disagree on status).

The JSON-lines build journal of the table (``<out>.journal/records.jsonl``) stays the one record of the table: the
extension appends a ``session`` record (its code digest, its purpose), then one ``run`` record per finished job;
a retrained run's record carries ``replaces`` (why the earlier record of that run no longer counts), which the
journal readers honour. While it runs, the extension journals its jobs in the job engine's SQLite journal
``<out>.journal/extend.sqlite`` (crash safety: a killed extension resumed with the same command merges what that
journal holds and trains only what is missing); each finished job is appended to the JSON lines at once.

Contender criterion (:func:`contender_functions`): with ``v_f`` the median validation accuracy of function ``f``
over the paper's seeds (0-2) and ``t`` the top-5 % threshold (the ``ceil(0.05 n)``-th largest ``v_f``), a function
is a contender when any of its paper seeds reaches ``t``; a function whose paper seeds disagree on status (ok vs
diverged) is trained too.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.engine import (
    FixedList,
    Job,
    JobKind,
    JobRunner,
    Journal,
    JournalLock,
    StopFlag,
    check_gpus_per_run,
    create_executor,
    remove_sqlite,
)
from act_bench.errors import InvalidInputError
from act_bench.space import evaluate_many
from act_bench.utils import hardware, interrupt_message, progress_bar
from data_builders._build import check_buildable, run_train_job
from data_builders._driver import JOURNAL_FILE, check_journal_code, jobs_argument, journal_dir_for
from data_builders._legacy import LegacyJournal
from data_builders._provenance import code_version

__all__ = ["CONTENDER_FRACTION", "EXTEND_FILE", "OLD_EVAL_LOSS_ERROR", "ExtensionReport", "contender_functions",
           "extend_build", "relabel_runs"]

#: The work journal of an extension, next to the JSON lines.
EXTEND_FILE = "extend.sqlite"

#: The error an older builder stored for a run that completed training but met a non-finite evaluation loss (it
#: was labelled ``diverged`` with chance metrics; today such a run is ``ok`` with its real accuracies).
OLD_EVAL_LOSS_ERROR = "non-finite evaluation loss after training"

#: Share of the table whose threshold decides a contender (the top 5 %).
CONTENDER_FRACTION = 0.05


@dataclass(frozen=True)
class ExtensionReport:
    """What an extension did: runs retrained (relabel), contender functions, runs added, seconds of wall time."""

    relabelled: int
    contenders: int
    added_runs: int
    wall_seconds: float


def _old_rule(record: dict[str, Any]) -> str | None:
    """Why the old rule may have stored this run differently from today's, or None.

    ``eval-loss``: labelled ``diverged`` at chance after completing training; ``nonfinite-logit``: a validation pass
    of its curve met a non-finite loss, where a row whose largest logit was NaN could count as correct.
    """
    if record.get("replaces") or record.get("source") == "extend":
        return None
    if record.get("error") == OLD_EVAL_LOSS_ERROR:
        return "eval-loss"
    if any(not math.isfinite(v) for v in record.get("curve_val_loss") or []):
        return "nonfinite-logit"
    return None


def relabel_runs(runs: dict[tuple[str, int], dict[str, Any]]) -> list[tuple[str, int]]:
    """``(function, seed)`` of every run whose record the old rule may have got wrong (see :func:`_old_rule`); they
    are retrained with today's rule and their new record replaces the old one."""
    return sorted(k for k, r in runs.items() if _old_rule(r) is not None)


def contender_functions(runs: dict[tuple[str, int], dict[str, Any]], seeds: Sequence[int], *,
                        fraction: float = CONTENDER_FRACTION) -> tuple[list[str], list[str], float]:
    """(contenders for the top ``fraction``, functions whose paper seeds disagree on status, the threshold).

    ``runs``: records by (function, seed); ``seeds``: the paper's seeds. See the module docstring for the rule.
    """
    by: dict[str, list[dict[str, Any]]] = {}
    for (f, s), r in runs.items():
        if s in seeds:
            by.setdefault(f, []).append(r)
    medians = {f: float(np.median([r["val_accuracy"] for r in rs])) for f, rs in by.items()}
    ranked = sorted(medians.values(), reverse=True)
    threshold = ranked[max(1, math.ceil(fraction * len(ranked))) - 1]
    top = sorted(f for f, rs in by.items() if max(r["val_accuracy"] for r in rs) >= threshold)
    disagree = sorted(f for f, rs in by.items() if len({r["status"] for r in rs}) > 1)
    return top, disagree, threshold


def _append(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append JSON lines and fsync (a torn last line is ignored by the reader)."""
    lines = "".join(json.dumps(r, allow_nan=True) + "\n" for r in records)
    if not lines:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    try:
        os.write(fd, lines.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _merge(work: Journal, legacy: LegacyJournal, replaces: dict[tuple[str, int], dict[str, Any]],
           have: set[tuple[str, int]], since: int = 0) -> int:
    """Append the work journal's results after ``since`` that the JSON lines lack (``have``: the runs an extension
    appended already, kept up to date); returns the last ``seq`` seen."""
    new = []
    last = since
    for jr in work.results(since):
        last = max(last, jr.seq)
        rec = jr.record
        key = (rec.function, int(rec.seed))
        if key in have:
            continue
        line = {"type": "run", **rec.to_dict(), "time": jr.time, "session": jr.session, "source": "extend"}
        if key in replaces:
            line["replaces"] = replaces[key]
        new.append(line)
        have.add(key)
    _append(legacy.path, new)
    return last


@interrupt_message("the extension of the build {out} was interrupted (Ctrl-C); its journal keeps every finished "
                   "run: run it again to continue")
def extend_build(recipe, out: str | os.PathLike[str], *, extra_seeds: Sequence[int] = tuple(range(3, 10)),
                 relabel: bool = True, contenders: bool = True, fraction: float = CONTENDER_FRACTION,
                 jobs: int = 1, progress: bool = True, retries: int = 1,
                 heartbeat_timeout: float = 120.0, workers: int | None = None) -> ExtensionReport:
    """Retrain the runs of the build at ``out`` stored by the old labelling rule, then train ``extra_seeds`` for its
    contenders (see :func:`contender_functions`).

    A build journaled in JSON lines (the shipped tables) gets every run appended to ``records.jsonl`` (a retrained
    run with ``replaces``); a build with the engine's SQLite journal gets the contender runs in that journal (its
    runs were labelled by today's rule; one stored by the old rule is refused). Resumable: run the same call again
    after a stop; what is journaled is not trained again. The table is written by a snapshot afterwards
    (``build_table(..., snapshot=True)``; the CLI's ``build --contenders`` does both).
    """
    workers = jobs_argument(jobs, workers, "extend_build")
    start = time.time()
    out = Path(out)
    jdir = journal_dir_for(out)
    legacy = LegacyJournal(jdir)
    sqlite_path = jdir / JOURNAL_FILE
    if not legacy.exists() and not sqlite_path.exists():
        raise InvalidInputError(f"--out {str(out)!r} has no build journal ({jdir}): --contenders extends a finished "
                                f"build")
    check_buildable(recipe)
    if set(extra_seeds) & set(range(recipe.seeds)):
        raise InvalidInputError(f"parameter extra_seeds must not repeat the build's seeds 0-{recipe.seeds - 1}")
    code = code_version(recipe)
    if sqlite_path.exists():
        return _extend_sqlite(recipe, sqlite_path, code, extra_seeds, contenders, fraction, start, workers=workers,
                              progress=progress, retries=retries, heartbeat_timeout=heartbeat_timeout)
    records = legacy.load()
    header = records[0]
    if header["recipe"] != recipe.to_dict():
        raise InvalidInputError(f"journal {legacy.path} was written with a different recipe than {recipe.name!r}")
    paper_seeds = [int(s) for s in header["seeds"]]
    relabelled = added = n_contenders = 0
    with JournalLock(jdir / (EXTEND_FILE + ".lock")):
        work_path = jdir / EXTEND_FILE
        if work_path.exists():
            _retire_other_code(work_path, legacy, code)
        work = Journal.open(work_path) if work_path.exists() else Journal.create(
            work_path, config={"kind": "extend", "recipe": recipe.to_dict(), "code": code.to_dict(),
                               "created": time.time()}, functions=[], equivalents=[], outputs=evaluate_many([]),
            feature_rank=[])
        try:
            replaces = {(r["function"], int(r["seed"])): {"status": r["status"], "error": r["error"],
                                                          "rule": _old_rule(r)}
                        for r in legacy.records if r["type"] == "run" and _old_rule(r) is not None}
            sink = _JsonLines(work, legacy, replaces)
            if sink.merge():  # results of a stopped extension that the JSON lines lacked
                legacy.load()
            if relabel:
                relabelled = len(replaces)
                added += _phase(work, recipe, code, "relabel", relabel_runs(legacy.runs()), sink, workers=workers,
                                progress=progress, retries=retries, heartbeat_timeout=heartbeat_timeout)
            if contenders:
                legacy.load()  # with the runs the relabel phase appended
                runs = legacy.runs()
                if relabel_runs(runs):
                    raise InvalidInputError("runs labelled by the old rule remain; relabel them before contenders")
                top, disagree, _ = contender_functions(runs, paper_seeds, fraction=fraction)
                chosen = sorted(set(top) | set(disagree))
                n_contenders = len(chosen)
                todo = [(f, s) for f in chosen for s in extra_seeds if (f, s) not in runs]
                added += _phase(work, recipe, code, "contenders", todo, sink, workers=workers, progress=progress,
                                retries=retries, heartbeat_timeout=heartbeat_timeout)
        finally:
            work.close()
    return ExtensionReport(relabelled, n_contenders, added, time.time() - start)


def _retire_other_code(work_path: Path, legacy: LegacyJournal, code) -> None:
    """A work journal of other code is removed once every result it holds is in the JSON lines (nothing is lost:
    the JSON lines are the record); otherwise the extension is refused until that code finishes it."""
    work = Journal.open(work_path)
    try:
        if (work.config().get("code") or {}).get("digest") == code.digest:
            return
        appended = {(r["function"], int(r["seed"])) for r in legacy.records
                    if r["type"] == "run" and r.get("source") == "extend"}
        pending = [jr for jr in work.results() if (jr.record.function, int(jr.record.seed)) not in appended]
        if pending or work.claims():
            raise InvalidInputError(f"{work_path} was started by other code and holds {len(pending)} run(s) not yet "
                                    f"in {legacy.path.name}; finish it with that code first")
    finally:
        work.close()
    remove_sqlite(work_path)


def _extend_sqlite(recipe, path: Path, code, extra_seeds: Sequence[int], contenders: bool, fraction: float,
                   start: float, **run: Any) -> ExtensionReport:
    """Contender seeds of a build with an SQLite journal, journaled in it (under its lock)."""
    with JournalLock(path.with_name(path.name + ".lock")):
        journal = Journal.open(path)
        try:
            config = journal.config()
            if config.get("kind") != "build" or config.get("recipe") != recipe.to_dict():
                raise InvalidInputError(f"journal {path} is not a build journal of recipe {recipe.name!r}")
            check_journal_code(config, code, path, allow_change=False)
            runs = {(r.record.function, int(r.record.seed)): r.record.to_dict() for r in journal.results()}
            if relabel_runs(runs):
                raise InvalidInputError(f"journal {path} holds runs stored by the old labelling rule; rebuild it")
            added = n = 0
            if contenders:
                top, disagree, _ = contender_functions(runs, [int(s) for s in config["seeds"]], fraction=fraction)
                chosen = sorted(set(top) | set(disagree))
                n = len(chosen)
                todo = [(f, s) for f in chosen for s in extra_seeds if (f, s) not in runs]
                added = _phase(journal, recipe, code, "contenders", todo, None, **run)
        finally:
            journal.close()
    return ExtensionReport(0, n, added, time.time() - start)


class _JsonLines:
    """Where an extension of a JSON-lines build journal puts its results: appended to ``records.jsonl``."""

    def __init__(self, work: Journal, legacy: LegacyJournal, replaces: dict[tuple[str, int], dict[str, Any]]):
        self.work, self.legacy, self.replaces = work, legacy, replaces
        self.have = {(r["function"], int(r["seed"])) for r in legacy.records
                     if r["type"] == "run" and r.get("source") == "extend"}
        self.seq = 0

    def merge(self) -> int:
        """Append what the work journal has and the JSON lines lack; how many were appended."""
        before = len(self.have)
        self.seq = _merge(self.work, self.legacy, self.replaces, self.have, self.seq)
        return len(self.have) - before

    def record(self, rec: dict[str, Any]) -> None:
        _append(self.legacy.path, [rec])


def _phase(work: Journal, recipe, code, purpose: str, todo: list[tuple[str, int]], sink: _JsonLines | None, *,
           workers: int, progress: bool, retries: int, heartbeat_timeout: float) -> int:
    if not todo:
        return 0
    rows = work.rows()
    new = list(dict.fromkeys(f for f, _ in todo if f not in rows))
    if new:
        work.add_candidates(new, [[f] for f in new], evaluate_many(new))
        rows = work.rows()
    done = work.done_runs()
    jobs = [Job(JobKind.RUN, rows[f], f, s) for f, s in todo if (rows[f], s) not in done]
    session = uuid.uuid4().hex[:12]
    before = work.n_results()
    with StopFlag() as stop, create_executor("local", workers=workers, address=None,
                                             heartbeat_timeout=heartbeat_timeout) as ex:
        gpus = check_gpus_per_run(float(recipe.gpus_per_run), ex.gpus, where=f"gpus_per_run of {recipe.name!r}")
        work.start_session(session, executor="local", workers=workers, hardware=hardware(), code_digest=code.digest)
        if sink is not None:
            sink.record({"type": "session", "time": time.time(), "id": session, "purpose": purpose,
                         "host": socket.gethostname(), "executor": "local", "workers": workers,
                         "hardware": hardware(), "code_digest": code.digest})
        runner = JobRunner(work, ex, session, entry_points={JobKind.RUN: run_train_job},
                           payload={"recipe": recipe.to_dict()}, retries=retries, gpus=gpus, stop=stop)
        bar = progress_bar(total=len(todo), initial=len(todo) - len(jobs), desc=f"{purpose} {recipe.name}",
                           unit="run", disable=not progress, smoothing=0.05)
        try:
            for _ in runner.drive(FixedList(jobs)):
                if sink is not None:
                    sink.merge()
                bar.update(1)
        finally:
            bar.close()
            runner.release_unfinished()
            work.end_session(session)
            if sink is not None:
                sink.merge()
                sink.record({"type": "session_end", "time": time.time(), "id": session})
    return work.n_results() - before
