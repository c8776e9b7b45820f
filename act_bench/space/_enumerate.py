"""Schemas -> expressions, vectorised evaluation, and equivalence classes by identical float32 outputs.

Equivalence: two functions are equivalent when their float32 outputs on the standard inputs are identical, with all
NaNs equal and -0 == 0 (``signed_zero=False``, our definition). ``signed_zero=True`` reproduces the reference code,
which compared the printed outputs and so told -0.0 from 0.0 (NaNs still print alike).

The representative of a class is its member with the fewest operator nodes, then the shortest canonical string,
then the lexicographically smallest string: it does not depend on enumeration order, and a baseline such as
``relu(x)`` represents its class whenever it is among the candidates.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from act_bench.errors import InvalidInputError
from act_bench.space._baselines import BASELINE_FUNCTIONS
from act_bench.space._evaluate import as_expr, standard_inputs
from act_bench.space._expr import Expr, parse, parse_schema
from act_bench.space._fast import exact_kernels
from act_bench.space._ops import OpKind, get_operator, list_operators

__all__ = [
    "BASELINE_FUNCTIONS",
    "PAPER_FOUR_NODE_SCHEMAS",
    "PAPER_THREE_NODE_SCHEMA",
    "EquivalenceClasses",
    "count_graphs",
    "count_unique",
    "enumerate_schema",
    "equivalence_classes",
    "evaluate_many",
    "output_keys",
]

#: The benchmark space of the paper (5,103 graphs).
PAPER_THREE_NODE_SCHEMA = "binary(unary(x),unary(x))"
#: The five four-node schemas of the paper's appendix B (Section 6 searches).
PAPER_FOUR_NODE_SCHEMAS = (
    "binary(unary(unary(x)),unary(x))",
    "binary(unary(x),unary(unary(x)))",
    "n-ary(unary(x),unary(x),unary(x))",
    "unary(binary(unary(x),unary(x)))",
    "unary(unary(unary(x)))",
)

_CHUNK_ROWS = 16384  # rows of outputs materialised at once while streaming a schema's root node


def _as_schema(schema: Expr | str) -> Expr:
    if isinstance(schema, Expr):
        return schema
    if isinstance(schema, str):
        return parse_schema(schema)
    raise InvalidInputError(f"a schema must be a string or Expr; got {type(schema).__name__}")


def _choices(node: Expr, extra_ops: bool) -> list[str]:
    """Operator names a node can take: all of its kind for a placeholder, itself for a concrete operator."""
    if node.op in ("unary", "binary", "n-ary"):
        return list_operators(OpKind(node.op), extra=extra_ops)
    return [node.op]


def count_graphs(schemas: Expr | str | Iterable[Expr | str], *, extra_ops: bool = False) -> int:
    """Number of computation graphs the schema(s) enumerate (with multiplicity across schemas).

    Examples
    --------
    >>> count_graphs("binary(unary(x),unary(x))")
    5103
    """
    total = 0
    for schema in _schema_list(schemas):
        def rec(node: Expr) -> int:
            if node.is_input:
                return 1
            return len(_choices(node, extra_ops)) * math.prod(rec(a) for a in node.args)
        total += rec(schema)
    return total


def _schema_list(schemas: Expr | str | Iterable[Expr | str]) -> list[Expr]:
    if isinstance(schemas, (str, Expr)):
        schemas = [schemas]
    out = [_as_schema(s) for s in schemas]
    if not out:
        raise InvalidInputError("at least one schema is required")
    return out


def enumerate_schema(schema: Expr | str, *, extra_ops: bool = False) -> Iterator[Expr]:
    """Yield every expression a schema stands for, in the same (mixed-radix) order as the vectorised evaluation.

    Examples
    --------
    >>> [str(e) for e in itertools.islice(enumerate_schema("binary(unary(x),unary(x))"), 2)]
    ['add(zero(x),zero(x))', 'add(zero(x),one(x))']
    """
    def rec(node: Expr) -> Iterator[Expr]:
        if node.is_input:
            yield node
            return
        for op in _choices(node, extra_ops):
            for args in itertools.product(*[list(rec(a)) for a in node.args]):
                yield Expr(op, tuple(args))

    yield from rec(_as_schema(schema))


# --- vectorised evaluation --------------------------------------------------------------------------------------

def _apply(op: str, args: Sequence[torch.Tensor]) -> torch.Tensor:
    return get_operator(op).fn(*args)


def _materialize(node: Expr, x: torch.Tensor, extra_ops: bool) -> torch.Tensor:
    """All outputs of a (sub)schema, rows in enumeration order, shape (rows, n_inputs)."""
    return torch.cat(list(_chunks(node, x, extra_ops, rows=1 << 62)), dim=0)


def _chunks(node: Expr, x: torch.Tensor, extra_ops: bool, rows: int = _CHUNK_ROWS) -> Iterator[torch.Tensor]:
    """Stream the outputs of a schema in enumeration order, in chunks of about ``rows`` rows."""
    if node.is_input:
        yield x[None, :]
        return
    children = [_materialize(a, x, extra_ops) for a in node.args]
    n = x.shape[0]
    sizes = [c.shape[0] for c in children]
    rest = math.prod(sizes[1:])
    step = max(1, rows // max(rest, 1))
    for op in _choices(node, extra_ops):
        for start in range(0, sizes[0], step):
            first = children[0][start:start + step]
            if len(children) == 1:
                yield _apply(op, [first])
                continue
            # broadcast child k along its own axis: shapes (c, 1, ..., 1, n), (1, k2, 1, ..., n), ...
            m = len(children)
            views = [first.reshape((first.shape[0],) + (1,) * (m - 1) + (n,))]
            for k in range(1, m):
                shape = [1] * m + [n]
                shape[k] = sizes[k]
                views.append(children[k].reshape(shape))
            if get_operator(op).kind is OpKind.NARY:
                out = views[0]
                fold = _BINARY_OF_NARY[op]
                for v in views[1:]:
                    out = fold(out, v)
            else:
                out = _apply(op, views)
            yield out.expand(first.shape[0], *sizes[1:], n).reshape(-1, n)


_BINARY_OF_NARY = {"sum_n": torch.add, "prod_n": torch.mul, "max_n": torch.maximum, "min_n": torch.minimum}


def evaluate_many(exprs: Iterable[Expr | str], inputs: np.ndarray | None = None) -> np.ndarray:
    """Outputs of many expressions on the standard inputs (or on ``inputs``, float32), shape (n, len(inputs))
    float32; shared subtrees computed once."""
    x = torch.from_numpy(np.array(standard_inputs() if inputs is None else inputs, dtype=np.float32))
    cache: dict[Expr, torch.Tensor] = {}
    rows = []
    with torch.no_grad(), exact_kernels():
        for e in exprs:
            e = as_expr(e)
            rows.append(_eval_cached(e, x, cache))
    if not rows:
        return np.zeros((0, x.shape[0]), dtype=np.float32)
    return torch.stack(rows).numpy()


def _eval_cached(e: Expr, x: torch.Tensor, cache: dict[Expr, torch.Tensor]) -> torch.Tensor:
    if e.is_input:
        return x
    hit = cache.get(e)
    if hit is None:
        hit = get_operator(e.op).fn(*[_eval_cached(a, x, cache) for a in e.args])
        cache[e] = hit
    return hit


# --- hashing outputs into equivalence keys -------------------------------------------------------------------------

_CANONICAL_NAN = np.int32(0x7FC00000)
_NEG_ZERO = np.int32(-(2**31))
_HASH_SEED = 0x5EED
_COL_BLOCK = 128
_POOL: ThreadPoolExecutor | None = None


def _multipliers(n_cols: int) -> np.ndarray:
    rng = np.random.default_rng(_HASH_SEED)
    return rng.integers(0, 2**63, size=(n_cols, 2), dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _hash_rows(outputs: np.ndarray, mult: np.ndarray, signed_zero: bool) -> np.ndarray:
    h = np.zeros((outputs.shape[0], 2), dtype=np.uint64)
    for j in range(0, outputs.shape[1], _COL_BLOCK):  # column blocks keep the widened copy in cache
        block = outputs[:, j:j + _COL_BLOCK]
        bits = block.view(np.int32).copy()
        bits[np.isnan(block)] = _CANONICAL_NAN
        if not signed_zero:
            bits[bits == _NEG_ZERO] = 0
        with np.errstate(over="ignore"):
            h += bits.view(np.uint32).astype(np.uint64) @ mult[j:j + _COL_BLOCK]
    return h


def output_keys(outputs: np.ndarray, *, signed_zero: bool = False) -> np.ndarray:
    """128-bit keys (structured array of two uint64) such that equal keys <=> equivalent outputs.

    Each row is canonicalised (every NaN -> one NaN; -0 -> 0 unless ``signed_zero``), its float32 bit patterns are
    read as integers in [0, 2**32) and hashed by two independent random linear forms modulo 2**64 (a universal hash).
    Equal rows always get equal keys; two different rows collide with probability at most 2**-66, so over the
    ~2**37 pairs of the four-node space the chance of any false merge is below 2**-29. Work is spread over a small
    thread pool (numpy releases the GIL).
    """
    global _POOL
    outputs = np.ascontiguousarray(outputs, dtype=np.float32)
    if outputs.ndim != 2:
        raise InvalidInputError(f"outputs must be a 2-D array (functions x inputs); got shape {outputs.shape}")
    mult = _multipliers(outputs.shape[1])
    n = outputs.shape[0]
    workers = min(os.cpu_count() or 1, 4)
    if n >= 4096 and workers > 1:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(workers)
        bounds = np.linspace(0, n, workers + 1).astype(int)
        parts = list(_POOL.map(lambda ab: _hash_rows(outputs[ab[0]:ab[1]], mult, signed_zero),
                               itertools.pairwise(bounds)))
        h = np.concatenate(parts)
    else:
        h = _hash_rows(outputs, mult, signed_zero)
    keys = np.empty(n, dtype=[("h1", np.uint64), ("h2", np.uint64)])
    keys["h1"], keys["h2"] = h[:, 0], h[:, 1]
    return keys


def _schema_keys(schemas: list[Expr], extra_ops: bool, signed_zero: bool) -> np.ndarray:
    x = torch.from_numpy(standard_inputs().copy())
    parts = []
    with torch.no_grad(), exact_kernels():
        for schema in schemas:
            for chunk in _chunks(schema, x, extra_ops):
                parts.append(output_keys(chunk.numpy(), signed_zero=signed_zero))
    return np.concatenate(parts)


def count_unique(schemas: Expr | str | Iterable[Expr | str], *, extra_ops: bool = False,
                 signed_zero: bool = False) -> int:
    """Number of equivalence classes in the union of the schema(s), without building expression strings.

    Examples
    --------
    >>> count_unique("unary(x)"), count_unique("unary(x)", extra_ops=True)   # every unary operator is distinct
    (27, 31)
    """
    keys = _schema_keys(_schema_list(schemas), extra_ops, signed_zero)
    return int(np.unique(keys).shape[0])


# --- equivalence classes ------------------------------------------------------------------------------------------

def _rep_key(name: str) -> tuple[int, int, str]:
    return (parse(name).n_nodes, len(name), name)


@dataclass
class EquivalenceClasses:
    """Equivalence classes of a set of expressions.

    Attributes
    ----------
    representatives : list of str
        One canonical string per class (fewest nodes, then shortest, then lexicographic), sorted.
    equivalents : list of list of str
        All members of each class (representative first, then in order of the same key).
    outputs : numpy.ndarray
        Float32 outputs of each class on the standard inputs, shape (n_classes, 1000).
    n_graphs : int
        Number of expressions classified (with multiplicity).
    signed_zero : bool
        Whether -0.0 and 0.0 were told apart.
    """

    representatives: list[str]
    equivalents: list[list[str]]
    outputs: np.ndarray
    n_graphs: int
    signed_zero: bool = False
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {name: i for i, members in enumerate(self.equivalents) for name in members}

    def __len__(self) -> int:
        return len(self.representatives)

    def class_index(self, expr: Expr | str) -> int | None:
        """Index of the class ``expr`` belongs to (by name, else by outputs), or ``None``."""
        name = str(as_expr(expr))
        hit = self._index.get(name)
        if hit is not None:
            return hit
        key = output_keys(evaluate_many([name]), signed_zero=self.signed_zero)[0]
        keys = output_keys(self.outputs, signed_zero=self.signed_zero)
        where = np.nonzero(keys == key)[0]
        return int(where[0]) if where.size else None

    def representative_of(self, expr: Expr | str) -> str | None:
        """Representative of the class of ``expr``, or ``None`` if no class matches."""
        i = self.class_index(expr)
        return None if i is None else self.representatives[i]

    def to_pandas(self):
        """A DataFrame with columns ``representative``, ``equivalents``, ``n_equivalents``, ``outputs``."""
        import pandas as pd

        return pd.DataFrame({"representative": self.representatives, "equivalents": self.equivalents,
                             "n_equivalents": [len(m) for m in self.equivalents], "outputs": list(self.outputs)})


def equivalence_classes(functions: Iterable[Expr | str] | None = None, *,
                        schemas: Expr | str | Iterable[Expr | str] | None = None, extra_ops: bool = False,
                        signed_zero: bool = False) -> EquivalenceClasses:
    """Group expressions (given directly and/or enumerated from schemas) into classes of identical outputs.

    Examples
    --------
    >>> classes = equivalence_classes(["max(x,zero(x))", "relu(x)", "max(zero(x),x)", "tanh(x)"])
    >>> classes.representatives
    ['relu(x)', 'tanh(x)']
    >>> classes.equivalents[0]
    ['relu(x)', 'max(x,zero(x))', 'max(zero(x),x)']
    """
    names: list[str] = []
    blocks: list[np.ndarray] = []
    if functions is not None:
        exprs = [as_expr(f) for f in functions]
        names.extend(str(e) for e in exprs)
        blocks.append(evaluate_many(exprs))
    if schemas is not None:
        x = torch.from_numpy(standard_inputs().copy())
        with torch.no_grad(), exact_kernels():
            for schema in _schema_list(schemas):
                names.extend(str(e) for e in enumerate_schema(schema, extra_ops=extra_ops))
                blocks.extend(c.numpy() for c in _chunks(schema, x, extra_ops))
    if not names:
        raise InvalidInputError("equivalence_classes needs functions and/or schemas")
    outputs = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    keys = output_keys(outputs, signed_zero=signed_zero)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    members: dict[int, set[str]] = {}
    for name, cls in zip(names, inverse.tolist()):
        members.setdefault(cls, set()).add(name)
    ordered = []
    for cls, group in members.items():
        sorted_group = sorted(group, key=_rep_key)
        ordered.append((sorted_group, int(first[cls])))
    ordered.sort(key=lambda item: _rep_key(item[0][0]))
    return EquivalenceClasses(
        representatives=[g[0] for g, _ in ordered],
        equivalents=[g for g, _ in ordered],
        outputs=np.ascontiguousarray(outputs[[row for _, row in ordered]]),
        n_graphs=len(names),
        signed_zero=signed_zero,
    )


def _n_rows(node: Expr, extra_ops: bool) -> int:
    if node.is_input:
        return 1
    return len(_choices(node, extra_ops)) * math.prod(_n_rows(a, extra_ops) for a in node.args)


def decode_index(schema: Expr | str, index: int, *, extra_ops: bool = False) -> Expr:
    """The expression at position ``index`` of :func:`enumerate_schema` (mixed-radix decoding, no enumeration).

    Examples
    --------
    >>> str(decode_index("binary(unary(x),unary(x))", 1))
    'add(zero(x),one(x))'
    """
    def rec(node: Expr, i: int) -> Expr:
        if node.is_input:
            return node
        sizes = [_n_rows(a, extra_ops) for a in node.args]
        parts = []
        for size in reversed(sizes):
            i, r = divmod(i, size)
            parts.append(r)
        parts.reverse()
        op = _choices(node, extra_ops)[i]
        return Expr(op, tuple(rec(a, r) for a, r in zip(node.args, parts)))

    schema = _as_schema(schema)
    total = _n_rows(schema, extra_ops)
    if not 0 <= index < total:
        raise InvalidInputError(f"index {index} out of range for schema {str(schema)!r} with {total} graphs")
    return rec(schema, index)


def find_equivalents(expr: Expr | str, schemas: Expr | str | Iterable[Expr | str], *, extra_ops: bool = False,
                     signed_zero: bool = False) -> list[str]:
    """All graphs of the schema(s) equivalent to ``expr``, sorted by the representative order (best first).

    Examples
    --------
    >>> find_equivalents("relu(x)", "binary(unary(x),unary(x))")[:2]
    ['div(relu(x),one(x))', 'max(elu(x),relu(x))']
    """
    target = output_keys(evaluate_many([expr]), signed_zero=signed_zero)[0]
    x = torch.from_numpy(standard_inputs().copy())
    found: set[str] = set()
    with torch.no_grad(), exact_kernels():
        for schema in _schema_list(schemas):
            offset = 0
            for chunk in _chunks(schema, x, extra_ops):
                hits = np.nonzero(output_keys(chunk.numpy(), signed_zero=signed_zero) == target)[0]
                found.update(str(decode_index(schema, offset + int(h), extra_ops=extra_ops)) for h in hits)
                offset += chunk.shape[0]
    return sorted(found, key=_rep_key)
