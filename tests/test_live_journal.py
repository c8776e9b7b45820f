"""Live-search journal (SQLite) and the rebuild of a searcher from it, without training anything."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from _recipes import save_tiny_recipe

from act_bench.cli._main import main
from act_bench.engine import Job, JobKind
from act_bench.engine import Journal as LiveJournal
from act_bench.errors import SchemaMismatchError
from act_bench.live import SCHEMA_VERSION, JournalBusyError, LiveSearch
from act_bench.search import CandidateSet, Result, create_searcher
from act_bench.space import equivalence_classes, evaluate_many, twin_groups
from act_bench.tables import RunRecord
from data_builders.recipes import get_recipe

FUNCS = ["relu(x)", "tanh(x)", "elu(x)", "swish(x)", "sigmoid(x)", "softsign(x)"]


def _run(row: int, seed: int = 0) -> Job:
    return Job(JobKind.RUN, row, FUNCS[row], seed)


def _record(function: str, val: float, **kw) -> RunRecord:
    nan = float("nan")
    return RunRecord(function, 0, nan, val, kw.get("test", nan), nan, nan, nan, 1.0)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _journal(path: Path, config: dict | None = None) -> LiveJournal:
    return LiveJournal.create(path, config=config or {"searcher": "random"}, functions=FUNCS,
                              equivalents=[[f] for f in FUNCS], outputs=evaluate_many(FUNCS),
                              feature_rank=list(range(len(FUNCS))))


@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory) -> Path:
    return save_tiny_recipe(tmp_path_factory.mktemp("recipe"))


def test_arrays_round_trip_bitwise_and_sql_is_parameterised(tmp_path):
    hostile = "x'); DROP TABLE results; --"
    j = _journal(tmp_path / "j.sqlite", {"searcher": "random", "note": hostile})
    names, eqs, outputs, ranks = j.candidates()
    assert names == FUNCS and eqs == [[f] for f in FUNCS] and ranks.tolist() == list(range(6))
    np.testing.assert_array_equal(outputs.view(np.uint32), evaluate_many(FUNCS).view(np.uint32))
    cdf = np.random.default_rng(0).random(95)
    assert j.add_features(2, {"fim_valid": True, "fim_cdf": cdf.tolist(), "seconds": 0.5}, "s")
    assert not j.add_features(2, {"fim_valid": True, "fim_cdf": [0.0] * 95}, "s")  # first write wins
    assert j.add_features(3, {"fim_valid": False, "fim_reason": "non-finite", "fim_cdf": None}, "s")
    feats = j.features()
    np.testing.assert_array_equal(feats[2]["fim_cdf"], cdf.astype(np.float32))
    assert feats[3]["fim_valid"] is False and feats[3]["fim_cdf"] is None and feats[3]["fim_reason"] == "non-finite"
    assert feats[2]["seconds"] == 0.5 and math.isnan(feats[3]["seconds"])
    assert j.config()["note"] == hostile
    tables = {r[0] for r in sqlite3.connect(tmp_path / "j.sqlite").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"results", "claims", "features", "candidates", "config", "schema_version", "failures"} <= tables
    mode = sqlite3.connect(tmp_path / "j.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    j.close()


def test_a_function_is_never_evaluated_twice(tmp_path):
    j = _journal(tmp_path / "j.sqlite")
    j.claim(_run(1), "s1", 0)
    with pytest.raises(RuntimeError, match="already claimed"):
        j.claim(_run(1), "s1", 0)
    rec = _record("tanh(x)", 0.5, test=0.4)
    assert j.add_result(1, rec, attempts=1, session="s1") == 1
    assert j.counts()["running"] == 0
    with pytest.raises(RuntimeError, match="second result"):
        j.add_result(1, rec, attempts=1, session="s1")
    with pytest.raises(RuntimeError, match="has its result"):
        j.claim(_run(1), "s2", 0)
    # the UNIQUE constraints hold even for SQL that bypasses the driver
    with pytest.raises(sqlite3.IntegrityError):
        j._db.execute("INSERT INTO results (seq, row, function, seed, status, attempts, session, time) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (9, 1, "other", 0, "ok", 1, "s", 0.0))
    assert [r.function for r in j.results()] == ["tanh(x)"]
    j.close()


def test_new_session_releases_claims_and_keeps_results(tmp_path):
    j = _journal(tmp_path / "j.sqlite")
    j.acquire()
    j.start_session("s1", executor="local", workers=2, budget=3)
    j.claim(_run(0), "s1", 0)
    j.claim(_run(4), "s1", 0)
    j.add_result(0, _record("relu(x)", 0.7), attempts=1, session="s1")
    j.claim(_run(5), "s1", 0)
    j.record_failure(_run(5), 0, "RuntimeError: boom", "s1")
    j.close()  # the driver dies with runs 4 and 5 in flight
    j = LiveJournal.open(tmp_path / "j.sqlite")
    j.acquire()
    released = j.start_session("s2", executor="local", workers=2, budget=3)
    assert sorted(job.row for job in released) == [4, 5]
    assert j.claims() == [] and [r.function for r in j.results()] == ["relu(x)"]
    assert j.attempts(_run(5)) == 1 and j.failures()[0]["error"] == "RuntimeError: boom"
    assert [s["id"] for s in j.sessions()] == ["s1", "s2"]
    j.close()


def test_second_driver_is_refused(tmp_path):
    a = _journal(tmp_path / "j.sqlite")
    a.acquire()
    b = LiveJournal.open(tmp_path / "j.sqlite")
    assert b.driver_alive()
    with pytest.raises(JournalBusyError, match="is busy: another driver \\(pid "):
        b.acquire()
    a.close()
    assert not b.driver_alive()
    b.acquire()
    b.close()


def test_incompatible_or_foreign_files_are_refused_untouched(tmp_path):
    path = tmp_path / "j.sqlite"
    _journal(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 98,))
    db.commit()
    db.close()
    before = _digest(path)
    with pytest.raises(SchemaMismatchError, match=f"version {SCHEMA_VERSION + 98}"):
        LiveJournal.open(path)
    assert _digest(path) == before
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database\n" * 100)
    with pytest.raises(SchemaMismatchError, match="not an act-bench journal"):
        LiveJournal.open(text)
    assert text.read_text() == "not a database\n" * 100
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (a INTEGER)").connection.commit()
    with pytest.raises(SchemaMismatchError, match="no schema_version"):
        LiveJournal.open(other)


def test_cli_errors_are_one_line_and_leave_the_journal_alone(tmp_path, tiny_recipe, capsys):
    common = ["search", "run", "--space", "unary(x)", "--budget", "3", "--fim-warmup", "4", "--no-progress"]
    assert main([*common, "--recipe", "no-such-recipe", "--journal", str(tmp_path / "a.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown recipe 'no-such-recipe'" in err and "act-bench-mnist1d" in err
    assert not (tmp_path / "a.sqlite").exists()
    for bad in (tmp_path / "missing" / "j.sqlite", Path("/proc/act-bench-live.sqlite")):
        assert main([*common, "--recipe", str(tiny_recipe), "--journal", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot create journal" in err and "Traceback" not in err
        assert not bad.exists()
    # a journal of another version: one line, exit 2, file byte-identical
    path = tmp_path / "old.sqlite"
    search = LiveSearch(recipe=get_recipe(str(tiny_recipe)), journal=path, spaces=["unary(x)"], fim_warmup=4)
    search._open(3).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 0")
    db.commit()
    db.close()
    before = _digest(path)
    assert main([*common, "--recipe", str(tiny_recipe), "--journal", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "schema version 0" in err and f"reads version {SCHEMA_VERSION}" in err
    assert _digest(path) == before and not Path(f"{path}.lock").exists()
    assert main(["search", "status", "--journal", str(path), "--json"]) == 2
    assert _digest(path) == before
    # the same journal with other search settings (here another seed) is refused by name
    fresh = tmp_path / "fresh.sqlite"
    LiveSearch(recipe=get_recipe(str(tiny_recipe)), journal=fresh, spaces=["unary(x)"], fim_warmup=4)._open(3).close()
    before = _digest(fresh)
    assert main([*common, "--recipe", str(tiny_recipe), "--journal", str(fresh), "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert "belongs to another search" in err and "seed" in err
    assert main([*common, "--recipe", str(tiny_recipe), "--journal", str(fresh), "--epochs", "2"]) == 2
    assert "recipe differs in epochs" in capsys.readouterr().err
    assert _digest(fresh) == before


def test_candidates_are_the_equivalence_classes_with_baselines_first(tmp_path, tiny_recipe):
    search = LiveSearch(recipe=get_recipe(str(tiny_recipe)), journal=tmp_path / "j.sqlite",
                        spaces=["binary(unary(x),unary(x))"], seed=3, fim_warmup=4)
    j = search._open(10)
    names, eqs, outputs, ranks = j.candidates()
    ref = equivalence_classes(["elu(x)", "relu(x)", "selu(x)", "sigmoid(x)", "softplus(x)", "softsign(x)",
                               "swish(x)", "tanh(x)"], schemas=["binary(unary(x),unary(x))"])
    assert names == ref.representatives and len(names) == 2902 and sum(map(len, eqs)) == 5103 + 8
    np.testing.assert_array_equal(outputs.view(np.uint32), evaluate_many(names).view(np.uint32))
    by_rank = [names[i] for i in np.argsort(ranks)]
    assert by_rank[:8] == ["elu(x)", "relu(x)", "selu(x)", "sigmoid(x)", "softplus(x)", "softsign(x)", "swish(x)",
                           "tanh(x)"]
    assert sorted(ranks.tolist()) == list(range(len(names)))
    layout = j.config()["fim_layout"]
    assert sum(l["bins"] for l in layout) > 0
    j.close()


@pytest.mark.slow  # UMAP's numba compilation (about 25 s once per process)
def test_rebuilt_searcher_equals_the_one_that_ran(tmp_path, tiny_recipe):
    """The driver recreates its searcher from the journal; the rebuilt one must hold the same model."""
    search = LiveSearch(recipe=get_recipe(str(tiny_recipe)), journal=tmp_path / "j.sqlite",
                        spaces=["binary(unary(x),unary(x))"], searcher="knr:outputs", seed=5, fim_warmup=0)
    j = search._open(20)
    search._names, search._eqs, search._outputs, _ = j.candidates()
    cs = CandidateSet.from_arrays(search._names, equivalents=search._eqs, outputs=search._outputs,
                                  twin_group=twin_groups(search._names))   # a live search counts a twin group once
    assert cs.has_twins
    live = create_searcher("knr:outputs", cs, seed=5)
    pending = []
    for step in range(14):  # a stand-in objective: any deterministic value per function works
        for s in live.ask(2 if step % 3 else 1):
            j.claim(Job(JobKind.RUN, s.index, s.function, 0), "s", 0)
            pending.append(s)
        done = pending.pop(0)
        value = float(np.tanh(search._outputs[done.index]).mean())
        live.tell(done, Result(value))
        j.add_result(done.index, _record(done.function, value), attempts=1, session="s")
    rebuilt = search._build_searcher(j, [s.index for s in pending])
    assert rebuilt is not live and rebuilt.evaluated == live.evaluated
    assert sorted(rebuilt.pending) == sorted(live.pending)
    rows_a, pred_a = live.predict()
    rows_b, pred_b = rebuilt.predict()
    np.testing.assert_array_equal(rows_a, rows_b)
    np.testing.assert_array_equal(pred_a, pred_b)
    nxt = rebuilt.ask(1)[0]
    assert nxt.index not in live.evaluated and nxt.index not in live.pending
    assert pred_b[np.searchsorted(rows_b, nxt.index)] == pred_b.max()
    j.close()


def test_live_candidates_carry_twin_groups_and_old_histories_replay(tmp_path, tiny_recipe):
    """A live search's candidate set has the space's twin groups; a journal written before searchers were
    twin-aware (two twins in its history) still replays: each later twin keeps a group of its own."""
    search = LiveSearch(recipe=get_recipe(str(tiny_recipe)), journal=tmp_path / "j.sqlite",
                        spaces=["binary(unary(x),unary(x))"], searcher="random", seed=0, fim_warmup=0)
    j = search._open(20)
    search._names, search._eqs, search._outputs, _ = j.candidates()
    twins = twin_groups(search._names)
    a = int(np.flatnonzero(twins != np.arange(len(twins)))[0])
    b = int(twins[a])                       # the first row of a's group
    cs = search._candidate_set(j)
    assert cs.twin_group[a] == cs.twin_group[b] == b
    old = search._candidate_set(j, history=[b, a])
    assert old.twin_group[a] != old.twin_group[b]
    j.close()


def test_best_result_follows_the_table_info_rule_on_ties():
    """Among ok results only (a diverged run's accuracy does not count), the best value; on a tie the first in
    candidate order (the exported table's row order, so info()["best"] names it too), whatever the finishing order."""
    from act_bench.engine import JournalRun
    from act_bench.live._summary import best_result

    nan = math.nan

    def run(seq, row, function, val, status="ok"):
        return JournalRun(seq, row, RunRecord(function, 0, nan, val, 0.5, nan, nan, nan, 1.0, status=status), 1,
                          "s", 0.0)

    results = [run(1, 7, "g", 0.9), run(2, 3, "f", 0.9), run(3, 1, "h", 0.8), run(4, 0, "d", 0.95, "diverged")]
    best = best_result(results)
    assert (best["function"], best["val_accuracy"], best["ties"], best["tied"]) == ("f", 0.9, 2, ["f", "g"])
    assert best_result([run(1, 0, "d", 0.95, "diverged")]) is None
