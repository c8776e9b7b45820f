"""No orphans with Ray: SIGKILL of a driver that started a local Ray cluster leaves no process of it behind.

The watchdog's membership rules are checked on real processes (fast); then a build and a live search with
``--executor ray`` (real local Ray, tiny recipe) are frozen the moment a result is journaled, SIGKILLed, checked for
survivors 10 s later (every process of the driver's session and every descendant seen while it was frozen), and
resumed to completion with no run lost or duplicated. A cluster the driver only connected to (``--address``)
outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _procs import cli_process, live_session_members, wait_for
from _recipes import save_tiny_recipe

from act_bench._ray_watchdog import ENV_VARIABLE, Cluster, find_session_dir, reap, watch_local_cluster
from act_bench.engine import Journal
from data_builders.build import journal_path_for

SLEEPER = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN) if 'stubborn' in sys.argv else 0; " \
          "f = open(sys.argv[1], 'a') if len(sys.argv) > 1 and sys.argv[1] != '-' else None; time.sleep(600)"


# --- processes, read from /proc --------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[str, int, int, str] | None:
    """``(comm, ppid, sid, start time)`` of a live process (``None``: gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2:].split()
    if rest[0] in "ZX":
        return None
    return stat[stat.index("(") + 1: stat.rindex(")")], int(rest[1]), int(rest[3]), rest[19]


def _processes_of(driver: int) -> dict[int, tuple[str, str]]:
    """``pid -> (comm, start time)`` of the driver's session and of every descendant of the driver (another session
    included)."""
    table = {int(p.name): s for p in Path("/proc").iterdir() if p.name.isdigit() and (s := _stat(int(p.name)))}
    found = {pid for pid, s in table.items() if s[2] == driver} | {driver}
    frontier = list(found)
    while frontier:
        parent = frontier.pop()
        for pid, s in table.items():
            if s[1] == parent and pid not in found:
                found.add(pid)
                frontier.append(pid)
    return {pid: (table[pid][0], table[pid][3]) for pid in found if pid in table}


def _alive(processes: dict[int, tuple[str, str]]) -> list[str]:
    """Those of ``processes`` still running (same pid and start time: a recycled pid does not count)."""
    return [f"{pid} {comm}" for pid, (comm, start) in processes.items()
            if (s := _stat(pid)) is not None and s[3] == start]


def _left_after(processes: dict[int, tuple[str, str]], session: int, bound: float) -> list[str]:
    deadline = time.monotonic() + bound
    while (left := sorted(set(_alive(processes) + live_session_members(session)))) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _kill_frozen_driver(proc: subprocess.Popen) -> tuple[dict[int, tuple[str, str]], list[str], float]:
    """SIGSTOP the driver, list its processes, SIGKILL it; return them, those left 10 s later, and seconds until
    none was left."""
    os.kill(proc.pid, signal.SIGSTOP)
    processes = _processes_of(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    proc.wait()
    left = _left_after(processes, proc.pid, 10.0)
    return processes, left, time.monotonic() - killed


def _names(processes: dict[int, tuple[str, str]]) -> set[str]:
    return {comm for comm, _ in processes.values()}


def _assert_a_ray_cluster(names: set[str]) -> None:
    """The frozen driver had started a local cluster and its watchdog: the test can see what it checks."""
    assert {"raylet", "gcs_server"} <= names, names
    assert any(n.startswith("ray::") for n in names), names  # agents and workers (Ray's process titles)


# --- the watchdog's membership rules, on plain processes -------------------------------------------------------

def _sleeper(*args: str, env: dict[str, str] | None = None, new_session: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SLEEPER, *args], env=env, start_new_session=new_session,
                            stdin=subprocess.DEVNULL)


def _open_files(pid: int) -> list[str]:
    """The targets of ``pid``'s file descriptors; a descriptor closed between listing and reading is skipped (the
    interpreter opens and closes files while it starts)."""
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            out.append(os.readlink(fd))
        except FileNotFoundError:
            continue
    return out


