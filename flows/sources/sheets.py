"""What the Spanish-language spreadsheet exports (OLADE sieLAC, CEPALSTAT) have in common.

Both publishers export xlsx files meant for people: country names in Spanish with accents
(`Panamá`), labels padded with spaces, empty cells for "no data". The helpers here open such a
file safely (an HTML error page saved as .xlsx is refused, not crashed on), read a cell as a number
or as the text it holds, map a Spanish country name to ISO3, and collect parsed rows as Arrow
columns so each connector only describes its own layout.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook

from flows.config import PROJECT_ROOT
from flows.sources.http import SourceError

XLSX_MAGIC = b"PK\x03\x04"  # an xlsx file is a zip archive
COUNTRIES_CSV = PROJECT_ROOT / "data" / "catalog" / "countries.csv"

# The names the two publishers print for the catalog's countries (Spanish; accents optional on
# input, see country_iso3). Countries outside the catalog are deliberately absent.
SPANISH_NAMES = {
    "Belice": "BLZ",
    "Costa Rica": "CRI",
    "El Salvador": "SLV",
    "Guatemala": "GTM",
    "Honduras": "HND",
    "México": "MEX",
    "Nicaragua": "NIC",
    "Panamá": "PAN",
    "Estados Unidos": "USA",
    "Estados Unidos de América": "USA",
}


def fold(text: str) -> str:
    """Accent-, case- and spacing-insensitive form of a label ('  Panamá ' -> 'panama')."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.split()).casefold()


def slug(text: str) -> str:
    """A breakdown value from a label: 'Biomasa sólida' -> 'biomasa_solida'."""
    return re.sub(r"[^a-z0-9]+", "_", fold(text)).strip("_")


_BY_FOLDED = {fold(name): iso3 for name, iso3 in SPANISH_NAMES.items()}


def country_iso3(name: str) -> str | None:
    """ISO3 of a catalog country named in Spanish, with or without accents (NFC or NFD); else None."""
    return _BY_FOLDED.get(fold(name))


@cache
def catalog_countries() -> frozenset[str]:
    """The project's scope: rows for other countries a publisher includes are not loaded."""
    with COUNTRIES_CSV.open(newline="", encoding="utf-8") as fh:
        return frozenset(row["country_iso3"] for row in csv.DictReader(fh))


def text(raw: Any) -> str:
    """A label cell as text with its padding removed ('' for an empty cell)."""
    return "" if raw is None else " ".join(str(raw).split())


def indent(raw: Any) -> int:
    """How many leading spaces a label carries: the exports mark sub-rows this way."""
    return len(raw) - len(raw.lstrip(" ")) if isinstance(raw, str) else 0


def reading(raw: Any) -> tuple[float | None, str | None] | None:
    """A data cell as (value, value_text); None for an empty cell (no observation).

    Numbers come through as numbers; anything else keeps its text with value None, so the
    validator can quarantine it with what the publisher wrote.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw), repr(raw)
    return None, str(raw).strip()


def _refuse(head: bytes, *, source: str, where: dict[str, Any]) -> None:
    """Raise not_xlsx for a body that is not a zip archive (an HTML error page, a JSON error...)."""
    if head.startswith(XLSX_MAGIC):
        return
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    kind = "HTML" if stripped[:1] == b"<" else "JSON" if stripped[:1] in (b"{", b"[") else "not a zip archive"
    shown = " ".join(stripped[:80].decode("utf-8", "replace").split())
    raise SourceError(f"expected an xlsx workbook, got {kind}: {shown!r}", source=source, rule="not_xlsx", **where)


def check_xlsx_body(body: bytes, *, source: str, url: str) -> Workbook:
    """A fetched body that must be an xlsx workbook: refuse anything else before it is written."""
    _refuse(body[:512], source=source, where={"url": url})
    return _load(io.BytesIO(body), source=source, where={"url": url})


def open_xlsx(path: Path, *, source: str) -> Workbook:
    """Open a landed workbook read-only; a file that is not a readable xlsx raises not_xlsx."""
    with path.open("rb") as fh:
        _refuse(fh.read(512), source=source, where={"file": str(path)})
    return _load(path, source=source, where={"file": str(path)})


def _load(target: Any, *, source: str, where: dict[str, Any]) -> Workbook:
    try:
        return load_workbook(target, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise SourceError(f"not a readable xlsx workbook ({type(exc).__name__}: {exc})", source=source,
                          rule="not_xlsx", **where) from None


def sheet_rows(ws: Any) -> list[tuple[Any, ...]]:
    """All rows of a (small) sheet as value tuples, padded to the same width."""
    rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
    width = max((len(r) for r in rows), default=0)
    return [r + (None,) * (width - len(r)) for r in rows]


class Rows:
    """Parsed observations collected column by column, then handed over as one Arrow table."""

    COLUMNS = ("indicator_id", "indicator_name", "country_iso3", "period", "value", "value_text", "unit",
               "breakdown", "note", "citation", "source_url", "lastupdated", "source_file", "source_row")
    TYPES = {"value": pa.float64(), "lastupdated": pa.date32(), "source_row": pa.int64()}

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {c: [] for c in self.COLUMNS}

    def add(self, **row: Any) -> None:
        for c in self.COLUMNS:
            self.cols[c].append(row.get(c))

    def table(self) -> pa.Table:
        return pa.table({c: pa.array(v, self.TYPES.get(c, pa.string())) for c, v in self.cols.items()})


def iso_date(raw: Any) -> date | None:
    """A publisher's last-update stamp: '2024-11-12', or CEPALSTAT's 'Jan 30 2024  2:02PM'."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.date()
    value = " ".join(str(raw).split())
    for fmt in ("%Y-%m-%d", "%b %d %Y %I:%M%p", "%b %d %Y"):
        try:
            return datetime.strptime(value[:10] if fmt == "%Y-%m-%d" else value, fmt).date()
        except ValueError:
            continue
    return None
