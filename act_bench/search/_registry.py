"""Registration of the built-in searchers under their public names."""

from __future__ import annotations

import functools

from act_bench.search._base import register_searcher
from act_bench.search._embedding import FEATURE_SETS
from act_bench.search._simple import EvolutionSearcher, RandomSearcher
from act_bench.search._surrogate import REGRESSORS, SurrogateSearcher

__all__: list[str] = []


def _make_surrogate(candidates, *, seed=0, regressor, features, **kw):
    return SurrogateSearcher(candidates, regressor=regressor, features=features, seed=seed, **kw)


def _register_builtins() -> None:
    register_searcher("random", lambda candidates, *, seed=0, **kw: RandomSearcher(candidates, seed=seed, **kw))
    register_searcher("evolution",
                      lambda candidates, *, seed=0, **kw: EvolutionSearcher(candidates, seed=seed, **kw))
    for reg in REGRESSORS:
        for feats in FEATURE_SETS:
            register_searcher(f"{reg}:{feats}",
                              functools.partial(_make_surrogate, regressor=reg, features=feats))


_register_builtins()