def _wait_open(proc: subprocess.Popen, path: Path) -> None:
    deadline = time.monotonic() + 30
    while str(path) not in _open_files(proc.pid):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)


def test_members_are_the_marked_and_the_session_dir_holders_of_the_driver_session(tmp_path):
    token = "0123456789abcdef"
    logs = tmp_path / "ray" / "session_2026-01-01_00-00-00_000000_1" / "logs"
    logs.mkdir(parents=True)
    log = logs / "dashboard_agent.log"
    other = tmp_path / "elsewhere.log"
    marked_env = {**os.environ, ENV_VARIABLE: token}
    procs = {
        "marked, own session": _sleeper("-", env=marked_env, new_session=True),
        "marked, ignores SIGTERM": _sleeper("-", "stubborn", env=marked_env, new_session=True),
        "session dir open, driver session": _sleeper(str(log)),
        "session dir open, other session": _sleeper(str(log), new_session=True),
        "other file open, driver session": _sleeper(str(other)),
        "other token": _sleeper("-", env={**os.environ, ENV_VARIABLE: token + "0"}),
    }
    members = {"marked, own session", "marked, ignores SIGTERM", "session dir open, driver session"}
    try:
        for name, proc in procs.items():
            if "open" in name:
                _wait_open(proc, log if "session dir" in name else other)
        assert find_session_dir(token) is None  # no marked process holds a file in a session dir
        cluster = Cluster(token, os.getsid(0), str(logs.parent))
        want = sorted(procs[n].pid for n in members)
        assert cluster.members() == want
        assert Cluster(token, os.getsid(0)).members() == sorted(  # session dir unknown: the marked ones only
            procs[n].pid for n in members if n.startswith("marked"))

        assert reap(cluster, sweep_seconds=30) == want
        for name, proc in procs.items():
            assert (proc.poll() is not None) == (name in members), name
        # SIGTERM first; the one that ignores it is killed after the grace period
        assert procs["marked, own session"].returncode == -signal.SIGTERM
        assert procs["marked, ignores SIGTERM"].returncode == -signal.SIGKILL
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def test_session_dir_is_read_off_a_marked_process(tmp_path):
    token = "fedcba9876543210"
    session_dir = tmp_path / "ray" / "session_2026-01-01_00-00-00_000000_2"
    (session_dir / "logs").mkdir(parents=True)
    log = session_dir / "logs" / "gcs_server.out"
    unmarked = _sleeper(str(log))
    try:
        _wait_open(unmarked, log)
        assert find_session_dir(token) is None
        marked = _sleeper(str(log), env={**os.environ, ENV_VARIABLE: token}, new_session=True)
        try:
            _wait_open(marked, log)
            assert find_session_dir(token) == str(session_dir)
        finally:
            marked.kill()
            marked.wait()
    finally:
        unmarked.kill()
        unmarked.wait()


DRIVER = textwrap.dedent("""
    import os, subprocess, sys, time
    from act_bench._ray_watchdog import watch_local_cluster
    sleep = [sys.executable, "-c", "import time; time.sleep(600)"]
    outside = subprocess.Popen(sleep, start_new_session=True)  # started before: not of the cluster
    with watch_local_cluster():
        inside = subprocess.Popen(sleep, start_new_session=True)  # as Ray starts its processes: marked
    later = subprocess.Popen(sleep, start_new_session=True)  # started after: not marked
    if (forked := os.fork()) == 0:  # a forked child outlives the driver; it must not hold the watchdog's pipe
        os.setsid()
        time.sleep(600)
        os._exit(0)
    print(outside.pid, inside.pid, later.pid, forked, flush=True)
    time.sleep(600)
""")


