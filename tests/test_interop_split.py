"""The table model (act_bench.tables) and the interop (act_bench.interop): where each name lives, the deprecated
aliases, the core loader's limits, and a bare name that means two tables."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import act_bench
from act_bench import interop, tables
from act_bench.errors import InvalidInputError

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny-table"


def test_core_package_does_not_load_the_interop():
    code = ("import sys, act_bench.tables as t\nt.load_table(sys.argv[1])\n"
            "print(sorted(m for m in sys.modules if m.startswith(('act_bench.interop', 'syne_tune'))))")
    proc = subprocess.run([sys.executable, "-c", code, str(TINY)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.split() == ["[]"], proc.stderr[-2000:]


def test_every_moved_name_is_in_the_interop_and_a_deprecated_alias_in_tables():
    assert tables._MOVED_TO_INTEROP <= set(interop.__all__)
    assert not tables._MOVED_TO_INTEROP & set(tables.__all__)
    for name in sorted(tables._MOVED_TO_INTEROP):
        with pytest.warns(DeprecationWarning, match=f"act_bench.interop.{name}"):
            assert getattr(tables, name) is getattr(interop, name)
    with pytest.raises(AttributeError):
        tables.no_such_name  # noqa: B018


def test_the_core_knows_the_upstream_names_the_interop_resolves():
    from act_bench.tables import _load

    assert sorted(_load._UPSTREAM_NAMES) == sorted(interop.UPSTREAM_TABLES)


def test_top_level_load_table_is_the_interops_and_reads_what_the_core_reads():
    assert act_bench.load_table is interop.load_table
    a, b = interop.load_table(TINY), tables.load_table(TINY)
    assert a.functions.equals(b.functions) and a.runs.equals(b.runs)


@pytest.mark.parametrize("name, says", [("owner/name", "Hugging Face Hub id"),
                                        ("act-bench-cnn", "upstream tables")])
def test_core_loader_names_the_interop_for_hub_ids_and_upstream_tables(name, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputError, match=says) as err:
        tables.load_table(name)
    assert "act_bench.load_table" in str(err.value)


def test_a_folder_named_like_a_shipped_table_is_ambiguous_unless_written_as_a_path(tmp_path, monkeypatch):
    import shutil

    shipped = tables.list_tables()[0]
    shutil.copytree(TINY, tmp_path / shipped)
    monkeypatch.chdir(tmp_path)
    for load in (tables.load_table, interop.load_table):
        with pytest.raises(InvalidInputError, match="ambiguous") as err:
            load(shipped)
        assert f"./{shipped}" in str(err.value)
        assert len(load(f"./{shipped}").functions) == len(tables.load_table(TINY).functions)


def test_a_folder_named_like_a_fetched_table_is_ambiguous(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("ACT_BENCH_CACHE", str(cache))
    fetched = interop.cached_table_path("act-bench-cnn")
    import shutil

    shutil.copytree(TINY, fetched)
    (tmp_path / "here").mkdir()
    shutil.copytree(TINY, tmp_path / "here" / "act-bench-cnn")
    monkeypatch.chdir(tmp_path / "here")
    with pytest.raises(InvalidInputError, match="ambiguous"):
        interop.load_table("act-bench-cnn")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(interop.load_table("act-bench-cnn").functions) == len(tables.load_table(TINY).functions)
