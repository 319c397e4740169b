"""CBP "Southwest Land Border Encounters" CSV (cbp.gov), by citizenship grouping.

USBP Title 8 apprehensions + OFO Title 8 inadmissibles + Title 42 expulsions at the Southwest
land border, exact counts, monthly for the last four fiscal years. A different measure from the
OHSS USBP workbook (connector ohss_encounters: USBP only, rounded), so it has its own source and
indicator id and is never summed with or spliced onto that series.

Quirks handled: `Fiscal Year` reads `2025 (FYTD)` for the current year; months are `OCT`..`SEP`
in fiscal order (OCT of FY2025 is October 2024); each row is one cell of Component x Demographic
x Title of Authority x Encounter Type, kept as a sorted key=value `breakdown`; `Citizenship
Grouping` lumps every other citizenship into `Other`, which is not a country: those rows are
skipped (and counted in the log), not passed on to be quarantined as an unknown country.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from flows.config import Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, file_name_of, land, make_client
from flows.sources.landing import newest_link
from flows.sources.observations import to_parsed

log = logging.getLogger(__name__)

SOURCE_ID = "cbp_encounters"
INDICATOR_ID = "CBP.SWB.ENCOUNTERS"
INDICATOR_NAME = ("Southwest Land Border encounters (USBP apprehensions + OFO inadmissibles + "
                  "Title 42 expulsions), by citizenship")
UNIT = "encounters"
# CBP posts each month's file at a new address and links it from this page.
PAGE_URL = "https://www.cbp.gov/document/stats/southwest-land-border-encounters"
HEADER = ("Fiscal Year", "Month Grouping", "Month (abbv)", "Component", "Demographic",
          "Citizenship Grouping", "Title of Authority", "Encounter Type", "Encounter Count")
CITIZENSHIP_ISO3 = {"El Salvador": "SLV", "Guatemala": "GTM", "Honduras": "HND", "Mexico": "MEX",
                    "Belize": "BLZ", "Costa Rica": "CRI", "Nicaragua": "NIC", "Panama": "PAN"}
# Component names are long; the breakdown uses CBP's own abbreviations. Other values are snake-cased.
COMPONENTS = {"U.S. Border Patrol": "usbp", "Office of Field Operations": "ofo"}
FISCAL_MONTHS = ["OCT", "NOV", "DEC", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP"]
_CSV_LINK = re.compile(r"/sbo-encounters-fy\d{2}-fy\d{2}(?:-[a-z]{3})?\.csv$", re.I)

# One row per published cell (a month of one component x demographic x title x encounter type).
# The file has no totals; the cells are exact counts, so exact totals are their sums: per
# citizenship and month, and per citizenship and fiscal year (breakdown 'total'). A fiscal year
# is whole only when the file does not label it FYTD and holds all 12 of its months; otherwise
# its sum is a fiscal year to date (FY2025YTD) ending with the file's last month of that year.
_PARSE_SQL = r"""
WITH r AS (
    SELECT
        c.*,
        TRY_CAST(regexp_extract("Fiscal Year", '^\s*(\d{4})', 1) AS INTEGER) AS fy,
        regexp_matches("Fiscal Year", '\(FYTD\)') AS fytd,
        list_position($months, upper(trim("Month (abbv)"))) AS fm,
        TRY_CAST(trim("Encounter Count") AS DOUBLE) AS n,
        m.iso3
    FROM cbp_rows AS c JOIN cbp_countries AS m ON m.grouping = trim(c."Citizenship Grouping")
    WHERE nullif(trim("Encounter Count"), '') IS NOT NULL
), coverage AS (
    SELECT file, fy, bool_or(fytd) AS fytd, count(DISTINCT fm) AS n_months, max(fm) AS last_fm
    FROM r GROUP BY file, fy
), cells AS (
    SELECT
        file, source_row, fy, fm, iso3, n,
        CASE WHEN n IS NULL THEN "Encounter Count" END AS value_text,
        'component=' || coalesce(k.short, snake("Component"))
            || ';demographic=' || snake("Demographic")
            || ';encounter_type=' || snake("Encounter Type")
            || ';title=' || snake("Title of Authority") AS breakdown,
        NULL AS cell_note
    FROM r LEFT JOIN cbp_components AS k ON k.name = trim(r."Component")
), totals AS (
    SELECT
        file, min(source_row) AS source_row, fy, fm, iso3,
        CASE WHEN count(n) = count(*) THEN sum(n) END AS n,
        CASE WHEN count(n) < count(*) THEN 'not summed: ' || CAST(count(*) - count(n) AS VARCHAR)
             || ' of its cells are not numbers' END AS value_text,
        'total' AS breakdown,
        printf('sum of the file''s %d cells for this citizenship and %s (all components, demographics, '
               'titles of authority and encounter types); source_row is the first of them',
               count(*), CASE WHEN fm IS NULL THEN 'fiscal year' ELSE 'month' END) AS cell_note
    FROM r GROUP BY GROUPING SETS ((file, fy, fm, iso3), (file, fy, iso3))
), obs AS (
    SELECT *, CASE WHEN fm IS NOT NULL THEN 'us_fiscal_month'
                   WHEN NOT c.fytd AND c.n_months = 12 THEN 'us_fiscal_year'
                   ELSE 'us_fiscal_year_to_date' END AS period_type,
           make_date(fy - CAST(coalesce(fm, 1) <= 3 AS INTEGER), (coalesce(fm, 1) + 8) % 12 + 1, 1) AS period_start,
           make_date(fy - CAST(coalesce(fm, c.last_fm) <= 3 AS INTEGER), (coalesce(fm, c.last_fm) + 8) % 12 + 1, 1) AS last_month
    FROM (SELECT * FROM cells UNION ALL BY NAME SELECT * FROM totals) JOIN coverage AS c USING (file, fy)
)
SELECT
    $indicator AS indicator_id,
    $name AS indicator_name,
    iso3 AS country_iso3,
    CASE period_type WHEN 'us_fiscal_month' THEN printf('FY%dM%02d', fy, fm)
                     WHEN 'us_fiscal_year' THEN printf('FY%d', fy)
                     ELSE printf('FY%dYTD', fy) END AS period,
    period_type,
    period_start,
    last_day(last_month) AS period_end,
    fy AS year,
    breakdown,
    n AS value,
    value_text,
    $unit AS unit,
    nullif(concat_ws('; ', cell_note,
        CASE WHEN period_type = 'us_fiscal_year_to_date'
             THEN printf('fiscal year to date: %d of 12 months, through %s', n_months, strftime(last_month, '%Y-%m'))
             WHEN fytd THEN printf('FY%d is the file''s fiscal year to date ("%d (FYTD)"): its months may still be revised', fy, fy)
        END), '') AS note,
    file AS source_file,
    source_row
