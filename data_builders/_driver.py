"""``act-bench build``: a table build is a search whose searcher proposes a fixed list (the FIM job and the seeds of
every planned function), run by the job engine's :class:`~act_bench.engine.JobRunner` and journaled in its SQLite
journal ``<out>.journal/journal.sqlite``.

Crash safety: every finished job is stored (and its claim released) in one transaction before it is counted. A
killed build restarted with ``resume=True`` schedules only the jobs without a record, so nothing is redone or
duplicated; a failed job is retried (``retries``) with the error of every attempt kept. A stop (SIGTERM, SIGINT) is
not a failure: the jobs in flight are released and run on resume. A job whose failure is final runs again with
``retry_failed=True``. A JSON-lines journal of an earlier act-bench (``records.jsonl``) is converted once on resume
and read as it is by a snapshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from act_bench.engine import (
    FEATURE_JOB_FAILED,
    FixedList,
    Job,
    JobKind,
    JobRunner,
    Journal,
    JournalLock,
    StopFlag,
    check_gpus_per_run,
    create_executor,
    dumps,
    list_executors,
)
from act_bench.errors import ActBenchError, InvalidInputError
from act_bench.space import evaluate_many
from act_bench.tables import FILES, BenchmarkTable
from act_bench.utils import NAME_PATTERN, check_int, hardware, interrupt_message, progress_bar, refuse_symlink
from data_builders._assemble import HISTOGRAM_FILE, assemble_build, write_accuracy_histogram
from data_builders._build import (
    BuildPlan,
    check_buildable,
    fim_model_layout,
    plan_functions,
    run_fim_job,
    run_train_job,
)
from data_builders._legacy import LegacyJournal, convert_jsonl
from data_builders._provenance import CodeVersion, changed_parts, code_version

__all__ = ["JOURNAL_FILE", "BuildResult", "build_table", "check_journal_code", "journal_dir_for", "journal_path_for", "run_build"]

#: The journal of a build: ``<out>.journal/journal.sqlite``.
JOURNAL_FILE = "journal.sqlite"


@dataclass(frozen=True)
class BuildResult:
    """What a build left: the ``table`` written, the planned jobs whose failure is final (``failed_runs``,
    ``failed_features``: retry them with ``retry_failed=True``), whether a signal ``stopped`` it, and how many
    final failures this build made retryable again (``retried``)."""

    table: BenchmarkTable
    failed_runs: int = 0
    failed_features: int = 0
    stopped: bool = False
    retried: int = 0

    @property
    def complete(self) -> bool:
        """Every planned job finished and none failed for good."""
        return bool(self.table.metadata["build"]["complete"]) and not (self.failed_runs or self.failed_features)


def jobs_argument(jobs: Any, workers: Any, where: str) -> int:
    """The build's process count: ``jobs``, or its deprecated name ``workers`` (warns; one release)."""
    if workers is not None:
        warnings.warn(f"parameter workers of {where} is deprecated and will be removed in the next release; use "
                      f"jobs (processes, as the CLI's --jobs)", DeprecationWarning, stacklevel=4)
        jobs = workers
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidInputError(f"parameter jobs of {where} must be an integer >= 1; got {jobs!r}")
    return jobs


def journal_dir_for(out: str | os.PathLike[str]) -> Path:
    """``<out>.journal``: the folder of a build's journal (and of its lock)."""
    out = Path(out)
    return out.parent / (out.name + ".journal")


def journal_path_for(out: str | os.PathLike[str]) -> Path:
    """``<out>.journal/journal.sqlite``."""
    return journal_dir_for(out) / JOURNAL_FILE


def build_table(recipe, out: str | os.PathLike[str], **kwargs: Any) -> BenchmarkTable:
    """Build (or resume) a benchmark table; returns the :class:`~act_bench.tables.BenchmarkTable` written to ``out``.

    The parameters are those of :func:`run_build`, which also says how many jobs failed for good.
    """
    return run_build(recipe, out, **kwargs).table


