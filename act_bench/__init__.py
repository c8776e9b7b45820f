"""act-bench: efficient activation-function search through surrogate modelling (Bingham & Miikkulainen, 2023).

Examples
--------
>>> import act_bench
>>> act_bench.function_outputs("relu(x)").shape
(1000,)
"""

from __future__ import annotations

from act_bench._version import __version__
from act_bench.errors import ActBenchError, InvalidInputError, ParseError
from act_bench.space import ActivationFunction, Expr, function_outputs, parse

__all__ = ["__version__", "ActivationFunction", "Expr", "function_outputs", "parse", "ActBenchError",
           "InvalidInputError", "ParseError"]


def __getattr__(name: str):  # lazy: tables pull in pyarrow/datasets, keep `import act_bench` light
    if name in ("load_table", "BenchmarkTable"):
        from act_bench import tables

        return getattr(tables, name)
    raise AttributeError(f"module 'act_bench' has no attribute {name!r}")
