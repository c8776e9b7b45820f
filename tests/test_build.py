"""Builder: training runs, journal, kill + resume, Ray executor, medians (end-to-end on a tiny MNIST-1D recipe)."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _procs import cli_process, live_session_members, members_after, wait_for
from _recipes import save_tiny_recipe

from act_bench.engine import Journal
from act_bench.tables import CURVE_COLUMNS as CURVES
from act_bench.tables import load_table
from act_bench.utils import hardware
from data_builders.build import journal_path_for, plan_functions, train_run
from data_builders.recipes import get_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_recipe_file(tmp_path_factory) -> Path:
    return save_tiny_recipe(tmp_path_factory.mktemp("recipe"))


def _journaled_runs(path: Path) -> int:
    """Runs in a build's SQLite journal, read without writing (0 before it exists)."""
    if not path.exists():
        return 0
    with Journal.open(path, readonly=True) as j:
        return j.n_results()


def test_training_is_deterministic_and_restores_global_rng(tiny_recipe_file):
    import torch

    recipe = get_recipe(str(tiny_recipe_file))
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    a = train_run(recipe, "swish(x)", seed=3)
    assert torch.equal(torch.get_rng_state(), before)
    b = train_run(recipe, "swish(x)", seed=3)
    c = train_run(recipe, "swish(x)", seed=4)
    assert a.status == "ok" and a.val_accuracy == b.val_accuracy and a.test_loss == b.test_loss
    assert (a.val_loss, a.train_loss) != (c.val_loss, c.train_loss)
    timing = ("runtime", "curve_seconds")  # wall-clock fields; every other field is identical
    assert {k: v for k, v in a.to_dict().items() if k not in timing} == \
        {k: v for k, v in b.to_dict().items() if k not in timing}
    d = train_run(recipe, "exp(exp(exp(x)))", seed=0)
    assert d.status == "diverged" and d.val_accuracy == pytest.approx(0.1) and d.error


def test_two_epoch_curves_match_the_final_metrics_and_an_independent_evaluation(tiny_recipe_file):
    import torch
    import torch.nn.functional as F

    from data_builders.models import create_model
    from data_builders.tasks import create_task

    recipe = get_recipe(str(tiny_recipe_file)).with_overrides(epochs=2)
    r = train_run(recipe, "tanh(x)", seed=1)
    assert r.status == "ok" and r.epochs == 2
    assert all(len(getattr(r, c)) == 2 for c in CURVES)
    # evaluation at the end: the last epoch's validation point is the run's validation metric
    assert (r.curve_val_accuracy[-1], r.curve_val_loss[-1]) == (r.val_accuracy, r.val_loss)
    assert 0 < r.curve_seconds[0] < r.curve_seconds[1] <= r.runtime
    # the validation loss recomputed in one dense pass (float64) over the split; the accuracy exactly
    task = create_task(recipe.task, **recipe.task_args)
    val, train = task.load("val"), task.load("train")
    trained = []  # the same run again with the recipe's model built by a model_fn, to keep the trained network
    r2 = train_run(recipe, "tanh(x)", seed=1,
                   model_fn=lambda act: trained.append(create_model(recipe.model, act)) or trained[-1])
    assert r2.curve_val_loss == r.curve_val_loss
    model = trained[0].eval()
    x = (val.x - torch.tensor(train.mean).view(1, -1, 1)) / torch.tensor(train.std).view(1, -1, 1)
    with torch.no_grad():
        logits = model(x).double()
    assert r.val_accuracy == (logits.argmax(1) == val.y).double().mean().item()
    assert r.val_loss == pytest.approx(F.cross_entropy(logits, val.y).item(), rel=1e-5)


def test_diverged_run_keeps_its_curve_and_names_the_step_a_per_step_check_names(monkeypatch):
    # reference: the same run checked after every step (DIVERGENCE_CHECK_STEPS = 1, the old loop's behaviour)
    import data_builders._train as train_module

    recipe = get_recipe("act-bench-mnist1d")
    r = train_run(recipe, "div(arcsinh(x),sinh(x))", seed=1)  # diverges after some finished epochs, mid-epoch
    monkeypatch.setattr(train_module, "DIVERGENCE_CHECK_STEPS", 1)
    ref = train_run(recipe, "div(arcsinh(x),sinh(x))", seed=1)
    found = re.fullmatch(r"non-finite training loss at epoch (\d+), step (\d+)", ref.error or "")
    assert ref.status == "diverged" and found, ref.error
    finished = int(found.group(1)) - 1
    assert finished >= 1  # the run finished at least one epoch before diverging: its curve is not empty
    assert (r.status, r.error, r.epochs) == (ref.status, ref.error, ref.epochs) == ("diverged", ref.error, finished)
    assert all(len(getattr(r, c)) == finished for c in CURVES)  # the epochs finished before the divergence
    assert [getattr(r, c) for c in CURVES if c != "curve_seconds"] == \
        [getattr(ref, c) for c in CURVES if c != "curve_seconds"]
    assert r.val_accuracy == pytest.approx(0.1) and 0 <= r.curve_val_accuracy[0] <= 1


