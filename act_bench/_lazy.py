"""Lazy package exports (PEP 562): a name of a package's public API loads its module on first use.

``import act_bench`` (and ``act_bench.space``, ``act_bench.features``) stays light this way: torch, pyarrow and
``datasets`` load only when a name that needs them is used, so the CLI answers ``--help`` and ``--version`` without
them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str], subpackages: Iterable[str] = ()
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``.

    ``names`` maps each lazily exported name to the module that defines it; ``subpackages`` are the names of
    ``package``'s subpackages that ``package.<name>`` imports on use. A loaded name is stored in the package, so it
    costs one import.
    """
    names = dict(names)
    subpackages = frozenset(subpackages)

    def __getattr__(name: str) -> Any:
        if name in subpackages:
            return importlib.import_module(f"{package}.{name}")
        source = names.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names) | subpackages)

    return __getattr__, __dir__
