"""All-CNN-C (Springenberg et al., 2015) and the small MNIST-1D CNN."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from act_bench.utils import check_float, check_int
from data_builders.models._registry import register_model

__all__ = ["MNIST1DCNN", "AllCNNC"]


class AllCNNC(nn.Module):
    """All-CNN-C for 32x32 RGB images (biased 3x3/1x1 convolutions, no normalisation, global average pooling).

    Layout (Springenberg et al., Table 2): conv3-96, conv3-96, conv3-96/2, dropout, conv3-192, conv3-192,
    conv3-192/2, dropout, conv3-192 (valid), conv1-192, conv1-K, global average. An activation follows every
    convolution except the last one, whose output (after pooling) is the logits; set ``final_activation=True``
    to also apply it to the class scores as in the original paper. 9 weight layers, 13,692 FIM bins.

    Examples
    --------
    >>> m = AllCNNC(torch.nn.ReLU, num_classes=10)
    >>> m(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 10])
    """

    input_shape = (3, 32, 32)

    def __init__(self, act: Callable[[], nn.Module], num_classes: int = 10, *, dropout: float = 0.5,
                 final_activation: bool = False) -> None:
        super().__init__()
        dropout = check_float(dropout, "dropout", "AllCNNC", min_value=0.0, max_value=1.0)
        layers: list[nn.Module] = [
            nn.Conv2d(3, 96, 3, padding=1), act(),
            nn.Conv2d(96, 96, 3, padding=1), act(),
            nn.Conv2d(96, 96, 3, stride=2, padding=1), act(),
            nn.Dropout(dropout),
            nn.Conv2d(96, 192, 3, padding=1), act(),
            nn.Conv2d(192, 192, 3, padding=1), act(),
            nn.Conv2d(192, 192, 3, stride=2, padding=1), act(),
            nn.Dropout(dropout),
            nn.Conv2d(192, 192, 3, padding=0), act(),
            nn.Conv2d(192, 192, 1), act(),
            nn.Conv2d(192, num_classes, 1),
        ]
        if final_activation:
            layers.append(act())
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


class MNIST1DCNN(nn.Module):
    """Small 1-D CNN for MNIST-1D (input ``(1, 40)``): three convolutions and a linear classifier.

    Conv1d(1, c1, 5, pad 2) -> act -> Conv1d(c1, c2, 3, stride 2, pad 1) -> act -> Conv1d(c2, c3, 3, stride 2, pad 1)
    -> act -> flatten -> Linear(c3 * 10, K). Widths ``c1, c2, c3`` default to 32.

    Examples
    --------
    >>> m = MNIST1DCNN(torch.nn.ReLU)
    >>> m(torch.zeros(4, 1, 40)).shape
    torch.Size([4, 10])
    """

    input_shape = (1, 40)

    def __init__(self, act: Callable[[], nn.Module], num_classes: int = 10, *, channels: tuple[int, int, int] = (32, 32, 32)
                 ) -> None:
        super().__init__()
        if not isinstance(channels, (tuple, list)) or len(channels) != 3:
            from act_bench.errors import InvalidInputError
            raise InvalidInputError(f"parameter channels of MNIST1DCNN must be 3 positive integers; got {channels!r}")
        c1, c2, c3 = (check_int(c, "channels", "MNIST1DCNN", min_value=1) for c in channels)
        self.features = nn.Sequential(
            nn.Conv1d(1, c1, 5, padding=2), act(),
            nn.Conv1d(c1, c2, 3, stride=2, padding=1), act(),
            nn.Conv1d(c2, c3, 3, stride=2, padding=1), act(),
        )
        self.classifier = nn.Linear(c3 * 10, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


@register_model("all-cnn-c", input_shape=(3, 32, 32), default_num_classes=10,
                description="All-CNN-C (CIFAR-10/100, 32x32), 9 biased convolutions")
def _all_cnn_c(act, num_classes, **kw):
    return AllCNNC(act, num_classes, **kw)


@register_model("mnist1d-cnn", input_shape=(1, 40), default_num_classes=10,
                description="3-layer 1-D CNN for MNIST-1D (input length 40)")
def _mnist1d_cnn(act, num_classes, **kw):
    return MNIST1DCNN(act, num_classes, **kw)
