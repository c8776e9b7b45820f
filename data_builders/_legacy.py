"""Build journals of act-bench before the job engine: append-only JSON lines (``<out>.journal/records.jsonl``).

They are read (validated record by record: a corrupt record in the middle is an error naming its line, a torn last
line is ignored) and converted once into the engine's SQLite journal (:func:`convert_jsonl`): a ``--resume`` of such
a build converts it and keeps the JSON-lines file untouched next to the new journal; ``--snapshot`` reads it without
writing anything. The conversion keeps every record as it was: run metrics and curves bit for bit, the first record
of a run (as the old reader did) unless a later one ``replaces`` it, session times and accepted code changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from act_bench.engine import Journal, insert_features, insert_result
from act_bench.errors import SchemaMismatchError
from act_bench.space import evaluate_many
from act_bench.tables import CURVE_COLUMNS, RunRecord

__all__ = ["LEGACY_FILE", "LEGACY_VERSION", "LegacyJournal", "convert_jsonl"]

#: File name of a JSON-lines build journal inside ``<out>.journal/``.
LEGACY_FILE = "records.jsonl"
#: The JSON-lines journal version these readers accept.
LEGACY_VERSION = 1

_NUM, _OPT_NUM = (int, float), (int, float, type(None))
#: Fields every record of a type must have, with their JSON types (a corrupted journal is a one-line error).
_RECORD_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "header": {"version": (int,), "recipe": (dict,), "seeds": (list,)},
    "session": {"time": _NUM},
    "run": {"function": (str,), "seed": (int,), "train_accuracy": _OPT_NUM, "val_accuracy": _OPT_NUM,
            "test_accuracy": _OPT_NUM, "train_loss": _OPT_NUM, "val_loss": _OPT_NUM, "test_loss": _OPT_NUM,
            "runtime": _OPT_NUM, "status": (str,), "error": (str, type(None))},
    "features": {"function": (str,), "fim_valid": (bool,), "fim_reason": (str, type(None)),
                 "fim_cdf": (list, type(None))},
}
_MISSING = object()


def _check_record(rec: dict[str, Any], where: str) -> None:
    fields = _RECORD_FIELDS.get(rec["type"])
    if fields is None:
        return  # record types of newer builders are kept and ignored
    for key, types in fields.items():
        value = rec.get(key, _MISSING)
        if value is _MISSING:
            raise SchemaMismatchError(f"{where} ({rec['type']!r}) has no field {key!r}")
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise SchemaMismatchError(f"{where} ({rec['type']!r}): field {key!r} has the wrong type "
                                      f"({type(value).__name__})")


class LegacyJournal:
    """Read-only view of a JSON-lines build journal (``folder/records.jsonl``)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LEGACY_FILE
        self.records: list[dict[str, Any]] = []

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> list[dict[str, Any]]:
        """Every complete record; a torn last line (killed mid-write) is ignored, a corrupt earlier one is an error
        naming its line and byte (the file is never modified)."""
        self.records = []
        data = self.path.read_bytes() if self.path.exists() else b""
        lines = data.splitlines(keepends=True)
        good = 0
        for k, line in enumerate(lines):
            if not line.endswith(b"\n"):
                break
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, too many digits
                if k == len(lines) - 1:
                    break  # a torn last record
                raise SchemaMismatchError(f"journal {self.path}: line {k + 1} (byte {good}) is not valid JSON (the "
                                          f"journal is corrupted; the file is left as it is)") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
                raise SchemaMismatchError(f"journal {self.path}: line {k + 1} (byte {good}) is not a journal record")
            _check_record(rec, f"journal {self.path}: line {k + 1} (byte {good})")
            self.records.append(rec)
            good += len(line)
        if self.records and self.records[0].get("type") != "header":
            raise SchemaMismatchError(f"journal {self.path}: the first record is not a header")
        if self.records and self.records[0].get("version") != LEGACY_VERSION:
            raise SchemaMismatchError(f"journal {self.path} has version {self.records[0].get('version')!r}; this "
                                      f"act-bench reads version {LEGACY_VERSION}")
        return self.records

    @property
    def header(self) -> dict[str, Any] | None:
        return self.records[0] if self.records else None

    def runs(self) -> dict[tuple[str, int], dict[str, Any]]:
        """The record that counts for every (function, seed) run: the first one, unless a later record says it
        ``replaces`` it (a run retrained under a corrected rule, see :mod:`data_builders._extend`)."""
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for r in self.records:
            if r["type"] == "run":
                key = (r["function"], int(r["seed"]))
                if key not in out or r.get("replaces"):
                    out[key] = r
        return out

    def features(self) -> dict[str, dict[str, Any]]:
        """The first features record of every function."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.records:
            if r["type"] == "features":
                out.setdefault(r["function"], r)
        return out


def _number(value: Any) -> float | None:
    """A JSON number (not a bool), or None; anything else is a TypeError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number; got {type(value).__name__}")
    return float(value)