def test_watchdog_ends_the_marked_processes_when_its_driver_is_sigkilled(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    outside, inside, later, forked = (int(p) for p in driver.stdout.readline().split())
    try:
        watchdogs = [pid for pid, (comm, _) in _processes_of(driver.pid).items()
                     if pid != driver.pid and _stat(pid)[1] == driver.pid and _stat(pid)[2] == pid
                     and pid not in (outside, inside, later, forked)]
        assert len(watchdogs) == 1, "one watchdog, in a session of its own"
        before = {pid: (_stat(pid)[0], _stat(pid)[3]) for pid in (outside, inside, later, forked, watchdogs[0])}
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        deadline = time.monotonic() + 10
        while _alive({p: before[p] for p in (inside, watchdogs[0])}) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive({p: before[p] for p in (inside, watchdogs[0])}) == []
        assert len(_alive({p: before[p] for p in (outside, later, forked)})) == 3, "unmarked processes were hit"
    finally:
        for pid in (outside, inside, later, forked):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        driver.kill()
        driver.wait()


def test_a_failed_start_is_cleaned_up_at_once_and_leaves_the_environment_as_it_was():
    before = os.environ.get(ENV_VARIABLE)
    with pytest.raises(RuntimeError, match="ray.init failed"), watch_local_cluster() as token:
        assert os.environ[ENV_VARIABLE] == token
        started = _sleeper("-", new_session=True)  # inherits the mark, as Ray's processes do
        raise RuntimeError("ray.init failed")
    try:
        assert started.wait(timeout=0) == -signal.SIGTERM, "the half-started cluster was not ended"
    finally:
        started.kill()
        started.wait()
    assert os.environ.get(ENV_VARIABLE) == before


# --- real local Ray: SIGKILL a build and a live search, then resume ---------------------------------------------

@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory) -> Path:
    return save_tiny_recipe(tmp_path_factory.mktemp("recipe"))


def _cli(args: list[str], tmp_path: Path, log: str, **env: str) -> subprocess.Popen:
    env = {**os.environ, "ACT_BENCH_CACHE": str(tmp_path / "cache"), **env}
    return cli_process(*args, stderr=open(tmp_path / log, "w"), env=env)


def _build_runs(out: Path) -> list[dict]:
    with Journal.open(journal_path_for(out), readonly=True) as j:
        return [r.record.to_dict() for r in j.results()]


def _journaled_runs(out: Path) -> int:
    if not journal_path_for(out).exists():
        return 0
    with Journal.open(journal_path_for(out), readonly=True) as j:
        return j.n_results()


@pytest.mark.slow
def test_sigkilled_ray_build_leaves_no_process_and_resumes_exactly(tmp_path, tiny_recipe):
    out = tmp_path / "table"
    args = ["build", "--recipe", str(tiny_recipe), "--out", str(out), "--limit", "3", "--train-seeds", "2",
            "--jobs", "2", "--executor", "ray", "--no-progress", "--json"]
    proc = _cli(args, tmp_path, "first.log")
    wait_for(lambda: _journaled_runs(out) >= 1, proc, log=tmp_path / "first.log")
    processes, left, _ = _kill_frozen_driver(proc)
    _assert_a_ray_cluster(_names(processes))
    assert left == [], f"processes of the killed build still running 10 s later: {left}"

    before = {(r["function"], r["seed"]): r for r in _build_runs(out)}
    assert 1 <= len(before) < 6, "the kill should land between the first and the last run"
    resumed = _cli([*args, "--resume"], tmp_path, "second.log")
    stdout, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, (tmp_path / "second.log").read_text()[-3000:]
    summary = json.loads(stdout)
    assert summary["runs"] == 6 and summary["complete"] is True
    runs = _build_runs(out)
    keys = [(r["function"], r["seed"]) for r in runs]
    assert len(keys) == len(set(keys)) == 6, "a run is missing or was done twice"
    assert all(repr(r) == repr(before[k]) for k, r in zip(keys, runs) if k in before), "a run of the killed build changed"


def _search_results(journal: Path) -> list[tuple]:
    if not journal.exists():
        return []
    db = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return db.execute("SELECT seq, row, function, val_accuracy, status FROM results ORDER BY seq").fetchall()
    except sqlite3.OperationalError:  # the schema is not written yet
        return []
    finally:
        db.close()


