"""Conformance suite over the searcher registry: no repeats (not even equivalents), determinism, baselines first,
ask/tell protocol errors; plus registry behaviour and regularized evolution's mutations staying in the space."""

from __future__ import annotations

import numpy as np
import pytest

from act_bench.errors import InvalidInputError
from act_bench.search import (
    CandidateSet,
    EvolutionSearcher,
    Result,
    create_searcher,
    list_searchers,
    register_searcher,
    searcher_info,
)
from act_bench.space import BASELINE_FUNCTIONS, evaluate_many, output_keys
from evaluation._synthetic import synthetic_table

N_FUNCTIONS = 120
BUDGET = 40


@pytest.fixture(scope="module")
def table():
    return synthetic_table(N_FUNCTIONS, seed=3)


@pytest.fixture(scope="module")
def candidates(table):
    return CandidateSet.from_table(table)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("embeddings")


def _make(name, candidates, cache, seed, **kw):
    if searcher_info(name).uses_map:
        kw.setdefault("cache_dir", cache)
    return create_searcher(name, candidates, seed=seed, **kw)


def _run(searcher, table, budget, batch=1):
    """Drive a searcher with the table's accuracies; returns the suggested functions in order."""
    acc = np.asarray(table["val_accuracy"], dtype=float)
    out = []
    while len(out) < budget:
        got = searcher.ask(batch)
        if not got:
            break
        out.extend(got)
        for g in got:
            searcher.tell(g, Result(acc[g.index]))
    return out


@pytest.mark.parametrize("name", [n for n in list_searchers() if not n.startswith("gpr")] + ["gpr:outputs"])
def test_conformance(name, table, candidates, cache):
    a = _run(_make(name, candidates, cache, seed=5), table, BUDGET)
    b = _run(_make(name, candidates, cache, seed=5), table, BUDGET)
    # same seed -> identical trajectory
    assert [g.function for g in a] == [g.function for g in b]
    # never the same function twice, nor two equivalent ones: compare the outputs' equivalence keys directly
    assert len(a) == BUDGET
    keys = output_keys(evaluate_many([g.function for g in a]))
    assert np.unique(keys).size == len(a)
    assert len({g.index for g in a}) == len(a)
    # every suggestion is a candidate row, named by its representative
    assert all(candidates.names[g.index] == g.function for g in a)
    # the baselines that are candidates come first, in order
    base_rows = candidates.indices_of(BASELINE_FUNCTIONS)
    assert len(base_rows) == 8
    assert [g.index for g in a[:8]] == base_rows
    # a different seed gives a different trajectory after the baselines: for the surrogates the seed is also the
    # map's seed, and every map (the "both" union included) depends on it (docs/searchers.md)
    c = _run(_make(name, candidates, cache, seed=6), table, BUDGET)
    assert [g.function for g in c] != [g.function for g in a]


@pytest.mark.parametrize("name", ["random", "knr:fim", "rfr:outputs", "evolution"])
def test_batches_and_pending_are_never_repeated(name, table, candidates, cache):
    s = _make(name, candidates, cache, seed=1, initial=())
    first = s.ask(5)
    second = s.ask(5)          # the first five are pending, not told
    rows = [g.index for g in first + second]
    assert len(set(rows)) == 10
    for g in first + second:
        s.tell(g, 0.5)
    assert sorted(s.evaluated) == sorted(rows)


def test_exhausting_the_candidates(candidates, table):
    s = create_searcher("random", candidates, seed=0)
    got = _run(s, table, len(candidates) + 10, batch=7)
    assert len(got) == len(candidates) and s.ask() == []


def test_surrogate_never_suggests_rows_without_features(candidates, table, cache):
    s = _make("knr:both", candidates, cache, seed=2, initial=())
    got = _run(s, table, 60)
    valid = candidates.feature_valid("both")
    assert all(valid[g.index] for g in got)
    assert (~valid).sum() > 0   # the fixture has invalid rows that were avoided


def test_protocol_errors(candidates, cache):
    s = create_searcher("random", candidates, seed=0)
    g = s.ask()[0]
    with pytest.raises(InvalidInputError, match="not a pending suggestion"):
        s.tell(g.__class__(g.function, g.index + 1, 99), 0.5)
    s.tell(g, 0.5)
    with pytest.raises(InvalidInputError, match="not a pending suggestion"):
        s.tell(g, 0.5)          # told twice
    with pytest.raises(InvalidInputError, match="parameter n of RandomSearcher.ask"):
        s.ask(0)
    with pytest.raises(InvalidInputError, match="Result or a number"):
        s.tell(s.ask()[0], "high")
    with pytest.raises(InvalidInputError, match="not one string"):
        create_searcher("random", candidates, seed=0, initial="relu(x)")


