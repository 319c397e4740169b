"""Guatemala's electricity exports from the AMM hourly series, loaded as monthly totals.

The AMM (Administrador del Mercado Mayorista) publishes, per hour, the power of each generation
technology; the technology "Exportación" is the flow out of Guatemala's system to its neighbours
(the regional market MER/SIEPAC and Mexico). Its column `Potencia` is MW for one hour, i.e. MWh,
with the AMM's sign: negative = export. shared/data/gt_amm_electricity holds one year of it, as
scraped from the AMM BI portal by a hobbyist tool (`Index,Potencia,...` per hour).

What is loaded is one row per month, computed in DuckDB:
- AMM.GTM.EXPORTS.MWH = minus the sum of the month's hourly Potencia, so exports are positive. The
  few hours with a positive Potencia (a flow into Guatemala, not explained by the source) are summed
  as published and so reduce the month's total: the value is net of them, and the note counts them.
- Hours are missing where the scrape failed. The note says how many ("hours with data: 713 of 744")
  and a month with any hour missing gets qualifier lower_bound: almost every recorded hour is an
  export, so the missing hours can only have added exports; the value is the floor of the month.
- period 2024M01, period_type month; source_row = the record of the month's first hour.

Live: the AMM portal (reportesbi.amm.org.gt, a Knowage BI server) shows the report in a browser;
the address of a direct CSV export used by fetch_live is NOT verified (see EXPORT_PATH). Whatever it
returns must have the Index and Potencia columns, or the parser refuses it (rule "header").
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa

from flows.config import Settings
from flows.registry import Source
from flows.sources.http import DEFAULT_BACKOFF, DEFAULT_RETRIES, DEFAULT_TIMEOUT, SourceError, fetch, make_client
from flows.sources.observations import empty, to_parsed
from flows.sources.textinput import check_csv_body, read_csv_text

SOURCE_ID = "amm_exports"
INDICATOR_ID = "AMM.GTM.EXPORTS.MWH"
REQUIRED = ("Index", "Potencia")
TECHNOLOGY_COLUMN = "Tecnología"
EXPORT_TECHNOLOGY = ("Exportación", "¨Exportacion", "Exportacion")  # as the portal and the scraper spell it

BASE_URL = "https://reportesbi.amm.org.gt"
# UNVERIFIED: Knowage's document-execution servlet with CSV output, for the report the portal shows as
# Generación > Generación por Tecnología (technology "Exportación"). The scraper this source's sample
# comes from drives that report in a browser and reads its table; a direct export at this address has
# not been seen working. The portal limits a request to three months, hence one request per quarter.
EXPORT_PATH = "/knowage/servlet/AdapterHTTP"
EXPORT_QUERY = ("ACTION_NAME=EXECUTE_DOCUMENT_ACTION&OBJECT_LABEL=GeneracionPorTecnologia&OUTPUT_TYPE=CSV"
                "&TECNOLOGIA=Exportacion&FECHA_INICIAL={start:%m/%d/%Y}&FECHA_FINAL={end:%m/%d/%Y}")

_SQL = """
WITH h AS (
    SELECT source_file, source_row,
           TRY_CAST(trim("Index") AS TIMESTAMP) AS ts,
           -- DECIMAL keeps the sum exact (the values have two decimals)
           TRY_CAST(trim("Potencia") AS DECIMAL(18, 6)) AS mw
    FROM hourly
),
m AS (
    SELECT source_file, date_trunc('month', ts)::DATE AS month_start,
           min(source_row) AS first_row, max(source_row) AS last_row,
           count(*) AS hours_listed, count(mw) AS hours_with_data,
           count(*) FILTER (WHERE mw > 0) AS hours_positive,
           sum(mw) AS potencia_sum,
           day(last_day(date_trunc('month', ts))) * 24 AS hours_in_month
    FROM h
    GROUP BY ALL
)
SELECT
    $indicator AS indicator_id,
    'Exportación: monthly sum of hourly Potencia, sign flipped (exports positive)' AS indicator_name,
    'GTM' AS country_iso3,
    strftime(month_start, '%YM%m') AS period,
    'month' AS period_type,
    month_start AS period_start,
    last_day(month_start) AS period_end,
    year(month_start) AS year,
    CAST(-potencia_sum AS DOUBLE) AS value,
    CASE WHEN potencia_sum IS NULL THEN 'no hour of the month has a readable Potencia' END AS value_text,
    'MWh' AS unit,
    CASE WHEN hours_with_data < hours_in_month THEN 'lower_bound' END AS qualifier,
    'hours with data: ' || hours_with_data || ' of ' || hours_in_month
        || CASE WHEN hours_listed > hours_with_data
                THEN '; ' || (hours_listed - hours_with_data) || ' hour(s) listed without a readable Potencia' ELSE '' END
        || CASE WHEN hours_positive > 0
                THEN '; ' || hours_positive || ' hour(s) with positive Potencia (flow into Guatemala, unexplained by the source) reduce the total' ELSE '' END
        || CASE WHEN hours_with_data < hours_in_month
                THEN '; missing hours not filled: a lower bound on the month''s exports' ELSE '' END
        || '. Sum of hourly Potencia (MW over one hour = MWh) from records ' || first_row || '-' || last_row
        || ', sign flipped so exports are positive.' AS note,
    source_file,
    first_row AS source_row