@interrupt_message("the build into {out} was interrupted (Ctrl-C); its journal keeps every finished job: run it "
                   "again with resume=True to continue")
def run_build(recipe, out: str | os.PathLike[str], *, space: Sequence[str] | None = None,
              functions: Iterable[str] | None = None, seeds: int | Sequence[int] | None = None,
              limit: int | None = None, jobs: int = 1, executor: str = "local", address: str | None = None,
              resume: bool = False, progress: bool = True, max_jobs: int | None = None, snapshot: bool = False,
              name: str | None = None, allow_code_change: bool = False, retries: int = 1,
              heartbeat_timeout: float = 120.0, retry_failed: bool = False, workers: int | None = None
              ) -> BuildResult:
    """Build (or resume) a benchmark table into ``out``; returns a :class:`BuildResult` (the table written and the
    jobs that failed for good).

    Parameters
    ----------
    recipe : Recipe
    out : path
        Table folder; the journal is ``<out>.journal/journal.sqlite``.
    space, functions, limit
        What to build (see :func:`data_builders.build.plan_functions`).
    seeds : int or sequence of int, optional
        Seeds per function (default: ``range(recipe.seeds)``).
    jobs : int, default=1
        Training processes (local) or concurrent Ray tasks: the CLI's ``--jobs``. ``workers`` is its deprecated
        name (one release).
    executor : {"local", "ray"}
    address : str, optional
        Ray cluster address.
    resume : bool
        Continue the journal of an earlier build of ``out`` (a JSON-lines journal is converted once).
    max_jobs : int, optional
        Stop after this many new jobs and write the table of the complete functions.
    snapshot : bool
        Run nothing: write the table of what the journal holds (read-only on the journal; safe during a build).
    name : str, optional
        Table name (default: the folder name of ``out``), so that a test build is never named like the table its
        recipe builds.
    allow_code_change : bool
        Resume a journal written by other code (see :func:`data_builders.build.code_version`); without it such a
        resume is refused. The change is recorded in the journal and in ``metadata["code"]["overrides"]``.
    retries : int, default=1
        Retries of a job that raised or lost its worker before its failure is final (every error is journaled).
    heartbeat_timeout : float, default=120
        Seconds without a heartbeat after which a local worker's job is reclaimed (the worker is killed).
    retry_failed : bool
        With ``resume``: run again the planned jobs whose failure is final (their records are dropped, their errors
        stay in the journal's failures and a ``retry_failed`` event lists them), with ``retries`` retries each.

    The table holds only functions whose every seed and FIM job is done; ``metadata.build.complete`` says whether
    the whole plan is (:attr:`BuildResult.complete` also requires that no job failed for good). The recipe's task
    data are loaded and its model built before anything is written, and GPUs per run (``recipe.gpus_per_run``) are
    checked against the executor's before any job. SIGTERM or SIGINT stop the build: the jobs in flight are
    released (not failed), the table of the complete functions is written, and ``resume`` runs the rest.
    """
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds) if seeds is not None \
        else list(range(recipe.seeds))
    if not seed_list:
        raise InvalidInputError("parameter seeds of build_table must name at least one seed")
    if name is not None and not (isinstance(name, str) and re.fullmatch(r"[\w.-]+", name)):
        raise InvalidInputError(f"parameter name of build_table must be letters, digits, '_', '.' or '-'; got "
                                f"{name!r}")
    out = Path(out)
    table_name = name or out.resolve().name
    if not (NAME_PATTERN.match(table_name) and ".." not in table_name):  # checked before hours of training
        raise InvalidInputError(f"table name {table_name!r} ({'--name' if name else 'the --out folder name'}) must "
                                f"be 1-96 letters, digits, '_', '.', '-' starting with a letter or digit; pass --name")
    retries = check_int(retries, "retries", "build_table", min_value=0)
    plan = plan_functions(space, functions=functions, limit=limit)
    built = recipe if len(seed_list) == recipe.seeds else recipe.with_overrides(seeds=len(seed_list))
    spec = _Spec(recipe, built, plan, seed_list, table_name)
    if retry_failed and not resume:
        raise InvalidInputError("retry_failed needs resume (it retries the failed jobs of an earlier build)")
    _check_paths(out)
    if snapshot:
        return _snapshot(out, spec)
    if executor not in list_executors():
        raise InvalidInputError(f"parameter executor must be one of {', '.join(list_executors())}; got {executor!r}")
    workers = jobs_argument(jobs, workers, "build_table")
    check_buildable(recipe)  # before anything is written
    code = code_version(recipe)
    jdir = journal_dir_for(out)
    made = not jdir.exists()
    jdir.mkdir(parents=True, exist_ok=True)
    try:
        with JournalLock(jdir / (JOURNAL_FILE + ".lock")):  # one driver per journal: a second one is refused
            journal, changed = _open(out, spec, code, resume=resume, allow_code_change=allow_code_change)
            try:
                retried = _reopen_failed(journal, spec) if retry_failed else 0
                stopped = _run(journal, spec, code, changed, workers=workers, executor=executor, address=address,
                               progress=progress, max_jobs=max_jobs, retries=retries,
                               heartbeat_timeout=heartbeat_timeout)
                if journal.n_results() or journal.n_features():
                    if not _n_complete(journal, spec):
                        raise ActBenchError(
                            f"the build into {str(out)!r} {'was stopped' if stopped else 'stopped'} before its first "
                            f"function was complete ({journal.n_results()} runs and {journal.n_features()} feature "
                            f"jobs are journaled); no table was written; continue it with --resume")
                    return BuildResult(_write(journal, out, spec), *_n_failed(journal, spec), stopped=stopped,
                                       retried=retried)
            finally:
                empty = journal.n_results() == 0 and journal.n_features() == 0
                journal.close()
                if empty:  # no job finished (stopped early, or refused before the first): it blocks no rerun
                    _discard(journal.path)
            raise ActBenchError(f"the build into {str(out)!r} stopped before its first job finished; nothing was "
                                f"written (the same command starts it again)")
    finally:
        if made:
            with contextlib.suppress(OSError):  # not empty: a journal was written
                jdir.rmdir()