def test_plan_puts_baselines_first_and_dedups():
    plan = plan_functions(limit=12)
    assert plan.functions[:8] == ["elu(x)", "relu(x)", "selu(x)", "sigmoid(x)", "softplus(x)", "softsign(x)",
                                  "swish(x)", "tanh(x)"]
    assert "max(identity(x),zero(x))" in plan.equivalents["relu(x)"]
    full = plan_functions()
    assert len(full.functions) == len(set(full.functions))


def test_kill_and_resume_gives_complete_table(tmp_path, tiny_recipe_file):
    out = tmp_path / "table"
    args = ["build", "--recipe", str(tiny_recipe_file), "--out", str(out), "--limit", "6", "--train-seeds", "2",
            "--jobs", "2", "--json"]
    proc = cli_process(*args)
    journal_file = journal_path_for(out)
    wait_for(lambda: _journaled_runs(journal_file) >= 3, proc)
    os.kill(proc.pid, signal.SIGSTOP)  # freeze the driver at once: the tiny build would finish while we look around
    assert len(live_session_members(proc.pid)) >= 3  # the driver and its two workers (own session: the test's)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its workers must not train on as orphans
    proc.wait()
    assert members_after(proc.pid, 10.0) == [], "processes of the killed build are still running after 10 s"
    assert not out.exists() or not (out / "functions.parquet").exists()
    with Journal.open(journal_file, readonly=True) as j:
        runs_before = {(r.function, r.seed): r.record for r in j.results()}
    assert 3 <= len(runs_before) < 12

    again = cli_process(*args)  # same command without --resume: refused, journal untouched
    _, err = again.communicate(timeout=120)
    assert again.returncode == 2 and "--resume" in err

    resumed = cli_process(*args, "--resume")
    stdout, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    summary = json.loads(stdout)
    assert summary["functions"] == 6 and summary["runs"] == 12 and summary["complete"] is True

    with Journal.open(journal_file, readonly=True) as j:
        results, features, claims = j.results(), j.features(), j.claims()
    run_keys = [(r.function, r.seed) for r in results]
    assert len(run_keys) == len(set(run_keys)) == 12, "a run is missing or was done twice"
    assert claims == []  # the claims of the runs in flight at the kill were released and the runs redone
    after = {(r.function, r.seed): r.record for r in results}
    for key, rec in runs_before.items():  # finished runs were kept, not redone
        assert repr(after[key]) == repr(rec)
    assert len(features) == 6

    table = load_table(out)
    functions, runs = table.to_pandas("functions"), table.to_pandas("runs")
    assert len(functions) == 6 and len(runs) == 12
    for _, row in functions.iterrows():
        mine = runs[(runs.function == row.function) & (runs.status != "failed")]
        for metric in ("val_accuracy", "test_accuracy", "train_loss"):
            assert row[metric] == pytest.approx(float(np.median(mine[metric])), nan_ok=True)
        assert len(row.outputs) == 1000
    build = table.metadata["build"]  # two sessions (killed, resumed); effort = the journal's own timings
    assert build["sessions"] == 2 and build["workers"] == 2
    assert build["hardware"] == hardware()  # both sessions ran here
    spent = sum(r.runtime for r in results) + sum(f["seconds"] for f in features.values())
    assert build["run_core_seconds"] == pytest.approx(spent, abs=0.1)
    assert 0 < build["wall_time_s"]


