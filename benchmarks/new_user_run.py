"""A new user's run, timed: a fresh clone, a fresh virtual environment, the README's set-up and demo, then the
README's other commands and snippets and every docs snippet (the tests that run them), each step's wall time.

    python benchmarks/new_user_run.py [--repo .] [--ref HEAD] [--out benchmarks/results/new_user_run.md]

Steps, in a temporary folder (removed afterwards unless ``--keep``):

1. ``git clone`` of ``--ref``;
2. ``python -m venv .venv`` (no system site-packages: nothing is borrowed from this environment);
3. ``pip install torch==<the pin of .ci/run>``: the README says to install the torch build that fits the machine
   first; the pinned one is what this machine's package index serves (a CUDA build, served from disk here);
4. ``pip install -e .`` and ``act-bench demo`` (the README's first command), with the cache in the clone (a new
   user's cold cache), then ``act-bench demo`` again (warm);
5. ``pip install -e '.[dev,ray]'`` (what the README's test command installs), then
   ``python -m pytest tests/test_readme.py tests/test_docs_snippets.py`` with per-test durations: every other
   README command and Python snippet in order from a clean clone, and every python block of ``docs/*.md``.

Prints the Markdown report (and writes it to ``--out``): the commit, the machine, each step's time and outcome.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str] | str, cwd: Path, env: dict[str, str], log: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"\n$ {cmd if isinstance(cmd, str) else ' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, shell=isinstance(cmd, str),
                              check=False)
    return time.perf_counter() - start, proc.returncode


def _pin(clone: Path) -> str:
    text = (clone / ".ci" / "run").read_text(encoding="utf-8")
    match = re.search(r"torch==([0-9][^\s]*)", text)
    return f"torch=={match.group(1)}" if match else "torch"


def _durations(log: Path) -> list[tuple[str, float]]:
    """(test, seconds) of the 'slowest durations' block pytest printed (call phase)."""
    out = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"\s*([0-9.]+)s call\s+(\S+)", line)
        if m:
            out.append((m.group(2), float(m.group(1))))
    return out


def _summary_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines()
             if re.search(r"\d+ (passed|failed)", ln)]
    return lines[-1].strip("= ") if lines else "(no pytest summary)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args(argv)

    commit = subprocess.run(["git", "-C", str(args.repo), "rev-parse", args.ref], capture_output=True, text=True,
                            check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="act-bench-new-user-"))
    log = work / "log.txt"
    clone = work / "act-bench"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "ACT_BENCH"))}
    env["ACT_BENCH_CACHE"] = str(work / "cache")  # a new user's cold cache
    env["HOME"] = str(work / "home")
    (work / "home").mkdir()
    steps: list[tuple[str, float, int]] = []
    load_before = os.getloadavg()[0]
    try:
        steps.append(("git clone", *_run(["git", "clone", "-q", str(args.repo), str(clone)], work, env, log)))
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
        steps.append(("python -m venv .venv", *_run([sys.executable, "-m", "venv", ".venv"], clone, env, log)))
        venv_bin = clone / ".venv" / "bin"
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(clone / ".venv")
        pip = [str(venv_bin / "python"), "-m", "pip", "install", "-q"]
        steps.append(("pip install --upgrade pip", *_run([*pip, "--upgrade", "pip"], clone, env, log)))
        torch = _pin(clone)
        steps.append((f"pip install {torch}", *_run([*pip, torch], clone, env, log)))
        steps.append(("pip install -e .", *_run([*pip, "-e", "."], clone, env, log)))
        steps.append(("act-bench demo (cold cache)", *_run("act-bench demo", clone, env, log)))
        steps.append(("act-bench demo (again, warm cache)", *_run("act-bench demo", clone, env, log)))
        steps.append(("pip install -e '.[dev,ray]'", *_run([*pip, "-e", ".[dev,ray]"], clone, env, log)))
        pytest_log = work / "pytest.txt"
        seconds, rc = _run([str(venv_bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "--durations=0", "tests/test_readme.py", "tests/test_docs_snippets.py"],
                           clone, env, pytest_log)
        steps.append(("pytest tests/test_readme.py tests/test_docs_snippets.py", seconds, rc))
        durations = _durations(pytest_log)
        summary = _summary_line(pytest_log)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(pytest_log.read_text(encoding="utf-8", errors="replace"))
    finally:
        report = _report(commit, steps, load_before, durations if "durations" in locals() else [],
                         summary if "summary" in locals() else "(not run)")
        print(report)
        if args.out:
            args.out.write_text(report, encoding="utf-8")
        failed = [s for s in steps if s[2] != 0]
        if failed or args.keep:
            print(f"log: {log}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


def _report(commit: str, steps, load_before: float, durations, summary: str) -> str:
    cores = os.cpu_count()
    lines = [
        "# A new user's run, timed",
        "",
        (f"Written by `benchmarks/new_user_run.py` for commit `{commit[:12]}`: a fresh clone and a fresh virtual "
         f"environment (no system site-packages), {cores} CPU cores, load average {load_before:.1f} at the start, "
         f"Python {sys.version.split()[0]}."),
        "",
        "| step | wall time | outcome |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {seconds:.1f} s | {'ok' if rc == 0 else f'exit {rc}'} |" for name, seconds, rc in steps]
    total = sum(s for _, s, _ in steps)
    lines += [f"| **total** | **{total / 60:.1f} min** | |", "", f"pytest: {summary}.", ""]
    if durations:
        lines += ["| test (README / docs page) | wall time |", "|---|---|"]
        lines += [f"| `{name}` | {seconds:.1f} s |" for name, seconds in durations]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
