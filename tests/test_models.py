"""Conformance of the model registry and the paper's architectures (layer tables, published sizes)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from act_bench.errors import InvalidInputError
from act_bench.features import fim_layers, fim_layout
from act_bench.space import ActivationFunction
from data_builders.models import create_model, get_model_spec, list_models, register_model

_TORCH_ACTS = (nn.ReLU, nn.SiLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.Hardswish, nn.LeakyReLU)


def _count_weight_layers(model):
    counts = {"conv": 0, "depthwise": 0, "linear": 0}
    for m in model.modules():
        if isinstance(m, nn.Linear):
            counts["linear"] += 1
        elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
            counts["depthwise" if m.groups > 1 else "conv"] += 1
    return counts


def test_registry_lists_and_refuses_overwrite():
    assert list_models() == ["all-cnn-c", "mnist1d-cnn", "mnist1d-resnet", "mnist1d-vit", "mobilevitv2-0.5", "resnet-50",
                             "resnet-56"]
    with pytest.raises(InvalidInputError, match="already registered"):
        register_model("all-cnn-c", input_shape=(1,), default_num_classes=2)(lambda act, k: nn.Linear(1, k))
    with pytest.raises(InvalidInputError, match="all-cnn-c, mnist1d-cnn"):
        create_model("vgg", "relu(x)")
    with pytest.raises(InvalidInputError, match="num_classes"):
        create_model("all-cnn-c", "relu(x)", num_classes=0)
    with pytest.raises(InvalidInputError, match="invalid option"):
        create_model("all-cnn-c", "relu(x)", widht=3)
    with pytest.raises(InvalidInputError, match="unknown operator"):
        create_model("all-cnn-c", "foo(x)")
    with pytest.raises(InvalidInputError, match="nn.Module"):
        create_model("all-cnn-c", lambda: 3)


@pytest.mark.parametrize("name", ["all-cnn-c", "mnist1d-cnn", "mnist1d-resnet", "mnist1d-vit", "mobilevitv2-0.5",
                                  "resnet-56", "resnet-50"])
def test_every_model_uses_the_given_activation_everywhere(name):
    spec = get_model_spec(name)
    model = create_model(name, "tanh(sigmoid(x))", num_classes=7, seed=0)
    assert model.input_shape == spec.input_shape and model.num_classes == 7
    acts = [m for m in model.modules() if isinstance(m, ActivationFunction)]
    assert acts and all(str(a.expr) == "tanh(sigmoid(x))" for a in acts)
    assert not any(isinstance(m, _TORCH_ACTS) for m in model.modules())
    assert len({id(a) for a in acts}) == len(acts)
    for layer in fim_layers(model):  # only supported weight layers; norms excluded
        assert layer.omega_dim * layer.gamma_dim == layer.weights
    if name != "resnet-50":  # the 160x160 ResNet-50 forward is slow on 2 cores; its shape is checked below
        model.eval()
        with torch.no_grad():
            out = model(torch.randn(2, *spec.input_shape, generator=torch.Generator().manual_seed(0)))
        assert out.shape == (2, 7)


def test_module_factories_and_seeds():
    a = create_model("mnist1d-cnn", nn.GELU, seed=3)
    assert sum(isinstance(m, nn.GELU) for m in a.modules()) == 3
    b = create_model("mnist1d-cnn", lambda: nn.GELU(), seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    state = torch.random.get_rng_state()
    c = create_model("mnist1d-cnn", "relu(x)", seed=4)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is untouched
    assert not torch.equal(next(a.parameters()), next(c.parameters()))
    wide = create_model("mnist1d-cnn", "relu(x)", channels=(8, 16, 24))
    assert wide.classifier.in_features == 240
    assert wide(torch.zeros(1, 1, 40)).shape == (1, 10)


def test_paper_fim_dimensions_and_layer_counts():
    """Appendix D: 13,692 / 16,500 / 11,013 features; MobileViTv2-0.5 has 55 convolutions, 9 depthwise and one
    linear layer (the layer table of timm's mobilevitv2_050 with 10 classes)."""
    allcnn = create_model("all-cnn-c", "relu(x)")
    assert fim_layout(allcnn).dims == 13692
    assert _count_weight_layers(allcnn) == {"conv": 9, "depthwise": 0, "linear": 0}
    resnet = create_model("resnet-56", "relu(x)")
    assert fim_layout(resnet).dims == 16500
    assert _count_weight_layers(resnet) == {"conv": 58, "depthwise": 0, "linear": 1}
    mvit = create_model("mobilevitv2-0.5", "relu(x)")
    assert fim_layout(mvit).dims == 11013
    assert _count_weight_layers(mvit) == {"conv": 55, "depthwise": 9, "linear": 1}


def test_published_parameter_counts():
    # ResNet-50: 25,557,032 parameters (torchvision / He et al.); MobileViTv2-0.5 (1000 classes): 1.4 M (Mehta &
    # Rastegari, 2022, Table 1; timm lists 1.37 M).
    r50 = create_model("resnet-50", "relu(x)")
    assert sum(p.numel() for p in r50.parameters()) == 25_557_032
    assert _count_weight_layers(r50) == {"conv": 53, "depthwise": 0, "linear": 1}
    mvit = create_model("mobilevitv2-0.5", "relu(x)", num_classes=1000)
    assert round(sum(p.numel() for p in mvit.parameters()) / 1e4) == 137
    # All-CNN-C: 1.37 M parameters (Springenberg et al., 2015, Table 3: "1.4 M")
    assert round(sum(p.numel() for p in create_model("all-cnn-c", "relu(x)").parameters()) / 1e5) == 14


def test_resnet50_output_shape_on_a_small_image():
    model = create_model("resnet-50", "relu(x)", num_classes=5, seed=0).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 5)


def test_mobilevit_handles_sizes_not_divisible_by_the_patch():
    model = create_model("mobilevitv2-0.5", "swish(x)", seed=0).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 72, 72)).shape == (1, 10)  # 72 -> ... -> 9 (interpolated to 10)
