"""Installed like a user installs it: sdist -> wheel -> a fresh virtual environment, then the shipped tables load
from outside the source tree (the tables travel in the wheel as package data, ``act_bench/data/<table>/``).

The fresh environment gets only the wheel; its dependencies (torch, pyarrow, ...) come from this interpreter's
site-packages through a ``.pth`` line, so nothing is downloaded or reinstalled, and nothing of the source tree is on
its path (no PYTHONPATH, no editable install: that one's import hook lives in a ``.pth`` file of the other
site-packages, which Python does not process for a directory added by a ``.pth`` line).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pyarrow.parquet as pq

from act_bench.tables import SUITE_TABLES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "act_bench", "data_builders", "evaluation",
           "data")

_BUILD_SDIST = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
_PROBE = """
import json, sys
import act_bench
from act_bench.tables import data_dirs, list_tables, load_table
out = {"file": act_bench.__file__, "data_dirs": [str(d) for d in data_dirs()], "tables": list_tables(),
       "loaded": {}, "errors": {}}
for name in sys.argv[1:]:
    try:
        t = load_table(name)
    except Exception as exc:
        out["errors"][name] = [type(exc).__name__, str(exc)]
    else:
        out["loaded"][name] = {"name": t.name, "functions": len(t), "runs": len(t.runs),
                               "relu_val": float(t.query("max(x,zero(x))")["val_accuracy"])}
print(json.dumps(out))
"""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _built_tables() -> dict[str, dict[str, str]]:
    """Reference: every table folder of data/ (a folder with metadata.json) and the sha256 of each of its files."""
    out = {}
    for table in sorted((ROOT / "data").iterdir()):
        if table.is_dir() and (table / "metadata.json").is_file():
            out[table.name] = {str(f.relative_to(table)): _sha(f.read_bytes())
                               for f in sorted(table.rglob("*")) if f.is_file() and not f.name.startswith(".")}
    return out


def test_wheel_installs_into_a_fresh_venv_and_loads_the_shipped_tables(tmp_path):
    built = _built_tables()
    assert "act-bench-mnist1d" in built  # the shipped table this project built (data/act-bench-mnist1d)

    # 1. sdist from a copy of the sources (the PEP 517 hook `python -m build` calls), then the wheel from the sdist
    src, dist = tmp_path / "src", tmp_path / "dist"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(ROOT / name, src / name)
    sdist = _run([sys.executable, "-c", _BUILD_SDIST, str(dist)], cwd=src).stdout.split()[-1]
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir",
          "--quiet", "-w", str(dist), str(dist / sdist)], cwd=tmp_path)
    (wheel,) = dist.glob("act_bench-*.whl")

    # 2. the wheel holds each table's files, byte for byte, and nothing else of data/ (no build journal)
    with zipfile.ZipFile(wheel) as zf:
        shipped: dict[str, dict[str, str]] = {}
        for info in zf.infolist():
            parts = info.filename.split("/")
            if parts[:2] == ["act_bench", "data"]:
                shipped.setdefault(parts[2], {})["/".join(parts[3:])] = _sha(zf.read(info))
        assert shipped == built
        assert "act_bench/interop/data/upstream_layouts.json" in zf.namelist()
    print(f"\nwheel {wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB, tables {sorted(built)}")

    # 3. a fresh venv with only the wheel installed; dependencies from this interpreter's site-packages
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_test_dependencies.pth").write_text("".join(f"{d}\n" for d in deps))
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-cache-dir", "--quiet",
          "--target", str(site), str(wheel)])

    # 4. load every suite table from a folder outside the source tree: a built one loads, the others say they
    # are not built yet (the error of a source checkout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ACT_BENCH_DATA_DIR", "PYTHONHOME")}
    env["ACT_BENCH_CACHE"] = str(tmp_path / "cache")
    out = json.loads(_run([str(python), "-c", _PROBE, *SUITE_TABLES], cwd=elsewhere, env=env).stdout)
    assert Path(out["file"]).is_relative_to(site), out["file"]
    assert out["tables"] == sorted(built)
    for name in SUITE_TABLES:
        if name in built:
            ref_functions = pq.read_metadata(ROOT / "data" / name / "functions.parquet").num_rows
            ref_runs = pq.read_metadata(ROOT / "data" / name / "runs.parquet").num_rows
            ref_name = json.loads((ROOT / "data" / name / "metadata.json").read_text())["name"]
            got = out["loaded"][name]
            assert (got["name"], got["functions"], got["runs"]) == (ref_name, ref_functions, ref_runs)
            assert 0.0 <= got["relu_val"] <= 1.0
        else:
            kind, message = out["errors"][name]
            assert kind == "InvalidInputError"
            assert f"table {name!r} of the MNIST-1D suite is not built yet" in message
            assert f"act-bench build --recipe {name}" in message

    # 5. the CLI of the installed package: a table that is not built is one line on stderr and exit 2
    missing = [n for n in SUITE_TABLES if n not in built] or ["act-bench-not-a-table"]
    proc = subprocess.run([str(python), "-c", "import sys; from act_bench.cli import main; sys.exit(main(sys.argv[1:]))",
                           "table", "info", "--table", missing[0]], cwd=elsewhere, env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1 and missing[0] in proc.stderr
