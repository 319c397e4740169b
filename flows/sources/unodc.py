"""UNODC intentional-homicide victims, in the dataUNODC portal's long layout.

The portal publishes `data_cts_intentional_homicide` (CSV, or the workbook it is cut from) with one
row per country x indicator x breakdown x year:

    Iso3_code,Country,Region,Subregion,Indicator,Dimension,Category,Sex,Age,Year,Unit of measurement,VALUE,Source

Quirks handled here: names with commas are quoted ("China, Macao Special Administrative Region",
and every "Rate per 100,000 population"); a saved CSV may start with a BOM and CRLF line ends; the
workbook (and CSVs saved from it) carry title rows above the header; VALUE may be text ("<5", "1,234").

Counts and rates are two indicators (UNODC.HOM.VICTIMS, UNODC.HOM.RATE); sex and the Dimension/
Category split (mechanism=firearm, ...) and age bands are breakdowns of them, never indicators of
their own. Only "Victims of intentional homicide" rows of the catalog's countries are kept: the
file also holds offenders, convictions and every other country. The bundled snapshot is the Global
Study on Homicide 2019 annex re-serialized in this layout (tools/snapshot_unodc.py).
"""
from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import httpx
import openpyxl
import pyarrow as pa

from flows.config import PROJECT_ROOT, Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, land
from flows.sources.observations import to_parsed

SOURCE_ID = "unodc"
PORTAL_PAGE = "https://dataunodc.un.org/dp-intentional-homicide-victims"
# The bulk workbook behind the portal page. Confirmed in several public pipelines (2026) that
# download it; the YYYY-MM folder moves with each (about yearly) release, and the older undated
# address https://dataunodc.un.org/sites/dataunodc.un.org/files/data_cts_intentional_homicide.xlsx
# served the same file before. No CSV download address could be confirmed (a
# .../data_cts_intentional_homicide.csv beside it is cited by one project only, unverified), so the
# workbook is the default; `fetch_live(..., url=...)` takes either format.
DOWNLOAD_URL = ("https://data.unodc.org/sites/dataportal.unodc.org/files/2026-07/"
                "data_cts_intentional_homicide.xlsx")
SHEET = "data_cts_intentional_homicide"
COUNTRIES_CSV = PROJECT_ROOT / "data" / "catalog" / "countries.csv"

HEADER = ("Iso3_code", "Country", "Region", "Subregion", "Indicator", "Dimension", "Category", "Sex",
          "Age", "Year", "Unit of measurement", "VALUE", "Source")
HEADER_SEARCH_ROWS = 10  # title rows above the header: two in the workbook; allow a few more
_HEAD_BYTES = 64 * 1024
_XLSX_MAGIC = b"PK\x03\x04"
RAW_SCHEMA = pa.schema([*(pa.field(name, pa.string()) for name in HEADER),
                        pa.field("source_file", pa.string()), pa.field("source_row", pa.int64())])


def _countries() -> list[str]:
    with COUNTRIES_CSV.open(newline="", encoding="utf-8") as fh:
        return [row["country_iso3"] for row in csv.DictReader(fh)]


# ---------------------------------------------------------------------------------------------
# Reading either format into the portal's 13 columns (all text) + source_file, source_row
# ---------------------------------------------------------------------------------------------
def _is_header(cells: list[object]) -> bool:
    """The portal's 13 names in order (any case; a BOM and trailing empty cells tolerated)."""
    names = [("" if c is None else str(c)).strip().lstrip("\ufeff").casefold() for c in cells]
    while names and not names[-1]:
        names.pop()
    return names == [h.casefold() for h in HEADER]


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:200].lower()
    return text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in text


