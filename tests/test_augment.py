"""Augmentations: checked by properties, brute force and against PIL's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps

from act_bench.errors import InvalidInputError
from data_builders.augment import (
    RANDAUGMENT_OPS,
    apply_op,
    center_crop,
    crop_and_resize,
    cutmix,
    eval_batch,
    horizontal_flip,
    mixup,
    mixup_or_cutmix,
    normalize,
    rand_augment,
    random_crop,
    random_horizontal_flip,
    random_resized_crop,
    resize,
    sample_beta,
    sample_resized_crop_boxes,
    to_float,
    train_batch,
)
from data_builders.recipes import get_recipe, list_recipes


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n=6, c=3, h=12, w=12, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=gen(seed))


# ----------------------------------------------------------------------------------------------------- crops/flips
@pytest.mark.parametrize("padding", [1, 4, 5])
def test_random_crop_is_a_window_of_the_padded_image(padding):
    x = images(n=20, h=10, w=8)
    out = random_crop(x, padding, gen(1))
    padded = F.pad(x, (padding,) * 4)
    offsets = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(2 * padding + 1) for dx in range(2 * padding + 1)
                if torch.equal(out[i], padded[i, :, dy:dy + 10, dx:dx + 8])]
        assert hits, f"sample {i} is not a window of its padded image"
        offsets.update(hits)
    assert len(offsets) > 3  # offsets vary across the batch
    assert out.dtype == torch.uint8
    assert torch.equal(random_crop(x, padding, gen(1)), out)
    assert not torch.equal(random_crop(x, padding, gen(2)), out)
    assert torch.equal(random_crop(x, 0, gen(1)), x)


def test_flips():
    x = images()
    assert torch.equal(horizontal_flip(horizontal_flip(x)), x)
    assert torch.equal(horizontal_flip(x)[..., 0], x[..., -1])
    y = random_horizontal_flip(images(n=64), gen(3))
    x64 = images(n=64)
    flipped = [torch.equal(y[i], x64[i].flip(-1)) for i in range(64)]
    kept = [torch.equal(y[i], x64[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54
    assert torch.equal(random_horizontal_flip(x64, gen(3)), y)
    one_d = torch.arange(12.0).view(2, 2, 3)
    out = random_horizontal_flip(one_d, gen(0), p=1.0)
    assert torch.equal(out, one_d.flip(-1))


def test_crop_and_resize_exact_on_integer_boxes_and_matches_interpolate():
    x = images(n=3, h=16, w=16).float()
    boxes = torch.tensor([[0, 0, 8, 8], [3, 5, 8, 8], [8, 8, 8, 8]])
    out = crop_and_resize(x, boxes, 8)
    for i, (t, l, h, w) in enumerate(boxes.tolist()):
        torch.testing.assert_close(out[i], x[i, :, t:t + h, l:l + w])
    full = torch.tensor([[0, 0, 16, 16]] * 3)
    torch.testing.assert_close(crop_and_resize(x, full, 24),
                               F.interpolate(x, size=(24, 24), mode="bilinear", align_corners=False),
                               atol=1e-3, rtol=1e-5)


def test_random_resized_crop_boxes_respect_scale_and_ratio():
    boxes = sample_resized_crop_boxes(2000, 64, 48, gen(0), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3))
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 64).all() and (left + w <= 48).all()
    area = (h * w).double() / (64 * 48)
    assert area.min() >= 0.08 * 0.9 and area.max() <= 1.0
    ratio = w.double() / h.double()
    assert ratio.min() >= 0.75 * 0.9 and ratio.max() <= 4 / 3 * 1.1
    assert area.min() < 0.12 and area.max() > 0.8  # the whole range is used
    # Impossible constraints fall back to the central crop with a clamped ratio.
    fb = sample_resized_crop_boxes(5, 10, 40, gen(0), scale=(0.99, 1.0), ratio=(1.0, 1.0))
    assert fb.tolist() == [[0, 15, 10, 10]] * 5
    out = random_resized_crop(images(n=4, h=40, w=30), 16, gen(1), scale=(0.08, 1.0))
    assert out.shape == (4, 3, 16, 16) and out.dtype == torch.uint8
    assert torch.equal(out, random_resized_crop(images(n=4, h=40, w=30), 16, gen(1)))


def test_center_crop_and_resize():
    x = torch.arange(400.0).view(1, 1, 20, 20)
    torch.testing.assert_close(center_crop(x, 1.0), x)
    torch.testing.assert_close(center_crop(x, 0.5, size=10), x[:, :, 5:15, 5:15])
    y = center_crop(images(h=160, w=160), 0.95, size=160)  # Table 4 evaluation crop: 152 px upsampled to 160
    assert y.shape == (6, 3, 160, 160) and y.dtype == torch.uint8
    const = torch.full((2, 3, 30, 30), 77, dtype=torch.uint8)
    assert torch.equal(resize(const, 11), torch.full((2, 3, 11, 11), 77, dtype=torch.uint8))


# -------------------------------------------------------------------------------------------------- mixup/cutmix
def test_mixup_pixels_and_labels():
    x = to_float(images(n=8))
    y = torch.arange(8) % 5
    out = mixup(x, y, 0.4, gen(0), num_classes=5)
    lam, idx = out.lam, out.index
    torch.testing.assert_close(out.x, lam * x + (1 - lam) * x[idx])
    torch.testing.assert_close(out.y.sum(1), torch.ones(8))
    expect = lam * F.one_hot(y, 5).float() + (1 - lam) * F.one_hot(y[idx], 5).float()
    torch.testing.assert_close(out.y, expect)
    assert sorted(idx.tolist()) == list(range(8))
    again = mixup(x, y, 0.4, gen(0), num_classes=5)
    assert again.lam == lam and torch.equal(again.x, out.x)
    with pytest.raises(InvalidInputError, match="floating point"):
        mixup(images(), torch.zeros(6, dtype=torch.long), 0.1, gen(0), num_classes=2)


def test_cutmix_pixel_fraction_equals_lambda():
    n, h, w = 8, 13, 11
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 2, h, w).clone()  # image i is constant i
    y = torch.arange(n)
    for seed in range(20):
        out = cutmix(x, y, 1.0, gen(seed), num_classes=n)
        for i in range(n):
            j = out.index[i].item()
            from_partner = (out.x[i, 0] == j).sum().item() if j != i else 0
            if j != i:
                assert from_partner == round((1 - out.lam) * h * w)
                assert out.y[i, j].item() == pytest.approx(1 - out.lam)
                assert out.y[i, i].item() == pytest.approx(out.lam)
        torch.testing.assert_close(out.y.sum(1), torch.ones(n))
        t, l, b, r = out.box
        assert 0 <= t <= b <= h and 0 <= l <= r <= w
    u8 = cutmix(images(), torch.zeros(6, dtype=torch.long), 1.0, gen(0), num_classes=2)
    assert u8.x.dtype == torch.uint8


def test_beta_samples_follow_beta_distribution():
    g = gen(0)
    for alpha in (0.1, 1.0):
        draws = [sample_beta(alpha, g) for _ in range(1500)]
        assert scipy.stats.kstest(draws, scipy.stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_mixup_or_cutmix_switch():
    x, y = to_float(images(n=4)), torch.tensor([0, 1, 0, 1])
    kinds = {mixup_or_cutmix(x, y, gen(s), num_classes=2, mixup_alpha=0.1, cutmix_alpha=1.0).box is None
             for s in range(20)}
    assert kinds == {True, False}
    none = mixup_or_cutmix(x, y, gen(0), num_classes=2)
    assert none.lam == 1.0 and torch.equal(none.x, x) and torch.equal(none.y, F.one_hot(y, 2).float())


# ----------------------------------------------------------------------------------------------------- RandAugment
def _pil(x: torch.Tensor) -> Image.Image:
    return Image.fromarray(x[0].permute(1, 2, 0).numpy())


def _t(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def low_contrast() -> torch.Tensor:
    return (images(n=1, h=20, w=24, seed=5) // 2 + 30).to(torch.uint8)


def test_randaugment_ops_match_pil(low_contrast):
    x, pil, m = low_contrast, _pil(low_contrast), 6.0
    level, factor = m / 10, 1 + 0.9 * m / 10
    exact = {
        "equalize": ImageOps.equalize(pil),
        "posterize": ImageOps.posterize(pil, 8 - round(4 * level)),
        "solarize": ImageOps.solarize(pil, 255 * (1 - level)),
        "rotate": pil.rotate(30 * level, resample=Image.NEAREST),
        "identity": pil,
    }
    for name, ref in exact.items():
        assert torch.equal(apply_op(x, name, m), _t(ref)), name
    close = {  # PIL rounds with integer arithmetic: allow 1 grey level
        "autocontrast": ImageOps.autocontrast(pil),
        "brightness": ImageEnhance.Brightness(pil).enhance(factor),
        "color": ImageEnhance.Color(pil).enhance(factor),
        "contrast": ImageEnhance.Contrast(pil).enhance(factor),
        "sharpness": ImageEnhance.Sharpness(pil).enhance(factor),
    }
    for name, ref in close.items():
        assert (apply_op(x, name, m).int() - _t(ref).int()).abs().max() <= 1, name
    neg = torch.tensor([-1.0])
    assert (apply_op(x, "contrast", m, neg).int() - _t(ImageEnhance.Contrast(pil).enhance(1 - 0.9 * level)).int()
            ).abs().max() <= 1
    assert torch.equal(apply_op(x, "rotate", m, neg), _t(pil.rotate(-30 * level, resample=Image.NEAREST)))


def test_geometric_ops_match_pil_affine():
    x = images(n=1, h=16, w=16, seed=9)
    pil = _pil(x)
    s, t = 0.3 * 0.6, 0.45 * 0.6 * 16
    # PIL AFFINE maps output (x, y) to input (a x + b y + c, d x + e y + f); shear about the image centre.
    ref_shear_x = pil.transform((16, 16), Image.AFFINE, (1, s, -s * 8, 0, 1, 0), resample=Image.NEAREST)
    ref_shear_y = pil.transform((16, 16), Image.AFFINE, (1, 0, 0, s, 1, -s * 8), resample=Image.NEAREST)
    ref_tx = pil.transform((16, 16), Image.AFFINE, (1, 0, -t, 0, 1, 0), resample=Image.NEAREST)
    ref_ty = pil.transform((16, 16), Image.AFFINE, (1, 0, 0, 0, 1, -t), resample=Image.NEAREST)
    for name, ref in (("shear_x", ref_shear_x), ("shear_y", ref_shear_y), ("translate_x", ref_tx),
                      ("translate_y", ref_ty)):
        diff = (apply_op(x, name, 6.0) != _t(ref)).any(dim=1).float().mean().item()
        assert diff < 0.03, (name, diff)  # nearest-neighbour ties at pixel boundaries may differ


def test_magnitude_zero_geometric_and_enhance_ops_are_identity():
    x = images(n=3, h=9, w=9)
    for name in ("identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate", "brightness",
                 "color", "contrast", "sharpness", "posterize"):
        assert torch.equal(apply_op(x, name, 0.0), x), name


def test_rand_augment_each_image_gets_one_listed_op():
    x = images(n=24, h=10, w=10, seed=2)
    out = rand_augment(x, gen(4), magnitude=6, num_ops=1)
    used = set()
    for i in range(len(x)):
        matches = {name for name in RANDAUGMENT_OPS for sign in (-1.0, 1.0)
                   if torch.equal(out[i:i + 1], apply_op(x[i:i + 1], name, 6, torch.tensor([sign])))}
        assert matches, f"image {i} is not one op applied to its input"
        used |= matches
    assert len(used) >= 6
    assert torch.equal(rand_augment(x, gen(4), magnitude=6, num_ops=2), rand_augment(x, gen(4), magnitude=6,
                                                                                       num_ops=2))
    assert torch.equal(rand_augment(x, gen(4), magnitude=6, num_ops=0), x)
    f = rand_augment(to_float(x), gen(4), magnitude=6, num_ops=2)
    assert f.dtype == torch.float32 and 0 <= f.min() and f.max() <= 1
    with pytest.raises(InvalidInputError, match="magnitude"):
        rand_augment(x, gen(0), magnitude=11, num_ops=2)
    with pytest.raises(InvalidInputError, match="unknown RandAugment op"):
        apply_op(x, "blur", 5)


# --------------------------------------------------------------------------------------------- recipe pipelines
@pytest.mark.parametrize("name", sorted(n for n in list_recipes() if get_recipe(n).task != "mnist1d"))
def test_train_and_eval_batches_for_image_recipes(name):
    r = get_recipe(name)
    side = 36 if r.image_size == 32 else 48
    size = 32 if r.image_size == 32 else 40
    x, y = images(n=8, h=side, w=side), torch.arange(8) % 4
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    xb, target = train_batch(x, y, r.augment, gen(0), num_classes=4, image_size=size, mean=mean, std=std)
    assert xb.shape == (8, 3, size, size) and xb.dtype == torch.float32
    if r.augment.mixup_alpha or r.augment.cutmix_alpha:
        assert target.shape == (8, 4) and torch.allclose(target.sum(1), torch.ones(8))
    else:
        assert torch.equal(target, y)
    xb2, _ = train_batch(x, y, r.augment, gen(0), num_classes=4, image_size=size, mean=mean, std=std)
    assert torch.equal(xb, xb2)
    ev = eval_batch(x, r.augment, image_size=size, mean=mean, std=std)
    assert ev.shape == (8, 3, size, size)
    assert torch.equal(eval_batch(x, r.augment, image_size=size, mean=mean, std=std), ev)


def test_mnist1d_pipeline_and_normalize():
    r = get_recipe("act-bench-mnist1d")
    x = torch.randn(5, 1, 40, generator=gen(0)) * 3 + 2
    xb, t = train_batch(x, torch.arange(5), r.augment, gen(0), num_classes=10, mean=(2.0,), std=(3.0,))
    torch.testing.assert_close(xb, (x - 2) / 3)
    assert torch.equal(t, torch.arange(5))
    torch.testing.assert_close(eval_batch(x, r.augment, mean=(2.0,), std=(3.0,)), (x - 2) / 3)
    u8 = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    torch.testing.assert_close(normalize(u8, [0.5], [0.5]), torch.tensor([[[[-1.0, 1.0]]]]))
    with pytest.raises(InvalidInputError, match="one value per channel"):
        normalize(u8, [0.5, 0.5], [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="torch.Generator"):
        random_crop(images(), 4, 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"shape \(N, C, H, W\)"):
        random_crop(torch.zeros(3, 8, 8), 4, gen(0))
