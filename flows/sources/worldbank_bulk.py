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
import pyarrow.compute as pc

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


# All files that share a header are read in one pass. Lines are split from the text, so every
# value keeps its line number (DuckDB's CSV reader numbers no lines, and a window to number them
# serialises the read). A line in the layout's own form (every field quoted, the trailing comma, no
# escaped quote) is split on '","'; any other line by the quoted-field pattern, which also counts
# fields for the check against the header. Years are unpivoted newest first, as the API lists them.
_FIELD = """'("(?:[^"]|"")*"|[^,"]*)(?:,|$)'"""
_LINES_SQL = f"""
CREATE OR REPLACE TEMP TABLE _bulk_rows AS
WITH texts AS (
    SELECT list_position($paths, filename) AS file_idx, string_split(content, chr(10)) AS lines
    FROM read_text($paths)
),
lines AS (
    SELECT file_idx, rtrim(line, chr(13)) AS line, line_no
    FROM (SELECT file_idx, unnest(lines) AS line, generate_subscripts(lines, 1) AS line_no FROM texts)
    WHERE line_no > $header_line AND line <> ''
)
SELECT file_idx, line_no,
       CASE WHEN starts_with(line, '"') AND ends_with(line, '",') AND NOT contains(line, '""')
            THEN list_append(string_split(line[2:length(line) - 2], '","'), '')  -- + the trailing empty field
            ELSE list_transform(regexp_extract_all(line, {_FIELD}, 1),
                                lambda f: CASE WHEN starts_with(f, '"') THEN replace(f[2:length(f) - 1], '""', '"') ELSE f END)
       END AS fields
FROM lines
"""

_BAD_LINE_SQL = """
SELECT file_idx, line_no, len(fields) FROM _bulk_rows WHERE len(fields) <> $expected ORDER BY file_idx, line_no LIMIT 1
"""

_PARSE_SQL = """
WITH cells AS (
    SELECT file_idx, line_no, fields,
           unnest(list_reverse(fields[$first_year:$last_year])) AS value_text,
           generate_subscripts(fields[$first_year:$last_year], 1) AS i
    FROM _bulk_rows
)
SELECT
    fields[$c_code] AS indicator_id,
    fields[$c_name] AS indicator_name,
    nullif(trim(fields[$c_country]), '') AS country_iso3,
    CAST(NULL AS VARCHAR) AS country_wb_id,
    fields[$c_country_name] AS country_name,
    list_reverse($years)[i] AS period,
    CASE WHEN isfinite(TRY_CAST(trim(value_text) AS DOUBLE)) THEN TRY_CAST(trim(value_text) AS DOUBLE) END AS value,
    nullif(trim(value_text), '') AS value_text,
    '' AS unit,
    '' AS obs_status,
    CAST(NULL AS INTEGER) AS decimal,
    CAST(file_idx AS INTEGER) AS file_idx,
    CAST(line_no AS BIGINT) AS source_row   -- the line number in the file
FROM cells
WHERE nullif(trim(value_text), '') IS NOT NULL  -- an empty cell is no value, not an observation
"""


# The same rows for the staging query (flows/staging.py), read in place: the value's text only where
# it is not a number, the series name on one cell per line (the first that has a value).
_ROWS_SQL = """
WITH lines AS (  -- a line's own fields picked before the unnest: carrying the whole list per cell cost 2.5x
    SELECT file_idx, line_no, fields[$c_code] AS code, fields[$c_name] AS name, fields[$c_country] AS country,
           list_reverse(fields[$first_year:$last_year]) AS cells,
           list_position(list_transform(cells, lambda c: nullif(trim(c), '') IS NOT NULL), true) AS first_filled
    FROM {table}
),
cells AS (  -- nothing but the unnest here: an expression beside it is evaluated once per cell, not per line
    SELECT file_idx, line_no, code, name, country, first_filled, unnest(cells) AS cell, generate_subscripts(cells, 1) AS i
    FROM lines
),
v AS (
    SELECT file_idx, line_no, code, name, country, first_filled, i, trim(cell) AS cell,
           CASE WHEN isfinite(TRY_CAST(trim(cell) AS DOUBLE)) THEN TRY_CAST(trim(cell) AS DOUBLE) END AS value
    FROM cells
    WHERE nullif(trim(cell), '') IS NOT NULL  -- an empty cell is no value, not an observation
)
SELECT
    code AS indicator_id,
    CASE WHEN i = first_filled THEN name END AS indicator_name,
    nullif(trim(country), '') AS country_iso3,
    $years[i] AS period,
    value,
    CASE WHEN value IS NULL THEN cell END AS value_text,  -- no unit column: the catalog holds it
    CAST(file_idx - 1 + $offset AS INTEGER) AS file_idx,
    CAST(line_no AS BIGINT) AS source_row   -- the line number in the file
FROM v
"""


