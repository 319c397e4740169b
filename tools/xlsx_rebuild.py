"""Rebuild a publisher's xlsx export with openpyxl, keeping its layout, for a bundled snapshot.

Re-serialising an export (OLADE sieLAC, CEPALSTAT) cell by cell (values, fonts, fills, borders,
number formats, column widths, frozen panes) gives a workbook with the publisher's sheets, cells
and layout, while letting a snapshot keep only the sheets, rows and columns the project reads. Saving is deterministic (fixed document dates and zip entry
times), so the manifest's sha256 only changes when the content does.
"""
from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from copy import copy
from datetime import datetime
from pathlib import Path

from openpyxl.cell import _writer as cell_writer
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def copy_sheet(src: Worksheet, dst: Worksheet, columns: list[int] | None = None) -> None:
    """Copy every row of src into dst; `columns` (1-based, in order) keeps only those columns."""
    keep = columns or list(range(1, src.max_column + 1))
    for new_col, old_col in enumerate(keep, start=1):
        width = src.column_dimensions[get_column_letter(old_col)].width
        if width:
            dst.column_dimensions[get_column_letter(new_col)].width = width
    for row in range(1, src.max_row + 1):
        for new_col, old_col in enumerate(keep, start=1):
            cell = src.cell(row, old_col)
            out = dst.cell(row, new_col, cell.value)
            if cell.has_style:
                out.font, out.fill, out.border = copy(cell.font), copy(cell.fill), copy(cell.border)
                out.alignment, out.number_format = copy(cell.alignment), cell.number_format
    dst.freeze_panes = src.freeze_panes


def save(wb: Workbook, path: Path, when: datetime) -> None:
    """Save with the capture time as the document dates and fixed zip entry times."""
    wb.properties.created = wb.properties.modified = when
    wb.properties.creator = "openpyxl"
    buffer = io.BytesIO()
    with _exact_numbers():
        wb.save(buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(buffer) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" with the save time
                data = _fixed_modified(data, when)
            zout.writestr(zipfile.ZipInfo(info.filename, ZIP_EPOCH), data, zipfile.ZIP_DEFLATED)


@contextmanager
def _exact_numbers() -> Iterator[None]:
    """openpyxl writes numbers as '%.16g', dropping the 17th digit some published figures have
    (1103.9541639767592 -> 1103.954163976759); write the shortest exact form (repr) instead, so
    every figure reads back as the very double the publisher wrote."""
    original = cell_writer.safe_string

    def exact(value: object) -> str:
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        return original(value)

    cell_writer.safe_string = exact
    try:
        yield
    finally:
        cell_writer.safe_string = original


def _fixed_modified(core: bytes, when: datetime) -> bytes:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    return re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>", core)




def check_provenance(folder: Path, *needles: str) -> None:
    """Fail the build when the source folder's PROVENANCE.md no longer says what we copy from it."""
    text = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    missing = [n for n in needles if n not in text]
    if missing:
        raise SystemExit(f"{folder}/PROVENANCE.md does not mention {missing}: check the origin before rebuilding")
