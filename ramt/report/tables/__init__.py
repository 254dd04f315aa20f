"""Markdown and CSV tables from the tidy run table (see ``collect.collect_runs``), one module per table.

``common`` (cells, labels, tables as data), ``fewshot``, ``missing``, ``base2new``, ``dg``; a table is
built as data (:class:`Table`) and rendered to Markdown here and to HTML by ``ramt.report.html``.

Conventions (docs/METHOD_SPEC.md section 10, docs/ENGINE.md "Results and their parsing"):
- a cell is ``mean ± std (n)`` over the finished seeds, with the population std (ddof = 0), as
  CoOp's ``parse_test_res.py`` prints it; crashed and missing seeds are never averaged, they are
  listed in the missing/crashed section;
- the Average is the unweighted mean of the dataset means *present for that row*, and the cell
  says over how many datasets it was taken;
- rows whose backbone is not ViT-B/16 are marked as not comparable with the published numbers;
- base-to-new: H per dataset from the seed-averaged B and N; the average row's H from the
  dataset-averaged B and N (the CoCoOp convention).
"""

from __future__ import annotations

from ramt.report.tables.base2new import base2new_blocks, base2new_summary, base2new_table_md
from ramt.report.tables.common import (
    DASH,
    DEFAULT_SEEDS,
    DEFAULT_SELECTION,
    NOT_COMPARABLE,
    USES_TEST,
    Block,
    Table,
    _fmt,
    _md_table,
    _ok,
    _rows,
    _selection_of,
    comparable,
    dg_source_runs,
    format_cell,
    harmonic_mean,
    md_cell,
    render_md,
    row_keys,
    row_label,
    seed_stats,
    select_row,
    table_md,
)
from ramt.report.tables.dg import dg_blocks, dg_table_md
from ramt.report.tables.fewshot import fewshot_blocks, fewshot_summary, fewshot_table_md
from ramt.report.tables.missing import missing_blocks, missing_md, missing_runs

__all__ = [
    "DASH",
    "DEFAULT_SEEDS",
    "DEFAULT_SELECTION",
    "NOT_COMPARABLE",
    "USES_TEST",
    "Block",
    "Table",
    "_fmt",
    "_md_table",
    "_ok",
    "_rows",
    "_selection_of",
    "base2new_blocks",
    "base2new_summary",
    "base2new_table_md",
    "comparable",
    "dg_blocks",
    "dg_source_runs",
    "dg_table_md",
    "fewshot_blocks",
    "fewshot_summary",
    "fewshot_table_md",
    "format_cell",
    "harmonic_mean",
    "md_cell",
    "missing_blocks",
    "missing_md",
    "missing_runs",
    "render_md",
    "row_keys",
    "row_label",
    "seed_stats",
    "select_row",
    "table_md",
]
