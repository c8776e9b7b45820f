"""Search space: operators, parser, enumeration, equivalence classes, torch module."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from act_bench.errors import InvalidInputError, ParseError
from act_bench.space import (
    BASELINE_FUNCTIONS,
    PAPER_FOUR_NODE_SCHEMAS,
    PAPER_THREE_NODE_SCHEMA,
    ActivationFunction,
    Expr,
    X,
    count_graphs,
    count_unique,
    decode_index,
    enumerate_schema,
    equivalence_classes,
    evaluate_many,
    find_equivalents,
    function_outputs,
    list_operators,
    parse,
    parse_schema,
    standard_inputs,
)

UNARY = list_operators("unary", extra=True)
BINARY = list_operators("binary")
NARY = list_operators("n-ary")


# --- operators ------------------------------------------------------------------------------------------------------

def test_operator_tables_match_design():
    assert len(list_operators("unary", extra=False)) == 27
    assert len(BINARY) == 7 and len(NARY) == 4
    assert set(UNARY) - set(list_operators("unary", extra=False)) == {"elish", "leakyrelu", "mish", "gelu"}


_F64_REFERENCE = {  # independent float64 references (numpy/scipy), TensorFlow 2.8 semantics
    "zero": lambda x: np.zeros_like(x), "one": lambda x: np.ones_like(x), "identity": lambda x: x,
    "negative": lambda x: -x, "abs": np.abs, "reciprocal": lambda x: 1 / x, "square": lambda x: x * x,
    "exp": np.exp, "erf": sp.erf, "erfc": sp.erfc, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "expm1": np.expm1, "sigmoid": sp.expit, "log_sigmoid": sp.log_expit, "arcsinh": np.arcsinh,
    "arctan": np.arctan, "bessel_i0e": sp.i0e, "bessel_i1e": sp.i1e, "relu": lambda x: np.maximum(x, 0),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "swish": lambda x: x * sp.expit(x), "softplus": lambda x: np.logaddexp(0, x),
    "softsign": lambda x: x / (1 + np.abs(x)), "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0, 1),
    "elish": lambda x: np.where(x >= 0, x, np.expm1(x)) * sp.expit(x),
    "leakyrelu": lambda x: np.where(x > 0, x, 0.2 * x), "mish": lambda x: x * np.tanh(np.logaddexp(0, x)),
    "gelu": lambda x: 0.5 * x * (1 + sp.erf(x / math.sqrt(2))),
}


@pytest.mark.parametrize("name", UNARY)
def test_unary_operator_matches_float64_reference(name):
    x = standard_inputs().astype(np.float64)
    ours = function_outputs(f"{name}({'x'})").astype(np.float64)
    ref = _F64_REFERENCE[name](x)
    np.testing.assert_allclose(ours, ref, rtol=2e-6, atol=2e-7, equal_nan=True)


@pytest.mark.parametrize("name,ref", [("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                                      ("div", np.divide), ("pow", np.power), ("max", np.maximum),
                                      ("min", np.minimum)])
def test_binary_operator_matches_reference(name, ref):
    x = standard_inputs().astype(np.float64)
    with np.errstate(all="ignore"):
        expected = ref(np.exp(x), np.tanh(x))
    ours = function_outputs(f"{name}(exp(x),tanh(x))").astype(np.float64)
    np.testing.assert_allclose(ours, expected, rtol=5e-6, atol=1e-7, equal_nan=True)


def test_nary_folds_left():
    y = function_outputs("sum_n(x,exp(x),tanh(x))")
    np.testing.assert_array_equal(y, function_outputs("add(add(x,exp(x)),tanh(x))"))
    np.testing.assert_array_equal(function_outputs("max_n(x,zero(x),tanh(x))"),
                                  function_outputs("max(max(x,zero(x)),tanh(x))"))


def test_swish_is_x_times_sigmoid_exactly():
    np.testing.assert_array_equal(function_outputs("swish(x)"), function_outputs("mul(x,sigmoid(x))"))


# --- parser ------------------------------------------------------------------------------------------------------------

def test_parse_canonical_roundtrip_and_whitespace():
    e = parse("  max( relu(x) ,\tcosh( elu(x) ) ) ")
    assert str(e) == "max(relu(x),cosh(elu(x)))"
    assert parse(str(e)) == e
    assert e == Expr("max", (Expr("relu", (X,)), Expr("cosh", (Expr("elu", (X,)),))))
    assert e.n_nodes == 4


@pytest.mark.parametrize("text,fragment", [
    ("max(relu(x)", "expected ')' at position 11"),
    ("", "empty string at position 0"),
    ("relu(x))", "unexpected ')' after the end of the expression at position 7"),
    ("relu x", "expected '(', found 'x' at position 5"),
    ("foo(x)", "unknown operator 'foo'"),
    ("relu(x,x)", "operator 'relu' takes 1 argument, got 2 at position 0"),
    ("add(x)", "operator 'add' takes 2 arguments, got 1"),
    ("sum_n(x)", "takes 2 or more arguments"),
    ("relu(y)", "unknown operator 'y'"),
    ("relu(x$)", "expected ')' or ',', found '$' at position 6"),
    ("binary(x,x)", "placeholders are only allowed in schemas"),
])
def test_parse_errors_name_position_and_expectation(text, fragment):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert fragment in str(info.value)


def test_unknown_operator_lists_valid_ones():
    with pytest.raises(ParseError) as info:
        parse("relux(x)")
    for name in ("relu", "swish", "max", "sum_n"):
        assert name in str(info.value)


def test_deep_nesting_is_an_error_not_a_crash():
    with pytest.raises(ParseError, match="nesting deeper"):
        parse("relu(" * 5000 + "x" + ")" * 5000)


def _exprs(max_leaves: int = 8):
    def extend(children):
        return st.one_of(
            st.builds(lambda op, a: Expr(op, (a,)), st.sampled_from(UNARY), children),
            st.builds(lambda op, a, b: Expr(op, (a, b)), st.sampled_from(BINARY), children, children),
            st.builds(lambda op, args: Expr(op, tuple(args)), st.sampled_from(NARY),
                      st.lists(children, min_size=2, max_size=4)),
        )
    return st.recursive(st.just(X), extend, max_leaves=max_leaves)


@given(_exprs())
@settings(max_examples=300, deadline=None)
def test_parse_str_roundtrip_property(e):
    assert parse(str(e)) == e
    spaced = str(e).replace(",", " , ").replace("(", " ( ")
    assert parse(spaced) == e


@given(st.text(alphabet="relux(),_ -sigmoidnary0123 \t", max_size=40))
@settings(max_examples=500, deadline=None)
def test_malformed_strings_raise_parse_error_only(text):
    try:
        e = parse(text)
    except ParseError:
        return
    assert parse(str(e)) == e


@given(_exprs(max_leaves=5))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_activation_module_matches_function_outputs(e):
    module = ActivationFunction(e)
    with torch.no_grad():
        y = module(torch.from_numpy(standard_inputs().copy())).numpy()
    np.testing.assert_array_equal(y, function_outputs(e))


# --- evaluation -----------------------------------------------------------------------------------------------------

def test_standard_inputs_and_global_state_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    x = standard_inputs()
    assert np.array_equal(np.random.get_state()[1], before)
    np.random.seed(0)
    expected = np.clip(np.random.normal(size=1000), -5, 5).astype(np.float32)
    np.testing.assert_array_equal(x, expected)
    assert x.dtype == np.float32 and x.shape == (1000,)
    assert function_outputs("relu(x)").dtype == np.float32


def test_activation_module_any_shape_and_dtype():
    act = ActivationFunction("max(relu(x),cosh(elu(x)))")
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = act(x)
    assert y.shape == x.shape and y.dtype == torch.float64
    ref = torch.maximum(torch.relu(x), torch.cosh(torch.where(x > 0, x, torch.expm1(x))))
    torch.testing.assert_close(y, ref)
    y.sum().backward() if y.requires_grad else None


def test_normalized_activation_has_zero_mean_unit_variance_under_gaussian():
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2_000_000, dtype=torch.float64, generator=gen)
    for f in ("relu(x)", "sigmoid(x)", "max(relu(x),cosh(elu(x)))"):
        y = ActivationFunction(f, normalize=True)(z)
        assert abs(float(y.mean())) < 5e-3 and abs(float(y.var()) - 1) < 5e-3, f
    with pytest.raises(InvalidInputError, match="cannot normalize"):
        ActivationFunction("zero(x)", normalize=True)


# --- enumeration and equivalence --------------------------------------------------------------------------------

def test_three_node_space_counts_against_brute_force():
    exprs = list(enumerate_schema(PAPER_THREE_NODE_SCHEMA))
    assert len(exprs) == count_graphs(PAPER_THREE_NODE_SCHEMA) == 27 * 27 * 7 == 5103
    assert len(set(exprs)) == 5103
    # independent path: one function at a time, grouping by the canonical bytes of the outputs
    groups: dict[bytes, list[str]] = {}
    for e in exprs:
        y = function_outputs(e).copy()
        y[np.isnan(y)] = np.nan
        y[y == 0] = 0.0  # -0 -> +0
        bits = y.view(np.uint32).copy()
        bits[np.isnan(y)] = 0x7FC00000
        groups.setdefault(bits.tobytes(), []).append(str(e))
    classes = equivalence_classes(schemas=PAPER_THREE_NODE_SCHEMA)
    assert len(classes) == len(groups) == count_unique(PAPER_THREE_NODE_SCHEMA)
    assert sorted(sorted(m) for m in classes.equivalents) == sorted(sorted(g) for g in groups.values())
    # deterministic representative: fewest nodes, then shortest, then lexicographic
    for rep, members in zip(classes.representatives, classes.equivalents):
        assert rep == min(members, key=lambda s: (parse(s).n_nodes, len(s), s))


def test_signed_zero_definition_splits_classes():
    ours = count_unique(PAPER_THREE_NODE_SCHEMA)
    signed = count_unique(PAPER_THREE_NODE_SCHEMA, signed_zero=True)
    assert signed > ours
    merged = equivalence_classes(["mul(zero(x),negative(x))", "zero(x)"])
    split = equivalence_classes(["mul(zero(x),negative(x))", "zero(x)"], signed_zero=True)
    assert len(merged) == 1 and len(split) == 2


def test_vectorised_schema_evaluation_matches_single_expressions():
    rng = np.random.default_rng(0)
    for schema in PAPER_FOUR_NODE_SCHEMAS:
        n = count_graphs(schema)
        idx = rng.choice(n, size=60, replace=False)
        exprs = [decode_index(schema, int(i)) for i in idx]
        classes = equivalence_classes(exprs)
        for e in exprs:  # each sampled graph is found in the class of its own outputs
            assert classes.representative_of(e) is not None
        # decode_index agrees with the enumeration order
        if n <= 20000:
            all_exprs = list(enumerate_schema(schema))
            assert [all_exprs[int(i)] for i in idx] == exprs
    got = evaluate_many([decode_index("n-ary(unary(x),unary(x),unary(x))", 12345)])[0]
    np.testing.assert_array_equal(got, function_outputs(decode_index("n-ary(unary(x),unary(x),unary(x))", 12345)))


def test_four_node_graph_count_matches_formula():
    u, b, n = 27, 7, 4
    assert count_graphs(PAPER_FOUR_NODE_SCHEMAS) == u**3 + 2 * b * u**3 + n * u**3 + b * u**3 == 511_758
    assert count_graphs("unary(unary(unary(x)))") == len(list(enumerate_schema("unary(unary(unary(x)))")))


def test_find_equivalents_and_baseline_representatives():
    members = find_equivalents("relu(x)", PAPER_THREE_NODE_SCHEMA)
    assert "max(identity(x),zero(x))" in members and "add(relu(x),zero(x))" in members
    for m in members:
        np.testing.assert_array_equal(function_outputs(m), function_outputs("relu(x)"))
    classes = equivalence_classes(BASELINE_FUNCTIONS, schemas=PAPER_THREE_NODE_SCHEMA)
    for b in BASELINE_FUNCTIONS:
        assert b in classes.representatives


def test_schema_parse_and_errors():
    assert str(parse_schema("n-ary( unary(x), unary(x), unary(x))")) == "n-ary(unary(x),unary(x),unary(x))"
    with pytest.raises(ParseError, match="placeholder 'binary' cannot take 3"):
        parse_schema("binary(x,x,x)")
    with pytest.raises(InvalidInputError):
        decode_index(PAPER_THREE_NODE_SCHEMA, 5103)
