"""ForeignAssistance.gov country summary CSV (`us_foreign_aid_country.csv`): U.S. foreign assistance
per recipient country and U.S. fiscal year, one row per country x transaction type x fiscal year,
with the amount in current and in constant US dollars.

Quirks handled here:
- two header vintages: the current quoted Title Case header ("Country Code", ..., "Fiscal Year",
  "current_amount", "constant_amount") and an older snake_case one (country_code, ...,
  fiscal_year, ...) with a typo (`income_roup`); both are accepted exactly, anything else is refused;
- `Fiscal Year` is a number except `1976tq`, the 1976 transition quarter (July-September 1976,
  when the fiscal year start moved from July to October): period FY1976TQ, part_year;
- the newest fiscal year is still running when the file is downloaded: obligations and
  disbursements of a fiscal year that had not ended at retrieval are labelled FYyyyyYTD
  (us_fiscal_year_to_date). The retrieval date is read from the manifest.csv beside the file (the
  snapshot's, or the one fetch_live writes). A file with no recorded retrieval (ingested by hand)
  cannot tell whether its newest year was complete, so that year is taken as still running: a
  to-date value kept out of trends is a smaller error than a partial year read as a whole one.
  Budget figures (appropriations, requests, allocations) are whole-year amounts whenever they are
  published, so they stay FYyyyy;
- net obligations can be negative (de-obligations exceed new obligations: Nicaragua FY2010).
Each CSV row gives two observations (current and constant dollars), separate indicators
FA.<TYPE>.USD_CURRENT / FA.<TYPE>.USD_CONSTANT.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from flows.config import PROJECT_ROOT, Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, land
from flows.sources.observations import MANIFEST, read_manifest, to_parsed

SOURCE_ID = "foreign_assistance"
PUBLISHER = "U.S. Department of State and USAID, ForeignAssistance.gov (country summary)"
LICENCE = "U.S. government work (public domain in the United States)"
# The site's "Download data" files live in this bucket; the address is the one public code uses
# (e.g. read_csv(".../us_foreign_aid_country.csv") filtering `Transaction Type Name`), not checked
# live from here. The older address https://explorer.usaid.gov/prepared/us_foreign_aid_country.csv
# served the snake_case vintage.
BASE_URL = "https://s3.amazonaws.com/files.explorer.devtechlab.com"
FILE_NAME = "us_foreign_aid_country.csv"
LANDING_PAGE = "https://foreignassistance.gov/data"

TITLE_CASE = ("Country Code", "Country Name", "Region ID", "Region Name", "Income Group Acronym",
              "Income Group Name", "Transaction Type ID", "Transaction Type Name", "Fiscal Year",
              "current_amount", "constant_amount")
SNAKE_CASE = ("country_code", "country_name", "region_id", "Region Name", "income_roup",
              "income_group_name", "transaction_type_id", "transaction_type_name", "fiscal_year",
              "current_amount", "constant_amount")
HEADERS = (TITLE_CASE, SNAKE_CASE)

# Transaction Type ID -> (indicator stem, the name the publisher gives it). An ID not listed here
# still loads, as FA.TT<id>.*, uncatalogued, under the publisher's name.
TRANSACTION_TYPES = {
    "1": ("APPROP", "Appropriated and Planned"),
    "2": ("OBLIG", "Obligations"),
    "3": ("DISB", "Disbursements"),
    "18": ("REQ", "President's Budget Requests"),
    "19": ("ALLOC", "Initial Allocations"),
}
# Transactions accumulate through the year; budget figures are stated for the whole year.
RUNNING_TYPES = ("2", "3")


def _recipients(path: Path) -> tuple[str, ...]:
    """The catalog's countries; region codes (X..) are not ForeignAssistance.gov recipients."""
    with path.open(newline="", encoding="utf-8") as fh:
        return tuple(r["country_iso3"] for r in csv.DictReader(fh) if not r["country_iso3"].startswith("X"))


RECIPIENTS = _recipients(PROJECT_ROOT / "data" / "catalog" / "countries.csv")

