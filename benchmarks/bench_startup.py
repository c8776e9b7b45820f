"""Start-up time of the ``act-bench`` command against the peer ``python -c "import torch"``.

Each command runs in a fresh interpreter exactly as the console script does (``act_bench.cli:main``), stdout and
stderr discarded; runs are interleaved (command 1, 2, ..., torch, then again) so that a busy machine slows all of
them alike. Reports the median wall time of each command over --repeats runs, its ratio to the median of
``python -c "import torch"`` (goal <= 0.5 for every command listed) and the heavy modules each one imported.

Usage: python benchmarks/bench_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "tests" / "data" / "tiny-table")
COMMANDS = {
    "act-bench --help": ["--help"],
    "act-bench --version": ["--version"],
    "act-bench recipes list": ["recipes", "list"],
    "act-bench table info --table act-bench-mnist1d": ["table", "info", "--table", "act-bench-mnist1d"],
    "act-bench space show relu(x)": ["space", "show", "relu(x)"],
}
HEAVY = ("torch", "umap", "numba", "datasets", "sklearn", "matplotlib", "scipy", "pandas", "pyarrow")
_RUN = ("import sys\nfrom act_bench.cli import main\n"
        "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
        "sys.stdout.flush()\nsys.__stderr__.write('\\nHEAVY ' + ','.join(m for m in {heavy!r} if m in sys.modules))\n"
        "sys.exit(code)\n")


def _time(argv: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr[-500:]}")
    heavy = proc.stderr.rsplit("HEAVY ", 1)[-1].strip() if "HEAVY " in proc.stderr else ""
    return seconds, heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    code = _RUN.format(heavy=HEAVY)
    runs = {**{name: [sys.executable, "-c", code, *argv] for name, argv in COMMANDS.items()},
            'python -c "import torch"': [sys.executable, "-c", "import torch"]}
    times: dict[str, list[float]] = {name: [] for name in runs}
    heavy: dict[str, str] = {}
    for name, argv in runs.items():  # warm the file cache once
        heavy[name] = _time(argv)[1]
    for _ in range(args.repeats):
        for name, argv in runs.items():
            times[name].append(_time(argv)[0])
    peer = statistics.median(times['python -c "import torch"'])
    rows = []
    print(f"{'command':<42} {'median s':>9} {'ratio':>6}  heavy modules imported")
    for name in runs:
        med = statistics.median(times[name])
        rows.append({"command": name, "median_s": round(med, 3), "ratio_to_import_torch": round(med / peer, 3),
                     "heavy_modules": heavy[name]})
        print(f"{name:<42} {med:>9.3f} {med / peer:>6.2f}  {heavy[name] or '-'}")
    print(json.dumps({"repeats": args.repeats, "python": sys.version.split()[0], "rows": rows}))


if __name__ == "__main__":
    main()
