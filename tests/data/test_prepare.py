"""End-to-end `prepare` of small fabricated datasets served from 127.0.0.1, and --help."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from ramt import catalogue as sources
from ramt.catalogue import DatasetSource, Expected, Resource
from ramt.data import prepare

TINY = Expected(classes=2, train=4, val=2, test=2)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """(folder served over HTTP, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 40)).save(buf, "JPEG")
    return buf.getvalue()


def _tiny_split(classes=("Forest", "River")):
    """(relative image paths, split dict) with 2/1/1 images per class."""
    split = {"train": [], "val": [], "test": []}
    paths = []
    for label, cname in enumerate(classes):
        i = 0
        for key, n in (("train", 2), ("val", 1), ("test", 1)):
            for _ in range(n):
                rel = f"{cname}/{cname}_{i}.jpg"
                paths.append(rel)
                split[key].append([rel, label, cname])
                i += 1
    return paths, split


def _eurosat_files(www):
    paths, split = _tiny_split()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for rel in paths:
            zf.writestr(f"2750/{rel}", _jpeg_bytes())
    (www / "EuroSAT.zip").write_bytes(buf.getvalue())
    (www / "split_zhou_EuroSAT.json").write_text(json.dumps(split))
    return buf.getvalue()


@pytest.fixture
def tiny_eurosat(monkeypatch):
    monkeypatch.delenv("RAMT_DOWNLOAD_MIRROR", raising=False)
    entry = dataclasses.replace(sources.CATALOGUE["eurosat"], expected=TINY)
    monkeypatch.setitem(sources.CATALOGUE, "eurosat", entry)


def test_prepare_eurosat_end_to_end_via_mirror(tmp_path, served, tiny_eurosat):
    www, url = served
    _eurosat_files(www)
    root = tmp_path / "DATA"
    lines: list[str] = []
    code = prepare.main(["eurosat", "--root", str(root), "--mirror", url, "--no-progress"], log=lines.append)
    assert code == 0, "\n".join(lines)
    folder = root / "eurosat"
    assert (folder / "2750/Forest/Forest_0.jpg").is_file()
    assert (folder / "split_zhou_EuroSAT.json").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["eurosat"]  # downloads/staging cleaned up
    assert any("[OK]" in ln for ln in lines)

    # a second run never touches the complete folder
    (www / "EuroSAT.zip").unlink()
    lines.clear()
    assert prepare.main(["eurosat", "--root", str(root), "--mirror", url], log=lines.append) == 0
    assert any("already prepared" in ln for ln in lines)

    # a broken folder is reported, not overwritten, unless --force
    (folder / "2750/River/River_3.jpg").unlink()
    lines.clear()
    assert prepare.main(["eurosat", "--root", str(root), "--mirror", url], log=lines.append) == 1
    assert any("--force" in ln for ln in lines) and not (folder / "2750/River/River_3.jpg").exists()
    _eurosat_files(www)
    args = ["eurosat", "--root", str(root), "--mirror", url, "--force", "--keep-archives", "--no-progress"]
    assert prepare.main(args, log=lines.append) == 0
    assert (folder / "2750/River/River_3.jpg").is_file()
    assert (root / ".ramt-downloads" / "EuroSAT.zip").is_file()


def test_corrupt_archive_is_reported_then_refetched(tmp_path, served, tiny_eurosat):
    www, url = served
    good = _eurosat_files(www)
    (www / "EuroSAT.zip").write_bytes(good[: len(good) // 2])
    root = tmp_path / "DATA"
    lines: list[str] = []
    assert (
        prepare.main(["eurosat", "--root", str(root), "--mirror", url, "--no-progress"], log=lines.append)
        == 1
    )
    text = "\n".join(lines)
    assert "EuroSAT.zip" in text and "corrupt" in text
    assert (root / ".ramt-downloads" / "EuroSAT.zip.corrupt").exists()

    (www / "EuroSAT.zip").write_bytes(good)  # the mirror is fixed: a re-run downloads again
    lines.clear()
    assert (
        prepare.main(["eurosat", "--root", str(root), "--mirror", url, "--no-progress"], log=lines.append)
        == 0
    )


def test_prepare_with_nested_archive_and_gdrive_ids(tmp_path, served, monkeypatch):
    """An FGVC/DTD-like archive (keep one sub-folder) plus a split fetched by Google-Drive id."""
    www, url = served
    paths, split = _tiny_split(("banded", "woven"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for rel in paths:
            data = _jpeg_bytes()
            info = tarfile.TarInfo(f"pack-1.0/data/images/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("pack-1.0/evaluation.m")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    (www / "pack.tar.gz").write_bytes(buf.getvalue())
    (www / "gd").mkdir()
    (www / "gd" / "SPLITID").write_text(json.dumps(split))
    monkeypatch.setenv("RAMT_GDRIVE_URL_TEMPLATE", url + "gd/{id}")
    monkeypatch.delenv("RAMT_DOWNLOAD_MIRROR", raising=False)
    src = DatasetSource(
        name="toy",
        registry="Toy",
        title="toy",
        folder="toy_folder",
        image_prefix="images",
        layout="json",
        split_file="split_toy.json",
        expected=TINY,
        resources=(
            Resource(
                "pack.tar.gz", url=url + "pack.tar.gz", marker="images", place=(("pack-1.0/data", "."),)
            ),
            Resource("split_toy.json", gdrive_id="SPLITID", kind="file"),
        ),
    )
    out = prepare.prepare_dataset(src, tmp_path / "DATA", progress=False, log=lambda s: None)
    assert out.status == "prepared", out.messages
    folder = tmp_path / "DATA" / "toy_folder"
    assert sorted(p.name for p in folder.iterdir()) == ["images", "split_toy.json"]

    # only the missing part is fetched again for an incomplete folder
    (folder / "split_toy.json").unlink()
    (www / "pack.tar.gz").unlink()
    out = prepare.prepare_dataset(src, tmp_path / "DATA", progress=False, log=lambda s: None)
    assert out.status == "prepared", out.messages


def test_manual_dataset_prints_steps(tmp_path, monkeypatch):
    monkeypatch.delenv("RAMT_DOWNLOAD_MIRROR", raising=False)
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "classnames.txt").write_text("".join(f"n{i:08d} name {i}\n" for i in range(1000)))
    lines: list[str] = []
    code = prepare.main(
        ["imagenet_a", "--root", str(tmp_path / "DATA"), "--splits-dir", str(splits)], log=lines.append
    )
    assert code == prepare.EXIT_MANUAL
    text = "\n".join(lines)
    assert "natural-adv-examples" in text and "imagenet-adversarial/imagenet-a" in text
    assert (tmp_path / "DATA/imagenet-adversarial/classnames.txt").is_file()

    lines.clear()
    assert prepare.main(["digits", "--root", str(tmp_path / "DATA")], log=lines.append) == 0


def test_help_mentions_every_dataset_and_source():
    text = prepare.build_parser().format_help()
    for src in sources.CATALOGUE.values():
        assert src.name in text
        if src.folder:
            assert f"$DATA/{src.folder}/" in text
        for res in src.resources:
            assert (res.url or res.gdrive_id) in text
        for step in src.manual_steps:
            assert step.split()[1] in text
    for name in ("imagenet", "imagenet_sketch", "imagenet_a", "imagenet_r"):
        assert f"{name} -> " in text
    assert text.count("[MANUAL") == 4
    proc = subprocess.run(
        [sys.executable, "-m", "ramt.data.prepare", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "image-net.org" in proc.stdout and "ucf101" in proc.stdout
