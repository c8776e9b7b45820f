"""The table builder: every unique function of a space x seeds -> runs -> medians -> a BenchmarkTable.

Crash safety: the driver appends every finished job to an append-only JSON-lines journal (``<out>.journal/``,
one fsync'ed line per record) before counting it. A killed build restarted with ``resume=True`` re-reads the
journal, drops a torn last line, and schedules only the (function, seed) runs and FIM jobs that have no record, so
nothing is redone or duplicated. Only the driver writes the journal; workers (local processes or Ray tasks) just
compute.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.errors import ActBenchError, InvalidInputError, SchemaMismatchError
from act_bench.space import (
    BASELINE_FUNCTIONS,
    PAPER_THREE_NODE_SCHEMA,
    as_expr,
    equivalence_classes,
    evaluate_many,
)
from act_bench.tables import CURVE_COLUMNS, RUNS_COLUMNS
from act_bench.utils import NAME_PATTERN, hardware
from data_builders._fim import compute_fim_record
from data_builders._fim import task_for as _task_for
from data_builders._lock import BuildLock
from data_builders._provenance import CodeVersion, changed_parts, code_version

__all__ = [
    "JOURNAL_VERSION",
    "BuildPlan",
    "Journal",
    "build_table",
    "check_buildable",
    "compute_fim_record",
    "journal_dir_for",
    "plan_functions",
    "run_fim_job",
    "run_train_job",
]

JOURNAL_VERSION = 1


# ------------------------------------------------------------------------------------------------ jobs (in workers)

def run_train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: one training run (``job``: recipe dict, function, seed)."""
    from data_builders._train import train_run
    from data_builders.recipes import Recipe

    recipe = Recipe.from_dict(job["recipe"], source="journal recipe")
    result = train_run(recipe, job["function"], int(job["seed"]), task=_task_for(recipe))
    return {"type": "run", **result.to_dict()}


def run_fim_job(job: dict[str, Any]) -> dict[str, Any]:
    """Worker entry point: FIM features of one function."""
    from data_builders.recipes import Recipe

    recipe = Recipe.from_dict(job["recipe"], source="journal recipe")
    return compute_fim_record(recipe, job["function"])


# ------------------------------------------------------------------------------------------------------ plan

@dataclass
class BuildPlan:
    """The functions to build, in build order (baselines first, then a seeded shuffle), with their classes."""

    functions: list[str]
    equivalents: dict[str, list[str]]
    space: list[str]

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.space).encode()).hexdigest()[:16]


def plan_functions(space: Sequence[str] | None = None, *, functions: Iterable[str] | None = None,
                   limit: int | None = None, include_baselines: bool = True, order_seed: int = 0) -> BuildPlan:
    """Unique functions to train: the classes of ``space`` (schemas) and/or explicit ``functions``.

    The 8 baseline functions are added (and represent their classes) unless ``include_baselines=False``; they come
    first, the rest follow in an order shuffled with ``order_seed`` so that a partial build is a uniform sample.
    """
    schemas = list(space) if space else ([] if functions is not None else [PAPER_THREE_NODE_SCHEMA])
    extra = [str(as_expr(f)) for f in functions] if functions is not None else []
    base = list(BASELINE_FUNCTIONS) if include_baselines else []
    classes = equivalence_classes(base + extra, schemas=schemas or None) if (base or extra or schemas) else None
    if classes is None or len(classes) == 0:
        raise InvalidInputError("nothing to build: give a space (schemas) or functions")
    reps = list(classes.representatives)
    equivalents = {r: list(m) for r, m in zip(reps, classes.equivalents)}
    first = [b for b in base if b in equivalents]
    rest = [r for r in reps if r not in set(first)]
    order = np.random.default_rng(order_seed).permutation(len(rest))
    ordered = first + [rest[i] for i in order]
    if limit is not None:
        ordered = ordered[:limit]
    return BuildPlan(ordered, {f: equivalents[f] for f in ordered}, schemas + ([f"functions:{len(extra)}"]
                                                                              if extra else []))


# ------------------------------------------------------------------------------------------------------ journal

def journal_dir_for(out: str | os.PathLike[str]) -> Path:
    out = Path(out)
    return out.parent / (out.name + ".journal")