def convert_jsonl(folder: str | os.PathLike[str], target: str | os.PathLike[str]) -> Journal:
    """Convert the JSON-lines journal of ``folder`` into a new SQLite journal at ``target`` (atomically); returns it
    open. The JSON-lines file is not modified.

    Candidates are the journal's functions in the order their first record appears (their equivalents are the
    function alone: a build takes equivalents from its plan); sessions keep their start and the time of their last
    record, runs and features their time, session and values.
    """
    old = LegacyJournal(folder)
    records = old.load()
    if not records:
        raise SchemaMismatchError(f"journal {old.path} holds no records; nothing to convert")
    header = records[0]
    functions = list(dict.fromkeys(r["function"] for r in records if r["type"] in ("run", "features")))
    rows = {f: i for i, f in enumerate(functions)}
    config = {"kind": "build", "recipe": header["recipe"], "seeds": header["seeds"], "space": header.get("space"),
              "created": header.get("created"), "code": header.get("code"), "converted_from": str(old.path.name)}
    sessions: list[dict[str, Any]] = []
    for k, r in enumerate(records):
        if r["type"] == "session":
            sessions.append({"id": str(r.get("id") or f"jsonl-{k}"), "started": float(r["time"]),
                             "last_seen": float(r["time"]), "ended": None,
                             **{key: r.get(key) if isinstance(r.get(key), str) else None
                                for key in ("host", "executor", "hardware", "code_digest")},
                             "workers": r.get("workers") if type(r.get("workers")) is int else None})
        elif sessions and type(r.get("time")) in (int, float):
            sessions[-1]["last_seen"] = float(r["time"])
            if r["type"] == "session_end":
                sessions[-1]["ended"] = float(r["time"])

    def fill(db) -> None:
        for s in sessions:
            db.execute("INSERT INTO sessions (id, started, last_seen, ended, host, pid, executor, workers, budget, "
                       "hardware, code_digest) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, NULL, ?, ?)",
                       (s["id"], s["started"], s["last_seen"], s["ended"], s["host"], s["executor"], s["workers"],
                        s["hardware"], s["code_digest"]))
        session = "jsonl"
        final = {id(r) for r in old.runs().values()}
        for k, r in enumerate(records):
            try:
                session = _convert(db, r, k, session, final)
            except (TypeError, ValueError, KeyError, OverflowError) as exc:  # a field of the wrong type or value
                raise SchemaMismatchError(f"journal {old.path}: line {k + 1} ({r['type']!r}) cannot be converted: "
                                          f"{type(exc).__name__}: {exc}") from None

    def _convert(db, r: dict[str, Any], k: int, session: str, final: set[int]) -> str:
        when = r.get("time") if r.get("time") is not None else header.get("created")
        when = 0.0 if when is None else float(_number(when))
        if r["type"] == "session":
            return str(r.get("id") or f"jsonl-{k}")
        if r["type"] == "run" and id(r) in final:
            for key, types in (("epochs", (int, type(None))), ("device", (str, type(None))),
                               ("extra", (dict, type(None)))):
                if not isinstance(r.get(key), types) or isinstance(r.get(key), bool):
                    raise TypeError(f"field {key!r} has the wrong type ({type(r.get(key)).__name__})")
            for c in CURVE_COLUMNS:
                if not isinstance(r.get(c) or [], list):
                    raise TypeError(f"field {c!r} must be a list")
            record = RunRecord.from_dict(r, where=f"journal {old.path}: line {k + 1}")
            insert_result(db, rows[r["function"]], record, 1, session, when)
        elif r["type"] == "features":
            insert_features(db, rows[r["function"]], {**r, "seconds": _number(r.get("seconds"))}, session, when)
        elif r["type"] == "code_change":
            value = {key: r.get(key) for key in ("from", "to", "changed", "version", "code")}
            db.execute("INSERT INTO events (type, time, value) VALUES (?, ?, ?)",
                       ("code_change", when, json.dumps(value, sort_keys=True)))
        return session

    outputs = evaluate_many(functions)
    return Journal.create(target, config=config, functions=functions, equivalents=[[f] for f in functions],
                          outputs=outputs, feature_rank=range(len(functions)), fill=fill)