class _Spec:
    """What a build is: the recipe as given (journal identity), as built (seeds used), plan, seeds, table name."""

    def __init__(self, recipe, built, plan: BuildPlan, seeds: list[int], name: str) -> None:
        self.recipe, self.built, self.plan, self.seeds, self.name = recipe, built, plan, seeds, name

    def config(self, code: CodeVersion) -> dict[str, Any]:
        return {"kind": "build", "recipe": self.recipe.to_dict(), "seeds": self.seeds, "space": self.plan.space,
                "created": time.time(), "code": code.to_dict()}

    def check(self, config: dict[str, Any], where: Path) -> None:
        stored, recipe_dict = config.get("recipe") or {}, self.recipe.to_dict()
        if config.get("kind") != "build":
            raise InvalidInputError(f"journal {where} is not a build journal (kind {config.get('kind')!r})")
        if stored != recipe_dict:
            changed = sorted(k for k in set(stored) | set(recipe_dict) if stored.get(k) != recipe_dict.get(k))
            raise InvalidInputError(f"journal {where} was written with a different recipe (differs in: "
                                    f"{', '.join(changed)}); resume with the same recipe or build into a new --out")
        if config.get("seeds") != self.seeds:
            raise InvalidInputError(f"journal {where} was written with seeds {config.get('seeds')}; got {self.seeds}")


