"""Resumable downloads (plain HTTP and Google Drive) and safe archive extraction.

* :func:`download_url` writes to ``<dest>.part``, resumes it with an HTTP ``Range`` request,
  restarts cleanly when the server ignores ``Range``, checks size / SHA-256 and renames the
  file into place atomically.
* :func:`download_gdrive` uses gdown (imported lazily). When ``RAMT_GDRIVE_URL_TEMPLATE``
  is set (e.g. ``http://127.0.0.1:8000/gdrive/{id}``) Google-Drive ids are fetched from that
  plain-HTTP address instead, which is how the tests and private mirrors work offline.
* :func:`resolve_mirror` rewrites any source to ``<mirror>/<file name>``
  (``RAMT_DOWNLOAD_MIRROR``); a mirror must deliver byte-identical files.
* :func:`extract` unpacks ``.tar``, ``.tar.gz``/``.tgz`` and ``.zip`` into a temporary folder,
  rejects unsafe member paths, then moves the result into place. A corrupt or truncated
  archive raises :class:`ArchiveError` naming the file and is renamed to ``*.corrupt`` so that
  a re-run fetches it again.
"""

from __future__ import annotations

import gzip
import http.client
import lzma
import os
import re
import shutil
import socket
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Optional, Union

from ramt.utils.io import sha256_file as sha256sum

__all__ = [
    "ArchiveError",
    "UnsafeArchiveError",
    "ChecksumError",
    "DownloadError",
    "GDRIVE_TEMPLATE_ENV",
    "MIRROR_ENV",
    "download_gdrive",
    "download_url",
    "extract",
    "fetch",
    "move_into",
    "resolve_mirror",
    "sha256sum",
]

MIRROR_ENV = "RAMT_DOWNLOAD_MIRROR"
GDRIVE_TEMPLATE_ENV = "RAMT_GDRIVE_URL_TEMPLATE"
_CHUNK = 1 << 16
_USER_AGENT = "ramt-prepare/1.0 (+python urllib)"

PathLike = Union[str, os.PathLike]


class DownloadError(RuntimeError):
    """A transfer failed; the message names the URL and the destination."""


class HTTPStatusError(DownloadError):
    """The server answered with an error status (``code``)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class ChecksumError(DownloadError):
    """The downloaded file does not have the expected size or SHA-256."""


class ArchiveError(RuntimeError):
    """An archive is corrupt, truncated, of an unknown type or has unsafe members."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would land outside the destination (absolute path, '..', link)."""


def _progress(total: Optional[int], initial: int, desc: str, enabled: Optional[bool]):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency

        class _Null:
            def update(self, n):
                pass

            def close(self):
                pass

        return _Null()
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        file=sys.stderr,
        disable=(not enabled) if enabled is not None else None,
        leave=False,
    )


def _content_range(header: Optional[str]) -> tuple[Optional[int], Optional[int]]:
    """Parse ``bytes START-END/TOTAL`` (or ``bytes */TOTAL``) -> (start, total)."""
    if not header:
        return None, None
    m = re.match(r"\s*bytes\s+(\d+|\*)(?:-\d+)?/(\d+|\*)", header)
    if not m:
        return None, None
    start = None if m.group(1) == "*" else int(m.group(1))
    total = None if m.group(2) == "*" else int(m.group(2))
    return start, total


def _check_complete(
    path: Path, url: str, dest: Path, expected_sha256: Optional[str], expected_size: Optional[int]
) -> None:
    if expected_size is not None and path.stat().st_size != expected_size:
        size = path.stat().st_size
        path.unlink()
        raise ChecksumError(
            f"size mismatch for {url} -> {dest}: got {size} bytes, expected {expected_size}; "
            "the partial file was deleted, re-run to download again"
        )
    if expected_sha256:
        got = sha256sum(path)
        if got.lower() != expected_sha256.lower():
            path.unlink()
            raise ChecksumError(
                f"SHA-256 mismatch for {url} -> {dest}: got {got}, expected {expected_sha256}; "
                "the file was deleted, re-run to download again (a mirror must serve byte-identical files)"
            )


