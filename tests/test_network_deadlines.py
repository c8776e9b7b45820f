"""Every network call has an overall deadline and a size cap (issue 24, item 6), against a real local HTTP server
that accepts and never answers, trickles, or sends a body without ``Content-Length``: ``fetch``, ``table info`` of a
Hub id and ``publish`` end with one line within the deadline (``$ACT_BENCH_NET_DEADLINE``), and a download never
brings more than its cap (``$ACT_BENCH_MAX_DOWNLOAD_BYTES``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _procs import cli_process
from _servers import Server

from act_bench.errors import ActBenchError, DownloadError
from act_bench.interop import download_file, download_table, publish_folder

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny-table"


@pytest.fixture
def server(request) -> Iterator[Server]:
    srv = Server(request.param)
    yield srv
    srv.close()


@pytest.mark.parametrize("server", ["silent", "trickle"], indirect=True)
def test_a_download_ends_at_its_deadline_keeping_what_arrived(tmp_path, server):
    start = time.monotonic()
    with pytest.raises(DownloadError, match="did not finish within the deadline of 2 s"):
        download_file(f"{server.url}/x.json", tmp_path / "x.json", deadline=2, retries=5, retry_wait=0.1,
                      progress=False)
    assert time.monotonic() - start < 6
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("server", ["endless"], indirect=True)
def test_a_body_without_content_length_is_cut_at_the_cap(tmp_path, server):
    with pytest.raises(DownloadError, match="sent more than the cap of 1,000,000 bytes"):
        download_file(f"{server.url}/x.json", tmp_path / "x.json", max_bytes=1_000_000, deadline=60, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing kept (the lock file is gone too)


@pytest.mark.parametrize("server", ["silent", "trickle"], indirect=True)
@pytest.mark.parametrize("call", ["download", "publish"])
def test_a_hub_call_ends_at_its_deadline(tmp_path, server, call, monkeypatch):
    from huggingface_hub import HfApi, constants, snapshot_download  # imported before the clock starts

    assert HfApi and snapshot_download
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.monotonic()
    with pytest.raises(ActBenchError, match="did not answer within the deadline of 2 s"):
        if call == "download":
            download_table("someone/some-table", deadline=2)
        else:
            publish_folder(TINY, "someone/some-table", deadline=2)
    assert time.monotonic() - start < 6


def _error_lines(err: str) -> list[str]:
    """What the command said on stderr, without runpy's warning and the licence notice ``fetch`` prints once."""
    return [line for line in err.strip().splitlines() if "error:" in line or "Traceback" in line]


@pytest.mark.slow
@pytest.mark.parametrize("server", ["silent"], indirect=True)  # trickling: timed in-process above
@pytest.mark.parametrize("command", ["fetch", "table info", "publish"])
def test_network_commands_end_with_one_line_within_the_deadline(tmp_path, server, command):
    env = {**os.environ, "ACT_BENCH_NET_DEADLINE": "3", "HF_ENDPOINT": server.url, "HF_TOKEN": "hf_test",
           "HF_HOME": str(tmp_path / "hf"), "ACT_BENCH_CACHE": str(tmp_path / "cache")}
    args = {"fetch": ["fetch", "act-bench-cnn", "--url", server.url, "--accept-license", "--retries", "2"],
            "table info": ["table", "info", "--table", "someone/some-table"],
            "publish": ["publish", "--table", str(TINY), "--repo-id", "someone/some-table"]}[command]
    proc = cli_process(*args, env=env)
    _, err = proc.communicate(timeout=600)  # the deadline is timed in-process above; this is start-up on a busy host
    lines = _error_lines(err)
    assert proc.returncode == 1 and len(lines) == 1 and "deadline of 3 s" in lines[0], err
