"""Downloads against a real HTTP server on loopback: good file, wrong checksum, a connection
that drops half-way, and resuming after it."""

import hashlib
import http.server
import os
import re
import threading
import typing

import pytest

from hepcourse.data.download import DownloadError, download

PAYLOAD = os.urandom(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /file with Range support; /drop sends half and hangs up;
    /norange ignores Range like some servers do."""

    requests_seen: typing.ClassVar[list] = []

    def do_GET(self):
        self.requests_seen.append((self.path, self.headers.get("Range")))
        if self.path not in ("/file", "/drop", "/norange"):
            self.send_error(404)
            return
        start = 0
        match = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and self.path != "/norange":
            start = int(match.group(1))
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.end_headers()
                return
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection dies mid-transfer
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_good_file_is_verified_and_renamed(server, tmp_path):
    dest = download(f"{server}/file", tmp_path / "data.bin", SHA, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "data.bin.part").exists()


def test_wrong_checksum_never_replaces_a_good_file(server, tmp_path):
    good = tmp_path / "data.bin"
    good.write_bytes(b"the good copy")
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download(f"{server}/file", good, "0" * 64, progress=False)
    assert good.read_bytes() == b"the good copy"
    assert not (tmp_path / "data.bin.part").exists()


def test_dropped_connection_then_resume(server, tmp_path):
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadError, match="run again to resume"):
        download(f"{server}/drop", dest, SHA, size=len(PAYLOAD), progress=False)
    part = tmp_path / "data.bin.part"
    assert not dest.exists() and 0 < part.stat().st_size < len(PAYLOAD)
    half = part.stat().st_size
    Handler.requests_seen.clear()
    download(f"{server}/file", dest, SHA, size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert Handler.requests_seen == [("/file", f"bytes={half}-")]  # only the rest was fetched


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:1000])
    download(f"{server}/norange", tmp_path / "data.bin", SHA, progress=False)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_refetching(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    download(f"{server}/file", tmp_path / "data.bin", SHA, size=len(PAYLOAD), progress=False)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_http_errors_and_unreachable_servers_are_clear(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server}/missing", tmp_path / "x", SHA, progress=False)
    with pytest.raises(DownloadError, match="cannot connect"):
        download("http://127.0.0.1:9/nothing", tmp_path / "y", SHA, progress=False, timeout=5)
    assert not list(tmp_path.iterdir())
