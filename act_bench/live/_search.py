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

Jobs run on the job engine (:mod:`act_bench.engine`): the same journal format, runner, claims, heartbeats and
retries as a table build, and the builder's own job entry points, so a live search trains exactly what a build would.
The searcher holds no state of its own that is not in the journal: it is rebuilt from the journal (candidates,
features computed so far, searcher name, seed and kwargs) and its history is replayed in journal order (results
first, then the runs in flight). That is how a restarted driver resumes, and how the candidate map grows as
features arrive (a FIM-based searcher is rebuilt once the number of rows with features has grown by ``refresh``,
a fraction, since its last build). The session loop is :mod:`act_bench.live._session`.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from act_bench._io import refuse_symlink
from act_bench._version import __version__
from act_bench.engine import Journal, StopFlag, create_executor
from act_bench.errors import InvalidInputError
from act_bench.live._session import Session
from act_bench.live._status import export_table
from act_bench.live._summary import LiveSummary, as_result, best_result
from act_bench.search import CandidateSet, create_searcher, list_searchers, searcher_spec
from act_bench.space import (
    BASELINE_FUNCTIONS,
    PAPER_THREE_NODE_SCHEMA,
    equivalence_classes,
    evaluate_many,
    parse_schema,
    twin_groups,
)
from act_bench.tables import BenchmarkTable
from act_bench.utils import check_float, check_int, interrupt_message
from data_builders.build import (
    CodeVersion,
    check_buildable,
    check_journal_code,
    check_task_loads,
    code_version,
    fim_model_layout,
    layout_metadata,
    task_for,
    user_code_parts,
    with_parts,
)
from data_builders.recipes import Recipe, get_recipe

__all__ = ["IDENTITY_KEYS", "LiveSearch"]

#: Config keys that must match when a journal is resumed (the others, like the budget, may change).
IDENTITY_KEYS = ("recipe", "spaces", "baselines", "searcher", "searcher_kwargs", "seed", "train_seed", "task",
                 "model")


