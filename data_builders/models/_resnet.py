"""ResNet-56 (CIFAR bottleneck "v2", biased convolutions) and ResNet-50 (ImageNet bottleneck, v1.5)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from data_builders.models._registry import register_model

__all__ = ["ResNet50", "ResNetV2Cifar"]


class _PreActUnit(nn.Module):
    """[BN -> act ->] conv (biased, 'same' padding), the pre-activation unit of ResNet v2."""

    def __init__(self, act, cin: int, cout: int, kernel: int, stride: int = 1, *, norm_act: bool = True) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin) if norm_act else None
        self.act = act() if norm_act else None
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is not None:
            x = self.act(self.bn(x))
        return self.conv(x)


class _BottleneckV2(nn.Module):
    def __init__(self, act, cin: int, mid: int, cout: int, stride: int, *, first_in_net: bool, project: bool) -> None:
        super().__init__()
        # The very first unit of the network already follows BN+act of the stem, so its first conv has neither.
        self.unit1 = _PreActUnit(act, cin, mid, 1, stride, norm_act=not first_in_net)
        self.unit2 = _PreActUnit(act, mid, mid, 3)
        self.unit3 = _PreActUnit(act, mid, cout, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=True) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.unit3(self.unit2(self.unit1(x)))
        return y + (self.shortcut(x) if self.shortcut is not None else x)


class ResNetV2Cifar(nn.Module):
    """Pre-activation bottleneck ResNet for 32x32 images (the Keras ``cifar10_resnet`` v2 layout), depth 9n+2.

    Stem conv3-16 + BN + act; three stages of ``n = (depth - 2) / 9`` bottleneck blocks (1x1, 3x3, 1x1 pre-activation
    units, biased convolutions) with 16->64, 64->128, 128->256 channels (stride 2 at the start of stages 2 and 3, 1x1
    projection shortcut in each stage's first block); final BN + act, 8x8 average pooling, linear classifier.
    Depth 56 has 62 weight layers and 16,500 FIM bins.

    Examples
    --------
    >>> m = ResNetV2Cifar(torch.nn.ReLU, depth=11)
    >>> m(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    """

    input_shape = (3, 32, 32)

    def __init__(self, act: Callable[[], nn.Module], num_classes: int = 10, *, depth: int = 56) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 11 or (depth - 2) % 9:
            from act_bench.errors import InvalidInputError
            raise InvalidInputError(f"parameter depth of ResNetV2Cifar must be 9n+2 with n >= 1; got {depth!r}")
        n = (depth - 2) // 9
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=True), nn.BatchNorm2d(16), act())
        blocks: list[nn.Module] = []
        cin = 16
        for stage in range(3):
            cout = cin * 4 if stage == 0 else cin * 2
            for b in range(n):
                stride = 2 if (stage > 0 and b == 0) else 1
                blocks.append(_BottleneckV2(act, cin if b == 0 else cout, cin, cout, stride,
                                            first_in_net=(stage == 0 and b == 0), project=(b == 0)))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head_norm = nn.BatchNorm2d(cin)
        self.head_act = act()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        x = self.pool(self.head_act(self.head_norm(x))).flatten(1)
        return self.fc(x)


class _Bottleneck50(nn.Module):
    def __init__(self, act, cin: int, mid: int, stride: int) -> None:
        super().__init__()
        cout = mid * 4
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act1 = act()
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.act2 = act()
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        self.act3 = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.act2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.act3(y + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    """ResNet-50 (He et al., 2016; stride on the 3x3 convolution, "v1.5"), unbiased convolutions + BN, 1000 classes.

    Examples
    --------
    >>> m = ResNet50(torch.nn.ReLU, num_classes=3)
    >>> sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())
    53
    """

    input_shape = (3, 160, 160)

    def __init__(self, act: Callable[[], nn.Module], num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64), act(),
                                  nn.MaxPool2d(3, stride=2, padding=1))
        stages: list[nn.Module] = []
        cin = 64
        for i, (mid, count) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            blocks = []
            for b in range(count):
                blocks.append(_Bottleneck50(act, cin, mid, 2 if (b == 0 and i > 0) else 1))
                cin = mid * 4
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


@register_model("resnet-56", input_shape=(3, 32, 32), default_num_classes=10,
                description="ResNet-56, CIFAR bottleneck v2 with biased convolutions")
def _resnet56(act, num_classes, **kw):
    return ResNetV2Cifar(act, num_classes, depth=56, **kw)


@register_model("resnet-50", input_shape=(3, 160, 160), default_num_classes=1000,
                description="ResNet-50 (ImageNet, 160x160 as in the paper's recipe)")
def _resnet50(act, num_classes, **kw):
    return ResNet50(act, num_classes, **kw)
