"""Time of ``import evaluation`` (and whether it imports torch) at this checkout against another commit.

Each import runs in a fresh interpreter from a neutral folder with ``PYTHONPATH`` set to the source tree (the other
commit is checked out with ``git worktree`` into a temporary folder); runs are interleaved (this tree, the other,
this tree, ...) so that a busy machine slows both alike. Prints the median wall time of each over --repeats runs,
their ratio, and whether torch was imported.

Usage: python benchmarks/bench_import.py [--against e646d40] [--module evaluation] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _once(tree: Path, module: str, cwd: str) -> tuple[float, bool]:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin"},
                         capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out.strip() == "True"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="e646d40", help="the other commit (default: e646d40)")
    parser.add_argument("--module", default="evaluation")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(other), args.against],
                       check=True)
        try:
            trees = {f"HEAD ({head})": ROOT, args.against: other}
            times: dict[str, list[float]] = {k: [] for k in trees}
            torch: dict[str, bool] = {}
            for _ in range(args.repeats):
                for name, tree in trees.items():
                    seconds, imported = _once(tree, args.module, tmp)
                    times[name].append(seconds)
                    torch[name] = imported
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    base = medians[args.against]
    print(f"import {args.module}: median of {args.repeats} fresh interpreters, interleaved")
    for name in trees:
        print(f"  {name:<24} {medians[name]:6.2f} s  ratio to {args.against} {medians[name] / base:.2f}  "
              f"torch imported: {torch[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
