"""Image classification tasks loaded through Hugging Face ``datasets`` (Hub id) or from a local copy."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from act_bench.errors import InvalidInputError
from act_bench.utils import check_int
from data_builders.tasks._base import Task, TaskData, balanced_holdout, register_task

__all__ = ["Cifar10Task", "Cifar100Task", "ImageTask", "ImagenetTask", "ImagenetteTask", "decode_image"]

_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}
_LOCK = threading.Lock()
_BATCH = 1000


def decode_image(entry: Any, size: int) -> np.ndarray:
    """Decode one stored image to ``uint8`` ``(size, size, 3)``: RGB, shorter side resized to ``size``, center crop.

    ``entry`` is what a ``datasets.Image(decode=False)`` column holds (a dict with ``bytes`` and/or ``path``), raw
    encoded bytes, or a ``PIL.Image.Image``. Resizing uses PIL's bilinear filter (antialiased when shrinking).
    """
    from PIL import Image

    if isinstance(entry, Image.Image):
        img = entry
    else:
        data = entry.get("bytes") if isinstance(entry, dict) else entry
        if isinstance(data, (bytes, bytearray, memoryview)):
            img = Image.open(io.BytesIO(bytes(data)))
        elif isinstance(entry, dict) and entry.get("path"):
            img = Image.open(entry["path"])
        else:
            raise InvalidInputError(f"cannot decode an image from a value of type {type(entry).__name__}")
    img = img.convert("RGB")
    w, h = img.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img, dtype=np.uint8)


class ImageTask(Task):
    """Base class of the image tasks: a Hugging Face dataset with an image and a label column.

    Source data: ``path`` (a ``datasets.DatasetDict`` saved with ``save_to_disk``, or a folder of Parquet files in
    the Hub layout, whose path components or file names start with the split name, e.g. ``train-00000.parquet`` or
    ``160px/validation/0000.parquet``), else ``hub_id`` (+ ``config``) through ``datasets.load_dataset``.
    The source's ``source_train`` split gives the training split and a class-balanced validation split of
    ``val_size`` images (``split_seed``); ``source_test`` gives the test split. Images are decoded to ``uint8``
    ``(N, 3, image_size, image_size)`` (shorter side resized, center crop) and cached in memory per process.

    Parameters
    ----------
    path : str or path-like, optional
        Local copy of the dataset (preferred; no network).
    hub_id, config : str, optional
        Hugging Face Hub dataset id and configuration (defaults per task).
    image_size : int, optional
        Side of the stored square images (default per task).
    val_size : int, optional
        Validation images held out of the training split (multiple of ``num_classes``; default per task).
    split_seed : int, default 0
        Seed of the validation hold-out.
    image_column, label_column : str, optional
        Column names (defaults per task).
    """

    hub_id_default: ClassVar[str] = ""
    config_default: ClassVar[str | None] = None
    image_column_default: ClassVar[str] = "image"
    label_column_default: ClassVar[str] = "label"
    image_size_default: ClassVar[int] = 32
    val_size_default: ClassVar[int] = 5000
    source_train: ClassVar[str] = "train"
    source_test: ClassVar[str] = "test"
    #: Fixed normalisation statistics (pixels in [0, 1]); None = computed from the training split.
    fixed_mean: ClassVar[tuple[float, ...] | None] = None
    fixed_std: ClassVar[tuple[float, ...] | None] = None

    def __init__(self, *, path: str | os.PathLike[str] | None = None, hub_id: str | None = None,
                 config: str | None = None, image_size: int | None = None, val_size: int | None = None,
                 split_seed: int = 0, image_column: str | None = None, label_column: str | None = None) -> None:
        func = f"create_task({self.name!r})"
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"parameter path of {func} must be a path; got {path!r}")
        self.path = None if path is None else os.fspath(path)
        if self.path is not None and not Path(self.path).exists():
            raise InvalidInputError(f"parameter path of {func} must be an existing dataset folder; "
                                    f"got {self.path!r} (not found)")
        for arg_name, value in (("hub_id", hub_id), ("config", config), ("image_column", image_column),
                                ("label_column", label_column)):
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidInputError(f"parameter {arg_name} of {func} must be a non-empty string; got {value!r}")
        self.hub_id = hub_id or self.hub_id_default
        self.config = config if config is not None else self.config_default
        self.image_size = check_int(self.image_size_default if image_size is None else image_size, "image_size",
                                    func, min_value=1)
        self.val_size = check_int(self.val_size_default if val_size is None else val_size, "val_size", func,
                                  min_value=0)
        self.split_seed = check_int(split_seed, "split_seed", func, min_value=0)
        self.image_column = image_column or self.image_column_default
        self.label_column = label_column or self.label_column_default
        self.input_shape = (3, self.image_size, self.image_size)

    @property
    def source(self) -> str:
        """Where the data come from: the local path or ``hub:<id>[/<config>]``."""
        if self.path is not None:
            return self.path
        return f"hub:{self.hub_id}" + (f"/{self.config}" if self.config else "")

    def _key(self) -> tuple[Any, ...]:
        return (type(self).__name__, self.source, self.image_size, self.val_size, self.split_seed,
                self.image_column, self.label_column)

    # ------------------------------------------------------------------------------------------------- loading
    def load(self, split: str) -> TaskData:
        split = self._check_split(split)
        fixed = self.fixed_mean is not None and self.fixed_std is not None
        with _LOCK:
            entry = _CACHE.setdefault(self._key(), {})
            if (split != "test" or not fixed) and "train" not in entry:
                x, y = self._read(self.source_train)
                keep, held = balanced_holdout(y.numpy(), self.val_size, self.num_classes, self.split_seed,
                                              where=f"task {self.name!r} ({self.source})")
                entry["stats"] = self._stats(x[keep])
                entry["train"] = (x[keep], y[keep])
                entry["val"] = (x[held], y[held])
            if split == "test" and "test" not in entry:
                entry["test"] = self._read(self.source_test)
            mean, std = (self.fixed_mean, self.fixed_std) if fixed else entry["stats"]
            x, y = entry[split]
            return TaskData(x=x, y=y, mean=mean, std=std, split=split)

    def _stats(self, x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if x.shape[0] == 0:
            raise InvalidInputError(f"task {self.name!r} ({self.source}): the training split is empty")
        total = torch.zeros(3, dtype=torch.float64)
        total_sq = torch.zeros(3, dtype=torch.float64)
        for start in range(0, x.shape[0], _BATCH):
            chunk = x[start:start + _BATCH].to(torch.float64) / 255.0
            total += chunk.sum(dim=(0, 2, 3))
            total_sq += (chunk * chunk).sum(dim=(0, 2, 3))
        count = x.shape[0] * x.shape[2] * x.shape[3]
        mean = total / count
        std = (total_sq / count - mean * mean).clamp_min(0).sqrt()
        return tuple(float(v) for v in mean), tuple(float(max(v, 1e-8)) for v in std)

    def _read(self, source_split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode one source split to ``(uint8 (N, 3, S, S), int64 (N,))``."""
        images: list[np.ndarray] = []
        labels: list[int] = []
        for image_batch, label_batch in self._iter_source(source_split):
            images.extend(decode_image(e, self.image_size) for e in image_batch)
            labels.extend(label_batch)
        where = f"task {self.name!r} ({self.source}), split {source_split!r}"
        y = np.asarray(labels)
        if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= self.num_classes):
            bad = y[(y < 0) | (y >= self.num_classes)][:1].tolist() if np.issubdtype(y.dtype, np.integer) else y[:1]
            raise InvalidInputError(f"{where}: column {self.label_column!r} must hold integer labels in "
                                    f"[0, {self.num_classes}); found {bad}")
        if images:
            x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
        else:
            x = torch.zeros((0, 3, self.image_size, self.image_size), dtype=torch.uint8)
        return x, torch.from_numpy(y.astype(np.int64))

    def _check_columns(self, columns: list[str], where: str) -> None:
        for role, col in (("image", self.image_column), ("label", self.label_column)):
            if col not in columns:
                raise InvalidInputError(f"{where}: no {role} column {col!r}; columns are {', '.join(columns)} "
                                        f"(pass {role}_column=...)")

    def _iter_source(self, source_split: str):
        if self.path is not None:
            root = Path(self.path)
            if (root / "dataset_dict.json").is_file():
                yield from self._iter_saved(root, source_split)
            else:
                yield from self._iter_parquet(root, source_split)
            return
        import datasets

        try:
            ds = datasets.load_dataset(self.hub_id, self.config, split=source_split)
        except Exception as exc:  # noqa: BLE001 - network, missing dataset, authentication (gated ImageNet)
            raise InvalidInputError(f"task {self.name!r}: cannot load {self.source!r} split {source_split!r} from "
                                    f"the Hugging Face Hub ({type(exc).__name__}: {exc}); download it once and "
                                    f"pass path=... to a local copy") from None
        yield from self._iter_dataset(ds, f"task {self.name!r} ({self.source}), split {source_split!r}")

    def _iter_saved(self, root: Path, source_split: str):
        import datasets

        dd = datasets.load_from_disk(str(root))
        if not isinstance(dd, datasets.DatasetDict) or source_split not in dd:
            have = ", ".join(dd.keys()) if isinstance(dd, datasets.DatasetDict) else "none (a single Dataset)"
            raise InvalidInputError(f"task {self.name!r}: dataset at {str(root)!r} has no split {source_split!r} "
                                    f"(splits: {have}); expected a DatasetDict with splits "
                                    f"{self.source_train!r} and {self.source_test!r}")
        yield from self._iter_dataset(dd[source_split], f"task {self.name!r} ({root}), split {source_split!r}")

    def _iter_dataset(self, ds: Any, where: str):
        import datasets

        self._check_columns(list(ds.column_names), where)
        ds = ds.select_columns([self.image_column, self.label_column])
        if isinstance(ds.features[self.image_column], datasets.Image):
            ds = ds.cast_column(self.image_column, datasets.Image(decode=False))
        for batch in ds.iter(batch_size=_BATCH):
            yield batch[self.image_column], batch[self.label_column]

    def _iter_parquet(self, root: Path, source_split: str):
        import pyarrow.parquet as pq

        files = sorted(p for p in root.rglob("*.parquet") if _split_of(p.relative_to(root)) == source_split)
        if not files:
            found = sorted({s for p in root.rglob("*.parquet") if (s := _split_of(p.relative_to(root)))})
            raise InvalidInputError(f"task {self.name!r}: no Parquet files of split {source_split!r} under "
                                    f"{str(root)!r} (file or folder names must start with the split name; splits "
                                    f"found: {', '.join(found) or 'none'}); or pass a save_to_disk folder")
        for f in files:
            handle = pq.ParquetFile(f)
            self._check_columns(list(handle.schema_arrow.names), f"task {self.name!r}, file {str(f)!r}")
            for batch in handle.iter_batches(batch_size=_BATCH, columns=[self.image_column, self.label_column]):
                yield batch.column(0).to_pylist(), batch.column(1).to_pylist()


