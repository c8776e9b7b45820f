"""Architectures of the paper as a registry: ``create_model(name, activation)``.

Examples
--------
>>> from data_builders.models import create_model, list_models
>>> list_models()
['all-cnn-c', 'mnist1d-cnn', 'mnist1d-resnet', 'mnist1d-vit', 'mobilevitv2-0.5', 'resnet-50', 'resnet-56']
>>> create_model("all-cnn-c", "relu(x)").input_shape
(3, 32, 32)
"""

from __future__ import annotations

from data_builders.models import _cnn, _mnist1d, _mobilevit, _resnet  # noqa: F401  (register the models)
from data_builders.models._cnn import MNIST1DCNN, AllCNNC
from data_builders.models._mnist1d import MNIST1DResNet, MNIST1DViT
from data_builders.models._mobilevit import MobileViTv2
from data_builders.models._registry import (
    ActivationSpec,
    ModelSpec,
    activation_factory,
    create_model,
    get_model_spec,
    list_models,
    register_model,
)
from data_builders.models._resnet import ResNet50, ResNetV2Cifar

__all__ = [
    "MNIST1DCNN",
    "ActivationSpec",
    "AllCNNC",
    "MNIST1DResNet",
    "MNIST1DViT",
    "MobileViTv2",
    "ModelSpec",
    "ResNet50",
    "ResNetV2Cifar",
    "activation_factory",
    "create_model",
    "get_model_spec",
    "list_models",
    "register_model",
]
