"""The candidates a searcher chooses from: names, equivalence classes and feature matrices, never a table's results.

A :class:`CandidateSet` is what a searcher may know before it evaluates anything: one row per unique function
(its representative name and every equivalent spelling), the function outputs on the standard inputs, the FIM
CDF features with their per-layer layout and validity, and the twin groups (rows that are one mathematical function
up to float32 rounding, :func:`act_bench.space.twin_groups`: a searcher evaluates at most one row of a group). The
same object drives a replay (where the oracle is a benchmark table) and a live search (where the oracle trains
networks), so it never holds accuracies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.features import LayoutRow

__all__ = ["CandidateSet", "table_frame"]


def _layout_from(obj: Any) -> tuple[LayoutRow, ...]:
    if obj is None:
        return ()
    out = []
    for i, item in enumerate(obj):
        if isinstance(item, LayoutRow):
            out.append(item)
            continue
        if not isinstance(item, Mapping) or not {"layer", "weights", "bins"} <= set(item):
            raise InvalidInputError(f"fim_layout entry {i} must be a mapping with keys layer, weights, bins; "
                                    f"got {item!r}")
        out.append(LayoutRow(str(item["layer"]), int(item["weights"]), int(item["bins"])))
    return tuple(out)


def table_frame(table: Any, fim_layout: Any = None):
    """Return ``(functions DataFrame, fim_layout list)`` from a ``BenchmarkTable`` or a ``functions`` DataFrame.

    A ``BenchmarkTable`` is recognised by its ``functions`` DataFrame and ``metadata`` dict (with ``fim_layout``);
    a bare DataFrame needs ``fim_layout`` passed separately (or stored in ``DataFrame.attrs['fim_layout']``).
    """
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        frame = table
        layout = fim_layout if fim_layout is not None else frame.attrs.get("fim_layout")
    elif hasattr(table, "functions") and isinstance(table.functions, pd.DataFrame):
        frame = table.functions
        meta = getattr(table, "metadata", None) or {}
        layout = fim_layout if fim_layout is not None else meta.get("fim_layout")
    else:
        raise InvalidInputError(f"expected a BenchmarkTable or a pandas DataFrame of functions; got "
                                f"{type(table).__name__}")
    missing = [c for c in ("function", "equivalents", "outputs") if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"the functions table lacks column(s) {', '.join(missing)}; it has "
                                f"{', '.join(map(str, frame.columns))}")
    return frame, layout


def _canonical_groups(labels: Any, n: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Twin-group labels as the first row of each group, and the rows of every group of two or more."""
    if labels is None:
        return np.arange(n, dtype=np.int64), {}
    try:
        arr = np.asarray(labels).reshape(-1)
        ok = arr.shape[0] == n and (arr.dtype.kind in "iu" or (arr.dtype.kind == "f" and np.isfinite(arr).all()
                                                               and (arr == np.round(arr)).all()))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidInputError(f"parameter twin_group of CandidateSet must hold one integer label per row ({n}); "
                                f"got {labels!r:.80}")
    _, first, inverse = np.unique(arr.astype(np.int64), return_index=True, return_inverse=True)
    group = first[inverse].astype(np.int64)
    twins: dict[int, np.ndarray] = {}
    if np.unique(group).size < n:
        order = np.argsort(group, kind="stable")
        bounds = np.flatnonzero(np.diff(group[order])) + 1
        for block in np.split(order, bounds):
            if block.size > 1:
                twins[int(group[block[0]])] = np.sort(block).astype(np.int64)
    return group, twins


def _stack_rows(values: Sequence[Any], width: int | None, what: str) -> np.ndarray:
    """Stack per-row float vectors into a float32 matrix; rows of the wrong length become all-NaN."""
    lengths = [0 if v is None else len(v) for v in values]
    if width is None:
        nonzero = [n for n in lengths if n]
        width = max(set(nonzero), key=nonzero.count) if nonzero else 0
    out = np.full((len(values), width), np.nan, dtype=np.float32)
    for i, (v, n) in enumerate(zip(values, lengths)):
        if n == width and n:
            out[i] = np.asarray(v, dtype=np.float32)
    return out