def check_journal_code(config: dict[str, Any], code: CodeVersion, where: Path, allow_change: bool, *,
                       elsewhere: str = "build into a new --out") -> list[str] | None:
    """None if the journal was written by this code; else the changed parts (refused unless ``allow_change``).

    The one check of builds and live searches (``elsewhere`` names the way to start afresh: a new ``--out`` for a
    build, a new ``--journal`` for a search)."""
    recorded = config.get("code")
    if recorded is None:
        if allow_change:
            return ["unknown"]
        raise InvalidInputError(f"journal {where} records no code version (written by an older act-bench); "
                                f"pass --allow-code-change to continue it with this code, or {elsewhere}")
    old = CodeVersion.from_dict(recorded, where=f"journal {where} header")
    if old.digest == code.digest:
        return None
    changed = changed_parts(old, code) or ["(overall digest)"]
    if not allow_change:
        raise InvalidInputError(f"journal {where} was written by other code: changed parts {', '.join(changed)} "
                                f"(digest {old.digest[:12]} -> {code.digest[:12]}); resume with that code, "
                                f"{elsewhere}, or pass --allow-code-change to mix results of both")
    return changed


def _open(out: Path, spec: _Spec, code: CodeVersion, *, resume: bool,
          allow_code_change: bool) -> tuple[Journal, list[str] | None]:
    """The build's journal (lock held): created, resumed (checked), or converted from JSON lines on resume."""
    path, legacy = journal_path_for(out), LegacyJournal(journal_dir_for(out))
    if path.exists():
        journal = Journal.open(path)
        if journal.n_results() == 0 and journal.n_features() == 0 and not journal.claims():
            journal.close()  # a build that never finished a job (killed early): it blocks nothing
            _discard(path)
    if path.exists() or legacy.exists():
        if not resume:
            raise InvalidInputError(f"{journal_dir_for(out)} already holds a build journal; pass --resume to continue "
                                    f"it, or choose another --out")
        journal = Journal.open(path) if path.exists() else convert_jsonl(legacy.folder, path)
    else:
        if out.exists() and any(out.iterdir()):
            raise InvalidInputError(f"--out {str(out)!r} exists and is not empty (and has no build journal)")
        journal = Journal.create(path, config=spec.config(code), functions=[], equivalents=[],
                                 outputs=evaluate_many([]), feature_rank=[])
    try:
        config = journal.config()
        spec.check(config, path)
        changed = check_journal_code(config, code, path, allow_code_change)
        journal.add_candidates(spec.plan.functions, [spec.plan.equivalents[f] for f in spec.plan.functions],
                               evaluate_many(spec.plan.functions))
    except BaseException:
        journal.close()
        raise
    return journal, changed


def _plan_rows(journal: Journal, spec: _Spec) -> dict[int, str]:
    rows = journal.rows()
    return {rows[f]: f for f in spec.plan.functions if f in rows}  # a snapshot: planned functions not journaled yet


def _n_complete(journal: Journal, spec: _Spec) -> int:
    """Planned functions whose FIM job and every seed have a record."""
    featured, done = journal.featured_rows(), journal.done_runs()
    return sum(row in featured and all((row, s) in done for s in spec.seeds) for row in _plan_rows(journal, spec))


def _n_failed(journal: Journal, spec: _Spec) -> tuple[int, int]:
    """Planned runs and FIM jobs whose failure is final."""
    rows, seeds = _plan_rows(journal, spec), set(spec.seeds)
    runs = sum(r.row in rows and r.seed in seeds and r.record.status == "failed" for r in journal.results())
    features = sum(row in rows and str(f.get("fim_reason") or "").startswith(FEATURE_JOB_FAILED)
                   for row, f in journal.features().items())
    return runs, features


