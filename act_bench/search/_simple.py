"""Non-surrogate searchers: uniform random search and regularized evolution over expression trees."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

import numpy as np

from act_bench._validation import check_choice, check_int
from act_bench.errors import InvalidInputError
from act_bench.search._base import Searcher
from act_bench.search._candidates import CandidateSet

__all__ = ["RANDOM_POOLS", "EvolutionSearcher", "RandomSearcher"]

#: Names of the pools random search can be restricted to: the rows valid for a feature set, i.e. exactly the
#: functions a surrogate on that feature set chooses from (``random:fim-valid`` is the fair baseline of ``knr:fim``).
RANDOM_POOLS = {"fim": "fim-valid", "outputs": "finite-outputs", "both": "both-valid"}


class RandomSearcher(Searcher):
    """Uniform random search over the unique functions (after the initial ones), optionally within a pool.

    Parameters
    ----------
    candidates : CandidateSet
    seed : int
    initial : sequence of str, optional
        Evaluated first (default: the paper's 8 baselines).
    pool : {"fim", "outputs", "both"}, optional
        After the initial functions, choose only among the rows valid for this feature set (the rows a surrogate on
        it may suggest); default: all functions.

    Examples
    --------
    >>> import numpy as np
    >>> cs = CandidateSet(["relu(x)", "tanh(x)", "elu(x)"], outputs=np.eye(3, dtype=np.float32))
    >>> s = RandomSearcher(cs, seed=1, initial=["tanh(x)"])
    >>> [g.function for g in s.ask(3)][0]
    'tanh(x)'
    """

    name = "random"

    def __init__(self, candidates: CandidateSet, *, seed: int = 0, initial: Sequence[str] | None = None,
                 pool: str | None = None) -> None:
        super().__init__(candidates, seed=seed, initial=initial)
        if pool is not None:
            check_choice(pool, "pool", type(self).__name__, tuple(RANDOM_POOLS))
        self.pool = pool
        self._in_pool = candidates.feature_valid(pool) if pool is not None else None

    def _allowed_mask(self) -> np.ndarray:
        allowed = ~self._blocked
        return allowed if self._in_pool is None else allowed & self._in_pool

    def _propose(self, n: int, allowed: np.ndarray) -> list[int]:
        return self._random_rows(n, allowed)


_OP_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")


class EvolutionSearcher(Searcher):
    """Regularized (aging) evolution (Real et al., 2019) over the candidates' expression trees.

    The population is the ``population_size`` most recent results. Each suggestion samples ``sample_size`` members,
    takes the best as parent, picks one of its equivalent spellings at random and replaces one random operator by a
    different operator of the same kind (unary/binary/n-ary) among the operators used by the candidate set, so the
    child has the same shape and stays in the search space. A child counts only if it is (equivalent to) a candidate
    that is neither evaluated nor pending, nor a twin of one; after ``max_tries`` failed mutations, or while fewer than
    ``population_size`` results are known, the suggestion is uniform among the remaining candidates.

    Parameters
    ----------
    candidates : CandidateSet
    seed : int
    initial : sequence of str, optional
        Evaluated first (default: the paper's 8 baselines).
    population_size : int, default=20
    sample_size : int, default=5
    max_tries : int, default=50

    Examples
    --------
    >>> from act_bench.space import equivalence_classes
    >>> cl = equivalence_classes(["max(relu(x),tanh(x))", "max(relu(x),elu(x))", "min(relu(x),tanh(x))"])
    >>> cs = CandidateSet.from_arrays(cl.representatives, equivalents=cl.equivalents, outputs=cl.outputs)
    >>> s = EvolutionSearcher(cs, seed=0, initial=(), population_size=1, sample_size=1)
    >>> a = s.ask()[0]; s.tell(a, 0.5); s.ask()[0].function != a.function
    True
    """

    name = "evolution"

    def __init__(self, candidates: CandidateSet, *, seed: int = 0, initial: Sequence[str] | None = None,
                 population_size: int = 20, sample_size: int = 5, max_tries: int = 50) -> None:
        super().__init__(candidates, seed=seed, initial=initial)
        name = type(self).__name__
        self.population_size = check_int(population_size, "population_size", name, min_value=1)
        self.sample_size = check_int(sample_size, "sample_size", name, min_value=1)
        if self.sample_size > self.population_size:
            raise InvalidInputError(f"parameter sample_size of {name} must be <= population_size "
                                    f"({self.population_size}); got {sample_size}")
        self.max_tries = check_int(max_tries, "max_tries", name, min_value=1)
        self._population: deque[tuple[int, float]] = deque(maxlen=self.population_size)
        self._ops_by_kind: dict[str, list[str]] | None = None
        self.n_mutations = 0  # suggestions that came from a successful mutation

    def _operators(self) -> dict[str, list[str]]:
        if self._ops_by_kind is None:
            from act_bench.space import get_operator

            used: set[str] = set()
            for members in self.candidates.equivalents:
                for m in members:
                    used.update(_OP_NAME.findall(m))
            kinds: dict[str, list[str]] = {}
            for op in sorted(used):
                o = get_operator(op)
                if o is not None:
                    kinds.setdefault(o.kind.value, []).append(op)
            self._ops_by_kind = kinds
        return self._ops_by_kind

    def _observe(self, row: int, value: float) -> None:
        self._population.append((row, value if np.isfinite(value) else -np.inf))

    def _observe_prior(self, row: int, value: float) -> None:
        """Prior results seed the population: the best ``population_size`` of them (ties: first given first), oldest
        = worst, so the aging population drops the weakest priors first."""
        members = list(self._population) + [(row, value if np.isfinite(value) else -np.inf)]
        order = sorted(range(len(members)), key=lambda i: (-members[i][1], i))[:self.population_size]
        self._population.clear()
        self._population.extend(members[i] for i in sorted(order, key=lambda i: (members[i][1], -i)))

    def _mutate(self, row: int) -> str | None:
        from act_bench.space import Expr, get_operator, parse

        members = self.candidates.equivalents[row]
        text = members[int(self.rng.integers(len(members)))]
        try:
            expr = parse(text)
        except ValueError:
            return None
        nodes = [path for path in _op_paths(expr)]
        if not nodes:
            return None
        path = nodes[int(self.rng.integers(len(nodes)))]
        node = _at(expr, path)
        op = get_operator(node.op)
        options = [o for o in self._operators().get(op.kind.value, []) if o != node.op] if op else []
        if not options:
            return None
        new_op = options[int(self.rng.integers(len(options)))]
        return str(_replace(expr, path, Expr(new_op, node.args)))

    def _propose(self, n: int, allowed: np.ndarray) -> list[int]:
        rows: list[int] = []
        taken = allowed.copy()
        for _ in range(n):
            row = None
            if len(self._population) >= self.population_size:
                for _try in range(self.max_tries):
                    members = list(self._population)
                    sample = self.rng.choice(len(members), size=self.sample_size, replace=False)
                    parent = max((members[i] for i in sample), key=lambda m: m[1])[0]
                    child = self._mutate(parent)
                    if child is None:
                        continue
                    r = self.candidates.index_of(child)
                    if r is not None and taken[r]:
                        row = r
                        self.n_mutations += 1
                        break
            if row is None:
                pick = self._random_rows(1, taken)
                if not pick:
                    break
                row = pick[0]
            taken[self.candidates.twins_of(row)] = False
            rows.append(row)
        return rows


def _op_paths(expr, prefix=()):
    if expr.is_input:
        return
    yield prefix
    for i, a in enumerate(expr.args):
        yield from _op_paths(a, prefix + (i,))


def _at(expr, path):
    for i in path:
        expr = expr.args[i]
    return expr


def _replace(expr, path, new):
    if not path:
        return new
    from act_bench.space import Expr

    i = path[0]
    args = list(expr.args)
    args[i] = _replace(args[i], path[1:], new)
    return Expr(expr.op, tuple(args))
