"""Results do not move: a sample of every shipped table's functions (the 8 baselines, one function that trains, one
that diverges, one whose seeds disagree on status, one whose run was retrained under the corrected labelling rule),
rebuilt now by the builder with the table's recipe, gives exactly the runs (every metric and curve point) and the FIM
features recorded in the shipped build journal, and one contender's seeds 3-9 retrain to their journaled records.
Only wall-clock fields (``runtime``, ``curve_seconds``) may differ.

This is the check behind a shipped table's code digest: the table was built by this code, or by code whose
results are identical (``data/REBUILD_PENDING.yaml`` documents any table allowed to lag the code).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from act_bench.space import BASELINE_FUNCTIONS
from data_builders.build import build_table
from data_builders.recipes import get_recipe

DATA = Path(__file__).resolve().parents[1] / "data"
SHIPPED = sorted(p.name for p in DATA.iterdir() if (p / "metadata.json").is_file())


def _pending() -> set[str]:
    import yaml

    path = DATA / "REBUILD_PENDING.yaml"
    return set(yaml.safe_load(path.read_text()) or {}) if path.is_file() else set()


def _journal(table: Path) -> tuple[dict, dict]:
    """Runs by (function, seed) and FIM records by function of the build journal of the table at ``table`` (a run's
    record is its last one: a later record of a run exists only where it ``replaces`` the earlier)."""
    runs, features = {}, {}
    with (table.parent / f"{table.name}.journal" / "records.jsonl").open() as fh:
        for line in fh:
            r = json.loads(line)
            if r["type"] == "run":
                runs[(r["function"], r["seed"])] = r
            elif r["type"] == "features":
                features[r["function"]] = r
    return runs, features


def _sample(runs: dict) -> tuple[list[str], str | None]:
    """The functions rebuilt with the paper's seeds: ReLU (the builder adds the other baselines), one function that
    trains and one that diverges in every seed, one whose seeds disagree on status and one whose record replaced an
    old-rule record, drawn with a fixed seed; and one contender whose seeds 3-9 are retrained too (None if none)."""
    by_function: dict[str, list[str]] = {}
    for (f, s), r in runs.items():
        if s < 3:
            by_function.setdefault(f, []).append(r["status"])
    ok = sorted(f for f, s in by_function.items() if set(s) == {"ok"} and f != "relu(x)")
    diverged = sorted(f for f, s in by_function.items() if set(s) == {"diverged"})
    disagree = sorted(f for f, s in by_function.items() if len(set(s)) > 1)
    replaced = sorted({f for (f, _), r in runs.items() if r.get("replaces")})
    contenders = sorted({f for (f, s) in runs if s >= 3})
    rng = np.random.default_rng(0)
    picked = ["relu(x)"]
    for pool in (ok, diverged, disagree, replaced):
        if pool:
            picked.append(pool[rng.integers(len(pool))])
    contender = contenders[rng.integers(len(contenders))] if contenders else None
    return list(dict.fromkeys(picked)), contender


#: What a run record and a table's ``runs`` row share, besides wall-clock fields.
RUN_FIELDS = ("status", "error", "train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss",
              "test_loss", "curve_val_accuracy", "curve_val_loss", "curve_train_loss")


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN (a diverged run's curve may hold NaN); lists element by element."""
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        a, b = list(a if a is not None else []), list(b if b is not None else [])
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("name", [n for n in SHIPPED if n not in _pending()])
def test_a_sample_of_the_shipped_runs_retrains_bit_for_bit(name, tmp_path):
    from act_bench.tables import load_table
    from data_builders.build import train_run

    runs, features = _journal(DATA / name)
    recipe = get_recipe(name)
    functions, contender = _sample(runs)
    built = load_table(_build(recipe, tmp_path, functions))
    new_runs = {(r["function"], int(r["seed"])): r for r in built.runs.to_dict("records")}
    new_functions = {r["function"]: r for r in built.functions.to_dict("records")}
    assert set(functions) | set(BASELINE_FUNCTIONS) == set(new_functions)
    for f, row in new_functions.items():
        fim = features[f]
        assert bool(row["fim_valid"]) == fim["fim_valid"] and row["fim_reason"] == fim["fim_reason"], f
        assert _same([float(v) for v in row["fim_cdf"]], [float(np.float32(v)) for v in fim["fim_cdf"] or []]), f
        for seed in range(recipe.seeds):
            _compare(runs[(f, seed)], new_runs[(f, seed)], (f, seed))
    if contender is not None:  # the contender seeds were trained by the same code, one thread as the workers ran
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for seed in range(recipe.seeds, 10):
                _compare(runs[(contender, seed)], train_run(recipe, contender, seed).to_dict(), (contender, seed))
        finally:
            torch.set_num_threads(threads)


def _compare(old: dict, new: dict, where) -> None:
    for field in RUN_FIELDS:
        value = new[field]
        value = None if field == "error" and not isinstance(value, str) else value
        assert _same(value, old[field]), (where, field, value, old[field])
    assert bool(new.get("eval_loss_nonfinite")) == bool(old.get("eval_loss_nonfinite")), where


def _build(recipe, tmp_path: Path, functions: list[str]) -> Path:
    """Rebuild ``functions`` (every seed and FIM job) with the builder, one worker of one thread as the shipped
    builds ran; returns the table folder."""
    out = tmp_path / "retrain"
    build_table(recipe, out, functions=functions, jobs=1, progress=False)
    return out