def _callable_name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


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
        Times a job that raised (or lost its worker) is retried before it is recorded as failed.
    refresh : float, default=0.1
        Rebuild a FIM-based searcher when the rows with features grew by this fraction since its last build.
    task : Task, optional
        A user's task object (shipped with every job; default: the recipe's task).
    model_fn : callable, optional
        ``model_fn(activation_factory) -> nn.Module``: a user's network (must be picklable for local processes,
        e.g. a module-level function).
    progress : bool, default=True
        Progress bar on a terminal, else a line per evaluation on stderr.
    heartbeat_timeout : float, default=120
        Seconds without a heartbeat after which a local worker's job is reclaimed (the worker is killed).
    allow_code_change : bool, default=False
        Resume a journal written by other code. The journal records the code version as a build does (the
        recipe's model, task, training and features code, plus the parameter names and shapes of ``model_fn``'s
        network, the source of ``model_fn`` and of a user's ``task`` class); a resume with other code is refused
        with the message a build gives, unless this is set (the change is then recorded in the journal).

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
                 model_fn: Callable[..., Any] | None = None, progress: bool = True,
                 heartbeat_timeout: float = 120.0, allow_code_change: bool = False) -> None:
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
        self.heartbeat_timeout = check_float(heartbeat_timeout, "heartbeat_timeout", where, min_value=2.0)
        self.refresh = check_float(refresh, "refresh", where, min_value=0.0)
        self.task, self.model_fn = task, model_fn
        self.progress = progress
        self.allow_code_change = bool(allow_code_change)
        self._code_changed: list[str] | None = None
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
        """The FIM layout of the network the feature jobs measure (the task's classes, or the user's network)."""
        return layout_metadata(fim_model_layout(self.recipe, task=self.task, model_fn=self.model_fn))

    def _candidates(self) -> tuple[list[str], list[list[str]], np.ndarray, list[int]]:
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

    def _preflight(self) -> None:
        """Before the journal is opened or any job queued: the task's data load and the network the jobs train
        builds, or an :class:`~act_bench.errors.InvalidInputError` in one line (nothing written)."""
        if self.task is None and self.model_fn is None:
            check_buildable(self.recipe)
            return
        where = f"the live search of recipe {self.recipe.name!r} cannot run"
        try:
            task = self.task if self.task is not None else task_for(self.recipe)
            self._layout()  # the network the jobs train: the user's, or the recipe's model for the user's task
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a user's task or network that cannot be built
            raise InvalidInputError(f"{where}: its task or network cannot be built: {type(exc).__name__}: "
                                    f"{exc}") from None
        check_task_loads(task, where=where)

    def _code_version(self) -> CodeVersion:
        """The code version of what the jobs train: the builder's parts for the recipe (and the user's task), plus
        the user's network and task code (:func:`data_builders.build.user_code_parts`)."""
        return with_parts(code_version(self.recipe, task=self.task),
                          user_code_parts(task=self.task, model_fn=self.model_fn))

    def _check_layout(self, stored: list[dict[str, Any]]) -> None:
        """An accepted code change must keep the network's FIM layout: features of two layouts cannot share one
        journal (nor one table)."""
        layout = self._layout()
        if layout != stored:
            sizes = [sum(int(r["bins"]) for r in x) for x in (stored, layout)]
            raise InvalidInputError(f"journal {str(self.journal_path)!r} holds FIM features of another network "
                                    f"layout ({len(stored)} layers, {sizes[0]} values -> {len(layout)} layers, "
                                    f"{sizes[1]} values); features of both cannot be mixed even with "
                                    f"--allow-code-change: start a new --journal")

    def _open(self, budget: int | None = None) -> Journal:
        identity = self._identity()
        code = self._code = self._code_version()
        if self.journal_path.exists():
            journal = Journal.open(self.journal_path)
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
                self._code_changed = check_journal_code(stored, code, self.journal_path, self.allow_code_change,
                                                        elsewhere="start a new --journal")
                if self._code_changed is not None:
                    self._check_layout(stored.get("fim_layout") or [])
            except BaseException:
                journal.close()
                raise
            return journal
        names, eqs, outputs, rank = self._candidates()
        config = {"kind": "search", **identity, "fim_layout": self._layout(), "created": time.time(),
                  "act_bench_version": __version__, "code": code.to_dict()}
        self._code_changed = None
        return Journal.create(self.journal_path, config=config, functions=names, equivalents=eqs,
                                  outputs=outputs, feature_rank=rank)

    # -- searcher ---------------------------------------------------------------------------------------------

    def _needs_fim(self) -> bool:
        return searcher_spec(self.searcher_name)[1] in ("fim", "both")

    def _twin_labels(self, history: Sequence[int]) -> np.ndarray:
        """Twin-group labels of the candidates (:func:`act_bench.space.twin_groups`, computed once per search), so the
        searcher counts a twin group once. A journal written before searchers were twin-aware may hold two twins in
        its ``history``: each later one keeps a group of its own, so the history still replays."""
        if getattr(self, "_twins", None) is None or len(self._twins) != len(self._names):
            self._twins = twin_groups(self._names).astype(np.int64)
        labels = self._twins.copy()
        seen: set[int] = set()
        for r in history:
            if int(labels[r]) in seen:
                labels[r] = len(labels) + r
            seen.add(int(labels[r]))
        return labels

    def _candidate_set(self, journal: Journal, history: Sequence[int] = ()) -> CandidateSet:
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
                                        fim_layout=layout, twin_group=self._twin_labels(history))

    def _build_searcher(self, journal: Journal, pending_rows: Sequence[int]):
        """Recreate the searcher from the journal and replay its history (results in order, then ``pending_rows``)."""
        results = journal.results()
        names = self._names
        history = [r.row for r in results] + [r for r in pending_rows]
        initial = [names[r] for r in history] + (list(BASELINE_FUNCTIONS) if self.baselines else [])
        try:
            searcher = create_searcher(self.searcher_name, self._candidate_set(journal, history), seed=self.seed,
                                       initial=initial, **self.searcher_kwargs)
        except TypeError as exc:
            raise InvalidInputError(f"searcher {self.searcher_name!r} does not accept searcher_kwargs "
                                    f"{self.searcher_kwargs!r}: {exc}") from None
        replayed = searcher.ask(len(history)) if history else []
        if [s.index for s in replayed] != history:
            raise RuntimeError(f"searcher {self.searcher_name!r} did not replay the journal's history (it must "
                               f"suggest its 'initial' functions first)")
        for s, r in zip(replayed, results):
            searcher.tell(s, as_result(r.record))
        self._pending = {s.index: s for s in replayed[len(results):]}
        self._searcher = searcher
        self._built_with = journal.n_features()
        return searcher

    # -- running ----------------------------------------------------------------------------------------------

    @interrupt_message("the live search was interrupted (Ctrl-C); its journal {self.journal_path} keeps every "
                       "finished evaluation: run the same search again to resume")
    def run(self, budget: int) -> LiveSummary:
        """Evaluate functions until ``budget`` of them have a final result (baselines included); resumable.

        Returns
        -------
        LiveSummary
        """
        budget = check_int(budget, "budget", "LiveSearch.run", min_value=1)
        start = time.perf_counter()
        for path, what in ((self.journal_path, "journal"), (Path(f"{self.journal_path}.lock"), "journal lock")):
            refuse_symlink(path, what)  # before the journal is created: nothing is written through a link
        self._preflight()
        journal = self._open(budget)
        try:
            journal.acquire()
            session = uuid.uuid4().hex[:12]
            released = journal.start_session(session, executor=self.executor, workers=self.workers, budget=budget,
                                             code_digest=self._code.digest)
            if self._code_changed is not None:  # an accepted change of code, recorded as a build records it
                journal.add_event("code_change", {"from": (journal.config().get("code") or {}).get("digest"),
                                                  "to": self._code.digest, "changed": self._code_changed,
                                                  "version": self._code.version, "code": self._code.to_dict()})
            journal.set_config("budget", budget)
            journal.set_config("fim_warmup", self.fim_warmup)
            journal.set_config("retries", self.retries)
            self._names, self._eqs, self._outputs, ranks = journal.candidates()
            n_before = journal.n_results()
            missing = journal.n_candidates() - journal.n_features()
            extra = 1 if self.background_features and missing > 0 else 0
            with StopFlag((signal.SIGTERM,)) as stop, create_executor(
                    self.executor, workers=self.workers + extra, address=self.address,
                    heartbeat_timeout=self.heartbeat_timeout) as ex:
                run = Session(self, journal, ex, session, budget, ranks, stop)
                try:
                    stopped = run.main(released)
                finally:
                    run.runner.release_unfinished()
            results = journal.results()
            counts = journal.counts()
            journal.end_session(session)
        finally:
            journal.close()
        return LiveSummary(journal=str(self.journal_path), budget=budget, evaluated=len(results),
                           new=len(results) - n_before, failed=counts["failed"], diverged=counts["diverged"],
                           with_features=counts["with_features"], best=best_result(results), stopped=stopped,
                           seconds=round(time.perf_counter() - start, 2))

    def to_table(self) -> BenchmarkTable:
        """The journal's results as a :class:`~act_bench.tables.BenchmarkTable` (see :func:`export_table`)."""
        return export_table(self.journal_path)
