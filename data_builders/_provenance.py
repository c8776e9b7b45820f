"""The code version of a result: the package version and digests of the source files that determine results.

A table's numbers depend on the code that trained and measured them. :func:`code_version` hashes the *contents* of
those source files (not their location, so an installed package and a source checkout agree), grouped in named
parts, plus one digest over all parts. The journal header and the table metadata record it; ``build --resume``
refuses a journal written by other code (naming the parts that changed) unless told otherwise, and a CI test checks
that every shipped table was built by the current code (or is listed in ``data/REBUILD_PENDING.toml``).

The parts, defined here and nowhere else (:data:`CODE_PARTS` plus the two that depend on the recipe):

* ``operators`` -- the activation-function package ``act_bench/space`` (primitive ops, evaluation, autograd);
* ``model`` -- the source files of the recipe's model: every module class of an instance of it that lives in
  ``data_builders``, the file of its registered builder and the model registry;
* ``task`` -- the source files of the recipe's task class (and its base classes in ``data_builders``);
* ``training`` -- the training loop, augmentation, schedules, batch pipeline and AutoInit;
* ``features`` -- the Fisher-information features, their CDF, the standard-input outputs and the FIM job.

A pattern that matches no file of the tree being hashed contributes nothing (so older trees hash too).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import marshal
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import act_bench
import data_builders
from act_bench import __version__
from act_bench.errors import InvalidInputError

__all__ = ["CODE_PARTS", "EQUIVALENT_FILE", "PENDING_FILE", "CodeVersion", "changed_parts", "check_shipped_tables", "code_version",
           "source_files", "user_code_parts", "with_parts"]

#: Fixed parts: name -> file patterns relative to the source root (the folder holding ``act_bench/`` and
#: ``data_builders/``). ``model`` and ``task`` are found from the recipe (see the module docstring).
CODE_PARTS: dict[str, tuple[str, ...]] = {
    "operators": ("act_bench/space/*.py",),
    "training": ("data_builders/_train.py", "data_builders/_augment.py", "data_builders/_randaugment.py",
                 "data_builders/_schedules.py", "data_builders/_pipeline.py", "data_builders/autoinit.py"),
    "features": ("act_bench/features/_fisher.py", "act_bench/features/_kfac.py", "act_bench/features/_layers.py",
                 "act_bench/features/_cdf.py", "act_bench/features/_outputs.py", "data_builders/_fim.py"),
}

#: Order of the parts in a :class:`CodeVersion`.
PART_ORDER = ("operators", "model", "task", "training", "features")

_PACKAGES = (act_bench, data_builders)


def _package_root(package) -> Path:
    return Path(package.__file__).resolve().parent.parent


def _relative(path: str | Path) -> str | None:
    """``path`` relative to the source root (``act_bench/...`` or ``data_builders/...``), or None if outside."""
    path = Path(path).resolve()
    for package in _PACKAGES:
        pkg_dir = Path(package.__file__).resolve().parent
        if path == pkg_dir or pkg_dir in path.parents:
            return path.relative_to(_package_root(package)).as_posix()
    return None


@dataclass(frozen=True)
class CodeVersion:
    """Package version, one sha256 per part and the overall digest (sha256 over the parts).

    ``files`` maps each part to the source files (relative paths) it hashes.
    """

    version: str
    parts: dict[str, str]
    digest: str
    files: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form recorded in journal headers and table metadata."""
        return {"version": self.version, "digest": self.digest, "parts": dict(self.parts),
                "files": {k: list(v) for k, v in self.files.items()}}

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> CodeVersion:
        if (not isinstance(data, dict) or not isinstance(data.get("digest"), str)
                or not isinstance(data.get("parts"), dict)):
            raise InvalidInputError(f"{where}: the code version must be an object with 'digest' and 'parts'; "
                                    f"got {data!r}")
        return cls(str(data.get("version")), {str(k): str(v) for k, v in data["parts"].items()},
                   data["digest"], {str(k): list(v) for k, v in (data.get("files") or {}).items()})


def changed_parts(old: CodeVersion, new: CodeVersion) -> list[str]:
    """Names of the parts whose digest differs (a part present in only one of them counts as changed)."""
    names = list(dict.fromkeys([*old.parts, *new.parts]))
    return [p for p in names if old.parts.get(p) != new.parts.get(p)]


