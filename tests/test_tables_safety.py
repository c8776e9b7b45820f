"""Table safety: names that become paths, the validation layer (load, --verify), and atomic outputs."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from act_bench.cli import main

TINY = Path(__file__).resolve().parent / "data" / "tiny-table"


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _tiny_copy(dst: Path, **meta_changes) -> Path:
    shutil.copytree(TINY, dst)
    meta = json.loads((dst / "metadata.json").read_text())
    meta.update(meta_changes)
    (dst / "metadata.json").write_text(json.dumps(meta))
    return dst


@pytest.mark.parametrize("evil", ["../../x", "/abs/x", "a/b", ".hidden", "..", "x" * 97])
def test_publish_dry_run_refuses_a_table_name_that_would_become_a_path(tmp_path, monkeypatch, capsys, evil):
    # TMPDIR deep inside tmp_path, so that '../../x' from the publish temp folder would land inside tmp_path
    tmpdir = tmp_path / "t1" / "t2" / "t3"
    tmpdir.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    if evil.startswith("/"):
        evil = str(tmp_path / "abs" / "x")  # an absolute path this test may check
    table = _tiny_copy(tmp_path / "src" / "evil", name=evil)
    before = _listing(tmp_path)
    code = main(["publish", str(table), "--repo-id", "someone/tiny", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "'name' must be" in err and "Traceback" not in err
    assert _listing(tmp_path) == before  # nothing written anywhere, the temp folder cleaned
    assert not (tmp_path / "abs").exists()


def test_publish_dry_run_writes_only_inside_its_temp_folder(tmp_path, monkeypatch, capsys):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    monkeypatch.chdir(tmp_path)
    table = _tiny_copy(tmp_path / "src")
    before = _listing(tmp_path)
    assert main(["publish", str(table), "--repo-id", "someone/tiny", "--dry-run", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert sorted(f["path"] for f in listing["files"]) == sorted(os.listdir(TINY))
    assert _listing(tmp_path) == before


@pytest.mark.parametrize("name", ["../x", "/abs/x", "a b"])
def test_import_upstream_name_is_validated(tmp_path, capsys, name):
    src = tmp_path / "up.json"
    src.write_text(json.dumps({}))
    code = main(["import-upstream", str(src), "--out", str(tmp_path / "out"), "--cdf-layout", "act-bench",
                 "--name", name])
    err = capsys.readouterr().err
    assert code == 2 and "parameter name of import_upstream must be" in err and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["up.json"]
