"""The job engine: a build's runs equal ``train_run``'s, fresh or killed and resumed; a dead worker's job is
reclaimed and journaled once; transient failures are retried with every error kept; old JSON-lines journals are
read and converted with every value kept."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _procs import cli_process, wait_for
from _recipes import tiny_recipe
from torch import nn

from act_bench.engine import Journal
from act_bench.live import LiveSearch
from act_bench.space import ActivationFunction
from act_bench.tables import CURVE_COLUMNS, METRICS, load_table
from data_builders.build import (
    LegacyJournal,
    build_table,
    journal_dir_for,
    journal_path_for,
    plan_functions,
    train_run,
)
from data_builders.recipes import Recipe, save_recipe

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "act-bench-mnist1d"
TIMING = ("runtime", "curve_seconds")  # wall-clock fields; every other field of a run is deterministic


def _tiny(epochs: int = 1) -> Recipe:
    return tiny_recipe(epochs)


def _journal(out: Path) -> Journal:
    return Journal.open(journal_path_for(out), readonly=True)


def _results(out: Path) -> int:
    if not journal_path_for(out).exists():
        return 0
    with _journal(out) as j:
        return j.n_results()


def _runs(out: Path) -> pd.DataFrame:
    return load_table(out).to_pandas("runs").sort_values(["function", "seed"]).reset_index(drop=True)


def _reference(recipe: Recipe, pairs: list[tuple[str, int]], **kw) -> pd.DataFrame:
    """Every (function, seed) trained directly by ``train_run`` in this process (one thread, as the workers)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # float sums depend on the thread count
    try:
        rows = [train_run(recipe, f, s, **kw).to_dict() for f, s in pairs]
    finally:
        torch.set_num_threads(threads)
    return pd.DataFrame(rows)


