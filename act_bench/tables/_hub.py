"""Hugging Face Hub: download a table folder, publish one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from act_bench.errors import ActBenchError, InvalidInputError
from act_bench.tables._schema import FILES

__all__ = ["PublishResult", "download_table", "list_upload_files", "publish_folder"]


def download_table(repo_id: str, *, revision: str | None = None) -> Path:
    """Download the table files of Hub dataset ``repo_id`` (HF cache) and return the local folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        folder = snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision,
                                   allow_patterns=list(FILES.values()))
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
                   commit_message: str | None = None) -> PublishResult:
    """Create (if needed) the Hub dataset ``repo_id`` and upload ``folder``; token from ``HF_TOKEN`` or login."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    # the HTTP client's base error (httpx's, re-exported by huggingface_hub): connection errors are not OSError
    transport_error = HfHubHTTPError.__mro__[1]

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                                 commit_message=commit_message or f"Upload act-bench table {Path(folder).name}")
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
