"""A description of the machine a build or a search runs on (recorded in table metadata and build journals)."""

from __future__ import annotations

import os
import platform
import sys

__all__ = ["hardware"]


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
