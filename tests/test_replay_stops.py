"""Replay workers die with their driver (issue 24, item 5): ``act-bench replay --jobs N`` killed by any signal leaves
no pool worker and no resource tracker 10 s later, and Ctrl-C prints one line (no worker traceback), exit 130."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from _procs import cli_process, members_after, wait_for

pytestmark = pytest.mark.slow


def _threads(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


def _pool_workers(driver: int) -> list[int]:
    """The spawned pool workers of ``driver`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat, cmdline = (entry / "stat").read_text(), (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == driver and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.xfail(reason="issue 24 item 5 open: a worker still importing (spawn bootstrap) when its driver dies "
                          "outlives it until its imports end (over 10 s on a busy machine); a signal that arrives while "
                          "children_ignore holds SIG_IGN can be lost", strict=False)
@pytest.mark.parametrize("sig, group", [(signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGKILL driver", "SIGTERM driver", "Ctrl-C group"])
def test_replay_workers_die_with_their_driver(tmp_path, sig, group):
    proc = cli_process("replay", "--table", "act-bench-mnist1d", "--algorithms", "random", "--evals", "300",
                       "--seeds", "2000", "--jobs", "2", "--cache-dir", str(tmp_path / "cache"),
                       "--out", str(tmp_path / "out"))
    # both workers started and initialised (their driver watch is a second thread): a SIGKILL while the driver
    # still sends a worker its start data would make that worker print an unpickling traceback as it dies
    wait_for(lambda: len(w := _pool_workers(proc.pid)) == 2 and all(_threads(p) > 1 for p in w), proc)
    if group:
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    assert members_after(proc.pid, 10) == []  # workers and resource tracker too
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    if sig == signal.SIGINT:
        lines = [line for line in err.strip().splitlines() if not line.startswith("<frozen runpy>")]
        assert proc.returncode == 130 and lines[-1:] == ["act-bench: interrupted"], err
        assert all(line.startswith("replay") for line in lines[:-1]), err  # progress lines, nothing else


def test_replay_grid_in_a_pool_equals_the_sequential_one(tmp_path):
    """The pool's workers get the candidates and the oracle through a queue (not with their start data): the
    results are those of the sequential replay."""
    import numpy as np

    from evaluation import replay_grid
    from evaluation._synthetic import synthetic_benchmark_table

    table = synthetic_benchmark_table(60, seed=3)
    kw = {"searcher_kwargs": {"knr:both": {"cache_dir": str(tmp_path / "cache")}}}
    one = replay_grid(["random", "knr:both"], table, 12, [0, 1, 2], n_jobs=1, **kw)
    two = replay_grid(["random", "knr:both"], table, 12, [0, 1, 2], n_jobs=2, **kw)
    for name in one:
        np.testing.assert_array_equal(one[name].rows, two[name].rows)
