"""The live-search driver: a searcher from :mod:`act_bench.search` choosing functions that workers really train.

How a search runs (paper appendix E, "Search Implementation"):

1. The candidates are the equivalence classes of the spaces (plus the 8 baselines unless ``baselines=False``);
   their outputs on the standard inputs are computed up front (vectorised, seconds) and stored in the journal with a
   seeded order in which FIM features will be computed (baselines first, then a random permutation).
2. Warm-up: all workers compute FIM features in that order until ``fim_warmup`` rows have them.
3. Search: ``workers`` evaluation slots train the searcher's suggestions with the recipe (one seed per function) and
   report ``val_accuracy`` back through ``tell``; while features are missing, one extra worker keeps computing them
   (``background_features``). Baselines are suggested first. Stops when ``budget`` functions have a final result or
   the searcher has nothing left to suggest.

The searcher holds no state of its own that is not in the journal: it is rebuilt from the journal (candidates,
features computed so far, searcher name, seed and kwargs) and its history is replayed in journal order (results
first, then the runs in flight). That is how a restarted driver resumes, and how the candidate map grows as
features arrive (a FIM-based searcher is rebuilt once the number of rows with features has grown by ``refresh``,
a fraction, since its last build). Nothing else is needed from the searcher than ``ask``/``tell`` and ``initial``.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from act_bench._progress import progress_bar
from act_bench._validation import check_float, check_int
from act_bench.errors import InvalidInputError
from act_bench.live._jobs import fim_job, train_job
from act_bench.live._journal import JournalResult, LiveJournal

__all__ = ["IDENTITY_KEYS", "LiveSearch", "LiveSummary"]

#: Config keys that must match when a journal is resumed (the others, like the budget, may change).
IDENTITY_KEYS = ("recipe", "spaces", "baselines", "searcher", "searcher_kwargs", "seed", "train_seed", "task",
                 "model")
_METRIC_KEYS = ("train_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss", "runtime")


@dataclass(frozen=True)
class LiveSummary:
    """What :meth:`LiveSearch.run` did.

    Attributes
    ----------
    journal : str
        Path of the journal.
    budget : int
    evaluated : int
        Functions with a final result in the journal (all sessions).
    new : int
        Of those, finished in this session.
    failed, diverged : int
        Final results with status ``failed`` / ``diverged``.
    with_features : int
        Rows whose FIM features are computed.
    best : dict or None
        ``function``, ``val_accuracy``, ``test_accuracy`` of the best ``ok`` result.
    stopped : str
        ``"budget"``, ``"exhausted"`` (nothing left to suggest) or ``"interrupted"``.
    seconds : float
        Wall time of this session.
    """

    journal: str
    budget: int
    evaluated: int
    new: int
    failed: int
    diverged: int
    with_features: int
    best: dict[str, Any] | None
    stopped: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def best_result(results: Sequence[JournalResult]) -> dict[str, Any] | None:
    """The ``ok`` or ``diverged`` result with the highest validation accuracy (``None`` if there is none)."""
    alive = [r for r in results if r.status != "failed" and math.isfinite(r.val_accuracy)]
    if not alive:
        return None
    b = max(alive, key=lambda r: (r.val_accuracy, -r.seq))
    return {"function": b.function, "val_accuracy": b.val_accuracy, "test_accuracy": b.test_accuracy,
            "status": b.status, "seq": b.seq}


def _callable_name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


class _Progress:
    """tqdm bar with ETA on a terminal, else one line per finished evaluation on stderr (or nothing)."""

    def __init__(self, enabled: bool | None, total: int, initial: int) -> None:
        self.enabled = bool(enabled)
        self.total, self.done, self.start_done = total, initial, initial
        self.start = time.perf_counter()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc="live search", unit="eval", smoothing=0.1)

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def evaluated(self, function: str, status: str, value: float, best: dict[str, Any] | None) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
            if best:
                self.bar.set_postfix(best=f"{best['val_accuracy']:.4f}")
            return
        elapsed = time.perf_counter() - self.start
        new = self.done - self.start_done
        eta = elapsed / new * max(0, self.total - self.done) if new else float("nan")
        best_text = f" best={best['val_accuracy']:.4f} {best['function']}" if best else ""
        self.note(f"[{self.done}/{self.total}] {function}: val_accuracy={value:.4f} ({status}){best_text} "
                  f"elapsed={elapsed:.0f}s eta={eta:.0f}s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Stop:
    def __init__(self) -> None:
        self.flag = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM,):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.flag = True

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


class LiveSearch:
    """Run a searcher against real training, with a crash-safe SQLite journal.

    Parameters
    ----------
    recipe : Recipe or str
        Training recipe (a ``data_builders.recipes`` name, a YAML path or a ``Recipe``).
    journal : path
        SQLite journal; created if missing, resumed if it exists (the identity settings must match).
    spaces : sequence of str, optional
        Schemas of the candidate space (default: the paper's ``binary(unary(x),unary(x))``).
    searcher : str, default="knr:both"
        Name in the searcher registry (``act_bench.search.list_searchers()``).
    searcher_kwargs : dict, optional
        Extra keyword arguments of the searcher (JSON values; stored in the journal).
    seed : int, default=0
        Seed of the searcher and of the feature order.
    train_seed : int, optional
        Training seed of every evaluation (default: ``seed``).
    baselines : bool, default=True
        Add the paper's 8 baselines to the candidates and evaluate them first (they count toward the budget).
    fim_warmup : int, default=5000
        Rows with FIM features before the search starts (the paper: 5,000); capped at the number of candidates.
    background_features : bool, default=True
        Keep one extra worker computing features during the search while some are missing.
    workers : int, default=1
        Evaluation slots (local processes, or Ray tasks).
    executor : {"local", "ray"}, default="local"
    address : str, optional
        Ray cluster address (``executor="ray"``); default: start a local Ray.
    retries : int, default=1
        Times a run that raised is retried before it is recorded as failed.
    refresh : float, default=0.1
        Rebuild a FIM-based searcher when the rows with features grew by this fraction since its last build.
    task : Task, optional
        A user's task object (shipped with every job; default: the recipe's task).
    model_fn : callable, optional
        ``model_fn(activation_factory) -> nn.Module``: a user's network (must be picklable for local processes,
        e.g. a module-level function).
    progress : bool, default=True
        Progress bar on a terminal, else a line per evaluation on stderr.

    Examples
    --------
    >>> from act_bench.live import LiveSearch
    >>> search = LiveSearch(recipe="act-bench-mnist1d", journal="/tmp/doc-live.sqlite",
    ...                     spaces=["binary(unary(x),unary(x))"], searcher="knr:both", fim_warmup=500,
    ...                     workers=2)                                                    # doctest: +SKIP
    >>> summary = search.run(budget=50)                                                   # doctest: +SKIP
    >>> table = search.to_table()                                                         # doctest: +SKIP
    """

    def __init__(self, *, recipe: Any, journal: str | os.PathLike[str], spaces: Sequence[str] | None = None,
                 searcher: str = "knr:both", searcher_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 train_seed: int | None = None, baselines: bool = True, fim_warmup: int = 5000,
                 background_features: bool = True, workers: int = 1, executor: str = "local",
                 address: str | None = None, retries: int = 1, refresh: float = 0.1, task: Any = None,
                 model_fn: Callable[..., Any] | None = None, progress: bool = True) -> None:
        from act_bench.search import list_searchers
        from act_bench.space import PAPER_THREE_NODE_SCHEMA, parse_schema
        from data_builders.recipes import Recipe, get_recipe

        where = "LiveSearch"
        self.recipe = recipe if isinstance(recipe, Recipe) else get_recipe(recipe)
        self.journal_path = Path(journal)
        if spaces is None:
            spaces = [PAPER_THREE_NODE_SCHEMA]
        if isinstance(spaces, str):
            spaces = [spaces]
        self.spaces = [str(parse_schema(s)) for s in spaces]
        if searcher not in list_searchers():
            raise InvalidInputError(f"parameter searcher of {where} must be one of {', '.join(list_searchers())}; "
                                    f"got {searcher!r}")
        self.searcher_name = searcher
        self.searcher_kwargs = dict(searcher_kwargs or {})
        self.seed = check_int(seed, "seed", where, min_value=0)
        self.train_seed = self.seed if train_seed is None else check_int(train_seed, "train_seed", where,
                                                                          min_value=0)
        self.baselines = bool(baselines)
        if not self.spaces and not self.baselines:
            raise InvalidInputError(f"{where} needs candidates: give spaces and/or keep baselines=True")
        self.fim_warmup = check_int(fim_warmup, "fim_warmup", where, min_value=0)
        self.background_features = bool(background_features)
        self.workers = check_int(workers, "workers", where, min_value=1)
        if executor not in ("local", "ray"):
            raise InvalidInputError(f"parameter executor of {where} must be 'local' or 'ray'; got {executor!r}")
        if address and executor != "ray":
            raise InvalidInputError(f"parameter address of {where} needs executor='ray'")
        self.executor, self.address = executor, address
        self.retries = check_int(retries, "retries", where, min_value=0)
        self.refresh = check_float(refresh, "refresh", where, min_value=0.0)
        self.task, self.model_fn = task, model_fn
        self.progress = progress
        self._searcher = None
        self._pending: dict[int, Any] = {}  # row -> Suggestion of the current searcher

    # -- configuration ----------------------------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        return {"recipe": self.recipe.to_dict(), "spaces": self.spaces, "baselines": self.baselines,
                "searcher": self.searcher_name, "searcher_kwargs": self.searcher_kwargs, "seed": self.seed,
                "train_seed": self.train_seed,
                "task": "recipe" if self.task is None else str(getattr(self.task, "name", type(self.task).__name__)),
                "model": "recipe" if self.model_fn is None else _callable_name(self.model_fn)}

    def _layout(self) -> list[dict[str, Any]]:
        from act_bench.features import fim_layout
        from data_builders.models import activation_factory, create_model

        if self.model_fn is not None:
            model = self.model_fn(activation_factory("relu(x)"))
        else:
            num_classes = getattr(self.task, "num_classes", None)
            model = create_model(self.recipe.model, "relu(x)", **({"num_classes": num_classes} if num_classes
                                                                  else {}))
        return [{"layer": r.name, "weights": r.weights, "bins": r.bins} for r in fim_layout(model).rows]

    def _candidates(self) -> tuple[list[str], list[list[str]], np.ndarray, list[int]]:
        from act_bench.space import BASELINE_FUNCTIONS, equivalence_classes, evaluate_many

        base = list(BASELINE_FUNCTIONS) if self.baselines else None
        classes = equivalence_classes(base, schemas=self.spaces or None)
        names = list(classes.representatives)
        first = [names.index(b) for b in (base or []) if b in names]
        rest = [i for i in range(len(names)) if i not in set(first)]
        order = np.random.default_rng(np.random.SeedSequence([self.seed, 1])).permutation(len(rest))
        ranked = first + [rest[i] for i in order]
        rank = [0] * len(names)
        for r, i in enumerate(ranked):
            rank[i] = r
        # the representatives' own outputs (a class's members may differ in the sign of zeros), as the builder stores
        return names, [list(e) for e in classes.equivalents], evaluate_many(names), rank

    def _open(self, budget: int) -> LiveJournal:
        identity = self._identity()
        if self.journal_path.exists():
            journal = LiveJournal.open(self.journal_path)
            try:
                stored = journal.config()
                changed = [k for k in IDENTITY_KEYS if stored.get(k) != identity[k]]
                if changed:
                    detail = "; ".join(
                        f"{k}: journal has {_short(stored.get(k))}, got {_short(identity[k])}" for k in changed
                        if k != "recipe")
                    if "recipe" in changed:
                        keys = sorted(k for k in set(stored.get("recipe") or {}) | set(identity["recipe"])
                                      if (stored.get("recipe") or {}).get(k) != identity["recipe"].get(k))
                        detail = "; ".join(filter(None, [f"recipe differs in {', '.join(keys)}", detail]))
                    raise InvalidInputError(f"journal {str(self.journal_path)!r} belongs to another search ({detail});"
                                            f" resume it with the same settings or choose a new --journal")
            except BaseException:
                journal.close()
                raise
            return journal
        names, eqs, outputs, rank = self._candidates()
        config = {**identity, "fim_layout": self._layout(), "created": time.time(),
                  "act_bench_version": _version()}
        return LiveJournal.create(self.journal_path, config=config, functions=names, equivalents=eqs,
                                  outputs=outputs, feature_rank=rank)

    # -- searcher ---------------------------------------------------------------------------------------------

    def _needs_fim(self) -> bool:
        from act_bench.search import searcher_spec

        return searcher_spec(self.searcher_name)[1] in ("fim", "both")

    def _candidate_set(self, journal: LiveJournal):
        from act_bench.search import CandidateSet

        names, eqs, outputs = self._names, self._eqs, self._outputs
        layout = journal.config().get("fim_layout") or []
        dims = sum(int(l["bins"]) for l in layout)
        fim = np.full((len(names), dims), np.nan, dtype=np.float32)
        valid = np.zeros(len(names), dtype=bool)
        for row, f in journal.features().items():
            cdf = f["fim_cdf"]
            if f["fim_valid"] and cdf is not None and cdf.shape == (dims,):
                fim[row] = cdf
                valid[row] = True
        return CandidateSet.from_arrays(names, equivalents=eqs, outputs=outputs, fim_cdf=fim, fim_valid=valid,
                                        fim_layout=layout)

    def _build_searcher(self, journal: LiveJournal, pending_rows: Sequence[int]):
        """Recreate the searcher from the journal and replay its history (results in order, then ``pending_rows``)."""
        from act_bench.search import create_searcher
        from act_bench.space import BASELINE_FUNCTIONS

        results = journal.results()
        names = self._names
        history = [r.row for r in results] + [r for r in pending_rows]
        initial = [names[r] for r in history] + (list(BASELINE_FUNCTIONS) if self.baselines else [])
        try:
            searcher = create_searcher(self.searcher_name, self._candidate_set(journal), seed=self.seed,
                                       initial=initial, **self.searcher_kwargs)
        except TypeError as exc:
            raise InvalidInputError(f"searcher {self.searcher_name!r} does not accept searcher_kwargs "
                                    f"{self.searcher_kwargs!r}: {exc}") from None
        replayed = searcher.ask(len(history)) if history else []
        if [s.index for s in replayed] != history:
            raise RuntimeError(f"searcher {self.searcher_name!r} did not replay the journal's history (it must "
                               f"suggest its 'initial' functions first)")
        for s, r in zip(replayed, results):
            searcher.tell(s, _as_result(r))
        self._pending = {s.index: s for s in replayed[len(results):]}
        self._searcher = searcher
        self._built_with = journal.n_features()
        return searcher

    # -- running ----------------------------------------------------------------------------------------------

    def run(self, budget: int) -> LiveSummary:
        """Evaluate functions until ``budget`` of them have a final result (baselines included); resumable.

        Returns
        -------
        LiveSummary
        """
        from data_builders.executors import create_executor

        budget = check_int(budget, "budget", "LiveSearch.run", min_value=1)
        start = time.perf_counter()
        journal = self._open(budget)
        try:
            journal.acquire()
            session = uuid.uuid4().hex[:12]
            released = journal.start_session(session, executor=self.executor, workers=self.workers, budget=budget)
            journal.set_config("budget", budget)
            journal.set_config("fim_warmup", self.fim_warmup)
            journal.set_config("retries", self.retries)
            self._names, self._eqs, self._outputs, ranks = journal.candidates()
            n_before = journal.n_results()
            missing = journal.n_candidates() - journal.n_features()
            extra = 1 if self.background_features and missing > 0 else 0
            with _Stop() as stop, create_executor(self.executor, workers=self.workers + extra,
                                                  address=self.address) as ex:
                run = _Run(self, journal, ex, session, budget, ranks, stop)
                stopped = run.main(released)
            results = journal.results()
            counts = journal.counts()
            journal.end_session(session)
        finally:
            journal.close()
        return LiveSummary(journal=str(self.journal_path), budget=budget, evaluated=len(results),
                           new=len(results) - n_before, failed=counts["failed"], diverged=counts["diverged"],
                           with_features=counts["with_features"], best=best_result(results), stopped=stopped,
                           seconds=round(time.perf_counter() - start, 2))

    def to_table(self):
        """The journal's results as a :class:`~act_bench.tables.BenchmarkTable` (see :func:`export_table`)."""
        from act_bench.live._status import export_table

        return export_table(self.journal_path)


