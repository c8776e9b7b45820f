"""Hugging Face Hub: download a table folder, publish one. Each call has an overall deadline
(``$ACT_BENCH_NET_DEADLINE``, default 1800 s): an endpoint that accepts and never
answers, or trickles, ends the command with one line then."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from act_bench.errors import ActBenchError, InvalidInputError
from act_bench.interop._download import DEADLINE_ENV, network_deadline
from act_bench.tables import FILES

__all__ = ["PublishResult", "download_table", "list_upload_files", "publish_folder"]


_T = TypeVar("_T")


def _within_deadline(call: Callable[[], _T], what: str, deadline: float | None) -> _T:
    """``call()`` in a helper thread, waited for at most ``deadline`` seconds (``$ACT_BENCH_NET_DEADLINE``): a
    network call that does not return by then is an :class:`~act_bench.errors.ActBenchError` (the helper thread, a
    daemon, is left to end with the process)."""
    seconds = network_deadline(deadline)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name="act-bench-network", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        from huggingface_hub import constants

        raise ActBenchError(f"{what}: the Hub at {constants.ENDPOINT} did not answer within the deadline of "
                            f"{seconds:g} s (${DEADLINE_ENV})")
    if "error" in box:
        raise box["error"]
    return box["value"]


def download_table(repo_id: str, *, revision: str | None = None, deadline: float | None = None) -> Path:
    """Download the table files of Hub dataset ``repo_id`` (HF cache) and return the local folder, within
    ``deadline`` seconds (default ``$ACT_BENCH_NET_DEADLINE``)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        folder = _within_deadline(lambda: snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision,
                                                            allow_patterns=list(FILES.values())),
                                  f"cannot download Hub dataset {repo_id!r}", deadline)
    except RepositoryNotFoundError:
        raise InvalidInputError(f"no Hub dataset {repo_id!r} (or it is private and you are not logged in)") from None
    except LocalEntryNotFoundError as exc:
        raise ActBenchError(f"cannot download Hub dataset {repo_id!r}: offline and not in the cache ({exc})") from None
    except HfHubHTTPError as exc:
        raise ActBenchError(f"cannot download Hub dataset {repo_id!r}: {exc}") from None
    return Path(folder)


def list_upload_files(folder: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """``(relative path, size in bytes)`` of every file under ``folder``, sorted."""
    folder = Path(folder)
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


@dataclass(frozen=True)
class PublishResult:
    """Where a table was uploaded: repository id, commit hash (revision) and URL."""

    repo_id: str
    revision: str
    commit_url: str


def publish_folder(folder: str | os.PathLike[str], repo_id: str, *, private: bool = False,
                   commit_message: str | None = None, deadline: float | None = None) -> PublishResult:
    """Create (if needed) the Hub dataset ``repo_id`` and upload ``folder``; token from ``HF_TOKEN`` or login; all
    within ``deadline`` seconds (default ``$ACT_BENCH_NET_DEADLINE``)."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    # the HTTP client's base error (httpx's, re-exported by huggingface_hub): connection errors are not OSError
    transport_error = HfHubHTTPError.__mro__[1]

    api = HfApi()

    def upload() -> Any:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        return api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                                 commit_message=commit_message or f"Upload act-bench table {Path(folder).name}")

    try:
        info = _within_deadline(upload, f"upload to {repo_id!r} failed", deadline)
    except LocalTokenNotFoundError:
        raise InvalidInputError(f"no Hugging Face token to upload to {repo_id!r}: log in with `hf auth login` or "
                                f"set HF_TOKEN") from None
    except OfflineModeIsEnabled:
        raise ActBenchError(f"cannot upload to {repo_id!r}: HF_HUB_OFFLINE is set") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise InvalidInputError(f"the Hub refused the upload to {repo_id!r} ({status}): log in with "
                                    f"`hf auth login` or set HF_TOKEN to a token with write access") from None
        raise ActBenchError(f"upload to {repo_id!r} failed: {exc}") from None
    except (OSError, transport_error) as exc:  # connection errors (httpx's are not OSError)
        raise ActBenchError(f"upload to {repo_id!r} failed: cannot reach the Hub at {constants.ENDPOINT} "
                            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    except ValueError as exc:  # a response that is not the Hub's JSON (a proxy or another server answered)
        raise ActBenchError(f"upload to {repo_id!r} failed: the server at {constants.ENDPOINT} did not answer "
                            f"like the Hugging Face Hub ({' '.join(str(exc).split())[:200]})") from None
    return PublishResult(repo_id=repo_id, revision=str(info.oid), commit_url=str(info.commit_url))
