"""``act-bench fetch`` against a real local HTTP server (Range support, dropped connections, 404, bad checksums)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from act_bench.cli import main
from act_bench.errors import DownloadError
from act_bench.features import fim_layout
from act_bench.interop import cache_info, download_file, fetch_upstream, load_table, upstream_url
from act_bench.tables import CdfLayout, normalize_layout
from data_builders.models import create_model

NAMES = ["relu(x)", "tanh(x)", "swish(x)", "add(x,sigmoid(x))", "exp(x)"]


def _records() -> dict:
    """An upstream-format file for All-CNN-C (the importer's real layout): two CDF vectors, the rest without one."""
    layers = normalize_layout(fim_layout(create_model("all-cnn-c", "relu(x)", num_classes=10)))
    bins = [CdfLayout.ACT_BENCH.bins(e["weights"]) for e in layers]
    rng = np.random.default_rng(0)
    out = {}
    for i, name in enumerate(NAMES):
        acc = rng.uniform(0.1, 0.9, 3).tolist()
        loss = rng.uniform(0.2, 2.0, 3).tolist()
        cdf = None
        if i < 2:  # per layer a non-decreasing CDF ending in 1, as the reference code writes it
            cdf = [v for b in bins for v in (np.sort(rng.uniform(0, 1, b - 1)).tolist() + [1.0] if b else [])]
        out[name] = {"Train Accuracy": acc[0], "Validation Accuracy": acc[1], "Test Accuracy": acc[2],
                     "Train Loss": loss[0], "Validation Loss": loss[1], "Test Loss": loss[2],
                     "Runtime (s)": float(rng.uniform(100, 900)), "Equivalent Activation Functions": [],
                     "Fisher log eigenvalue CDF": cdf}
    out["exp(x)"]["Train Loss"] = math.nan
    return out


@pytest.fixture(scope="module")
def payload() -> tuple[dict, bytes]:
    records = _records()
    return records, json.dumps(records).encode()


class Server:
    """A Range-capable file server; ``mode`` scripts misbehaviour per file name."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[dict] = []
        self.drop_first: set[str] = set()      # first GET: full Content-Length, half the body, connection closed
        self.always_truncate: set[str] = set()  # every GET stops 100 bytes before the end
        self.digest: dict[str, str] = {}        # Repr-Digest value to send
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                name = self.path.rsplit("/", 1)[-1]
                outer.requests.append({"file": name, "range": self.headers.get("Range")})
                data = outer.files.get(name)
                if data is None:
                    body = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                start, status = 0, 200
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    status = 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("ETag", '"v1"')
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                if name in outer.digest:
                    self.send_header("Repr-Digest", f"sha-256=:{outer.digest[name]}:")
                self.end_headers()
                body = data[start:]
                n_get = sum(r["file"] == name for r in outer.requests)
                if name in outer.drop_first and n_get == 1:
                    body = body[: len(body) // 2]
                elif name in outer.always_truncate:
                    body = data[start: max(start, len(data) - 100)]
                self.wfile.write(body)
                self.wfile.flush()
                if len(body) < len(data) - start:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mirror"

    def __enter__(self):  # the server, started
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_resumes_an_interrupted_download_and_records_the_source(tmp_path, payload, capsys, monkeypatch):
    records, data = payload
    cache = tmp_path / "cache"
    monkeypatch.setenv("ACT_BENCH_CACHE", str(cache))
    with Server({"act-bench-cnn.json": data}) as srv:
        srv.drop_first.add("act-bench-cnn.json")
        srv.digest["act-bench-cnn.json"] = base64.b64encode(hashlib.sha256(data).digest()).decode()
        # before the fetch the name points to the command
        assert main(["table", "info", "--table", "act-bench-cnn"]) == 2
        assert "run `act-bench fetch act-bench-cnn --accept-license`" in capsys.readouterr().err
        code = main(["fetch", "act-bench-cnn", "--accept-license", "--url", srv.url, "--json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "Academic Public License" in captured.err          # the licence is shown on the first fetch
        result = json.loads(captured.out)
        # the second request resumed where the dropped one stopped
        assert [r["range"] for r in srv.requests] == [None, f"bytes={len(data) // 2}-"]
        assert result["resumed_from"] == len(data) // 2 and result["requests"] == 2
    assert result["sha256"] == _sha(data) and result["bytes"] == len(data)
    assert result["url"] == f"{srv.url}/act-bench-cnn.json"
    table = load_table("act-bench-cnn")
    assert list(table.functions["function"]) == NAMES
    np.testing.assert_array_equal(table.functions["val_accuracy"],
                                  [records[n]["Validation Accuracy"] for n in NAMES])
    meta = table.metadata
    assert meta["download"]["sha256"] == _sha(data) and meta["download"]["bytes"] == len(data)
    assert meta["download"]["url"] == result["url"] and meta["source"] == result["url"]
    assert meta["download"]["checksum_checked_by"] == ["Repr-Digest"]
    assert meta["model"] == "all-cnn-c" and "Academic Public License" in meta["notes"]
    assert int(table.functions["fim_valid"].sum()) == 2
    assert not list((cache / "downloads").iterdir())           # the JSON is not kept after the import
    # the licence is recorded: a second cache-hit run needs no flag and downloads nothing
    assert main(["fetch", "act-bench-cnn", "--url", srv.url]) == 0
    assert "already in the cache" in capsys.readouterr().out
    assert main(["cache", "info", "--json"]) == 0
    kinds = {e["kind"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    assert kinds["table"]["name"] == "act-bench-cnn" and "license" in kinds
    assert main(["cache", "clear", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "removed from" in out and "act-bench-cnn" in out
    assert cache_info(cache) == [] and not (cache / "tables").exists()


def test_interrupted_without_retries_resumes_on_the_next_call(tmp_path, payload):
    _, data = payload
    with Server({"act-bench-vit.json": data}) as srv:
        srv.drop_first.add("act-bench-vit.json")
        dest = tmp_path / "d" / "act-bench-vit.json"
        url = upstream_url("act-bench-vit", srv.url)
        with pytest.raises(DownloadError, match="run the same command again to resume"):
            download_file(url, dest, retries=0, progress=False)
        part = dest.with_name(dest.name + ".part")
        assert part.stat().st_size == len(data) // 2 and not dest.exists()
        info = download_file(url, dest, sha256=_sha(data), retries=0, progress=False)
    assert info.resumed_from == len(data) // 2 and dest.read_bytes() == data and not part.exists()


def test_truncated_body_fails_and_writes_no_table(tmp_path, payload, capsys):
    _, data = payload
    cache = tmp_path / "cache"
    with Server({"act-bench-resnet.json": data}) as srv:
        srv.always_truncate.add("act-bench-resnet.json")
        code = main(["fetch", "act-bench-resnet", "--accept-license", "--url", srv.url, "--cache-dir", str(cache),
                     "--retries", "2"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 1 and "failed after 3 request(s)" in err and f"of {len(data):,} bytes" in err
    assert not (cache / "tables" / "act-bench-resnet").exists()


def test_http_404_is_one_line(tmp_path, capsys):
    with Server({}) as srv:
        code = main(["fetch", "act-bench-cnn", "--accept-license", "--url", srv.url, "--cache-dir",
                     str(tmp_path / "c")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "HTTP 404" in err[-1] and "--url" in err[-1] and "Traceback" not in "".join(err)


@pytest.mark.parametrize("how", ["pinned", "server"])
def test_checksum_mismatch_deletes_the_download(tmp_path, payload, capsys, how):
    _, data = payload
    cache = tmp_path / "cache"
    args = ["fetch", "act-bench-cnn", "--accept-license", "--cache-dir", str(cache)]
    with Server({"act-bench-cnn.json": data}) as srv:
        if how == "pinned":
            args += ["--sha256", _sha(data + b" ")]
        else:
            srv.digest["act-bench-cnn.json"] = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        code = main([*args, "--url", srv.url])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 1 and "checksum mismatch" in err and _sha(data) in err
    assert not any((cache / "downloads").iterdir()) and not (cache / "tables").exists()


def test_license_must_be_accepted_once(tmp_path, payload, capsys, monkeypatch):
    _, data = payload
    cache = tmp_path / "cache"
    monkeypatch.delenv("ACT_BENCH_ACCEPT_LICENSE", raising=False)
    with Server({"act-bench-cnn.json": data}) as srv:
        assert main(["fetch", "act-bench-cnn", "--url", srv.url, "--cache-dir", str(cache)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "--accept-license" in err and "Academic Public License" in err
        assert not srv.requests  # nothing downloaded
        monkeypatch.setenv("ACT_BENCH_ACCEPT_LICENSE", "1")
        monkeypatch.setenv("ACT_BENCH_UPSTREAM_URL", srv.url)                   # the mirror from the environment
        res = fetch_upstream("act-bench-cnn", cache_dir=cache, progress=False)
    assert res.rows == len(NAMES) and Path(res.path) == cache / "tables" / "act-bench-cnn"
    record = json.loads((cache / "licenses" / "act-bench-academic-public-license.json").read_text())
    assert record["how"] == "ACT_BENCH_ACCEPT_LICENSE=1"


def test_bad_base_url_is_an_input_error(capsys, tmp_path):
    assert main(["fetch", "act-bench-cnn", "--accept-license", "--url", "ftp://x", "--cache-dir",
                 str(tmp_path)]) == 2
    assert "must be an http:// or https:// URL" in capsys.readouterr().err


def test_a_second_download_of_the_same_file_waits_for_none(tmp_path, payload):
    # another process holds the file's lock: the second download refuses at once and touches nothing
    import fcntl

    _, data = payload
    dest = tmp_path / "act-bench-cnn.json"
    with Server({"act-bench-cnn.json": data}) as srv, open(tmp_path / "act-bench-cnn.json.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another process is downloading"):
            download_file(upstream_url("act-bench-cnn", srv.url), dest, progress=False)
        assert not srv.requests and not dest.exists()
