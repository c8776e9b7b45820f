"""Model registry: ``@register_model``, ``create_model``, ``list_models``, ``get_model_spec``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from act_bench.errors import InvalidInputError
from act_bench.space import ActivationFunction, Expr, as_expr
from act_bench.utils import check_int

__all__ = [
    "ActivationSpec",
    "ModelSpec",
    "activation_factory",
    "create_model",
    "get_model_spec",
    "list_models",
    "register_model",
]

#: An activation given as an expression string, an :class:`~act_bench.space.Expr`, or a zero-argument callable
#: returning a fresh ``nn.Module`` (e.g. ``torch.nn.ReLU``).
ActivationSpec = str | Expr | Callable[[], nn.Module]


@dataclass(frozen=True)
class ModelSpec:
    """A registered architecture.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"all-cnn-c"``.
    builder : callable
        ``builder(act_factory, num_classes, **kw) -> nn.Module``.
    input_shape : tuple of int
        Shape of one input example without the batch dimension, e.g. ``(3, 32, 32)``.
    default_num_classes : int
        Number of classes when ``num_classes`` is not given.
    description : str
        One line for ``models list``/``describe``.
    """

    name: str
    builder: Callable[..., nn.Module]
    input_shape: tuple[int, ...]
    default_num_classes: int
    description: str = ""


_MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, *, input_shape: tuple[int, ...], default_num_classes: int, description: str = ""):
    """Decorator registering ``builder(act_factory, num_classes, **kw)`` under ``name`` (no silent overwrite).

    Examples
    --------
    >>> from data_builders.models import register_model
    >>> @register_model("my-mlp-doctest", input_shape=(4,), default_num_classes=2)
    ... def _build(act, num_classes):
    ...     return torch.nn.Sequential(torch.nn.Linear(4, 8), act(), torch.nn.Linear(8, num_classes))
    """

    def deco(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise InvalidInputError(f"a model named {name!r} is already registered; choose another name")
        _MODELS[name] = ModelSpec(name, builder, tuple(int(s) for s in input_shape), int(default_num_classes),
                                  description)
        return builder

    return deco


def list_models() -> list[str]:
    """Names of all registered models, sorted.

    Examples
    --------
    >>> "all-cnn-c" in list_models()
    True
    """
    return sorted(_MODELS)


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name``; unknown names raise listing the valid ones."""
    try:
        return _MODELS[name]
    except (KeyError, TypeError):
        raise InvalidInputError(f"parameter name of create_model must be one of {', '.join(list_models())}; "
                                f"got {name!r}") from None


def activation_factory(activation: ActivationSpec) -> Callable[[], nn.Module]:
    """Turn an activation spec into a zero-argument factory of fresh modules (expressions are parsed once here)."""
    if isinstance(activation, (str, Expr)):
        expr = as_expr(activation)
        return lambda: ActivationFunction(expr)
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    if callable(activation) and not isinstance(activation, nn.Module):
        probe = activation()
        if not isinstance(probe, nn.Module):
            raise InvalidInputError("parameter activation of create_model must be an expression string, an Expr or "
                                    f"a callable returning an nn.Module; the callable returned {type(probe).__name__}")
        return activation
    raise InvalidInputError("parameter activation of create_model must be an expression string, an Expr or a "
                            f"callable returning an nn.Module; got {activation!r}")


def create_model(name: str, activation: ActivationSpec, *, num_classes: int | None = None, seed: int | None = None,
                 **kw: Any) -> nn.Module:
    """Build a registered architecture with ``activation`` in place of every activation of the original.

    Parameters
    ----------
    name : str
        One of :func:`list_models`.
    activation : str, Expr or callable
        Activation expression (e.g. ``"relu(x)"``) or a zero-argument factory of ``nn.Module``.
    num_classes : int, optional
        Output classes; defaults to the model's ``default_num_classes``.
    seed : int, optional
        Seed of the weight initialisation (PyTorch defaults), drawn inside a forked RNG so the caller's global
        random state is left untouched. None: use the current global state.
    **kw
        Architecture-specific options (e.g. widths of ``mnist1d-cnn``).

    Returns
    -------
    torch.nn.Module
        The network (float32, PyTorch default initialisation) with attributes ``input_shape`` (one example, no batch
        dimension), ``num_classes`` and ``model_name``. Its output is the logits, fed to the loss directly.

    Examples
    --------
    >>> m = create_model("mnist1d-cnn", "relu(x)")
    >>> m(torch.zeros(2, *m.input_shape)).shape
    torch.Size([2, 10])
    """
    spec = get_model_spec(name)
    if num_classes is None:
        num_classes = spec.default_num_classes
    num_classes = check_int(num_classes, "num_classes", "create_model", min_value=1)
    act = activation_factory(activation)
    if seed is not None:
        seed = check_int(seed, "seed", "create_model", min_value=0)
    try:
        if seed is None:
            model = spec.builder(act, num_classes, **kw)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = spec.builder(act, num_classes, **kw)
    except TypeError as exc:
        raise InvalidInputError(f"invalid option for model {name!r}: {exc}") from None
    model.input_shape = spec.input_shape
    model.num_classes = num_classes
    model.model_name = name
    return model

