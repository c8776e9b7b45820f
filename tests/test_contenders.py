"""Extending a finished build (``build --contenders``): runs stored by the old labelling rule retrained and
replaced, contender seeds added, every other record untouched; the paper's columns unchanged, the all-run estimates
over every run. Real tiny builds, real journals (SQLite and JSON lines)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _recipes import tiny_recipe

from act_bench.engine import Journal
from act_bench.tables import load_table
from data_builders._extend import OLD_EVAL_LOSS_ERROR
from data_builders._train import _evaluate, _Split
from data_builders.build import (
    LegacyJournal,
    build_table,
    contender_functions,
    convert_jsonl,
    extend_build,
    journal_dir_for,
    journal_path_for,
)

pytestmark = pytest.mark.slow

FUNCTIONS = ["tanh(x)", "mul(identity(x),tanh(x))", "softsign(x)", "reciprocal(x)", "exp(x)", "square(x)"]
#: What a run record and a table's runs row share, besides wall-clock fields.
FIELDS = ("status", "error", "train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss",
          "test_loss", "curve_val_accuracy", "curve_val_loss", "curve_train_loss", "eval_loss_nonfinite")


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple, np.ndarray)) or isinstance(b, (list, tuple, np.ndarray)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("build") / "tiny"
    build_table(tiny_recipe(), out, functions=FUNCTIONS, jobs=2, progress=False, name="tiny")
    return out


def _brute_contenders(runs: pd.DataFrame, fraction: float) -> set[str]:
    paper = runs[runs.seed <= 2]
    med = paper.groupby("function")["val_accuracy"].median().sort_values(ascending=False)
    k = max(1, math.ceil(fraction * len(med)))
    thr = med.iloc[k - 1]
    top = set(paper.groupby("function")["val_accuracy"].max().loc[lambda s: s >= thr].index)
    disagree = set(paper.groupby("function")["status"].nunique().loc[lambda s: s > 1].index)
    return top | disagree


def test_contender_seeds_extend_an_sqlite_build(built, tmp_path):
    import shutil

    out = tmp_path / "tiny"
    shutil.copytree(built, out)
    shutil.copytree(journal_dir_for(built), journal_dir_for(out))
    before = load_table(out)
    with Journal.open(journal_path_for(out), readonly=True) as j:
        old = {(r.record.function, r.record.seed): r.record.to_dict() for r in j.results()}
    report = extend_build(tiny_recipe(), out, extra_seeds=(3, 4), fraction=0.2, jobs=2, progress=False)
    expected = _brute_contenders(before.runs, 0.2)
    assert report.contenders == len(expected) and report.added_runs == 2 * len(expected)
    table = build_table(tiny_recipe(), out, functions=FUNCTIONS, snapshot=True, name="tiny")
    with Journal.open(journal_path_for(out), readonly=True) as j:
        now = {(r.record.function, r.record.seed): r.record.to_dict() for r in j.results()}
    for key, rec in old.items():  # every earlier record untouched
        assert all(_same(rec[f], now[key][f]) for f in FIELDS), key
    f = table.functions.set_index("function")
    b = before.functions.set_index("function")
    for name in f.index:
        n = 5 if name in expected else 3
        assert f.loc[name, "n_runs"] == n and set(table.runs[table.runs.function == name].seed) == set(range(n))
        for col in ("val_accuracy", "test_accuracy", "status"):  # the paper's columns do not move
            assert _same(f.loc[name, col], b.loc[name, col]), (name, col)
        accs = table.runs[table.runs.function == name].val_accuracy
        assert f.loc[name, "val_accuracy_mean"] == pytest.approx(accs.mean())
    assert table.metadata["build"]["extra_runs"]["runs"] == 2 * len(expected)
    # resumable and idempotent: nothing left to train
    again = extend_build(tiny_recipe(), out, extra_seeds=(3, 4), fraction=0.2, jobs=1, progress=False)
    assert again.added_runs == 0


def _write_jsonl(built: Path, folder: Path, mark: tuple[str, int]) -> bytes:
    """A JSON-lines journal with the build's records, the run ``mark`` stored as the old rule stored a run that met a
    non-finite evaluation loss after training (diverged at chance, curves kept)."""
    with Journal.open(journal_path_for(built), readonly=True) as j:
        config, results, feats, rows = j.config(), j.results(), j.features(), j.rows()
    names = {v: k for k, v in rows.items()}
    lines = [{"type": "header", "version": 1, "recipe": config["recipe"], "seeds": config["seeds"],
              "space": config["space"], "created": config["created"], "code": config["code"]},
             {"type": "session", "time": 1.0, "id": "s0", "code_digest": config["code"]["digest"]}]
    for row, feat in feats.items():
        lines.append({"type": "features", "function": names[row], "fim_valid": bool(feat["fim_valid"]),
                      "fim_reason": feat["fim_reason"],
                      "fim_cdf": None if feat["fim_cdf"] is None else [float(v) for v in feat["fim_cdf"]]})
    for jr in results:
        rec = {"type": "run", **jr.record.to_dict(), "time": 2.0}
        if (jr.record.function, jr.record.seed) == mark:
            chance, loss = 0.1, math.log(10)
            rec.update(train_accuracy=chance, val_accuracy=chance, test_accuracy=chance, train_loss=loss,
                       val_loss=loss, test_loss=loss, status="diverged", error=OLD_EVAL_LOSS_ERROR)
        rec.pop("eval_loss_nonfinite")
        lines.append(rec)
    folder.mkdir(parents=True)
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    (folder / "records.jsonl").write_bytes(data)
    return data


def test_a_run_stored_by_the_old_rule_is_retrained_and_replaced(built, tmp_path):
    with Journal.open(journal_path_for(built), readonly=True) as j:
        real = {(r.record.function, r.record.seed): r.record.to_dict() for r in j.results()}
    mark = next(k for k, r in sorted(real.items()) if r["status"] == "ok")
    out = tmp_path / "tiny"
    original = _write_jsonl(built, journal_dir_for(out), mark)
    report = extend_build(tiny_recipe(), out, contenders=False, jobs=1, progress=False)
    assert report.relabelled == 1 and report.added_runs == 1
    data = (journal_dir_for(out) / "records.jsonl").read_bytes()
    assert data.startswith(original)  # append-only: every earlier record byte for byte
    legacy = LegacyJournal(journal_dir_for(out))
    legacy.load()
    counted = legacy.runs()[mark]
    assert counted["replaces"] == {"status": "diverged", "error": OLD_EVAL_LOSS_ERROR, "rule": "eval-loss"}
    # retrained by the same code, the run is its real self again: every field equal to the real record
    assert all(_same(counted[f], real[mark][f]) for f in FIELDS)
    with convert_jsonl(journal_dir_for(out), tmp_path / "converted.sqlite") as j:
        converted = {(r.record.function, r.record.seed): r.record for r in j.results()}
    assert converted[mark].status == "ok" and len(converted) == len(real)
    table = build_table(tiny_recipe(), out, functions=FUNCTIONS, snapshot=True, name="tiny")
    row = table.runs[(table.runs.function == mark[0]) & (table.runs.seed == mark[1])].iloc[0]
    assert row["status"] == "ok" and row["val_accuracy"] == real[mark]["val_accuracy"]


def test_contender_criterion_is_any_paper_seed_at_the_top_five_percent_threshold():
    rng = np.random.default_rng(0)
    runs, rows = {}, []
    for i in range(60):
        for s in range(3):
            st = "diverged" if (i % 17 == 0 and s == 1) else "ok"
            acc = float(np.round(rng.uniform(0.1, 0.95), 3))
            runs[(f"f{i}", s)] = {"val_accuracy": acc, "status": st}
            rows.append({"function": f"f{i}", "seed": s, "val_accuracy": acc, "status": st})
    top, disagree, _ = contender_functions(runs, [0, 1, 2])
    assert set(top) | set(disagree) == _brute_contenders(pd.DataFrame(rows), 0.05)


class _Logits(torch.nn.Module):
    """Logits with NaN (rows with x > 1), +inf at the target (x < -1) or -inf elsewhere (else) in some rows."""

    def forward(self, x):
        out = torch.stack([x[:, 0], -x[:, 0], torch.zeros_like(x[:, 0])], dim=1)
        out = torch.where((x[:, 0] > 1)[:, None], torch.full_like(out, float("nan")), out)
        out[:, 2] = torch.where(x[:, 0] < -1, torch.tensor(float("inf")), torch.tensor(float("-inf")))
        return out


def test_a_row_whose_largest_logit_is_not_finite_is_a_wrong_prediction():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 1, generator=g) * 1.5
    y = torch.randint(0, 3, (3000,), generator=g)
    acc, loss = _evaluate(_Logits(), _Split(x, y, True), None, None, None)
    logits = _Logits()(x)
    expected = 0
    for row, target in zip(logits.tolist(), y.tolist()):
        if all(math.isfinite(v) or v == -math.inf for v in row):  # largest logit finite
            expected += int(max(range(3), key=lambda k: row[k]) == target)
    assert acc == expected / 3000 and not math.isfinite(loss)
