"""One session of the live-search driver: the loop that decides which jobs the engine's runner runs next.

The policy (see :mod:`act_bench.live._search`): a FIM warm-up, then ``workers`` evaluation slots filled with the
searcher's suggestions (baselines first, one extra slot computing features in the background), until the budget is
reached or the searcher is exhausted. Dispatch, claims, heartbeats, retries and the journal writes belong to the
:class:`~act_bench.engine.JobRunner`.
"""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import numpy as np

from act_bench.engine import Executor, Finished, Job, JobKind, JobRunner, Journal, StopFlag
from act_bench.errors import InvalidInputError
from act_bench.live._summary import Progress, as_result, best_result
from act_bench.search import UMAP_SETTINGS, searcher_spec
from act_bench.space import BASELINE_FUNCTIONS
from act_bench.tables import RunStatus
from act_bench.utils import progress_bar
from data_builders.build import run_fim_job, run_train_job

__all__ = ["Session"]


class Session:
    """One session of the driver loop (kept apart from ``LiveSearch`` to keep the state explicit)."""

    def __init__(self, search: Any, journal: Journal, ex: Executor, session: str, budget: int, ranks: np.ndarray,
                 stop: StopFlag) -> None:
        self.s, self.j, self.session, self.budget, self.stop = search, journal, session, budget, stop
        self.names = search._names
        self.order = [int(i) for i in np.argsort(ranks, kind="stable")]
        self.featured = journal.featured_rows()
        self.evals: dict[int, None] = {}  # rows in training, in the order they started
        self.feats: set[int] = set()     # rows whose features are being computed
        self.cursor = 0
        payload: dict[str, Any] = {"recipe": search.recipe.to_dict()}
        if search.task is not None:
            payload["task"] = search.task
        if search.model_fn is not None:
            payload["model_fn"] = search.model_fn
        self.runner = JobRunner(journal, ex, session, entry_points={JobKind.RUN: run_train_job,
                                                                    JobKind.FIM: run_fim_job},
                                payload=payload, retries=search.retries, gpus=float(search.recipe.gpus_per_run or 0),
                                stop=stop, on_retry=self._on_retry)
        self.done_rows = {r.row for r in journal.results()}
        self.progress = Progress(search.progress, budget, len(self.done_rows))
        self.best = best_result(journal.results())
        self.baseline_rows: set[int] = set()

    def _on_retry(self, job: Job, attempt: int, error: str) -> None:
        self.progress.note(f"{job.function}: attempt {attempt + 1} of its {job.kind.value} job failed ({error}); "
                           f"retrying")

    # -- features -----------------------------------------------------------------------------------------------

    def _next_feature_row(self) -> int | None:
        for row in list(self.evals) + sorted(self.done_rows):  # evaluated functions get their features first
            if row not in self.featured and row not in self.feats:
                return row
        while self.cursor < len(self.order) and (self.order[self.cursor] in self.featured
                                                 or self.order[self.cursor] in self.feats):
            self.cursor += 1
        return self.order[self.cursor] if self.cursor < len(self.order) else None

    def _submit_feature(self, row: int | None = None) -> bool:
        row = self._next_feature_row() if row is None else row
        if row is None:
            return False
        self.runner.submit(Job(JobKind.FIM, row, self.names[row]))
        self.feats.add(row)
        return True

    def _features_left(self) -> bool:
        return len(self.featured) + len(self.feats) < len(self.names)

    # -- evaluations --------------------------------------------------------------------------------------------

    def _start(self, row: int) -> None:
        self.runner.submit(Job(JobKind.RUN, row, self.names[row], self.s.train_seed))
        self.evals[row] = None

    def _finish(self, done: Finished) -> None:
        record, row = done.run, done.job.row
        self.evals.pop(row, None)
        self.done_rows.add(row)
        suggestion = self.s._pending.pop(row)
        self.s._searcher.tell(suggestion, as_result(record))
        if record.status == RunStatus.OK.value and math.isfinite(record.val_accuracy) and (
                self.best is None or record.val_accuracy > self.best["val_accuracy"]):
            self.best = {"function": record.function, "val_accuracy": record.val_accuracy,
                         "test_accuracy": record.test_accuracy, "status": record.status, "seq": done.seq}
        self.progress.evaluated(record.function, record.status, record.val_accuracy, self.best)

    # -- loop ---------------------------------------------------------------------------------------------------

    def _handle(self, timeout: float) -> None:
        for done in self.runner.poll(timeout):
            if done.job.kind == JobKind.FIM:
                self.feats.discard(done.job.row)
                self.featured.add(done.job.row)
            else:
                self._finish(done)

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
                while self.runner.busy() < slots and len(self.featured) + len(self.feats) < target:
                    if not self._submit_feature():
                        break
                if not self.runner.busy():
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

    def main(self, released: list[Job]) -> str:
        resume = [j.row for j in released if j.kind == JobKind.RUN and j.row not in self.done_rows]
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
        for row in resume:
            self._start(row)
        if resume:
            self.progress.note(f"resuming {len(resume)} run(s) of an interrupted session")
        if warm is not None:
            warm.join()
        self._ensure_searcher()
        # the baselines' rows (each baseline represents its class), all of them evaluated before any other row
        self.baseline_rows = set(self.s._searcher.candidates.indices_of(BASELINE_FUNCTIONS)) if self.s.baselines \
            else set()
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
            if not self.runner.busy():
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
            while self.runner.busy() < self.s.workers + 1:
                row = next((r for r in sorted(self.done_rows) if r not in self.featured and r not in self.feats),
                           None)
                if row is None:
                    break
                self._submit_feature(row)
            self._handle(1.0)


def _compile_umap(parts: tuple[str, ...]) -> None:
    import umap  # optional and slow to import: only a searcher on a UMAP map needs it

    x = np.random.default_rng(0).random((12, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p in parts:
            settings = {**UMAP_SETTINGS[p], "n_neighbors": min(UMAP_SETTINGS[p]["n_neighbors"], 11)}
            umap.UMAP(n_components=2, random_state=0, **settings).fit(x)


def _prewarm_umap(searcher: str) -> threading.Thread | None:
    """Compile UMAP's numba code (tens of seconds once per process) while the workers compute features."""
    feats = searcher_spec(searcher)[1]
    if feats is None:
        return None
    parts = ("fim", "outputs") if feats == "both" else (feats,)
    thread = threading.Thread(target=_compile_umap, args=(parts,), name="umap-prewarm", daemon=True)
    thread.start()
    return thread
