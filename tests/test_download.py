"""Downloads against a local HTTP server on 127.0.0.1: resume with Range, SHA256 refusal,
no network, atomic rename."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from galaxybench.cli import main
from galaxybench.data.download import download
from galaxybench.errors import DownloadError, InputError

PAYLOAD = bytes(range(256)) * 4000  # 1,024,000 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Server:
    """Serves PAYLOAD at any path; ``cut_next`` truncates the next response, ``corrupt`` flips a
    byte, ``honour_range`` False ignores Range. Records each request's Range header."""

    def __init__(self) -> None:
        self.cut_next = False
        self.corrupt = False
        self.honour_range = True
        self.ranges: list[str | None] = []
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                header = self.headers.get("Range")
                state.ranges.append(header)
                body = bytearray(PAYLOAD)
                if state.corrupt:
                    body[1234] ^= 0xFF
                start = int(header[6:-1]) if header and state.honour_range else 0
                if start >= len(body):
                    self.send_response(416)
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                chunk = body[start:]
                if state.cut_next:  # promise everything, send a third, hang up
                    state.cut_next = False
                    chunk = chunk[: len(chunk) // 3]
                self.wfile.write(chunk)
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/Galaxy10.h5"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = _Server()
    yield srv
    srv.close()


def test_download_verifies_and_renames(server, tmp_path):
    path = download("galaxy10-sdss", tmp_path, url=server.url, sha256=SHA, progress=False)
    assert path == tmp_path / "Galaxy10.h5" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "Galaxy10.h5.part").exists()
    assert server.ranges == [None]
    # Already there and verified: no second request.
    download("galaxy10-sdss", tmp_path, url=server.url, sha256=SHA, progress=False)
    assert len(server.ranges) == 1


def test_interrupted_download_resumes_with_range(server, tmp_path):
    server.cut_next = True
    with pytest.raises(DownloadError, match="interrupted"):
        download("galaxy10-sdss", tmp_path, url=server.url, sha256=SHA, progress=False)
    part = tmp_path / "Galaxy10.h5.part"
    assert not (tmp_path / "Galaxy10.h5").exists()  # never renamed while incomplete
    got = part.stat().st_size
    assert 0 < got < len(PAYLOAD) and part.read_bytes() == PAYLOAD[:got]
    path = download("galaxy10-sdss", tmp_path, url=server.url, sha256=SHA, progress=False)
    assert server.ranges[-1] == f"bytes={got}-"  # resumed, not restarted
    assert path.read_bytes() == PAYLOAD and not part.exists()


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    (tmp_path / "Galaxy10.h5.part").write_bytes(PAYLOAD[:5000])
    server.honour_range = False
    path = download("galaxy10-sdss", tmp_path, url=server.url, sha256=SHA, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_with_416(server, tmp_path):
    (tmp_path / "Galaxy10.h5.part").write_bytes(PAYLOAD)
    path = download("galaxy10-sdss", tmp_path, url=server.url, sha256=SHA, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_corrupted_download_is_refused_and_removed(server, tmp_path):
    server.corrupt = True
    with pytest.raises(DownloadError, match=r"SHA256 mismatch.*removed"):
        download("galaxy10-sdss", tmp_path, url=server.url, sha256=SHA, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_known_size_is_checked_when_no_hash(server, tmp_path, monkeypatch):
    from galaxybench.data import download as mod

    remote = mod.Remote("Galaxy10.h5", server.url, None, len(PAYLOAD) + 1)
    monkeypatch.setitem(mod.DATASETS, "galaxy10-sdss", remote)
    with pytest.raises(DownloadError, match="size mismatch"):
        download("galaxy10-sdss", tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_no_network_is_one_clear_error(tmp_path):
    with pytest.raises(DownloadError, match="cannot reach"):
        download("galaxy10-decals", tmp_path, url="http://127.0.0.1:9/x.h5", progress=False)


def test_unknown_name(tmp_path):
    with pytest.raises(InputError, match="known: galaxy10-decals, galaxy10-sdss"):
        download("mnist", tmp_path)


def test_cli_download_and_corruption(server, tmp_path, capsys, monkeypatch):
    from galaxybench.data import download as mod

    monkeypatch.setitem(mod.DATASETS, "galaxy10-sdss", mod.Remote("Galaxy10.h5", "", SHA, None))
    assert (
        main(["data", "download", "galaxy10-sdss", "--dest", str(tmp_path), "--url", server.url])
        == 0
    )
    assert "verified" in capsys.readouterr().out
    # The official hash (the real file's) refuses our payload: one line, exit 2.
    assert (
        main(["data", "download", "galaxy10-decals", "--dest", str(tmp_path), "--url", server.url])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SHA256 mismatch" in err
    assert not (tmp_path / "Galaxy10_DECals.h5").exists()
    assert not (tmp_path / "Galaxy10_DECals.h5.part").exists()


def test_cli_sha256_overrides_the_known_hash(server, tmp_path, capsys):
    # A mirror serving another version: the official hash refuses it, --sha256 accepts it.
    assert (
        main(
            [
                "data",
                "download",
                "galaxy10-sdss",
                "--dest",
                str(tmp_path),
                "--url",
                server.url,
                "--sha256",
                SHA.upper(),
            ]
        )
        == 0
    )
    assert (tmp_path / "Galaxy10.h5").read_bytes() == PAYLOAD
    capsys.readouterr()
    wrong = "0" * 64
    assert (
        main(
            [
                "data",
                "download",
                "galaxy10-decals",
                "--dest",
                str(tmp_path),
                "--url",
                server.url,
                "--sha256",
                wrong,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"expected {wrong}" in err
