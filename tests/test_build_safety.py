"""Builder safety: a 100-class build's FIM layout, no orphan workers, one build per journal, early validation."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import datasets
import numpy as np
import pytest
from _procs import cli_process, wait_for
from _recipes import tiny_recipe as _tiny_recipe
from PIL import Image

from act_bench.engine import Journal
from act_bench.errors import ActBenchError, InvalidInputError, SchemaMismatchError
from act_bench.tables import load_table
from data_builders.build import LEGACY_FILE, LegacyJournal, build_table, journal_dir_for, journal_path_for
from data_builders.models import create_model
from data_builders.recipes import get_recipe, save_recipe

pytestmark = pytest.mark.slow


def _message_lines(err: str) -> list[str]:
    """stderr without runpy's warning about ``python -m act_bench.cli._main`` (a quirk of this way of starting)."""
    return [line for line in err.strip().splitlines() if not line.startswith("<frozen runpy>")]


@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory):
    return _tiny_recipe()


def _save(recipe, folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    save_recipe(recipe, path)
    return path


@pytest.fixture(scope="module")
def cifar100_recipe_file(tmp_path_factory) -> Path:
    """The cifar100-all-cnn-c recipe, shrunk (16x16 images, one epoch) on a tiny local copy in the Hub's format."""
    root = tmp_path_factory.mktemp("c100")
    rng = np.random.default_rng(0)
    feats = datasets.Features({"img": datasets.Image(), "fine_label": datasets.ClassLabel(num_classes=100),
                               "coarse_label": datasets.ClassLabel(num_classes=20)})

    def split(n):
        imgs = [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(n)]
        return datasets.Dataset.from_dict({"img": imgs, "fine_label": [i % 100 for i in range(n)],
                                           "coarse_label": [i % 20 for i in range(n)]}, features=feats)

    datasets.DatasetDict({"train": split(200), "test": split(20)}).save_to_disk(str(root / "data"))
    recipe = get_recipe("cifar100-all-cnn-c").with_overrides(
        epochs=1, batch_size=50, image_size=16, fim_batch_size=8, gpus_per_run=0,
        task_args={"path": str(root / "data"), "val_size": 100, "image_size": 16})
    path = root / "tiny-cifar100.yaml"
    save_recipe(recipe, path)
    return path


def test_100_class_build_records_the_layout_of_the_model_the_fim_job_measures(tmp_path, cifar100_recipe_file):
    out = tmp_path / "c100-table"
    proc = cli_process("build", "--recipe", str(cifar100_recipe_file), "--out", str(out), "--limit", "1", "--train-seeds", "1")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    table = load_table(out)
    layout = table.metadata["fim_layout"]
    with Journal.open(journal_path_for(out), readonly=True) as j:
        feats = list(j.features().values())
    assert len(feats) == 1 and feats[0]["fim_valid"], feats
    assert sum(e["bins"] for e in layout) == len(feats[0]["fim_cdf"])
    # independent reference: the last layer of a 100-class All-CNN-C maps 192 channels to 100 classes (+ biases)
    head = [m for m in create_model("all-cnn-c", "relu(x)", num_classes=100).modules()
            if getattr(m, "out_channels", None) == 100]
    assert len(head) == 1
    assert layout[-1]["weights"] == head[0].weight.numel() + head[0].bias.numel() == 192 * 100 + 100


def test_second_build_on_the_same_out_is_refused_naming_the_first(tmp_path, tiny_recipe):
    recipe = _save(tiny_recipe, tmp_path, "tiny")
    out = tmp_path / "table"
    args = ["build", "--recipe", str(recipe), "--out", str(out), "--limit", "2", "--train-seeds", "2", "--json"]
    first = cli_process(*args)
    records = journal_path_for(out)

    def one_run() -> bool:
        if not records.exists():
            return False
        with Journal.open(records, readonly=True) as j:
            return j.n_results() > 0

    wait_for(one_run, first)
    os.kill(first.pid, signal.SIGSTOP)  # the first build holds its lock but cannot finish meanwhile
    try:
        before = records.read_bytes()
        for extra in ([], ["--resume"]):  # a new build and a resume are both refused
            second = cli_process(*args, *extra)
            _, err = second.communicate(timeout=300)
            assert second.returncode == 2
            lines = _message_lines(err)
            assert len(lines) == 1 and "busy" in lines[0], err
            assert f"pid {first.pid} on host {socket.gethostname()}" in lines[0]
        assert records.read_bytes() == before  # the refused builds wrote nothing
    finally:
        os.kill(first.pid, signal.SIGCONT)
    stdout, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert json.loads(stdout)["runs"] == 4
    with Journal.open(records, readonly=True) as j:
        runs = [(r.function, r.seed) for r in j.results()]
    assert len(runs) == len(set(runs)) == 4
    assert not j.lock_path.exists()  # released


@pytest.mark.parametrize("overrides, expected", [
    ({"task": "no-such-task"}, "unknown task 'no-such-task'; valid tasks: "),
    ({"model": "no-such-model"}, "parameter name of create_model must be one of all-cnn-c, "),
    ({"task_args": {"num_samples": 1000, "bogus": 1}}, "task_args ['bogus', 'num_samples', 'val_size'] do not fit task 'mnist1d' ("),
    ({"model": "all-cnn-c"}, ("task 'mnist1d' gives inputs of shape (1, 40) but model 'all-cnn-c' takes inputs of "
                             "shape (3, 32, 32)")),
])
def test_a_recipe_that_cannot_run_is_refused_before_anything_is_written(tmp_path, tiny_recipe, overrides, expected):
    recipe = _save(tiny_recipe.with_overrides(**overrides), tmp_path, "bad")
    out = tmp_path / "table"
    proc = cli_process("build", "--recipe", str(recipe), "--out", str(out), "--limit", "1", "--train-seeds", "1")
    _, err = proc.communicate(timeout=300)
    lines = _message_lines(err)
    assert proc.returncode == 2 and len(lines) == 1, err
    assert f"recipe '{tiny_recipe.name}' cannot be built: {expected}" in lines[0]
    assert not out.exists() and not journal_dir_for(out).exists()


def test_build_that_stops_before_its_first_job_leaves_nothing_that_blocks_the_rerun(tmp_path, tiny_recipe):
    out = tmp_path / "table"
    with pytest.raises(ActBenchError, match="stopped before its first job finished; nothing was written"):
        build_table(tiny_recipe, out, limit=1, seeds=1, max_jobs=0, progress=False)
    assert not out.exists() and not journal_dir_for(out).exists()
    table = build_table(tiny_recipe, out, limit=1, seeds=1, progress=False)  # the identical build, no --resume
    assert len(table) == 1 and table.metadata["build"]["complete"] and table.metadata["build"]["sessions"] == 1


def test_a_corrupt_record_in_the_middle_of_a_journal_is_an_error_naming_its_line(tmp_path, tiny_recipe):
    recipe = _save(tiny_recipe, tmp_path, "tiny")
    out = tmp_path / "table"
    journal = LegacyJournal(journal_dir_for(out))  # a JSON-lines journal of an earlier act-bench
    journal.folder.mkdir()
    nan = float("nan")
    records = [{"type": "header", "version": 1, "recipe": tiny_recipe.to_dict(), "seeds": [0]},
               {"type": "session", "time": 1.0}]
    records += [{"type": "run", "function": function, "seed": 0, "train_accuracy": 0.5, "val_accuracy": 0.5,
                 "test_accuracy": 0.5, "train_loss": nan, "val_loss": 1.0, "test_loss": 1.0, "runtime": 1.0,
                 "status": "ok", "error": None} for function in ("relu(x)", "tanh(x)", "elu(x)")]
    journal.path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert journal.path.name == LEGACY_FILE
    lines = journal.path.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"type":"run","function":"tanh(x)",' + b"\n"  # line 4 of 5: cut short, newline kept
    journal.path.write_bytes(b"".join(lines))
    before = journal.path.read_bytes()
    offset = len(b"".join(lines[:3]))
    with pytest.raises(SchemaMismatchError, match=f"line 4 \\(byte {offset}\\) is not valid JSON"):
        LegacyJournal(journal.folder).load()
    proc = cli_process("build", "--recipe", str(recipe), "--out", str(out), "--limit", "1", "--train-seeds", "1", "--resume")
    _, err = proc.communicate(timeout=300)
    msg = _message_lines(err)
    assert proc.returncode == 2 and len(msg) == 1 and f"line 4 (byte {offset}) is not valid JSON" in msg[0], err
    assert journal.path.read_bytes() == before  # nothing cut off, nothing appended
    assert not out.exists() and not journal_path_for(out).exists()  # nothing converted


def test_workers_is_the_deprecated_name_of_jobs(tiny_recipe, tmp_path):
    """The build's processes are ``jobs`` (the CLI's --jobs); ``workers`` still works one release and warns. Both
    are checked before anything is written."""
    import warnings

    out = tmp_path / "t"
    with pytest.raises(InvalidInputError, match=r"parameter jobs of build_table must be an integer >= 1; got 0"):
        build_table(tiny_recipe, out, limit=1, jobs=0, progress=False)
    with warnings.catch_warnings(record=True) as rec, \
            pytest.raises(InvalidInputError, match=r"parameter jobs of build_table .* got 0"):
        warnings.simplefilter("always")
        build_table(tiny_recipe, out, limit=1, workers=0, progress=False)
    (dep,) = [w for w in rec if issubclass(w.category, DeprecationWarning)]
    assert "parameter workers of build_table is deprecated" in str(dep.message) and "use jobs" in str(dep.message)
    assert not out.exists() and not journal_dir_for(out).exists()