def _model_files(recipe, num_classes: int) -> list[str]:
    from data_builders.models import create_model, get_model_spec

    model = create_model(recipe.model, "relu(x)", num_classes=num_classes)
    files = {_relative(inspect.getsourcefile(type(m))) for m in model.modules()}
    files.add(_relative(inspect.getsourcefile(get_model_spec(recipe.model).builder)))
    files.add(_relative(inspect.getsourcefile(get_model_spec)))
    return sorted(f for f in files if f and f.startswith("data_builders/"))


def _task_files(task) -> list[str]:
    files = {_relative(inspect.getsourcefile(cls)) for cls in type(task).__mro__ if cls is not object}
    return sorted(f for f in files if f and f.startswith("data_builders/"))


def _installed_files() -> list[str]:
    out = []
    for package in _PACKAGES:
        root = _package_root(package)
        pkg_dir = Path(package.__file__).resolve().parent
        out.extend(p.relative_to(root).as_posix() for p in pkg_dir.rglob("*.py"))
    return sorted(out)


def source_files(recipe, *, task=None, available: Iterable[str] | None = None) -> dict[str, list[str]]:
    """The files of every part (relative paths), in :data:`PART_ORDER`.

    ``available`` lists the files the patterns are matched against (default: the installed packages' ``.py``
    files); pass another tree's list to hash that tree (e.g. an older commit).
    """
    from data_builders.tasks import create_task

    task = task if task is not None else create_task(recipe.task, **recipe.task_args)
    listing = sorted(available) if available is not None else _installed_files()
    present = set(listing)
    parts: dict[str, list[str]] = {}
    for name in PART_ORDER:
        if name == "model":
            parts[name] = [f for f in _model_files(recipe, task.num_classes) if f in present]
        elif name == "task":
            parts[name] = [f for f in _task_files(task) if f in present]
        else:
            parts[name] = sorted({f for pattern in CODE_PARTS[name] for f in listing
                                  if PurePosixPath(f).match(pattern) and f.count("/") == pattern.count("/")})
    return parts


def _read_installed(rel: str) -> bytes:
    package = act_bench if rel.startswith("act_bench/") else data_builders
    return (_package_root(package) / rel).read_bytes()


def code_version(recipe, *, task=None, read: Callable[[str], bytes] | None = None,
                 available: Iterable[str] | None = None, version: str | None = None) -> CodeVersion:
    """The :class:`CodeVersion` of the code that trains and measures ``recipe``.

    Each part's digest is the sha256 of its files' relative paths and contents (line endings normalised to
    ``\\n``); the overall digest is the sha256 of the parts' digests. ``read(relative_path) -> bytes``,
    ``available`` and ``version`` hash another source tree (default: this installed package).

    Examples
    --------
    >>> from data_builders.recipes import get_recipe
    >>> cv = code_version(get_recipe("act-bench-mnist1d"))
    >>> list(cv.parts), len(cv.digest)
    (['operators', 'model', 'task', 'training', 'features'], 64)
    """
    read = read or _read_installed
    files = source_files(recipe, task=task, available=available)
    parts = {}
    for name, rels in files.items():
        h = hashlib.sha256()
        for rel in rels:
            content = read(rel).replace(b"\r\n", b"\n")
            h.update(rel.encode() + b"\0" + hashlib.sha256(content).hexdigest().encode() + b"\n")
        parts[name] = h.hexdigest()
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return CodeVersion(version or __version__, parts, digest, files)


def _source_digest(obj: Any) -> str:
    """sha256 of an object's source text (line endings normalised); for a function whose source cannot be read
    (defined in ``python -c`` or a notebook cell that is gone), of its compiled code, names and constants."""
    try:
        text = inspect.getsource(obj).replace("\r\n", "\n").encode()
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is None:
            return "unavailable"
        text = marshal.dumps(code)
    return hashlib.sha256(text).hexdigest()


