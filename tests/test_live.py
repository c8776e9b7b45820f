"""Live search end to end on MNIST-1D: kill + resume of the CLI driver, the Ray executor, status and export."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from _procs import cli_process, live_session_members, members_after
from _recipes import save_tiny_recipe

from act_bench.cli._main import main
from data_builders.build import train_run
from data_builders.recipes import get_recipe

pytestmark = pytest.mark.slow

SPACE = "binary(unary(x),unary(x))"
METRICS = ("train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss")


@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory) -> Path:
    # 3 epochs keep a run long enough (about 0.3 s) for the kill to land between the first and the last result
    return save_tiny_recipe(tmp_path_factory.mktemp("recipe"), epochs=3)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ACT_BENCH_CACHE": str(tmp_path / "cache")}


def _cli(args: list[str], tmp_path: Path, log: str) -> subprocess.Popen:
    return cli_process(*args, stderr=open(tmp_path / log, "w"), env=_env(tmp_path))


def _rows(journal: Path, sql: str, params: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def _results(journal: Path) -> list[tuple]:
    return _rows(journal, "SELECT seq, row, function, seed, train_accuracy, val_accuracy, test_accuracy, train_loss, "
                          "val_loss, test_loss, status, session FROM results ORDER BY seq")


def _check_bookkeeping(journal: Path, budget: int) -> list[tuple]:
    results = _results(journal)
    functions = [r[2] for r in results]
    assert len(results) == budget and len(set(functions)) == budget, "a function is missing or was done twice"
    assert len({r[1] for r in results}) == budget
    assert _rows(journal, "SELECT COUNT(*) FROM claims") == [(0,)]
    names = dict(_rows(journal, "SELECT row, function FROM candidates"))
    assert all(names[r[1]] == r[2] for r in results)
    valid = {r[0] for r in _rows(journal, "SELECT row FROM features WHERE fim_valid = 1")}
    # knr:both (without baselines) proposes only functions on its map: every one has valid FIM features
    assert {r[1] for r in results} <= valid, "a suggestion came from outside the searcher's featured pool"
    assert _rows(journal, "SELECT COUNT(*) FROM features")[0][0] > 16, "no features were added during the search"
    return results


def _retrain_matches(recipe_path: Path, row: tuple) -> None:
    """Independent check of a journaled result: train the same function and seed here and compare."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the workers: float sums depend on the thread count
    try:
        ref = train_run(get_recipe(str(recipe_path)), row[2], row[3])
    finally:
        torch.set_num_threads(threads)
    for name, got in zip(METRICS, row[4:10]):
        want = getattr(ref, name)
        assert (got is None and not math.isfinite(want)) or got == pytest.approx(want, rel=1e-5, abs=1e-6), name
    assert row[10] == ref.status


def test_killed_search_resumes_to_exactly_the_budget(tmp_path, tiny_recipe, capsys):
    journal = tmp_path / "search.sqlite"
    args = ["search", "run", "--recipe", str(tiny_recipe), "--space", SPACE, "--searcher", "knr:both",
            "--budget", "6", "--fim-warmup", "16", "--journal", str(journal), "--workers", "2", "--no-baselines",
            "--json"]
    proc = _cli(args, tmp_path, "first.log")
    deadline = time.time() + 300
    while time.time() < deadline:
        if journal.exists() and _rows(journal, "SELECT COUNT(*) FROM results")[0][0] >= 1:
            break
        assert proc.poll() is None, (tmp_path / "first.log").read_text()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGSTOP)  # freeze the driver at once, so the kill lands before the last result
    assert len(live_session_members(proc.pid)) >= 3  # the driver and its workers
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers must not train on as orphans
    proc.wait()
    assert members_after(proc.pid, 10.0) == [], "processes of the killed search are still running after 10 s"
    before = _results(journal)
    claims = _rows(journal, "SELECT row FROM claims WHERE kind = 'run'")  # runs in flight (FIM jobs aside)
    assert 1 <= len(before) < 6, "the kill should land between the first and the last result"
    assert main(["search", "status", "--journal", str(journal), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["evaluated"] == len(before) and st["running"] == 0 and st["stale_claims"] == len(claims)
    assert st["driver_alive"] is False

    again = _cli(args, tmp_path, "second.log")  # the very same command resumes
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, (tmp_path / "second.log").read_text()
    summary = json.loads(out)
    assert summary["evaluated"] == 6 and summary["new"] == 6 - len(before) and summary["stopped"] == "budget"

    results = _check_bookkeeping(journal, 6)
    assert results[:len(before)] == before, "results of the killed session changed"
    sessions = [r[0] for r in _rows(journal, "SELECT id FROM sessions ORDER BY started")]
    assert len(sessions) == 2 and {r[11] for r in results[len(before):]} == {sessions[1]}
    assert {r[11] for r in before} == {sessions[0]}
    # the runs that were in flight when the driver died were trained by the second session (claims released)
    assert {c[0] for c in claims} <= {r[1] for r in results[len(before):]}
    _retrain_matches(tiny_recipe, before[0])
    _retrain_matches(tiny_recipe, results[-1])

    assert main(["search", "status", "--journal", str(journal), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    alive = [r for r in results if r[10] != "failed"]
    best = max(alive, key=lambda r: r[5])
    assert st["evaluated"] == 6 and st["running"] == 0 and st["failed"] == 0 and st["unique"] == 2902
    assert st["candidates"] == 5103 and st["with_features"] >= 16
    assert st["best"]["function"] == best[2] and st["best"]["val_accuracy"] == best[5]

    # one more run of the command has nothing left to do
    third = _cli(args, tmp_path, "third.log")
    out, _ = third.communicate(timeout=600)
    assert third.returncode == 0 and json.loads(out)["new"] == 0
    assert _results(journal) == results

    # export: the builders' table schema, one run per function, medians equal to the journal's values
    from act_bench.tables import load_table

    assert main(["search", "export", "--journal", str(journal), "--out", str(tmp_path / "table"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["functions"] == 6
    table = load_table(tmp_path / "table")
    functions = table.to_pandas("functions").set_index("function")
    assert sorted(functions.index) == sorted(r[2] for r in results)
    for r in results:
        assert functions.loc[r[2], "val_accuracy"] == pytest.approx(r[5])
        assert len(functions.loc[r[2], "outputs"]) == 1000
    assert table.metadata["source"] == "act-bench search" and table.metadata["fim_layout"]


def test_ray_executor_completes_with_the_same_bookkeeping(tmp_path, tiny_recipe):
    journal = tmp_path / "ray.sqlite"
    args = ["search", "run", "--recipe", str(tiny_recipe), "--space", SPACE, "--searcher", "knr:both",
            "--budget", "6", "--fim-warmup", "16", "--journal", str(journal), "--workers", "2", "--no-baselines",
            "--executor", "ray", "--json"]
    proc = _cli(args, tmp_path, "ray.log")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, (tmp_path / "ray.log").read_text()[-3000:]
    summary = json.loads(out)
    assert summary["evaluated"] == 6 and summary["new"] == 6 and summary["stopped"] == "budget"
    results = _check_bookkeeping(journal, 6)
    assert _rows(journal, "SELECT executor, workers FROM sessions") == [("ray", 2)]
    _retrain_matches(tiny_recipe, results[0])
    _retrain_matches(tiny_recipe, results[-1])
