"""Reading small publisher CSV files as text, for connectors whose cells need a look before typing.

Every cell stays a string (a value like "1.445,80" or "n/d" must reach the validator as published),
every record keeps its file name and 1-based record number (header = 1), and a body that is not
CSV at all (an HTML error page saved as .csv, an empty download) is refused with a SourceError that
names the file and the broken rule instead of surfacing as an obscure reader error.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from flows.sources.http import SourceError

_HEAD_BYTES = 4096


def looks_like_html(body: bytes) -> bool:
    """An error page served where data was expected (often with status 200)."""
    head = body[:_HEAD_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype", b"<html", b"<head", b"<body", b"<?xml")) or b"<html" in head


def check_csv_body(body: bytes, *, source: str, required: Sequence[str], url: str | None = None,
                   file: str | None = None) -> list[str]:
    """Refuse a body that is not a CSV with the required columns; return its header."""
    where = {"url": url, "file": file}
    if looks_like_html(body):
        raise SourceError("got an HTML page where CSV was expected", source=source, rule="not_csv", **where)
    text = body[:_HEAD_BYTES].decode("utf-8-sig", errors="replace")
    if not text.strip():
        raise SourceError("the file is empty", source=source, rule="not_csv", **where)
    header = [h.strip() for h in next(csv.reader(io.StringIO(text.splitlines()[0])))]
    missing = [c for c in required if c not in header]
    if missing:
        raise SourceError(f"header {header} lacks column(s) {missing}", source=source, rule="header", row=1, **where)
    return header


def read_csv_text(path: Path, *, source: str, required: Sequence[str]) -> pa.Table:
    """All columns as strings, plus source_file (the name) and source_row (record number, header = 1)."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(_HEAD_BYTES)
    header = check_csv_body(head, source=source, required=required, file=path.name)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                 strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise SourceError(f"not a readable CSV ({exc})", source=source, rule="not_csv", file=path.name) from None
    table = table.rename_columns([c.strip().lstrip("\ufeff") for c in table.column_names])
    n = table.num_rows
    return (table.append_column("source_file", pa.array([path.name] * n, pa.string()))
                 .append_column("source_row", pa.array(range(2, n + 2), pa.int64())))
