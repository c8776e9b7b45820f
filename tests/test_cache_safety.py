"""The cache is act-bench's only (issue 24, item 3), tested with real processes and real files.

``cache clear`` deletes only in a folder act-bench marked, and there only its own entries; it lists them and asks
on a terminal, refuses without one unless ``--yes``, and can clear the embeddings alone. A cache that cannot be
written means "go on without caching" with one warning line; a cached map or shared base that is corrupt (finite
numbers with a wrong checksum), of the wrong type or shape is recomputed, bit-identical, never a traceback.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ACT_BENCH = str(Path(sys.executable).with_name("act-bench"))
TINY = str(ROOT / "tests" / "data" / "tiny-table")
KEY = "0123456789abcdef0123456789abcdef"


def _cli(*args: str, stdin=subprocess.DEVNULL, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([ACT_BENCH, *args], stdin=stdin, capture_output=True, text=True, timeout=600, check=False,
                          **kw)


def _one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


def _marked_cache(path: Path) -> Path:
    """A cache folder as act-bench creates it (the marker written by a real act-bench process)."""
    code = "import sys; from act_bench._cache import make_cache_folder; make_cache_folder('embeddings', sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert (path / ".act-bench-cache").is_file()
    return path


def _fill(cache: Path) -> dict[str, Path]:
    """act-bench's own entries and a user's files beside them (returned by name)."""
    emb = cache / "embeddings"
    emb.mkdir(parents=True, exist_ok=True)
    own = {"map": emb / f"{KEY}.npy", "desc": emb / f"{KEY}.json", "base": emb / f"base-{KEY}.npz",
           "temp": emb / f".{KEY}.npy.tmp-123-abc", "table": cache / "tables" / "act-bench-cnn" / "metadata.json",
           "license": cache / "licenses" / "act-bench-academic-public-license.json",
           "download": cache / "downloads" / "act-bench-vit.json.part"}
    outside = cache.parent / f"{cache.name}-outside.txt"
    outside.write_text("a user's file outside the cache")
    user = {"note": emb / "my-notes.txt", "other": cache / "tables" / "my-table" / "data.csv",
            "top": cache / "README.txt", "dl": cache / "downloads" / "thesis.pdf", "outside": outside}
    for p in [*own.values(), *user.values()]:
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists():
            p.write_text("x")
    link = emb / f"{'f' * 32}.npy"   # a link named like an entry: neither followed nor removed
    link.symlink_to(outside)
    user["link"] = link
    return {**{f"own:{k}": v for k, v in own.items()}, **{f"user:{k}": v for k, v in user.items()}}


def _present(paths: dict[str, Path]) -> dict[str, bool]:
    return {k: p.is_symlink() or p.exists() for k, p in paths.items()}


def test_clear_deletes_only_act_benchs_own_entries_in_a_marked_cache(tmp_path):
    cache = _marked_cache(tmp_path / "cache")
    paths = _fill(cache)
    done = _cli("cache", "clear", "--cache-dir", str(cache), "--yes", "--json")
    assert done.returncode == 0 and not done.stderr, done.stderr
    removed = {e["kind"] for e in json.loads(done.stdout)["removed"]}
    assert removed == {"table", "embeddings", "license", "partial download"}
    present = _present(paths)
    assert not any(v for k, v in present.items() if k.startswith("own:")), present
    assert all(v for k, v in present.items() if k.startswith("user:")), present
    assert (paths["user:outside"]).read_text() == "a user's file outside the cache"
    assert (cache / ".act-bench-cache").is_file() and not (cache / "licenses").exists()


def test_clear_refuses_a_folder_act_bench_did_not_mark(tmp_path):
    folder = tmp_path / "not-ours"
    paths = _fill(folder)                         # our entries' names, but no marker: nothing is deleted
    err = _one_line_error(_cli("cache", "clear", "--cache-dir", str(folder), "--yes"))
    assert ".act-bench-cache" in err and "deletes nothing" in err
    assert all(_present(paths).values())


def test_clear_refuses_a_linked_cache_folder(tmp_path):
    real = _marked_cache(tmp_path / "real")
    paths = _fill(real)
    (tmp_path / "link").symlink_to(real)
    err = _one_line_error(_cli("cache", "clear", "--cache-dir", str(tmp_path / "link"), "--yes"))
    assert "symbolic link" in err and all(_present(paths).values())


def test_clear_without_a_terminal_needs_yes_and_embeddings_alone(tmp_path):
    cache = _marked_cache(tmp_path / "cache")
    paths = _fill(cache)
    err = _one_line_error(_cli("cache", "clear", "--cache-dir", str(cache), "--embeddings"))
    assert "--yes" in err and "no terminal" in err and all(_present(paths).values())
    done = _cli("cache", "clear", "--cache-dir", str(cache), "--embeddings", "--yes")
    assert done.returncode == 0, done.stderr
    assert "embeddings" in done.stdout and "act-bench-cnn" not in done.stdout
    present = _present(paths)
    assert not any(present[f"own:{k}"] for k in ("map", "desc", "base", "temp"))
    assert all(present[f"own:{k}"] for k in ("table", "license", "download"))
    assert all(v for k, v in present.items() if k.startswith("user:"))
    # nothing left to delete: no question, no refusal
    done = _cli("cache", "clear", "--cache-dir", str(cache), "--embeddings")
    assert done.returncode == 0 and "nothing removed" in done.stdout, done.stderr


@pytest.mark.parametrize("how", ["env", "option"])
def test_a_cache_folder_in_an_unknown_users_home_is_one_line(tmp_path, how):
    """``~nosuchuser`` as the cache folder (``$ACT_BENCH_CACHE`` or ``--cache-dir``): one line naming it, exit 2."""
    env = {**os.environ, "ACT_BENCH_CACHE": "~nosuchuser/cache"} if how == "env" else None
    args = ["cache", "clear", "--yes"] if how == "env" else \
        ["plot", "map", "--table", str(TINY), "--out", str(tmp_path / "m.png"), "--cache-dir", "~nosuchuser/c"]
    err = _one_line_error(_cli(*args, env=env, cwd=tmp_path))
    assert "~nosuchuser" in err and not (tmp_path / "~nosuchuser").exists()


def _on_terminal(args: list[str], answer: str) -> tuple[int, str]:
    """Run the command with stdin and stderr on a real pseudo-terminal, type ``answer``, return (code, screen)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([ACT_BENCH, *args], stdin=slave, stderr=slave, stdout=subprocess.PIPE, text=True)
    os.close(slave)
    os.write(master, answer.encode())
    screen = b""
    while True:   # read until the terminal closes (the process ended)
        ready, _, _ = select.select([master], [], [], 600)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    out = proc.stdout.read()
    return proc.wait(), screen.decode(errors="replace") + out