FROM m
ORDER BY source_file, month_start
"""


def _check_hours(con: duckdb.DuckDBPyConnection) -> None:
    """A record whose hour cannot be read, or an hour listed twice, means a broken scrape/export."""
    for bad in con.sql("""SELECT source_file, source_row, "Index" FROM hourly
                          WHERE TRY_CAST(trim("Index") AS TIMESTAMP) IS NULL ORDER BY source_file, source_row LIMIT 1""").fetchall():
        raise SourceError(f"timestamp {bad[2]!r} is not a date and hour", source=SOURCE_ID,
                          rule="bad_timestamp", file=bad[0], row=bad[1])
    for dup in con.sql("""SELECT source_file, max(source_row), any_value("Index") FROM hourly
                          GROUP BY source_file, TRY_CAST(trim("Index") AS TIMESTAMP) HAVING count(*) > 1
                          ORDER BY 1, 2 LIMIT 1""").fetchall():
        raise SourceError(f"hour {dup[2]!r} is listed more than once", source=SOURCE_ID,
                          rule="duplicate_hour", file=dup[0], row=dup[1])


def _read_hourly(path: Path) -> pa.Table:
    """Index and Potencia of one file; a file naming another technology is refused, not summed."""
    table = read_csv_text(path, source=SOURCE_ID, required=REQUIRED)
    if TECHNOLOGY_COLUMN in table.column_names:
        other = sorted(set(table[TECHNOLOGY_COLUMN].to_pylist()) - set(EXPORT_TECHNOLOGY))
        if other:
            raise SourceError(f"{TECHNOLOGY_COLUMN} holds {other}, not only exports", source=SOURCE_ID,
                              rule="wrong_series", file=path.name)
    return table.select([*REQUIRED, "source_file", "source_row"])


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    if not paths:
        return empty()
    hourly = pa.concat_tables([_read_hourly(Path(p)) for p in paths])
    con.register("hourly", hourly)
    try:
        _check_hours(con)
        out = con.sql(_SQL, params={"indicator": INDICATOR_ID}).to_arrow_table()
    finally:
        con.unregister("hourly")
    return to_parsed(out)


def quarter_url(year: int, quarter: int, base_url: str = BASE_URL) -> str:
    start = date(year, 3 * quarter - 2, 1)
    end = date(year, 3 * quarter, calendar.monthrange(year, 3 * quarter)[1])
    return base_url.rstrip("/") + EXPORT_PATH + "?" + EXPORT_QUERY.format(start=start, end=end)


def fetch_year(year: int, dest: Path, *, base_url: str = BASE_URL, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
               retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF,
               client: httpx.Client | None = None) -> list[Path]:
    """One CSV per quarter of `year`, each checked (not HTML, has Index and Potencia) before landing."""
    dest.mkdir(parents=True, exist_ok=True)
    http = make_client(timeout) if client is None else client
    try:
        bodies = []
        for q in (1, 2, 3, 4):
            url = quarter_url(year, q, base_url)
            body = fetch(url, source=SOURCE_ID, timeout=timeout, retries=retries, backoff=backoff, client=http)
            check_csv_body(body, source=SOURCE_ID, required=REQUIRED, url=url)
            bodies.append((dest / f"amm_exportacion_{year}Q{q}.csv", body))
    finally:
        if client is None:
            http.close()
    for path, body in bodies:  # land only when the whole year arrived
        path.write_bytes(body)
    return [p for p, _ in bodies]


def fetch_live(s: Settings, dest: Path, *, year: int | None = None, base_url: str = BASE_URL,
               **http_options: object) -> list[Path]:
    """The last complete calendar year (or `year`), from the unverified export address above."""
    return fetch_year(year or datetime.now(timezone.utc).year - 1, dest, base_url=base_url, **http_options)


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="Administrador del Mercado Mayorista (AMM), Guatemala",
    address=BASE_URL,
    licence="No licence stated (AMM public reports portal; sample via the edmiranda21/Energy_tool_scrape repository, which has no licence)",
    snapshot=SOURCE_ID,
    parse=parse,
    fetch_live=fetch_live,
)
