"""Search space: operators, the expression language, schemas, enumeration and equivalence classes.

Examples
--------
>>> from act_bench.space import parse, function_outputs
>>> str(parse("max(relu(x), cosh(elu(x)))"))
'max(relu(x),cosh(elu(x)))'
"""

from __future__ import annotations

from act_bench.space._enumerate import (
    BASELINE_FUNCTIONS,
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

__all__ = [
    "BASELINE_FUNCTIONS",
    "BINARY_OPS",
    "EXTRA_UNARY_OPS",
    "NARY_OPS",
    "PAPER_FOUR_NODE_SCHEMAS",
    "PAPER_THREE_NODE_SCHEMA",
    "PLACEHOLDERS",
    "STANDARD_INPUT_SPEC",
    "UNARY_OPS",
    "ActivationFunction",
    "BackwardMode",
    "EquivalenceClasses",
    "Expr",
    "OpKind",
    "Operator",
    "X",
    "as_expr",
    "count_graphs",
    "count_unique",
    "decode_index",
    "enumerate_schema",
    "equivalence_classes",
    "evaluate",
    "evaluate_many",
    "find_equivalents",
    "function_outputs",
    "gaussian_moments",
    "get_operator",
    "list_operators",
    "output_keys",
    "parse",
    "parse_schema",
    "standard_inputs",
    "value_and_derivative",
]
