"""DHS OHSS "CBP Encounters – USBP" workbook (Key Homeland Security Metrics), by citizenship.

U.S. Border Patrol Title 8 apprehensions plus Title 42 expulsions (no OFO), monthly since FY2000,
rounded by OHSS to the nearest 10. A different measure from CBP's Southwest Land Border CSV
(connector cbp_encounters: USBP + OFO, exact), so it has its own source and indicator id.

Layout quirks handled here: one workbook, one sheet per cut (we read the four citizenship
sheets, any other sheet is ignored); the header may sit below title rows and its first cell is
`Fiscal\\nYear` (a line break); months read `01 October` ... `12 September` in fiscal order
(01 October of FY2025 is October 2024); the newest fiscal year is partial, so its annual figure
is a fiscal-year-to-date value (FY2025YTD), never a fiscal year.
"""
from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import duckdb
import httpx
import openpyxl
import pyarrow as pa
from openpyxl.utils.exceptions import InvalidFileException

from flows.config import Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, file_name_of, land, make_client
from flows.sources.landing import newest_link
from flows.sources.observations import to_parsed

SOURCE_ID = "ohss_encounters"
INDICATOR_ID = "OHSS.USBP.ENCOUNTERS"
INDICATOR_NAME = "U.S. Border Patrol encounters (Title 8 apprehensions + Title 42 expulsions), by citizenship"
UNIT = "encounters"
# The KHSM page links the current workbook; its file address changes with each release.
PAGE_URL = "https://ohss.dhs.gov/khsm/cbp-encounters"

# Sheet -> its columns after the header is normalised (whitespace, incl. the line break, collapsed).
SHEETS: dict[str, tuple[str, ...]] = {
    "Annual Citizenship": ("Fiscal Year", "Citizenship", "Quantity"),
    "Monthly Citizenship": ("Fiscal Year", "Month", "Citizenship", "Quantity"),
    "Annual Rgn and Citp": ("Fiscal Year", "Region", "Citizenship", "Quantity"),
    "Monthly Rgn and Citp": ("Fiscal Year", "Month", "Region", "Citizenship", "Quantity"),
}
# The citizenships the commitments concern (Mexico and Central America), as OHSS spells them.
CITIZENSHIP_ISO3 = {
    "Belize": "BLZ", "Costa Rica": "CRI", "El Salvador": "SLV", "Guatemala": "GTM",
    "Honduras": "HND", "Mexico": "MEX", "Nicaragua": "NIC", "Panama": "PAN",
}
FISCAL_MONTHS = ("October", "November", "December", "January", "February", "March", "April",
                 "May", "June", "July", "August", "September")
MAX_TITLE_ROWS = 20  # how far down the header is looked for
_MONTH = re.compile(r"^\s*(\d{1,2})\s+([A-Za-z]+)\s*$")
_YEAR = re.compile(r"^\s*(\d{4})(?:\.0+)?\s*$")

# Periods from (fiscal year, fiscal month): fiscal month 1 (October) falls in the previous
# calendar year. An annual row is a full fiscal year only when the monthly sheets hold all 12 of
# its months; otherwise it is a fiscal year to date ending with the last month they hold.
_PERIODS_SQL = """
WITH coverage AS (
    SELECT file, fy, count(DISTINCT fm) AS n_months, max(fm) AS last_fm FROM ohss_months GROUP BY ALL
), r AS (
    SELECT raw.*, m.n_months, m.last_fm,
           CASE WHEN raw.fm IS NOT NULL THEN 'us_fiscal_month'
                WHEN m.n_months = 12 THEN 'us_fiscal_year'
                ELSE 'us_fiscal_year_to_date' END AS period_type
    FROM ohss_raw AS raw LEFT JOIN coverage AS m USING (file, fy)
)
SELECT
    $indicator AS indicator_id,
    $name AS indicator_name,
    iso3 AS country_iso3,
    CASE period_type WHEN 'us_fiscal_month' THEN printf('FY%dM%02d', fy, fm)
                     WHEN 'us_fiscal_year' THEN printf('FY%d', fy)
                     ELSE printf('FY%dYTD', fy) END AS period,
    period_type,
    CASE WHEN fm IS NULL THEN make_date(fy - 1, 10, 1)
         ELSE make_date(fy - CAST(fm <= 3 AS INTEGER), (fm + 8) % 12 + 1, 1) END AS period_start,
    CASE period_type
        WHEN 'us_fiscal_month' THEN last_day(make_date(fy - CAST(fm <= 3 AS INTEGER), (fm + 8) % 12 + 1, 1))
        WHEN 'us_fiscal_year' THEN make_date(fy, 9, 30)
        ELSE last_day(make_date(fy - CAST(last_fm <= 3 AS INTEGER), (last_fm + 8) % 12 + 1, 1))
    END AS period_end,
    fy AS year,
    CASE WHEN region IS NULL THEN 'total'
         ELSE 'region=' || trim(regexp_replace(lower(trim(region)), '[^a-z0-9]+', '_', 'g'), '_') END AS breakdown,
    TRY_CAST(trim(quantity) AS DOUBLE) AS value,
    CASE WHEN TRY_CAST(trim(quantity) AS DOUBLE) IS NULL THEN quantity END AS value_text,
    $unit AS unit,
    'rounded' AS qualifier,
    'sheet ' || sheet || '; USBP only, rounded to the nearest 10 by OHSS'
        || CASE WHEN period_type <> 'us_fiscal_year_to_date' THEN ''
                WHEN last_fm IS NULL THEN '; partial fiscal year (no month of it in the monthly sheets)'
                ELSE printf('; fiscal year to date: %d of 12 months, through %s', n_months,
                            strftime(make_date(fy - CAST(last_fm <= 3 AS INTEGER), (last_fm + 8) % 12 + 1, 1), '%Y-%m'))
           END AS note,
    lastupdated,
    file AS source_file,
    source_row
FROM r
ORDER BY source_file, sheet_order, source_row
"""