def test_engine_builds_exactly_what_train_run_gives_fresh_and_after_a_kill(tmp_path):
    recipe = _tiny()
    path = tmp_path / "tiny.yaml"
    save_recipe(recipe, path)
    args = ["--recipe", str(path), "--limit", "3", "--train-seeds", "2", "--jobs", "2", "--no-progress"]
    fresh = cli_process("build", "--out", str(tmp_path / "fresh"), *args)
    assert fresh.wait(timeout=600) == 0, fresh.communicate()
    killed_out = tmp_path / "killed"
    killed = cli_process("build", "--out", str(killed_out), *args)
    wait_for(lambda: _results(killed_out) >= 2, killed)
    os.kill(killed.pid, signal.SIGSTOP)  # frozen the moment two runs are journaled, then killed
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert 2 <= _results(killed_out) < 6
    resumed = cli_process("build", "--out", str(killed_out), *args, "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.communicate()

    a, b = _runs(tmp_path / "fresh"), _runs(killed_out)
    pairs = list(zip(a["function"], a["seed"].astype(int)))
    assert len(pairs) == 6 and pairs == list(zip(b["function"], b["seed"].astype(int)))
    ref = _reference(recipe, pairs)
    for col in (*METRICS, "status", "error", *CURVE_COLUMNS):
        if col in TIMING:
            continue
        for table in (a, b):  # bit for bit: floats compared with ==, NaN only where the reference has NaN
            got, want = list(table[col]), list(ref[col])
            if col in CURVE_COLUMNS:
                got, want = [list(v) for v in got], [list(v) for v in want]
            assert got == want or (col in METRICS and np.array_equal(np.asarray(got, float), np.asarray(want, float),
                                                                     equal_nan=True)), col
    fa = load_table(tmp_path / "fresh").to_pandas("functions").drop(columns=["runtime"])
    fb = load_table(killed_out).to_pandas("functions").drop(columns=["runtime"])
    pd.testing.assert_frame_equal(fa, fb)  # medians, features and outputs: fresh == killed + resumed


def _workers_of(pid: int) -> list[int]:
    """Worker processes of the driver ``pid``: its spawned children other than multiprocessing's resource tracker
    (read from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid and b"spawn_main" in cmdline:
                out.append(int(entry.name))
    return out


def test_a_dead_workers_job_is_reclaimed_and_journaled_once(tmp_path):
    recipe = _tiny(epochs=40)  # runs of a few seconds: the kill lands inside one
    path = tmp_path / "slow.yaml"
    save_recipe(recipe, path)
    out = tmp_path / "t"
    proc = cli_process("build", "--recipe", str(path), "--out", str(out), "--limit", "1", "--train-seeds", "2", "--jobs", "1",
                "--json", "--no-progress")

    def running_run() -> bool:
        if not journal_path_for(out).exists():
            return False
        with _journal(out) as j:
            return any(c.job.kind.value == "run" for c in j.claims())

    wait_for(running_run, proc)
    with _journal(out) as j:
        (claim,) = j.claims()
    workers = _workers_of(proc.pid)
    assert len(workers) == 1
    os.kill(workers[0], signal.SIGKILL)  # the worker dies mid-job; the driver lives on
    stdout, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert json.loads(stdout)["runs"] == 2
    with _journal(out) as j:
        results, failures, claims = j.results(), j.failures(), j.claims()
    assert claims == []
    assert [(f["job"], f["attempt"]) for f in failures] == [(claim.job.key, 0)]
    assert f"worker process {workers[0]} died (SIGKILL)" == failures[0]["error"]
    keys = [(r.function, r.seed) for r in results]
    assert len(keys) == len(set(keys)) == 2  # journaled exactly once
    (redone,) = [r for r in results if (r.function, r.seed) == (claim.job.function, claim.job.seed)]
    assert redone.attempts == 2 and redone.status == "ok"
    ref = _reference(recipe, [(redone.function, redone.seed)]).iloc[0]
    assert [getattr(redone, m) for m in METRICS] == [ref[m] for m in METRICS]


FLAKY_ENV = "ACT_BENCH_TEST_FLAKY_DIR"
FLAKY = "tanh(x)"


def flaky_mlp(activation) -> nn.Module:
    """A small MNIST-1D network whose construction fails twice for its training runs of ``FLAKY`` (a transient
    failure: a counter file per call), then works. The first call for a function is its FIM job (warm-up first)."""
    module = activation()
    if isinstance(module, ActivationFunction) and str(module.expr) == FLAKY:
        folder = Path(os.environ[FLAKY_ENV])
        calls = len(list(folder.glob("call-*")))
        (folder / f"call-{calls}").touch()
        if calls in (1, 2):
            raise RuntimeError(f"transient failure {calls}")
    return nn.Sequential(nn.Flatten(), nn.Linear(40, 16), module, nn.Linear(16, 10))


def plain_mlp(activation) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(40, 16), activation(), nn.Linear(16, 10))


@pytest.mark.parametrize("retries, attempts, status", [(2, 3, "ok"), (1, 2, "failed")])
def test_a_transient_failure_is_retried_up_to_the_bound_keeping_every_error(tmp_path, monkeypatch, retries,
                                                                          attempts, status):
    flaky = tmp_path / "calls"
    flaky.mkdir()
    monkeypatch.setenv(FLAKY_ENV, str(flaky))
    recipe = _tiny()
    journal = tmp_path / "j.sqlite"
    search = LiveSearch(recipe=recipe, journal=journal, spaces=[], searcher="random", seed=0, fim_warmup=8,
                        background_features=False, model_fn=flaky_mlp, workers=1, retries=retries, progress=False)
    assert search.run(budget=8).evaluated == 8
    with Journal.open(journal, readonly=True) as j:
        results = {r.function: r for r in j.results()}
        failures = j.failures()
    assert [(f["job"].split(":")[0], f["function"], f["attempt"], f["error"]) for f in failures] == \
        [("run", FLAKY, 0, "RuntimeError: transient failure 1"), ("run", FLAKY, 1, "RuntimeError: transient failure 2")]
    r = results[FLAKY]
    assert (r.status, r.attempts) == (status, attempts)
    if status == "ok":  # the third attempt trained the same network as a network that never failed
        ref = _reference(recipe, [(FLAKY, 0)], model_fn=plain_mlp).iloc[0]
        assert r.val_accuracy == ref["val_accuracy"] and r.curve_val_loss == list(ref["curve_val_loss"])
    else:
        assert r.error == "RuntimeError: transient failure 2" and np.isnan(r.val_accuracy)


def _legacy_prefix(folder: Path, functions: int) -> list[dict]:
    """The shipped JSON-lines build journal cut after the records of its first ``functions`` functions."""
    lines = (SHIPPED.parent / "act-bench-mnist1d.journal" / "records.jsonl").read_text().splitlines(keepends=True)
    seen: list[str] = []
    keep = []
    for line in lines:
        rec = json.loads(line)
        if "function" in rec and rec["function"] not in seen:
            if len(seen) == functions:
                break
            seen.append(rec["function"])
        keep.append(line)
    folder.mkdir(parents=True)
    (folder / "records.jsonl").write_text("".join(keep))
    return [json.loads(line) for line in keep]


def test_a_shipped_json_lines_journal_is_read_and_converted_with_every_value_kept(tmp_path):
    out = tmp_path / "act-bench-mnist1d"
    records = _legacy_prefix(journal_dir_for(out), functions=12)
    legacy = journal_dir_for(out) / "records.jsonl"
    before = legacy.read_bytes()
    header = records[0]
    recipe = Recipe.from_dict(header["recipe"])
    old = LegacyJournal(journal_dir_for(out))
    old.load()
    done = {f for f in old.features() if all((f, s) in old.runs() for s in header["seeds"])}
    plan = plan_functions(limit=12).functions  # the build's order: the prefix holds the first functions of the plan
    complete = plan[:next((i for i, f in enumerate(plan) if f not in done), len(plan))]
    assert len(complete) >= 8
    # a snapshot reads the old journal as it is (nothing converted on disk, nothing written next to it)
    table = build_table(recipe, out, limit=len(complete), snapshot=True, progress=False)
    assert legacy.read_bytes() == before and sorted(p.name for p in legacy.parent.iterdir()) == ["records.jsonl"]
    shipped = load_table(SHIPPED)
    mine_runs = table.to_pandas("runs").set_index(["function", "seed"]).sort_index()
    ref_runs = shipped.to_pandas("runs").set_index(["function", "seed"]).loc[mine_runs.index].sort_index()
    assert len(mine_runs) == len(complete) * len(header["seeds"])
    pd.testing.assert_frame_equal(mine_runs, ref_runs)  # every metric, runtime, status and curve, bit for bit
    cols = [*METRICS, "runtime", "status", "n_runs", "fim_valid", "fim_reason"]
    mine = table.to_pandas("functions").set_index("function")
    ref = shipped.to_pandas("functions").set_index("function").loc[mine.index]
    pd.testing.assert_frame_equal(mine[cols], ref[cols])
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(mine["fim_cdf"], ref["fim_cdf"]))
    build = table.metadata["build"]
    assert build["sessions"] == sum(r["type"] == "session" for r in records)
    assert table.metadata["code"]["digest"] == header["code"]["digest"]
    # a resume converts it once (the JSON-lines file stays as it was) and continues from the SQLite journal
    shutil.rmtree(out)
    again = build_table(recipe, out, limit=len(complete), resume=True, allow_code_change=True, progress=False)
    assert legacy.read_bytes() == before and journal_path_for(out).exists()
    pd.testing.assert_frame_equal(again.to_pandas("runs").set_index(["function", "seed"]).sort_index(), mine_runs)
    with Journal.open(journal_path_for(out), readonly=True) as j:
        assert j.config()["converted_from"] == "records.jsonl"
        assert j.n_results() == sum(r["type"] == "run" for r in records)
        assert len(j.sessions()) == build["sessions"] + 1  # the converted ones and the resume
