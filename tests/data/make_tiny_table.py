"""Regenerate ``tests/data/tiny-table``: a tiny benchmark table with MADE-UP metrics, for tests of other areas.

Nothing here was trained. Six functions x three seeds of invented runs (below, in plain numbers), built into a
table with ``BenchmarkTable.from_runs``; FIM CDFs are invented per-layer CDFs for a declared two-layer layout
(``conv``: 430 weights -> 4 bins, ``fc``: 250 weights -> 2 bins; 6 dimensions); outputs are real (computed).

The functions cover every case a consumer meets:

- ``relu(x)``: status ok, two listed equivalents (``max(x,zero(x))``, ``max(zero(x),x)``) - the best function;
- ``swish(x)``, ``tanh(x)``: ok; ``tanh(x)`` has one failed seed (so ``n_runs`` 3, median over 2);
- ``sigmoid(x)``: ok, but its FIM is invalid (``fim_valid`` false, empty ``fim_cdf``, ``fim_reason`` set);
- ``exp(exp(x))``: diverged on two of three seeds -> status ``diverged``, chance-level median (0.1);
- ``reciprocal(x)``: every seed failed -> status ``failed``, NaN metrics.

Usage: python tests/data/make_tiny_table.py [OUT_DIR]   (default: tests/data/tiny-table, replaced)
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

LAYOUT = [{"layer": "conv", "weights": 430}, {"layer": "fc", "weights": 250}]
NAN = math.nan

# function -> per seed 0, 1, 2: (train_acc, val_acc, test_acc, train_loss, val_loss, test_loss, runtime_s, status)
RUNS = {
    "relu(x)": [(0.91, 0.86, 0.85, 0.30, 0.45, 0.47, 12.0, "ok"), (0.93, 0.88, 0.87, 0.25, 0.41, 0.42, 12.5, "ok"),
                (0.92, 0.87, 0.86, 0.27, 0.43, 0.44, 11.8, "ok")],
    "swish(x)": [(0.90, 0.85, 0.84, 0.31, 0.47, 0.48, 13.0, "ok"), (0.89, 0.84, 0.83, 0.33, 0.49, 0.50, 13.4, "ok"),
                 (0.91, 0.86, 0.85, 0.29, 0.46, 0.46, 13.1, "ok")],
    "tanh(x)": [(0.80, 0.75, 0.74, 0.60, 0.72, 0.74, 11.0, "ok"), (0.82, 0.77, 0.76, 0.55, 0.69, 0.70, 11.2, "ok"),
                (NAN, NAN, NAN, NAN, NAN, NAN, 0.5, "failed")],
    "sigmoid(x)": [(0.60, 0.58, 0.57, 1.10, 1.15, 1.16, 12.2, "ok"), (0.62, 0.60, 0.59, 1.05, 1.12, 1.13, 12.1, "ok"),
                   (0.61, 0.59, 0.58, 1.08, 1.13, 1.14, 12.3, "ok")],
    "exp(exp(x))": [(0.10, 0.10, 0.10, 2.3026, 2.3026, 2.3026, 3.0, "diverged"),
                    (0.45, 0.40, 0.41, 1.60, 1.70, 1.71, 12.0, "ok"),
                    (0.10, 0.10, 0.10, 2.3026, 2.3026, 2.3026, 2.5, "diverged")],
    "reciprocal(x)": [(NAN, NAN, NAN, NAN, NAN, NAN, 0.4, "failed"), (NAN, NAN, NAN, NAN, NAN, NAN, 0.3, "failed"),
                      (NAN, NAN, NAN, NAN, NAN, NAN, 0.5, "failed")],
}
ERRORS = {"failed": "RuntimeError: made-up failure for the test fixture"}

# invented FIM CDFs: 4 values for conv, then 2 for fc (each a non-decreasing CDF ending at 1)
FIM = {
    "relu(x)": [0.10, 0.40, 0.80, 1.0, 0.30, 1.0],
    "swish(x)": [0.05, 0.35, 0.75, 1.0, 0.25, 1.0],
    "tanh(x)": [0.20, 0.50, 0.90, 1.0, 0.50, 1.0],
    "exp(exp(x))": [0.0, 0.0, 0.10, 1.0, 0.0, 1.0],
    "reciprocal(x)": [0.30, 0.60, 0.90, 1.0, 0.60, 1.0],
}
EQUIVALENTS = {"relu(x)": ["max(x,zero(x))", "max(zero(x),x)"]}


def build():
    from act_bench.tables import BenchmarkTable

    rows = []
    for function, runs in RUNS.items():
        for seed, (tra, va, tea, trl, vl, tel, rt, status) in enumerate(runs):
            rows.append({"function": function, "seed": seed, "train_accuracy": tra, "val_accuracy": va,
                         "test_accuracy": tea, "train_loss": trl, "val_loss": vl, "test_loss": tel, "runtime": rt,
                         "status": status, "error": ERRORS.get(status)})
    features = {f: {"fim_cdf": FIM.get(f), "equivalents": EQUIVALENTS.get(f)} for f in RUNS}
    features["sigmoid(x)"]["fim_reason"] = "made up: non-finite K-FAC eigenvalues"
    metadata = {
        "name": "tiny-table", "task": "made-up", "model": "made-up",
        "recipe": {"note": "no training happened: metrics are invented in tests/data/make_tiny_table.py"},
        "fim_layout": LAYOUT, "fim_cdf_layout": "act-bench",
        "source": "act-bench build (synthetic test fixture: made-up runs from tests/data/make_tiny_table.py)",
        "build": {"wall_time_s": 0.0, "date": "2026-01-01T00:00:00+00:00", "hardware": "none (made up)"},
        "versions": {"note": "not a real build"},
    }
    return BenchmarkTable.from_runs(pd.DataFrame(rows), features=features, metadata=metadata)


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent / "tiny-table"
    build().save(out, overwrite=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
