"""Recipe files (YAML, validated on load, written atomically) and the recipe registry: the shipped files of this
package plus the recipes registered at run time."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from act_bench.errors import InvalidInputError
from act_bench.utils import atomic_write_text
from data_builders.recipes._recipe import Recipe

__all__ = ["create_recipe", "get_recipe", "list_recipes", "load_recipe", "register_recipe", "save_recipe"]


# --- file I/O ------------------------------------------------------------------------------------------------------

def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Load and validate a recipe YAML file.

    Parameters
    ----------
    path : str or path-like
        A ``.yaml`` file with the keys of :class:`Recipe`.

    Returns
    -------
    Recipe

    Raises
    ------
    InvalidInputError
        If the file is not valid YAML, has unknown or missing keys, or values of the wrong type or range
        (the message names the file and the dotted key).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from data_builders.recipes import get_recipe, save_recipe, load_recipe
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.yaml"
    >>> save_recipe(get_recipe("act-bench-resnet").with_overrides(name="mine", epochs=3), p)
    >>> load_recipe(p).epochs
    3
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"recipe file {str(path)!r} does not exist") from None
    except OSError as exc:
        raise InvalidInputError(f"recipe file {str(path)!r} cannot be read: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"recipe file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})"
                                ) from None
    return _parse_text(text, source=f"recipe file {str(path)!r}")


def _parse_text(text: str, *, source: str) -> Recipe:
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise InvalidInputError(f"{source}: not valid YAML ({' '.join(str(exc).split())[:200]})") from None
    return Recipe.from_dict(data, source=source)


def save_recipe(recipe: Recipe, path: str | os.PathLike[str]) -> None:
    """Write ``recipe`` as YAML (atomically: temp file then rename); ``load_recipe(path) == recipe``."""
    if not isinstance(recipe, Recipe):
        raise InvalidInputError(f"parameter recipe of save_recipe must be a Recipe; got {type(recipe).__name__}")
    atomic_write_text(path, yaml.safe_dump(recipe.to_dict(), sort_keys=False))


# --- registry ------------------------------------------------------------------------------------------------------

_REGISTRY: dict[str, Recipe] = {}
_BUILTINS_LOADED = False


def _ensure_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    package = resources.files("data_builders.recipes")
    for entry in sorted(package.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            recipe = _parse_text(entry.read_text(encoding="utf-8"), source=f"recipe file {entry.name!r}")
            expected = entry.name.removesuffix(".yaml")
            if recipe.name != expected:
                raise InvalidInputError(f"recipe file {entry.name!r}: key 'name' must be {expected!r} (the file "
                                        f"name); got {recipe.name!r}")
            register_recipe(recipe)


def register_recipe(recipe: Recipe, *, overwrite: bool = False) -> Recipe:
    """Add ``recipe`` to the registry under ``recipe.name``; refuses to replace an existing one silently.

    Examples
    --------
    >>> from data_builders.recipes import get_recipe, register_recipe, list_recipes
    >>> _ = register_recipe(get_recipe("act-bench-cnn").with_overrides(name="doc-tiny-cnn", epochs=1))
    >>> "doc-tiny-cnn" in list_recipes()
    True
    """
    if not isinstance(recipe, Recipe):
        raise InvalidInputError(f"parameter recipe of register_recipe must be a Recipe; got {type(recipe).__name__}")
    _ensure_builtins()
    if recipe.name in _REGISTRY and not overwrite:
        raise InvalidInputError(f"recipe {recipe.name!r} is already registered (pass overwrite=True to replace it)")
    _REGISTRY[recipe.name] = recipe
    return recipe


def list_recipes() -> list[str]:
    """Sorted names of the registered recipes (the shipped YAML files plus any registered at run time)."""
    _ensure_builtins()
    return sorted(_REGISTRY)


def get_recipe(name: str | os.PathLike[str]) -> Recipe:
    """The recipe registered as ``name``, or the recipe in the YAML file ``name`` if it is a path to one.

    Raises
    ------
    InvalidInputError
        If ``name`` is neither a registered recipe nor an existing ``.yaml``/``.yml`` file (lists valid names).
    """
    _ensure_builtins()
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    if isinstance(name, (str, os.PathLike)):
        text = os.fspath(name)
        if text.endswith((".yaml", ".yml")) and Path(text).is_file():
            return load_recipe(text)
    raise InvalidInputError(f"unknown recipe {name!r}; valid recipes: {', '.join(sorted(_REGISTRY))} "
                            "(or a path to a recipe .yaml file)")


def create_recipe(name: str | os.PathLike[str], **overrides: Any) -> Recipe:
    """``get_recipe(name).with_overrides(**overrides)``.

    Examples
    --------
    >>> from data_builders.recipes import create_recipe
    >>> create_recipe("act-bench-mnist1d", epochs=1).epochs
    1
    """
    recipe = get_recipe(name)
    return recipe.with_overrides(**overrides) if overrides else recipe