@pytest.mark.parametrize("answer, deleted", [("n\n", False), ("\n", False), ("y\n", True)])
def test_clear_lists_and_asks_on_a_terminal(tmp_path, answer, deleted):
    cache = _marked_cache(tmp_path / "cache")
    paths = _fill(cache)
    code, screen = _on_terminal(["cache", "clear", "--cache-dir", str(cache)], answer)
    assert "to delete from" in screen and "act-bench-cnn" in screen and "[y/N]" in screen, screen
    assert "Traceback" not in screen
    assert code == (0 if deleted else 1), screen
    assert _present(paths)["own:map"] is not deleted and _present(paths)["user:note"]


# --- the UMAP cache: corrupt entries and unwritable folders (one process runs every case) ------------------------

_CASES = r"""
import json, os, sys, warnings
from pathlib import Path
import numpy as np
from act_bench.space import evaluate_many
from act_bench.search import CandidateSet, _embedding, embed_candidates

names = ["relu(x)", "tanh(x)", "elu(x)", "selu(x)", "sigmoid(x)", "swish(x)", "softplus(x)", "gelu(x)"]
cs = CandidateSet.from_arrays(names, outputs=evaluate_many(names))
root = Path(sys.argv[1])
ref = embed_candidates(cs, "outputs", seed=1, use_cache=False).coords

def fresh():   # what a new process would see: nothing in memory
    _embedding._MEMORY.clear(); _embedding._BASES.clear(); _embedding._WARNED_CORRUPT.clear()

def run(cache):
    fresh()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = embed_candidates(cs, "outputs", seed=1, cache_dir=cache).coords
    return {"identical": bool(np.array_equal(got, ref)), "warnings": [str(w.message) for w in caught]}

def corrupt(case, cache):
    emb = embed_candidates(cs, "outputs", seed=1, cache_dir=cache)
    d = cache / "embeddings"
    npy, meta, base = d / f"{emb.key}.npy", d / f"{emb.key}.json", next(d.glob("base-*.npz"))
    if case == "finite-map":           # finite numbers, same dtype and shape: only the checksum tells
        a = np.load(npy); a[0, 0] += 0.25; np.save(npy, a)
    elif case == "int-map":
        np.save(npy, np.zeros((len(names), 2), dtype=np.int64))
    elif case == "string-map":
        np.save(npy, np.full((len(names), 2), "x"))
    elif case == "wrong-shape-map":
        np.save(npy, np.zeros((3, 7)))
    elif case == "map-is-an-archive":
        np.savez(npy.with_suffix(".tmp.npz"), a=np.zeros(3)); os.replace(npy.with_suffix(".tmp.npz"), npy)
    elif case == "description-is-a-list":
        meta.write_text("[1, 2]")
    elif case == "description-deeply-nested":
        meta.write_text("[" * 100000 + "]" * 100000)
    elif case == "description-not-utf8":
        meta.write_bytes(b"\xff\xfe{")
    elif case == "map-is-a-folder":
        npy.unlink(); npy.mkdir()
    elif case.startswith("base-"):   # the shared base, with the map gone so that it is read
        npy.unlink(); meta.unlink()
        z = dict(np.load(base))
        if case == "base-finite":
            z["data"] = z["data"].copy(); z["data"][0] *= np.float32(0.5)   # one weight of the graph
        elif case == "base-wrong-shape":
            z["plan_base"] = np.zeros((3, 7)); z["sha256"] = np.array(_embedding._checksum(
                {k: v for k, v in z.items() if k != "sha256"}))   # a valid checksum, a wrong shape
        elif case == "base-wrong-type":
            z["min_dist"] = np.array("x"); z["sha256"] = np.array(_embedding._checksum(
                {k: v for k, v in z.items() if k != "sha256"}))
        elif case == "base-truncated":
            base.write_bytes(base.read_bytes()[:100]); z = None
        if z is not None:
            with open(base, "wb") as fh:
                np.savez(fh, **z)

out = {}
for case in sys.argv[2].split(","):
    cache = root / case
    fresh()
    corrupt(case, cache)
    first = run(cache)
    again = run(cache)   # the entry was overwritten with a good one: read back without a warning
    out[case] = {"first": first, "again": again}
# unwritable caches: a file where the folder should be; "embeddings" a file; a read-only folder (as root, where
# permissions do not stop writes, a symbolic link instead: act-bench writes nothing through links)
(root / "a-file").write_text("x")
ro = root / "read-only"
ro.mkdir()
if os.geteuid() == 0:
    (root / "elsewhere").mkdir(); (ro / "embeddings").symlink_to(root / "elsewhere")
else:
    os.chmod(ro, 0o500)
(root / "emb-file").mkdir(); (root / "emb-file" / "embeddings").write_text("x")
for case, cache in {"parent-is-a-file": root / "a-file" / "cache", "embeddings-is-a-file": root / "emb-file",
                    "read-only": ro}.items():
    first = run(cache)
    second = run(cache)   # the same process again: no second warning
    out[case] = {"first": first, "again": second,
                 "written": sorted(str(p) for p in (root / "elsewhere").rglob("*")) if (root / "elsewhere").exists() else []}
os.chmod(ro, 0o700)
print(json.dumps(out))
"""