FROM obs
ORDER BY source_file, source_row, fm IS NULL, breakdown = 'total'
"""


def _sniff(path: Path) -> None:
    """Refuse an HTML page or a file whose header is not the Southwest Land Border layout."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"<":
        raise SourceError(f"got HTML where CSV was expected: {text[:80]!r}", source=SOURCE_ID,
                          rule="not_csv", file=str(path))
    first = head.decode("utf-8-sig", "replace").splitlines()[0] if head else ""
    header = tuple(h.strip() for h in next(csv.reader(io.StringIO(first)), []))
    if header != HEADER:
        raise SourceError(f"header is {list(header)}, expected {list(HEADER)}", source=SOURCE_ID,
                          rule="header", file=str(path), row=1)


def _read(con: duckdb.DuckDBPyConnection, path: Path) -> pa.Table:
    """All cells as text, with file name and 1-based line number (line 1 is the header)."""
    _sniff(path)
    try:
        t = con.sql("SELECT * FROM read_csv($p, header = true, auto_detect = false, delim = ',', "
                    "quote = '\"', escape = '\"', columns = $cols)",
                    params={"p": str(path), "cols": {h: "VARCHAR" for h in HEADER}}).to_arrow_table()
    except duckdb.Error as exc:
        line = re.search(r"Line: (\d+)", str(exc))
        raise SourceError(f"malformed CSV: {str(exc).splitlines()[0]}", source=SOURCE_ID,
                          rule="malformed_csv", file=str(path), row=int(line[1]) if line else None) from None
    return (t.append_column("file", pa.array([path.name] * t.num_rows, pa.string()))
             .append_column("source_row", pa.array(range(2, t.num_rows + 2), pa.int64())))


