"""Ask/tell searchers over a set of candidate activation functions, and the UMAP maps the surrogates use.

Searchers depend only on a :class:`CandidateSet` (names, equivalence classes, features) and do no I/O, so the
same object runs in a replay against a benchmark table and in a live search.

Examples
--------
>>> import numpy as np
>>> from act_bench.search import CandidateSet, create_searcher, Result
>>> cs = CandidateSet(["relu(x)", "tanh(x)", "elu(x)"], outputs=np.eye(3, dtype=np.float32))
>>> s = create_searcher("random", cs, seed=0)
>>> [g.function for g in s.ask(2)]   # the baselines come first
['elu(x)', 'relu(x)']
"""

from __future__ import annotations

from act_bench.search import _registry  # noqa: F401  (registers the built-in searchers)
from act_bench.search._base import (
    Result,
    Searcher,
    SearcherInfo,
    Suggestion,
    create_searcher,
    list_searchers,
    register_searcher,
    searcher_info,
    searcher_spec,
)
from act_bench.search._candidates import CandidateSet, table_frame
from act_bench.search._embedding import (
    FEATURE_SETS,
    UMAP_SETTINGS,
    Embedding,
    UMAPEmbedder,
    default_cache_dir,
    embed_candidates,
    prepare_embeddings,
    warm_up_layout,
)
from act_bench.search._forest import RandomForestSurrogate
from act_bench.search._simple import RANDOM_POOLS, EvolutionSearcher, RandomSearcher
from act_bench.search._surrogate import REGRESSORS, SurrogateSearcher

__all__ = [
    "FEATURE_SETS",
    "RANDOM_POOLS",
    "REGRESSORS",
    "UMAP_SETTINGS",
    "CandidateSet",
    "Embedding",
    "EvolutionSearcher",
    "RandomForestSurrogate",
    "RandomSearcher",
    "Result",
    "Searcher",
    "SearcherInfo",
    "Suggestion",
    "SurrogateSearcher",
    "UMAPEmbedder",
    "create_searcher",
    "default_cache_dir",
    "embed_candidates",
    "list_searchers",
    "prepare_embeddings",
    "register_searcher",
    "searcher_info",
    "searcher_spec",
    "table_frame",
    "warm_up_layout",
]


def __getattr__(name: str):
    if name == "LayerLayout":  # the one FIM-layout type, under the name searchers used before it was shared
        import warnings

        from act_bench.features import LayoutRow

        warnings.warn("act_bench.search.LayerLayout is deprecated and will be removed in the next release; use "
                      "act_bench.features.LayoutRow", DeprecationWarning, stacklevel=2)
        return LayoutRow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
