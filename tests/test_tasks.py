"""Tasks: MNIST-1D generated offline, image tasks on small local datasets in the real Hugging Face formats."""

from __future__ import annotations

import dataclasses
import random

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from act_bench.errors import InvalidInputError
from data_builders.tasks import (
    Task,
    TaskData,
    _images,
    _mnist1d,
    balanced_holdout,
    create_task,
    list_tasks,
    register_task,
)


def test_registry():
    assert {"mnist1d", "cifar10", "cifar100", "imagenette", "imagenet"} <= set(list_tasks())
    with pytest.raises(InvalidInputError, match="unknown task 'cifar11'; valid tasks: cifar10, cifar100"):
        create_task("cifar11")
    with pytest.raises(InvalidInputError, match="already registered"):
        register_task("mnist1d")(Task)
    assert create_task("cifar100").num_classes == 100
    assert create_task("imagenet").input_shape == (3, 160, 160)
    assert create_task("imagenette", image_size=64).input_shape == (3, 64, 64)


# ------------------------------------------------------------------------------------------------------- mnist1d
def test_mnist1d_default_sizes_match_the_package():
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    task = create_task("mnist1d")
    train, val, test = task.load("train"), task.load("val"), task.load("test")
    # The user's global random states are left as they were.
    assert random.getstate() == py_state
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1]) and after[2:] == np_state[2:]
    assert (len(train), len(val), len(test)) == (3600, 400, 1000)
    assert train.x.shape == (3600, 1, 40) and train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert task.input_shape == (1, 40) and task.num_classes == 10
    assert val.y.bincount(minlength=10).tolist() == [40] * 10
    # Oracle: the package's own dataset (default args = the standard MNIST-1D).
    ref = make_dataset(get_dataset_args())
    ref_x = torch.from_numpy(ref["x"]).float()
    union = torch.cat([train.x[:, 0], val.x[:, 0]])
    assert torch.equal(torch.sort(union.sum(1)).values, torch.sort(ref_x.sum(1)).values)
    assert torch.equal(test.x[:, 0], torch.from_numpy(ref["x_test"]).float())
    assert torch.equal(test.y, torch.from_numpy(ref["y_test"]))
    # Train and validation are disjoint.
    train_keys = {tuple(r.tolist()) for r in train.x[:, 0, :4]}
    assert not any(tuple(r.tolist()) in train_keys for r in val.x[:, 0, :4])
    # Per-channel statistics of the training split.
    assert train.mean[0] == pytest.approx(float(train.x.double().mean()), abs=1e-9)
    assert train.std[0] == pytest.approx(float(train.x.double().std(unbiased=False)), abs=1e-9)
    assert val.mean == train.mean and test.std == train.std


def test_mnist1d_deterministic_and_cached():
    kw = {"num_samples": 300, "val_size": 50}
    a = create_task("mnist1d", **kw).load("val")
    assert create_task("mnist1d", **kw).load("val") is a  # in-memory cache per process
    _mnist1d._CACHE.clear()
    b = create_task("mnist1d", **kw).load("val")
    assert b is not a and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert b.y.bincount().tolist() == [5] * 10
    c = create_task("mnist1d", split_seed=1, **kw).load("val")
    assert not torch.equal(c.x, b.x)
    d = create_task("mnist1d", seed=7, **kw).load("test")
    assert not torch.equal(d.x, create_task("mnist1d", **kw).load("test").x)
    assert len(create_task("mnist1d", **kw).load("train")) == 240 - 50


def test_mnist1d_errors():
    with pytest.raises(InvalidInputError, match="multiple of 10"):
        create_task("mnist1d", num_samples=305)
    with pytest.raises(InvalidInputError, match="parameter split of Mnist1dTask.load"):
        create_task("mnist1d", num_samples=100, val_size=10).load("validation")
    with pytest.raises(InvalidInputError, match="balanced"):
        create_task("mnist1d", num_samples=100, val_size=15).load("train")
    with pytest.raises(InvalidInputError, match="fewer than"):
        create_task("mnist1d", num_samples=100, val_size=200).load("train")


def test_balanced_holdout():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    keep, held = balanced_holdout(labels, 8, 4, seed=3, where="t")
    assert np.bincount(labels[held]).tolist() == [2, 2, 2, 2]
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(100))
    _, held2 = balanced_holdout(labels, 8, 4, seed=3, where="t")
    assert np.array_equal(held, held2)


