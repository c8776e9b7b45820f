"""The MNIST-1D suite models (mnist1d-resnet, mnist1d-vit): shapes, where the activation is applied, the FIM layer
table against a count from the parameters, the generated docs block, and a one-epoch run of each recipe."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from act_bench.cli import main
from act_bench.errors import InvalidInputError
from act_bench.features import compute_fim_features, fim_layers, fim_layout
from act_bench.space import ActivationFunction
from act_bench.tables import load_table
from data_builders.models import MNIST1DResNet, MNIST1DViT, create_model
from data_builders.recipes import get_recipe, save_recipe

ROOT = Path(__file__).resolve().parents[1]
FN = "add(tanh(x),sigmoid(x))"


def _calls_per_activation(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """How often each activation module runs in one forward pass (forward hooks)."""
    calls: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, ActivationFunction):
            calls[name] = 0
            handles.append(m.register_forward_hook(lambda mod, i, o, n=name: calls.__setitem__(n, calls[n] + 1)))
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return calls


@pytest.mark.parametrize("name", ["mnist1d-resnet", "mnist1d-vit"])
def test_forward_shape_and_num_classes(name):
    m = create_model(name, FN, num_classes=7, seed=0)
    assert m.input_shape == (1, 40)
    assert m(torch.randn(3, 1, 40, generator=torch.Generator().manual_seed(0))).shape == (3, 7)


def test_resnet_applies_the_activation_in_every_residual_branch():
    m = create_model("mnist1d-resnet", FN, seed=0)
    calls = _calls_per_activation(m, torch.randn(4, 1, 40))
    blocks = list(m.blocks)
    assert len(blocks) == 2
    assert blocks[0].shortcut is None and blocks[1].shortcut is not None  # one identity, one projection shortcut
    for i, block in enumerate(blocks):
        in_branch = [n for n in calls if n.startswith(f"blocks.{i}.")]
        assert len(in_branch) == 2 and all(calls[n] == 1 for n in in_branch)
    assert calls["head_act"] == 1 and len(calls) == 2 * len(blocks) + 1
    # the branch output changes when the activation changes (it is not bypassed)
    other = create_model("mnist1d-resnet", "relu(x)", seed=0)
    x = torch.randn(4, 1, 40)
    m.eval()
    other.eval()
    assert not torch.allclose(m.blocks[0](x.repeat(1, 16, 1)), other.blocks[0](x.repeat(1, 16, 1)))


def test_vit_applies_the_activation_in_every_mlp_and_the_stem():
    m = create_model("mnist1d-vit", FN, seed=0, depth=3)
    calls = _calls_per_activation(m, torch.randn(4, 1, 40))
    assert sorted(calls) == ["layers.0.act", "layers.1.act", "layers.2.act", "stem_act"]
    assert all(c == 1 for c in calls.values())
    assert not any(isinstance(x, nn.MultiheadAttention) for x in m.modules())


@pytest.mark.parametrize("name", ["mnist1d-resnet", "mnist1d-vit"])
def test_fim_layout_equals_a_count_from_the_parameters(name):
    m = create_model(name, FN, seed=0)
    # independent count: every module owning a weight except normalisation layers, numel of weight + bias
    expected = []
    for mod_name, mod in m.named_modules():
        own = dict(mod.named_parameters(recurse=False))
        if "weight" in own and not isinstance(mod, (nn.LayerNorm, nn.BatchNorm1d)):
            expected.append((mod_name, sum(p.numel() for p in own.values())))
    assert [(x.name, x.weights) for x in fim_layers(m)] == expected
    assert fim_layout(m).dims == sum(w // 100 for _, w in expected)
    if name == "mnist1d-vit":
        names = {x.name for x in fim_layers(m)}
        assert {f"layers.{i}.attn.{p}" for i in (0, 1) for p in ("q", "k", "v", "out")} <= names
    gen = torch.Generator().manual_seed(0)
    res = compute_fim_features(m, torch.randn(32, 1, 40, generator=gen), torch.randint(0, 10, (32,), generator=gen))
    assert res.valid and res.features.shape == (fim_layout(m).dims,)


def test_features_doc_layer_tables_are_current():
    spec = importlib.util.spec_from_file_location("model_layouts", ROOT / "docs/scripts/model_layouts.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    assert mod.updated(text) == text, "docs/features.md is stale: run python docs/scripts/model_layouts.py"


def test_recipes_doc_tuning_tables_are_current():
    spec = importlib.util.spec_from_file_location("tune_recipe", ROOT / "benchmarks/tune_recipe.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    results = mod.shipped_results()
    assert {p.name for p in results} >= {"tune_act-bench-mnist1d-resnet.json", "tune_act-bench-mnist1d-vit.json"}
    text = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    assert mod.updated_doc(text, results) == text, "docs/recipes.md is stale: run benchmarks/tune_recipe.py --write-docs"
    # each shipped suite recipe is one of the grid points measured on the shipped model
    current = {name: rows for (name, params), rows in mod._load_results(results).items()
               if params == sum(p.numel() for p in create_model(get_recipe(name).model, "relu(x)").parameters())}
    assert sorted(current) == ["act-bench-mnist1d-resnet", "act-bench-mnist1d-vit"]
    for name, rows in current.items():
        assert sum(mod._matches(r, get_recipe(name)) for r in rows) == 1, name


def test_invalid_options_say_what_is_valid():
    with pytest.raises(InvalidInputError, match="patch of MNIST1DViT must divide"):
        MNIST1DViT(nn.ReLU, patch=3)
    with pytest.raises(InvalidInputError, match="divisible by heads"):
        MNIST1DViT(nn.ReLU, dim=24, heads=5)
    with pytest.raises(InvalidInputError, match="channels of MNIST1DResNet"):
        MNIST1DResNet(nn.ReLU, channels=())
    with pytest.raises(InvalidInputError, match="invalid option"):
        create_model("mnist1d-vit", "relu(x)", width=2)


@pytest.mark.parametrize("recipe", ["act-bench-mnist1d-resnet", "act-bench-mnist1d-vit"])
def test_tiny_build_with_each_suite_recipe(recipe, tmp_path, capsys):
    """The real builder (CLI) on 2 functions, 1 seed, 1 epoch of tiny data: FIM features of the recipe's model."""
    r = get_recipe(recipe)
    assert r.task == "mnist1d" and r.seeds == 3 and r.model == recipe.replace("act-bench-", "")
    tiny = r.with_overrides(name=f"tiny-{recipe}", epochs=1, fim_batch_size=32,
                                             task_args={"num_samples": 600, "val_size": 100})
    save_recipe(tiny, tmp_path / "tiny.yaml")
    out = tmp_path / "table"
    assert main(["build", "--recipe", str(tmp_path / "tiny.yaml"), "--out", str(out), "--train-seeds", "1", "--limit", "2",
                 "--no-progress", "--json"]) == 0
    capsys.readouterr()
    table = load_table(out)
    model = create_model(tiny.model, "relu(x)")
    assert len(table.functions) == 2 and table.functions["fim_valid"].all()
    assert [row["layer"] for row in table.metadata["fim_layout"]] == [x.name for x in fim_layers(model)]
    assert {len(v) for v in table.functions["fim_cdf"]} == {fim_layout(model).dims}
