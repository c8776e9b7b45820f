"""A stop is not a failure (issue 24, item 1): SIGTERM or SIGINT to the process group of a build or a live search
release the runs in flight (no failed record, no failed attempt) and a resume trains them; a job whose failure is
final is reported (exit 1, never ``"complete": true``) and run again with ``--retry-failed``; a task whose data
cannot be loaded stops a build or search before anything is written (one line, exit 2)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from _procs import cli_process, members_after, wait_for
from _recipes import tiny_recipe

from data_builders.build import journal_path_for
from data_builders.recipes import get_recipe, save_recipe

pytestmark = pytest.mark.slow


def _lines(err: str) -> list[str]:
    """stderr without runpy's warning about ``python -m act_bench.cli._main``."""
    return [line for line in err.strip().splitlines() if not line.startswith("<frozen runpy>")]


def _count(db: Path, sql: str) -> int:
    """One number read from an SQLite file (read-only; 0 while it does not exist)."""
    if not db.exists():
        return 0
    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # created but its tables not yet
        return 0
    finally:
        con.close()


def _running(db: Path) -> bool:
    return _count(db, "SELECT COUNT(*) FROM claims WHERE kind = 'run'") > 0


def _slow_recipe(folder: Path) -> Path:
    """The tiny recipe with runs of a few seconds, so that a signal lands inside one."""
    path = folder / "slow.yaml"
    save_recipe(tiny_recipe(epochs=60), path)
    return path


def _failed_runs(db: Path) -> int:
    return _count(db, "SELECT COUNT(*) FROM results WHERE status = 'failed'")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_build_releases_its_runs_in_flight_and_resume_trains_them(tmp_path, sig):
    out = tmp_path / "t"
    db = journal_path_for(out)
    args = ["build", "--recipe", str(_slow_recipe(tmp_path)), "--out", str(out), "--limit", "1", "--train-seeds", "2",
            "--jobs", "2", "--no-progress", "--json"]
    proc = cli_process(*args)
    wait_for(lambda: _running(db), proc)
    os.killpg(proc.pid, sig)  # as timeout, systemd and Slurm do: the whole group
    _, err = proc.communicate(timeout=120)
    assert members_after(proc.pid, 10) == []
    assert proc.returncode in (1, 130), err  # 1: stopped before its first function was complete
    assert len(_lines(err)) == 1 and "Traceback" not in err, err
    assert _failed_runs(db) == 0 and _count(db, "SELECT COUNT(*) FROM failures") == 0
    assert _count(db, "SELECT COUNT(*) FROM claims") == 0
    resumed = cli_process(*args, "--resume")
    stdout, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    summary = json.loads(stdout)
    assert (summary["complete"], summary["runs"], summary["failed_runs"]) == (True, 2, 0)
    assert _failed_runs(db) == 0


def test_a_stopped_live_search_releases_its_runs_in_flight(tmp_path):
    db = tmp_path / "s.sqlite"
    args = ["search", "run", "--recipe", str(_slow_recipe(tmp_path)), "--journal", str(db), "--budget", "3",
            "--fim-warmup", "0", "--searcher", "random", "--no-background-features", "--workers", "2",
            "--no-progress", "--json"]
    proc = cli_process(*args)
    wait_for(lambda: _running(db), proc)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert members_after(proc.pid, 10) == []
    assert "Traceback" not in err, err
    assert _failed_runs(db) == 0 and _count(db, "SELECT COUNT(*) FROM failures") == 0
    assert _count(db, "SELECT COUNT(*) FROM claims") == 0
    rerun = cli_process(*args)
    stdout, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert json.loads(stdout)["failed"] == 0 and _count(db, "SELECT COUNT(*) FROM results") == 3


def _workers_of(pid: int) -> list[int]:
    """The spawned worker processes of the driver ``pid`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat, cmdline = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


def test_a_final_failure_is_reported_and_retried_with_retry_failed(tmp_path):
    out = tmp_path / "t"
    db = journal_path_for(out)
    args = ["build", "--recipe", str(_slow_recipe(tmp_path)), "--out", str(out), "--limit", "1", "--train-seeds", "1",
            "--jobs", "1", "--retries", "0", "--no-progress", "--json"]
    proc = cli_process(*args)
    wait_for(lambda: _running(db), proc)
    (worker,) = _workers_of(proc.pid)
    os.kill(worker, signal.SIGKILL)  # the run's only attempt is lost: its failure is final
    stdout, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and len(_lines(err)) == 1 and "1 run failed for good" in err, err
    summary = json.loads(stdout)
    assert (summary["complete"], summary["failed_runs"]) == (False, 1)
    build = json.loads((out / "metadata.json").read_text())["build"]  # the table says so too
    assert (build["complete"], build["failed_runs"]) == (False, 1)

    again = cli_process(*args, "--resume")  # a resume alone does not call it complete
    stdout, err = again.communicate(timeout=300)
    assert again.returncode == 1 and json.loads(stdout)["complete"] is False, err

    retried = cli_process(*args, "--resume", "--retry-failed")
    stdout, err = retried.communicate(timeout=600)
    assert retried.returncode == 0, err
    summary = json.loads(stdout)
    assert (summary["complete"], summary["failed_runs"], summary["retried"]) == (True, 0, 1)
    build = json.loads((out / "metadata.json").read_text())["build"]
    assert build["complete"] is True and "failed_runs" not in build
    assert _failed_runs(db) == 0
    assert _count(db, "SELECT COUNT(*) FROM failures") == 1  # the lost attempt's error is kept
    assert _count(db, "SELECT COUNT(*) FROM events WHERE type = 'retry_failed'") == 1


@pytest.mark.parametrize("command", ["build", "search"])
@pytest.mark.parametrize("case", ["no data in the dataset folder", "task_args the task does not take",
                                  "a Hub dataset offline"])
def test_a_task_whose_data_cannot_load_stops_before_anything_is_written(tmp_path, command, case):
    (tmp_path / "ds").mkdir()
    task_args = {"no data in the dataset folder": {"path": str(tmp_path / "ds")},
                 "task_args the task does not take": {"no_such_argument": 1},
                 "a Hub dataset offline": {}}[case]
    recipe = tmp_path / "r.yaml"
    save_recipe(get_recipe("act-bench-cnn").with_overrides(epochs=1, gpus_per_run=0, task_args=task_args), recipe)
    before = sorted(tmp_path.rglob("*"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "ds")}
    if command == "build":
        args = ["build", "--recipe", str(recipe), "--out", str(tmp_path / "t"), "--limit", "1", "--no-progress"]
    else:
        args = ["search", "run", "--recipe", str(recipe), "--journal", str(tmp_path / "s.sqlite"), "--budget", "2",
                "--fim-warmup", "0", "--searcher", "random", "--no-progress"]
    proc = cli_process(*args, env=env)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2 and len(_lines(err)) == 1, err
    assert "cannot" in err and "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