_NUM, _OPT_NUM = (int, float), (int, float, type(None))
#: Fields every journal record of a type must have, with their JSON types (checked on load: a corrupted journal is
#: a one-line error, not a KeyError deep inside the build).
_RECORD_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "header": {"version": (int,), "recipe": (dict,), "seeds": (list,)},
    "session": {"time": _NUM},
    "run": {"function": (str,), "seed": (int,), "train_accuracy": _OPT_NUM, "val_accuracy": _OPT_NUM,
            "test_accuracy": _OPT_NUM, "train_loss": _OPT_NUM, "val_loss": _OPT_NUM, "test_loss": _OPT_NUM,
            "runtime": _OPT_NUM, "status": (str,), "error": (str, type(None))},
    "features": {"function": (str,), "fim_valid": (bool,), "fim_reason": (str, type(None)),
                 "fim_cdf": (list, type(None))},
}


def _check_record(rec: dict[str, Any], where: str) -> None:
    fields = _RECORD_FIELDS.get(rec["type"])
    if fields is None:
        return  # record types of newer builders are kept and ignored
    for key, types in fields.items():
        value = rec.get(key, _MISSING)
        if value is _MISSING:
            raise SchemaMismatchError(f"{where} ({rec['type']!r}) has no field {key!r}")
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise SchemaMismatchError(f"{where} ({rec['type']!r}): field {key!r} has the wrong type "
                                      f"({type(value).__name__})")


_MISSING = object()


class Journal:
    """Append-only JSON-lines journal of a build (``records.jsonl``), fsync'ed per record.

    The first record is a header (journal version, recipe, seeds); ``run`` and ``features`` records follow, plus
    ``session`` records marking each start of the driver (for the wall time).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / "records.jsonl"
        self.records: list[dict[str, Any]] = []
        self._fh = None

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, *, repair: bool = True) -> list[dict[str, Any]]:
        """Read all complete records; a torn last line (killed mid-write) is cut off the file if ``repair``.

        Use ``repair=False`` to read a journal that a running build may still be appending to.
        """
        self.records = []
        if not self.path.exists():
            return self.records
        good = 0
        with open(self.path, "rb") as fh:
            data = fh.read()
        lines = data.splitlines(keepends=True)
        for k, line in enumerate(lines):
            if not line.endswith(b"\n"):
                break
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, too many digits
                if k == len(lines) - 1:
                    break  # a torn last record: cut off below
                raise SchemaMismatchError(f"journal {self.path}: line {k + 1} (byte {good}) is not valid JSON (the "
                                          f"journal is corrupted; the file is left as it is)") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
                raise SchemaMismatchError(f"journal {self.path}: line {k + 1} (byte {good}) is not a journal record")
            _check_record(rec, f"journal {self.path}: line {k + 1} (byte {good})")
            self.records.append(rec)
            good += len(line)
        if good < len(data) and repair:
            with open(self.path, "r+b") as fh:
                fh.truncate(good)
        if self.records and self.records[0].get("type") != "header":
            raise SchemaMismatchError(f"journal {self.path}: the first record is not a header")
        if self.records and self.records[0].get("version") != JOURNAL_VERSION:
            raise SchemaMismatchError(f"journal {self.path} has version {self.records[0].get('version')!r}; this "
                                      f"act-bench reads version {JOURNAL_VERSION}")
        return self.records

    def append(self, record: dict[str, Any]) -> None:
        if self._fh is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - held open across appends
        self._fh.write(json.dumps(record, allow_nan=True, separators=(",", ":")) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records.append(record)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def header(self) -> dict[str, Any] | None:
        return self.records[0] if self.records else None

    def runs(self) -> dict[tuple[str, int], dict[str, Any]]:
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for r in self.records:
            if r["type"] == "run":
                out.setdefault((r["function"], int(r["seed"])), r)
        return out

    def features(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in self.records:
            if r["type"] == "features":
                out.setdefault(r["function"], r)
        return out

    def effort(self) -> dict[str, Any]:
        """``{"sessions", "workers", "run_core_seconds"[, "hardware"]}``: build sessions, the largest worker count of
        a session, the seconds spent inside the runs and FIM jobs of the journal (the sum of their own timings) and
        the machines that drove the sessions, where the journal recorded them."""
        sessions = [r for r in self.records if r["type"] == "session"]
        core = sum(float(r.get("runtime") or 0.0) for r in self.records if r["type"] == "run")
        core += sum(float(r.get("seconds") or 0.0) for r in self.records if r["type"] == "features")
        workers = max((int(r.get("workers") or 0) for r in sessions), default=0)
        out: dict[str, Any] = {"sessions": len(sessions), "workers": workers or None,
                               "run_core_seconds": round(core, 1)}
        machines = list(dict.fromkeys(r["hardware"] for r in sessions if r.get("hardware")))
        if machines:  # the machines that drove the sessions (Ray workers may have run elsewhere)
            out["hardware"] = "; ".join(machines)
        return out

    def wall_time(self) -> float:
        """Seconds spent building: per session, from its start to its last record."""
        total, start, last = 0.0, None, None
        for r in self.records:
            if r["type"] == "session":
                if start is not None and last is not None:
                    total += max(0.0, last - start)
                start, last = r["time"], r["time"]
            elif "time" in r and start is not None:
                last = r["time"]
        if start is not None and last is not None:
            total += max(0.0, last - start)
        return total


# ------------------------------------------------------------------------------------------------------ driver

@dataclass
class _Job:
    kind: str
    function: str
    seed: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def _check_header(header: dict[str, Any], recipe_dict: dict[str, Any], seeds: list[int], where: Path) -> None:
    if header.get("recipe") != recipe_dict:
        changed = sorted(k for k in set(header.get("recipe", {})) | set(recipe_dict)
                         if header.get("recipe", {}).get(k) != recipe_dict.get(k))
        raise InvalidInputError(f"journal {where} was written with a different recipe (differs in: "
                                f"{', '.join(changed)}); resume with the same recipe or build into a new --out")
    if header.get("seeds") != seeds:
        raise InvalidInputError(f"journal {where} was written with seeds {header.get('seeds')}; got {seeds}")


def _check_code(header: dict[str, Any], code: CodeVersion, where: Path, allow_change: bool) -> list[str] | None:
    """None if the journal was written by this code; else the changed parts (refused unless ``allow_change``)."""
    recorded = header.get("code")
    if recorded is None:
        if allow_change:
            return ["unknown"]
        raise InvalidInputError(f"journal {where} records no code version (written by an older act-bench); "
                                f"pass --allow-code-change to continue it with this code, or build into a new --out")
    old = CodeVersion.from_dict(recorded, where=f"journal {where} header")
    if old.digest == code.digest:
        return None
    changed = changed_parts(old, code) or ["(overall digest)"]
    if not allow_change:
        raise InvalidInputError(f"journal {where} was written by other code: changed parts {', '.join(changed)} "
                                f"(digest {old.digest[:12]} -> {code.digest[:12]}); resume with that code, build into "
                                f"a new --out, or pass --allow-code-change to mix results of both")
    return changed


def _code_metadata(journal: Journal) -> dict[str, Any] | None:
    """The code version of the journal's header, plus every accepted change of code (``overrides``)."""
    header = journal.header or {}
    if header.get("code") is None:
        return None
    code = dict(header["code"])
    overrides = [{k: r.get(k) for k in ("time", "from", "to", "changed", "version")}
                 for r in journal.records if r["type"] == "code_change"]
    if overrides:
        code["overrides"] = overrides
    return code