def bulk_rows(con: duckdb.DuckDBPyConnection, paths: list[Path], offset: int) -> tuple[list[str], list[str], list[tuple]]:
    """Bulk CSV files as SQL the staging query reads: (SELECTs over per-layout temp tables of split
    lines, statements dropping those tables once staged, (file name, last updated) per file in
    order, numbered from `offset`). Files are checked from their head and every line's field count
    here, so a malformed file raises SourceError naming its file and line before anything is staged."""
    heads = {p: _head(p) for p in paths}
    selects, drops, files = [], [], []
    for n, header in enumerate(dict.fromkeys(tuple(h[2]) for h in heads.values())):
        group = [p for p in paths if tuple(heads[p][2]) == header]
        header = list(header)
        col = {name: i + 1 for i, name in enumerate(header)}
        year_pos = [i + 1 for i, name in enumerate(header) if _YEAR.match(name)]
        table = f"_bulk_rows_{n}"
        _split_lines(con, group, header, table)
        years = "[" + ", ".join(f"'{header[i - 1]}'" for i in reversed(year_pos)) + "]"
        selects.append(
            _ROWS_SQL.format(table=table).replace("$first_year", str(year_pos[0])).replace("$last_year", str(year_pos[-1]))
            .replace("$years", years).replace("$c_code", str(col["Indicator Code"])).replace("$c_name", str(col["Indicator Name"]))
            .replace("$c_country", str(col["Country Code"])).replace("$offset", str(offset + len(files)))
        )
        drops.append(f"DROP TABLE IF EXISTS {table}")
        files += [(p.name, heads[p][0]) for p in group]
    return selects, drops, files


def _read_error(exc: duckdb.Error, paths: list[Path]) -> SourceError:
    rule = "encoding" if any(w in str(exc).lower() for w in ("unicode", "utf-8", "utf8")) else "malformed_csv"
    named = next((p for p in paths if str(p) in str(exc)), paths[0] if len(paths) == 1 else None)
    return SourceError(f"DuckDB could not read the file: {str(exc).splitlines()[0]}", source=SOURCE_ID, rule=rule,
                       file=str(named) if named else None)


def parse_bulk_csvs(con: duckdb.DuckDBPyConnection, paths: list[Path], schema: pa.Schema) -> pa.Table:
    """Bulk CSV files -> long rows in the API parser's schema (`source_row` = line number). Files
    are checked one by one from their head (preamble, header, completeness); their rows are read
    in one query per header layout."""
    heads = {p: _head(p) for p in paths}
    parts = []
    for header in dict.fromkeys(tuple(h[2]) for h in heads.values()):
        group = [p for p in paths if tuple(heads[p][2]) == header]
        parts.append(_parse_group(con, group, list(header), heads, schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


def _parse_group(con: duckdb.DuckDBPyConnection, paths: list[Path], header: list[str],
                 heads: dict[Path, tuple], schema: pa.Schema) -> pa.Table:
    col = {name: i + 1 for i, name in enumerate(header)}  # 1-based field positions
    year_pos = [i + 1 for i, name in enumerate(header) if _YEAR.match(name)]
    _split_lines(con, paths, header, "_bulk_rows")
    try:
        t = con.sql(_PARSE_SQL, params={
            "first_year": year_pos[0], "last_year": year_pos[-1],
            "years": [header[i - 1] for i in year_pos], "c_code": col["Indicator Code"], "c_name": col["Indicator Name"],
            "c_country": col["Country Code"], "c_country_name": col["Country Name"],
        }).to_arrow_table()
    except duckdb.Error as exc:
        raise _read_error(exc, paths) from None
    finally:
        con.sql("DROP TABLE IF EXISTS _bulk_rows")
    file_idx = pc.subtract(t.column("file_idx"), 1).combine_chunks()

    def per_file(values: list, type_: pa.DataType) -> pa.Array:
        return pa.DictionaryArray.from_arrays(file_idx, pa.array(values, type_))

    cols = {name: t.column(name) for name in t.column_names}
    cols["source_database"] = per_file([heads[p][1] for p in paths], pa.string())
    cols["lastupdated"] = per_file([heads[p][0] for p in paths], pa.date32())
    cols["source_file"] = per_file([p.name for p in paths], pa.string())
    return pa.table([cols[f.name] if pa.types.is_dictionary(cols[f.name].type) else cols[f.name].cast(f.type) for f in schema],
                    names=schema.names)


def _split_lines(con: duckdb.DuckDBPyConnection, paths: list[Path], header: list[str], table: str) -> None:
    """The data lines of files sharing `header`, split into fields, as the temp table `table`; a line
    whose field count differs from the header's raises SourceError naming its file and line."""
    strs = [str(p) for p in paths]
    try:
        con.sql(_LINES_SQL.replace("_bulk_rows", table), params={"paths": strs, "header_line": PREAMBLE_LINES + 1})
        bad = con.sql(_BAD_LINE_SQL.replace("_bulk_rows", table), params={"expected": len(header)}).fetchall()
    except duckdb.Error as exc:
        con.sql(f"DROP TABLE IF EXISTS {table}")
        raise _read_error(exc, paths) from None
    if bad:
        con.sql(f"DROP TABLE IF EXISTS {table}")
        file_idx, line, fields = bad[0]
        raise SourceError(f"line {line} has {fields} fields, the header line has {len(header)}", source=SOURCE_ID,
                          rule="malformed_csv", file=strs[file_idx - 1], row=line)
