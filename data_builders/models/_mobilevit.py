"""MobileViTv2 (Mehta & Rastegari, 2022) with width multiplier 0.5, written natively (no timm at run time).

The layout follows the reference ``mobilevitv2_050`` configuration: a 3x3 stride-2 stem, two stages of inverted
residual (MobileNetV2) blocks, then three stages of one inverted residual block followed by one MobileViTv2 block
(linear self-attention transformer on 2x2 patches). Convolutions inside ConvNormAct units are unbiased and followed by
BatchNorm; transformer projections and MLPs are biased 1x1 convolutions; transformer norms are GroupNorm(1, C).
Every ``act`` position of the reference (SiLU there) uses the given activation. The ReLU applied to the values inside
linear self-attention is part of the attention mechanism, not an activation layer, and is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from data_builders.models._registry import register_model

__all__ = ["MobileViTv2"]


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class _ConvNormAct(nn.Sequential):
    def __init__(self, act, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 apply_act: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride=stride, padding=((stride - 1) + kernel - 1) // 2,
                                             groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if apply_act:
            layers.append(act())
        super().__init__(*layers)


class _InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise (stride) -> 1x1 linear projection; identity shortcut only if shapes match."""

    def __init__(self, act, cin: int, cout: int, stride: int, expand: float) -> None:
        super().__init__()
        mid = _make_divisible(cin * expand)
        self.conv1 = _ConvNormAct(act, cin, mid, 1)
        self.conv2 = _ConvNormAct(act, mid, mid, 3, stride, groups=mid)
        self.conv3 = _ConvNormAct(act, mid, cout, 1, apply_act=False)
        self.has_shortcut = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.conv2(self.conv1(x)))
        return y + x if self.has_shortcut else y


class _LinearSelfAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.qkv_proj = nn.Conv2d(dim, 1 + 2 * dim, 1, bias=True)
        self.out_proj = nn.Conv2d(dim, dim, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, P, N]
        q, k, v = self.qkv_proj(x).split([1, self.dim, self.dim], dim=1)
        scores = F.softmax(q, dim=-1)
        context = (k * scores).sum(dim=-1, keepdim=True)
        return self.out_proj(F.relu(v) * context.expand_as(v))


class _LinearTransformerBlock(nn.Module):
    def __init__(self, act, dim: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.GroupNorm(1, dim)
        self.attn = _LinearSelfAttention(dim)
        self.norm2 = nn.GroupNorm(1, dim)
        self.fc1 = nn.Conv2d(dim, hidden, 1, bias=True)
        self.act = act()
        self.fc2 = nn.Conv2d(hidden, dim, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class _MobileViTv2Block(nn.Module):
    def __init__(self, act, channels: int, depth: int, *, bottle_ratio: float = 0.5, patch: int = 2) -> None:
        super().__init__()
        dim = _make_divisible(bottle_ratio * channels)
        self.patch = patch
        self.conv_kxk = _ConvNormAct(act, channels, channels, 3, groups=channels)
        self.conv_1x1 = nn.Conv2d(channels, dim, 1, bias=False)
        self.transformer = nn.Sequential(*[_LinearTransformerBlock(act, dim) for _ in range(depth)])
        self.norm = nn.GroupNorm(1, dim)
        self.conv_proj = _ConvNormAct(act, dim, channels, 1, apply_act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        p = self.patch
        nh, nw = math.ceil(h / p), math.ceil(w / p)
        if (nh * p, nw * p) != (h, w):
            x = F.interpolate(x, size=(nh * p, nw * p), mode="bilinear", align_corners=True)
        x = self.conv_1x1(self.conv_kxk(x))
        c = x.shape[1]
        # [B, C, H, W] -> [B, C, P, N] with P = p*p pixels per patch and N = nh*nw patches.
        x = x.reshape(b, c, nh, p, nw, p).permute(0, 1, 3, 5, 2, 4).reshape(b, c, p * p, nh * nw)
        x = self.norm(self.transformer(x))
        x = x.reshape(b, c, p, p, nh, nw).permute(0, 1, 4, 2, 5, 3).reshape(b, c, nh * p, nw * p)
        return self.conv_proj(x)


class MobileViTv2(nn.Module):
    """MobileViTv2 with width multiplier ``width`` (0.5 gives the paper's MobileViTv2-0.5).

    With ``width=0.5`` and 10 classes the network has 55 convolutions, 9 depthwise convolutions and 1 linear layer:
    11,013 FIM bins.

    Examples
    --------
    >>> m = MobileViTv2(torch.nn.SiLU, num_classes=10)
    >>> m(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 10])
    """

    input_shape = (3, 160, 160)

    def __init__(self, act: Callable[[], nn.Module], num_classes: int = 10, *, width: float = 0.5) -> None:
        super().__init__()
        chs = [int(c * width) for c in (64, 128, 256, 384, 512)]
        stem = int(32 * width)
        self.stem = _ConvNormAct(act, 3, stem, 3, 2)
        stages: list[nn.Module] = [
            nn.Sequential(_InvertedResidual(act, stem, chs[0], 1, 2.0)),
            nn.Sequential(_InvertedResidual(act, chs[0], chs[1], 2, 2.0), _InvertedResidual(act, chs[1], chs[1], 1, 2.0)),
        ]
        cin = chs[1]
        for c, depth in zip(chs[2:], (2, 4, 3)):
            stages.append(nn.Sequential(_InvertedResidual(act, cin, c, 2, 2.0), _MobileViTv2Block(act, c, depth)))
            cin = c
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


@register_model("mobilevitv2-0.5", input_shape=(3, 160, 160), default_num_classes=10,
                description="MobileViTv2-0.5 (Imagenette 10 classes or ImageNet 1000, 160x160)")
def _mobilevitv2_050(act, num_classes, **kw):
    return MobileViTv2(act, num_classes, **kw)