def build_table(recipe, out: str | os.PathLike[str], *, space: Sequence[str] | None = None,
                functions: Iterable[str] | None = None, seeds: int | Sequence[int] | None = None,
                limit: int | None = None, workers: int = 1, executor: str = "local", address: str | None = None,
                resume: bool = False, progress: bool = True, max_jobs: int | None = None, snapshot: bool = False,
                name: str | None = None, allow_code_change: bool = False):
    """Build (or resume) a benchmark table; returns the :class:`~act_bench.tables.BenchmarkTable` written to ``out``.

    Parameters
    ----------
    recipe : Recipe
        Training recipe (``data_builders.recipes.get_recipe(name)``).
    out : path
        Table folder (written atomically when the build stops); the journal lives in ``<out>.journal/``.
    space, functions, limit
        What to build (see :func:`plan_functions`).
    seeds : int or list of int
        Number of seeds (0..n-1) or the seeds; default ``recipe.seeds``.
    workers, executor, address
        ``local`` processes (``workers``) or ``ray`` tasks (``address`` of a cluster, else a local one).
    resume : bool
        Continue the journal in ``<out>.journal``; without it an existing journal is an error.
    max_jobs : int, optional
        Stop after this many new jobs (then write the table of the complete functions), e.g. to build in slices.
    snapshot : bool
        Run nothing: write the table of the functions the journal already completes, reading the journal without
        modifying it (safe while another process is still building into it).
    name : str, optional
        Table name (letters, digits, ``_``, ``.``, ``-``); default: the name of the ``out`` folder, so that a test
        build is never named like the table its recipe builds.
    allow_code_change : bool
        Resume a journal written by other code (see :func:`data_builders.build.code_version`); without it such a
        resume is refused. The change is recorded in the journal and in ``metadata["code"]["overrides"]``.

    The journal header and the table metadata (``code``) record the package version and the digests of the source
    that determines results; GPUs per run (``recipe.gpus_per_run``, fractions allowed) are checked against the
    executor's GPUs before anything is written.

    The table holds only functions whose every seed and FIM job is done; ``metadata.build.complete`` says whether
    the whole plan is.
    """
    from act_bench.tables import BenchmarkTable

    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds) if seeds is not None \
        else list(range(recipe.seeds))
    if not seed_list:
        raise InvalidInputError("parameter seeds of build_table must name at least one seed")
    if name is not None and not (isinstance(name, str) and re.fullmatch(r"[\w.-]+", name)):
        raise InvalidInputError(f"parameter name of build_table must be letters, digits, '_', '.' or '-'; got "
                                f"{name!r}")
    out = Path(out)
    jdir = journal_dir_for(out)
    journal = Journal(jdir)
    recipe_dict = recipe.to_dict()
    # the embedded recipe states the seeds actually used (the journal header keeps the recipe as given)
    built = recipe if len(seed_list) == recipe.seeds else recipe.with_overrides(seeds=len(seed_list))
    table_name = name or out.resolve().name
    if not (NAME_PATTERN.match(table_name) and ".." not in table_name):  # checked before hours of training
        raise InvalidInputError(f"table name {table_name!r} ({'--name' if name else 'the --out folder name'}) must "
                                f"be 1-96 letters, digits, '_', '.', '-' starting with a letter or digit; pass --name")
    plan = plan_functions(space, functions=functions, limit=limit)
    if snapshot:
        _check_out(out, journal, resume=True)
        if not journal.exists():
            raise InvalidInputError(f"--snapshot needs a build journal; {jdir} has none")
        journal.load(repair=False)
        _check_header(journal.header, recipe_dict, seed_list, jdir)
        table = _assemble(journal, plan, seed_list, built, BenchmarkTable, table_name)
        table.save(out, overwrite=True)
        if len(table):
            write_accuracy_histogram(table, Path(out) / HISTOGRAM_FILE)
        return table
    check_buildable(recipe, executor=executor, workers=workers)  # before anything is written
    code = code_version(recipe)
    with BuildLock(jdir):  # one build per journal: a second one is refused at once, naming this one
        _check_out(out, journal, resume=resume)
        return _build_locked(recipe, out, journal, plan, seed_list, built, recipe_dict, code, table_name,
                             workers=workers, executor=executor, address=address, progress=progress,
                             max_jobs=max_jobs, allow_code_change=allow_code_change)