_SPLIT_NAMES = ("train", "validation", "valid", "val", "test")


def _split_of(relative: Path) -> str | None:
    """Split name of a Parquet file from its path components (``train/x.parquet``, ``test-0000.parquet``)."""
    for part in relative.parts:
        stem = part.removesuffix(".parquet").lower()
        for name in _SPLIT_NAMES:
            if stem == name or stem.startswith((name + "-", name + "_", name + ".")):
                return "validation" if name in ("valid", "val") else name
    return None


@register_task("cifar10")
class Cifar10Task(ImageTask):
    """CIFAR-10 (``uoft-cs/cifar10``: columns ``img``, ``label``); 45,000 train / 5,000 balanced val / 10,000 test.

    Examples
    --------
    >>> from data_builders.tasks import create_task
    >>> create_task("cifar10").input_shape
    (3, 32, 32)
    """

    name = "cifar10"
    num_classes = 10
    hub_id_default = "uoft-cs/cifar10"
    image_column_default = "img"
    label_column_default = "label"
    image_size_default = 32
    val_size_default = 5000


@register_task("cifar100")
class Cifar100Task(ImageTask):
    """CIFAR-100 (``uoft-cs/cifar100``: ``img``, ``fine_label``); 45,000 train / 5,000 balanced val / 10,000 test."""

    name = "cifar100"
    num_classes = 100
    hub_id_default = "uoft-cs/cifar100"
    image_column_default = "img"
    label_column_default = "fine_label"
    image_size_default = 32
    val_size_default = 5000


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@register_task("imagenette")
class ImagenetteTask(ImageTask):
    """Imagenette (``frgfm/imagenette``, config ``160px``: ``image``, ``label``), 160x160.

    Splits: train = official train minus a balanced validation of 1,000 images (100 per class) -> 8,469 train /
    1,000 val; test = the official validation split (3,925 images). ImageNet normalisation statistics.
    """

    name = "imagenette"
    num_classes = 10
    hub_id_default = "frgfm/imagenette"
    config_default = "160px"
    image_size_default = 160
    val_size_default = 1000
    source_train = "train"
    source_test = "validation"
    fixed_mean = _IMAGENET_MEAN
    fixed_std = _IMAGENET_STD


@register_task("imagenet")
class ImagenetTask(ImageTask):
    """ImageNet-1k (``ILSVRC/imagenet-1k``, gated: ``image``, ``label``), 160x160.

    Splits: train = official train minus a balanced validation of 10,000 images (10 per class); test = the official
    validation split (50,000 images; the official test labels are not public). Held fully in memory as uint8
    (about 98 GB for the training split at 160x160): meant for machines that can hold it.
    """

    name = "imagenet"
    num_classes = 1000
    hub_id_default = "ILSVRC/imagenet-1k"
    image_size_default = 160
    val_size_default = 10000
    source_train = "train"
    source_test = "validation"
    fixed_mean = _IMAGENET_MEAN
    fixed_std = _IMAGENET_STD