def _check_periods(cur: duckdb.DuckDBPyConnection, path_of: dict[str, Path]) -> None:
    """A fiscal year or month the parser cannot read is a layout change: fail, naming the row."""
    bad = cur.sql("""SELECT file, source_row, "Fiscal Year", "Month (abbv)" FROM cbp_rows
        WHERE NOT regexp_full_match("Fiscal Year", '\\s*\\d{4}\\s*(\\(FYTD\\))?\\s*')
           OR list_position($months, upper(trim("Month (abbv)"))) IS NULL
        ORDER BY file, source_row LIMIT 1""", params={"months": FISCAL_MONTHS}).fetchall()
    if bad:
        file, row, fy, month = bad[0]
        raise SourceError(f"fiscal year {fy!r} / month {month!r} not like '2024' or '2025 (FYTD)' / 'OCT'",
                          source=SOURCE_ID, rule="period", file=str(path_of[file]), row=row)


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    """CBP Southwest Land Border CSVs -> parsed_observation rows (catalog citizenships only)."""
    paths = [Path(p) for p in paths]
    cur = con.cursor()  # own cursor: the registered views and macro stay out of the caller's connection
    try:
        rows = pa.concat_tables([_read(cur, p) for p in paths]) if paths else None
        if rows is None or rows.num_rows == 0:
            return to_parsed(pa.table({"indicator_id": pa.array([], pa.string())}))
        cur.register("cbp_rows", rows)
        cur.register("cbp_countries", pa.table({"grouping": list(CITIZENSHIP_ISO3),
                                                "iso3": list(CITIZENSHIP_ISO3.values())}))
        cur.register("cbp_components", pa.table({"name": list(COMPONENTS), "short": list(COMPONENTS.values())}))
        _check_periods(cur, {p.name: p for p in paths})
        cur.execute("CREATE OR REPLACE TEMP MACRO snake(s) AS "
                    "trim(regexp_replace(lower(trim(s)), '[^a-z0-9]+', '_', 'g'), '_')")
        out = cur.sql(_PARSE_SQL, params={
            "months": FISCAL_MONTHS, "indicator": INDICATOR_ID,
            "name": INDICATOR_NAME, "unit": UNIT}).to_arrow_table()
        skipped = cur.sql("""SELECT trim("Citizenship Grouping") AS g, count(*) FROM cbp_rows
            WHERE trim("Citizenship Grouping") NOT IN (SELECT grouping FROM cbp_countries) GROUP BY g ORDER BY g""").fetchall()
    finally:
        cur.close()
    if skipped:
        log.info("cbp_encounters: skipped rows of citizenship groupings outside the catalog: %s",
                 ", ".join(f"{g!r} {n}" for g, n in skipped))
    return to_parsed(out)


def _check_csv(body: bytes, url: str) -> None:
    text = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"<":
        raise SourceError(f"got HTML where CSV was expected: {text[:80]!r}", source=SOURCE_ID,
                          rule="not_csv", url=url)
    if not text.startswith(HEADER[0].encode()):
        raise SourceError(f"body does not start with the expected header: {text[:80]!r}",
                          source=SOURCE_ID, rule="not_csv", url=url)


def _is_encounters_csv(href: str) -> bool:
    return bool(_CSV_LINK.search(href))


def fetch_live(s: Settings, dest: Path, *, page_url: str = PAGE_URL, csv_url: str | None = None,
               timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES,
               backoff: float = DEFAULT_BACKOFF) -> list[Path]:
    """Download the newest Southwest Land Border CSV (found on CBP's page unless `csv_url` is given)."""
    kw = {"timeout": timeout, "retries": retries, "backoff": backoff}
    with make_client(timeout) as client:
        url = csv_url or newest_link(page_url, _is_encounters_csv, source=SOURCE_ID,
                                     what="the Southwest Land Border encounters CSV", client=client, **kw)
        body = fetch(url, source=SOURCE_ID, client=client, **kw)
    _check_csv(body, url)
    return [land(dest, file_name_of(url, "sbo-encounters.csv"), body)]


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="U.S. Customs and Border Protection (CBP)",
    address=PAGE_URL,
    licence="Public domain (U.S. federal government work, 17 U.S.C. 105)",
    snapshot="cbp_encounters",
    parse=parse,
    fetch_live=fetch_live,
)
