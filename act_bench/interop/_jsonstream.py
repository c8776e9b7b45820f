"""A streaming reader of one large JSON object: its top-level records one at a time, decoded with
``json.JSONDecoder.raw_decode`` over chunks, so a 100+ MB file is never held as one string or one Python object.

Why not ijson (the streaming JSON library): the upstream files are written by Python's ``json`` and hold ``NaN`` and
``Infinity`` for diverged runs, which ijson refuses ("lexical error: invalid char in json text", 3.6.0 with its
yajl2_c backend; it has no option to accept them), and its errors carry no line. This reader decodes each record
with the standard library's own decoder (the same values ``json.load`` gives), reports the line and character of
the first error, and refuses a repeated key, which ijson passes through silently."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from act_bench.errors import InvalidInputError

__all__ = ["iter_json_object"]


class _Stream:
    def __init__(self, fh: TextIO, where: str, chunk_size: int) -> None:
        self.fh, self.where, self.chunk = fh, where, chunk_size
        self.buf, self.pos, self.base, self.line, self.eof = "", 0, 0, 1, False
        self.decoder = json.JSONDecoder()

    def fill(self) -> None:
        """Drop what was consumed and read more: the chunk size, or as much as is buffered if that is more (so a
        record larger than a chunk is re-parsed a logarithmic number of times, not once per chunk)."""
        if self.pos:
            self.line += self.buf.count("\n", 0, self.pos)
            self.base += self.pos
            self.buf, self.pos = self.buf[self.pos:], 0
        data = self.fh.read(max(self.chunk, len(self.buf)))
        if not data:
            self.eof = True
        else:
            self.buf += data

    def location(self, pos: int | None = None) -> str:
        pos = self.pos if pos is None else pos
        line = self.line + self.buf.count("\n", 0, pos)
        return f"line {line}, character {self.base + pos + 1}"

    def fail(self, message: str, pos: int | None = None) -> InvalidInputError:
        return InvalidInputError(f"malformed JSON in {self.where} at {self.location(pos)}: {message}")

    def skip_ws(self) -> None:
        while True:
            n = len(self.buf)
            while self.pos < n and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < n or self.eof:
                return
            self.fill()

    def peek(self) -> str:
        self.skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def expect(self, chars: str, what: str) -> str:
        c = self.peek()
        if not c or c not in chars:
            raise self.fail(f"expected {what}, found {c!r}" if c else f"expected {what}, found the end of the file")
        self.pos += 1
        return c

    def value(self) -> Any:
        self.skip_ws()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self.fail(exc.msg, exc.pos) from None
                self.fill()
                continue
            except RecursionError:
                raise self.fail("values nested too deeply") from None
            except ValueError as exc:  # an integer with more digits than Python converts (4,300): more data won't help
                raise self.fail(str(exc).split(";")[0]) from None
            if end == len(self.buf) and not self.eof:  # a number may continue in the next chunk
                self.fill()
                continue
            self.pos = end
            return value


def iter_json_object(path: str | os.PathLike[str], *, chunk_size: int = 8 << 20) -> Iterator[tuple[int, str, Any]]:
    """Yield ``(index, key, value)`` for each member of the top-level JSON object in ``path``, reading in chunks.

    Raises :class:`InvalidInputError` with the line/character of the first syntax error (``NaN``/``Infinity``
    are accepted, as Python's ``json`` writes them), or if the top level is not an object or a key repeats.

    Examples
    --------
    >>> import json, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "f.json")
    >>> _ = open(p, "w").write(json.dumps({"relu(x)": {"a": 1}, "tanh(x)": {"a": 2}}))
    >>> [(i, k) for i, k, _ in iter_json_object(p)]
    [(0, 'relu(x)'), (1, 'tanh(x)')]
    """
    path = Path(path)
    where = repr(str(path))
    try:
        fh = open(path, encoding="utf-8")  # noqa: SIM115 - closed in finally
    except FileNotFoundError:
        raise InvalidInputError(f"input file {where} does not exist") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read input file {where}: {exc}") from None
    try:
        s = _Stream(fh, where, chunk_size)
        s.expect("{", "'{' (the file must hold one JSON object keyed by activation function)")
        seen: set[str] = set()
        index = 0
        if s.peek() == "}":
            s.pos += 1
        else:
            while True:
                if s.peek() != '"':
                    raise s.fail(f"expected a string key for record {index}")
                key = s.value()
                if key in seen:
                    raise InvalidInputError(f"{where}: record {index} repeats the key {key!r}")
                seen.add(key)
                s.expect(":", "':' after a key")
                value = s.value()
                yield index, key, value
                index += 1
                if s.expect(",}", "',' or '}' after a record") == "}":
                    break
        if s.peek():
            raise s.fail("extra data after the top-level object")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"input file {where} is not UTF-8 text: {exc}") from None
    finally:
        fh.close()
