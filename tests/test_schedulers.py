"""Multi-fidelity replay (evaluation._schedulers): hand-computed successive-halving and ASHA cases, a brute-force
ASHA reference, worker-time accounting against a direct event simulation, and equality with the plain replay."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from act_bench.errors import InvalidInputError
from act_bench.search import Searcher
from evaluation import replay
from evaluation._curves import DEFAULT_CURVES, learning_curves
from evaluation._schedulers import rung_epochs
from evaluation._synthetic import synthetic_table


class _Fixed(Searcher):
    """Proposes rows in a fixed order (no initial functions)."""

    name = "fixed"

    def __init__(self, candidates, *, order, seed=0):
        super().__init__(candidates, seed=seed, initial=())
        self.order = list(order)
        self.told: list[tuple[int, float, float]] = []

    def _propose(self, n, allowed):
        return [r for r in self.order if allowed[r]][:n]

    def tell(self, suggestion, result):
        self.told.append((suggestion.index, result.objective, result.metrics["epochs"]))
        super().tell(suggestion, result)


def _hand_table(epoch_values: list[list[float]], seconds_per_epoch: float = 1.0) -> pd.DataFrame:
    """One function per row with the given per-epoch validation accuracies (the last is the table value)."""
    n, e = len(epoch_values), len(epoch_values[0])
    names = [f"f{i}" for i in range(n)]
    vals = [np.asarray(v, dtype=np.float64) for v in epoch_values]
    return pd.DataFrame({
        "function": names, "equivalents": [[x] for x in names], "outputs": list(np.eye(n, dtype=np.float32)),
        "val_accuracy": [v[-1] for v in vals], "test_accuracy": [v[-1] - 0.01 for v in vals],
        "runtime": np.full(n, seconds_per_epoch * e),
        DEFAULT_CURVES.val_accuracy: vals,
        DEFAULT_CURVES.seconds: [seconds_per_epoch * np.arange(1, e + 1, dtype=np.float64) for _ in range(n)]})


def _fixed_factory(order, keep=None):
    def factory(candidates, seed):
        s = _Fixed(candidates, order=order, seed=seed)
        if keep is not None:
            keep.append(s)
        return s
    return factory


# 9 functions, 9 epochs: rungs 1, 3, 9 with eta 3. Epoch-1 values, epoch-3 values, final values.
_E1 = [0.5, 0.9, 0.1, 0.8, 0.3, 0.7, 0.2, 0.6, 0.4]
_E3 = [0.55, 0.50, 0.15, 0.95, 0.35, 0.60, 0.25, 0.65, 0.45]
_FINAL = [0.6, 0.7, 0.2, 0.97, 0.4, 0.9, 0.3, 0.8, 0.5]


def _curves9():
    out = []
    for a, b, c in zip(_E1, _E3, _FINAL):
        out.append([a, (a + b) / 2, b] + list(np.linspace(b, c, 7)[1:]))
    return out


def test_rungs():
    assert rung_epochs(9, 1, 3) == [1, 3, 9]
    assert rung_epochs(6, 1, 2) == [1, 2, 4, 6]
    assert rung_epochs(1, 1, 3) == [1]


@pytest.mark.parametrize("workers, expected_seconds", [(1, 21.0), (3, 11.0)])
def test_successive_halving_on_a_hand_case(workers, expected_seconds):
    df = _hand_table(_curves9())
    keep: list = []
    res = replay(df, _fixed_factory(range(9), keep), scheduler="sh", budget=9, seeds=1, workers=workers).result()
    # brute force: top 9 // 3 = 3 after epoch 1, then top 1 of those after epoch 3
    top3 = sorted(range(9), key=lambda i: -_E1[i])[:3]
    top1 = sorted(top3, key=lambda i: -_E3[i])[:1]
    assert top3 == [1, 3, 5] and top1 == [3]
    epochs = dict(zip(res.rows[0].tolist(), res.epochs[0].tolist()))
    assert epochs == {i: (9 if i in top1 else 3 if i in top3 else 1) for i in range(9)}
    # 1 s per epoch; one worker: 9 x 1 + 3 x 2 + 1 x 6 = 21 s; three workers: 3 + 2 + 6 = 11 s (rung barriers)
    assert res.simulated_seconds[0] == expected_seconds
    assert np.nanmax(res.time[0]) == expected_seconds
    # only the completed function carries a full-fidelity objective
    finite = np.isfinite(res.objective[0])
    assert res.rows[0][finite].tolist() == [3] and res.objective[0][finite][0] == _FINAL[3]
    # every function told to the searcher once, with its value at the epoch it stopped
    told = {r: (v, e) for r, v, e in keep[0].told}
    assert len(keep[0].told) == 9
    assert told[0] == (_E1[0], 1.0) and told[1] == (_E3[1], 3.0) and told[3] == (_FINAL[3], 9.0)


def test_asha_promotion_rule_on_a_hand_case():
    # proposal order 0, 1, 2, 3 on one worker; rungs 1, 3, 9
    e1 = [0.5, 0.6, 0.4, 0.7]
    e3 = [0.6, 0.55, 0.45, 0.8]
    curves = [[a, (a + b) / 2, b] + [b] * 6 for a, b in zip(e1, e3)]
    df = _hand_table(curves)
    res = replay(df, _fixed_factory(range(4)), scheduler="asha", budget=4, seeds=1).result()
    # trial 0: alone at rungs 1 and 3 -> continues to 9.  trial 1: rung 1 best of 2 (top ceil(2/3)=1) continues;
    # rung 3 second of 2 -> stops at 3.  trial 2: third of 3 at rung 1 (top 1) -> stops at 1.  trial 3: best of 4
    # at rung 1 (top 2) continues; best of 3 at rung 3 (top 1) continues -> 9.
    assert res.rows[0].tolist() == [0, 1, 2, 3]
    assert res.epochs[0].tolist() == [9, 3, 1, 9]
    assert res.simulated_seconds[0] == 9 + 3 + 1 + 9
    assert res.time[0].tolist() == [9.0, 12.0, 13.0, 22.0]


def _asha_reference(order, values, eta, rungs):
    """Sequential (one worker) ASHA written as a plain loop: epochs trained per proposal, in order."""
    recorded = {r: [] for r in rungs[:-1]}
    out = []
    for row in order:
        ep = rungs[-1]
        for r in rungs[:-1]:
            v = values[row][r - 1]
            recorded[r].append(v)
            better = sum(x > v for x in recorded[r])
            if not (math.isfinite(v) and better < math.ceil(len(recorded[r]) / eta)):
                ep = r
                break
        out.append(ep)
    return out


def test_asha_matches_a_brute_force_reference_on_one_worker():
    df = synthetic_table(120, seed=3, epochs=9)
    res = replay(df, "random", scheduler="asha", budget=60, seeds=[4], eta=3).result()
    curves = learning_curves(df)
    order = res.rows[0][np.argsort(res.trial_ids[0])].tolist()
    ref = _asha_reference(order, curves.values, 3, [1, 3, 9])
    got = dict(zip(res.rows[0].tolist(), res.epochs[0].tolist()))
    assert [got[r] for r in order] == ref
    assert 0 < sum(e == 9 for e in ref) < len(ref)  # the case stops some runs early and completes others
    # one worker: the clock is the sum of the recorded seconds of the epochs trained
    assert res.simulated_seconds[0] == pytest.approx(sum(curves.seconds[r, e - 1] for r, e in zip(order, ref)))


@pytest.mark.parametrize("scheduler", ["asha", "sh", "none"])
def test_worker_time_accounting_matches_an_event_simulation(scheduler):
    df = synthetic_table(150, seed=5, epochs=9)
    curves = learning_curves(df)
    workers = 4
    res = replay(df, "random", scheduler=scheduler, budget=45, seeds=[1], workers=workers).result()
    ok = res.rows[0] >= 0
    rows, ep, start, end = res.rows[0][ok], res.epochs[0][ok], res.start[0][ok], res.time[0][ok]
    busy = np.array([curves.seconds[r, e - 1] for r, e in zip(rows, ep)])
    if scheduler != "sh":
        # a run occupies one worker continuously for exactly its recorded time ...
        np.testing.assert_allclose(end - start, busy, rtol=0, atol=1e-9)
        # ... and a direct event simulation (list scheduling in proposal order, a worker is free again when its
        # run's time has elapsed) reproduces every start time
        free = [0.0] * workers
        ref_start = np.empty(len(rows))
        for i in np.argsort(res.trial_ids[0][ok]):
            w = int(np.argmin(free))
            ref_start[i] = free[w]
            free[w] += busy[i]
        np.testing.assert_allclose(start, ref_start, rtol=0, atol=1e-9)
        assert res.simulated_seconds[0] == pytest.approx(max(free))
    else:
        # synchronous: total busy time fits in workers x clock, and the clock is at least the critical path
        assert busy.sum() <= workers * res.simulated_seconds[0] + 1e-9
        assert res.simulated_seconds[0] >= busy.max()


@pytest.mark.parametrize("workers", [1, 3])
def test_scheduler_none_equals_the_plain_replay(workers):
    df = synthetic_table(80, seed=1, epochs=6)
    for algo in ("random", "evolution"):
        plain = replay(df, algo, budget=25, seeds=[0, 2], workers=workers).result()
        mf = replay(df, algo, scheduler="none", budget=25, seeds=[0, 2], workers=workers).result()
        np.testing.assert_array_equal(mf.rows, plain.rows)
        for a in ("objective", "test", "time"):
            np.testing.assert_array_equal(getattr(mf, a), getattr(plain, a))
        assert (mf.epochs == 6).all()


def test_time_budget_cuts_the_plain_replay_at_that_time():
    df = synthetic_table(80, seed=2, epochs=6)
    plain = replay(df, "random", budget=60, seeds=[3], workers=2).result()
    budget = float(np.sort(plain.time[0])[20]) + 1e-6
    mf = replay(df, "random", scheduler="none", time_budget=budget, seeds=[3], workers=2).result()
    keep = plain.time[0] <= budget
    n = int(keep.sum())
    np.testing.assert_array_equal(mf.rows[0][:n], plain.rows[0][keep])
    assert (mf.rows[0][n:] == -1).all() and mf.simulated_seconds[0] <= budget
    asha = replay(df, "random", scheduler="asha", time_budget=budget, seeds=[3], workers=2).result()
    assert np.nanmax(asha.time[0]) <= budget
    # at equal simulated time ASHA looks at more functions than the full-fidelity replay
    assert int((asha.rows[0] >= 0).sum()) > n


def test_curves_are_medians_over_the_runs():
    df = synthetic_table(12, seed=0)
    names = list(df["function"])
    gen = np.random.default_rng(0)
    runs = []
    for fn in names:
        for seed in range(3):
            runs.append({"function": fn, "seed": seed, DEFAULT_CURVES.val_accuracy: gen.random(4).tolist(),
                         DEFAULT_CURVES.seconds: np.cumsum(gen.random(4)).tolist()})
    runs = pd.DataFrame(runs)
    table = SimpleNamespace(functions=df, runs=runs, metadata={"fim_layout": []})
    curves = learning_curves(table)
    for i, fn in enumerate(names):
        mine = runs[runs["function"] == fn]
        v = np.median(np.stack(mine[DEFAULT_CURVES.val_accuracy].tolist()), axis=0)
        s = np.median(np.stack(mine[DEFAULT_CURVES.seconds].tolist()), axis=0)
        np.testing.assert_allclose(curves.values[i, :-1], v[:-1])
        rt = float(df["runtime"].iloc[i])
        np.testing.assert_allclose(curves.seconds[i, :-1], np.maximum.accumulate(np.clip(s[:-1], 0, rt)))
        assert curves.seconds[i, -1] == rt


def test_bad_input_is_refused_with_one_clear_message():
    df = synthetic_table(30, seed=0)
    with pytest.raises(InvalidInputError, match="records no learning curves"):
        replay(df, "random", scheduler="asha", budget=5, seeds=1)
    with pytest.raises(InvalidInputError, match="exactly one of budget and time_budget"):
        replay(df, "random", scheduler="none", budget=5, time_budget=10.0, seeds=1)
    with pytest.raises(InvalidInputError, match="scheduler of replay must be one of none, sh, asha"):
        replay(df, "random", scheduler="hyperband", budget=5, seeds=1)
