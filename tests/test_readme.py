"""The README, followed as a new user would: a clean clone, a new virtual environment, `pip install -e .`,
`act-bench demo`, then every other command and Python snippet of the README, in order, from the clone's root.

The new virtual environment sees the test environment's site-packages (``--system-site-packages``) so the heavy
dependencies (torch, ...) are not downloaded again; the package itself is installed by the README's own command.
The commands not run here are ``bash .ci/run``, the command that runs this test, and the CPU-only torch install
(a ``sh`` block: it needs the network).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def readme_blocks() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(m.group(1), m.group(2)) for m in re.finditer(r"```(python|bash)\n(.*?)```", text, re.DOTALL)]


def bash_commands(block: str) -> list[str]:
    joined = block.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()
            and not line.strip().startswith("#")]


def _upstream_json(path: Path) -> None:
    """A small file in the upstream Act-Bench format for All-CNN-C (reference CDF layout)."""
    from act_bench.features import fim_layout
    from data_builders.models import create_model

    rows = fim_layout(create_model("all-cnn-c", "relu(x)")).rows
    rng = np.random.default_rng(0)
    records = {}
    for i, (name, eq) in enumerate([("relu(x)", ["max(x,zero(x))", "relu(x)"]), ("tanh(x)", ["tanh(x)"]),
                                    ("swish(x)", ["mul(x,sigmoid(x))"])]):
        cdf = np.concatenate([np.sort(rng.uniform(0, 1, r.bins - 1)) for r in rows]).round(6).tolist()
        acc = 0.8 + 0.05 * i
        records[name] = {"Train Accuracy": acc + 0.05, "Validation Accuracy": acc, "Test Accuracy": acc - 0.01,
                         "Train Loss": 0.5, "Validation Loss": 0.6, "Test Loss": 0.62,
                         "Equivalent Activation Functions": eq, "Fisher log eigenvalue CDF": cdf,
                         "Runtime (s)": 100.0 + i}
    path.write_text(json.dumps(records))


def test_readme_from_a_clean_clone(tmp_path):
    clone = tmp_path / "act-bench"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "ACT_BENCH_CACHE": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)

    def run(cmd: str, timeout: float = 900) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, check=False, shell=True, cwd=clone, env=env, capture_output=True, text=True, timeout=timeout,
                              executable="/bin/bash")
        assert proc.returncode == 0, f"README command failed: {cmd}\nstdout: {proc.stdout[-2000:]}\n" \
                                     f"stderr: {proc.stderr[-3000:]}"
        return proc

    blocks = readme_blocks()
    setup, tests = bash_commands(blocks[0][1]), bash_commands(blocks[1][1])
    assert setup == ["pip install -e . && act-bench demo"] and tests == ["bash .ci/run"]
    demo = run("pip install -q -e . && act-bench demo")
    # the summary is the command's output (stdout); progress goes to stderr, with its final count, off a terminal too
    assert "best: " in demo.stdout and "ReLU: " in demo.stdout and "best: " not in demo.stderr
    # one progress step per replayed algorithm (the demo's --algorithms plus the fair baselines it adds, all in the
    # summaries it writes) under each observation model (the paper's median and one drawn run), then one per figure
    # (UMAP maps, eigenvalues)
    summaries = [json.loads((clone / "act-bench-demo" / name).read_text())
                 for name in ("summary.json", "summary_observe_run.json")]
    assert [x["observe"] for x in summaries] == ["median", "run"]
    steps = sum(len(x["algorithms"]) for x in summaries) + 2
    assert f"{steps}/{steps} [" in demo.stderr
    # the package came from the clone, in the new environment
    where = run("python -c 'import act_bench, sys; print(act_bench.__file__); print(sys.prefix)'").stdout.split()
    assert where[0].startswith(str(clone)) and where[1] == str(venv)
    report = clone / "act-bench-demo" / "report.md"
    assert report.exists() and "knr:both" in report.read_text() and "## The MNIST-1D suite" in report.read_text()
    assert "`--observe median`" in report.read_text() and "`--observe run`" in report.read_text()
    assert "MNIST-1D suite" in demo.stdout
    for png in ("search_curves.png", "search_curves_observe_run.png", "umap_maps.png", "eigenvalues.png"):
        assert (clone / "act-bench-demo" / png).stat().st_size > 10_000

    _upstream_json(clone / "act-bench-cnn.json")  # the user's downloaded upstream file
    # `act-bench fetch` downloads from a local mirror holding the published file name (ACT_BENCH_UPSTREAM_URL)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    _upstream_json(mirror / "act-bench-cnn.json")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(mirror)))
    server = threading.Thread(target=httpd.serve_forever, daemon=True)
    server.start()
    env["ACT_BENCH_UPSTREAM_URL"] = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        for kind, code in blocks[2:]:
            if kind == "python":
                script = clone / "snippet.py"
                script.write_text(code)
                run(f"{shlex.quote(str(venv / 'bin' / 'python'))} snippet.py")
            else:
                for cmd in bash_commands(code):
                    run(cmd)
    finally:
        httpd.shutdown()
        httpd.server_close()
        server.join()
    fetched = json.loads((tmp_path / "cache" / "tables" / "act-bench-cnn" / "metadata.json").read_text())
    assert fetched["download"]["sha256"] == hashlib.sha256((mirror / "act-bench-cnn.json").read_bytes()).hexdigest()
    status = json.loads(run("act-bench search status --journal search.sqlite --json").stdout)
    assert status["evaluated"] == 10
    assert (clone / "my-table-hf" / "README.md").exists() and (clone / "classes.parquet").exists()
    assert json.loads(run("act-bench table query act-bench-cnn 'max(x,zero(x))' --json").stdout)["function"] \
        == "relu(x)"