class _Run:
    """One session of the driver loop (kept apart from :class:`LiveSearch` to keep the state explicit)."""

    def __init__(self, search: LiveSearch, journal: LiveJournal, ex, session: str, budget: int, ranks: np.ndarray,
                 stop: _Stop) -> None:
        self.s, self.j, self.ex, self.session, self.budget, self.stop = search, journal, ex, session, budget, stop
        self.names = search._names
        self.order = [int(i) for i in np.argsort(ranks, kind="stable")]
        self.featured = journal.featured_rows()
        self.tickets: dict[int, tuple[str, int]] = {}
        self.evals: dict[int, int] = {}      # row in training -> attempt number (0-based)
        self.feats: set[int] = set()         # rows whose features are being computed
        self.cursor = 0
        recipe_dict = search.recipe.to_dict()
        self.payload = {"recipe": recipe_dict}
        if search.task is not None:
            self.payload["task"] = search.task
        if search.model_fn is not None:
            self.payload["model_fn"] = search.model_fn
        self.gpus = float(search.recipe.gpus_per_run or 0)
        self.done_rows = {r.row for r in journal.results()}
        self.progress = _Progress(search.progress, budget, len(self.done_rows))
        self.best = best_result(journal.results())
        self.baseline_rows: set[int] = set()

    # -- features -----------------------------------------------------------------------------------------------

    def _next_feature_row(self) -> int | None:
        for row in list(self.evals) + sorted(self.done_rows):  # evaluated functions get their features first
            if row not in self.featured and row not in self.feats:
                return row
        while self.cursor < len(self.order) and (self.order[self.cursor] in self.featured
                                                 or self.order[self.cursor] in self.feats):
            self.cursor += 1
        return self.order[self.cursor] if self.cursor < len(self.order) else None

    def _submit_feature(self) -> bool:
        row = self._next_feature_row()
        if row is None:
            return False
        ticket = self.ex.submit(fim_job, {**self.payload, "function": self.names[row]})
        self.tickets[ticket] = ("fim", row)
        self.feats.add(row)
        return True

    def _features_left(self) -> bool:
        return len(self.featured) + len(self.feats) < len(self.names)

    def _on_features(self, row: int, result: Any) -> None:
        from data_builders.executors import JobError

        self.feats.discard(row)
        if isinstance(result, JobError):
            result = {"fim_valid": False, "fim_reason": f"feature job failed: {result}", "fim_cdf": None,
                      "seconds": None}
        self.j.add_features(row, result, self.session)
        self.featured.add(row)

    # -- evaluations --------------------------------------------------------------------------------------------

    def _submit_eval(self, row: int, attempt: int, *, claim: bool) -> None:
        if claim:
            self.j.claim(row, self.names[row], self.session, attempt)
        ticket = self.ex.submit(train_job, {**self.payload, "function": self.names[row], "seed": self.s.train_seed},
                                gpus=self.gpus)
        self.tickets[ticket] = ("train", row)
        self.evals[row] = attempt

    def _start(self, row: int) -> None:
        attempt = self.j.attempts(row)
        if attempt > self.s.retries:  # failed attempts of earlier sessions used up the retries
            self.evals[row] = attempt
            self.j.claim(row, self.names[row], self.session, attempt)
            self._finish(row, _failed_record(self.names[row], self.s.train_seed, "retries exhausted"), attempt)
            return
        self._submit_eval(row, attempt, claim=True)

    def _finish(self, row: int, record: dict[str, Any], attempts: int) -> None:
        record = {**record, "function": self.names[row], "seed": self.s.train_seed}
        seq = self.j.add_result(row, record, attempts=attempts, session=self.session)
        del self.evals[row]
        self.done_rows.add(row)
        jr = _journal_like(seq, row, record)
        suggestion = self.s._pending.pop(row)
        self.s._searcher.tell(suggestion, _as_result(jr))
        if record.get("status") != "failed" and math.isfinite(jr.val_accuracy) and (
                self.best is None or jr.val_accuracy > self.best["val_accuracy"]):
            self.best = {"function": jr.function, "val_accuracy": jr.val_accuracy,
                         "test_accuracy": jr.test_accuracy, "status": jr.status, "seq": seq}
        self.progress.evaluated(jr.function, jr.status, jr.val_accuracy, self.best)

    def _on_eval(self, row: int, result: Any) -> None:
        from data_builders.executors import JobError

        attempt = self.evals[row]
        if isinstance(result, JobError):
            error = str(result)
        elif result.get("status") == "failed":
            error = result.get("error") or "run failed"
        else:
            error = None
        if error is None:
            self._finish(row, result, attempt + 1)
            return
        self.j.record_failure(row, self.names[row], attempt, error, self.session)
        if attempt < self.s.retries and not self.stop.flag:
            self.progress.note(f"{self.names[row]}: attempt {attempt + 1} failed ({error}); retrying")
            self._submit_eval(row, attempt + 1, claim=False)
        else:
            self._finish(row, _failed_record(self.names[row], self.s.train_seed, error), attempt + 1)

    # -- loop ---------------------------------------------------------------------------------------------------

    def _handle(self, timeout: float) -> None:
        for ticket, result in self.ex.wait(timeout=timeout):
            kind, row = self.tickets.pop(ticket)
            if kind == "fim":
                self._on_features(row, result)
            else:
                self._on_eval(row, result)

    def _warmup(self) -> None:
        target = min(self.s.fim_warmup, len(self.names))
        if len(self.featured) >= target:
            return
        self.progress.note(f"computing FIM features: {len(self.featured)}/{target} before the search")
        slots = self.s.workers + (1 if self.s.background_features else 0)
        # a bar on stderr (slower off a terminal) that closes with the final count, also when interrupted
        bar = progress_bar(total=target, initial=len(self.featured), desc="FIM warm-up", unit="function",
                           disable=not self.progress.enabled)
        try:
            while len(self.featured) < target and not self.stop.flag:
                while len(self.tickets) < slots and len(self.featured) + len(self.feats) < target:
                    if not self._submit_feature():
                        break
                if not self.tickets:
                    break
                self._handle(1.0)
                bar.update(min(len(self.featured), target) - bar.n)
        finally:
            bar.close()
        self.progress.note(f"FIM features: {len(self.featured)}/{target} computed"
                           + (" (interrupted)" if self.stop.flag else ""))

    def _ensure_searcher(self) -> None:
        """Build the searcher; while too few rows have valid features for its map, compute more first."""
        while True:
            try:
                self.s._build_searcher(self.j, list(self.evals))
                return
            except InvalidInputError as exc:
                if not (self.s._needs_fim() and self._features_left()) or self.stop.flag:
                    raise
                self.progress.note(f"{exc}; computing more FIM features")
                for _ in range(self.s.workers + 1):
                    self._submit_feature()
                self._handle(1.0)

    def _awaiting_baselines(self) -> bool:
        """True while every baseline without a final result is in flight: the next suggestion would be a pick.

        Baselines come first (docs/live.md): the searcher's first pick is made only once it has been told every
        baseline, so a free worker waits for them. This matters after a resume, where a baseline that was in flight
        when the driver died restarts from scratch: without this gate the free workers took surrogate picks at once
        (chosen without that baseline's result), and several of them could finish before it.
        """
        waiting = self.baseline_rows - self.done_rows
        return bool(waiting) and waiting <= self.evals.keys()

    def _stale(self) -> bool:
        if not self.s._needs_fim():
            return False
        grown = len(self.featured) - self.s._built_with
        return grown > 0 and grown >= max(1, math.ceil(self.s.refresh * self.s._built_with))

    def main(self, released: list[tuple[int, str]]) -> str:
        from act_bench.space import BASELINE_FUNCTIONS

        resume = [row for row, _ in released if row not in self.done_rows]
        resume = resume[:max(0, self.budget - len(self.done_rows))]
        if len(self.done_rows) >= self.budget and not resume:  # nothing to search: no warm-up, no searcher
            self._complete_features()
            self.progress.close()
            return "interrupted" if self.stop.flag else "budget"
        warm = _prewarm_umap(self.s.searcher_name)
        self._warmup()
        if self.stop.flag:
            return "interrupted"
        # released claims: the previous session's searcher chose them; train them first (submitted before the
        # searcher is rebuilt, so the workers start while UMAP compiles; results are read after the rebuild)
        deferred = []
        for row in resume:
            attempt = self.j.attempts(row)
            if attempt <= self.s.retries:
                self._submit_eval(row, attempt, claim=True)
            else:
                deferred.append(row)
                self.evals[row] = attempt
        if resume:
            self.progress.note(f"resuming {len(resume)} run(s) of an interrupted session")
        if warm is not None:
            warm.join()
        self._ensure_searcher()
        # the baselines' rows (each baseline represents its class), all of them evaluated before any other row
        self.baseline_rows = set(self.s._searcher.candidates.indices_of(BASELINE_FUNCTIONS)) if self.s.baselines \
            else set()
        for row in deferred:  # retries used up by earlier sessions: recorded as failed
            del self.evals[row]
            self._start(row)
        stopped = "budget"
        while not self.stop.flag:
            exhausted = False
            while len(self.evals) < self.s.workers and len(self.done_rows) + len(self.evals) < self.budget:
                if self._awaiting_baselines():
                    break
                if self._stale():
                    self.s._build_searcher(self.j, list(self.evals))
                suggestion = self.s._searcher.ask(1)
                if not suggestion and self.s._needs_fim() and len(self.featured) > self.s._built_with:
                    self.s._build_searcher(self.j, list(self.evals))
                    suggestion = self.s._searcher.ask(1)
                if not suggestion:
                    exhausted = True
                    break
                self.s._pending[suggestion[0].index] = suggestion[0]
                self._start(suggestion[0].index)
            if self.s.background_features and not self.feats and self._features_left() and (
                    len(self.done_rows) < self.budget or self.evals):
                self._submit_feature()
            if len(self.done_rows) >= self.budget and not self.evals:
                break
            if not self.tickets:
                if exhausted:
                    stopped = "exhausted"
                break
            self._handle(1.0)
        if self.stop.flag:
            return "interrupted"
        self._complete_features()
        self.progress.close()
        return "interrupted" if self.stop.flag else stopped

    def _complete_features(self) -> None:
        """Evaluated functions without features (e.g. from a searcher that does not need them) get them now."""
        while any(r not in self.featured for r in self.done_rows) and not self.stop.flag:
            while len(self.tickets) < self.s.workers + 1:
                row = next((r for r in sorted(self.done_rows) if r not in self.featured and r not in self.feats),
                           None)
                if row is None:
                    break
                ticket = self.ex.submit(fim_job, {**self.payload, "function": self.names[row]})
                self.tickets[ticket] = ("fim", row)
                self.feats.add(row)
            self._handle(1.0)