def _check_out(out: Path, journal: Journal, *, resume: bool) -> None:
    if journal.exists() and not resume:
        raise InvalidInputError(f"{journal.folder} already holds a build journal; pass --resume to continue it, or "
                                f"choose another --out")
    if out.exists() and not journal.exists() and any(out.iterdir()):
        raise InvalidInputError(f"--out {str(out)!r} exists and is not empty (and has no build journal)")


def check_buildable(recipe, *, executor: str = "local", workers: int = 1) -> None:
    """Check before a build starts that its jobs can run: the recipe's task (name and arguments) and model exist
    and fit together, and the executor is known; raises :class:`~act_bench.errors.InvalidInputError` naming the
    recipe otherwise. Builds the task object (its data is read only by the jobs) and one model."""
    from data_builders.executors import list_executors
    from data_builders.models import create_model, get_model_spec

    if executor not in list_executors():
        raise InvalidInputError(f"parameter executor must be one of {', '.join(list_executors())}; got {executor!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"parameter workers of build_table must be an integer >= 1; got {workers!r}")
    where = f"recipe {recipe.name!r} cannot be built"
    try:
        task = _task_for(recipe)
    except TypeError as exc:  # an argument the task does not take
        raise InvalidInputError(f"{where}: task_args {sorted(recipe.task_args)} do not fit task {recipe.task!r} "
                                f"({exc})") from None
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    try:
        spec = get_model_spec(recipe.model)
        create_model(recipe.model, "relu(x)", num_classes=task.num_classes)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    ours, theirs = tuple(task.input_shape), spec.input_shape
    if len(ours) != len(theirs) or ours[:1] != theirs[:1]:  # rank and channels (sizes may differ: pooling heads)
        raise InvalidInputError(f"{where}: task {recipe.task!r} gives inputs of shape {ours} but model "
                                f"{recipe.model!r} takes inputs of shape {theirs}")


def _build_locked(recipe, out: Path, journal: Journal, plan: BuildPlan, seed_list: list[int], built,
                  recipe_dict: dict[str, Any], code: CodeVersion, table_name: str, *, workers: int, executor: str,
                  address: str | None, progress: bool, max_jobs: int | None, allow_code_change: bool):
    from act_bench.tables import BenchmarkTable
    from act_bench.utils import progress_bar
    from data_builders.executors import JobError, check_gpus_per_run, create_executor

    jdir = journal.folder
    journal.load()
    changed = None
    if journal.header is not None:
        _check_header(journal.header, recipe_dict, seed_list, jdir)
        changed = _check_code(journal.header, code, jdir, allow_code_change)
    ex = create_executor(executor, workers=workers, address=address)
    try:
        gpus = check_gpus_per_run(float(recipe.gpus_per_run), ex.gpus, where=f"gpus_per_run of recipe "
                                                                              f"{recipe.name!r}")
    except BaseException:
        ex.shutdown()
        raise
    preamble: list[dict[str, Any]] = []
    if journal.header is None:
        preamble.append({"type": "header", "version": JOURNAL_VERSION, "recipe": recipe_dict, "seeds": seed_list,
                         "space": plan.space, "created": time.time(), "code": code.to_dict()})
    elif changed is not None:
        preamble.append({"type": "code_change", "time": time.time(), "from": (journal.header.get("code") or {})
                         .get("digest"), "to": code.digest, "changed": changed, "version": code.version,
                         "code": code.to_dict()})
    preamble.append({"type": "session", "time": time.time(), "host": socket.gethostname(),
                     "id": uuid.uuid4().hex[:8], "executor": executor, "workers": workers, "hardware": hardware(),
                     "code_digest": code.digest})
    new_journal = journal.header is None

    def _record(record: dict[str, Any]) -> None:  # a new journal is written from its first finished job on
        while preamble:
            journal.append(preamble.pop(0))
        journal.append(record)

    if not new_journal:  # a resumed journal records every session, also one that finishes no job
        while preamble:
            journal.append(preamble.pop(0))
    done_runs, done_feats = journal.runs(), journal.features()
    todo: list[_Job] = []
    for f in plan.functions:
        if f not in done_feats:
            todo.append(_Job("fim", f))
        todo.extend(_Job("run", f, s) for s in seed_list if (f, s) not in done_runs)
    if max_jobs is not None:
        todo = todo[:max_jobs]
    total = len(plan.functions) * (len(seed_list) + 1)
    stop = {"flag": False}

    def _on_signal(signum, frame):  # stop submitting, keep what finished, write the table
        stop["flag"] = True

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    bar = progress_bar(total=total, initial=total - len(todo) if max_jobs is None else len(done_runs) + len(done_feats),
                       desc=f"build {recipe.name}", unit="job", disable=not progress, smoothing=0.05)
    try:
        with ex:
            queue = list(reversed(todo))
            tickets: dict[int, _Job] = {}
            while (queue or tickets) and not stop["flag"]:
                while queue and len(tickets) < ex.slots and not stop["flag"]:
                    job = queue.pop()
                    payload = {"recipe": recipe_dict, "function": job.function, "seed": job.seed}
                    fn = run_fim_job if job.kind == "fim" else run_train_job
                    tickets[ex.submit(fn, payload, gpus=gpus if job.kind == "run" else 0)] = job
                for ticket, result in ex.wait(timeout=1.0):
                    job = tickets.pop(ticket)
                    if isinstance(result, JobError):
                        result = _failed_record(job, recipe, str(result))
                    _record({**result, "time": time.time()})
                    bar.update(1)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        bar.close()
        if not preamble:  # a new journal where no job finished stays unwritten: nothing blocks the rerun
            journal.append({"type": "session_end", "time": time.time()})
        journal.close()
    if new_journal and not journal.records:
        raise ActBenchError(f"the build into {str(out)!r} stopped before its first job finished; nothing was "
                            f"written (the same command starts it again)")
    table = _assemble(journal, plan, seed_list, built, BenchmarkTable, table_name)
    table.save(out, overwrite=True)
    if len(table):
        write_accuracy_histogram(table, Path(out) / HISTOGRAM_FILE)
    return table


HISTOGRAM_FILE = "accuracy_histogram.png"


def write_accuracy_histogram(table, path: str | os.PathLike[str]) -> Path:
    """Histogram of the median test accuracy of every function (diverged ones at chance level included)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = table.to_pandas("functions")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    acc = df["test_accuracy"].to_numpy(dtype=float)
    ax.hist(acc[np.isfinite(acc)], bins=50, color="#4477aa")
    for name, colour, style in (("relu(x)", "#cc3311", "--"), ("swish(x)", "#009988", ":")):
        hit = df.index[df["function"] == name]
        if len(hit):
            value = float(df.loc[hit[0], "test_accuracy"])
            ax.axvline(value, color=colour, ls=style, lw=1.8, label=f"{name} {value:.3f}")
    ax.set_xlabel("median test accuracy")
    ax.set_ylabel("functions")
    ax.set_title(f"{table.name}: {len(df)} functions")
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _failed_record(job: _Job, recipe, message: str) -> dict[str, Any]:
    if job.kind == "fim":
        return {"type": "features", "function": job.function, "fim_valid": False,
                "fim_reason": f"feature job failed: {message}", "fim_cdf": None, "seconds": 0.0}
    nan = float("nan")
    return {"type": "run", "function": job.function, "seed": job.seed, "train_accuracy": nan, "val_accuracy": nan,
            "test_accuracy": nan, "train_loss": nan, "val_loss": nan, "test_loss": nan, "runtime": 0.0,
            "status": "failed", "error": message, "epochs": 0, "device": "unknown", "extra": {},
            **{c: [] for c in CURVE_COLUMNS}}


def _assemble(journal: Journal, plan: BuildPlan, seeds: list[int], recipe, table_cls, name: str):
    import pandas as pd

    from act_bench.features import fim_layout
    from data_builders.models import create_model

    runs, feats = journal.runs(), journal.features()
    complete = [f for f in plan.functions if f in feats and all((f, s) in runs for s in seeds)]
    rows = [runs[(f, s)] for f in complete for s in seeds]
    cols = list(RUNS_COLUMNS)  # journals written before learning curves were recorded give empty curves
    runs_df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    outputs = evaluate_many(complete) if complete else np.zeros((0, 1000), np.float32)
    features = {f: {"equivalents": plan.equivalents[f], "fim_valid": bool(feats[f]["fim_valid"]),
                    "fim_reason": feats[f].get("fim_reason"),
                    "fim_cdf": feats[f]["fim_cdf"] if feats[f].get("fim_cdf") is not None else None,
                    "outputs": outputs[i]} for i, f in enumerate(complete)}
    task_name = recipe.task
    # the layout of the model the FIM job measures: the recipe's model with the task's classes (not the model's
    # default class count), so that its bins add up to the length of the fim_cdf vectors
    layout = fim_layout(create_model(recipe.model, "relu(x)", num_classes=_task_for(recipe).num_classes))
    meta = {
        "name": name, "task": task_name, "model": recipe.model, "recipe": recipe.to_dict(),
        "fim_layout": [{"layer": r.name, "weights": r.weights, "bins": r.bins} for r in layout.rows],
        "fim_cdf_layout": "act-bench",
        "build": {"wall_time_s": round(journal.wall_time(), 1), **journal.effort(),
                  "complete": len(complete) == len(plan.functions),
                  "functions_planned": len(plan.functions), "functions_complete": len(complete),
                  "seeds": seeds, "space": plan.space, "journal": journal.folder.name},
        "source": "act-bench build",
        **({"code": code} if (code := _code_metadata(journal)) is not None else {}),
        "figures": [{"file": HISTOGRAM_FILE, "title": "Distribution of median test accuracy"}],
        "notes": (f"Built by `act-bench build --recipe {recipe.name}` with the act-bench package; the journal "
                  f"`{journal.folder.name}/` next to this folder holds every run and lets the build resume. "
                  f"{len(complete)} of {len(plan.functions)} planned functions are complete"
                  + ("." if len(complete) == len(plan.functions) else
                     " (a partial build: the functions are a uniform sample of the space, baselines first).")),
    }
    return table_cls.from_runs(runs_df, features=features, metadata=meta)