def user_code_parts(*, task: Any = None, model_fn: Callable[..., Any] | None = None) -> dict[str, str]:
    """Extra code-version parts for a user's own task and network (the ones that are not files of the builders).

    * ``user_network`` -- the parameter names and shapes of ``model_fn``'s network (built with ``relu(x)``) and
      the source of ``model_fn``;
    * ``user_task`` -- the source of every class of ``task`` (and its bases) outside ``data_builders``.

    Both are empty dicts for the recipe's own task and model (the ``model`` and ``task`` parts cover those).
    """
    parts: dict[str, str] = {}
    if model_fn is not None:
        from data_builders.models import activation_factory

        net = model_fn(activation_factory("relu(x)"))
        shapes = [[name, list(p.shape)] for name, p in net.named_parameters()]
        h = hashlib.sha256(json.dumps(shapes).encode())
        h.update(b"\0" + _source_digest(model_fn).encode())
        parts["user_network"] = h.hexdigest()
    if task is not None:
        classes = [c for c in type(task).__mro__
                   if c is not object and not c.__module__.split(".")[0] in ("data_builders", "builtins")]
        if classes:
            h = hashlib.sha256()
            for c in classes:
                h.update(f"{c.__module__}.{c.__qualname__}\0{_source_digest(c)}\n".encode())
            parts["user_task"] = h.hexdigest()
    return parts


def with_parts(code: CodeVersion, extra: dict[str, str]) -> CodeVersion:
    """``code`` with ``extra`` parts added (the overall digest recomputed); ``code`` itself if there are none."""
    if not extra:
        return code
    parts = {**code.parts, **extra}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return CodeVersion(code.version, parts, digest, code.files)


#: The reviewed list of shipped tables that may lag the current code (in the data folder).
PENDING_FILE = "REBUILD_PENDING.yaml"

#: The reviewed list of shipped tables whose code changed after the build without changing results (in the data
#: folder): each entry names the table's digest, the current code's digest it was verified against and the reason;
#: ``tests/test_retrain_shipped.py`` is the evidence (it retrains a sample of every such table with the current code
#: and compares bit for bit).
EQUIVALENT_FILE = "CODE_EQUIVALENT.yaml"


