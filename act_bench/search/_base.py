"""Ask/tell searcher protocol, bookkeeping shared by every searcher, and the searcher registry."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from act_bench._validation import check_int
from act_bench.errors import InvalidInputError
from act_bench.search._candidates import CandidateSet

__all__ = [
    "Result",
    "Searcher",
    "SearcherInfo",
    "Suggestion",
    "create_searcher",
    "list_searchers",
    "register_searcher",
    "searcher_info",
    "searcher_spec",
]


@dataclass(frozen=True)
class Suggestion:
    """A function the searcher wants evaluated.

    Attributes
    ----------
    function : str
        Representative name of the candidate (any equivalent spelling trains the same function).
    index : int
        Row of the candidate in the searcher's :class:`CandidateSet`.
    trial_id : int
        Running number of this suggestion within the searcher (0, 1, ...).
    """

    function: str
    index: int
    trial_id: int


@dataclass(frozen=True)
class Result:
    """Outcome of evaluating a suggestion.

    Attributes
    ----------
    objective : float
        Value to maximise (median validation accuracy). NaN marks a failed evaluation.
    metrics : dict
        Other values (e.g. ``test_accuracy``, ``runtime``); searchers ignore them.
    """

    objective: float
    metrics: dict[str, float] = field(default_factory=dict)


class Searcher:
    """Base class of ask/tell searchers over a :class:`CandidateSet`.

    Subclasses implement :meth:`_propose` (choose up to ``n`` rows among the allowed ones) and optionally
    :meth:`_observe`. The base class owns the seeded generator, suggests the initial functions (the paper's 8
    baselines by default) first, and guarantees that no function is suggested twice: once a row is pending or
    evaluated, every row of its twin group (:meth:`CandidateSet.twins_of`: the same mathematical function up to
    float32 rounding) is blocked, and every equivalent spelling maps to the same row. A proposal that holds two twins
    keeps the first; the subclass is asked again for the rest.

    Parameters
    ----------
    candidates : CandidateSet
        Functions to choose from.
    seed : int
        Seed of the searcher's own ``numpy.random.Generator``.
    initial : sequence of str, optional
        Functions to evaluate first, in order (those that are not candidates are skipped). Default: the paper's
        baselines ``act_bench.space.BASELINE_FUNCTIONS``; pass ``()`` to start directly.

    Attributes
    ----------
    n_told : int
        Number of results received.
    """

    name = "base"

    def __init__(self, candidates: CandidateSet, *, seed: int = 0, initial: Sequence[str] | None = None) -> None:
        if not isinstance(candidates, CandidateSet):
            raise InvalidInputError(f"parameter candidates of {type(self).__name__} must be a CandidateSet; got "
                                    f"{type(candidates).__name__}")
        self.candidates = candidates
        self.seed = check_int(seed, "seed", type(self).__name__, min_value=0)
        self.rng = np.random.default_rng(self.seed)
        if initial is None:
            from act_bench.space import BASELINE_FUNCTIONS

            initial = BASELINE_FUNCTIONS
        if isinstance(initial, str):
            raise InvalidInputError(f"parameter initial of {type(self).__name__} must be a sequence of function "
                                    f"names, not one string; got {initial!r}")
        self.initial_rows = candidates.indices_of(initial)
        n = len(candidates)
        self._blocked = np.zeros(n, dtype=bool)   # pending or evaluated
        self._pending: dict[int, Suggestion] = {}
        self._evaluated_rows: list[int] = []
        self._evaluated_values: list[float] = []
        self._next_trial = 0
        self._prior_rows: list[int] = []

    # -- public protocol ----------------------------------------------------------------------------------------

    def ask(self, n: int = 1) -> list[Suggestion]:
        """Return up to ``n`` new suggestions (fewer when the candidates run out), all distinct classes.

        A :meth:`_propose` that returns something other than allowed rows (an integer index of an unblocked
        candidate, not twice) is refused with :class:`InvalidInputError`, and the searcher is left as it was before
        this call (no row blocked, no trial used, the generator's state restored)."""
        n = check_int(n, "n", f"{type(self).__name__}.ask", min_value=1)
        blocked, rng_state = self._blocked.copy(), self.rng.bit_generator.state
        try:
            rows = self._ask_rows(n)
        except BaseException:
            self._blocked, self.rng.bit_generator.state = blocked, rng_state
            raise
        out = []
        for r in rows:
            s = Suggestion(self.candidates.names[r], r, self._next_trial)
            self._next_trial += 1
            self._pending[r] = s
            out.append(s)
        return out

    def _ask_rows(self, n: int) -> list[int]:
        rows: list[int] = []
        for row in self.initial_rows:
            if len(rows) == n:
                break
            if not self._blocked[row]:
                rows.append(row)
                self._block(row)
        while len(rows) < n:
            allowed = self._allowed_mask()
            try:
                extra = list(self._propose(n - len(rows), allowed))
            except TypeError as exc:
                raise InvalidInputError(f"{type(self).__name__}._propose must return a list of row indices; "
                                        f"{exc}") from None
            taken = 0
            for r in extra:
                if (isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, np.integer))
                        or not 0 <= r < len(allowed) or not allowed[r] or r in rows):
                    raise InvalidInputError(
                        f"{type(self).__name__}._propose returned row {r!r}, which is not allowed: it must return "
                        f"distinct integer indices in [0, {len(allowed)}) of rows that are neither pending, evaluated "
                        f"nor twins of one (the mask it is given)")
                r = int(r)
                if self._blocked[r]:    # a twin of a row taken from this same proposal: ask again for the rest
                    continue
                self._block(r)
                rows.append(r)
                taken += 1
            if not taken:
                break
        return rows

    def tell(self, suggestion: Suggestion, result: Result | float) -> None:
        """Report the result of a pending suggestion (a :class:`Result` or the objective as a number).

        The objective is a real number (NaN: the evaluation failed); a non-number, a boolean or an infinity is
        refused with :class:`InvalidInputError` before anything changes (the suggestion stays pending)."""
        name = f"{type(self).__name__}.tell"
        if not isinstance(suggestion, Suggestion) or self._pending.get(suggestion.index) != suggestion:
            raise InvalidInputError(f"{name} got {suggestion!r}, which is not a pending suggestion of this searcher")
        value = _objective(result.objective if isinstance(result, Result) else result, name)
        if isinstance(result, Result) and not isinstance(result.metrics, Mapping):
            raise InvalidInputError(f"parameter result of {name} must have a dict of metrics; got "
                                    f"{type(result.metrics).__name__}")
        del self._pending[suggestion.index]
        self._evaluated_rows.append(suggestion.index)
        self._evaluated_values.append(value)
        self._observe(suggestion.index, value)

    def warm_start(self, functions: Sequence[str], values: Sequence[float]) -> int:
        """Tell results obtained elsewhere (e.g. the same functions on another benchmark table) before the first ask.

        Prior results inform the searcher's model but are not evaluations of this search: they do not block their
        functions (which may still be suggested and evaluated), do not count in :attr:`n_told` or :attr:`evaluated`,
        and a function's prior value is replaced by its own result once that arrives. What a searcher does with them
        is its :meth:`_observe_prior` hook: surrogates add them to their training data, evolution starts from the
        best of them as its population, random search ignores them.

        Parameters
        ----------
        functions : sequence of str
            Function names (any equivalent spelling); names that are not candidates are skipped.
        values : sequence of float
            Their objectives (NaN: failed), in the same order.

        Returns
        -------
        int
            Number of prior results taken (candidates only, each function once: the first value given counts).

        Examples
        --------
        >>> import numpy as np
        >>> cs = CandidateSet(["relu(x)", "tanh(x)", "elu(x)"], outputs=np.eye(3, dtype=np.float32))
        >>> from act_bench.search import create_searcher
        >>> s = create_searcher("random", cs, seed=0, initial=())
        >>> s.warm_start(["tanh(x)", "not_a_function(x)"], [0.9, 0.1]), s.n_told
        (1, 0)
        """
        name = f"{type(self).__name__}.warm_start"
        if self._next_trial or self._evaluated_rows:
            raise InvalidInputError(f"{name} must be called before the first ask; this searcher has already "
                                    f"suggested {self._next_trial} function(s)")
        if isinstance(functions, str):
            raise InvalidInputError(f"parameter functions of {name} must be a sequence of names, not one string; "
                                    f"got {functions!r}")
        functions = list(functions)
        if isinstance(values, (str, bytes)):
            raise InvalidInputError(f"parameter values of {name} must be a sequence of numbers; got {values!r}")
        try:
            vals = np.asarray([_objective(v, name) for v in values], dtype=np.float64)
        except TypeError:
            raise InvalidInputError(f"parameter values of {name} must be a sequence of numbers; got "
                                    f"{values!r}") from None
        bad = next((f for f in functions if not isinstance(f, str)), None)
        if bad is not None:  # checked before any prior result is taken
            raise InvalidInputError(f"parameter functions of {name} must hold strings; got {bad!r}")
        if vals.ndim != 1 or vals.size != len(functions):
            raise InvalidInputError(f"parameters functions and values of {name} must have the same length; got "
                                    f"{len(functions)} and {vals.size}")
        seen = set(self._prior_rows)
        taken = 0
        for f, v in zip(functions, vals):
            if not isinstance(f, str):
                raise InvalidInputError(f"parameter functions of {name} must hold strings; got {f!r}")
            row = self.candidates.index_of(f)
            if row is None or row in seen:
                continue
            seen.add(row)
            self._prior_rows.append(row)
            self._observe_prior(row, float(v))
            taken += 1
        return taken

    @property
    def n_prior(self) -> int:
        """Number of prior results given by :meth:`warm_start`."""
        return len(self._prior_rows)

    @property
    def map_seed(self) -> int | None:
        """Seed of the UMAP map the searcher uses (``None``: no map). Replays group runs that share a map."""
        return None

    @property
    def n_told(self) -> int:
        return len(self._evaluated_rows)

    @property
    def evaluated(self) -> list[int]:
        """Rows evaluated so far, in the order their results arrived."""
        return list(self._evaluated_rows)

    @property
    def pending(self) -> list[int]:
        """Rows suggested but not yet told."""
        return list(self._pending)

    def predict(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Surrogate predictions ``(rows, values)`` for the not-yet-evaluated candidates, or ``None`` (no model)."""
        return None

    # -- for subclasses ---------------------------------------------------------------------------------------------

    def _block(self, row: int) -> None:
        """Block ``row`` and its twins (it is pending or evaluated)."""
        self._blocked[self.candidates.twins_of(row)] = True

    def _allowed_mask(self) -> np.ndarray:
        """Rows this searcher may propose now (default: every unblocked row)."""
        return ~self._blocked

    def _propose(self, n: int, allowed: np.ndarray) -> list[int]:
        raise NotImplementedError

    def _observe(self, row: int, value: float) -> None:
        """Hook called after each result."""

    def _observe_prior(self, row: int, value: float) -> None:
        """Hook called for each prior result of :meth:`warm_start` (default: ignored)."""

    def _random_rows(self, n: int, allowed: np.ndarray) -> list[int]:
        """Up to ``n`` rows uniformly among the twin groups with an allowed row (each group drawn as its first
        allowed row; without twins: uniformly among the allowed rows), distinct groups."""
        choices = np.flatnonzero(allowed)
        if choices.size == 0:
            return []
        if self.candidates.has_twins:
            _, first = np.unique(self.candidates.twin_group[choices], return_index=True)
            choices = choices[np.sort(first)]
        return [int(r) for r in self.rng.choice(choices, size=min(n, choices.size), replace=False)]


def _objective(value: Any, where: str) -> float:
    """An objective as a float: a real number or NaN (a failed evaluation); never a boolean, a string or an
    infinity."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer))
            or math.isinf(value)):
        raise InvalidInputError(f"{where} needs a Result or a number as the objective: a real number, or NaN for a "
                                f"failed evaluation (not a boolean, a string or an infinity); got {value!r}")
    return float(value)