def _transfer_once(url: str, dest: Path, part: Path, resume: bool, timeout: float, progress) -> None:
    """One HTTP request; appends to ``part``. Raises DownloadError on interruption."""
    offset = part.stat().st_size if (resume and part.exists()) else 0
    if not resume and part.exists():
        part.unlink()
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            _, total = _content_range(e.headers.get("Content-Range"))
            if total is not None and total == offset:
                return  # the partial file is already complete
            part.unlink()  # stale partial file: start again on the next attempt
            raise DownloadError(
                f"server refused to resume {url} -> {dest} (HTTP 416); partial file discarded"
            ) from e
        raise HTTPStatusError(f"HTTP {e.code} {e.reason} while downloading {url} -> {dest}", e.code) from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"cannot download {url} -> {dest}: {reason}") from e

    with resp:
        status = resp.status
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        mode = "ab"
        if offset and status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start is not None and start != offset:
                offset, mode = 0, "wb"  # unexpected range: restart cleanly
                part.unlink()
                raise DownloadError(
                    f"server answered a different range for {url} -> {dest}; partial file discarded, retry"
                )
        elif offset:
            offset, mode = 0, "wb"  # server ignored Range (HTTP 200): restart from byte 0
        total = (offset + length) if length is not None else None
        bar = _progress(total, offset, dest.name, progress)
        received = 0
        try:
            with open(part, mode) as f:
                while True:
                    try:
                        chunk = resp.read(_CHUNK)
                    except (http.client.IncompleteRead, OSError, socket.timeout) as e:
                        raise DownloadError(
                            f"transfer of {url} -> {dest} interrupted after {offset + received} bytes "
                            f"({e.__class__.__name__}); re-run to resume from {part}"
                        ) from e
                    if not chunk:
                        break
                    f.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
        if length is not None and received < length:
            raise DownloadError(
                f"transfer of {url} -> {dest} interrupted after {offset + received} of {total} bytes; "
                f"re-run to resume from {part}"
            )


def download_url(
    url: str,
    dest: PathLike,
    expected_sha256: Optional[str] = None,
    resume: bool = True,
    timeout: float = 60.0,
    expected_size: Optional[int] = None,
    retries: int = 2,
    progress: Optional[bool] = None,
) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); return ``dest``.

    An existing ``dest`` is kept when it passes the checks. ``retries`` further attempts
    (each resuming) are made after an interrupted transfer; if all fail the partial file is
    kept and :class:`DownloadError` is raised, so a later call resumes it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            _check_complete(dest, url, dest, expected_sha256, expected_size)
            return dest
        except ChecksumError:
            pass  # deleted by the check: download again
    part = dest.with_name(dest.name + ".part")
    last: Optional[DownloadError] = None
    for _ in range(max(0, retries) + 1):
        try:
            _transfer_once(url, dest, part, resume, timeout, progress)
            last = None
            break
        except ChecksumError:
            raise
        except DownloadError as e:
            last = e
            if isinstance(e, HTTPStatusError) and 400 <= e.code < 500:
                break  # client errors (404, 403...) will not go away by retrying
    if last is not None:
        raise last
    _check_complete(part, url, dest, expected_sha256, expected_size)
    os.replace(part, dest)
    return dest


