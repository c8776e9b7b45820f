"""A live search records and checks its code version as a build does, its user network included, and its export is
the builders' one assembler (``data_builders.build.journal_to_table``) with the code digest in the metadata."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest
from _recipes import tiny_recipe

from act_bench.engine import Journal
from act_bench.errors import InvalidInputError
from act_bench.live import LiveSearch, export_table
from data_builders.build import (
    check_journal_code,
    code_version,
    journal_to_table,
    user_code_parts,
    with_parts,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

NETWORK = '''
from torch import nn


def build(activation):
    """A user's network for MNIST-1D, edited in place between sessions."""
    return nn.Sequential(nn.Flatten(), nn.Linear(40, {width}), activation(), nn.Linear({width}, 10)){comment}
'''


def _user_module(folder: Path, monkeypatch, *, width: int, comment: str = ""):
    """Write (or rewrite) ``usernet.py`` in ``folder`` and import it afresh (the worker processes import it too)."""
    (folder / "usernet.py").write_text(NETWORK.format(width=width, comment=comment), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", f"{folder}:{ROOT}")
    sys.modules.pop("usernet", None)
    importlib.invalidate_caches()
    return importlib.import_module("usernet")


def _search(journal: Path, module, **kwargs) -> LiveSearch:
    return LiveSearch(recipe=tiny_recipe(), journal=journal, spaces=[], searcher="random", seed=0, fim_warmup=2,
                      background_features=False, model_fn=module.build, workers=1, progress=False, **kwargs)


def _expected_refusal(journal: Path, changed: str) -> str:
    return (rf"journal {re.escape(str(journal))} was written by other code: changed parts {changed} \(digest "
            rf"[0-9a-f]{{12}} -> [0-9a-f]{{12}}\); resume with that code, start a new --journal, or pass "
            rf"--allow-code-change to mix results of both")


def test_an_edited_user_network_is_refused_on_resume_and_accepted_only_when_allowed(tmp_path, monkeypatch):
    journal = tmp_path / "search.sqlite"
    module = _user_module(tmp_path, monkeypatch, width=32)
    _search(journal, module).run(budget=2)
    with Journal.open(journal, readonly=True) as j:
        recorded = j.config()["code"]
        assert j.n_results() == 2
        assert {s["code_digest"] for s in j.sessions()} == {recorded["digest"]}
    # the digest is the builder's code version of the recipe plus the user's network (recomputed independently)
    expected = with_parts(code_version(tiny_recipe()), user_code_parts(model_fn=module.build))
    assert recorded["digest"] == expected.digest and "user_network" in recorded["parts"]
    table = export_table(journal)
    assert table.metadata["code"]["digest"] == recorded["digest"]
    assert table.metadata["source"] == "act-bench search"

    # the same function, edited in place: other shapes -> refused, nothing written
    module = _user_module(tmp_path, monkeypatch, width=16)
    with pytest.raises(InvalidInputError, match=_expected_refusal(journal, "user_network")):
        _search(journal, module).run(budget=3)
    # only its source edited (same parameter names and shapes) -> refused too
    module = _user_module(tmp_path, monkeypatch, width=32, comment="  # edited")
    with pytest.raises(InvalidInputError, match=_expected_refusal(journal, "user_network")):
        _search(journal, module).run(budget=3)
    with Journal.open(journal, readonly=True) as j:
        assert j.n_results() == 2 and len(j.sessions()) == 1 and j.events("code_change") == []
    # the very same code resumes without a word
    module = _user_module(tmp_path, monkeypatch, width=32)
    assert _search(journal, module).run(budget=3).evaluated == 3

    # allowed, a change that keeps the network's FIM layout: recorded in the journal and the exported metadata
    module = _user_module(tmp_path, monkeypatch, width=16)
    with pytest.raises(InvalidInputError, match=r"another network layout \(2 layers, \d+ values -> 2 layers, "
                                                r"\d+ values\); .* start a new --journal"):
        _search(journal, module, allow_code_change=True).run(budget=4)
    module = _user_module(tmp_path, monkeypatch, width=32, comment="  # edited")
    assert _search(journal, module, allow_code_change=True).run(budget=4).evaluated == 4
    with Journal.open(journal, readonly=True) as j:
        (event,) = j.events("code_change")
    assert event["changed"] == ["user_network"] and event["from"] == recorded["digest"] != event["to"]
    overrides = export_table(journal).metadata["code"]["overrides"]
    assert [o["changed"] for o in overrides] == [["user_network"]]


def test_changed_builder_code_or_no_recorded_code_is_refused_with_the_builds_message(tmp_path):
    journal = tmp_path / "search.sqlite"
    LiveSearch(recipe=tiny_recipe(), journal=journal, spaces=[], searcher="random", seed=0, fim_warmup=1,
               background_features=False, workers=1, progress=False).run(budget=1)
    with Journal.open(journal) as j:
        code = j.config()["code"]
        other = {**code, "parts": {**code["parts"], "training": "0" * 64}, "digest": "f" * 64}
        j.set_config("code", other)

    def resume(**kwargs):
        return LiveSearch(recipe=tiny_recipe(), journal=journal, spaces=[], searcher="random", seed=0, fim_warmup=1,
                          background_features=False, workers=1, progress=False, **kwargs).run(budget=2)

    with pytest.raises(InvalidInputError) as refused:
        resume()
    # word for word the builds' check, with the search's way to start afresh
    with pytest.raises(InvalidInputError) as build_says:
        check_journal_code({"code": other}, code_version(tiny_recipe()), journal, False,
                           elsewhere="start a new --journal")
    assert str(refused.value) == str(build_says.value)
    assert "changed parts training" in str(refused.value)

    with Journal.open(journal) as j:  # a journal of an act-bench that recorded no code version
        j.set_config("code", None)
    with pytest.raises(InvalidInputError, match="records no code version .* or start a new --journal"):
        resume()
    assert resume(allow_code_change=True).evaluated == 2


def test_builds_and_live_searches_share_one_assembler(tmp_path):
    journal = tmp_path / "search.sqlite"
    LiveSearch(recipe=tiny_recipe(), journal=journal, spaces=[], searcher="random", seed=0, fim_warmup=3,
               background_features=False, workers=1, progress=False).run(budget=3)
    exported = export_table(journal)
    with Journal.open(journal, readonly=True) as j:
        config = j.config()
        direct = journal_to_table(j, name=exported.name, recipe=config["recipe"], fim_layout=config["fim_layout"],
                                  source="act-bench search", space=config["spaces"])
    a, b = exported.to_pandas("runs"), direct.to_pandas("runs")
    assert a.drop(columns=["curve_seconds"], errors="ignore").equals(b.drop(columns=["curve_seconds"], errors="ignore"))
    assert exported.metadata["code"] == direct.metadata["code"] == config["code"]

    # no second journal->table copy: BenchmarkTable.from_runs is called by the assembler only (besides the tables
    # package itself and the upstream importers, which read other formats)
    callers = []
    for package in ("act_bench", "data_builders", "evaluation"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "from_runs":
                    callers.append(rel)
    journal_readers = [c for c in callers if not c.startswith(("act_bench/tables/", "act_bench/interop/"))]
    assert sorted(set(journal_readers)) == ["data_builders/_assemble.py"], callers
