"""``docs/data/status_changes.json`` (written by ``docs/scripts/status_changes.py``) agrees with the shipped data: the
changed functions of the CNN rebuild recomputed from its journal and the snapshot of the table before the
operator-gradient fix, the classification of a few of them by the gradient audit, the fast-kernel statuses of the
sampled runs (the journal's records), the rates from the stored runs, and one run whose status flips between the
fast and torch's kernels retrained both ways (two runs)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "scripts"))

import status_changes as sc

pytestmark = pytest.mark.skipif(not sc.OUT.exists() or not sc.JOURNAL.exists(), reason="no stored measurement")


@pytest.fixture(scope="module")
def data() -> dict:
    return json.loads(sc.OUT.read_text())


@pytest.fixture(scope="module")
def journal() -> tuple[dict, dict]:
    return sc.journal_runs()


def test_changed_functions_recomputed_from_the_journal(data, journal):
    first, _ = journal
    old = json.loads(sc.OLD.read_text())
    assert data["before"]["digest"] == old["digest"]
    moved = sc.changed(old["status"], sc.statuses(first))
    assert data["changed"] == len(moved) == len(data["functions"])
    assert {f: v["change"] for f, v in data["functions"].items()} == moved
    assert data["directions"] == dict(Counter(moved.values()))
    assert data["shared_functions"] == sum(f in sc.statuses(first) for f in old["status"])


def test_the_status_rule_is_the_tables(journal):
    """The table's ``status`` column is the paper's rule over seeds 0-2: of each run's first record (the table as
    rebuilt) or, once rebuilt from the extended journal, of its final record."""
    from act_bench.tables import load_table

    t = load_table(sc.TABLE)
    table = dict(zip(map(str, t.functions["function"]), t.functions["status"].astype(str)))
    first, final = journal
    assert table in (sc.statuses(first), sc.statuses(final))


def test_counts_follow_from_the_classification(data):
    fast = set(data["fast_kernel_operators"])
    assert sorted(fast) == sorted(sc.fast_kernel_operators())
    for key, fs in [("all", list(data["functions"])),
                    *[(d, [f for f, v in data["functions"].items() if v["change"] == d]) for d in data["directions"]]]:
        c = data["counts"][key]
        ops = [set(data["functions"][f]["operators"]) for f in fs]
        assert c["functions"] == len(fs)
        for k in ("affected", "affected_plain", "nonfinite", "nonfinite_plain"):
            assert c[k] == sum(data["functions"][f][k] for f in fs)
        assert c["with_div_or_reciprocal"] == sum(bool(s & {"div", "reciprocal"}) for s in ops)
        assert c["with_fast_kernel_operator"] == sum(bool(s & fast) for s in ops)
    for f, v in data["functions"].items():
        assert v["operators"] == sorted(sc.operators(f))
        assert v["affected"] <= v["nonfinite"] and v["affected_plain"] <= v["affected"]


def test_the_gradient_audit_classification_of_a_few_functions(data):
    """Recomputed with the audit's functions for two affected and two unaffected functions of each direction."""
    x, plain = sc.audit.wide_inputs()
    rng = np.random.default_rng(0)
    for d in data["directions"]:
        for affected in (True, False):
            pool = sorted(f for f, v in data["functions"].items() if v["change"] == d and v["affected"] == affected)
            for f in (pool[i] for i in rng.permutation(len(pool))[:2]):
                stored = {k: v for k, v in data["functions"][f].items() if k not in ("change", "operators")}
                assert sc.gradient_fix(f, x, plain) == stored, f


def test_sampled_runs_and_rates(data, journal):
    _, final = journal
    runs = {(r["function"], r["seed"]): r for r in data["runs"]}
    for (f, s), r in runs.items():
        assert final[(f, s)]["status"] == r["fast"]  # the fast-kernel result is the journal's
        assert final[(f, s)]["val_accuracy"] == r["fast_val"]
    for name, sample in data["samples"].items():
        assert len(sample["functions"]) == data["chaos"][name]["runs"]["functions"]
        flipped = sum(runs[(f, s)]["fast"] != runs[(f, s)]["exact"] for f in sample["functions"] for s in sc.PAPER_SEEDS)
        assert data["chaos"][name]["runs"]["flipped"] == flipped
        assert data["chaos"][name]["runs"]["runs"] == 3 * len(sample["functions"])
        r = data["chaos"][name]["runs"]
        if r["runs"]:
            assert r["lo"] <= r["rate"] <= r["hi"]
    for c in data["fast_check"]:
        assert c["equal"], c


def test_render(data):
    text = sc.render(data)
    assert f"{data['changed']:,} of {data['shared_functions']:,}" in text
    assert sc.render(json.loads(json.dumps(data))) == text


@pytest.mark.slow
def test_a_flipped_run_retrains_both_ways(data):
    """The quickest stored run whose status differs between the kernels: the fast kernels give its journal record,
    torch's kernels the stored other status (two training runs)."""
    flipped = [r for r in data["runs"] if r["fast"] != r["exact"]]
    if not flipped:
        pytest.skip("no flipped run stored")
    r = min(flipped, key=lambda r: r["seconds"])
    fast, exact = sc.train(r["function"], r["seed"], True), sc.train(r["function"], r["seed"], False)
    assert (fast["status"], fast["val_accuracy"]) == (r["fast"], r["fast_val"])
    assert (exact["status"], exact["val_accuracy"]) == (r["exact"], r["exact_val"])
