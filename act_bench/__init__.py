"""act-bench: efficient activation-function search through surrogate modelling (Bingham & Miikkulainen, 2023).

Examples
--------
>>> import act_bench
>>> act_bench.function_outputs("relu(x)").shape
(1000,)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from act_bench._lazy import lazy_exports
from act_bench._version import __version__
from act_bench.errors import ActBenchError, InvalidInputError, ParseError

if TYPE_CHECKING:  # pragma: no cover - the names resolve lazily at run time (PEP 562)
    from act_bench.interop import load_table
    from act_bench.space import ActivationFunction, Expr, function_outputs, parse
    from act_bench.tables import BenchmarkTable

__all__ = [
    "ActBenchError",
    "ActivationFunction",
    "BenchmarkTable",
    "Expr",
    "InvalidInputError",
    "ParseError",
    "__version__",
    "function_outputs",
    "load_table",
    "parse",
]

# `import act_bench` stays light (no torch, pyarrow or datasets): these names load their package on first use, so the
# CLI answers --help and --version without importing torch
_LAZY = {"ActivationFunction": "act_bench.space", "Expr": "act_bench.space", "function_outputs": "act_bench.space",
         "parse": "act_bench.space", "BenchmarkTable": "act_bench.tables", "load_table": "act_bench.interop"}


_SUBPACKAGES = ("space", "features", "tables", "interop", "search", "live", "cli")


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, _SUBPACKAGES)