_CORRUPT = ["finite-map", "int-map", "string-map", "wrong-shape-map", "map-is-an-archive", "description-is-a-list",
            "description-deeply-nested", "description-not-utf8", "map-is-a-folder", "base-finite",
            "base-wrong-shape", "base-wrong-type", "base-truncated"]


@pytest.fixture(scope="module")
def umap_cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("umap-cache")
    done = subprocess.run([sys.executable, "-c", _CASES, str(root), ",".join(_CORRUPT)], capture_output=True,
                          text=True, timeout=1200, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", _CORRUPT)
def test_a_corrupt_cache_entry_is_recomputed_bit_identical(umap_cases, case):
    first, again = umap_cases[case]["first"], umap_cases[case]["again"]
    assert first["identical"] and again["identical"]
    assert len(first["warnings"]) <= 1 and again["warnings"] == []
    if case in ("finite-map", "base-finite", "base-wrong-shape", "base-wrong-type"):
        assert len(first["warnings"]) == 1 and "corrupt" in first["warnings"][0]


@pytest.mark.parametrize("case", ["parent-is-a-file", "embeddings-is-a-file", "read-only"])
def test_an_unwritable_cache_is_skipped_with_one_warning(umap_cases, case):
    first, again = umap_cases[case]["first"], umap_cases[case]["again"]
    assert first["identical"] and again["identical"]
    assert len(first["warnings"]) == 1 and "not caching" in first["warnings"][0], first
    assert again["warnings"] == [] and umap_cases[case].get("written", []) == []


def test_replay_with_an_unwritable_cache_finishes_with_one_warning_line(tmp_path):
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "out"
    done = _cli("replay", "--table", TINY, "--algorithms", "knr:outputs", "--seeds", "2", "--budget", "4",
                "--bootstrap", "10", "--cache-dir", str(tmp_path / "a-file" / "cache"), "--out", str(out), "--json",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stderr.replace("\r", "\n").splitlines() if "warning" in ln]
    assert len(lines) == 1 and "not caching" in lines[0] and lines[0].startswith("act-bench replay: warning:"), \
        done.stderr
    assert "Traceback" not in done.stderr and (out / "summary.json").is_file()
    assert (tmp_path / "a-file").read_text() == "x"
