"""World Bank bulk-download CSV (`API_<code>_DS2_en_csv_v2_<n>.csv`): the same figures as the API,
in a wide layout with a preamble. Parsed into the API parser's output shape, so both formats of the
World Bank source go through one validate-and-load path.

Layout (see data/snapshot/worldbank/README.md and API_FORMATS.md §1.5): UTF-8 with a BOM, four
preamble lines ("Data Source", blank, "Last Updated Date", blank), a header `Country Name, Country
Code, Indicator Name, Indicator Code, 1960 ... 2025` and a trailing comma on every line, one row per
economy; an empty string means no value.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa

from flows.sources.http import SourceError

SOURCE_ID = "worldbank"
PREAMBLE_LINES = 4
ID_COLUMNS = ["Country Name", "Country Code", "Indicator Name", "Indicator Code"]
_YEAR = re.compile(r"^\d{4}$")


def is_bulk_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def _check_complete(path: Path) -> None:
    """Every line of the layout ends with a newline: a file that does not was cut off in transfer."""
    with open(path, "rb") as fh:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        fh.seek(max(0, path.stat().st_size - 1))
        last = fh.read(1)
    if last not in (b"\n", b""):
        raise SourceError(f"the file ends in the middle of line {lines + 1}: truncated", source=SOURCE_ID,
                          rule="truncated", file=str(path), row=lines + 1)


def _head(path: Path) -> tuple[date | None, str, list[str]]:  # -> (last updated, database, header line)
    """Read the preamble and header line; reject what is not this layout, naming file and line."""
    raw = path.read_bytes()[:65536]
    if not raw.strip():
        raise SourceError("the file is empty", source=SOURCE_ID, rule="empty_file", file=str(path))
    _check_complete(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # a cut inside a multi-byte character at the 64 KiB boundary is not an encoding error
        if exc.start < len(raw) - 4:
            raise SourceError(f"not UTF-8 at byte {exc.start} ({exc.reason})", source=SOURCE_ID, rule="encoding", file=str(path)) from None
        text = raw[: exc.start].decode("utf-8-sig")
    lines = text.splitlines()
    if len(lines) <= PREAMBLE_LINES:
        raise SourceError("the file ends inside the preamble (no header line)", source=SOURCE_ID, rule="truncated", file=str(path))
    preamble = list(csv.reader(io.StringIO("\n".join(lines[:PREAMBLE_LINES]))))
    if not preamble or preamble[0][:1] != ["Data Source"]:
        raise SourceError('line 1 should be "Data Source",...: not a World Bank bulk CSV', source=SOURCE_ID, rule="bad_preamble", file=str(path), row=1)
    updated = next((r for r in preamble if r[:1] == ["Last Updated Date"]), None)
    if updated is None or len(updated) < 2:
        raise SourceError('no "Last Updated Date" line in the preamble', source=SOURCE_ID, rule="bad_preamble", file=str(path), row=3)
    try:
        last_updated = date.fromisoformat(updated[1])
    except ValueError:
        raise SourceError(f"Last Updated Date {updated[1]!r} is not a date", source=SOURCE_ID, rule="bad_preamble", file=str(path), row=3) from None
    header = next(csv.reader([lines[PREAMBLE_LINES]]))
    names = [h for h in header if h != ""]
    missing = [c for c in ID_COLUMNS if c not in names]
    others = [c for c in names if c not in ID_COLUMNS and not _YEAR.match(c)]
    if missing or others or not any(_YEAR.match(c) for c in names):
        hint = " (is the delimiter a comma?)" if len(header) == 1 else ""
        raise SourceError(
            f"header line does not match the bulk CSV layout{hint}: missing {missing}, unexpected {others}",
            source=SOURCE_ID, rule="bad_header", file=str(path), row=PREAMBLE_LINES + 1,
        )
    return last_updated, preamble[0][1] if len(preamble[0]) > 1 else "", header


_PARSE_SQL = """
WITH wide AS (
    SELECT row_number() OVER () AS data_row, *
    FROM read_csv($path, skip = {skip} + 1, header = false, columns = $columns, auto_detect = false,
                  delim = ',', quote = '"', escape = '"', strict_mode = true, null_padding = false,
                  encoding = 'utf-8')
),
long AS (
    UNPIVOT (SELECT data_row, "Country Name", "Country Code", "Indicator Name", "Indicator Code", {years} FROM wide)
    ON {years} INTO NAME period VALUE value_text
)
SELECT
    "Indicator Code" AS indicator_id,
    "Indicator Name" AS indicator_name,
    nullif(trim("Country Code"), '') AS country_iso3,
    CAST(NULL AS VARCHAR) AS country_wb_id,
    "Country Name" AS country_name,
    period,
    CASE WHEN isfinite(TRY_CAST(trim(value_text) AS DOUBLE)) THEN TRY_CAST(trim(value_text) AS DOUBLE) END AS value,
    nullif(trim(value_text), '') AS value_text,
    '' AS unit,
    '' AS obs_status,
    CAST(NULL AS INTEGER) AS decimal,
    CAST($database AS VARCHAR) AS source_database,
    CAST($last_updated AS DATE) AS lastupdated,
    CAST($file AS VARCHAR) AS source_file,
    CAST(data_row + {skip} + 1 AS BIGINT) AS source_row   -- the line number in the file
