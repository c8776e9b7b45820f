"""The import layering of docs/DESIGN.md ("Layers"): checked by import-linter with the contracts in pyproject.toml,
and cross-checked by an independent scan of the sources' import statements (private modules)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("act_bench", "data_builders", "evaluation")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH: analyse the sources under `root`, not an installed (editable) copy of the packages
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True,
                          check=False, timeout=120)


def test_import_linter_contracts_are_kept():
    proc = _lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Contracts: 5 kept, 0 broken." in proc.stdout, proc.stdout[-2000:]


def test_import_linter_contracts_catch_an_upward_import_a_private_import_a_cycle_core_to_interop_and_engine(
        tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "act_bench/space/_expr.py", "a", encoding="utf-8") as fh:  # a floor importing upwards
        fh.write("\nfrom evaluation import replay  # noqa\n")
    with open(tmp_path / "evaluation/_metrics.py", "a", encoding="utf-8") as fh:  # another package's private module
        fh.write("\nfrom act_bench.tables._meta import utc_now  # noqa\n")
    with open(tmp_path / "act_bench/tables/_schema.py", "a", encoding="utf-8") as fh:  # a module circle
        fh.write("\nfrom act_bench.tables import _layout  # noqa\n")
    with open(tmp_path / "act_bench/tables/_records.py", "a", encoding="utf-8") as fh:  # the core using the interop
        fh.write("\nfrom act_bench.interop import fetch_upstream  # noqa\n")
    with open(tmp_path / "act_bench/engine/_lock.py", "a", encoding="utf-8") as fh:  # the engine plotting
        fh.write("\nimport matplotlib  # noqa\n")
    proc = _lint_imports(tmp_path)
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "Contracts: 0 kept, 5 broken." in proc.stdout, proc.stdout[-4000:]
    assert "act_bench.engine is not allowed to import matplotlib" in proc.stdout
    assert "act_bench.tables is not allowed to import act_bench.interop" in proc.stdout
    assert "act_bench.space is not allowed to import evaluation" in proc.stdout
    assert "evaluation._metrics -> act_bench.tables._meta" in proc.stdout
    assert "._layout -> ._schema" in proc.stdout or "._schema -> ._layout" in proc.stdout


# --- an independent check: every import statement of the sources, read with ast ----------------------------------

def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, module- or function-level; ``from P import n`` gives ``P.n``
    when that is a module or package under ``root``, else ``P``."""
    name, is_package = _module_name(path, root)
    package = name if is_package else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for a in node.names:
                sub = f"{base}.{a.name}"
                rel = Path(*sub.split("."))
                is_module = (root / rel).is_dir() or (root / rel).with_suffix(".py").is_file()
                out.append((node.lineno, sub if is_module else base))
    return out


def _private_owner(module: str) -> str | None:
    """The package a private module belongs to (``a.b`` for ``a.b._c`` and ``a.b._c.d``), or ``None``."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def private_imports(root: Path, packages: tuple[str, ...]) -> list[str]:
    """Imports of a private module from outside the package that owns it, as ``file:line: importer -> module``."""
    bad = []
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            importer, _ = _module_name(path, root)
            for line, module in _imported_modules(path, root):
                owner = _private_owner(module)
                if owner is None or module.split(".")[0] not in packages:
                    continue
                if not (importer == owner or importer.startswith(owner + ".")):
                    bad.append(f"{path.relative_to(root)}:{line}: {importer} -> {module}")
    return bad


#: What the job engine must not import (the builders, searchers, activation functions, features, plotting).
ENGINE_FORBIDDEN = ("data_builders", "evaluation", "act_bench.live", "act_bench.cli", "act_bench.search",
                    "act_bench.space", "act_bench.features", "act_bench.interop", "matplotlib")


def test_the_engine_imports_no_builder_searcher_function_feature_or_plotting_module():
    bad = [f"{path.relative_to(ROOT)}:{line}: {module}"
           for path in sorted((ROOT / "act_bench/engine").rglob("*.py"))
           for line, module in _imported_modules(path, ROOT)
           if any(module == f or module.startswith(f + ".") for f in ENGINE_FORBIDDEN)]
    assert bad == []
    assert not (ROOT / "act_bench/engine/_build.py").exists()  # the build driver lives with the builders
    assert (ROOT / "data_builders/_driver.py").is_file()


def test_no_module_imports_a_private_module_of_another_package():
    assert private_imports(ROOT, PACKAGES) == []


def test_the_scan_finds_private_imports_at_any_depth_and_in_functions(tmp_path):
    files = {
        "p/__init__.py": "",
        "p/_impl.py": "X = 1\n",
        "p/sub/__init__.py": "from p import _impl\n",  # inside p: allowed
        "p/sub/_deep.py": "from .. import _impl\n",  # relative, inside p: allowed
        "q/__init__.py": "",
        "q/mod.py": "def f():\n    from p._impl import X\n    return X\n",  # function level, outside p
        "q/other.py": "import p.sub._deep\nfrom p import sub\n",  # p.sub's private module, outside p.sub
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert private_imports(tmp_path, ("p", "q")) == ["q/mod.py:2: q.mod -> p._impl",
                                                      "q/other.py:1: q.other -> p.sub._deep"]