def resolve_mirror(filename: str, mirror: Optional[str] = None) -> Optional[str]:
    """``<mirror>/<filename>`` for the given or environment mirror, else None."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    if not mirror:
        return None
    return mirror.rstrip("/") + "/" + filename


def download_gdrive(
    file_id: str,
    dest: PathLike,
    expected_sha256: Optional[str] = None,
    url_template: Optional[str] = None,
    progress: Optional[bool] = None,
    timeout: float = 60.0,
    retries: int = 2,
) -> Path:
    """Download a Google-Drive file by id.

    With ``url_template`` (or ``RAMT_GDRIVE_URL_TEMPLATE``), ``{id}`` is substituted and the
    file is fetched with :func:`download_url` (plain HTTP, resumable). Otherwise gdown is used.
    """
    dest = Path(dest)
    template = url_template if url_template is not None else os.environ.get(GDRIVE_TEMPLATE_ENV, "")
    if template:
        url = template.format(id=file_id) if "{id}" in template else template.rstrip("/") + "/" + file_id
        return download_url(
            url, dest, expected_sha256=expected_sha256, progress=progress, timeout=timeout, retries=retries
        )
    page = f"https://drive.google.com/file/d/{file_id}/view"
    if dest.exists():
        try:
            _check_complete(dest, page, dest, expected_sha256, None)
            return dest
        except ChecksumError:
            pass
    try:
        import gdown
    except ImportError as e:
        raise DownloadError(
            f"gdown is needed to download Google-Drive file {file_id} -> {dest}: pip install gdown "
            f"(or download {page} by hand and save it as {dest})"
        ) from e
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        out = gdown.download(id=file_id, output=str(part), quiet=progress is False, resume=True)
    except Exception as e:  # gdown raises various exception types
        raise DownloadError(
            f"Google-Drive download of {file_id} -> {dest} failed: {e}. "
            f"Download {page} by hand and save it as {dest}, then re-run."
        ) from e
    if not out or not part.exists():
        raise DownloadError(
            f"Google-Drive download of {file_id} -> {dest} failed (quota or permission?). "
            f"Download {page} by hand and save it as {dest}, then re-run."
        )
    _check_complete(part, page, dest, expected_sha256, None)
    os.replace(part, dest)
    return dest


def fetch(
    dest: PathLike,
    url: str = "",
    gdrive_id: str = "",
    expected_sha256: Optional[str] = None,
    expected_size: Optional[int] = None,
    mirror: Optional[str] = None,
    progress: Optional[bool] = None,
) -> Path:
    """Download one resource, honouring a mirror (which serves every file by its name)."""
    dest = Path(dest)
    mirrored = resolve_mirror(dest.name, mirror)
    if mirrored:
        return download_url(
            mirrored, dest, expected_sha256=expected_sha256, expected_size=expected_size, progress=progress
        )
    if url:
        return download_url(
            url, dest, expected_sha256=expected_sha256, expected_size=expected_size, progress=progress
        )
    if gdrive_id:
        return download_gdrive(gdrive_id, dest, expected_sha256=expected_sha256, progress=progress)
    raise ValueError(f"no source for {dest}")


# --------------------------------------------------------------------------- extraction


def _archive_kind(path: Path) -> str:
    name = path.name.lower()
    if zipfile.is_zipfile(path):
        return "zip"
    if name.endswith(".zip"):
        return "zip"  # named zip but unreadable: reported as corrupt below
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")):
        return "tar"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        pass
    raise ArchiveError(f"{path}: unknown archive type (expected .tar, .tar.gz, .tgz or .zip)")


def _safe_member(name: str, archive: Path) -> str:
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise UnsafeArchiveError(f"{archive}: unsafe absolute member path {name!r}")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: unsafe member path {name!r} (contains '..')")
    return "/".join(parts)


_CORRUPT_ERRORS = (
    tarfile.TarError,
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    lzma.LZMAError,
)


def _quarantine(archive: Path) -> Path:
    bad = archive.with_name(archive.name + ".corrupt")
    try:
        os.replace(archive, bad)
    except OSError:
        return archive
    return bad


def _extract_into(archive: Path, kind: str, tmp: Path) -> None:
    if kind == "zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = _safe_member(info.filename, archive)
                if not rel:
                    continue
                target = tmp / rel
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
        return
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            rel = _safe_member(member.name, archive)
            if not rel:
                continue
            if member.issym() or member.islnk():
                link = member.linkname.replace("\\", "/")
                if link.startswith("/") or ".." in link.split("/"):
                    raise UnsafeArchiveError(f"{archive}: unsafe link {member.name!r} -> {member.linkname!r}")
            elif not (member.isfile() or member.isdir()):
                continue  # devices, fifos: never extracted
            member.name = rel
            if hasattr(tarfile, "data_filter"):
                tf.extract(member, tmp, filter="data")
            else:  # pragma: no cover - Python < 3.11.4
                tf.extract(member, tmp)


def extract(archive: PathLike, dest: PathLike, quarantine: bool = True) -> list[Path]:
    """Extract ``archive`` into ``dest``; return the top-level paths created in ``dest``.

    Extraction happens in a temporary folder next to ``dest`` that is then moved into place,
    so a failure leaves ``dest`` untouched. On a corrupt/truncated archive an
    :class:`ArchiveError` naming the file is raised and (with ``quarantine``) the archive is
    renamed to ``<name>.corrupt`` so that the next run downloads it again.
    """
    archive = Path(archive)
    dest = Path(dest)
    if not archive.is_file():
        raise ArchiveError(f"{archive}: archive not found")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        try:
            kind = _archive_kind(archive)
            _extract_into(archive, kind, tmp)
        except UnsafeArchiveError:
            raise
        except ArchiveError as e:
            if quarantine:
                bad = _quarantine(archive)
                raise ArchiveError(f"{e}; moved to {bad}, re-run to download it again") from e
            raise
        except _CORRUPT_ERRORS as e:
            msg = f"{archive}: corrupt or truncated archive ({e.__class__.__name__}: {e})"
            if quarantine:
                bad = _quarantine(archive)
                msg += f"; moved to {bad}, re-run to download it again"
            raise ArchiveError(msg) from e
        created = []
        for entry in sorted(tmp.iterdir()):
            target = dest / entry.name
            if target.exists():
                _merge(entry, target)
            else:
                os.replace(entry, target)
            created.append(target)
        return created
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _merge(src: Path, dst: Path) -> None:
    """Move ``src`` onto ``dst`` without overwriting existing files (directories merge)."""
    if src.is_dir() and not src.is_symlink() and dst.is_dir():
        for child in src.iterdir():
            target = dst / child.name
            if target.exists() or target.is_symlink():
                _merge(child, target)
            else:
                os.replace(child, target)
        return
    # an existing file (or a file/dir clash) is kept as it is


def move_into(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; merge into an existing directory, never overwriting files."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        _merge(src, dst)
    else:
        try:
            os.replace(src, dst)
        except OSError:
            shutil.move(str(src), str(dst))
