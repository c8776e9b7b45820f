"""Live-search overheads: journal writes per evaluation and the rebuild of a searcher from the journal.

Prints medians of several repeats and ratios against a peer measured in the same run:

* journal: one evaluation's bookkeeping (claim + result, two SQLite transactions, WAL, synchronous=FULL) against
  the table builder's journal (one fsync'ed JSON-lines record per run);
* rebuild: recreating a ``knr:both`` searcher over the 2,902 classes of ``binary(unary(x),unary(x))`` from the
  journal (CandidateSet + replay of the told history; the UMAP map comes from the in-process cache, as on a
  refresh without new features) against the live searcher's own ``ask`` + ``tell`` for one more evaluation.

Run: ``python benchmarks/bench_live.py`` (about a minute; UMAP compiles once).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _median_ms(samples: list[float]) -> float:
    return 1000 * statistics.median(samples)


def bench_journal(folder: Path, n: int = 200) -> None:
    import json
    import os

    from act_bench.engine import Job, JobKind, Journal
    from act_bench.space import evaluate_many
    from act_bench.tables import RunRecord

    names = [f"add(x,{c}(x))" for c in ("tanh", "relu", "elu", "selu", "swish", "erf", "sigmoid", "abs")]
    rows = n
    functions = [f"f{i}(x)" for i in range(rows)]
    outputs = np.repeat(evaluate_many(names[:1]), rows, axis=0)
    j = Journal.create(folder / "bench.sqlite", config={"kind": "search"}, functions=functions,
                       equivalents=[[f] for f in functions], outputs=outputs, feature_rank=list(range(rows)))
    j.acquire()
    j.start_session("s", executor="local", workers=1, budget=rows)
    record = {"seed": 0, "train_accuracy": 0.9, "val_accuracy": 0.8, "test_accuracy": 0.8, "train_loss": 0.3,
              "val_loss": 0.4, "test_loss": 0.4, "runtime": 2.0, "status": "ok", "epochs": 8, "device": "cpu"}
    sqlite_t = []
    for i in range(rows):
        t = time.perf_counter()
        j.claim(Job(JobKind.RUN, i, functions[i], 0), "s", 0)
        j.add_result(i, RunRecord.from_dict({**record, "function": functions[i]}), attempts=1, session="s")
        sqlite_t.append(time.perf_counter() - t)
    j.close()
    # the peer: one fsync'ed JSON line per record (what the builder's journal did before the job engine)
    jsonl_t = []
    with open(folder / "records.jsonl", "a", encoding="utf-8") as fh:
        for i in range(rows):
            t = time.perf_counter()
            fh.write(json.dumps({"type": "run", **record, "function": functions[i], "time": time.time()}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            jsonl_t.append(time.perf_counter() - t)
    a, b = _median_ms(sqlite_t), _median_ms(jsonl_t)
    print(f"journal, one evaluation: SQLite claim+result {a:.2f} ms; one fsync'ed JSON line {b:.2f} ms; "
          f"ratio {a / b:.1f}x (median of {rows})")


def bench_rebuild(folder: Path, told: int = 100, repeats: int = 5) -> None:
    from act_bench.live import LiveSearch
    from act_bench.search import Result
    from data_builders.recipes import get_recipe

    search = LiveSearch(recipe=get_recipe("act-bench-mnist1d"), journal=folder / "rebuild.sqlite",
                        spaces=["binary(unary(x),unary(x))"], searcher="knr:both", fim_warmup=0)
    j = search._open(told)
    search._names, search._eqs, search._outputs, ranks = j.candidates()
    rng = np.random.default_rng(0)
    dims = sum(layer["bins"] for layer in j.config()["fim_layout"])
    for row in np.argsort(ranks)[:500]:  # 500 rows with (synthetic, sorted) CDF features
        j.add_features(int(row), {"fim_valid": True, "fim_cdf": np.sort(rng.random(dims)).tolist()}, "s")
    searcher = search._build_searcher(j, [])  # compiles UMAP once and caches the map
    for _ in range(told):
        s = searcher.ask(1)[0]
        value = float(rng.random())
        j.claim(s.index, s.function, "s", 0)
        j.add_result(s.index, {"function": s.function, "seed": 0, "val_accuracy": value, "status": "ok"},
                     attempts=1, session="s")
        searcher.tell(s, Result(value))
    rebuild_t, step_t = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        search._build_searcher(j, [])
        rebuild_t.append(time.perf_counter() - t)
        live = search._searcher
        t = time.perf_counter()
        s = live.ask(1)[0]
        live.tell(s, Result(0.5))
        step_t.append(time.perf_counter() - t)
    refit_t = []
    order = [int(r) for r in np.argsort(ranks)]
    for k in range(3):  # a refresh after new features: the map is refitted (UMAP on ~500 rows)
        for row in order[500 + 50 * k:550 + 50 * k]:
            j.add_features(row, {"fim_valid": True, "fim_cdf": np.sort(rng.random(dims)).tolist()}, "s")
        t = time.perf_counter()
        search._build_searcher(j, [])
        refit_t.append(time.perf_counter() - t)
    j.close()
    print(f"searcher rebuild after 50 new FIM features (UMAP refit, 550-650 rows): "
          f"{statistics.median(refit_t):.2f} s (median of 3)")
    a, b = _median_ms(rebuild_t), _median_ms(step_t)
    print(f"searcher rebuild from the journal (2,902 candidates, 500 with FIM features, {told} results): {a:.1f} ms; "
          f"one ask+tell of the live searcher {b:.2f} ms; ratio {a / b:.0f}x (median of {repeats})")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        bench_journal(Path(tmp))
        bench_rebuild(Path(tmp))