def test_ray_executor_builds_the_same_table(tmp_path, tiny_recipe_file):
    common = ["--recipe", str(tiny_recipe_file), "--limit", "3", "--train-seeds", "2", "--json"]
    local = cli_process("build", "--out", str(tmp_path / "local"), "--jobs", "1", *common)
    _out, err = local.communicate(timeout=600)
    assert local.returncode == 0, err
    ray = cli_process("build", "--out", str(tmp_path / "ray"), "--executor", "ray", "--jobs", "2", *common)
    _out, err = ray.communicate(timeout=900)
    assert ray.returncode == 0, err
    a = load_table(tmp_path / "local").to_pandas("functions").drop(columns=["runtime"])
    b = load_table(tmp_path / "ray").to_pandas("functions").drop(columns=["runtime"])
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    timing = ["runtime", "curve_seconds"]
    ra = load_table(tmp_path / "local").to_pandas("runs").drop(columns=timing)
    rb = load_table(tmp_path / "ray").to_pandas("runs").drop(columns=timing)
    assert all(len(v) == 1 for v in ra["curve_val_accuracy"])  # 1-epoch recipe: one curve point per run
    key = ["function", "seed"]
    pd.testing.assert_frame_equal(ra.sort_values(key).reset_index(drop=True), rb.sort_values(key).reset_index(drop=True))


def test_resume_with_other_recipe_is_refused(tmp_path, tiny_recipe_file):
    out = tmp_path / "t"
    first = cli_process("build", "--recipe", str(tiny_recipe_file), "--out", str(out), "--limit", "1", "--train-seeds", "1")
    assert first.wait(timeout=300) == 0
    other = cli_process("build", "--recipe", str(tiny_recipe_file), "--out", str(out), "--limit", "1", "--train-seeds", "1",
                 "--epochs", "2", "--resume")
    _, err = other.communicate(timeout=120)
    assert other.returncode == 2 and "different recipe" in err and "epochs" in err


def test_test_build_is_named_after_its_folder_and_embeds_the_seeds_it_used(tmp_path, tiny_recipe_file):
    out = tmp_path / "my-test-build"
    proc = cli_process("build", "--recipe", str(tiny_recipe_file), "--out", str(out), "--limit", "1", "--train-seeds", "1")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["name"] == "my-test-build" != get_recipe("act-bench-mnist1d").name
    assert meta["recipe"]["seeds"] == 1 == len(meta["build"]["seeds"])
    card = (out / "README.md").read_text()
    assert "# my-test-build" in card and "seeds: 1" in card and "](accuracy_histogram.png)" in card
    assert (out / "accuracy_histogram.png").is_file()
    # progress reaches stderr although it is a pipe, and ends with its final count (1 run + 1 FIM job)
    assert "2/2 [" in err
    bad = cli_process("build", "--recipe", str(tiny_recipe_file), "--out", str(tmp_path / "o"), "--name", "../x")
    _, err = bad.communicate(timeout=120)
    assert bad.returncode == 2 and "parameter name of build_table" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("optimizer, clip", [({"momentum": 0.9, "weight_decay": 5e-4}, 1.0),
                                             ({"momentum": 0.9, "nesterov": True, "weight_decay": 0.0}, 0.05),
                                             ({"momentum": 0.0, "weight_decay": 1e-3}, None)])
def test_flat_sgd_step_equals_torch_sgd_with_clipping_bit_for_bit(optimizer, clip):
    import torch
    import torch.nn.functional as F

    from data_builders._train import _FlatSGD
    from data_builders.models import create_model

    recipe = get_recipe("act-bench-mnist1d").with_overrides(optimizer=optimizer, grad_clip_norm=clip)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 1, 40, generator=g), torch.randint(0, 10, (16,), generator=g)
    torch.manual_seed(0)
    ours, ref = create_model("mnist1d-cnn", "tanh(x)"), create_model("mnist1d-cnn", "tanh(x)")
    ref.load_state_dict(ours.state_dict())
    flat = _FlatSGD(list(ours.parameters()), recipe)
    opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=recipe.optimizer.momentum,
                          nesterov=recipe.optimizer.nesterov, weight_decay=recipe.optimizer.weight_decay)
    for k in range(5):
        lr = 0.1 / (k + 1)
        flat.zero_grad()
        F.cross_entropy(ours(x), y).backward()
        flat.step(lr)
        opt.zero_grad()
        F.cross_entropy(ref(x), y).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(ref.parameters(), clip)
        opt.param_groups[0]["lr"] = lr
        opt.step()
    for a, b in zip(ours.parameters(), ref.parameters()):
        assert torch.equal(a, b)
    assert flat.flat.data_ptr() == next(ours.parameters()).data_ptr()  # parameters are views of the buffer