def test_registry():
    names = list_searchers()
    for reg in ("knr", "rfr", "svr", "gpr"):
        for feats in ("fim", "outputs", "both"):
            assert f"{reg}:{feats}" in names
    assert {"random", "evolution"} <= set(names)
    with pytest.raises(InvalidInputError, match="valid searchers: evolution, gpr:both"):
        create_searcher("knr:everything", None)
    with pytest.raises(InvalidInputError, match="already registered"):
        register_searcher("random", lambda c, *, seed=0: None)
    with pytest.raises(InvalidInputError, match="must be a CandidateSet"):
        create_searcher("random", ["relu(x)"])


def test_candidate_set_lookup_and_validation(table, candidates):
    row = candidates.index_of("relu(x)")
    relu_class = table["equivalents"].iloc[row]
    assert all(candidates.index_of(name) == row for name in relu_class)
    # a spelling not listed anywhere is found through its outputs: max(relu(x),relu(x)) == relu(x)
    assert candidates.index_of("max(relu(x),relu(x))") == row
    assert candidates.index_of("add(sinh(x),bessel_i0e(x))", by_outputs=False) in (None, *range(len(candidates)))
    assert candidates.index_of("not a function") is None
    with pytest.raises(InvalidInputError, match="appears in two rows"):
        CandidateSet(["a", "b"], equivalents=[["a", "c"], ["b", "c"]])
    with pytest.raises(InvalidInputError, match="fim_layout describes 3"):
        CandidateSet(["a"], fim_cdf=np.zeros((1, 2)), fim_layout=[{"layer": "l", "weights": 300, "bins": 3}])
    with pytest.raises(InvalidInputError, match="outputs must have shape"):
        CandidateSet(["a", "b"], outputs=np.zeros((3, 4)))


def test_evolution_mutations_stay_in_the_space(candidates, table):
    s = EvolutionSearcher(candidates, seed=0, population_size=10, sample_size=3)
    got = _run(s, table, 60)
    assert s.n_mutations > 20   # most suggestions after the first population come from mutations
    for g in got:
        assert candidates.index_of(g.function) == g.index


def test_evolution_mutation_replaces_one_operator_of_the_same_kind(candidates):
    from act_bench.space import get_operator, parse

    s = EvolutionSearcher(candidates, seed=4)
    for row in range(0, len(candidates), 7):
        for _ in range(5):
            child = s._mutate(row)
            if child is None:
                continue
            c = list(parse(child).walk())
            parents = [list(parse(m).walk()) for m in candidates.equivalents[row]]
            # some spelling of the parent differs from the child in exactly one node, by an operator of the same kind
            ok = False
            for p in parents:
                if len(p) != len(c):
                    continue
                diff = [(a.op, b.op) for a, b in zip(p, c) if a.op != b.op]
                if len(diff) == 1 and get_operator(diff[0][0]).kind == get_operator(diff[0][1]).kind:
                    ok = True
            assert ok, (child, candidates.equivalents[row])


# -- twin groups: no searcher spends an evaluation on a twin of a function evaluated or pending -------------------


@pytest.fixture(scope="module")
def twin_table(table):
    """The synthetic table plus a twin of each of its 40 best functions: the same function spelled
    ``mul(one(x),mul(one(x),f))`` (deeper than the table's schema, so not one of its equivalents), outputs one ulp away, the same FIM features and accuracy (what a surrogate finds most attractive twice)."""
    import pandas as pd

    acc = np.asarray(table["val_accuracy"], dtype=float)
    best = np.argsort(-np.nan_to_num(acc, nan=-1.0), kind="stable")[:40]
    dup = table.iloc[best].copy()
    dup["function"] = [f"mul(one(x),mul(one(x),{f}))" for f in dup["function"]]
    dup["equivalents"] = [[f] for f in dup["function"]]
    dup["outputs"] = [np.nextafter(np.asarray(o, np.float32), np.float32(np.inf)) for o in dup["outputs"]]
    out = pd.concat([table, dup], ignore_index=True)
    out["twin_group"] = np.concatenate([np.arange(len(table)), best])
    out.attrs = dict(table.attrs)
    return out


def _groups_of(candidates, got):
    return [int(candidates.twin_group[g.index]) for g in got]


