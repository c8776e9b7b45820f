"""Figures of a table: the Fig. 4-style UMAP maps and the Fig. 5-style eigenvalue distributions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from act_bench.errors import InvalidInputError
from act_bench.search import CandidateSet, embed_candidates
from evaluation._plots import plot_eigenvalue_distributions, plot_map
from evaluation._results import TableOracle

__all__ = ["eigenvalue_figure", "map_figure"]

_LABELS = {"fim": "FIM eigenvalues", "outputs": "Function outputs", "both": "FIM + outputs (union)"}


def map_figure(table: Any, features: str | list[str], path: str | os.PathLike, *, seed: int = 0,
               cache_dir: str | os.PathLike | None = None) -> tuple[Path, dict[str, int]]:
    """2-D UMAP map(s) of a table's functions coloured by validation accuracy (paper Fig. 4).

    ``features`` is ``fim``, ``outputs``, ``both`` or ``all`` (three panels). Marks ReLU, Swish and the best
    function. Returns the PNG path and the number of points per panel.
    """
    cands = CandidateSet.from_table(table)
    oracle = TableOracle.from_table(table)
    feats = ["fim", "outputs", "both"] if features == "all" else ([features] if isinstance(features, str)
                                                                   else list(features))
    coords, values, marks = {}, {}, {}
    for f in feats:
        emb = embed_candidates(cands, f, seed=seed, cache_dir=cache_dir)
        label = _LABELS[f]
        coords[label] = emb.coords
        values[label] = oracle.objective[emb.rows]
        pos = {int(r): i for i, r in enumerate(emb.rows)}
        marks[label] = {}
        for name in ("relu(x)", "swish(x)"):
            r = cands.index_of(name)
            if r is not None and r in pos:
                marks[label][name] = tuple(emb.coords[pos[r]])
        best = int(np.nanargmax(np.where(np.isfinite(values[label]), values[label], -np.inf)))
        marks[label]["best"] = tuple(emb.coords[best])
    out = plot_map(coords, values, path, highlight=marks)
    return out, {k: int(v.shape[0]) for k, v in coords.items()}


def eigenvalue_figure(table: Any, path: str | os.PathLike, functions: list[str] | None = None
                      ) -> tuple[Path, list[str]]:
    """FIM eigenvalue distributions (paper Fig. 5) of ``functions`` (default: the 3 best twin groups plus ReLU and
    tanh)."""
    cands = CandidateSet.from_table(table)
    names = list(functions or [])
    if not names:
        oracle = TableOracle.from_table(table)
        ok = np.where(np.isfinite(oracle.objective) & cands.fim_valid, oracle.objective, -np.inf)
        order = np.argsort(-ok, kind="stable")
        groups = np.asarray(table.functions["twin_group"]) if "twin_group" in table.functions.columns \
            else np.arange(len(cands.names))
        seen: set[int] = set()
        for i in order:  # the 3 best twin groups (a group's spellings are one function: shown once)
            if len(names) == 3 or not np.isfinite(ok[i]):
                break
            if int(groups[i]) not in seen:
                seen.add(int(groups[i]))
                names.append(cands.names[i])
        for b in ("relu(x)", "tanh(x)"):  # unless a spelling of theirs (their twin group) is already shown
            r = cands.index_of(b)
            if r is not None and cands.fim_valid[r] and int(groups[r]) not in seen:
                seen.add(int(groups[r]))
                names.append(cands.names[r])
    cdfs = {}
    for n in names:
        r = cands.index_of(n)
        if r is None:
            raise InvalidInputError(f"function {n!r} is not in the table")
        if not cands.fim_valid[r]:
            raise InvalidInputError(f"function {n!r} has no valid FIM features in the table")
        cdfs[n] = cands.fim_cdf[r]
    return plot_eigenvalue_distributions(cdfs, list(cands.fim_layout), path), list(cdfs)
