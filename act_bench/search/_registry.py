"""Registration of the built-in searchers under their public names."""

from __future__ import annotations

import functools

from act_bench.search._base import register_searcher
from act_bench.search._embedding import FEATURE_SETS
from act_bench.search._simple import RANDOM_POOLS, EvolutionSearcher, RandomSearcher
from act_bench.search._surrogate import REGRESSORS, SurrogateSearcher

__all__: list[str] = []


def _make_surrogate(candidates, *, seed=0, regressor, features, **kw):
    return SurrogateSearcher(candidates, regressor=regressor, features=features, seed=seed, **kw)


def _make_random(candidates, *, seed=0, pool=None, **kw):
    return RandomSearcher(candidates, seed=seed, pool=pool, **kw)


def _register_builtins() -> None:
    register_searcher("random", _make_random)
    for feats, pool in RANDOM_POOLS.items():   # the fair baselines of the surrogates: random within their pool
        register_searcher(f"random:{pool}", functools.partial(_make_random, pool=feats), kind="random",
                          features=feats)
    register_searcher("evolution",
                      lambda candidates, *, seed=0, **kw: EvolutionSearcher(candidates, seed=seed, **kw))
    for reg in REGRESSORS:
        for feats in FEATURE_SETS:
            register_searcher(f"{reg}:{feats}", functools.partial(_make_surrogate, regressor=reg, features=feats),
                              kind=reg, features=feats, uses_map=True)


_register_builtins()
