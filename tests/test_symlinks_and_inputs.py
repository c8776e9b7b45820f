"""Issue 24, items 2 and 7: act-bench never writes or copies through a symbolic link, never deletes a file it did not
write, and answers every bad input with one line on stderr and exit code 2 (no traceback, nothing written).

The CLI runs as a real process on real files (a copy of ``tests/data/tiny-table``, tables crafted from it, the tiny
build recipe of ``tests/_recipes.py``); the crafted tables run through ``act_bench.cli.main`` in-process, like the
fuzz tests, since only the table's validation differs between them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _recipes import save_tiny_recipe

from act_bench.cli import main
from act_bench.engine import JournalLock
from act_bench.errors import InvalidInputError
from act_bench.tables._schema import arrow_schema

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny-table"
CLI = [sys.executable, "-c", "import sys; from act_bench.cli import main; sys.exit(main(sys.argv[1:]))"]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def cli(*args: str, cwd: Path, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, env=env or ENV, cwd=cwd, timeout=600, check=False, **kw)


def one_line(proc: subprocess.CompletedProcess, *expected: str) -> str:
    """The contract: exit 2, exactly one line on stderr (naming ``expected``), no traceback."""
    err = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else proc.stderr
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and err.endswith("\n") and err.count("\n") == 1 and len(err) < 1000, err[-2000:]
    for text in expected:
        assert text in err, err
    return err


def tiny_copy(root: Path, name: str = "t") -> Path:
    d = root / name
    shutil.copytree(TINY, d)
    return d


# --- item 2: symbolic links ------------------------------------------------------------------------------------------

def test_a_symlinked_card_figure_is_refused_not_copied(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n")
    table = tiny_copy(tmp_path)
    (table / "figure.png").symlink_to(secret)
    meta = json.loads((table / "metadata.json").read_text())
    (table / "metadata.json").write_text(json.dumps({**meta, "figures": [{"file": "figure.png", "title": "x"}]}))
    one_line(cli("export-hf", "--table", str(table), "--out", str(tmp_path / "out"), cwd=tmp_path), "card figure",
             "symbolic link")
    assert not (tmp_path / "out").exists()
    one_line(cli("publish", "--table", str(table), "--repo-id", "someone/tiny", "--dry-run", cwd=tmp_path), "symbolic link")
    assert secret.read_text() == "SECRET\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt", "t"]


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    recipe = save_tiny_recipe(tmp_path)
    journal = tmp_path / "j.sqlite"
    Path(f"{journal}.lock").symlink_to(victim)
    one_line(cli("search", "run", "--recipe", str(recipe), "--budget", "1", "--journal", str(journal),
                 "--no-progress", cwd=tmp_path), "j.sqlite.lock", "symbolic link")
    assert victim.read_text() == "precious\n" and Path(f"{journal}.lock").is_symlink()
    assert not journal.exists()


def test_the_lock_never_opens_through_a_link(tmp_path):
    victim, missing = tmp_path / "victim.txt", tmp_path / "missing.txt"
    victim.write_text("precious\n")
    for target in (victim, missing):  # a link to a file, and a dangling one (O_CREAT would create its target)
        lock = tmp_path / f"to-{target.name}.lock"
        lock.symlink_to(target)
        with pytest.raises(InvalidInputError, match="is a symbolic link"):
            JournalLock(lock).acquire()
        assert lock.is_symlink()
    assert victim.read_text() == "precious\n" and not missing.exists()


@pytest.mark.parametrize("case", ["export-hf", "--table", "space list", "build", "build journal lock"])
def test_a_symlinked_output_is_refused_before_any_work(tmp_path, case):
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("mine\n")
    link = tmp_path / ("link.parquet" if case == "space list" else "link")
    if case == "export-hf":
        link.symlink_to(target)
        argv = ["export-hf", "--table", str(TINY), "--out", str(link)]
    elif case == "space list":
        link.symlink_to(target / "keep.txt")
        argv = ["space", "list", "--space", "unary(x)", "--out", str(link)]
    else:
        recipe = save_tiny_recipe(tmp_path)
        (tmp_path / "f.txt").write_text("relu(x)\n")
        if case == "build":
            link.symlink_to(target)
            out = link
        else:  # the build's lock in <out>.journal/
            out = tmp_path / "out"
            (tmp_path / "out.journal").mkdir()
            (tmp_path / "out.journal" / "journal.sqlite.lock").symlink_to(target / "keep.txt")
        argv = ["build", "--recipe", str(recipe), "--out", str(out), "--functions-file", str(tmp_path / "f.txt"),
                "--train-seeds", "1", "--no-progress"]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    one_line(cli(*argv, cwd=tmp_path), "symbolic link")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert (target / "keep.txt").read_text() == "mine\n"


def test_build_resume_never_deletes_a_users_file_in_out(tmp_path):
    recipe = save_tiny_recipe(tmp_path)
    (tmp_path / "f.txt").write_text("relu(x)\n")
    out = tmp_path / "out"
    build = ["build", "--recipe", str(recipe), "--out", str(out), "--functions-file", str(tmp_path / "f.txt"), "--train-seeds",
             "1", "--no-progress"]
    first = cli(*build, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    table_files = sorted(p.name for p in out.iterdir())
    (out / "my-notes.txt").write_text("mine\n")
    for extra in (["--resume"], ["--snapshot"]):
        one_line(cli(*build, *extra, cwd=tmp_path), "my-notes.txt", "move them elsewhere")
        assert (out / "my-notes.txt").read_text() == "mine\n"
        assert sorted(p.name for p in out.iterdir()) == sorted([*table_files, "my-notes.txt"])
    (out / "my-notes.txt").unlink()  # the table's own files are rewritten in place
    again = cli(*build, "--resume", cwd=tmp_path)
    assert again.returncode == 0 and sorted(p.name for p in out.iterdir()) == table_files, again.stderr[-2000:]


# --- item 7: bad input, one line -----------------------------------------------------------------------------------

@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_non_utf8_paths_in_any_locale(tmp_path, locale):
    env = {**ENV, "LC_ALL": locale, "LANG": locale}
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/t\xff")
    shutil.copytree(TINY, odd)
    # pyarrow takes UTF-8 paths only: reading or writing a table there is refused in one line, nothing written
    one_line(cli("table", "info", "--table", odd, cwd=tmp_path, env=env), "not valid UTF-8", "rename it")
    one_line(cli("export-hf", "--table", str(TINY), "--out", odd + "-out", cwd=tmp_path, env=env), "not valid UTF-8")
    assert not os.path.exists(odd + "-out")
    one_line(cli("table", "info", "--table", odd + "-missing", cwd=tmp_path, env=env), "\\udcff")


def test_a_lone_surrogate_in_metadata_is_one_line(tmp_path):
    table = tiny_copy(tmp_path)
    text = (table / "metadata.json").read_text()
    (table / "metadata.json").write_text(text.replace('"source": "', '"source": "\\ud800', 1))
    one_line(cli("table", "info", "--table", str(table), cwd=tmp_path), "lone surrogate", "source")
    one_line(cli("export-hf", "--table", str(table), "--out", str(tmp_path / "out"), cwd=tmp_path), "lone surrogate")
    assert not (tmp_path / "out").exists()


def test_a_home_that_does_not_exist_is_one_line(tmp_path):
    one_line(cli("table", "info", "--table", "~nosuchuser-act-bench/t", cwd=tmp_path), "~nosuchuser-act-bench")
    one_line(cli("export-hf", "--table", str(TINY), "--out", "~nosuchuser-act-bench/t", cwd=tmp_path), "starts with '~'")
    assert os.listdir(tmp_path) == []


def test_a_300_character_hub_id_is_one_line(tmp_path):
    err = one_line(cli("table", "info", "--table", "a/" + "b" * 300, cwd=tmp_path), "not a valid Hub id")
    assert "b" * 100 not in err
    assert os.listdir(tmp_path) == []


def test_a_closed_or_broken_stdout_is_one_line(tmp_path):
    closed = cli("table", "info", "--table", str(TINY), cwd=tmp_path, stdout=None, pass_fds=(),
                 preexec_fn=lambda: os.close(1))
    one_line(closed, "standard output is closed")
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails with EPIPE
    try:
        broken = subprocess.run([*CLI, "table", "info", "--table", str(TINY)], stdout=write, stderr=subprocess.PIPE,
                                env=ENV, cwd=tmp_path, timeout=600, check=False)
    finally:
        os.close(write)
    one_line(broken, "broken pipe")


def _crafted(root: Path, name: str, *, meta=None, runs=None, outputs=None) -> Path:
    table = tiny_copy(root, name)
    if meta is not None:
        m = json.loads((table / "metadata.json").read_text())
        (table / "metadata.json").write_text(json.dumps({**m, **meta}))
    if runs is not None:
        rows = pq.read_table(table / "runs.parquet").to_pylist()
        for r in rows:
            r.update({"curve_val_accuracy": [0.5, 0.6], "curve_val_loss": [1.0, 0.9], "curve_train_loss": [1.0, 0.8],
                      "curve_seconds": [1.0, 2.0], "eval_loss_nonfinite": False})
        rows[0].update(runs)
        pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema("runs")), table / "runs.parquet")
    if outputs is not None:
        t = pq.read_table(table / "functions.parquet")
        i = t.schema.get_field_index("outputs")
        col = [[outputs] * len(v) for v in t.column("outputs").to_pylist()]
        t = t.set_column(i, t.schema.field(i), pa.array(col, t.schema.field(i).type))
        pq.write_table(t, table / "functions.parquet")
    return table


CRAFTED = {
    "negative seed": ({"runs": {"seed": -1}}, "'seed'"),
    "huge seed": ({"runs": {"seed": 2**62}}, "'seed'"),
    "schema_version 0": ({"meta": {"schema_version": 0}}, "schema_version"),
    "schema_version -3": ({"meta": {"schema_version": -3}}, "schema_version"),
    "schema_version '1'": ({"meta": {"schema_version": "1"}}, "schema_version"),
    "schema_version 1e40": ({"meta": {"schema_version": 10**40}}, "schema_version"),
    "curve accuracy NaN": ({"runs": {"curve_val_accuracy": [float("nan"), 0.6]}}, "curve_val_accuracy"),
    "curve accuracy 1.5": ({"runs": {"curve_val_accuracy": [0.5, 1.5]}}, "curve_val_accuracy"),
    "curve loss inf": ({"runs": {"curve_val_loss": [float("inf"), 0.9]}}, "curve_val_loss"),
    "curve seconds negative": ({"runs": {"curve_seconds": [-1.0, 2.0]}}, "curve_seconds"),
    "curve seconds decreasing": ({"runs": {"curve_seconds": [2.0, 1.0]}}, "curve_seconds"),
    "curve lengths differ": ({"runs": {"curve_seconds": [1.0, 2.0, 3.0]}}, "one value per epoch"),
    "all outputs NaN": ({"outputs": float("nan")}, "'outputs'"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_tables_are_refused_in_one_line(tmp_path, case):
    kw, expected = CRAFTED[case]
    table = _crafted(tmp_path, "crafted", **kw)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for argv in (["table", "info", "--table", str(table)], ["export-hf", "--table", str(table), "--out", str(tmp_path / "out")]):
        err, out = io.StringIO(), io.StringIO()
        with redirect_stderr(err), redirect_stdout(out):
            code = main(argv)
        assert code == 2 and err.getvalue().count("\n") == 1 and expected in err.getvalue(), err.getvalue()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_crafted_table_with_valid_curves_loads(tmp_path):
    table = _crafted(tmp_path, "ok", runs={})
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        assert main(["table", "info", "--table", str(table)]) == 0, err.getvalue()
    runs = len(pq.read_table(table / "runs.parquet"))
    assert f"runs with learning curves: {runs}" in out.getvalue()
