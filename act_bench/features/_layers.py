"""The weight layers of a network that enter the FIM: their kind, weight count and K-FAC factor sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from torch import nn

from act_bench.errors import InvalidInputError

__all__ = ["LayerInfo", "LayerKind", "fim_layers"]

#: Parameterised layers that are not part of the FIM (as in the paper).
_EXCLUDED = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm) + (
    (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())


class LayerKind(str, Enum):
    """Kind of a weight layer in the FIM."""

    LINEAR = "linear"
    CONV1D = "conv1d"
    CONV2D = "conv2d"
    DEPTHWISE1D = "depthwise-conv1d"
    DEPTHWISE2D = "depthwise-conv2d"


@dataclass(frozen=True)
class LayerInfo:
    """A weight layer of the FIM: module name, kind, number of weights (incl. bias), factor sizes."""

    name: str
    kind: LayerKind
    weights: int
    omega_dim: int
    gamma_dim: int


def _conv_geometry(mod: nn.Module) -> tuple[int, int]:
    """(dims, kernel elements) of a Conv1d/Conv2d."""
    return (1 if isinstance(mod, nn.Conv1d) else 2), math.prod(mod.kernel_size)


def _layer_info(name: str, mod: nn.Module) -> LayerInfo:
    bias = 1 if getattr(mod, "bias", None) is not None else 0
    if isinstance(mod, nn.Linear):
        return LayerInfo(name, LayerKind.LINEAR, mod.weight.numel() + bias * mod.out_features,
                         mod.in_features + bias, mod.out_features)
    if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
        dims, k = _conv_geometry(mod)
        cin, cout, groups = mod.in_channels, mod.out_channels, mod.groups
        weights = mod.weight.numel() + bias * cout
        if groups == 1:
            kind = LayerKind.CONV1D if dims == 1 else LayerKind.CONV2D
            return LayerInfo(name, kind, weights, cin * k + bias, cout)
        if groups == cin == cout:
            kind = LayerKind.DEPTHWISE1D if dims == 1 else LayerKind.DEPTHWISE2D
            return LayerInfo(name, kind, weights, k + bias, cout)
        raise InvalidInputError(
            f"layer {name!r} is a grouped convolution (groups={groups}, in={cin}, out={cout}); the FIM supports "
            "groups == 1 and depthwise convolutions (groups == in_channels == out_channels)")
    raise InvalidInputError(f"layer {name!r} of type {type(mod).__name__} is not supported")


def fim_layers(model: nn.Module) -> list[LayerInfo]:
    """The weight layers of ``model`` that enter the FIM, in module order (nothing is computed).

    Linear, Conv1d and Conv2d (incl. depthwise) are included; normalisation layers are excluded; any other module
    that owns parameters raises :class:`~act_bench.errors.InvalidInputError`.

    Examples
    --------
    >>> m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    >>> [(x.name, x.weights) for x in fim_layers(m)]
    [('0', 16), ('2', 10)]
    """
    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"parameter model must be a torch.nn.Module; got {type(model).__name__}")
    out = []
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            out.append(_layer_info(name, mod))
        elif isinstance(mod, _EXCLUDED):
            continue
        elif any(True for _ in mod.parameters(recurse=False)):
            raise InvalidInputError(
                f"layer {name!r} of type {type(mod).__name__} owns parameters but is not supported by the FIM "
                "(supported: Linear, Conv1d, Conv2d incl. depthwise; norm layers are excluded)")
    return out
