"""Baselines come first, also after a resume: no surrogate pick starts while a baseline has no result.

The state a SIGKILLed driver leaves (seven baselines evaluated, ``tanh(x)`` claimed by the dead session) is made for
real: session 1 evaluates seven baselines, then the journal API claims the eighth for that session. Session 2 resumes
with two workers. The network is a user's ``model_fn`` that synchronises through files: while the gate is armed, a
baseline's training holds until some surrogate pick has started training (at most ``HOLD_S`` seconds), and a pick
records which results the journal held when it started. The driver that filled its free worker with a pick while the
resumed baseline was in flight is caught deterministically (the pick starts, sees 7 baseline results, releases the
baseline); the fixed driver never starts a pick before the 8th result, so the hold just runs out.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from torch import nn

from act_bench.engine import Job, JobKind
from act_bench.engine import Journal as LiveJournal
from act_bench.live import LiveSearch
from act_bench.space import BASELINE_FUNCTIONS, ActivationFunction
from data_builders.recipes import get_recipe

pytestmark = pytest.mark.slow

HOLD_S = 15.0
_GATE = "ACT_BENCH_TEST_RESUME_GATE"
_JOURNAL = "ACT_BENCH_TEST_RESUME_JOURNAL"


def gated_mlp(activation) -> nn.Module:
    """A small MNIST-1D network whose construction is the synchronisation point (runs in the worker processes)."""
    module = activation()
    gate = Path(os.environ[_GATE])
    if isinstance(module, ActivationFunction) and (gate / "armed").exists():
        name = str(module.expr)
        if name in BASELINE_FUNCTIONS:
            deadline = time.monotonic() + HOLD_S
            while not (gate / "pick-started").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        else:
            record = gate / f"pick-{len(list(gate.glob('pick-*.json')))}.json"
            with LiveJournal.open(os.environ[_JOURNAL], readonly=True) as j:
                seen = [r.function for r in j.results()]
            record.write_text(json.dumps({"function": name, "results_seen": seen}))
            (gate / "pick-started").touch()
    return nn.Sequential(nn.Flatten(), nn.Linear(40, 16), module, nn.Linear(16, 10))


def _search(journal: Path, workers: int) -> LiveSearch:
    recipe = get_recipe("act-bench-mnist1d").with_overrides(
        epochs=1, task_args={"num_samples": 600, "val_size": 100}, fim_batch_size=32)
    return LiveSearch(recipe=recipe, journal=journal, spaces=["unary(x)"], searcher="random", seed=0, fim_warmup=8,
                      background_features=False, workers=workers, model_fn=gated_mlp, progress=False)


def test_resumed_baseline_is_evaluated_before_any_surrogate_pick(tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    gate.mkdir()
    journal = tmp_path / "resume.sqlite"
    monkeypatch.setenv(_GATE, str(gate))
    monkeypatch.setenv(_JOURNAL, str(journal))

    first = _search(journal, workers=1).run(budget=7)  # the gate is not armed: plain training
    assert first.evaluated == 7
    with LiveJournal.open(journal) as j:
        assert [r.function for r in j.results()] == list(BASELINE_FUNCTIONS[:7])
        names = j.candidates()[0]
        dead = j.sessions()[-1]["id"]
        j.claim(Job(JobKind.RUN, names.index("tanh(x)"), "tanh(x)", 0), dead, 0)  # in flight at the kill
        assert [c.job.function for c in j.claims()] == ["tanh(x)"]

    (gate / "armed").touch()
    second = _search(journal, workers=2).run(budget=12)
    assert second.evaluated == 12 and second.stopped == "budget"
    with LiveJournal.open(journal, readonly=True) as j:
        results = j.results()
        sessions = [s["id"] for s in j.sessions()]
    assert [r.function for r in results[:8]] == list(BASELINE_FUNCTIONS)
    assert results[7].session == sessions[-1]  # the released claim was trained by the resumed session
    picks = [json.loads(p.read_text()) for p in sorted(gate.glob("pick-*.json"))]
    assert len(picks) >= 4 and all(p["function"] not in BASELINE_FUNCTIONS for p in picks)
    for p in picks:  # every pick started after all eight baselines had their final result
        assert set(BASELINE_FUNCTIONS) <= set(p["results_seen"]), p
