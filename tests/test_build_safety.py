"""Builder safety: a 100-class build's FIM layout, no orphan workers, one build per journal, early validation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from act_bench.tables import load_table
from data_builders.build import journal_dir_for
from data_builders.models import create_model
from data_builders.recipes import get_recipe, save_recipe

pytestmark = pytest.mark.slow


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "act_bench.cli._main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


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
    proc = _cli("build", "--recipe", str(cifar100_recipe_file), "--out", str(out), "--limit", "1", "--seeds", "1")
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    table = load_table(out)
    layout = table.metadata["fim_layout"]
    feats = [json.loads(line) for line in (journal_dir_for(out) / "records.jsonl").read_text().splitlines()
             if '"type":"features"' in line]
    assert len(feats) == 1 and feats[0]["fim_valid"], feats
    assert sum(e["bins"] for e in layout) == len(feats[0]["fim_cdf"])
    # independent reference: the last layer of a 100-class All-CNN-C maps 192 channels to 100 classes (+ biases)
    head = [m for m in create_model("all-cnn-c", "relu(x)", num_classes=100).modules()
            if getattr(m, "out_channels", None) == 100]
    assert len(head) == 1
    assert layout[-1]["weights"] == head[0].weight.numel() + head[0].bias.numel() == 192 * 100 + 100
