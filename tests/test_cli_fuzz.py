"""Property-based fuzzing of the CLI: malformed expressions, schemas, numbers and files at every command.

Each case runs ``act_bench.cli.main`` in-process on a fresh folder and asserts the contract of every command: the exit
code is 2 (or 0 where the fuzzed input happens to be valid), a failure prints exactly one line on stderr and no
traceback, and a failure leaves no file or folder behind (the folder listing before and after are compared). An
exception escaping ``main`` fails the test with its traceback. A few cases run the real ``act-bench`` process to show
that no traceback reaches the terminal. Sizes are bounded (``max_examples``), so the module runs in about a minute.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from act_bench.cli import main
from act_bench.space import evaluate_many, list_operators

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny-table"
JOURNAL = REPO / "data" / "act-bench-mnist1d.journal" / "records.jsonl"
CLI = [sys.executable, "-c", "import sys; from act_bench.cli import main; sys.exit(main(sys.argv[1:]))"]
FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)


@dataclass
class Outcome:
    code: int
    err: str
    out: str
    new: set[str]


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run(argv: list[str], root: Path) -> Outcome:
    """``main(argv)`` with stdout/stderr captured; ``new`` = paths under ``root`` that were not there before."""
    before = _listing(root)
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse errors
            code = exc.code
    return Outcome(int(code or 0), err.getvalue(), out.getvalue(), _listing(root) - before)


def check(o: Outcome, *, ok_allowed: bool = False, outputs: tuple[str, ...] = ()) -> None:
    """The CLI contract: exit 2 with one line on stderr and nothing written, or (where allowed) success."""
    assert "Traceback" not in o.err, o.err
    if o.code == 0 and ok_allowed:
        assert {p.split(os.sep)[0] for p in o.new} <= set(outputs), o.new
        return
    assert o.code == 2, (o.code, o.err)
    assert o.err.endswith("\n") and o.err.count("\n") == 1, o.err
    assert len(o.err) < 2000, len(o.err)
    assert not o.new, o.new


@pytest.fixture(scope="module")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="act-bench-fuzz-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _fresh(workdir: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=workdir))


# --- strategies --------------------------------------------------------------------------------------------------

_TOKENS = [*list_operators(), "x", "(", ")", ",", " ", "unary", "binary", "n-ary", "nope", "0", "1e5", "é", "\x00",
           "\n", "((", "relu(", "x)", ",,", "-", "'", '"', "\\", "*", "x" * 300]
tokens = st.lists(st.sampled_from(_TOKENS), max_size=12).map("".join)
expressions = st.one_of(tokens, st.text(max_size=40), st.just("relu(" * 70 + "x" + ")" * 70),
                        st.just("max(" + "x," * 50_000 + "x)"))
schemas = st.one_of(tokens, st.lists(st.sampled_from(["unary(", "binary(", "n-ary(", "x", ",", ")", "relu("]),
                                     max_size=10).map("".join))
numbers = st.one_of(st.integers(-10**30, 10**30).map(str), st.floats(allow_nan=True).map(repr),
                    st.text(max_size=12), st.sampled_from(["1e20", "2**64", "0x10", "", " 1", "1_000", "٣",
                                                           "9" * 5001, "-0", "18446744073709551616"]))
json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=4), max_leaves=12)


@st.composite
def corrupted(draw, valid: bytes) -> bytes:
    """``valid`` truncated, with bytes overwritten, re-encoded (not UTF-8), replaced by noise or by JSON of a
    different type."""
    kind = draw(st.sampled_from(["truncate", "flip", "encoding", "noise", "json", "empty"]))
    if kind == "truncate":
        return valid[: draw(st.integers(0, max(len(valid) - 1, 0)))]
    if kind == "flip":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "encoding":
        text = valid.decode("utf-8", errors="replace") + " é ü"
        return text.encode(draw(st.sampled_from(["utf-16", "latin-1", "cp1252"])), errors="replace")
    if kind == "noise":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    return b""


# --- expressions and schemas -------------------------------------------------------------------------------------

@settings(FUZZ, max_examples=60)
@given(expr=expressions)
def test_fuzz_expressions(workdir, expr):
    root = _fresh(workdir)
    check(run(["space", "show", expr, "--space", "unary(x)"], root), ok_allowed=True)
    check(run(["table", "query", "--table", str(TINY), expr], root), ok_allowed=True)
    check(run(["fim", "--model", "nope", expr], root))
    check(run(["plot", "eigenvalues", "--table", str(root / "missing"), "--functions", expr, "--out",
               str(root / "e.png")], root))


@settings(FUZZ, max_examples=60)
@given(schema=schemas)
def test_fuzz_schemas(workdir, schema):
    root = _fresh(workdir)
    check(run(["space", "count", "--space", schema, "--max-graphs", "3000"], root), ok_allowed=True)
    check(run(["space", "list", "--space", schema, "--max-graphs", "3000", "--out", str(root / "s.parquet")], root),
          ok_allowed=True, outputs=("s.parquet",))
    check(run(["build", "--recipe", "act-bench-mnist1d", "--out", str(root / "b"), "--space", schema,
               "--snapshot"], root))


# --- numbers -----------------------------------------------------------------------------------------------------

def _numeric_cases(root: Path) -> list[tuple[list[str], str]]:
    missing = str(root / "missing")
    return [
        (["replay", "--table", missing], "--budget"), (["replay", "--table", missing], "--seeds"),
        (["replay", "--table", missing], "--workers"), (["replay", "--table", missing], "--jobs"),
        (["replay", "--table", missing], "--maps"), (["replay", "--table", missing], "--embedding-seed"),
        (["demo", "--table", missing, "--out", str(root / "d")], "--seeds"),
        (["demo", "--table", missing, "--out", str(root / "d")], "--budget"),
        (["build", "--recipe", missing + ".yaml", "--out", str(root / "b")], "--train-seeds"),
        (["build", "--recipe", missing + ".yaml", "--out", str(root / "b")], "--jobs"),
        (["build", "--recipe", missing + ".yaml", "--out", str(root / "b")], "--limit"),
        (["build", "--recipe", missing + ".yaml", "--out", str(root / "b")], "--epochs"),
        (["build", "--recipe", missing + ".yaml", "--out", str(root / "b")], "--max-jobs"),
        (["search", "run", "--recipe", missing + ".yaml", "--journal", str(root / "j"), "--budget", "1"], "--budget"),
        (["search", "run", "--recipe", missing + ".yaml", "--journal", str(root / "j"), "--budget", "1"], "--seed"),
        (["search", "run", "--recipe", missing + ".yaml", "--journal", str(root / "j"), "--budget", "1"],
         "--workers"),
        (["search", "run", "--recipe", missing + ".yaml", "--journal", str(root / "j"), "--budget", "1"],
         "--fim-warmup"),
        (["search", "run", "--recipe", missing + ".yaml", "--journal", str(root / "j"), "--budget", "1"],
         "--retries"),
        (["fim", "--model", "nope", "relu(x)"], "--batch"),
        (["fim", "--model", "nope", "relu(x)"], "--seed"),
        (["fim", "--model", "nope", "relu(x)"], "--num-classes"),
        (["models", "describe", "nope"], "--num-classes"),
        (["import-upstream", missing + ".json", "--out", str(root / "u")], "--n-runs"),
        (["plot", "map", "--table", missing, "--out", str(root / "m.png")], "--seed"),
    ]


@settings(FUZZ, max_examples=150)
@given(case=st.integers(0, 23), value=numbers)
def test_fuzz_numeric_options(workdir, case, value):
    root = _fresh(workdir)
    argv, option = _numeric_cases(root)[case]
    check(run([*argv, f"{option}={value}"], root))


def test_numeric_options_have_bounds_in_help(capsys):
    from act_bench.cli import build_parser

    parser = build_parser()
    for argv, option in _numeric_cases(Path("/nonexistent")):
        words = [w for w in argv if not w.startswith("/")][:2]
        words = words[:1] if words[0] not in ("search", "models", "plot") else words
        with pytest.raises(SystemExit):
            parser.parse_args([*words, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert f"{option} " in text and "an integer >= " in text.rsplit(f"{option} ", 1)[1][:400], (words, option)


# --- files -------------------------------------------------------------------------------------------------------

_TABLE_FILES = ["functions.parquet", "runs.parquet", "metadata.json"]


@settings(FUZZ, max_examples=80)
@given(data=st.data(), which=st.sampled_from(_TABLE_FILES))
def test_fuzz_table_files(workdir, data, which):
    root = _fresh(workdir)
    table = root / "t"
    shutil.copytree(TINY, table)
    (table / which).write_bytes(data.draw(corrupted((TINY / which).read_bytes())))
    check(run(["table", "info", "--table", str(table)], root), ok_allowed=True)
    check(run(["table", "query", "--table", str(table), "relu(x)", "--verify"], root), ok_allowed=True)
    check(run(["export-hf", "--table", str(table), "--out", str(root / "e")], root), ok_allowed=True, outputs=("e",))
    check(run(["publish", "--table", str(table), "--repo-id", "a/b", "--dry-run"], root), ok_allowed=True)
    check(run(["replay", "--table", str(table), "--algorithms", "nope"], root))


@settings(FUZZ, max_examples=60)
@given(key=st.sampled_from(["name", "fim_layout", "fim_cdf_layout", "build", "recipe", "schema_version", "source",
                            "figures", "notes", "license", "task", "duplicate_outputs", "standard_inputs"]),
       value=json_values)
def test_fuzz_metadata_types(workdir, key, value):
    root = _fresh(workdir)
    table = root / "t"
    shutil.copytree(TINY, table)
    meta = json.loads((table / "metadata.json").read_text())
    meta[key] = value
    (table / "metadata.json").write_text(json.dumps(meta))
    check(run(["table", "info", "--table", str(table)], root), ok_allowed=True)
    check(run(["export-hf", "--table", str(table), "--out", str(root / "e")], root), ok_allowed=True, outputs=("e",))


def _upstream_file() -> bytes:
    rec = {"Train Accuracy": 0.5, "Validation Accuracy": 0.4, "Test Accuracy": 0.4, "Train Loss": 1.0,
           "Validation Loss": 1.1, "Test Loss": 1.2, "Runtime (s)": 10.0, "Equivalent Activation Functions": [],
           "Fisher log eigenvalue CDF": [0.5, 1.0]}
    return json.dumps({"relu(x)": rec, "tanh(x)": rec}).encode()


@settings(FUZZ, max_examples=60)
@given(content=st.one_of(corrupted(_upstream_file()), st.sampled_from([
    b'{"relu(x)": {"Train Accuracy": ' + b"9" * 5001 + b"}}",
    b'{"relu(x)": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"relu(x)": {"Train Accuracy": 1e999}}', b"\xff\xfe{}"])))
def test_fuzz_upstream_json(workdir, content):
    root = _fresh(workdir)
    src = root / "up.json"
    src.write_bytes(content)
    check(run(["import-upstream", str(src), "--out", str(root / "o"), "--cdf-layout", "act-bench"], root),
          ok_allowed=True, outputs=("o",))
    layout = root / "layout.json"
    layout.write_bytes(content)
    check(run(["import-upstream", str(src), "--layout", str(layout), "--out", str(root / "o2")], root),
          ok_allowed=True, outputs=("o2",))


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_fuzz_recipe_and_functions_files(workdir, data):
    root = _fresh(workdir)
    recipe = root / "r.yaml"
    valid = (REPO / "data_builders" / "recipes" / "act-bench-mnist1d.yaml").read_bytes()
    recipe.write_bytes(data.draw(corrupted(valid)))
    check(run(["recipes", "show", str(recipe)], root), ok_allowed=True)
    check(run(["build", "--recipe", str(recipe), "--out", str(root / "b"), "--snapshot"], root))
    functions = root / "f.txt"
    functions.write_bytes(data.draw(corrupted(b"relu(x)\ntanh(x)  # a comment\nmax(x,zero(x))\n")))
    check(run(["build", "--recipe", "act-bench-mnist1d", "--functions-file", str(functions), "--out", str(root / "b"),
               "--snapshot"], root))


def _journal_lines(n: int = 12) -> list[bytes]:
    with open(JOURNAL, "rb") as fh:
        return [fh.readline() for _ in range(n)]


@st.composite
def build_journals(draw) -> bytes:
    """The first records of the shipped build journal with one record losing a field, retyped or corrupted."""
    lines = _journal_lines()
    i = draw(st.integers(0, len(lines) - 1))
    rec = json.loads(lines[i])
    kind = draw(st.sampled_from(["drop", "retype", "bytes"]))
    if kind == "drop":
        rec.pop(draw(st.sampled_from(sorted(rec))))
        lines[i] = (json.dumps(rec) + "\n").encode()
    elif kind == "retype":
        rec[draw(st.sampled_from(sorted(rec)))] = draw(json_values)
        lines[i] = (json.dumps(rec) + "\n").encode()
    else:
        lines[i] = draw(corrupted(lines[i])) + b"\n"
    return b"".join(lines)


@settings(FUZZ, max_examples=80)
@given(content=build_journals())
def test_fuzz_build_journal_records(workdir, content):
    from act_bench.errors import InvalidInputError
    from data_builders.build import LegacyJournal

    root = _fresh(workdir)
    (root / "records.jsonl").write_bytes(content)
    journal = LegacyJournal(root)
    try:  # a journal the builder accepts has every field it reads, with the right type
        journal.load()
    except InvalidInputError:
        return
    journal.runs(), journal.features()


@settings(FUZZ, max_examples=8)
@given(content=build_journals())
def test_fuzz_build_journal_cli(workdir, content):
    root = _fresh(workdir)
    jdir = root / "b.journal"
    jdir.mkdir()
    (jdir / "records.jsonl").write_bytes(content)
    o = run(["build", "--recipe", "act-bench-mnist1d", "--out", str(root / "b"), "--snapshot"], root)
    o.new = {p for p in o.new if not p.startswith("b.journal")}  # the journal's own files are not outputs
    check(o, ok_allowed=True, outputs=("b",))


@pytest.fixture(scope="module")
def live_journal(workdir) -> Path:
    """A real live-search journal (3 candidates, no results), the pristine copy every example starts from."""
    from act_bench.engine import Journal as LiveJournal

    functions = ["relu(x)", "tanh(x)", "swish(x)"]
    path = workdir / "pristine.db"
    journal = LiveJournal.create(path, config={"searcher": "random", "seed": 0, "recipe": {"name": "r"},
                                               "spaces": [], "budget": 3},
                                 functions=functions, equivalents=[[f] for f in functions],
                                 outputs=evaluate_many(functions), feature_rank=[0, 1, 2])
    journal.close()
    return path


@settings(FUZZ, max_examples=25)
@given(data=st.data())
def test_fuzz_search_journal(workdir, live_journal, data):
    root = _fresh(workdir)
    path = root / "j.db"
    kind = data.draw(st.sampled_from(["pages", "sql"]))
    if kind == "pages":
        path.write_bytes(data.draw(corrupted(live_journal.read_bytes())))
    else:
        shutil.copyfile(live_journal, path)
        db = sqlite3.connect(path)
        table = data.draw(st.sampled_from(["config", "candidates"]))
        column = "value" if table == "config" else "equivalents"
        db.execute(f"UPDATE {table} SET {column} = ?", (data.draw(st.one_of(st.text(max_size=10),
                                                                            st.integers(), st.binary(max_size=8))),))
        db.commit()
        db.close()
    for argv, outputs in ((["search", "status", "--journal", str(path)], ()),
                          (["search", "export", "--journal", str(path), "--out", str(root / "e")], ("e",))):
        o = run(argv, root)
        o.new -= {"j.db-wal", "j.db-shm"}  # SQLite's own files of the journal (WAL mode), not outputs
        check(o, ok_allowed=True, outputs=outputs)


# --- output paths that cannot be written ----------------------------------------------------------------------

OUTPUT_CASES = {
    "export-hf --out FILE": lambda r: ["export-hf", "--table", str(TINY), "--out", str(r / "file")],
    "export-hf --out under a FILE": lambda r: ["export-hf", "--table", str(TINY), "--out", str(r / "file" / "x")],
    "export-hf --out /proc": lambda r: ["export-hf", "--table", str(TINY), "--out", "/proc/act-bench-x"],
    "import-upstream --out under a FILE": lambda r: ["import-upstream", str(r / "up.json"), "--out",
                                                     str(r / "file" / "x"), "--cdf-layout", "act-bench"],
    "space list --out DIR": lambda r: ["space", "list", "--out", str(r / "dir.parquet")],
    "space list --out under a FILE": lambda r: ["space", "list", "--out", str(r / "file" / "x.parquet")],
    "space list --out /proc": lambda r: ["space", "list", "--out", "/proc/x.parquet"],
    "plot map --out DIR": lambda r: ["plot", "map", "--table", str(TINY), "--out", str(r / "dir.parquet")],
    "plot eigenvalues --out under a FILE": lambda r: ["plot", "eigenvalues", "--table", str(TINY), "--out",
                                                      str(r / "file" / "x.png")],
    "replay --out FILE": lambda r: ["replay", "--table", str(TINY), "--algorithms", "random", "--budget", "2",
                                    "--seeds", "1", "--out", str(r / "file")],
    "replay --out under a FILE": lambda r: ["replay", "--table", str(TINY), "--algorithms", "random", "--budget", "2",
                                            "--seeds", "1", "--out", str(r / "file" / "x")],
    "demo --out FILE": lambda r: ["demo", "--table", str(TINY), "--out", str(r / "file")],
    "demo --algorithms nope": lambda r: ["demo", "--table", str(TINY), "--out", str(r / "d"), "--algorithms",
                                         "nope"],
    "build --out under a FILE": lambda r: ["build", "--recipe", "act-bench-mnist1d", "--out", str(r / "file" / "x"),
                                           "--snapshot"],
    "search run --journal DIR": lambda r: ["search", "run", "--recipe", "act-bench-mnist1d", "--budget", "1",
                                           "--journal", str(r / "dir.parquet")],
    "search export --journal FILE (not SQLite)": lambda r: ["search", "export", "--journal", str(r / "file"),
                                                            "--out", str(r / "e")],
    "search status --journal under a FILE": lambda r: ["search", "status", "--journal", str(r / "file" / "j")],
}


@pytest.mark.parametrize("case", list(OUTPUT_CASES))
def test_unwritable_outputs_are_one_line_errors(workdir, case):
    root = _fresh(workdir)
    (root / "file").write_text("a regular file\n")
    (root / "dir.parquet").mkdir()
    (root / "up.json").write_bytes(_upstream_file())
    check(run(OUTPUT_CASES[case](root), root))


# --- the real process ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["space", "show", "relu(" * 2000 + "x"],
    ["table", "query", "--table", str(TINY), "nope(" + "x" * 100_000 + ")"],
    ["replay", "--table", str(TINY), "--budget", "1e20"],
    ["fim", "--model", "nope", "relu(x)", "--seed", str(2**64)],
])
def test_subprocess_has_no_traceback(tmp_path, argv):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*CLI, *argv], check=False, capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and len(proc.stderr) < 1000, proc.stderr[:300]
    assert os.listdir(tmp_path) == []


def test_publish_to_an_unreachable_or_garbage_hub_is_one_line(tmp_path):
    import socket
    import threading

    with socket.socket() as probe:  # a local port with nothing listening
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer_garbage():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!")

    threading.Thread(target=answer_garbage, daemon=True).start()
    try:
        for port, expect in ((dead, "cannot reach the Hub"), (server.getsockname()[1], "did not answer like")):
            env = {**os.environ, "PYTHONPATH": str(REPO), "HF_ENDPOINT": f"http://127.0.0.1:{port}",
                   "HF_TOKEN": "hf_not_a_real_token", "HF_HUB_DISABLE_TELEMETRY": "1"}
            env.pop("HF_HUB_OFFLINE", None)
            proc = subprocess.run([*CLI, "publish", "--table", str(TINY), "--repo-id",
                                   "someone/tiny"], check=False, capture_output=True, text=True, env=env,
                                  cwd=tmp_path, timeout=300)
            assert proc.returncode == 1 and expect in proc.stderr, proc.stderr[-500:]
            assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    finally:
        server.close()
    assert os.listdir(tmp_path) == []

