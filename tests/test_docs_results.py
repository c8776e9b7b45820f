"""docs/suite.md's results blocks are current (docs/scripts/results.py --check): the cheap parts (per-table figures,
correlations, best functions, top-1 % overlap) are recomputed from the shipped tables, the expensive ones (replays,
transfer, warm start, multi-fidelity) rendered from their committed JSON, which must have been computed on the
shipped tables (digests). While a suite table is missing, every block must say "not built yet" and name it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("results_script", ROOT / "docs" / "scripts" / "results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_suite_blocks_are_current():
    script = _script()
    assert script.check() == 0
    tables, missing = script.load_suite()
    text = script.SUITE_DOC.read_text(encoding="utf-8")
    for part in script.PARTS:
        block = text.split(script.begin(part), 1)[1].split(script.end(part), 1)[0]
        if part == "tables":  # the built tables' rows, counted here from the tables themselves
            for name, t in tables.items():
                ok = int((t.functions["status"].astype(str) == "ok").sum())
                diverged = int((t.functions["status"].astype(str) == "diverged").sum())
                groups = int(t.functions["twin_group"].nunique())
                assert (f"| `{name}` | {len(t.functions):,} | {groups:,} | {len(t.runs):,} | {ok:,} | {diverged:,} |"
                        in block)
        if missing:
            assert "Not built yet" in block and all(f"`{m}`" in block for m in missing)
            if part == "tables":
                assert not any(f"| `{m}` |" in block for m in missing)
            else:  # no cross-table figure from a partial suite
                assert not any(ch.isdigit() for ch in block.replace("mnist1d", ""))
        else:
            assert "Not built yet" not in block and any(ch.isdigit() for ch in block.replace("mnist1d", ""))


def test_cheap_blocks_render_the_study_of_a_suite():
    from evaluation._synthetic import synthetic_benchmark_table

    script = _script()
    a = synthetic_benchmark_table(60, seed=0, name="a")
    b = synthetic_benchmark_table(60, seed=0, name="b", noise=0.1)
    tables = {"a": a, "b": b}
    block = script.study_block(tables)
    va = np.asarray(a.functions["val_accuracy"], dtype=float)
    vb = np.asarray(b.functions["val_accuracy"], dtype=float)
    ok = np.isfinite(va) & np.isfinite(vb)
    assert f"| {spearmanr(va[ok], vb[ok])[0]:.3f} |" in block
    rows = script.tables_block(tables).splitlines()
    assert rows[2].startswith(f"| `a` | {len(a.functions):,} |")


def test_status_changes_of_the_rebuilt_cnn_are_counted(tmp_path):
    import json

    from evaluation._synthetic import synthetic_benchmark_table

    script = _script()
    new = synthetic_benchmark_table(40, seed=1, name=script.SUITE_TABLES[0])
    names = list(new.functions["function"])
    now = dict(zip(names, new.functions["status"].astype(str)))
    old = dict(now)
    flipped = names[:3]
    for f in flipped:
        old[f] = "diverged" if now[f] == "ok" else "ok"
    old["gone(x)"] = "ok"                                   # not in the new table: not counted
    script.OLD_CNN = tmp_path / "old.json"
    script.OLD_CNN.write_text(json.dumps({"digest": "other", "status": old}))
    script.ROOT = tmp_path
    text = script.tables_block({script.SUITE_TABLES[0]: new})
    assert f"3 of {len(names)} shared functions changed status" in text
    script.OLD_CNN.write_text(json.dumps({"digest": script.digest(new), "status": old}))
    assert "is still the table built before" in script.tables_block({script.SUITE_TABLES[0]: new})


def test_expensive_blocks_render_from_their_json_round_trip(tmp_path):
    import json

    from evaluation import WarmStart, replay, surrogate_transfer
    from evaluation._synthetic import synthetic_table

    script = _script()
    a = synthetic_table(60, seed=0)
    tr = surrogate_transfer(a, a.copy(), algorithm="knr:outputs", n_points=(10,), seeds=2, n_maps=1,
                            cache_dir=tmp_path)
    tr.pop("per_seed")
    data = json.loads(json.dumps({"a -> b": tr}, allow_nan=False))    # what the script stores and reads back
    text = script.transfer_block(data)
    med = tr["n_points"][10]["target"]["spearman"]["median"]
    assert f"| a -> b | 10 | {med:.2f} [" in text and "over 2 seeds" in text
    ws = replay(a.copy(), ["random"], budget=10, seeds=3, warm_start=WarmStart(a, top_n=5),
                checkpoints=()).warm_start_summary()
    ws["algorithms"]["random"].pop("per_seed")
    text = script.warm_block(json.loads(json.dumps({"a -> b (top 5)": ws}, allow_nan=False)))
    assert "| a -> b (top 5) | random |" in text and "over 3 seeds x 10 evaluations" in text