def _compile_umap(parts: tuple[str, ...]) -> None:
    import warnings

    from act_bench.search import UMAP_SETTINGS

    x = np.random.default_rng(0).random((12, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap

        for p in parts:
            settings = {**UMAP_SETTINGS[p], "n_neighbors": min(UMAP_SETTINGS[p]["n_neighbors"], 11)}
            umap.UMAP(n_components=2, random_state=0, **settings).fit(x)


def _prewarm_umap(searcher: str) -> threading.Thread | None:
    """Compile UMAP's numba code (tens of seconds once per process) while the workers compute features."""
    from act_bench.search import searcher_spec

    feats = searcher_spec(searcher)[1]
    if feats is None:
        return None
    parts = ("fim", "outputs") if feats == "both" else (feats,)
    thread = threading.Thread(target=_compile_umap, args=(parts,), name="umap-prewarm", daemon=True)
    thread.start()
    return thread


def _failed_record(function: str, seed: int, error: str) -> dict[str, Any]:
    nan = float("nan")
    return {"function": function, "seed": seed, "train_accuracy": nan, "val_accuracy": nan, "test_accuracy": nan,
            "train_loss": nan, "val_loss": nan, "test_loss": nan, "runtime": 0.0, "status": "failed",
            "error": error, "epochs": 0, "device": None}


def _journal_like(seq: int, row: int, record: dict[str, Any]) -> JournalResult:
    def f(key: str) -> float:
        v = record.get(key)
        return float("nan") if v is None else float(v)

    return JournalResult(seq, row, record["function"], int(record["seed"]), f("train_accuracy"),
                         f("val_accuracy"), f("test_accuracy"), f("train_loss"), f("val_loss"), f("test_loss"),
                         f("runtime"), str(record.get("status", "ok")), record.get("error"), record.get("epochs"),
                         record.get("device"), 0, "", time.time())


def _as_result(r: JournalResult):
    """What the searcher is told: validation accuracy (NaN for a failed run), as in a replay of the table."""
    from act_bench.search import Result

    value = math.nan if r.status == "failed" else r.val_accuracy
    return Result(float(value), {k: float(getattr(r, k)) for k in _METRIC_KEYS})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _version() -> str:
    from act_bench._version import __version__

    return __version__