def _impute(values: np.ndarray) -> np.ndarray:
    """Failed evaluations (non-finite objectives) take the worst finite value observed (0 if none)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return values
    fill = values[finite].min() if finite.any() else 0.0
    return np.where(finite, values, fill)


# -- registry ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearcherInfo:
    """What a registered searcher needs, declared when it is registered (never parsed from its name).

    Attributes
    ----------
    name : str
        Registered name.
    kind : str
        Family (``random``, ``evolution``, ``knr``, ``rfr``, ``svr``, ``gpr``, ...).
    features : str or None
        Feature set (``fim``, ``outputs``, ``both``) whose valid rows are the only ones it suggests after the
        initial functions, and which must therefore be computed; ``None``: it chooses among all functions.
    uses_map : bool
        It fits a UMAP map of ``features`` (whose seed changes its trajectory).
    """

    name: str
    kind: str
    features: str | None = None
    uses_map: bool = False


_REGISTRY: dict[str, Callable[..., Searcher]] = {}
_INFO: dict[str, SearcherInfo] = {}


def register_searcher(name: str, factory: Callable[..., Searcher] | None = None, *, kind: str | None = None,
                      features: str | None = None, uses_map: bool = False, overwrite: bool = False):
    """Register ``factory(candidates, *, seed, **kw) -> Searcher`` under ``name`` (usable as a decorator).

    ``kind``, ``features`` and ``uses_map`` declare what the searcher needs (:class:`SearcherInfo`); refuses to
    replace an existing name unless ``overwrite=True``.

    Examples
    --------
    >>> @register_searcher("my-random-doc-example")
    ... def _make(candidates, *, seed=0, **kw):
    ...     from act_bench.search import RandomSearcher
    ...     return RandomSearcher(candidates, seed=seed, **kw)
    >>> "my-random-doc-example" in list_searchers()
    True
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"a searcher name must be a non-empty string; got {name!r}")
    if features not in (None, "fim", "outputs", "both"):
        raise InvalidInputError(f"parameter features of register_searcher must be None, 'fim', 'outputs' or "
                                f"'both'; got {features!r}")
    if uses_map and features is None:
        raise InvalidInputError(f"searcher {name!r} uses a map but declares no features")

    def deco(f: Callable[..., Searcher]) -> Callable[..., Searcher]:
        if name in _REGISTRY and not overwrite:
            raise InvalidInputError(f"a searcher named {name!r} is already registered; pass overwrite=True to "
                                    f"replace it")
        _REGISTRY[name] = f
        _INFO[name] = SearcherInfo(name, kind or name, features, bool(uses_map))
        return f

    return deco(factory) if factory is not None else deco