@dataclass(eq=False)
class CandidateSet:
    """Unique candidate functions with their equivalents and features (no results).

    Parameters
    ----------
    names : sequence of str
        Representative name of each unique function (one row each).
    equivalents : sequence of sequence of str, optional
        All spellings of each row's class (the representative is added if missing). Default: the name only.
    outputs : array of shape (n, n_inputs), optional
        Function outputs on the standard inputs (float32). Rows with a non-finite value are invalid ``outputs``
        features.
    fim_cdf : array of shape (n, n_bins), optional
        Concatenated per-layer CDF vectors of the FIM eigenvalue distribution.
    fim_valid : array of bool, optional
        Whether each row's FIM features are valid (default: all finite and non-empty).
    fim_layout : sequence of LayoutRow (``act_bench.features``) or dict, optional
        Per-layer blocks of ``fim_cdf`` (``layer``, ``weights``, ``bins``).
    twin_group : array of int, optional
        A twin-group label per row (rows with equal labels are one mathematical function, e.g. a table's
        ``twin_group`` column or :func:`act_bench.space.twin_groups`). Stored canonically: the first row of the
        group. Default: every row its own group.

    Examples
    --------
    >>> import numpy as np
    >>> cs = CandidateSet(["relu(x)", "tanh(x)"], equivalents=[["relu(x)", "max(x,zero(x))"], ["tanh(x)"]],
    ...                   outputs=np.zeros((2, 3), np.float32))
    >>> cs.index_of("max(x,zero(x))")
    0
    >>> len(cs)
    2
    """

    names: Sequence[str]
    equivalents: Sequence[Sequence[str]] | None = None
    outputs: np.ndarray | None = None
    fim_cdf: np.ndarray | None = None
    fim_valid: np.ndarray | None = None
    fim_layout: Sequence[Any] | None = None
    twin_group: np.ndarray | None = None
    _index: dict[str, int] = field(default_factory=dict, repr=False)
    _twins: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _keys: np.ndarray | None = field(default=None, repr=False)
    _fingerprints: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        n = len(self.names)
        if n == 0:
            raise InvalidInputError("a CandidateSet needs at least one function; got none")
        if self.equivalents is None:
            self.equivalents = [[name] for name in self.names]
        if len(self.equivalents) != n:
            raise InvalidInputError(f"equivalents has {len(self.equivalents)} rows; expected one per name ({n})")
        eq = []
        for name, members in zip(self.names, self.equivalents):
            members = [str(m) for m in (members if members is not None else [])]
            if name not in members:
                members = [name, *members]
            eq.append(members)
        self.equivalents = eq
        index: dict[str, int] = {}
        for i, members in enumerate(eq):
            for m in members:
                j = index.setdefault(m, i)
                if j != i:
                    raise InvalidInputError(f"function {m!r} appears in two rows ({j} and {i}) of the candidate "
                                            f"set; every spelling must belong to one class")
        self._index = index
        if self.outputs is None:
            self.outputs = np.zeros((n, 0), dtype=np.float32)
        self.outputs = np.ascontiguousarray(self.outputs, dtype=np.float32)
        if self.outputs.ndim != 2 or self.outputs.shape[0] != n:
            raise InvalidInputError(f"outputs must have shape (n_functions={n}, n_inputs); got "
                                    f"{self.outputs.shape}")
        if self.fim_cdf is None:
            self.fim_cdf = np.zeros((n, 0), dtype=np.float32)
        self.fim_cdf = np.ascontiguousarray(self.fim_cdf, dtype=np.float32)
        if self.fim_cdf.ndim != 2 or self.fim_cdf.shape[0] != n:
            raise InvalidInputError(f"fim_cdf must have shape (n_functions={n}, n_bins); got {self.fim_cdf.shape}")
        finite = np.isfinite(self.fim_cdf).all(axis=1) & (self.fim_cdf.shape[1] > 0)
        if self.fim_valid is None:
            self.fim_valid = finite
        else:
            self.fim_valid = np.asarray(self.fim_valid, dtype=bool).reshape(-1)
            if self.fim_valid.shape[0] != n:
                raise InvalidInputError(f"fim_valid has {self.fim_valid.shape[0]} entries; expected {n}")
            self.fim_valid = self.fim_valid & finite
        self.fim_layout = _layout_from(self.fim_layout)
        self.twin_group, self._twins = _canonical_groups(self.twin_group, n)
        if self.fim_layout and sum(l.bins for l in self.fim_layout) != self.fim_cdf.shape[1]:
            raise InvalidInputError(f"fim_layout describes {sum(l.bins for l in self.fim_layout)} CDF values but "
                                    f"fim_cdf has {self.fim_cdf.shape[1]} columns")

    # -- construction ---------------------------------------------------------------------------------------------

    @classmethod
    def from_arrays(cls, names: Sequence[str], *, equivalents: Sequence[Sequence[str]] | None = None,
                    outputs: np.ndarray | None = None, fim_cdf: np.ndarray | None = None,
                    fim_valid: np.ndarray | None = None, fim_layout: Sequence[Any] | None = None,
                    twin_group: np.ndarray | None = None) -> CandidateSet:
        """Build from plain arrays (e.g. in a live search, before any table exists; pass
        ``twin_group=act_bench.space.twin_groups(names)`` so the search counts a twin group once).

        Examples
        --------
        >>> from act_bench.space import evaluate_many
        >>> cs = CandidateSet.from_arrays(["relu(x)", "tanh(x)"], outputs=evaluate_many(["relu(x)", "tanh(x)"]))
        >>> cs.outputs_valid.tolist()
        [True, True]
        """
        return cls(list(names), equivalents=equivalents, outputs=outputs, fim_cdf=fim_cdf, fim_valid=fim_valid,
                   fim_layout=fim_layout, twin_group=twin_group)

    @classmethod
    def from_table(cls, table: Any, *, fim_layout: Any = None) -> CandidateSet:
        """Build from a ``BenchmarkTable`` (or its ``functions`` DataFrame plus ``fim_layout``); results are dropped.
        The twin groups come from the ``twin_group`` column (without it every row is its own group).

        Examples
        --------
        >>> import pandas as pd, numpy as np
        >>> df = pd.DataFrame({"function": ["relu(x)"], "equivalents": [["relu(x)"]],
        ...                    "outputs": [np.zeros(4, np.float32)], "fim_cdf": [[0.5, 1.0]], "fim_valid": [True]})
        >>> CandidateSet.from_table(df, fim_layout=[{"layer": "fc", "weights": 200, "bins": 2}]).fim_cdf.shape
        (1, 2)
        """
        frame, layout = table_frame(table, fim_layout)
        layout_t = _layout_from(layout)
        width = sum(l.bins for l in layout_t) if layout_t else None
        if callable(getattr(table, "outputs_matrix", None)) and callable(getattr(table, "fim_matrix", None)):
            outputs = np.asarray(table.outputs_matrix(), dtype=np.float32)   # a BenchmarkTable's cached matrices
            fim = np.asarray(table.fim_matrix(), dtype=np.float32)
        else:
            outputs = _stack_rows(list(frame["outputs"]), None, "outputs")
            if "fim_cdf" in frame.columns:
                fim = _stack_rows(list(frame["fim_cdf"]), width, "fim_cdf")
            else:
                fim = np.zeros((len(frame), 0), dtype=np.float32)
        valid = np.asarray(frame["fim_valid"], dtype=bool) if "fim_valid" in frame.columns else None
        twins = np.asarray(frame["twin_group"], dtype=np.int64) if "twin_group" in frame.columns else None
        return cls(list(frame["function"]), equivalents=[list(e) for e in frame["equivalents"]], outputs=outputs,
                   fim_cdf=fim, fim_valid=valid, fim_layout=layout_t, twin_group=twins)

    # -- queries ----------------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.names)

    def twins_of(self, row: int) -> np.ndarray:
        """Rows of ``row``'s twin group (``row`` itself included), ascending.

        Examples
        --------
        >>> cs = CandidateSet(["a", "b", "c"], twin_group=[0, 1, 0])
        >>> cs.twins_of(2).tolist(), cs.twins_of(1).tolist()
        ([0, 2], [1])
        """
        hit = self._twins.get(int(self.twin_group[row]))
        return hit if hit is not None else np.array([row], dtype=np.int64)

    @property
    def n_groups(self) -> int:
        """Number of twin groups."""
        return len(self.names) - sum(rows.size - 1 for rows in self._twins.values())

    @property
    def has_twins(self) -> bool:
        """Whether some twin group holds two or more rows."""
        return bool(self._twins)

    @property
    def outputs_valid(self) -> np.ndarray:
        """Rows whose outputs are all finite (and non-empty)."""
        return np.isfinite(self.outputs).all(axis=1) & (self.outputs.shape[1] > 0)

    def feature_valid(self, features: str) -> np.ndarray:
        """Rows usable with feature set ``features`` (``fim``, ``outputs`` or ``both``)."""
        if features == "fim":
            return self.fim_valid.copy()
        if features == "outputs":
            return self.outputs_valid
        if features == "both":
            return self.fim_valid & self.outputs_valid
        raise InvalidInputError(f"features must be one of 'fim', 'outputs', 'both'; got {features!r}")

    def index_of(self, function: str, *, by_outputs: bool = True) -> int | None:
        """Row of ``function`` (any equivalent spelling), else (``by_outputs``) of the row with identical outputs.

        Returns ``None`` if the function is not a candidate.
        """
        hit = self._index.get(function)
        if hit is not None:
            return hit
        try:
            from act_bench.space import parse  # the parser alone: no torch for a name lookup

            name = str(parse(function))
        except (ValueError, TypeError, AttributeError):
            return None
        hit = self._index.get(name)
        if hit is not None or not by_outputs or self.outputs.shape[1] != 1000:
            return hit
        from act_bench.space import evaluate_many, output_keys

        if self._keys is None:
            self._keys = output_keys(self.outputs)
        key = output_keys(evaluate_many([name]))[0]
        where = np.nonzero(self._keys == key)[0]
        return int(where[0]) if where.size else None

    def indices_of(self, functions: Iterable[str]) -> list[int]:
        """Rows of the given functions that are candidates, in order, without duplicates."""
        out: list[int] = []
        for f in functions:
            i = self.index_of(f)
            if i is not None and i not in out:
                out.append(i)
        return out

    def fingerprint(self, features: str) -> str:
        """SHA-256 of the feature content used for ``features`` (valid rows, their names and values)."""
        if features in self._fingerprints:
            return self._fingerprints[features]
        valid = self.feature_valid(features)
        h = hashlib.sha256()
        h.update(features.encode())
        h.update(json.dumps([n for n, v in zip(self.names, valid) if v]).encode())
        if features in ("fim", "both"):
            h.update(np.ascontiguousarray(self.fim_cdf[valid]).tobytes())
            h.update(json.dumps([vars(l) for l in self.fim_layout]).encode())
        if features in ("outputs", "both"):
            h.update(np.ascontiguousarray(self.outputs[valid]).tobytes())
        self._fingerprints[features] = h.hexdigest()
        return self._fingerprints[features]