def _norm(cell: object) -> str:
    return " ".join(str(cell).split()) if cell is not None else ""


def _fiscal_year(cell: object, where: dict) -> int:
    if isinstance(cell, int) and not isinstance(cell, bool):
        return cell
    m = _YEAR.match(str(cell)) if cell is not None else None
    if not m:
        raise SourceError(f"fiscal year {cell!r} is not a year", source=SOURCE_ID, rule="fiscal_year", **where)
    return int(m[1])


def _fiscal_month(cell: object, where: dict) -> int:
    """`01 October` -> 1; the number and the name must agree (fiscal order, October first)."""
    m = _MONTH.match(str(cell)) if cell is not None else None
    if not m or not 1 <= int(m[1]) <= 12 or FISCAL_MONTHS[int(m[1]) - 1].lower() != m[2].lower():
        raise SourceError(f"month {cell!r} is not a fiscal month like '01 October'",
                          source=SOURCE_ID, rule="month", **where)
    return int(m[1])


def _find_header(rows, sheet: str, path: Path) -> tuple[int, dict[str, int]]:
    """Skip title rows; return the header's row number and each expected column's position."""
    expected = SHEETS[sheet]
    for number, cells in enumerate(rows, start=1):
        names = [_norm(c) for c in cells]
        if "Fiscal Year" in names:
            present = [n for n in names if n]
            if tuple(present) != expected:
                raise SourceError(f"sheet {sheet!r} header is {present}, expected {list(expected)}",
                                  source=SOURCE_ID, rule="header", file=str(path), row=number)
            return number, {n: names.index(n) for n in expected}
        if number >= MAX_TITLE_ROWS:
            break
    raise SourceError(f"sheet {sheet!r} has no 'Fiscal Year' header in its first {MAX_TITLE_ROWS} rows",
                      source=SOURCE_ID, rule="header", file=str(path))


def _open(path: Path) -> openpyxl.Workbook:
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise SourceError(f"not a readable xlsx workbook ({type(exc).__name__}: {exc})",
                          source=SOURCE_ID, rule="not_xlsx", file=str(path)) from None


