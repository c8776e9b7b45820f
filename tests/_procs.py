"""Processes of a session, read from /proc (Linux): the no-orphans checks of the kill tests."""

from __future__ import annotations

import time
from pathlib import Path


def live_session_members(session: int) -> list[str]:
    """``pid comm`` of every process of ``session`` that is not a zombie (read from /proc, no psutil)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        comm, rest = stat[stat.index("(") + 1: stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        state, sid = rest[0], int(rest[3])
        if sid == session and state != "Z":
            found.append(f"{entry.name} {comm}")
    return found


def members_after(session: int, bound: float) -> list[str]:
    """The live members of ``session`` once none is left, or those still alive ``bound`` seconds from now."""
    deadline = time.monotonic() + bound
    while (left := live_session_members(session)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