_PARSE_SQL = """
WITH raw AS (
    SELECT row_number() OVER () AS data_row, *
    FROM read_csv($path, header = true, all_varchar = true, delim = ',', quote = '"', escape = '"',
                  strict_mode = true, null_padding = false, encoding = 'utf-8')
),
src AS (
    SELECT data_row,
           upper(trim({country})) AS country_iso3,
           trim({type_id}) AS type_id,
           trim({type_name}) AS type_name,
           lower(trim({fiscal_year})) AS fy_text,
           TRY_CAST(left(trim({fiscal_year}), 4) AS INTEGER) AS fy,
           {current} AS usd_current,
           {constant} AS usd_constant
    FROM raw
),
bound AS (
    -- the last fiscal year known complete: from the retrieval date, else the year before the newest
    SELECT coalesce(CAST($last_complete_fy AS INTEGER),
                    max(fy) FILTER (WHERE list_contains($running, type_id)) - 1) AS last_complete_fy
    FROM src
),
long AS (
    UNPIVOT src ON usd_current AS 'CURRENT', usd_constant AS 'CONSTANT' INTO NAME basis VALUE raw_value
),
typed AS (
    SELECT l.*,
           nullif(trim(raw_value), '') AS value_text,
           coalesce(t.stem, 'TT' || l.type_id) AS stem,
           regexp_full_match(fy_text, '\\d{{4}}') AS whole_year,
           regexp_full_match(fy_text, '\\d{{4}}tq') AS transition_quarter,
           list_contains($running, l.type_id) AND fy > b.last_complete_fy AS to_date
    FROM long AS l
    CROSS JOIN bound AS b
    LEFT JOIN (SELECT unnest($type_ids) AS type_id, unnest($stems) AS stem) AS t USING (type_id)
    WHERE list_contains($countries, l.country_iso3)
)
SELECT
    'FA.' || stem || '.USD_' || basis AS indicator_id,
    type_name || CASE basis WHEN 'CURRENT' THEN ' (current US$)' ELSE ' (constant US$)' END AS indicator_name,
    country_iso3,
    CASE WHEN whole_year AND to_date THEN 'FY' || fy || 'YTD'
         WHEN whole_year THEN 'FY' || fy
         WHEN transition_quarter THEN 'FY' || fy || 'TQ'
         ELSE fy_text END AS period,  -- an unknown label passes through, for the validator to refuse
    CASE WHEN whole_year AND to_date THEN 'us_fiscal_year_to_date'
         WHEN whole_year THEN 'us_fiscal_year'
         WHEN transition_quarter THEN 'part_year' END AS period_type,
    CASE WHEN whole_year THEN make_date(fy - 1, 10, 1)
         WHEN transition_quarter THEN make_date(fy, 7, 1) END AS period_start,
    CASE WHEN whole_year AND to_date  -- the retrieval date, or null when that is not recorded
             THEN CASE WHEN $as_of IS NOT NULL THEN least(CAST($as_of AS DATE), make_date(fy, 9, 30)) END
         WHEN whole_year THEN make_date(fy, 9, 30)
         WHEN transition_quarter THEN make_date(fy, 9, 30) END AS period_end,
    CASE WHEN whole_year OR transition_quarter THEN fy END AS year,
    CASE WHEN isfinite(TRY_CAST(value_text AS DOUBLE)) THEN TRY_CAST(value_text AS DOUBLE) END AS value,
    value_text,
    CASE WHEN whole_year AND to_date AND $as_of IS NOT NULL
             THEN 'FY' || fy || ' had not ended when the file was retrieved (' || CAST($as_of AS VARCHAR)
                  || '): transactions recorded so far, not the whole fiscal year'
         WHEN whole_year AND to_date
             THEN 'FY' || fy || ' is the newest fiscal year in a file whose retrieval date is not recorded:'
                  || ' taken as still running (transactions recorded so far)'
         WHEN transition_quarter
             THEN 'Transition quarter July-September 1976, between the July-June and October-September fiscal years'
    END AS note,
    CAST($file AS VARCHAR) AS source_file,
    CAST(data_row + 1 AS BIGINT) AS source_row  -- the line number (line 1 is the header)
FROM typed
WHERE value_text IS NOT NULL  -- an empty cell is no observation
ORDER BY data_row, basis DESC
"""


