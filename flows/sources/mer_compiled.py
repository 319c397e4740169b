"""Regional electricity market (MER / SIEPAC) figures compiled by hand from cited pages.

`mer_transactions.csv` (shared/data/siepac_mer/PROVENANCE.md) holds one published number per row:
period, country_iso3 (or REGION), measure, value, unit, source_title, source_url, note. It is messy
on purpose and every quirk is kept visible rather than repaired:

- each row cites its own page: citation = source_title, source_url = the row's address, note kept;
- one indicator per measure and unit (MER.<MEASURE>[.PART|.SEASONAL].<UNIT>): values are never
  converted, so 1,741,126.6 MWh and 1,713 GWh for the same year are two series, not a conflict;
- a unit the source printed wrongly ("GW" for energy, "MW per month") gets qualifier
  unit_as_printed and indicator suffix UNIT_AS_PRINTED; expectations/sources/mer_compiled.json
  quarantines it, since nobody can say what the number is in;
- part-year measures (*_partial_year, *_partial_month) get a date-interval period read from the note
  ("January-April", "1 January - 6 May", "first half", "up to September"), so they never share a key
  with the annual value; one whose note states no span has no period and is quarantined;
- the AMM seasonal year (May-April) becomes period SY<first year>, period_type seasonal_year;
- "LOWER BOUND" notes give qualifier lower_bound (loaded, flagged);
- REGION rows are the market as a whole, country XMR;
- undated rows keep a null period (the core's period_present rule quarantines them);
- the same key with different values (two 2016 figures for Guatemala) is left to the core's
  unique-key rule, which quarantines every conflicting copy: nothing here picks one.

There is no publisher API: the table is compiled by hand, so fetch_live refuses (rule
no_live_source) and runs use the bundled snapshot (tools/snapshot_mer_compiled.py).
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from flows.config import Settings
from flows.registry import Source
from flows.sources.http import SourceError
from flows.sources.observations import empty, to_parsed
from flows.sources.textinput import read_csv_text

SOURCE_ID = "mer_compiled"
COLUMNS = ("period", "country_iso3", "measure", "value", "unit", "source_title", "source_url", "note")
# The compiled table's own address; every row carries the page it was read from.
ADDRESS = "shared/data/siepac_mer/mer_transactions.csv (hand-compiled; each row cites its page)"

# Units the compiler printed unambiguously -> (unit as loaded, indicator-id suffix).
_UNITS = pa.table({
    "unit": ["GWh", "MWh", "kWh", "%", "km", "MW", "USD/MWh", "USD million", "substations", "companies", "generators"],
    "token": ["GWH", "MWH", "KWH", "PCT", "KM", "MW", "USD_MWH", "USD_M", "COUNT", "COUNT", "COUNT"],
})

_MONTH = ("January|February|March|April|May|June|July|August|September|October|November|December|"
          "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec")

# One query for the whole file. Month names become numbers by their first three letters.
_SQL = rf"""
WITH r AS (
    SELECT
        *,
        nullif(trim(period), '') AS p,
        trim(measure) AS m,
        nullif(trim(unit), '') AS u,
        TRY_CAST(substr(trim(period), 1, 4) AS INTEGER) AS y,
        CASE WHEN regexp_matches(trim(measure), '_partial_(year|month)$') THEN 'part'
             WHEN regexp_matches(trim(measure), '_seasonal_year$') THEN 'seasonal' END AS kind,
        coalesce(contains(lower(unit), 'as printed'), false) AS as_printed,
        regexp_extract(note, '(\d{{1,2}}) ({_MONTH}) - ~?(\d{{1,2}}) ({_MONTH})', ['d1', 'm1', 'd2', 'm2']) AS days,
        regexp_extract(note, '\b({_MONTH})-({_MONTH})\b', ['m1', 'm2']) AS months,
        regexp_extract(note, '\bup to ({_MONTH})\b', 1) AS up_to,
        contains(lower(note), 'first half') AS first_half
    FROM rows
    WHERE trim(value) <> ''
),
n AS (
    SELECT
        r.*,
        trim(regexp_replace(u, '\s*\(.*$', '')) AS u_base,
        -- the measure without its period kind or a unit spelled into its name
        regexp_replace(regexp_replace(m, '_(partial_year|partial_month|seasonal_year)$', ''),
                       '_(pct|mw|km|count)(_|$)', '\2', 'g') AS base,
        ['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec'] AS mon
    FROM r
),
s AS (
    SELECT
        n.*,
        k.unit AS unit_known,
        k.token AS unit_token,
        CASE
            WHEN kind <> 'part' OR y IS NULL THEN NULL
            WHEN days.m1 <> '' THEN make_date(y, list_position(mon, lower(left(days.m1, 3))), TRY_CAST(days.d1 AS INTEGER))
            WHEN months.m1 <> '' THEN make_date(y, list_position(mon, lower(left(months.m1, 3))), 1)
            WHEN up_to <> '' OR first_half THEN make_date(y, 1, 1)
            WHEN regexp_full_match(p, '\d{{4}}-\d{{2}}') THEN make_date(y, TRY_CAST(substr(p, 6, 2) AS INTEGER), 1)
        END AS part_start,
        CASE
            WHEN kind <> 'part' OR y IS NULL THEN NULL
            WHEN days.m2 <> '' THEN make_date(y, list_position(mon, lower(left(days.m2, 3))), TRY_CAST(days.d2 AS INTEGER))
            WHEN months.m2 <> '' THEN last_day(make_date(y, list_position(mon, lower(left(months.m2, 3))), 1))
            WHEN up_to <> '' THEN last_day(make_date(y, list_position(mon, lower(left(up_to, 3))), 1))
            WHEN first_half THEN make_date(y, 6, 30)
            WHEN regexp_full_match(p, '\d{{4}}-\d{{2}}') THEN last_day(make_date(y, TRY_CAST(substr(p, 6, 2) AS INTEGER), 1))
        END AS part_end
    FROM n LEFT JOIN units AS k ON k.unit = n.u_base
)
SELECT
    'MER.' || upper(base)
        || CASE kind WHEN 'part' THEN '.PART' WHEN 'seasonal' THEN '.SEASONAL' ELSE '' END
        || '.' || CASE WHEN as_printed THEN 'UNIT_AS_PRINTED'
                       WHEN unit_token IS NOT NULL THEN unit_token
                       ELSE upper(regexp_replace(coalesce(u_base, 'NO_UNIT'), '[^A-Za-z0-9]+', '_', 'g')) END
        AS indicator_id,
    m || coalesce(' (' || u || ')', '') AS indicator_name,
    CASE upper(trim(country_iso3)) WHEN 'REGION' THEN 'XMR' ELSE upper(trim(country_iso3)) END AS country_iso3,
    CASE
        WHEN p IS NULL THEN NULL
        WHEN kind = 'part' THEN strftime(part_start, '%Y-%m-%d') || '/' || strftime(part_end, '%Y-%m-%d')
        WHEN kind = 'seasonal' AND regexp_full_match(p, '\d{{4}}') THEN 'SY' || p
        WHEN regexp_full_match(p, '\d{{4}}-\d{{2}}') THEN substr(p, 1, 4) || 'M' || substr(p, 6, 2)
        ELSE p
    END AS period,
    CASE
        WHEN p IS NULL THEN NULL
        WHEN kind = 'part' THEN CASE WHEN part_start IS NOT NULL THEN 'part_year' END
        WHEN kind = 'seasonal' THEN 'seasonal_year'
        WHEN regexp_full_match(p, '\d{{4}}') THEN 'year'
        WHEN regexp_full_match(p, '\d{{4}}-\d{{2}}') THEN 'month'
    END AS period_type,
    CASE WHEN kind = 'part' THEN part_start
         WHEN kind = 'seasonal' THEN make_date(y, 5, 1) END AS period_start,
    CASE WHEN kind = 'part' THEN part_end
         WHEN kind = 'seasonal' THEN make_date(y + 1, 4, 30) END AS period_end,
    CASE WHEN p IS NOT NULL THEN y END AS year,
    TRY_CAST(trim(value) AS DOUBLE) AS value,
    trim(value) AS value_text,
    CASE WHEN as_printed THEN u ELSE coalesce(unit_known, u) END AS unit,
    CASE WHEN as_printed THEN 'unit_as_printed'
         WHEN regexp_matches(note, '^\s*LOWER BOUND') THEN 'lower_bound' END AS qualifier,
    -- a unit tidied for loading keeps its printed form in the note
    nullif(trim(note), '')
        || CASE WHEN NOT as_printed AND unit_known IS NOT NULL AND u <> unit_known
                THEN ' [unit in the compiled table: ' || u || ']' ELSE '' END AS note,
    nullif(trim(source_url), '') AS source_url,
    nullif(trim(source_title), '') AS citation,
    source_file,
    source_row
