"""Resumable downloads and safe extraction, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ramt.data.download import (
    ArchiveError,
    ChecksumError,
    DownloadError,
    UnsafeArchiveError,
    download_gdrive,
    download_url,
    extract,
    fetch,
)


class _Server:
    """Serves ``files`` (name -> bytes); supports Range; can cut the first transfers short."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, dict]] = []
        self.cut_after: int | None = None  # bytes sent before dropping the connection
        self.cuts_left = 0
        self.honour_range = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                name = self.path.lstrip("/")
                if name not in outer.files:
                    self.send_error(404, "Not Found")
                    return
                data = outer.files[name]
                start = 0
                rng = self.headers.get("Range")
                if rng and outer.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cuts_left > 0 and outer.cut_after is not None:
                    outer.cuts_left -= 1
                    self.wfile.write(body[: outer.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


PAYLOAD = os.urandom(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_download_complete_checks_sha(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    dest = tmp_path / "sub" / "blob.bin"
    out = download_url(server.url + "blob.bin", dest, expected_sha256=SHA, progress=False)
    assert out == dest and dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "sub" / "blob.bin.part").exists()
    # a second call keeps the verified file and does not hit the network
    n = len(server.requests)
    download_url(server.url + "blob.bin", dest, expected_sha256=SHA, progress=False)
    assert len(server.requests) == n


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    server.cut_after, server.cuts_left = 100_000, 1
    dest = tmp_path / "blob.bin"
    url = server.url + "blob.bin"
    with pytest.raises(DownloadError) as err:
        download_url(url, dest, expected_sha256=SHA, retries=0, progress=False)
    assert url in str(err.value) and str(dest) in str(err.value)
    part = tmp_path / "blob.bin.part"
    assert not dest.exists() and part.stat().st_size == 100_000

    download_url(url, dest, expected_sha256=SHA, progress=False)
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == SHA
    assert not part.exists()
    assert server.requests[-1][1].get("Range") == "bytes=100000-"


def test_retries_resume_within_one_call(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    server.cut_after, server.cuts_left = 50_000, 2
    dest = download_url(server.url + "blob.bin", tmp_path / "b.bin", expected_sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD
    ranges = [h.get("Range") for _, h in server.requests]
    assert ranges == [None, "bytes=50000-", "bytes=100000-"]


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    server.honour_range = False
    (tmp_path / "blob.bin.part").write_bytes(b"stale bytes from another file")
    dest = download_url(server.url + "blob.bin", tmp_path / "blob.bin", expected_sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_on_416(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD)
    dest = download_url(server.url + "blob.bin", tmp_path / "blob.bin", expected_sha256=SHA, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_and_http_error(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    with pytest.raises(ChecksumError, match="SHA-256 mismatch"):
        download_url(server.url + "blob.bin", tmp_path / "x.bin", expected_sha256="0" * 64, progress=False)
    assert not (tmp_path / "x.bin").exists() and not (tmp_path / "x.bin.part").exists()
    with pytest.raises(DownloadError) as err:
        download_url(server.url + "nope.bin", tmp_path / "nope.bin", progress=False)
    assert "404" in str(err.value) and "nope.bin" in str(err.value) and str(tmp_path) in str(err.value)
    assert len([p for p, _ in server.requests if p == "/nope.bin"]) == 1  # no retry on 404


def test_gdrive_template_and_mirror(server, tmp_path, monkeypatch):
    server.files["gd/FILEID123"] = b"split-json"
    server.files["mirror/archive.tgz"] = b"from-mirror"
    out = download_gdrive(
        "FILEID123", tmp_path / "s.json", url_template=server.url + "gd/{id}", progress=False
    )
    assert out.read_bytes() == b"split-json"
    monkeypatch.setenv("RAMT_GDRIVE_URL_TEMPLATE", server.url + "gd/{id}")
    assert download_gdrive("FILEID123", tmp_path / "t.json", progress=False).read_bytes() == b"split-json"
    # a mirror rewrites any source (URL or Google-Drive id) to <mirror>/<file name>
    got = fetch(
        tmp_path / "archive.tgz", url="http://unreachable.invalid/a.tgz", mirror=server.url + "mirror/"
    )
    assert got.read_bytes() == b"from-mirror"
    monkeypatch.setenv("RAMT_DOWNLOAD_MIRROR", server.url + "mirror")
    (tmp_path / "archive.tgz").unlink()
    assert fetch(tmp_path / "archive.tgz", gdrive_id="whatever").read_bytes() == b"from-mirror"


# --------------------------------------------------------------------------- extraction


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz", ".tar", ".zip"])
def test_extract_formats(tmp_path, suffix):
    members = {"top/a.txt": b"A", "top/sub/b.txt": b"B"}
    if suffix == ".zip":
        data = _zip(members)
    elif suffix == ".tar":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for name, d in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(d)
                tf.addfile(info, io.BytesIO(d))
        data = buf.getvalue()
    else:
        data = _tar_gz(members)
    archive = tmp_path / f"arch{suffix}"
    archive.write_bytes(data)
    created = extract(archive, tmp_path / "out")
    assert [p.name for p in created] == ["top"]
    assert (tmp_path / "out/top/sub/b.txt").read_bytes() == b"B"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["top"]  # no temp folder left


@pytest.mark.parametrize("suffix", [".tar.gz", ".zip"])
def test_corrupt_archive_is_reported_and_quarantined(tmp_path, suffix):
    members = {f"top/f{i}.bin": os.urandom(20_000) for i in range(5)}
    data = _zip(members) if suffix == ".zip" else _tar_gz(members)
    archive = tmp_path / f"broken{suffix}"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError) as err:
        extract(archive, tmp_path / "out")
    assert f"broken{suffix}" in str(err.value)
    assert not archive.exists() and (tmp_path / f"broken{suffix}.corrupt").exists()
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("bad", ["../evil.txt", "/abs/evil.txt", "ok/../../evil.txt"])
def test_unsafe_member_paths_rejected(tmp_path, bad):
    for maker, suffix in ((_tar_gz, ".tar.gz"), (_zip, ".zip")):
        archive = tmp_path / f"a{suffix}"
        archive.write_bytes(maker({"fine.txt": b"x", bad: b"evil"}))
        with pytest.raises(UnsafeArchiveError):
            extract(archive, tmp_path / "out" / "deep")
        assert archive.exists()  # not quarantined: the file is intact, just unsafe
    assert not list(tmp_path.rglob("evil.txt"))
