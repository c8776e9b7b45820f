"""Results do not move: a sample of every shipped table's functions, rebuilt now by the builder with the table's
recipe, gives exactly the runs (every metric and curve point) and the FIM features recorded in the shipped build
journal. Only wall-clock fields (``runtime``, ``curve_seconds``, ``seconds``, ``time``) may differ.

This is the check behind a shipped table's code digest: the table was built by this code, or by code whose
results are identical (``data/REBUILD_PENDING.yaml`` documents any table allowed to lag the code).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data_builders.build import build_table
from data_builders.recipes import get_recipe

DATA = Path(__file__).resolve().parents[1] / "data"
SHIPPED = sorted(p.name for p in DATA.iterdir() if (p / "metadata.json").is_file())
WALL_CLOCK = {"runtime", "curve_seconds", "seconds", "time", "type"}


def _pending() -> set[str]:
    import yaml

    path = DATA / "REBUILD_PENDING.yaml"
    return set(yaml.safe_load(path.read_text()) or {}) if path.is_file() else set()


def _journal(table: Path) -> tuple[dict, dict]:
    """Runs by (function, seed) and FIM records by function of the build journal of the table at ``table``."""
    runs, features = {}, {}
    with (table.parent / f"{table.name}.journal" / "records.jsonl").open() as fh:
        for line in fh:
            r = json.loads(line)
            if r["type"] == "run":
                runs[(r["function"], r["seed"])] = r
            elif r["type"] == "features":
                features[r["function"]] = r
    return runs, features


def _sample(runs: dict) -> list[str]:
    """ReLU plus one function that trains and one that diverges in every seed, drawn with a fixed seed."""
    by_function: dict[str, list[str]] = {}
    for (f, _), r in runs.items():
        by_function.setdefault(f, []).append(r["status"])
    ok = sorted(f for f, s in by_function.items() if set(s) == {"ok"} and f != "relu(x)")
    diverged = sorted(f for f, s in by_function.items() if set(s) == {"diverged"})
    rng = np.random.default_rng(0)
    picked = ["relu(x)", ok[rng.integers(len(ok))]]
    if diverged:
        picked.append(diverged[rng.integers(len(diverged))])
    return picked


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in WALL_CLOCK}


@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in _pending()])
def test_a_sample_of_the_shipped_runs_retrains_bit_for_bit(name, tmp_path):
    runs, features = _journal(DATA / name)
    recipe = get_recipe(name)
    functions = _sample(runs)
    out = tmp_path / "retrain"
    build_table(recipe, out, functions=functions, workers=1, progress=False)
    new_runs, new_features = _journal(out)
    for f in functions:
        assert _strip(new_features[f]) == _strip(features[f]), f
        for seed in range(recipe.seeds):
            assert _strip(new_runs[(f, seed)]) == _strip(runs[(f, seed)]), (f, seed)

