"""Replay workers die with their driver (issue 24, item 5): ``act-bench replay --jobs N`` stopped by SIGKILL or
SIGTERM of the driver, or Ctrl-C of its group, leaves no pool worker and no resource tracker 10 s later, whether the
workers are still starting (importing) or computing, and Ctrl-C prints one line (no worker traceback), exit 130. The
pool's workers get their large state through a queue, and the results equal the sequential replay."""

from __future__ import annotations

import os
import signal

import pytest
from _procs import cli_process, members_after, n_threads, pool_workers, wait_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sig, group, when", [(signal.SIGKILL, False, "starting"), (signal.SIGTERM, False, "starting"),
                                              (signal.SIGINT, True, "starting"), (signal.SIGINT, True, "computing")],
                         ids=["SIGKILL driver, workers starting", "SIGTERM driver, workers starting",
                              "Ctrl-C group, workers starting", "Ctrl-C group, workers computing"])
def test_replay_workers_die_with_their_driver(tmp_path, sig, group, when):
    proc = cli_process("replay", "--table", "act-bench-mnist1d", "--algorithms", "random", "--budget", "300",
                       "--seeds", "3000", "--jobs", "2", "--cache-dir", str(tmp_path / "cache"),
                       "--out", str(tmp_path / "out"))
    if when == "starting":   # both workers exist; they may still be importing
        wait_for(lambda: len(pool_workers(proc.pid)) == 2, proc, timeout=120)
    else:                    # both initialised (their driver watch is a second thread) and computing
        wait_for(lambda: len(w := pool_workers(proc.pid)) == 2 and all(n_threads(p) > 1 for p in w), proc,
                 timeout=120)
    (os.killpg if group else os.kill)(proc.pid, sig)
    assert members_after(proc.pid, 10) == []  # workers and resource tracker too
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err, err
    if sig == signal.SIGINT:
        # (the runpy warning is the launcher's, python -m act_bench.cli._main, not the command's)
        lines = [line for line in err.strip().splitlines() if line.strip() and not line.startswith("<frozen runpy>")]
        assert proc.returncode == 130 and lines[-1:] == ["act-bench: interrupted"], err
        assert all("replay" in line or "maps" in line for line in lines[:-1]), err  # progress lines, nothing else


def test_replay_in_a_pool_equals_the_sequential_one(tmp_path):
    """The pool's workers get the candidates and the oracle through a queue (not with their start data): the
    results are those of the sequential replay."""
    import numpy as np

    from evaluation import replay
    from evaluation._synthetic import synthetic_benchmark_table

    table = synthetic_benchmark_table(60, seed=3)
    kw = {"searcher_kwargs": {"knr:both": {"cache_dir": str(tmp_path / "cache")}}}
    one = replay(table, ["random", "knr:both"], budget=12, seeds=[0, 1, 2], jobs=1, **kw)
    two = replay(table, ["random", "knr:both"], budget=12, seeds=[0, 1, 2], jobs=2, **kw)
    for name in one.algorithms:
        np.testing.assert_array_equal(one.result(name).rows, two.result(name).rows)


def test_ctrl_c_in_the_python_api_is_one_keyboard_interrupt_from_the_call(tmp_path):
    """Ctrl-C in ``evaluation.replay(..., jobs=2)`` called from a script: the script ends as Python ends on Ctrl-C
    (status 130, a KeyboardInterrupt), the traceback shows the script's line and the API call, not the internals the
    signal landed in, its message says what stopped, and no worker prints anything or outlives it."""
    import subprocess
    import sys

    from _procs import _terminal_signals

    script = tmp_path / "my_replay.py"
    script.write_text(
        "from act_bench.tables import load_table\n"
        "from evaluation import replay\n"
        "if __name__ == '__main__':\n"
        "    table = load_table('act-bench-mnist1d')\n"
        "    replay(table, 'random', budget=300, seeds=3000, jobs=2)\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_terminal_signals, cwd=tmp_path,  # noqa: PLW1509
                            env={**os.environ, "ACT_BENCH_CACHE": str(tmp_path / "cache")})
    wait_for(lambda: len(w := pool_workers(proc.pid)) == 2 and all(n_threads(p) > 1 for p in w), proc, timeout=120)
    os.killpg(proc.pid, signal.SIGINT)
    assert members_after(proc.pid, 10) == []
    _, err = proc.communicate(timeout=30)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert err.count("Traceback") == 1, err
    frames = [line.strip() for line in err.splitlines() if line.strip().startswith("File ")]
    assert len(frames) <= 2 and str(script) in frames[0], err  # the script's line, then the API call's
    last = err.strip().splitlines()[-1]
    assert last.startswith("KeyboardInterrupt: the replay was interrupted (Ctrl-C)") and "nothing was written" in last