FROM long
ORDER BY data_row, period DESC
"""


# Every line ends with a delimiter, so DuckDB's strict mode lets one extra field slide into the
# trailing empty column (moving every later cell one year): count each line's fields instead.
_FIELD_COUNT_SQL = """
SELECT line, fields FROM (
    SELECT CAST(row_number() OVER () + $skip AS BIGINT) AS line,
           len(regexp_extract_all(text, '("(?:[^"]|"")*"|[^,"]*)(?:,|$)')) AS fields
    FROM read_csv($path, skip = $skip, header = false, columns = {'text': 'VARCHAR'}, auto_detect = false,
                  delim = '\x1f', quote = '', escape = '', strict_mode = false, encoding = 'utf-8')
) WHERE fields <> $expected ORDER BY line LIMIT 1
"""


def _check_field_counts(con: duckdb.DuckDBPyConnection, path: Path, expected: int) -> None:
    (bad, *_) = con.sql(_FIELD_COUNT_SQL, params={"path": str(path), "skip": PREAMBLE_LINES, "expected": expected}).fetchall() or [None]
    if bad:
        raise SourceError(f"line {bad[0]} has {bad[1]} fields, the header line has {expected}", source=SOURCE_ID,
                          rule="malformed_csv", file=str(path), row=bad[0])


def parse_bulk_csv(con: duckdb.DuckDBPyConnection, path: Path, schema: pa.Schema) -> pa.Table:
    """One bulk CSV file -> long rows in the API parser's schema (`source_row` = line number)."""
    last_updated, database, header = _head(path)
    years = [c for c in header if _YEAR.match(c)]
    cols = ", ".join(f'"{y}"' for y in years)
    sql = _PARSE_SQL.format(skip=PREAMBLE_LINES, years=cols)
    # the header's trailing comma names an empty last column
    columns = {name or f"_empty_{i}": "VARCHAR" for i, name in enumerate(header)}
    try:
        _check_field_counts(con, path, len(header))
        t = con.sql(sql, params={"path": str(path), "columns": columns, "database": database,
                                 "last_updated": last_updated, "file": path.name}).to_arrow_table()
    except duckdb.Error as exc:
        line = re.search(r"[Ll]ine:? (\d+)", str(exc))
        rule = "encoding" if "invalid unicode" in str(exc).lower() else "malformed_csv"
        raise SourceError(
            f"DuckDB could not read the file: {str(exc).splitlines()[0]}", source=SOURCE_ID, rule=rule,
            file=str(path), row=int(line.group(1)) if line else None,
        ) from None
    return pa.table([t.column(f.name).cast(f.type) for f in schema], schema=schema)
