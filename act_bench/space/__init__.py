"""Search space: operators, the expression language, schemas, enumeration and equivalence classes.

Examples
--------
>>> from act_bench.space import parse, function_outputs
>>> str(parse("max(relu(x), cosh(elu(x)))"))
'max(relu(x),cosh(elu(x)))'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from act_bench._lazy import lazy_exports

if TYPE_CHECKING:  # pragma: no cover - the names resolve lazily at run time (PEP 562)
    from act_bench.space._baselines import BASELINE_FUNCTIONS
    from act_bench.space._enumerate import (
        PAPER_FOUR_NODE_SCHEMAS,
        PAPER_THREE_NODE_SCHEMA,
        EquivalenceClasses,
        count_graphs,
        count_unique,
        decode_index,
        enumerate_schema,
        equivalence_classes,
        evaluate_many,
        find_equivalents,
        output_keys,
    )
    from act_bench.space._evaluate import (
        STANDARD_INPUT_SPEC,
        ActivationFunction,
        BackwardMode,
        as_expr,
        evaluate,
        function_outputs,
        gaussian_moments,
        standard_inputs,
        value_and_derivative,
    )
    from act_bench.space._expr import PLACEHOLDERS, Expr, X, parse, parse_schema
    from act_bench.space._fast import exact_kernels, fast_kernels
    from act_bench.space._lookup import (
        DEFAULT_SPACE_SCHEMA,
        OutputSummary,
        SpaceEntry,
        lookup_default_space,
        summarize_outputs,
    )
    from act_bench.space._ops import (
        BINARY_OPS,
        EXTRA_UNARY_OPS,
        NARY_OPS,
        UNARY_OPS,
        Operator,
        OpKind,
        get_operator,
        list_operators,
    )
    from act_bench.space._twins import TWIN_ATOL, TWIN_ULPS, are_twins, twin_groups, twin_inputs

__all__ = [
    "BASELINE_FUNCTIONS",
    "BINARY_OPS",
    "DEFAULT_SPACE_SCHEMA",
    "EXTRA_UNARY_OPS",
    "NARY_OPS",
    "PAPER_FOUR_NODE_SCHEMAS",
    "PAPER_THREE_NODE_SCHEMA",
    "PLACEHOLDERS",
    "STANDARD_INPUT_SPEC",
    "TWIN_ATOL",
    "TWIN_ULPS",
    "UNARY_OPS",
    "ActivationFunction",
    "BackwardMode",
    "EquivalenceClasses",
    "Expr",
    "OpKind",
    "OpSpec",
    "Operator",
    "OutputSummary",
    "SpaceEntry",
    "X",
    "are_twins",
    "as_expr",
    "count_graphs",
    "count_unique",
    "decode_index",
    "enumerate_schema",
    "equivalence_classes",
    "evaluate",
    "evaluate_many",
    "exact_kernels",
    "fast_kernels",
    "find_equivalents",
    "function_outputs",
    "gaussian_moments",
    "get_operator",
    "get_spec",
    "list_operators",
    "lookup_default_space",
    "output_keys",
    "parse",
    "parse_schema",
    "standard_inputs",
    "summarize_outputs",
    "twin_groups",
    "twin_inputs",
    "value_and_derivative",
]

# `import act_bench.space` stays light: the parser and the operator catalogue need no torch, so `act-bench space show`
# answers from the default-space lookup without it; every other name loads its module (and torch) on first use
_LAZY: dict[str, str] = {
    "TWIN_ATOL": "act_bench.space._twins",
    "TWIN_ULPS": "act_bench.space._twins",
    "are_twins": "act_bench.space._twins",
    "twin_groups": "act_bench.space._twins",
    "twin_inputs": "act_bench.space._twins",
    "BASELINE_FUNCTIONS": "act_bench.space._baselines",
    "PAPER_FOUR_NODE_SCHEMAS": "act_bench.space._enumerate",
    "PAPER_THREE_NODE_SCHEMA": "act_bench.space._enumerate",
    "EquivalenceClasses": "act_bench.space._enumerate",
    "count_graphs": "act_bench.space._enumerate",
    "count_unique": "act_bench.space._enumerate",
    "decode_index": "act_bench.space._enumerate",
    "enumerate_schema": "act_bench.space._enumerate",
    "equivalence_classes": "act_bench.space._enumerate",
    "evaluate_many": "act_bench.space._enumerate",
    "find_equivalents": "act_bench.space._enumerate",
    "output_keys": "act_bench.space._enumerate",
    "STANDARD_INPUT_SPEC": "act_bench.space._evaluate",
    "ActivationFunction": "act_bench.space._evaluate",
    "BackwardMode": "act_bench.space._evaluate",
    "as_expr": "act_bench.space._evaluate",
    "evaluate": "act_bench.space._evaluate",
    "function_outputs": "act_bench.space._evaluate",
    "gaussian_moments": "act_bench.space._evaluate",
    "standard_inputs": "act_bench.space._evaluate",
    "value_and_derivative": "act_bench.space._evaluate",
    "exact_kernels": "act_bench.space._fast",
    "fast_kernels": "act_bench.space._fast",
    "PLACEHOLDERS": "act_bench.space._expr",
    "Expr": "act_bench.space._expr",
    "X": "act_bench.space._expr",
    "parse": "act_bench.space._expr",
    "parse_schema": "act_bench.space._expr",
    "DEFAULT_SPACE_SCHEMA": "act_bench.space._lookup",
    "OutputSummary": "act_bench.space._lookup",
    "SpaceEntry": "act_bench.space._lookup",
    "lookup_default_space": "act_bench.space._lookup",
    "summarize_outputs": "act_bench.space._lookup",
    "BINARY_OPS": "act_bench.space._ops",
    "EXTRA_UNARY_OPS": "act_bench.space._ops",
    "NARY_OPS": "act_bench.space._ops",
    "UNARY_OPS": "act_bench.space._ops",
    "Operator": "act_bench.space._ops",
    "OpKind": "act_bench.space._catalogue",
    "OpSpec": "act_bench.space._catalogue",
    "get_spec": "act_bench.space._catalogue",
    "get_operator": "act_bench.space._ops",
    "list_operators": "act_bench.space._catalogue",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