def _read_workbook(path: Path) -> tuple[pa.Table, pa.Table]:
    """The rows of our citizenships (raw cells) and every (fiscal year, month) the monthly sheets hold."""
    wb = _open(path)
    try:
        missing = [s for s in SHEETS if s not in wb.sheetnames]
        if missing:
            raise SourceError(f"{path.name} has no sheet {missing[0]!r} (sheets: {', '.join(wb.sheetnames)})",
                              source=SOURCE_ID, rule="sheet_missing", file=str(path))
        cols: dict[str, list] = {k: [] for k in (
            "sheet", "sheet_order", "source_row", "fy", "fm", "region", "iso3", "quantity")}
        months: set[tuple[int, int]] = set()
        for order, sheet in enumerate(SHEETS):
            rows = wb[sheet].iter_rows(values_only=True)
            header_row, pos = _find_header(rows, sheet, path)
            i_fy, i_cit, i_qty = pos["Fiscal Year"], pos["Citizenship"], pos["Quantity"]
            i_month, i_region = pos.get("Month"), pos.get("Region")
            width = max(pos.values()) + 1
            for number, cells in enumerate(rows, start=header_row + 1):
                cells = cells + (None,) * (width - len(cells))
                citizenship, quantity = _norm(cells[i_cit]), cells[i_qty]
                if not citizenship or quantity is None or _norm(quantity) == "":
                    continue  # blank, footnote or empty cell: not an observation
                where = {"file": str(path), "row": number}
                fy = _fiscal_year(cells[i_fy], where)
                fm = _fiscal_month(cells[i_month], where) if i_month is not None else None
                if fm is not None:
                    months.add((fy, fm))
                iso3 = CITIZENSHIP_ISO3.get(citizenship)
                if iso3 is None:
                    continue  # a citizenship outside the catalog's countries
                for key, value in (("sheet", sheet), ("sheet_order", order), ("source_row", number),
                                   ("fy", fy), ("fm", fm), ("iso3", iso3), ("quantity", _norm(quantity)),
                                   ("region", _norm(cells[i_region]) if i_region is not None else None)):
                    cols[key].append(value)
        modified = wb.properties.modified if wb.properties else None
    finally:
        wb.close()
    n = len(cols["sheet"])
    raw = pa.table({
        **{k: pa.array(v, pa.int32() if k in ("sheet_order", "fy", "fm") else
                       pa.int64() if k == "source_row" else pa.string()) for k, v in cols.items()},
        "file": pa.array([path.name] * n, pa.string()),
        "lastupdated": pa.array([modified.date() if modified else None] * n, pa.date32()),
    })
    fys, fms = zip(*sorted(months)) if months else ((), ())
    month_table = pa.table({"file": pa.array([path.name] * len(fys), pa.string()),
                            "fy": pa.array(fys, pa.int32()), "fm": pa.array(fms, pa.int32())})
    return raw, month_table


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """OHSS USBP workbooks -> parsed_observation rows (our citizenships; all regions and by region)."""
    tables = [_read_workbook(Path(p)) for p in paths]
    if not tables:
        return to_parsed(pa.table({"indicator_id": pa.array([], pa.string())}))
    raw = pa.concat_tables([t[0] for t in tables])
    months = pa.concat_tables([t[1] for t in tables])
    cur = con.cursor()  # own cursor: the registered views do not leak into the caller's connection
    try:
        cur.register("ohss_raw", raw)
        cur.register("ohss_months", months)
        out = cur.sql(_PERIODS_SQL, params={"indicator": INDICATOR_ID, "name": INDICATOR_NAME,
                                            "unit": UNIT}).to_arrow_table()
    finally:
        cur.close()
    return to_parsed(out)


def _check_xlsx(body: bytes, url: str) -> None:
    """An xlsx is a zip holding xl/workbook.xml; anything else (an HTML error page) is refused."""
    head = body[:512].lstrip()
    if not body.startswith(b"PK\x03\x04"):
        kind = "HTML" if head[:1] == b"<" else "something else"
        raise SourceError(f"got {kind} where an xlsx workbook was expected: {head[:80]!r}",
                          source=SOURCE_ID, rule="not_xlsx", url=url)
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            if "xl/workbook.xml" not in z.namelist():
                raise SourceError("zip file without xl/workbook.xml: not an xlsx workbook",
                                  source=SOURCE_ID, rule="not_xlsx", url=url)
    except zipfile.BadZipFile as exc:
        raise SourceError(f"truncated or corrupt xlsx ({exc})", source=SOURCE_ID, rule="not_xlsx",
                          url=url) from None


def _is_usbp_workbook(href: str) -> bool:
    return href.lower().endswith(".xlsx") and "usbp" in href.lower()


def fetch_live(s: Settings, dest: Path, *, page_url: str = PAGE_URL, workbook_url: str | None = None,
               timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
               backoff: float = DEFAULT_BACKOFF) -> list[Path]:
    """Download the current USBP workbook (found on the KHSM page unless `workbook_url` is given)."""
    kw = {"timeout": timeout, "retries": retries, "backoff": backoff}
    with make_client(timeout) as client:
        url = workbook_url or newest_link(page_url, _is_usbp_workbook, source=SOURCE_ID,
                                          what="the USBP encounters workbook", client=client, **kw)
        body = fetch(url, source=SOURCE_ID, client=client, **kw)
    _check_xlsx(body, url)
    return [land(dest, file_name_of(url, "khsm_encounters_usbp.xlsx"), body)]


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="U.S. Department of Homeland Security, Office of Homeland Security Statistics (OHSS)",
    address=PAGE_URL,
    licence="Public domain (U.S. federal government work, 17 U.S.C. 105)",
    snapshot="ohss_encounters",
    parse=parse,
    fetch_live=fetch_live,
)
