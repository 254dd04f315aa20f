"""Tables are safe for any label (issue 20, item 6): a ``|`` in a backbone label shifts no column.

The Markdown cells escape it; the HTML page builds its tables from the same data, cell by cell. The
structure of both is checked here; the page is also loaded in headless Chromium when it is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from ramt.report import write_report
from tests.report.fabricate import make_cfg, write_run

LABEL = "ViT-X | odd (file a|b.pt, unverified)"
ROW = f"R-AMT [{LABEL}]†"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipe")
    for seed, acc in ((1, 50.0), (2, 52.0)):
        folder = write_run(
            out / "caltech101/RAMT/vit_b16_16shots" / f"seed{seed}",
            make_cfg("RAMT", "caltech101", 16, seed),
            result=acc,
            json_result=acc,
        )
        data = json.loads((folder / "results.json").read_text())
        (folder / "results.json").write_text(json.dumps(dict(data, backbone=LABEL)))
    return write_report(out, published=True, plots=False)


def _md_rows(md: str) -> list[list[str]]:
    """Rows of every Markdown table, split on unescaped pipes, with ``\\|`` read back as ``|``."""
    rows = []
    for line in md.splitlines():
        if line.startswith("| "):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            rows.append([c.strip().replace("\\|", "|") for c in cells])
        elif line.startswith("|---"):
            rows.append(["---"] * line.count("---"))
    return rows


def test_markdown_cells_escape_the_pipe(report):
    md = report["fewshot_table.md"].read_text(encoding="utf-8")
    assert "R-AMT [ViT-X \\| odd (file a\\|b.pt, unverified)]†" in md
    rows = _md_rows(md)
    header = rows[0]
    ours = [r for r in rows if r[0] == ROW]
    assert ours and all(len(r) == len(header) for r in ours)
    assert ours[0][header.index("Caltech101")] == "51.00 ± 1.00 (2)"


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def test_html_tables_are_built_from_data(report):
    page = report["index.html"].read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(page)
    first = parser.rows[0]
    ours = [r for r in parser.rows if r and r[0] == ROW]
    assert ours and len(ours[0]) == len(first)
    assert ours[0][first.index("Caltech101")] == "51.00 ± 1.00 (2)"
    assert "\\|" not in page  # no Markdown escape leaks into the page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_pipe_label_renders_in_headless_chromium(report):
    index = report["index.html"].resolve().as_uri()
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", index],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    parser = _Tables()
    parser.feed(dom)
    ours = [r for r in parser.rows if r and r[0] == ROW]
    assert ours and len(ours[0]) == len(parser.rows[0])
