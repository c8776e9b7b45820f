"""Fingerprints of replays, shared by ``tests/test_replay_api.py`` and the script that recorded the reference
(``tests/data/replay_golden.json``, written by the replay functions of commit 0e10007, before the one replay API).

A fingerprint is the SHA-256 of every trajectory array (dtype, shape, bytes) and of the summary JSON with its
wall-clock ``seconds`` removed, so "same fingerprint" means bit-identical numbers."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from act_bench.utils import to_jsonable

ARRAYS = ("rows", "objective", "test", "time", "observed", "map_seeds", "epochs", "start", "trial_ids",
          "simulated_seconds")


def _digest(a: Any) -> str:
    a = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:20]


def result_print(res: Any) -> dict[str, str]:
    """Fingerprint of one ReplayResult (or MultiFidelityResult): its arrays and its quality blocks."""
    out = {k: _digest(getattr(res, k)) for k in ARRAYS if getattr(res, k, None) is not None}
    out["seeds"] = str(list(res.seeds))
    out["quality"] = _digest(np.array([v for c in sorted(res.quality) for m in sorted(res.quality[c])
                                       for v in res.quality[c][m]], dtype=np.float64))
    return out


def _drop_seconds(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _drop_seconds(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [_drop_seconds(v) for v in x]
    return x


def summary_print(summary: dict) -> str:
    text = json.dumps(_drop_seconds(to_jsonable(summary)), sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def tables():
    from evaluation._synthetic import synthetic_benchmark_table, synthetic_table

    return {"plain": synthetic_table(90, seed=3),
            "curves": synthetic_table(80, seed=1, epochs=9),
            "curves_b": synthetic_table(80, seed=2, epochs=9, noise=0.05),
            "source": synthetic_benchmark_table(90, seed=3, name="source", noise=0.08)}