def find_csv_header(head: bytes, *, file: str | None = None, url: str | None = None) -> int:
    """0-based line index of the header within the first lines; refuses HTML and other headers."""
    where = {"file": file, "url": url}
    if _looks_like_html(head):
        raise SourceError("got an HTML page where the portal CSV was expected", source=SOURCE_ID,
                          rule="not_csv", **where)
    lines = head.decode("utf-8", "replace").splitlines()[:HEADER_SEARCH_ROWS]
    for index, line in enumerate(lines):
        if _is_header(next(csv.reader([line]), [])):
            return index
    first = lines[0][:160] if lines else ""
    raise SourceError(f"no portal header ({','.join(HEADER)}) in the first {HEADER_SEARCH_ROWS} lines; "
                      f"line 1 reads {first!r}", source=SOURCE_ID, rule="header", row=1, **where)


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path) -> pa.Table:
    data = path.read_bytes()
    header_line = find_csv_header(data[:_HEAD_BYTES], file=str(path))
    try:
        data.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:  # an export re-saved by a spreadsheet in a Western code page
        encoding = "latin-1"
    columns = {f"c{i}": "VARCHAR" for i in range(len(HEADER))}
    try:
        t = con.sql(
            "SELECT * FROM read_csv($path, skip = $skip, header = false, columns = $columns, delim = ',',"
            " quote = '\"', escape = '\"', auto_detect = false, encoding = $encoding)",
            params={"path": str(path), "skip": header_line + 1, "columns": columns, "encoding": encoding},
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise SourceError(f"unreadable as the portal CSV: {exc}", source=SOURCE_ID, rule="not_csv",
                          file=str(path)) from None
    first_row = header_line + 2  # 1-based line of the first data row
    return pa.table([*t.columns, pa.array([path.name] * t.num_rows, pa.string()),
                     pa.array(range(first_row, first_row + t.num_rows), pa.int64())], schema=RAW_SCHEMA)


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    return text or None


def _read_xlsx(path: Path) -> pa.Table:
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SourceError(f"unreadable workbook ({type(exc).__name__}: {exc})", source=SOURCE_ID,
                          rule="not_xlsx", file=str(path)) from None
    try:
        if SHEET not in wb.sheetnames:
            raise SourceError(f"no sheet {SHEET!r} (sheets: {wb.sheetnames})", source=SOURCE_ID,
                              rule="sheet_missing", file=str(path))
        ws = wb[SHEET]
        ws.reset_dimensions()  # the portal's workbooks may declare a wrong used range
        columns: list[list[str | None]] = [[] for _ in HEADER]
        rows: list[int] = []
        header_row = None
        for number, cells in enumerate(ws.iter_rows(values_only=True), start=1):
            if header_row is None:
                if _is_header(list(cells[:len(HEADER)])):
                    header_row = number
                elif number >= HEADER_SEARCH_ROWS:
                    raise SourceError(f"no portal header in the first {HEADER_SEARCH_ROWS} rows of "
                                      f"sheet {SHEET!r}", source=SOURCE_ID, rule="header",
                                      file=str(path), row=1)
                continue
            texts = [_cell_text(c) for c in cells[:len(HEADER)]]
            if not any(texts):
                continue
            texts += [None] * (len(HEADER) - len(texts))
            for column, text in zip(columns, texts):
                column.append(text)
            rows.append(number)
        if header_row is None:
            raise SourceError(f"sheet {SHEET!r} has no portal header", source=SOURCE_ID, rule="header",
                              file=str(path), row=1)
    finally:
        wb.close()
    return pa.table([*(pa.array(c, pa.string()) for c in columns), pa.array([path.name] * len(rows), pa.string()),
                     pa.array(rows, pa.int64())], schema=RAW_SCHEMA)


def read_portal(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """Every row of the portal files as published (all 13 columns as text), with file and row."""
    parts = []
    for path in map(Path, paths):
        with path.open("rb") as fh:
            is_xlsx = fh.read(4) == _XLSX_MAGIC
        parts.append(_read_xlsx(path) if is_xlsx else _read_csv(con, path))
    return pa.concat_tables(parts) if parts else RAW_SCHEMA.empty_table()


# ---------------------------------------------------------------------------------------------
# Portal rows -> parsed_observation rows
# ---------------------------------------------------------------------------------------------
# Category wording -> breakdown value, for the portal's and the GSH2019 annex's mechanism names;
# other categories (relationship, situational context) get a slug of their own wording.
_SLUG = "trim(regexp_replace(lower(trim({0})), '[^a-z0-9]+', '_', 'g'), '_')"
_PARSE_SQL = f"""
WITH r AS (
    SELECT *, trim("VALUE") AS value_raw, trim("Dimension") AS dim, trim("Category") AS cat,
           trim("Age") AS age_raw
    FROM unodc_raw
    WHERE trim("Indicator") = 'Victims of intentional homicide'
      AND list_contains($countries, upper(trim("Iso3_code")))
      AND nullif(trim("VALUE"), '') IS NOT NULL
),
b AS (
    SELECT *,
        CASE WHEN dim IS NOT NULL AND dim <> 'Total' THEN
            CASE dim WHEN 'by mechanisms' THEN 'mechanism'
                     WHEN 'by relationship to perpetrator' THEN 'relationship'
                     WHEN 'by situational context' THEN 'context'
                     ELSE {_SLUG.format("regexp_replace(dim, '^by ', '')")} END
            || '=' ||
            CASE cat WHEN 'Firearms or explosives - firearms' THEN 'firearm'
                     WHEN 'Firearms' THEN 'firearm'
                     WHEN 'Firearms or explosives' THEN 'firearm_or_explosive'
                     WHEN 'Another weapon - sharp object' THEN 'sharp_object'
                     WHEN 'Sharp objects' THEN 'sharp_object'
                     WHEN 'Another weapon' THEN 'other_weapon'
                     WHEN 'Without a weapon/ other Mechanism' THEN 'other'
                     WHEN 'Other mechanisms' THEN 'other'
                     WHEN 'Unspecified means' THEN 'unknown'
                     WHEN 'Unknown mechanisms' THEN 'unknown'
                     ELSE coalesce({_SLUG.format("cat")}, '') END  -- 'key=' alone is quarantined
        END AS dim_part,
        CASE WHEN age_raw IS NOT NULL AND age_raw <> 'Total' THEN 'age=' || {_SLUG.format("age_raw")} END AS age_part
    FROM r
)
SELECT
    CASE trim("Unit of measurement") WHEN 'Counts' THEN 'UNODC.HOM.VICTIMS'
                                     WHEN 'Rate per 100,000 population' THEN 'UNODC.HOM.RATE' END AS indicator_id,
    trim("Indicator") AS indicator_name,
    upper(trim("Iso3_code")) AS country_iso3,
    trim("Year") AS period,
    'year' AS period_type,
    TRY_CAST(trim("Year") AS INTEGER) AS year,
    lower(trim("Sex")) AS sex,
    coalesce(nullif(array_to_string(list_sort(list_filter([age_part, dim_part], lambda x: x IS NOT NULL)), ';'), ''),
             'total') AS breakdown,
    -- only a plain decimal is a number: DuckDB's cast would also take '1_000'
    CASE WHEN regexp_full_match(value_raw, '-?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?')
         THEN CAST(value_raw AS DOUBLE) END AS value,
    value_raw AS value_text,
    trim("Unit of measurement") AS unit,
    CASE WHEN nullif(trim("Source"), '') IS NOT NULL THEN 'Source: ' || trim("Source") END AS note,
    source_file,
    source_row
FROM b
ORDER BY source_file, source_row
"""


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """Portal CSV or workbook files -> parsed_observation rows (homicide victims, our countries)."""
    raw = read_portal(con, paths)
    con.register("unodc_raw", raw)
    try:
        t = con.sql(_PARSE_SQL, params={"countries": _countries()}).to_arrow_table()
    finally:
        con.unregister("unodc_raw")
    return to_parsed(t)


# ---------------------------------------------------------------------------------------------
# Live fetch: one bulk file
# ---------------------------------------------------------------------------------------------
def fetch_live(
    s: Settings,
    dest: Path,
    *,
    url: str = DOWNLOAD_URL,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
    client: httpx.Client | None = None,
) -> list[Path]:
    """Download the portal's bulk file as sent; refuse it unless it is the workbook or the CSV."""
    body = fetch(url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff, client=client)
    stem = Path(urlsplit(url).path).stem or SHEET
    if body.startswith(_XLSX_MAGIC):
        name = f"{stem}.xlsx"
    elif urlsplit(url).path.lower().endswith(".xlsx"):
        kind = "an HTML page" if _looks_like_html(body[:_HEAD_BYTES]) else f"{body[:40]!r}"
        raise SourceError(f"got {kind} where the portal workbook was expected", source=SOURCE_ID,
                          rule="not_xlsx", url=url)
    else:
        find_csv_header(body[:_HEAD_BYTES], url=url)
        name = f"{stem}.csv"
    return [land(dest, name, body)]


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="United Nations Office on Drugs and Crime (UNODC)",
    address=PORTAL_PAGE,
    licence="UNODC data portal terms of use: reuse with attribution to UNODC",
    snapshot="unodc",
    parse=parse,
    fetch_live=fetch_live,
)