def list_searchers() -> list[str]:
    """Registered searcher names, sorted.

    Examples
    --------
    >>> {"random", "knr:both", "rfr:fim", "svr:outputs", "gpr:both", "evolution"} <= set(list_searchers())
    True
    """
    return sorted(_REGISTRY)


def create_searcher(name: str, candidates: CandidateSet, *, seed: int = 0, **kwargs: Any) -> Searcher:
    """Create the searcher registered as ``name`` (e.g. ``random``, ``knr:both``, ``rfr:fim``, ``evolution``).

    Examples
    --------
    >>> import numpy as np
    >>> cs = CandidateSet(["relu(x)", "tanh(x)", "elu(x)"], outputs=np.eye(3, dtype=np.float32))
    >>> s = create_searcher("random", cs, seed=0, initial=())
    >>> len(s.ask(2))
    2
    """
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InvalidInputError(f"unknown searcher {name!r}; valid searchers: {', '.join(list_searchers())}")
    return factory(candidates, seed=seed, **kwargs)


def searcher_info(name: str) -> SearcherInfo:
    """The registry entry's declared needs of searcher ``name``.

    Examples
    --------
    >>> searcher_info("knr:both")
    SearcherInfo(name='knr:both', kind='knr', features='both', uses_map=True)
    >>> searcher_info("random:fim-valid").features
    'fim'
    """
    info = _INFO.get(name)
    if info is None:
        raise InvalidInputError(f"unknown searcher {name!r}; valid searchers: {', '.join(list_searchers())}")
    return info


def searcher_spec(name: str) -> tuple[str, str | None]:
    """``(kind, features)`` of a registered searcher: ``'knr:both'`` gives ``('knr', 'both')``, ``'random'``
    ``('random', None)`` (from its registry entry, :func:`searcher_info`)."""
    info = searcher_info(name)
    return info.kind, info.features