# -------------------------------------------------------------------------------------------------- image tasks
def _pil_images(rng, n, size):
    return [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


def _dataset(rng, n, num_classes, size, image_col="img", label_col="label"):
    feats = datasets.Features({image_col: datasets.Image(), label_col: datasets.ClassLabel(num_classes=num_classes)})
    return datasets.Dataset.from_dict({image_col: _pil_images(rng, n, size),
                                       label_col: [i % num_classes for i in range(n)]}, features=feats)


@pytest.fixture(scope="module")
def cifar_like(tmp_path_factory):
    rng = np.random.default_rng(0)
    dd = datasets.DatasetDict({"train": _dataset(rng, 80, 10, (32, 32)), "test": _dataset(rng, 30, 10, (32, 32))})
    root = tmp_path_factory.mktemp("cifar")
    dd.save_to_disk(str(root / "saved"))
    (root / "hub" / "plain_text").mkdir(parents=True)
    dd["train"].to_parquet(str(root / "hub" / "plain_text" / "train-00000-of-00001.parquet"))
    dd["test"].to_parquet(str(root / "hub" / "plain_text" / "test-00000-of-00001.parquet"))
    return dd, root


@pytest.mark.parametrize("layout", ["saved", "hub"])
def test_cifar10_from_local_copy(cifar_like, layout):
    dd, root = cifar_like
    task = create_task("cifar10", path=root / layout, val_size=20, split_seed=1)
    train, val, test = task.load("train"), task.load("val"), task.load("test")
    assert (len(train), len(val), len(test)) == (60, 20, 30)
    assert train.x.dtype == torch.uint8 and train.x.shape == (60, 3, 32, 32) and train.y.dtype == torch.int64
    assert val.y.bincount(minlength=10).tolist() == [2] * 10
    # Test images decode to exactly the stored pixels, in order.
    ref = torch.from_numpy(np.stack([np.asarray(im) for im in dd["test"]["img"]])).permute(0, 3, 1, 2)
    assert torch.equal(test.x, ref) and test.y.tolist() == dd["test"]["label"]
    # Train + val is a partition of the source training split.
    src = torch.from_numpy(np.stack([np.asarray(im) for im in dd["train"]["img"]])).permute(0, 3, 1, 2)
    both = torch.cat([train.x, val.x]).flatten(1).double().sum(1).sort().values
    assert torch.equal(both, src.flatten(1).double().sum(1).sort().values)
    # Normalisation statistics of the training split, pixels scaled to [0, 1].
    ref_mean = (train.x.double() / 255).mean(dim=(0, 2, 3))
    ref_std = (train.x.double() / 255).std(dim=(0, 2, 3), unbiased=False)
    np.testing.assert_allclose(train.mean, ref_mean.numpy(), rtol=1e-9)
    np.testing.assert_allclose(train.std, ref_std.numpy(), rtol=1e-7)
    same = create_task("cifar10", path=root / layout, val_size=20, split_seed=1)
    _images._CACHE.clear()
    assert torch.equal(same.load("val").x, val.x)


def test_cifar100_columns_and_errors(tmp_path):
    rng = np.random.default_rng(1)
    feats = datasets.Features({"img": datasets.Image(), "fine_label": datasets.ClassLabel(num_classes=100),
                               "coarse_label": datasets.ClassLabel(num_classes=20)})
    def make(n):
        return datasets.Dataset.from_dict({"img": _pil_images(rng, n, (32, 32)),
                                           "fine_label": [i % 100 for i in range(n)],
                                           "coarse_label": [i % 20 for i in range(n)]}, features=feats)
    datasets.DatasetDict({"train": make(200), "test": make(10)}).save_to_disk(str(tmp_path / "c100"))
    task = create_task("cifar100", path=tmp_path / "c100", val_size=100)
    assert task.load("val").y.bincount(minlength=100).tolist() == [1] * 100
    assert len(task.load("train")) == 100
    with pytest.raises(InvalidInputError, match="no label column 'label'; columns are img, fine_label"):
        create_task("cifar10", path=tmp_path / "c100", val_size=10).load("train")
    with pytest.raises(InvalidInputError, match="labels in \\[0, 10\\)"):
        create_task("cifar10", path=tmp_path / "c100", val_size=10, label_column="fine_label").load("train")
    with pytest.raises(InvalidInputError, match="multiple of the number of classes"):
        create_task("cifar100", path=tmp_path / "c100", val_size=50).load("train")
    with pytest.raises(InvalidInputError, match="not found"):
        create_task("cifar10", path=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no Parquet files of split 'train'"):
        create_task("cifar10", path=tmp_path / "empty").load("train")


def test_imagenette_layout_resizes_and_uses_validation_as_test(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "imagenette"
    for split, n in (("train", 40), ("validation", 12)):
        (root / "160px" / split).mkdir(parents=True)
        ds = _dataset(rng, n, 10, (30, 20), image_col="image")  # non-square 30 wide x 20 high
        ds.to_parquet(str(root / "160px" / split / "0000.parquet"))
    task = create_task("imagenette", path=root, image_size=16, val_size=10)
    train, val, test = task.load("train"), task.load("val"), task.load("test")
    assert (len(train), len(val), len(test)) == (30, 10, 12)
    assert train.x.shape == (30, 3, 16, 16) and task.input_shape == (3, 16, 16)
    assert train.mean == (0.485, 0.456, 0.406) and train.std == (0.229, 0.224, 0.225)
    # A two-colour image (left third red, rest blue) keeps its layout after resize + center crop.
    img = np.zeros((20, 30, 3), dtype=np.uint8)
    img[:, :10] = (255, 0, 0)
    img[:, 10:] = (0, 0, 255)
    out = _images.decode_image(Image.fromarray(img), 16)  # 30x20 -> 24x16 -> central 16x16 (cols 4..19)
    assert out.shape == (16, 16, 3)
    assert (out[:, 0] == (255, 0, 0)).all() and (out[:, -1] == (0, 0, 255)).all()
    assert (out[:, 6:] == (0, 0, 255)).all()
    grey = Image.fromarray(np.full((5, 5), 9, dtype=np.uint8), mode="L")
    assert (_images.decode_image(grey, 5) == 9).all()


def test_taskdata_is_a_small_dataclass():
    d = TaskData(torch.zeros(3, 1, 4), torch.zeros(3, dtype=torch.long), (0.0,), (1.0,), "train")
    assert len(d) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.split = "val"  # frozen
