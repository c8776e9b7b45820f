"""The residual and transformer members of the MNIST-1D suite (``mnist1d-resnet``, ``mnist1d-vit``).

Both take MNIST-1D signals of shape ``(1, 40)`` and are sized so that one 3-seed table over the benchmark space
builds on two CPU cores in a few hours (see ``docs/recipes.md``). The candidate activation replaces every
activation of the architecture:

* ``mnist1d-resnet``: a pre-activation ("v2") residual 1-D CNN, like the paper's ResNet-56 at MNIST-1D scale. Every
  residual branch is BN -> act -> conv3 -> BN -> act -> conv3, so each branch applies the activation twice.
* ``mnist1d-vit``: a small vision transformer, like the paper's MobileViT at MNIST-1D scale: a convolutional stem
  (conv3 -> act), a strided convolution that cuts the signal into patch tokens, fixed sinusoidal position
  encodings, pre-norm transformer encoder layers and a mean-pooled linear classifier. The activation replaces the
  MLP activation of every encoder layer and the stem's. Attention is written with explicit ``nn.Linear`` query, key,
  value and output projections so that every projection is a weight layer of the Fisher (K-FAC on 3-D inputs,
  ``docs/features.md``); the softmax of the attention is part of the mechanism and is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from act_bench.errors import InvalidInputError
from act_bench.utils import check_int
from data_builders.models._registry import register_model

__all__ = ["MNIST1DResNet", "MNIST1DViT"]

_LENGTH = 40  # MNIST-1D signal length


def _check_ints(values, name: str, owner: str, count: int) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or len(values) != count:
        raise InvalidInputError(f"parameter {name} of {owner} must be {count} positive integers; got {values!r}")
    return tuple(check_int(v, name, owner, min_value=1) for v in values)


class _PreActBlock1d(nn.Module):
    """``x + conv2(act(bn2(conv1(act(bn1(x))))))``; a 1x1 (strided) projection shortcut when the shape changes."""

    def __init__(self, act: Callable[[], nn.Module], cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm1d(cin)
        self.act1 = act()
        self.conv1 = nn.Conv1d(cin, cout, 3, stride=stride, padding=1)
        self.bn2 = nn.BatchNorm1d(cout)
        self.act2 = act()
        self.conv2 = nn.Conv1d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv1d(cin, cout, 1, stride=stride) if (stride != 1 or cin != cout) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act2(self.bn2(self.conv1(self.act1(self.bn1(x))))))
        return y + (x if self.shortcut is None else self.shortcut(x))


class MNIST1DResNet(nn.Module):
    """Pre-activation residual 1-D CNN for MNIST-1D (input ``(1, 40)``).

    Stem Conv1d(1, c1, 5, pad 2); one residual block per entry of ``channels`` (the first keeps the length, each
    later one halves it with stride 2 and a 1x1 projection shortcut); final BN -> act -> global average pooling ->
    Linear(c_last, K). Each residual branch is BN -> act -> conv3 -> BN -> act -> conv3 (biased convolutions).
    ``channels=(16, 32)`` by default: 2 blocks (an identity and a projection shortcut), 4 activations in residual
    branches plus the head's. Depth is what costs on CPU (per-layer overhead dominates at this size): with a third
    block (``channels=(16, 32, 64)``) a run costs about twice a run of ``mnist1d-cnn`` (``docs/recipes.md``).

    Examples
    --------
    >>> m = MNIST1DResNet(torch.nn.ReLU)
    >>> m(torch.zeros(4, 1, 40)).shape
    torch.Size([4, 10])
    """

    input_shape = (1, _LENGTH)

    def __init__(self, act: Callable[[], nn.Module], num_classes: int = 10, *,
                 channels: tuple[int, ...] = (16, 32)) -> None:
        super().__init__()
        if not isinstance(channels, (tuple, list)) or not 1 <= len(channels) <= 4:
            raise InvalidInputError("parameter channels of MNIST1DResNet must be 1 to 4 positive integers; "
                                    f"got {channels!r}")
        chs = _check_ints(channels, "channels", "MNIST1DResNet", len(channels))
        self.stem = nn.Conv1d(1, chs[0], 5, padding=2)
        blocks = []
        cin = chs[0]
        for i, c in enumerate(chs):
            blocks.append(_PreActBlock1d(act, cin, c, 1 if i == 0 else 2))
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head_norm = nn.BatchNorm1d(cin)
        self.head_act = act()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head_act(self.head_norm(self.blocks(self.stem(x))))
        return self.fc(x.mean(dim=-1))


class _SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention with explicit q/k/v/out ``nn.Linear`` projections."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise InvalidInputError(f"parameter dim of MNIST1DViT must be divisible by heads; got dim={dim}, "
                                    f"heads={heads}")
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, T, D]
        b, t, d = x.shape
        h = self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.reshape(b, t, h, d // h).transpose(1, 2)

        y = F.scaled_dot_product_attention(split(self.q(x)), split(self.k(x)), split(self.v(x)))
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class _EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer: ``x + attn(LN(x))``, then ``x + fc2(act(fc1(LN(x))))``."""

    def __init__(self, act: Callable[[], nn.Module], dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.act = act()
        self.fc2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


def _sinusoidal(tokens: int, dim: int) -> torch.Tensor:
    """Fixed sine/cosine position encodings (Vaswani et al., 2017), shape ``(tokens, dim)``."""
    pos = torch.arange(tokens, dtype=torch.float64)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    enc = torch.zeros(tokens, dim, dtype=torch.float64)
    enc[:, 0::2] = torch.sin(pos * freq)
    enc[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return enc.float()


class MNIST1DViT(nn.Module):
    """Small vision transformer for MNIST-1D (input ``(1, 40)``).

    Conv1d(1, stem, 3, pad 1) -> act -> Conv1d(stem, dim, patch, stride patch) (``40 / patch`` tokens) + fixed
    sinusoidal position encodings -> ``depth`` pre-norm encoder layers (``heads``-head self-attention with Linear
    q/k/v/out projections; MLP Linear(dim, mlp_dim) -> act -> Linear(mlp_dim, dim)) -> LayerNorm -> mean over
    tokens -> Linear(dim, K). Defaults: ``stem=16, dim=24, patch=4, depth=2, heads=2, mlp_dim=48``.

    Examples
    --------
    >>> m = MNIST1DViT(torch.nn.GELU)
    >>> m(torch.zeros(4, 1, 40)).shape
    torch.Size([4, 10])
    """

    input_shape = (1, _LENGTH)

    def __init__(self, act: Callable[[], nn.Module], num_classes: int = 10, *, stem: int = 16, dim: int = 24,
                 patch: int = 4, depth: int = 2, heads: int = 2, mlp_dim: int = 48) -> None:
        super().__init__()
        stem, dim, patch, depth, heads, mlp_dim = (check_int(v, n, "MNIST1DViT", min_value=1) for v, n in (
            (stem, "stem"), (dim, "dim"), (patch, "patch"), (depth, "depth"), (heads, "heads"),
            (mlp_dim, "mlp_dim")))
        if _LENGTH % patch:
            raise InvalidInputError(f"parameter patch of MNIST1DViT must divide the signal length {_LENGTH}; "
                                    f"got {patch}")
        if dim % 2:
            raise InvalidInputError(f"parameter dim of MNIST1DViT must be even (sine/cosine pairs); got {dim}")
        self.stem = nn.Conv1d(1, stem, 3, padding=1)
        self.stem_act = act()
        self.patch_embed = nn.Conv1d(stem, dim, patch, stride=patch)
        self.register_buffer("pos", _sinusoidal(_LENGTH // patch, dim), persistent=False)
        self.layers = nn.Sequential(*[_EncoderLayer(act, dim, heads, mlp_dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(self.stem_act(self.stem(x))).transpose(1, 2) + self.pos  # [B, T, D]
        return self.fc(self.norm(self.layers(tokens)).mean(dim=1))


@register_model("mnist1d-resnet", input_shape=(1, _LENGTH), default_num_classes=10,
                description="pre-activation residual 1-D CNN for MNIST-1D (2 residual blocks)")
def _mnist1d_resnet(act, num_classes, **kw):
    return MNIST1DResNet(act, num_classes, **kw)


@register_model("mnist1d-vit", input_shape=(1, _LENGTH), default_num_classes=10,
                description="small vision transformer for MNIST-1D (conv stem, 10 patch tokens, 2 encoder layers)")
def _mnist1d_vit(act, num_classes, **kw):
    return MNIST1DViT(act, num_classes, **kw)