@pytest.mark.slow
def test_sigkilled_ray_live_search_leaves_no_process_and_resumes_exactly(tmp_path, tiny_recipe):
    journal = tmp_path / "search.sqlite"
    args = ["search", "run", "--recipe", str(tiny_recipe), "--space", "binary(unary(x),unary(x))",
            "--searcher", "random", "--budget", "5", "--fim-warmup", "0", "--no-background-features",
            "--journal", str(journal), "--workers", "2", "--no-baselines", "--executor", "ray", "--no-progress",
            "--json"]
    proc = _cli(args, tmp_path, "first.log")
    wait_for(lambda: len(_search_results(journal)) >= 1, proc, log=tmp_path / "first.log")
    processes, left, _ = _kill_frozen_driver(proc)
    _assert_a_ray_cluster(_names(processes))
    assert left == [], f"processes of the killed search still running 10 s later: {left}"

    before = _search_results(journal)
    assert 1 <= len(before) < 5, "the kill should land between the first and the last result"
    resumed = _cli(args, tmp_path, "second.log")  # the very same command resumes
    stdout, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, (tmp_path / "second.log").read_text()[-3000:]
    summary = json.loads(stdout)
    assert summary["evaluated"] == 5 and summary["new"] == 5 - len(before)
    results = _search_results(journal)
    functions = [r[2] for r in results]
    assert len(results) == len(set(functions)) == 5, "a function is missing or was evaluated twice"
    assert results[:len(before)] == before, "a result of the killed search changed"


USER_CLUSTER = textwrap.dedent("""
    import sys, ray
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    print(ray.get_runtime_context().gcs_address, flush=True)
    def answer():
        return 42
    sys.stdin.readline()  # the test killed a driver that had connected to this cluster
    print(ray.get(ray.remote(answer).remote()), flush=True)
    ray.shutdown()
""")


@pytest.mark.slow
def test_a_cluster_the_driver_connected_to_outlives_it(tmp_path, tiny_recipe):
    with open(tmp_path / "user.log", "w") as log:
        user = subprocess.Popen([sys.executable, "-c", USER_CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log, text=True, start_new_session=True)
    cluster: dict[int, tuple[str, str]] = {}
    try:
        address = user.stdout.readline().strip()
        assert address, (tmp_path / "user.log").read_text()[-3000:]
        cluster = _processes_of(user.pid)
        _assert_a_ray_cluster(_names(cluster))
        # the cluster's own processes (its workers come and go as Ray sees fit)
        cluster = {pid: p for pid, p in cluster.items()
                   if not p[0].startswith("ray::") or p[0] in ("ray::DashboardA", "ray::RuntimeEnv")}
        out = tmp_path / "table"
        proc = _cli(["build", "--recipe", str(tiny_recipe), "--out", str(out), "--limit", "3", "--train-seeds", "2",
                     "--executor", "ray", "--address", address, "--no-progress", "--json"], tmp_path, "driver.log",
                    RAY_AUTH_MODE="token")  # Ray asks for it with an explicit address (the token: ~/.ray/auth_token)
        wait_for(lambda: _journaled_runs(out) >= 1, proc, log=tmp_path / "driver.log")
        os.kill(proc.pid, signal.SIGSTOP)
        assert set(_processes_of(proc.pid)) == {proc.pid}, "a connected driver started processes (a watchdog?)"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        user.stdin.write("go\n")  # the cluster still runs tasks after the driver's death
        user.stdin.flush()
        assert user.stdout.readline().strip() == "42", (tmp_path / "user.log").read_text()[-3000:]
        assert sorted(_alive(cluster)) == sorted(f"{pid} {comm}" for pid, (comm, _) in cluster.items())
        user.stdin.close()
        assert user.wait(timeout=60) == 0
    finally:
        for pid, (_, start) in cluster.items():  # the user's cluster is the test's to end
            if (st := _stat(pid)) is not None and st[3] == start:
                os.kill(pid, signal.SIGKILL)
        user.kill()
        user.wait()
