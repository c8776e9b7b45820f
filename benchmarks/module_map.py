"""The module map of act-bench's source at one or two git commits: packages, largest modules, import cycles.

Reads the source of a commit with ``git archive`` (in memory; nothing is checked out) or of the working tree
(the files ``git ls-files --cached --others --exclude-standard`` lists that exist on disk), and analyses it with
``ast`` only: no package is imported, so any commit can be mapped.

For each tree:

1. Packages (directories with an ``__init__.py``): their own modules (``__init__`` included, subpackages not),
   non-blank lines, the size of ``__all__`` in ``__init__.py`` (a list/tuple literal of strings; "dynamic" when
   it is built or extended otherwise; "-" when absent) and whether ``__init__`` defines a module-level
   ``__getattr__`` (deprecated aliases).
2. The largest modules by non-blank lines.
3. The import graph: every ``import``/``from ... import`` statement, at module level and inside functions;
   relative imports resolved; ``from P import n`` is ``P.n`` when that is a module or package of the tree, else
   ``P``; ``import a.b.c`` is the longest prefix that is a module of the tree. Imports inside ``if TYPE_CHECKING:``
   (or ``if typing.TYPE_CHECKING:``) are left out of the cycles and reported apart. An import of a package is an
   import of its ``__init__``; the ``__init__`` of the parents that Python also runs is not counted (as in
   import-linter). Reported: (a) module-level cycles, the strongly connected components of more than one module
   (Tarjan, iterative); (b) cycles between siblings: for each package, its direct subpackages and modules, each
   with its descendants collapsed into it (import-linter's ``acyclic_siblings``); an edge ``s -> d`` counts for
   the deepest package holding both, when neither is that package itself. The roots are not compared with each
   other (``act_bench`` holds both the layers above ``data_builders``/``evaluation`` and those below them).
4. Cross-package imports of a few packages (``--focus``): the first-party units (a package, or a module directly
   in a root package such as ``act_bench.utils``) and the third-party top-level modules (not the standard library)
   that the modules under each import at run time; "(fn)" marks one imported only inside functions.

Usage::

    python benchmarks/module_map.py --before e646d40                 # e646d40 against the working tree
    python benchmarks/module_map.py --before A --after B --out map.md
    python benchmarks/module_map.py --json                            # the working tree alone, as JSON
    python benchmarks/module_map.py --self-test
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

ROOTS = ("act_bench", "data_builders", "evaluation")
FOCUS = ("act_bench.engine", "act_bench.tables", "act_bench.live", "evaluation", "data_builders")
NOT_THIRD_PARTY = set(sys.stdlib_module_names) | {"__future__"}
WORKING_TREE = "WORKTREE"


# ---------------------------------------------------------------------------------------------------------- sources


def _git(repo: Path, *args: str, binary: bool = False) -> str | bytes:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout if binary else proc.stdout.decode()


def read_commit(repo: Path, commit: str, roots: tuple[str, ...]) -> dict[str, str]:
    """The ``.py`` files under ``roots`` at ``commit``, path -> text, read from ``git archive`` in memory."""
    present = [r for r in roots if str(_git(repo, "ls-tree", "--name-only", commit, "--", r)).strip()]
    if not present:
        return {}
    data = _git(repo, "archive", "--format=tar", commit, "--", *present, binary=True)
    files: dict[str, str] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if member.isfile() and member.name.endswith(".py"):
                files[member.name] = tar.extractfile(member).read().decode("utf-8", errors="replace")
    return files


def read_directory(base: Path, roots: tuple[str, ...]) -> dict[str, str]:
    """The ``.py`` files under ``roots`` in a directory: those git lists (tracked or not ignored), else all."""
    try:
        listed = str(_git(base, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *roots))
        paths = sorted({p for p in listed.split("\0") if p.endswith(".py")})
    except (RuntimeError, FileNotFoundError):
        paths = sorted(str(p.relative_to(base).as_posix()) for r in roots for p in (base / r).rglob("*.py")
                       if "__pycache__" not in p.parts)
    files = {}
    for path in paths:
        full = base / path
        if full.is_file():
            files[path] = full.read_bytes().decode("utf-8", errors="replace")
    return files


# --------------------------------------------------------------------------------------------------------- analysis


@dataclass
class Module:
    name: str
    path: str
    is_package: bool
    lines: int
    all_size: int | str | None = None  # None: no __all__; "dynamic": not a literal
    has_getattr: bool = False
    parse_error: str | None = None
    # (target, TYPE_CHECKING only, inside a function, line) for first-party targets; raw dotted name for others
    imports: list[tuple[str, bool, bool, int]] = field(default_factory=list)
    external: list[tuple[str, bool, bool, int]] = field(default_factory=list)


def _module_name(path: str) -> tuple[str, bool]:
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _nonblank(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _dunder_all(tree: ast.Module) -> int | str | None:
    size: int | str | None = None
    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        elif isinstance(node, ast.AugAssign):
            targets, value = [node.target], None
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):  # __all__.extend(...) / .append
            func = node.value.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "__all__":
                size = "dynamic"
            continue
        if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            continue
        if (isinstance(value, (ast.List, ast.Tuple))
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts)):
            size = len(value.elts) if size is None else "dynamic"
        else:
            size = "dynamic"
    return size


def _collect_imports(tree: ast.Module) -> list[tuple[int, str | None, list[str], bool, bool, int]]:
    """Every import statement: (level, module, names, under TYPE_CHECKING, inside a function, line).

    ``import a.b`` is (0, None, ["a.b"], ...); ``from .x import y, z`` is (1, "x", ["y", "z"], ...).
    """
    found = []
    stack: list[tuple[ast.AST, bool, bool]] = [(tree, False, False)]
    while stack:
        node, tc, fn = stack.pop()
        if isinstance(node, ast.Import):
            found.append((0, None, [a.name for a in node.names], tc, fn, node.lineno))
            continue
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module, [a.name for a in node.names], tc, fn, node.lineno))
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend((child, True, fn) for child in node.body)
            stack.extend((child, tc, fn) for child in node.orelse)
            continue
        inner = fn or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        stack.extend((child, tc, inner) for child in ast.iter_child_nodes(node))
    return sorted(found, key=lambda item: item[-1])


class Tree:
    """One source tree: its modules, packages and import graph."""

    def __init__(self, files: dict[str, str], roots: tuple[str, ...]):
        self.roots = roots
        self.modules: dict[str, Module] = {}
        for path, text in sorted(files.items()):
            name, is_pkg = _module_name(path)
            self.modules[name] = Module(name, path, is_pkg, _nonblank(text))
        self.packages = sorted(n for n, m in self.modules.items() if m.is_package)
        for path, text in sorted(files.items()):
            module = self.modules[_module_name(path)[0]]
            try:
                tree = ast.parse(text, filename=path)
            except SyntaxError as exc:
                module.parse_error = f"line {exc.lineno}: {exc.msg}"
                continue
            if module.is_package:
                module.all_size = _dunder_all(tree)
                module.has_getattr = any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                                         and n.name == "__getattr__" for n in tree.body)
            self._resolve(module, _collect_imports(tree))

    # -- resolution

    def _longest(self, dotted: str) -> str | None:
        parts = dotted.split(".")
        while parts:
            name = ".".join(parts)
            if name in self.modules:
                return name
            parts.pop()
        return None

    def _resolve(self, module: Module, statements) -> None:
        base = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
        for level, source, names, tc, fn, line in statements:
            if level:
                if level - 1 > len(base) or (level - 1 == len(base) and not source):
                    continue  # beyond the top: an ImportError at run time
                prefix = base[:len(base) - (level - 1)]
                source = ".".join(prefix + ([source] if source else []))
            targets = []
            if source is None:  # import a.b.c
                targets = names
            else:
                for n in names:
                    sub = f"{source}.{n}"
                    targets.append(sub if n != "*" and sub in self.modules else source)
            for target in targets:
                if target.split(".")[0] in self.roots:
                    resolved = self._longest(target) or target.split(".")[0]
                    if resolved != module.name:
                        module.imports.append((resolved, tc, fn, line))
                else:
                    module.external.append((target, tc, fn, line))

    # -- graph

    def edges(self, type_checking: bool = False) -> dict[str, set[str]]:
        """src -> {dst} of first-party imports; those under TYPE_CHECKING only when ``type_checking``."""
        graph: dict[str, set[str]] = {name: set() for name in self.modules}
        for module in self.modules.values():
            for target, tc, _fn, _line in module.imports:
                if target in self.modules and (type_checking or not tc):
                    graph[module.name].add(target)
        return graph

    def module_cycles(self, type_checking: bool = False) -> list[list[str]]:
        return [sorted(c) for c in strongly_connected(self.edges(type_checking)) if len(c) > 1]

    def sibling_cycles(self, type_checking: bool = False) -> list[tuple[str, list[str]]]:
        """(parent package, the siblings of one cycle), sorted."""
        by_parent: dict[str, dict[str, set[str]]] = {}
        for src, dsts in self.edges(type_checking).items():
            for dst in dsts:
                s, d = src.split("."), dst.split(".")
                common = 0
                while common < min(len(s), len(d)) and s[common] == d[common]:
                    common += 1
                if common == 0 or common == len(s) or common == len(d):
                    continue  # different roots, or one is the parent package of the other
                parent = ".".join(s[:common])
                graph = by_parent.setdefault(parent, {})
                a, b = ".".join(s[:common + 1]), ".".join(d[:common + 1])
                graph.setdefault(a, set()).add(b)
                graph.setdefault(b, set())
        cycles = []
        for parent, graph in sorted(by_parent.items()):
            cycles.extend((parent, sorted(c)) for c in strongly_connected(graph) if len(c) > 1)
        return sorted(cycles)

    # -- reports

    def package_rows(self) -> dict[str, dict]:
        rows = {}
        for pkg in self.packages:
            own = [m for m in self.modules.values()
                   if m.name == pkg or (m.name.rpartition(".")[0] == pkg and not m.is_package)]
            init = self.modules[pkg]
            rows[pkg] = {"modules": len(own), "lines": sum(m.lines for m in own),
                         "all": init.all_size, "getattr": init.has_getattr}
        return rows

    def largest(self, top: int) -> list[tuple[str, int]]:
        ranked = sorted(self.modules.values(), key=lambda m: (-m.lines, m.path))
        return [(m.path, m.lines) for m in ranked[:top]]

    def _unit(self, target: str) -> str:
        """A first-party target as a package, or as a module when it lies directly in a root package."""
        module = self.modules.get(target)
        if module is None or module.is_package:
            return target
        package = target.rpartition(".")[0]
        return target if package in self.roots else package

    def cross_imports(self, package: str) -> dict | None:
        if package not in self.modules:
            return None
        first: dict[str, bool] = {}  # unit -> imported at module level somewhere
        third: dict[str, bool] = {}
        for module in self.modules.values():
            if not (module.name == package or module.name.startswith(package + ".")):
                continue
            for target, tc, fn, _line in module.imports:
                if tc or target == package or target.startswith(package + "."):
                    continue
                unit = self._unit(target)
                first[unit] = first.get(unit, False) or not fn
            for target, tc, fn, _line in module.external:
                top = target.split(".")[0]
                if tc or top in NOT_THIRD_PARTY:
                    continue
                third[top] = third.get(top, False) or not fn
        return {"first_party": {k: first[k] for k in sorted(first)}, "third_party": {k: third[k] for k in sorted(third)}}

    def summary(self, top: int, focus: tuple[str, ...]) -> dict:
        runtime = self.edges()
        everything = self.edges(type_checking=True)
        lazy = sum(1 for m in self.modules.values() for _t, tc, fn, _l in m.imports if fn and not tc)
        return {
            "modules": len(self.modules),
            "lines": sum(m.lines for m in self.modules.values()),
            "parse_errors": {m.path: m.parse_error for m in self.modules.values() if m.parse_error},
            "packages": self.package_rows(),
            "largest": self.largest(top),
            "import_edges": sum(len(v) for v in runtime.values()),
            "type_checking_only_edges": sum(len(everything[k] - runtime[k]) for k in runtime),
            "function_level_imports": lazy,
            "module_cycles": self.module_cycles(),
            "sibling_cycles": [[p, c] for p, c in self.sibling_cycles()],
            "module_cycles_with_type_checking": self.module_cycles(True),
            "sibling_cycles_with_type_checking": [[p, c] for p, c in self.sibling_cycles(True)],
            "cross_imports": {p: self.cross_imports(p) for p in focus},
        }


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        item = stack.pop()
                        on_stack.discard(item)
                        component.append(item)
                        if item == node:
                            break
                    components.append(sorted(component))
    return components


# ------------------------------------------------------------------------------------------------------------ refs


def describe_ref(repo: Path, ref: str) -> dict:
    if ref == WORKING_TREE:
        head = str(_git(repo, "rev-parse", "HEAD")).strip()
        status = [line for line in str(_git(repo, "status", "--porcelain")).splitlines() if line.strip()]
        return {"ref": "working tree", "commit": head, "dirty_entries": len(status),
                "label": f"working tree at {head[:10]}" + (f", dirty ({len(status)} entries in git status "
                                                          "--porcelain)" if status else ", clean")}
    commit = str(_git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")).strip()
    subject = str(_git(repo, "log", "-1", "--format=%s", commit)).strip()
    subject = subject if len(subject) <= 80 else subject[:77] + "..."
    return {"ref": ref, "commit": commit, "subject": subject, "label": f"`{ref}` = {commit} ({subject})"}


def load(repo: Path, ref: str, roots: tuple[str, ...]) -> Tree:
    if ref == WORKING_TREE:
        return Tree(read_directory(repo, roots), roots)
    return Tree(read_commit(repo, str(describe_ref(repo, ref)["commit"]), roots), roots)


# -------------------------------------------------------------------------------------------------------- markdown


def _cell(value) -> str:
    if value is None:
        return "-"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def _cycles_md(cycles: list, siblings: bool) -> list[str]:
    if not cycles:
        return ["none"]
    if siblings:
        return [f"- under `{parent}`: " + " <-> ".join(f"`{n}`" for n in nodes)
                for parent, nodes in cycles]
    return ["- " + " <-> ".join(f"`{n}`" for n in nodes) for nodes in cycles]


def _unit_list(items: dict[str, bool], other: dict[str, bool] | None, added: str) -> str:
    out = []
    for name, eager in items.items():
        text = f"`{name}`" + ("" if eager else " (fn)")
        if other is not None and name not in other:
            text = f"**{added}{text}**"
        out.append(text)
    return ", ".join(out) or "none"


def markdown(sides: list[tuple[dict, dict]], top: int, focus: tuple[str, ...]) -> str:
    """``sides``: [(ref description, summary)], one (a single tree) or two (before, after)."""
    two = len(sides) == 2
    names = ["before", "after"] if two else [""]
    out = ["# Module map" + (" before and after" if two else ""), ""]
    for name, (ref, s) in zip(names, sides):
        out.append(f"- {name + ': ' if name else ''}{ref['label']}: {s['modules']} modules, "
                   f"{s['lines']} non-blank lines, {len(s['packages'])} packages")
        for path, err in s["parse_errors"].items():
            out.append(f"  - not parsed: `{path}` ({err})")
    out += ["", ("Lines are non-blank lines. A package's modules are its own `.py` files (`__init__` included, "
                 "subpackages not). `__all__`: names in the `__init__`'s literal (`dynamic`: built otherwise, `-`: "
                 "none); `__getattr__`: a module-level `__getattr__` in the `__init__`."), ""]

    out += ["## Packages", ""]
    packages = sorted(set().union(*(s["packages"] for _r, s in sides)))
    cols = ["modules", "lines", "`__all__`", "`__getattr__`"]
    keys = ["modules", "lines", "all", "getattr"]
    if two:
        out.append("| package | " + " | ".join(f"{c} before | {c} after" for c in cols) + " |")
        out.append("|---" * (1 + 2 * len(cols)) + "|")
    else:
        out.append("| package | " + " | ".join(cols) + " |")
        out.append("|---" * (1 + len(cols)) + "|")
    for pkg in packages:
        rows = [s["packages"].get(pkg) for _r, s in sides]
        cells = []
        for key in keys:
            for row in rows:
                cells.append("—" if row is None else _cell(row[key]))
        mark = "" if not two or (rows[0] is not None and rows[1] is not None) else (
            " (new)" if rows[0] is None else " (gone)")
        out.append(f"| `{pkg}`{mark} | " + " | ".join(cells) + " |")
    out.append("")

    out += [f"## Largest modules (top {top})", ""]
    lists = [s["largest"] for _r, s in sides]
    if two:
        out += ["| # | before | lines | after | lines |", "|---|---|---|---|---|"]
    else:
        out += ["| # | module | lines |", "|---|---|---|"]
    for i in range(max(len(x) for x in lists)):
        cells = []
        for lst in lists:
            cells += [f"`{lst[i][0]}`", str(lst[i][1])] if i < len(lst) else ["", ""]
        out.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    out.append("")

    out += ["## Import graph and cycles", "",
            ("Module-level and function-level imports; imports under `if TYPE_CHECKING:` are left out of the "
             "cycles and listed apart at the end."), ""]
    for name, (_ref, s) in zip(names, sides):
        out.append(f"- {name + ': ' if name else ''}{s['import_edges']} first-party import edges between "
                   f"modules ({s['function_level_imports']} import statements inside functions), "
                   f"{s['type_checking_only_edges']} edges under TYPE_CHECKING only")
    out.append("")
    for title, key, siblings in (("Module-level cycles (strongly connected components)", "module_cycles", False),
                                 ("Cycles between siblings (each collapsed with its descendants)",
                                  "sibling_cycles", True)):
        out += [f"### {title}", ""]
        for name, (_ref, s) in zip(names, sides):
            if name:
                out += [f"{name.capitalize()}:", ""]
            out += _cycles_md(s[key], siblings) + [""]
    out += ["### Cycles that only TYPE_CHECKING imports close (ignored above)", ""]
    for name, (_ref, s) in zip(names, sides):
        extra_mod = [c for c in s["module_cycles_with_type_checking"] if c not in s["module_cycles"]]
        extra_sib = [c for c in s["sibling_cycles_with_type_checking"] if c not in s["sibling_cycles"]]
        if name:
            out += [f"{name.capitalize()}:", ""]
        out += (_cycles_md(extra_mod, False) if extra_mod else []) + (
            _cycles_md(extra_sib, True) if extra_sib else []) + ([] if extra_mod or extra_sib else ["none"]) + [""]

    out += ["## Cross-package imports", "",
            "Run-time imports (TYPE_CHECKING ones left out) from the modules under each package to first-party "
            "units outside it (a package, or a module directly in a root package) and to third-party top-level "
            "modules (the standard library left out). `(fn)`: only inside functions."
            + (" **+name**: only after; **-name**: only before." if two else ""), ""]
    if two:
        out += ["| package | imports | before | after |", "|---|---|---|---|"]
    else:
        out += ["| package | imports | modules |", "|---|---|---|"]
    for pkg in focus:
        data = [s["cross_imports"].get(pkg) for _r, s in sides]
        for kind, label in (("first_party", "first-party"), ("third_party", "third-party")):
            cells = []
            for i, d in enumerate(data):
                if d is None:
                    cells.append("(absent)")
                    continue
                other = None
                if two and data[1 - i] is not None:
                    other = data[1 - i][kind]
                cells.append(_unit_list(d[kind], other, "-" if i == 0 else "+"))
            out.append(f"| `{pkg}` | {label} | " + " | ".join(cells) + " |")
    out.append("")
    return "\n".join(out)


# -------------------------------------------------------------------------------------------------------- self-test


def self_test() -> None:
    files = {
        "pkg/__init__.py": '__all__ = ["a", "b"]\n\ndef __getattr__(name):\n    raise AttributeError(name)\n',
        # a -> b by a relative import
        "pkg/a.py": "from . import b\nimport os\n\n\nX = 1\n",
        # b -> a inside a function only (closes the one known cycle)
        "pkg/b.py": "def f():\n    from pkg.a import X\n    import numpy\n    return X, numpy\n",
        # c -> a under TYPE_CHECKING only, a never imports c: and d -> c, c -> d under typing.TYPE_CHECKING
        "pkg/c.py": ("from typing import TYPE_CHECKING\nimport typing\nif TYPE_CHECKING:\n    from pkg.a import X\n"
                     "from pkg.sub import d\n"),
        "pkg/sub/__init__.py": "__all__ = []\n__all__ += ['d']\n",
        "pkg/sub/d.py": "import typing\nif typing.TYPE_CHECKING:\n    from ..c import Y\nelse:\n    import json\n",
        "other/__init__.py": "from pkg.sub.d import *\nfrom pkg import nothing_here\n",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for path, text in files.items():
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / path).write_text(text)
        roots = ("pkg", "other")
        tree = Tree(read_directory(Path(tmp), roots), roots)
        git_ok = subprocess.run(["git", "--version"], capture_output=True, check=False).returncode == 0
        if git_ok:  # the same files read from a commit of a throwaway repository
            env = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
            subprocess.run(["git", "init", "-q", tmp], check=True, capture_output=True)
            subprocess.run(["git", "-C", tmp, "add", "."], check=True)
            subprocess.run(["git", "-C", tmp, *env, "commit", "-qm", "t"], check=True)
            assert read_commit(Path(tmp), "HEAD", roots) == read_directory(Path(tmp), roots) == files
            assert read_commit(Path(tmp), "HEAD", ("pkg", "absent")).keys() == {
                p for p in files if p.startswith("pkg/")}
    mods = tree.modules
    assert set(mods) == {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.sub", "pkg.sub.d", "other"}, set(mods)
    assert ("pkg.b", False, False, 1) in mods["pkg.a"].imports, mods["pkg.a"].imports
    assert ("pkg.a", False, True, 2) in mods["pkg.b"].imports, mods["pkg.b"].imports
    assert ("pkg.a", True, False, 4) in mods["pkg.c"].imports, mods["pkg.c"].imports
    assert ("pkg.sub.d", False, False, 5) in mods["pkg.c"].imports, mods["pkg.c"].imports
    assert ("pkg.c", True, False, 3) in mods["pkg.sub.d"].imports, mods["pkg.sub.d"].imports
    assert ("json", False, False, 5) in mods["pkg.sub.d"].external, mods["pkg.sub.d"].external
    assert [t for t, *_ in mods["other"].imports] == ["pkg.sub.d", "pkg"], mods["other"].imports
    assert tree.module_cycles() == [["pkg.a", "pkg.b"]], tree.module_cycles()
    assert tree.sibling_cycles() == [("pkg", ["pkg.a", "pkg.b"])], tree.sibling_cycles()
    assert tree.module_cycles(True) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub.d"]], tree.module_cycles(True)
    assert tree.sibling_cycles(True) == [("pkg", ["pkg.a", "pkg.b"]), ("pkg", ["pkg.c", "pkg.sub"])]
    rows = tree.package_rows()
    assert rows["pkg"] == {"modules": 4, "lines": 3 + 3 + 4 + 5, "all": 2, "getattr": True}, rows["pkg"]
    assert rows["pkg.sub"] == {"modules": 2, "lines": 2 + 5, "all": "dynamic", "getattr": False}, rows["pkg.sub"]
    cross = tree.cross_imports("pkg")
    assert cross == {"first_party": {}, "third_party": {"numpy": False}}, cross
    assert tree.cross_imports("other") == {"first_party": {"pkg": True, "pkg.sub": True}, "third_party": {}}
    assert strongly_connected({"x": {"y"}, "y": {"z"}, "z": {"x", "w"}, "w": set()}) == [["w"], ["x", "y", "z"]]
    chain = {str(i): {str(i + 1)} for i in range(5000)} | {"5000": {"0"}}  # deep: no recursion limit
    assert len(strongly_connected(chain)) == 1
    summary = tree.summary(3, ("pkg", "missing"))
    md = markdown([({"label": "a"}, summary), ({"label": "b"}, summary)], 3, ("pkg", "missing"))
    assert "`pkg.a` <-> `pkg.b`" in md and "(absent)" in md
    json.dumps(summary)
    print("self-test passed: one cycle (pkg.a <-> pkg.b) found; the TYPE_CHECKING-only cycle ignored")


# ------------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="git ref of the tree before (left out: map --after alone)")
    parser.add_argument("--after", default=WORKING_TREE, help="git ref of the tree after (default: the working tree)")
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the git repository (default: the one holding this script)")
    parser.add_argument("--roots", default=",".join(ROOTS), help="comma-separated top-level packages")
    parser.add_argument("--focus", default=",".join(FOCUS), help="comma-separated packages for cross-imports")
    parser.add_argument("--top", type=int, default=15, help="how many largest modules (default 15)")
    parser.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    parser.add_argument("--out", type=Path, help="write to this file instead of stdout")
    parser.add_argument("--self-test", action="store_true", help="check the analysis on a tiny fake tree")
    args = parser.parse_args(argv)
    if args.self_test:
        self_test()
        return 0
    roots = tuple(r for r in args.roots.split(",") if r)
    focus = tuple(f for f in args.focus.split(",") if f)
    try:
        repo = Path(str(_git(args.repo, "rev-parse", "--show-toplevel")).strip())
        refs = ([args.before] if args.before else []) + [args.after]
        sides = [(describe_ref(repo, ref), load(repo, ref, roots).summary(args.top, focus)) for ref in refs]
    except RuntimeError as exc:
        print(f"module_map: {exc}", file=sys.stderr)
        return 2
    if args.json:
        names = ["before", "after"] if len(sides) == 2 else ["tree"]
        text = json.dumps({n: {"ref": r, **s} for n, (r, s) in zip(names, sides)}, indent=1) + "\n"
    else:
        text = markdown(sides, args.top, focus)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