# ---------------------------------------------------------------------------------------------
# Format checks
# ---------------------------------------------------------------------------------------------
def _first_line(head: bytes, where: dict[str, str]) -> tuple[str, ...]:
    """The header names of a body or file head; refuses HTML/XML error pages and non-UTF-8 input."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] == b"<":
        title = re.search(rb"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        shown = (title.group(1) if title else text[:80]).decode("utf-8", "replace").strip()
        kind = "XML" if text[:5].lower() == b"<?xml" else "HTML"
        raise SourceError(f"got {kind}, not the CSV: {shown!r}", source=SOURCE_ID, rule="not_csv", **where)
    line = text.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        names = next(csv.reader([line.decode("utf-8")]), [])
    except UnicodeDecodeError:
        raise SourceError("header line is not UTF-8 text", source=SOURCE_ID, rule="not_csv", **where) from None
    return tuple(n.strip() for n in names)


def check_header(head: bytes, where: dict[str, str]) -> tuple[str, ...]:
    """The header if it is one of the two known vintages; SourceError(rule="header") otherwise."""
    names = _first_line(head, where)
    if names in HEADERS:
        return names
    raise SourceError(
        f"header is neither vintage of the country summary file: got {list(names)}; expected "
        f"{list(TITLE_CASE)} or {list(SNAKE_CASE)}", source=SOURCE_ID, rule="header", row=1, **where)


# ---------------------------------------------------------------------------------------------
# Parse
# ---------------------------------------------------------------------------------------------
def retrieved_on(path: Path) -> date | None:
    """When the file was downloaded, as the manifest.csv beside it records; None if it does not."""
    if (path.parent / MANIFEST).is_file():
        for row in read_manifest(path.parent):
            if Path(row["file"]).name == path.name:
                return datetime.fromisoformat(row["retrieved_at"]).date()
    return None


def last_complete_fiscal_year(on: date) -> int:
    """US fiscal year N runs 1 Oct N-1 .. 30 Sep N: on `on`, the last one that has ended."""
    return on.year if on.month >= 10 else on.year - 1


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def parse_file(con: duckdb.DuckDBPyConnection, path: Path, *, as_of: date | None = None) -> pa.Table:
    """One country summary CSV -> parsed_observation rows for the catalog's recipient countries."""
    where = {"file": str(path)}
    with path.open("rb") as fh:
        names = check_header(fh.read(64 * 1024), where)
    as_of = as_of or retrieved_on(path)
    cols = dict(zip(("country", "type_id", "type_name", "fiscal_year", "current", "constant"),
                    (_quote(names[i]) for i in (0, 6, 7, 8, 9, 10))))
    known = sorted(TRANSACTION_TYPES)
    try:
        t = con.sql(_PARSE_SQL.format(**cols), params={
            "path": str(path), "file": path.name, "countries": list(RECIPIENTS), "as_of": as_of,
            "last_complete_fy": None if as_of is None else last_complete_fiscal_year(as_of),
            "running": list(RUNNING_TYPES),
            "type_ids": known, "stems": [TRANSACTION_TYPES[k][0] for k in known],
        }).to_arrow_table()
    except duckdb.Error as exc:
        line = re.search(r"[Ll]ine:? (\d+)", str(exc))
        rule = "encoding" if "unicode" in str(exc).lower() else "malformed_csv"
        raise SourceError(f"DuckDB could not read the file: {str(exc).splitlines()[0]}", source=SOURCE_ID,
                          rule=rule, row=int(line.group(1)) if line else None, **where) from None
    _check_type_names(con, t, where)
    return t


def _check_type_names(con: duckdb.DuckDBPyConnection, t: pa.Table, where: dict[str, str]) -> None:
    """A known Transaction Type ID under another name means the publisher renumbered the types."""
    expected = {f"FA.{stem}": name for stem, name in TRANSACTION_TYPES.values()}
    rows = con.from_arrow(t).query("parsed", (
        "SELECT regexp_extract(indicator_id, '^FA\\.[A-Z0-9]+') AS stem, "
        "regexp_replace(indicator_name, ' \\((current|constant) US\\$\\)$', '') AS name, "
        "min(source_row) AS row FROM parsed GROUP BY ALL")).fetchall()
    for stem, name, row in rows:
        if stem in expected and name != expected[stem]:
            raise SourceError(f"transaction type of {stem} is named {name!r}, expected {expected[stem]!r}",
                              source=SOURCE_ID, rule="transaction_type", row=row, **where)


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path], *, as_of: date | None = None) -> pa.Table:
    """Country summary CSV files (either header vintage) -> parsed_observation rows. `as_of`, when
    given, is the retrieval date of every file (else each file's manifest entry says it)."""
    tables = [parse_file(con, Path(p), as_of=as_of) for p in paths]
    if not tables:
        return to_parsed(pa.table({"indicator_id": pa.array([], pa.string())}))
    return to_parsed(pa.concat_tables(tables))


# ---------------------------------------------------------------------------------------------
# Fetch
# ---------------------------------------------------------------------------------------------
def fetch_live(
    s: Settings,
    dest: Path,
    *,
    base_url: str = BASE_URL,
    timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF,
) -> list[Path]:
    """Download the whole country summary file (all recipients; the parser keeps ours) and record
    its retrieval in dest/manifest.csv, which tells the parser which fiscal year was still running."""
    url = f"{base_url.rstrip('/')}/{FILE_NAME}"
    body = fetch(url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff)
    check_header(body[:64 * 1024], {"url": url})
    if not body.rstrip().count(b"\n"):
        raise SourceError("the file holds a header and no rows", source=SOURCE_ID, rule="no_rows", url=url)
    path = land(dest, FILE_NAME, body)
    _write_manifest(Path(dest), path.name, url, body)
    return [path]


def _write_manifest(dest: Path, name: str, url: str, body: bytes) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "publisher", "address", "licence", "retrieved_at", "sha256", "origin", "note"])
    w.writerow([name, PUBLISHER, LANDING_PAGE, LICENCE,
                datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds"),
                hashlib.sha256(body).hexdigest(), url, "live download of the whole file"])
    (dest / MANIFEST).write_text(buf.getvalue(), encoding="utf-8")


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher=PUBLISHER,
    address=f"{BASE_URL}/{FILE_NAME}",
    licence=LICENCE,
    snapshot="foreign_assistance",
    parse=parse,
    fetch_live=fetch_live,
)