def _reopen_failed(journal: Journal, spec: _Spec) -> int:
    """``--retry-failed``: drop the records of the planned jobs whose failure is final, in one transaction with a
    ``retry_failed`` event that lists them and the attempts they used (their errors stay in ``failures``); returns
    how many. The runner gives each ``retries`` more (:func:`_retried`)."""
    rows, seeds = _plan_rows(journal, spec), set(spec.seeds)
    with journal.transaction() as db:
        runs = [(int(r), int(s), e) for r, s, e in db.execute(
            "SELECT row, seed, error FROM results WHERE status = 'failed' ORDER BY seq") if r in rows and s in seeds]
        feats = [(int(r), why) for r, why in db.execute(
            "SELECT row, fim_reason FROM features WHERE fim_valid = 0 AND fim_reason LIKE ? ORDER BY row",
            (FEATURE_JOB_FAILED + "%",)) if r in rows]
        if not runs and not feats:
            return 0
        jobs = [Job(JobKind.RUN, r, rows[r], s) for r, s, _ in runs] + [Job(JobKind.FIM, r, rows[r]) for r, _ in feats]
        used = {job.key: int(db.execute("SELECT COUNT(*) FROM failures WHERE job = ?", (job.key,)).fetchone()[0])
                for job in jobs}
        db.executemany("DELETE FROM results WHERE row = ? AND seed = ?", [(r, s) for r, s, _ in runs])
        db.executemany("DELETE FROM features WHERE row = ?", [(r,) for r, _ in feats])
        value = {"jobs": used, "runs": [{"function": rows[r], "seed": s, "error": e} for r, s, e in runs],
                 "features": [{"function": rows[r], "reason": why} for r, why in feats]}
        db.execute("INSERT INTO events (type, time, value) VALUES (?, ?, ?)", ("retry_failed", time.time(),
                                                                               dumps(value)))
    return len(jobs)


def _retried(journal: Journal) -> dict[str, int]:
    """``{job key: failed attempts before its latest retry}`` of the jobs ``--retry-failed`` made retryable."""
    used: dict[str, int] = {}
    for event in journal.events("retry_failed"):
        used.update(event.get("jobs") or {})
    return used


def _run(journal: Journal, spec: _Spec, code: CodeVersion, changed: list[str] | None, *, workers: int,
         executor: str, address: str | None, progress: bool, max_jobs: int | None, retries: int,
         heartbeat_timeout: float) -> bool:
    """Run the plan's missing jobs; whether a signal stopped it."""
    session = uuid.uuid4().hex[:12]
    with StopFlag() as stop, create_executor(executor, workers=workers, address=address,
                                             heartbeat_timeout=heartbeat_timeout) as ex:
        gpus = check_gpus_per_run(float(spec.recipe.gpus_per_run), ex.gpus,
                                  where=f"gpus_per_run of recipe {spec.recipe.name!r}")
        journal.start_session(session, executor=executor, workers=workers, hardware=hardware(),
                              code_digest=code.digest)
        if changed is not None:
            journal.add_event("code_change", {"from": (journal.config().get("code") or {}).get("digest"),
                                              "to": code.digest, "changed": changed, "version": code.version,
                                              "code": code.to_dict()})
        rows, featured, done = journal.rows(), journal.featured_rows(), journal.done_runs()
        todo: list[Job] = []
        for f in spec.plan.functions:
            row = rows[f]
            if row not in featured:
                todo.append(Job(JobKind.FIM, row, f))
            todo.extend(Job(JobKind.RUN, row, f, s) for s in spec.seeds if (row, s) not in done)
        total = len(spec.plan.functions) * (len(spec.seeds) + 1)
        initial = total - len(todo)
        if max_jobs is not None:
            todo = todo[:max_jobs]
        runner = JobRunner(journal, ex, session, entry_points={JobKind.RUN: run_train_job, JobKind.FIM: run_fim_job},
                           payload={"recipe": spec.recipe.to_dict()}, retries=retries, gpus=gpus, stop=stop,
                           retried=_retried(journal))
        bar = progress_bar(total=total, initial=initial, desc=f"build {spec.recipe.name}", unit="job",
                           disable=not progress, smoothing=0.05)
        try:
            for _ in runner.drive(FixedList(todo)):
                bar.update(1)
        finally:
            bar.close()
            runner.release_unfinished()
            journal.end_session(session)
        return stop.flag


