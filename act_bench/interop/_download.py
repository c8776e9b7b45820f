"""Resumable HTTP downloads with checks: ``Range`` requests guarded by the ``ETag``, the ``Content-Length``, a
SHA-256 the server states (``x-amz-checksum-sha256``, ``Repr-Digest``, ``Digest``) and an optional pinned one; one
download per file at a time (a lock file); the file appears atomically only when every check passed. Every download
has an overall deadline (retries included; a server that accepts and never answers, or trickles, is cut off) and a
size cap (also for a body without ``Content-Length``), both configurable (:data:`DEADLINE_ENV`, :data:`MAX_BYTES_ENV`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import http.client
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from act_bench._io import try_lock, utc_now
from act_bench._progress import progress_bar
from act_bench._validation import check_int
from act_bench._version import __version__
from act_bench.errors import DownloadError, InvalidInputError

__all__ = ["CHUNK_BYTES", "DEADLINE_ENV", "DEFAULT_DEADLINE", "DEFAULT_MAX_BYTES", "LOCK_SUFFIX", "MAX_BYTES_ENV",
           "STATE_SUFFIX", "UPSTREAM_BASE_URL", "UPSTREAM_URL_ENV", "DownloadInfo", "download_file", "network_deadline"]

#: Base URL of the published files, from the upstream repository's ``download-datasets.sh``
#: (https://github.com/cognizant-ai-labs/act-bench/blob/main/download-datasets.sh).
UPSTREAM_BASE_URL = "https://act-bench.s3.us-west-2.amazonaws.com"
#: Environment variable overriding :data:`UPSTREAM_BASE_URL` (a mirror holding the same file names).
UPSTREAM_URL_ENV = "ACT_BENCH_UPSTREAM_URL"

CHUNK_BYTES = 1 << 20
#: Environment variable: seconds every network call of act-bench may take in all (a download with its retries, a
#: Hub download or upload), default :data:`DEFAULT_DEADLINE`.
DEADLINE_ENV = "ACT_BENCH_NET_DEADLINE"
DEFAULT_DEADLINE = 1800.0
#: Environment variable: the most bytes a download may bring, default :data:`DEFAULT_MAX_BYTES` (4 GiB; the largest
#: upstream file is far smaller).
MAX_BYTES_ENV = "ACT_BENCH_MAX_DOWNLOAD_BYTES"
DEFAULT_MAX_BYTES = 4 << 30
#: Suffixes of the files next to a download in progress: its state (URL, ETag, checksum) and its lock.
STATE_SUFFIX = ".part.json"
LOCK_SUFFIX = ".lock"


@dataclass(frozen=True)
class DownloadInfo:
    """What :func:`download_file` transferred and checked."""

    url: str
    path: str
    bytes: int
    sha256: str
    resumed_from: int          # bytes already on disk when the last successful request started
    requests: int              # HTTP requests made (1 = no retry)
    server_checksum: str | None  # which server header verified the content, if any


def network_deadline(deadline: float | None = None, *, where: str = "the network deadline") -> float:
    """Seconds a network call may take: ``deadline`` if given, else ``$ACT_BENCH_NET_DEADLINE``, else
    :data:`DEFAULT_DEADLINE` (a number > 0)."""
    source = where
    if deadline is None:
        text = os.environ.get(DEADLINE_ENV, "").strip()
        if not text:
            return DEFAULT_DEADLINE
        source = f"${DEADLINE_ENV}"
        try:
            deadline = float(text)
        except ValueError:
            raise InvalidInputError(f"{source} must be a number of seconds > 0; got {text!r}") from None
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not 0 < deadline < float("inf"):
        raise InvalidInputError(f"{source} must be a number of seconds > 0; got {deadline!r}")
    return float(deadline)


def _max_bytes(max_bytes: int | None) -> int:
    if max_bytes is not None:
        return check_int(max_bytes, "max_bytes", "download_file", min_value=1)
    text = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(f"${MAX_BYTES_ENV} must be a whole number of bytes >= 1; got {text!r}")
    return int(text)


class _TooBig(Exception):
    pass


def _server_checksum(headers: http.client.HTTPMessage) -> tuple[str, str] | None:
    """``(header, hex sha256)`` of the whole file if the server states one, else ``None``."""
    def b64hex(text: str) -> str | None:
        try:
            raw = base64.b64decode(text.strip().strip(":"), validate=True)
        except (binascii.Error, ValueError):
            return None
        return raw.hex() if len(raw) == 32 else None

    amz = headers.get("x-amz-checksum-sha256")
    if amz and "-" not in amz and headers.get("x-amz-checksum-type", "FULL_OBJECT").upper() == "FULL_OBJECT":
        value = b64hex(amz)  # a multipart upload's composite checksum ("...-N") is not the file's SHA-256
        if value:
            return "x-amz-checksum-sha256", value
    for header, pattern in (("Repr-Digest", r"(?i)(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):"),
                            ("Digest", r"(?i)(?:^|,)\s*sha-256=([A-Za-z0-9+/=]+)")):
        text = headers.get(header)
        match = re.search(pattern, text) if text else None
        value = b64hex(match.group(1)) if match else None
        if value:
            return header, value
    return None


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _hash_file(path: Path) -> Any:
    digest = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK_BYTES):
                digest.update(block)
    return digest


def _content_range(text: str | None) -> tuple[int, int | None] | None:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*", text or "")
    if not match:
        return None
    return int(match.group(1)), (None if match.group(2) == "*" else int(match.group(2)))


def download_file(url: str, dest: str | os.PathLike[str], *, sha256: str | None = None, retries: int = 3,
                  timeout: float = 60.0, retry_wait: float = 1.0, progress: bool = True,
                  deadline: float | None = None, max_bytes: int | None = None) -> DownloadInfo:
    """Download ``url`` to ``dest`` with resume, checks and a progress bar on stderr.

    Bytes go to ``dest + ".part"`` (with a small ``.part.json`` holding the URL, ``ETag`` and any server checksum);
    an interrupted transfer is resumed with an HTTP ``Range`` request, at once up to ``retries`` times and otherwise
    by the next call. ``dest`` appears (atomically) only when the size equals the ``Content-Length`` and the SHA-256
    equals ``sha256`` and the checksum the server sent, if any; on a mismatch the partial file is deleted.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` URL.
    dest : path
        Final file.
    sha256 : str, optional
        Expected SHA-256 (64 hex digits).
    retries : int
        Further attempts after a dropped connection, a timeout or an HTTP 5xx/429 answer.
    timeout : float
        Socket timeout in seconds (each connection and read).
    retry_wait : float
        Seconds before the first retry (doubled each time, at most 30).
    progress : bool
        Show a tqdm bar on stderr.
    deadline : float, optional
        Seconds the whole call may take, retries included (default ``$ACT_BENCH_NET_DEADLINE`` or
        :data:`DEFAULT_DEADLINE`); a server that never answers or trickles is cut off then (what arrived is kept
        for a resume).
    max_bytes : int, optional
        The most bytes the file may have (default ``$ACT_BENCH_MAX_DOWNLOAD_BYTES`` or :data:`DEFAULT_MAX_BYTES`):
        a larger ``Content-Length`` is refused before any byte is read, a body without one is cut off there.

    Returns
    -------
    DownloadInfo

    Raises
    ------
    DownloadError
        HTTP error, transfer still incomplete after the retries, size or checksum mismatch.
    """
    retries = check_int(retries, "retries", "download_file", min_value=0)
    expected = sha256.lower() if sha256 else None
    if expected is not None and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise InvalidInputError(f"parameter sha256 of download_file must be 64 hexadecimal digits; got {sha256!r}")
    deadline = network_deadline(deadline, where="parameter deadline of download_file")
    cap = _max_bytes(max_bytes)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest.with_name(dest.name + LOCK_SUFFIX), url):
        return _download(url, dest, expected, retries, timeout, retry_wait, progress, deadline, cap)


@contextlib.contextmanager
def _exclusive(lock_path: Path, url: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (:class:`filelock.FileLock`): two fetches never write one partial
    file."""
    lock = try_lock(lock_path, f"pid {os.getpid()}\n")
    if lock is None:
        raise DownloadError(f"another process is downloading {url} into {str(lock_path.parent)!r} (it "
                            f"holds {lock_path.name}); wait for it to finish")
    try:
        yield
    finally:
        lock.release()


def _download(url: str, dest: Path, expected: str | None, retries: int, timeout: float, retry_wait: float,
              progress: bool, deadline: float = DEFAULT_DEADLINE, cap: int = DEFAULT_MAX_BYTES) -> DownloadInfo:
    end = time.monotonic() + deadline
    part = dest.with_name(dest.name + ".part")
    state_path = dest.with_name(dest.name + STATE_SUFFIX)
    state = _read_state(state_path)
    if state.get("url") != url:  # another source: what is on disk cannot be resumed
        part.unlink(missing_ok=True)
        state = {"url": url}
    requests, attempt, total, resumed_from = 0, 0, state.get("total"), 0
    headers_common = {"User-Agent": f"act-bench/{__version__}", "Accept-Encoding": "identity",
                      "x-amz-checksum-mode": "ENABLED"}
    while True:
        offset = part.stat().st_size if part.is_file() else 0
        if total is not None and offset == total and offset > 0:
            break  # complete on disk from an earlier call
        request_headers = dict(headers_common)
        if offset:
            request_headers["Range"] = f"bytes={offset}-"
            if state.get("etag"):
                request_headers["If-Range"] = state["etag"]
        requests += 1
        failure: str | None = None
        late = False
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=request_headers),
                                        timeout=max(0.05, min(timeout, end - time.monotonic()))) as resp:
                status = resp.status
                length = resp.headers.get("Content-Length")
                if status == 206:
                    rng = _content_range(resp.headers.get("Content-Range"))
                    if rng is None or rng[0] != offset:
                        raise DownloadError(f"{url}: the server answered the resume request for bytes {offset}- with "
                                            f"Content-Range {resp.headers.get('Content-Range')!r}")
                    total = rng[1] if rng[1] is not None else (offset + int(length) if length else None)
                    mode = "ab"
                else:  # 200: the whole file (the server ignores Range or the file changed since the ETag)
                    offset, mode = 0, "wb"
                    total = int(length) if length and length.isdigit() else None
                if total is not None and total > cap:
                    raise _TooBig(f"{url} is {total:,} bytes, more than the cap of {cap:,} (${MAX_BYTES_ENV})")
                resumed_from = offset
                checksum = _server_checksum(resp.headers)
                state.update({"url": url, "total": total, "etag": resp.headers.get("ETag") or state.get("etag"),
                              "date": utc_now()})
                if checksum or mode == "wb":
                    state["checksum"] = list(checksum) if checksum else None
                state_path.write_text(json.dumps(state) + "\n", encoding="utf-8")
                bar = progress_bar(total=total, initial=offset, desc=dest.name, unit="B", unit_scale=True,
                                   unit_divisor=1024, disable=not progress)
                try:
                    with open(part, mode) as fh:
                        got = offset
                        while True:
                            block = resp.read1(CHUNK_BYTES)  # what one read brings: the deadline is checked often
                            if not block:
                                break
                            got += len(block)
                            if got > cap:
                                raise _TooBig(f"{url} sent more than the cap of {cap:,} bytes (${MAX_BYTES_ENV}; "
                                              f"Content-Length {length or 'not sent'})")
                            fh.write(block)
                            bar.update(len(block))
                            if time.monotonic() > end:
                                late = True
                                break
                finally:
                    bar.close()
        except _TooBig as exc:
            part.unlink(missing_ok=True)
            state_path.unlink(missing_ok=True)
            raise DownloadError(f"{exc}; nothing was kept") from None
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:  # nothing after offset: the part is stale or already whole
                rng = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", exc.headers.get("Content-Range") or "")
                if rng and int(rng.group(1)) == offset:
                    total = offset
                    break
                part.unlink(missing_ok=True)
                failure = "HTTP 416 (the partial file does not match the server's)"
            elif exc.code in (429,) or exc.code >= 500:
                failure = f"HTTP {exc.code} ({exc.reason})"
            else:
                raise DownloadError(f"{url}: HTTP {exc.code} ({exc.reason}); check the base URL (--url or "
                                    f"${UPSTREAM_URL_ENV}; default {UPSTREAM_BASE_URL})") from None
        except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
            failure = f"{type(exc).__name__}: {exc}".rstrip(": ")
        except urllib.error.URLError as exc:
            failure = f"cannot reach the server ({exc.reason})"
        size = part.stat().st_size if part.is_file() else 0
        if late:
            failure = "still incomplete"
        elif failure is None and total is not None and size != total:
            failure = f"connection closed after {size:,} of {total:,} bytes"
        if failure is None:
            break
        if late or time.monotonic() + min(retry_wait * 2 ** attempt, 30.0) >= end:
            kept = (f"{size:,} bytes are kept in {str(part)!r}: run the same command again to resume" if size
                    else "nothing was received")
            raise DownloadError(f"download of {url} did not finish within the deadline of {deadline:g} s "
                                f"(${DEADLINE_ENV}) after {requests} request(s): {failure}; {kept}")
        if attempt >= retries:
            of = f" of {total:,}" if total is not None else ""
            kept = (f"{size:,}{of} bytes are kept in {str(part)!r}: run the same command again to resume" if size
                    else "nothing was received: check the network or the base URL (--url / "
                         f"${UPSTREAM_URL_ENV}), then run the command again")
            raise DownloadError(f"download of {url} failed after {requests} request(s): {failure}; {kept}")
        time.sleep(min(retry_wait * 2 ** attempt, 30.0))
        attempt += 1
    size = part.stat().st_size
    got = _hash_file(part).hexdigest()
    checks = []
    if state.get("checksum"):
        checks.append((f"the server's {state['checksum'][0]} header", state["checksum"][1]))
    if expected is not None:
        checks.append(("the expected SHA-256", expected))
    for what, want in checks:
        if got != want:
            part.unlink(missing_ok=True)
            state_path.unlink(missing_ok=True)
            raise DownloadError(f"{url}: checksum mismatch: SHA-256 of the {size:,} bytes received is {got}, "
                                f"{what} says {want}; the download was deleted, run the command again")
    os.replace(part, dest)
    state_path.unlink(missing_ok=True)
    return DownloadInfo(url=url, path=str(dest), bytes=size, sha256=got, resumed_from=resumed_from,
                        requests=requests, server_checksum=state["checksum"][0] if state.get("checksum") else None)
