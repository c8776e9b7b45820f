"""Default table metadata: versions, build environment, standard-input spec."""

from __future__ import annotations

import copy
import platform
from importlib import metadata as _importlib_metadata
from typing import Any

from act_bench._env import hardware
from act_bench._io import utc_now
from act_bench._validation import NAME_PATTERN
from act_bench.errors import SchemaMismatchError
from act_bench.tables._schema import SCHEMA_VERSION

__all__ = ["check_metadata", "default_metadata", "utc_now", "versions"]

_VERSION_PACKAGES = ("act-bench", "torch", "numpy", "pandas", "pyarrow", "datasets")


def versions() -> dict[str, str]:
    """Versions of Python and the packages a table depends on (``"unknown"`` if not installed)."""
    out = {"python": platform.python_version()}
    for name in _VERSION_PACKAGES:
        try:
            out[name] = _importlib_metadata.version(name)
        except _importlib_metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def default_metadata(**overrides: Any) -> dict[str, Any]:
    """The metadata every table carries, with ``overrides`` merged on top (``build`` merged key by key)."""
    from act_bench.space import STANDARD_INPUT_SPEC  # loads torch: on first use only

    meta: dict[str, Any] = {
        "name": "act-bench-table",
        "task": None,
        "model": None,
        "recipe": {},
        "standard_inputs": copy.deepcopy(STANDARD_INPUT_SPEC),
        "fim_layout": [],
        "fim_cdf_layout": "act-bench",
        "versions": versions(),
        "build": {"hardware": hardware(), "wall_time_s": None, "date": utc_now()},
        "source": "act-bench build",
        "license": "mit",
        "schema_version": SCHEMA_VERSION,
    }
    overrides = copy.deepcopy(overrides)
    build = overrides.pop("build", None)
    meta.update(overrides)
    if build:
        meta["build"] = {**meta["build"], **build}
    return meta


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _check_unicode(value: Any, where: str, path: str) -> None:
    """Refuse a string holding a lone surrogate (JSON allows ``"\\ud800"``; UTF-8 cannot write it: the card,
    a printed value and the Hub upload would fail later), naming the key where it is."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise SchemaMismatchError(f"{where}: {path} holds a lone surrogate ({value[exc.start]!r} at character "
                                      f"{exc.start}); metadata text must be valid Unicode") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_unicode(k, where, f"{path} key")
            _check_unicode(v, where, f"{path}[{_short(k, 40)}]")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_unicode(v, where, f"{path}[{i}]")


def check_metadata(meta: Any, where: str) -> dict[str, Any]:
    """Validate the structure of a metadata dict read from disk; returns it."""
    if not isinstance(meta, dict):
        raise SchemaMismatchError(f"{where}: metadata must be a JSON object; got {type(meta).__name__}")
    _check_unicode(meta, where, "metadata")
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SchemaMismatchError(f"{where}: 'schema_version' must be an integer >= 1 (this act-bench writes "
                                  f"{SCHEMA_VERSION}); got {_short(version)}")
    if version > SCHEMA_VERSION:
        raise SchemaMismatchError(f"{where}: schema_version {_short(version)} is newer than this act-bench supports "
                                  f"({SCHEMA_VERSION}); upgrade act-bench")
    for key in ("name", "source"):
        if not isinstance(meta.get(key), str):
            raise SchemaMismatchError(f"{where}: {key!r} must be a string; got {_short(meta.get(key))}")
    name = meta["name"]
    if not NAME_PATTERN.match(name) or ".." in name:
        raise SchemaMismatchError(f"{where}: 'name' must be 1-96 letters, digits, '_', '.', '-' (starting with a "
                                  f"letter or digit, no '..' or path separator); got {_short(name)}")
    layout = meta.get("fim_layout", [])
    if not isinstance(layout, list):
        raise SchemaMismatchError(f"{where}: 'fim_layout' must be a list of {{layer, weights, bins}} objects; got "
                                  f"{_short(layout)}")
    for i, e in enumerate(layout):
        if not isinstance(e, dict) or not {"layer", "weights", "bins"} <= set(e):
            raise SchemaMismatchError(f"{where}: 'fim_layout'[{i}] must be an object with keys layer, weights, bins; "
                                      f"got {_short(e)}")
        if not isinstance(e["layer"], str):
            raise SchemaMismatchError(f"{where}: 'fim_layout'[{i}].layer must be a string; got {_short(e['layer'])}")
        for key in ("weights", "bins"):
            v = e[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise SchemaMismatchError(f"{where}: 'fim_layout'[{i}].{key} must be an integer >= 0; got {_short(v)}")
    if meta.get("fim_cdf_layout") not in ("act-bench", "upstream"):
        raise SchemaMismatchError(f"{where}: 'fim_cdf_layout' must be 'act-bench' or 'upstream'; "
                                  f"got {_short(meta.get('fim_cdf_layout'))}")
    for key in ("recipe", "build", "versions", "standard_inputs"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], dict):
            raise SchemaMismatchError(f"{where}: {key!r} must be a JSON object; got {_short(meta[key])}")
    for key in ("task", "model", "license"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise SchemaMismatchError(f"{where}: {key!r} must be a string or null; got {_short(meta[key])}")
    build = meta.get("build") or {}
    for key in ("wall_time_s", "sessions", "workers", "run_core_seconds", "functions_planned", "functions_complete"):
        v = build.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise SchemaMismatchError(f"{where}: 'build'.{key} must be a number or null; got {_short(v)}")
    if build.get("complete") is not None and not isinstance(build["complete"], bool):
        raise SchemaMismatchError(f"{where}: 'build'.complete must be true, false or null; got "
                                  f"{_short(build['complete'])}")
    if meta.get("notes") is not None and not isinstance(meta["notes"], str):
        raise SchemaMismatchError(f"{where}: 'notes' must be a string or null; got {_short(meta['notes'])}")
    figures = meta.get("figures")
    if figures is not None and (not isinstance(figures, list) or not all(
            isinstance(f, dict) and isinstance(f.get("file"), str) and isinstance(f.get("title", ""), str)
            for f in figures)):
        raise SchemaMismatchError(f"{where}: 'figures' must be a list of {{file, title}} objects (strings); got "
                                  f"{_short(figures)}")
    dup = meta.get("duplicate_outputs")
    if dup is not None and (not isinstance(dup, list) or not all(
            isinstance(g, list) and all(isinstance(m, str) for m in g) for g in dup)):
        raise SchemaMismatchError(f"{where}: 'duplicate_outputs' must be a list of lists of function names")
    return meta