def _check_paths(out: Path) -> None:
    """Before any work: no path the build writes is a symbolic link (``--out``, its journal folder, the journal and
    its lock), and an existing ``--out`` holds only files a build writes (:func:`_foreign_files`), which are
    replaced when the table is written; anything else there is the user's and is never deleted."""
    jdir = journal_dir_for(out)
    for path, what in ((out, "--out"), (jdir, "journal folder"), (jdir / JOURNAL_FILE, "journal"),
                       (jdir / (JOURNAL_FILE + ".lock"), "journal lock")):
        refuse_symlink(path, what)
    foreign = _foreign_files(out)
    if foreign:
        shown = ", ".join(repr(f) for f in foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise InvalidInputError(f"--out {str(out)!r} holds {len(foreign)} file(s) a build does not write ({shown}); "
                                f"the table is rewritten there: move them elsewhere and run again (with --resume once a journal "
                                f"exists: it keeps every result); nothing in --out was changed")


def _foreign_files(out: Path) -> list[str]:
    """Names in an existing table folder ``out`` that a build did not write: anything but the table's files
    (``FILES``), the accuracy histogram and the card figures its ``metadata.json`` lists (empty for a new folder)."""
    if not out.is_dir():
        return []
    ours = {*FILES.values(), HISTOGRAM_FILE}
    try:
        meta = json.loads((out / FILES["metadata"]).read_text(encoding="utf-8"))
        ours.update(f["file"] for f in meta.get("figures") or []
                    if isinstance(f, dict) and isinstance(f.get("file"), str))
    except (OSError, ValueError, AttributeError, TypeError):
        pass  # no readable metadata: only the fixed names are ours
    return sorted(p.name for p in out.iterdir() if p.name not in ours or p.is_symlink() or not p.is_file())


def _write(journal: Journal, out: Path, spec: _Spec) -> BenchmarkTable:
    _check_paths(out)  # again: a file may have appeared during the build (the journal keeps every result)
    layout = fim_model_layout(spec.built)  # the recipe's model with the task's classes, as the FIM jobs measure
    table = assemble_build(journal, functions=spec.plan.functions, equivalents=spec.plan.equivalents,
                           seeds=spec.seeds, recipe=spec.built, name=spec.name, layout=layout, space=spec.plan.space,
                           journal_folder=journal_dir_for(out).name)
    table.save(out, overwrite=True)
    if len(table):
        write_accuracy_histogram(table, out / HISTOGRAM_FILE)
    return table


def _snapshot(out: Path, spec: _Spec) -> BuildResult:
    """The table of what the journal holds, without writing to it (a JSON-lines journal is converted in memory)."""
    path, legacy = journal_path_for(out), LegacyJournal(journal_dir_for(out))
    if out.exists() and any(out.iterdir()) and not (path.exists() or legacy.exists()):
        raise InvalidInputError(f"--out {str(out)!r} exists and is not empty (and has no build journal)")
    if path.exists():
        journal = Journal.open(path, readonly=True)
        try:
            spec.check(journal.config(), path)
            return BuildResult(_write(journal, out, spec), *_n_failed(journal, spec))
        finally:
            journal.close()
    if not legacy.exists():
        raise InvalidInputError(f"--snapshot needs a build journal; {journal_dir_for(out)} has none")
    with tempfile.TemporaryDirectory(prefix="act-bench-snapshot-") as tmp:
        journal = convert_jsonl(legacy.folder, Path(tmp) / JOURNAL_FILE)
        try:
            spec.check(journal.config(), legacy.path)
            return BuildResult(_write(journal, out, spec), *_n_failed(journal, spec))
        finally:
            journal.close()


def _discard(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