@pytest.mark.parametrize("name", [n for n in list_searchers() if not n.startswith("gpr")] + ["gpr:outputs"])
def test_twin_aware(name, twin_table, cache):
    cs = CandidateSet.from_table(twin_table)
    assert cs.has_twins and cs.n_groups == len(cs) - 40
    for batch in (1, 4):
        got = _run(_make(name, cs, cache, seed=5), twin_table, 60, batch=batch)
        assert len(got) == 60
        groups = _groups_of(cs, got)
        assert len(set(groups)) == len(groups), f"{name} (batch {batch}) evaluated two functions of one twin group"
    # pending suggestions block their twins too
    s = _make(name, cs, cache, seed=1, initial=())
    pending = s.ask(6) + s.ask(6)
    groups = _groups_of(cs, pending)
    assert len(set(groups)) == len(groups)


def test_twin_groups_of_a_candidate_set():
    from act_bench.space import twin_groups

    names = ["relu(x)", "mul(identity(x),tanh(x))", "div(tanh(x),reciprocal(x))", "tanh(x)"]
    cs = CandidateSet.from_arrays(names, outputs=evaluate_many(names), twin_group=twin_groups(names))
    assert cs.twin_group.tolist() == [0, 1, 1, 3] and cs.twins_of(2).tolist() == [1, 2] and cs.n_groups == 3
    # labels of any kind are stored as the first row of their group
    assert CandidateSet(["a", "b", "c"], twin_group=[7, 3, 7]).twin_group.tolist() == [0, 1, 0]
    assert not CandidateSet(["a", "b"]).has_twins
    with pytest.raises(InvalidInputError, match="parameter twin_group of CandidateSet"):
        CandidateSet(["a", "b"], twin_group=[0])
    # random search draws uniformly among the groups: the second member of a twin group is never drawn
    s = create_searcher("random", cs, seed=0, initial=())
    got = [g.index for g in s.ask(4)]
    assert sorted(got) in ([0, 1, 3], [0, 2, 3]) and s.ask() == []


# --- tell() and _propose validate before they change anything (issue 24) --------------------------------------------

_BAD_OBJECTIVES = ["high", "0.5", None, True, np.bool_(False), float("inf"), -np.inf, [0.5], Result("x"),
                   Result(True), Result(float("inf"))]


def _state(s):
    return (sorted(s.pending), s.evaluated, s.n_told, s._blocked.tolist(), s._next_trial,
            str(s.rng.bit_generator.state))


@pytest.mark.parametrize("name", list_searchers())
def test_tell_refuses_bad_results_and_keeps_the_suggestion_pending(name, candidates, cache):
    s = _make(name, candidates, cache, seed=0)
    g, h = s.ask(2)  # the first baselines: no model is fitted yet
    before = _state(s)
    for bad in _BAD_OBJECTIVES:
        with pytest.raises(InvalidInputError, match="Result or a number"):
            s.tell(g, bad)
        assert _state(s) == before, bad
    s.tell(g, float("nan"))      # NaN: a failed evaluation
    s.tell(h, Result(np.float32(0.5), {"test_accuracy": 0.4}))
    assert s.evaluated == [g.index, h.index] and s.pending == []


_BAD_PROPOSALS = {"negative": lambda n, allowed: [-1], "past the end": lambda n, allowed: [len(allowed)],
                  "a float": lambda n, allowed: [float(np.flatnonzero(allowed)[0])],
                  "a string": lambda n, allowed: [str(np.flatnonzero(allowed)[0])],
                  "a boolean": lambda n, allowed: [True],
                  "blocked": lambda n, allowed: [int(np.flatnonzero(~allowed)[0])],
                  "twice": lambda n, allowed: [int(np.flatnonzero(allowed)[0])] * 2,
                  "not a list": lambda n, allowed: None}


@pytest.mark.parametrize("name", list_searchers())
def test_a_custom_propose_returning_an_invalid_row_is_refused(name, candidates, cache):
    s = _make(name, candidates, cache, seed=0)
    s.tell(s.ask()[0], 0.5)      # one row evaluated: "blocked" has a row to name
    before = _state(s)
    for case, propose in _BAD_PROPOSALS.items():
        s._propose = propose     # a subclass's _propose, on this instance
        with pytest.raises(InvalidInputError, match=r"_propose (returned row|must return)"):
            s.ask(10)            # the 7 baselines left are taken first, then _propose is asked: all undone
        assert _state(s) == before, case