def _journal_code_digests(journal: Path) -> tuple[str | None, set[str], int]:
    """(header digest, session digests, code_change records) of a JSON-lines build journal."""
    header_digest, sessions, changes = None, set(), 0
    with open(journal, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            rec = json.loads(line)
            if i == 0:
                header_digest = (rec.get("code") or {}).get("digest")
            elif rec.get("type") == "session" and rec.get("code_digest"):
                sessions.add(rec["code_digest"])
            elif rec.get("type") == "code_change":
                changes += 1
    return header_digest, sessions, changes


def _extended_by(entry: Any) -> set[str]:
    """Digests of the code versions that extended a table's journal (``extended_by`` of its CODE_EQUIVALENT entry:
    a list of ``{digest, reason}``), each verified to train as the table's code did (contender seeds, runs retrained
    under a corrected labelling rule; see ``data_builders.build.extend_build``)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("extended_by"), list):
        return set()
    return {str(e["digest"]) for e in entry["extended_by"] if isinstance(e, dict) and e.get("digest") and
            e.get("reason")}


def check_shipped_tables(data_dir: str | Path) -> list[str]:
    """Problems with the code versions of the tables in ``data_dir`` (empty list: all fine).

    Every table (a folder with ``metadata.json``) must record exactly one code digest: in its metadata, in its
    journal's header (when ``<name>.journal/`` exists) and in every session of the journal, with no accepted code
    change. That digest must equal the current code's for the table's recipe, unless the table is listed in
    ``REBUILD_PENDING.yaml`` with that digest and a reason (results may differ: the table awaits a rebuild), or in
    ``CODE_EQUIVALENT.yaml`` with that digest, the current code's digest (``current``) and a reason (results verified
    identical). Journal sessions may also have run a code version listed under the entry's ``extended_by`` (an
    extension of the table: runs retrained under a corrected labelling rule, contender seeds), each with a reason. An entry whose table now matches the current code, records another digest, names another current
    code (the code changed again: verify and update it, or rebuild) or does not exist is a problem too; so is a table
    listed in both files.
    """
    import yaml

    from data_builders.recipes import Recipe

    data_dir = Path(data_dir)
    pending_path = data_dir / PENDING_FILE
    pending = yaml.safe_load(pending_path.read_text(encoding="utf-8")) if pending_path.is_file() else {}
    pending = pending or {}
    equivalent_path = data_dir / EQUIVALENT_FILE
    equivalent = (yaml.safe_load(equivalent_path.read_text(encoding="utf-8")) if equivalent_path.is_file() else {}) or {}
    problems: list[str] = []
    if not isinstance(pending, dict):
        return [f"{pending_path}: must map table names to {{digest, reason}}"]
    if not isinstance(equivalent, dict):
        return [f"{equivalent_path}: must map table names to {{digest, current, reason}}"]
    tables = sorted(p for p in data_dir.iterdir() if (p / "metadata.json").is_file())
    for file, entries in ((PENDING_FILE, pending), (EQUIVALENT_FILE, equivalent)):
        for name in sorted(set(entries) - {p.name for p in tables}):
            problems.append(f"{file}: entry {name!r} names no shipped table")
    for name in sorted(set(pending) & set(equivalent)):
        problems.append(f"{name}: listed in both {PENDING_FILE} and {EQUIVALENT_FILE}")
    for path in tables:
        meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        code = meta.get("code")
        if not isinstance(code, dict) or not isinstance(code.get("digest"), str):
            problems.append(f"{path.name}: metadata records no code digest")
            continue
        digest = code["digest"]
        if code.get("overrides"):
            problems.append(f"{path.name}: built by more than one code version ({len(code['overrides'])} accepted "
                            f"code change(s))")
        journal = path.parent / (path.name + ".journal") / "records.jsonl"
        if journal.is_file():
            header, sessions, changes = _journal_code_digests(journal)
            if header != digest:
                problems.append(f"{path.name}: journal header digest {header} differs from the metadata's {digest}")
            extended = _extended_by(equivalent.get(path.name))
            if sessions - {digest} - extended:
                problems.append(f"{path.name}: journal sessions ran other code: {sorted(sessions - {digest} - extended)}"
                                f" (an extension's code must be listed under 'extended_by' of its {EQUIVALENT_FILE} "
                                f"entry)")
            for unused in sorted(extended - sessions):
                problems.append(f"{EQUIVALENT_FILE}: entry {path.name!r} lists extended_by digest {unused[:12]} but no "
                                f"journal session ran it")
            if changes:
                problems.append(f"{path.name}: journal has {changes} code_change record(s)")
        current = code_version(Recipe.from_dict(meta["recipe"], source=f"{path.name} metadata recipe"))
        entry = pending.get(path.name)
        same = equivalent.get(path.name)
        if current.digest == digest:
            for file, e in ((PENDING_FILE, entry), (EQUIVALENT_FILE, same)):
                if e is not None:
                    problems.append(f"{file}: entry {path.name!r} is stale: the table matches the current code")
        elif same is not None:
            if (not isinstance(same, dict) or same.get("digest") != digest or not same.get("reason")
                    or not isinstance(same.get("current"), str)):
                problems.append(f"{EQUIVALENT_FILE}: entry {path.name!r} must give the table's digest {digest}, the "
                                f"current code's digest and a reason; got {same!r}")
            elif same["current"] != current.digest:
                changed = changed_parts(CodeVersion.from_dict(code, where=path.name), current)
                problems.append(f"{EQUIVALENT_FILE}: entry {path.name!r} was verified against code "
                                f"{same['current'][:12]}, the current code is {current.digest[:12]} (changed parts "
                                f"since the build: {', '.join(changed)}): run tests/test_retrain_shipped.py and "
                                f"update 'current', or rebuild the table")
        elif entry is None:
            changed = changed_parts(CodeVersion.from_dict(code, where=path.name), current)
            problems.append(f"{path.name}: built by code {digest[:12]}, the current code is {current.digest[:12]} "
                            f"(changed parts: {', '.join(changed)}); rebuild it, or list it in {PENDING_FILE} "
                            f"(results differ) or {EQUIVALENT_FILE} (results verified identical)")
        elif not isinstance(entry, dict) or entry.get("digest") != digest or not entry.get("reason"):
            problems.append(f"{PENDING_FILE}: entry {path.name!r} must give the table's digest {digest} and a reason; "
                            f"got {entry!r}")
    return problems
