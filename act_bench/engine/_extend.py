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

from act_bench.engine._executors import check_gpus_per_run, create_executor
from act_bench.engine._journal import Journal
from act_bench.engine._legacy import LEGACY_FILE, LegacyJournal
from act_bench.engine._lock import JournalLock
from act_bench.engine._runner import FixedList, JobRunner, StopFlag
from act_bench.engine._store import Job, JobKind
from act_bench.errors import InvalidInputError
from act_bench.space import evaluate_many
from act_bench.utils import hardware, progress_bar
from data_builders.build import check_buildable, code_version, run_train_job

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


def _merge(work: Journal, legacy: LegacyJournal, replaces: dict[tuple[str, int], dict[str, Any]]) -> int:
    """Append the work journal's results that the JSON lines lack; returns how many."""
    have = {(r["function"], int(r["seed"])) for r in legacy.records
            if r["type"] == "run" and r.get("source") == "extend"}
    new = []
    for jr in work.results():
        rec = jr.record
        key = (rec.function, int(rec.seed))
        if key in have:
            continue
        line = {"type": "run", **rec.to_dict(), "time": jr.time, "session": jr.session, "source": "extend"}
        if key in replaces:
            line["replaces"] = replaces[key]
        new.append(line)
    _append(legacy.path, new)
    legacy.load()
    return len(new)


def extend_build(recipe, out: str | os.PathLike[str], *, extra_seeds: Sequence[int] = tuple(range(3, 10)),
                 relabel: bool = True, contenders: bool = True, workers: int = 1, progress: bool = True,
                 retries: int = 1, heartbeat_timeout: float = 120.0) -> ExtensionReport:
    """Retrain the runs of the table at ``out`` labelled by the old rule, then train ``extra_seeds`` for its
    contenders (see :func:`contender_functions`), appending every run to its JSON-lines journal.

    Resumable: run the same call again after a stop; what is journaled is not trained again.
    """
    start = time.time()
    out = Path(out)
    jdir = out.parent / (out.name + ".journal")
    legacy = LegacyJournal(jdir)
    if not legacy.exists():
        raise InvalidInputError(f"{jdir / LEGACY_FILE} does not exist: extend needs a table's JSON-lines journal")
    check_buildable(recipe)
    records = legacy.load()
    header = records[0]
    if header["recipe"] != recipe.to_dict():
        raise InvalidInputError(f"journal {legacy.path} was written with a different recipe than {recipe.name!r}")
    paper_seeds = [int(s) for s in header["seeds"]]
    if set(extra_seeds) & set(paper_seeds):
        raise InvalidInputError(f"parameter extra_seeds must not repeat the table's seeds {paper_seeds}")
    code = code_version(recipe)
    relabelled = added = n_contenders = 0
    with JournalLock(jdir / (EXTEND_FILE + ".lock")):
        work_path = jdir / EXTEND_FILE
        work = Journal.open(work_path) if work_path.exists() else Journal.create(
            work_path, config={"kind": "extend", "recipe": recipe.to_dict(), "code": code.to_dict(),
                               "created": time.time()}, functions=[], equivalents=[], outputs=evaluate_many([]),
            feature_rank=[])
        try:
            if (work.config().get("code") or {}).get("digest") != code.digest:
                raise InvalidInputError(f"{work_path} was started by other code; finish it with that code or "
                                        f"remove it")
            replaces = {(r["function"], int(r["seed"])): {"status": r["status"], "error": r["error"],
                                                          "rule": _old_rule(r)}
                        for r in legacy.records if r["type"] == "run" and _old_rule(r) is not None}
            _merge(work, legacy, replaces)
            phases: list[tuple[str, list[tuple[str, int]]]] = []
            if relabel:
                todo = relabel_runs(legacy.runs())
                relabelled = len(replaces)
                phases.append(("relabel", todo))
            for purpose, todo in phases:
                added += _phase(work, legacy, recipe, code, purpose, todo, replaces, workers=workers,
                                progress=progress, retries=retries, heartbeat_timeout=heartbeat_timeout)
            if contenders:
                runs = legacy.runs()
                if relabel_runs(runs):
                    raise InvalidInputError("runs labelled by the old rule remain; relabel them before contenders")
                top, disagree, _ = contender_functions(runs, paper_seeds)
                chosen = sorted(set(top) | set(disagree))
                n_contenders = len(chosen)
                todo = [(f, s) for f in chosen for s in extra_seeds if (f, s) not in runs]
                added += _phase(work, legacy, recipe, code, "contenders", todo, replaces, workers=workers,
                                progress=progress, retries=retries, heartbeat_timeout=heartbeat_timeout)
        finally:
            work.close()
    return ExtensionReport(relabelled, n_contenders, added, time.time() - start)


def _phase(work: Journal, legacy: LegacyJournal, recipe, code, purpose: str, todo: list[tuple[str, int]],
           replaces: dict[tuple[str, int], dict[str, Any]], *, workers: int, progress: bool, retries: int,
           heartbeat_timeout: float) -> int:
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
        _append(legacy.path, [{"type": "session", "time": time.time(), "id": session, "purpose": purpose,
                               "host": socket.gethostname(), "executor": "local", "workers": workers,
                               "hardware": hardware(), "code_digest": code.digest}])
        runner = JobRunner(work, ex, session, entry_points={JobKind.RUN: run_train_job},
                           payload={"recipe": recipe.to_dict()}, retries=retries, gpus=gpus, stop=stop)
        bar = progress_bar(total=len(todo), initial=len(todo) - len(jobs), desc=f"{purpose} {recipe.name}",
                           unit="run", disable=not progress, smoothing=0.05)
        try:
            for _ in runner.drive(FixedList(jobs)):
                _merge(work, legacy, replaces)
                bar.update(1)
        finally:
            bar.close()
            runner.release_unfinished()
            work.end_session(session)
            _merge(work, legacy, replaces)
            _append(legacy.path, [{"type": "session_end", "time": time.time(), "id": session}])
    return work.n_results() - before
