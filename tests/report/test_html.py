"""The HTML page: the same tables as the Markdown, figures linked relatively, and it renders in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ramt.report import write_report
from tests.report.fabricate import fabricate_sweep


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = fabricate_sweep(tmp_path_factory.mktemp("sweep"))
    files = write_report(out, published=True)
    return files


def test_index_has_the_markdown_tables_and_relative_figures(report):
    page = report["index.html"].read_text(encoding="utf-8")
    md_tables = sum(
        len(re.findall(r"^\|(?:---\|)+$", report[name].read_text(encoding="utf-8"), flags=re.M))
        for name in ("fewshot_table.md", "base2new_table.md", "domain_generalisation_table.md")
    )
    assert page.count("<table>") == md_tables > 10
    assert "<td>Tip-Adapter (published)</td>" in page and "Tip-Adapter-F {official}‡ (Δ)" in page
    assert "test data was used for selection" in page
    srcs = re.findall(r"<img src='([^']+)'", page)
    assert "fewshot_average.png" in srcs and "base2new.png" in srcs and "domain_generalisation.png" in srcs
    for src in srcs:
        assert "/" not in src and not src.startswith("http")
        assert (report["index.html"].parent / src).is_file()
    assert "http://" not in page and "https://" not in page  # opens from disk, nothing fetched


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_index_renders_in_headless_chromium(report, tmp_path):
    from PIL import Image

    index = report["index.html"]
    shot = tmp_path / "index.png"
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    subprocess.run(
        [*common, "--window-size=1400,1800", f"--screenshot={shot}", index.resolve().as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    img = Image.open(shot).convert("L")
    assert img.size == (1400, 1800)
    lo, hi = img.getextrema()
    assert hi - lo > 100  # text and table borders, not a blank page
    dom = subprocess.run(
        [*common, "--dump-dom", index.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert dom.count("<table>") == index.read_text(encoding="utf-8").count("<table>")
    assert "R-AMT (published)" in dom


def test_report_figures_exist(report):
    names = {Path(p).name for p in report}
    for stem in ("fewshot_average", "fewshot_caltech101", "base2new", "domain_generalisation"):
        assert f"{stem}.png" in names and f"{stem}.pdf" in names