FROM s
ORDER BY source_file, source_row
"""


def read_rows(path: Path) -> pa.Table:
    """The compiled table as text, refusing a file that is not it (HTML page, other columns)."""
    table = read_csv_text(path, source=SOURCE_ID, required=COLUMNS)
    return table.select([*COLUMNS, "source_file", "source_row"])


def parse(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> pa.Table:
    if not paths:
        return empty()
    rows = pa.concat_tables([read_rows(Path(p)) for p in paths])
    con.register("rows", rows)
    con.register("units", _UNITS)
    try:
        out = con.sql(_SQL).to_arrow_table()
    finally:
        con.unregister("rows")
        con.unregister("units")
    return to_parsed(out)


def fetch_live(s: Settings, dest: Path) -> list[Path]:
    """There is nothing to fetch: the table is compiled by hand from cited pages, with no API."""
    raise SourceError(
        "the MER table is compiled by hand from cited pages (shared/data/siepac_mer/PROVENANCE.md); "
        "no publisher offers it for download. Update it by editing the compiled CSV and rebuilding "
        "the snapshot (tools/snapshot_mer_compiled.py), or ingest a revised copy with `ciw ingest`.",
        source=SOURCE_ID, rule="no_live_source")


SOURCE = Source(
    source_id=SOURCE_ID,
    publisher="Compiled from the cited publishers (EOR, CRIE, AMM, ministries, press); see citation per row",
    address=ADDRESS,
    licence="Figures as published by each cited source; the compilation states no licence",
    snapshot=SOURCE_ID,
    parse=parse,
    fetch_live=fetch_live,
)
