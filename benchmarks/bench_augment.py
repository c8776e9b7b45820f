"""Speed of the batched augmentation ops against a per-image PIL peer (same run, one thread).

Prints the median time per batch over several repeats and the ratio PIL / tensor ops (> 1: tensor ops faster).

    python benchmarks/bench_augment.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from PIL import Image, ImageOps

from data_builders.augment import (
    rand_augment,
    random_crop,
    random_horizontal_flip,
    random_resized_crop,
    train_batch,
)
from data_builders.recipes import get_recipe


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _pil_crop_flip(images: list[Image.Image], padding: int, rng: np.random.Generator) -> list[Image.Image]:
    out = []
    for img in images:
        w, h = img.size
        padded = ImageOps.expand(img, border=padding, fill=0)
        dx, dy = rng.integers(0, 2 * padding + 1, size=2)
        crop = padded.crop((dx, dy, dx + w, dy + h))
        out.append(crop.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop)
    return out


def _pil_randaugment(images: list[Image.Image], rng: np.random.Generator) -> list[Image.Image]:
    ops = [ImageOps.equalize, ImageOps.autocontrast, lambda im: ImageOps.posterize(im, 6),
           lambda im: ImageOps.solarize(im, 102), lambda im: im.rotate(18, resample=Image.NEAREST)]
    out = []
    for img in images:
        for _ in range(2):
            img = ops[rng.integers(len(ops))](img)
        out.append(img)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(0)

    cifar = torch.randint(0, 256, (128, 3, 32, 32), dtype=torch.uint8, generator=g)
    cifar_pil = [Image.fromarray(a.permute(1, 2, 0).numpy()) for a in cifar]
    t_ours = _median_seconds(lambda: random_horizontal_flip(random_crop(cifar, 4, g), g), args.repeats)
    t_pil = _median_seconds(lambda: _pil_crop_flip(cifar_pil, 4, rng), args.repeats)
    print(f"crop(pad 4)+flip, 128x3x32x32 uint8: tensor {t_ours * 1e3:.2f} ms/batch, PIL per image "
          f"{t_pil * 1e3:.2f} ms/batch, ratio {t_pil / t_ours:.1f}x")

    vit = torch.randint(0, 256, (64, 3, 160, 160), dtype=torch.uint8, generator=g)
    vit_pil = [Image.fromarray(a.permute(1, 2, 0).numpy()) for a in vit]
    t_ra = _median_seconds(lambda: rand_augment(vit, g, magnitude=6, num_ops=2), args.repeats)
    t_ra_pil = _median_seconds(lambda: _pil_randaugment(vit_pil, rng), args.repeats)
    print(f"RandAugment m=6 n=2, 64x3x160x160 uint8: tensor {t_ra * 1e3:.1f} ms/batch, PIL per image "
          f"(5 cheap ops) {t_ra_pil * 1e3:.1f} ms/batch, ratio {t_ra_pil / t_ra:.2f}x")
    t_rrc = _median_seconds(lambda: random_resized_crop(vit, 160, g), args.repeats)
    print(f"random resized crop 64x3x160x160 -> 160: tensor {t_rrc * 1e3:.1f} ms/batch")

    r = get_recipe("act-bench-vit")
    t_full = _median_seconds(lambda: train_batch(vit, torch.arange(64) % 10, r.augment, g, num_classes=10,
                                                 image_size=160), args.repeats)
    print(f"act-bench-vit train_batch (rrc+flip+RandAugment+mixup/cutmix), 64 images: {t_full * 1e3:.1f} ms/batch "
          f"= {64 / t_full:.0f} images/s on one thread")
    r = get_recipe("act-bench-cnn")
    t_cnn = _median_seconds(lambda: train_batch(cifar, torch.arange(128) % 10, r.augment, g, num_classes=10,
                                                image_size=32, mean=(0.5,) * 3, std=(0.25,) * 3), args.repeats)
    print(f"act-bench-cnn train_batch (crop+flip+normalise), 128 images: {t_cnn * 1e3:.2f} ms/batch "
          f"= {128 / t_cnn:.0f} images/s on one thread")


if __name__ == "__main__":
    main()
