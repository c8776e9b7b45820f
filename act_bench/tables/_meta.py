"""Default table metadata: versions, build environment, standard-input spec."""

from __future__ import annotations

import copy
import datetime as _dt
import os
import platform
import sys
from importlib import metadata as _importlib_metadata
from typing import Any

from act_bench.errors import SchemaMismatchError
from act_bench.tables._schema import SCHEMA_VERSION

__all__ = ["check_metadata", "default_metadata", "hardware", "utc_now", "versions"]

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


def _cpu_model() -> str:
    try:  # Linux: the model name; platform.processor() is often empty or just the architecture there
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, OSError, ValueError):
        return None


def hardware() -> str:
    """A one-line description of this machine (CPU model, core count, memory; CUDA device if torch already sees one).

    Examples
    --------
    >>> "CPU cores" in hardware()
    True
    """
    mem = _memory_gib()
    text = (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores ({_cpu_model()})"
            + (f", {mem:.1f} GiB RAM" if mem else ""))
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            text += f", GPU {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001, S110 - hardware description is best effort, never fatal
        pass
    return text


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def default_metadata(**overrides: Any) -> dict[str, Any]:
    """The metadata every table carries, with ``overrides`` merged on top (``build`` merged key by key)."""
    from act_bench.space import STANDARD_INPUT_SPEC

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


def check_metadata(meta: Any, where: str) -> dict[str, Any]:
    """Validate the structure of a metadata dict read from disk; returns it."""
    if not isinstance(meta, dict):
        raise SchemaMismatchError(f"{where}: metadata must be a JSON object; got {type(meta).__name__}")
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaMismatchError(f"{where}: 'schema_version' must be an integer; got {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaMismatchError(f"{where}: schema_version {version} is newer than this act-bench supports "
                                  f"({SCHEMA_VERSION}); upgrade act-bench")
    for key in ("name", "source"):
        if not isinstance(meta.get(key), str):
            raise SchemaMismatchError(f"{where}: {key!r} must be a string; got {meta.get(key)!r}")
    layout = meta.get("fim_layout", [])
    if not isinstance(layout, list) or any(
            not isinstance(e, dict) or not {"layer", "weights", "bins"} <= set(e) for e in layout):
        raise SchemaMismatchError(f"{where}: 'fim_layout' must be a list of {{layer, weights, bins}} objects")
    if meta.get("fim_cdf_layout") not in ("act-bench", "upstream"):
        raise SchemaMismatchError(f"{where}: 'fim_cdf_layout' must be 'act-bench' or 'upstream'; "
                                  f"got {meta.get('fim_cdf_layout')!r}")
    return meta
