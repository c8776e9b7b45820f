"""The light commands start without importing torch or other heavy modules they do not need (fresh interpreters)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "tests" / "data" / "tiny-table")
HEAVY = ("torch", "umap", "numba", "datasets", "sklearn", "matplotlib", "scipy", "ray")
_PROBE = ("import json, sys\nfrom act_bench.cli import main\n"
          "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as exc:\n    code = exc.code\n"
          "sys.__stderr__.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\nsys.exit(code)\n")


def _modules(argv: list[str]) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {m.split(".")[0] for m in json.loads(proc.stderr.rsplit("MODULES ", 1)[1])}


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["recipes", "list"], ["table", "info", "--table", TINY],
                                  ["fetch", "--help"], ["cache", "info", "--cache-dir", "{tmp}"],
                                  ["space", "show", "relu(x)"], ["space", "show", "max(elu(x),relu(x))"]],
                         ids=" ".join)
def test_light_commands_import_no_heavy_module(argv, tmp_path):
    loaded = _modules([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_space_show_outside_the_lookup_needs_torch_only():
    # a function that is not a member of the shipped default-space lookup is evaluated: the operators are torch
    # functions (TensorFlow float32 semantics); nothing else heavy comes with it
    loaded = _modules(["space", "show", "tanh(tanh(x))"])
    assert "torch" in loaded and not loaded & (set(HEAVY) - {"torch"}), sorted(loaded & set(HEAVY))


def test_import_act_bench_is_light_and_lazy_names_resolve():
    code = ("import sys, act_bench\nlight = 'torch' not in sys.modules and 'pyarrow' not in sys.modules\n"
            "y = act_bench.function_outputs('relu(x)')\nprint(light, y.shape, act_bench.load_table.__module__, "
            "act_bench.space.parse('max(x, zero(x))'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.stdout.split() == ["True", "(1000,)", "act_bench.interop._load", "max(x,zero(x))"], proc.stderr[-2000:]


@pytest.mark.parametrize("package", ["act_bench", "act_bench.space", "act_bench.features"])
def test_every_lazy_name_is_the_object_its_module_defines(package):
    """In a fresh interpreter: every lazily exported name is listed by dir(), resolves to the very object of the
    module it names (read from that module directly, the reference), is then stored in the package, and an unknown
    name is an AttributeError naming the package."""
    code = f"""
import importlib, sys
pkg = importlib.import_module({package!r})
lazy = dict(pkg._LAZY)
assert lazy and set(lazy) <= set(dir(pkg)), sorted(set(lazy) - set(dir(pkg)))
for name, source in lazy.items():
    assert name not in vars(pkg), name
    assert getattr(pkg, name) is getattr(importlib.import_module(source), name), name
    assert vars(pkg)[name] is getattr(importlib.import_module(source), name), name
try:
    pkg.no_such_name
except AttributeError as exc:
    assert str(exc) == "module {package!r} has no attribute 'no_such_name'", str(exc)
else:
    raise SystemExit("no AttributeError")
print("ok", len(lazy))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("ok "), proc.stderr[-2000:]
